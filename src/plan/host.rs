//! What [`build`](super::build) knows of the machine it plans for. The caller reads it once
//! ([`Host::probe`]) and hands it in, so that planning reads no global state of its own: the
//! same profile and request on a given `Host` give the same plan, and the unit tests plan for
//! a kernel and an environment they describe.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use nix::sys::resource::Resource;

use crate::cgroup::{MemoryHome, Missing};
use crate::kernel::Kernel;

use super::PlanError;

/// The machine a plan is made for.
#[derive(Debug, Clone)]
pub struct Host {
    pub kernel: Kernel,
    /// mcpcell's working directory: relative paths on the command line start here.
    pub cwd: PathBuf,
    /// mcpcell's environment: `${HOME}` and the other variables, the `PATH` the command is
    /// found on, and what `env.pass` passes.
    pub env: Vec<(OsString, OsString)>,
    pub probes: Probes,
}

/// Questions about the machine that only some profiles raise, asked only then: a launch pays
/// for no cgroup probe it does not need.
#[derive(Debug, Clone, Copy)]
pub struct Probes {
    /// The hard limit of a resource for this process (`limits.*` cannot go above it).
    pub hard_limit: fn(Resource) -> u64,
    /// Whether a pids cgroup can be set up (`limits.processes` for root).
    pub pids_cgroup: fn() -> bool,
    /// Where a memory cgroup can be created for this effective uid (`limits.memory`).
    pub memory_cgroup: fn(u32) -> Result<MemoryHome, Missing>,
    /// The user's home directory in the password database (`${HOME}` when HOME is not an
    /// absolute path).
    pub passwd_home: fn() -> Option<String>,
}

impl Probes {
    /// The answers of this machine.
    pub fn real() -> Probes {
        Probes {
            hard_limit: |r| {
                nix::sys::resource::getrlimit(r)
                    .map(|(_, h)| h)
                    .unwrap_or(u64::MAX)
            },
            pids_cgroup: crate::cgroup::available,
            memory_cgroup: crate::cgroup::memory_home,
            passwd_home: crate::vars::passwd_home,
        }
    }
}

impl Host {
    /// This process's kernel facts, working directory and environment.
    pub fn probe() -> Result<Host, PlanError> {
        Ok(Host {
            kernel: Kernel::probe(),
            cwd: std::env::current_dir().map_err(PlanError::Cwd)?,
            env: std::env::vars_os().collect(),
            probes: Probes::real(),
        })
    }

    /// The value of the environment variable `name`, as `std::env::var_os` gives it.
    pub fn var_os(&self, name: &str) -> Option<&OsStr> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// The value of `name` when it is valid UTF-8, as `std::env::var` gives it.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.var_os(name).and_then(OsStr::to_str)
    }
}
