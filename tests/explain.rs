//! `mcpcell explain` against what `run` enforces: for each case the probe tries the access in
//! the sandbox, and explain's verdict must match it (and the expected answer).

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs `mcpcell explain --format json OPTS TARGET`; returns (exit code, allowed, the JSON).
fn explain(opts: &[&str], target: &str) -> (i32, bool, serde_json::Value) {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(opts);
    args.push("--");
    args.push(target);
    let out = output_within(mcpcell_cmd("explain", &args), Duration::from_secs(30));
    let code = out.status.code().unwrap_or(-1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "explain {args:?} printed no JSON ({e}); exit {code}; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let allowed = v["verdicts"][0]["allowed"].as_bool().expect("a verdict");
    (code, allowed, v)
}

struct Case<'a> {
    opts: Vec<&'a str>,
    target: String,
    probe: Vec<String>,
    allowed: bool,
}

fn case<'a>(opts: &[&'a str], target: &str, probe: &[&str], allowed: bool) -> Case<'a> {
    Case {
        opts: opts.to_vec(),
        target: target.to_string(),
        probe: probe.iter().map(|s| s.to_string()).collect(),
        allowed,
    }
}

fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        let (code, said, json) = explain(&c.opts, &c.target);
        let probe: Vec<&str> = c.probe.iter().map(String::as_str).collect();
        let (_, out, err) = sandboxed(&c.opts, &probe);
        let did = out.starts_with("OK");
        assert!(
            out.starts_with("OK") || out.starts_with("ERR") || c.probe[0] == "env",
            "probe {probe:?} with {:?} gave no verdict: {out}\n{err}",
            c.opts
        );
        let did = if c.probe[0] == "env" {
            out.lines()
                .any(|l| l.starts_with(&format!("{}=", c.probe[1])))
        } else {
            did
        };
        if said != did || said != c.allowed || code != i32::from(!said) {
            failures.push(format!(
                "{:?} {}: explain says {said} (exit {code}), the sandbox did {did} ({out}), expected {}\n{json:#}",
                c.opts, c.target, c.allowed
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn paths_match_what_run_enforces() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let dir = d.path().to_str().unwrap().to_string();
    let file = format!("{dir}/data.txt");
    write(&d.path().join("data.txt"), "data");
    let script = d.path().join("tool.sh");
    write(&script, "#!/bin/sh\necho OK tool\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = script.to_str().unwrap().to_string();
    let link = format!("{dir}/link-to-shadow");
    std::os::unix::fs::symlink("/etc/shadow", &link).unwrap();
    let new = format!("{dir}/new.txt");
    let ro = ["--allow-read", dir.as_str()];
    let rw = ["--allow-write", dir.as_str()];
    let rx = ["--allow-exec", dir.as_str()];
    check(&[
        case(&[], "/etc/passwd", &["read", "/etc/passwd"], true),
        case(&[], "/etc/shadow", &["read", "/etc/shadow"], false),
        case(&[], &file, &["read", &file], false),
        case(&ro, &file, &["read", &file], true),
        case(&ro, &format!("{new}:write"), &["write", &new, "x"], false),
        case(&rw, &format!("{new}:write"), &["write", &new, "x"], true),
        case(&rw, &link, &["read", &link], false),
        case(&ro, &format!("{script}:exec"), &["exec", &script], false),
        case(&rx, &format!("{script}:exec"), &["exec", &script], true),
        case(
            &[],
            "/usr/bin/echo:exec",
            &["exec", "/usr/bin/echo", "OK"],
            true,
        ),
        case(
            &[],
            "/tmp/scratch.txt:write",
            &["write", "/tmp/scratch.txt", "x"],
            true,
        ),
        case(&[], "/dev/null:write", &["write", "/dev/null", "x"], true),
        case(
            &[],
            "/etc/hostname:write",
            &["write", "/etc/hostname", "x"],
            false,
        ),
    ]);
}

#[test]
fn hidden_paths_match_what_run_enforces() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let dir = d.path().to_str().unwrap().to_string();
    let secret = format!("{dir}/.env");
    write(&d.path().join(".env"), "TOKEN=1");
    let p = profile(
        d.path(),
        "hidden",
        &format!("extends: [default]\nfilesystem:\n  read: [{dir}]\n  hide: [{secret}]\n"),
    );
    let p = p.to_str().unwrap();
    let (_, allowed, json) = explain(&["-p", p], &secret);
    assert!(!allowed, "{json:#}");
    assert!(json.to_string().contains("hide"), "{json:#}");
    // Masked: the file reads as empty, never as the secret.
    let out = probe_line(&["-p", p], &["read", &secret]);
    assert!(!out.contains("TOKEN"), "{out}");
}

#[test]
fn network_matches_what_run_enforces() {
    if !require(landlock_abi() >= 4, "Landlock ABI 4 (TCP rules)") {
        return;
    }
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pa, pb) = (
        a.local_addr().unwrap().port().to_string(),
        b.local_addr().unwrap().port().to_string(),
    );
    let d = scratch();
    let host = profile(
        d.path(),
        "host",
        &format!("extends: [default]\nnetwork:\n  mode: host\n  connect: [{pa}]\n"),
    );
    let host = host.to_str().unwrap();
    check(&[
        case(
            &[],
            &format!("127.0.0.1:{pa}"),
            &["tcp", "127.0.0.1", &pa, "x"],
            false,
        ),
        case(
            &["-p", host],
            &format!("127.0.0.1:{pa}"),
            &["tcp", "127.0.0.1", &pa, "x"],
            true,
        ),
        case(
            &["-p", host],
            &format!("127.0.0.1:{pb}"),
            &["tcp", "127.0.0.1", &pb, "x"],
            false,
        ),
        case(&["-p", host], "bind:8931", &["bind", "8931"], false),
        case(&[], "bind:8931", &["bind", "8931"], true),
    ]);
}

#[test]
fn unix_sockets_match_what_run_enforces() {
    let d = scratch();
    let listed = d.path().join("listed.sock");
    let other = d.path().join("other.sock");
    let _l1 = UnixListener::bind(&listed).unwrap();
    let _l2 = UnixListener::bind(&other).unwrap();
    for s in [&listed, &other] {
        std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let (listed, other) = (listed.to_str().unwrap(), other.to_str().unwrap());
    let p = profile(
        d.path(),
        "sock",
        &format!("extends: [default]\nnetwork:\n  unix: [{listed}]\n"),
    );
    let p = p.to_str().unwrap();
    check(&[
        case(
            &[],
            &format!("unix:{listed}"),
            &["unix", listed, "x"],
            false,
        ),
        case(
            &["-p", p],
            &format!("unix:{listed}"),
            &["unix", listed, "x"],
            true,
        ),
        case(
            &["-p", p],
            &format!("unix:{other}"),
            &["unix", other, "x"],
            false,
        ),
    ]);
}

#[test]
fn a_socket_listed_through_a_link_matches_what_run_enforces() {
    // The docker profile's opt-in: the entry is a link to the daemon's socket.
    let d = scratch();
    let sock = d.path().join("daemon.sock");
    let beside = d.path().join("other.sock");
    let link = d.path().join("docker.sock");
    let _l1 = UnixListener::bind(&sock).unwrap();
    let _l2 = UnixListener::bind(&beside).unwrap();
    for s in [&sock, &beside] {
        std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::os::unix::fs::symlink(&sock, &link).unwrap();
    let (sock, beside, link) = (
        sock.to_str().unwrap(),
        beside.to_str().unwrap(),
        link.to_str().unwrap(),
    );
    let p = profile(
        d.path(),
        "linked",
        &format!("extends: [default]\nnetwork:\n  unix: [\"!{link}\"]\n"),
    );
    let p = p.to_str().unwrap();
    check(&[
        case(
            &["-p", p],
            &format!("unix:{link}"),
            &["unix", link, "x"],
            true,
        ),
        case(
            &["-p", p],
            &format!("unix:{sock}"),
            &["unix", sock, "x"],
            true,
        ),
        case(
            &["-p", p],
            &format!("unix:{beside}"),
            &["unix", beside, "x"],
            false,
        ),
    ]);
}

#[test]
fn syscalls_and_environment_match_what_run_enforces() {
    check(&[
        case(&[], "unshare", &["unshare-user"], false),
        case(&[], "mount", &["mount"], false),
        case(&[], "userfaultfd", &["userfaultfd"], false),
        case(
            &[],
            "env:HOME",
            &["env", "HOME"],
            std::env::var_os("HOME").is_some(),
        ),
        case(
            &[],
            "env:MCPCELL_UNSET_SECRET",
            &["env", "MCPCELL_UNSET_SECRET"],
            false,
        ),
        case(
            &["--set-env", "EXTRA=1"],
            "env:EXTRA",
            &["env", "EXTRA"],
            true,
        ),
    ]);
}

/// A suggestion quotes what the target holds (a path the server named, a host, a variable)
/// for the shell and for YAML: pasted, it passes exactly that word and runs nothing.
#[test]
fn suggested_options_and_entries_are_quoted() {
    let d = scratch();
    let marker = d.path().join("pasted");
    let m = marker.to_str().unwrap();
    let path = format!("/srv/data/$(touch {m})/db");
    let host = "a\"b.example.com";
    let env = format!("env:A`touch {m}`");
    let out = output_within(
        mcpcell_cmd("explain", &[&path, host, &env]),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let mut pasted = 0;
    for (option, word) in [
        ("--allow-read ", path.as_str()),
        ("--pass-env ", &env["env:".len()..]),
    ] {
        let line = text.lines().find(|l| l.contains(option)).unwrap();
        let rest = &line[line.find(option).unwrap() + option.len()..];
        // The option's value, as a shell reads the rest of the line up to " (".
        let value = rest.split(" (").next().unwrap();
        let echoed = Command::new("sh")
            .args(["-c", &format!("printf '%s' {value}")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&echoed.stdout), word, "{line}");
        pasted += 1;
    }
    assert_eq!(pasted, 2);
    assert!(!marker.exists(), "a pasted suggestion ran a command");
    // In YAML the same values are one quoted scalar each.
    assert!(
        text.contains(&format!("add \"{path}\" to filesystem.read")),
        "{text}"
    );
    assert!(
        text.contains(r#"network.allow: ["a\"b.example.com"]"#),
        "{text}"
    );
}

/// A read-only grant inside a writable one is a read-only mount: explain answers as `run`
/// enforces it, naming the grant that decides; so for what git runs later, which mcpcell
/// keeps read-only in a writable repository.
#[test]
fn the_innermost_grant_decides() {
    let d = scratch();
    let proj = d.path().join("proj");
    for dir in [".git/hooks", ".git/objects", ".git/refs", "docs"] {
        std::fs::create_dir_all(proj.join(dir)).unwrap();
    }
    for f in [".git/HEAD", ".git/config", "docs/a.md", "notes"] {
        std::fs::write(proj.join(f), "x").unwrap();
    }
    let p = |rel: &str| format!("{}:write", proj.join(rel).display());
    let w = proj.to_str().unwrap().to_string();
    let docs = proj.join("docs").to_str().unwrap().to_string();
    let out = output_within(
        mcpcell_cmd(
            "explain",
            &[
                "--allow-write",
                &w,
                "--allow-read",
                &docs,
                &p("docs/a.md"),
                &p(".git/config"),
                &p(".git/hooks/pre-commit"),
                &p("notes"),
            ],
        ),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for denied in ["docs/a.md", ".git/config", ".git/hooks/pre-commit"] {
        assert!(
            text.contains(&format!(
                "DENIED  {} (read+write)",
                proj.join(denied).display()
            )),
            "{denied}: {text}"
        );
    }
    assert!(
        text.contains(&format!(
            "ALLOWED {} (read+write)",
            proj.join("notes").display()
        )),
        "{text}"
    );
    assert!(
        text.contains("is its own mount and decides: read"),
        "{text}"
    );
}

#[test]
fn verdicts_name_the_rule_and_the_fix() {
    let out = output_within(
        mcpcell_cmd(
            "explain",
            &["/etc/shadow", "/etc/passwd", "ptrace", "example.com"],
        ),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("DENIED  /etc/shadow"), "{text}");
    assert!(
        text.contains("to change it: add /etc/shadow to filesystem.read"),
        "{text}"
    );
    assert!(text.contains("ALLOWED /etc/passwd"), "{text}");
    assert!(
        text.contains("built-in:default:"),
        "the rule's file and line: {text}"
    );
    assert!(text.contains("(filesystem.read["), "the rule's key: {text}");
    assert!(text.contains("syscalls.deny entry @default"), "{text}");
    assert!(text.contains("network mode none"), "{text}");
    let bad = output_within(
        mcpcell_cmd("explain", &["bogus:port"]),
        Duration::from_secs(30),
    );
    assert_eq!(bad.status.code(), Some(125));
    assert!(bad.stdout.is_empty());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bogus:port"));
}
