//! `mcpjail learn`: observe a server and write the profile it needs.

pub fn run(_args: crate::cli::LearnArgs) -> i32 {
    eprintln!("mcpjail: error: learn is not available in this build");
    125
}
