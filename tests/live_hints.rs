//! Refusals while the server runs: each distinct path the server reports refused is told on
//! mcpcell's stderr when it happens (not only when the server dies), once, with the explain
//! command, at most 5 in 10 seconds; in network mode `proxy`, every refused destination is
//! logged with its explain command too.

mod common;

use std::io::{BufRead, BufReader};
use std::net::ToSocketAddrs;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::*;

/// Starts mcpcell with its stderr read line by line in a thread.
fn start(mut cmd: Command) -> (Child, Receiver<String>) {
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mcpcell");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Lines until one contains `want` (returned with those before it), or a timeout.
fn until(rx: &Receiver<String>, want: &str, limit: Duration) -> Vec<String> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = l.contains(want);
                seen.push(l);
                if done {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {want:?} within {limit:?}; saw: {seen:#?}");
}

fn hints(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.starts_with("mcpcell: hint: "))
        .collect()
}

/// A file the server is refused while it goes on running: the hint comes while it still
/// runs, once however often the server reports it, and its explain command agrees. The
/// control: the same server with the file granted gets no hint.
#[test]
fn a_refusal_while_the_server_runs_is_told_once_at_once() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let secret = d.path().join("notes.txt");
    write(&secret, "notes");
    let s = secret.to_str().unwrap();
    // (The first second leaves mcpcell's hand-over of the plan, due within microseconds of
    // the server's start, time on a loaded machine: lines before it are judged late.)
    let script = format!(
        "sleep 1; cat {s}; cat {s}; echo first-done >&2; sleep 1; cat {s}; echo second-done >&2; sleep 30"
    );
    let (mut child, rx) = start(run_cmd(&["sh", "-c", &script]));
    let lines = until(&rx, "second-done", Duration::from_secs(20));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    let _ = child.kill();
    let _ = child.wait();
    let h = hints(&lines);
    let want = format!(
        "mcpcell: hint: the profile does not let the server read {s}; check with: mcpcell explain -p default {s}"
    );
    assert_eq!(h, [&want], "{lines:#?}");
    // Told while the server went on (a second before it printed `second-done`), not at
    // its exit.
    let at = lines.iter().position(|l| *l == want).unwrap();
    let second_done = lines.iter().position(|l| l == "second-done").unwrap();
    assert!(at < second_done, "{lines:#?}");
    // The command it suggests says the same.
    let o = output_within(
        mcpcell_cmd("explain", &["-p", "default", s]),
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(1), "explain finds the denial");

    // Control: granted, the same server reads it, and nothing is hinted.
    let (mut child, rx) = start(run_cmd(&["--allow-read", s, "sh", "-c", &script]));
    let lines = until(&rx, "second-done", Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    assert!(hints(&lines).is_empty(), "{lines:#?}");
}

/// A server that reports one refused file after another gets at most 5 hints in 10 seconds
/// while it runs; the others are told when it exits, each once.
#[test]
fn live_hints_are_bounded_and_the_rest_come_at_exit() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let mut cats = String::new();
    for i in 0..12 {
        let f = d.path().join(format!("f{i}"));
        write(&f, "x");
        cats.push_str(&format!("cat {} ; ", f.display()));
    }
    // (After a second, as above.)
    let script = format!("sleep 1; {cats} echo all-done >&2; exit 0");
    let o = output_within(run_cmd(&["sh", "-c", &script]), Duration::from_secs(30));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<String> = err.lines().map(str::to_string).collect();
    let done = lines.iter().position(|l| l == "all-done").unwrap();
    let live = hints(&lines[..done]).len();
    let at_exit = hints(&lines[done..]).len();
    assert_eq!(live, 5, "{err}");
    assert_eq!(at_exit, 7, "{err}");
}

/// In network mode `proxy`, a refused destination is logged while the server runs, with the
/// explain command, even when the server itself says nothing about it.
#[test]
fn a_refused_destination_is_logged_with_its_explain_command() {
    let resolves = ("other.mcpcell.test", 80)
        .to_socket_addrs()
        .map(|mut a| a.any(|s| s.ip().is_loopback()))
        .unwrap_or(false);
    if !require(
        resolves,
        "/etc/hosts entry for other.mcpcell.test (tests/run.sh adds it)",
    ) || !require(which::which("curl").is_ok(), "curl")
    {
        return;
    }
    let d = scratch();
    let prof = profile(
        d.path(),
        "web",
        "extends: [default]\nnetwork:\n  mode: proxy\n  allow: [allowed.mcpcell.test]\n",
    );
    let p = prof.to_str().unwrap();
    let (mut child, rx) = start(run_cmd(&[
        "--profile",
        p,
        "sh",
        "-c",
        "curl -sS -m 5 http://other.mcpcell.test:8123/ 2>/dev/null; sleep 30",
    ]));
    let lines = until(
        &rx,
        "refused other.mcpcell.test:8123",
        Duration::from_secs(20),
    );
    assert!(child.try_wait().unwrap().is_none());
    let _ = child.kill();
    let _ = child.wait();
    let line = lines.last().unwrap();
    assert!(
        line.contains(&format!(
            "check with: mcpcell explain -p {p} other.mcpcell.test:8123"
        )),
        "{line}"
    );
}
