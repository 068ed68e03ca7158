//! Syscall groups, in systemd's vocabulary (`SystemCallFilter=`), plus mcpcell's `@default`.
//!
//! Members are syscall names, other groups (`@name`), or argument-qualified rules written
//! `name(QUALIFIER)` (see [`Qualified`]). Names that do not exist on this architecture (the
//! 32-bit `chown32`, say) are skipped when a group is expanded, as systemd does; a name a user
//! writes in a profile must exist.

pub struct Group {
    pub name: &'static str,
    pub help: &'static str,
    pub members: &'static [&'static str],
}

/// Argument-qualified rules: they deny a syscall only for some arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Qualified {
    /// `clone` with any namespace flag (`CLONE_NEWUSER`, `CLONE_NEWNS`, ...).
    CloneNamespaces,
    /// `personality` to anything but the query value or plain `PER_LINUX`.
    PersonalityChange,
    /// `ioctl(fd, TIOCSTI)`: push bytes into a terminal's input queue.
    IoctlTiocsti,
    /// `ioctl(fd, TIOCLINUX)`: console tricks, including input injection.
    IoctlTioclinux,
    /// `ioctl` that changes an inode's flags or attributes (`chattr`: `FS_IOC_SETFLAGS`,
    /// `FS_IOC_FSSETXATTR`, `FS_IOC_SETVERSION` and ext4's): a descriptor opened for reading
    /// is enough for the file's owner.
    IoctlInodeFlags,
    /// `ioctl` that adds or removes an fscrypt key or sets an encryption policy: a
    /// descriptor on the filesystem (a read grant) is enough to lock the user's encrypted
    /// directories, or to encrypt an empty one with a key nobody holds.
    IoctlFscrypt,
    /// `fcntl(fd, F_SETLEASE)`: a lease, even on a file opened for reading, holds every
    /// other process's open for writing (the host's too) for the lease-break time.
    FcntlSetlease,
    /// `execveat(fd, "", ..., AT_EMPTY_PATH)`: execute an open file, such as a memfd.
    ExecveatEmptyPath,
    /// `memfd_create` without `MFD_NOEXEC_SEAL`: a memory file that could be executed.
    MemfdExec,
    /// `shmat` with `SHM_EXEC`: System V shared memory the process can write, mapped
    /// executable.
    ShmatExec,
    /// `socket(AF_UNIX, ...)`: added by the network policy, not by a group.
    SocketUnix,
    /// `socketpair(AF_UNIX, SOCK_DGRAM)`: a datagram end can be addressed anew (`sendto` a
    /// path, `connect`), which makes it a Unix socket like `socket(AF_UNIX)`'s; added with
    /// [`Qualified::SocketUnix`]. Stream and seqpacket pairs stay connected to each other.
    SocketpairUnixDgram,
    /// `socket` of any family but AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK (vsock, packet,
    /// bluetooth, crypto, ...): network policy, always.
    SocketOtherFamily,
    /// `socketpair` of any family but AF_UNIX: network policy, always.
    SocketpairOtherFamily,
    /// `socket(AF_NETLINK, ...)` of any protocol but NETLINK_ROUTE (which libc and Node use
    /// to list interfaces): network policy, always.
    SocketNetlinkOther,
    /// `socket(AF_INET or AF_INET6, ...)` of any transport but TCP and UDP (MPTCP,
    /// UDP-Lite, SCTP, ICMP, raw, ...): network policy, always.
    SocketInetOther,
    /// `socket(AF_INET or AF_INET6, SOCK_DGRAM)`: UDP, which Landlock's port rules do not
    /// cover; network policy in host mode when `connect` is narrowed.
    SocketUdp,
    /// `socket(AF_INET or AF_INET6, ...)` of any kind: network mode `none` where there is no
    /// network namespace to hold the server (the namespace-free tier).
    SocketInet,
    /// `sendto`/`sendmsg`/`sendmmsg` with `MSG_FASTOPEN`, which connects without connect(2)
    /// and so without Landlock's port check; network policy in host mode when `connect` is
    /// narrowed.
    SendtoFastopen,
    SendmsgFastopen,
    SendmmsgFastopen,
    /// `chmod` (and `fchmod`, `fchmodat`, `fchmodat2`) to a mode with the setuid or setgid bit.
    ChmodSuid,
    FchmodSuid,
    FchmodatSuid,
    Fchmodat2Suid,
    /// `creat`, and `open`/`openat` creating a file (`O_CREAT`, `O_TMPFILE`), with the setuid
    /// or setgid bit in the mode.
    CreatSuid,
    OpenSuid,
    OpenatSuid,
    /// `mknod`/`mknodat` (a regular file too) with the setuid or setgid bit.
    MknodSuid,
    MknodatSuid,
    /// Calls that change another process's resource limits, scheduling or I/O priority by
    /// its pid (0 names the caller): without a PID namespace, the host's processes of the
    /// same user (a low `RLIMIT_CPU` has the kernel kill them). Landlock's signal scoping
    /// does not cover them: the namespace-free tier refuses them whatever the profile lifts.
    PrlimitOther,
    SchedSetschedulerOther,
    SchedSetparamOther,
    SchedSetattrOther,
    SchedSetaffinityOther,
    /// `setpriority`/`ioprio_set` of anything but the caller (`PRIO_PROCESS` /
    /// `IOPRIO_WHO_PROCESS` with 0): another process, a process group, a user.
    SetpriorityOther,
    IoprioSetOther,
}

impl Qualified {
    pub const ALL: &'static [Qualified] = &[
        Qualified::CloneNamespaces,
        Qualified::PersonalityChange,
        Qualified::IoctlTiocsti,
        Qualified::IoctlTioclinux,
        Qualified::IoctlInodeFlags,
        Qualified::IoctlFscrypt,
        Qualified::FcntlSetlease,
        Qualified::ExecveatEmptyPath,
        Qualified::MemfdExec,
        Qualified::ShmatExec,
        Qualified::SocketUnix,
        Qualified::SocketpairUnixDgram,
        Qualified::SocketOtherFamily,
        Qualified::SocketpairOtherFamily,
        Qualified::SocketNetlinkOther,
        Qualified::SocketInetOther,
        Qualified::SocketUdp,
        Qualified::SocketInet,
        Qualified::SendtoFastopen,
        Qualified::SendmsgFastopen,
        Qualified::SendmmsgFastopen,
        Qualified::ChmodSuid,
        Qualified::FchmodSuid,
        Qualified::FchmodatSuid,
        Qualified::Fchmodat2Suid,
        Qualified::CreatSuid,
        Qualified::OpenSuid,
        Qualified::OpenatSuid,
        Qualified::MknodSuid,
        Qualified::MknodatSuid,
        Qualified::PrlimitOther,
        Qualified::SchedSetschedulerOther,
        Qualified::SchedSetparamOther,
        Qualified::SchedSetattrOther,
        Qualified::SchedSetaffinityOther,
        Qualified::SetpriorityOther,
        Qualified::IoprioSetOther,
    ];

    /// Whether the rule keeps a process's limits and scheduling to itself (see
    /// [`Qualified::PrlimitOther`]).
    pub fn of_other_processes(self) -> bool {
        self.name().ends_with("(other process)")
    }

    pub fn name(self) -> &'static str {
        match self {
            Qualified::CloneNamespaces => "clone(CLONE_NEW*)",
            Qualified::PersonalityChange => "personality(change)",
            Qualified::IoctlTiocsti => "ioctl(TIOCSTI)",
            Qualified::IoctlTioclinux => "ioctl(TIOCLINUX)",
            Qualified::IoctlInodeFlags => "ioctl(FS_IOC_SETFLAGS)",
            Qualified::IoctlFscrypt => "ioctl(FS_IOC_ENCRYPTION)",
            Qualified::FcntlSetlease => "fcntl(F_SETLEASE)",
            Qualified::ExecveatEmptyPath => "execveat(AT_EMPTY_PATH)",
            Qualified::MemfdExec => "memfd_create(exec)",
            Qualified::ShmatExec => "shmat(SHM_EXEC)",
            Qualified::SocketUnix => "socket(AF_UNIX)",
            Qualified::SocketpairUnixDgram => {
                "socketpair(AF_UNIX, not SOCK_STREAM or SOCK_SEQPACKET)"
            }
            Qualified::SocketOtherFamily => "socket(other families)",
            Qualified::SocketpairOtherFamily => "socketpair(other families)",
            Qualified::SocketNetlinkOther => "socket(AF_NETLINK, not NETLINK_ROUTE)",
            Qualified::SocketInetOther => "socket(AF_INET*, not TCP or UDP)",
            Qualified::SocketUdp => "socket(AF_INET*, SOCK_DGRAM)",
            Qualified::SocketInet => "socket(AF_INET*)",
            Qualified::SendtoFastopen => "sendto(MSG_FASTOPEN)",
            Qualified::SendmsgFastopen => "sendmsg(MSG_FASTOPEN)",
            Qualified::SendmmsgFastopen => "sendmmsg(MSG_FASTOPEN)",
            Qualified::ChmodSuid => "chmod(S_ISUID|S_ISGID)",
            Qualified::FchmodSuid => "fchmod(S_ISUID|S_ISGID)",
            Qualified::FchmodatSuid => "fchmodat(S_ISUID|S_ISGID)",
            Qualified::Fchmodat2Suid => "fchmodat2(S_ISUID|S_ISGID)",
            Qualified::CreatSuid => "creat(S_ISUID|S_ISGID)",
            Qualified::OpenSuid => "open(S_ISUID|S_ISGID)",
            Qualified::OpenatSuid => "openat(S_ISUID|S_ISGID)",
            Qualified::MknodSuid => "mknod(S_ISUID|S_ISGID)",
            Qualified::MknodatSuid => "mknodat(S_ISUID|S_ISGID)",
            Qualified::PrlimitOther => "prlimit64(other process)",
            Qualified::SchedSetschedulerOther => "sched_setscheduler(other process)",
            Qualified::SchedSetparamOther => "sched_setparam(other process)",
            Qualified::SchedSetattrOther => "sched_setattr(other process)",
            Qualified::SchedSetaffinityOther => "sched_setaffinity(other process)",
            Qualified::SetpriorityOther => "setpriority(other process)",
            Qualified::IoprioSetOther => "ioprio_set(other process)",
        }
    }

    /// The syscall the rule applies to.
    pub fn syscall(self) -> &'static str {
        let n = self.name();
        &n[..n.find('(').unwrap_or(n.len())]
    }

    pub fn from_name(s: &str) -> Option<Qualified> {
        Qualified::ALL.iter().copied().find(|q| q.name() == s)
    }
}

pub static GROUPS: &[Group] = &[
    Group {
        name: "@default",
        help: "mcpcell's recommended deny set for untrusted servers: namespaces, mounts, tracing, kernel attack surface, terminal injection, fileless exec",
        members: &[
            "@clock",
            "@cpu-emulation",
            "@debug",
            "@keyring",
            "@module",
            "@mount",
            "@obsolete",
            "@raw-io",
            "@reboot",
            "@suid-sgid",
            "@swap",
            "acct",
            "bpf",
            "clone(CLONE_NEW*)",
            "clone3",
            "execveat(AT_EMPTY_PATH)",
            "fanotify_init",
            "fcntl(F_SETLEASE)",
            "file_setattr",
            "io_uring_enter",
            "io_uring_register",
            "io_uring_setup",
            "ioctl(FS_IOC_ENCRYPTION)",
            "ioctl(FS_IOC_SETFLAGS)",
            "ioctl(TIOCLINUX)",
            "ioctl(TIOCSTI)",
            "memfd_create",
            "memfd_secret",
            "shmat(SHM_EXEC)",
            "nfsservctl",
            "open_by_handle_at",
            "personality(change)",
            "process_vm_readv",
            "process_vm_writev",
            "quotactl",
            "quotactl_fd",
            "setns",
            "syslog",
            "unshare",
            "userfaultfd",
            "vhangup",
        ],
    },
    Group {
        name: "@aio",
        help: "Asynchronous IO",
        members: &[
            "io_cancel",
            "io_destroy",
            "io_getevents",
            "io_pgetevents",
            "io_setup",
            "io_submit",
            "io_uring_enter",
            "io_uring_register",
            "io_uring_setup",
        ],
    },
    Group {
        name: "@basic-io",
        help: "Basic IO",
        members: &[
            "close", "dup", "dup2", "dup3", "lseek", "pread64", "preadv", "preadv2", "pwrite64",
            "pwritev", "pwritev2", "read", "readv", "write", "writev",
        ],
    },
    Group {
        name: "@chown",
        help: "Change ownership of files and directories",
        members: &["chown", "fchown", "fchownat", "lchown"],
    },
    Group {
        name: "@clock",
        help: "Change the system time",
        members: &["adjtimex", "clock_adjtime", "clock_settime", "settimeofday"],
    },
    Group {
        name: "@cpu-emulation",
        help: "System calls for CPU emulation functionality",
        members: &[
            "modify_ldt",
            "subpage_prot",
            "switch_endian",
            "vm86",
            "vm86old",
        ],
    },
    Group {
        name: "@debug",
        help: "Debugging, performance monitoring and tracing functionality",
        members: &[
            "lookup_dcookie",
            "perf_event_open",
            "pidfd_getfd",
            "ptrace",
            "rtas",
            "sys_debug_setcontext",
        ],
    },
    Group {
        name: "@file-system",
        help: "File system operations",
        members: &[
            "access",
            "chdir",
            "chmod",
            "close",
            "creat",
            "faccessat",
            "faccessat2",
            "fallocate",
            "fchdir",
            "fchmod",
            "fchmodat",
            "fchmodat2",
            "fcntl",
            "fgetxattr",
            "flistxattr",
            "fremovexattr",
            "fsetxattr",
            "fstat",
            "fstatfs",
            "ftruncate",
            "futimesat",
            "getcwd",
            "getdents",
            "getdents64",
            "getxattr",
            "inotify_add_watch",
            "inotify_init",
            "inotify_init1",
            "inotify_rm_watch",
            "lgetxattr",
            "link",
            "linkat",
            "listxattr",
            "llistxattr",
            "lremovexattr",
            "lsetxattr",
            "lstat",
            "mkdir",
            "mkdirat",
            "mknod",
            "mknodat",
            "mmap",
            "munmap",
            "newfstatat",
            "open",
            "openat",
            "openat2",
            "readlink",
            "readlinkat",
            "removexattr",
            "rename",
            "renameat",
            "renameat2",
            "rmdir",
            "setxattr",
            "stat",
            "statfs",
            "statx",
            "symlink",
            "symlinkat",
            "truncate",
            "unlink",
            "unlinkat",
            "utime",
            "utimensat",
            "utimes",
        ],
    },
    Group {
        name: "@io-event",
        help: "Event loop system calls",
        members: &[
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_ctl_old",
            "epoll_pwait",
            "epoll_pwait2",
            "epoll_wait",
            "epoll_wait_old",
            "eventfd",
            "eventfd2",
            "poll",
            "ppoll",
            "pselect6",
            "select",
        ],
    },
    Group {
        name: "@ipc",
        help: "SysV IPC, POSIX Message Queues or other IPC",
        members: &[
            "ipc",
            "memfd_create",
            "mq_getsetattr",
            "mq_notify",
            "mq_open",
            "mq_timedreceive",
            "mq_timedsend",
            "mq_unlink",
            "msgctl",
            "msgget",
            "msgrcv",
            "msgsnd",
            "pipe",
            "pipe2",
            "process_vm_readv",
            "process_vm_writev",
            "semctl",
            "semget",
            "semop",
            "semtimedop",
            "shmat",
            "shmctl",
            "shmdt",
            "shmget",
        ],
    },
    Group {
        name: "@keyring",
        help: "Kernel keyring access",
        members: &["add_key", "keyctl", "request_key"],
    },
    Group {
        name: "@memlock",
        help: "Memory locking control",
        members: &["mlock", "mlock2", "mlockall", "munlock", "munlockall"],
    },
    Group {
        name: "@module",
        help: "Loading and unloading of kernel modules",
        members: &["delete_module", "finit_module", "init_module"],
    },
    Group {
        name: "@mount",
        help: "Mounting and unmounting of file systems",
        members: &[
            "chroot",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "open_tree_attr",
            "pivot_root",
            "umount",
            "umount2",
        ],
    },
    Group {
        name: "@network-io",
        help: "Network or Unix socket IO, should not be needed if not network facing",
        members: &[
            "accept",
            "accept4",
            "bind",
            "connect",
            "getpeername",
            "getsockname",
            "getsockopt",
            "listen",
            "recvfrom",
            "recvmmsg",
            "recvmsg",
            "sendmmsg",
            "sendmsg",
            "sendto",
            "setsockopt",
            "shutdown",
            "socket",
            "socketcall",
            "socketpair",
        ],
    },
    Group {
        name: "@obsolete",
        help: "Unusual, obsolete or unimplemented system calls",
        members: &[
            "_sysctl",
            "afs_syscall",
            "bdflush",
            "create_module",
            "get_kernel_syms",
            "getpmsg",
            "putpmsg",
            "query_module",
            "security",
            "sysfs",
            "tuxcall",
            "uselib",
            "ustat",
            "vserver",
        ],
    },
    Group {
        name: "@pkey",
        help: "System calls used for memory protection keys",
        members: &["pkey_alloc", "pkey_free", "pkey_mprotect"],
    },
    Group {
        name: "@privileged",
        help: "All system calls which need super-user capabilities",
        members: &[
            "@chown",
            "@clock",
            "@module",
            "@raw-io",
            "@reboot",
            "@swap",
            "_sysctl",
            "acct",
            "bpf",
            "capset",
            "chroot",
            "fanotify_init",
            "fanotify_mark",
            "nfsservctl",
            "open_by_handle_at",
            "pivot_root",
            "quotactl",
            "setdomainname",
            "setfsuid",
            "setgroups",
            "sethostname",
            "setresuid",
            "setreuid",
            "setuid",
            "vhangup",
        ],
    },
    Group {
        name: "@process",
        help: "Process control, execution, namespacing operations",
        members: &[
            "capget",
            "clone",
            "clone3",
            "execveat",
            "fork",
            "getrusage",
            "kill",
            "pidfd_open",
            "pidfd_send_signal",
            "prctl",
            "rt_sigqueueinfo",
            "rt_tgsigqueueinfo",
            "setns",
            "swapcontext",
            "tgkill",
            "times",
            "tkill",
            "unshare",
            "vfork",
            "wait4",
            "waitid",
        ],
    },
    Group {
        name: "@raw-io",
        help: "Raw I/O port access",
        members: &[
            "ioperm",
            "iopl",
            "pciconfig_iobase",
            "pciconfig_read",
            "pciconfig_write",
        ],
    },
    Group {
        name: "@reboot",
        help: "Reboot and reboot preparation/kexec",
        members: &["kexec_file_load", "kexec_load", "reboot"],
    },
    Group {
        name: "@resources",
        help: "Alter resource settings",
        members: &[
            "ioprio_set",
            "mbind",
            "migrate_pages",
            "move_pages",
            "nice",
            "sched_setaffinity",
            "sched_setattr",
            "sched_setparam",
            "sched_setscheduler",
            "set_mempolicy",
            "setpriority",
            "setrlimit",
        ],
    },
    Group {
        name: "@sandbox",
        help: "Sandbox set-up: Landlock and seccomp",
        members: &[
            "landlock_add_rule",
            "landlock_create_ruleset",
            "landlock_restrict_self",
            "seccomp",
        ],
    },
    Group {
        name: "@setuid",
        help: "Operations for changing user/group credentials",
        members: &[
            "setgid",
            "setgroups",
            "setregid",
            "setresgid",
            "setresuid",
            "setreuid",
            "setuid",
        ],
    },
    Group {
        name: "@signal",
        help: "Process signal handling",
        members: &[
            "rt_sigaction",
            "rt_sigpending",
            "rt_sigprocmask",
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "sigaltstack",
            "signalfd",
            "signalfd4",
        ],
    },
    Group {
        name: "@suid-sgid",
        help: "Setting the setuid or setgid bit on a file (as systemd's RestrictSUIDSGID= refuses): a sandbox running as root could otherwise leave a setuid-root program in a granted directory for someone outside to run. openat2, whose mode the filter cannot see, answers ENOSYS",
        members: &[
            "chmod(S_ISUID|S_ISGID)",
            "creat(S_ISUID|S_ISGID)",
            "fchmod(S_ISUID|S_ISGID)",
            "fchmodat(S_ISUID|S_ISGID)",
            "fchmodat2(S_ISUID|S_ISGID)",
            "mknod(S_ISUID|S_ISGID)",
            "mknodat(S_ISUID|S_ISGID)",
            "open(S_ISUID|S_ISGID)",
            "openat(S_ISUID|S_ISGID)",
            "openat2",
        ],
    },
    Group {
        name: "@swap",
        help: "Enable/disable swap devices",
        members: &["swapoff", "swapon"],
    },
    Group {
        name: "@sync",
        help: "Synchronize files and memory to storage",
        members: &[
            "fdatasync",
            "fsync",
            "msync",
            "sync",
            "sync_file_range",
            "syncfs",
        ],
    },
    Group {
        name: "@timer",
        help: "Schedule operations by time",
        members: &[
            "alarm",
            "getitimer",
            "setitimer",
            "timer_create",
            "timer_delete",
            "timer_getoverrun",
            "timer_gettime",
            "timer_settime",
            "timerfd_create",
            "timerfd_gettime",
            "timerfd_settime",
            "times",
        ],
    },
];

pub fn find(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}

/// One member of an expanded group: a plain syscall or a qualified rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Member {
    Syscall(&'static str),
    Qualified(Qualified),
}

impl Member {
    pub fn name(self) -> &'static str {
        match self {
            Member::Syscall(s) => s,
            Member::Qualified(q) => q.name(),
        }
    }

    pub fn syscall(self) -> &'static str {
        match self {
            Member::Syscall(s) => s,
            Member::Qualified(q) => q.syscall(),
        }
    }
}

/// Expands a group recursively into members that exist on this architecture.
pub fn expand(group: &Group) -> Vec<Member> {
    let mut out = Vec::new();
    expand_into(group, &mut out);
    // Equal members are the same member: an unstable sort orders them as a stable one does,
    // without the stable sort's buffer.
    out.sort_unstable();
    out.dedup();
    out
}

fn expand_into(group: &Group, out: &mut Vec<Member>) {
    for m in group.members {
        if m.starts_with('@') {
            if let Some(g) = find(m) {
                expand_into(g, out);
            }
        } else if let Some(q) = Qualified::from_name(m) {
            out.push(Member::Qualified(q));
        } else if super::syscall_number(m).is_some() {
            out.push(Member::Syscall(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_reference_resolves() {
        for g in GROUPS {
            for m in g.members {
                if m.starts_with('@') {
                    assert!(find(m).is_some(), "{} refers to unknown {m}", g.name);
                } else if m.contains('(') {
                    assert!(
                        Qualified::from_name(m).is_some(),
                        "{} has bad rule {m}",
                        g.name
                    );
                }
            }
        }
    }

    #[test]
    fn default_group_covers_the_spec_minimum() {
        let members = expand(find("@default").unwrap());
        let names: Vec<&str> = members.iter().map(|m| m.name()).collect();
        for required in [
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "mount",
            "umount2",
            "pivot_root",
            "fsopen",
            "move_mount",
            "open_tree",
            "unshare",
            "setns",
            "clone(CLONE_NEW*)",
            "clone3",
            "bpf",
            "perf_event_open",
            "userfaultfd",
            "keyctl",
            "add_key",
            "request_key",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "reboot",
            "swapon",
            "swapoff",
            "acct",
            "personality(change)",
            "ioctl(TIOCSTI)",
            "ioctl(TIOCLINUX)",
            "execveat(AT_EMPTY_PATH)",
            "memfd_create",
            "shmat(SHM_EXEC)",
            "chmod(S_ISUID|S_ISGID)",
            "fchmodat(S_ISUID|S_ISGID)",
            "openat(S_ISUID|S_ISGID)",
            "openat2",
        ] {
            assert!(names.contains(&required), "@default lacks {required}");
        }
    }

    #[test]
    fn groups_skip_names_this_architecture_lacks() {
        let members = expand(find("@chown").unwrap());
        assert!(members.contains(&Member::Syscall("fchownat")));
        // umount does not exist on x86_64, only umount2.
        let mount = expand(find("@mount").unwrap());
        assert!(!mount.contains(&Member::Syscall("umount")));
    }
}
