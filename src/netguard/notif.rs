//! The seccomp user-notification interface, as mcpcell's supervisor uses it: receive a
//! notification, check that it is still pending, answer it, and install a descriptor in
//! the caller's table. Plus the pidfd calls that let the supervisor look at the socket a
//! call names without trusting the caller's memory.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xC050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xC018_2101;
const SECCOMP_IOCTL_NOTIF_ID_VALID: libc::c_ulong = 0x4008_2102;
/// `SECCOMP_IOW(3, struct seccomp_notif_addfd)`.
const SECCOMP_IOCTL_NOTIF_ADDFD: libc::c_ulong = 0x4018_2103;
const SECCOMP_ADDFD_FLAG_SETFD: u32 = 1;

/// `struct seccomp_notif_addfd` (Linux 5.9).
#[repr(C)]
struct AddFd {
    id: u64,
    flags: u32,
    srcfd: u32,
    newfd: u32,
    newfd_flags: u32,
}

/// Waits until `listener` has a notification to read (true), checking `stop` every 250 ms;
/// false once `stop` is set, or when the listener fails or hangs up (every process under the
/// filter is gone).
pub fn wait_readable(listener: RawFd, stop: &std::sync::atomic::AtomicBool) -> bool {
    loop {
        let mut pfd = libc::pollfd {
            fd: listener,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 250) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        if r == 0 {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return false;
            }
            continue;
        }
        if pfd.revents & libc::POLLIN != 0 {
            return true;
        }
        if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return false;
        }
    }
}

/// One pending system call of a sandboxed process.
pub struct Notification(pub libc::seccomp_notif);

impl Notification {
    /// Waits for the next notification on `listener`; `None` when the caller went away
    /// between the wake-up and the read (ENOENT), or the read was interrupted.
    pub fn recv(listener: RawFd) -> Option<Notification> {
        // SAFETY: a zeroed seccomp_notif is what RECV expects.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: the ioctl fills `req`, which outlives the call.
        if unsafe { libc::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &mut req) } < 0 {
            return None;
        }
        Some(Notification(req))
    }

    pub fn pid(&self) -> u32 {
        self.0.pid
    }

    pub fn nr(&self) -> i64 {
        self.0.data.nr as i64
    }

    pub fn arg(&self, i: usize) -> u64 {
        self.0.data.args[i]
    }

    /// Whether the caller is still waiting in this very call: after a look at its memory or
    /// its descriptors through its pid, this proves the pid was not reused meanwhile.
    pub fn valid(&self, listener: RawFd) -> bool {
        // SAFETY: ID_VALID reads a u64 that outlives the call.
        unsafe { libc::ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &self.0.id) == 0 }
    }

    fn send(&self, listener: RawFd, val: i64, error: i32, flags: u32) {
        let resp = libc::seccomp_notif_resp {
            id: self.0.id,
            val,
            error,
            flags,
        };
        // SAFETY: SEND reads `resp`, which outlives the call. A failure means the caller is
        // gone: nothing is left to answer.
        unsafe { libc::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }

    /// The call returns `val`.
    pub fn succeed(&self, listener: RawFd, val: i64) {
        self.send(listener, val, 0, 0);
    }

    /// The call fails with `errno`.
    pub fn fail(&self, listener: RawFd, errno: i32) {
        self.send(listener, 0, -errno, 0);
    }

    /// The kernel runs the call as the caller made it, re-reading its arguments: only for
    /// calls whose outcome does not depend on what the caller may change after the check
    /// (see `super` for which).
    pub fn proceed(&self, listener: RawFd) {
        self.send(
            listener,
            0,
            0,
            libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
        );
    }

    /// Puts `fd` in the caller's table at `target` (closing what was there, as dup2 does),
    /// close-on-exec if `cloexec`.
    pub fn install(
        &self,
        listener: RawFd,
        fd: RawFd,
        target: RawFd,
        cloexec: bool,
    ) -> std::io::Result<()> {
        let add = AddFd {
            id: self.0.id,
            flags: SECCOMP_ADDFD_FLAG_SETFD,
            srcfd: fd as u32,
            newfd: target as u32,
            newfd_flags: if cloexec { libc::O_CLOEXEC as u32 } else { 0 },
        };
        // SAFETY: ADDFD reads `add`, which outlives the call.
        if unsafe { libc::ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// A pidfd of the calling thread's process, which shares the thread's descriptor table. A
/// notification names the thread that made the call, and only a thread-group leader has a
/// pidfd that `pidfd_getfd` takes.
pub fn pidfd_open(tid: u32) -> std::io::Result<OwnedFd> {
    let open = |pid: u32| {
        // SAFETY: pidfd_open takes integers only.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor and nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    };
    match open(tid) {
        // EINVAL before Linux 6.9, ENOENT since.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) => open(tgid(tid)?),
        r => r,
    }
}

/// The process a thread belongs to, from `/proc/TID/status`.
pub fn tgid(tid: u32) -> std::io::Result<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::ErrorKind::InvalidData.into())
}

/// A duplicate of the caller's descriptor `fd`: the same open file, so the same socket,
/// whatever the caller's table holds at that number a moment later.
pub fn pidfd_getfd(pidfd: &OwnedFd, fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes integers only.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0u32) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Reads `len` bytes at `addr` in process `pid`'s memory; `None` unless all were read.
pub fn read_memory(pid: u32, addr: u64, len: usize) -> Option<Vec<u8>> {
    if addr == 0 || len == 0 {
        return None;
    }
    let mut buf = vec![0u8; len];
    let n = {
        let mut local = [std::io::IoSliceMut::new(&mut buf)];
        let remote = [nix::sys::uio::RemoteIoVec {
            base: addr as usize,
            len,
        }];
        nix::sys::uio::process_vm_readv(nix::unistd::Pid::from_raw(pid as i32), &mut local, &remote)
            .ok()?
    };
    (n == len).then_some(buf)
}

/// An integer socket option of `fd`.
pub fn sockopt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Option<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `v`.
    let r = unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) };
    (r == 0).then_some(v)
}

/// Sets an integer socket option of `fd` (best effort: the copy of a caller's setting).
pub fn set_sockopt(fd: RawFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) {
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `v`.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const v).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// The flags of the caller's descriptor `fd` (O_NONBLOCK, O_CLOEXEC, ...), from
/// `/proc/PID/fdinfo/FD`, which needs no copy of the descriptor.
pub fn fd_flags(pid: u32, fd: RawFd) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
}
