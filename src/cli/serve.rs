//! `imgscan serve`: the admission webhook. Parses flags, builds the policy and the
//! registry scanner, and runs [`crate::admission::serve::serve`] until SIGTERM.

use super::common::ImageArgs;
use super::{fail, EXIT_CLEAN};
use crate::admission::scan::RegistryScanner;
use crate::admission::serve::{serve, shutdown_signal, ServeConfig};
use crate::admission::{Mode, NamesOnly, OnDeadline, Policy, Scanner};
use crate::reputation::Corpus;
use crate::rules::RuleSet;
use crate::signatures::Signatures;
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
    /// Admission policy (YAML): fail_on, mode, exempt_namespaces, allowed_images,
    /// allowed_registries, on_deadline.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Deny at or above this severity (overrides the policy's fail_on).
    #[arg(long, value_name = "SEV|none")]
    pub fail_on: Option<String>,
    /// Allow what would be denied, with warnings (overrides the policy's mode).
    #[arg(long)]
    pub audit: bool,
    /// An image not judged by the deadline is allowed with a warning instead of denied.
    #[arg(long)]
    pub allow_unjudged: bool,
    /// Judge image names only; pull nothing.
    #[arg(long)]
    pub names_only: bool,
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
    /// Verdicts kept in memory at most.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub verdict_cache_entries: usize,
    /// Extra trusted namespaces and registries for name checks (TOML).
    #[arg(long, value_name = "FILE")]
    pub trusted: Option<PathBuf>,
    /// Extend the embedded signatures with the files in DIR.
    #[arg(long, value_name = "DIR")]
    pub signatures: Option<PathBuf>,
    #[command(flatten)]
    pub image: Box<ImageArgs>,
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
    let mut policy = match &args.policy {
        Some(p) => match Policy::load(p) {
            Ok(p) => p,
            Err(e) => return fail(format!("--policy {e}")),
        },
        None => Policy::default(),
    };
    if let Some(f) = &args.fail_on {
        if let Err(e) = policy.set_fail_on(f) {
            return fail(format!("--fail-on: {e}"));
        }
    }
    if args.audit {
        policy.mode = Mode::Audit;
    }
    if args.allow_unjudged {
        policy.on_deadline = OnDeadline::AllowWithWarning;
    }
    let scanner: Arc<dyn Scanner + Send + Sync> = if args.names_only {
        Arc::new(NamesOnly)
    } else {
        let sigs = match Signatures::load(args.signatures.as_deref()) {
            Ok(s) => Arc::new(s),
            Err(e) => return fail(e),
        };
        let opts = match args.image.source_options() {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        Arc::new(RegistryScanner::new(
            sigs,
            RuleSet::embedded_default(),
            args.image.limits(),
            opts,
            args.image.parallel(),
        ))
    };
    let mut cfg = ServeConfig::new(args.tls_cert, args.tls_key);
    cfg.listen = args.listen;
    cfg.health_listen = args.health_listen;
    cfg.policy = policy;
    cfg.max_body = usize::try_from(args.max_body).unwrap_or(usize::MAX);
    cfg.max_concurrent_scans = args.max_concurrent_scans;
    cfg.max_queued_scans = args.max_queued_scans;
    cfg.verdict_ttl = args.verdict_ttl;
    cfg.verdict_entries = args.verdict_cache_entries;
    if let Some(p) = &args.trusted {
        match Corpus::with_trusted_file(p) {
            Ok(c) => cfg.corpus = Some(c),
            Err(e) => return fail(format!("--trusted {}: {e}", p.display())),
        }
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
