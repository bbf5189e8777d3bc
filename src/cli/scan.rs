//! `imgscan scan TARGET...` (also plain `imgscan TARGET`): open each image, scan it
//! ([`crate::scan::scan_image`]), apply `.imgscanignore`, write one report for all targets
//! and exit 0 (clean), 1 (findings at or above `--fail-on`) or 2 (error, or a scan that did
//! not see everything, unless `--allow-incomplete`).

use super::common::ImageArgs;
use super::{fail, EXIT_ERROR};
use crate::error::{Error, Step};
use crate::findings::Severity;
use crate::ignore::IgnoreFile;
use crate::reference::Target;
use crate::report::{self, Format, Report};
use crate::reputation::Corpus;
use crate::rules::RuleSet;
use crate::signatures::Signatures;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

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

/// Scan `targets` with the options of `args`; `summary`: print the batch summary table
/// (images by verdict, layers read and from the cache) on standard error at the end.
pub(super) fn run_targets(args: Args, targets: &[String], summary: bool) -> i32 {
    let fail_on: Option<Severity> = match report::parse_fail_on(&args.fail_on) {
        Ok(f) => f,
        Err(e) => return fail(format!("--fail-on: {e}")),
    };
    let show = match report::parse_severities(&args.severity) {
        Ok(s) => s,
        Err(e) => return fail(format!("--severity: {e}")),
    };
    let sigs = match Signatures::load(args.signatures.as_deref()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let sigs = match args.yara.attach(sigs) {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(format!("--yara: {e}")),
    };
    let rules = if args.rules.is_empty() {
        RuleSet::embedded_default()
    } else {
        match RuleSet::parse_files(&args.rules, None) {
            Ok(r) => r,
            Err(diags) => {
                for d in &diags {
                    eprintln!("{d}");
                }
                return fail(format!(
                    "loading rules: {} error(s) in --rules (imgscan rules check shows them)",
                    diags.len()
                ));
            }
        }
    };
    // A bad --trusted file fails before anything is scanned; the embedded corpus (its
    // index takes tens of milliseconds to build) only when a name is judged.
    let trusted = match &args.trusted {
        None => None,
        Some(p) => match Corpus::with_trusted_file(p) {
            Ok(c) => Some(c),
            Err(e) => return fail(format!("--trusted {}: {e}", p.display())),
        },
    };
    let embedded = std::cell::OnceCell::new();
    let corpus = || {
        trusted
            .as_ref()
            .unwrap_or_else(|| embedded.get_or_init(Corpus::embedded))
    };
    let ignore = match IgnoreFile::load(args.ignorefile.as_deref()) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let opts = match args.image.source_options() {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let limits = args.image.limits();
    let cache = match args.cache.open(args.signatures.as_deref(), &limits) {
        Ok(c) => c.map(|c| c.with_yara(sigs.yara.as_deref())),
        Err(e) => return fail(e),
    };
    let today = crate::ignore::today();
    // JSON Lines are written as each image finishes (a registry-wide scan shows results
    // long before its last image); other formats need every report first.
    let mut stream: Option<Box<dyn Write>> = None;
    if args.format == Format::Jsonl {
        stream = Some(match &args.output {
            Some(p) => match std::fs::File::create(p) {
                Ok(f) => Box::new(std::io::BufWriter::new(f)),
                Err(e) => return fail(Error::new(Step::Writing, p.display().to_string(), e)),
            },
            None => Box::new(std::io::stdout()),
        });
    }
    let sink_name = args
        .output
        .as_ref()
        .map_or("standard output".to_string(), |p| p.display().to_string());
    // Ignore rules, squat escalation and order: applied to each report once it is done.
    let finish = |r: &mut Report| {
        crate::reputation::escalate_namespace_squat(&mut r.findings);
        let applied = ignore.apply(&r.target, std::mem::take(&mut r.findings), today);
        r.findings = applied.kept;
        r.findings.extend(applied.expired);
        if args.show_suppressed {
            r.suppressed = applied.suppressed;
        } else if !applied.suppressed.is_empty() {
            eprintln!(
                "imgscan: {}: {} finding(s) suppressed by ignore rules (--show-suppressed lists them)",
                r.target,
                applied.suppressed.len()
            );
        }
        r.sort();
    };
    let emit = |r: &Report, stream: &mut Option<Box<dyn Write>>| -> Result<(), Error> {
        let Some(w) = stream.as_mut() else {
            return Ok(());
        };
        let shown = report::only_severities(std::slice::from_ref(r), &show);
        report::write_with(&shown, Format::Jsonl, false, fail_on, w)
            .and_then(|()| w.flush())
            .map_err(|e| Error::new(Step::Writing, sink_name.clone(), e))
    };
    let mut reports: Vec<Report> = Vec::new();
    let mut errors = false;
    let mut batch = crate::batch::Summary::default();
    // Layers (total, from cache) of each report pushed below, in order.
    let mut layer_counts: Vec<(usize, usize)> = Vec::new();
    for t in targets {
        let target = match Target::parse(t) {
            Ok(t) => t,
            Err(e) => {
                fail(Error::new(Step::ParsingReference, t, e));
                errors = true;
                batch.errors += 1;
                continue;
            }
        };
        // A registry name is judged from the reference alone, once per target; a local
        // archive or layout by the names it records for each image (below).
        let name_findings = match &target {
            Target::Registry(r) => crate::reputation::judge(r, corpus()),
            Target::Local { .. } | Target::Daemon { .. } => Vec::new(),
        };
        let images = match crate::source::open(&target, &opts.for_input(t)) {
            Ok(i) => i,
            Err(e) => {
                // What the name alone says still stands (it needs no network): report
                // it, with the image marked as not read.
                if !name_findings.is_empty() {
                    let why = vec![format!("the image could not be read: {e}")];
                    let mut findings = name_findings.clone();
                    findings.extend(crate::analyzers::collate::incomplete_finding(&why));
                    let mut r = Report {
                        target: target.to_string(),
                        manifest_digest: None,
                        platform: None,
                        source: None,
                        findings,
                        suppressed: vec![],
                        incomplete: why,
                    };
                    finish(&mut r);
                    if let Err(e) = emit(&r, &mut stream) {
                        return fail(e);
                    }
                    reports.push(r);
                    layer_counts.push((0, 0));
                }
                fail(e);
                errors = true;
                batch.errors += 1;
                continue;
            }
        };
        for img in &images {
            let (mut r, stats) = crate::scan::scan_image_cached(
                img,
                &sigs,
                &rules,
                &limits,
                args.image.parallel(),
                cache.as_ref(),
            );
            let (kind, address) = crate::source::SourceOptions::origin_of(img, &target);
            r.source = Some(report::ImageOrigin { kind, address });
            r.findings.extend(name_findings.iter().cloned());
            let names = &img.image.names;
            if !names.is_empty() {
                // A daemon image found by its name records that name too: judge it once.
                for f in
                    recorded_name_findings(&names[..names.len().min(MAX_RECORDED_NAMES)], corpus())
                {
                    if !r.findings.contains(&f) {
                        r.findings.push(f);
                    }
                }
            }
            if names.len() > MAX_RECORDED_NAMES {
                let note = format!(
                    "the image records {} names; only the first {MAX_RECORDED_NAMES} were judged",
                    names.len()
                );
                r.findings
                    .retain(|f| f.id != crate::analyzers::collate::SCAN_INCOMPLETE);
                r.incomplete.push(note);
                r.findings
                    .extend(crate::analyzers::collate::incomplete_finding(&r.incomplete));
            }
            finish(&mut r);
            if let Err(e) = emit(&r, &mut stream) {
                return fail(e);
            }
            reports.push(r);
            layer_counts.push((stats.layers, stats.cached_layers));
        }
    }
    if let Some(c) = &cache {
        for w in c.warnings() {
            eprintln!("warning: {w}");
        }
    }
    if summary {
        for (r, (layers, cached)) in reports.iter().zip(&layer_counts) {
            batch.add(r, fail_on, *layers, *cached);
        }
        eprint!("{}", batch.table());
    }
    let shown = report::only_severities(&reports, &show);
    let written = match &args.output {
        _ if stream.is_some() => Ok(()),
        Some(p) => std::fs::File::create(p)
            .map_err(|e| Error::new(Step::Writing, p.display().to_string(), e))
            .and_then(|mut f| {
                report::write_with(&shown, args.format, false, fail_on, &mut f)
                    .and_then(|()| f.flush())
                    .map_err(|e| Error::new(Step::Writing, p.display().to_string(), e))
            }),
        None => {
            let stdout = std::io::stdout();
            let color = stdout.is_terminal();
            let mut lock = stdout.lock();
            report::write_with(&shown, args.format, color, fail_on, &mut lock)
                .and_then(|()| lock.flush())
                .map_err(|e| Error::new(Step::Writing, "standard output", e))
        }
    };
    if let Err(e) = written {
        return fail(e);
    }
    if errors {
        return EXIT_ERROR;
    }
    report::exit_code(&reports, fail_on, args.allow_incomplete)
}

/// Names of one local image judged at most (a hostile archive can list millions of tags);
/// more makes the scan incomplete.
const MAX_RECORDED_NAMES: usize = 64;

/// Name findings for the names a local image records (`RepoTags`): each parsed as a
/// reference and judged; one that does not parse is no name.
fn recorded_name_findings(names: &[String], corpus: &Corpus) -> Vec<crate::findings::Finding> {
    let mut out: Vec<crate::findings::Finding> = Vec::new();
    for n in names {
        if let Ok(r) = crate::reference::Reference::parse(n) {
            for f in crate::reputation::judge(&r, corpus) {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
    }
    out
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
