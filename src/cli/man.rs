//! `imgscan man [--dir DIR]`: the manual page, generated from the clap definition with
//! `clap_mangen` (so it never goes stale): `imgscan.1` on standard output, or with `--dir`
//! one page per command (`imgscan.1`, `imgscan-scan.1`, ...) written into DIR.
//!
//! ```text
//! imgscan man | man -l -
//! imgscan man --dir /usr/local/share/man/man1
//! ```

use clap::CommandFactory;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write one page per command into DIR instead of the main page to standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(a: Args) -> i32 {
    let cmd = super::with_env(super::Cli::command());
    let done = match &a.dir {
        Some(dir) => clap_mangen::generate_to(cmd, dir),
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
    };
    match done {
        Ok(()) => super::EXIT_CLEAN,
        Err(e) => super::fail(format!("writing the manual page: {e}")),
    }
}
