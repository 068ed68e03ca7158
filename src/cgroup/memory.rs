//! Where `limits.memory` can be enforced: a memory cgroup mcpcell may create.
//!
//! - cgroup v1, as root: a child of mcpcell's own memory cgroup (so limits set on mcpcell's
//!   cgroup still hold), with `memory.limit_in_bytes` and, where swap is accounted,
//!   `memory.memsw.limit_in_bytes` at the same value (no swap beyond the limit).
//! - cgroup v2, as root: a cgroup at the top of the hierarchy (beside the pids cgroup), with
//!   `memory.max` and `memory.swap.max` = 0.
//! - cgroup v2, an ordinary user: a child of mcpcell's own cgroup when systemd delegated it
//!   (it has the memory controller and belongs to the user), as
//!   `systemd-run --user --scope -p Delegate=yes` makes one.
//!
//! Anything else (cgroup v1 as an ordinary user, a cgroup not delegated) has no memory cgroup.

use std::path::{Path, PathBuf};

use super::{Hierarchy, hierarchy, own_dir};

/// Where the sandbox's memory cgroup goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryHome {
    /// The directory `mcpcell.<pid>` is created in.
    pub parent: PathBuf,
    pub v2: bool,
    /// An ordinary user's delegated cgroup (v2).
    pub delegated: bool,
}

/// Why no memory cgroup can be had, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub why: String,
    pub fix: String,
}

const DELEGATE_FIX: &str = "run mcpcell inside a cgroup delegated to you, e.g. `systemd-run --user --scope -p Delegate=yes mcpcell run ...` (cgroup v2 with systemd), or run it as root";

pub(super) fn writable(p: &Path) -> bool {
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok()
}

impl MemoryHome {
    /// What the dry-run and doctor say enforces the limit.
    pub fn describe(&self) -> String {
        if self.v2 {
            format!(
                "a cgroup v2 memory cgroup under {} (memory.max; memory.swap.max=0){}",
                self.parent.display(),
                if self.delegated {
                    ", delegated to this user"
                } else {
                    ""
                }
            )
        } else {
            let swap = if self.parent.join("memory.memsw.limit_in_bytes").exists() {
                "memory.memsw.limit_in_bytes the same: no swap beyond it"
            } else {
                "swap is not accounted on this kernel, so swap use is not bounded"
            };
            format!(
                "a cgroup v1 memory cgroup under {} (memory.limit_in_bytes; {swap})",
                self.parent.display()
            )
        }
    }
}

/// Where a memory cgroup can be created for a process running as `euid`.
pub fn memory_home(euid: u32) -> Result<MemoryHome, Missing> {
    let Some(h) = hierarchy("memory") else {
        return Err(Missing {
            why: "no cgroup hierarchy with the memory controller is mounted".into(),
            fix: "enable the memory controller (cgroup_enable=memory on the kernel command line), or mount it".into(),
        });
    };
    let own = own_dir(&h, "memory");
    home_in(&h, own, euid)
}

/// [`memory_home`] in hierarchy `h`, for a process whose own cgroup there is `own`.
fn home_in(h: &Hierarchy, own: Option<PathBuf>, euid: u32) -> Result<MemoryHome, Missing> {
    if !h.v2 {
        // v1: nest under mcpcell's own memory cgroup, so an enclosing limit still binds.
        let parent = own
            .filter(|d| d.is_dir())
            .unwrap_or_else(|| h.mount.clone());
        if writable(&parent) {
            return Ok(MemoryHome {
                parent,
                v2: false,
                delegated: false,
            });
        }
        return Err(Missing {
            why: format!(
                "the memory controller is on cgroup v1 and {} is not writable{}",
                parent.display(),
                if euid == 0 {
                    ""
                } else {
                    " by this user (v1 cgroups are not delegated to ordinary users)"
                }
            ),
            fix: DELEGATE_FIX.into(),
        });
    }
    if euid == 0 {
        if writable(&h.mount.join("cgroup.subtree_control")) {
            return Ok(MemoryHome {
                parent: h.mount.clone(),
                v2: true,
                delegated: false,
            });
        }
        return Err(Missing {
            why: format!("{} is not writable", h.mount.display()),
            fix: "mount the cgroup v2 hierarchy read-write".into(),
        });
    }
    let Some(own) = own else {
        return Err(Missing {
            why: "this process's cgroup v2 path is not in /proc/self/cgroup".into(),
            fix: DELEGATE_FIX.into(),
        });
    };
    let controllers = std::fs::read_to_string(own.join("cgroup.controllers")).unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(Missing {
            why: format!(
                "the memory controller is not available in this user's cgroup {}",
                own.display()
            ),
            fix: DELEGATE_FIX.into(),
        });
    }
    let delegated = ["cgroup.procs", "cgroup.subtree_control"]
        .iter()
        .all(|f| writable(&own.join(f)))
        && writable(&own);
    if !delegated {
        return Err(Missing {
            why: format!(
                "this user's cgroup {} is not delegated to it (not writable)",
                own.display()
            ),
            fix: DELEGATE_FIX.into(),
        });
    }
    Ok(MemoryHome {
        parent: own,
        v2: true,
        delegated: true,
    })
}

/// The files that set a limit of `bytes` (file, value, required).
pub(super) fn settings(home: &MemoryHome, bytes: u64) -> Vec<(&'static str, String, bool)> {
    let n = bytes.to_string();
    if home.v2 {
        vec![
            ("memory.max", n, true),
            ("memory.swap.max", "0".into(), false),
        ]
    } else {
        // memsw (memory + swap) must not be below limit_in_bytes: written second.
        vec![
            ("memory.limit_in_bytes", n.clone(), true),
            ("memory.memsw.limit_in_bytes", n, false),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(mount: &Path) -> Hierarchy {
        Hierarchy {
            mount: mount.to_path_buf(),
            root: "/".into(),
            v2: true,
        }
    }

    /// A cgroup directory with the given controllers available.
    fn cgroup(dir: &Path, controllers: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        for f in ["cgroup.procs", "cgroup.subtree_control"] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        std::fs::write(dir.join("cgroup.controllers"), controllers).unwrap();
        dir.to_path_buf()
    }

    #[test]
    fn a_delegated_v2_cgroup_is_used_by_an_ordinary_user() {
        let d = tempfile::tempdir().unwrap();
        let own = cgroup(
            &d.path().join("user.slice/run-r1.scope"),
            "cpu memory pids\n",
        );
        let home = home_in(&v2(d.path()), Some(own.clone()), 1000).unwrap();
        assert_eq!(
            home,
            MemoryHome {
                parent: own,
                v2: true,
                delegated: true
            }
        );
        assert_eq!(
            settings(&home, 1 << 30),
            [
                ("memory.max", "1073741824".to_string(), true),
                ("memory.swap.max", "0".to_string(), false)
            ]
        );
    }

    #[test]
    fn without_the_memory_controller_the_user_is_told_how_to_get_one() {
        let d = tempfile::tempdir().unwrap();
        let own = cgroup(&d.path().join("user.slice/session-1.scope"), "pids\n");
        let m = home_in(&v2(d.path()), Some(own), 1000).unwrap_err();
        assert!(m.why.contains("not available"), "{}", m.why);
        assert!(m.fix.contains("systemd-run --user --scope -p Delegate=yes"));
        let m = home_in(&v2(d.path()), None, 1000).unwrap_err();
        assert!(m.fix.contains("systemd-run"));
    }

    #[test]
    fn root_uses_the_top_of_v2_and_its_own_cgroup_on_v1() {
        let d = tempfile::tempdir().unwrap();
        cgroup(d.path(), "memory pids\n");
        let home = home_in(&v2(d.path()), None, 0).unwrap();
        assert_eq!((home.parent.as_path(), home.delegated), (d.path(), false));
        let v1 = Hierarchy {
            v2: false,
            ..v2(d.path())
        };
        let own = cgroup(&d.path().join("system.slice"), "");
        let home = home_in(&v1, Some(own.clone()), 0).unwrap();
        assert_eq!(home.parent, own);
        assert_eq!(
            settings(&home, 42)[0],
            ("memory.limit_in_bytes", "42".into(), true)
        );
    }
}
