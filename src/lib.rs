//! mcpcell: a sandboxing launcher for MCP stdio servers.
//!
//! A launch is a pipeline: [`cli`] → [`profile`] (YAML → merged, validated profile) →
//! [`plan`] (profile + command line + this kernel; every fallible step) → [`sandbox`] (the
//! child applies the plan and execs) and [`supervise`] (the parent waits and forwards
//! signals).

// `eprintln!` and `println!` panic when the write fails, and a panic aborts mcpcell: a client
// that stops reading mcpcell's stderr would end the sandbox with it. mcpcell writes with
// `say!` (stderr) and `write_all` (stdout) and ignores a failed write instead.
#![deny(clippy::print_stderr, clippy::print_stdout)]

/// A line on stderr, as `eprintln!` writes it, and nothing when the write fails.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod app;
pub(crate) mod cgroup;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod escape;
pub(crate) mod exit;
pub(crate) mod fdtable;
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod hostspec;
pub(crate) mod infer;
pub(crate) mod kernel;
pub(crate) mod logging;
pub(crate) mod netguard;
pub(crate) mod netns;
pub(crate) mod outfile;
pub(crate) mod paths;
pub(crate) mod places;
pub(crate) mod plan;
pub(crate) mod plural;
pub mod profile;
pub(crate) mod proxy;
pub(crate) mod residency;
pub(crate) mod sandbox;
pub(crate) mod seccomp;
pub(crate) mod statesize;
pub(crate) mod supervise;
pub(crate) mod vars;
