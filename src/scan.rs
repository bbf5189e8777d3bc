//! One image, end to end: walk every layer once with a [`ScanVisitor`] per layer (all file
//! analyzers share one read of each file), run the image analyzers (config, history) on the
//! final filesystem, collate the signals into findings, and turn every bound reached or
//! layer that could not be read into `incomplete` sentences plus an `IMG-SCAN-INCOMPLETE`
//! finding. Knows nothing of the command line; `cli/scan.rs` adds ignore rules and output.

use crate::analyzers::collate::{incomplete_finding, path_traversal_finding};
use crate::analyzers::config::ConfigAnalyzer;
use crate::analyzers::history::HistoryAnalyzer;
use crate::analyzers::{collate, Analyzer, ScanVisitor};
use crate::layers::walk_image;
use crate::limits::Limits;
use crate::report::Report;
use crate::signatures::Signatures;
use crate::source::OpenedImage;
use std::sync::Arc;

/// What one image scan measured, besides the report.
#[derive(Debug, Clone, Default)]
pub struct ScanStats {
    pub layers: usize,
    pub files_read: u64,
    pub bytes_read: u64,
    pub signals: usize,
}

/// Scan one opened image.
pub fn scan_image(
    opened: &OpenedImage,
    sigs: &Arc<Signatures>,
    limits: &Limits,
    parallel: usize,
) -> (Report, ScanStats) {
    let walk = walk_image(opened, limits, parallel, |_| {
        ScanVisitor::new(Arc::clone(sigs), limits)
    });
    let image = &opened.image;
    let mut stats = ScanStats {
        layers: walk.layers.len(),
        ..Default::default()
    };
    let mut incomplete = walk.incomplete();
    let mut signals = Vec::new();
    for v in &walk.visitors {
        stats.files_read += v.scan.files;
        stats.bytes_read += v.scan.bytes;
        signals.extend(v.scan.signals.iter().cloned());
        for h in &v.scan.limits {
            incomplete.push(format!(
                "layer {}: {} (raise with {})",
                h.layer.unwrap_or(0),
                h.detail,
                h.kind.flag()
            ));
        }
    }
    let image_analyzers: [Box<dyn Analyzer>; 2] = [
        Box::new(ConfigAnalyzer::new(Arc::clone(sigs))),
        Box::new(HistoryAnalyzer::new(Arc::clone(sigs))),
    ];
    for a in &image_analyzers {
        a.image(image, &walk.fs, &mut signals);
    }
    stats.signals = signals.len();
    let mut findings = collate(&signals, &|layer, path| walk.fs.hidden_by(layer, path));
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
        findings,
        suppressed: vec![],
        incomplete,
    };
    report.sort();
    (report, stats)
}
