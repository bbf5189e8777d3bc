//! `imgscan scan TARGET...` (also plain `imgscan TARGET`): the flags, turned into
//! [`crate::run::ScanOptions`]; [`crate::run::run_targets`] opens and scans each image,
//! applies `.imgscanignore`, writes one report for all targets and gives the exit code:
//! 0 (clean), 1 (findings at or above `--fail-on`) or 2 (error, or a scan that did not see
//! everything, unless `--allow-incomplete`).

use super::common::ImageArgs;
use super::fail;
use crate::report::{self, Format};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Images to scan: registry references, docker-archive, oci-archive or OCI layouts
    /// (optionally PATH:tag or PATH@digest).
    #[arg(required_unless_present = "targets_file")]
    pub targets: Vec<String>,
    /// Also scan the references in FILE, one a line (`#` comments; `-` = standard
    /// input). With it, a summary table follows the report on standard error.
    #[arg(long, value_name = "FILE")]
    pub targets_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this severity (critical, high, medium, low,
    /// info), or `none` to never fail on findings.
    #[arg(long, value_name = "SEV|none", default_value = "high")]
    pub fail_on: String,
    /// Show only findings of these severities (e.g. `critical,high`); what is shown does
    /// not change the exit code, which --fail-on judges on every finding.
    #[arg(long, value_name = "SEV,...")]
    pub severity: Vec<String>,
    /// Exit 0/1 even when the scan could not read everything (limits hit, unreadable
    /// layers); the report still lists what was missed.
    #[arg(long)]
    pub allow_incomplete: bool,
    /// Extend the embedded signatures with the files in DIR (any of the files under
    /// `signatures/`, e.g. miner-names.toml, pools.toml, strings.toml; each optional).
    #[arg(long, value_name = "DIR")]
    pub signatures: Option<PathBuf>,
    /// YARA-L 2.0 rule files or directories to run on the image's events instead of the
    /// embedded `signatures/rules/` (repeatable).
    #[arg(long, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Extra trusted namespaces and registries for name checks (TOML, as for
    /// `imgscan name --trusted`).
    #[arg(long, value_name = "FILE")]
    pub trusted: Option<PathBuf>,
    /// Ignore rules (YAML); default `./.imgscanignore` when present.
    #[arg(long, value_name = "FILE")]
    pub ignorefile: Option<PathBuf>,
    /// Also list suppressed findings (with the reason) in the report.
    #[arg(long)]
    pub show_suppressed: bool,
    /// Table: show every piece of evidence of each finding, not the strongest three.
    #[arg(short, long)]
    pub verbose: bool,
    #[command(flatten)]
    pub image: Box<ImageArgs>,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub yara: super::common::YaraArgs,
}

/// The per-layer scan cache (Trivy's flag names; see docs/cache.md).
#[derive(clap::Args, Debug, Default)]
pub struct CacheArgs {
    /// Cache layer results in BACKEND: `fs` (a directory, see --cache-dir), `memory`
    /// (this process only), `redis` (see --cache-url) or a redis://HOST:PORT/DB URL.
    /// Default: fs in $XDG_CACHE_HOME/imgscan/layers (none when $IMGSCAN_CACHE_DEFAULT
    /// is `none`; a default directory that cannot be used is a warning, not an error).
    #[arg(long, value_name = "BACKEND")]
    pub cache_backend: Option<String>,
    /// Directory of the fs cache (default $XDG_CACHE_HOME/imgscan/layers); implies
    /// `--cache-backend fs`. Created 0700; refused when another user can write it.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Entries older than this are not used (e.g. 3600, 90m, 24h, 7d; 0 = never expire).
    #[arg(long, value_name = "DURATION", default_value = "0")]
    pub cache_ttl: String,
    /// Evict least recently used entries past this size (e.g. 512M, 2G).
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    pub cache_max_size: String,
    /// Do not use the cache, even when a backend is given.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub redis: Box<super::cache::RedisArgs>,
}

impl CacheArgs {
    /// The cache these flags ask for, if any.
    pub fn open(
        &self,
        signatures: Option<&std::path::Path>,
        limits: &crate::limits::Limits,
    ) -> Result<Option<crate::cache::LayerCache>, String> {
        let backend = match (&self.cache_backend, &self.cache_dir) {
            _ if self.no_cache => return Ok(None),
            (Some(b), _) => b.clone(),
            (None, Some(_)) => "fs".to_string(),
            (None, None) if self.redis.cache_url.is_some() => "redis".to_string(),
            (None, None) => return self.open_default(signatures, limits),
        };
        let max = crate::cache::parse_size(&self.cache_max_size)
            .map_err(|e| format!("--cache-max-size: {e}"))?;
        let ttl =
            crate::cache::parse_ttl(&self.cache_ttl).map_err(|e| format!("--cache-ttl: {e}"))?;
        let opts = self.redis.options(self.cache_dir.as_deref(), max, ttl);
        let b = crate::cache::open_backend_with(&backend, &opts)?;
        let analysis = crate::cache::Analysis::new(signatures, limits)?;
        Ok(Some(crate::cache::LayerCache::new(b, analysis, ttl)))
    }
}

impl CacheArgs {
    /// No cache flag given: the fs cache in its default directory, unless
    /// `$IMGSCAN_CACHE_DEFAULT` is `none`. A default directory that cannot be made or is
    /// refused (no $HOME, read-only, not private) is one warning and a scan without the
    /// cache: nobody asked for that directory, so it must not stop the scan.
    fn open_default(
        &self,
        signatures: Option<&std::path::Path>,
        limits: &crate::limits::Limits,
    ) -> Result<Option<crate::cache::LayerCache>, String> {
        match std::env::var("IMGSCAN_CACHE_DEFAULT").as_deref() {
            Ok("none") => return Ok(None),
            Ok("fs") | Ok("") | Err(_) => {}
            Ok(other) => {
                return Err(format!(
                    "$IMGSCAN_CACHE_DEFAULT {other:?}: expected fs or none"
                ))
            }
        }
        let max = crate::cache::parse_size(&self.cache_max_size)
            .map_err(|e| format!("--cache-max-size: {e}"))?;
        let ttl =
            crate::cache::parse_ttl(&self.cache_ttl).map_err(|e| format!("--cache-ttl: {e}"))?;
        let opts = self.redis.options(None, max, ttl);
        match crate::cache::open_backend_with("fs", &opts) {
            Ok(b) => {
                let analysis = crate::cache::Analysis::new(signatures, limits)?;
                Ok(Some(crate::cache::LayerCache::new(b, analysis, ttl)))
            }
            Err(e) => {
                eprintln!("warning: default scan cache not used: {e}; scanning without a cache (--no-cache silences this)");
                Ok(None)
            }
        }
    }
}

pub fn run(args: Args) -> i32 {
    let mut targets = args.targets.clone();
    let summary = args.targets_file.is_some();
    if let Some(p) = &args.targets_file {
        match crate::batch::read_targets_file(p) {
            Ok(t) => targets.extend(t),
            Err(e) => return fail(e),
        }
    }
    run_targets(args, &targets, summary)
}

/// Scan `targets` with the options of `args` ([`crate::run::run_targets`]); `summary`:
/// print the batch summary table on standard error at the end.
pub(super) fn run_targets(args: Args, targets: &[String], summary: bool) -> i32 {
    let fail_on = match report::parse_fail_on(&args.fail_on) {
        Ok(f) => f,
        Err(e) => return fail(format!("--fail-on: {e}")),
    };
    let show = match report::parse_severities(&args.severity) {
        Ok(s) => s,
        Err(e) => return fail(format!("--severity: {e}")),
    };
    let source = match args.image.source_options() {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let cache = match args.cache.open(args.signatures.as_deref(), &source.limits) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let opts = crate::run::ScanOptions {
        format: args.format,
        output: args.output,
        fail_on,
        show,
        allow_incomplete: args.allow_incomplete,
        signatures: args.signatures,
        rules: args.rules,
        trusted: args.trusted,
        ignorefile: args.ignorefile,
        show_suppressed: args.show_suppressed,
        verbose: args.verbose,
        parallel: args.image.parallel(),
        source,
        cache,
        yara: args.yara.yara.clone(),
        yara_options: args.yara.options(),
    };
    crate::run::run_targets(opts, targets, summary)
}

#[cfg(test)]
mod tests {
    use super::super::Cli;
    use clap::{CommandFactory, Parser};

    #[test]
    fn flags_parse() {
        Cli::command().debug_assert();
        let c = Cli::try_parse_from([
            "imgscan",
            "scan",
            "a",
            "b",
            "--format",
            "sarif",
            "-o",
            "r.sarif",
            "--fail-on",
            "none",
            "--allow-incomplete",
            "--signatures",
            "sigs",
            "--ignorefile",
            "i.yaml",
            "--show-suppressed",
            "--max-file-bytes",
            "1M",
        ])
        .unwrap();
        let super::super::Command::Scan(a) = c.command else {
            panic!("not scan")
        };
        assert_eq!(a.targets, ["a", "b"]);
        assert_eq!(a.fail_on, "none");
        assert_eq!(a.image.limits().file_bytes, 1 << 20);
    }
}
