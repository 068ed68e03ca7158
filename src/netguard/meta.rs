//! Metadata changes without read-only mounts: mode, owner and times of files the server may
//! write, changed by mcpcell on the server's behalf.
//!
//! Landlock does not govern chmod, chown or utimes, and the namespace-free tier has no
//! read-only mounts, so the sandbox's seccomp filter sends those calls here instead of
//! refusing them outright (npm's cache copies files with `fs.copyFile`, which sets the mode
//! with `fchmod`). mcpcell never lets the kernel act on what the server names: it opens the
//! file itself, as an `O_PATH` descriptor, through the caller's own descriptor
//! (`/proc/PID/fd/N`) or its path (read once from the caller's memory, resolved from
//! `/proc/PID/cwd` or the caller's directory descriptor, the last component not followed
//! where the call says so), checks where that inode lives, and changes that inode through
//! its own descriptor. What the server changes after the check (the path in its memory, the
//! descriptor at that number, a symlink swapped in) changes nothing: the change lands on the
//! inode that was checked, or nowhere.
//!
//! The inode must be:
//! - beneath a write grant (or the state directory, or the private temporary directory, which
//!   are write grants) and not beneath a hidden path, by the name the kernel gives the
//!   descriptor mcpcell holds (`/proc/self/fd/N`); a deleted file has no such name;
//! - a directory, or a file with exactly one link: a hard link inside a write grant to a file
//!   outside (root in a container may make one of `/etc/passwd`) would otherwise pass the
//!   check by the name it was reached through. The server cannot move a checked inode out of
//!   its grants (Landlock refuses renames and links out of them), so the name stays true;
//! - owned by the user the server runs as: the server has no capability, so the kernel would
//!   let it change only its own files, and mcpcell (root, in a container) must not lend it
//!   CAP_FOWNER or CAP_CHOWN.
//!
//! Modes with the setuid or setgid bit are refused (as `@default` refuses them in the
//! namespace tier), and so is any change of owner; a group may change to mcpcell's own.
//! Anything else gets EPERM, as the filter answered before.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::notif::{self, Notification};

/// Where the server may change metadata: the canonical paths of its write grants, less its
/// hidden paths and less what it was granted only for reading inside them.
#[derive(Debug, Clone, Default)]
pub struct Writable {
    pub grants: Vec<PathBuf>,
    pub hidden: Vec<PathBuf>,
    /// Grants without write: inside a write grant, the innermost grant decides, as it does
    /// for the file's contents (a read-only file in a writable project keeps its mode and
    /// times too).
    pub read_only: Vec<PathBuf>,
}

impl Writable {
    /// Whether `p` (a canonical path) lies beneath a write grant, not beneath a hidden path,
    /// and not beneath a read-only grant nested deeper than every write grant that holds it.
    pub fn covers(&self, p: &Path) -> bool {
        let depth = |list: &[PathBuf]| {
            list.iter()
                .filter(|g| p.starts_with(g))
                .map(|g| g.components().count())
                .max()
        };
        p.is_absolute()
            && depth(&self.grants).is_some_and(|w| depth(&self.read_only).is_none_or(|r| r < w))
            && !self.hidden.iter().any(|h| p.starts_with(h))
    }
}

/// The metadata calls this module answers.
pub fn handles(nr: i64) -> bool {
    Call::of(nr).is_some()
}

/// What a call asks for, once its arguments are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Mode(u32),
    Owner(u32, u32),
    /// `utimensat`'s two timespecs (UTIME_NOW / UTIME_OMIT included), or now for both.
    Times(Option<[libc::timespec; 2]>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Chmod,
    Fchmod,
    Fchmodat,
    Fchmodat2,
    Chown,
    Lchown,
    Fchown,
    Fchownat,
    Utime,
    Utimes,
    Futimesat,
    Utimensat,
}

impl Call {
    fn of(nr: i64) -> Option<Call> {
        Some(match nr {
            libc::SYS_chmod => Call::Chmod,
            libc::SYS_fchmod => Call::Fchmod,
            libc::SYS_fchmodat => Call::Fchmodat,
            libc::SYS_fchmodat2 => Call::Fchmodat2,
            libc::SYS_chown => Call::Chown,
            libc::SYS_lchown => Call::Lchown,
            libc::SYS_fchown => Call::Fchown,
            libc::SYS_fchownat => Call::Fchownat,
            libc::SYS_utime => Call::Utime,
            libc::SYS_utimes => Call::Utimes,
            libc::SYS_futimesat => Call::Futimesat,
            libc::SYS_utimensat => Call::Utimensat,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Call::Chmod | Call::Fchmod | Call::Fchmodat | Call::Fchmodat2 => "chmod",
            Call::Chown | Call::Lchown | Call::Fchown | Call::Fchownat => "chown",
            _ => "utimes",
        }
    }
}

/// What the call names: the caller's descriptor, or a path relative to a base.
enum Target {
    Fd(i32),
    Path {
        dirfd: i32,
        path: Vec<u8>,
        follow: bool,
        empty_ok: bool,
    },
}

/// The refusals logged so far: one line per kind of call, the first path it named.
#[derive(Default)]
pub struct Log {
    logged: [bool; 3],
}

impl Log {
    fn refused(&mut self, call: Call, at: Option<&Path>, why: &str) {
        let i = match call.name() {
            "chmod" => 0,
            "chown" => 1,
            _ => 2,
        };
        if self.logged[i] {
            return;
        }
        self.logged[i] = true;
        let at = at
            .map(|p| format!(" of {}", crate::escape::path(p)))
            .unwrap_or_default();
        warn!(
            target: "mcpcell",
            event = "metadata_refused",
            "metadata: refused {}{at}: {why} (further refusals of {} are not logged)",
            call.name(),
            call.name()
        );
    }
}

/// Answers one metadata call (`handles(n.nr())` holds).
pub fn answer(n: &Notification, listener: RawFd, w: &Writable, log: &mut Log) {
    let Some(call) = Call::of(n.nr()) else {
        return n.fail(listener, libc::EPERM);
    };
    match apply(n, listener, call, w, log) {
        Ok(()) => n.succeed(listener, 0),
        Err(None) => {}
        Err(Some(e)) => n.fail(listener, e),
    }
}

/// `Err(None)`: the call is no longer pending (nothing to answer); `Err(Some(errno))`: the
/// call fails with errno.
fn apply(
    n: &Notification,
    listener: RawFd,
    call: Call,
    w: &Writable,
    log: &mut Log,
) -> Result<(), Option<i32>> {
    let (target, change) = read_call(n, call)?;
    if let Change::Mode(m) = change
        && m & (libc::S_ISUID | libc::S_ISGID) != 0
    {
        log.refused(call, None, "setuid and setgid modes are refused");
        return Err(Some(libc::EPERM));
    }
    let file = open_target(n.pid(), &target);
    // The pid named the caller when the notification was made; still pending, it still does,
    // so the descriptor and directory opened through it were the caller's.
    if !n.valid(listener) {
        return Err(None);
    }
    let file = file.map_err(Some)?;
    let st = fstat(file.as_raw_fd()).map_err(Some)?;
    let name = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok();
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    let inside = name
        .as_deref()
        .is_some_and(|p| !p.as_os_str().as_bytes().ends_with(b" (deleted)") && w.covers(p));
    if !inside {
        log.refused(
            call,
            name.as_deref(),
            "only files beneath a write grant may change mode, owner or times without namespaces",
        );
        return Err(Some(libc::EPERM));
    }
    // A device node is the host's (no server may make one): `/dev/null` granted for writing
    // is its data, not its mode, owner or times, which every process on the host shares.
    if matches!(st.st_mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK) {
        log.refused(
            call,
            name.as_deref(),
            "a device's mode, owner and times are the host's",
        );
        return Err(Some(libc::EPERM));
    }
    if !is_dir && st.st_nlink != 1 {
        log.refused(
            call,
            name.as_deref(),
            "a file with more than one hard link may have a name outside the write grants",
        );
        return Err(Some(libc::EPERM));
    }
    // SAFETY: geteuid takes no arguments.
    let me = unsafe { libc::geteuid() };
    if st.st_uid != me {
        // The kernel's answer to a caller without CAP_FOWNER.
        return Err(Some(libc::EPERM));
    }
    change_inode(&file, st.st_mode, change).map_err(Some)
}

/// The call's target and the change it asks for, its pointers read once.
fn read_call(n: &Notification, call: Call) -> Result<(Target, Change), Option<i32>> {
    let a = |i: usize| n.arg(i);
    let path = |i: usize| read_path(n.pid(), a(i)).ok_or(Some(libc::EFAULT));
    let at = |dirfd: u64, p: Vec<u8>, follow: bool, empty_ok: bool| Target::Path {
        dirfd: dirfd as i32,
        path: p,
        follow,
        empty_ok,
    };
    let owner = |u: u64, g: u64| Change::Owner(u as u32, g as u32);
    // The flags of the *at calls, argument `i`: (follow the last link, an empty path names the
    // descriptor). Any flag beyond those two is EINVAL, before anything else is read.
    let at_flags = |i: usize| -> Result<(bool, bool), Option<i32>> {
        let flags = a(i) as i32;
        if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
            return Err(Some(libc::EINVAL));
        }
        Ok((
            flags & libc::AT_SYMLINK_NOFOLLOW == 0,
            flags & libc::AT_EMPTY_PATH != 0,
        ))
    };
    Ok(match call {
        Call::Chmod => (at(cwd(), path(0)?, true, false), Change::Mode(a(1) as u32)),
        Call::Fchmod => (Target::Fd(a(0) as i32), Change::Mode(a(1) as u32)),
        Call::Fchmodat => (at(a(0), path(1)?, true, false), Change::Mode(a(2) as u32)),
        Call::Fchmodat2 => {
            let (follow, empty) = at_flags(3)?;
            (at(a(0), path(1)?, follow, empty), Change::Mode(a(2) as u32))
        }
        Call::Chown => (at(cwd(), path(0)?, true, false), owner(a(1), a(2))),
        Call::Lchown => (at(cwd(), path(0)?, false, false), owner(a(1), a(2))),
        Call::Fchown => (Target::Fd(a(0) as i32), owner(a(1), a(2))),
        Call::Fchownat => {
            let (follow, empty) = at_flags(4)?;
            (at(a(0), path(1)?, follow, empty), owner(a(2), a(3)))
        }
        Call::Utime => {
            let times = match a(1) {
                0 => None,
                p => {
                    let b = notif::read_memory(n.pid(), p, 16).ok_or(Some(libc::EFAULT))?;
                    let v = |i: usize| i64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
                    Some([timespec(v(0), 0), timespec(v(1), 0)])
                }
            };
            (at(cwd(), path(0)?, true, false), Change::Times(times))
        }
        Call::Utimes | Call::Futimesat => {
            let (base, p, t) = match call {
                Call::Utimes => (cwd(), path(0)?, a(1)),
                _ => (a(0), path(1)?, a(2)),
            };
            (
                at(base, p, true, false),
                Change::Times(timevals(n.pid(), t)?),
            )
        }
        Call::Utimensat => {
            let (follow, empty) = at_flags(3)?;
            let times = match a(2) {
                0 => None,
                p => {
                    let b = notif::read_memory(n.pid(), p, 32).ok_or(Some(libc::EFAULT))?;
                    let v = |i: usize| i64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
                    Some([timespec(v(0), v(1)), timespec(v(2), v(3))])
                }
            };
            // A null path names the descriptor itself (futimens).
            let t = match a(1) {
                0 => Target::Fd(a(0) as i32),
                _ => at(a(0), path(1)?, follow, empty),
            };
            (t, Change::Times(times))
        }
    })
}

fn cwd() -> u64 {
    libc::AT_FDCWD as i64 as u64
}

fn timespec(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

/// `struct timeval[2]` at `addr` as timespecs; a null pointer means now.
fn timevals(pid: u32, addr: u64) -> Result<Option<[libc::timespec; 2]>, Option<i32>> {
    if addr == 0 {
        return Ok(None);
    }
    let b = notif::read_memory(pid, addr, 32).ok_or(Some(libc::EFAULT))?;
    let v = |i: usize| i64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    let usec = |u: i64| {
        if !(0..1_000_000).contains(&u) {
            return Err(Some(libc::EINVAL));
        }
        Ok(u * 1000)
    };
    Ok(Some([
        timespec(v(0), usec(v(1))?),
        timespec(v(2), usec(v(3))?),
    ]))
}

/// A NUL-terminated path in the caller's memory (at most PATH_MAX bytes), read page by page
/// so that a string near the end of a mapping is still read.
fn read_path(pid: u32, addr: u64) -> Option<Vec<u8>> {
    const PAGE: u64 = 4096;
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < libc::PATH_MAX as usize {
        let len = (PAGE - at % PAGE) as usize;
        let chunk = notif::read_memory(pid, at, len)?;
        if let Some(i) = chunk.iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..i]);
            return Some(out);
        }
        out.extend_from_slice(&chunk);
        at += len as u64;
    }
    None
}

fn open_path(at: RawFd, path: &CStr, flags: i32) -> Result<OwnedFd, i32> {
    // SAFETY: openat with a NUL-terminated path; `at` is a descriptor or AT_FDCWD.
    let fd = unsafe { libc::openat(at, path.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The inode the call names, as an `O_PATH` descriptor of mcpcell's own.
fn open_target(pid: u32, t: &Target) -> Result<OwnedFd, i32> {
    let proc_fd = |fd: i32| -> Result<OwnedFd, i32> {
        if fd < 0 {
            return Err(libc::EBADF);
        }
        let p = CString::new(format!("/proc/{pid}/fd/{fd}")).map_err(|_| libc::EBADF)?;
        // The caller's own descriptor, not a path: /proc follows it to the open file.
        open_path(libc::AT_FDCWD, &p, libc::O_PATH).map_err(|e| match e {
            libc::ENOENT => libc::EBADF,
            // mcpcell may not look (the caller made itself undumpable): refused.
            _ => libc::EPERM,
        })
    };
    match t {
        Target::Fd(fd) => proc_fd(*fd),
        Target::Path {
            dirfd,
            path,
            follow,
            empty_ok,
        } => {
            if path.is_empty() {
                return match empty_ok {
                    true if *dirfd == libc::AT_FDCWD => {
                        let p = CString::new(format!("/proc/{pid}/cwd")).unwrap_or_default();
                        open_path(libc::AT_FDCWD, &p, libc::O_PATH).map_err(|_| libc::EPERM)
                    }
                    true => proc_fd(*dirfd),
                    false => Err(libc::ENOENT),
                };
            }
            let base = if path.first() == Some(&b'/') {
                None
            } else if *dirfd == libc::AT_FDCWD {
                let p = CString::new(format!("/proc/{pid}/cwd")).unwrap_or_default();
                Some(open_path(libc::AT_FDCWD, &p, libc::O_PATH).map_err(|_| libc::EPERM)?)
            } else {
                Some(proc_fd(*dirfd)?)
            };
            let c = CString::new(callers_proc(path, pid)).map_err(|_| libc::EINVAL)?;
            let mut flags = libc::O_PATH;
            if !follow {
                flags |= libc::O_NOFOLLOW;
            }
            let at = base.as_ref().map_or(libc::AT_FDCWD, |b| b.as_raw_fd());
            open_path(at, &c, flags)
        }
    }
}

/// `path` with `/proc/self` and `/proc/thread-self` naming the caller, not mcpcell: glibc
/// changes the mode of a file it holds as `O_PATH` through `/proc/self/fd/N`. A path that
/// reaches them another way (`/proc/../proc/self`) names mcpcell's own descriptors, which
/// gains nothing: what it reaches is checked as any other inode.
fn callers_proc(path: &[u8], tid: u32) -> Vec<u8> {
    let Some(tgid) = notif::tgid(tid).ok() else {
        return path.to_vec();
    };
    for (prefix, with) in [
        (&b"/proc/self"[..], format!("/proc/{tgid}")),
        (
            &b"/proc/thread-self"[..],
            format!("/proc/{tgid}/task/{tid}"),
        ),
    ] {
        if let Some(rest) = path.strip_prefix(prefix)
            && (rest.is_empty() || rest[0] == b'/')
        {
            let mut out = with.into_bytes();
            out.extend_from_slice(rest);
            return out;
        }
    }
    path.to_vec()
}

fn fstat(fd: RawFd) -> Result<libc::stat, i32> {
    // SAFETY: a zeroed stat is a valid out-parameter; fstat on an O_PATH descriptor works.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into `st`, which outlives the call.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(errno());
    }
    Ok(st)
}

/// Changes the inode behind `file`, through `file` itself.
fn change_inode(file: &OwnedFd, mode: u32, change: Change) -> Result<(), i32> {
    let is_link = mode & libc::S_IFMT == libc::S_IFLNK;
    // The descriptor's magic link names the inode itself, whatever its path names now.
    let magic =
        CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(|_| libc::EBADF)?;
    let empty = c"";
    let r = match change {
        Change::Mode(_) if is_link => return Err(libc::EOPNOTSUPP),
        // SAFETY: a NUL-terminated path that outlives the call.
        Change::Mode(m) => unsafe { libc::chmod(magic.as_ptr(), m & 0o7777) },
        Change::Owner(u, g) => {
            let unchanged = u32::MAX;
            if u != unchanged && u != owner_of(file)? {
                return Err(libc::EPERM);
            }
            // SAFETY: getegid takes no arguments.
            let egid = unsafe { libc::getegid() };
            if g != unchanged && g != group_of(file)? && g != egid {
                return Err(libc::EPERM);
            }
            // SAFETY: a descriptor this thread owns and an empty NUL-terminated path.
            unsafe { libc::fchownat(file.as_raw_fd(), empty.as_ptr(), u, g, libc::AT_EMPTY_PATH) }
        }
        Change::Times(t) => {
            let times = t.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
            if is_link {
                // SAFETY: a descriptor this thread owns, an empty NUL-terminated path, and
                // null or a two-element times array that outlives the call.
                unsafe {
                    libc::utimensat(file.as_raw_fd(), empty.as_ptr(), times, libc::AT_EMPTY_PATH)
                }
            } else {
                // SAFETY: a NUL-terminated path, and null or a two-element times array, that
                // outlive the call.
                unsafe { libc::utimensat(libc::AT_FDCWD, magic.as_ptr(), times, 0) }
            }
        }
    };
    if r < 0 { Err(errno()) } else { Ok(()) }
}

fn owner_of(file: &OwnedFd) -> Result<u32, i32> {
    fstat(file.as_raw_fd()).map(|s| s.st_uid)
}

fn group_of(file: &OwnedFd) -> Result<u32, i32> {
    fstat(file.as_raw_fd()).map(|s| s.st_gid)
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_the_tier_sends_is_answered_here() {
        for name in crate::plan::tier::SUPERVISED_METADATA {
            let nr = crate::seccomp::syscall_number(name).unwrap();
            assert!(handles(nr as i64), "{name}");
        }
        assert!(!handles(libc::SYS_connect));
        assert!(!handles(libc::SYS_setxattr));
    }

    #[test]
    fn proc_self_names_the_caller() {
        let me = std::process::id();
        let t = |p: &str| String::from_utf8(callers_proc(p.as_bytes(), me)).unwrap();
        assert_eq!(t("/proc/self/fd/3"), format!("/proc/{me}/fd/3"));
        assert_eq!(t("/proc/self"), format!("/proc/{me}"));
        assert_eq!(
            t("/proc/thread-self/fd/3"),
            format!("/proc/{me}/task/{me}/fd/3")
        );
        assert_eq!(t("/proc/selfish"), "/proc/selfish");
        assert_eq!(t("proc/self/fd/3"), "proc/self/fd/3");
    }

    #[test]
    fn only_paths_beneath_a_write_grant_and_outside_hides_are_covered() {
        let w = Writable {
            grants: vec!["/home/u/proj".into(), "/tmp/mcpcell-tmp-x".into()],
            hidden: vec!["/home/u/proj/.secret".into()],
            read_only: vec![
                "/home/u/proj/.mcp.json".into(),
                "/home/u".into(),
                "/home/u/proj/docs".into(),
            ],
        };
        // A read-only grant inside the write grant keeps its mode and times; one around it
        // does not narrow it.
        assert!(!w.covers(Path::new("/home/u/proj/.mcp.json")));
        assert!(!w.covers(Path::new("/home/u/proj/docs/a.md")));
        assert!(w.covers(Path::new("/home/u/proj/docs.md")));
        assert!(!w.covers(Path::new("/home/u/other")));
        assert!(w.covers(Path::new("/home/u/proj")));
        assert!(w.covers(Path::new("/home/u/proj/a/b")));
        assert!(!w.covers(Path::new("/home/u/project")));
        assert!(!w.covers(Path::new("/home/u/proj/.secret/k")));
        assert!(!w.covers(Path::new("/etc/passwd")));
        assert!(!w.covers(Path::new("pipe:[123]")));
    }
}
