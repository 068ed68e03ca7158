//! Paths as the kernel resolves them: `.`/`..` folding, and opening a path to learn the
//! file it reaches (every symbolic link resolved).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::Mode;

/// `path` with `.` and `..` removed without looking at the filesystem.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The path an open descriptor refers to, as the kernel names it.
fn fd_path(fd: &impl AsRawFd) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens `path` (O_PATH) and names the file it reaches, with every symbolic link resolved,
/// as `canonicalize` would, but without its readlink for each component. An absolute path
/// with no symbolic link in it is opened with `openat2(RESOLVE_NO_SYMLINKS)` and is its own
/// name once `.` and `..` are taken out; otherwise the kernel names the open file in
/// /proc/self/fd (a readlink there costs a few microseconds, so only paths with links pay it).
pub fn open_real(path: &Path) -> Result<(OwnedFd, PathBuf), Errno> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if path.is_absolute() {
        let how = OpenHow::new()
            .flags(flags)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
        match openat2(AT_FDCWD, path, how) {
            Ok(fd) => return Ok((fd, normalize(path))),
            // Missing, or not searchable: an ordinary open says the same.
            Err(e @ (Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES)) => return Err(e),
            // ELOOP: a link on the way. ENOSYS, EPERM: no openat2 here (before Linux 5.6, or
            // refused by a container's seccomp filter). EAGAIN: a rename raced the lookup.
            Err(_) => {}
        }
    }
    let fd = open(path, flags, Mode::empty())?;
    match fd_path(&fd) {
        // Not `/x (deleted)`: removed since it was opened, or a name that ends like that.
        Ok(p) if p.is_absolute() && !p.as_os_str().as_encoded_bytes().ends_with(b" (deleted)") => {
            Ok((fd, p))
        }
        _ => match path.canonicalize() {
            Ok(p) => Ok((fd, p)),
            Err(e) => Err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
        },
    }
}

/// `path` with every symbolic link resolved, like `canonicalize` (see [`open_real`]).
pub fn real_path(path: &Path) -> std::io::Result<PathBuf> {
    open_real(path)
        .map(|(_, p)| p)
        .map_err(std::io::Error::from)
}
