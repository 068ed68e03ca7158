//! Files mcpcell itself writes (`--log-file`, `learn -o`) cannot be turned by a server into
//! a write elsewhere: the server plants links from inside its sandbox, mcpcell is run again,
//! and the test checks from outside that the file the links point at is untouched. Each
//! attack is also replayed with a plain append (what mcpcell used to do) to show that the
//! planted link does redirect a write that follows it.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

/// `probe ARGS` in the sandbox with `opts`; the probe's line.
fn server(opts: &[&str], args: &[&str]) -> String {
    probe_line(opts, args)
}

/// A plain append that follows links, as mcpcell opened its log before.
fn naive_append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(line.as_bytes()).unwrap();
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn a_log_file_inside_a_writable_grant_is_refused_up_front() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let work = root.join("work");
    std::fs::create_dir(&work).unwrap();
    let log = work.join("mcpcell.log");
    let ran = work.join("ran");
    let p = probe();
    let w = work.to_str().unwrap();
    let args = |log_opt: bool| {
        let mut a = vec!["--allow-write", w];
        if log_opt {
            a.extend(["--log-file", log.to_str().unwrap(), "--log-level", "info"]);
        }
        a.extend([
            "--",
            p.to_str().unwrap(),
            "write",
            ran.to_str().unwrap(),
            "x",
        ]);
        a
    };
    let out = output_within(run_cmd(&args(true)), T);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("--log-file") && err.contains("which the server may write"),
        "{err}"
    );
    assert!(!log.exists(), "the log file was created");
    assert!(!ran.exists(), "the server started");
    // The same run without the log file starts the server, which is seen to write: the
    // check above would have seen it start.
    let out = output_within(run_cmd(&args(false)), T);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ran.exists());

    // The same holds for the grant's own name as written (a relative path, `..` inside).
    let mut c = run_cmd(&[
        "--allow-write",
        ".",
        "--log-file",
        "sub/../mcpcell.log",
        "--",
        p.to_str().unwrap(),
        "exit",
        "0",
    ]);
    c.current_dir(&work);
    let out = output_within(c, T);
    assert_eq!(out.status.code(), Some(125));
    assert!(!log.exists());
}

#[test]
fn a_log_file_a_server_swapped_for_a_link_is_not_written_through() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let work = root.join("work");
    std::fs::create_dir(&work).unwrap();
    let home = root.join("home");
    std::fs::create_dir(&home).unwrap();
    let bashrc = home.join(".bashrc");
    write(&bashrc, "# untouched\n");
    let log = work.join("mcpcell.log");
    let l = log.to_str().unwrap();
    let w = work.to_str().unwrap();
    let p = probe();
    let pp = p.to_str().unwrap();

    // A first run logs there (the directory is not granted to that server).
    let logged = |extra: &[&str]| {
        let mut a = vec!["--log-file", l, "--log-level", "info"];
        a.extend_from_slice(extra);
        a.extend(["--", pp, "exit", "0"]);
        output_within(run_cmd(&a), T)
    };
    let out = logged(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(read(&log).contains("started"), "{}", read(&log));

    // Another server, which may write the directory, replaces the log with a link to the
    // user's shell rc file.
    assert!(server(&["--allow-write", w], &["unlink", l]).starts_with("OK"));
    let target = bashrc.to_str().unwrap();
    assert!(server(&["--allow-write", w], &["symlink", target, l]).starts_with("OK"));
    assert!(std::fs::symlink_metadata(&log).unwrap().is_symlink());

    // The next run with that log file refuses to write through the link.
    let out = logged(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(read(&bashrc), "# untouched\n");

    // Weak setup: an append that follows links writes into the rc file.
    naive_append(&log, "echo pwned\n");
    assert!(read(&bashrc).contains("pwned"), "the link did not redirect");
    write(&bashrc, "# untouched\n");

    // A link to a directory on the way: `work/dot` -> home, log file `work/dot/.bashrc`.
    let dot = work.join("dot");
    let dl = dot.to_str().unwrap();
    assert!(
        server(
            &["--allow-write", w],
            &["symlink", home.to_str().unwrap(), dl]
        )
        .starts_with("OK")
    );
    let through = dot.join(".bashrc");
    let out = output_within(
        run_cmd(&[
            "--log-file",
            through.to_str().unwrap(),
            "--",
            pp,
            "exit",
            "0",
        ]),
        T,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("passes through the symbolic link"), "{err}");
    assert_eq!(read(&bashrc), "# untouched\n");
    naive_append(&through, "echo pwned\n");
    assert!(read(&bashrc).contains("pwned"), "the link did not redirect");
}

#[test]
fn a_learned_profile_inside_a_writable_grant_is_refused() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let work = root.join("work");
    std::fs::create_dir(&work).unwrap();
    let out_file = work.join("learned.yaml");
    let p = probe();
    let out = output_within(
        mcpcell_cmd(
            "learn",
            &[
                "--allow-write",
                work.to_str().unwrap(),
                "-o",
                out_file.to_str().unwrap(),
                "--",
                p.to_str().unwrap(),
                "exit",
                "0",
            ],
        ),
        T,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("-o ") && err.contains("which the server may write"),
        "{err}"
    );
    assert!(!out_file.exists());
}
