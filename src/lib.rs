//! mcpcell: a sandboxing launcher for MCP stdio servers.
//!
//! A launch is a pipeline: [`cli`] → [`profile`] (YAML → merged, validated profile) →
//! [`plan`] (profile + command line + this kernel; every fallible step) → [`sandbox`] (the
//! child applies the plan and execs) and [`supervise`] (the parent waits and forwards
//! signals).

pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod doctor;
pub mod escape;
pub mod explain;
#[doc(hidden)]
pub mod fuzz;
pub mod hints;
pub mod hostspec;
pub mod infer;
pub mod kernel;
pub mod learn;
pub mod logging;
pub mod outfile;
pub mod plan;
pub mod profile;
pub mod proxy;
pub mod residency;
pub mod sandbox;
pub mod seccomp;
pub mod statesize;
pub mod supervise;
pub mod terminal;
pub mod vars;
pub mod wrap;
