//! The namespace-free enforcement tier: how each promise is kept where namespaces are refused
//! (containers' default seccomp profiles, Ubuntu's AppArmor restriction, nested sandboxes),
//! layer by layer, and what is lost.
//!
//! mcpcell prefers namespaces; a launch that finds them refused switches to this tier by
//! itself. Every promise there is either kept by another mechanism (Landlock, seccomp, the
//! sandbox's init) or listed as a [`Loss`]: a launch with losses exits 125 naming them unless
//! `--best-effort` accepts them, and a loss that would let the server out where the profile
//! says it may not go (`network: proxy`) is refused even then.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::fs::{FsRule, Placement};
use super::{Gap, Plan};
use crate::kernel::Kernel;
use crate::profile::NetworkMode;
use crate::seccomp::{self, Action, CompileError, Member, Qualified};

/// What one layer of the tier does.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// The promise, as `--dry-run` names it: `filesystem`, `network none`, `processes`, ...
    pub layer: String,
    /// The mechanism that keeps it here, and what the server sees.
    pub how: String,
}

/// A promise this tier cannot keep.
#[derive(Debug, Clone, Serialize)]
pub struct Loss {
    pub what: String,
    pub why: String,
    /// Whether `--best-effort` may accept it. A loss that would let traffic out where the
    /// profile names a narrower path is never accepted: the launch fails closed.
    pub acceptable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    pub name: &'static str,
    /// Why this tier applies (what refused the namespaces).
    pub why: String,
    pub layers: Vec<Layer>,
    pub losses: Vec<Loss>,
}

/// The facts about a launch that decide the tier's layers.
#[derive(Debug, Clone)]
pub struct Facts {
    pub landlock_abi: i32,
    pub seccomp: bool,
    pub privileged: bool,
    /// CAP_SETPCAP held: the bounding set can be emptied (root, in a container too).
    pub setpcap: bool,
    /// uid 0 (in a container too), whom RLIMIT_NPROC does not bind.
    pub root: bool,
    pub mode: NetworkMode,
    pub unix: bool,
    pub hides: usize,
    /// Places git runs later that the namespace tier makes read-only inside a writable
    /// grant ([`super::runs_later`]).
    pub runs_later: usize,
    pub tmp_size: bool,
    /// A host grant holding the host's temporary directory, where the tier makes every
    /// sandbox's private one ([`granted_tmpdir`]).
    pub tmpdir_granted: Option<PathBuf>,
    /// Observe mode (`learn`): its listener takes the seccomp notifications, so network
    /// mode proxy has no supervisor of its own.
    pub observed: bool,
}

/// The host's temporary directory: TMPDIR when it names an absolute path, `/tmp` otherwise
/// (an empty or relative TMPDIR would put the tier's private directories where mcpcell
/// happens to run, a directory often granted).
pub fn host_temp_dir() -> PathBuf {
    let t = std::env::temp_dir();
    if t.is_absolute() {
        t
    } else {
        PathBuf::from("/tmp")
    }
}

/// The first host grant of `rules` that holds the host's temporary directory (TMPDIR, or
/// `/tmp`), where the tier makes every sandbox's private directory: the server would reach
/// the other sandboxes' there. A grant of `/tmp` is the private directory itself, never the
/// host's; a grant of `/` reaches everything, and says so by itself.
pub fn granted_tmpdir(rules: &[FsRule]) -> Option<PathBuf> {
    let host = host_temp_dir();
    let host = std::fs::canonicalize(&host).unwrap_or(host);
    rules
        .iter()
        .find(|r| {
            r.placement != Placement::Private
                && r.path != Path::new("/")
                && host.starts_with(&r.path)
        })
        .map(|r| r.path.clone())
}

impl Facts {
    pub fn of(plan: &Plan) -> Facts {
        Facts {
            landlock_abi: plan.landlock.abi,
            seccomp: plan.kernel.seccomp_filter,
            privileged: plan.kernel.privileged,
            setpcap: plan.kernel.privileged || plan.kernel.setpcap,
            root: plan.kernel.euid == 0,
            mode: plan.network.mode,
            unix: !plan.network.unix.is_empty(),
            hides: plan.filesystem.carved_out(),
            runs_later: plan
                .filesystem
                .rules
                .iter()
                .filter(|r| super::runs_later::only_protected(r))
                .count(),
            tmp_size: plan.tmp_size.is_some(),
            tmpdir_granted: granted_tmpdir(&plan.filesystem.rules),
            observed: !plan.observed.is_empty(),
        }
    }

    /// A profile like `default` in network mode `mode` (for `doctor`).
    pub fn typical(k: &Kernel, mode: NetworkMode) -> Facts {
        Facts {
            landlock_abi: k.landlock_abi,
            seccomp: k.seccomp_filter,
            privileged: k.privileged,
            setpcap: k.privileged || k.setpcap,
            root: k.euid == 0,
            mode,
            unix: false,
            hides: 1,
            runs_later: 0,
            tmp_size: false,
            tmpdir_granted: None,
            observed: false,
        }
    }
}

/// The Landlock ABI that scopes signals and abstract Unix sockets (Linux 6.12): the tier's
/// process isolation and its way of killing the whole tree both rest on it.
pub const SCOPE_ABI: i32 = 6;

/// The Landlock ABI that refuses TCP connect and bind (Linux 6.7): network mode proxy rests
/// on it without a network namespace (see `crate::netguard`).
pub const PROXY_ABI: i32 = 4;

fn layer(layer: &str, how: impl Into<String>) -> Layer {
    Layer {
        layer: layer.into(),
        how: how.into(),
    }
}

/// What keeps every promise: namespaces.
pub const COMMON_FIX: &str = "run where user namespaces are allowed (see `mcpcell doctor`)";

fn loss(what: &str, why: impl Into<String>) -> Loss {
    Loss {
        what: what.into(),
        why: why.into(),
        acceptable: true,
        fix: Some(COMMON_FIX.into()),
    }
}

/// The namespace-free tier for a launch with these facts; `why` says what refused the
/// namespaces.
pub fn namespace_free(f: &Facts, why: &str) -> Tier {
    let mut layers = Vec::new();
    let mut losses = Vec::new();
    let abi = f.landlock_abi;
    let scoped = abi >= SCOPE_ABI;

    if abi >= 1 {
        layers.push(layer(
            "filesystem",
            format!("Landlock (ABI {abi}) alone: only the granted paths can be read, written or executed; there is no root of granted paths"),
        ));
        losses.push(loss(
            "names and metadata outside the grants",
            "stat, readlink, access, extended attributes and inotify watches of any host path still answer (contents stay denied): only a mount namespace can make a path not exist",
        ));
        losses.push(loss(
            "no-exec of written files by every route",
            "Landlock checks execve only; code written into a writable grant can still be mapped executable (the dynamic loader, mmap), which the namespace tier's no-exec mounts refuse",
        ));
    } else {
        losses.push(loss(
            "filesystem grants",
            "without Landlock and without a mount namespace nothing restricts file access",
        ));
    }
    if f.seccomp {
        layers.push(layer(
            "metadata",
            if f.observed {
                "seccomp refuses every change of mode, owner, times and extended attributes (chmod, chown, utimensat, setxattr and their variants, by path or descriptor): Landlock does not govern metadata and there are no read-only mounts, so this is what keeps the host's files, and root's, unchanged; while observing, a program that sets modes or times on its own files gets EPERM"
            } else {
                "Landlock does not govern metadata and there are no read-only mounts, so every chmod, chown and utimes (and their variants, by path or descriptor) waits for mcpcell (seccomp user notification), which opens the file itself, checks that the inode it holds lies beneath a write grant (not hidden, one link only, the server's own) and makes the change itself: files the server may write change as usual (npm's copyFile, uv), the host's files and root's stay unchanged (EPERM); setuid and setgid modes, changes of owner and extended attributes are refused"
            },
        ));
    } else {
        losses.push(loss(
            "metadata of files outside the grants",
            "Landlock does not govern chmod, chown, utimes or setxattr, and no seccomp filter is available to refuse them",
        ));
    }
    if f.hides > 0 && abi >= 1 {
        layers.push(layer(
            "hide",
            "Landlock rules instead of masks and read-only mounts: a granted directory above a hidden path, or above a grant with fewer rights (a read-only file inside a writable project), is granted entry by entry, that branch left out (it keeps only its own grant); the directories leading to it cannot be listed, and entries made there after the start are not granted",
        ));
    }
    if f.runs_later > 0 {
        losses.push(loss(
            "read-only places inside writable grants that git runs later (hooks, configuration, a worktree's .git file)",
            format!(
                "{} such place(s) stay writable: Landlock cannot make part of a writable directory read-only without leaving that directory's new entries ungranted, which would break git (its lock files in .git)",
                f.runs_later
            ),
        ));
    }
    layers.push(layer(
        "/tmp",
        "a private directory, created 0700 in the host's temporary directory and removed at exit, granted read+write and named by TMPDIR; /tmp itself and /dev/shm are denied, so a program that ignores TMPDIR gets EACCES there",
    ));
    if let Some(g) = &f.tmpdir_granted {
        losses.push(Loss {
            what: "the other sandboxes' private temporary directories".into(),
            why: format!(
                "the grant of {} holds the host's temporary directory {}, where every sandbox without namespaces has its private /tmp: the server could read and write theirs",
                g.display(),
                host_temp_dir().display()
            ),
            acceptable: false,
            fix: Some("grant a directory inside it instead, or start mcpcell with TMPDIR set to a directory outside the grants".into()),
        });
    }
    if f.tmp_size {
        losses.push(loss(
            "limits.tmp_size",
            "the private temporary directory lies on the host's filesystem, not on a tmpfs of that size",
        ));
    }
    layers.push(layer(
        "/proc",
        "the host's /proc, read-only: Landlock keeps other processes' environment, memory and descriptors out (ptrace-mode checks)",
    ));
    losses.push(loss(
        "a process world of its own",
        "without a PID namespace the server sees the host's process list and other processes' command lines in /proc",
    ));

    match f.mode {
        NetworkMode::None if f.seccomp => layers.push(layer(
            "network none",
            format!(
                "seccomp refuses inet and inet6 sockets{}: TCP, UDP and DNS are all refused; there is no loopback of the sandbox's own, and routing-netlink sockets still list the host's interfaces",
                if abi >= 4 {
                    ", and Landlock refuses TCP bind and connect"
                } else {
                    ""
                }
            ),
        )),
        NetworkMode::None => losses.push(loss(
            "network mode none",
            "neither a network namespace nor a seccomp filter is available",
        )),
        NetworkMode::Host => layers.push(layer(
            "network host",
            "the host's network, as in the namespace tier: Landlock's TCP port rules and the seccomp filter's transport rules",
        )),
        NetworkMode::Proxy if f.seccomp && abi >= PROXY_ABI && !f.observed => {
            layers.push(layer(
                "network proxy",
                "seccomp user notification connects only to mcpcell's proxy: every connect(2) waits for mcpcell, which connects a socket of its own to the proxy and puts it in place of the server's when the server asked for the proxy's address (HTTP_PROXY, 127.0.0.1), and refuses every other address, port and IPv6 form (ECONNREFUSED, logged with a hint), so nothing the server changes after the check counts; Landlock refuses every TCP connect and bind of the server's own; UDP, raw and other sockets, TCP Fast Open and io_uring are refused; only Unix sockets may listen",
            ));
            losses.push(loss(
                "proxy-unaware clients reaching allowed hosts",
                "without a network namespace there is no DNS responder and no transparent listener: a client that ignores HTTP_PROXY/HTTPS_PROXY (Node's fetch, plain sockets) cannot resolve names or connect and fails closed; proxy-aware clients (curl, npm, pip, Python's urllib and httpx) work",
            ));
        }
        NetworkMode::Proxy => losses.push(Loss {
            what: "network mode proxy".into(),
            why: if f.observed {
                "observe mode's listener takes the seccomp notifications that confine the server to mcpcell's proxy without a network namespace".into()
            } else {
                format!("without a network namespace, confining the server to mcpcell's proxy needs seccomp user notification and Landlock ABI {PROXY_ABI} (Linux 6.7) to refuse its own TCP connects; this kernel has ABI {abi}{}", if f.seccomp { "" } else { " and no seccomp filter" })
            },
            acceptable: false,
            fix: Some("run where user namespaces are allowed (see `mcpcell doctor`), or use network mode none, or host with network.connect ports".into()),
        }),
    }
    if f.unix && abi < 9 {
        losses.push(Loss {
            what: "network.unix: only the listed sockets".into(),
            why: format!("without the sandbox's own root, limiting connect(2) by path needs Landlock ABI 9 (Linux 7.1); this kernel has ABI {abi}, so any host socket (the Docker socket, ssh-agent, D-Bus) could be reached"),
            acceptable: false,
            fix: Some(COMMON_FIX.into()),
        });
    }

    if scoped {
        layers.push(layer(
            "processes",
            "Landlock scoping: no signals to, and no abstract Unix sockets of, processes outside the sandbox; ptrace and process_vm_* are refused by seccomp (@default) and by Landlock outside the sandbox; seccomp refuses changing any other process's limits, scheduling or I/O priority (prlimit64, sched_set*, setpriority, ioprio_set with a pid, a group or a user)",
        ));
    } else {
        losses.push(loss(
            "signals and abstract Unix sockets of host processes",
            format!(
                "Landlock scoping needs ABI {SCOPE_ABI} (Linux 6.12); this kernel has ABI {abi}"
            ),
        ));
    }
    if f.seccomp {
        layers.push(layer(
            "ipc",
            "seccomp refuses System V IPC and POSIX message queues, which without an IPC namespace are the host's",
        ));
    } else {
        losses.push(loss(
            "private System V IPC",
            "neither an IPC namespace nor a seccomp filter is available",
        ));
    }
    if scoped {
        layers.push(layer(
            "lifecycle",
            "the sandbox's init is a child subreaper; when mcpcell dies (even by SIGKILL) or the server exits, it kills every process of the sandbox's Landlock domain (kill -1 under signal scoping reaches nothing else), and the server runs in a nested domain, so it cannot kill the init",
        ));
    } else {
        losses.push(loss(
            "processes the server starts die with mcpcell",
            format!("without a PID namespace, killing the whole tree needs Landlock ABI {SCOPE_ABI}; only the server itself dies with mcpcell"),
        ));
    }
    // For root, RLIMIT_NPROC binds nothing: the plan needs a pids cgroup instead, or names the
    // limit as lost.
    if !f.privileged && !f.root {
        layers.push(layer(
            "limits.processes",
            "RLIMIT_NPROC counts every process of this user on the host, not only the sandbox's (the namespace tier counts those of its user namespace): the limit is as strict or stricter",
        ));
    }
    if f.setpcap {
        layers.push(layer(
            "capabilities",
            "every set emptied, the bounding set included (root)",
        ));
    } else {
        losses.push(loss(
            "an empty capability bounding set",
            "an ordinary user cannot empty it without a user namespace; it is inert (no_new_privs, and every other set is empty)",
        ));
    }
    Tier {
        name: "namespace-free",
        why: why.to_string(),
        layers,
        losses,
    }
}

impl Tier {
    /// The losses as the plan's gaps.
    pub fn gaps(&self) -> Vec<Gap> {
        self.losses
            .iter()
            .map(|l| Gap {
                what: l.what.clone(),
                why: format!("{} (namespace-free tier)", l.why),
                fix: l.fix.clone(),
            })
            .collect()
    }

    /// What `--dry-run` and the launch log show: the tier and its layers (the losses are
    /// listed with what is not enforced).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("enforcement tier: {} ({})", self.name, self.why)];
        for l in &self.layers {
            out.push(format!("  {}: {}", l.layer, l.how));
        }
        out
    }
}

/// System V IPC and POSIX message queues: the host's, without an IPC namespace.
const IPC: [&str; 17] = [
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
];

/// Changing mode, owner and times: Landlock does not govern it, and the namespace tier's
/// read-only mounts are not there. By path and by descriptor: a descriptor opened for reading
/// (a read-only grant, /etc/passwd) is enough to change a file's mode. mcpcell's supervisor
/// makes these changes itself on files beneath the write grants (`crate::netguard::meta`);
/// where it cannot take the notifications (observe mode), they are refused.
pub const SUPERVISED_METADATA: [&str; 12] = [
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "futimesat",
    "utimensat",
];

/// Extended attributes: refused outright, in the write grants too (ACLs and capabilities
/// are extended attributes).
const XATTRS: [&str; 9] = [
    // Inode flags by path (Linux 6.17), what the chattr ioctls set.
    "file_setattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "setxattrat",
    "removexattrat",
];

/// Whether the supervisor answers the tier's metadata calls: it needs the filter's one
/// listener, which observe mode takes for itself.
pub fn supervises_metadata(plan: &Plan) -> bool {
    plan.kernel.seccomp_filter && plan.observed.is_empty()
}

/// Network mode proxy without a namespace (`crate::netguard`): `connect` and `listen` go to
/// mcpcell; everything that opens a flow without `connect` is refused: datagram, raw and
/// other internet sockets and families, TCP Fast Open, and io_uring (whose operations no
/// filter sees), whatever the profile lifted.
fn proxy_members(plan: &Plan) -> Vec<(Member, Action)> {
    let mut out = vec![
        (Member::Syscall("connect"), Action::Notify),
        (Member::Syscall("listen"), Action::Notify),
    ];
    for q in [
        Qualified::SocketUdp,
        Qualified::SocketInetOther,
        Qualified::SocketOtherFamily,
        Qualified::SocketpairOtherFamily,
        Qualified::SocketNetlinkOther,
        Qualified::SendtoFastopen,
        Qualified::SendmsgFastopen,
        Qualified::SendmmsgFastopen,
    ] {
        let m = Member::Qualified(q);
        if !plan.seccomp.denied.iter().any(|d| d.name == m.name()) {
            out.push((m, seccomp::action_for(m, plan.seccomp.on_violation)));
        }
    }
    for name in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
        if !plan.seccomp.denied.iter().any(|d| d.name == name) {
            out.push((Member::Syscall(name), Action::Errno(libc::ENOSYS as u32)));
        }
    }
    out
}

/// The plan's seccomp program with the tier's additions: inet sockets refused in network
/// mode none, IPC, extended attributes and inode flags refused, mode, owner and times sent
/// to mcpcell.
pub fn seccomp_program(plan: &Plan) -> Result<seccompiler::BpfProgram, CompileError> {
    let mut members: Vec<(Member, Action)> = plan
        .observed
        .iter()
        .map(|&name| (Member::Syscall(name), Action::Notify))
        .collect();
    members.extend(plan.seccomp.denied.iter().map(|d| {
        let m = Qualified::from_name(d.name)
            .map(Member::Qualified)
            .unwrap_or(Member::Syscall(d.name));
        (m, d.action)
    }));
    if plan.network.mode == NetworkMode::None {
        let m = Member::Qualified(Qualified::SocketInet);
        members.push((m, seccomp::action_for(m, plan.seccomp.on_violation)));
    }
    if plan.network.mode == NetworkMode::Proxy && plan.observed.is_empty() {
        members.extend(proxy_members(plan));
    }
    let supervised = supervises_metadata(plan);
    let refused = IPC.iter().chain(&XATTRS);
    let metadata = SUPERVISED_METADATA.iter();
    for (name, notify) in refused
        .map(|n| (n, false))
        .chain(metadata.map(|n| (n, supervised)))
    {
        // A profile's own denial stands.
        if plan.seccomp.denied.iter().any(|d| d.name == *name) {
            continue;
        }
        let action = match notify {
            true => Action::Notify,
            false => Action::Errno(libc::EPERM as u32),
        };
        members.push((Member::Syscall(name), action));
    }
    // Inode flags (`chattr`) and encryption policies and keys are host state too, and a
    // descriptor opened for reading is enough to change them: refused whatever the profile
    // lifted.
    // So are the limits and scheduling of the host's processes, which any process of the
    // same user may change by pid (signal scoping does not cover it): a low RLIMIT_CPU
    // has the kernel kill them, the sandbox's init included.
    let other_processes = Qualified::ALL.iter().filter(|q| q.of_other_processes());
    let host_state = [Qualified::IoctlInodeFlags, Qualified::IoctlFscrypt];
    for &q in host_state.iter().chain(other_processes) {
        let m = Member::Qualified(q);
        if !plan.seccomp.denied.iter().any(|d| d.name == m.name()) {
            members.push((m, Action::Errno(libc::EPERM as u32)));
        }
    }
    seccomp::compile(&members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(mode: NetworkMode, abi: i32) -> Facts {
        Facts {
            landlock_abi: abi,
            seccomp: true,
            privileged: false,
            setpcap: false,
            root: false,
            mode,
            unix: false,
            hides: 0,
            runs_later: 0,
            tmp_size: false,
            tmpdir_granted: None,
            observed: false,
        }
    }

    #[test]
    fn proxy_mode_is_kept_by_the_supervisor_where_landlock_refuses_tcp() {
        let t = namespace_free(&facts(NetworkMode::Proxy, 7), "test");
        let net = t
            .layers
            .iter()
            .find(|l| l.layer == "network proxy")
            .unwrap();
        assert!(
            net.how.contains("connects only to mcpcell's proxy"),
            "{}",
            net.how
        );
        assert!(t.losses.iter().all(|l| l.acceptable));
        assert!(t.losses.iter().any(|l| l.what.starts_with("proxy-unaware")));
        // Without Landlock's TCP rules, without seccomp, or while observing: refused, even
        // with --best-effort.
        let mut weak = vec![facts(NetworkMode::Proxy, 3)];
        let mut f = facts(NetworkMode::Proxy, 7);
        f.seccomp = false;
        weak.push(f.clone());
        f.seccomp = true;
        f.observed = true;
        weak.push(f);
        for f in weak {
            let t = namespace_free(&f, "test");
            let proxy = t
                .losses
                .iter()
                .find(|l| l.what == "network mode proxy")
                .unwrap();
            assert!(!proxy.acceptable, "{f:?}");
            assert!(t.layers.iter().all(|l| !l.layer.contains("network")));
        }
    }

    #[test]
    fn network_none_is_kept_by_seccomp() {
        let t = namespace_free(&facts(NetworkMode::None, 7), "test");
        let net = t.layers.iter().find(|l| l.layer == "network none").unwrap();
        assert!(net.how.contains("seccomp refuses inet"), "{}", net.how);
        assert!(net.how.contains("Landlock refuses TCP"), "{}", net.how);
        assert!(t.losses.iter().all(|l| l.acceptable));
        let mut no_seccomp = facts(NetworkMode::None, 7);
        no_seccomp.seccomp = false;
        let t = namespace_free(&no_seccomp, "test");
        assert!(t.losses.iter().any(|l| l.what == "network mode none"));
    }

    #[test]
    fn old_landlock_loses_scoping_and_the_tree() {
        let t = namespace_free(&facts(NetworkMode::None, 5), "test");
        assert!(t.layers.iter().all(|l| l.layer != "lifecycle"));
        assert!(t.losses.iter().any(|l| l.what.contains("die with mcpcell")));
        assert!(t.losses.iter().any(|l| l.what.contains("signals")));
    }

    #[test]
    fn every_metadata_call_is_known_to_the_filter() {
        // A name the filter cannot number would be skipped, and the call allowed.
        for name in SUPERVISED_METADATA.iter().chain(&XATTRS).chain(&IPC) {
            assert!(seccomp::syscall_number(name).is_some(), "{name}");
        }
    }

    #[test]
    fn listed_unix_sockets_need_abi_9() {
        let mut f = facts(NetworkMode::None, 7);
        f.unix = true;
        let t = namespace_free(&f, "test");
        assert!(
            t.losses
                .iter()
                .any(|l| l.what.starts_with("network.unix") && !l.acceptable)
        );
        f.landlock_abi = 9;
        let t = namespace_free(&f, "test");
        assert!(!t.losses.iter().any(|l| l.what.starts_with("network.unix")));
    }
}
