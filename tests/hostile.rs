//! A hostile environment: `$HOME` and `$XDG_*` that are symbolic links, unreadable, missing
//! or relative; profile paths with spaces, newlines, `..` and symbolic links pointing out;
//! commands that cannot run. Each case either works, sandboxed (the server reports
//! no_new_privs and a seccomp filter), or fails with exit 125/126/127 and a message that
//! names the thing, and then the server did not run at all. Never a panic.

mod common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

/// `mcpcell run OPTS -- CMD` with `XDG_STATE_HOME` and `PATH` set when given: its exit
/// status, stdout and stderr. Never a panic.
fn launch(
    home: Option<&Path>,
    path: Option<&str>,
    opts: &[&str],
    cmd: &[&str],
) -> (i32, String, String) {
    let mut args: Vec<&str> = opts.to_vec();
    args.push("--");
    args.extend(cmd);
    let mut c = run_cmd(&args);
    if let Some(h) = home {
        c.env("XDG_STATE_HOME", h);
    }
    if let Some(p) = path {
        c.env("PATH", p);
    }
    let out = output_within(c, T);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        err,
    )
}

enum Expect {
    /// Runs, sandboxed.
    Sandboxed,
    /// Fails with this status and a message containing this text; the server never runs.
    Error(i32, String),
    /// Either, as this user's rights decide (root can write where others cannot).
    SandboxedOrError(i32, String),
}

/// Runs `probe status` (or `command` when given) and checks the outcome.
fn check(what: &str, mut cmd: Command, expect: Expect) {
    let out = output_within(
        {
            cmd.stdin(std::process::Stdio::null());
            cmd
        },
        T,
    );
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && code != 134 && code != 101,
        "{what}: mcpcell panicked: {stderr}"
    );
    let sandboxed = || {
        assert_eq!(code, 0, "{what}: exit {code}; stderr: {stderr}");
        assert!(
            stdout.contains("NoNewPrivs: 1") && stdout.contains("Seccomp: 2"),
            "{what}: the server ran without its sandbox: {stdout}"
        );
    };
    let error = |status: i32, text: &str| {
        assert_eq!(code, status, "{what}: stdout {stdout}; stderr {stderr}");
        assert!(
            stderr.contains(text),
            "{what}: the message does not say `{text}`: {stderr}"
        );
        assert!(
            stdout.is_empty(),
            "{what}: the server ran after an error: {stdout}"
        );
    };
    match expect {
        Expect::Sandboxed => sandboxed(),
        Expect::Error(s, t) => error(s, &t),
        Expect::SandboxedOrError(s, t) => {
            if code == 0 {
                sandboxed()
            } else {
                error(s, &t)
            }
        }
    }
}

fn status_cmd(opts: &[&str]) -> Command {
    let p = probe();
    let mut args = opts.to_vec();
    args.extend(["--", p.to_str().unwrap(), "status"]);
    run_cmd(&args)
}

fn mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

#[test]
fn home_that_is_a_symlink_unreadable_missing_relative_or_unset() {
    let d = scratch();
    let real = d.path().join("real-home");
    std::fs::create_dir_all(real.join(".ssh")).unwrap();
    write(&real.join(".ssh/id_rsa"), "PRIVATE KEY");
    let link = d.path().join("home-link");
    symlink(&real, &link).unwrap();

    // A symbolic link: works, and ~/.ssh stays hidden by either name.
    let mut c = status_cmd(&[]);
    c.env("HOME", &link).env_remove("XDG_STATE_HOME");
    check("HOME a symlink", c, Expect::Sandboxed);
    let p = probe();
    for key in [link.join(".ssh/id_rsa"), real.join(".ssh/id_rsa")] {
        let mut c = run_cmd(&[
            "--allow-read",
            link.to_str().unwrap(),
            "--",
            p.to_str().unwrap(),
            "read",
            key.to_str().unwrap(),
        ]);
        c.env("HOME", &link);
        let out = output_within(c, T);
        let line = String::from_utf8_lossy(&out.stdout);
        assert!(
            line.starts_with("ERR "),
            "{} readable with HOME a symlink: {line}",
            key.display()
        );
    }

    // Unreadable: the state directory cannot be made there (root can).
    let locked = d.path().join("locked-home");
    std::fs::create_dir(&locked).unwrap();
    mode(&locked, 0o000);
    let mut c = status_cmd(&[]);
    c.env("HOME", &locked).env_remove("XDG_STATE_HOME");
    check(
        "HOME unreadable",
        c,
        Expect::SandboxedOrError(125, "failed to create the state directory".into()),
    );
    mode(&locked, 0o755);

    // Missing: created on first use, as XDG asks of the state directory.
    let mut c = status_cmd(&[]);
    c.env("HOME", d.path().join("missing-home"))
        .env_remove("XDG_STATE_HOME");
    check("HOME missing", c, Expect::Sandboxed);

    // Relative or unset: ignored; the password database's home applies.
    for home in [Some("relative/home"), None] {
        let mut c = status_cmd(&[]);
        match home {
            Some(h) => c.env("HOME", h),
            None => c.env_remove("HOME"),
        };
        check(&format!("HOME {home:?}"), c, Expect::Sandboxed);
    }
}

#[test]
fn xdg_directories_that_are_links_files_unwritable_or_relative() {
    let d = scratch();
    let real = d.path().join("state-real");
    std::fs::create_dir(&real).unwrap();
    let link = d.path().join("state-link");
    symlink(&real, &link).unwrap();
    let mut c = status_cmd(&[]);
    c.env("XDG_STATE_HOME", &link);
    check("XDG_STATE_HOME a symlink", c, Expect::Sandboxed);
    assert!(real.join("mcpcell/default").is_dir());

    let file = d.path().join("a-file");
    write(&file, "");
    let mut c = status_cmd(&[]);
    c.env("XDG_STATE_HOME", &file);
    check(
        "XDG_STATE_HOME a file",
        c,
        Expect::Error(
            125,
            format!(
                "failed to create the state directory {}/mcpcell/default",
                file.display()
            ),
        ),
    );

    let ro = d.path().join("read-only");
    std::fs::create_dir(&ro).unwrap();
    mode(&ro, 0o500);
    let mut c = status_cmd(&[]);
    c.env("XDG_STATE_HOME", &ro);
    check(
        "XDG_STATE_HOME not writable",
        c,
        Expect::SandboxedOrError(125, "failed to create the state directory".into()),
    );
    mode(&ro, 0o755);

    // A relative value is invalid by the XDG spec and ignored.
    let mut c = status_cmd(&[]);
    c.env("XDG_STATE_HOME", "relative/state")
        .current_dir(d.path());
    check("XDG_STATE_HOME relative", c, Expect::Sandboxed);
    assert!(
        !d.path().join("relative").exists(),
        "a relative XDG_STATE_HOME was used"
    );

    // A config directory that is unreadable or a dangling link: the built-in profile applies.
    let dangling = d.path().join("config-dangling");
    symlink("/nonexistent/config", &dangling).unwrap();
    let locked = d.path().join("config-locked");
    std::fs::create_dir_all(locked.join("mcpcell/profiles")).unwrap();
    write(
        &locked.join("mcpcell/profiles/default.yaml"),
        "filesystem: {read: [/]}\n",
    );
    mode(&locked, 0o000);
    for (what, dir) in [("dangling", &dangling), ("unreadable", &locked)] {
        let mut c = status_cmd(&[]);
        c.env("XDG_CONFIG_HOME", dir);
        // Root reads through mode 000: then the user's own default.yaml applies, which is
        // still a sandbox.
        check(&format!("XDG_CONFIG_HOME {what}"), c, Expect::Sandboxed);
    }
    mode(&locked, 0o755);

    // A profile found through a symlinked config directory.
    let cfg_real = d.path().join("cfg-real");
    std::fs::create_dir_all(cfg_real.join("mcpcell/profiles")).unwrap();
    write(
        &cfg_real.join("mcpcell/profiles/mine.yaml"),
        "extends: [default]\n",
    );
    let cfg_link = d.path().join("cfg-link");
    symlink(&cfg_real, &cfg_link).unwrap();
    let mut c = status_cmd(&["-p", "mine"]);
    c.env("XDG_CONFIG_HOME", &cfg_link);
    check(
        "a profile through a symlinked XDG_CONFIG_HOME",
        c,
        Expect::Sandboxed,
    );
}

/// Where a launch with another environment looks for profiles and keeps state is out of
/// reach too: a client that sets XDG_CONFIG_HOME, XDG_STATE_HOME or unsets HOME must not
/// get a write grant of the directory an ordinary launch of the same user reads its
/// profiles from (a planted `default.yaml`) or keeps every server's state in.
#[test]
fn another_environments_profile_and_state_directories_are_out_of_reach() {
    let d = scratch();
    let home = d.path().canonicalize().unwrap().join("home");
    for dir in [".config", ".local/state", "work"] {
        std::fs::create_dir_all(home.join(dir)).unwrap();
    }
    let other = d.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let h = |rel: &str| home.join(rel).to_str().unwrap().to_string();
    for (var, grant, refusal) in [
        (
            "XDG_CONFIG_HOME",
            h(".config"),
            "the profile search directory",
        ),
        (
            "XDG_STATE_HOME",
            h(".local"),
            "where every server keeps its private state",
        ),
        // The control: the same environment, a grant of the user's own project.
        ("XDG_CONFIG_HOME", h("work"), ""),
    ] {
        let mut c = status_cmd(&["--allow-write", &grant]);
        c.env("HOME", &home).env(var, &other);
        if var == "XDG_CONFIG_HOME" {
            c.env("XDG_STATE_HOME", other.join("state"));
        }
        let what = format!("{var} elsewhere, --allow-write {grant}");
        if refusal.is_empty() {
            check(&what, c, Expect::Sandboxed);
        } else {
            check(&what, c, Expect::Error(125, refusal.into()));
        }
    }
}

/// `probe read PATH` under `opts`: the first line.
fn read_line(opts: &[&str], path: &Path) -> String {
    let p = probe();
    let mut args = opts.to_vec();
    args.extend(["--", p.to_str().unwrap(), "read", path.to_str().unwrap()]);
    let out = output_within(run_cmd(&args), T);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn profile_paths_with_spaces_newlines_dotdot_and_links_out() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let spaced = root.join("with space");
    let newline = root.join("new\nline");
    let a = root.join("a");
    let b = root.join("b");
    let secret = root.join("secret");
    for dir in [&spaced, &newline, &a, &b, &secret] {
        std::fs::create_dir_all(dir).unwrap();
        write(
            &dir.join("f"),
            &format!(
                "in {}",
                dir.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace('\n', " ")
            ),
        );
    }
    // Inside a granted directory, a link to a directory that is not granted.
    symlink(&secret, b.join("out")).unwrap();
    let yaml = format!(
        "extends: [default]\nfilesystem:\n  read: [\"{}\", \"{}\", \"{}/../b\"]\n",
        spaced.display(),
        newline.display().to_string().replace('\n', "\\n"),
        a.display()
    );
    // The profile file's own name has a space and a newline too.
    let prof = root.join("my\nprofile file.yaml");
    write(&prof, &yaml);
    let p = prof.to_str().unwrap();
    assert_eq!(read_line(&["-p", p], &spaced.join("f")), "OK in with space");
    assert_eq!(read_line(&["-p", p], &newline.join("f")), "OK in new line");
    // `a/../b` is `b`: b is granted, a is not.
    assert_eq!(read_line(&["-p", p], &b.join("f")), "OK in b");
    assert!(read_line(&["-p", p], &a.join("f")).starts_with("ERR "));
    // The link inside b leads out of the grant: refused.
    assert!(read_line(&["-p", p], &b.join("out/f")).starts_with("ERR "));
    // A granted path that is itself a link grants what it points at, and the dry run says so.
    let link = root.join("granted-link");
    symlink(&secret, &link).unwrap();
    let opt = ["--allow-read", link.to_str().unwrap()];
    assert_eq!(read_line(&opt, &link.join("f")), "OK in secret");
    let probe = probe();
    let mut args = opt.to_vec();
    args.extend(["--dry-run", "--", probe.to_str().unwrap(), "exit", "0"]);
    let out = output_within(run_cmd(&args), T);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains(&secret.display().to_string()), "{plan}");
}

#[test]
fn commands_that_cannot_run_never_start() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let marker = root.join("ran");
    // A script that, were it ever run, would say so and leave a mark.
    let body = format!("#!/bin/sh\necho RAN\ntouch '{}'\n", marker.display());
    let script = root.join("no-exec.sh");
    write(&script, &body);
    mode(&script, 0o644);
    let dir = root.join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let dangling = root.join("dangling");
    symlink("/nonexistent/server", &dangling).unwrap();
    let fifo = root.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap();
    let empty = root.join("empty");
    write(&empty, "");
    mode(&empty, 0o755);
    let missing_interp = root.join("missing-interp");
    write(&missing_interp, "#!/nonexistent/sh\necho RAN\n");
    mode(&missing_interp, 0o755);
    let grant = ["--allow-write", root.to_str().unwrap()];
    for (what, path, status, text) in [
        (
            "a script without execute permission",
            &script,
            126,
            "not executable".to_string(),
        ),
        ("a directory", &dir, 126, "is a directory".into()),
        (
            "a dangling symlink",
            &dangling,
            126,
            "symbolic link to a file that does not exist".into(),
        ),
        ("a FIFO", &fifo, 126, "not a regular file".into()),
        ("an empty file", &empty, 126, "Exec format error".into()),
        (
            "a script whose interpreter is missing",
            &missing_interp,
            127,
            "not found".into(),
        ),
    ] {
        let mut args = grant.to_vec();
        args.extend(["--", path.to_str().unwrap()]);
        check(what, run_cmd(&args), Expect::Error(status, text));
        // The message names the thing.
        let out = output_within(run_cmd(&args), T);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(path.to_str().unwrap()), "{what}: {err}");
        assert!(!marker.exists(), "{what}: the command ran");
    }
    // A profile read from stdin would take the MCP client's bytes.
    check(
        "-p /dev/stdin",
        status_cmd(&["-p", "/dev/stdin"]),
        Expect::Error(
            125,
            "failed to read profile /dev/stdin: not a regular file".into(),
        ),
    );
    // A command named only by a name PATH does not have.
    check(
        "a command not on PATH",
        run_cmd(&["--", "no-such-server-4711"]),
        Expect::Error(127, "not found in PATH".into()),
    );
}

/// What a server writes where it may write never widens a later launch's grants: a link it
/// plants on the way to a grant, a `pyvenv.cfg` naming a "base installation", a `#!` line
/// naming an interpreter, a program it plants on the PATH. Each is planted from inside (a
/// first run) and judged by what the next launch with the same command line reads. Each has a
/// control: the same thing where the server may not write is followed, and the secret is
/// read, so the inference under test is live.
#[test]
fn what_a_server_plants_where_it_writes_widens_no_later_launch() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let (proj, ro, secret) = (root.join("proj"), root.join("ro"), root.join("secret"));
    for dir in [&proj, &ro, &secret.join("bin")] {
        std::fs::create_dir_all(dir).unwrap();
    }
    write(&secret.join("f"), "in secret");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let w = ["--allow-write".to_string(), s(&proj)];
    let with = |more: &[String]| -> Vec<String> { w.iter().chain(more).cloned().collect() };
    let refs = |v: &[String]| -> Vec<String> { v.to_vec() };
    let run = |opts: &[String], cmd: &[String], path: Option<&str>| {
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        launch(None, path, &opts, &cmd)
    };
    let probe = s(&probe());
    let plant = |args: &[&str]| {
        let mut cmd = vec![probe.clone()];
        cmd.extend(args.iter().map(|a| a.to_string()));
        let (code, out, err) = run(&refs(&w), &cmd, None);
        assert!(
            out.starts_with("OK"),
            "planting {args:?}: {code} {out} {err}"
        );
    };

    // A link on the way to a required grant: the launch is refused, nothing runs.
    plant(&["symlink", &s(&secret), &s(&proj.join("docs"))]);
    assert!(
        std::fs::symlink_metadata(proj.join("docs"))
            .unwrap()
            .is_symlink()
    );
    let read = |opts: &[String], p: &Path| run(opts, &[probe.clone(), "read".into(), s(p)], None);
    let (code, out, err) = read(
        &with(&["--allow-read".into(), s(&proj.join("docs"))]),
        &proj.join("docs/f"),
    );
    assert!(code != 0 && out.is_empty(), "{code} {out} {err}");
    assert!(
        err.contains("where the server may write") && err.contains(&s(&secret)),
        "{err}"
    );
    symlink(&secret, ro.join("docs")).unwrap();
    let (_, out, _) = read(
        &with(&["--allow-read".into(), s(&ro.join("docs"))]),
        &ro.join("docs/f"),
    );
    assert_eq!(out.trim_end(), "OK in secret");

    // A pyvenv.cfg beside the command naming a "base installation".
    for dir in [&proj, &ro] {
        std::fs::copy(probe.as_str(), dir.join("probe")).unwrap();
    }
    let cfg = format!("home = {}\n", secret.display());
    let (code, out, err) = run(
        &refs(&w),
        &[
            "/bin/sh".into(),
            "-c".into(),
            format!("printf '{cfg}' > {}/pyvenv.cfg", proj.display()),
        ],
        None,
    );
    assert_eq!(code, 0, "{out} {err}");
    let (_, out, err) = run(
        &refs(&w),
        &[s(&proj.join("probe")), "read".into(), s(&secret.join("f"))],
        None,
    );
    assert!(out.starts_with("ERR "), "{out} {err}");
    assert!(
        err.contains("not granting") && err.contains("pyvenv.cfg"),
        "{err}"
    );
    write(&ro.join("pyvenv.cfg"), &cfg);
    let ro_opts = with(&["--allow-read".into(), s(&ro)]);
    let (_, out, err) = run(
        &ro_opts,
        &[s(&ro.join("probe")), "read".into(), s(&secret.join("f"))],
        None,
    );
    assert_eq!(out.trim_end(), "OK in secret", "{err}");
    std::fs::remove_file(ro.join("pyvenv.cfg")).unwrap();

    // A `#!` line naming an interpreter: a script that prints itself.
    let interp = secret.join("interp");
    write(&interp, "#!/bin/sh\n# in secret\ncat \"$0\"\n");
    mode(&interp, 0o755);
    let script = format!("#!{}\n", interp.display());
    let (code, out, err) = run(
        &refs(&w),
        &[
            "/bin/sh".into(),
            "-c".into(),
            format!(
                "printf '{script}' > {0}/run.sh && chmod 755 {0}/run.sh",
                proj.display()
            ),
        ],
        None,
    );
    assert_eq!(code, 0, "{out} {err}");
    let (_, out, err) = run(&refs(&w), &[s(&proj.join("run.sh"))], None);
    assert!(!out.contains("in secret"), "{out} {err}");
    assert!(
        err.contains("not granting") && err.contains(&s(&interp)),
        "{err}"
    );
    write(&ro.join("run.sh"), &script);
    mode(&ro.join("run.sh"), 0o755);
    let (_, out, err) = run(&ro_opts, &[s(&ro.join("run.sh"))], None);
    assert!(out.contains("# in secret"), "{out} {err}");

    // A program a profile names, planted on the PATH: its "install prefix" would be granted.
    let tool = secret.join("bin/tool");
    write(&tool, "#!/bin/sh\n");
    mode(&tool, 0o755);
    let prof = root.join("tool.yaml");
    write(
        &prof,
        "extends: [default]\nfilesystem:\n  programs: [tool]\n",
    );
    let p_opts = |more: &[String]| -> Vec<String> {
        let mut v = vec!["-p".to_string(), s(&prof)];
        v.extend(with(more));
        v
    };
    std::fs::create_dir_all(ro.join("bin")).unwrap();
    plant(&["mkdir", &s(&proj.join("bin"))]);
    plant(&["symlink", &s(&tool), &s(&proj.join("bin/tool"))]);
    let path = |dir: &Path| format!("{}:/usr/bin:/bin", dir.join("bin").display());
    let cmd = [probe.clone(), "read".into(), s(&secret.join("f"))];
    let (_, out, err) = run(&p_opts(&[]), &cmd, Some(&path(&proj)));
    assert!(out.starts_with("ERR "), "{out} {err}");
    assert!(
        err.contains("not granting") && err.contains("filesystem.programs"),
        "{err}"
    );
    symlink(&tool, ro.join("bin/tool")).unwrap();
    let (_, out, err) = run(&p_opts(&[]), &cmd, Some(&path(&ro)));
    assert_eq!(out.trim_end(), "OK in secret", "{err}");

    // A writable grant reached through a planted link does not vouch for itself.
    plant(&["symlink", &s(&secret), &s(&proj.join("data"))]);
    let (code, out, err) = run(
        &with(&["--allow-write".into(), s(&proj.join("data"))]),
        &[probe.clone(), "write".into(), s(&proj.join("data/planted"))],
        None,
    );
    assert!(code == 125 && out.is_empty(), "{code} {out} {err}");
    assert!(!secret.join("planted").exists());
    symlink(&secret, ro.join("data")).unwrap();
    let (_, out, err) = run(
        &with(&["--allow-write".into(), s(&ro.join("data"))]),
        &[probe.clone(), "write".into(), s(&ro.join("data/written"))],
        None,
    );
    assert!(out.starts_with("OK"), "{out} {err}");
    assert!(secret.join("written").exists());

    // A virtual environment the server may not write, whose `home` it may: a link planted
    // there would choose the "base installation".
    let venv = ro.join("venv");
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    std::fs::copy(probe.as_str(), venv.join("bin/probe")).unwrap();
    write(
        &venv.join("pyvenv.cfg"),
        &format!("home = {}/py/bin\n", proj.display()),
    );
    plant(&["symlink", &s(&secret), &s(&proj.join("py"))]);
    let venv_cmd = [
        s(&venv.join("bin/probe")),
        "read".into(),
        s(&secret.join("f")),
    ];
    let (_, out, err) = run(&refs(&w), &venv_cmd, None);
    assert!(out.starts_with("ERR "), "{out} {err}");
    assert!(
        err.contains("not granting") && err.contains(&s(&proj.join("py"))),
        "{err}"
    );
    symlink(&secret, ro.join("py")).unwrap();
    write(
        &venv.join("pyvenv.cfg"),
        &format!("home = {}/py/bin\n", ro.display()),
    );
    let (_, out, err) = run(&refs(&w), &venv_cmd, None);
    assert_eq!(out.trim_end(), "OK in secret", "{err}");

    // npm's settings found beside a `node` planted on the PATH: its registry would join the
    // proxy's allowlist. The launch is refused; the same files where the server may not
    // write are read.
    let npm = root.join("npm.yaml");
    write(
        &npm,
        "extends: [default]\nnetwork:\n  mode: proxy\n  allow: [\"allowed.example\"]\nenv:\n  package_settings: [npm]\n",
    );
    let node_in = |dir: &Path| {
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        write(&dir.join("etc/npmrc"), "registry=https://exfil.example/\n");
    };
    node_in(&ro);
    std::fs::copy("/bin/true", ro.join("bin/node")).unwrap();
    plant(&["mkdir", &s(&proj.join("etc"))]);
    let (code, out, err) = run(
        &refs(&w),
        &[
            "/bin/sh".into(),
            "-c".into(),
            format!(
                "printf 'registry=https://exfil.example/\\n' > {0}/etc/npmrc && cp /bin/true {0}/bin/node",
                proj.display()
            ),
        ],
        None,
    );
    assert_eq!(code, 0, "{out} {err}");
    let npm_opts = || {
        let mut v = vec!["-p".to_string(), s(&npm)];
        v.extend(w.iter().cloned());
        v
    };
    let (code, out, err) = run(&npm_opts(), &["/bin/true".into()], Some(&path(&proj)));
    assert!(code == 125 && out.is_empty(), "{code} {out} {err}");
    assert!(
        err.contains("env.package_settings") && err.contains("npmrc"),
        "{err}"
    );
    let mut dry = npm_opts();
    dry.push("--dry-run".into());
    let (code, out, err) = run(&dry, &["/bin/true".into()], Some(&path(&ro)));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("exfil.example"), "{out}");

    // A socket the profile names where the server may write, redirected by a planted link
    // to another socket (a daemon's).
    let daemon = std::os::unix::net::UnixListener::bind(secret.join("daemon.sock")).unwrap();
    let sock_profile = |dir: &Path| {
        let p = root.join(format!(
            "sock-{}.yaml",
            dir.file_name().unwrap().to_string_lossy()
        ));
        write(
            &p,
            &format!(
                "extends: [default]\nnetwork:\n  unix: [\"{}/app.sock\"]\n",
                dir.display()
            ),
        );
        p
    };
    let (pp, pr) = (sock_profile(&proj), sock_profile(&ro));
    plant(&[
        "symlink",
        &s(&secret.join("daemon.sock")),
        &s(&proj.join("app.sock")),
    ]);
    let connect = |prof: &Path, dir: &Path| {
        let mut opts = vec!["-p".to_string(), s(prof)];
        opts.extend(w.iter().cloned());
        run(
            &opts,
            &[probe.clone(), "unix".into(), s(&dir.join("app.sock"))],
            None,
        )
    };
    let (code, out, err) = connect(&pp, &proj);
    assert!(code == 125 && out.is_empty(), "{code} {out} {err}");
    assert!(
        err.contains("network.unix") && err.contains("where the server may write"),
        "{err}"
    );
    symlink(secret.join("daemon.sock"), ro.join("app.sock")).unwrap();
    let (_, out, err) = connect(&pr, &ro);
    assert!(out.starts_with("OK"), "{out} {err}");
    drop(daemon);

    // `args: write-parent`: the database's directory is writable, and a link put in the
    // database's place stands for that directory again, not for what it points at.
    let wp = root.join("wp.yaml");
    write(
        &wp,
        "extends: [default]\nfilesystem:\n  args: write-parent\n",
    );
    let srv = ro.join("srv.sh");
    write(
        &srv,
        &format!(
            "db=$2\nif [ -L \"$db\" ]; then cat \"$db/f\"; else rm -f \"$db\"; ln -s {} \"$db\" && echo planted; fi\n",
            secret.display()
        ),
    );
    std::fs::create_dir_all(root.join("data")).unwrap();
    let db = root.join("data/app.db");
    write(&db, "");
    let sqlite = |more: &[String]| {
        let mut opts = vec!["-p".to_string(), s(&wp), "--allow-read".into(), s(&ro)];
        opts.extend(more.iter().cloned());
        run(
            &opts,
            &["/bin/sh".into(), s(&srv), "--db-path".into(), s(&db)],
            None,
        )
    };
    let (_, out, err) = sqlite(&[]);
    assert_eq!(out.trim_end(), "planted", "{err}");
    let (_, out, err) = sqlite(&[]);
    assert!(!out.contains("in secret"), "{out} {err}");
    let (_, out, err) = sqlite(&["--allow-read".into(), s(&secret)]);
    assert_eq!(out.trim_end(), "in secret", "{err}");
}

/// What a server planted while it could write a directory stays there: a later launch that
/// only reads that directory (the same server with narrower options, or another server)
/// must still not follow it. mcpcell records where launches let a server write; the control
/// is the same narrower launch with a fresh record, which follows the link to the secret.
#[test]
fn what_a_server_planted_on_an_earlier_launch_widens_no_narrower_one() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let (proj, secret) = (root.join("proj"), root.join("secret"));
    for dir in [&proj, &secret] {
        std::fs::create_dir_all(dir).unwrap();
    }
    write(&secret.join("f"), "in secret");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (state, fresh) = (root.join("state"), root.join("fresh"));
    let run = |home: &Path, opts: &[&str], cmd: &[&str]| launch(Some(home), None, opts, cmd);
    let probe = s(&probe());
    // The first launch may write the project; its server plants a link and a pyvenv.cfg.
    let (docs, cfg) = (s(&proj.join("docs")), s(&proj.join("pyvenv.cfg")));
    let (_, out, err) = run(
        &state,
        &["--allow-write", &s(&proj)],
        &[&probe, "symlink", &s(&secret), &docs],
    );
    assert!(out.starts_with("OK"), "{out} {err}");
    std::fs::copy(&probe, proj.join("probe")).unwrap();
    let (code, out, err) = run(
        &state,
        &["--allow-write", &s(&proj)],
        &[
            "/bin/sh",
            "-c",
            &format!("printf 'home = {}\\n' > {cfg}", secret.display()),
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    // And a profile for another server of the project, which grants the secret.
    let planted = proj.join(".mcpcell/b.yaml");
    let (code, out, err) = run(
        &state,
        &["--allow-write", &s(&proj)],
        &[
            "/bin/sh",
            "-c",
            &format!(
                "mkdir -p {0}/.mcpcell && printf 'extends: [default]\\nfilesystem:\\n  read: [\"{1}\"]\\n' > {2}",
                proj.display(),
                secret.display(),
                planted.display()
            ),
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(planted.is_file());
    // Seen from outside: the record names the project, and only it.
    let record = std::fs::read(state.join("mcpcell/.written")).unwrap();
    assert_eq!(record, format!("{}\0", proj.display()).into_bytes());

    // Later launches only read the project.
    let narrow_link = |home: &Path| {
        run(
            home,
            &["--allow-read", &docs],
            &[&probe, "read", &s(&proj.join("docs/f"))],
        )
    };
    let narrow_cfg = |home: &Path| {
        run(
            home,
            &["--allow-read", &s(&proj)],
            &[&s(&proj.join("probe")), "read", &s(&secret.join("f"))],
        )
    };
    let (code, out, err) = narrow_link(&state);
    assert!(code == 125 && out.is_empty(), "{code} {out} {err}");
    assert!(
        err.contains("where an earlier launch let a server write") && err.contains(&s(&secret)),
        "{err}"
    );
    let (_, out, err) = narrow_cfg(&state);
    assert!(out.starts_with("ERR "), "{out} {err}");
    assert!(
        err.contains("not granting") && err.contains("pyvenv.cfg"),
        "{err}"
    );
    let planted_profile = |home: &Path| {
        run(
            home,
            &["-p", &s(&planted)],
            &[&probe, "read", &s(&secret.join("f"))],
        )
    };
    let (code, out, err) = planted_profile(&state);
    assert!(code == 125 && out.is_empty(), "{code} {out} {err}");
    assert!(
        err.contains("a profile file (or one it extends)")
            && err.contains("where an earlier launch let a server write"),
        "{err}"
    );
    // Narrow launches record nothing: the record is as it was.
    assert_eq!(
        std::fs::read(state.join("mcpcell/.written")).unwrap(),
        record
    );

    // The control: with no record, the same launches follow what was planted.
    let (_, out, err) = narrow_link(&fresh);
    assert_eq!(out.trim_end(), "OK in secret", "{err}");
    let (_, out, err) = narrow_cfg(&fresh);
    assert_eq!(out.trim_end(), "OK in secret", "{err}");
    let (_, out, err) = planted_profile(&fresh);
    assert_eq!(out.trim_end(), "OK in secret", "{err}");
    // A dry run records nothing either.
    let (code, _, err) = run(
        &fresh,
        &["--dry-run", "--allow-write", &s(&proj)],
        &["/bin/true"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!fresh.join("mcpcell/.written").exists());
}

/// A program a server puts on the client's PATH (a project's `.venv/bin` or `node_modules/.bin`
/// the server may write, first on an activated environment's PATH) is not run by a later
/// launch that finds it there: not as the command, nor as the program a script's
/// `#!/usr/bin/env NAME` or `#!PATH` names, for the same server (it may write the project now) or another
/// one (an earlier launch let a server write it). Judged from outside: the planted program
/// leaves a file in the project of the launch that would run it. The control: with no record
/// of the earlier launch, the other server's launch runs it.
#[test]
fn a_program_a_server_put_on_the_path_is_not_run_by_a_later_launch() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let (a, b) = (root.join("projA"), root.join("projB"));
    std::fs::create_dir_all(&b).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (state, fresh) = (root.join("state"), root.join("fresh"));
    let path = format!("{}:/usr/bin:/bin", a.join("bin").display());
    let run = |home: &Path, opts: &[&str], cmd: &[&str]| {
        let (code, _, err) = launch(Some(home), Some(&path), opts, cmd);
        (code, err)
    };
    // Server A, which may write projA, puts `tool` in projA/bin from inside its sandbox.
    let ran = b.join("ran");
    let plant = format!(
        "mkdir -p {bin} && printf '#!/bin/sh\\necho planted > {ran}\\n' > {bin}/tool && chmod 755 {bin}/tool",
        bin = a.join("bin").display(),
        ran = ran.display()
    );
    std::fs::create_dir_all(&a).unwrap();
    let (code, err) = run(
        &state,
        &["--allow-write", &s(&a)],
        &["/bin/sh", "-c", &plant],
    );
    assert_eq!(code, 0, "{err}");
    assert!(a.join("bin/tool").is_file());
    // Scripts outside every writable place that run `tool`: through env, and as the
    // interpreter their `#!` names (a console script and its project's venv `python`).
    let script = root.join("script");
    write(&script, "#!/usr/bin/env tool\n");
    let interpreted = root.join("interpreted");
    write(
        &interpreted,
        &format!("#!{}\n", a.join("bin/tool").display()),
    );
    for f in [&script, &interpreted] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let b_opts = ["--allow-write", &s(&b)];
    for cmd in [
        vec!["tool".to_string()],
        vec![s(&script)],
        vec![s(&interpreted)],
    ] {
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        // Another server, B, which may write projB. The command itself stops the launch
        // before anything starts (125); a program the command runs is left out.
        let stopped = |code: i32| match cmd[..] {
            ["tool"] => code == 125,
            _ => code != 0,
        };
        let (code, err) = run(&state, &b_opts, &cmd);
        assert!(stopped(code), "{cmd:?}: {code} {err}");
        assert!(!ran.exists(), "{cmd:?} ran the planted program: {err}");
        let tool = a.join("bin/tool");
        let option = format!("--allow-exec {}", tool.display());
        assert!(
            err.contains(&format!("a file inside {}", a.display()))
                && err.contains("where an earlier launch let a server write")
                && err.contains(&format!(
                    "name the program by its own path, or let it run from there ({option})"
                )),
            "{cmd:?}: {err}"
        );
        // What the message offers works: the program, granted by its own path, runs.
        let (code, err) = run(
            &state,
            &[&b_opts[..], &["--allow-exec", &s(&tool)]].concat(),
            &cmd,
        );
        assert_eq!(code, 0, "{cmd:?}: {err}");
        assert_eq!(
            std::fs::read_to_string(&ran).unwrap_or_default(),
            "planted\n",
            "{cmd:?}: {err}"
        );
        std::fs::remove_file(&ran).unwrap();
        // The same server, which may write projA now, on a later launch.
        let (code, err) = run(
            &state,
            &["--allow-write", &s(&a), "--allow-write", &s(&b)],
            &cmd,
        );
        assert!(stopped(code), "{cmd:?}: {code} {err}");
        assert!(!ran.exists(), "{cmd:?} ran the planted program: {err}");
        assert!(err.contains("where the server may write"), "{cmd:?}: {err}");
        // The control: B's launch with no record of A's runs what A planted.
        let (code, err) = run(&fresh, &b_opts, &cmd);
        assert_eq!(code, 0, "{cmd:?}: {err}");
        assert_eq!(
            std::fs::read_to_string(&ran).unwrap_or_default(),
            "planted\n",
            "{cmd:?}: {err}"
        );
        std::fs::remove_file(&ran).unwrap();
        std::fs::remove_dir_all(&fresh).unwrap();
    }
}

/// A server that may write a project replaces nothing there but adds a `.pth` file to the
/// project's virtual environment. A later launch of another server, with the venv activated
/// (its `bin` first on the PATH) and the project readable, would run `python3` as
/// `proj/.venv/bin/python3`: a link to the system's Python, a file granted anyway, but
/// Python run by that path loads the environment's packages and runs the `.pth`, with the
/// later server's grants. The command found there, a `#!` line naming that interpreter and
/// `env`'s target found there each stop the launch; `--allow-exec` of the path runs it on
/// purpose; the control, with no record of the first launch, runs the planted code.
#[test]
fn a_venv_a_server_could_write_is_not_run_by_its_python_on_the_path() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("skipped: no /usr/bin/python3");
        return;
    }
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let (proj, b) = (root.join("proj"), root.join("projB"));
    std::fs::create_dir_all(&b).unwrap();
    std::fs::create_dir_all(&proj).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let venv = proj.join(".venv");
    let made = Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(made.success());
    assert!(venv.join("bin/python3").is_symlink());
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    let (state, fresh) = (root.join("state"), root.join("fresh"));
    let path = format!("{}:/usr/bin:/bin", venv.join("bin").display());
    let run = |home: &Path, opts: &[&str], cmd: &[&str]| {
        let (code, _, err) = launch(Some(home), Some(&path), opts, cmd);
        (code, err)
    };
    // Server A, which may write the project, adds a `.pth` to its environment.
    let ran = b.join("ran");
    let pth = format!(
        "import pathlib; pathlib.Path({:?}).write_text('planted')\n",
        s(&ran)
    );
    let plant = format!("printf '%s' \"$1\" > {}/zz.pth", s(&site));
    let (code, err) = run(
        &state,
        &["--allow-write", &s(&proj)],
        &["/bin/sh", "-c", &plant, "sh", &pth],
    );
    assert_eq!(code, 0, "{err}");
    assert!(site.join("zz.pth").is_file());
    // Scripts outside every writable place: one names the venv's interpreter, one asks
    // `env` for python3 on the PATH.
    let named = root.join("named");
    write(
        &named,
        &format!("#!{}\npass\n", venv.join("bin/python3").display()),
    );
    let by_env = root.join("by-env");
    write(&by_env, "#!/usr/bin/env python3\npass\n");
    for f in [&named, &by_env] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let b_opts = ["--allow-read", &s(&proj), "--allow-write", &s(&b)];
    let interp = s(&venv.join("bin/python3"));
    for cmd in [
        vec!["python3".to_string(), "-c".into(), "pass".into()],
        vec![s(&named)],
        vec![s(&by_env)],
    ] {
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        // Another server, B, which may read the project.
        let (code, err) = run(&state, &b_opts, &cmd);
        assert_eq!(code, 125, "{cmd:?}: {err}");
        assert!(!ran.exists(), "{cmd:?} ran the planted code: {err}");
        assert!(
            err.contains(&format!(
                "`{interp}` is run by a path inside {}",
                proj.display()
            )) && err.contains(&format!("--allow-exec {interp}")),
            "{cmd:?}: {err}"
        );
        // What the message offers runs it, on purpose.
        let (code, err) = run(
            &state,
            &[&b_opts[..], &["--allow-exec", &interp]].concat(),
            &cmd,
        );
        assert_eq!(code, 0, "{cmd:?}: {err}");
        assert!(ran.exists(), "{cmd:?}: {err}");
        std::fs::remove_file(&ran).unwrap();
        // The control: with no record of A's launch, B runs what A planted.
        let (code, err) = run(&fresh, &b_opts, &cmd);
        assert_eq!(code, 0, "{cmd:?}: {err}");
        assert_eq!(
            std::fs::read_to_string(&ran).unwrap_or_default(),
            "planted",
            "{cmd:?}: {err}"
        );
        std::fs::remove_file(&ran).unwrap();
        std::fs::remove_dir_all(&fresh).unwrap();
    }

    // What no plan can predict: a program run by name once the sandbox runs (here a shell
    // script's `python3`; `env` searching again; a link swapped back after the check). The
    // venv's `bin` is left out of the PATH inside, so the system's Python runs, with a
    // warning; the control, with no record, runs the planted code.
    let wrapper = root.join("wrapper");
    write(&wrapper, "#!/bin/sh\nexec python3 -c pass\n");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cmd = [wrapper.to_str().unwrap()];
    let (code, err) = run(&state, &b_opts, &cmd);
    assert_eq!(code, 0, "{err}");
    assert!(!ran.exists(), "the planted code ran: {err}");
    assert!(
        err.contains(&format!(
            "PATH: {} is left out of the server's PATH: it lies inside {}",
            venv.join("bin").display(),
            proj.display()
        )),
        "{err}"
    );
    let (code, err) = run(&fresh, &b_opts, &cmd);
    assert_eq!(code, 0, "{err}");
    assert!(
        ran.exists(),
        "the control did not run the planted code: {err}"
    );
    std::fs::remove_file(&ran).unwrap();

    // The same for where an interpreter looks for code: a PYTHONPATH naming the project's
    // `src` (passed by `-p python`) is left out, and the module there is not imported.
    let src = proj.join("src");
    std::fs::create_dir_all(&src).unwrap();
    write(
        &src.join("planted.py"),
        &format!(
            "import pathlib; pathlib.Path({:?}).write_text('planted')\n",
            s(&ran)
        ),
    );
    let py = |home: &Path| {
        let mut c = run_cmd(&[
            "-p",
            "python",
            "--allow-read",
            &s(&proj),
            "--allow-write",
            &s(&b),
            "--",
            "/usr/bin/python3",
            "-c",
            "import planted",
        ]);
        c.env("XDG_STATE_HOME", home).env("PYTHONPATH", &src);
        let out = output_within(c, T);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = py(&state);
    assert_ne!(code, Some(0), "{err}");
    assert!(!ran.exists(), "the planted module ran: {err}");
    assert!(
        err.contains(&format!(
            "PYTHONPATH: {} is left out of the server's PYTHONPATH",
            src.display()
        )),
        "{err}"
    );
    let (code, err) = py(&fresh);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        ran.exists(),
        "the control did not import the planted module: {err}"
    );
}

/// The server's search paths hold the directories that were checked: a relative or empty
/// PATH entry is made absolute from where the server starts (a server that changes into a
/// project would otherwise look up programs in that project's `.venv/bin`), and a PATH left
/// with nothing is unset rather than empty (an empty PATH searches the working directory).
#[test]
fn search_paths_inside_hold_the_directories_checked() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let env_of = |home: &Path, path: &str, opts: &[&str]| {
        let mut c = run_cmd(&[opts, &["--", "/usr/bin/env"]].concat());
        c.env("XDG_STATE_HOME", home)
            .env("PATH", path)
            .current_dir(&root);
        let out = output_within(c, T);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{err}");
        let path = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("PATH=").map(String::from));
        (path, err)
    };
    let state = root.join("state");
    let (path, err) = env_of(&state, ".venv/bin::/usr/bin:/bin", &[]);
    assert_eq!(
        path.as_deref(),
        Some(format!("{}/.venv/bin:{}:/usr/bin:/bin", s(&root), s(&root)).as_str()),
        "{err}"
    );
    // Every entry left out: no PATH at all. The project was written by an earlier launch.
    let proj = root.join("proj");
    std::fs::create_dir_all(proj.join("bin")).unwrap();
    let (code, _, err) = launch(
        Some(&state),
        None,
        &["--allow-write", &s(&proj)],
        &["/bin/true"],
    );
    assert_eq!(code, 0, "{err}");
    let only = s(&proj.join("bin"));
    let (path, err) = env_of(&state, &only, &["--allow-read", &s(&proj)]);
    assert_eq!(path, None, "{err}");
    assert!(err.contains("is left out of the server's PATH"), "{err}");
    // The control: with no record, the entry is kept.
    let (path, err) = env_of(&root.join("fresh"), &only, &["--allow-read", &s(&proj)]);
    assert_eq!(path.as_deref(), Some(only.as_str()), "{err}");
}

/// A server's arguments come from the client's config, which a cloned project may bring:
/// `args: write` grants the paths named there, but never a place whose contents run outside
/// the sandbox later (a shell startup file) or a file of secrets, by its name or through a
/// link. The control: the same launch's ordinary file argument is written.
#[test]
fn args_write_grants_no_place_that_runs_later() {
    let d = scratch();
    let home = d.path().canonicalize().unwrap();
    let bashrc = home.join(".bashrc");
    write(&bashrc, "# mine\n");
    let notes = home.join("proj/notes.txt");
    std::fs::create_dir_all(notes.parent().unwrap()).unwrap();
    write(&notes, "n");
    std::os::unix::fs::symlink(&bashrc, home.join("proj/rc")).unwrap();
    let prof = home.join("proj/args.yaml");
    write(&prof, "extends: [default]\nfilesystem:\n  args: write\n");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let probe = s(&probe());
    let gitconfig = home.join(".gitconfig");
    write(&gitconfig, "[user]\n");
    let tools = home.join("tools");
    std::fs::create_dir_all(&tools).unwrap();
    let tool = tools.join("git");
    write(&tool, "#!/bin/sh\n");
    // Go's default: ~/go/bin on the PATH, through a link.
    let go = home.join("go");
    std::fs::create_dir_all(go.join("bin")).unwrap();
    std::os::unix::fs::symlink(go.join("bin"), home.join("gobin")).unwrap();
    // Settings kept outside HOME.
    let xdg = d.path().canonicalize().unwrap().join("xdg");
    let xdg_git = xdg.join("git/config");
    std::fs::create_dir_all(xdg_git.parent().unwrap()).unwrap();
    write(&xdg_git, "[user]\n");
    let path = format!(
        "{}:{}:/usr/local/bin:/usr/bin:/bin",
        tools.display(),
        home.join("gobin").display()
    );
    // The probe writes TARGET; a further argument (a directory) is there to be granted.
    let write_with = |target: &Path, also: Option<&Path>| {
        let also = also.map(s);
        let prof = s(&prof);
        let mut args = vec!["-p", prof.as_str(), "--", &probe, "write"];
        let t = s(target);
        args.extend([t.as_str(), "evil"]);
        if let Some(a) = &also {
            args.push(a);
        }
        let mut c = run_cmd(&args);
        c.env("HOME", &home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CONFIG_HOME", &xdg)
            .env("PATH", &path);
        let out = output_within(c, T);
        (
            String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let write_to = |target: &Path| write_with(target, None);
    for target in [bashrc.clone(), home.join("proj/rc")] {
        let (out, err) = write_to(&target);
        assert_denied(&out, &format!("{}", target.display()));
        assert!(err.contains("a shell startup file"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&bashrc).unwrap(), "# mine\n");
    // Git's own configuration, and a program on the PATH.
    let (out, err) = write_to(&gitconfig);
    assert_denied(&out, "~/.gitconfig");
    assert!(err.contains("git's own configuration"), "{err}");
    let settings = home.join(".someapp/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    write(&settings, "{}");
    let (out, err) = write_to(&settings);
    assert_denied(&out, "an application's settings in HOME");
    assert!(err.contains("a hidden file or directory in HOME"), "{err}");
    // A directory holding one on the PATH (reached through a link), and git's
    // configuration under XDG_CONFIG_HOME outside HOME.
    let (out, err) = write_with(&go.join("bin/git"), Some(&go));
    assert_denied(&out, "a program in ~/go/bin, ~/go granted");
    assert!(err.contains("is on the PATH"), "{err}");
    assert!(!go.join("bin/git").exists());
    let (out, err) = write_to(&xdg_git);
    assert_denied(&out, "git's configuration under XDG_CONFIG_HOME");
    assert!(err.contains("is XDG_CONFIG_HOME"), "{err}");
    let (out, err) = write_to(&tool);
    assert_denied(&out, "a program on the PATH");
    assert!(err.contains("is on the PATH"), "{err}");
    assert_eq!(std::fs::read_to_string(&tool).unwrap(), "#!/bin/sh\n");
    let (out, err) = write_to(&notes);
    assert_eq!(out, format!("OK {}", notes.display()), "{err}");
}
