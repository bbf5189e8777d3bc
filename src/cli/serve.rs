//! `imgscan serve`: the admission webhook. Parses flags, builds the policy and the
//! registry scanner, and runs [`crate::admission::serve::serve`] until SIGTERM.

use super::admission_review::JudgeArgs;
use super::{fail, EXIT_CLEAN};
use crate::admission::serve::{serve, shutdown_signal, ServeConfig};
use crate::admission::{NamesOnly, Scanner};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// HTTPS address for `POST /validate`.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Plain-HTTP address for /healthz, /readyz and /metrics.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:8080")]
    pub health_listen: SocketAddr,
    /// Server certificate chain (PEM); re-read when it changes.
    #[arg(long, value_name = "PEM")]
    pub tls_cert: PathBuf,
    /// Server private key (PEM); re-read when it changes.
    #[arg(long, value_name = "PEM")]
    pub tls_key: PathBuf,
    /// Bytes of a request body at most (larger: 413).
    #[arg(long, value_name = "BYTES", value_parser = super::common::parse_size, default_value = "3M")]
    pub max_body: u64,
    /// Image content scans running at once at most.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_concurrent_scans: usize,
    /// Distinct images being scanned or waiting for a scan at most.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_queued_scans: usize,
    /// How long a verdict is reused (e.g. 600, 90s, 10m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub verdict_ttl: Duration,
    /// How long a verdict asked for by tag is reused before the tag is resolved to its
    /// digest again (at most 60s; 0 resolves every time).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub tag_ttl: Duration,
    /// Verdicts kept in memory at most.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub verdict_cache_entries: usize,
    /// Share verdicts with every replica through this Redis (`redis://[:PASSWORD@]HOST[:PORT][/DB]`
    /// or `rediss://...`): one scan per image per cluster. Redis down: this process's
    /// cache answers alone.
    #[arg(long, value_name = "URL", env = "IMGSCAN_REDIS")]
    pub redis: Option<String>,
    /// Key prefix of the verdicts in `--redis`.
    #[arg(long, value_name = "PREFIX", default_value = "imgscan:verdict:")]
    pub redis_prefix: String,
    /// PEM CA certificates that signed the `rediss://` server's certificate (a private
    /// CA) instead of the system's roots.
    #[arg(long, value_name = "PEM")]
    pub redis_ca: Option<PathBuf>,
    /// Scan lease period in `--redis`: one replica scans an image, renewing its lease
    /// every third of this; a replica that dies loses it after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    pub redis_lease: Duration,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

/// `600`, `90s`, `10m`, `1h`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1),
        Some('m') => (&t[..t.len() - 1], 60),
        Some('h') => (&t[..t.len() - 1], 3600),
        _ => (t, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is not a duration (e.g. 600, 90s, 10m, 1h)"))
}

pub fn run(args: Args) -> i32 {
    let policy = match args.judge.policy() {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let scanner: Arc<dyn Scanner + Send + Sync> = match args.judge.scanner() {
        Ok(Some(r)) => Arc::new(r),
        Ok(None) => Arc::new(NamesOnly),
        Err(e) => return fail(e),
    };
    let mut cfg = ServeConfig::new(args.tls_cert, args.tls_key);
    cfg.listen = args.listen;
    cfg.health_listen = args.health_listen;
    cfg.policy = policy;
    cfg.max_body = usize::try_from(args.max_body).unwrap_or(usize::MAX);
    cfg.max_concurrent_scans = args.max_concurrent_scans;
    cfg.max_queued_scans = args.max_queued_scans;
    cfg.verdict_ttl = args.verdict_ttl;
    cfg.tag_ttl = args.tag_ttl;
    cfg.verdict_entries = args.verdict_cache_entries;
    cfg.redis = args.redis;
    cfg.redis_prefix = Some(args.redis_prefix);
    cfg.redis_ca = args.redis_ca;
    if args.redis_lease < Duration::from_secs(1) {
        return fail("--redis-lease: at least 1s".to_string());
    }
    cfg.scan_lease = args.redis_lease;
    match args.judge.corpus() {
        Ok(c) => cfg.corpus = c,
        Err(e) => return fail(e),
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("imgscan-serve")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("starting the runtime: {e}")),
    };
    match rt.block_on(serve(cfg, scanner, shutdown_signal())) {
        Ok(()) => EXIT_CLEAN,
        Err(e) => fail(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        use super::parse_duration;
        assert_eq!(parse_duration("10m").unwrap().as_secs(), 600);
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("7").unwrap().as_secs(), 7);
        assert!(parse_duration("soon").is_err());
    }
}
