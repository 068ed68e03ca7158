//! The sandbox's cgroups: `limits.processes` for root (a pids cgroup) and `limits.memory`
//! (a memory cgroup, for root and for a user whose cgroup systemd delegated).
//!
//! `RLIMIT_NPROC` is never enforced for the root user (the kernel exempts uid 0 outright), so
//! `limits.processes` needs another mechanism there; and no rlimit bounds the memory of a
//! whole process tree. mcpcell creates `mcpcell.<pid>` in each hierarchy it needs (one
//! directory on cgroup v2, one per controller on v1), writes the limits, and the sandbox moves
//! itself in (through descriptors opened here, see [`join_file`]) before it starts anything. The
//! directories are removed when the sandbox is gone; directories left behind by a killed
//! mcpcell are removed by the next run.

mod memory;

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

pub use memory::{MemoryHome, Missing, memory_home};

/// What the sandbox's cgroups must enforce.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    /// `pids.max` (root only).
    pub pids: Option<u64>,
    /// The memory limit in bytes.
    pub memory: Option<u64>,
}

#[derive(Debug)]
pub struct SandboxCgroup {
    /// Created directories, removed in reverse order.
    dirs: Vec<PathBuf>,
    /// The join file ([`join_file`]) of each new cgroup, open for writing: the sandbox writes
    /// "0" to each.
    pub procs: Vec<OwnedFd>,
}

/// A mounted hierarchy that has a controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    pub mount: PathBuf,
    /// The cgroup the mount shows at its mount point (`/` unless mounted from a namespace).
    pub root: String,
    pub v2: bool,
}

/// The hierarchy that has `controller` (a v1 hierarchy wins: a controller bound to v1 is
/// absent from v2's `cgroup.controllers`).
pub(crate) fn hierarchy(controller: &str) -> Option<Hierarchy> {
    let info = mountinfo()?;
    let mut v2 = None;
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut l = left.split(' ');
        let (Some(root), Some(mount_point)) = (l.nth(3), l.next()) else {
            continue;
        };
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let _source = r.next();
        let opts = r.next().unwrap_or("");
        let h = Hierarchy {
            mount: PathBuf::from(mount_point),
            root: root.to_string(),
            v2: fstype == "cgroup2",
        };
        if fstype == "cgroup" && opts.split(',').any(|o| o == controller) {
            return Some(h);
        }
        if h.v2 && v2.is_none() {
            let controllers =
                fs::read_to_string(h.mount.join("cgroup.controllers")).unwrap_or_default();
            if controllers.split_whitespace().any(|c| c == controller) {
                v2 = Some(h);
            }
        }
    }
    v2
}

/// `/proc/self/mountinfo`, read once per process. The kernel formats every mount of the
/// namespace for each read (with each file system's options), ~60 µs here, and a launch as
/// root asks for the pids hierarchy twice (whether it is usable, then to create the cgroup)
/// and for the memory hierarchy; the mounts do not change in between for what is looked up.
fn mountinfo() -> Option<&'static str> {
    static INFO: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    INFO.get_or_init(|| fs::read_to_string("/proc/self/mountinfo").ok())
        .as_deref()
}

/// This process's own cgroup directory in `h`, from /proc/self/cgroup.
pub(crate) fn own_dir(h: &Hierarchy, controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = own_path(&text, h.v2, controller)?;
    // Mounted from inside a cgroup namespace, the mount shows `root` at its mount point.
    let rel = if h.root == "/" {
        path.as_str()
    } else {
        path.strip_prefix(h.root.as_str()).unwrap_or(&path)
    };
    Some(h.mount.join(rel.trim_start_matches('/')))
}

/// The path of `controller`'s line (v1) or of the `0::` line (v2) in /proc/self/cgroup.
fn own_path(text: &str, v2: bool, controller: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut f = line.splitn(3, ':');
        let (id, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        let hit = if v2 {
            id == "0" && ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.to_string())
    })
}

/// Whether a pids cgroup can be set up here: the hierarchy is mounted and writable. Inside a
/// container it is typically mounted read-only (runc, Podman, Docker without `--privileged`).
pub fn available() -> bool {
    hierarchy("pids").is_some_and(|h| memory::writable(&h.mount))
}

/// One directory to create: where, which controllers it needs enabled (v2), what to write.
struct Wanted {
    parent: PathBuf,
    v2: bool,
    delegated: bool,
    controllers: Vec<&'static str>,
    /// (file, value, required): optional files are skipped where the kernel lacks them.
    settings: Vec<(&'static str, String, bool)>,
}

impl SandboxCgroup {
    pub fn create(req: &Request) -> io::Result<SandboxCgroup> {
        let mut wanted: Vec<Wanted> = Vec::new();
        if let Some(max) = req.pids {
            let h = hierarchy("pids").ok_or_else(|| {
                io::Error::other("no cgroup hierarchy with the pids controller is mounted")
            })?;
            wanted.push(Wanted {
                parent: h.mount,
                v2: h.v2,
                delegated: false,
                controllers: vec!["pids"],
                settings: vec![("pids.max", max.to_string(), true)],
            });
        }
        if let Some(bytes) = req.memory {
            let home = memory_home(nix::unistd::geteuid().as_raw())
                .map_err(|m| io::Error::other(m.why))?;
            let settings = memory::settings(&home, bytes);
            // On v2 as root both limits live in the same directory.
            match wanted.iter_mut().find(|w| w.parent == home.parent) {
                Some(w) => {
                    w.controllers.push("memory");
                    w.settings.extend(settings);
                }
                None => wanted.push(Wanted {
                    parent: home.parent.clone(),
                    v2: home.v2,
                    delegated: home.delegated,
                    controllers: vec!["memory"],
                    settings,
                }),
            }
        }
        let mut cg = SandboxCgroup {
            dirs: Vec::new(),
            procs: Vec::new(),
        };
        for w in wanted {
            cg.add(w)?;
        }
        Ok(cg)
    }

    fn add(&mut self, w: Wanted) -> io::Result<()> {
        remove_stale(&w.parent);
        if w.v2 {
            enable(&w.parent, &w.controllers, w.delegated)?;
        }
        let dir = w.parent.join(format!("mcpcell.{}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
        }
        // Pushed first: Drop removes it if a setting fails.
        self.dirs.push(dir.clone());
        for (file, value, required) in &w.settings {
            match fs::write(dir.join(file), value) {
                Ok(()) => {}
                Err(e) if !required && e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("writing {value} to {}: {e}", dir.join(file).display()),
                    ));
                }
            }
        }
        let procs = open(
            &dir.join(join_file(w.v2)),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        self.procs.push(procs);
        Ok(())
    }
}

/// The file through which the sandbox's init joins a cgroup, by writing "0" (itself).
///
/// On cgroup v1 that is `tasks`, which moves only the writing thread: the kernel then skips
/// the global `cgroup_threadgroup_rwsem` write lock (`cgroup_procs_write_start` takes it only
/// when a pid is named or a whole thread group moves), whose RCU grace period made a write to
/// `cgroup.procs` take 5-15 ms of every root launch. The init is a freshly cloned,
/// single-threaded process, so moving its one thread moves the process, and everything it
/// forks afterwards is born inside. cgroup v2 has no such file (`cgroup.threads` moves threads
/// only within a threaded subtree), so there it is `cgroup.procs`.
pub(crate) fn join_file(v2: bool) -> &'static str {
    if v2 { "cgroup.procs" } else { "tasks" }
}

/// Enables `controllers` for the children of `parent` (cgroup v2). The kernel allows that only
/// for a cgroup without processes of its own; in a delegated cgroup that holds mcpcell itself
/// (`systemd-run --user --scope -p Delegate=yes mcpcell ...`), mcpcell first moves itself to a
/// leaf `mcpcell.<pid>.launcher` beside the sandbox's.
fn enable(parent: &Path, controllers: &[&str], delegated: bool) -> io::Result<()> {
    let sub = parent.join("cgroup.subtree_control");
    let current = fs::read_to_string(&sub).unwrap_or_default();
    let missing: Vec<String> = controllers
        .iter()
        .filter(|c| !current.split_whitespace().any(|x| x == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = missing.join(" ");
    match fs::write(&sub, &line) {
        Err(e) if delegated && e.raw_os_error() == Some(libc::EBUSY) => {
            let leaf = parent.join(format!("mcpcell.{}.launcher", std::process::id()));
            match fs::create_dir(&leaf) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            fs::write(leaf.join("cgroup.procs"), "0")?;
            fs::write(&sub, &line).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "enabling {line} in {} (other processes share this cgroup; start mcpcell in a scope of its own with `systemd-run --user --scope -p Delegate=yes mcpcell ...`): {e}",
                        sub.display()
                    ),
                )
            })
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("enabling {line} in {}: {e}", sub.display()),
        )),
        Ok(()) => Ok(()),
    }
}

impl Drop for SandboxCgroup {
    fn drop(&mut self) {
        for dir in self.dirs.iter().rev() {
            // Empty once the sandbox has exited; a few retries cover the kernel's lag in
            // releasing the last task.
            for _ in 0..50 {
                match fs::remove_dir(dir) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(2))
                    }
                    _ => break,
                }
            }
        }
    }
}

/// The mcpcell pid in a directory name `mcpcell.<pid>` or `mcpcell.<pid>.launcher`.
fn owner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("mcpcell.")?;
    let pid = rest.strip_suffix(".launcher").unwrap_or(rest);
    pid.parse().ok()
}

/// Removes `mcpcell.<pid>` directories whose mcpcell is no longer running.
fn remove_stale(root: &Path) {
    let Ok(rd) = fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(owner_pid) else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = fs::remove_dir(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_lines() {
        let v1 = "9:name=systemd:/\n4:memory:/process_api/e9\n3:cpu,cpuacct:/x\n0::/\n";
        assert_eq!(
            own_path(v1, false, "memory").as_deref(),
            Some("/process_api/e9")
        );
        assert_eq!(own_path(v1, false, "cpuacct").as_deref(), Some("/x"));
        assert_eq!(own_path(v1, false, "pids"), None);
        let v2 = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope\n";
        assert_eq!(
            own_path(v2, true, "memory").as_deref(),
            Some("/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope")
        );
    }

    #[test]
    fn only_missing_controllers_are_enabled() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("cgroup.subtree_control");
        std::fs::write(&sub, "cpu pids\n").unwrap();
        enable(d.path(), &["pids", "memory"], false).unwrap();
        assert_eq!(std::fs::read_to_string(&sub).unwrap(), "+memory");
        std::fs::write(&sub, "memory pids\n").unwrap();
        enable(d.path(), &["pids", "memory"], false).unwrap();
        assert_eq!(std::fs::read_to_string(&sub).unwrap(), "memory pids\n");
    }

    #[test]
    fn stale_directory_names() {
        assert_eq!(owner_pid("mcpcell.42"), Some(42));
        assert_eq!(owner_pid("mcpcell.42.launcher"), Some(42));
        assert_eq!(owner_pid("mcpcell.x"), None);
        assert_eq!(owner_pid("other.42"), None);
    }
}
