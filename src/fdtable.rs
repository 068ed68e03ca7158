//! A process's file descriptor table, grown ahead: while no other thread or process shares it.
//!
//! A process forked from one with few descriptors open gets the smallest table, 64 entries,
//! and execve keeps it. When a process opens its 65th descriptor while another thread, or a
//! process cloned with `CLONE_FILES`, shares its table, the kernel waits for an RCU grace
//! period before it grows the table (`expand_fdtable` in `fs/file.c`): 8–15 ms on a 2-core
//! VM. Grown while the table is shared with no one, it costs no wait. So each process of a
//! launch that will share its table grows it first: the launcher of `run` and `learn` (its
//! namespace thread as root, its relay, proxy and observer threads), the sandbox's init (its
//! network helper, for an ordinary user, runs while the init opens a descriptor for every
//! granted path), and the server (its own threads: Node's worker pool reading modules;
//! bench/ANALYSIS.md §1.10, §1.29).

use std::os::fd::RawFd;

/// Entries the table is grown to (or the process's `RLIMIT_NOFILE`, if lower).
const ENTRIES: libc::rlim_t = 1024;

/// Grows this process's table to [`ENTRIES`] entries: a copy of `fd`, any open descriptor,
/// at the top, closed at once. A failure only loses the head start.
///
/// Async-signal-safe (getrlimit, fcntl and close): it may run in a forked child.
pub fn grow(fd: RawFd) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit out-parameter.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return;
    }
    let top = lim.rlim_cur.min(ENTRIES);
    if top <= 64 {
        return;
    }
    // SAFETY: F_DUPFD takes the lowest free descriptor at or above the argument; the copy is
    // closed at once.
    unsafe {
        let copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, (top - 1) as libc::c_int);
        if copy >= 0 {
            libc::close(copy);
        }
    }
}
