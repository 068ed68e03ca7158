//! The sandbox's network namespace, made while mcpcell plans.
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
//! An ordinary user's sandbox's namespaces belong to a user namespace of its own, which a
//! thread cannot make (`unshare(CLONE_NEWUSER)` requires a single-threaded process): for
//! them a process makes both and later clones the sandbox (`user`). Neither where only one
//! CPU is allowed: the work would only take turns with the planning. The thread is joined
//! before the sandbox is cloned, so the clone still happens in a single-threaded process;
//! if anything in it fails, the clone makes the namespace as before.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;

pub mod stack;
pub mod user;

/// What makes the sandbox's network namespace while mcpcell plans: as root a thread, for an
/// ordinary user a process in a new user namespace (`user::Maker`). Dropping it waits for
/// the thread and closes the namespace, or has the maker leave.
#[derive(Debug)]
pub struct Ahead(Kind);

#[derive(Debug)]
enum Kind {
    Thread(Option<JoinHandle<io::Result<OwnedFd>>>),
    User(Option<user::Maker>),
}

/// What was made ahead.
#[derive(Debug)]
pub enum Made {
    /// As root: the namespace (a descriptor of it, close-on-exec), for the init to join.
    Namespace(OwnedFd),
    /// For an ordinary user: a process in the sandbox's user and network namespaces, which
    /// clones the sandbox.
    Maker(user::Maker),
}

/// The thread does a few system calls; its stack need not be std's default 2 MiB.
const STACK: usize = 64 * 1024;

impl Ahead {
    /// Starts making the namespace, when mcpcell may use a second CPU: as root on a thread,
    /// otherwise in a maker process.
    pub fn start() -> Option<Ahead> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return user::Maker::start().map(|m| Ahead(Kind::User(Some(m))));
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
        Some(Ahead(Kind::Thread(Some(handle))))
    }

    /// Waits for the thread, or for the maker to have made the namespace: what was made, or
    /// `None` when it could not be. mcpcell is single-threaded again after this.
    pub fn finish(mut self) -> Option<Made> {
        match &mut self.0 {
            Kind::Thread(h) => h.take()?.join().ok()?.ok().map(Made::Namespace),
            Kind::User(m) => m.take()?.ready().map(Made::Maker),
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Kind::Thread(h) = &mut self.0 {
            if let Some(h) = h.take() {
                let _ = h.join();
            }
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
pub fn other_cpu() -> Option<usize> {
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
    let ns = make_raw();
    if ns < 0 {
        return Err(io::Error::from_raw_os_error(-ns));
    }
    // SAFETY: the kernel just returned this descriptor, owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(ns) })
}

/// A system call made with the `syscall` instruction: its result, or minus the errno. No
/// libc and no thread-local state (`errno`): the sandbox's network helper runs on memory and
/// thread-local storage it shares with the sandbox's init (`sandbox::nethelper`).
///
/// x86_64's instruction and registers: mcpcell's seccomp filter is built for that ABI too.
///
/// # Safety
/// The caller passes arguments valid for the call `nr`.
unsafe fn sys(nr: libc::c_long, a: usize, b: usize, c: usize) -> isize {
    // SAFETY: the caller's.
    unsafe { sys4(nr, a, b, c, 0) }
}

/// [`sys`] with a fourth argument.
///
/// # Safety
/// The caller passes arguments valid for the call `nr`.
unsafe fn sys4(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the `syscall` instruction with the kernel's calling convention; it clobbers
    // rcx and r11 only, and may read and write memory the arguments point to.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A new network namespace for the calling thread or process, loopback up in it, and a
/// close-on-exec descriptor of it (from its socket, `SIOCGSKNS`: without going through
/// /proc); or minus the errno of the call that failed. System calls only ([`sys`]): no
/// allocation, no libc, no `errno`.
pub fn make_raw() -> i32 {
    // SAFETY: unshare with a flag.
    let r = unsafe { sys(libc::SYS_unshare, libc::CLONE_NEWNET as usize, 0, 0) };
    if r < 0 {
        return r as i32;
    }
    let s = match loopback_raw() {
        Ok(s) => s,
        Err((_, errno)) => return -errno,
    };
    // SAFETY: an ioctl without argument, and close, on the socket loopback_raw returned.
    unsafe {
        let ns = sys(libc::SYS_ioctl, s as usize, libc::SIOCGSKNS as usize, 0);
        sys(libc::SYS_close, s as usize, 0, 0);
        ns as i32
    }
}

/// Brings loopback up in the calling thread's network namespace: the sandbox's init when the
/// clone made the namespace (after fork: no allocation), and [`make_raw`]. Returns the socket
/// it used, or the failing call (0 socket, 1 reading the flags, 2 setting them) and its
/// errno.
pub fn loopback_up() -> Result<OwnedFd, (u32, i32)> {
    // SAFETY: the socket loopback_raw made, owned by no one else.
    loopback_raw().map(|s| unsafe { OwnedFd::from_raw_fd(s) })
}

/// [`loopback_up`] with system calls only ([`sys`]), returning the socket's descriptor.
fn loopback_raw() -> Result<RawFd, (u32, i32)> {
    // SAFETY: socket with constant arguments; ioctls with a pointer to a zeroed ifreq whose
    // name fits IFNAMSIZ; close of the socket made here.
    unsafe {
        let s = sys(
            libc::SYS_socket,
            libc::AF_INET as usize,
            (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as usize,
            0,
        );
        if s < 0 {
            return Err((0, -s as i32));
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        let ifr_ptr = (&raw mut ifr) as usize;
        let (get, set) = (libc::SIOCGIFFLAGS as usize, libc::SIOCSIFFLAGS as usize);
        let r = sys(libc::SYS_ioctl, s as usize, get, ifr_ptr);
        let failed = if r < 0 {
            Some((1, r))
        } else {
            // Through a pointer: the kernel reads the structure, which the compiler cannot see.
            let flags = &raw mut ifr.ifr_ifru.ifru_flags;
            *flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            let r = sys(libc::SYS_ioctl, s as usize, set, ifr_ptr);
            (r < 0).then_some((2, r))
        };
        if let Some((call, r)) = failed {
            sys(libc::SYS_close, s as usize, 0, 0);
            return Err((call, -r as i32));
        }
        Ok(s as RawFd)
    }
}
