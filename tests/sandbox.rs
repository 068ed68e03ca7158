//! What the sandbox blocks, tried from inside with the probe and checked from outside.

mod common;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;

use common::*;

fn has_landlock() -> bool {
    require(landlock_abi() >= 1, "Landlock")
}

#[test]
fn reads_outside_the_grants_fail() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let secret = d.path().join("secret.txt");
    write(&secret, "s3cret");
    let s = secret.to_str().unwrap();
    assert_denied(&probe_line(&[], &["read", s]), "reading an ungranted file");
    assert_denied(
        &probe_line(&[], &["ls", d.path().to_str().unwrap()]),
        "listing an ungranted directory",
    );
    assert_eq!(
        probe_line(&["--allow-read", d.path().to_str().unwrap()], &["read", s]),
        "OK s3cret"
    );
    // Another user's secrets and the shadow file stay closed even to root.
    assert_denied(
        &probe_line(&[], &["read", "/etc/shadow"]),
        "reading /etc/shadow",
    );
    if let Ok(home) = std::env::var("HOME") {
        assert_denied(&probe_line(&[], &["ls", &home]), "listing $HOME");
    }
}

#[test]
fn writes_outside_the_grants_fail() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let dir = d.path().to_str().unwrap();
    let target = d.path().join("new.txt");
    let t = target.to_str().unwrap();
    assert_denied(
        &probe_line(&["--allow-read", dir], &["write", t, "x"]),
        "writing under a read grant",
    );
    assert!(!target.exists());
    let existing = d.path().join("existing.txt");
    write(&existing, "keep me");
    let e = existing.to_str().unwrap();
    assert_denied(
        &probe_line(&["--allow-read", dir], &["truncate", e]),
        "truncating under a read grant",
    );
    assert_denied(
        &probe_line(&["--allow-read", dir], &["unlink", e]),
        "deleting under a read grant",
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert_eq!(
        probe_line(&["--allow-write", dir], &["write", t, "hello"]),
        format!("OK {t}")
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello");
}

#[test]
fn files_written_by_the_server_cannot_be_executed() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let dir = d.path().to_str().unwrap();
    let copy = d.path().join("copy");
    std::fs::copy(probe(), &copy).unwrap();
    let line = probe_line(
        &["--allow-write", dir],
        &["exec", copy.to_str().unwrap(), "exit", "0"],
    );
    assert_denied(&line, "executing a file in a writable directory");
}

#[test]
fn symlink_hardlink_and_rename_tricks_fail() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let work = d.path().join("work");
    let outside = d.path().join("outside");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let secret = outside.join("id_rsa");
    write(&secret, "PRIVATE KEY");
    let w = work.to_str().unwrap();
    let link = work.join("link");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    assert_denied(
        &probe_line(&["--allow-write", w], &["read", link.to_str().unwrap()]),
        "reading through a symlink",
    );
    let dotdot = format!("{w}/../outside/id_rsa");
    assert_denied(
        &probe_line(&["--allow-write", w], &["read", &dotdot]),
        "reading through ..",
    );
    let hard = work.join("hard");
    assert_denied(
        &probe_line(
            &["--allow-write", w],
            &["link", secret.to_str().unwrap(), hard.to_str().unwrap()],
        ),
        "hard-linking a secret into the workspace",
    );
    assert!(!hard.exists());
    let moved = work.join("moved");
    assert_denied(
        &probe_line(
            &["--allow-write", w],
            &["rename", secret.to_str().unwrap(), moved.to_str().unwrap()],
        ),
        "renaming a secret into the workspace",
    );
    assert!(secret.exists() && !moved.exists());
}

#[test]
fn hide_masks_paths_under_a_grant() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    write(&home.join(".ssh/id_rsa"), "PRIVATE KEY");
    write(&home.join("token"), "TOKEN");
    write(&home.join("notes.txt"), "notes");
    let h = home.to_str().unwrap();
    let prof = profile(
        d.path(),
        "hiding",
        &format!(
            "extends: [default]\nfilesystem:\n  write: [\"{h}\"]\n  hide: [\"{h}/.ssh\", \"{h}/token\"]\n"
        ),
    );
    let p = prof.to_str().unwrap();
    assert_eq!(
        probe_line(&["-p", p], &["read", &format!("{h}/notes.txt")]),
        "OK notes"
    );
    let key = probe_line(&["-p", p], &["read", &format!("{h}/.ssh/id_rsa")]);
    assert_denied(&key, "reading a hidden directory's file");
    assert_eq!(probe_line(&["-p", p], &["ls", &format!("{h}/.ssh")]), "OK");
    let token = probe_line(&["-p", p], &["read", &format!("{h}/token")]);
    assert!(!token.contains("TOKEN"), "hidden file readable: {token}");
    // The default profile hides ${HOME}/.ssh when a grant covers $HOME.
    let probe = probe();
    let mut cmd = run_cmd(&[
        "--allow-read",
        h,
        "--",
        probe.to_str().unwrap(),
        "read",
        &format!("{h}/.ssh/id_rsa"),
    ]);
    cmd.env("HOME", h);
    let out = output_within(cmd, Duration::from_secs(30));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("ERR "),
        "~/.ssh readable under a grant of $HOME: {line}"
    );
}

#[test]
fn tmp_is_private() {
    let name = format!("/tmp/mcpcell-private-{}", std::process::id());
    assert_eq!(
        probe_line(&[], &["write", &name, "x"]),
        format!("OK {name}")
    );
    assert!(
        !std::path::Path::new(&name).exists(),
        "the write reached the host's /tmp"
    );
}

#[test]
fn no_network_in_mode_none() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let port = tcp.local_addr().unwrap().port().to_string();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let uport = udp.local_addr().unwrap().port().to_string();
    assert_denied(
        &probe_line(&[], &["tcp", "127.0.0.1", &port, "hello"]),
        "TCP to the host",
    );
    // UDP may "succeed" into the sandbox's own loopback; the host must see nothing.
    let _ = probe_line(&[], &["udp", "127.0.0.1", &uport, "hello"]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(tcp.accept().is_err(), "the host listener got a connection");
    let mut buf = [0u8; 64];
    assert!(udp.recv_from(&mut buf).is_err(), "the host got a datagram");
    assert_denied(
        &probe_line(&[], &["tcp", "10.255.255.53", "53", "x"]),
        "TCP to a remote address",
    );
}

#[test]
fn host_mode_limits_tcp_ports() {
    if !require(landlock_abi() >= 4, "Landlock ABI 4 (TCP rules)") {
        return;
    }
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let ap = allowed.local_addr().unwrap().port();
    let op = other.local_addr().unwrap().port();
    let d = scratch();
    let prof = profile(
        d.path(),
        "hostnet",
        &format!("extends: [default]\nnetwork:\n  mode: host\n  connect: [{ap}]\n"),
    );
    let p = prof.to_str().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = allowed.accept().unwrap();
        let mut v = String::new();
        s.read_to_string(&mut v).unwrap();
        v
    });
    assert_eq!(
        probe_line(
            &["-p", p],
            &["tcp", "127.0.0.1", &ap.to_string(), "through"]
        ),
        "OK sent"
    );
    assert_eq!(t.join().unwrap(), "through");
    assert_denied(
        &probe_line(&["-p", p], &["tcp", "127.0.0.1", &op.to_string(), "x"]),
        "TCP to an unlisted port",
    );
    assert!(other.accept().is_err());
    assert_denied(
        &probe_line(&["-p", p], &["bind", "0"]),
        "listening without network.bind",
    );
    // Unix sockets stay closed in host mode too, abstract ones included.
    let name = format!("mcpcell-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let l = UnixListener::bind_addr(&addr).unwrap();
    l.set_nonblocking(true).unwrap();
    assert_denied(
        &probe_line(&["-p", p], &["unix", &format!("@{name}"), "x"]),
        "an abstract socket in host mode",
    );
    assert!(l.accept().is_err());
}

#[test]
fn host_unix_sockets_are_unreachable() {
    let d = scratch();
    let path = d.path().join("agent.sock");
    let l = UnixListener::bind(&path).unwrap();
    l.set_nonblocking(true).unwrap();
    let name = format!("mcpcell-test-abs-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let abs = UnixListener::bind_addr(&addr).unwrap();
    abs.set_nonblocking(true).unwrap();
    let dir = d.path().to_str().unwrap();
    assert_denied(
        &probe_line(
            &["--allow-write", dir],
            &["unix", path.to_str().unwrap(), "x"],
        ),
        "a pathname socket in a writable directory",
    );
    assert_denied(
        &probe_line(&[], &["unix", &format!("@{name}"), "x"]),
        "an abstract socket",
    );
    assert!(
        l.accept().is_err() && abs.accept().is_err(),
        "a host socket got a connection"
    );
    // socketpair needs no address and stays available.
    assert_eq!(probe_line(&[], &["socketpair"]), "OK pair");
}

#[test]
fn host_processes_are_invisible_and_unsignalable() {
    let mut victim = Command::new("sleep").arg("300").spawn().unwrap();
    let v = victim.id().to_string();
    let pids = probe_line(&["--allow-read", "/proc"], &["pids"]);
    let listed: Vec<&str> = pids
        .trim_start_matches("OK ")
        .split_whitespace()
        .filter(|s| s.parse::<u32>().is_ok())
        .collect();
    assert!(
        listed.len() <= 3,
        "the sandbox sees other processes: {pids}"
    );
    assert_denied(
        &probe_line(&[], &["kill", &v, "15"]),
        "signalling a host process",
    );
    assert_denied(
        &probe_line(&[], &["ptrace", &v]),
        "ptrace of a host process",
    );
    assert_denied(
        &probe_line(&[], &["read", &format!("/proc/{v}/environ")]),
        "another process's environment",
    );
    assert_denied(
        &probe_line(&[], &["read", &format!("/proc/{v}/cmdline")]),
        "another process's command line",
    );
    assert!(victim.try_wait().unwrap().is_none(), "the victim died");
    victim.kill().unwrap();
    victim.wait().unwrap();
}

#[test]
fn the_sandbox_init_keeps_mcpcells_environment_to_itself() {
    // The sandbox's PID 1 is a copy of mcpcell, environment included; the server must not
    // read it back through /proc/1 (environ, mem, or the descriptors it holds).
    let p = probe();
    for target in ["/proc/1/environ", "/proc/1/mem", "/proc/1/fd/3"] {
        let mut cmd = run_cmd(&["--", p.to_str().unwrap(), "read", target]);
        cmd.env("MCPCELL_HOST_SECRET", "init-secret-4711");
        let out = output_within(cmd, Duration::from_secs(30));
        let line = String::from_utf8_lossy(&out.stdout);
        assert!(line.starts_with("ERR "), "{target} readable: {line}");
        assert!(!line.contains("init-secret-4711"), "{target}: {line}");
    }
}

#[test]
fn no_privileges_at_exec() {
    let line = probe_line(&[], &["status"]);
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            line.contains(&format!("{field}: 0000000000000000")),
            "{field} not empty: {line}"
        );
    }
    assert!(line.contains("NoNewPrivs: 1"), "{line}");
    assert!(line.contains("Seccomp: 2"), "{line}");
}

#[test]
fn environment_is_reduced_to_the_profile() {
    let p = probe();
    let out = output_within(
        {
            let mut c = run_cmd(&[
                "--pass-env",
                "KEEP_ME",
                "--set-env",
                "ADDED=1",
                "--",
                p.to_str().unwrap(),
                "env",
            ]);
            c.env("SECRET_TOKEN", "hunter2")
                .env("KEEP_ME", "yes")
                .env("LC_TIME", "C");
            c
        },
        Duration::from_secs(30),
    );
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(!env.contains("SECRET_TOKEN"), "{env}");
    for want in [
        "KEEP_ME=yes",
        "ADDED=1",
        "LC_TIME=C",
        "TMPDIR=/tmp",
        "PATH=",
    ] {
        assert!(
            env.lines().any(|l| l.starts_with(want)),
            "missing {want} in {env}"
        );
    }
}

#[test]
fn foreign_abi_syscalls_are_refused() {
    assert_eq!(
        probe_line(&[], &["int80"]),
        "ERR ENOSYS Function not implemented"
    );
    assert_denied(&probe_line(&[], &["x32"]), "an x32 syscall");
}

#[test]
fn namespaces_and_kernel_attack_surface_are_refused() {
    for cmd in [
        "unshare-user",
        "unshare-net",
        "clone-newuser",
        "mount",
        "bpf",
        "perf",
        "userfaultfd",
        "io_uring",
        "keyctl",
        "personality",
        "memfd-exec",
    ] {
        assert_denied(&probe_line(&[], &[cmd]), cmd);
    }
    assert_eq!(
        probe_line(&[], &["clone3"]),
        "ERR ENOSYS Function not implemented"
    );
    assert_denied(
        &probe_line(&["--allow-read", "/proc"], &["setns", "/proc/1/ns/net"]),
        "setns",
    );
}

#[test]
fn terminal_injection_is_refused() {
    let pty = nix::pty::openpty(None, None).unwrap();
    let p = probe();
    let mut cmd = run_cmd(&["--", p.to_str().unwrap(), "tiocsti"]);
    cmd.stdin(std::process::Stdio::from(pty.slave));
    let out = output_within(cmd, Duration::from_secs(30));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.starts_with("ERR "), "TIOCSTI was not refused: {line}");
    // Nothing arrived in the terminal's input queue.
    nix::fcntl::fcntl(
        &pty.master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut buf = [0u8; 16];
    assert!(nix::unistd::read(&pty.master, &mut buf).is_err() || buf[0] != b'x');
}

#[test]
fn process_limit_holds_for_root_too() {
    let d = scratch();
    let prof = profile(
        d.path(),
        "few",
        "extends: [default]\nlimits:\n  processes: 20\n",
    );
    let (code, out, err) = sandboxed(&["-p", prof.to_str().unwrap()], &["nproc"]);
    assert_eq!(code, 0, "{err}");
    let n: i32 = out.trim_start_matches("FORKED ").parse().unwrap();
    assert!(n < 20, "forked {n} processes under a limit of 20");
}

#[test]
fn with_unix_sockets_the_sandbox_sees_only_granted_paths() {
    let d = scratch();
    let dir = d.path().canonicalize().unwrap();
    let listed = dir.join("listed.sock");
    let unlisted = dir.join("unlisted.sock");
    let l1 = UnixListener::bind(&listed).unwrap();
    let l2 = UnixListener::bind(&unlisted).unwrap();
    l1.set_nonblocking(true).unwrap();
    l2.set_nonblocking(true).unwrap();
    let prof = profile(
        &dir,
        "sockets",
        &format!(
            "extends: [default]\nnetwork:\n  unix: [/tmp, \"{}\"]\n",
            listed.display()
        ),
    );
    let p = prof.to_str().unwrap();
    // Sockets of its own in the private /tmp work.
    assert_eq!(
        probe_line(&["-p", p], &["unix-self", "/tmp/own.sock"]),
        "OK ok"
    );
    // A listed host socket is reachable; an unlisted one does not even exist inside.
    assert_eq!(
        probe_line(&["-p", p], &["unix", listed.to_str().unwrap(), "hi"]),
        "OK sent"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(l1.accept().is_ok(), "the listed socket got no connection");
    assert_eq!(
        probe_line(&["-p", p], &["unix", unlisted.to_str().unwrap(), "hi"]),
        "ERR ENOENT No such file or directory"
    );
    assert!(l2.accept().is_err());
    // Nor does the rest of the host: /run, /root, /etc/shadow are gone, not just closed.
    for gone in ["/run", "/etc/shadow", "/var/lib"] {
        assert_eq!(
            probe_line(&["-p", p], &["ls", gone]),
            "ERR ENOENT No such file or directory",
            "{gone}"
        );
    }
    // Granted system paths are there as usual.
    assert!(probe_line(&["-p", p], &["read", "/etc/passwd"]).starts_with("OK "));
}
