//! mcpcell: a sandboxing launcher for MCP stdio servers.
//!
//! A launch is a pipeline: [`cli`] → [`profile`] (YAML → merged, validated profile) →
//! [`plan`] (profile + command line + this kernel; every fallible step) → [`sandbox`] (the
//! child applies the plan and execs) and [`supervise`] (the parent waits and forwards
//! signals).

pub mod app;
pub(crate) mod cgroup;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod escape;
pub(crate) mod exit;
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod hostspec;
pub(crate) mod infer;
pub(crate) mod kernel;
pub(crate) mod logging;
pub(crate) mod netguard;
pub(crate) mod outfile;
pub(crate) mod paths;
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
