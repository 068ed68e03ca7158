//! The working directory a client starts mcpcell in: the server starts there, may read it
//! only when granted, and mcpcell says so when it is not, with a command that grants it.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

/// Runs the probe with `opts` in `dir`; (probe's line, mcpcell's stderr).
fn probe_in(dir: &Path, opts: &[&str], probe_args: &[&str]) -> (String, String) {
    let p = probe();
    let mut args = opts.to_vec();
    args.push(p.to_str().unwrap());
    args.extend_from_slice(probe_args);
    let mut c = run_cmd(&args);
    c.current_dir(dir);
    let o = output_within(c, T);
    (
        String::from_utf8_lossy(&o.stdout).trim_end().to_string(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn an_ungranted_working_directory_is_named_with_the_grant_it_needs() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let project = d.path().join("project");
    std::fs::create_dir(&project).unwrap();
    write(&project.join("notes.txt"), "project notes");
    let shown = project.to_str().unwrap();

    // Not granted: the server cannot read the project, and mcpcell says which directory and
    // how to grant it.
    let (line, err) = probe_in(&project, &[], &["read", "notes.txt"]);
    assert_denied(&line, "a relative path in the ungranted working directory");
    assert!(
        err.contains(&format!("the working directory {shown} is not granted"))
            && err.contains(&format!("--allow-read {shown}")),
        "{err}"
    );

    // Granted, with the option the warning suggests: read, and no warning (the control that
    // shows the read above is denied for want of the grant, not for another reason).
    let (line, err) = probe_in(&project, &["--allow-read", "."], &["read", "notes.txt"]);
    assert_eq!(line, "OK project notes");
    assert!(!err.contains("working directory"), "{err}");

    // Started in / (nothing expected there): no warning.
    let (_, err) = probe_in(Path::new("/"), &[], &["exit", "0"]);
    assert!(!err.contains("working directory"), "{err}");

    // Started in the home directory (here the scratch directory, as HOME), or one above
    // it: named, but never offered as a grant (it holds every project's `.env`); the project
    // above is the control, offered.
    for (dir, home) in [(d.path(), d.path()), (d.path(), &project)] {
        let p = probe();
        let mut c = run_cmd(&[p.to_str().unwrap(), "exit", "0"]);
        c.current_dir(dir).env("HOME", home);
        let err = String::from_utf8_lossy(&output_within(c, T).stderr).into_owned();
        let shown = dir.to_str().unwrap();
        assert!(
            err.contains(&format!("the working directory {shown} is not granted"))
                && err.contains("too much to grant a server")
                && !err.contains("--allow-"),
            "{err}"
        );
    }
}

/// A directory name is the client's (or an attacker's, who made the repository): shown
/// with control characters escaped on one line, and suggested as a shell word that gives
/// back exactly that directory.
#[test]
fn a_hostile_working_directory_name_is_escaped() {
    let d = scratch();
    let name = OsStr::from_bytes(b"proj\x1b[2J\nmcpcell: fake 'line' $(id)");
    let project = d.path().join(name);
    std::fs::create_dir(&project).unwrap();
    let (_, err) = probe_in(&project, &[], &["exit", "0"]);
    assert!(
        !err.contains('\x1b'),
        "a raw escape reached stderr: {err:?}"
    );
    let line = err
        .lines()
        .find(|l| l.contains("is not granted"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(line.contains("proj\\x1b[2J\\x0amcpcell: fake"), "{line}");
    // The suggested word, given to a shell, is the directory itself.
    let word = line
        .split("--allow-read ")
        .nth(1)
        .and_then(|r| r.split(" (or --allow-write").next())
        .unwrap();
    let o = std::process::Command::new("bash")
        .args(["--norc", "-c", &format!("printf %s {word}")])
        .output()
        .unwrap();
    assert_eq!(o.stdout, project.as_os_str().as_bytes(), "{word}");
}
