//! Exit statuses, signals, dying with the client, and stdio passed through untouched.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use sha2::{Digest, Sha256};

use common::*;

const T: Duration = Duration::from_secs(20);

fn probe_cmd(opts: &[&str], args: &[&str]) -> std::process::Command {
    let p = probe();
    let mut all: Vec<&str> = opts.to_vec();
    all.push("--");
    all.push(p.to_str().unwrap());
    all.extend_from_slice(args);
    run_cmd(&all)
}

#[test]
fn exit_status_is_the_servers() {
    assert_eq!(sandboxed(&[], &["exit", "0"]).0, 0);
    assert_eq!(sandboxed(&[], &["exit", "3"]).0, 3);
    assert_eq!(sandboxed(&[], &["exit", "255"]).0, 255);
}

#[test]
fn death_by_signal_is_128_plus_the_signal() {
    assert_eq!(sandboxed(&[], &["raise", "15"]).0, 143);
    assert_eq!(sandboxed(&[], &["raise", "9"]).0, 137);
    assert_eq!(sandboxed(&[], &["raise", "11"]).0, 139);
}

#[test]
fn not_found_is_127_and_not_executable_is_126() {
    let out = output_within(run_cmd(&["--", "no-such-server-xyz"]), T);
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("command `no-such-server-xyz` not found in PATH"),
        "{err}"
    );

    let d = scratch();
    let plain = d.path().join("server.js");
    write(&plain, "console.log(1)");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = output_within(run_cmd(&["--", plain.to_str().unwrap()]), T);
    assert_eq!(out.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not executable"));

    let out = output_within(run_cmd(&["--", d.path().to_str().unwrap()]), T);
    assert_eq!(out.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));

    // A script whose interpreter does not exist: found, but cannot start.
    let script = d.path().join("script");
    write(&script, "#!/nonexistent/interpreter\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = output_within(run_cmd(&["--", script.to_str().unwrap()]), T);
    assert_eq!(
        out.status.code(),
        Some(127),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mcpjail_failures_are_125() {
    let out = output_within(run_cmd(&["-p", "no-such-profile", "--", "true"]), T);
    assert_eq!(out.status.code(), Some(125));
    let out = output_within(run_cmd(&["--no-such-option", "--", "true"]), T);
    assert_eq!(out.status.code(), Some(125));
    let out = output_within(
        run_cmd(&["--allow-read", "/nonexistent/dir", "--", "true"]),
        T,
    );
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("command line --allow-read /nonexistent/dir: `/nonexistent/dir` does not exist, and it is marked as required"),
        "{err}"
    );
}

#[test]
fn signals_reach_the_server() {
    let mut r = Running::start(probe_cmd(&[], &["signals"]));
    assert_eq!(r.line(T), "READY");
    for (sig, n) in [
        (Signal::SIGINT, 2),
        (Signal::SIGHUP, 1),
        (Signal::SIGQUIT, 3),
        (Signal::SIGUSR1, 10),
        (Signal::SIGUSR2, 12),
    ] {
        r.signal(sig);
        assert_eq!(r.line(T), format!("SIG {n}"));
    }
    r.signal(Signal::SIGTERM);
    assert_eq!(r.line(T), "SIG 15");
    assert_eq!(r.wait(T), 0);
}

#[test]
fn sigterm_stops_a_server_without_a_handler() {
    let mut r = Running::start(probe_cmd(&[], &["sleep", "100"]));
    assert_eq!(r.line(T), "READY");
    let start = Instant::now();
    r.signal(Signal::SIGTERM);
    assert_eq!(r.wait(T), 143);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_server_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let mut r = Running::start(probe_cmd(&["--stop-timeout", "1"], &["ignore-term"]));
    assert_eq!(r.line(T), "READY");
    let start = Instant::now();
    r.signal(Signal::SIGTERM);
    assert_eq!(r.wait(T), 137);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "took {took:?}"
    );
}

#[test]
fn sigkill_of_mcpjail_kills_the_whole_sandbox() {
    let mut r = Running::start(probe_cmd(&[], &["tree", "4"]));
    assert_eq!(r.line(T), "READY");
    // init, the server, 4 children and their 4 setsid'd grandchildren.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tree = descendants(r.pid());
    while tree.len() < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        tree = descendants(r.pid());
    }
    assert_eq!(tree.len(), 10, "{tree:?}");
    r.signal(Signal::SIGKILL);
    let _ = r.wait(T);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let left: Vec<i32> = tree.iter().copied().filter(|&p| alive(p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running a second after SIGKILL: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn stdin_eof_reaches_the_server() {
    let mut cmd = probe_cmd(&[], &["stdin-eof"]);
    cmd.stdin(Stdio::piped());
    let mut r = Running::start(cmd);
    r.child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"some input\n")
        .unwrap();
    drop(r.child.stdin.take());
    assert_eq!(r.line(T), "EOF");
    assert_eq!(r.wait(T), 0);
}

#[test]
fn stdout_is_byte_exact() {
    const SIZE: usize = 64 << 20;
    let mut data = vec![0u8; SIZE];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let want = Sha256::digest(&data);
    let mut cmd = probe_cmd(&[], &["cat"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&data).unwrap();
    });
    let mut out = Vec::with_capacity(SIZE);
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out.len(), SIZE);
    assert_eq!(Sha256::digest(&out), want);
}

#[test]
fn mcpjail_writes_nothing_to_stdout() {
    let out = output_within(probe_cmd(&["--log-level", "trace"], &["exit", "0"]), T);
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("server started"));
    // Errors go to stderr too.
    let out = output_within(run_cmd(&["-p", "no-such-profile", "--", "true"]), T);
    assert!(out.stdout.is_empty());
    assert!(!out.stderr.is_empty());
}

#[test]
fn json_logs_one_object_per_event() {
    let d = scratch();
    let log = d.path().join("log.json");
    let out = output_within(
        probe_cmd(
            &[
                "--log-level",
                "info",
                "--log-format",
                "json",
                "--log-file",
                log.to_str().unwrap(),
            ],
            &["exit", "7"],
        ),
        T,
    );
    assert_eq!(out.status.code(), Some(7));
    assert!(out.stdout.is_empty());
    let text = std::fs::read_to_string(&log).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let started = events
        .iter()
        .find(|e| e["event"] == "started")
        .expect("a started event");
    assert_eq!(started["profile"], "default");
    assert!(
        started["command"]
            .as_str()
            .unwrap()
            .ends_with(probe().file_name().unwrap().to_str().unwrap())
    );
    let exited = events
        .iter()
        .find(|e| e["event"] == "exited")
        .expect("an exited event");
    assert_eq!(exited["status"], 7);
}
