//! The namespace-free tier: mcpcell run where namespaces are refused, as in a container with
//! the default seccomp profile (tests/nouserns). Each attack is tried from inside and judged
//! from outside; each check is shown to see the attack on a weak setup (the same probe run
//! bare under the same harness, or the same profile without the protection).

mod common;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use common::*;

const T: Duration = Duration::from_secs(20);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `mcpcell run OPTS -- COMMAND...` as in a container.
fn tier_cmd(opts: &[&str], command: &[&str]) -> Command {
    let mut all: Vec<&str> = opts.to_vec();
    all.push("--");
    all.extend_from_slice(command);
    in_container(run_cmd(&all))
}

/// The probe in the tier, its losses accepted: (exit code, stdout, stderr).
fn tier_probe(opts: &[&str], args: &[&str]) -> (i32, String, String) {
    let p = probe();
    let mut command = vec![p.to_str().unwrap()];
    command.extend_from_slice(args);
    let mut o = vec!["--best-effort"];
    o.extend_from_slice(opts);
    let out = output_within(tier_cmd(&o, &command), T);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout).trim_end().to_string(),
        text(&out.stderr),
    )
}

/// The probe bare under the same harness: the weak setup every check must see through.
fn bare_probe(args: &[&str]) -> String {
    let mut c = Command::new(nouserns());
    c.arg(probe()).args(args).stdin(Stdio::null());
    text(&output_within(c, T).stdout).trim_end().to_string()
}

/// The tier's process isolation and its whole-tree kill rest on Landlock's scoping.
fn scoped() -> bool {
    require(
        landlock_abi() >= 6,
        "Landlock ABI 6 (signal scoping), which the namespace-free tier's process layers need",
    )
}

fn tcp_received(l: &TcpListener) -> bool {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        if let Ok((mut s, _)) = l.accept() {
            let mut b = String::new();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let _ = s.read_to_string(&mut b);
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn udp_received(u: &UdpSocket) -> bool {
    u.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 64];
    u.recv(&mut b).is_ok()
}

#[test]
fn refused_namespaces_fail_closed_naming_every_loss() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let p = probe();
    let out = output_within(
        tier_cmd(&[], &[p.to_str().unwrap(), "tcp", "127.0.0.1", &port, "x"]),
        T,
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(
        out.stdout.is_empty(),
        "the server ran: {}",
        text(&out.stdout)
    );
    assert!(!tcp_received(&l));
    let err = text(&out.stderr);
    for want in [
        "namespace-free tier cannot keep every promise, so the server was not started",
        "names and metadata outside the grants",
        "a process world of its own",
        "--best-effort accepts these losses",
    ] {
        assert!(err.contains(want), "{want:?} missing:\n{err}");
    }
    // One loss per line: the list is mcpcell's own text and keeps its line breaks.
    assert!(err.contains("\n  - "), "{err}");
}

#[test]
fn network_none_refuses_tcp_udp_and_dns() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = l.local_addr().unwrap().port().to_string();
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uport = u.local_addr().unwrap().port().to_string();
    // Weak setup: the same probes bare, under the same harness, get through.
    assert_eq!(bare_probe(&["tcp", "127.0.0.1", &tport, "x"]), "OK sent");
    assert!(tcp_received(&l));
    assert!(bare_probe(&["udp", "127.0.0.1", &uport, "x"]).starts_with("OK"));
    assert!(udp_received(&u));

    let (_, out, err) = tier_probe(&[], &["tcp", "127.0.0.1", &tport, "x"]);
    assert_denied(&out, "TCP in the namespace-free tier");
    assert!(!tcp_received(&l), "{err}");
    let (_, out, _) = tier_probe(&[], &["udp", "127.0.0.1", &uport, "x"]);
    assert_denied(&out, "UDP in the namespace-free tier");
    assert!(!udp_received(&u));
    // DNS is UDP or TCP to a resolver: no inet socket of either kind can be made.
    // (AF_INET, SOCK_DGRAM), (AF_INET6, SOCK_DGRAM), (AF_INET6, SOCK_STREAM)
    for (family, ty) in [("2", "2"), ("10", "2"), ("10", "1")] {
        assert_eq!(bare_probe(&["socket", family, ty, "0"]), "OK created");
        let (_, out, _) = tier_probe(&[], &["socket", family, ty, "0"]);
        assert_denied(&out, &format!("socket({family}, {ty})"));
    }
}

/// Without Landlock's TCP rules nothing would stop a connect the supervisor let proceed:
/// there, network mode proxy is refused even with --best-effort. Where the rules exist it
/// runs (tests/tier_proxy.rs).
#[test]
fn proxy_mode_without_landlock_tcp_rules_is_refused_even_with_best_effort() {
    let d = scratch();
    let prof = profile(
        d.path(),
        "proxied",
        "extends: [default]\nnetwork:\n  mode: proxy\n  allow: [example.com]\n",
    );
    let out = output_within(
        tier_cmd(
            &["--best-effort", "-p", prof.to_str().unwrap()],
            &[probe().to_str().unwrap(), "exit", "0"],
        ),
        T,
    );
    let err = text(&out.stderr);
    if landlock_abi() >= 4 {
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(
            err.contains("proxy-unaware clients reaching allowed hosts"),
            "{err}"
        );
    } else {
        assert_eq!(out.status.code(), Some(125));
        assert!(err.contains("network mode proxy"), "{err}");
        assert!(err.contains("[refused even with --best-effort]"), "{err}");
    }
}

#[test]
fn hide_under_a_granted_directory_is_left_out_of_the_rules() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let dir = d.path().canonicalize().unwrap();
    let outside = scratch();
    let secret = outside.path().join("secret");
    write(&secret, "s3cret");
    std::fs::create_dir_all(dir.join(".ssh")).unwrap();
    std::fs::create_dir_all(dir.join("sub/deep")).unwrap();
    write(&dir.join(".ssh/id"), "key");
    write(&dir.join("visible"), "v");
    write(&dir.join("sub/other"), "o");
    write(&dir.join("sub/deep/x"), "x");
    std::os::unix::fs::symlink(&secret, dir.join("link")).unwrap();
    let yaml = |hide: &str| {
        format!(
            "extends: [default]\nfilesystem:\n  read: [\"{}\"]\n{hide}",
            dir.display()
        )
    };
    let hiding = profile(
        outside.path(),
        "hiding",
        &yaml(&format!(
            "  hide: [\"{0}/.ssh\", \"{0}/sub/deep\"]\n",
            dir.display()
        )),
    );
    let open = profile(outside.path(), "open", &yaml(""));
    let read = |prof: &std::path::Path, rel: &str| {
        let path = dir.join(rel);
        tier_probe(
            &["-p", prof.to_str().unwrap()],
            &["read", path.to_str().unwrap()],
        )
        .1
    };
    // Weak setup: the same grant without `hide` shows the hidden files.
    assert_eq!(read(&open, ".ssh/id"), "OK key");
    assert_eq!(read(&open, "sub/deep/x"), "OK x");
    for hidden in [".ssh/id", "sub/deep/x"] {
        assert_denied(&read(&hiding, hidden), hidden);
    }
    assert_eq!(read(&hiding, "visible"), "OK v");
    assert_eq!(read(&hiding, "sub/other"), "OK o");
    // A link beside the hidden path does not carry a grant to its target.
    assert_denied(
        &read(&hiding, "link"),
        "a link out of the granted directory",
    );
}

/// A hidden file with a second name beside it: a Landlock rule is the inode's, so a rule
/// for the other name would open the hidden one by its own name. Both stay closed, and the
/// launch warns of the other name.
#[test]
fn a_hidden_files_other_name_opens_it_to_no_one() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let dir = d.path().canonicalize().unwrap();
    let outside = scratch();
    write(&dir.join(".env"), "TOKEN=s3cret");
    std::fs::hard_link(dir.join(".env"), dir.join("env.example")).unwrap();
    write(&dir.join("visible"), "v");
    let yaml = |hide: &str| {
        format!(
            "extends: [default]\nfilesystem:\n  read: [\"{}\"]\n{hide}",
            dir.display()
        )
    };
    let hiding = profile(
        outside.path(),
        "hiding",
        &yaml(&format!("  hide: [\"{}/.env\"]\n", dir.display())),
    );
    let open = profile(outside.path(), "open", &yaml(""));
    let read = |prof: &std::path::Path, rel: &str| {
        let path = dir.join(rel);
        tier_probe(
            &["-p", prof.to_str().unwrap()],
            &["read", path.to_str().unwrap()],
        )
    };
    // Weak setup: without `hide` the file is read by its name.
    assert_eq!(read(&open, ".env").1, "OK TOKEN=s3cret");
    let (_, out, err) = read(&hiding, ".env");
    assert_denied(&out, "the hidden file by its own name");
    assert!(err.contains("is hidden, but has 2 names"), "{err}");
    assert_denied(&read(&hiding, "env.example").1, "its other name");
    assert_eq!(read(&hiding, "visible").1, "OK v");
    // A file of a hidden directory with another name beside the directory.
    std::fs::create_dir_all(dir.join(".ssh")).unwrap();
    write(&dir.join(".ssh/id_test"), "KEY");
    std::fs::hard_link(dir.join(".ssh/id_test"), dir.join("id_test.bak")).unwrap();
    let hiding_dir = profile(
        outside.path(),
        "hiding-dir",
        &yaml(&format!("  hide: [\"{}/.ssh\"]\n", dir.display())),
    );
    assert_eq!(read(&open, ".ssh/id_test").1, "OK KEY");
    let (_, out, err) = read(&hiding_dir, ".ssh/id_test");
    assert_denied(&out, "a hidden directory's file by its own name");
    assert!(err.contains("id_test is hidden, but has 2 names"), "{err}");
    assert_denied(&read(&hiding_dir, "id_test.bak").1, "its other name");
}

/// A read-only grant inside a writable one keeps its own rights without read-only mounts:
/// the writable grant is granted around it, and the directories on the way can be neither
/// written nor renamed.
#[test]
fn a_read_only_grant_inside_a_writable_one_stays_read_only() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let dir = d.path().canonicalize().unwrap();
    let outside = scratch();
    std::fs::create_dir_all(dir.join("deploy/prod")).unwrap();
    write(&dir.join("deploy/prod/config.yaml"), "replicas: 3");
    write(&dir.join("notes"), "n");
    let yaml = |extra: &str| {
        format!(
            "extends: [default]\nfilesystem:\n  write: [\"{}\"]\n{extra}",
            dir.display()
        )
    };
    let carved = profile(
        outside.path(),
        "carved",
        &yaml(&format!("  read: [\"{}/deploy/prod\"]\n", dir.display())),
    );
    let open = profile(outside.path(), "open", &yaml(""));
    let config = dir.join("deploy/prod/config.yaml");
    let probe =
        |prof: &std::path::Path, args: &[&str]| tier_probe(&["-p", prof.to_str().unwrap()], args).1;
    let c = config.to_str().unwrap();
    assert_denied(
        &probe(&carved, &["write", c, "replicas: 0"]),
        "the read-only file",
    );
    assert_eq!(probe(&carved, &["read", c]), "OK replicas: 3");
    let (from, to) = (dir.join("deploy"), dir.join("deploy.x"));
    let (f, t) = (from.to_str().unwrap(), to.to_str().unwrap());
    assert_denied(&probe(&carved, &["rename", f, t]), "renaming its parent");
    assert!(from.is_dir() && !to.exists());
    // The rest of the writable grant stays writable.
    let notes = dir.join("notes");
    assert_eq!(
        probe(&carved, &["write", notes.to_str().unwrap(), "m"]),
        format!("OK {}", notes.display())
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "replicas: 3");
    // Weak setup: without the read-only grant the file is written, and the check sees it.
    assert_eq!(
        probe(&open, &["write", c, "replicas: 0"]),
        format!("OK {c}")
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "replicas: 0");
}

#[test]
fn the_private_temporary_directory_is_tmpdir_and_goes_at_exit() {
    let marker = format!("/tmp/mcpcell-tier-escape-{}", std::process::id());
    let p = probe();
    let script = r#""$0" write "$TMPDIR/f" data && "$0" read "$TMPDIR/f" && echo "$TMPDIR" && "$0" write "$1" x"#;
    let out = output_within(
        tier_cmd(
            &["--best-effort", "--allow-exec", p.to_str().unwrap()],
            &["/bin/sh", "-c", script, p.to_str().unwrap(), &marker],
        ),
        T,
    );
    let o = text(&out.stdout);
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines.len(), 4, "{o}\n{}", text(&out.stderr));
    assert_eq!(lines[1], "OK data");
    let tmpdir = lines[2];
    assert!(tmpdir.contains("/mcpcell-tmp-"), "{tmpdir}");
    // The host's /tmp itself is not writable.
    assert_denied(lines[3], "a write into the host's /tmp");
    assert!(!std::path::Path::new(&marker).exists());
    assert!(
        !std::path::Path::new(tmpdir).exists(),
        "{tmpdir} outlived the server"
    );
}

/// A grant holding the host's temporary directory (TMPDIR other than /tmp) would reach the
/// private directories of the other sandboxes the tier makes there: such a launch is refused,
/// even with --best-effort, naming the grant. Sandbox B runs with TMPDIR a scratch
/// directory, its private directory in it; A, granted that directory, would write into every
/// private directory it finds there. Judged from outside: B's holds nothing of A's. The
/// control: a grant of a directory inside TMPDIR is no such grant, and a process outside
/// the sandboxes writing into B's directory is seen the same way.
#[test]
fn a_grant_of_the_hosts_temporary_directory_is_refused() {
    let d = scratch();
    let tt = d.path().canonicalize().unwrap().join("tt");
    std::fs::create_dir_all(tt.join("inside")).unwrap();
    let with_tmpdir = |mut c: Command| {
        c.env("TMPDIR", &tt);
        c
    };
    let p = probe();
    let ps = p.to_str().unwrap();
    let mut b = Running::start(with_tmpdir(tier_cmd(
        &["--best-effort"],
        &["/bin/sh", "-c", "echo \"$TMPDIR\"; exec sleep 30"],
    )));
    let b_tmp = std::path::PathBuf::from(b.line(T));
    assert!(b_tmp.starts_with(&tt), "{}", b_tmp.display());
    let script = r#"for d in "$1"/mcpcell-tmp-*; do "$0" write "$d/from-a" x; done; true"#;
    let a = |grant: &std::path::Path| {
        output_within(
            with_tmpdir(tier_cmd(
                &[
                    "--best-effort",
                    "--allow-exec",
                    ps,
                    "--allow-write",
                    grant.to_str().unwrap(),
                ],
                &["/bin/sh", "-c", script, ps, tt.to_str().unwrap()],
            )),
            T,
        )
    };
    let out = a(&tt);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("the other sandboxes' private temporary directories")
            && err.contains(&format!("the grant of {}", tt.display())),
        "{err}"
    );
    assert!(
        !b_tmp.join("from-a").exists(),
        "A wrote into B's private directory"
    );
    // The controls.
    let out = a(&tt.join("inside"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!b_tmp.join("from-a").exists());
    std::fs::write(b_tmp.join("from-a"), "x").unwrap();
    assert!(b_tmp.join("from-a").exists());
    b.signal(Signal::SIGTERM);
    let _ = b.wait(T);
    // An empty TMPDIR is no directory: the private one goes to /tmp, not to where mcpcell
    // runs (here a granted directory).
    let mut c = tier_cmd(
        &["--best-effort", "--allow-write", tt.to_str().unwrap()],
        &["/bin/sh", "-c", "echo \"$TMPDIR\""],
    );
    c.env("TMPDIR", "").current_dir(&tt);
    let out = output_within(c, T);
    let tmpdir = text(&out.stdout);
    assert!(
        tmpdir.starts_with("/tmp/mcpcell-tmp-"),
        "{tmpdir}{}",
        text(&out.stderr)
    );
}

#[test]
fn host_processes_cannot_be_signalled_traced_or_read() {
    if !scoped() {
        return;
    }
    let mut victim = Command::new("sleep")
        .arg("100")
        .env("MCPCELL_TIER_VICTIM", "s3cret")
        .spawn()
        .unwrap();
    let pid = victim.id().to_string();
    let environ = format!("/proc/{pid}/environ");
    // Weak setup: bare, the same user may signal it and read its environment.
    assert_eq!(bare_probe(&["kill", &pid, "0"]), "OK sent");
    assert!(bare_probe(&["read", &environ]).starts_with("OK"));

    assert_denied(&tier_probe(&[], &["kill", &pid, "10"]).1, "kill");
    assert_denied(&tier_probe(&[], &["ptrace", &pid]).1, "ptrace");
    assert_denied(&tier_probe(&[], &["read", &environ]).1, "environ");
    // Its limits and scheduling by pid (signal scoping does not cover them; a low
    // RLIMIT_CPU would have the kernel kill it): the bare probe may, the sandboxed may not,
    // and may still change its own (pid 0).
    for op in ["prlimit", "renice", "affinity"] {
        assert_eq!(bare_probe(&[op, &pid]), "OK set", "{op}");
        assert_denied(&tier_probe(&[], &[op, &pid]).1, op);
        assert_eq!(tier_probe(&[], &[op, "0"]).1, "OK set", "{op} of itself");
    }
    assert!(alive(victim.id() as i32), "the victim was killed");
    let _ = victim.kill();
    let _ = victim.wait();
}

/// The probe's tree in the tier, once all of it runs: the init, the server, 4 children and
/// their 4 setsid'd grandchildren.
fn tree_in_the_tier() -> (Running, Vec<i32>) {
    let p = probe();
    let mut r = Running::start(tier_cmd(
        &["--best-effort"],
        &[p.to_str().unwrap(), "tree", "4"],
    ));
    assert_eq!(r.line(T), "READY");
    let tree = descendants_when(r.pid(), 10);
    assert_eq!(tree.len(), 10, "{tree:?}");
    (r, tree)
}

#[test]
fn sigkill_of_mcpcell_kills_the_whole_tree() {
    if !scoped() {
        return;
    }
    let (mut r, tree) = tree_in_the_tier();
    r.signal(Signal::SIGKILL);
    let _ = r.wait(T);
    let left = killed_within(Duration::from_secs(1), || {
        tree.iter().copied().filter(|&p| alive(p)).collect()
    });
    assert!(
        left.is_empty(),
        "still running a second after SIGKILL: {left:?}"
    );
}

/// The init kills the tree as it leaves; if something kills the init first, what it
/// would have killed comes to mcpcell (a subreaper in this tier), which kills it.
#[test]
fn what_outlives_a_killed_init_is_killed_by_mcpcell() {
    if !scoped() {
        return;
    }
    let (mut r, tree) = tree_in_the_tier();
    let init = *tree
        .iter()
        .find(|&&t| stat_fields(t).is_some_and(|f| f[1] == r.pid().to_string()))
        .expect("the init");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), Signal::SIGKILL).unwrap();
    let _ = r.wait(T);
    let left = killed_within(Duration::from_secs(1), || {
        tree.iter().copied().filter(|&p| alive(p)).collect()
    });
    for &p in &left {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
    }
    assert!(left.is_empty(), "outlived the init: {left:?}");
}

#[test]
fn the_check_sees_a_tree_that_outlives_its_parent() {
    // Weak setup for the test above: the same tree under a parent that does nothing about
    // it (the probe bare): its setsid'd grandchildren outlive a SIGKILL of the parent.
    let mut c = Command::new(nouserns());
    c.arg(probe()).args(["tree", "2"]);
    let mut r = Running::start(c);
    assert_eq!(r.line(T), "READY");
    let tree = descendants_when(r.pid(), 4);
    r.signal(Signal::SIGKILL);
    let _ = r.wait(T);
    // The same judgement as above: what outlives the parent was sent no kill.
    let left = killed_within(Duration::from_millis(300), || {
        tree.iter().copied().filter(|&p| alive(p)).collect()
    });
    assert!(!left.is_empty(), "nothing outlived the bare parent");
    for p in left {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
    }
}

#[test]
fn a_server_that_exits_takes_its_children_along_and_nothing_else() {
    if !scoped() {
        return;
    }
    // A process of the same user outside the sandbox must survive the init's sweep.
    let mut bystander = Command::new("sleep").arg("100").spawn().unwrap();
    let marker = format!("tier-orphans-{}", std::process::id());
    let (code, _, err) = tier_probe(&[], &["orphans", "3", &marker]);
    assert_eq!(code, 7, "{err}");
    let deadline = Instant::now() + Duration::from_secs(1);
    while !processes_with(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the server's children outlived it: {:?}",
            processes_with(&marker)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(alive(bystander.id() as i32), "a host process was killed");
    let _ = bystander.kill();
    let _ = bystander.wait();
}

#[test]
fn the_server_cannot_kill_its_init() {
    if !scoped() {
        return;
    }
    let p = probe();
    let marker = format!("tier-init-{}", std::process::id());
    // The server (sh) asks the probe to kill the sandbox's init, sh's parent, or to change
    // its limits (a low RLIMIT_CPU has the kernel kill it); then leaves a child behind that
    // only the init can clean up.
    let script = r#""$0" kill "$PPID" 9; "$0" prlimit "$PPID"; "$0" orphans 1 "$1""#;
    let out = output_within(
        tier_cmd(
            &["--best-effort", "--allow-exec", p.to_str().unwrap()],
            &["/bin/sh", "-c", script, p.to_str().unwrap(), &marker],
        ),
        T,
    );
    let o = text(&out.stdout);
    assert_denied(o.lines().next().unwrap_or(""), "killing the init");
    assert_denied(o.lines().nth(1).unwrap_or(""), "the init's limits");
    let deadline = Instant::now() + Duration::from_secs(1);
    while !processes_with(&marker).is_empty() {
        assert!(Instant::now() < deadline, "the init did not clean up");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dry_run_and_doctor_show_the_tier_layer_by_layer() {
    let p = probe();
    let dry = |cmd: Command| text(&output_within(cmd, T).stdout);
    let args = ["--dry-run", "--", p.to_str().unwrap(), "exit", "0"];
    let o = dry(in_container(run_cmd(&args)));
    for want in [
        "enforcement tier: namespace-free",
        "  network none: seccomp refuses inet and inet6 sockets",
        "  lifecycle: ",
        "  /tmp: a private directory",
    ] {
        assert!(o.contains(want), "{want:?} missing:\n{o}");
    }
    // Where namespaces can be made, the namespace tier applies and no such section shows.
    if !std::path::Path::new("/.dockerenv").exists() {
        assert!(!dry(run_cmd(&args)).contains("enforcement tier"));
    }
    let d = dry(in_container(mcpcell_cmd("doctor", &[])));
    assert!(
        d.contains("the namespace-free tier, chosen automatically"),
        "{d}"
    );
    let proxy = if landlock_abi() >= 4 {
        "  - network proxy: seccomp user notification connects only to mcpcell's proxy"
    } else {
        "REFUSED even with --best-effort: network mode proxy"
    };
    assert!(d.contains(proxy), "{d}");
}

#[test]
fn metadata_changes_only_beneath_write_grants() {
    // Landlock does not govern chmod, utimes or setxattr: the tier's seccomp filter sends
    // mode and times to mcpcell, which changes them only beneath a write grant
    // (tests/tier_meta.rs has the rest), and refuses extended attributes everywhere.
    let d = scratch();
    let outside = d.path().join("outside");
    write(&outside, "x");
    let work = scratch();
    let inside = work.path().join("inside");
    write(&inside, "y");
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    };
    let before = mode(&outside);
    // Weak setup: bare, the same user changes the mode.
    assert_eq!(
        bare_probe(&["chmod", outside.to_str().unwrap(), "600"]),
        "OK chmodded"
    );
    assert_eq!(mode(&outside), 0o600);
    std::fs::set_permissions(
        &outside,
        std::os::unix::fs::PermissionsExt::from_mode(before),
    )
    .unwrap();
    let w = work.path().to_str().unwrap();
    let p = outside.to_str().unwrap();
    for args in [vec!["chmod", p, "666"], vec!["utimes", p]] {
        let out = tier_probe(&["--allow-write", w], &args).1;
        assert_denied(&out, &format!("{} outside the grants", args[0]));
    }
    assert_eq!(mode(&outside), before);
    let i = inside.to_str().unwrap();
    let out = tier_probe(&["--allow-write", w], &["chmod", i, "600"]).1;
    assert_eq!(out, "OK chmodded");
    assert_eq!(mode(&inside), 0o600);
    let out = tier_probe(&["--allow-write", w], &["setxattr", i, "user.x", "1"]).1;
    assert_denied(&out, "setxattr inside a write grant");
    assert_eq!(get_xattr(&inside, "user.x"), None);
    // Weak setup: bare, where the filesystem takes user attributes, the same call sets it.
    if set_xattr(&outside, "user.probe", "1") {
        assert_eq!(bare_probe(&["setxattr", i, "user.x", "1"]), "OK set");
        assert_eq!(get_xattr(&inside, "user.x").as_deref(), Some(&b"1"[..]));
    }
}

#[test]
fn namespaces_made_but_refused_set_up_take_the_tier_too() {
    // Ubuntu's AppArmor restriction: the user namespace is created, but it has no
    // capabilities, so the sandbox's first mount is refused (nouserns --apparmor plays it).
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let p = probe();
    let apparmor = |opts: &[&str]| {
        let mut all: Vec<&str> = opts.to_vec();
        all.extend(["--", p.to_str().unwrap(), "tcp", "127.0.0.1", &port, "x"]);
        let rc = run_cmd(&all);
        let mut n = Command::new(nouserns());
        n.arg("--apparmor");
        let mut c = through(n, &rc);
        c.current_dir("/").stdin(Stdio::null());
        output_within(c, T)
    };
    // Weak setup: bare under the same restriction, the probe gets through.
    let mut bare = Command::new(nouserns());
    bare.args(["--apparmor"])
        .arg(&p)
        .args(["tcp", "127.0.0.1", &port, "x"]);
    assert_eq!(text(&output_within(bare, T).stdout).trim(), "OK sent");
    assert!(tcp_received(&l));

    let out = apparmor(&[]);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("the namespaces were created, but setting them up was refused"),
        "{err}"
    );
    assert!(
        err.contains("namespace-free tier cannot keep every promise"),
        "{err}"
    );
    let out = apparmor(&["--best-effort"]);
    assert_denied(
        text(&out.stdout).trim(),
        "TCP under the AppArmor restriction",
    );
    assert!(!tcp_received(&l));
}

/// In the tier too, the server starts with a grown descriptor table (tests/sandbox.rs says
/// why); the control is the same command bare under the same harness.
#[test]
fn tier_server_starts_with_a_grown_descriptor_table() {
    let out = output_within(
        tier_cmd(
            &["--best-effort", "-p", "default"],
            &["/bin/grep", "FDSize", "/proc/self/status"],
        ),
        T,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "FDSize:\t1024");
    let mut c = Command::new(nouserns());
    c.args(["/bin/sh", "-c", "/bin/grep FDSize /proc/self/status; true"])
        .stdin(Stdio::null());
    assert_eq!(
        text(&output_within(only_stdio(c), T).stdout).trim(),
        "FDSize:\t64"
    );
}
