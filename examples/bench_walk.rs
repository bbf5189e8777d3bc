//! Walks layer blobs (decompress + tar, no analysis) and prints what it saw; used by
//! `scripts/bench-walk.sh` to time the walker against gzip/libdeflate/zstd.
//!
//! `cargo run --profile bench --example bench_walk -- LAYER_BLOB... [--print-hwm]`

use imgscan::image::LayerInfo;
use imgscan::layers::{walk_layer, NoopVisitor};
use imgscan::limits::Limits;

fn main() {
    let mut print_hwm = false;
    let mut code = 0;
    for arg in std::env::args().skip(1) {
        if arg == "--print-hwm" {
            print_hwm = true;
            continue;
        }
        let f = match std::fs::File::open(&arg) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("bench_walk: {arg}: {e}");
                std::process::exit(2);
            }
        };
        let size = f.metadata().map(|m| m.len()).unwrap_or(0);
        let li = LayerInfo {
            index: 0,
            digest: format!("file:{arg}"),
            media_type: String::new(),
            size,
        };
        let start = std::time::Instant::now();
        let w = walk_layer(Box::new(f), &li, &Limits::default(), &mut NoopVisitor);
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{arg}: {:?}, {} entries, {} -> {} bytes in {secs:.3} s",
            w.compression, w.entries, w.compressed_bytes, w.uncompressed_bytes
        );
        if w.error.is_some() || !w.limits.is_empty() {
            eprintln!("bench_walk: incomplete: {:?} {:?}", w.error, w.limits);
            code = 2;
        }
    }
    if print_hwm {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(l) = status.lines().find(|l| l.starts_with("VmHWM:")) {
            println!("hwm_kib {}", l.split_whitespace().nth(1).unwrap_or("?"));
        }
    }
    std::process::exit(code);
}
