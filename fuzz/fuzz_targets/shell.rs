//! The shell parser: command splitting, words, script commands, history steps and the
//! start command of an image, over arbitrary text.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::shell::run(data));
