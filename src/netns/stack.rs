//! A stack of its own for a process cloned with `CLONE_VM`: the maker of the sandbox's
//! namespaces (`super::maker`) and the init's network helper (`sandbox::nethelper`) run on
//! their creator's memory, each on a mapping made here.
//!
//! The mapping is a guard page, the stack, and [`TOP`] bytes above the stack for the words
//! the process and its creator share (a stack that overflows runs into the guard page, not
//! into them). Only the pages a process touches are ever backed.

use std::io;

/// The bytes above the stack for the shared words.
pub const TOP: usize = 64;
const GUARD: usize = 4096;

/// A mapping a process cloned with `CLONE_VM` runs on; unmapped when dropped, which its
/// owner does only once that process has exited.
#[derive(Debug)]
pub struct OwnStack {
    map: *mut libc::c_void,
    size: usize,
}

impl OwnStack {
    /// Maps `stack` bytes of stack under the shared words, above a guard page; `None` if
    /// the mapping cannot be made.
    pub fn map(stack: usize) -> Option<OwnStack> {
        let size = GUARD + stack + TOP;
        // SAFETY: an anonymous private mapping, unmapped by `drop`.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return None;
        }
        let own = OwnStack { map, size };
        // SAFETY: the lowest page of the mapping made above.
        if unsafe { libc::mprotect(map, GUARD, libc::PROT_NONE) } < 0 {
            return None;
        }
        Some(own)
    }

    /// The [`TOP`] bytes above the stack, 16-aligned, for the shared words.
    pub fn top(&self) -> *mut u8 {
        // SAFETY: within the mapping: its last TOP bytes.
        unsafe { self.map.cast::<u8>().add(self.size - TOP) }
    }

    /// Clones a process that runs `entry(arg)` on this stack, with `flags` (the exit signal
    /// among them), and with every signal blocked from its first instruction: the kernel's
    /// `rt_sigprocmask`, not glibc's `sigprocmask`, which leaves glibc's own two real-time
    /// signals (thread cancellation, the set*id broadcast) unblocked, whose handlers would run
    /// on this stack with the creator's thread-local storage. The creator's mask is
    /// restored after the clone. Returns the process's pid.
    ///
    /// # Safety
    /// `entry` runs on the creator's memory (with `CLONE_VM`) and thread-local storage: it
    /// makes its system calls without libc (`super::sys`), allocates nothing, and reaches its
    /// creator only through what `arg` points to, which outlives the process, as must `self`.
    pub unsafe fn clone(
        &self,
        entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
        flags: libc::c_int,
        arg: *mut libc::c_void,
    ) -> io::Result<libc::pid_t> {
        let all: u64 = !0;
        let mut old: u64 = 0;
        // SAFETY: sigset out-parameters of the kernel's size; the stack grows down from below
        // the shared words; the caller's for `entry` and `arg`.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &all,
                &mut old,
                8,
            );
            let pid = libc::clone(entry, self.top().cast(), flags, arg);
            let err = io::Error::last_os_error();
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &old,
                std::ptr::null_mut::<u64>(),
                8,
            );
            if pid < 0 { Err(err) } else { Ok(pid) }
        }
    }
}

impl Drop for OwnStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made by `map`; its owner drops it only when no process runs
        // on it any more.
        unsafe { libc::munmap(self.map, self.size) };
    }
}

/// Sets process `pid` on CPU `cpu`: a new process starts on its creator's CPU, and the
/// scheduler may leave it there until the creator waits (bench/ANALYSIS.md §1.26). A
/// failure (the process already gone) only costs the overlap.
pub fn place(pid: libc::pid_t, cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET takes an index below CPU_SETSIZE
    // (`super::other_cpu`'s).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
