//! `mcpcell learn` with the probe as the server: what it records, what it writes, and that the
//! learned profile, used with `run`, allows what was used and nothing beside it.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Runs `mcpcell learn -p default -o OUT -- probe ARGS` with `HOME` set; returns
/// (exit code, stdout, stderr).
fn learn(home: &Path, out: &Path, probe_args: &[&str]) -> (i32, String, String) {
    learn_from(home, "default", out, probe_args)
}

/// The same with the base `base` (a name or a path).
fn learn_from(home: &Path, base: &str, out: &Path, probe_args: &[&str]) -> (i32, String, String) {
    let p = probe();
    let mut args = vec!["-p", base, "-o", out.to_str().unwrap(), "--"];
    args.push(p.to_str().unwrap());
    args.extend_from_slice(probe_args);
    let mut cmd = mcpcell_cmd("learn", &args);
    cmd.env("HOME", home);
    let o = output_within(cmd, Duration::from_secs(60));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn run_with(home: &Path, profile: &Path, probe_args: &[&str]) -> String {
    let p = probe();
    let mut args = vec!["-p", profile.to_str().unwrap(), "--"];
    args.push(p.to_str().unwrap());
    args.extend_from_slice(probe_args);
    let mut cmd = run_cmd(&args);
    cmd.env("HOME", home);
    let o = output_within(cmd, Duration::from_secs(60));
    String::from_utf8_lossy(&o.stdout).trim_end().to_string()
}

/// The uncommented list entries of a learned profile's grant lists.
fn grants(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut section = "";
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(key) = t.strip_suffix(':') {
            section = if key.starts_with("- ") { section } else { key };
        } else if let Some(v) = t.strip_prefix("- ") {
            if ["read", "write", "exec", "unix"].contains(&section) {
                out.push(v.trim().to_string());
            }
        }
    }
    out
}

fn has_landlock() -> bool {
    require(landlock_abi() >= 1, "Landlock")
}

#[test]
fn learned_profile_allows_what_was_used_and_nothing_beside_it() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    let data = d.path().join("data");
    let other = d.path().join("other");
    for p in [&home, &data, &other] {
        std::fs::create_dir(p).unwrap();
    }
    for f in ["a", "b", "c"] {
        write(&data.join(f), f);
    }
    write(&other.join("x"), "other");
    let out = d.path().join("learned.yaml");
    let file = data.join("a");
    let f = file.to_str().unwrap();
    let (code, stdout, stderr) = learn(&home, &out, &["read", f]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), "OK a", "stdio passes through while learning");
    assert!(stderr.contains("LEARNING"), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("extends: [default]"), "{text}");
    assert_eq!(grants(&text), [f.to_string()], "{text}");
    assert!(
        text.contains("# read: probe") && text.contains("(openat)"),
        "what used it: {text}"
    );

    assert_eq!(run_with(&home, &out, &["read", f]), "OK a");
    let b = data.join("b");
    assert_denied(
        &run_with(&home, &out, &["read", b.to_str().unwrap()]),
        "a file beside the one used",
    );
    let x = other.join("x");
    assert_denied(
        &run_with(&home, &out, &["read", x.to_str().unwrap()]),
        "another directory",
    );
}

#[test]
fn many_files_in_one_directory_become_the_directory_and_writes_its_parent() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    let data = d.path().join("data");
    let out_dir = d.path().join("out");
    for p in [&home, &data, &out_dir] {
        std::fs::create_dir(p).unwrap();
    }
    for f in ["a", "b", "c", "d"] {
        write(&data.join(f), f);
    }
    let script = d.path().join("tool.sh");
    let created = out_dir.join("made.txt");
    let mut body = String::from("#!/bin/sh\n");
    for f in ["a", "b", "c", "d"] {
        body.push_str(&format!("cat {}\n", data.join(f).display()));
    }
    body.push_str(&format!("echo made > {}\n", created.display()));
    write(&script, &body);
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = d.path().join("learned.yaml");
    let s = script.to_str().unwrap();
    let (code, _, stderr) = learn(&home, &out, &["exec", s]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    let g = grants(&text);
    assert!(g.contains(&data.display().to_string()), "collapsed: {text}");
    assert!(
        g.contains(&out_dir.display().to_string()),
        "the created file's directory: {text}"
    );
    assert!(g.contains(&s.to_string()), "the executed script: {text}");
    assert!(!g.iter().any(|p| p == "/" || p == "${HOME}"), "{text}");
    assert!(text.contains("4 paths under it"), "{text}");
    assert!(text.contains("exec:"), "{text}");

    std::fs::remove_file(&created).unwrap();
    let out_line = run_with(&home, &out, &["exec", s]);
    assert!(!out_line.contains("ERR"), "{out_line}");
    assert_eq!(std::fs::read_to_string(&created).unwrap(), "made\n");
}

#[test]
fn secrets_are_warned_about_never_granted() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let key = home.join(".ssh/id_rsa");
    write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----");
    let project = d.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let dotenv = project.join(".env");
    write(&dotenv, "TOKEN=hunter2");
    let out = d.path().join("learned.yaml");

    let (code, stdout, stderr) = learn(&home, &out, &["read", key.to_str().unwrap()]);
    assert_eq!(code, 1, "the probe's read fails: {stdout}{stderr}");
    assert!(
        !stdout.contains("PRIVATE KEY"),
        "the key was readable while learning: {stdout}"
    );
    assert!(
        stderr.contains("WARNING") && stderr.contains(".ssh/id_rsa"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(grants(&text).is_empty(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with('#') && l.contains("${HOME}/.ssh/id_rsa")),
        "{text}"
    );

    // A .env file is readable while learning (no hide covers it) but is not granted.
    let (_, stdout, stderr) = learn(&home, &out, &["read", dotenv.to_str().unwrap()]);
    assert!(stderr.contains(".env"), "{stderr}");
    assert!(stdout.contains("TOKEN"), "{stdout}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(grants(&text).is_empty(), "{text}");
    assert_denied(
        &run_with(&home, &out, &["read", dotenv.to_str().unwrap()]),
        ".env",
    );
}

/// One file created in a directory grants the directory, and a listing grants what was
/// listed: everything beneath comes with it, secrets the server never touched included
/// (another project's `.env`, a key two levels down). Each is hidden in the learned profile.
#[test]
fn secrets_beneath_a_learned_directory_are_hidden() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    let work = home.join("work");
    let other = work.join("other/deep/er");
    std::fs::create_dir_all(&other).unwrap();
    let dotenv = work.join("other/.env");
    write(&dotenv, "AWS_SECRET=hunter2");
    let key = other.join("server.key");
    write(&key, "-----BEGIN PRIVATE KEY-----");
    let plain = work.join("other/readme.txt");
    write(&plain, "plain");
    let out = d.path().join("learned.yaml");
    let made = work.join("notes.txt");
    let (code, _, stderr) = learn(&home, &out, &["write", made.to_str().unwrap(), "x"]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(grants(&text).iter().any(|g| g == "${HOME}/work"), "{text}");
    for p in [
        "${HOME}/work/other/.env",
        "${HOME}/work/other/deep/er/server.key",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == format!("- {p}")) && text.contains("hide:"),
            "{p} is not hidden: {text}"
        );
    }
    // Under the learned profile the directory is the server's, its secrets are not.
    assert!(run_with(&home, &out, &["read", plain.to_str().unwrap()]).contains("plain"));
    for f in [&dotenv, &key] {
        let line = run_with(&home, &out, &["read", f.to_str().unwrap()]);
        assert!(
            !line.contains("hunter2") && !line.contains("PRIVATE"),
            "{line}"
        );
    }
}

/// HOME reached through a link: a secret the server names by the real directory is still
/// one (it was matched by the text of HOME alone).
#[test]
fn secrets_are_known_under_a_home_reached_through_a_link() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let real = d.path().join("real-home");
    std::fs::create_dir(&real).unwrap();
    let home = d.path().join("home");
    std::os::unix::fs::symlink(&real, &home).unwrap();
    let pgpass = real.join(".pgpass");
    write(&pgpass, "db:5432:*:u:pw");
    let out = d.path().join("learned.yaml");
    let (_, _, stderr) = learn(&home, &out, &["read", pgpass.to_str().unwrap()]);
    assert!(
        stderr.contains("WARNING") && stderr.contains(".pgpass"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(grants(&text).is_empty(), "{text}");
}

/// The base given by path, and every profile file it extends, are what each launch of the
/// learned profile loads: the server being learned can neither rewrite nor read them
/// (judged from outside: the files are as they were).
#[test]
fn a_server_being_learned_cannot_rewrite_its_base() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let inner = d.path().join("inner.yaml");
    write(&inner, "extends: [default]\n");
    let base = d.path().join("base.yaml");
    let base_text = format!("extends: [{}]\n", inner.display());
    write(&base, &base_text);
    let out = d.path().join("learned.yaml");
    for target in [&base, &inner] {
        // The file is masked by an empty stand-in (what is written there goes nowhere).
        let (code, _, stderr) = learn_from(
            &home,
            base.to_str().unwrap(),
            &out,
            &[
                "write",
                target.to_str().unwrap(),
                "filesystem: {read: [/]}\n",
            ],
        );
        assert!(code >= 0, "{stderr}");
    }
    assert_eq!(std::fs::read_to_string(&base).unwrap(), base_text);
    assert_eq!(
        std::fs::read_to_string(&inner).unwrap(),
        "extends: [default]\n"
    );
}

/// A file a server used whose name a profile cannot hold as itself (`${` starts a variable
/// there) is listed, not granted: the learned profile still loads.
#[test]
fn a_name_a_profile_would_expand_is_not_granted() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    let data = d.path().join("data");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let odd = data.join("${NOPE}");
    write(&odd, "x");
    let out = d.path().join("learned.yaml");
    let (_, _, stderr) = learn(&home, &out, &["read", odd.to_str().unwrap()]);
    assert!(stderr.contains("reads as a variable"), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(grants(&text).iter().all(|g| !g.contains("NOPE")), "{text}");
    let check = output_within(
        mcpcell_cmd("check", &[out.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    assert_eq!(
        check.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

/// What runs outside the sandbox later (a shell startup file, git hooks) is not learned as
/// a place to write: a write there is listed, and hooks beneath a written directory hidden.
#[test]
fn places_that_run_later_are_not_learned_as_writable() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    let hooks = home.join("proj/.git/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let config = home.join("proj/.git/config");
    write(&config, "[core]\n");
    let rc = home.join(".bashrc");
    write(&rc, "# rc\n");
    let out = d.path().join("learned.yaml");
    let (_, _, stderr) = learn(&home, &out, &["write", rc.to_str().unwrap(), "x"]);
    assert!(stderr.contains("shell startup file"), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(grants(&text).is_empty(), "{text}");
    let made = home.join("proj/notes.txt");
    let (code, _, stderr) = learn(&home, &out, &["write", made.to_str().unwrap(), "x"]);
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(grants(&text).iter().any(|g| g == "${HOME}/proj"), "{text}");
    for hidden in [".git/hooks", ".git/config"] {
        assert!(
            text.lines()
                .any(|l| l.trim() == format!("- ${{HOME}}/proj/{hidden}")),
            "{hidden}: {text}"
        );
    }
    let hook = hooks.join("pre-commit");
    let line = run_with(&home, &out, &["write", hook.to_str().unwrap(), "x"]);
    assert!(!hook.exists(), "{line}");
    // `core.hooksPath` in the configuration would run a hook from anywhere.
    let _ = run_with(
        &home,
        &out,
        &[
            "write",
            config.to_str().unwrap(),
            "[core]\nhooksPath = /tmp\n",
        ],
    );
    // Masked by /dev/null's read-only copy: what is written goes nowhere.
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "[core]\n");
}

/// A file written through one of /proc's links to a process's files (a descriptor reopened
/// as `/proc/self/fd/N` or `/proc/PID/fd/N`, a name under `/proc/self/cwd`) is learned as
/// the file itself. Recorded as `/proc`, the learned profile asked for write access to the
/// sandbox's /proc and the server failed under it.
#[test]
fn a_file_written_through_proc_is_learned_as_itself() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    let (one, two) = (d.path().join("one"), d.path().join("two"));
    let made = d.path().join("made");
    for p in [&home, &one, &two, &made] {
        std::fs::create_dir(p).unwrap();
    }
    let (a, b) = (one.join("a"), two.join("b"));
    write(&a, "a\n");
    write(&b, "b\n");
    // Each file is opened for reading only; the write reopens it through /proc.
    let script = r#"exec 3<"$1" 4<"$2"; cd "$3" || exit 9
echo 1 >> /proc/self/fd/3 && echo 2 >> "/proc/$$/fd/4" && echo 3 > /proc/self/cwd/new"#;
    let out = d.path().join("learned.yaml");
    let session = |profile: &str, out: Option<&Path>| {
        let mut args = vec!["-p", profile];
        if let Some(o) = out {
            args.extend(["-o", o.to_str().unwrap()]);
        }
        args.extend(["--", "/bin/sh", "-c", script, "sh"]);
        args.extend([
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            made.to_str().unwrap(),
        ]);
        let mut cmd = mcpcell_cmd(if out.is_some() { "learn" } else { "run" }, &args);
        cmd.env("HOME", &home);
        let o = output_within(cmd, Duration::from_secs(60));
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, stderr) = session("default", Some(&out));
    assert_eq!(code, Some(0), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    let g = grants(&text);
    assert!(!g.iter().any(|g| g.starts_with("/proc")), "{text}");
    for want in [&a, &b, &made] {
        assert!(
            g.iter().any(|g| Path::new(g) == want.as_path()),
            "{} in {text}",
            want.display()
        );
    }
    for f in [&a, &b] {
        std::fs::write(f, "x\n").unwrap();
    }
    std::fs::remove_file(made.join("new")).unwrap();
    let (code, stderr) = session(out.to_str().unwrap(), None);
    assert_eq!(code, Some(0), "the learned profile: {stderr}\n{text}");
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "x\n1\n");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "x\n2\n");
    assert_eq!(std::fs::read_to_string(made.join("new")).unwrap(), "3\n");
}

#[test]
fn exit_status_and_stdin_pass_through() {
    let d = scratch();
    let out = d.path().join("learned.yaml");
    let (code, _, stderr) = learn(d.path(), &out, &["exit", "7"]);
    assert_eq!(code, 7, "{stderr}");
    assert!(out.exists(), "written even when the server fails");

    let p = probe();
    let o = out.to_str().unwrap();
    let mut cmd = mcpcell_cmd(
        "learn",
        &["-p", "default", "-o", o, "--", p.to_str().unwrap(), "cat"],
    );
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let msg = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n";
    child.stdin.take().unwrap().write_all(msg).unwrap();
    let got = child.wait_with_output().unwrap();
    assert_eq!(got.stdout, msg, "stdout carries exactly the server's bytes");
    assert_eq!(got.status.code(), Some(0));
}

#[test]
fn bad_output_is_refused_before_anything_starts() {
    let d = scratch();
    let marker = d.path().join("started");
    let p = probe();
    let dir = d.path().to_str().unwrap();
    let o = output_within(
        mcpcell_cmd(
            "learn",
            &[
                "-o",
                dir,
                "--",
                p.to_str().unwrap(),
                "write",
                marker.to_str().unwrap(),
                "x",
            ],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a directory"));
    assert!(!marker.exists(), "the server must not start");
    let o = output_within(
        mcpcell_cmd(
            "learn",
            &[
                "-p",
                "default",
                "-o",
                &format!("{dir}/default.yaml"),
                "--",
                "true",
            ],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&o.stderr).contains("extend itself"));
}

/// `learn` lets the server write beyond its base, but never where profiles are looked up:
/// a profile it planted there would be every later launch's. Tried on a first use, when the
/// user's profile directory does not exist yet; judged from outside. The control is the same
/// run's write beside it, which learn lets through.
#[test]
fn a_server_being_learned_plants_no_profile() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = d.path().join("learned.yaml");
    let h = home.display();
    let script = format!(
        "mkdir -p {h}/.config/mcpcell/profiles; printf 'filesystem:\\n  read: [\"/\"]\\n' > {h}/.config/mcpcell/profiles/default.yaml; mkdir -p {h}/.config/other && printf x > {h}/.config/other/f"
    );
    let o = out.to_str().unwrap();
    let mut cmd = mcpcell_cmd(
        "learn",
        &["-p", "default", "-o", o, "--", "/bin/sh", "-c", &script],
    );
    cmd.env("HOME", &home);
    let res = output_within(cmd, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !home.join(".config/mcpcell/profiles/default.yaml").exists(),
        "{err}"
    );
    assert!(err.contains("mcpcell's own profiles"), "{err}");
    assert_eq!(
        std::fs::read_to_string(home.join(".config/other/f")).unwrap(),
        "x"
    );
}

/// The default file (`learned-BASE.yaml` in the profile directory) is named for the base,
/// not the server: learning a second server with the same base would replace the first's
/// profile, which a client entry may use by name. Refused, naming the first command, with
/// the file unchanged; learning the same command again replaces it, and `-o` gives the
/// second server a file of its own.
#[test]
fn learning_another_server_does_not_replace_a_learned_profile_unasked() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let p = probe();
    let learn_in = |dir: &Path, args: &[&str]| {
        let mut all = vec!["-p", "default", "--", p.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut cmd = mcpcell_cmd("learn", &all);
        cmd.env("HOME", &home)
            .env_remove("XDG_CONFIG_HOME")
            .current_dir(dir);
        let o = output_within(cmd, Duration::from_secs(60));
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let learn_default = |args: &[&str]| learn_in(d.path(), args);
    let file = home.join(".config/mcpcell/profiles/learned-default.yaml");
    let (code, err) = learn_default(&["exit", "0"]);
    assert_eq!(code, 0, "{err}");
    let first = std::fs::read_to_string(&file).unwrap();
    let (code, err) = learn_default(&["exit", "3"]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("holds the profile learned from another command")
            && err.contains(&format!("{} exit 0", p.display())),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
    // The same command again: replaced (the control that the file is writable).
    let (code, err) = learn_default(&["exit", "0"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("learned profile written to"), "{err}");
    // The same words in another project are another server (as its state directory says):
    // `read notes` names each project's own file.
    for dir in ["pa", "pb"] {
        std::fs::create_dir_all(d.path().join(dir)).unwrap();
        write(&d.path().join(dir).join("notes"), dir);
    }
    let (code, err) = learn_in(&d.path().join("pa"), &["read", "notes"]);
    assert_eq!(code, 125, "{err}");
    std::fs::remove_file(&file).unwrap();
    let (code, err) = learn_in(&d.path().join("pa"), &["read", "notes"]);
    assert_eq!(code, 0, "{err}");
    let pa = std::fs::read_to_string(&file).unwrap();
    let (code, err) = learn_in(&d.path().join("pb"), &["read", "notes"]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("holds the profile learned from another command"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), pa);
    let first = pa;
    // The other server, with a file of its own.
    let other = home.join("other.yaml");
    let (code, _, err) = learn(&home, &other, &["exit", "3"]);
    assert_eq!(code, 3, "{err}");
    assert!(other.is_file());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first);
}

/// A server being learned cannot make its learned grant reach more than it used: it works in
/// `~/docs` through a link (`/tmp/L/..`, `/tmp/L` leading to `~/proj`: the kernel's `..`,
/// not the text's), reads the files by their real paths, and leaves `~/docs` as a link to
/// `$HOME`. The learned profile does not grant `~/docs`, and says why.
#[test]
fn a_link_planted_while_learned_widens_no_learned_grant() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().canonicalize().unwrap().join("home");
    std::fs::create_dir_all(home.join("proj")).unwrap();
    write(&home.join(".bash_history"), "secret commands");
    let h = home.to_str().unwrap();
    let script = format!(
        "ln -s {h}/proj /tmp/L && mkdir /tmp/L/../docs && \
         for n in a b c; do echo x > /tmp/L/../docs/$n; done && \
         for n in a b c; do cat {h}/docs/$n >/dev/null; done && \
         rm /tmp/L/../docs/a /tmp/L/../docs/b /tmp/L/../docs/c && rmdir /tmp/L/../docs && \
         ln -s {h} /tmp/L/../docs{{end}}"
    );
    let learn_sh = |tail: &str| {
        let out = d.path().join(format!("learned{}.yaml", tail.len()));
        let mut cmd = mcpcell_cmd(
            "learn",
            &[
                "-p",
                "default",
                "-o",
                out.to_str().unwrap(),
                "--",
                "/bin/sh",
                "-c",
                &script.replace("{end}", tail),
            ],
        );
        cmd.env("HOME", &home).current_dir(home.join("proj"));
        let o = output_within(cmd, Duration::from_secs(60));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(0), "{err}");
        (std::fs::read_to_string(&out).unwrap(), err)
    };
    let (text, err) = learn_sh("");
    assert!(!grants(&text).iter().any(|g| g.contains("docs")), "{text}");
    assert!(err.contains("WARNING") && err.contains("docs"), "{err}");
    assert!(
        text.contains("symbolic link made while the server was observed"),
        "{text}"
    );
    // Weak setup: the same run with `~/docs` left a real directory; the grant is learned.
    std::fs::remove_file(home.join("docs")).unwrap();
    let (text, _) = learn_sh(
        " && rm {h}/docs && mkdir {h}/docs"
            .replace("{h}", h)
            .as_str(),
    );
    assert!(grants(&text).iter().any(|g| g.contains("docs")), "{text}");
}
