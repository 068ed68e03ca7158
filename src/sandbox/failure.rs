//! What the child reports when a step fails, and how mcpcell names it: the [`Step`], the item
//! of the step's list it was working on, the errno. The child writes a [`Failure`] record; the
//! parent decodes it and asks the [`Prepared`] plan what that item was.

use super::prepare::Prepared;

/// Declares [`Step`] from one table of names and messages, so that the list of every step
/// (which decoding relies on: a step missing from it would read as "exec succeeded") cannot
/// leave one out. Steps are numbered from 1; 0 is never a step.
macro_rules! steps {
    ($first:ident => $first_text:expr, $($name:ident => $text:expr,)*) => {
        /// The step of the child's set-up that failed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        pub enum Step {
            $first = 1,
            $($name,)*
        }

        impl Step {
            /// Every step, in the order of their numbers.
            const ALL: &[Step] = &[Step::$first, $(Step::$name,)*];

            /// "failed to …" text for this step.
            pub fn describe(self) -> &'static str {
                match self {
                    Step::$first => $first_text,
                    $(Step::$name => $text,)*
                }
            }
        }
    };
}

steps! {
    Cgroup => "failed to join the sandbox's cgroup",
    DeathSignal => "failed to tie the sandbox's life to mcpcell's",
    Setgroups => "failed to deny setgroups in the user namespace",
    UidMap => "failed to write the user namespace's uid map",
    GidMap => "failed to write the user namespace's gid map",
    MountPrivate => "failed to make the mount namespace private",
    MountRoot => "failed to assemble the sandbox's root from the granted paths",
    MountTmp => "failed to mount the private /tmp",
    MountShm => "failed to mount the private /dev/shm",
    BindIntoPrivate => "failed to bind a granted path into the sandbox",
    MountProc => "failed to mount the sandbox's own /proc",
    Hide => "failed to hide a path",
    PivotRoot => "failed to switch to the sandbox's root",
    Chdir => "failed to enter the working directory",
    Loopback => "failed to bring up loopback in the network namespace",
    Resolver => "failed to point the sandbox's /etc/resolv.conf and /etc/hosts at the proxy",
    ProxySockets => "failed to create the proxy's listeners in the network namespace",
    LandlockRule => "failed to add a Landlock rule for a private mount",
    LandlockRestrict => "failed to enforce the Landlock ruleset",
    Rlimit => "failed to set a resource limit",
    Setsid => "failed to start a new session",
    Securebits => "failed to lock the securebits",
    Capabilities => "failed to drop a capability from the bounding set",
    NoNewPrivs => "failed to set no_new_privs",
    NotDumpable => "failed to make the sandbox's init process non-dumpable",
    Seccomp => "failed to install the seccomp filter",
    Signals => "failed to set up signal handling",
    Fork => "failed to start the server process",
    CloseFds => "failed to keep inherited file descriptors from the server",
    Exec => "failed to execute the server",
    ObserveChannel => "failed to hand the observe-mode listener to mcpcell",
    Stdio => "failed to connect the server's stdio to mcpcell's relay",
    MountAttrs => "failed to set a granted path's mount flags (read-only, no-exec, no-setuid)",
    ReadOnlyRoot => "failed to make the sandbox's root read-only",
    Symlink => "failed to recreate a symbolic link on the way to a granted path",
    Route => "failed to route every address to loopback (for the proxy's transparent listeners)",
    ProxyChannel => "failed to hand the proxy's listeners to mcpcell",
    Capset => "failed to set the capability sets to those the profile keeps",
    AmbientClear => "failed to clear the ambient capability set",
    AmbientRaise => "failed to raise a kept capability into the ambient set",
    JoinNetwork => "failed to enter the network namespace made for the sandbox",
    Pin => "failed to make a directory on the way to a read-only or hidden path a mount point (which the server cannot rename)",
}

impl Step {
    pub fn from_u32(v: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == v)
    }

    /// Whether the step is one of the mount plan's (its index is the operation's).
    fn is_mount(self) -> bool {
        matches!(
            self,
            Step::MountPrivate
                | Step::MountRoot
                | Step::MountTmp
                | Step::MountShm
                | Step::BindIntoPrivate
                | Step::MountAttrs
                | Step::Symlink
                | Step::Resolver
                | Step::MountProc
                | Step::Hide
                | Step::Pin
                | Step::ReadOnlyRoot
                | Step::PivotRoot
        )
    }
}

/// What the child sends when a step fails: 12 bytes, written with one write(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub step: Step,
    /// Which item the step was working on: the operation of the mount plan for a mount step,
    /// the entry for a list step (cgroup, Landlock rule, rlimit, listener, stdio descriptor),
    /// the capability number for a capability step, the signal for a handler; otherwise 0
    /// (loopback numbers its three calls).
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

/// The indices of [`Step::JoinNetwork`]: which network namespace the init was entering.
pub(super) mod join {
    /// One the init makes itself, when no helper made one.
    pub const OWN: u32 = 1;
    /// Waiting for the helper that makes it (an ordinary user's launch).
    pub const WAIT: u32 = 2;
    /// The one the helper made.
    pub const HELPERS: u32 = 3;

    /// Which namespace index `i` stands for, for the message.
    pub fn describe(i: u32) -> &'static str {
        match i {
            OWN => "one made by the sandbox's init itself",
            WAIT => "while waiting for the helper that makes it",
            _ => "the one made by the init's helper",
        }
    }
}

impl Prepared {
    /// Names the item a failed step was working on (a path, a capability), for the message.
    pub fn describe(&self, f: Failure) -> Option<String> {
        let i = f.index as usize;
        match f.step {
            s if s.is_mount() => self.mounts.as_ref()?.describe(s, i),
            Step::LandlockRule => self.private_rules.get(i).map(|r| r.0.display().to_string()),
            Step::Capabilities | Step::AmbientRaise => caps::all()
                .into_iter()
                .find(|c| usize::from(c.index()) == i)
                .map(|c| c.to_string()),
            // The listeners in the order net.rs creates them.
            Step::ProxySockets => {
                let px = self.proxy.as_ref()?;
                match i {
                    0 => Some(format!("the proxy's port {}", px.proxy_port)),
                    1 => Some("the DNS port 53".into()),
                    n => Some(format!("port {}", px.transparent_ports.get(n - 2)?)),
                }
            }
            Step::Exec => Some(self.exec_path.to_string_lossy().into_owned()),
            Step::Chdir => Some(self.chdir.to_string_lossy().into_owned()),
            Step::JoinNetwork => Some(join::describe(f.index).into()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_listed_and_described() {
        // Numbered 1, 2, ... in the order listed, so that decoding finds each one.
        for (i, s) in Step::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32 + 1, "{s:?}");
            assert_eq!(Step::from_u32(*s as u32), Some(*s));
            assert!(s.describe().starts_with("failed to "), "{s:?}");
        }
        assert_eq!(Step::from_u32(0), None);
        assert_eq!(Step::from_u32(Step::ALL.len() as u32 + 1), None);
        // No two steps read the same.
        let mut texts: Vec<&str> = Step::ALL.iter().map(|s| s.describe()).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), Step::ALL.len());
    }

    #[test]
    fn each_way_into_the_network_namespace_reads_differently() {
        let ways = [join::OWN, join::WAIT, join::HELPERS];
        let mut texts: Vec<&str> = ways.iter().map(|&i| join::describe(i)).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), ways.len(), "{texts:?}");
    }

    #[test]
    fn failures_round_trip() {
        for &s in Step::ALL {
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
