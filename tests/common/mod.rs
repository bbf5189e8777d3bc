//! Helpers shared by integration tests.
#![allow(dead_code)]

pub mod fixtures;

use std::process::{Command, Output};

/// Run the `imgscan` binary with `args`; returns its output.
pub fn imgscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .args(args)
        .output()
        .expect("running imgscan")
}

/// stdout, stderr and exit code of a finished command, for assertions and messages.
pub fn outs(o: &Output) -> (String, String, i32) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        o.status.code().unwrap_or(-1),
    )
}

/// A path under `../shared/` (read-only facts and corpora beside the repository, in CI
/// and in a checkout alike).
pub fn shared(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel)
}
