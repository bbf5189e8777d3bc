//! Image reference and scan-target parsing (`nginx`, `reg:5000/a/b:tag@sha256:...`,
//! `docker-archive:/x.tar:tag`), and what a parsed reference answers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::reference::run(data));
