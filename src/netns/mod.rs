//! The sandbox's namespaces, made while mcpcell plans.
//!
//! Making a network namespace is ~0.3 ms of kernel work (every per-namespace subsystem's
//! state and sysctl tables, the loopback device), which `clone(CLONE_NEWNET)` did on the
//! launch's critical path, after the planning; and the sandbox's other namespaces another
//! 0.04-0.07 ms of its clone (bench/ANALYSIS.md §1.32). The machine usually has a second CPU,
//! idle while mcpcell plans. So once mcpcell knows the sandbox has a network namespace (at
//! the start of `run -p BUILTIN`: no built-in profile has mode `host`; otherwise once the
//! profile is loaded), it clones a process (`maker::Maker`) on another CPU that makes the
//! network namespace with loopback up, and while it waits for the plan the mount, IPC, UTS
//! and PID namespaces; for an ordinary user it is cloned into a new user namespace, which
//! the sandbox's namespaces must belong to. When the plan is ready, that process clones the
//! sandbox's init as mcpcell's child, in those namespaces, and exits; mcpcell itself never
//! leaves its own.
//!
//! Not where only one CPU is allowed (the work would only take turns with the planning), nor
//! for a dry run. If the process cannot be cloned or cannot make the namespace, mcpcell
//! clones the sandbox as before (for an ordinary user with the init's helper beside its
//! mounts, `sandbox::nethelper`) and meets the same refusal there.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

pub mod maker;
pub mod stack;

/// The process making the sandbox's namespaces while mcpcell plans. Dropping it has the
/// process leave.
#[derive(Debug)]
pub struct Ahead(maker::Maker);

impl Ahead {
    /// Starts making the namespaces, when mcpcell may use a second CPU.
    pub fn start() -> Option<Ahead> {
        // The plan's test: a root without CAP_SYS_ADMIN gets a user namespace too.
        maker::Maker::start(!crate::kernel::privileged()).map(Ahead)
    }

    /// Whether the namespace has already been refused (see `maker::Maker::refused`).
    pub fn refused(&self) -> bool {
        self.0.refused()
    }

    /// Waits until the network namespace is made: the process, ready to clone the sandbox,
    /// or `None` when it could not be made (the process has left).
    pub fn finish(self) -> Option<maker::Maker> {
        self.0.ready()
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
