//! Nested archive reading: the input is one file inside a layer, named so the scan opens
//! it as a tar, a gzip tar or a zip (the first byte picks which), read through the same
//! visitor as every file of an image.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::nested_archive::run(data));
