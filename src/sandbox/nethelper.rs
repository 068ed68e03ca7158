//! An ordinary user's network namespace, made beside the init's mounts.
//!
//! Where it can, mcpcell makes an ordinary user's user and network namespaces while it plans
//! and has the process that made them clone the sandbox (`crate::netns::maker`); this helper
//! is the way when that process could not be made (a system that refuses processes sharing
//! a descriptor table, say) and the clone makes the user namespace.
//!
//! For an ordinary user the sandbox's network namespace must belong to the user namespace the
//! clone makes, so without that process mcpcell cannot make it ahead. Making it is ~0.3 ms
//! of kernel work, which `clone(CLONE_NEWNET)` did before the init could start on its
//! mounts. Instead the clone leaves `CLONE_NEWNET` out and the init, first thing,
//! starts a helper process that makes the namespace (it holds every capability in the new
//! user namespace, as the init does) and brings loopback up in it, on another CPU, while the
//! init assembles the sandbox's root; the init then waits for it and joins the namespace
//! with `setns` where it brought loopback up before. If the helper cannot be started or
//! fails, the init makes the namespace itself, as the clone would have.
//!
//! The helper is cloned with `CLONE_VM | CLONE_FILES` on a stack of its own: it shares the
//! init's memory and descriptor table (the namespace's descriptor it leaves there is the
//! init's), and nothing else. It runs while the init runs, on the init's thread-local
//! storage: it makes its system calls without libc (`netns::make_raw`: no `errno`), runs
//! with every signal blocked (from its creation: the init blocks them around the clone, so
//! none of the init's handlers can run on it), allocates nothing, and reports through one
//! word of its own mapping. The init grows its descriptor table before it starts the helper
//! (`crate::fdtable`): the kernel grows a table two processes share only after an RCU grace
//! period, and the init opens a descriptor for every granted path while the helper runs
//! (bench/ANALYSIS.md §1.29).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::netns::stack::{OwnStack, place};

use super::Step;
use super::failure::join;
use super::sys::{check, errno};

const STACK: usize = 16 * 1024;
/// The result word before the helper has written it.
const PENDING: i32 = i32::MIN;

/// A started helper: its pid and the mapping its stack and result live in.
pub(super) struct Helper {
    pid: libc::pid_t,
    stack: OwnStack,
}

/// The word the helper writes, at the top of its mapping: the namespace's descriptor, or
/// minus an errno.
fn result(stack: &OwnStack) -> &AtomicI32 {
    // SAFETY: the word lies in the top bytes of a mapping that lives as long as `stack`,
    // 16-aligned, and is only accessed atomically.
    unsafe { &*stack.top().cast::<AtomicI32>() }
}

extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the result word of the mapping, which outlives this process.
    let result = unsafe { &*(arg as *const AtomicI32) };
    result.store(crate::netns::make_raw(), Ordering::Release);
    0
}

/// Starts the helper, set on another CPU than the init's when there is one; `None` if it
/// cannot be started (the init then makes the namespace itself).
pub(super) fn start() -> Option<Helper> {
    let stack = OwnStack::map(STACK)?;
    let word = result(&stack);
    word.store(PENDING, Ordering::Relaxed);
    // No exit signal: the init reaps it with `__WALL`, and its own signal handling never
    // sees it. It starts with every signal blocked, and the init's mask is restored once it
    // exists.
    let arg = (word as *const AtomicI32).cast_mut().cast();
    // SAFETY: `entry` meets the constraints in the module's documentation; the word and the
    // mapping outlive the helper (`join` reaps it before they go).
    let pid = unsafe { stack.clone(entry, libc::CLONE_VM | libc::CLONE_FILES, arg) }.ok()?;
    // Left to the scheduler it may wait on the init's CPU until the init blocks.
    if let Some(other) = crate::netns::other_cpu() {
        place(pid, other);
    }
    Some(Helper { pid, stack })
}

/// Waits for the helper and joins the namespace it made; without a helper, or when it
/// failed, makes the namespace here and brings loopback up.
pub(super) fn join(helper: Option<Helper>, status: RawFd) {
    let made = helper.map(|h| {
        let mut st = 0;
        // SAFETY: waits for this process's own child; `st` is a valid out-parameter.
        while unsafe { libc::waitpid(h.pid, &mut st, libc::__WALL) } < 0 {
            let e = errno();
            if e != libc::EINTR {
                // The helper may still run on its mapping: it is not unmapped, and the launch
                // stops.
                super::sys::fail(status, Step::JoinNetwork, join::WAIT, e);
            }
        }
        // The mapping goes with `h`: the helper has exited.
        result(&h.stack).load(Ordering::Acquire)
    });
    match made {
        Some(ns) if ns >= 0 => {
            // SAFETY: setns on the descriptor the helper left in the shared table, then
            // closing it.
            check(status, Step::JoinNetwork, join::HELPERS, unsafe {
                libc::setns(ns, libc::CLONE_NEWNET)
            }
                as libc::c_long);
            // SAFETY: the init's own descriptor; the server never sees it.
            unsafe { libc::close(ns) };
        }
        _ => {
            // SAFETY: unshare with a flag.
            check(
                status,
                Step::JoinNetwork,
                join::OWN,
                unsafe { libc::unshare(libc::CLONE_NEWNET) } as libc::c_long,
            );
            super::net::loopback_up(status);
        }
    }
}
