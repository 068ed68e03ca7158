//! A root launch's network namespace, made while mcpcell plans.
//!
//! Making a network namespace is ~0.3 ms of kernel work (every per-namespace subsystem's
//! state and sysctl tables, the loopback device), which `clone(CLONE_NEWNET)` does on the
//! launch's critical path, after the planning. As root, the sandbox's network namespace
//! belongs to the initial user namespace whichever process makes it, and `unshare(2)` with
//! `CLONE_NEWNET` acts on the calling thread alone: so once the profile is loaded and says
//! the sandbox has a network namespace (mode `none` or `proxy`), a thread of mcpcell makes
//! it, with loopback up, on another CPU while the main thread plans the rest, and the
//! sandbox's init joins it (`setns`) instead of the clone making one. The result is the same
//! namespace: new, empty but for loopback, held by no other process.
//!
//! Not for an ordinary user: their sandbox's namespaces belong to the user namespace the
//! clone makes, which a thread cannot make (`unshare(CLONE_NEWUSER)` requires a
//! single-threaded process). Not where only one CPU is allowed either: the thread would only
//! take turns with the planning. The thread is joined before the sandbox is cloned, so the
//! clone still happens in a single-threaded process; if anything in it fails, the clone
//! makes the namespace as before.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;

/// The thread making the namespace. Dropping it waits for the thread and closes the
/// namespace if it was made.
#[derive(Debug)]
pub struct Ahead(Option<JoinHandle<io::Result<OwnedFd>>>);

/// The thread does a few system calls; its stack need not be std's default 2 MiB.
const STACK: usize = 64 * 1024;

impl Ahead {
    /// Starts making the namespace, when mcpcell runs as root and may use a second CPU.
    pub fn start() -> Option<Ahead> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let other = other_cpu()?;
        // The thread starts with every signal blocked, so that a signal for mcpcell is
        // handled by the main thread, as without it (crate::supervise blocks the forwarded
        // ones there before the sandbox is cloned, while this thread may still run).
        // SAFETY: zeroed sigset_t values are valid; sigfillset fills one; pthread_sigmask
        // with valid set pointers.
        let before = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut before: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
            before
        };
        let spawned = std::thread::Builder::new()
            .name("netns".into())
            .stack_size(STACK)
            .spawn(make);
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut()) };
        let handle = spawned.ok()?;
        // A new thread starts on its creator's CPU, and the scheduler may leave it there
        // until the creator waits (on the benchmark's VM it did: the launch got slower, not
        // faster, bench/ANALYSIS.md §1.26): set it on the other CPU now. A failure here
        // only costs the overlap.
        // SAFETY: a zeroed cpu_set_t is empty; CPU_SET takes an index below CPU_SETSIZE
        // (other_cpu's); the handle's pthread_t is alive until it is joined.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(other, &mut set);
            libc::pthread_setaffinity_np(
                handle.as_pthread_t(),
                std::mem::size_of::<libc::cpu_set_t>(),
                &set,
            );
        }
        Some(Ahead(Some(handle)))
    }

    /// Waits for the thread: the namespace (a descriptor of it, close-on-exec), or `None`
    /// when it could not be made. mcpcell is single-threaded again after this.
    pub fn finish(mut self) -> Option<OwnedFd> {
        self.0.take()?.join().ok()?.ok()
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// Whether this process may run on more than one CPU: work handed to another process or
/// thread can then overlap with its own.
pub fn spare_cpu() -> bool {
    other_cpu().is_some()
}

/// A CPU this process may run on other than the one it is running on, or `None` with a
/// single CPU allowed.
fn other_cpu() -> Option<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid out-parameter of its size; sched_getcpu has no
    // preconditions; CPU_ISSET reads indices below CPU_SETSIZE.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed) != 0 {
            return None;
        }
        let here = usize::try_from(libc::sched_getcpu()).ok()?;
        (0..libc::CPU_SETSIZE as usize).find(|&c| c != here && libc::CPU_ISSET(c, &allowed))
    }
}

/// On the thread: a new network namespace for this thread, loopback up in it, and a
/// descriptor of it.
fn make() -> io::Result<OwnedFd> {
    // SAFETY: unshare with a flag.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let s = loopback_up().map_err(|(_, errno)| io::Error::from_raw_os_error(errno))?;
    // The namespace the socket was made in, close-on-exec: this thread's new one, found
    // without going through /proc.
    // SAFETY: an ioctl without argument on a socket this function owns.
    let ns = unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGSKNS) };
    if ns < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(ns) })
}

/// Brings loopback up in the calling thread's network namespace: the thread above, and the
/// sandbox's init when the clone made the namespace (after fork: system calls only, no
/// allocation). Returns the socket it used, or the failing call (0 socket, 1 reading the
/// flags, 2 setting them) and its errno.
pub fn loopback_up() -> Result<OwnedFd, (u32, i32)> {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY: socket with constant arguments.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err((0, errno()));
    }
    // SAFETY: the kernel just returned this descriptor, owned by no one else.
    let s = unsafe { OwnedFd::from_raw_fd(s) };
    // SAFETY: a zeroed ifreq is valid; the name fits IFNAMSIZ; the ioctls get a pointer to it.
    unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return Err((1, errno()));
        }
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) < 0 {
            return Err((2, errno()));
        }
    }
    Ok(s)
}
