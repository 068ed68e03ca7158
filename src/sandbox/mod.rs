//! The child side of a launch: apply a [`Prepared`] plan to ourselves, then exec.
//!
//! The child is PID 1 of a new PID namespace. It sets up its mounts and network, restricts
//! itself (Landlock, rlimits, capabilities, no_new_privs, seccomp), then starts the server and
//! stays behind as its init: it forwards signals, reaps orphans and exits with the server's
//! status. Where namespaces are refused (the namespace-free tier, [`tier`]), it is a child
//! subreaper instead, and kills its Landlock domain when it leaves. A failure is reported to the parent as a [`Failure`] record over a close-on-exec
//! pipe; EOF on that pipe means the server's execve succeeded.
//!
//! Before the clone, in the parent: [`prepare`] turns the plan into what the child needs
//! (C strings, the Landlock ruleset, the ordered mount plan of [`mounts`]), given the
//! channels to mcpcell that already exist (`channel::Channels`); `crate::netns` makes the
//! network namespace while mcpcell plans, in a process that (for an ordinary user) makes
//! the user namespace too and clones the child into them; where that process cannot be
//! made, the clone makes them, and for an ordinary user `nethelper` makes the network
//! namespace in the child while the init mounts.
//! After it, in the child:
//! [`child`] runs the steps in order, using [`mounts`] (the root of granted paths), `net`
//! (loopback, the proxy's route and listeners), `caps` (capabilities and securebits),
//! `channel` (descriptors sent to mcpcell) and `sys` (the post-fork system-call helpers).
//! `failure` names the steps, and what a failed one was working on.

mod caps;
pub(crate) mod channel;
mod child;
mod failure;
pub mod mounts;
mod net;
mod nethelper;
pub mod prepare;
mod sys;
pub mod tier;

pub use child::run;
pub use failure::{Failure, Step};

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use thiserror::Error;

/// A string for the child contains a NUL byte, so it cannot be passed to the kernel.
#[derive(Debug, Error)]
#[error("a path or argument contains a NUL byte: {0:?}")]
pub struct NulError(String);

/// `b` as a C string for the child; a NUL inside is an error that names it.
fn cstr(b: impl AsRef<[u8]>) -> Result<CString, NulError> {
    let b = b.as_ref();
    CString::new(b).map_err(|_| NulError(String::from_utf8_lossy(b).into_owned()))
}

fn cpath(p: &Path) -> Result<CString, NulError> {
    cstr(p.as_os_str().as_bytes())
}

/// A signal set of `sigs` (no allocation: the sandbox's init uses it too).
pub fn sigset(sigs: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise and fill a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in sigs {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// The next signal from the signalfd `fd`, or `None` when none could be read. Only a read:
/// the sandbox's init uses it too.
pub fn read_signal(fd: std::os::fd::RawFd) -> Option<libc::c_int> {
    // SAFETY: a zeroed siginfo is a valid buffer of its size.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reads at most one siginfo into a buffer of its size.
    let r = unsafe { libc::read(fd, (&raw mut info).cast(), size) };
    (r == size as isize).then_some(info.ssi_signo as libc::c_int)
}

/// The status `mcpcell run` reports for a wait status: the exit code, or 128 + the signal;
/// `None` for a stop or continue.
pub fn exit_code(status: libc::c_int) -> Option<libc::c_int> {
    if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Some(128 + libc::WTERMSIG(status))
    } else {
        None
    }
}
pub use prepare::{Isolation, Prepared};

/// The signals mcpcell passes on to the server.
pub const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];
