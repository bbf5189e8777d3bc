//! Analyzer cost over a layer tar (`.tar`, or `.tar.gz` to include decompression) (e.g. the cached Debian rootfs from
//! `scripts/debian-rootfs.sh`): reads the tar once with a no-op
//! visitor and once with the scan visitor, and prints both times.
//! Usage: `cargo run --release --example bench_analyzers -- ROOTFS.tar [--one-thread]`.

use imgscan::analyzers::ScanVisitor;
use imgscan::image::{EntryKind, FileEntry};
use imgscan::limits::Limits;
use imgscan::signatures::Signatures;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

fn walk(path: &str, mut f: impl FnMut(&FileEntry, &mut dyn Read)) -> u64 {
    let file =
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).expect("open tar"));
    let reader: Box<dyn Read> = if path.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut ar = tar::Archive::new(reader);
    let mut bytes = 0;
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("entry");
        let kind = match e.header().entry_type() {
            tar::EntryType::Regular => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            _ => EntryKind::Other,
        };
        let fe = FileEntry {
            layer: 0,
            layer_digest: "sha256:bench".into(),
            path: e
                .path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            kind,
            mode: e.header().mode().unwrap_or(0),
            size: e.header().size().unwrap_or(0),
            link_target: None,
            hidden_by: None,
        };
        bytes += fe.size;
        f(&fe, &mut e);
    }
    bytes
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: bench_analyzers ROOTFS.tar");
    let t = Instant::now();
    let bytes = walk(&path, |_, r| {
        std::io::copy(r, &mut std::io::sink()).unwrap();
    });
    let base = t.elapsed();
    let sigs = Arc::new(Signatures::embedded().unwrap());
    let threaded = std::env::args().nth(2).as_deref() != Some("--one-thread");
    let mut v = ScanVisitor::new(sigs, &Limits::default());
    if threaded {
        v = v.threaded();
    }
    let t = Instant::now();
    walk(&path, |e, r| v.visit_entry(e, r).unwrap());
    v.finish();
    let scan = t.elapsed();
    println!(
        "{:.1} MiB of file content; tar read alone {:.3} s; with analyzers {:.3} s; analyzers {:.3} s ({:.0} MiB/s); {} signals",
        bytes as f64 / 1048576.0,
        base.as_secs_f64(),
        scan.as_secs_f64(),
        (scan - base.min(scan)).as_secs_f64(),
        bytes as f64 / 1048576.0 / (scan - base.min(scan)).as_secs_f64(),
        v.scan.signals.len()
    );
}
