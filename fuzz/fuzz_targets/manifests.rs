//! Manifest, index, config and docker-archive manifest parsing, through the library's
//! local-source entry point (`source::open` on a file, as `imgscan scan` does). The first
//! byte picks the shape:
//! - 0 / 1: the rest is the archive itself (docker-archive / oci-archive);
//! - 2: a docker-archive built here: `manifest.json` and members `p1`, `p2`, ...;
//! - 3: an OCI archive built here: `oci-layout`, `index.json` and `blobs/sha256/<hex>`;
//! - otherwise: the rest is an image config (`source::config::parse_config`).
//!
//! In 2 and 3 the parts are split at `common::SEP`; `@H1`..`@H4` in a part is replaced
//! by the sha256 hex of that later part, so the fuzzer can write digests that verify.
//! Layers are then walked (no analyzers), so blob reading is exercised too.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::manifests::run(data));
