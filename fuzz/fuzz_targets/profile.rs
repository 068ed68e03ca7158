//! Profile text → parse, `extends`, validation, plan, dry-run report.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcpjail::fuzz::profile(data));
