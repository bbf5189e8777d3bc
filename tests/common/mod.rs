//! Helpers shared by integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Run the `imgscan` binary with `args`; returns its output.
pub fn imgscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
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

/// Run the `imgscan` binary with `args`, writing `stdin` (if any) to it from a thread so
/// a large input cannot deadlock against its output; returns exit code, stdout, stderr.
pub fn imgscan_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut c = Command::new(env!("CARGO_BIN_EXE_imgscan"))
        .env("IMGSCAN_CACHE_DEFAULT", "none")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running imgscan");
    let input = stdin.map(<[u8]>::to_vec);
    let mut si = c.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        if let Some(b) = input {
            let _ = si.write_all(&b);
        }
    });
    let out = c.wait_with_output().unwrap();
    writer.join().unwrap();
    let (o, e, code) = outs(&out);
    (code, o, e)
}

/// Say that a test is skipped, and why, where `cargo test` shows it: straight to the
/// process's stderr, since the test harness captures `eprintln!` of passing tests.
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {why}");
}
