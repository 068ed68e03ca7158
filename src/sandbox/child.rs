//! Post-fork code: a flat list of steps, single-threaded until exec, no logging. Each failure
//! is sent to the parent as a `Failure` record and ends the child.

use std::ffi::CStr;
use std::os::fd::RawFd;

use landlock::{PathBeneath, PathFd, RulesetCreatedAttr};

use super::prepare::Prepared;
use super::{FORWARDED, Failure, Step};

pub(super) fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Reports a failed step to the parent and exits.
pub(super) fn fail(status: RawFd, step: Step, index: u32, err: i32) -> ! {
    let rec = Failure::encode(step, index, err);
    // SAFETY: writes a 12-byte stack buffer to a pipe (atomic below PIPE_BUF); _exit never
    // returns and runs no destructors or atexit handlers.
    unsafe {
        libc::write(status, rec.as_ptr().cast(), rec.len());
        libc::_exit(if step == Step::Exec { 127 } else { 125 });
    }
}

/// Runs `f` (a libc call returning -1 on error) and fails `step` if it does.
pub(super) fn check(status: RawFd, step: Step, index: u32, r: libc::c_long) {
    if r < 0 {
        fail(status, step, index, errno());
    }
}

/// The errno inside a crate error (Landlock), found along its `source()` chain.
fn errno_of(e: &(dyn std::error::Error + 'static)) -> i32 {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if let Some(n) = io.raw_os_error() {
                return n;
            }
        }
        cur = c.source();
    }
    libc::EINVAL
}

fn write_file(status: RawFd, step: Step, path: &CStr, data: &[u8]) {
    // SAFETY: path is NUL-terminated; data is a valid buffer; the fd is closed on every path.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            fail(status, step, 0, errno());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = errno();
        libc::close(fd);
        if n < 0 || n as usize != data.len() {
            fail(status, step, 0, if n < 0 { e } else { libc::EIO });
        }
    }
}

#[allow(clippy::too_many_arguments)] // mirrors mount(2), plus the step to report
pub(super) fn mount(
    status: RawFd,
    step: Step,
    index: u32,
    source: &CStr,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) {
    // SAFETY: every pointer is a NUL-terminated string or null, as mount(2) accepts.
    let r = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.map_or(std::ptr::null(), |f| f.as_ptr()),
            flags,
            data.map_or(std::ptr::null(), |d| d.as_ptr().cast()),
        )
    };
    check(status, step, index, r as libc::c_long);
}

extern "C" fn noop_handler(_: libc::c_int) {}

/// Applies the prepared sandbox to this process (PID 1 of its namespaces), forks the server,
/// and stays as its init. `status` is the write end of the report pipe; `alive` the read end
/// of a pipe whose writer is the parent: EOF there means the parent is gone.
pub fn run(p: &mut Prepared, status: RawFd, alive: RawFd, server_mask: &libc::sigset_t) -> ! {
    for (i, &fd) in p.cgroup_procs.iter().enumerate() {
        // SAFETY: writes a 1-byte literal to an open fd.
        check(
            status,
            Step::Cgroup,
            i as u32,
            unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } as libc::c_long,
        );
    }
    // SAFETY: prctl with integer arguments.
    check(status, Step::DeathSignal, 0, unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0)
    } as libc::c_long);
    // The parent may have died before the death signal was armed.
    let mut pfd = libc::pollfd {
        fd: alive,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    if unsafe { libc::poll(&mut pfd, 1, 0) } != 0 {
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(125) };
    }

    if let Some((uid_map, gid_map)) = &p.id_maps {
        write_file(status, Step::Setgroups, c"/proc/self/setgroups", b"deny");
        write_file(
            status,
            Step::UidMap,
            c"/proc/self/uid_map",
            uid_map.as_bytes(),
        );
        write_file(
            status,
            Step::GidMap,
            c"/proc/self/gid_map",
            gid_map.as_bytes(),
        );
    }

    if let Some(m) = &mut p.mounts {
        m.apply(status);
    }

    // SAFETY: NUL-terminated path.
    check(
        status,
        Step::Chdir,
        0,
        unsafe { libc::chdir(p.chdir.as_ptr()) } as libc::c_long,
    );

    if p.loopback {
        loopback_up(status);
    }
    if let Some(px) = &p.proxy {
        route_everything_to_loopback(status);
        proxy_sockets(px, status);
    }

    if let Some(mut rs) = p.ruleset.take() {
        for (i, (path, access)) in p.private_rules.iter().enumerate() {
            let Ok(fd) = PathFd::new(path) else {
                // A private path that does not exist inside (a /proc entry, say): no rule.
                continue;
            };
            rs = match rs.add_rule(PathBeneath::new(fd, *access)) {
                Ok(r) => r,
                Err(e) => fail(status, Step::LandlockRule, i as u32, errno_of(&e)),
            };
        }
        if let Err(e) = rs.restrict_self() {
            fail(status, Step::LandlockRestrict, 0, errno_of(&e));
        }
    }

    for (i, &(res, v)) in p.rlimits.iter().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: v,
            rlim_max: v,
        };
        // SAFETY: a valid rlimit struct.
        check(
            status,
            Step::Rlimit,
            i as u32,
            unsafe { libc::setrlimit(res, &lim) } as libc::c_long,
        );
    }

    // SAFETY: no arguments.
    check(status, Step::Setsid, 0, unsafe { libc::setsid() }
        as libc::c_long);

    drop_capabilities(p, status);

    // SAFETY: prctl with integer arguments.
    check(
        status,
        Step::NoNewPrivs,
        0,
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as libc::c_long,
    );

    // This process is a copy of mcpcell: its memory holds mcpcell's whole environment and
    // the plan. Not dumpable, it keeps the server (same user, same Landlock domain) out of
    // /proc/1/environ, mem, fd and the rest. The server's execve makes the server itself
    // dumpable again, as usual.
    // SAFETY: prctl with integer arguments.
    check(
        status,
        Step::NotDumpable,
        0,
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } as libc::c_long,
    );

    match (&p.seccomp, p.observe_channel) {
        (Some(prog), Some(channel)) => install_observing_filter(prog, channel, status),
        (Some(prog), None) => {
            if let Err(e) = seccompiler::apply_filter(prog) {
                fail(status, Step::Seccomp, 0, errno_of(&e));
            }
        }
        (None, _) => {}
    }

    // PID 1 only receives signals it has a handler for; they stay blocked (inherited from
    // the parent) and are read from a signalfd.
    for &sig in FORWARDED.iter().chain(&[libc::SIGCHLD]) {
        // SAFETY: installs a handler that does nothing; the sigaction struct is valid.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = noop_handler as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) < 0 {
                fail(status, Step::Signals, sig as u32, errno());
            }
        }
    }

    // Where PID 1 reads those signals (init_loop).
    let mut set = crate::supervise::sigset(&FORWARDED);
    // SAFETY: adds to a valid set; signalfd takes a valid set.
    let signals = unsafe {
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
    };
    if signals < 0 {
        fail(status, Step::Signals, 0, errno());
    }

    // SAFETY: fork in a single-threaded process; the child only makes async-signal-safe calls
    // before execve or _exit.
    let server = unsafe { libc::fork() };
    if server < 0 {
        fail(status, Step::Fork, 0, errno());
    }
    if server == 0 {
        exec_server(p, status, server_mask);
    }
    // SAFETY: closing our copies; the server keeps the report pipe until its execve. The init
    // needs no stdio: without it, the client's pipes or the user's terminal are held by the
    // server alone.
    unsafe {
        libc::close(status);
        libc::close(0);
        libc::close(1);
        libc::close(2);
    }
    init_loop(server, signals, alive, p.code_pages)
}

fn exec_server(p: &Prepared, status: RawFd, mask: &libc::sigset_t) -> ! {
    // SAFETY: plain libc calls on valid arguments; the argv and envp arrays are
    // NULL-terminated and point into C strings that live in `p`.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
        // Without a PID namespace nothing else kills the server when its init dies.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        // Rust ignores SIGPIPE in mcpcell; the server gets the default.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        for (target, fd) in p.stdio.iter().enumerate() {
            if let Some(fd) = *fd {
                if libc::dup2(fd, target as libc::c_int) < 0 {
                    fail(status, Step::Stdio, target as u32, errno());
                }
            }
        }
        // Nothing inherited beyond stdin, stdout and stderr reaches the server.
        if libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) < 0 {
            for fd in 3..4096 {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        libc::execve(
            p.exec_path.as_ptr(),
            p.argv_ptrs.as_ptr(),
            p.envp_ptrs.as_ptr(),
        );
    }
    fail(status, Step::Exec, 0, errno())
}

/// PID 1: pass signals on to the server, reap every child, exit with the server's status.
///
/// It also watches `alive`: the parent-death signal alone can miss mcpcell's death. The signal
/// is sent when the thread that cloned this process exits, and only if it is armed by then;
/// when that thread exits while this process is still joining its pids cgroup (an RCU grace
/// period), the signal is not armed yet, and the check right after arming it can still find
/// the pipe open, held by mcpcell's other threads in the middle of exiting. EOF on the pipe
/// is final: this process exits, and the kernel kills everything in the namespace with it.
///
/// Once the server has lived a moment, the code that set the sandbox up is not needed again:
/// its pages go.
fn init_loop(
    server: libc::pid_t,
    signals: RawFd,
    alive: RawFd,
    code_pages: &[crate::residency::Range],
) -> ! {
    let start = std::time::Instant::now();
    let mut pages_dropped = false;
    // SAFETY: poll, read, waitpid and kill take valid pointers or none; _exit never returns.
    unsafe {
        loop {
            let timeout = if pages_dropped {
                -1
            } else {
                let left = crate::residency::AFTER.saturating_sub(start.elapsed());
                left.as_millis() as libc::c_int
            };
            let mut fds = [
                libc::pollfd {
                    fd: signals,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: alive,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let n = libc::poll(fds.as_mut_ptr(), 2, timeout);
            if n < 0 {
                continue;
            }
            if n == 0 {
                if !pages_dropped {
                    crate::residency::drop_pages(code_pages);
                    pages_dropped = true;
                }
                continue;
            }
            if fds[1].revents != 0 {
                // mcpcell is gone (nothing is ever written to the pipe).
                libc::_exit(128 + libc::SIGKILL);
            }
            if fds[0].revents == 0 {
                continue;
            }
            let mut info: libc::signalfd_siginfo = std::mem::zeroed();
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            if libc::read(signals, (&raw mut info).cast(), size) != size as isize {
                continue;
            }
            let sig = info.ssi_signo as libc::c_int;
            if sig != libc::SIGCHLD {
                libc::kill(server, sig);
                continue;
            }
            loop {
                let mut st = 0;
                let pid = libc::waitpid(-1, &mut st, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == server {
                    let Some(code) = super::exit_code(st) else {
                        continue;
                    };
                    // Everything else in the namespace is killed when PID 1 exits.
                    libc::_exit(code);
                }
            }
        }
    }
}

fn loopback_up(status: RawFd) {
    // SAFETY: a zeroed ifreq is valid; the name fits IFNAMSIZ; ioctls get a pointer to it.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            fail(status, Step::Loopback, 0, errno());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        ifr.ifr_name[0] = b'l' as libc::c_char;
        ifr.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            fail(status, Step::Loopback, 1, errno());
        }
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr) < 0 {
            fail(status, Step::Loopback, 2, errno());
        }
        libc::close(s);
    }
}

/// `ip route add local 0.0.0.0/0 dev lo table local`: every IPv4 address is local inside the
/// sandbox, so a connection to any address reaches the proxy's transparent listeners (and
/// nothing else: there is no other route).
fn route_everything_to_loopback(status: RawFd) {
    #[repr(C)]
    struct Req {
        nh: libc::nlmsghdr,
        rt: RtMsg,
        attr: libc::nlattr,
        oif: u32,
    }
    #[repr(C)]
    struct RtMsg {
        family: u8,
        dst_len: u8,
        src_len: u8,
        tos: u8,
        table: u8,
        protocol: u8,
        scope: u8,
        kind: u8,
        flags: u32,
    }
    const RTM_NEWROUTE: u16 = 24;
    const RT_TABLE_LOCAL: u8 = 255;
    const RTPROT_BOOT: u8 = 3;
    const RT_SCOPE_HOST: u8 = 254;
    const RTN_LOCAL: u8 = 2;
    const RTA_OIF: u16 = 4;
    let req = Req {
        nh: libc::nlmsghdr {
            nlmsg_len: std::mem::size_of::<Req>() as u32,
            nlmsg_type: RTM_NEWROUTE,
            nlmsg_flags: (libc::NLM_F_REQUEST
                | libc::NLM_F_ACK
                | libc::NLM_F_CREATE
                | libc::NLM_F_EXCL) as u16,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        },
        rt: RtMsg {
            family: libc::AF_INET as u8,
            dst_len: 0,
            src_len: 0,
            tos: 0,
            table: RT_TABLE_LOCAL,
            protocol: RTPROT_BOOT,
            scope: RT_SCOPE_HOST,
            kind: RTN_LOCAL,
            flags: 0,
        },
        attr: libc::nlattr {
            nla_len: (std::mem::size_of::<libc::nlattr>() + 4) as u16,
            nla_type: RTA_OIF,
        },
        oif: 1, // loopback is always interface 1 in a new network namespace
    };
    // SAFETY: a netlink socket; sendto/recv with a valid request struct and reply buffer.
    unsafe {
        let s = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        );
        if s < 0 {
            fail(status, Step::ProxySockets, 90, errno());
        }
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let sent = libc::sendto(
            s,
            (&req as *const Req).cast(),
            std::mem::size_of::<Req>(),
            0,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        );
        if sent < 0 {
            fail(status, Step::ProxySockets, 91, errno());
        }
        let mut reply = [0u8; 256];
        let n = libc::recv(s, reply.as_mut_ptr().cast(), reply.len(), 0);
        libc::close(s);
        let hdr = std::mem::size_of::<libc::nlmsghdr>();
        if n < (hdr + 4) as isize {
            fail(status, Step::ProxySockets, 92, libc::EIO);
        }
        // An ACK is an NLMSG_ERROR message whose error field is 0.
        let err = i32::from_ne_bytes([reply[hdr], reply[hdr + 1], reply[hdr + 2], reply[hdr + 3]]);
        if err != 0 {
            fail(status, Step::ProxySockets, 93, -err);
        }
    }
}

/// A listening socket inside the sandbox's network namespace, for mcpcell to serve.
fn listen(status: RawFd, index: u32, udp: bool, addr: u32, port: u16) -> RawFd {
    // SAFETY: socket/setsockopt/bind/listen on a fresh descriptor with a valid sockaddr_in.
    unsafe {
        let kind = if udp {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_STREAM
        };
        let s = libc::socket(libc::AF_INET, kind | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            fail(status, Step::ProxySockets, index, errno());
        }
        let one: libc::c_int = 1;
        libc::setsockopt(
            s,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: addr.to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(s, (&sa as *const libc::sockaddr_in).cast(), len) < 0 {
            fail(status, Step::ProxySockets, index, errno());
        }
        if !udp && libc::listen(s, 128) < 0 {
            fail(status, Step::ProxySockets, index, errno());
        }
        s
    }
}

/// Observe mode: installs the filter with a user-notification listener and hands the
/// listener to mcpcell, which answers every observed call. The sandbox keeps no copy, so it
/// cannot answer its own calls.
fn install_observing_filter(prog: &seccompiler::BpfProgram, channel: RawFd, status: RawFd) {
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    let fprog = libc::sock_fprog {
        len: prog.len() as libc::c_ushort,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) with a valid program that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    check(status, Step::Seccomp, 0, fd);
    let fd = fd as RawFd;
    if let Err(e) = send_fds(channel, b"N", std::slice::from_ref(&fd)) {
        fail(status, Step::ObserveChannel, 0, e as i32);
    }
    // SAFETY: closing descriptors this process no longer needs.
    unsafe {
        libc::close(fd);
        libc::close(channel);
    }
}

/// Sends descriptors to mcpcell over a channel (`supervise::receive_fds` takes them).
fn send_fds(channel: RawFd, tag: &[u8], fds: &[RawFd]) -> nix::Result<usize> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let iov = [std::io::IoSlice::new(tag)];
    sendmsg::<()>(
        channel,
        &iov,
        &[ControlMessage::ScmRights(fds)],
        MsgFlags::empty(),
        None,
    )
}

/// Creates the proxy's listeners and hands them to mcpcell; the sandbox keeps no copy.
fn proxy_sockets(px: &super::prepare::ProxySockets, status: RawFd) {
    const LOCALHOST: u32 = 0x7F00_0001;
    let mut fds = vec![
        listen(status, 0, false, LOCALHOST, px.proxy_port),
        listen(status, 1, true, LOCALHOST, 53),
    ];
    for (i, &port) in px.transparent_ports.iter().enumerate() {
        fds.push(listen(status, 2 + i as u32, false, 0, port));
    }
    if let Err(e) = send_fds(px.channel, b"L", &fds) {
        fail(status, Step::ProxySockets, 99, e as i32);
    }
    for fd in fds {
        // SAFETY: closing descriptors this function created.
        unsafe { libc::close(fd) };
    }
    // SAFETY: the channel is ours and no longer needed.
    unsafe { libc::close(px.channel) };
}

const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Empties every capability set (bounding and ambient too), except what the profile keeps,
/// and locks the securebits so that uid 0 gains nothing at execve.
fn drop_capabilities(p: &Prepared, status: RawFd) {
    let keep = p.caps_keep;
    let mut bits = SECBIT_NOROOT
        | SECBIT_NOROOT_LOCKED
        | SECBIT_NO_SETUID_FIXUP
        | SECBIT_NO_SETUID_FIXUP_LOCKED
        | SECBIT_KEEP_CAPS_LOCKED;
    if keep == 0 {
        bits |= SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    }
    // SAFETY: prctl and capset with integer arguments or pointers to valid local structs.
    unsafe {
        // Without CAP_SETPCAP (an ordinary user without a user namespace) the process has no
        // capabilities to lose; its bounding set stays, inert under no_new_privs.
        if p.can_setpcap {
            check(
                status,
                Step::Securebits,
                0,
                libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) as libc::c_long,
            );
            for cap in 0..=p.cap_last_cap {
                if keep & (1u64 << cap) == 0
                    && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
                    && errno() != libc::EINVAL
                {
                    fail(status, Step::Capabilities, cap, errno());
                }
            }
        }
        check(
            status,
            Step::Capabilities,
            100,
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ) as libc::c_long,
        );
        let mut hdr = CapHeader {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let lo = keep as u32;
        let hi = (keep >> 32) as u32;
        let data = [
            CapData {
                effective: lo,
                permitted: lo,
                inheritable: lo,
            },
            CapData {
                effective: hi,
                permitted: hi,
                inheritable: hi,
            },
        ];
        check(
            status,
            Step::Capabilities,
            101,
            libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()),
        );
        for cap in 0..=p.cap_last_cap {
            if keep & (1u64 << cap) != 0 {
                check(
                    status,
                    Step::Capabilities,
                    200 + cap,
                    libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE,
                        cap as libc::c_ulong,
                        0,
                        0,
                    ) as libc::c_long,
                );
            }
        }
    }
}
