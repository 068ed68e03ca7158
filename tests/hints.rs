//! When a server fails after being denied something, mcpcell's stderr says what and how to
//! check it; stdout carries only the server's bytes, and its stderr passes through unchanged.

mod common;

use std::time::Duration;

use common::*;

fn run(opts: &[&str], command: &[&str]) -> (i32, Vec<u8>, String) {
    let mut args = opts.to_vec();
    args.push("--");
    args.extend_from_slice(command);
    let o = output_within(run_cmd(&args), Duration::from_secs(60));
    (
        o.status.code().unwrap_or(-1),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn hints(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("mcpcell: hint: "))
        .collect()
}

#[test]
fn a_node_server_denied_a_file_gets_the_explain_command() {
    if !require(which::which("node").is_ok(), "node") || !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let (code, stdout, stderr) = run(
        &[],
        &[
            "node",
            "-e",
            "process.stdout.write('out'); require('fs').readFileSync('/etc/shadow')",
        ],
    );
    assert_ne!(code, 0);
    assert_eq!(stdout, b"out", "stdout holds only the server's bytes");
    // Outside the grants the file is not there at all.
    assert!(
        stderr.contains("ENOENT: no such file or directory, open '/etc/shadow'"),
        "{stderr}"
    );
    assert_eq!(
        hints(&stderr),
        [
            "mcpcell: hint: the profile does not let the server read /etc/shadow; check with: mcpcell explain -p default /etc/shadow"
        ],
        "{stderr}"
    );
}

#[test]
fn a_python_server_denied_a_write_gets_the_explain_command() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let dir = d.path().to_str().unwrap();
    let target = d.path().join("out.txt");
    let code = format!("open('{}', 'w').write('x')", target.display());
    let (status, _, stderr) = run(&["--allow-read", dir], &["python3", "-c", &code]);
    assert_ne!(status, 0);
    // A read-only grant is a read-only mount.
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    let h = hints(&stderr);
    assert_eq!(h.len(), 1, "{stderr}");
    assert!(
        h[0].contains(&format!("write {}", target.display()))
            && h[0].contains(&format!(
                "mcpcell explain -p default --allow-read {dir} {}:write",
                target.display()
            )),
        "{stderr}"
    );
    assert!(!target.exists());
}

#[test]
fn no_hint_when_the_server_succeeds_or_fails_for_its_own_reasons() {
    let (code, _, stderr) = run(
        &[],
        &[
            "sh",
            "-c",
            "cat /etc/shadow 2>/dev/null; echo fine >&2; exit 0",
        ],
    );
    assert_eq!(code, 0);
    assert!(hints(&stderr).is_empty(), "{stderr}");
    let (code, _, stderr) = run(&[], &["sh", "-c", "echo 'no such thing' >&2; exit 4"]);
    assert_eq!(code, 4);
    assert!(hints(&stderr).is_empty(), "{stderr}");
    // A path the profile allows (read and write: the private /tmp) is not blamed.
    let (_, _, stderr) = run(
        &[],
        &[
            "sh",
            "-c",
            "echo 'open /tmp/x: Permission denied' >&2; exit 1",
        ],
    );
    assert!(hints(&stderr).is_empty(), "{stderr}");
}

#[test]
fn stderr_passes_through_byte_for_byte() {
    let (code, stdout, stderr) = run(
        &[],
        &[
            "sh",
            "-c",
            "printf 'a\\001b\\377\\n' >&2; printf 'tail-without-newline' >&2",
        ],
    );
    assert_eq!(code, 0);
    assert!(stdout.is_empty());
    let raw = output_within(
        run_cmd(&[
            "--",
            "sh",
            "-c",
            "printf 'a\\001b\\377\\n' >&2; printf 'tail-without-newline' >&2",
        ]),
        Duration::from_secs(30),
    )
    .stderr;
    assert_eq!(raw, b"a\x01b\xff\ntail-without-newline", "{stderr}");
}

#[test]
fn a_seccomp_kill_is_named() {
    let d = scratch();
    let p = profile(
        d.path(),
        "kill",
        "extends: [default]\nsyscalls:\n  on_violation: kill\n",
    );
    let probe = probe();
    let (code, _, stderr) = run(
        &["-p", p.to_str().unwrap()],
        &[probe.to_str().unwrap(), "userfaultfd"],
    );
    assert_eq!(code, 128 + libc::SIGSYS, "{stderr}");
    let h = hints(&stderr);
    assert!(
        h.iter().any(|l| l.contains("killed by the seccomp filter")),
        "{stderr}"
    );
}

/// A host name is the server's text: one that starts with `-` comes after `--` in the
/// suggested command, which run as given explains that host (the control: without `--`,
/// explain reads it as an option and fails).
#[test]
fn a_host_hint_keeps_a_name_that_looks_like_an_option_an_operand() {
    let (code, _, stderr) = run(
        &[],
        &[
            "/bin/sh",
            "-c",
            "echo 'getaddrinfo ENOTFOUND -p.evil.example' >&2; exit 1",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let hint = hints(&stderr)
        .into_iter()
        .find(|h| h.contains("evil.example"))
        .unwrap_or_else(|| panic!("no hint: {stderr}"));
    let cmd = hint
        .split("check with: mcpcell ")
        .nth(1)
        .unwrap_or_else(|| panic!("{hint}"));
    assert!(cmd.ends_with("-- -p.evil.example"), "{hint}");
    let explain = |line: &str| {
        let o = std::process::Command::new("/bin/sh")
            .args(["-c", &format!("\"$0\" {line}"), mcpcell().to_str().unwrap()])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    // explain's verdict on that host: denied (exit 1).
    let (code, out) = explain(cmd);
    assert_eq!(code, Some(1), "{cmd}: {out}");
    assert!(out.contains("DENIED  -p.evil.example"), "{out}");
    // The control: an error (the option given twice), and no verdict.
    let (code, out) = explain(&cmd.replace("-- ", ""));
    assert_eq!(code, Some(125), "{out}");
    assert!(!out.contains("DENIED"), "{out}");
}

/// A write refused under a path relative to the working directory (servers write their
/// project with relative paths) is hinted by its place in that directory.
#[test]
fn a_relative_path_refused_is_named_in_the_working_directory() {
    if !require(which::which("node").is_ok(), "node") || !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let dir = d.path().canonicalize().unwrap();
    let shown = dir.to_str().unwrap();
    let mut args = vec!["--allow-read", shown, "--"];
    args.extend(["node", "-e", "require('fs').writeFileSync('out.txt', 'x')"]);
    let mut c = run_cmd(&args);
    c.current_dir(&dir);
    let o = output_within(c, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_ne!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("EROFS"), "{stderr}");
    assert_eq!(
        hints(&stderr),
        [format!(
            "mcpcell: hint: the profile does not let the server write {shown}/out.txt; check with: mcpcell explain -p default --allow-read {shown} {shown}/out.txt:write"
        )],
        "{stderr}"
    );
    assert!(!dir.join("out.txt").exists());
}
