//! A pids cgroup per sandbox, used when mcpcell runs as root.
//!
//! `RLIMIT_NPROC` is never enforced for the root user (the kernel exempts uid 0 outright), so
//! `limits.processes` needs another mechanism there. As root, mcpcell creates
//! `mcpcell.<pid>` in the pids controller's hierarchy (cgroup v2 or v1), sets `pids.max`, and
//! the sandbox moves itself in before it starts anything. The directory is removed when the
//! sandbox is gone; directories left behind by a killed mcpcell are removed by the next run.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

#[derive(Debug)]
pub struct PidsCgroup {
    pub dir: PathBuf,
    /// `cgroup.procs` of the new cgroup, open for writing: the sandbox writes "0" to it.
    pub procs: OwnedFd,
}

/// The mount point of the hierarchy that has the pids controller, and whether it is v2.
fn pids_hierarchy() -> Option<(PathBuf, bool)> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut v2 = None;
    for line in info.lines() {
        let (left, right) = line.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        let mut r = right.split(' ');
        let fstype = r.next()?;
        let _source = r.next();
        let opts = r.next().unwrap_or("");
        if fstype == "cgroup" && opts.split(',').any(|o| o == "pids") {
            return Some((PathBuf::from(mount_point), false));
        }
        if fstype == "cgroup2" {
            let controllers = fs::read_to_string(Path::new(mount_point).join("cgroup.controllers"))
                .unwrap_or_default();
            if controllers.split_whitespace().any(|c| c == "pids") {
                v2 = Some((PathBuf::from(mount_point), true));
            }
        }
    }
    v2
}

/// Whether a pids cgroup can be set up here.
pub fn available() -> bool {
    pids_hierarchy().is_some()
}

impl PidsCgroup {
    pub fn create(max: u64) -> io::Result<PidsCgroup> {
        let (root, v2) = pids_hierarchy().ok_or_else(|| {
            io::Error::other("no cgroup hierarchy with the pids controller is mounted")
        })?;
        remove_stale(&root);
        if v2 {
            let sub = root.join("cgroup.subtree_control");
            let current = fs::read_to_string(&sub).unwrap_or_default();
            if !current.split_whitespace().any(|c| c == "pids") {
                fs::write(&sub, "+pids")?;
            }
        }
        let dir = root.join(format!("mcpcell.{}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let setup = || -> io::Result<OwnedFd> {
            fs::write(dir.join("pids.max"), max.to_string())?;
            open(
                &dir.join("cgroup.procs"),
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(io::Error::from)
        };
        match setup() {
            Ok(procs) => Ok(PidsCgroup { dir, procs }),
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                Err(e)
            }
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        // Empty once the sandbox has exited; a few retries cover the kernel's lag in
        // releasing the last task.
        for _ in 0..50 {
            match fs::remove_dir(&self.dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
                _ => return,
            }
        }
    }
}

/// Removes `mcpcell.<pid>` directories whose mcpcell is no longer running.
fn remove_stale(root: &Path) {
    let Ok(rd) = fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("mcpcell."))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = fs::remove_dir(e.path());
        }
    }
}
