//! Build the sample images `make demo` scans: `testdata/samples/clean` and
//! `testdata/samples/malicious` (OCI layouts, written by code in `imgscan-testkit`; the
//! malicious one carries synthetic miner strings only). Usage:
//! `cargo run --example make_samples [DIR]`; an I/O error panics naming the path.

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/samples").into());
    imgscan_testkit::write_samples(std::path::Path::new(&dir));
    println!("{dir}/clean\n{dir}/malicious");
}
