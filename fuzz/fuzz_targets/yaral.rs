//! The YARA-L lexer, parser and compiler over arbitrary rule text; what compiles is run
//! over a few events so the compiled form is exercised too.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::yaral::run(data));
