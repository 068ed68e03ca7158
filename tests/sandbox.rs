//! What the sandbox blocks, tried from inside with the probe and checked from outside.

mod common;

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn has_landlock() -> bool {
    require(landlock_abi() >= 1, "Landlock")
}

#[test]
fn reads_outside_the_grants_fail() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let secret = d.path().join("secret.txt");
    write(&secret, "s3cret");
    let s = secret.to_str().unwrap();
    assert_denied(&probe_line(&[], &["read", s]), "reading an ungranted file");
    assert_denied(
        &probe_line(&[], &["ls", d.path().to_str().unwrap()]),
        "listing an ungranted directory",
    );
    assert_eq!(
        probe_line(&["--allow-read", d.path().to_str().unwrap()], &["read", s]),
        "OK s3cret"
    );
    // Another user's secrets and the shadow file stay closed even to root.
    assert_denied(
        &probe_line(&[], &["read", "/etc/shadow"]),
        "reading /etc/shadow",
    );
    if let Ok(home) = std::env::var("HOME") {
        assert_denied(&probe_line(&[], &["ls", &home]), "listing $HOME");
    }
}

#[test]
fn writes_outside_the_grants_fail() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let dir = d.path().to_str().unwrap();
    let target = d.path().join("new.txt");
    let t = target.to_str().unwrap();
    assert_denied(
        &probe_line(&["--allow-read", dir], &["write", t, "x"]),
        "writing under a read grant",
    );
    assert!(!target.exists());
    let existing = d.path().join("existing.txt");
    write(&existing, "keep me");
    let e = existing.to_str().unwrap();
    assert_denied(
        &probe_line(&["--allow-read", dir], &["truncate", e]),
        "truncating under a read grant",
    );
    assert_denied(
        &probe_line(&["--allow-read", dir], &["unlink", e]),
        "deleting under a read grant",
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert_eq!(
        probe_line(&["--allow-write", dir], &["write", t, "hello"]),
        format!("OK {t}")
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello");
}

#[test]
fn files_written_by_the_server_cannot_be_executed() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let dir = d.path().to_str().unwrap();
    let copy = d.path().join("copy");
    std::fs::copy(probe(), &copy).unwrap();
    let line = probe_line(
        &["--allow-write", dir],
        &["exec", copy.to_str().unwrap(), "exit", "0"],
    );
    assert_denied(&line, "executing a file in a writable directory");
}

#[test]
fn symlink_hardlink_and_rename_tricks_fail() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let work = d.path().join("work");
    let outside = d.path().join("outside");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let secret = outside.join("id_rsa");
    write(&secret, "PRIVATE KEY");
    let w = work.to_str().unwrap();
    let link = work.join("link");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    assert_denied(
        &probe_line(&["--allow-write", w], &["read", link.to_str().unwrap()]),
        "reading through a symlink",
    );
    let dotdot = format!("{w}/../outside/id_rsa");
    assert_denied(
        &probe_line(&["--allow-write", w], &["read", &dotdot]),
        "reading through ..",
    );
    let hard = work.join("hard");
    assert_denied(
        &probe_line(
            &["--allow-write", w],
            &["link", secret.to_str().unwrap(), hard.to_str().unwrap()],
        ),
        "hard-linking a secret into the workspace",
    );
    assert!(!hard.exists());
    let moved = work.join("moved");
    assert_denied(
        &probe_line(
            &["--allow-write", w],
            &["rename", secret.to_str().unwrap(), moved.to_str().unwrap()],
        ),
        "renaming a secret into the workspace",
    );
    assert!(secret.exists() && !moved.exists());
}

#[test]
fn hide_masks_paths_under_a_grant() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let home = d.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    write(&home.join(".ssh/id_rsa"), "PRIVATE KEY");
    write(&home.join("token"), "TOKEN");
    write(&home.join("notes.txt"), "notes");
    let h = home.to_str().unwrap();
    let prof = profile(
        d.path(),
        "hiding",
        &format!(
            "extends: [default]\nfilesystem:\n  write: [\"{h}\"]\n  hide: [\"{h}/.ssh\", \"{h}/token\"]\n"
        ),
    );
    let p = prof.to_str().unwrap();
    assert_eq!(
        probe_line(&["-p", p], &["read", &format!("{h}/notes.txt")]),
        "OK notes"
    );
    let key = probe_line(&["-p", p], &["read", &format!("{h}/.ssh/id_rsa")]);
    assert_denied(&key, "reading a hidden directory's file");
    assert_eq!(probe_line(&["-p", p], &["ls", &format!("{h}/.ssh")]), "OK");
    let token = probe_line(&["-p", p], &["read", &format!("{h}/token")]);
    assert!(!token.contains("TOKEN"), "hidden file readable: {token}");
    // The default profile hides ${HOME}/.ssh when a grant covers $HOME.
    let probe = probe();
    let mut cmd = run_cmd(&[
        "--allow-read",
        h,
        "--",
        probe.to_str().unwrap(),
        "read",
        &format!("{h}/.ssh/id_rsa"),
    ]);
    cmd.env("HOME", h);
    let out = output_within(cmd, Duration::from_secs(30));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("ERR "),
        "~/.ssh readable under a grant of $HOME: {line}"
    );
}

/// A read-only grant or a mask inside a writable grant stays where the profile put it: the
/// directories on the way to it cannot be renamed or removed, so the server cannot move it
/// away with its parent and make the protected path anew, writable (`mv .git .git.old;
/// mkdir -p .git/hooks`, and git runs the hook outside).
#[test]
fn what_a_writable_grant_holds_read_only_or_hidden_cannot_be_moved_away() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let proj = d.path().join("proj");
    for dir in [".git/hooks", "deploy/prod", "free/sub"] {
        std::fs::create_dir_all(proj.join(dir)).unwrap();
    }
    write(&proj.join(".git/hooks/pre-commit"), "ORIGINAL");
    write(&proj.join(".git/config"), "[core]");
    write(&proj.join("deploy/prod/config.yaml"), "replicas: 3");
    write(&proj.join("free/sub/file"), "free");
    let w = proj.to_str().unwrap();
    let prof = profile(
        d.path(),
        "carved",
        &format!(
            "extends: [default]\nfilesystem:\n  write: [\"{w}\"]\n  read: [\"{w}/deploy/prod\"]\n  hide: [\"{w}/.git/hooks\"]\n"
        ),
    );
    let p = prof.to_str().unwrap();
    let at = |rel: &str| format!("{w}/{rel}");
    // The carve-outs hold where they are.
    assert_denied(
        &probe_line(&["-p", p], &["write", &at("deploy/prod/config.yaml"), "x"]),
        "writing a read-only grant inside a writable one",
    );
    assert_denied(
        &probe_line(&["-p", p], &["write", &at(".git/hooks/pre-commit"), "x"]),
        "writing a hidden path",
    );
    // Every directory on the way to them, and they themselves, stay put.
    for (from, to) in [
        (".git", ".git.old"),
        ("deploy", "deploy.x"),
        ("deploy/prod", "prod.x"),
        (".git/hooks", "hooks.x"),
    ] {
        assert_denied(
            &probe_line(&["-p", p], &["rename", &at(from), &at(to)]),
            &format!("renaming {from}"),
        );
        assert_denied(
            &probe_line(&["-p", p], &["rmdir", &at(from)]),
            &format!("removing {from}"),
        );
        assert!(
            proj.join(from).is_dir() && !proj.join(to).exists(),
            "{from} moved to {to}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(proj.join(".git/hooks/pre-commit")).unwrap(),
        "ORIGINAL"
    );
    assert_eq!(
        std::fs::read_to_string(proj.join("deploy/prod/config.yaml")).unwrap(),
        "replicas: 3"
    );
    // The check sees a rename: where nothing is carved out, the server moves what it likes.
    assert_eq!(
        probe_line(&["-p", p], &["rename", &at("free"), &at("free.x")]),
        format!("OK {}", at("free.x"))
    );
    assert!(proj.join("free.x/sub/file").is_file() && !proj.join("free").exists());
    // A read-only file with a second name inside the writable grant is told of: that name
    // would change it.
    let ro_file = proj.join("ro.txt");
    write(&ro_file, "ro");
    std::fs::hard_link(&ro_file, proj.join("free.x/alias")).unwrap();
    let (_, _, err) = sandboxed(
        &[
            "--allow-write",
            w,
            "--allow-read",
            ro_file.to_str().unwrap(),
        ],
        &["read", ro_file.to_str().unwrap()],
    );
    assert!(err.contains("but has 2 names"), "{err}");
}

/// What git runs later (a hook, a program its configuration names, the git directory a
/// worktree's `.git` file names) stays read-only inside a writable repository: the server
/// cannot leave code there for the user's own git. Git inside the sandbox still commits (a
/// hook it cannot run is one it skips), the working tree stays writable, and naming a place
/// in a grant of its own keeps it writable.
#[test]
fn what_git_runs_later_is_read_only_inside_a_writable_grant() {
    if !has_landlock() || !require(which::which("git").is_ok(), "git") {
        return;
    }
    let d = scratch();
    let proj = d.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let git = |args: &[&str]| git_in(&proj, args);
    git(&["init", "-q"]);
    write(&proj.join("a.txt"), "a");
    std::fs::create_dir_all(proj.join(".vscode")).unwrap();
    write(&proj.join(".vscode/settings.json"), "{}");
    git(&["add", "."]);
    git(&["commit", "-qm", "one"]);
    // An executable hook, as husky or pre-commit install.
    let hook = proj.join(".git/hooks/pre-commit");
    write(&hook, "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = std::fs::read_to_string(proj.join(".git/config")).unwrap();
    let w = proj.to_str().unwrap();
    let at = |rel: &str| proj.join(rel).to_str().unwrap().to_string();
    for f in [
        ".git/config",
        ".git/hooks/pre-commit",
        ".git/hooks/post-checkout",
    ] {
        assert_denied(
            &probe_line(&["--allow-write", w], &["write", &at(f), "evil"]),
            f,
        );
    }
    assert_denied(
        &probe_line(&["--allow-write", w], &["rename", &at(".git"), &at("g")]),
        "moving .git away",
    );
    assert_eq!(
        std::fs::read_to_string(proj.join(".git/config")).unwrap(),
        config
    );
    assert_eq!(
        std::fs::read_to_string(&hook).unwrap(),
        "#!/bin/sh\nexit 0\n"
    );
    assert!(!proj.join(".git/hooks/post-checkout").exists());
    // Git inside commits, the hook skipped; the working tree is the server's to write.
    let mut inside = run_cmd(&[
        "--allow-write",
        w,
        "--",
        "/bin/sh",
        "-c",
        "echo b > a.txt && echo '{\"x\":1}' > .vscode/settings.json && git -c user.name=t -c user.email=t@t commit -qam two",
    ]);
    inside.current_dir(&proj);
    let inside = output_within(inside, Duration::from_secs(30));
    assert_eq!(
        inside.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&inside.stderr)
    );
    assert_eq!(std::fs::read_to_string(proj.join("a.txt")).unwrap(), "b\n");
    // Named on purpose, the place is writable: the check sees a write.
    assert_eq!(
        probe_line(
            &["--allow-write", w, "--allow-write", &at(".git/hooks")],
            &["write", &at(".git/hooks/post-checkout"), "chosen"],
        ),
        format!("OK {}", at(".git/hooks/post-checkout"))
    );
}

/// Git finds its directory through a linked worktree's `.git` file and `commondir`, a
/// `.git` link and `--separate-git-dir` in another writable grant: the configuration git
/// reads there stays read-only too.
#[test]
fn what_git_runs_later_is_found_the_way_git_finds_it() {
    if !has_landlock() || !require(which::which("git").is_ok(), "git") {
        return;
    }
    let d = scratch();
    let top = d.path().canonicalize().unwrap();
    let git = git_in;
    let w = top.join("w");
    let proj = w.join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    git(&proj, &["init", "-q"]);
    git(&proj, &["commit", "-q", "--allow-empty", "-m", "one"]);
    git(&proj, &["worktree", "add", "-q", "../feature"]);
    let feature = w.join("feature");
    let sep = top.join("sep");
    std::fs::create_dir_all(&sep).unwrap();
    std::fs::create_dir_all(top.join("gitdirs")).unwrap();
    git(
        &top,
        &["init", "-q", "--separate-git-dir", "gitdirs/sep.git", "sep"],
    );
    let linked = w.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    git(&w, &["init", "-q", "--bare", "store.git"]);
    git(&w.join("store.git"), &["config", "core.bare", "false"]);
    std::os::unix::fs::symlink("../store.git", linked.join(".git")).unwrap();
    // (working directory, grants, the configuration git reads there)
    let wd = w.to_str().unwrap();
    let gitdirs = top.join("gitdirs");
    let cases = [
        (
            &feature,
            vec!["--allow-write", wd],
            proj.join(".git/config"),
        ),
        (
            &linked,
            vec!["--allow-write", wd],
            w.join("store.git/config"),
        ),
        (
            &sep,
            vec![
                "--allow-write",
                sep.to_str().unwrap(),
                "--allow-write",
                gitdirs.to_str().unwrap(),
            ],
            top.join("gitdirs/sep.git/config"),
        ),
    ];
    let append =
        "printf '[core]\\n\\tfsmonitor = evil\\n' >> \"$(git rev-parse --git-common-dir)/config\"";
    let launch = |cwd: &std::path::Path, grants: &[&str]| {
        let mut all = grants.to_vec();
        all.extend(["--", "/bin/sh", "-c", append]);
        let mut c = run_cmd(&all);
        c.current_dir(cwd);
        output_within(c, Duration::from_secs(30))
    };
    for (cwd, grants, config) in &cases {
        let before = std::fs::read_to_string(config).unwrap();
        let out = launch(cwd, grants);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{}: the write went through",
            config.display()
        );
        assert_eq!(
            std::fs::read_to_string(config).unwrap(),
            before,
            "{}",
            config.display()
        );
    }
    // Weak setup: the configuration named for writing, the same launch changes it.
    let (cwd, grants, config) = &cases[0];
    let mut chosen = grants.clone();
    chosen.extend(["--allow-write", config.to_str().unwrap()]);
    let out = launch(cwd, &chosen);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(config)
            .unwrap()
            .contains("fsmonitor = evil")
    );
}

/// `/bin/sh -c SCRIPT` in `dir`, with write on it: (exit status, stderr).
fn sh_writing(dir: &std::path::Path, script: &str) -> (Option<i32>, String) {
    let mut c = run_cmd(&[
        "--allow-write",
        dir.to_str().unwrap(),
        "--",
        "/bin/sh",
        "-c",
        script,
    ]);
    c.current_dir(dir);
    let out = output_within(c, Duration::from_secs(30));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the user's git in `dir` (as an author), and checks that it succeeded.
fn git_in(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch directory `name` for git tests, when git and Landlock are here.
fn git_scratch(name: &str) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    if !has_landlock() || !require(which::which("git").is_ok(), "git") {
        return None;
    }
    let d = scratch();
    let dir = d.path().canonicalize().unwrap().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    Some((d, dir))
}

/// A repository the server makes where git found none at launch cannot be refused (no
/// mount or Landlock rule refuses one name in a writable directory): mcpcell tells of it
/// when the server exits, and says nothing where the repository was there before.
#[test]
fn a_repository_the_server_makes_is_told_of() {
    let Some((_d, proj)) = git_scratch("notes") else {
        return;
    };
    let init = "git init -q . && git config core.fsmonitor 'touch pwned'";
    let (code, err) = sh_writing(&proj, init);
    assert_eq!(code, Some(0), "{err}");
    assert!(proj.join(".git/config").exists());
    let told = |what: &std::path::Path| {
        format!(
            "the server made {}, a git repository where there was none",
            what.display()
        )
    };
    assert!(err.contains(&told(&proj.join(".git"))), "{err}");
    // There before the launch (and its configuration read-only): nothing to tell.
    let (_, err) = sh_writing(&proj, init);
    assert!(!err.contains("where there was none"), "{err}");
    // A worktree the server adds: its git directory, where git run in the worktree takes
    // its configuration from, is the server's.
    let (code, err) = sh_writing(
        &proj,
        "git -c user.name=t -c user.email=t@t commit -q --allow-empty -m one && git worktree add -q wt",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "the server made {}, the git directory of a worktree",
            proj.join(".git/worktrees/wt").display()
        )),
        "{err}"
    );
    let (_, err) = sh_writing(&proj, "true");
    assert!(!err.contains("git directory of a worktree"), "{err}");
    // A repository it makes and registers itself at a submodule's place (a gitlink in the
    // index, which it may write): the user's plain git status goes into it.
    let (code, err) = sh_writing(
        &proj,
        "git init -q sub && git update-index --add --cacheinfo 160000,4b825dc642cb6eb9a060e54bf8d69288fbee4904,sub",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "the server made {}, a git repository at a submodule's place",
            proj.join("sub/.git").display()
        )),
        "{err}"
    );
    // Made before this launch (file times are a clock tick coarse): not told again.
    std::thread::sleep(Duration::from_millis(100));
    let (_, err) = sh_writing(&proj, "git status --short >/dev/null");
    assert!(!err.contains("submodule's place"), "{err}");
    // Git takes a directory holding HEAD, objects and refs for a bare repository, with no
    // `.git` at all.
    let bare = proj.parent().unwrap().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    let (_, err) = sh_writing(
        &bare,
        "mkdir objects refs && echo 'ref: refs/heads/main' > HEAD && printf '[core]\\n\\tbare = false\\n\\tworktree = .\\n' > config",
    );
    assert!(err.contains(&told(&bare)), "{err}");
}

/// What git would read once it exists, absent at launch where the server may write (a
/// `commondir` in the repository's own `.git`, which sends git's configuration elsewhere; a
/// `hooks` directory a clone lacks; an include the configuration names) cannot be mounted
/// read-only: the server that makes one is stopped at once, and the entry moved aside
/// before the user's git reads it. Judged from outside by the user's own `git status`.
#[test]
fn what_git_would_read_once_made_stops_the_server() {
    let Some((_d, proj)) = git_scratch("proj") else {
        return;
    };
    let git = |args: &[&str]| git_in(&proj, args);
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "one"]);
    std::fs::remove_dir_all(proj.join(".git/hooks")).unwrap();
    git(&["config", "include.path", "../team.gitconfig"]);
    git(&["config", "--add", "include.path", "../conf/extra.gitconfig"]);
    let pwned = proj.parent().unwrap().join("pwned");
    // A directory git takes for a common directory, its configuration running a program.
    let evil = format!(
        "mkdir -p .x/objects .x/refs && printf '[core]\\n\\tfsmonitor = \"touch {}; false\"\\n' > .x/config",
        pwned.display()
    );
    let user_git_status = || {
        let _ = Command::new("git")
            .args(["status", "--short"])
            .current_dir(&proj)
            .output()
            .unwrap();
        pwned.exists()
    };
    // Weak setup, the check detects it: the same entry planted without mcpcell makes the
    // user's git status run the program.
    let (code, err) = sh_writing(&proj, &evil);
    assert_eq!(code, Some(0), "{err}");
    write(
        &proj.join(".git/commondir"),
        &format!("{}\n", proj.join(".x").display()),
    );
    assert!(user_git_status(), "the planted commondir did not run");
    std::fs::remove_file(proj.join(".git/commondir")).unwrap();
    std::fs::remove_file(&pwned).unwrap();
    assert!(!user_git_status());
    let cases = [
        (
            format!("echo {}/.x > .git/commondir", proj.display()),
            ".git/commondir",
        ),
        ("mkdir .git/hooks".to_string(), ".git/hooks"),
        (
            "printf '[core]\\n\\tfsmonitor = x\\n' > /tmp/t && mv /tmp/t team.gitconfig"
                .to_string(),
            "team.gitconfig",
        ),
        // The include's directory is missing too: making it is the first step.
        (
            "mkdir conf && printf '[core]\\n\\tfsmonitor = x\\n' > conf/extra.gitconfig"
                .to_string(),
            "conf",
        ),
    ];
    for (plant, rel) in &cases {
        let (code, err) = sh_writing(
            &proj,
            &format!("{plant} && echo planted >&2 && sleep 20 && echo survived >&2"),
        );
        let at = proj.join(rel);
        assert_ne!(code, Some(0), "{rel}: {err}");
        assert!(!err.contains("survived"), "{rel}: {err}");
        assert!(
            err.contains(&format!(
                "stopping the server: it made {}, which did not exist at launch",
                at.display()
            )),
            "{rel}: {err}"
        );
        assert!(!at.exists(), "{rel} is still there");
        let aside = proj.join(format!("{rel}.planted-by-server"));
        assert!(std::fs::symlink_metadata(&aside).is_ok(), "{rel}: {err}");
        assert!(
            !user_git_status(),
            "{rel}: the user's git ran the server's program"
        );
    }
    // The name it is moved to taken beforehand: another, unguessable one.
    std::fs::remove_file(proj.join(".git/commondir.planted-by-server")).unwrap();
    let (_, err) = sh_writing(
        &proj,
        &format!(
            "touch .git/commondir.planted-by-server && {} && sleep 20",
            cases[0].0
        ),
    );
    assert!(err.contains("moved it to"), "{err}");
    assert!(!proj.join(".git/commondir").exists(), "{err}");
    assert!(!user_git_status());
    // Git's own work inside is not stopped: a commit, a branch, a repack.
    for rel in [
        "conf.planted-by-server",
        ".git/hooks.planted-by-server",
        "team.gitconfig.planted-by-server",
    ] {
        let p = proj.join(rel);
        if p.is_dir() {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
    let (code, err) = sh_writing(
        &proj,
        "echo a > a.txt && git add a.txt && git -c user.name=t -c user.email=t@t commit -qm two && git checkout -q -b feature && git gc -q",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("stopping the server"), "{err}");
}

/// A submodule `.gitmodules` names that a clone left uninitialised (an empty directory):
/// a repository the server makes there is one the user's plain `git status` goes into,
/// running what its configuration names. Making its `.git` stops the server.
#[test]
fn a_repository_made_in_an_uninitialised_submodule_stops_the_server() {
    let Some((_d, top)) = git_scratch("top") else {
        return;
    };
    let lib = top.join("lib");
    let sup = top.join("super");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&sup).unwrap();
    git_in(&lib, &["init", "-q"]);
    git_in(&lib, &["commit", "-q", "--allow-empty", "-m", "l"]);
    git_in(&sup, &["init", "-q"]);
    git_in(
        &sup,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            "../lib",
            "sub",
        ],
    );
    git_in(&sup, &["commit", "-qm", "s"]);
    git_in(&top, &["clone", "-q", "super", "clone"]);
    let clone = top.join("clone");
    assert!(clone.join("sub").is_dir() && !clone.join("sub/.git").exists());
    let pwned = top.join("pwned");
    let plant = format!(
        "git init -q sub && git -C sub config core.fsmonitor 'touch {}; false'",
        pwned.display()
    );
    let user_git_status = || {
        let _ = Command::new("git")
            .args(["status"])
            .current_dir(&clone)
            .output()
            .unwrap();
        pwned.exists()
    };
    let (code, err) = sh_writing(&clone, &format!("{plant} && sleep 20 && echo survived >&2"));
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "stopping the server: it made {}, which did not exist at launch",
            clone.join("sub/.git").display()
        )),
        "{err}"
    );
    assert!(!user_git_status(), "{err}");
    // Weak setup, the check detects it: the same repository made without mcpcell.
    std::fs::remove_dir_all(clone.join("sub/.git.planted-by-server")).unwrap();
    let out = Command::new("/bin/sh")
        .args(["-c", &plant])
        .current_dir(&clone)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(user_git_status(), "the submodule's fsmonitor did not run");
}

/// The hooks directory the configuration names (`core.hooksPath`, as husky sets it: a
/// git-ignored `.husky/_`) and what the user's own configuration includes are read-only
/// too where a writable grant holds them: git runs them in this repository later.
#[test]
fn what_the_configuration_names_stays_read_only() {
    let Some((_d, proj)) = git_scratch("proj") else {
        return;
    };
    git_in(&proj, &["init", "-q"]);
    git_in(&proj, &["config", "core.hooksPath", ".husky/_"]);
    std::fs::create_dir_all(proj.join(".husky/_")).unwrap();
    write(&proj.join(".gitignore"), ".husky/_\n");
    write(&proj.join(".team.gitconfig"), "[user]\n\tname = t\n");
    let global = proj.parent().unwrap().join("global.gitconfig");
    write(
        &global,
        &format!(
            "[include]\n\tpath = {}\n",
            proj.join(".team.gitconfig").display()
        ),
    );
    let pwned = proj.parent().unwrap().join("pwned");
    let hook = format!(
        "printf '#!/bin/sh\\ntouch {}\\n' > .husky/_/pre-commit && chmod +x .husky/_/pre-commit",
        pwned.display()
    );
    let config = "printf '[core]\\n\\tfsmonitor = x\\n' >> .team.gitconfig";
    let launch = |extra: &[&str], script: &str| {
        let mut args = vec!["--allow-write", proj.to_str().unwrap()];
        args.extend(extra);
        args.extend(["--", "/bin/sh", "-c", script]);
        let mut c = run_cmd(&args);
        c.current_dir(&proj).env("GIT_CONFIG_GLOBAL", &global);
        output_within(c, Duration::from_secs(30))
    };
    for script in [hook.as_str(), config] {
        let out = launch(&[], script);
        assert_ne!(
            out.status.code(),
            Some(0),
            "{script}: the write went through"
        );
    }
    assert!(!proj.join(".husky/_/pre-commit").exists());
    assert_eq!(
        std::fs::read_to_string(proj.join(".team.gitconfig")).unwrap(),
        "[user]\n\tname = t\n"
    );
    git_in(&proj, &["commit", "-q", "--allow-empty", "-m", "one"]);
    assert!(!pwned.exists());
    // In a linked worktree the same relative value leads to the worktree's own directory.
    git_in(&proj, &["worktree", "add", "-q", "wt"]);
    let wt = proj.join("wt");
    std::fs::create_dir_all(wt.join(".husky/_")).unwrap();
    let mut c = run_cmd(&[
        "--allow-write",
        proj.to_str().unwrap(),
        "--",
        "/bin/sh",
        "-c",
        &hook,
    ]);
    c.current_dir(&wt).env("GIT_CONFIG_GLOBAL", &global);
    let out = output_within(c, Duration::from_secs(30));
    assert_ne!(
        out.status.code(),
        Some(0),
        "the worktree's hook was written"
    );
    git_in(&wt, &["commit", "-q", "--allow-empty", "-m", "wt"]);
    assert!(!pwned.exists());
    // Weak setup, the check detects it: the hooks directory granted by name, the hook is
    // written and the user's next commit runs it.
    let hooks = proj.join(".husky/_");
    let out = launch(&["--allow-write", hooks.to_str().unwrap()], &hook);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git_in(&proj, &["commit", "-q", "--allow-empty", "-m", "two"]);
    assert!(pwned.exists());
}

/// A shell prompt prints the branch from `.git/HEAD` as it is: control characters the
/// server writes there are told of when it exits; an ordinary branch switch is not.
#[test]
fn control_characters_a_prompt_would_print_are_told_of() {
    let Some((_d, proj)) = git_scratch("proj") else {
        return;
    };
    let init = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&proj)
        .status()
        .unwrap();
    assert!(init.success());
    let (_, err) = sh_writing(&proj, "git checkout -q -b feature");
    assert!(!err.contains("holds control characters"), "{err}");
    let (_, err) = sh_writing(
        &proj,
        "printf 'ref: refs/heads/\\033]52;c;cm0gLXJmIH4=\\007main\\n' > .git/HEAD",
    );
    assert!(
        err.contains(&format!(
            "{}/.git/HEAD holds control characters",
            proj.display()
        )),
        "{err}"
    );
}

#[test]
fn tmp_is_private() {
    let name = format!("/tmp/mcpcell-private-{}", std::process::id());
    assert_eq!(
        probe_line(&[], &["write", &name, "x"]),
        format!("OK {name}")
    );
    assert!(
        !std::path::Path::new(&name).exists(),
        "the write reached the host's /tmp"
    );
}

#[test]
fn no_network_in_mode_none() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let port = tcp.local_addr().unwrap().port().to_string();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let uport = udp.local_addr().unwrap().port().to_string();
    assert_denied(
        &probe_line(&[], &["tcp", "127.0.0.1", &port, "hello"]),
        "TCP to the host",
    );
    // UDP may "succeed" into the sandbox's own loopback; the host must see nothing.
    let _ = probe_line(&[], &["udp", "127.0.0.1", &uport, "hello"]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(tcp.accept().is_err(), "the host listener got a connection");
    let mut buf = [0u8; 64];
    assert!(udp.recv_from(&mut buf).is_err(), "the host got a datagram");
    assert_denied(
        &probe_line(&[], &["tcp", "10.255.255.53", "53", "x"]),
        "TCP to a remote address",
    );
}

#[test]
fn host_mode_limits_tcp_ports() {
    if !require(landlock_abi() >= 4, "Landlock ABI 4 (TCP rules)") {
        return;
    }
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let ap = allowed.local_addr().unwrap().port();
    let op = other.local_addr().unwrap().port();
    let d = scratch();
    let prof = profile(
        d.path(),
        "hostnet",
        &format!("extends: [default]\nnetwork:\n  mode: host\n  connect: [{ap}]\n"),
    );
    let p = prof.to_str().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = allowed.accept().unwrap();
        let mut v = String::new();
        s.read_to_string(&mut v).unwrap();
        v
    });
    assert_eq!(
        probe_line(
            &["-p", p],
            &["tcp", "127.0.0.1", &ap.to_string(), "through"]
        ),
        "OK sent"
    );
    assert_eq!(t.join().unwrap(), "through");
    assert_denied(
        &probe_line(&["-p", p], &["tcp", "127.0.0.1", &op.to_string(), "x"]),
        "TCP to an unlisted port",
    );
    assert!(other.accept().is_err());
    assert_denied(
        &probe_line(&["-p", p], &["bind", "0"]),
        "listening without network.bind",
    );
    // Unix sockets stay closed in host mode too, abstract ones included.
    let name = format!("mcpcell-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let l = UnixListener::bind_addr(&addr).unwrap();
    l.set_nonblocking(true).unwrap();
    assert_denied(
        &probe_line(&["-p", p], &["unix", &format!("@{name}"), "x"]),
        "an abstract socket in host mode",
    );
    assert!(l.accept().is_err());
}

#[test]
fn host_unix_sockets_are_unreachable() {
    let d = scratch();
    let path = d.path().join("agent.sock");
    let l = UnixListener::bind(&path).unwrap();
    l.set_nonblocking(true).unwrap();
    let name = format!("mcpcell-test-abs-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
    let abs = UnixListener::bind_addr(&addr).unwrap();
    abs.set_nonblocking(true).unwrap();
    let dir = d.path().to_str().unwrap();
    assert_denied(
        &probe_line(
            &["--allow-write", dir],
            &["unix", path.to_str().unwrap(), "x"],
        ),
        "a pathname socket in a writable directory",
    );
    assert_denied(
        &probe_line(&[], &["unix", &format!("@{name}"), "x"]),
        "an abstract socket",
    );
    assert!(
        l.accept().is_err() && abs.accept().is_err(),
        "a host socket got a connection"
    );
    // A stream socketpair needs no address and stays available; a datagram pair's end
    // would be sent anywhere by path (a journal or syslog socket in view).
    assert_eq!(probe_line(&[], &["socketpair"]), "OK pair");
    let dgram = d.path().join("log.sock");
    let log = std::os::unix::net::UnixDatagram::bind(&dgram).unwrap();
    log.set_nonblocking(true).unwrap();
    let d = dgram.to_str().unwrap();
    // The check sees a datagram that arrives: the probe bare reaches the socket.
    let bare = Command::new(probe())
        .args(["dgram-pair-sendto", d, "bare"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&bare.stdout).trim(), "OK sent");
    let mut buf = [0u8; 64];
    assert_eq!(log.recv(&mut buf).ok(), Some(4));
    assert_denied(
        &probe_line(&["--allow-read", dir], &["dgram-pair-sendto", d, "inside"]),
        "a datagram socketpair sent to a socket in a granted directory",
    );
    // SOCK_RAW: the kernel makes the same datagram pair of it.
    let bare = Command::new(probe())
        .args(["raw-pair-sendto", d, "bare"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&bare.stdout).trim(), "OK sent");
    assert_eq!(log.recv(&mut buf).ok(), Some(4));
    assert_denied(
        &probe_line(&["--allow-read", dir], &["raw-pair-sendto", d, "inside"]),
        "a SOCK_RAW socketpair sent to a socket in a granted directory",
    );
    assert!(
        log.recv(&mut buf).is_err(),
        "the host socket got a datagram"
    );
}

#[test]
fn host_processes_are_invisible_and_unsignalable() {
    let mut victim = Command::new("sleep").arg("300").spawn().unwrap();
    let v = victim.id().to_string();
    let pids = probe_line(&["--allow-read", "/proc"], &["pids"]);
    let listed: Vec<&str> = pids
        .trim_start_matches("OK ")
        .split_whitespace()
        .filter(|s| s.parse::<u32>().is_ok())
        .collect();
    assert!(
        listed.len() <= 3,
        "the sandbox sees other processes: {pids}"
    );
    assert_denied(
        &probe_line(&[], &["kill", &v, "15"]),
        "signalling a host process",
    );
    assert_denied(
        &probe_line(&[], &["ptrace", &v]),
        "ptrace of a host process",
    );
    assert_denied(
        &probe_line(&[], &["read", &format!("/proc/{v}/environ")]),
        "another process's environment",
    );
    assert_denied(
        &probe_line(&[], &["read", &format!("/proc/{v}/cmdline")]),
        "another process's command line",
    );
    assert!(victim.try_wait().unwrap().is_none(), "the victim died");
    victim.kill().unwrap();
    victim.wait().unwrap();
}

#[test]
fn the_sandbox_init_keeps_mcpcells_environment_to_itself() {
    // The sandbox's PID 1 is a copy of mcpcell, environment included; the server must not
    // read it back through /proc/1 (environ, mem, or the descriptors it holds).
    let p = probe();
    for target in ["/proc/1/environ", "/proc/1/mem", "/proc/1/fd/3"] {
        let mut cmd = run_cmd(&["--", p.to_str().unwrap(), "read", target]);
        cmd.env("MCPCELL_HOST_SECRET", "init-secret-4711");
        let out = output_within(cmd, Duration::from_secs(30));
        let line = String::from_utf8_lossy(&out.stdout);
        assert!(line.starts_with("ERR "), "{target} readable: {line}");
        assert!(!line.contains("init-secret-4711"), "{target}: {line}");
    }
}

#[test]
fn no_privileges_at_exec() {
    let line = probe_line(&[], &["status"]);
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            line.contains(&format!("{field}: 0000000000000000")),
            "{field} not empty: {line}"
        );
    }
    assert!(line.contains("NoNewPrivs: 1"), "{line}");
    assert!(line.contains("Seccomp: 2"), "{line}");
}

#[test]
fn environment_is_reduced_to_the_profile() {
    let p = probe();
    let out = output_within(
        {
            let mut c = run_cmd(&[
                "--pass-env",
                "KEEP_ME",
                "--set-env",
                "ADDED=1",
                "--",
                p.to_str().unwrap(),
                "env",
            ]);
            c.env("SECRET_TOKEN", "hunter2")
                .env("KEEP_ME", "yes")
                .env("LC_TIME", "C");
            c
        },
        Duration::from_secs(30),
    );
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(!env.contains("SECRET_TOKEN"), "{env}");
    for want in [
        "KEEP_ME=yes",
        "ADDED=1",
        "LC_TIME=C",
        "TMPDIR=/tmp",
        "PATH=",
    ] {
        assert!(
            env.lines().any(|l| l.starts_with(want)),
            "missing {want} in {env}"
        );
    }
}

#[test]
fn foreign_abi_syscalls_are_refused() {
    assert_eq!(
        probe_line(&[], &["int80"]),
        "ERR ENOSYS Function not implemented"
    );
    assert_denied(&probe_line(&[], &["x32"]), "an x32 syscall");
}

#[test]
fn namespaces_and_kernel_attack_surface_are_refused() {
    for cmd in [
        "unshare-user",
        "unshare-net",
        "clone-newuser",
        "mount",
        "bpf",
        "perf",
        "userfaultfd",
        "io_uring",
        "keyctl",
        "personality",
        "memfd-exec",
    ] {
        assert_denied(&probe_line(&[], &[cmd]), cmd);
    }
    assert_eq!(
        probe_line(&[], &["clone3"]),
        "ERR ENOSYS Function not implemented"
    );
    assert_denied(
        &probe_line(&["--allow-read", "/proc"], &["setns", "/proc/1/ns/net"]),
        "setns",
    );
}

#[test]
fn terminal_injection_is_refused() {
    let pty = nix::pty::openpty(None, None).unwrap();
    let p = probe();
    let mut cmd = run_cmd(&["--", p.to_str().unwrap(), "tiocsti"]);
    cmd.stdin(std::process::Stdio::from(pty.slave));
    let out = output_within(cmd, Duration::from_secs(30));
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.starts_with("ERR "), "TIOCSTI was not refused: {line}");
    // Nothing arrived in the terminal's input queue.
    nix::fcntl::fcntl(
        &pty.master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut buf = [0u8; 16];
    assert!(nix::unistd::read(&pty.master, &mut buf).is_err() || buf[0] != b'x');
}

#[test]
fn process_limit_holds_for_root_too() {
    let d = scratch();
    let prof = profile(
        d.path(),
        "few",
        "extends: [default]\nlimits:\n  processes: 20\n",
    );
    let (code, out, err) = sandboxed(&["-p", prof.to_str().unwrap()], &["nproc"]);
    assert_eq!(code, 0, "{err}");
    let n: i32 = out.trim_start_matches("FORKED ").parse().unwrap();
    assert!(n < 20, "forked {n} processes under a limit of 20");
}

#[test]
fn with_unix_sockets_the_sandbox_sees_only_granted_paths() {
    let d = scratch();
    let dir = d.path().canonicalize().unwrap();
    let listed = dir.join("listed.sock");
    let unlisted = dir.join("unlisted.sock");
    let l1 = UnixListener::bind(&listed).unwrap();
    let l2 = UnixListener::bind(&unlisted).unwrap();
    l1.set_nonblocking(true).unwrap();
    l2.set_nonblocking(true).unwrap();
    let prof = profile(
        &dir,
        "sockets",
        &format!(
            "extends: [default]\nnetwork:\n  unix: [/tmp, \"{}\"]\n",
            listed.display()
        ),
    );
    let p = prof.to_str().unwrap();
    // Sockets of its own in the private /tmp work.
    assert_eq!(
        probe_line(&["-p", p], &["unix-self", "/tmp/own.sock"]),
        "OK ok"
    );
    // A listed host socket is reachable; an unlisted one does not even exist inside.
    assert_eq!(
        probe_line(&["-p", p], &["unix", listed.to_str().unwrap(), "hi"]),
        "OK sent"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(l1.accept().is_ok(), "the listed socket got no connection");
    assert_eq!(
        probe_line(&["-p", p], &["unix", unlisted.to_str().unwrap(), "hi"]),
        "ERR ENOENT No such file or directory"
    );
    assert!(l2.accept().is_err());
    // Nor does the rest of the host: /run, /root, /etc/shadow are gone, not just closed.
    for gone in ["/run", "/etc/shadow", "/var/lib"] {
        assert_eq!(
            probe_line(&["-p", p], &["ls", gone]),
            "ERR ENOENT No such file or directory",
            "{gone}"
        );
    }
    // Granted system paths are there as usual.
    assert!(probe_line(&["-p", p], &["read", "/etc/passwd"]).starts_with("OK "));
}

#[test]
fn a_socket_listed_through_a_link_is_reached_at_the_links_path() {
    // How the docker profile is opted into: a link, in a directory of the user's, to the
    // daemon's socket elsewhere; the server is told the link's path.
    let d = scratch();
    let dir = d.path().canonicalize().unwrap();
    std::fs::create_dir_all(dir.join("daemon")).unwrap();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let sock = dir.join("daemon/api.sock");
    let beside = dir.join("daemon/other.sock");
    let link = dir.join("config/docker.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let other = UnixListener::bind(&beside).unwrap();
    l.set_nonblocking(true).unwrap();
    other.set_nonblocking(true).unwrap();
    std::os::unix::fs::symlink(&sock, &link).unwrap();
    let yaml = |entry: &std::path::Path| {
        format!(
            "extends: [default]\nnetwork:\n  unix: [\"!{}\"]\n",
            entry.display()
        )
    };
    let prof = profile(&dir, "linked", &yaml(&link));
    let p = prof.to_str().unwrap();
    for path in [&link, &sock] {
        assert_eq!(
            probe_line(&["-p", p], &["unix", path.to_str().unwrap(), "hi"]),
            "OK sent",
            "{}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            l.accept().is_ok(),
            "no connection through {}",
            path.display()
        );
    }
    // The socket beside the linked one is not there.
    assert_eq!(
        probe_line(&["-p", p], &["unix", beside.to_str().unwrap(), "hi"]),
        "ERR ENOENT No such file or directory"
    );
    assert!(other.accept().is_err());
    // The control: run bare, the same probe reaches it.
    assert_eq!(
        bare_line(&["unix", beside.to_str().unwrap(), "hi"]),
        "OK sent"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(other.accept().is_ok());
    // A link that leads nowhere is no grant: the launch stops before the server starts.
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(dir.join("daemon/gone.sock"), &link).unwrap();
    let out = output_within(
        run_cmd(&["-p", p, "--", probe().to_str().unwrap(), "status"]),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("(network.unix[0])") && err.contains("marked as required"),
        "{err}"
    );
}

#[test]
fn a_directory_of_sockets_can_be_listed_and_its_files_stay_unreadable() {
    // A server's run directory (PostgreSQL's /run/postgresql): the socket is made anew at
    // each start, so the profile names the directory.
    let d = scratch();
    let run = d.path().canonicalize().unwrap().join("run");
    std::fs::create_dir(&run).unwrap();
    let sock = run.join(".s.PGSQL.5432");
    let l = UnixListener::bind(&sock).unwrap();
    l.set_nonblocking(true).unwrap();
    write(&run.join("postmaster.pid"), "4242");
    let prof = profile(
        d.path(),
        "rundir",
        &format!(
            "extends: [default]\nnetwork:\n  unix: [\"{}\"]\n",
            run.display()
        ),
    );
    let p = prof.to_str().unwrap();
    assert_eq!(
        probe_line(&["-p", p], &["unix", sock.to_str().unwrap(), "hi"]),
        "OK sent"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(l.accept().is_ok(), "the socket got no connection");
    // The directory is there for connect(2), not for reading.
    let pid = run.join("postmaster.pid");
    assert_denied(
        &probe_line(&["-p", p], &["read", pid.to_str().unwrap()]),
        "a file beside the socket",
    );
    // The control: granted for reading, the same file is read.
    let r = run.to_str().unwrap();
    assert_eq!(
        probe_line(
            &["-p", p, "--allow-read", r],
            &["read", pid.to_str().unwrap()]
        ),
        "OK 4242"
    );
}

/// The probe run without mcpcell: the control that shows an attempt works on this machine.
fn bare_line(probe_args: &[&str]) -> String {
    let mut c = Command::new(probe());
    c.args(probe_args).env_clear().current_dir("/");
    let out = output_within(c, Duration::from_secs(30));
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn metadata_outside_the_grants_and_under_read_only_grants_stays_as_it_is() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let ro = d.path().join("ro");
    let out = d.path().join("out");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let file = ro.join("file.txt");
    let outside = out.join("secret.txt");
    write(&file, "granted");
    write(&outside, "twelve bytes");
    std::os::unix::fs::symlink("/link-target-secret", out.join("link")).unwrap();
    let before = |p: &std::path::Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.mode(), m.mtime(), m.mtime_nsec())
    };
    let (f, o) = (file.to_str().unwrap(), outside.to_str().unwrap());
    let r = ["--allow-read", ro.to_str().unwrap()];
    let (fb, ob) = (before(&file), before(&outside));

    // Changes, on a read-only grant and outside every grant.
    for target in [f, o] {
        assert_denied(&probe_line(&r, &["chmod", target, "777"]), "chmod");
        assert_denied(&probe_line(&r, &["utimes", target]), "setting times");
        assert_denied(
            &probe_line(&r, &["setxattr", target, "user.planted", "x"]),
            "setting an extended attribute",
        );
    }
    assert_eq!(before(&file), fb, "the read-only grant's metadata changed");
    assert_eq!(before(&outside), ob, "metadata outside the grants changed");
    assert_eq!(get_xattr(&file, "user.planted"), None);
    assert_eq!(get_xattr(&outside, "user.planted"), None);

    // Reads of what cannot be opened: size, link target, extended attributes, events.
    assert_denied(&probe_line(&r, &["stat", o]), "stat outside the grants");
    let link = out.join("link");
    assert_denied(
        &probe_line(&r, &["readlink", link.to_str().unwrap()]),
        "readlink outside the grants",
    );
    assert_denied(
        &probe_line(&r, &["inotify", out.to_str().unwrap()]),
        "inotify outside the grants",
    );

    // The control: the same probe does change and read these where nothing stops it.
    assert_eq!(
        probe_line(
            &["--allow-write", ro.to_str().unwrap()],
            &["chmod", f, "600"]
        ),
        "OK chmodded"
    );
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(bare_line(&["stat", o]), "OK size=12");
    assert_eq!(
        bare_line(&["readlink", link.to_str().unwrap()]),
        "OK /link-target-secret"
    );
    assert_eq!(
        bare_line(&["inotify", out.to_str().unwrap()]),
        "OK watching"
    );
    assert_eq!(bare_line(&["utimes", o]), "OK set times");
    assert_ne!(before(&outside), ob, "the control did not change the times");
}

#[test]
fn what_the_server_may_write_it_cannot_map_executable() {
    if !has_landlock() {
        return;
    }
    let d = scratch();
    let lib = d.path().join("lib.so");
    write(&lib, "\u{c3}");
    let dir = d.path().to_str().unwrap();
    let l = lib.to_str().unwrap();
    // The dynamic loader maps libraries with mmap(PROT_EXEC), which Landlock does not see.
    assert_denied(
        &probe_line(&["--allow-write", dir], &["mmap-exec", l]),
        "mapping a writable file executable",
    );
    // A grant that says exec allows it; a read-only grant too (nothing there can change).
    assert_eq!(
        probe_line(
            &["--allow-write", dir, "--allow-exec", dir],
            &["mmap-exec", l]
        ),
        "OK mapped"
    );
    assert_eq!(
        probe_line(&["--allow-read", dir], &["mmap-exec", l]),
        "OK mapped"
    );
    // Nor in the private /tmp and /dev/shm.
    for f in ["/tmp/lib.so", "/dev/shm/lib.so"] {
        assert_denied(&probe_line(&[], &["mmap-exec", f]), f);
    }
    // The control: where a grant says exec, a file written there maps.
    assert_eq!(
        probe_line(&["--allow-exec", "/tmp"], &["mmap-exec", "/tmp/lib.so"]),
        "OK mapped"
    );
}

#[test]
fn socket_families_and_transports_are_those_the_network_mode_needs() {
    // (what, family, type, protocol): each must be refused inside.
    let refused: &[(&str, i32, i32, i32)] = &[
        ("vsock", libc::AF_VSOCK, libc::SOCK_STREAM, 0),
        (
            "netlink device events",
            libc::AF_NETLINK,
            libc::SOCK_DGRAM,
            libc::NETLINK_KOBJECT_UEVENT,
        ),
        (
            "netlink audit",
            libc::AF_NETLINK,
            libc::SOCK_RAW,
            libc::NETLINK_AUDIT,
        ),
        (
            "MPTCP",
            libc::AF_INET,
            libc::SOCK_STREAM,
            libc::IPPROTO_MPTCP,
        ),
        (
            "UDP-Lite",
            libc::AF_INET6,
            libc::SOCK_DGRAM,
            libc::IPPROTO_UDPLITE,
        ),
        ("ICMP", libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_ICMP),
        ("crypto API", libc::AF_ALG, libc::SOCK_SEQPACKET, 0),
        ("packet", libc::AF_PACKET, libc::SOCK_RAW, 0),
        ("SCTP", libc::AF_INET, libc::SOCK_SEQPACKET, 0),
        ("TIPC", libc::AF_TIPC, libc::SOCK_RDM, 0),
    ];
    let mut possible_bare = Vec::new();
    for (what, f, t, p) in refused {
        let args = [f.to_string(), t.to_string(), p.to_string()];
        let args: Vec<&str> = std::iter::once("socket")
            .chain(args.iter().map(String::as_str))
            .collect();
        if bare_line(&args) == "OK created" {
            possible_bare.push(*what);
        }
        assert_denied(&probe_line(&[], &args), what);
        let line = probe_line(&["-p", "node"], &args);
        assert_denied(&line, what);
    }
    // The control: on this machine, without mcpcell, most of them can be created.
    eprintln!("created without mcpcell: {possible_bare:?}");
    assert!(
        possible_bare.len() >= 3,
        "too few of the refused sockets work here even without mcpcell for this test to mean anything: {possible_bare:?}"
    );
    // What the network modes need still works.
    for (f, t, p) in [
        (libc::AF_INET, libc::SOCK_STREAM, 0),
        (libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_UDP),
        (libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE),
    ] {
        let (f, t, p) = (f.to_string(), t.to_string(), p.to_string());
        assert_eq!(probe_line(&[], &["socket", &f, &t, &p]), "OK created");
    }
}

#[test]
fn host_mode_port_lists_hold_for_every_transport() {
    if !require(landlock_abi() >= 4, "Landlock ABI 4 (TCP rules)") {
        return;
    }
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let (ap, op, up) = (
        allowed.local_addr().unwrap().port(),
        other.local_addr().unwrap().port().to_string(),
        udp.local_addr().unwrap().port().to_string(),
    );
    let d = scratch();
    let prof = profile(
        d.path(),
        "hostnet",
        &format!("extends: [default]\nnetwork:\n  mode: host\n  connect: [{ap}]\n"),
    );
    let p = ["-p", prof.to_str().unwrap()];
    let mut buf = [0u8; 64];

    // UDP: Landlock's port rules do not cover it.
    assert_denied(
        &probe_line(&p, &["udp", "127.0.0.1", &up, "udp-out"]),
        "UDP in host mode with a connect list",
    );
    assert!(udp.recv(&mut buf).is_err(), "a datagram got out");
    // TCP Fast Open connects inside sendto(2), past connect(2).
    assert_denied(
        &probe_line(&p, &["tfo", "127.0.0.1", &op, "tfo-out"]),
        "TCP Fast Open to an unlisted port",
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        other.accept().is_err(),
        "a Fast Open connection got through"
    );
    // listen(2) without bind(2) takes a port the bind list never saw.
    assert_denied(
        &probe_line(&p, &["listen-unbound"]),
        "listen on an unbound socket",
    );

    // The controls: without mcpcell each of them reaches the host.
    assert_eq!(bare_line(&["udp", "127.0.0.1", &up, "udp-bare"]), "OK sent");
    let n = udp.recv(&mut buf).expect("the bare datagram");
    assert_eq!(&buf[..n], b"udp-bare");
    assert_eq!(bare_line(&["tfo", "127.0.0.1", &op, "tfo-bare"]), "OK sent");
    other.set_nonblocking(false).unwrap();
    let (mut s, _) = other.accept().expect("the bare Fast Open connection");
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "tfo-bare");
    assert!(bare_line(&["listen-unbound"]).starts_with("OK "));
    // The allowed port still works over plain TCP.
    let t = std::thread::spawn(move || {
        let (mut s, _) = allowed.accept().unwrap();
        let mut v = String::new();
        s.read_to_string(&mut v).unwrap();
        v
    });
    assert_eq!(
        probe_line(&p, &["tcp", "127.0.0.1", &ap.to_string(), "through"]),
        "OK sent"
    );
    assert_eq!(t.join().unwrap(), "through");
}

/// The server starts with a file descriptor table of 1024 entries (or its RLIMIT_NOFILE),
/// grown before execve: a table grown later, while the server has threads, waits for an RCU
/// grace period (bench/ANALYSIS.md §1.10). Judged by the kernel's FDSize of the server.
#[test]
fn the_server_starts_with_a_grown_descriptor_table() {
    let fdsize = |opts: &[&str]| {
        let mut args = opts.to_vec();
        args.extend_from_slice(&["--", "/bin/grep", "FDSize", "/proc/self/status"]);
        let out = output_within(run_cmd(&args), Duration::from_secs(30));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(fdsize(&["-p", "default"]), "FDSize:\t1024");
    let d = scratch();
    for (limit, table) in [(200, 256), (1000, 1024)] {
        let prof = profile(
            d.path(),
            &format!("nofile{limit}"),
            &format!("extends: [default]\nlimits:\n  open_files: {limit}\n"),
        );
        assert_eq!(
            fdsize(&["-p", prof.to_str().unwrap()]),
            format!("FDSize:\t{table}"),
            "open_files: {limit}"
        );
    }
    // The control: the same command forked by a process with few descriptors, as a sandbox
    // that does not grow the table starts its server, sees the smallest table.
    let mut c = Command::new("/bin/sh");
    c.args(["-c", "/bin/grep FDSize /proc/self/status; true"])
        .stdin(Stdio::null());
    assert_eq!(
        String::from_utf8_lossy(&only_stdio(c).output().unwrap().stdout).trim(),
        "FDSize:\t64"
    );
}

/// mcpcell and the sandbox's init grow their descriptor tables before anything shares them:
/// mcpcell's threads (the relay, the proxy), the init's network
/// helper (an ordinary user's launch), which runs while the init opens a descriptor for every
/// granted path. A table grown while shared costs an RCU grace period (8-15 ms of every
/// launch where the client's table was small: bench/ANALYSIS.md §1.29). Judged by the
/// kernel's FDSize of both while the server runs, mcpcell started with only its standard
/// streams; the control, a process started the same way, keeps the small table.
#[test]
fn mcpcell_and_the_init_grow_their_descriptor_tables_first() {
    let fdsize = |pid: u32| status_number(pid as i32, "FDSize").unwrap() as u32;
    let mut cmd = only_stdio(run_cmd(&["-p", "default", "--", "/bin/sleep", "30"]));
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let mut launcher = cmd.spawn().unwrap();
    let mut control = only_stdio(Command::new("/bin/sleep"));
    control.arg("30").stdin(Stdio::null());
    let mut control = control.spawn().unwrap();
    // The init: the server's parent, once the server runs (while the process that makes
    // the namespaces leaves, it is a descendant of mcpcell too).
    let server = descendant_named(launcher.id() as i32, "sleep", Duration::from_secs(20))
        .expect("the sandbox's server did not start");
    let init = status_number(server, "PPid").expect("the server's parent") as u32;
    let sizes = (fdsize(launcher.id()), fdsize(init), fdsize(control.id()));
    for c in [&mut launcher, &mut control] {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert_eq!(sizes.0, 1024, "mcpcell's table");
    assert_eq!(sizes.1, 1024, "the sandbox's init's table");
    assert!(sizes.2 < 1024, "the control's table: {}", sizes.2);
}

/// The sandbox is cloned by a process that made its network namespace (and for an ordinary
/// user its user namespace), and time allowing its mount, IPC, UTS and PID namespaces, while
/// mcpcell planned (`crate::netns::maker`): mcpcell itself stays in every namespace it was
/// started in, the init is its child and its only process (the maker has left and was
/// reaped, no zombie), with mcpcell's CPUs and signal mask, as a fork of mcpcell would have
/// them (the maker runs on one CPU with every signal blocked), and the server it starts is
/// in namespaces of its own (the init is not dumpable: its namespaces cannot be read by the
/// user). Judged from /proc while the server runs; the readings' control is the server,
/// which they must find in other namespaces than the test's.
#[test]
fn mcpcell_stays_in_its_namespaces_and_its_only_child_is_the_init() {
    let field = |pid: i32, name: &str| status_field(pid, name).unwrap();
    let ns = |pid: i32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    const KINDS: [&str; 7] = ["user", "net", "mnt", "ipc", "uts", "pid", "cgroup"];
    let mut cmd = run_cmd(&["-p", "default", "--", "/bin/sleep", "30"]);
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let mut launcher = cmd.spawn().unwrap();
    let me = launcher.id() as i32;
    let server = descendant_named(me, "sleep", Duration::from_secs(20))
        .expect("the sandbox's server did not start");
    let init = status_number(server, "PPid").expect("the server's parent") as i32;
    // The process that made the namespaces may still be leaving (mcpcell reaps it once the
    // sandbox has started): read once it has, or as it is after 20 s.
    let children_of = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default()
    };
    let (tree, children) = settled(
        Duration::from_secs(20),
        || (descendants(me), children_of(me)),
        |(t, c)| t.len() == 2 && c.split_whitespace().count() == 1,
    );
    let readings = (
        children.split_whitespace().collect::<Vec<_>>(),
        tree.len(),
        KINDS.map(|k| ns(me, k)),
        KINDS.map(|k| ns(server, k)),
        [
            field(me, "Cpus_allowed_list"),
            field(init, "Cpus_allowed_list"),
        ],
        [field(me, "SigBlk"), field(init, "SigBlk")],
    );
    let _ = launcher.kill();
    let _ = launcher.wait();
    let (children, count, mcpcell_ns, server_ns, cpus, blocked) = readings;
    let own = KINDS.map(|k| ns(std::process::id() as i32, k));
    assert_eq!(children, [init.to_string()], "mcpcell's children");
    assert_eq!(
        count, 2,
        "mcpcell's descendants, the init {init} and the server {server}: {tree:?}"
    );
    assert_eq!(mcpcell_ns, own, "mcpcell's namespaces, {KINDS:?}");
    for (i, kind) in KINDS.iter().enumerate() {
        // The user namespace is the sandbox's own for an ordinary user only; the others
        // are the sandbox's own always (the control: mcpcell's readings are not the
        // server's).
        let own_kind = *kind != "user" || !is_root();
        assert_eq!(
            server_ns[i] != own[i],
            own_kind,
            "the server's {kind} namespace: {} (the test's: {})",
            server_ns[i].display(),
            own[i].display()
        );
    }
    assert_eq!(cpus[0], cpus[1], "the init's CPUs");
    assert_eq!(blocked[0], blocked[1], "the init's blocked signals");
}

/// How the netns test starts mcpcell.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    Plain,
    /// Allowed on one CPU only.
    OneCpu,
    /// Under `nouserns --noshared`: a process sharing its parent's descriptor table cannot
    /// be created, as the process that makes the sandbox's namespaces while mcpcell plans is
    /// (and an ordinary user's init's network helper).
    NoShared,
    /// As root without `CAP_SYS_ADMIN` (dropped from the bounding set before exec, as a
    /// container's root runs): sandboxed as an ordinary user is, in a user namespace.
    NoSysAdmin,
}

/// Runs the probe in a sandbox at `debug` log level, started as `how` says; returns (probe's
/// line, mcpcell's stderr).
fn probe_logged(opts: &[&str], probe_args: &[&str], how: Start) -> (String, String) {
    let mut logged = vec!["--log-level", "debug"];
    logged.extend_from_slice(opts);
    let mut cmd = probe_cmd(&logged, probe_args);
    if how == Start::NoShared {
        let mut wrapped = Command::new(nouserns());
        wrapped
            .arg("--noshared")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        cmd = wrapped;
    }
    if how == Start::NoSysAdmin {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl on this process, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                match libc::prctl(libc::PR_CAPBSET_DROP, 21 /* CAP_SYS_ADMIN */) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
    }
    if how == Start::OneCpu {
        use std::os::unix::process::CommandExt;
        // SAFETY: sched_setaffinity on this process with a valid set, between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                match libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
    }
    let out = output_within(cmd, Duration::from_secs(30));
    let line = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "mcpcell run {opts:?} -- probe {probe_args:?} ({how:?}): {:?}; stderr:\n{err}",
        out.status
    );
    (line, err)
}

/// The interface names in a /proc/net/dev text (the probe joins its lines with spaces).
fn interfaces(dev: &str) -> Vec<String> {
    dev.split_whitespace()
        .filter_map(|t| t.strip_suffix(':'))
        .map(str::to_string)
        .collect()
}

/// The process that makes the sandbox's namespaces while mcpcell plans copies the host's
/// mounts early, and mcpcell opens the granted paths afterwards: a mount made in between
/// (here on the granted directory, in a private mount namespace, while strace holds
/// mcpcell's first path lookup for 1.5 s; an automount the planning triggers would do the
/// same) must not leave the sandbox a view the plan did not check. Judged from outside: the
/// server reads the file of the new mount and the launch succeeds (the copy's bind of the
/// directory used to fail with ESTALE), mcpcell says it cloned the sandbox afresh, and that
/// sandbox is in a network namespace of its own with loopback up. The control: with no
/// mount made meanwhile the server reads the directory's own file, mcpcell says nothing of
/// it, and it says the maker made the mount, PID, IPC and UTS namespaces (the copy the check
/// is about) while the plan was held. As root the test also runs mcpcell as an ordinary
/// user (`nobody`) in the namespace root mounts in, whose maker makes the user namespace
/// too; as an ordinary user the test makes its mount in a user namespace of its own, where
/// mcpcell runs as that namespace's root.
#[test]
fn a_mount_made_while_mcpcell_plans_is_the_one_the_sandbox_sees() {
    if !require(which::which("strace").is_ok(), "strace") {
        return;
    }
    let dir = scratch();
    let d = dir.path().join("d");
    std::fs::create_dir(&d).unwrap();
    write(&d.join("marker"), "before\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // $1: the granted directory; $2: mcpcell; $3: 1 to mount on $1 while mcpcell plans; $4:
    // the server's command line (split on spaces); the rest: what mcpcell is started through.
    let script = r#"
        d=$1 mcpcell=$2 mount=$3 server=$4
        shift 4
        if [ "$mount" = 1 ]; then
          ( sleep 0.5; mount -t tmpfs -o mode=755 none "$d" && echo after > "$d/marker" ) &
        fi
        strace -o /dev/null -e trace=openat2 -e inject=openat2:delay_enter=1500000:when=1 \
          "$@" "$mcpcell" run --log-level debug -p minimal --allow-read "$d" -- $server
        rc=$?
        wait
        exit $rc
    "#;
    // SAFETY: a zeroed cpu_set_t is a valid out-parameter; CPU_COUNT reads it.
    let cpus = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        libc::CPU_COUNT(&set)
    };
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let mut cases = vec![(true, &[][..]), (false, &[][..])];
    if is_root() {
        cases.extend([(true, &nobody[..]), (false, &nobody[..])]);
    }
    // The server reads the marker; where the sandbox is cloned afresh, a probe also finds it
    // in a network namespace of its own with loopback up (refused, not unreachable), as the
    // clone that made it must have left it.
    let own_net = format!(
        "OK {}",
        std::fs::read_link("/proc/self/ns/net").unwrap().display()
    );
    let probe = probe();
    let cat = format!("/bin/cat {}", d.join("marker").display());
    let net = format!("{} readlink /proc/self/ns/net", probe.display());
    let lo = format!("{} tcp 127.0.0.1 9 x", probe.display());
    let mut runs = Vec::new();
    for (mount, through) in cases {
        runs.push((mount, through, &cat));
        if mount {
            runs.extend([(mount, through, &net), (mount, through, &lo)]);
        }
    }
    for (mount, through, server) in runs {
        let mut cmd = Command::new("unshare");
        if !is_root() {
            cmd.args(["--user", "--map-root-user"]);
        }
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            script,
            "race",
        ])
        .arg(&d)
        .arg(mcpcell())
        .arg(if mount { "1" } else { "0" })
        .arg(server)
        .args(through)
        .current_dir("/");
        let out = output_within(cmd, Duration::from_secs(30));
        let seen = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let case = format!("mount: {mount}, through {through:?}, {server}");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{case}: {:?}; stderr:\n{err}",
            out.status
        );
        if server == &cat {
            assert_eq!(
                seen,
                if mount { "after" } else { "before" },
                "{case}; stderr:\n{err}"
            );
        } else if server == &net {
            assert!(
                seen.starts_with("OK net:["),
                "{case}: {seen}; stderr:\n{err}"
            );
            assert_ne!(
                seen, own_net,
                "{case}: the test's network namespace; stderr:\n{err}"
            );
        } else {
            assert!(
                seen.starts_with("ERR ECONNREFUSED"),
                "{case}: loopback is not up: {seen}; stderr:\n{err}"
            );
        }
        let afresh = err.contains("the host's mounts changed while mcpcell planned");
        assert_eq!(
            afresh,
            mount && cpus >= 2,
            "{case}, CPUs: {cpus}: cloned afresh: {afresh}; stderr:\n{err}"
        );
        // The plan is held for 1.5 s: the maker made the other namespaces while it waited.
        let waited =
            err.contains("the sandbox's mount, pid, ipc, uts namespaces were made while the plan");
        assert_eq!(
            waited,
            !mount && cpus >= 2,
            "{case}, CPUs: {cpus}; stderr:\n{err}"
        );
        // Which maker copied the mounts: with the user namespace for `nobody`.
        let with_user = err.contains("user and network namespaces were made while planning");
        assert_eq!(
            with_user,
            cpus >= 2 && !through.is_empty(),
            "{case}, CPUs: {cpus}; stderr:\n{err}"
        );
    }
}

/// Each sandbox's network namespace is its own, whichever way it was made: by a process that
/// makes it while mcpcell plans and then clones the sandbox (`crate::netns::maker`: from the
/// start of `run -p BUILTIN`, or once a profile chosen otherwise is loaded), for an
/// ordinary user with the sandbox's user namespace; when no such process can be made (under
/// `nouserns --noshared`), by the clone as root, and for an ordinary user by the init itself
/// after its helper could not be made either (`sandbox::nethelper`); and by the clone where
/// only one CPU is allowed; as root without `CAP_SYS_ADMIN`, as an ordinary user's (the
/// maker makes the user namespace too: the plan's test for a user namespace is the
/// maker's). Judged from outside: the namespace the server is in is not the test's (the
/// control: a profile with the host's network is in the test's); loopback is up in it (a
/// connection to a closed port is refused, where a namespace whose loopback is down answers
/// ENETUNREACH: the control, made with `unshare`); no other interface is in it; and mcpcell
/// says which way it went.
#[test]
fn each_sandbox_has_its_own_network_namespace_with_loopback_up() {
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let own = format!("OK {}", own.display());
    // SAFETY: a zeroed cpu_set_t is a valid out-parameter; CPU_COUNT reads it.
    let cpus = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        libc::CPU_COUNT(&set)
    };
    let profiles = scratch();
    let file = profiles.path().join("own.yaml");
    write(&file, "extends: [default]\n");
    let file = file.to_str().unwrap();
    let shared = profiles.path().join("shared.yaml");
    write(&shared, "extends: [default]\nnetwork:\n  mode: host\n");
    let shared = shared.to_str().unwrap();
    let given = ["-p", file];
    let mut cases = vec![
        (&["-p", "default"][..], Start::Plain),
        (&[][..], Start::Plain),
        (&given[..], Start::Plain),
        (&["-p", "default"][..], Start::OneCpu),
    ];
    cases.push((&["-p", "default"][..], Start::NoShared));
    if is_root() {
        cases.push((&["-p", "default"][..], Start::NoSysAdmin));
    }
    for (opts, how) in cases {
        // Sandboxed as an ordinary user is, with a user namespace.
        let as_user = !is_root() || how == Start::NoSysAdmin;
        let (ns, err) = probe_logged(opts, &["readlink", "/proc/self/ns/net"], how);
        assert!(ns.starts_with("OK net:["), "{opts:?}: {ns}; stderr:\n{err}");
        assert_ne!(
            ns, own,
            "{opts:?} ({how:?}): the server is in the test's network namespace"
        );
        let spare = cpus >= 2 && how != Start::OneCpu;
        let ahead = err.contains("network namespace was made while planning");
        assert_eq!(
            ahead,
            !as_user && spare && how != Start::NoShared,
            "{opts:?} ({how:?}, root: {}, CPUs: {cpus}): made ahead: {ahead}; stderr:\n{err}",
            is_root()
        );
        let user_ahead = err.contains("user and network namespaces were made while planning");
        assert_eq!(
            user_ahead,
            as_user && spare && how != Start::NoShared,
            "{opts:?} ({how:?}, root: {}, CPUs: {cpus}): made with the user namespace ahead: {user_ahead}; stderr:\n{err}",
            is_root()
        );
        let beside = err.contains("network namespace is made beside its mounts");
        assert_eq!(
            beside,
            as_user && spare && how == Start::NoShared,
            "{opts:?} ({how:?}, root: {}, CPUs: {cpus}): made beside the mounts: {beside}; stderr:\n{err}",
            is_root()
        );
        let (refused, err) = probe_logged(opts, &["tcp", "127.0.0.1", "9", "x"], how);
        assert!(
            refused.starts_with("ERR ECONNREFUSED"),
            "{opts:?} ({how:?}): loopback is not up: {refused}; stderr:\n{err}"
        );
        let (dev, err) = probe_logged(opts, &["read", "/proc/net/dev"], how);
        assert_eq!(
            interfaces(&dev),
            ["lo"],
            "{opts:?} ({how:?}): {dev}; stderr:\n{err}"
        );
    }
    // The controls: the reading finds a shared namespace, and nothing is made ahead for one;
    // a namespace with loopback down answers otherwise.
    let (ns, err) = probe_logged(
        &["-p", shared],
        &["readlink", "/proc/self/ns/net"],
        Start::Plain,
    );
    assert_eq!(ns, own, "mode host: {err}");
    assert!(!err.contains("made while planning"), "mode host: {err}");
    assert!(!err.contains("made beside its mounts"), "mode host: {err}");

    let mut unshare = Command::new("unshare");
    if !is_root() {
        unshare.arg("--map-root-user");
    }
    let down = unshare
        .args(["--net", "--"])
        .arg(probe())
        .args(["tcp", "127.0.0.1", "9", "x"])
        .output()
        .expect("unshare (util-linux)");
    let down = String::from_utf8_lossy(&down.stdout);
    assert!(down.starts_with("ERR ENETUNREACH"), "loopback down: {down}");
}

/// Whether /proc/locks, seen from the host, holds a lease on inode `ino`.
fn lease_held(ino: u64) -> bool {
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| l.contains("LEASE") && l.contains(&format!(":{ino} ")))
}

/// A file the server may only read is no way to hold the host's writers: a lease
/// (`fcntl(F_SETLEASE)`) makes every other open for writing wait for the lease-break time
/// (45 s). Judged from outside by the host's lock table while the probe holds what it got;
/// the control is the same probe bare, whose lease the table shows.
#[test]
fn a_lease_on_a_read_grant_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let d = scratch();
    let f = d.path().join("shared");
    write(&f, "x");
    let ino = std::fs::metadata(&f).unwrap().ino();
    let (dir, file) = (d.path().to_str().unwrap(), f.to_str().unwrap());
    let leased = |cmd: Command| {
        let mut r = Running::start(cmd);
        let line = r.line(Duration::from_secs(30));
        let held = lease_held(ino);
        r.wait(Duration::from_secs(30));
        (line, held)
    };
    let (line, held) = leased(probe_cmd(&["--allow-read", dir], &["lease", file]));
    assert!(line.starts_with("ERR EPERM"), "{line}");
    assert!(!held);
    let mut bare = Command::new(probe());
    bare.args(["lease", file]).stdin(Stdio::null());
    let (line, held) = leased(bare);
    assert_eq!(line, "OK leased");
    assert!(
        held,
        "the host's lock table shows no lease the bare probe holds"
    );
}

/// A file given as the server's stdin or stdout (`mcpcell run ... < in.json > out.json`) lies
/// outside its grants: the server gets a pipe that mcpcell relays, byte for byte, not a
/// descriptor through which it could change the file's mode (`chmod /proc/self/fd/0`). The
/// control is the same probe bare, which changes it.
#[test]
fn a_file_given_as_stdio_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let d = scratch();
    let (input, output) = (d.path().join("in.json"), d.path().join("out.json"));
    let body: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    std::fs::write(&input, &body).unwrap();
    std::fs::write(&output, b"").unwrap();
    let file = |p: &std::path::Path| std::fs::File::create(p).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    for p in [&input, &output] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let with_files = |mut c: Command| {
        c.stdin(std::fs::File::open(&input).unwrap())
            .stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&output)
                    .unwrap(),
            )
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        format!("exit {}", wait_exit(&mut child, Duration::from_secs(30)))
    };
    let chmod = |fd: &str| {
        let p = probe();
        let path = format!("/proc/self/fd/{fd}");
        let c = run_cmd(&["--", p.to_str().unwrap(), "chmod", &path, "777"]);
        let err = with_files(c);
        String::from_utf8_lossy(&std::fs::read(&output).unwrap()).into_owned() + &err
    };
    // What the server holds is a pipe (whose mode it may change): the files keep theirs.
    for fd in ["0", "1"] {
        let said = chmod(fd);
        assert_eq!(
            (mode(&input), mode(&output)),
            (0o640, 0o640),
            "fd {fd}: {said}"
        );
    }
    // The bytes pass as they are.
    drop(file(&output));
    let err = with_files(run_cmd(&["--", "/bin/cat"]));
    assert_eq!(std::fs::read(&output).unwrap(), body, "{err}");
    // The control: bare, the same probe changes the file.
    let mut bare = Command::new(probe());
    bare.args(["chmod", "/proc/self/fd/0", "777"]);
    with_files(bare);
    assert_eq!(mode(&input), 0o777);
}

/// A character device given as stdio (`> /dev/null`) is the host's node, owned by root: a
/// server running as root would change its mode or times through its descriptor (`chmod
/// /proc/self/fd/1`), for every process on the host. It gets the device opened anew on a
/// read-only mount (root with `CAP_SYS_ADMIN`), or relayed where no mount can be copied
/// (root without it, as in a container), and the node keeps its mode and times either way,
/// while reads and writes still reach the device. A node made here stands for /dev/null and
/// /dev/zero; the control is the same probe bare, which changes it.
#[test]
fn a_device_given_as_stdio_keeps_its_mode_and_times() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    if !is_root() {
        eprintln!(
            "skipped: making device nodes needs root (an ordinary user's server cannot change root's devices)"
        );
        return;
    }
    let d = scratch();
    let node = |name: &str, minor: u32| {
        let p = d.path().join(name);
        memory_node(&p, minor);
        p
    };
    let (null, zero) = (node("null", 3), node("zero", 5));
    let looks = |p: &std::path::Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.permissions().mode() & 0o7777, m.mtime(), m.mtime_nsec())
    };
    let (null_was, zero_was) = (looks(&null), looks(&zero));
    let open = |p: &std::path::Path| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap()
    };
    // Runs `cmd` with the device on descriptor `fd` and pipes on the others.
    let on = |mut cmd: Command, fd: usize, dev: &std::path::Path, no_sys_admin: bool| {
        match fd {
            0 => cmd
                .stdin(open(dev))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            1 => cmd
                .stdin(Stdio::null())
                .stdout(open(dev))
                .stderr(Stdio::piped()),
            _ => cmd
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(open(dev)),
        };
        if no_sys_admin {
            // SAFETY: prctl on this process, between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    match libc::prctl(libc::PR_CAPBSET_DROP, 21 /* CAP_SYS_ADMIN */) {
                        0 => Ok(()),
                        _ => Err(std::io::Error::last_os_error()),
                    }
                });
            }
        }
        let (code, stdout, stderr) = output_within_stdio(cmd);
        format!("exit {code:?}; stdout {stdout:?}; stderr {stderr:?}")
    };
    for no_sys_admin in [false, true] {
        for fd in 0..3 {
            let path = format!("/proc/self/fd/{fd}");
            for (probe_args, dev) in [
                (["chmod", &path, "777"], &null),
                (["utimes", &path, ""], &zero),
            ] {
                let args = if probe_args[2].is_empty() {
                    &probe_args[..2]
                } else {
                    &probe_args[..]
                };
                let said = on(
                    probe_cmd(&["--log-level", "debug"], args),
                    fd,
                    dev,
                    no_sys_admin,
                );
                assert_eq!(
                    (looks(&null), looks(&zero)),
                    (null_was, zero_was),
                    "fd {fd}, without CAP_SYS_ADMIN: {no_sys_admin}: {args:?}: {said}"
                );
                if fd < 2 {
                    // Which way it went: opened anew, or relayed where no mount can be copied.
                    assert_eq!(
                        said.contains("could not be opened on a read-only mount"),
                        no_sys_admin,
                        "fd {fd}: {said}"
                    );
                }
            }
        }
        // Reads and writes reach the device: zeros come in, what goes out is taken.
        let said = on(
            run_cmd(&["--", "/bin/sh", "-c", "head -c 4 | od -An -tx1"]),
            0,
            &zero,
            no_sys_admin,
        );
        assert!(
            said.starts_with("exit Some(0); stdout \" 00 00 00 00\\n\""),
            "{said}"
        );
        let said = on(
            run_cmd(&[
                "--",
                "/bin/sh",
                "-c",
                "echo to the device && echo written >&2",
            ]),
            1,
            &null,
            no_sys_admin,
        );
        assert!(
            said.starts_with("exit Some(0)") && said.contains("written"),
            "{said}"
        );
    }
    // A node deleted since it was given has no name the sandbox could attach its copy at:
    // it is relayed, and the launch goes on.
    let gone = node("gone", 3);
    let held = open(&gone);
    std::fs::remove_file(&gone).unwrap();
    let mut c = run_cmd(&["--log-level", "debug", "--", "/bin/sh", "-c", "echo x"]);
    c.stdin(Stdio::null()).stdout(held).stderr(Stdio::piped());
    let out = output_within_stdio(c);
    assert!(
        out.0 == Some(0) && out.2.contains("could not be opened on a read-only mount"),
        "{out:?}"
    );
    // The control: bare, the same probe changes the node.
    let said = on(
        {
            let mut c = Command::new(probe());
            c.args(["chmod", "/proc/self/fd/1", "777"]);
            c
        },
        1,
        &null,
        false,
    );
    assert_eq!(looks(&null).0, 0o777, "{said}");
}

/// Runs `cmd` with the standard descriptors it was given; (exit code, stdout, stderr).
fn output_within_stdio(cmd: Command) -> (Option<i32>, String, String) {
    let mut cmd = cmd;
    let child = cmd.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    let out = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the launch did not end within 30 s");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The read-only copy of a stdio device's mount is private: the host's mounts are shared
/// where systemd runs, and a copy in a peer group would show the sandbox what the host
/// mounts there later. Here /dev/null is a shared bind of a node made by the test (in a
/// mount namespace of the test's own); nothing in the sandbox's mount table belongs to a
/// peer group. The control is the table outside it, where that bind does.
#[test]
fn a_stdio_devices_copy_shares_no_mount_events_with_the_host() {
    if !is_root() {
        eprintln!("skipped: copying a mount needs root");
        return;
    }
    let d = scratch();
    let fake = d.path().join("null");
    memory_node(&fake, 3);
    let table = |inner: Command| over_dev_null(&fake, "shared", inner);
    let inside = table(run_cmd(&["--", "/bin/cat", "/proc/self/mountinfo"]));
    assert!(inside.contains(" /dev/null "), "{inside}");
    assert!(!inside.contains("shared:"), "{inside}");
    let mut bare = Command::new("/bin/cat");
    bare.arg("/proc/self/mountinfo");
    let outside = table(bare);
    assert!(
        outside
            .lines()
            .any(|l| l.split(' ').nth(4) == Some("/dev/null") && l.contains("shared:")),
        "{outside}"
    );
}

/// A hidden file is masked with a copy of `/dev/null`, the host's node, owned by root: the
/// mask must be read-only, or root's server changes that node's mode or times through it
/// (`chmod ~/.npmrc` under a grant of the home directory, and every other process on the
/// host loses `/dev/null`). The host's `/dev/null` is stood in for by a node made here,
/// bound over it in a mount namespace of the test's own; the control is a bare `chmod
/// /dev/null` there, which changes the stand-in.
#[test]
fn a_hidden_files_mask_leaves_the_hosts_dev_null_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !is_root() || !has_landlock() {
        eprintln!("skipped: binding a stand-in over /dev/null needs root");
        return;
    }
    let d = scratch();
    let fake = d.path().join("null");
    memory_node(&fake, 3);
    let looks = || {
        let m = std::fs::metadata(&fake).unwrap();
        (m.permissions().mode() & 0o7777, m.mtime(), m.mtime_nsec())
    };
    let was = looks();
    let home = d.path().join("home");
    std::fs::create_dir(&home).unwrap();
    write(&home.join("token"), "TOKEN");
    let h = home.to_str().unwrap();
    let prof = profile(
        d.path(),
        "hiding",
        &format!("extends: [default]\nfilesystem:\n  write: [\"{h}\"]\n  hide: [\"{h}/token\"]\n"),
    );
    let token = format!("{h}/token");
    let over_dev_null = |inner: Command| over_dev_null(&fake, "private", inner);
    let p = prof.to_str().unwrap();
    for args in [vec!["chmod", &token, "777"], vec!["utimes", &token]] {
        let said = over_dev_null(probe_cmd(&["-p", p], &args));
        assert!(said.starts_with("ERR EROFS"), "{args:?}: {said}");
        assert_eq!(looks(), was, "{args:?}: {said}");
    }
    // The mask still reads as empty.
    let said = over_dev_null(probe_cmd(&["-p", p], &["read", &token]));
    assert!(said.starts_with("OK") && !said.contains("TOKEN"), "{said}");
    // The control: bare, in the same set-up, the stand-in changes.
    let mut bare = Command::new(probe());
    bare.args(["chmod", "/dev/null", "777"]);
    let said = over_dev_null(bare);
    assert_eq!(looks().0, 0o777, "{said}");
}

/// A memory device node (major 1, `minor`: 3 is /dev/null's, 5 /dev/zero's) at `p`, mode 0666.
fn memory_node(p: &std::path::Path, minor: u32) {
    use std::os::unix::fs::PermissionsExt;
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: mknod with a NUL-terminated path.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, minor)) };
    assert_eq!(
        r,
        0,
        "mknod {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666)).unwrap();
}

/// Runs `inner` with stdin on /dev/null in a mount namespace of its own, whose mounts have
/// `propagation` (`private`, `shared`) and where `stand_in` is bound over /dev/null; returns
/// what it wrote to stdout and then stderr.
fn over_dev_null(stand_in: &std::path::Path, propagation: &str, inner: Command) -> String {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", propagation, "--", "/bin/sh", "-c"])
        .arg(r#"mount --bind "$0" /dev/null && exec "$@" < /dev/null"#)
        .arg(stand_in);
    let mut c = through(c, &inner);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let (_, stdout, stderr) = output_within_stdio(c);
    stdout + &stderr
}

/// Where the kernel refuses namespaces (a container's seccomp profile, `nouserns` here),
/// mcpcell's first attempt is refused and the namespace-free tier follows. A read-only copy
/// of a stdio device's mount made for that attempt would be dropped unattached, and that
/// costs the launch an RCU grace period (bench/ANALYSIS.md §1.36): none is made once the
/// namespace maker was refused. Counted from outside with strace: no `open_tree` in a tier
/// launch as root, which still keeps `/dev/null`'s mode (the tier's supervisor refuses a
/// device's metadata changes); the control is the same launch with namespaces, which makes
/// its copy.
#[test]
fn a_launch_the_kernel_refuses_namespaces_copies_no_mount() {
    if !is_root() || !require(which::which("strace").is_ok(), "strace") {
        return;
    }
    // The refusal is learnt from the process that makes the namespaces on a second CPU.
    // SAFETY: a zeroed cpu_set_t is a valid out-parameter; CPU_COUNT reads it.
    let cpus = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        libc::CPU_COUNT(&set)
    };
    if cpus < 2 {
        eprintln!("skipped: one CPU, no namespace maker");
        return;
    }
    let d = scratch();
    let trace = d.path().join("trace");
    let copies = |through_nouserns: bool| {
        let inner = run_cmd(&["--best-effort", "--log-level", "debug", "--", "/bin/true"]);
        let mut c = Command::new("strace");
        c.args(["-f", "-e", "trace=open_tree", "-o"]).arg(&trace);
        if through_nouserns {
            c.arg(nouserns());
        }
        let mut c = through(c, &inner);
        c.stdin(std::fs::File::open("/dev/null").unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let (code, _, err) = output_within_stdio(c);
        assert_eq!(code, Some(0), "{err}");
        let t = std::fs::read_to_string(&trace).unwrap();
        (t.matches("open_tree(0,").count(), err)
    };
    let (n, err) = copies(true);
    assert!(err.contains("namespace-free"), "{err}");
    assert_eq!(n, 0, "{err}");
    let (n, err) = copies(false);
    assert_eq!(n, 1, "{err}");
}
