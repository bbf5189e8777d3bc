//! `imgscan cache stats|clean`: what the per-layer cache holds, and emptying it (Trivy's
//! `trivy clean --scan-cache`). Logic lives in [`crate::cache`].

use super::{fail, EXIT_CLEAN};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Entries and bytes in the cache.
    Stats(Where),
    /// Remove every entry of the cache.
    Clean(Where),
}

#[derive(clap::Args, Debug)]
pub struct Where {
    /// Backend: `fs` (default).
    #[arg(long, value_name = "BACKEND", default_value = "fs")]
    pub cache_backend: String,
    /// Directory of the fs cache (default $XDG_CACHE_HOME/imgscan/layers).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

pub fn run(c: Command) -> i32 {
    let (w, clean) = match &c {
        Command::Stats(w) => (w, false),
        Command::Clean(w) => (w, true),
    };
    let b = match crate::cache::open_backend(&w.cache_backend, w.cache_dir.as_deref(), u64::MAX) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    let r = if clean {
        b.clean()
            .map(|n| println!("{}: removed {n} entries", b.describe()))
    } else {
        b.stats()
            .map(|(n, bytes)| println!("{}: {n} entries, {bytes} bytes", b.describe()))
    };
    match r {
        Ok(()) => EXIT_CLEAN,
        Err(e) => fail(e),
    }
}
