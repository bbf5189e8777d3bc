//! Build the sample images `make demo` scans: `testdata/samples/clean` and
//! `testdata/samples/malicious` (OCI layouts, written by code; the malicious one carries
//! synthetic miner strings only). Usage: `cargo run --example make_samples [DIR]`.

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/samples").into());
    if let Err(e) = imgscan::samples::write_samples(std::path::Path::new(&dir)) {
        eprintln!("make_samples: writing {dir}: {e}");
        std::process::exit(2);
    }
    println!("{dir}/clean\n{dir}/malicious");
}
