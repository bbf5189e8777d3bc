//! Each log adapter (src/logs/): the first byte picks the input format (or sniffing);
//! the rest is one input file, read as `imgscan events` reads one.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::logs::run(data));
