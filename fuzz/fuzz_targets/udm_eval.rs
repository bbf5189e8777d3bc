//! The YARA-L evaluator over arbitrary UDM JSON: one event per line, run through the
//! embedded rules and, when `../shared/yaral-corpus` is there, the corpus rules that
//! compile.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::udm_eval::run(data));
