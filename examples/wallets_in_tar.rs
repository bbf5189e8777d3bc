//! Every wallet address the wallet analyzer's checks find in a rootfs tar (e.g. the cached
//! Debian rootfs from `scripts/debian-rootfs.sh`), for reviewing false positives. Text
//! files (what the analyzer scans) and, separately, binaries (which it does not).
//! Usage: `cargo run --example wallets_in_tar -- ROOTFS.tar`.

use imgscan::analyzers::wallet::find_addresses;
use imgscan::signatures::Signatures;
use std::io::Read;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: wallets_in_tar ROOTFS.tar");
    let sigs = Signatures::embedded().expect("signatures");
    let file = std::io::BufReader::new(std::fs::File::open(&path).expect("open tar"));
    let mut ar = tar::Archive::new(file);
    let (mut files, mut text_hits, mut binary_hits) = (0u64, 0u64, 0u64);
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("entry");
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = e
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut data = Vec::new();
        if e.by_ref().take(256 << 20).read_to_end(&mut data).is_err() {
            continue;
        }
        files += 1;
        let text = !data[..data.len().min(8192)].contains(&0);
        for (s, end, a) in find_addresses(&sigs.wallets, &data, 64) {
            let what = if text { "text" } else { "binary" };
            if text {
                text_hits += 1;
            } else {
                binary_hits += 1;
            }
            println!(
                "{what}\t{name}\t{s}\t{}\t{:?}\t{}",
                a.signature,
                a.confidence,
                String::from_utf8_lossy(&data[s..end])
            );
        }
    }
    println!("{files} files; {text_hits} addresses in text files, {binary_hits} in binaries");
}
