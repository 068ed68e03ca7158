//! `mcpcell export seccomp`, loaded by a real OCI runtime (runc), and its compiled program
//! (`--format bpf`) by bubblewrap: a probe in the container is refused what the profile
//! denies, with the same answer it gets under `mcpcell run`, and allowed the rest; the same
//! container without the policy lets each denied call through.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A program found on PATH (runc, bwrap).
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// What `mcpcell export seccomp ARGS` writes, asserting it succeeded.
fn export_seccomp(args: &[&str]) -> Vec<u8> {
    let out = Command::new(mcpcell())
        .args(["export", "seccomp"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn export(profile: &str) -> Value {
    serde_json::from_slice(&export_seccomp(&["--profile", profile])).unwrap()
}

/// A bundle whose root holds only the static probe; as an ordinary user, a rootless one.
struct Bundle {
    dir: tempfile::TempDir,
    runc: PathBuf,
}

impl Bundle {
    fn new(runc: PathBuf) -> Bundle {
        let dir = scratch();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::copy(probe(), dir.path().join("rootfs/probe")).unwrap();
        let mut spec = Command::new(&runc);
        spec.arg("spec").current_dir(dir.path());
        if !is_root() {
            spec.arg("--rootless");
        }
        assert!(spec.status().unwrap().success());
        Bundle { dir, runc }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The probe's verdict line for `args`, under `seccomp` (or none).
    fn probe(&self, seccomp: Option<&Value>, args: &[&str]) -> String {
        static ID: AtomicUsize = AtomicUsize::new(0);
        let cfg = self.path().join("config.json");
        let mut c: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = std::iter::once("/probe")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .into();
        match seccomp {
            Some(s) => c["linux"]["seccomp"] = s.clone(),
            None => {
                c["linux"].as_object_mut().unwrap().remove("seccomp");
            }
        }
        std::fs::write(&cfg, serde_json::to_vec(&c).unwrap()).unwrap();
        let id = format!(
            "mcpcell-export-{}-{}",
            std::process::id(),
            ID.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = Command::new(&self.runc);
        // The container would otherwise read the test's stdin (a CI loop's list of tests).
        cmd.stdin(std::process::Stdio::null());
        cmd.arg("--root")
            .arg(self.path().join("state"))
            .args(["run", "--bundle"])
            .arg(self.path())
            .arg(&id)
            .env("XDG_RUNTIME_DIR", self.path());
        let out = output_within(cmd, Duration::from_secs(30));
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

#[test]
fn runc_refuses_what_the_profile_denies_and_allows_the_rest() {
    let Some(runc) = on_path("runc") else {
        require(false, "runc (Debian package runc)");
        return;
    };
    let bundle = Bundle::new(runc);
    let doc = export("default");
    // Calls the default profile refuses by its syscall policy; each one works in the same
    // container without the document (the control).
    let denied: [&[&str]; 8] = [
        &["unshare-user"],
        &["clone-newuser"],
        &["io_uring"],
        &["personality"],
        &["keyctl"],
        &["socket", "40", "1", "0"], // vsock
        &["socket", "16", "3", "9"], // netlink audit
        &["socket", "1", "1", "0"],  // a Unix socket: network.unix is empty
    ];
    for args in denied {
        let bare = bundle.probe(None, args);
        assert!(
            bare.starts_with("OK"),
            "control: {args:?} fails in the container even without the document: {bare}"
        );
        let exported = bundle.probe(Some(&doc), args);
        assert_denied(&exported, &format!("{args:?} under the exported profile"));
        let sandboxed = probe_line(&["--profile", "default"], args);
        assert_eq!(
            exported, sandboxed,
            "{args:?}: the container answers differently from mcpcell run"
        );
    }
    // Allowed: what the profile lets through still works, including a netlink route socket
    // (libc and Node list interfaces with it) and internet sockets.
    let allowed: [&[&str]; 4] = [
        &["read", "/probe"],
        &["socket", "16", "3", "0"],
        &["socket", "2", "1", "0"],
        &["socket", "10", "2", "0"],
    ];
    for args in allowed {
        let line = bundle.probe(Some(&doc), args);
        assert!(
            line.starts_with("OK"),
            "{args:?} is refused under the exported profile: {line}"
        );
    }
}

#[test]
fn the_export_follows_the_profile_and_refuses_bad_input() {
    // A profile that lets io_uring through exports without it.
    let dir = scratch();
    let p = profile(
        dir.path(),
        "uring",
        "extends: [default]\nsyscalls:\n  allow: [io_uring_setup, io_uring_enter, io_uring_register]\n",
    );
    let names = |doc: &Value| -> Vec<String> {
        doc["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(&export("default")).contains(&"io_uring_setup".to_string()));
    assert!(!names(&export(p.to_str().unwrap())).contains(&"io_uring_setup".to_string()));
    // An unknown profile: an error naming it, nothing on stdout.
    let out = Command::new(mcpcell())
        .args(["export", "seccomp", "--profile", "no-such-profile"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-profile"));
}

// ---- export seccomp --format bpf ----

fn export_bpf(profile: &str) -> Vec<u8> {
    export_seccomp(&["--format", "bpf", "--profile", profile])
}

/// The probe's verdict line for `args` in bubblewrap (every namespace, the host's root
/// read-only), with `program` given to `--seccomp`, or without a filter.
fn bwrap_probe(bwrap: &Path, program: Option<&Path>, args: &[&str]) -> String {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bwrap);
    cmd.stdin(std::process::Stdio::null()).args([
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
    ]);
    // Kept open until the child has run; bubblewrap reads it on its own descriptor number,
    // made inheritable in the child only (other tests spawn children at the same time).
    let file = program.map(|p| std::fs::File::open(p).unwrap());
    if let Some(file) = &file {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        cmd.arg("--seccomp").arg(fd.to_string());
        // SAFETY: fcntl on the child's own descriptor, after the fork, before the exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.arg(probe()).args(args);
    let out = output_within(cmd, Duration::from_secs(30));
    drop(file);
    let line = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    if line.is_empty() {
        // bubblewrap itself failed: say why in the assertion that follows.
        return format!(
            "(no verdict; bubblewrap: {})",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    line
}

/// The newest filter the kernel holds for `pid`, as `struct sock_filter` bytes
/// (PTRACE_SECCOMP_GET_FILTER: root only, it needs CAP_SYS_ADMIN).
fn attached_program(pid: i32) -> Vec<u8> {
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    let err = std::io::Error::last_os_error;
    // SAFETY: ptrace requests on a process this test started; the buffer holds the `n`
    // records the kernel said it would write.
    unsafe {
        let r = libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0);
        assert_eq!(r, 0, "ptrace: {}", err());
        libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0);
        let mut status = 0;
        libc::waitpid(pid, &mut status, libc::__WALL);
        let none = std::ptr::null_mut::<libc::c_void>();
        let n = libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, none);
        assert!(n > 0, "no filter read: {}", err());
        let mut buf = vec![0u8; n as usize * 8];
        let m = libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, buf.as_mut_ptr());
        assert_eq!(m, n, "the filter read: {}", err());
        libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
        buf
    }
}

#[test]
fn the_bpf_export_is_the_program_the_sandbox_runs_under() {
    if !is_root() {
        eprintln!("SKIPPED: reading a process's filter back needs CAP_SYS_ADMIN (root)");
        return;
    }
    let exported = export_bpf("default");
    let mut child = run_cmd(&["-p", "default", "--", "/bin/sleep", "30"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sleeper = descendant_named(child.id() as i32, "sleep", Duration::from_secs(20));
    let attached = sleeper.map(attached_program);
    let _ = child.kill();
    let _ = child.wait();
    let attached = attached.expect("the sandboxed sleep did not start");
    assert_eq!(attached.len(), exported.len(), "bytes attached / exported");
    assert!(
        attached == exported,
        "the exported program differs from the attached one"
    );
    // The control: a profile whose program differs (host mode with a connect list adds the
    // UDP and Fast Open rules) exports other bytes, which the comparison tells apart.
    let dir = scratch();
    let p = profile(
        dir.path(),
        "tcp",
        "extends: [default]\nnetwork:\n  mode: host\n  connect: [443]\n",
    );
    assert_ne!(export_bpf(p.to_str().unwrap()), attached);
}

#[test]
fn bubblewrap_loads_the_bpf_export_and_refuses_what_the_profile_denies() {
    let Some(bwrap) = on_path("bwrap") else {
        require(false, "bubblewrap (Debian package bubblewrap)");
        return;
    };
    let dir = scratch();
    let program = dir.path().join("default.bpf");
    let bytes = export_bpf("default");
    // Whole sock_filter records, as many as the plan says `run` attaches.
    let out = run_cmd(&[
        "--dry-run",
        "--format",
        "json",
        "-p",
        "default",
        "--",
        "/bin/true",
    ])
    .output()
    .unwrap();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let instructions = plan["plan"]["seccomp"]["instructions"].as_u64().unwrap();
    assert_eq!(bytes.len() as u64, instructions * 8);
    std::fs::write(&program, &bytes).unwrap();
    let denied: [&[&str]; 6] = [
        &["unshare-user"],
        &["keyctl"],
        &["personality"],
        &["socket", "40", "1", "0"], // vsock
        &["socket", "16", "3", "9"], // netlink audit
        &["socket", "1", "1", "0"],  // a Unix socket: network.unix is empty
    ];
    for args in denied {
        let bare = bwrap_probe(&bwrap, None, args);
        assert!(
            bare.starts_with("OK"),
            "control: {args:?} fails in bubblewrap even without the program: {bare}"
        );
        let exported = bwrap_probe(&bwrap, Some(&program), args);
        assert_denied(&exported, &format!("{args:?} under the exported program"));
        let sandboxed = probe_line(&["--profile", "default"], args);
        assert_eq!(
            exported, sandboxed,
            "{args:?}: bubblewrap with the program answers differently from mcpcell run"
        );
    }
    for args in [&["read", "/etc/hostname"][..], &["socket", "2", "1", "0"]] {
        let line = bwrap_probe(&bwrap, Some(&program), args);
        assert!(
            line.starts_with("OK"),
            "{args:?} is refused under the exported program: {line}"
        );
    }
    // A profile's own syscall list reaches the program: the control call passes again.
    let p = profile(
        dir.path(),
        "keys",
        "extends: [default]\nsyscalls:\n  allow: [add_key]\n",
    );
    std::fs::write(&program, export_bpf(p.to_str().unwrap())).unwrap();
    let line = bwrap_probe(&bwrap, Some(&program), &["keyctl"]);
    assert!(
        line.starts_with("OK"),
        "add_key lifted by the profile is refused: {line}"
    );
}

#[test]
fn the_bpf_export_is_never_written_to_a_terminal() {
    // A pseudo-terminal as standard output: an error naming the way out, no program bytes.
    let pty = nix::pty::openpty(None, None).unwrap();
    let pty_slave = pty.slave;
    let out = Command::new(mcpcell())
        .args(["export", "seccomp", "--format", "bpf", "-p", "default"])
        .stdout(std::fs::File::from(nix::unistd::dup(&pty_slave).unwrap()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("terminal") && err.contains("> PROFILE.bpf"),
        "{err}"
    );
    // Nothing reached the terminal: its master side has no bytes to read.
    let master = std::fs::File::from(pty.master);
    nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut &master, &mut buf);
    assert!(
        !matches!(n, Ok(k) if k > 0),
        "bytes reached the terminal: {n:?}"
    );
    // The control: a line of text on the same terminal (a short one: nobody reads the
    // master while it is written) is read on the master side.
    let out = Command::new(mcpcell())
        .arg("--version")
        .stdout(std::fs::File::from(nix::unistd::dup(&pty_slave).unwrap()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let n = std::io::Read::read(&mut &master, &mut buf);
    assert!(
        matches!(n, Ok(k) if k > 0),
        "the check reads nothing: {n:?}"
    );
}

// ---- export landlock ----

/// The loader (tests/llapply/llapply.c), built into `dir`.
fn llapply(dir: &Path) -> PathBuf {
    let out = dir.join("llapply");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/llapply/llapply.c");
    let ok = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .unwrap()
        .success();
    assert!(ok, "building the Landlock loader failed");
    out
}

/// The kernel's bit for a landlockconfig access name (from linux/landlock.h, independently
/// of mcpcell's own table).
fn bit(name: &str) -> u64 {
    let fs = [
        "execute",
        "write_file",
        "read_file",
        "read_dir",
        "remove_dir",
        "remove_file",
        "make_char",
        "make_dir",
        "make_reg",
        "make_sock",
        "make_fifo",
        "make_block",
        "make_sym",
        "refer",
        "truncate",
        "ioctl_dev",
    ];
    let net = ["bind_tcp", "connect_tcp"];
    let scope = ["abstract_unix_socket", "signal"];
    [&fs[..], &net[..], &scope[..]]
        .iter()
        .find_map(|t| t.iter().position(|n| *n == name))
        .map(|i| 1u64 << i)
        .unwrap_or_else(|| panic!("not a landlockconfig access name: {name}"))
}

fn mask(v: &Value) -> u64 {
    v.as_array()
        .map(|a| a.iter().map(|n| bit(n.as_str().unwrap())).sum())
        .unwrap_or(0)
}

/// The loader's arguments for a landlockconfig document, then `extra` rules.
fn loader_args(doc: &Value, extra: &[String]) -> Vec<String> {
    let rs = &doc["ruleset"][0];
    let mut a = vec![
        mask(&rs["handledAccessFs"]).to_string(),
        mask(&rs["handledAccessNet"]).to_string(),
        mask(&rs["scoped"]).to_string(),
    ];
    for pb in doc["pathBeneath"].as_array().into_iter().flatten() {
        let m = mask(&pb["allowedAccess"]);
        for p in pb["parent"].as_array().unwrap() {
            a.extend(["f".into(), m.to_string(), p.as_str().unwrap().into()]);
        }
    }
    for np in doc["netPort"].as_array().into_iter().flatten() {
        let m = mask(&np["allowedAccess"]);
        for p in np["port"].as_array().unwrap() {
            a.extend(["n".into(), m.to_string(), p.to_string()]);
        }
    }
    a.extend(extra.iter().cloned());
    a
}

fn export_landlock(args: &[&str]) -> (Value, String) {
    let out = Command::new(mcpcell())
        .args(["export", "landlock"])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    (serde_json::from_slice(&out.stdout).unwrap(), err)
}

/// The probe's verdict under the loader.
fn loaded(loader: &Path, args: &[String], probe_args: &[&str]) -> String {
    let out = Command::new(loader)
        .args(args)
        .arg("--")
        .arg(probe())
        .args(probe_args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn the_landlock_export_grants_what_the_profile_grants_and_nothing_else() {
    if !require(landlock_abi() >= 6, "Landlock ABI 6") {
        return;
    }
    let dir = scratch();
    let loader = llapply(dir.path());
    let granted = dir.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    write(&granted.join("file.txt"), "granted");
    let secret = dir.path().join("secret.txt");
    write(&secret, "secret");
    let probe = probe();
    let (doc, notes) = export_landlock(&[
        "--profile",
        "default",
        "--allow-read",
        granted.to_str().unwrap(),
        "--allow-exec",
        probe.to_str().unwrap(),
    ]);
    assert!(notes.contains("private to the sandbox"), "{notes}");
    let args = loader_args(&doc, &[]);
    let file = granted.join("file.txt");
    assert_eq!(
        loaded(&loader, &args, &["read", file.to_str().unwrap()]),
        "OK granted"
    );
    let refused = loaded(&loader, &args, &["read", secret.to_str().unwrap()]);
    assert!(refused.starts_with("ERR EACCES"), "{refused}");
    // mcpcell itself refuses it too (the file is not even in its view).
    let sandboxed = probe_line(
        &[
            "--profile",
            "default",
            "--allow-read",
            granted.to_str().unwrap(),
        ],
        &["read", secret.to_str().unwrap()],
    );
    assert_denied(&sandboxed, "the secret under mcpcell run");
    // The control: one more rule for the directory, and the loader lets the read through.
    let weak = loader_args(
        &doc,
        &[
            "f".into(),
            bit("read_file").to_string(),
            dir.path().to_str().unwrap().into(),
        ],
    );
    assert_eq!(
        loaded(&loader, &weak, &["read", secret.to_str().unwrap()]),
        "OK secret"
    );
    // What the format cannot say is said on stderr.
    let p = profile(
        dir.path(),
        "hiding",
        &format!(
            "extends: [default]\nfilesystem:\n  read: [\"{}\"]\n  hide: [\"{}\"]\n",
            dir.path().display(),
            secret.display()
        ),
    );
    let (_, notes) = export_landlock(&["--profile", p.to_str().unwrap()]);
    assert!(notes.contains("NOT CARRIED: `hide`"), "{notes}");
}

#[test]
fn the_landlock_export_carries_host_mode_tcp_ports() {
    if !require(landlock_abi() >= 6, "Landlock ABI 6") {
        return;
    }
    let dir = scratch();
    let loader = llapply(dir.path());
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (po, pc) = (
        open.local_addr().unwrap().port(),
        closed.local_addr().unwrap().port(),
    );
    let p = profile(
        dir.path(),
        "hostnet",
        &format!("extends: [default]\nnetwork:\n  mode: host\n  connect: [{po}]\n"),
    );
    let probe = probe();
    let (doc, notes) = export_landlock(&[
        "--profile",
        p.to_str().unwrap(),
        "--allow-exec",
        probe.to_str().unwrap(),
    ]);
    assert_eq!(doc["netPort"][0]["port"][0], po);
    // What `run` adds with seccomp for a connect list is named as not carried.
    assert!(
        notes.contains("NOT CARRIED") && notes.contains("UDP"),
        "{notes}"
    );
    let args = loader_args(&doc, &[]);
    let po_s = po.to_string();
    let pc_s = pc.to_string();
    assert_eq!(
        loaded(&loader, &args, &["tcp", "127.0.0.1", &po_s, "x"]),
        "OK sent"
    );
    let refused = loaded(&loader, &args, &["tcp", "127.0.0.1", &pc_s, "x"]);
    assert!(refused.starts_with("ERR EACCES"), "{refused}");
    // The control: allow the other port too, and the connection goes through.
    let weak = loader_args(
        &doc,
        &["n".into(), bit("connect_tcp").to_string(), pc_s.clone()],
    );
    assert_eq!(
        loaded(&loader, &weak, &["tcp", "127.0.0.1", &pc_s, "x"]),
        "OK sent"
    );
}
