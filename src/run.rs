//! Scan a list of targets end to end, as `imgscan scan`, `manifests` and `registry` do:
//! load signatures, rules, trusted names and ignore rules once; open each target
//! ([`crate::source::open`]), scan each image ([`crate::scan::scan_image_cached`]), judge
//! its names, apply ignore rules and squat escalation; write one report for all targets
//! (JSON Lines as each image finishes) and return the exit code ([`crate::report::exit_code`];
//! [`EXIT_ERROR`] when a target could not be opened). `cli/` only turns flags into
//! [`ScanOptions`].
//!
//! Problems are printed on standard error as `imgscan: <what>`, as every command does.

use crate::cache::LayerCache;
use crate::error::{Error, Step};
use crate::findings::Severity;
use crate::ignore::IgnoreFile;
use crate::reference::Target;
use crate::report::{self, Format, Report, EXIT_ERROR};
use crate::reputation::Corpus;
use crate::rules::RuleSet;
use crate::signatures::Signatures;
use crate::source::SourceOptions;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a scan run takes, from flags or elsewhere.
pub struct ScanOptions {
    pub format: Format,
    /// Write the report here instead of standard output.
    pub output: Option<PathBuf>,
    /// `None` = never fail on findings.
    pub fail_on: Option<Severity>,
    /// Severities shown (all when empty); the exit code judges every finding.
    pub show: Vec<Severity>,
    pub allow_incomplete: bool,
    /// Extra signature files (see `Signatures::load`).
    pub signatures: Option<PathBuf>,
    /// YARA-L files or directories instead of the embedded rules.
    pub rules: Vec<PathBuf>,
    /// Extra trusted names (TOML).
    pub trusted: Option<PathBuf>,
    /// Ignore rules; `None` = `./.imgscanignore` when present.
    pub ignorefile: Option<PathBuf>,
    pub show_suppressed: bool,
    /// Table: every piece of evidence.
    pub verbose: bool,
    /// How to reach images; its `limits` bound the scan.
    pub source: SourceOptions,
    /// Layers walked at once.
    pub parallel: usize,
    pub cache: Option<LayerCache>,
    /// `--yara` rule files and directories (compiled once, into the signatures).
    pub yara: Vec<std::path::PathBuf>,
    /// The per-file bounds of the `--yara` scan.
    pub yara_options: crate::yara::YaraOptions,
}

/// Print `imgscan: <msg>` on standard error; [`EXIT_ERROR`].
fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("imgscan: {msg}");
    EXIT_ERROR
}

/// Scan `targets` with `args`; `summary`: print the batch summary table (images by
/// verdict, layers read and from the cache) on standard error at the end.
pub fn run_targets(mut args: ScanOptions, targets: &[String], summary: bool) -> i32 {
    let fail_on = args.fail_on;
    let show = args.show.clone();
    // The signatures (and any --yara rules) and the YARA-L rules compile on two cores.
    let (sigs, rules) = std::thread::scope(|s| {
        let load_rules = || {
            if args.rules.is_empty() {
                Ok(RuleSet::embedded_default())
            } else {
                RuleSet::parse_files(&args.rules, None)
            }
        };
        let rules_job = std::thread::Builder::new().spawn_scoped(s, load_rules).ok();
        let sigs = Signatures::load(args.signatures.as_deref())
            .map_err(|e| e.to_string())
            .and_then(|s| {
                crate::yara::attach(s, &args.yara, args.yara_options)
                    .map_err(|e| format!("--yara: {e}"))
            });
        let rules = match rules_job {
            Some(j) => j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            None => load_rules(),
        };
        (sigs, rules)
    });
    let sigs = match sigs {
        Ok(s) => Arc::new(s),
        Err(e) => return fail(e),
    };
    let rules = match rules {
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
    let opts = &args.source;
    let limits = args.source.limits;
    let cache = args.cache.take().map(|c| c.with_yara(sigs.yara.as_deref()));
    let cache = cache.as_ref();
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
                        layers: vec![],
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
                args.parallel.max(1),
                cache,
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
    if let Some(c) = cache {
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
                let table = report::TableOptions {
                    verbose: args.verbose,
                    fail_on,
                    ..Default::default()
                };
                report::write_table_aware(&shown, args.format, &table, &mut f)
                    .and_then(|()| f.flush())
                    .map_err(|e| Error::new(Step::Writing, p.display().to_string(), e))
            }),
        None => {
            let stdout = std::io::stdout();
            let table = report::TableOptions {
                color: stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
                verbose: args.verbose,
                width: report::terminal_width(),
                fail_on,
            };
            let mut lock = stdout.lock();
            report::write_table_aware(&shown, args.format, &table, &mut lock)
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
