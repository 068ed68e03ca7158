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
