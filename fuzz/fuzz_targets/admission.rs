//! The AdmissionReview handler (`imgscan admission-review`, offline): any body gets an
//! answer, and a body without a request uid is answered as invalid.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| imgscan_fuzz::admission::run(data));
