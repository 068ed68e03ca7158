//! Client config text → wrap, read back, unwrap; the original must come back byte for byte.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpcell::fuzz::wrap(data));
