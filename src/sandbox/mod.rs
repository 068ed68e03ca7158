//! The child side of a launch: apply a [`Prepared`] plan to ourselves, then exec.
//!
//! The child is PID 1 of a new PID namespace. It sets up its mounts and network, restricts
//! itself (Landlock, rlimits, capabilities, no_new_privs, seccomp), then forks the server and
//! stays behind as its init: it forwards signals, reaps orphans and exits with the server's
//! status. Where namespaces are refused (the namespace-free tier, [`tier`]), it is a child
//! subreaper instead, and kills its Landlock domain when it leaves. A failure is reported to the parent as a [`Failure`] record over a close-on-exec
//! pipe; EOF on that pipe means the server's execve succeeded.
//!
//! Before the clone, in the parent: [`prepare`] turns the plan into what the child needs
//! (C strings, the Landlock ruleset, the mount plan of [`mounts`]). After it, in the child:
//! [`child`] runs the steps in order, using [`mounts`] (the root of granted paths), `net`
//! (loopback, the proxy's route and listeners), `caps` (capabilities and securebits),
//! `channel` (descriptors sent to mcpcell) and `sys` (the post-fork system-call helpers).

mod caps;
pub(crate) mod channel;
mod child;
pub mod mounts;
mod net;
pub mod prepare;
mod sys;
pub mod tier;

pub use child::run;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use prepare::PrepareError;

/// `b` as a C string for the child; a NUL inside is an error that names it.
fn cstr(b: impl AsRef<[u8]>) -> Result<CString, PrepareError> {
    let b = b.as_ref();
    CString::new(b).map_err(|_| PrepareError::Nul(String::from_utf8_lossy(b).into_owned()))
}

fn cpath(p: &Path) -> Result<CString, PrepareError> {
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

/// The step of the child's set-up that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    Cgroup = 1,
    DeathSignal,
    Setgroups,
    UidMap,
    GidMap,
    MountPrivate,
    MountRoot,
    MountTmp,
    MountShm,
    BindIntoPrivate,
    MountProc,
    Hide,
    PivotRoot,
    Chdir,
    Loopback,
    Resolver,
    ProxySockets,
    LandlockRule,
    LandlockRestrict,
    Rlimit,
    Setsid,
    Securebits,
    Capabilities,
    NoNewPrivs,
    NotDumpable,
    Seccomp,
    Signals,
    Fork,
    CloseFds,
    Exec,
    ObserveChannel,
    Stdio,
    MountAttrs,
    ReadOnlyRoot,
}

impl Step {
    const ALL: [Step; 34] = [
        Step::Cgroup,
        Step::DeathSignal,
        Step::Setgroups,
        Step::UidMap,
        Step::GidMap,
        Step::MountPrivate,
        Step::MountRoot,
        Step::MountTmp,
        Step::MountShm,
        Step::BindIntoPrivate,
        Step::MountProc,
        Step::Hide,
        Step::PivotRoot,
        Step::Chdir,
        Step::Loopback,
        Step::Resolver,
        Step::ProxySockets,
        Step::LandlockRule,
        Step::LandlockRestrict,
        Step::Rlimit,
        Step::Setsid,
        Step::Securebits,
        Step::Capabilities,
        Step::NoNewPrivs,
        Step::NotDumpable,
        Step::Seccomp,
        Step::Signals,
        Step::Fork,
        Step::CloseFds,
        Step::Exec,
        Step::ObserveChannel,
        Step::Stdio,
        Step::MountAttrs,
        Step::ReadOnlyRoot,
    ];

    pub fn from_u32(v: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == v)
    }

    /// "failed to …" text for this step.
    pub fn describe(self) -> &'static str {
        match self {
            Step::Cgroup => "failed to join the sandbox's cgroup",
            Step::DeathSignal => "failed to tie the sandbox's life to mcpcell's",
            Step::Setgroups => "failed to deny setgroups in the user namespace",
            Step::UidMap => "failed to write the user namespace's uid map",
            Step::GidMap => "failed to write the user namespace's gid map",
            Step::MountPrivate => "failed to make the mount namespace private",
            Step::MountRoot => "failed to assemble the sandbox's root from the granted paths",
            Step::MountTmp => "failed to mount the private /tmp",
            Step::MountShm => "failed to mount the private /dev/shm",
            Step::BindIntoPrivate => "failed to bind a granted path into the private /tmp",
            Step::MountProc => "failed to mount the sandbox's own /proc",
            Step::Hide => "failed to hide a path",
            Step::PivotRoot => "failed to switch to the sandbox's root",
            Step::Chdir => "failed to enter the working directory",
            Step::Loopback => "failed to bring up loopback in the network namespace",
            Step::Resolver => {
                "failed to point the sandbox's /etc/resolv.conf and /etc/hosts at the proxy"
            }
            Step::ProxySockets => "failed to create the proxy's listeners in the network namespace",
            Step::LandlockRule => "failed to add a Landlock rule for a private mount",
            Step::LandlockRestrict => "failed to enforce the Landlock ruleset",
            Step::Rlimit => "failed to set a resource limit",
            Step::Setsid => "failed to start a new session",
            Step::Securebits => "failed to lock the securebits",
            Step::Capabilities => "failed to drop capabilities",
            Step::NoNewPrivs => "failed to set no_new_privs",
            Step::NotDumpable => "failed to make the sandbox's init process non-dumpable",
            Step::Seccomp => "failed to install the seccomp filter",
            Step::Signals => "failed to set up signal handling",
            Step::Fork => "failed to fork the server process",
            Step::CloseFds => "failed to keep inherited file descriptors from the server",
            Step::Exec => "failed to execute the server",
            Step::ObserveChannel => "failed to hand the observe-mode listener to mcpcell",
            Step::Stdio => "failed to connect the server's stdio to mcpcell's relay",
            Step::MountAttrs => {
                "failed to set a granted path's mount flags (read-only, no-exec, no-setuid)"
            }
            Step::ReadOnlyRoot => "failed to make the sandbox's root read-only",
        }
    }
}

/// What the child sends when a step fails: 12 bytes, written with one write(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub step: Step,
    /// Which item of a list step (bind, hide, rlimit) failed.
    pub index: u32,
    pub errno: i32,
}

impl Failure {
    pub const SIZE: usize = 12;

    pub fn encode(step: Step, index: u32, errno: i32) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&(step as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&index.to_ne_bytes());
        b[8..].copy_from_slice(&errno.to_ne_bytes());
        b
    }

    pub fn decode(b: &[u8; 12]) -> Option<Failure> {
        let step = Step::from_u32(u32::from_ne_bytes(b[..4].try_into().ok()?))?;
        Some(Failure {
            step,
            index: u32::from_ne_bytes(b[4..8].try_into().ok()?),
            errno: i32::from_ne_bytes(b[8..].try_into().ok()?),
        })
    }
}

/// The signals mcpcell passes on to the server.
pub const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_listed() {
        // A step missing from ALL would decode as "exec succeeded".
        assert_eq!(Step::ALL.len() as u32, Step::ReadOnlyRoot as u32);
        for (i, s) in Step::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32 + 1);
        }
    }

    #[test]
    fn failures_round_trip() {
        for s in Step::ALL {
            let b = Failure::encode(s, 3, libc::EPERM);
            assert_eq!(
                Failure::decode(&b),
                Some(Failure {
                    step: s,
                    index: 3,
                    errno: libc::EPERM
                })
            );
        }
        assert_eq!(Failure::decode(&[0; 12]), None);
    }
}
