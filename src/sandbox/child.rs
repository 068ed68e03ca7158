//! Post-fork code: a flat list of steps, single-threaded until exec, no logging. Each failure
//! is sent to the parent as a `Failure` record and ends the child. In order: join the
//! cgroup, tie the sandbox's life to mcpcell's, write the user namespace's maps, assemble the
//! mounts, enter the working directory, bring up the network, restrict itself with Landlock
//! and rlimits, start a new session, drop capabilities, set no_new_privs, become
//! non-dumpable, install the seccomp filter, then start the server (`spawn_server`) and stay
//! as its init.

use std::os::fd::RawFd;

use landlock::{PathBeneath, PathFd, RulesetCreatedAttr};

use super::caps::drop_capabilities;
use super::channel::send_fds;
use super::net::{loopback_up, proxy_sockets, route_everything_to_loopback};
use super::prepare::Prepared;
use super::sys::{check, errno, errno_of, fail, write_file};
use super::{FORWARDED, Step, tier};

extern "C" fn noop_handler(_: libc::c_int) {}

/// Applies the prepared sandbox to this process (PID 1 of its namespaces), starts the server,
/// and stays as its init. `status` is the write end of the report pipe; `alive` the read end
/// of a pipe whose writer is the parent: EOF there means the parent is gone.
pub fn run(p: &mut Prepared, status: RawFd, alive: RawFd, server_mask: &libc::sigset_t) -> ! {
    // Before anything can share the table (the network helper) or fill it (a descriptor for
    // every granted path): grown later, while shared, it would cost a grace period.
    crate::fdtable::grow(status);
    for (i, &fd) in p.cgroup_procs.iter().enumerate() {
        // SAFETY: writes a 1-byte literal to an open fd.
        check(
            status,
            Step::Cgroup,
            i as u32,
            unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } as libc::c_long,
        );
    }
    // An ordinary user's network namespace, made while the init mounts.
    let helper = if p.net_helper {
        super::nethelper::start()
    } else {
        None
    };
    if p.namespace_free {
        // No PID namespace: orphans of the server come to this process, which must outlive
        // mcpcell long enough to kill them (it learns of mcpcell's death from `alive`).
        // SAFETY: prctl with integer arguments.
        check(status, Step::DeathSignal, 1, unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        } as libc::c_long);
    } else {
        // SAFETY: prctl with integer arguments.
        check(status, Step::DeathSignal, 0, unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0)
        } as libc::c_long);
    }
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

    if p.net_helper {
        super::nethelper::join(helper, status);
    } else if p.loopback {
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
    // The server's own domain, nested in this one, and the check that kill(-1) from here
    // reaches only the sandbox.
    let mut server_domain = -1;
    if p.kill_tree {
        if !tier::signals_scoped() {
            fail(status, Step::LandlockRestrict, 1, libc::EPERM);
        }
        server_domain = tier::server_domain_ruleset();
        if server_domain < 0 {
            fail(status, Step::LandlockRestrict, 2, errno());
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
    let mut set = super::sigset(&FORWARDED);
    // SAFETY: adds to a valid set; signalfd takes a valid set.
    let signals = unsafe {
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
    };
    if signals < 0 {
        fail(status, Step::Signals, 0, errno());
    }

    let server = spawn_server(p, status, server_mask, server_domain);
    // SAFETY: closing our copies; the server keeps the report pipe until its execve. The init
    // needs no stdio: without it, the client's pipes or the user's terminal are held by the
    // server alone.
    unsafe {
        libc::close(status);
        libc::close(0);
        libc::close(1);
        libc::close(2);
    }
    if server_domain >= 0 {
        // SAFETY: closing the init's copy; the server has its own.
        unsafe { libc::close(server_domain) };
    }
    init_loop(server, signals, alive, p.code_pages, p.kill_tree)
}

/// Stack of the server's process from its clone to its execve, and the inaccessible guard
/// page below it (an overflow faults instead of writing into the init's memory).
const SPAWN_STACK: usize = 64 * 1024;
const SPAWN_GUARD: usize = 4096;

/// What the server's process needs until its execve, on the init's memory.
struct Spawn<'a> {
    p: &'a Prepared,
    status: RawFd,
    mask: &'a libc::sigset_t,
    domain: RawFd,
    /// The init's pid: the server's parent until it execs, unless the init died.
    init: libc::pid_t,
}

extern "C" fn spawn_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Spawn` on the init's stack, which stays valid until this process
    // execs or exits (CLONE_VFORK keeps the init waiting).
    let s = unsafe { &*(arg as *const Spawn<'_>) };
    exec_server(s.p, s.status, s.mask, s.domain, s.init)
}

/// Starts the server's process and returns its pid, once it has exec'd (or failed).
///
/// As posix_spawn does, the process is cloned with `CLONE_VM | CLONE_VFORK`: it runs on the
/// init's memory, on a stack of its own, while the init waits, until its execve gives it a
/// new address space. A `fork` copied the init's page tables (the launcher's ~2 MiB) and
/// then faulted a private copy of each page either side wrote, for a process that only
/// makes a few system calls before exec. `exec_server` makes async-signal-safe calls only
/// and changes nothing the init relies on: its descriptor table, signal handlers and
/// credentials are its own (no `CLONE_FILES`, `CLONE_SIGHAND`; Landlock and seccomp act on
/// the calling thread). The init's handlers (`noop_handler`, std's stack-overflow handler)
/// may run on this process until its execve, on shared memory: they must stay free of side
/// effects. A failure to map the stack falls back to `fork`.
fn spawn_server(p: &Prepared, status: RawFd, mask: &libc::sigset_t, domain: RawFd) -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    let init = unsafe { libc::getpid() };
    let spawn = Spawn {
        p,
        status,
        mask,
        domain,
        init,
    };
    let size = SPAWN_GUARD + SPAWN_STACK;
    // SAFETY: an anonymous private mapping, unmapped below once the clone has returned; its
    // lowest page is made inaccessible.
    let stack = unsafe {
        let m = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        );
        if m != libc::MAP_FAILED && libc::mprotect(m, SPAWN_GUARD, libc::PROT_NONE) < 0 {
            libc::munmap(m, size);
            libc::MAP_FAILED
        } else {
            m
        }
    };
    let (server, err) = if stack == libc::MAP_FAILED {
        // SAFETY: the child only makes async-signal-safe calls before execve or _exit (the
        // init is single-threaded except in a namespace-free retry, where the launcher's
        // threads of the first attempt may have been copied; fork only remains for a
        // failed mmap).
        match unsafe { libc::fork() } {
            0 => exec_server(p, status, mask, domain, init),
            pid => (pid, errno()),
        }
    } else {
        // SAFETY: the stack grows down from the end of the mapping; `spawn` outlives the
        // child's use of it (the init is suspended until the child's execve or _exit).
        let pid = unsafe {
            libc::clone(
                spawn_entry,
                stack.cast::<u8>().add(size).cast(),
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&raw const spawn).cast_mut().cast(),
            )
        };
        let err = errno();
        // SAFETY: the mapping made above; the child no longer runs on it.
        unsafe { libc::munmap(stack, size) };
        (pid, err)
    };
    if server < 0 {
        fail(status, Step::Fork, 0, err);
    }
    server
}

fn exec_server(
    p: &Prepared,
    status: RawFd,
    mask: &libc::sigset_t,
    domain: RawFd,
    init: libc::pid_t,
) -> ! {
    if domain >= 0 && tier::enter_server_domain(domain) < 0 {
        fail(status, Step::LandlockRestrict, 3, errno());
    }
    // SAFETY: plain libc calls on valid arguments; the argv and envp arrays are
    // NULL-terminated and point into C strings that live in `p`.
    unsafe {
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
        // Without a PID namespace nothing else kills the server when its init dies; an init
        // that died before the signal was armed (killed while it waited for this execve)
        // left this process to another parent, and the server must not start.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() != init {
            libc::_exit(125);
        }
        // Rust ignores SIGPIPE in mcpcell; the server gets the default.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        crate::fdtable::grow(status);
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
    kill_tree: bool,
) -> ! {
    // Without a PID namespace nothing kills the rest of the tree when this process exits.
    let leave = |code: libc::c_int| -> ! {
        if kill_tree {
            tier::kill_tree();
        }
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(code) }
    };
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
                leave(128 + libc::SIGKILL);
            }
            if fds[0].revents == 0 {
                continue;
            }
            let Some(sig) = super::read_signal(signals) else {
                continue;
            };
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
                    leave(code);
                }
            }
        }
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
