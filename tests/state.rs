//! One server's cage against another's: `${STATE_DIR}` is per server, a writable grant never
//! reaches a profile search directory (even one that does not exist yet) or another
//! server's state, and profile names cannot walk out of their directory. Attacks are made
//! from inside the sandbox and judged from outside; each has a weak-setup control that shows
//! the attack works where the protection does not apply.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

/// `sh -c SCRIPT sh ARGS...` under `-p PROFILE`; (status, stdout, stderr).
fn sh(profile: &str, env: &[(&str, &Path)], script: &str, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["-p", profile, "--", "/bin/sh", "-c", script, "sh"];
    a.extend_from_slice(args);
    let mut c = run_cmd(&a);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = output_within(c, T);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The state directory `--dry-run` shows for `-p PROFILE -- ARGV`.
fn planned_state_dir(profile: &str, argv: &[&str]) -> PathBuf {
    let mut a = vec!["--dry-run", "--format", "json", "-p", profile, "--"];
    a.extend_from_slice(argv);
    let out = output_within(run_cmd(&a), T);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    PathBuf::from(
        plan["plan"]["state_dir"]
            .as_str()
            .expect("a state directory"),
    )
}

/// A server that may write its project swaps the file its arguments name for a link to
/// another project's: its next launch is still its own server, with its own state
/// directory, not the other project's (whose launches run what that directory holds).
/// Judged by the state directory `--dry-run` plans from outside; the control names the other
/// project's file outright, and gets the other project's directory.
#[test]
fn a_link_in_place_of_an_argument_does_not_make_another_projects_server() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let (a, b) = (root.join("a"), root.join("b"));
    for p in [&a, &b] {
        std::fs::create_dir(p).unwrap();
        write(&p.join("notes"), "");
    }
    let planned = |cwd: &Path, arg: &str| {
        let mut c = run_cmd(&[
            "--dry-run",
            "--format",
            "json",
            "-p",
            "python",
            "--",
            "/bin/sh",
            "-c",
            ":",
            "sh",
            arg,
        ]);
        c.current_dir(cwd);
        let out = output_within(c, T);
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        plan["plan"]["state_dir"].as_str().unwrap().to_string()
    };
    let (sa, sb) = (planned(&a, "notes"), planned(&b, "notes"));
    assert_ne!(sa, sb, "two projects, two servers");
    // From inside A's sandbox, which may write a.
    let mut c = run_cmd(&[
        "-p",
        "python",
        "--allow-write",
        a.to_str().unwrap(),
        "--",
        "/bin/sh",
        "-c",
        "rm notes && ln -s ../b/notes notes",
    ]);
    c.current_dir(&a);
    let out = output_within(c, T);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(a.join("notes").canonicalize().unwrap(), b.join("notes"));
    assert_eq!(
        planned(&a, "notes"),
        sa,
        "the link took B's state directory"
    );
    // The control: B's file named outright is B's server.
    assert_eq!(planned(&a, "../b/notes"), sb);
}

/// Server A plants a `.pth` file in its Python user base (`${STATE_DIR}/python-user`, which
/// the `python` profile points PYTHONUSERBASE at); server B, under the same profile, looks
/// for it and tries to write next to it.
#[test]
fn two_servers_under_one_profile_do_not_share_state() {
    if !require(Path::new("/bin/sh").exists(), "/bin/sh") {
        return;
    }
    let plant = "mkdir -p \"$PYTHONUSERBASE\" && echo 'import os; os.system(\"pwned\")' > \"$PYTHONUSERBASE/evil.pth\" && echo \"$PYTHONUSERBASE\"";
    let (code, a_base, err) = sh("python", &[], plant, &[]);
    assert_eq!(code, 0, "{err}");
    let a_base = PathBuf::from(a_base);
    // From outside: A's file is where A's state is.
    assert!(a_base.join("evil.pth").is_file());

    // B: another command under the same profile.
    let look = "echo \"$PYTHONUSERBASE\"; cat \"$1/evil.pth\" && echo RE\"\"AD; echo b > \"$1/b-was-here\" && echo WRO\"\"TE; true";
    let a = a_base.to_str().unwrap();
    let (code, out, err) = sh("python", &[], look, &[a]);
    assert_eq!(code, 0, "{err}");
    let b_base = PathBuf::from(out.lines().next().unwrap_or_default());
    assert_ne!(b_base, a_base, "two servers got the same PYTHONUSERBASE");
    assert_ne!(
        b_base.parent(),
        a_base.parent(),
        "two servers share a state directory"
    );
    assert!(!out.contains("READ"), "B read A's state: {out}");
    assert!(!out.contains("WROTE"), "B wrote into A's state: {out}");
    assert!(!a_base.join("b-was-here").exists());

    // Weak setup: B given A's directory to read (what a shared `${STATE_DIR}` gave it) reads
    // the planted file, so the check above would have seen it.
    let opts = [
        "--allow-read",
        a,
        "-p",
        "python",
        "--",
        "/bin/sh",
        "-c",
        look,
        "sh",
        a,
    ];
    let out = output_within(run_cmd(&opts), T);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("READ"), "{text}");
    assert!(!text.contains("WROTE"), "{text}");
    // And the same server finds its own state again on the next run.
    // (A fresh server each time the test runs: the state directory outlives the test.)
    let nonce = scratch();
    let again = format!(
        ": {}; cat \"$PYTHONUSERBASE/evil.pth\" >/dev/null && echo RE\"\"AD; {plant}",
        nonce.path().display()
    );
    let (_, first, _) = sh("python", &[], &again, &[]);
    let (_, second, _) = sh("python", &[], &again, &[]);
    assert!(
        !first.contains("READ") && second.contains("READ"),
        "{first} / {second}"
    );

    // The dry run shows each server's own directory, below the profile's.
    let s1 = planned_state_dir("node", &["/bin/sh", "-c", "a"]);
    let s2 = planned_state_dir("node", &["/bin/sh", "-c", "b"]);
    assert_ne!(s1, s2);
    assert_eq!(s1.parent(), s2.parent());
    assert!(
        s1.parent().unwrap().ends_with("mcpcell/node"),
        "{}",
        s1.display()
    );
    assert_eq!(
        s1,
        planned_state_dir("node", &["/bin/sh", "-c", "a"]),
        "the same server must find its state again"
    );
}

#[test]
fn a_writable_grant_over_a_profile_search_directory_is_refused_even_before_it_exists() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let config = root.join("config");
    std::fs::create_dir(&config).unwrap();
    let sibling = root.join("other");
    std::fs::create_dir(&sibling).unwrap();
    let ran = root.join("ran");
    let planted = config.join("mcpcell/profiles/default.yaml");
    // The attack: create the user's profile directory and a `default` that lets every
    // server read everything.
    let attack_marking = |marker: &Path| {
        format!(
            "mkdir -p \"$1/mcpcell/profiles\" && printf 'filesystem:\\n  read: [/]\\n' > \"$1/mcpcell/profiles/default.yaml\"; touch {}",
            marker.display()
        )
    };
    let attack = attack_marking(&ran);
    let attempt_one = |grant: &Path| {
        let mut c = run_cmd(&[
            "--allow-write",
            grant.to_str().unwrap(),
            "--",
            "/bin/sh",
            "-c",
            &attack,
            "sh",
            config.to_str().unwrap(),
        ]);
        c.env("XDG_CONFIG_HOME", &config);
        output_within(c, T)
    };
    for grant in [config.clone(), root.clone()] {
        let out = attempt_one(&grant);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert!(
            err.contains("profile search directory") && err.contains("does not exist yet"),
            "{err}"
        );
        assert!(!planted.exists(), "the server planted a profile");
        assert!(!ran.exists(), "the server started");
    }
    // Once the directory exists, a grant of it (or inside it) is refused as well.
    std::fs::create_dir_all(config.join("mcpcell/profiles/sub")).unwrap();
    for grant in [
        config.join("mcpcell"),
        config.join("mcpcell/profiles"),
        config.join("mcpcell/profiles/sub"),
    ] {
        let out = attempt_one(&grant);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!planted.exists() && !ran.exists());
    }
    std::fs::remove_dir_all(config.join("mcpcell")).unwrap();

    // Control: granted a directory that is not a search directory, the same script plants
    // its profile there...
    let mut c = run_cmd(&[
        "--allow-write",
        sibling.to_str().unwrap(),
        "--",
        "/bin/sh",
        "-c",
        &attack_marking(&sibling.join("ran")),
        "sh",
        sibling.to_str().unwrap(),
    ]);
    c.env("XDG_CONFIG_HOME", &config);
    let out = output_within(c, T);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = sibling.join("mcpcell/profiles/default.yaml");
    assert!(made.is_file() && sibling.join("ran").exists());
    // ...and a profile at that place in the search directory is what the next run loads.
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::copy(&made, &planted).unwrap();
    let mut c = run_cmd(&["--dry-run", "-p", "default", "--", "/bin/true"]);
    c.env("XDG_CONFIG_HOME", &config);
    let out = output_within(c, T);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains(&planted.display().to_string()), "{plan}");
}

#[test]
fn a_writable_grant_over_other_servers_state_is_refused() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let state = root.join("state");
    std::fs::create_dir(&state).unwrap();
    for grant in [state.clone(), root.clone()] {
        let mut c = run_cmd(&["--allow-write", grant.to_str().unwrap(), "--", "/bin/true"]);
        c.env("XDG_STATE_HOME", &state);
        let out = output_within(c, T);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert!(
            err.contains("every server keeps its private state"),
            "{err}"
        );
    }
    // Another server's directory, once it exists.
    let mut c = run_cmd(&["--", "/bin/true"]);
    c.env("XDG_STATE_HOME", &state);
    assert_eq!(output_within(c, T).status.code(), Some(0));
    let other = std::fs::read_dir(state.join("mcpcell/default"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut c = run_cmd(&["--allow-write", other.to_str().unwrap(), "--", "/bin/false"]);
    c.env("XDG_STATE_HOME", &state);
    let out = output_within(c, T);
    assert_eq!(out.status.code(), Some(125));

    // A server that turns a directory its profile grants inside its own state into a link
    // to that other server's state: the next run leaves that grant out, and says why.
    let prof = profile(
        &root,
        "cached",
        "extends: [default]\nfilesystem:\n  write: [\"${STATE_DIR}/cache\"]\nenv:\n  set: {S: \"${STATE_DIR}\"}\n",
    );
    // Once the link is there, it writes through it.
    let attack = "if [ -L \"$S/cache\" ]; then echo x > \"$S/cache/f\" && echo WRI\"\"TE; fi; rm -rf \"$S/cache\"; ln -s \"$1\" \"$S/cache\"";
    let launch = || {
        let mut c = run_cmd(&[
            "-p",
            prof.to_str().unwrap(),
            "--",
            "/bin/sh",
            "-c",
            attack,
            "sh",
            other.to_str().unwrap(),
        ]);
        c.env("XDG_STATE_HOME", &state);
        output_within(c, T)
    };
    // The first run plants the link (control: it is accepted, so the refusal below is the
    // link's doing).
    let out = launch();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = launch();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("not granting") && err.contains("a server could have planted it"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("WRITE"));
    assert!(!other.join("f").exists());
}

#[test]
fn profile_names_cannot_leave_their_directory() {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let config = root.join("config");
    let profiles = config.join("mcpcell/profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let state = root.join("state");
    std::fs::create_dir(&state).unwrap();
    let body = "extends: [default]\n";
    // Files a name could reach if it were taken as a path piece.
    for f in ["...yaml", "..yaml", ".hidden.yaml", "good.yaml"] {
        write(&profiles.join(f), body);
    }
    let dots = root.join("...yaml");
    write(&dots, body);
    let run = |spec: &str| {
        let mut c = run_cmd(&["-p", spec, "--", "/bin/true"]);
        c.env("XDG_CONFIG_HOME", &config)
            .env("XDG_STATE_HOME", &state)
            .current_dir(&root);
        output_within(c, T)
    };
    for spec in [
        "..",
        ".",
        "...",
        ".hidden",
        "a/..",
        "../config",
        "...yaml",
        dots.to_str().unwrap(),
    ] {
        let out = run(spec);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "-p {spec}: {err}");
        assert!(
            err.contains("not a valid profile name")
                || err.contains("is not one")
                || err.contains("is a directory")
                || err.contains("failed to read profile"),
            "-p {spec}: {err}"
        );
    }
    // Nothing was made in the state directory's place.
    assert!(
        !state.join("mcpcell").exists()
            || std::fs::read_dir(state.join("mcpcell")).unwrap().count() == 0
    );
    // Control: a valid name in the same directory is found and used.
    let out = run("good");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(state.join("mcpcell/good").is_dir());
}
