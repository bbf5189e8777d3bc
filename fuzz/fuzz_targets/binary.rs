//! The binary analyzer (goblin: ELF, PE, Mach-O) over arbitrary bytes, whole and as a
//! truncated head (how the visitor calls it when a file is larger than it buffers).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::binary::run(data));
