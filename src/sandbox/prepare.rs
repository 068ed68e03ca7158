//! Plan → [`Prepared`]: the last allocations before fork. Strings become C strings, the
//! Landlock ruleset is created with every rule that can be added from outside, the execve
//! vectors are built, so that the child only makes system calls.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetError, Scope,
};
use thiserror::Error;

use super::channel::Channels;
use super::mounts::{Layout, Mounts};
use super::{NulError, cpath, cstr};
use crate::plan::Plan;
use crate::plan::fs::{Kind, Placement};
use crate::profile::NetworkMode;

#[derive(Debug, Error)]
pub enum PrepareError {
    /// The landlock crate's messages end with their cause (`failed to create a ruleset:
    /// {source}`), so its error is part of this message rather than its source: as a source,
    /// that cause would be printed a second time.
    #[error("failed to set up the Landlock ruleset: {0}")]
    Landlock(RulesetError),
    #[error(transparent)]
    Nul(#[from] NulError),
    #[error("the sandbox was prepared without its {0} channel to mcpcell")]
    NoChannel(&'static str),
    #[error("failed to list a granted directory to leave a hidden path out of its rules")]
    Hide(#[source] std::io::Error),
    #[error("failed to open the sandbox's private temporary directory")]
    Tmp(#[source] std::io::Error),
}

impl From<RulesetError> for PrepareError {
    fn from(e: RulesetError) -> PrepareError {
        PrepareError::Landlock(e)
    }
}

pub struct Prepared {
    pub clone_flags: libc::c_int,
    /// `/proc/self/uid_map` and `gid_map` lines, with a user namespace.
    pub id_maps: Option<(CString, CString)>,
    pub mounts: Option<Mounts>,
    pub chdir: CString,
    pub loopback: bool,
    /// The init has a helper make the network namespace while it mounts (`nethelper`):
    /// the clone leaves `CLONE_NEWNET` out.
    pub net_helper: bool,
    pub ruleset: Option<RulesetCreated>,
    /// Rules for paths that exist only inside the sandbox (the private mounts).
    pub private_rules: Vec<(PathBuf, BitFlags<AccessFs>)>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    pub caps_keep: u64,
    pub cap_last_cap: u32,
    /// Whether the child holds CAP_SETPCAP (root, or inside its user namespace): only then
    /// can it lock the securebits and empty the bounding set.
    pub can_setpcap: bool,
    pub seccomp: Option<seccompiler::BpfProgram>,
    pub exec_path: CString,
    _argv: Vec<CString>,
    pub argv_ptrs: Vec<*const libc::c_char>,
    _envp: Vec<CString>,
    pub envp_ptrs: Vec<*const libc::c_char>,
    /// The join file of each of the sandbox's cgroups (pids for root, memory): `tasks` on v1,
    /// `cgroup.procs` on v2 (see `cgroup::join_file`).
    pub cgroup_procs: Vec<RawFd>,
    /// Proxy mode: the listeners to create inside the network namespace.
    pub proxy: Option<ProxySockets>,
    /// Observe mode: the sandbox's end of the socketpair its seccomp listener travels over.
    pub observe_channel: Option<RawFd>,
    /// The pipe ends the server gets as stdin, stdout and stderr where mcpcell relays them
    /// (a terminal, or stderr watched for denials); `None` passes mcpcell's own through.
    pub stdio: [Option<RawFd>; 3],
    /// The code pages the sandbox's init drops once the server runs.
    pub code_pages: &'static [crate::residency::Range],
    /// The namespace-free tier (`crate::sandbox::tier`): the init is a subreaper and not
    /// tied to mcpcell by a death signal (it must live to kill the tree).
    pub namespace_free: bool,
    /// The init kills its whole Landlock domain when it leaves, and the server enters a
    /// nested domain (namespace-free tier with signal scoping).
    pub kill_tree: bool,
}

/// The sockets the sandbox creates for the proxy and hands to mcpcell, in this order: the
/// proxy port, the DNS socket, then one listener per transparent port.
pub struct ProxySockets {
    pub proxy_port: u16,
    pub transparent_ports: Vec<u16>,
    /// The sandbox's end of the socketpair the descriptors travel over.
    pub channel: RawFd,
}

/// How much of the plan's isolation the launch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Every namespace the plan lists.
    Full,
    /// No namespaces at all (`--best-effort` when user namespaces are refused).
    NoNamespaces,
}

impl Prepared {
    /// Everything the child needs to apply `plan`, talking to mcpcell over `channels`.
    pub fn new(
        plan: &Plan,
        isolation: Isolation,
        cgroup_procs: Vec<RawFd>,
        channels: Channels,
    ) -> Result<Prepared, PrepareError> {
        let full = isolation == Isolation::Full;
        let abi = ABI::from(plan.kernel.landlock_abi);

        let id_maps = if full && plan.namespaces.user {
            let (u, g) = (plan.kernel.euid, plan.kernel.egid);
            Some((
                cstr(format!("{u} {u} 1\n").as_bytes())?,
                cstr(format!("{g} {g} 1\n").as_bytes())?,
            ))
        } else {
            None
        };

        let mounts = if full {
            Some(Mounts::build(&Layout {
                fs: &plan.filesystem,
                unix: &plan.network.unix,
                cwd: &plan.cwd,
                resolver: plan.network.proxy.is_some(),
                tmp_size: plan.tmp_size,
                granted_view: plan.granted_view,
                device_copies: channels.device_copies,
            })?)
        } else {
            None
        };

        let (ruleset, mut private_rules) = if plan.landlock.abi > 0 {
            build_ruleset(plan, abi, full, plan.best_effort)?
        } else {
            (None, Vec::new())
        };
        // The replaced resolver files are new files: they need rules of their own.
        if let Some(m) = mounts
            .as_ref()
            .filter(|_| ruleset.is_some() && plan.observed.is_empty())
        {
            for f in m.resolver_files() {
                let read = crate::plan::fs::Rights::READ.access(abi, false);
                private_rules.push((f.clone(), read));
            }
        }
        let proxy = match (&plan.network.proxy, full) {
            (Some(px), true) => Some(ProxySockets {
                proxy_port: px.proxy_port,
                transparent_ports: px.transparent_ports.clone(),
                channel: channels.proxy.ok_or(PrepareError::NoChannel("proxy"))?,
            }),
            _ => None,
        };

        let exec_path = cpath(&plan.command.path)?;
        let argv: Vec<CString> = plan
            .command
            .argv
            .iter()
            .map(|a| cstr(a.as_bytes()))
            .collect::<Result<_, _>>()?;
        let envp: Vec<CString> = plan
            .env
            .iter()
            .map(|v| {
                let mut b = v.name.as_bytes().to_vec();
                b.push(b'=');
                b.extend_from_slice(OsStr::as_bytes(&v.value));
                cstr(&b)
            })
            .collect::<Result<_, _>>()?;
        let ptrs = |v: &Vec<CString>| {
            let mut p: Vec<*const libc::c_char> = v.iter().map(|c| c.as_ptr()).collect();
            p.push(std::ptr::null());
            p
        };
        Ok(Prepared {
            clone_flags: if full { plan.namespaces.clone_flags } else { 0 },
            id_maps,
            mounts,
            chdir: cpath(&plan.cwd)?,
            loopback: full && plan.network.mode != NetworkMode::Host,
            net_helper: false,
            ruleset,
            private_rules,
            rlimits: plan.limits.iter().map(|l| (l.resource, l.value)).collect(),
            caps_keep: plan.capabilities.mask,
            cap_last_cap: plan.kernel.cap_last_cap,
            can_setpcap: plan.kernel.privileged
                || plan.kernel.setpcap
                || (full && plan.namespaces.user),
            seccomp: plan
                .kernel
                .seccomp_filter
                .then(|| plan.seccomp.program.clone()),
            exec_path,
            argv_ptrs: ptrs(&argv),
            _argv: argv,
            envp_ptrs: ptrs(&envp),
            _envp: envp,
            cgroup_procs,
            proxy,
            observe_channel: match plan.observed.is_empty() {
                true => None,
                false => Some(channels.observe.ok_or(PrepareError::NoChannel("observe"))?),
            },
            stdio: channels.stdio,
            code_pages: crate::residency::code_ranges(),
            namespace_free: !full,
            kill_tree: !full
                && plan.landlock.abi >= crate::plan::tier::SCOPE_ABI
                && plan.kernel.landlock_abi >= crate::plan::tier::SCOPE_ABI,
        })
    }

    /// Namespace-free tier: `dir` is the server's private temporary directory, granted
    /// read+write and named by TMPDIR.
    pub fn use_private_tmp(&mut self, dir: &std::path::Path, abi: ABI) -> Result<(), PrepareError> {
        if let Some(rs) = self.ruleset.take() {
            let fd = std::fs::File::open(dir).map_err(PrepareError::Tmp)?;
            let access = crate::plan::fs::Rights::WRITE.access(abi, true);
            self.ruleset = Some(rs.add_rule(PathBeneath::new(fd, access))?);
        }
        let mut var = b"TMPDIR=".to_vec();
        var.extend_from_slice(dir.as_os_str().as_bytes());
        self._envp.retain(|v| !v.as_bytes().starts_with(b"TMPDIR="));
        self._envp.push(cstr(&var)?);
        self.envp_ptrs = self.envp_ptrs_of();
        Ok(())
    }

    fn envp_ptrs_of(&self) -> Vec<*const libc::c_char> {
        let mut p: Vec<*const libc::c_char> = self._envp.iter().map(|c| c.as_ptr()).collect();
        p.push(std::ptr::null());
        p
    }
}

type Rules = (Option<RulesetCreated>, Vec<(PathBuf, BitFlags<AccessFs>)>);

/// Creates the ruleset and adds every host rule; rules for private mounts are returned for
/// the child to add once the mounts exist. Without `--best-effort`, any mismatch between
/// what is asked and what the kernel supports is an error (the plan has already checked).
fn build_ruleset(
    plan: &Plan,
    abi: ABI,
    full: bool,
    best_effort: bool,
) -> Result<Rules, PrepareError> {
    let level = if best_effort {
        CompatLevel::BestEffort
    } else {
        CompatLevel::HardRequirement
    };
    // Observe mode watches file access instead of restricting it.
    let observe = !plan.observed.is_empty();
    let mut rs = Ruleset::default().set_compatibility(level);
    if !observe {
        rs = rs.handle_access(AccessFs::from_all(abi))?;
    }
    let host = plan.network.mode == NetworkMode::Host;
    let scoped = plan.landlock.abi >= 6;
    if observe && !scoped && !(host && plan.landlock.tcp_rules) {
        return Ok((None, Vec::new()));
    }
    // Without a network namespace, mode none refuses TCP here too (seccomp refuses the
    // sockets; this is the second layer). In mode proxy the server's connections to the
    // proxy are mcpcell's own (crate::netguard), so none of the server's is needed, and
    // refusing them all is what makes letting a Unix connect proceed safe.
    let no_tcp = matches!(plan.network.mode, NetworkMode::None | NetworkMode::Proxy);
    if !full && no_tcp && plan.landlock.abi >= 4 && !observe {
        rs = rs.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    if host && plan.landlock.tcp_rules {
        rs = rs.handle_access(AccessNet::BindTcp)?;
        if !plan.network.connect.is_empty() {
            rs = rs.handle_access(AccessNet::ConnectTcp)?;
        }
    }
    if scoped {
        rs = rs.scope(Scope::AbstractUnixSocket | Scope::Signal)?;
    }
    let mut created = rs.create()?;
    let mut private = Vec::new();
    for r in plan.filesystem.rules.iter().filter(|_| !observe) {
        let access = r.rights.access(abi, r.kind == Kind::Dir);
        match (&r.fd, r.placement) {
            (Some(fd), Placement::Host | Placement::BoundIntoPrivate) => {
                let hides = &plan.filesystem.hide;
                if !full && hides.iter().any(|h| r.path.starts_with(&h.path)) {
                    // Inside a hidden path: the mask the namespace tier mounts wins.
                    continue;
                }
                let hidden = if !full && r.kind == Kind::Dir {
                    plan.filesystem.left_out_of(r)
                } else {
                    Vec::new()
                };
                if !hidden.is_empty() {
                    let around =
                        super::tier::rules_around(fd.as_fd(), &r.path, r.rights, &hidden, abi)?;
                    for (fd, access) in around {
                        created = created.add_rule(PathBeneath::new(fd, access))?;
                    }
                    continue;
                }
                created = created.add_rule(PathBeneath::new(fd.as_fd(), access))?;
            }
            // Without a mount namespace there is no private /tmp: granting the host's would
            // defeat its purpose, so only /proc is kept.
            (_, Placement::Private) if full || r.path.starts_with("/proc") => {
                private.push((r.path.clone(), access));
            }
            _ => {}
        }
    }
    if host && plan.landlock.tcp_rules {
        for &p in &plan.network.bind {
            created = created.add_rule(NetPort::new(p, AccessNet::BindTcp))?;
        }
        for &p in &plan.network.connect {
            created = created.add_rule(NetPort::new(p, AccessNet::ConnectTcp))?;
        }
    }
    if abi as i32 >= 9 && !observe {
        for u in &plan.network.unix {
            if let Ok(fd) = landlock::PathFd::new(u) {
                created = created.add_rule(PathBeneath::new(fd, AccessFs::ResolveUnix))?;
            }
        }
    }
    Ok((Some(created), private))
}
