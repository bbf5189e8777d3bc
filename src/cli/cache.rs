//! `imgscan cache stats|clean`: what the per-layer cache holds, and emptying it (Trivy's
//! `trivy clean --scan-cache`). Logic lives in [`crate::cache`].

use super::{fail, EXIT_CLEAN};
use crate::cache::OpenOptions;
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
    /// Backend: `fs` (default), `redis` (with --cache-url) or a redis:// URL.
    #[arg(long, value_name = "BACKEND", default_value = "fs")]
    pub cache_backend: String,
    /// Directory of the fs cache (default $XDG_CACHE_HOME/imgscan/layers).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// Where the Redis cache is (docs/cache.md, "Redis").
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RedisArgs {
    /// Redis URL for `--cache-backend redis`: redis://[:PASSWORD@]HOST:PORT/DB, or
    /// rediss://... for TLS.
    #[arg(
        long,
        value_name = "URL",
        env = "IMGSCAN_CACHE_URL",
        hide_env_values = true
    )]
    pub cache_url: Option<String>,
    /// PEM file of the CA that signed the Redis server's certificate (rediss://).
    #[arg(long, value_name = "PEM")]
    pub redis_ca: Option<PathBuf>,
    /// Prefix of imgscan's keys in Redis.
    #[arg(long, value_name = "PREFIX", default_value = crate::cache::redis::DEFAULT_PREFIX)]
    pub redis_prefix: String,
}

impl RedisArgs {
    /// Backend options for these flags.
    pub fn options(
        &self,
        dir: Option<&std::path::Path>,
        max_bytes: u64,
        ttl: Option<u64>,
    ) -> OpenOptions {
        OpenOptions {
            dir: dir.map(std::path::Path::to_path_buf),
            max_bytes,
            url: self.cache_url.clone(),
            ttl,
            redis_prefix: Some(self.redis_prefix.clone()),
            redis_ca: self.redis_ca.clone(),
        }
    }
}

pub fn run(c: Command) -> i32 {
    let (w, clean) = match &c {
        Command::Stats(w) => (w, false),
        Command::Clean(w) => (w, true),
    };
    let opts = w.redis.options(w.cache_dir.as_deref(), u64::MAX, None);
    let b = match crate::cache::open_backend_with(&w.cache_backend, &opts) {
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
