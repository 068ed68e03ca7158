//! `limits.state_size`: the disk space of `${STATE_DIR}`, measured by mcpcell.
//!
//! No kernel quota applies to one directory without root and project quotas, so mcpcell
//! measures the directory itself: before the launch (a directory already over the limit is
//! refused) and then every second while the server runs (less often when a measurement takes
//! long, so that it costs at most a tenth of a CPU). Once over, the sandbox is killed. Between
//! two measurements the server can write past the limit, at most what it writes in that time;
//! each file is also bounded by `limits.file_size`.
//!
//! Every file, directory or other entry counts its allocated blocks and at least 4 KiB, so
//! that many empty files (inodes) count too. The walk never follows a symbolic link (each
//! directory is opened with O_NOFOLLOW relative to its parent's descriptor, so a directory
//! swapped for a link while it runs leads nowhere), stops as soon as the total is over the
//! limit, and refuses trees deeper than [`MAX_DEPTH`].

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{Mode, SFlag, fstatat};
use thiserror::Error;
use tracing::error;

/// What each entry counts at least.
pub const MIN_ENTRY: u64 = 4096;
/// Nesting past this is refused as if over the limit (the walk holds a descriptor per level).
pub const MAX_DEPTH: usize = 128;
const EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StateSizeError {
    #[error(
        "{} holds more than limits.state_size ({limit} bytes, every entry counting at least 4 KiB); remove files from it, or raise the limit",
        path.display()
    )]
    Over { path: PathBuf, limit: u64 },
    #[error(
        "{} is nested deeper than {MAX_DEPTH} directories, which limits.state_size cannot measure; remove the deep tree",
        path.display()
    )]
    TooDeep { path: PathBuf },
}

/// The space `dir` takes, or why it is over `limit`.
pub fn check(dir: &Path, limit: u64) -> Result<u64, StateSizeError> {
    let Ok(fd) = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        // Not there yet (created at launch) or not readable: nothing in it to count.
        return Ok(0);
    };
    let mut total = 0;
    match walk(fd, 0, &mut total, limit) {
        Ok(()) => Ok(total),
        Err(Stop::Over) => Err(StateSizeError::Over {
            path: dir.to_path_buf(),
            limit,
        }),
        Err(Stop::TooDeep) => Err(StateSizeError::TooDeep {
            path: dir.to_path_buf(),
        }),
    }
}

enum Stop {
    Over,
    TooDeep,
}

fn walk(fd: OwnedFd, depth: usize, total: &mut u64, limit: u64) -> Result<(), Stop> {
    let Ok(mut dir) = Dir::from_fd(fd) else {
        return Ok(());
    };
    let raw = dir.as_raw_fd();
    // Each entry is counted as it is listed, and each directory walked as it is met: nothing
    // of a listing is kept, however many names the server made or however long they are
    // (collected first, 400,000 names of 250 bytes held 115 MB in mcpcell).
    for e in dir.iter().flatten() {
        // SAFETY: `raw` is `dir`'s descriptor, open until `dir` is dropped after this loop;
        // the sizes and the subdirectories are looked up relative to it, which leaves the
        // listing's position alone.
        let at = unsafe { BorrowedFd::borrow_raw(raw) };
        let name = e.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        *total += MIN_ENTRY;
        if *total > limit {
            return Err(Stop::Over);
        }
        // Gone or replaced since the listing: the server may change its files at any time.
        let Ok(st) = fstatat(at, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            continue;
        };
        *total += (st.st_blocks as u64 * 512).saturating_sub(MIN_ENTRY);
        if *total > limit {
            return Err(Stop::Over);
        }
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
            continue;
        }
        if depth + 1 > MAX_DEPTH {
            return Err(Stop::TooDeep);
        }
        let Ok(sub) = openat(
            at,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) else {
            continue;
        };
        walk(sub, depth + 1, total, limit)?;
    }
    Ok(())
}

/// Watches `dir` while the sandbox whose init is `pid` runs; kills the sandbox once `dir` is
/// over `limit`. Stops when dropped.
pub struct Watch {
    stop: Arc<AtomicBool>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts watching `dir` (the server's state directory), which may hold `limit` bytes;
/// None if the watching thread could not start.
pub fn watch(dir: &Path, limit: u64, pid: libc::pid_t) -> Option<Watch> {
    let dir = dir.to_path_buf();
    let pidfd = pidfd(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("state-size".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let start = Instant::now();
                let verdict = check(&dir, limit);
                let took = start.elapsed();
                if let Err(e) = verdict {
                    if flag.load(Ordering::Relaxed) {
                        return;
                    }
                    error!(target: "mcpcell", event = "state_size", "stopping the server: {e}");
                    kill(pidfd.as_ref(), pid);
                    return;
                }
                std::thread::sleep(EVERY.max(took * 10));
            }
        })
        .ok()?;
    Some(Watch { stop })
}

/// A pidfd for the sandbox `pid`: a signal sent through it can only reach this sandbox, even
/// after its pid is reused.
pub(crate) fn pidfd(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a descriptor pidfd_open just returned, owned by nobody else.
    (raw >= 0).then(|| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw as i32) })
}

/// Kills the sandbox `pid`, through its pidfd where there is one.
pub(crate) fn kill(pidfd: Option<&OwnedFd>, pid: libc::pid_t) {
    match pidfd {
        // SAFETY: pidfd_send_signal with a valid pidfd and no siginfo.
        Some(fd) => unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
        },
        // Without pidfds (Linux < 5.3): the sandbox is not reaped before this watch stops.
        None => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_and_stops_at_the_limit() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..10 {
            std::fs::write(d.path().join(format!("f{i}")), b"x").unwrap();
        }
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/big"), vec![1u8; 64 * 1024]).unwrap();
        let used = check(d.path(), 1 << 30).unwrap();
        // 10 small files, a directory, and 64 KiB of data (at least).
        assert!(used >= 11 * MIN_ENTRY + 64 * 1024, "{used}");
        assert!(matches!(
            check(d.path(), 8 * MIN_ENTRY),
            Err(StateSizeError::Over { .. })
        ));
    }

    #[test]
    fn links_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let big = tempfile::tempdir().unwrap();
        std::fs::write(big.path().join("big"), vec![1u8; 256 * 1024]).unwrap();
        std::os::unix::fs::symlink(big.path(), d.path().join("link")).unwrap();
        assert_eq!(check(d.path(), 1 << 30).unwrap(), MIN_ENTRY);
    }

    #[test]
    fn deep_trees_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let mut p = d.path().to_path_buf();
        for _ in 0..MAX_DEPTH + 2 {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        assert!(matches!(
            check(d.path(), 1 << 30),
            Err(StateSizeError::TooDeep { .. })
        ));
    }
}
