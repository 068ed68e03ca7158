//! A server's stderr → the hints mcpcell takes from it; a panic would abort mcpcell.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpcell::fuzz::stderr(data));
