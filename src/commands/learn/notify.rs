//! Observe mode's other half: mcpcell answers the sandbox's seccomp user notifications. Each
//! observed call (open, exec, create, remove, rename, link, connect, ...) waits while this
//! thread reads its arguments from the caller's memory and resolves its paths inside the
//! sandbox's own root, then proceeds unchanged. Nothing is denied here: what is recorded is
//! turned into grants when the server exits.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use syscalls::Sysno;

use super::record::{Op, Use};
use crate::netguard::notif::{Notification, wait_readable};
use crate::plan::query::normalize;

const AT_FDCWD: i64 = -100;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// At most this many distinct uses are recorded (a learned profile from a run that touched
/// more would not be reviewable anyway).
pub const MAX_RECORDED: usize = 20_000;

/// Receives the listener the sandbox sends over `channel`, then answers notifications until
/// nothing in the sandbox can make another one, or `stop` is set and none is pending.
/// Where observe mode records what the server used.
pub type Sink = Arc<Mutex<Vec<Use>>>;

pub fn serve(channel: OwnedFd, sink: Sink, stop: Arc<AtomicBool>) {
    let Some(listener) =
        crate::sandbox::channel::receive_fds(&channel).and_then(|v| v.into_iter().next())
    else {
        return;
    };
    drop(channel);
    // What the server does repeatedly is recorded once, and the record is bounded: it lives
    // in mcpcell, outside the sandbox's limits, and the server decides how much it does.
    let mut seen: HashSet<(PathBuf, &'static str, String)> = HashSet::new();
    while wait_readable(listener.as_raw_fd(), &stop) {
        if let Some(uses) = answer(listener.as_raw_fd()) {
            let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
            for u in uses {
                if seen.len() >= MAX_RECORDED {
                    break;
                }
                if seen.insert((u.path.clone(), u.syscall, format!("{:?}", u.op))) {
                    sink.push(u);
                }
            }
        }
    }
}

/// Receives one notification, records it, and lets the call proceed.
fn answer(listener: RawFd) -> Option<Vec<Use>> {
    // None: the caller died (ENOENT) or the call was interrupted; nothing to answer.
    let n = Notification::recv(listener)?;
    let uses = decode(&n.0);
    // The memory read is meaningful only if the caller is still waiting on this call.
    let valid = n.valid(listener);
    n.proceed(listener);
    valid.then_some(uses)
}

/// A process in the sandbox, seen from outside.
struct Caller {
    pid: u32,
    root: std::cell::OnceCell<Option<OwnedFd>>,
}

impl Caller {
    fn new(pid: u32) -> Caller {
        Caller {
            pid,
            root: std::cell::OnceCell::new(),
        }
    }

    /// The sandbox's root directory, as the caller sees it.
    fn root(&self) -> Option<&OwnedFd> {
        self.root
            .get_or_init(|| {
                nix::fcntl::open(
                    format!("/proc/{}/root", self.pid).as_str(),
                    nix::fcntl::OFlag::O_PATH
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .ok()
            })
            .as_ref()
    }

    fn comm(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/comm", self.pid))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    }

    /// Reads up to `len` bytes at `addr` in the caller's memory.
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr == 0 {
            return None;
        }
        let mut buf = vec![0u8; len];
        let local = [std::io::IoSliceMut::new(&mut buf)];
        let remote = [nix::sys::uio::RemoteIoVec {
            base: addr as usize,
            len,
        }];
        let mut local = local;
        let n = nix::sys::uio::process_vm_readv(
            nix::unistd::Pid::from_raw(self.pid as i32),
            &mut local,
            &remote,
        )
        .ok()?;
        buf.truncate(n);
        Some(buf)
    }

    /// A NUL-terminated string at `addr`, read a page at a time so that a string ending
    /// just before an unmapped page is still read.
    fn string(&self, addr: u64) -> Option<OsString> {
        const PAGE: u64 = 4096;
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < libc::PATH_MAX as usize {
            let chunk = (PAGE - at % PAGE) as usize;
            let b = self.read(at, chunk)?;
            if let Some(end) = b.iter().position(|&c| c == 0) {
                out.extend_from_slice(&b[..end]);
                return Some(OsString::from_vec(out));
            }
            if b.len() < chunk {
                return None;
            }
            out.extend_from_slice(&b);
            at += chunk as u64;
        }
        None
    }

    /// The directory a relative path starts from: the working directory or `dirfd`.
    fn base(&self, dirfd: i64) -> Option<PathBuf> {
        let link = if dirfd as i32 as i64 == AT_FDCWD || dirfd == AT_FDCWD {
            format!("/proc/{}/cwd", self.pid)
        } else {
            format!("/proc/{}/fd/{}", self.pid, dirfd as i32)
        };
        std::fs::read_link(link).ok()
    }

    /// The absolute path (as the server named it, `.` removed) of `path` relative to
    /// `dirfd`. A `..` goes up from where the links before it lead, as the kernel takes it
    /// (`/tmp/L/../docs`, `/tmp/L` a link to `/home/u/proj`, is `/home/u/docs`, not
    /// `/tmp/docs`): the part up to the last `..` is resolved inside the sandbox.
    fn absolute(&self, dirfd: i64, path: &OsString) -> Option<PathBuf> {
        let p = Path::new(path);
        if p.as_os_str().is_empty() {
            return None;
        }
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base(dirfd)?.join(p)
        };
        let parts: Vec<std::path::Component> = joined.components().collect();
        let Some(last_up) = parts
            .iter()
            .rposition(|c| *c == std::path::Component::ParentDir)
        else {
            return Some(normalize(&joined));
        };
        let head: PathBuf = parts[..=last_up].iter().collect();
        let tail: PathBuf = parts[last_up + 1..].iter().collect();
        match self.resolve(&head, false) {
            Some(real) => Some(normalize(&real.join(tail))),
            None => Some(normalize(&joined)),
        }
    }

    /// Where `path` leads inside the sandbox, and whether it exists there: the file itself,
    /// or where it would be created. `/proc` is the sandbox's own and taken as written,
    /// except its links to a process's files (`/proc/self/fd/3`, `/proc/1/cwd/x`), which are
    /// followed to the file the call uses: that file is what a grant must name.
    fn locate(&self, path: &Path, nofollow: bool) -> (Option<PathBuf>, bool) {
        let mut path = path.to_path_buf();
        // Bounded: a descriptor opened on such a link itself (O_PATH | O_NOFOLLOW) reads
        // back as the link, and descriptors can be arranged to lead to each other.
        for _ in 0..MAX_PROC_LINKS {
            if !path.starts_with("/proc") {
                break;
            }
            match self.through_proc(&path, nofollow) {
                Through::File(next) => path = next,
                Through::NotAFile => return (None, false),
                Through::Proc => return (Some(path), true),
            }
        }
        if path.starts_with("/proc") {
            return (Some(path), true);
        }
        let path = path.as_path();
        match self.resolve(path, nofollow) {
            Some(r) => (Some(r), true),
            None => {
                let parent = path.parent().and_then(|p| self.resolve(p, false));
                (
                    parent.map(|p| p.join(path.file_name().unwrap_or_default())),
                    false,
                )
            }
        }
    }

    /// What a path under `/proc` names: through one of the links to a process's files (the
    /// process `self`, `thread-self` or a PID of the sandbox, or a thread of it under
    /// `task/`; the link `fd/N`, `cwd`, `root` or `exe`), the path it leads to with the rest
    /// joined; `NotAFile` where it leads to a pipe, a socket or another object without a
    /// path; otherwise (or where the link cannot be read) `/proc`'s own file.
    fn through_proc(&self, path: &Path, nofollow: bool) -> Through {
        let Ok(rest) = path.strip_prefix("/proc") else {
            return Through::Proc;
        };
        let parts: Vec<&std::ffi::OsStr> = rest.iter().collect();
        let numeric =
            |s: &std::ffi::OsStr| !s.is_empty() && s.as_bytes().iter().all(u8::is_ascii_digit);
        // The process directory, as this side reads it: the caller's own by its PID here
        // (`self` names the caller in its own /proc, which this process cannot use), any
        // other through the sandbox's /proc, which numbers processes as the sandbox does.
        let (dir, at) = match parts.as_slice() {
            [p, t, id, ..]
                if (*t == "task")
                    && numeric(id)
                    && (*p == "self" || *p == "thread-self" || numeric(p)) =>
            {
                (
                    format!("/proc/{}/root/proc/{}", self.pid, id.to_string_lossy()),
                    3,
                )
            }
            [p, ..] if *p == "self" || *p == "thread-self" => (format!("/proc/{}", self.pid), 1),
            [p, ..] if numeric(p) => (
                format!("/proc/{}/root/proc/{}", self.pid, p.to_string_lossy()),
                1,
            ),
            _ => return Through::Proc,
        };
        let (link, tail) = match &parts[at..] {
            [fd, n, tail @ ..] if *fd == "fd" && numeric(n) => {
                (format!("{dir}/fd/{}", n.to_string_lossy()), tail)
            }
            [l, tail @ ..] if *l == "cwd" || *l == "root" || *l == "exe" => {
                (format!("{dir}/{}", l.to_string_lossy()), tail)
            }
            _ => return Through::Proc,
        };
        // The link itself, not followed (O_NOFOLLOW, or a name being made or removed):
        // the call acts on /proc's own entry.
        if nofollow && tail.is_empty() {
            return Through::Proc;
        }
        let Ok(target) = std::fs::read_link(&link) else {
            return Through::Proc;
        };
        if !target.is_absolute() {
            return Through::NotAFile;
        }
        let mut next = target;
        next.extend(tail);
        Through::File(normalize(&next))
    }

    /// Resolves `path` inside the sandbox's root (symbolic links followed there, except a
    /// final one when `nofollow`); `None` when it does not exist inside.
    fn resolve(&self, path: &Path, nofollow: bool) -> Option<PathBuf> {
        let root = self.root()?;
        let rel = path.strip_prefix("/").unwrap_or(path);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let c = std::ffi::CString::new(rel.as_os_str().as_bytes()).ok()?;
        #[repr(C)]
        struct OpenHow {
            flags: u64,
            mode: u64,
            resolve: u64,
        }
        let mut flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
        if nofollow {
            flags |= libc::O_NOFOLLOW as u64;
        }
        let how = OpenHow {
            flags,
            mode: 0,
            resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: openat2 with a valid dirfd, path and open_how of the size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: a descriptor openat2 just returned.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
    }
}

/// Links under `/proc` followed for one path at most (as the kernel follows at most 40
/// symbolic links).
const MAX_PROC_LINKS: usize = 40;

/// What a path under `/proc` names ([`Caller::through_proc`]).
enum Through {
    /// A file elsewhere, reached through a process's link.
    File(PathBuf),
    /// Something without a path: a pipe, a socket, an anonymous inode.
    NotAFile,
    /// `/proc`'s own file.
    Proc,
}

/// What one notification asks for.
fn decode(req: &libc::seccomp_notif) -> Vec<Use> {
    let Some(nr) = Sysno::new(req.data.nr as usize) else {
        return Vec::new();
    };
    let a = req.data.args;
    let c = Caller::new(req.pid);
    let mut out = Vec::new();
    let mut push = |dirfd: i64, addr: u64, op: Op| {
        let Some(s) = c.string(addr) else { return };
        let Some(path) = c.absolute(dirfd, &s) else {
            return;
        };
        let nofollow = match op {
            Op::Make | Op::Remove | Op::RenameTo => true,
            Op::Open { flags } => flags & libc::O_NOFOLLOW as u64 != 0,
            _ => false,
        };
        // A look needs no grant: only its path matters (for secrets).
        let (resolved, exists) = if op == Op::Look {
            (None, false)
        } else {
            c.locate(&path, nofollow)
        };
        out.push(Use {
            path,
            resolved,
            exists,
            op,
            syscall: nr.name(),
            comm: String::new(),
        });
    };
    match nr {
        Sysno::open => push(AT_FDCWD, a[0], Op::Open { flags: a[1] }),
        Sysno::creat => push(
            AT_FDCWD,
            a[0],
            Op::Open {
                flags: (libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC) as u64,
            },
        ),
        Sysno::openat => push(a[0] as i64, a[1], Op::Open { flags: a[2] }),
        Sysno::openat2 => {
            let flags = c
                .read(a[2], 8)
                .filter(|b| b.len() == 8)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))
                .unwrap_or(0);
            push(a[0] as i64, a[1], Op::Open { flags })
        }
        Sysno::execve => push(AT_FDCWD, a[0], Op::Exec),
        Sysno::execveat => push(a[0] as i64, a[1], Op::Exec),
        Sysno::truncate => push(AT_FDCWD, a[0], Op::Truncate),
        Sysno::mkdir | Sysno::mknod | Sysno::unlink | Sysno::rmdir => {
            let op = if matches!(nr, Sysno::mkdir | Sysno::mknod) {
                Op::Make
            } else {
                Op::Remove
            };
            push(AT_FDCWD, a[0], op)
        }
        Sysno::mkdirat | Sysno::mknodat => push(a[0] as i64, a[1], Op::Make),
        Sysno::unlinkat => push(a[0] as i64, a[1], Op::Remove),
        Sysno::rename => {
            push(AT_FDCWD, a[0], Op::Remove);
            push(AT_FDCWD, a[1], Op::RenameTo);
        }
        Sysno::renameat | Sysno::renameat2 => {
            push(a[0] as i64, a[1], Op::Remove);
            push(a[2] as i64, a[3], Op::RenameTo);
        }
        // A hard link needs the source's directory too when it crosses directories.
        Sysno::link => {
            push(AT_FDCWD, a[0], Op::Remove);
            push(AT_FDCWD, a[1], Op::Make);
        }
        Sysno::linkat => {
            push(a[0] as i64, a[1], Op::Remove);
            push(a[2] as i64, a[3], Op::Make);
        }
        Sysno::symlink => push(AT_FDCWD, a[1], Op::Make),
        Sysno::symlinkat => push(a[1] as i64, a[2], Op::Make),
        Sysno::stat | Sysno::lstat | Sysno::access | Sysno::readlink => {
            push(AT_FDCWD, a[0], Op::Look)
        }
        Sysno::newfstatat
        | Sysno::statx
        | Sysno::faccessat
        | Sysno::faccessat2
        | Sysno::readlinkat => push(a[0] as i64, a[1], Op::Look),
        Sysno::connect | Sysno::bind => {
            let len = (a[2] as usize).min(std::mem::size_of::<libc::sockaddr_un>());
            if let Some(sa) = c.read(a[1], len) {
                if let Some(u) = socket_use(&c, &sa, nr == Sysno::bind) {
                    out.push(u);
                }
            }
        }
        _ => {}
    }
    let comm = c.comm();
    for u in &mut out {
        u.comm = comm.clone();
    }
    out
}

/// A pathname Unix socket being connected to or created, or an IP destination.
fn socket_use(c: &Caller, sa: &[u8], bind: bool) -> Option<Use> {
    if sa.len() < 2 {
        return None;
    }
    let family = u16::from_ne_bytes([sa[0], sa[1]]) as i32;
    let syscall = if bind { "bind" } else { "connect" };
    match family {
        libc::AF_UNIX => {
            let path = &sa[2..];
            // Abstract sockets (a leading NUL) and unnamed ones are not files.
            if path.first().is_none_or(|&b| b == 0) {
                return None;
            }
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            let s = OsString::from_vec(path[..end].to_vec());
            let abs = c.absolute(AT_FDCWD, &s)?;
            let (resolved, exists) = c.locate(&abs, bind);
            Some(Use {
                exists,
                resolved,
                path: abs,
                op: if bind { Op::Make } else { Op::ConnectUnix },
                syscall,
                comm: String::new(),
            })
        }
        libc::AF_INET | libc::AF_INET6 if !bind => {
            let port = u16::from_be_bytes([*sa.get(2)?, *sa.get(3)?]);
            let ip: std::net::IpAddr = if family == libc::AF_INET {
                <[u8; 4]>::try_from(sa.get(4..8)?).ok()?.into()
            } else {
                <[u8; 16]>::try_from(sa.get(8..24)?).ok()?.into()
            };
            Some(Use {
                path: PathBuf::new(),
                resolved: None,
                exists: true,
                op: Op::ConnectIp(std::net::SocketAddr::from((ip, port))),
                syscall,
                comm: String::new(),
            })
        }
        _ => None,
    }
}
