//! Ignore files (`.imgscanignore`, YAML): parsing, then applying what parses to findings.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::ignore::run(data));
