//! Profile text → parse, `extends`, validation, plan, dry-run report.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpcell::fuzz::profile(data));
