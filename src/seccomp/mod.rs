//! The seccomp filter: a deny list compiled to one BPF program before fork.
//!
//! Layout of the program:
//!
//! 1. a prelude that refuses every syscall made through another ABI (i386 `int 0x80`, x32);
//! 2. a binary search on the syscall number over ranges of numbers decided alike (a run of
//!    allowed calls, a run of denials with the same action, one argument-dependent call);
//! 3. at each leaf, its range's code: `RET` with the action, or the argument rules (`clone`
//!    with namespace flags, `ioctl(TIOCSTI)`, ...), the only code the kernel has to run for
//!    allowed syscalls.
//!
//! The kernel caches, per syscall number, whether a filter allows it without looking at its
//! arguments. Every syscall that is not argument-dependent therefore skips the filter entirely
//! after the first call, which is why an allowed syscall costs the same as under an
//! allow-everything filter.

pub mod capability;
pub mod groups;
pub mod oci;

use std::collections::BTreeMap;
use std::str::FromStr;

use seccompiler::{BpfProgram, sock_filter};
use serde::Serialize;
use thiserror::Error;

pub use groups::{Member, Qualified};

use crate::profile::raw::OnViolation;

/// The syscall number of `name` on this architecture.
pub fn syscall_number(name: &str) -> Option<u32> {
    syscalls::Sysno::from_str(name).ok().map(|s| s.id() as u32)
}

#[derive(Debug, Error)]
pub enum CompileError {
    #[error(
        "the argument rule {rule} compares argument {arg} with {value:#x}, which does not fit the 32 bits the filter compares"
    )]
    Value {
        rule: &'static str,
        arg: u8,
        value: u64,
    },
    #[error("an argument rule's code is longer than a BPF jump can skip")]
    RuleTooLong,
    #[error("the seccomp filter would have {0} instructions, more than the kernel's limit of 4096")]
    TooLarge(usize),
}

/// What the filter does with a denied call, as a `SECCOMP_RET_*` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Errno(u32),
    Kill,
    Log,
    /// Observe mode: the call waits while mcpcell records it, then proceeds.
    Notify,
}

/// The syscalls observe mode reports: every way to open, create, remove, rename or execute a
/// file, and to connect a socket; and the ways to look at a path (stat, access, readlink),
/// so that a look at a secret is reported even when a `hide` mask makes it fail.
pub const OBSERVED: [&str; 32] = [
    "open",
    "openat",
    "openat2",
    "creat",
    "execve",
    "execveat",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "mknod",
    "mknodat",
    "truncate",
    "connect",
    "bind",
    "stat",
    "lstat",
    "newfstatat",
    "statx",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
];

impl Action {
    fn ret(self) -> u32 {
        match self {
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | (e & libc::SECCOMP_RET_DATA),
            Action::Kill => libc::SECCOMP_RET_KILL_PROCESS,
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Notify => SECCOMP_RET_USER_NOTIF,
        }
    }

    pub fn for_violation(v: OnViolation) -> Action {
        match v {
            OnViolation::Errno => Action::Errno(libc::EPERM as u32),
            OnViolation::Kill => Action::Kill,
            OnViolation::Log => Action::Log,
        }
    }
}

/// The action a denied member gets: `clone3` and `openat2` always answer ENOSYS so that libc
/// falls back to `clone` and `openat`, whose arguments the filter can check; `socket(AF_UNIX)` is network policy and always
/// fails with EPERM; everything else follows `syscalls.on_violation`.
pub fn action_for(member: Member, on_violation: OnViolation) -> Action {
    match member {
        // A memory file is writable and, mapped through the dynamic loader, executable
        // wherever it came from; without it, programs fall back to /dev/shm (no-exec).
        Member::Syscall("clone3" | "openat2" | "memfd_create") => {
            Action::Errno(libc::ENOSYS as u32)
        }
        Member::Qualified(Qualified::SocketUnix | Qualified::SocketpairUnixDgram) => {
            Action::Errno(libc::EPERM as u32)
        }
        // What a kernel without the family or protocol answers: programs that probe for
        // one (IPv6, vsock) fall back quietly.
        Member::Qualified(
            Qualified::SocketOtherFamily
            | Qualified::SocketpairOtherFamily
            | Qualified::SocketNetlinkOther,
        ) => Action::Errno(libc::EAFNOSUPPORT as u32),
        Member::Qualified(Qualified::SocketInetOther) => {
            Action::Errno(libc::EPROTONOSUPPORT as u32)
        }
        Member::Qualified(
            Qualified::SocketUdp
            | Qualified::SocketInet
            | Qualified::SendtoFastopen
            | Qualified::SendmsgFastopen
            | Qualified::SendmmsgFastopen,
        ) => Action::Errno(libc::EPERM as u32),
        _ => Action::for_violation(on_violation),
    }
}

const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;

/// `ioprio_set`'s `which` for a single process (linux/ioprio.h).
const IOPRIO_WHO_PROCESS: u64 = 1;

/// Answer to syscalls made through a foreign ABI.
const FOREIGN_ABI: Action = Action::Errno(libc::ENOSYS as u32);

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E;
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// The first syscall number mcpcell's table does not know. A call of a kernel newer than the
/// table is refused as a foreign ABI's is, with ENOSYS (which libc takes for an older
/// kernel): no rule of the filter can have seen it (`file_setattr`, Linux 6.17, set the
/// inode flags the rules refuse as ioctls). One comparison covers it and x32's numbers,
/// which lie above.
pub const FIRST_UNKNOWN: u32 = syscalls::Sysno::last().id() as u32 + 1;
const _: () = assert!(FIRST_UNKNOWN < X32_SYSCALL_BIT);

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// `seccomp_data.args[0]`; each argument is 8 bytes, its low 32 bits first (little-endian).
const OFF_ARGS: u32 = 16;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const BPF_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const BPF_ALU_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

const fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

const CLONE_NAMESPACE_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;
/// The ioctls that set an inode's flags or attributes: `FS_IOC_SETFLAGS` (and its 32-bit
/// form), `FS_IOC_FSSETXATTR`, `FS_IOC_SETVERSION` (ext4's old number for it) and its 32-bit
/// form, ext4's `EXT4_IOC_SETVERSION` and its 32-bit form.
pub const INODE_FLAG_IOCTLS: [u64; 7] = [
    0x4008_6602,
    0x4004_6602,
    0x401c_5820,
    0x4008_7602,
    0x4004_7602,
    0x4008_6604,
    0x4004_6604,
];
const F_SETLEASE: u64 = 1024;
/// fscrypt's ioctls that change state: `FS_IOC_SET_ENCRYPTION_POLICY`,
/// `FS_IOC_ADD_ENCRYPTION_KEY`, `FS_IOC_REMOVE_ENCRYPTION_KEY`,
/// `FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS`.
pub const FSCRYPT_IOCTLS: [u64; 4] = [0x800c_6613, 0xc050_6617, 0xc040_6618, 0xc040_6619];
const AT_EMPTY_PATH: u64 = 0x1000;
const MFD_NOEXEC_SEAL: u64 = 0x0008;
const PER_QUERY: u64 = 0xffff_ffff;
const S_ISUID: u64 = 0o4000;
const S_ISGID: u64 = 0o2000;
const O_CREAT: u64 = 0o100;
const O_TMPFILE: u64 = 0o20000000;
const MSG_FASTOPEN: u64 = 0x2000_0000;
const SHM_EXEC: u64 = 0o100000;
/// The socket type without SOCK_NONBLOCK and SOCK_CLOEXEC.
const SOCK_TYPE_MASK: u64 = 0xf;
/// Socket families a server may create: everything else (vsock, packet, bluetooth, alg,
/// xdp, can, tipc, ...) reaches past the network namespace or into rarely used kernel code.
const ALLOWED_FAMILIES: [u64; 4] = [
    libc::AF_UNIX as u64,
    libc::AF_INET as u64,
    libc::AF_INET6 as u64,
    libc::AF_NETLINK as u64,
];
/// Internet socket types other than stream and datagram (raw, SCTP's seqpacket, DCCP, ...).
const INET_OTHER_TYPES: [u64; 5] = [
    libc::SOCK_RAW as u64,
    libc::SOCK_RDM as u64,
    libc::SOCK_SEQPACKET as u64,
    6,  // SOCK_DCCP
    10, // SOCK_PACKET
];

/// One comparison of a syscall argument. Only the argument's low 32 bits are compared:
/// every argument the rules check is an `int`, or flags of which the kernel reads 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq(u64),
    Ne(u64),
    /// `arg & mask == value`.
    MaskedEq {
        mask: u64,
        value: u64,
    },
    /// `arg & mask != value`: with others on the same argument, an allowlist of values
    /// (whatever value the kernel would take as an allowed one, an alias included, is not).
    MaskedNe {
        mask: u64,
        value: u64,
    },
}

/// A condition on argument `arg` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCond {
    pub arg: u8,
    pub cmp: Cmp,
}

/// The argument conditions under which a qualified member denies: the call is denied when
/// every condition of any one rule holds (rules OR'ed, conditions inside a rule AND'ed).
pub fn qualified_conditions(q: Qualified) -> Vec<Vec<ArgCond>> {
    let c = |arg: u8, cmp: Cmp| ArgCond { arg, cmp };
    let bits = |arg: u8, bit: u64| {
        c(
            arg,
            Cmp::MaskedEq {
                mask: bit,
                value: bit,
            },
        )
    };
    let masked = |arg: u8, mask: u64, value: u64| c(arg, Cmp::MaskedEq { mask, value });
    match q {
        Qualified::CloneNamespaces => CLONE_NAMESPACE_FLAGS
            .iter()
            .map(|&f| vec![bits(0, f)])
            .collect(),
        Qualified::PersonalityChange => {
            vec![vec![c(0, Cmp::Ne(PER_QUERY)), c(0, Cmp::Ne(0))]]
        }
        Qualified::IoctlTiocsti => vec![vec![c(1, Cmp::Eq(TIOCSTI))]],
        Qualified::IoctlTioclinux => vec![vec![c(1, Cmp::Eq(TIOCLINUX))]],
        Qualified::IoctlInodeFlags => INODE_FLAG_IOCTLS
            .iter()
            .map(|&r| vec![c(1, Cmp::Eq(r))])
            .collect(),
        Qualified::FcntlSetlease => vec![vec![c(1, Cmp::Eq(F_SETLEASE))]],
        Qualified::IoctlFscrypt => FSCRYPT_IOCTLS
            .iter()
            .map(|&r| vec![c(1, Cmp::Eq(r))])
            .collect(),
        Qualified::ExecveatEmptyPath => vec![vec![bits(4, AT_EMPTY_PATH)]],
        Qualified::MemfdExec => vec![vec![masked(1, MFD_NOEXEC_SEAL, 0)]],
        Qualified::ShmatExec => vec![vec![bits(2, SHM_EXEC)]],
        Qualified::SocketUnix => vec![vec![c(0, Cmp::Eq(libc::AF_UNIX as u64))]],
        Qualified::SocketOtherFamily => {
            vec![ALLOWED_FAMILIES.iter().map(|&f| c(0, Cmp::Ne(f))).collect()]
        }
        Qualified::SocketpairOtherFamily => vec![vec![c(0, Cmp::Ne(libc::AF_UNIX as u64))]],
        // Every type but a stream's and a seqpacket's: the kernel takes SOCK_RAW for a
        // datagram pair too, and refuses the others.
        Qualified::SocketpairUnixDgram => vec![vec![
            c(0, Cmp::Eq(libc::AF_UNIX as u64)),
            c(
                1,
                Cmp::MaskedNe {
                    mask: SOCK_TYPE_MASK,
                    value: libc::SOCK_STREAM as u64,
                },
            ),
            c(
                1,
                Cmp::MaskedNe {
                    mask: SOCK_TYPE_MASK,
                    value: libc::SOCK_SEQPACKET as u64,
                },
            ),
        ]],
        Qualified::SocketNetlinkOther => vec![vec![
            c(0, Cmp::Eq(libc::AF_NETLINK as u64)),
            c(2, Cmp::Ne(libc::NETLINK_ROUTE as u64)),
        ]],
        Qualified::SocketInetOther => {
            let mut rules = Vec::new();
            for family in [libc::AF_INET as u64, libc::AF_INET6 as u64] {
                rules.push(vec![
                    c(0, Cmp::Eq(family)),
                    c(2, Cmp::Ne(0)),
                    c(2, Cmp::Ne(libc::IPPROTO_TCP as u64)),
                    c(2, Cmp::Ne(libc::IPPROTO_UDP as u64)),
                ]);
                for ty in INET_OTHER_TYPES {
                    rules.push(vec![c(0, Cmp::Eq(family)), masked(1, SOCK_TYPE_MASK, ty)]);
                }
            }
            rules
        }
        Qualified::SocketInet => [libc::AF_INET as u64, libc::AF_INET6 as u64]
            .iter()
            .map(|&family| vec![c(0, Cmp::Eq(family))])
            .collect(),
        Qualified::SocketUdp => [libc::AF_INET as u64, libc::AF_INET6 as u64]
            .iter()
            .map(|&family| {
                vec![
                    c(0, Cmp::Eq(family)),
                    masked(1, SOCK_TYPE_MASK, libc::SOCK_DGRAM as u64),
                ]
            })
            .collect(),
        Qualified::SendtoFastopen | Qualified::SendmmsgFastopen => {
            vec![vec![bits(3, MSG_FASTOPEN)]]
        }
        Qualified::SendmsgFastopen => vec![vec![bits(2, MSG_FASTOPEN)]],
        Qualified::ChmodSuid | Qualified::FchmodSuid | Qualified::CreatSuid => suid_rules(1, None),
        Qualified::MknodSuid => suid_rules(1, None),
        Qualified::FchmodatSuid | Qualified::Fchmodat2Suid => suid_rules(2, None),
        Qualified::MknodatSuid => suid_rules(2, None),
        Qualified::OpenSuid => suid_rules(2, Some(1)),
        Qualified::OpenatSuid => suid_rules(3, Some(2)),
        // pid_t is 32 bits: the low half is all of it.
        Qualified::PrlimitOther
        | Qualified::SchedSetschedulerOther
        | Qualified::SchedSetparamOther
        | Qualified::SchedSetattrOther
        | Qualified::SchedSetaffinityOther => vec![vec![c(0, Cmp::Ne(0))]],
        // `which` must say "a process" (PRIO_PROCESS 0, IOPRIO_WHO_PROCESS 1) and `who` the
        // caller.
        Qualified::SetpriorityOther => vec![
            vec![c(0, Cmp::Ne(libc::PRIO_PROCESS as u64))],
            vec![c(1, Cmp::Ne(0))],
        ],
        Qualified::IoprioSetOther => vec![
            vec![c(0, Cmp::Ne(IOPRIO_WHO_PROCESS))],
            vec![c(1, Cmp::Ne(0))],
        ],
    }
}

/// Rules that match a mode argument (`mode`) with the setuid or setgid bit; with `flags`,
/// only when those flags create a file (`O_CREAT` or `O_TMPFILE`).
fn suid_rules(mode: u8, flags: Option<u8>) -> Vec<Vec<ArgCond>> {
    let bit = |arg: u8, bit: u64| ArgCond {
        arg,
        cmp: Cmp::MaskedEq {
            mask: bit,
            value: bit,
        },
    };
    let mut rules = Vec::new();
    for b in [S_ISUID, S_ISGID] {
        match flags {
            None => rules.push(vec![bit(mode, b)]),
            Some(f) => {
                for create in [O_CREAT, O_TMPFILE] {
                    rules.push(vec![bit(f, create), bit(mode, b)]);
                }
            }
        }
    }
    rules
}

/// Checks that every value `conds` compare with fits the 32 bits the filter loads.
fn check_values(rule: &'static str, conds: &[Vec<ArgCond>]) -> Result<(), CompileError> {
    for &ArgCond { arg, cmp } in conds.iter().flatten() {
        let values = match cmp {
            Cmp::Eq(v) | Cmp::Ne(v) => [v, 0],
            Cmp::MaskedEq { mask, value } | Cmp::MaskedNe { mask, value } => [mask, value],
        };
        if let Some(&value) = values.iter().find(|&&v| v > u64::from(u32::MAX)) {
            return Err(CompileError::Value { rule, arg, value });
        }
    }
    Ok(())
}

/// The bit a one-condition rule tests (`arg & bit == bit`, a single bit), as `(arg, bit)`.
fn single_bit(conds: &[ArgCond]) -> Option<(u8, u32)> {
    match conds {
        [c] => match test(c.cmp) {
            (None, BPF_JSET_K, bit, false) => Some((c.arg, bit)),
            _ => None,
        },
        _ => None,
    }
}

/// How a condition is tested on its argument's low 32 bits: the mask to `AND` them with
/// first, if any, then a jump: its code, its constant, and whether the condition fails when
/// the jump is taken.
fn test(cmp: Cmp) -> (Option<u32>, u16, u32, bool) {
    match cmp {
        Cmp::Eq(v) => (None, BPF_JEQ_K, v as u32, false),
        Cmp::Ne(v) => (None, BPF_JEQ_K, v as u32, true),
        // No bit of the mask set.
        Cmp::MaskedEq { mask, value: 0 } => (None, BPF_JSET_K, mask as u32, true),
        // A single bit, set.
        Cmp::MaskedEq { mask, value } if mask == value && mask.is_power_of_two() => {
            (None, BPF_JSET_K, mask as u32, false)
        }
        Cmp::MaskedEq { mask, value } => (Some(mask as u32), BPF_JEQ_K, value as u32, false),
        Cmp::MaskedNe { mask, value } => (Some(mask as u32), BPF_JEQ_K, value as u32, true),
    }
}

/// Appends the code of argument rules, in order, each with the `RET` value of a call it
/// matches: a rule's conditions are compared one after the other, the first that fails
/// jumps to the next rule, and a rule whose conditions all hold returns. The argument is
/// loaded once for the compares of its whole value; a single bit is tested with `JSET` on
/// it, other masks load it again and `AND` it. Rules in a row that each test one bit of the
/// same argument and return the same value are one `JSET` of all their bits (`clone`'s
/// namespace flags, a mode's setuid and setgid bits). What follows the code is where a call
/// that no rule matched goes. Values must fit 32 bits ([`check_values`]).
fn rule_code(rules: &[(&[ArgCond], u32)], out: &mut Vec<sock_filter>) -> Result<(), CompileError> {
    let load = |arg: u8| stmt(BPF_LD_W_ABS, OFF_ARGS + 8 * u32::from(arg));
    let mut i = 0;
    while i < rules.len() {
        let (conds, ret) = rules[i];
        if let Some((arg, mut bits)) = single_bit(conds) {
            i += 1;
            while let Some((_, b)) = rules
                .get(i)
                .filter(|(_, r)| *r == ret)
                .and_then(|(c, _)| single_bit(c))
                .filter(|&(a, _)| a == arg)
            {
                bits |= b;
                i += 1;
            }
            out.extend([
                load(arg),
                jump(BPF_JSET_K, bits, 0, 1),
                stmt(BPF_RET_K, ret),
            ]);
            continue;
        }
        // Conditions are AND'ed: compared by argument, those that need no `AND` first.
        let mut sorted = conds.to_vec();
        sorted.sort_by_key(|c| (c.arg, test(c.cmp).0.is_some()));
        // The jumps that leave the rule, and whether they leave when taken (`jt`).
        let mut exits: Vec<(usize, bool)> = Vec::new();
        let mut loaded = None;
        for ArgCond { arg, cmp } in sorted {
            let (and, code, k, leave_if_taken) = test(cmp);
            if and.is_some() || loaded != Some(arg) {
                out.push(load(arg));
            }
            loaded = Some(arg);
            if let Some(mask) = and {
                out.push(stmt(BPF_ALU_AND_K, mask));
                loaded = None;
            }
            exits.push((out.len(), leave_if_taken));
            out.push(jump(code, k, 0, 0));
        }
        out.push(stmt(BPF_RET_K, ret));
        let next = out.len();
        for (at, taken) in exits {
            let skip = u8::try_from(next - at - 1).map_err(|_| CompileError::RuleTooLong)?;
            if taken {
                out[at].jt = skip;
            } else {
                out[at].jf = skip;
            }
        }
        i += 1;
    }
    Ok(())
}

/// Compiles the denied members into one BPF program.
pub fn compile(denied: &[(Member, Action)]) -> Result<BpfProgram, CompileError> {
    let decided = decisions(denied)?;
    let mut prog = vec![
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jump(BPF_JEQ_K, AUDIT_ARCH_NATIVE, 1, 0),
        stmt(BPF_RET_K, FOREIGN_ABI.ret()),
        stmt(BPF_LD_W_ABS, OFF_NR),
        jump(BPF_JGE_K, FIRST_UNKNOWN, 0, 1),
        stmt(BPF_RET_K, FOREIGN_ABI.ret()),
    ];
    dispatch(&segments(&decided), &mut prog);
    if prog.len() > 4096 {
        return Err(CompileError::TooLarge(prog.len()));
    }
    Ok(prog)
}

const ALLOW_CODE: [sock_filter; 1] = [stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW)];

/// The code that decides one syscall number: a single `RET` for a plain action (most of
/// them, kept without an allocation each), or argument rules, every path of which ends in a
/// `RET`.
enum Code {
    Ret([sock_filter; 1]),
    Rules(Vec<sock_filter>),
}

impl std::ops::Deref for Code {
    type Target = [sock_filter];
    fn deref(&self) -> &[sock_filter] {
        match self {
            Code::Ret(one) => one,
            Code::Rules(body) => body,
        }
    }
}

/// Per denied or observed syscall number, the code that decides it. The code reads only the
/// arguments, never the number.
fn decisions(denied: &[(Member, Action)]) -> Result<BTreeMap<u32, Code>, CompileError> {
    decisions_with(denied, true)
}

/// [`decisions`]; `guarded`: an argument-dependent call's rules are preceded by a test of the
/// bits all of them need, where there is one (see [`guard`]).
fn decisions_with(
    denied: &[(Member, Action)],
    guarded: bool,
) -> Result<BTreeMap<u32, Code>, CompileError> {
    // Per syscall number: an unconditional action, or qualified rules with their actions.
    let mut plain: BTreeMap<u32, Action> = BTreeMap::new();
    let mut qualified: BTreeMap<u32, Vec<(Qualified, Action)>> = BTreeMap::new();
    for &(member, action) in denied {
        let Some(nr) = syscall_number(member.syscall()) else {
            continue;
        };
        match member {
            // A denial wins over observing the same call.
            Member::Syscall(_) if action == Action::Notify => {
                plain.entry(nr).or_insert(action);
            }
            Member::Syscall(_) => {
                plain.insert(nr, action);
            }
            Member::Qualified(q) => qualified.entry(nr).or_default().push((q, action)),
        }
    }
    // A plain denial covers every qualified rule on the same syscall; an observed call keeps
    // its qualified denials and is reported when none of them matches.
    qualified.retain(|nr, _| plain.get(nr).is_none_or(|&a| a == Action::Notify));
    let mut decided: BTreeMap<u32, Code> = BTreeMap::new();
    for (nr, rules) in qualified {
        // What a call that no rule matched gets: the plain action it is observed with, or
        // allowed. Argument rules clobber the accumulator, so this must be a `RET`.
        let otherwise = plain
            .remove(&nr)
            .map_or(libc::SECCOMP_RET_ALLOW, Action::ret);
        let mut body = Vec::new();
        let conditions: Vec<(Qualified, Action, Vec<Vec<ArgCond>>)> = rules
            .into_iter()
            .map(|(q, action)| (q, action, qualified_conditions(q)))
            .collect();
        let all = conditions.iter().flat_map(|(_, _, conds)| conds);
        if let Some((arg, needed)) = guard(all).filter(|_| guarded) {
            body.extend([
                stmt(BPF_LD_W_ABS, OFF_ARGS + 8 * u32::from(arg)),
                jump(BPF_JSET_K, needed, 1, 0),
                stmt(BPF_RET_K, otherwise),
            ]);
        }
        let mut rules = Vec::new();
        for (q, action, conds) in &conditions {
            check_values(q.name(), conds)?;
            rules.extend(conds.iter().map(|c| (c.as_slice(), action.ret())));
        }
        rule_code(&rules, &mut body)?;
        body.push(stmt(BPF_RET_K, otherwise));
        decided.insert(nr, Code::Rules(body));
    }
    for (nr, action) in plain {
        decided.insert(nr, Code::Ret([stmt(BPF_RET_K, action.ret())]));
    }
    Ok(decided)
}

/// A test that lets most calls skip an argument-dependent call's rules: an argument every
/// rule requires bits of, as `(argument, bits)`: a call whose argument (its low 32 bits, as
/// the rules compare) has none of `bits` matches no rule. Each rule contributes the highest
/// bit of flags it requires (`arg & mask == value`, `value` not 0).
///
/// `openat`'s rules (a setuid or setgid mode on a created file) need `O_CREAT` or
/// `__O_TMPFILE` in its flags, `fchmod`'s `S_ISUID` or `S_ISGID` in its mode, `sendmsg`'s
/// `MSG_FASTOPEN`: the opens, mode changes and sends that make up nearly all of those calls
/// are decided in three instructions rather than running every rule.
fn guard<'a>(rules: impl Iterator<Item = &'a Vec<ArgCond>> + Clone) -> Option<(u8, u32)> {
    let highest = |v: u64| {
        let v = v as u32;
        (v != 0).then(|| 1u32 << (31 - v.leading_zeros()))
    };
    rules.clone().next()?;
    (0..6u8).find_map(|arg| {
        let mut needed = 0u32;
        for rule in rules.clone() {
            let bit = rule.iter().find_map(|c| match c.cmp {
                _ if c.arg != arg => None,
                Cmp::MaskedEq { value, .. } => highest(value),
                // Values compared whole (socket families, ioctl requests) share their bits
                // with the calls allowed: a test of them would rarely skip anything.
                Cmp::Eq(_) | Cmp::Ne(_) | Cmp::MaskedNe { .. } => None,
            })?;
            needed |= bit;
        }
        Some((arg, needed))
    })
}

/// The syscall numbers from `start` up to the next segment's start, all decided by `code`.
struct Segment<'a> {
    start: u32,
    code: &'a [sock_filter],
}

/// Every syscall number, split into ranges decided by the same code: the numbers between
/// those `decided` names are allowed, and neighbours with the same code (a run of denials
/// with the same action, a run of allowed calls) share one range.
fn segments(decided: &BTreeMap<u32, Code>) -> Vec<Segment<'_>> {
    fn add<'a>(out: &mut Vec<Segment<'a>>, start: u32, code: &'a [sock_filter]) {
        if out.last().is_none_or(|last| last.code != code) {
            out.push(Segment { start, code });
        }
    }
    let mut out = Vec::new();
    let mut next = 0u32;
    for (&nr, code) in decided {
        if nr > next {
            add(&mut out, next, &ALLOW_CODE);
        }
        add(&mut out, nr, code);
        next = nr + 1;
    }
    add(&mut out, next, &ALLOW_CODE);
    out
}

/// A binary search over the segments' starts, each leaf the code of its segment, appended
/// to `out`. The kernel runs this for every syscall number when the filter is attached (to
/// fill its cache of calls allowed whatever their arguments), and for every
/// argument-dependent call after: a search takes about log2(segments) compares where a
/// chain of compares took one per decided number.
fn dispatch(segs: &[Segment<'_>], out: &mut Vec<sock_filter>) {
    let [first, rest @ ..] = segs else {
        out.extend_from_slice(&ALLOW_CODE);
        return;
    };
    if rest.is_empty() {
        out.extend_from_slice(first.code);
        return;
    }
    let (left, right) = segs.split_at(segs.len() / 2);
    // Jumps are forward only, by at most 255 instructions: the compare is written first and
    // its offset set once the left branch is; a longer skip goes through a `JA` put after it
    // (the left branch's own jumps are relative, so moving it by one changes none of them).
    let at = out.len();
    out.push(jump(BPF_JGE_K, right[0].start, 0, 0));
    dispatch(left, out);
    let skip = out.len() - at - 1;
    match u8::try_from(skip) {
        Ok(skip) => out[at].jt = skip,
        Err(_) => {
            out[at].jf = 1;
            out.insert(at + 1, stmt(BPF_JA, skip as u32));
        }
    }
    dispatch(right, out);
}

#[cfg(test)]
mod tests;
