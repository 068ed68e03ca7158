//! The command line as users and clients type it: the server's command without `--`,
//! completions, the man page, the version, and the exit status of usage errors.

mod common;

use std::process::Output;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(60);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn mcpcell_out(sub: &str, args: &[&str]) -> Output {
    output_within(mcpcell_cmd(sub, args), T)
}

/// The `argv: [...]` line of a text dry run.
fn dry_run_argv(args: &[&str]) -> String {
    let o = mcpcell_out("run", args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    text(&o.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("argv: ").map(str::to_string))
        .expect("the dry run shows argv")
}

/// Everything from the first word that is not one of mcpcell's options is the server's
/// command, its own options included; `--` keeps working, and a `--` after the command is
/// the command's.
#[test]
fn the_command_needs_no_double_dash() {
    let p = probe();
    let p = p.to_str().unwrap();
    let quoted = format!("{p:?}");
    let with = dry_run_argv(&["--profile", "default", "--dry-run", "--", p, "-y", "x"]);
    let without = dry_run_argv(&["--profile", "default", "--dry-run", p, "-y", "x"]);
    assert_eq!(with, format!("[{quoted}, \"-y\", \"x\"]"));
    assert_eq!(without, with);
    // mcpcell's own option names after the command belong to the command.
    let theirs = dry_run_argv(&["--dry-run", p, "--dry-run", "-p", "x", "--", "-v"]);
    assert_eq!(
        theirs,
        format!("[{quoted}, \"--dry-run\", \"-p\", \"x\", \"--\", \"-v\"]")
    );

    // A real run, both ways: the server's own exit status comes back.
    for args in [
        vec!["--profile", "default", p, "exit", "7"],
        vec!["--profile", "default", "--", p, "exit", "7"],
    ] {
        let o = mcpcell_out("run", &args);
        assert_eq!(o.status.code(), Some(7), "{args:?}: {}", text(&o.stderr));
    }

    // A misspelled option before the command is a usage error, not a command named
    // `--profle`: the option is not taken for the server's command.
    let o = mcpcell_out("run", &["--profle", "default", p, "exit", "7"]);
    assert_eq!(o.status.code(), Some(125), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("--profle") && !err.contains("not found in PATH"),
        "{err}"
    );
}

/// `learn` takes its command the same way.
#[test]
fn learn_takes_the_command_without_double_dash() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let out = d.path().join("learned.yaml");
    let p = probe();
    let mut cmd = mcpcell_cmd(
        "learn",
        &[
            "--profile",
            "default",
            "-o",
            out.to_str().unwrap(),
            p.to_str().unwrap(),
            "exit",
            "0",
        ],
    );
    cmd.env("HOME", &home);
    let o = output_within(cmd, T);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let learned = std::fs::read_to_string(&out).expect("learn wrote its profile");
    assert!(learned.contains("extends: [default]"), "{learned}");
}

/// `completions SHELL` prints a script the shell accepts, and bash's completes mcpcell's
/// commands and options from it.
#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let o = mcpcell_out("completions", &[shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", text(&o.stderr));
        let script = text(&o.stdout);
        for word in ["explain", "allow-read", "profile", "dry-run"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let o = mcpcell_out("completions", &["bash"]);
    let script = text(&o.stdout);
    // Completing `mcpcell run --allow-r` and `mcpcell ex` with the script loaded.
    let probe = format!(
        "{script}\n\
         COMP_WORDS=(mcpcell run --allow-r); COMP_CWORD=2; _mcpcell mcpcell --allow-r run; echo \"${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(mcpcell ex); COMP_CWORD=1; _mcpcell mcpcell ex mcpcell; echo \"${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(mcpcell help export ''); COMP_CWORD=3; _mcpcell mcpcell '' export; echo \"${{COMPREPLY[*]}}\"\n"
    );
    let o = std::process::Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("bash");
    let out = text(&o.stdout);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("--allow-read"),
        "{out}{}",
        text(&o.stderr)
    );
    let ex: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    assert!(
        ex.contains(&"explain") && ex.iter().all(|w| w.starts_with("ex")),
        "{out}"
    );
    // A command's own commands, under `help` too (each command's definition is deferred
    // until it runs: the script is made from the whole tree).
    let nested: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    assert!(
        nested.contains(&"seccomp") && nested.contains(&"kubernetes"),
        "{out}"
    );
    // An unknown shell is a usage error.
    let o = mcpcell_out("completions", &["tcsh"]);
    assert_eq!(o.status.code(), Some(125));
}

/// Each command's help opens with its own summary, not that of the options it shares with
/// other commands.
#[test]
fn each_command_help_opens_with_its_summary() {
    for (command, summary) in [
        (&["run"][..], "Run a server in the sandbox"),
        (
            &["learn"],
            "Run a server with file, exec and Unix-socket access observed",
        ),
        (&["explain"], "Say whether a profile lets the server use"),
        (
            &["status"],
            "Which servers of which MCP clients run under mcpcell",
        ),
        (
            &["export", "kubernetes"],
            "A Pod (and its ConfigMap and NetworkPolicy)",
        ),
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let o = mcpcell_out(args[0], &args[1..]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let help = text(&o.stdout);
        assert!(help.starts_with(summary), "{command:?}:\n{help}");
    }
}

/// `man` prints a roff page naming every command; `man --dir` writes one page per command,
/// and a link placed at a page's name is not followed.
#[test]
fn man_pages() {
    let o = mcpcell_out("man", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let page = text(&o.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH mcpcell 1"),
        "{page}"
    );
    for word in ["mcpcell\\-run(1)", "EXIT STATUS", "/etc/mcpcell/profiles"] {
        assert!(page.contains(word), "the page lacks {word}:\n{page}");
    }
    let d = scratch();
    let victim = d.path().join("victim");
    write(&victim, "untouched");
    std::os::unix::fs::symlink(&victim, d.path().join("mcpcell-check.1")).unwrap();
    let o = mcpcell_out("man", &["--dir", d.path().to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(125),
        "a link at a page's name is refused"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
    std::fs::remove_file(d.path().join("mcpcell-check.1")).unwrap();
    let o = mcpcell_out("man", &["--dir", d.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let run = std::fs::read_to_string(d.path().join("mcpcell-run.1")).unwrap();
    assert!(run.contains("\\-\\-allow\\-read"), "{run}");
    for sub in ["check", "explain", "learn", "doctor", "wrap", "completions"] {
        assert!(d.path().join(format!("mcpcell-{sub}.1")).is_file(), "{sub}");
    }
    // A directory a new account does not have yet is made.
    let fresh = d.path().join("share/man/man1");
    let o = mcpcell_out("man", &["--dir", fresh.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(fresh.join("mcpcell.1").is_file());
}

/// `--version` names the commit the binary was built from: in a checkout, the one git
/// reports for it (with `-modified` when tracked files differ).
#[test]
fn version_names_the_commit() {
    let o = mcpcell_out("--version", &[]);
    assert_eq!(o.status.code(), Some(0));
    let v = text(&o.stdout);
    let commit = v
        .trim()
        .strip_prefix(concat!("mcpcell ", env!("CARGO_PKG_VERSION"), " (commit "))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no commit in {v:?}"));
    let hex = commit.trim_end_matches("-modified");
    assert!(
        hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{v}"
    );
    // The test binary and mcpcell come from the same build: git names the same commit, when
    // this user may run git in the checkout.
    let git = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output();
    if let Some(g) = git.ok().filter(|g| g.status.success()) {
        if std::env::var_os("MCPCELL_BIN").is_none() {
            assert_eq!(text(&g.stdout).trim(), hex, "{v}");
        }
    }
}

/// The same kind of usage error gets the same status, 125, in every command; a negative
/// answer (`check` found errors, `explain` found a denial) is 1.
#[test]
fn usage_errors_exit_125_in_every_command() {
    let d = scratch();
    let missing = d.path().join("missing");
    let m = missing.to_str().unwrap();
    write(&d.path().join("file"), "");
    let under_file = d.path().join("file/man1").to_str().unwrap().to_string();
    let p = probe();
    let p = p.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &[],
        &["no-such-command"],
        &["run", "--no-such-option", p],
        &["run", "--profile", "no-such-profile", p],
        &["run", "--dry-run", "--profile", "no-such-profile", p],
        &["learn", "--profile", "no-such-profile", p],
        &["explain", "--profile", "no-such-profile", "/etc"],
        &["check", "no-such-profile"],
        &["check", m],
        &["profiles", "show", "no-such-profile"],
        &["wrap", m],
        &["unwrap", m],
        &["wrap", "--client", "no-such-client"],
        &["doctor", "--format", "xml"],
        &["completions", "tcsh"],
        // Under a file: no directory can be made there.
        &["man", "--dir", &under_file],
    ];
    for args in cases {
        let mut c = std::process::Command::new(mcpcell());
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", d.path())
            .env("XDG_STATE_HOME", state_home())
            .args(*args);
        let o = output_within(c, T);
        assert_eq!(
            o.status.code(),
            Some(125),
            "mcpcell {args:?}: {}",
            text(&o.stderr)
        );
    }
    // Negative answers.
    let bad = profile(d.path(), "bad", "filesystem:\n  raed: [/x]\n");
    let o = mcpcell_out("check", &[bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let o = mcpcell_out("explain", &["--profile", "default", "/etc/shadow"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
}

/// `check` lists every error of a file (each with its line and key path), not the first
/// only, and then the errors of what is left; a near miss gets the name it was meant to be.
#[test]
fn check_reports_every_error_with_suggestions() {
    let d = scratch();
    let bad = profile(
        d.path(),
        "bad",
        "descripton: typo\nfilesystem:\n  raed: [/x]\n  write: 5\nnetwork:\n  mode: proxxy\nsyscalls:\n  deny: [ptrce]\n",
    );
    let b = bad.to_str().unwrap();
    let o = mcpcell_out("check", &[b]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    for want in [
        format!("{b}:1:1: descripton: unknown field `descripton` (did you mean `description`?)"),
        format!("{b}:3:3: filesystem.raed: unknown field `raed` (did you mean `read`?)"),
        format!("{b}:4:10: filesystem.write: invalid type: integer `5`"),
        format!("{b}:6:9: network.mode: unknown variant `proxxy` (did you mean `proxy`?)"),
        // Found by validation of what is left, in the same run.
        format!("{b}:8:10: syscalls.deny[0]: unknown syscall `ptrce`"),
        format!("{b}: 5 errors"),
    ] {
        assert!(out.contains(&want), "missing {want:?} in:\n{out}");
    }
    // A profile name one typo away.
    let o = mcpcell_out("run", &["--profile", "memroy", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        text(&o.stderr).contains("no profile named `memroy` (did you mean `memory`?)"),
        "{}",
        text(&o.stderr)
    );
}
