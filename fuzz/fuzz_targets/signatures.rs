//! Signature files: the first byte picks which embedded file the rest replaces; what
//! loads is compiled and run over its own text.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::signatures::run(data));
