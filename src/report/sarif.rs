//! SARIF 2.1.0. (Placeholder until its issue lands.)

use super::Report;
use std::io::{self, Write};

pub fn write(_reports: &[Report], _out: &mut dyn Write) -> io::Result<()> {
    Err(io::Error::other("SARIF output is not built yet"))
}
