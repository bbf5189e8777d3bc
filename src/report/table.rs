//! Human-readable table, grouped by severity. (Placeholder until its issue lands.)

use super::Report;
use std::io::{self, Write};

pub fn write(reports: &[Report], _color: bool, out: &mut dyn Write) -> io::Result<()> {
    for r in reports {
        writeln!(out, "{}", r.target)?;
        for f in &r.findings {
            writeln!(out, "  {:<8} {} {}", f.severity, f.id, f.title)?;
        }
    }
    Ok(())
}
