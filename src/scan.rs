//! One image, end to end: walk every layer once with a [`ScanVisitor`] per layer (all file
//! analyzers share one read of each file), run the image analyzers (config, history) on the
//! final filesystem, collate the signals into findings, and turn every bound reached or
//! layer that could not be read into `incomplete` sentences plus an `IMG-SCAN-INCOMPLETE`
//! finding. Knows nothing of the command line; `cli/scan.rs` adds ignore rules and output.

use crate::analyzers::collate::{incomplete_finding, path_traversal_finding};
use crate::analyzers::config::ConfigAnalyzer;
use crate::analyzers::history::HistoryAnalyzer;
use crate::analyzers::runs::{run_files, RunFile};
use crate::analyzers::{
    collate, Analyzer, ImageFacts, LayerFacts, ScanVisitor, Signal, SignalKind, Subject,
};
use crate::cache::entry::WireSignal;
use crate::cache::{CachedLayer, LayerCache};
use crate::findings::{Finding, Location};
use crate::image::Image;
use crate::layers::walk_image_known;
use crate::layers::FsView;
use crate::limits::Limits;
use crate::report::{LayerSummary, Report};
use crate::rules::RuleSet;
use crate::signatures::Signatures;
use crate::source::OpenedImage;
use crate::udm::{self, Executable};
use std::sync::Arc;

/// What one image scan measured, besides the report.
#[derive(Debug, Clone, Default)]
pub struct ScanStats {
    pub layers: usize,
    pub files_read: u64,
    pub bytes_read: u64,
    pub signals: usize,
    /// Layers taken from the cache (not opened, not read).
    pub cached_layers: usize,
}

/// Scan one opened image: file and image analyzers, then `rules` over the UDM events
/// derived from the image (see `docs/udm-mapping.md`).
pub fn scan_image(
    opened: &OpenedImage,
    sigs: &Arc<Signatures>,
    rules: &RuleSet,
    limits: &Limits,
    parallel: usize,
) -> (Report, ScanStats) {
    scan_image_cached(opened, sigs, rules, limits, parallel, None)
}

/// [`scan_image`] with a per-layer cache: a layer found in `cache` is neither opened nor
/// read (its entries, signals and facts come from the cache); a layer read completely is
/// stored. The image-level steps always run.
pub fn scan_image_cached(
    opened: &OpenedImage,
    sigs: &Arc<Signatures>,
    rules: &RuleSet,
    limits: &Limits,
    parallel: usize,
    cache: Option<&LayerCache>,
) -> (Report, ScanStats) {
    let mut hits: Vec<Option<CachedLayer>> = opened
        .image
        .layers
        .iter()
        .map(|l| cache.and_then(|c| c.lookup(l)))
        .collect();
    let known = hits
        .iter_mut()
        .map(|h| h.as_mut().map(|h| std::mem::take(&mut h.meta)))
        .collect();
    // With fewer layers than walker threads allowed, a core would sit idle: give each
    // layer's content matching its own thread.
    let threaded = parallel > opened.image.layers.len();
    let (mut walk, mut fresh) =
        walk_image_known(opened, limits, parallel, known, cache.is_some(), |_| {
            let v = ScanVisitor::new(Arc::clone(sigs), limits);
            if threaded {
                v.threaded()
            } else {
                v
            }
        });
    let image = &opened.image;
    let mut stats = ScanStats {
        layers: walk.layers.len(),
        ..Default::default()
    };
    for (i, h) in hits.into_iter().enumerate() {
        let Some(h) = h else { continue };
        stats.cached_layers += 1;
        if let (Some(w), Some(v)) = (walk.layers.get_mut(i), walk.visitors.get_mut(i)) {
            w.compression = h.compression;
            w.compressed_bytes = h.compressed_bytes;
            w.uncompressed_bytes = h.uncompressed_bytes;
            w.entries = h.entries;
            w.unsafe_paths = h.unsafe_paths;
            w.unsafe_path_count = h.unsafe_path_count;
            v.scan.signals = h.signals.into_iter().map(|s| s.0).collect();
            v.scan.facts = h.facts;
        }
    }
    // An image-wide bound (image bytes, timeout) may have cut any layer short.
    let storable = cache.is_some() && walk.limits.is_empty();
    let mut incomplete = walk.incomplete();
    let mut signals = Vec::new();
    let mut layer_facts: Vec<LayerFacts> = Vec::with_capacity(walk.visitors.len());
    for (i, v) in walk.visitors.iter_mut().enumerate() {
        v.finish();
        if let (true, Some(c), Some(Some(meta)), Some(w)) =
            (storable, cache, fresh.get_mut(i), walk.layers.get(i))
        {
            let s = &v.scan;
            let complete = w.error.is_none()
                && w.limits.is_empty()
                && s.errors.is_empty()
                && s.limits.is_empty()
                && s.facts.notes.is_empty();
            if complete {
                c.store(
                    &w.layer,
                    CachedLayer {
                        meta: std::mem::take(meta),
                        signals: s.signals.iter().cloned().map(WireSignal).collect(),
                        facts: s.facts.clone(),
                        files: s.files,
                        bytes: s.bytes,
                        compression: w.compression,
                        compressed_bytes: w.compressed_bytes,
                        uncompressed_bytes: w.uncompressed_bytes,
                        entries: w.entries,
                        unsafe_paths: w.unsafe_paths.clone(),
                        unsafe_path_count: w.unsafe_path_count,
                    },
                );
            }
        }
        layer_facts.push(std::mem::take(&mut v.scan.facts));
        incomplete.append(&mut v.scan.errors);
        stats.files_read += v.scan.files;
        stats.bytes_read += v.scan.bytes;
        signals.append(&mut v.scan.signals);
        for h in &v.scan.limits {
            incomplete.push(format!(
                "layer {}: {} (raise with {})",
                h.layer.unwrap_or(0),
                h.detail,
                h.kind.flag()
            ));
        }
    }
    for lf in &mut layer_facts {
        incomplete.append(&mut lf.notes);
    }
    let image_analyzers: [Box<dyn Analyzer>; 3] = [
        Box::new(ConfigAnalyzer::new(Arc::clone(sigs))),
        Box::new(HistoryAnalyzer::new(Arc::clone(sigs))),
        Box::new(crate::analyzers::packages::PackageAnalyzer),
    ];
    let facts = ImageFacts {
        layers: &layer_facts,
    };
    let (runs, run_notes) = run_files(image, &walk.fs, &facts);
    incomplete.extend(run_notes);
    // The YARA-L rules read only what the walk found (the hosts in file signals, the
    // executables, the commands of run files), never what the image analyzers add: so
    // they run on a second core while this one runs the image analyzers (the package
    // check is the costly one).
    let fs = &walk.fs;
    let ((rule_findings, rule_notes), mut more) = std::thread::scope(|s| {
        let rules_now = || run_rules(image, fs, &signals, &runs, &facts, rules);
        // No thread to be had (a process at its limit): the rules run here, after.
        let rules_job = std::thread::Builder::new()
            .name("imgscan-rules".into())
            .spawn_scoped(s, rules_now)
            .ok();
        let mut more = Vec::new();
        for a in &image_analyzers {
            a.image(image, fs, &facts, &mut more);
        }
        let rules_out = match rules_job {
            Some(j) => j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            None => rules_now(),
        };
        (rules_out, more)
    });
    signals.append(&mut more);
    mark_run(image, &runs, &mut signals);
    let mut findings = collate(&signals, &|layer, path| fs.hidden_by(layer, path));
    fill_digests(&mut findings, &facts);
    for (i, lf) in layer_facts.iter().enumerate() {
        if lf.scripts_dropped > 0 {
            incomplete.push(format!(
                "layer {i}: the commands of {} scripts were not kept (more than {} MiB of commands in one layer): they were searched but not followed",
                lf.scripts_dropped,
                crate::analyzers::script::MAX_LAYER_COMMAND_BYTES >> 20
            ));
        }
    }
    stats.signals = signals.len();
    findings.extend(rule_findings);
    incomplete.extend(rule_notes);
    for l in &walk.layers {
        if l.unsafe_path_count > 0 {
            findings.push(path_traversal_finding(
                l.layer.index,
                &l.layer.digest,
                &l.unsafe_paths,
                l.unsafe_path_count,
            ));
        }
    }
    findings.extend(incomplete_finding(&incomplete));
    let mut report = Report {
        target: image.reference.clone(),
        manifest_digest: Some(image.manifest_digest.clone()),
        platform: Some(image.platform.to_string()),
        source: None,
        findings,
        suppressed: vec![],
        incomplete,
        layers: layer_summaries(image, &walk.layers),
    };
    report.sort();
    drop_later((walk, layer_facts, signals, runs));
    (report, stats)
}

/// Frees what a scan built (for a large image, hundreds of thousands of small
/// allocations: entries, digests, commands) on a thread of its own, so the report is
/// not held back by it. At most one such thread is pending: the next scan's free waits
/// for it, so scans one after another (a registry, a webhook) never hold more than one
/// finished scan's data besides their own. If no thread can be started it is freed here.
fn drop_later<T: Send + 'static>(t: T) {
    static PENDING: std::sync::Mutex<Option<std::thread::JoinHandle<()>>> =
        std::sync::Mutex::new(None);
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(previous) = pending.take() {
        let _ = previous.join();
    }
    *pending = std::thread::Builder::new()
        .name("imgscan-free".into())
        .spawn(move || drop(t))
        .ok();
}

/// The layer timeline of the report: what the manifest says, what the walk read, and the
/// history step that made each layer.
fn layer_summaries(image: &Image, walked: &[crate::layers::LayerWalk]) -> Vec<LayerSummary> {
    let steps = LayerSummary::history_steps(&image.config.history, image.layers.len());
    image
        .layers
        .iter()
        .zip(steps)
        .map(|(l, step)| {
            let w = walked.iter().find(|w| w.layer.index == l.index);
            let (history_step, created_by) =
                step.map_or((None, String::new()), |(i, c)| (Some(i), c));
            LayerSummary {
                index: l.index,
                digest: l.digest.clone(),
                size: l.size,
                uncompressed_bytes: w.map_or(0, |w| w.uncompressed_bytes),
                entries: w.map_or(0, |w| w.entries),
                history_step,
                created_by,
            }
        })
        .collect()
}

/// The image as UDM events (start command, history, env, every executable file,
/// hosts the file analyzers found), evaluated by `rules`.
fn run_rules(
    image: &Image,
    fs: &FsView,
    signals: &[Signal],
    runs: &[RunFile],
    facts: &ImageFacts,
    rules: &RuleSet,
) -> (Vec<Finding>, Vec<String>) {
    if rules.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let file_location =
        |layer: usize, layer_digest: &str, path: &str, inside: &[String]| Location::File {
            layer,
            layer_digest: layer_digest.to_string(),
            path: path.to_string(),
            hidden_by: fs.hidden_by(layer, path),
            inside: inside.to_vec(),
            sha256: None,
        };
    let mut notes = Vec::new();
    let digests: std::collections::HashMap<(usize, &str), &str> = facts
        .layers
        .iter()
        .enumerate()
        .flat_map(|(li, l)| {
            l.digests
                .iter()
                .filter(|d| d.inside.is_empty())
                .map(move |d| ((li, d.path.as_str()), d.sha256.as_str()))
        })
        .collect();
    let mut all_exec = fs.entries().filter(|e| e.is_executable());
    let executables: Vec<Executable> = all_exec
        .by_ref()
        .take(MAX_EXECUTABLE_EVENTS)
        .map(|e| Executable {
            path: e.path.clone(),
            sha256: digests
                .get(&(e.layer, e.path.as_str()))
                .map(|h| h.to_string()),
            origin: file_location(e.layer, &e.layer_digest, &e.path, &[]),
        })
        .collect();
    let left_out = all_exec.count();
    if left_out > 0 {
        notes.push(format!(
            "{left_out} executable files beyond the first {MAX_EXECUTABLE_EVENTS} were not turned into events for the YARA-L rules"
        ));
    }
    // Hosts the file analyzers saw: the matched text (URLs, host:port) and, for pool
    // domains, the domain itself as a URL so it becomes a DNS question.
    let mut texts: Vec<(String, Location)> = Vec::new();
    for s in signals {
        let Subject::File {
            layer,
            layer_digest,
            path,
            inside,
        } = &s.subject
        else {
            continue;
        };
        let text = match s.kind {
            SignalKind::PoolDomain => match s.signature.split_once(':') {
                Some((_, domain)) => format!("dns://{domain} {}", s.excerpt),
                None => s.excerpt.clone(),
            },
            SignalKind::Literal { .. } | SignalKind::PoolPort => s.excerpt.clone(),
            _ => continue,
        };
        texts.push((text, file_location(*layer, layer_digest, path, inside)));
    }
    let resolve = |p: &str| fs.resolve(p).map(|e| format!("/{}", e.path));
    let mut events = udm::image_events(image, &resolve, &executables, &texts);
    // The commands of every file the image runs, as the processes it would start.
    let path_env = image
        .config
        .env_var("PATH")
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let locate = |prog: &str| udm::locate(prog, path_env, &resolve);
    // Up to MAX_RUN_FILES files of MAX_COMMANDS_KEPT commands each: a hostile image could
    // make that a million events, so their commands are capped as executables are.
    let mut script_commands = 0usize;
    for r in runs {
        let Some(script) = facts.script(r.layer, &r.path) else {
            continue;
        };
        let room = MAX_SCRIPT_COMMAND_EVENTS.saturating_sub(script_commands);
        let full = room < script.commands.len();
        if full {
            notes.push(format!(
                "the commands of the files the image runs beyond the first {MAX_SCRIPT_COMMAND_EVENTS} were not turned into events for the YARA-L rules (from /{} on)",
                r.path
            ));
        }
        let commands = &script.commands[..script.commands.len().min(room)];
        script_commands += commands.len();
        let digest = image.layers.get(r.layer).map_or("", |l| l.digest.as_str());
        let origin = file_location(r.layer, digest, &r.path, &[]);
        let description = format!("{} run by the image", r.kind.as_str());
        events.extend(udm::script_events(
            commands,
            r.kind.event_type(),
            &description,
            &origin,
            &locate,
        ));
        if full {
            break;
        }
    }
    let (findings, rule_notes) = udm::rule_findings(rules, &events);
    notes.extend(rule_notes);
    (findings, notes)
}

/// Tell the signals about files the image runs that they are run: a `RunBy` signal per
/// run file (the finding then says who runs it), and behaviour signals found in a run
/// file count as run.
fn mark_run(image: &Image, runs: &[RunFile], signals: &mut Vec<Signal>) {
    let run: std::collections::HashSet<(usize, &str)> =
        runs.iter().map(|r| (r.layer, r.path.as_str())).collect();
    for s in signals.iter_mut() {
        let Subject::File {
            layer,
            path,
            inside,
            ..
        } = &s.subject
        else {
            continue;
        };
        if !inside.is_empty() || !run.contains(&(*layer, path.as_str())) {
            continue;
        }
        crate::analyzers::mark_signal_run(s);
    }
    for r in runs {
        signals.push(Signal {
            subject: Subject::File {
                layer: r.layer,
                layer_digest: image
                    .layers
                    .get(r.layer)
                    .map_or(String::new(), |l| l.digest.clone()),
                path: r.path.clone(),
                inside: vec![],
            },
            kind: SignalKind::RunBy,
            signature: format!(
                "run-by:{}",
                r.kind.event_type().trim_start_matches("image.")
            ),
            offset: None,
            line: None,
            excerpt: r.why.clone(),
        });
    }
}

/// Fill `Location::File.sha256` of every file evidence from the hash analyzer's facts
/// (layer + path, and the enclosing archives for files inside nested archives).
fn fill_digests(findings: &mut [Finding], facts: &ImageFacts) {
    for f in findings {
        for ev in &mut f.evidence {
            if let Location::File {
                layer,
                path,
                inside,
                sha256,
                ..
            } = &mut ev.location
            {
                if sha256.is_none() {
                    *sha256 = facts
                        .layer(*layer)
                        .and_then(|l| {
                            l.digests
                                .iter()
                                .find(|d| d.path == *path && d.inside == *inside)
                        })
                        .map(|d| d.sha256.clone());
                }
            }
        }
    }
}

/// Executable files turned into `PROCESS_LAUNCH` events at most (each event is a small
/// JSON document held until the rules have run); more is reported as incomplete.
const MAX_EXECUTABLE_EVENTS: usize = 100_000;
/// Commands of run files (scripts, crontabs, units) turned into events at most.
const MAX_SCRIPT_COMMAND_EVENTS: usize = 100_000;
