//! The layer walker and the whole file scan over raw layer blobs (gzip, zstd or plain
//! tar, sniffed from the bytes): up to four layers split at `common::SEP`, so whiteouts
//! and opaque directories of later layers act on earlier ones in the final view.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::layer_walk::run(data));
