//! The process that makes the sandbox's namespaces while mcpcell plans, and then clones the
//! sandbox (`super`'s documentation has why).
//!
//! At the start of `run` (or once a profile file is loaded) mcpcell clones the maker on
//! another CPU; for an ordinary user with `CLONE_NEWUSER`, since the sandbox's network
//! namespace must belong to the sandbox's user namespace (`unshare(CLONE_NEWUSER)` in mcpcell
//! would require a single-threaded process and put mcpcell itself in the namespace for
//! good). The maker makes the network namespace and brings loopback up in it while mcpcell
//! plans, and then, if the plan is not ready yet, the mount, IPC, UTS and PID namespaces.
//! Once the plan is ready it clones the sandbox's init, with the namespaces it did not make,
//! as mcpcell's child (`CLONE_PARENT`), and exits. The init is then in the sandbox's network
//! namespace (and user namespace) from its first instruction: it neither makes one nor waits
//! for one, and a clone that makes no mount namespace is ~0.06-0.09 ms shorter
//! (bench/ANALYSIS.md §1.32). mcpcell itself never leaves the namespaces it was started in.
//!
//! The maker is cloned with `CLONE_VM | CLONE_FILES`, on a stack of its own: the init it
//! clones is a copy of mcpcell's memory and descriptor table as they are when the plan is
//! ready, as if mcpcell had cloned it, and runs from the maker's stack (a copy of it),
//! which is as large as the init needs. While mcpcell plans, the maker runs on mcpcell's
//! memory and thread-local storage: it makes its system calls without libc (`super::sys`),
//! runs with every signal blocked, allocates nothing, and speaks through the words at the
//! top of its mapping. mcpcell waits in a futex while the maker clones (no allocation, no
//! lock held: the copy is consistent), and mcpcell is single-threaded then. The maker waits
//! for the plan spinning for a while (a wake-up of a sleeping process on another CPU cost
//! ~0.1 ms on the benchmark's VM, bench/ANALYSIS.md §1.26), then in a futex. It has
//! mcpcell's death signal, and is told to leave when the plan does not use it.
//!
//! If the maker cannot be cloned (user namespaces refused: the clone fails as the sandbox's
//! would; a system that refuses processes sharing a descriptor table), or cannot make the
//! network namespace (a container's seccomp profile; Ubuntu's AppArmor restriction leaves a
//! new user namespace without capabilities), mcpcell clones the sandbox itself, as before,
//! and meets the same refusal there.
//!
//! The mount namespace the maker makes while it waits is a copy of the host's mounts taken
//! before mcpcell opens the granted paths. If the host's mount table changes in between (an
//! automount the planning's own lookups trigger, an administrator's mount; where the root
//! is private, as in most containers, nothing propagates into the copy), the sandbox's view
//! would not be the one the plan checked, and its binds would fail. So the maker opens the
//! table (`/proc/self/mountinfo`) before it copies it, and when the plan is ready looks
//! whether the kernel marked it changed since; then it clones nothing, and mcpcell clones
//! the sandbox afresh, with every namespace (tests/sandbox.rs holds a launch's planning
//! while a test mounts on its grant).

use std::io;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};

use super::stack::{OwnStack, TOP, place};
use super::sys;

/// The namespaces the maker also makes when the plan is not ready yet once it has made the
/// network namespace: the mount namespace (a copy of the host's mounts, the costliest of
/// these), IPC, UTS, and the PID namespace the sandbox is cloned into (the maker is in the
/// first three; the fourth is its children's). Not the cgroup namespace, which the clone
/// makes as before (~0-20 µs; its root is mcpcell's cgroup either way). When the plan is
/// ready first, the sandbox's clone makes them, as it would have: mcpcell waits for them at
/// most when the plan comes while the maker is making them, about what the clone would take.
pub const WHILE_WAITING: libc::c_int =
    libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWPID;

/// The maker's stack, which the init's process goes on using: as large as the main
/// thread's would need for the init's code (only the pages used are ever backed).
const STACK: usize = 1024 * 1024;
/// How long the maker looks at the state, with a pause between, before it sleeps: in
/// time-stamp counter ticks, some 2-5 ms (mcpcell plans for ~0.5-1.5 ms after the maker is
/// ready).
const SPIN_TICKS: u64 = 10_000_000;

// The maker's states, in the order they come.
/// Making the network namespace.
const MAKING: u32 = 0;
/// Made; waiting for the plan.
const READY: u32 = 1;
/// Could not make it (the result word holds minus the errno); the maker has left.
const FAILED: u32 = 2;
/// The plan is ready: the maker clones the sandbox.
const GO: u32 = 3;
/// Not needed: the maker leaves.
const ABORT: u32 = 4;
/// Cloned (the result word holds the sandbox's pid, or minus the errno); the maker leaves.
const DONE: u32 = 5;
/// Not cloned: the host's mounts changed after the maker copied them; the maker leaves.
const STALE: u32 = 6;

/// The words mcpcell and the maker share, at the top of the maker's mapping.
#[repr(C)]
struct Shared {
    state: AtomicU32,
    result: AtomicI32,
    /// mcpcell's pid: the maker leaves if its parent is already another.
    launcher: AtomicI32,
    /// The sandbox's clone flags, then the function and argument its process starts with.
    flags: AtomicUsize,
    entry: AtomicUsize,
    arg: AtomicUsize,
    /// The namespaces of [`WHILE_WAITING`] the maker made, left out of the clone's flags.
    waited: AtomicUsize,
}

const _: () = assert!(std::mem::size_of::<Shared>() <= TOP);

/// A started maker: its pid and its mapping (stack and shared words), unmapped once the
/// maker has been reaped (`Drop` reaps it first).
#[derive(Debug)]
pub struct Maker {
    pid: libc::pid_t,
    stack: OwnStack,
    /// The sandbox's namespaces it makes in any case (`made`): the network namespace, and
    /// for an ordinary user the user namespace ([`WHILE_WAITING`]'s are not counted).
    made: libc::c_int,
}

// SAFETY: the mapping is only read and written through atomics, and freed by its owner.
unsafe impl Send for Maker {}
// SAFETY: as above: `&Maker` gives atomic access to the shared words only.
unsafe impl Sync for Maker {}

/// The shared words at the top of a maker's mapping.
fn shared(stack: &OwnStack) -> &Shared {
    // SAFETY: the words fill the top bytes of the mapping (16-aligned), which lives as long
    // as `stack`, and are only accessed atomically.
    unsafe { &*stack.top().cast::<Shared>() }
}

impl Maker {
    fn shared(&self) -> &Shared {
        shared(&self.stack)
    }

    /// Starts a maker on another CPU, in a new user namespace for an ordinary user's
    /// sandbox (`user`); `None` if there is no other CPU or it cannot be started (the
    /// sandbox is then cloned as before).
    pub fn start(user: bool) -> Option<Maker> {
        let other = super::other_cpu()?;
        let stack = OwnStack::map(STACK)?;
        let sh = shared(&stack);
        sh.state.store(MAKING, Ordering::Relaxed);
        // SAFETY: getpid has no preconditions.
        sh.launcher
            .store(unsafe { libc::getpid() }, Ordering::Relaxed);
        let (mut flags, mut made) = (
            libc::CLONE_VM | libc::CLONE_FILES | libc::SIGCHLD,
            libc::CLONE_NEWNET,
        );
        if user {
            flags |= libc::CLONE_NEWUSER;
            made |= libc::CLONE_NEWUSER;
        }
        let arg = (sh as *const Shared).cast_mut().cast();
        // SAFETY: `entry` keeps to the constraints in the module's documentation; the shared
        // words and the mapping outlive the maker (`Drop` reaps it before unmapping).
        let pid = unsafe { stack.clone(entry, flags, arg) }.ok()?;
        place(pid, other);
        Some(Maker { pid, stack, made })
    }

    /// The sandbox's namespaces the maker makes in any case: the network namespace, and for
    /// an ordinary user the user namespace. The sandbox's clone flags must hold them all for
    /// the maker to clone it; it clones it with the others.
    pub fn made(&self) -> libc::c_int {
        self.made
    }

    /// Every namespace the sandbox is in when the maker clones it, whichever process makes
    /// it: the sandbox's clone flags must hold them all.
    pub fn makes(&self) -> libc::c_int {
        self.made | WHILE_WAITING | libc::CLONE_NEWCGROUP
    }

    /// Whether the maker has already been refused its namespace (a container's seccomp
    /// profile): the sandbox's own clone will be refused the same way. Does not wait.
    pub fn refused(&self) -> bool {
        let sh = self.shared();
        sh.state.load(Ordering::Acquire) == FAILED
            && matches!(
                -sh.result.load(Ordering::Acquire),
                libc::EPERM | libc::EACCES | libc::EINVAL | libc::ENOSPC | libc::EUSERS
            )
    }

    /// Waits until the maker has made the network namespace: the maker, ready to clone
    /// the sandbox, or `None` if it could not (it has left).
    pub fn ready(self) -> Option<Maker> {
        match self.wait_while(|s| s == MAKING) {
            Some(READY) => Some(self),
            _ => None,
        }
    }

    /// Waits while the maker's state is one `busy` holds: the state it came to, or `None`
    /// if the maker was gone (exited and reaped) while it still held.
    fn wait_while(&self, busy: impl Fn(u32) -> bool) -> Option<u32> {
        let sh = self.shared();
        loop {
            let s = sh.state.load(Ordering::Acquire);
            if !busy(s) {
                return Some(s);
            }
            if futex_wait(&sh.state, s, true) && !self.alive() {
                let s = sh.state.load(Ordering::Acquire);
                return (!busy(s)).then_some(s);
            }
        }
    }

    /// Has the maker clone the sandbox with `flags` (none of [`Maker::made`]: the maker
    /// made those; it leaves out those it made while waiting), as mcpcell's child. The sandbox's process continues, with
    /// mcpcell's signal mask and CPUs, in `f`, on a copy of mcpcell's memory taken while
    /// this call waits; `f` does not return. Returns the sandbox's pid and the namespaces
    /// the maker made while it waited for the plan (none, or those of [`WHILE_WAITING`]), or
    /// `None` when the maker cloned nothing because the host's mounts changed after it
    /// copied them (the sandbox is then to be cloned afresh, with every namespace).
    pub fn clone_sandbox<F: FnMut()>(
        self,
        flags: libc::c_int,
        f: &mut F,
    ) -> io::Result<Option<(libc::pid_t, libc::c_int)>> {
        // What the sandbox's process restores before it runs `f`: it is cloned by the
        // maker, which runs with every signal blocked on one CPU.
        let mut call = Call {
            f,
            mask: 0,
            // SAFETY: a zeroed cpu_set_t is a valid value.
            cpus: unsafe { std::mem::zeroed() },
        };
        // SAFETY: out-parameters of the kernel's sigset size and of cpu_set_t's.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                std::ptr::null::<u64>(),
                &mut call.mask,
                8,
            );
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut call.cpus);
        }
        let sh = self.shared();
        sh.flags.store(flags as usize, Ordering::Relaxed);
        sh.entry
            .store(start_sandbox::<F> as *const () as usize, Ordering::Relaxed);
        sh.arg.store((&raw mut call) as usize, Ordering::Relaxed);
        // From here to DONE nothing allocates or takes a lock: the maker copies this
        // process's memory meanwhile.
        sh.state.store(GO, Ordering::Release);
        futex_wake(&sh.state);
        // A maker gone without a word (killed) cloned nothing, or a sandbox that waits for a
        // parent it does not know of and leaves with it.
        let state = self.wait_while(|s| s == GO);
        let r = sh.result.load(Ordering::Acquire);
        let waited = sh.waited.load(Ordering::Relaxed) as libc::c_int;
        drop(self);
        match state {
            Some(STALE) => Ok(None),
            Some(DONE) if r >= 0 => Ok(Some((r, waited))),
            Some(DONE) => Err(io::Error::from_raw_os_error(-r)),
            _ => Err(io::Error::from_raw_os_error(libc::ECHILD)),
        }
    }

    /// Whether the maker has not exited yet (it is reaped when it has).
    fn alive(&self) -> bool {
        let mut st = 0;
        // SAFETY: a non-blocking wait for this process's own child.
        unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) == 0 }
    }
}

impl Drop for Maker {
    /// Tells the maker to leave if it still waits, reaps it, and frees its mapping.
    fn drop(&mut self) {
        let sh = self.shared();
        // While it makes the namespace or waits for the plan. One exchange from the state
        // read: the maker may go from MAKING to READY meanwhile, and a READY the abort missed
        // would have it wait for a GO that never comes while this waits for its exit.
        if sh
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                matches!(s, MAKING | READY).then_some(ABORT)
            })
            .is_ok()
        {
            futex_wake(&sh.state);
        }
        let mut st = 0;
        // SAFETY: waits for this process's own child (an error: already reaped).
        while unsafe { libc::waitpid(self.pid, &mut st, 0) } < 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
        // The mapping goes with `self.stack`: the maker has exited.
    }
}

/// What the sandbox's process starts with.
struct Call<'a, F> {
    f: &'a mut F,
    mask: u64,
    cpus: libc::cpu_set_t,
}

/// The sandbox's process, just cloned by the maker: mcpcell's signal mask and CPUs, then `f`.
extern "C" fn start_sandbox<F: FnMut()>(arg: usize) -> ! {
    // SAFETY: `arg` is the `Call` in `clone_sandbox`'s frame, which this process's memory
    // holds as it was when the maker cloned it; the kernel's mask size; a valid cpu_set_t.
    unsafe {
        let call = &mut *(arg as *mut Call<'_, F>);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &call.cpus);
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &call.mask,
            std::ptr::null_mut::<u64>(),
            8,
        );
        (call.f)();
        // `f` does not return.
        libc::_exit(125)
    }
}

/// The maker: makes the network namespace, waits for the plan, clones the sandbox.
extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the shared words of the mapping, which outlives this process.
    let sh = unsafe { &*(arg as *const Shared) };
    let leave = |state: u32, result: i32| -> libc::c_int {
        sh.result.store(result, Ordering::Release);
        sh.state.store(state, Ordering::Release);
        futex_wake(&sh.state);
        0
    };
    // SAFETY: prctl with integer arguments; getppid without.
    unsafe {
        sys(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG as usize,
            libc::SIGKILL as usize,
            0,
        );
        if sys(libc::SYS_getppid, 0, 0, 0) as i32 != sh.launcher.load(Ordering::Relaxed) {
            return leave(FAILED, -libc::ESRCH);
        }
    }
    let ns = super::make_raw();
    if ns < 0 {
        return leave(FAILED, ns);
    }
    // SAFETY: the maker's own descriptor of its namespace, in the shared table: it is in
    // the namespace, and the sandbox it clones will be.
    unsafe { sys(libc::SYS_close, ns as usize, 0, 0) };
    if sh
        .state
        .compare_exchange(MAKING, READY, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return 0;
    }
    futex_wake(&sh.state);
    // The host's mount table, opened before the mount namespace's copy, says at the clone
    // whether the host's mounts changed since (the module's documentation has why); the
    // maker then clones nothing.
    let mut made = 0;
    let mut mounts = -1;
    if sh.state.load(Ordering::Acquire) == READY {
        // SAFETY: openat of a constant, NUL-terminated path.
        mounts = unsafe {
            sys(
                libc::SYS_openat,
                libc::AT_FDCWD as usize,
                c"/proc/self/mountinfo".as_ptr() as usize,
                (libc::O_RDONLY | libc::O_CLOEXEC) as usize,
            )
        } as i32;
        // SAFETY: unshare with flags. If it fails, the clone makes them (and meets the same
        // refusal there); without the table they are left to the clone.
        if mounts >= 0 && unsafe { sys(libc::SYS_unshare, WHILE_WAITING as usize, 0, 0) } >= 0 {
            made = WHILE_WAITING as usize;
        }
    }
    // The table's descriptor is in the table mcpcell shares: closed on every way out.
    let close_mounts = || {
        if mounts >= 0 {
            // SAFETY: the descriptor opened above, closed once.
            unsafe { sys(libc::SYS_close, mounts as usize, 0, 0) };
        }
    };
    // SAFETY: rdtsc has no preconditions.
    let until = unsafe { std::arch::x86_64::_rdtsc() } + SPIN_TICKS;
    loop {
        match sh.state.load(Ordering::Acquire) {
            GO => break,
            // SAFETY: as above.
            READY if unsafe { std::arch::x86_64::_rdtsc() } < until => std::hint::spin_loop(),
            READY => {
                futex_wait(&sh.state, READY, false);
            }
            _ => {
                close_mounts();
                return 0;
            }
        }
    }
    let stale = made != 0 && mounts_changed(mounts);
    close_mounts();
    if stale {
        return leave(STALE, 0);
    }
    sh.waited.store(made, Ordering::Relaxed);
    let flags = (sh.flags.load(Ordering::Relaxed) & !made) | libc::CLONE_PARENT as usize;
    // SAFETY: clone without a new stack and without CLONE_VM behaves as fork: the child
    // continues here on a copy of this stack and of mcpcell's memory, which mcpcell does not
    // change while it waits for DONE. The child's exit signal is the maker's (SIGCHLD).
    let pid = unsafe { super::sys4(libc::SYS_clone, flags, 0, 0, 0) };
    if pid == 0 {
        let start = sh.entry.load(Ordering::Relaxed);
        let arg = sh.arg.load(Ordering::Relaxed);
        // SAFETY: `start` is `start_sandbox::<F>` for the `F` whose `Call` is at `arg`,
        // stored by `clone_sandbox` before GO.
        let start: extern "C" fn(usize) -> ! = unsafe { std::mem::transmute(start) };
        start(arg);
    }
    leave(DONE, pid as i32)
}

/// Whether the mount table open on `fd` (`/proc/self/mountinfo`) changed since it was
/// opened: the kernel marks such a descriptor ready with `POLLPRI` once its namespace's
/// mounts change. An error counts as a change.
#[inline(always)]
fn mounts_changed(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLPRI,
        revents: 0,
    };
    // SAFETY: poll of one valid pollfd, without waiting.
    let r = unsafe { sys(libc::SYS_poll, (&raw mut p) as usize, 1, 0) };
    r != 0 || p.revents != 0
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on an aligned word of a mapping both processes share (not
    // PRIVATE: they are two processes).
    unsafe {
        sys(
            libc::SYS_futex,
            word.as_ptr() as usize,
            libc::FUTEX_WAKE as usize,
            i32::MAX as usize,
        )
    };
}

/// Sleeps while `word` holds `value`: until woken or, with `timed`, 10 ms (mcpcell then
/// looks whether the maker still lives). Whether the time ran out.
fn futex_wait(word: &AtomicU32, value: u32, timed: bool) -> bool {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 10_000_000,
    };
    let timeout = if timed { (&raw const ts) as usize } else { 0 };
    // SAFETY: FUTEX_WAIT on an aligned word, with a valid timespec or none.
    let r = unsafe {
        super::sys4(
            libc::SYS_futex,
            word.as_ptr() as usize,
            libc::FUTEX_WAIT as usize,
            value as usize,
            timeout,
        )
    };
    r == -(libc::ETIMEDOUT as isize)
}
