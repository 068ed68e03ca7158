//! The filter is checked here with a small BPF interpreter; `tests/` checks it in the kernel.

use super::*;
use groups::find;

/// Runs a classic-BPF seccomp program over one syscall.
fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    run_counted(prog, arch, nr, args).0
}

/// [`run`], with the number of instructions executed.
fn run_counted(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
    let word = |off: u32| -> u32 {
        match off {
            0 => nr,
            4 => arch,
            o if (16..64).contains(&o) => {
                let a = args[((o - 16) / 8) as usize];
                if (o - 16) % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            o => panic!("load from unexpected offset {o}"),
        }
    };
    let (mut pc, mut acc, mut steps) = (0usize, 0u32, 0usize);
    loop {
        let i = &prog[pc];
        steps += 1;
        let class = (i.code & 0x07) as u32;
        match class {
            c if c == libc::BPF_LD => acc = word(i.k),
            c if c == libc::BPF_ALU => {
                assert_eq!((i.code & 0xf0) as u32, libc::BPF_AND);
                acc &= i.k;
            }
            c if c == libc::BPF_JMP => {
                let op = (i.code & 0xf0) as u32;
                if op == libc::BPF_JA {
                    pc += i.k as usize;
                } else {
                    let taken = match op {
                        o if o == libc::BPF_JEQ => acc == i.k,
                        o if o == libc::BPF_JGE => acc >= i.k,
                        o if o == libc::BPF_JGT => acc > i.k,
                        o if o == libc::BPF_JSET => acc & i.k != 0,
                        o => panic!("unexpected jump op {o:#x}"),
                    };
                    pc += if taken { i.jt } else { i.jf } as usize;
                }
            }
            c if c == libc::BPF_RET => return (i.k, steps),
            c => panic!("unexpected class {c:#x}"),
        }
        pc += 1;
    }
}

/// The network policy's argument rules, as for a server in mode `proxy`.
const NETWORK_RULES: [Qualified; 8] = [
    Qualified::SocketUnix,
    Qualified::SocketOtherFamily,
    Qualified::SocketpairOtherFamily,
    Qualified::SocketNetlinkOther,
    Qualified::SocketInetOther,
    Qualified::SendtoFastopen,
    Qualified::SendmsgFastopen,
    Qualified::SendmmsgFastopen,
];

fn nr(name: &str) -> u32 {
    syscall_number(name).unwrap()
}

/// `@default` and the argument rules `extra`, each with the action a profile gives it.
fn default_members(on: OnViolation, extra: &[Qualified]) -> Vec<(Member, Action)> {
    groups::expand(find("@default").unwrap())
        .into_iter()
        .chain(extra.iter().copied().map(Member::Qualified))
        .map(|m| (m, action_for(m, on)))
        .collect()
}

/// `@default` with Unix sockets refused (`socket(AF_UNIX)` is always EPERM).
fn default_filter(on: OnViolation) -> BpfProgram {
    compile(&default_members(
        on,
        &[Qualified::SocketUnix, Qualified::SocketpairUnixDgram],
    ))
    .unwrap()
}

const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

fn native(prog: &[sock_filter], name: &str, args: [u64; 6]) -> u32 {
    run(prog, AUDIT_ARCH_NATIVE, nr(name), args)
}

#[test]
fn plain_denials_and_allowed_calls() {
    let p = default_filter(OnViolation::Errno);
    assert_eq!(native(&p, "ptrace", [0; 6]), EPERM);
    assert_eq!(native(&p, "mount", [0; 6]), EPERM);
    assert_eq!(native(&p, "bpf", [0; 6]), EPERM);
    assert_eq!(native(&p, "io_uring_setup", [0; 6]), EPERM);
    assert_eq!(native(&p, "getppid", [0; 6]), ALLOW);
    assert_eq!(native(&p, "read", [0; 6]), ALLOW);
    assert_eq!(native(&p, "openat", [0; 6]), ALLOW);
    assert_eq!(native(&p, "clone3", [0; 6]), ENOSYS);
}

#[test]
fn argument_rules() {
    let p = default_filter(OnViolation::Errno);
    let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID | libc::SIGCHLD) as u64;
    assert_eq!(native(&p, "clone", [fork_flags, 0, 0, 0, 0, 0]), ALLOW);
    let thread = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_PARENT_SETTID
        | libc::CLONE_CHILD_CLEARTID) as u64;
    assert_eq!(native(&p, "clone", [thread, 0, 0, 0, 0, 0]), ALLOW);
    for flag in CLONE_NAMESPACE_FLAGS {
        assert_eq!(
            native(&p, "clone", [flag | fork_flags, 0, 0, 0, 0, 0]),
            EPERM
        );
    }
    assert_eq!(native(&p, "ioctl", [0, TIOCSTI, 0, 0, 0, 0]), EPERM);
    // The upper half of the int argument is ignored, as the kernel does.
    assert_eq!(
        native(&p, "ioctl", [0, TIOCSTI | (7 << 32), 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(native(&p, "ioctl", [0, TIOCLINUX, 0, 0, 0, 0]), EPERM);
    assert_eq!(native(&p, "ioctl", [0, libc::TCGETS, 0, 0, 0, 0]), ALLOW);
    for r in INODE_FLAG_IOCTLS.iter().chain(&FSCRYPT_IOCTLS) {
        assert_eq!(native(&p, "ioctl", [3, *r, 0, 0, 0, 0]), EPERM, "{r:#x}");
    }
    // Reading flags and policies stays allowed.
    assert_eq!(native(&p, "ioctl", [3, 0x8008_6601, 0, 0, 0, 0]), ALLOW);
    assert_eq!(native(&p, "fcntl", [3, 1024, 0, 0, 0, 0]), EPERM);
    assert_eq!(
        native(&p, "fcntl", [3, libc::F_GETFL as u64, 0, 0, 0, 0]),
        ALLOW
    );
    assert_eq!(native(&p, "file_setattr", [0; 6]), EPERM);
    assert_eq!(native(&p, "personality", [PER_QUERY, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(native(&p, "personality", [0, 0, 0, 0, 0, 0]), ALLOW);
    assert_eq!(native(&p, "personality", [0x0400000, 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(
        native(&p, "execveat", [3, 0, 0, 0, AT_EMPTY_PATH, 0]),
        EPERM
    );
    assert_eq!(native(&p, "execveat", [3, 0, 0, 0, 0, 0]), ALLOW);
    // Memory files are refused whatever the flags: sealed no-exec, one still maps
    // executable through the dynamic loader.
    assert_eq!(native(&p, "memfd_create", [0, 1, 0, 0, 0, 0]), ENOSYS);
    assert_eq!(
        native(&p, "memfd_create", [0, 1 | MFD_NOEXEC_SEAL, 0, 0, 0, 0]),
        ENOSYS
    );
    assert_eq!(native(&p, "shmat", [1, 0, 0o100000, 0, 0, 0]), EPERM);
    assert_eq!(native(&p, "shmat", [1, 0, 0o10000, 0, 0, 0]), ALLOW);
    assert_eq!(
        native(&p, "socket", [libc::AF_UNIX as u64, 1, 0, 0, 0, 0]),
        EPERM
    );
    assert_eq!(
        native(&p, "socket", [libc::AF_INET as u64, 1, 0, 0, 0, 0]),
        ALLOW
    );
    // A stream or seqpacket pair stays connected to itself; a datagram end can be sent
    // anywhere by path, whatever flags ride in the type.
    for ty in [libc::SOCK_STREAM, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC] {
        assert_eq!(
            native(
                &p,
                "socketpair",
                [libc::AF_UNIX as u64, ty as u64, 0, 0, 0, 0]
            ),
            ALLOW
        );
    }
    for ty in [
        libc::SOCK_DGRAM,
        libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
        // The kernel makes a datagram pair of SOCK_RAW too.
        libc::SOCK_RAW,
        libc::SOCK_RAW | libc::SOCK_CLOEXEC,
    ] {
        assert_eq!(
            native(
                &p,
                "socketpair",
                [libc::AF_UNIX as u64, ty as u64, 0, 0, 0, 0]
            ),
            EPERM
        );
    }
    // Every type value: a stream's and a seqpacket's alone pass, whatever the kernel makes
    // of the others now or later.
    for t in 0..16u64 {
        let want = if t == libc::SOCK_STREAM as u64 || t == libc::SOCK_SEQPACKET as u64 {
            ALLOW
        } else {
            EPERM
        };
        for flags in [0, (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as u64] {
            assert_eq!(
                native(
                    &p,
                    "socketpair",
                    [libc::AF_UNIX as u64, t | flags, 0, 0, 0, 0]
                ),
                want,
                "type {t}"
            );
        }
    }
}

#[test]
fn foreign_abis_are_refused() {
    let p = default_filter(OnViolation::Errno);
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    assert_eq!(run(&p, AUDIT_ARCH_I386, 20, [0; 6]), ENOSYS);
    assert_eq!(
        run(
            &p,
            AUDIT_ARCH_NATIVE,
            X32_SYSCALL_BIT | nr("getpid"),
            [0; 6]
        ),
        ENOSYS
    );
    // A call newer than the table: no rule could have judged it.
    for n in [FIRST_UNKNOWN, FIRST_UNKNOWN + 1, X32_SYSCALL_BIT - 1] {
        assert_eq!(run(&p, AUDIT_ARCH_NATIVE, n, [0; 6]), ENOSYS, "{n}");
    }
    assert_eq!(run(&p, AUDIT_ARCH_NATIVE, FIRST_UNKNOWN - 1, [0; 6]), EPERM);
}

#[test]
fn on_violation_sets_the_action_but_not_for_clone3_or_unix_sockets() {
    let p = default_filter(OnViolation::Kill);
    assert_eq!(native(&p, "ptrace", [0; 6]), libc::SECCOMP_RET_KILL_PROCESS);
    assert_eq!(
        native(&p, "ioctl", [0, TIOCSTI, 0, 0, 0, 0]),
        libc::SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(native(&p, "clone3", [0; 6]), ENOSYS);
    assert_eq!(
        native(&p, "socket", [libc::AF_UNIX as u64, 1, 0, 0, 0, 0]),
        EPERM
    );
    let p = default_filter(OnViolation::Log);
    assert_eq!(native(&p, "ptrace", [0; 6]), libc::SECCOMP_RET_LOG);
}

#[test]
fn a_plain_denial_covers_qualified_rules_of_the_same_syscall() {
    let p = compile(&[
        (Member::Qualified(Qualified::IoctlTiocsti), Action::Errno(1)),
        (Member::Syscall("ioctl"), Action::Kill),
    ])
    .unwrap();
    assert_eq!(
        native(&p, "ioctl", [0, libc::TCGETS, 0, 0, 0, 0]),
        libc::SECCOMP_RET_KILL_PROCESS
    );
}

#[test]
fn setuid_and_setgid_bits_cannot_be_set() {
    let p = default_filter(OnViolation::Errno);
    let (creat, tmpfile, rdonly) = (0o101u64, 0o20200002u64, 0u64);
    for (name, args, want) in [
        ("chmod", [0, 0o4755, 0, 0, 0, 0], EPERM),
        ("chmod", [0, 0o2755, 0, 0, 0, 0], EPERM),
        ("chmod", [0, 0o755, 0, 0, 0, 0], ALLOW),
        ("fchmod", [3, 0o6755, 0, 0, 0, 0], EPERM),
        ("fchmodat", [3, 0, 0o4700, 0, 0, 0], EPERM),
        ("fchmodat", [3, 0, 0o1777, 0, 0, 0], ALLOW),
        ("creat", [0, 0o4755, 0, 0, 0, 0], EPERM),
        ("open", [0, creat, 0o4755, 0, 0, 0], EPERM),
        ("open", [0, rdonly, 0o4755, 0, 0, 0], ALLOW),
        ("openat", [3, 0, creat, 0o4755, 0, 0], EPERM),
        ("openat", [3, 0, tmpfile, 0o2755, 0, 0], EPERM),
        ("openat", [3, 0, creat, 0o644, 0, 0], ALLOW),
        // Without O_CREAT the mode argument is whatever was in the register.
        ("openat", [3, 0, rdonly, 0o4755, 0, 0], ALLOW),
        ("mknodat", [3, 0, 0o104755, 0, 0, 0], EPERM),
        ("openat2", [3, 0, 0, 24, 0, 0], ENOSYS),
    ] {
        assert_eq!(native(&p, name, args), want, "{name} {args:?}");
    }
}

#[test]
fn the_default_filter_is_small() {
    let p = default_filter(OnViolation::Errno);
    // Under 330 before the inode-flag, fscrypt and lease rules (2026-12), 334 with them,
    // 347 with the datagram socketpair's.
    assert!(p.len() < 355, "{} instructions", p.len());
}

/// The OCI export denies at least what the filter denies, for every argument rule and many
/// argument values (high bits set included), and exactly as much unless it says it is
/// stricter.
#[test]
fn the_oci_export_is_never_weaker_than_the_filter() {
    use super::oci::rules_for;
    let values: Vec<u64> = [
        0u64,
        1,
        2,
        3,
        5,
        6,
        10,
        16,
        17,
        31,
        32,
        33,
        40,
        0x40,
        0x262,
        TIOCSTI,
        TIOCLINUX,
        AT_EMPTY_PATH,
        MFD_NOEXEC_SEAL,
        S_ISUID,
        S_ISGID,
        S_ISUID | 0o755,
        O_CREAT,
        O_TMPFILE,
        MSG_FASTOPEN,
        SHM_EXEC,
        libc::SOCK_DGRAM as u64 | libc::SOCK_CLOEXEC as u64,
        libc::SOCK_RAW as u64,
        0xffff_ffff,
        0x1_0000_0002,
        0xffff_ffff_0000_5412,
        u64::MAX,
    ]
    .into_iter()
    .chain(CLONE_NAMESPACE_FLAGS)
    .collect();
    // A deterministic spread of argument vectors.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let vectors: Vec<[u64; 6]> = (0..30_000)
        .map(|_| std::array::from_fn(|_| values[(next() % values.len() as u64) as usize]))
        .collect();
    let mut checked = 0;
    for &q in Qualified::ALL {
        let action = Action::Errno(libc::EPERM as u32);
        let prog = compile(&[(Member::Qualified(q), action)]).unwrap();
        let (rules, stricter) = rules_for(&super::qualified_conditions(q));
        let mut differs = false;
        for args in &vectors {
            let filter = native(&prog, q.syscall(), *args) != ALLOW;
            let oci = rules.iter().any(|r| r.iter().all(|a| a.matches(args)));
            assert!(
                oci || !filter,
                "{}: the filter denies {args:x?} but the export allows it",
                q.name()
            );
            // The low 32 bits agree: only high-bit garbage may make a 64-bit compare deny more.
            let low = args.map(|a| a & 0xffff_ffff);
            let oci_low = rules.iter().any(|r| r.iter().all(|a| a.matches(&low)));
            let filter_low = native(&prog, q.syscall(), low) != ALLOW;
            differs |= oci_low != filter_low;
            checked += 1;
        }
        assert_eq!(
            differs,
            stricter,
            "{}: the export {} the filter on 32-bit values but says it is {}",
            q.name(),
            if differs { "differs from" } else { "matches" },
            if stricter { "stricter" } else { "exact" }
        );
    }
    assert!(checked > 100_000);
}

#[test]
fn the_oci_document_has_the_runtime_shape() {
    let denied = default_members(OnViolation::Errno, &[]);
    let e = super::oci::export(&denied).unwrap();
    let doc = &e.document;
    assert_eq!(doc["defaultAction"], "SCMP_ACT_ALLOW");
    let entries = doc["syscalls"].as_array().unwrap();
    let named = |n: &str| {
        entries
            .iter()
            .filter(|e| e["names"].as_array().unwrap().iter().any(|x| x == n))
            .collect::<Vec<_>>()
    };
    // An unconditional denial, with the errno mcpcell answers.
    let mount = named("mount");
    assert_eq!(mount.len(), 1);
    assert_eq!(mount[0]["action"], "SCMP_ACT_ERRNO");
    assert_eq!(mount[0]["errnoRet"], libc::EPERM);
    assert_eq!(named("clone3")[0]["errnoRet"], libc::ENOSYS);
    // clone with a namespace flag: one rule per flag, each a masked compare of argument 0.
    let clone = named("clone");
    assert_eq!(clone.len(), CLONE_NAMESPACE_FLAGS.len());
    for c in &clone {
        let a = &c["args"][0];
        assert_eq!(a["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(a["value"], a["valueTwo"]);
    }
    // personality cannot be said exactly: it is denied outright, and a note says so.
    assert!(e.notes.iter().any(|n| n.contains("personality")));
    // Observe mode has no OCI form.
    assert!(super::oci::export(&[(Member::Syscall("openat"), Action::Notify)]).is_err());
}

/// The kernel caches, per syscall number, the verdict of a filter that does not look at the
/// arguments, so only the argument-dependent calls run the program once attached. Those
/// that are hot in servers (opening files, ioctl, sockets and sends) must stay short: the
/// longest path of an allowed one is bounded here, and printed (`--nocapture`).
#[test]
fn hot_argument_dependent_calls_run_few_instructions() {
    // `@default` and the network policy's argument rules, as for a server in mode `proxy`.
    let prog = compile(&default_members(OnViolation::Errno, &NETWORK_RULES)).unwrap();
    let mode_0644 = 0o644;
    let calls: [(&str, [u64; 6]); 8] = [
        ("openat", [0, 0, libc::O_RDONLY as u64, 0, 0, 0]),
        (
            "openat",
            [
                0,
                0,
                (libc::O_CREAT | libc::O_WRONLY) as u64,
                mode_0644,
                0,
                0,
            ],
        ),
        ("ioctl", [1, libc::TCGETS, 0, 0, 0, 0]),
        (
            "socket",
            [libc::AF_INET as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
        ),
        ("sendto", [3, 0, 10, 0, 0, 0]),
        ("sendmsg", [3, 0, 0, 0, 0, 0]),
        ("clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
        ("fchmod", [3, mode_0644, 0, 0, 0, 0]),
    ];
    let mut longest = 0;
    for (name, args) in calls {
        let (ret, steps) = run_counted(&prog, AUDIT_ARCH_NATIVE, nr(name), args);
        assert_eq!(ret, ALLOW, "{name} {args:?}");
        eprintln!("{name:8} {steps:3} instructions");
        // socket() runs once per connection, behind the per-family rules; the others run
        // per file opened or message sent.
        if name != "socket" {
            longest = longest.max(steps);
        } else {
            assert!(steps <= 96, "socket runs {steps} BPF instructions");
        }
    }
    assert!(
        longest <= 64,
        "an allowed hot call runs {longest} BPF instructions: order the argument rules by syscall number and search them"
    );
}

/// The members that name one syscall, in order, each with its argument rules.
type Named = Vec<(Member, Action, Vec<Vec<ArgCond>>)>;

/// `denied` by syscall number.
fn by_number(denied: &[(Member, Action)]) -> BTreeMap<u32, Named> {
    let mut out: BTreeMap<u32, Named> = BTreeMap::new();
    for &(m, action) in denied {
        if let Some(nr) = syscall_number(m.syscall()) {
            let rules = match m {
                Member::Qualified(q) => qualified_conditions(q),
                Member::Syscall(_) => Vec::new(),
            };
            out.entry(nr).or_default().push((m, action, rules));
        }
    }
    out
}

/// What the filter must answer for a call, worked out from the members themselves (`named`:
/// those of this call, [`by_number`]) rather than from any compiled code: another ABI is
/// refused; a plain denial of the call decides it (the last one, a notification never
/// overriding a denial); otherwise the first argument rule, in the members' order, whose
/// conditions all hold on the arguments' low 32 bits; otherwise a notification where the
/// call is observed, else it is allowed.
fn reference(
    named: &[(Member, Action, Vec<Vec<ArgCond>>)],
    arch: u32,
    nr: u32,
    args: [u64; 6],
) -> u32 {
    if arch != AUDIT_ARCH_NATIVE || nr >= FIRST_UNKNOWN {
        return FOREIGN_ABI.ret();
    }
    let mut plain = None;
    for &(m, action, _) in named {
        if let Member::Syscall(_) = m {
            if action != Action::Notify || plain.is_none() {
                plain = Some(action);
            }
        }
    }
    if let Some(action) = plain.filter(|&a| a != Action::Notify) {
        return action.ret();
    }
    let holds = |&ArgCond { arg, cmp }: &ArgCond| {
        let a = args[arg as usize] as u32;
        match cmp {
            Cmp::Eq(v) => a == v as u32,
            Cmp::Ne(v) => a != v as u32,
            Cmp::MaskedEq { mask, value } => a & mask as u32 == value as u32,
            Cmp::MaskedNe { mask, value } => a & mask as u32 != value as u32,
        }
    };
    for (_, action, rules) in named {
        if rules.iter().any(|rule| rule.iter().all(holds)) {
            return action.ret();
        }
    }
    plain.map_or(ALLOW, Action::ret)
}

/// Every argument value the rules compare with, those values with each mask's other bits
/// flipped, and the edges.
fn interesting_values(denied: &[(Member, Action)]) -> Vec<u64> {
    let mut v = vec![0, 1, 2, u32::MAX as u64, u64::MAX, 1 << 32];
    for &(m, _) in denied {
        if let Member::Qualified(q) = m {
            for cond in qualified_conditions(q).into_iter().flatten() {
                match cond.cmp {
                    Cmp::Eq(x) | Cmp::Ne(x) => v.extend([x, x ^ 1, x | (1 << 40)]),
                    Cmp::MaskedEq { mask, value } | Cmp::MaskedNe { mask, value } => {
                        // With the guard's bit (the highest) alone, and every bit but it.
                        let top = 1u64 << (63 - (value | 1).leading_zeros());
                        v.extend([
                            value,
                            mask,
                            value | !mask & 0xffff_ffff,
                            value ^ mask,
                            top,
                            value & !top,
                        ])
                    }
                }
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Every syscall number, through every ABI, with every argument the rules look at, is
/// decided as the members say ([`reference`]); and the comparison notices a filter that
/// lacks one argument rule.
#[test]
fn the_filter_decides_every_call_as_its_members_say() {
    // Observing calls (learn): plain notifications over qualified denials of the same calls.
    let mut observed = default_members(OnViolation::Errno, &NETWORK_RULES);
    observed.extend(
        ["openat", "connect", "socket", "ioctl", "execve", "read"]
            .map(|n| (Member::Syscall(n), Action::Notify)),
    );
    let configs = [
        default_members(OnViolation::Errno, &[]),
        default_members(OnViolation::Kill, &NETWORK_RULES),
        default_members(OnViolation::Log, &NETWORK_RULES),
        observed,
        vec![(Member::Syscall("read"), Action::Kill)],
        vec![],
    ];
    let max_nr = (0..1024)
        .filter(|&n| syscalls_name(n).is_some())
        .max()
        .unwrap_or(0)
        + 8;
    // Every call the program decides differently from the members, up to `limit`.
    let differences = |prog: &[sock_filter], denied: &[(Member, Action)], limit: usize| {
        let decided = decisions(denied).unwrap();
        let values = interesting_values(denied);
        let named = by_number(denied);
        let mut found = Vec::new();
        let arches = [AUDIT_ARCH_NATIVE, 0x4000_0003, 0];
        let numbers = (0..max_nr).chain([X32_SYSCALL_BIT, X32_SYSCALL_BIT | 1, u32::MAX]);
        for arch in arches {
            for nr in numbers.clone() {
                let members = named.get(&nr).map_or(&[][..], Vec::as_slice);
                let mut check = |args: [u64; 6]| {
                    let (got, want) = (
                        run(prog, arch, nr, args),
                        reference(members, arch, nr, args),
                    );
                    if got != want && found.len() < limit {
                        found.push(format!(
                            "arch {arch:#x} nr {nr} args {args:x?}: {got:#x}, not {want:#x}"
                        ));
                    }
                };
                // The numbers the members name, not only those the compiled decisions hold:
                // a call whose rules were dropped is swept all the same.
                let named_here = named.contains_key(&nr) || decided.contains_key(&nr);
                if arch != AUDIT_ARCH_NATIVE || !named_here {
                    check([0; 6]);
                    check([u64::MAX; 6]);
                    continue;
                }
                // Argument-dependent: every pair of interesting values in every pair of
                // argument positions the rules read (0..=4).
                for &a in &values {
                    for &b in &values {
                        for (i, j) in [(0, 1), (0, 2), (1, 2), (2, 3), (0, 4), (3, 4), (1, 3)] {
                            let mut args = [0u64; 6];
                            args[i] = a;
                            args[j] = b;
                            check(args);
                        }
                    }
                }
            }
        }
        found
    };
    for denied in &configs {
        let found = differences(&compile(denied).unwrap(), denied, 5);
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
    // The control: without the rule on internet socket types, raw sockets are allowed.
    let denied = default_members(OnViolation::Errno, &NETWORK_RULES);
    let weaker: Vec<_> = denied
        .iter()
        .copied()
        .filter(|&(m, _)| m != Member::Qualified(Qualified::SocketInetOther))
        .collect();
    assert!(!differences(&compile(&weaker).unwrap(), &denied, 1).is_empty());
}

/// The name of syscall `nr`, if this architecture has one.
fn syscalls_name(nr: u32) -> Option<&'static str> {
    syscalls::Sysno::new(nr as usize).map(|s| s.name())
}

/// The search keeps the program small and every decision a few compares deep.
#[test]
fn the_search_is_shallow() {
    let members = default_members(OnViolation::Errno, &[Qualified::SocketUnix]);
    let p = compile(&members).unwrap();
    let decided = decisions(&members).unwrap();
    // Allowed and plainly denied numbers; argument rules run their own code after the search.
    let deepest = (0..600)
        .filter(|nr| decided.get(nr).is_none_or(|code| code.len() == 1))
        .map(|nr| run_counted(&p, AUDIT_ARCH_NATIVE, nr, [0; 6]).1)
        .max()
        .unwrap();
    eprintln!(
        "{} instructions, {} decided numbers, deepest plain decision {deepest} instructions",
        p.len(),
        decided.len()
    );
    // The prelude (5 on the way), ~log2 of the ranges, the leaf: a chain took up to ~240.
    assert!(deepest <= 20, "a decision takes {deepest} instructions");
}

/// One-bit rules in a row share a `JSET` only when they return the same value, and a rule's
/// failed condition goes on to the next rule.
#[test]
fn one_bit_rules_merge_only_with_the_same_action() {
    let bit = |arg: u8, b: u64| ArgCond {
        arg,
        cmp: Cmp::MaskedEq { mask: b, value: b },
    };
    let (a, b) = (EPERM, ENOSYS);
    let (r1, r2, r3, r4, r5) = (
        [bit(0, 1)],
        [bit(0, 2)],
        [bit(0, 4)],
        // Same action, another argument: not merged with the one before.
        [bit(2, 0x20)],
        [
            bit(1, 8),
            ArgCond {
                arg: 0,
                cmp: Cmp::Ne(0),
            },
        ],
    );
    let rules: [(&[ArgCond], u32); 5] = [(&r1, a), (&r2, a), (&r3, b), (&r4, b), (&r5, b)];
    let mut prog = Vec::new();
    rule_code(&rules, &mut prog).unwrap();
    prog.push(stmt(BPF_RET_K, ALLOW));
    let cases = [
        ([0, 0], ALLOW),
        ([1, 0], a),
        ([2, 0], a),
        ([3, 0], a),
        ([4, 0], b),
        ([5, 0], a),
        ([8, 8], b),
        ([0, 8], ALLOW),
        ([0x10, 8], b),
    ];
    for ([x, y], want) in cases {
        assert_eq!(
            run(&prog, AUDIT_ARCH_NATIVE, 0, [x, y, 0, 0, 0, 0]),
            want,
            "{x} {y}"
        );
    }
    // Argument 2's bit is a test of its own: set in argument 0, it matches nothing.
    assert_eq!(run(&prog, AUDIT_ARCH_NATIVE, 0, [0, 0, 0x20, 0, 0, 0]), b);
    assert_eq!(
        run(&prog, AUDIT_ARCH_NATIVE, 0, [0x20, 0, 0, 0, 0, 0]),
        ALLOW
    );
    // The first two are one test.
    let jsets = prog.iter().filter(|i| i.code == BPF_JSET_K).count();
    assert_eq!(jsets, 4, "{prog:?}");
}

#[test]
fn the_rules_about_other_processes_cover_every_call_that_names_one() {
    let calls: Vec<&str> = Qualified::ALL
        .iter()
        .filter(|q| q.of_other_processes())
        .map(|q| q.syscall())
        .collect();
    assert_eq!(
        calls,
        [
            "prlimit64",
            "sched_setscheduler",
            "sched_setparam",
            "sched_setattr",
            "sched_setaffinity",
            "setpriority",
            "ioprio_set"
        ]
    );
}
