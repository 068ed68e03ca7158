//! The other commands and the refusals: dry-run (golden), check, profiles, doctor, fail
//! closed, config trust.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(30);

fn mcpcell_cmd(args: &[&str]) -> Command {
    let mut c = Command::new(mcpcell());
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("XDG_STATE_HOME", state_home())
        .args(args);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `--dry-run` on a profile that names only paths the test controls, so the output is the
/// same on every machine once the temporary directory and kernel details are replaced.
#[test]
fn dry_run_matches_the_golden_file() {
    if !require(
        landlock_abi() >= 6,
        "Landlock ABI 6 (the golden file shows scopes)",
    ) {
        return;
    }
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let r = root.to_str().unwrap();
    std::fs::create_dir_all(root.join("data/.secret")).unwrap();
    std::fs::create_dir_all(root.join("work")).unwrap();
    std::fs::create_dir_all(root.join("home")).unwrap();
    std::fs::copy(probe(), root.join("server")).unwrap();
    let prof = profile(
        &root,
        "golden",
        "description: A profile for the golden test.\n\
filesystem:\n  read: [\"${PROFILE_DIR}/data\", \"${PROFILE_DIR}/missing\"]\n  write: [\"${STATE_DIR}\"]\n  hide: [\"${PROFILE_DIR}/data/.secret\"]\n\
syscalls:\n  deny: [\"@default\", \"@swap\"]\n  allow: [personality]\n  on_violation: kill\n\
env:\n  pass: [LANG]\n  set:\n    MODE: golden\n\
limits:\n  open_files: 256\n  core_dumps: false\n  memory: 512M\n",
    );
    let out = output_within(
        {
            let mut c = Command::new(mcpcell());
            c.current_dir(root.join("work"))
                .env_clear()
                .env("PATH", "/usr/bin:/bin")
                .env("HOME", root.join("home"))
                .env("LANG", "C.UTF-8")
                .env("XDG_STATE_HOME", root.join("state"))
                .args([
                    "run",
                    "--dry-run",
                    "-p",
                    prof.to_str().unwrap(),
                    "--allow-write",
                    ".",
                ])
                .arg("--")
                .arg(root.join("server"))
                .args(["exit", "0"]);
            c
        },
        T,
    );
    // A user without a memory cgroup is told that limits.memory would not be enforced, and
    // the dry run exits as the launch would.
    let memory_gap = text(&out.stdout).contains("\n  - limits.memory: ");
    assert_eq!(
        out.status.code(),
        Some(if memory_gap { 125 } else { 0 }),
        "{}",
        text(&out.stderr)
    );
    let mut got = text(&out.stdout).replace(r, "<DIR>");
    let kernel = nix::sys::utsname::uname()
        .unwrap()
        .release()
        .to_string_lossy()
        .into_owned();
    got = got.replace(&kernel, "<KERNEL>");
    got = got.replace(
        &format!("landlock: ABI {}", landlock_abi()),
        "landlock: ABI <N>",
    );
    got = got
        .lines()
        .map(|l| {
            if l.starts_with("  handled: ") {
                "  handled: <ACCESS RIGHTS AT THIS ABI>"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    // The server's id ends in a hash of the command's path, which is under <DIR>.
    let mut from = 0;
    while let Some(at) = got[from..].find("server-exit-") {
        let start = from + at + "server-exit-".len();
        got.replace_range(start..start + 16, "<HASH>");
        from = start;
    }
    // Root creates namespaces directly; others need a user namespace first.
    got = got.replace("namespaces: user, mount,", "namespaces: mount,");
    // What enforces limits.memory depends on the machine and user (tests/limits.rs checks
    // both outcomes): a memory cgroup somewhere, or for a user without one, a gap that
    // --dry-run reports and RLIMIT_DATA.
    let memory = "  memory: 536870912 bytes for the whole sandbox, by ";
    got = got
        .lines()
        .map(|l| match l.strip_prefix(memory) {
            Some(_) => format!("{memory}<MEMORY CGROUP OR RLIMIT_DATA>"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    got = got.replace(", memory_per_process=536870912", "");
    if let Some(start) = got.find("NOT ENFORCED here (<KERNEL>):\n  - limits.memory: ") {
        let end = got[start..].find(")\n").map(|e| start + e + 2).unwrap();
        if got[end..].trim().is_empty() || !got[end..].starts_with("  - ") {
            got.replace_range(
                start..end,
                "everything above is enforced on this kernel (<KERNEL>).\n",
            );
        }
    }
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/dry-run.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden_path).unwrap();
    assert_eq!(
        got, want,
        "dry-run output changed; rerun with UPDATE_GOLDEN=1 if intended"
    );
}

#[test]
fn dry_run_json_is_a_stable_document() {
    let out = output_within(
        mcpcell_cmd(&["run", "--dry-run", "--format", "json", "--", "true"]),
        T,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["enforceable"], true);
    let plan = &v["plan"];
    assert_eq!(plan["profile"]["name"], "default");
    assert_eq!(plan["network"]["mode"], "none");
    assert!(plan["command"]["path"].as_str().unwrap().ends_with("/true"));
    assert!(
        plan["seccomp"]["denied"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "ptrace")
    );
    assert!(
        plan["filesystem"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["path"] == "/tmp" && r["placement"] == "private")
    );
    // Environment values never appear, only names.
    assert!(
        plan["env"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("value").is_none())
    );
}

#[test]
fn dry_run_starts_nothing() {
    let d = scratch();
    let marker = d.path().join("ran");
    let out = output_within(
        mcpcell_cmd(&[
            "run",
            "--dry-run",
            "--allow-write",
            d.path().to_str().unwrap(),
            "--",
            "touch",
            marker.to_str().unwrap(),
        ]),
        T,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(!marker.exists());
}

#[test]
fn check_reports_every_error_with_its_position() {
    let d = scratch();
    let bad = profile(
        d.path(),
        "bad",
        "filesystem:\n  read: [\"${HOEM}/x\"]\nsyscalls:\n  deny: [ptrce]\nnetwork:\n  mode: host\n  connect: [70000]\n",
    );
    let good = profile(d.path(), "good", "extends: [node]\n");
    let out = output_within(
        mcpcell_cmd(&["check", bad.to_str().unwrap(), good.to_str().unwrap()]),
        T,
    );
    assert_eq!(out.status.code(), Some(1));
    let b = bad.to_str().unwrap();
    let o = text(&out.stdout);
    assert!(
        o.contains(&format!(
            "{b}:7:13: network.connect[0]: port 70000 is out of range"
        )),
        "{o}"
    );
    assert!(
        o.contains(&format!(
            "{b}:2:10: filesystem.read[0]: unknown variable ${{HOEM}}"
        )),
        "{o}"
    );
    assert!(
        o.contains(&format!(
            "{b}:4:10: syscalls.deny[0]: unknown syscall `ptrce` on x86_64 (did you mean `ptrace`?)"
        )),
        "{o}"
    );
    assert!(o.contains(&format!("{b}: 3 errors")), "{o}");
    assert!(
        o.contains(&format!(
            "{}: ok (built-in:default <- built-in:node <- {})",
            good.display(),
            good.display()
        )),
        "{o}"
    );
    let out = output_within(mcpcell_cmd(&["check", good.to_str().unwrap()]), T);
    assert_eq!(out.status.code(), Some(0));
}

/// An invalid profile stops `run` with one line per diagnostic (each escaped on its own);
/// a profile that cannot be read is one line, the cause after a colon, in `check` too.
#[test]
fn errors_print_once_one_diagnostic_per_line() {
    let d = scratch();
    // The second entry carries a line break and an escape sequence from the profile.
    let bad = profile(
        d.path(),
        "bad",
        "filesystem:\n  read: [\"${HOEM}/x\"]\nsyscalls:\n  deny: [\"ptr\\nmcpcell: error: forged\\e[2J\"]\n",
    );
    let b = bad.to_str().unwrap();
    let out = output_within(mcpcell_cmd(&["run", "-p", b, "--", "/bin/true"]), T);
    assert_eq!(out.status.code(), Some(125));
    let e = text(&out.stderr);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with(&format!(
            "mcpcell: error: {b}:2:10: filesystem.read[0]: unknown variable ${{HOEM}}"
        )),
        "{e}"
    );
    assert!(
        lines[1].starts_with(&format!("{b}:4:10: syscalls.deny[0]: unknown syscall")),
        "{e}"
    );
    // The profile's line break reached the message and was shown escaped, not obeyed.
    assert!(
        lines[1].contains(r"ptr\x0amcpcell: error: forged\x1b[2J"),
        "{e}"
    );
    assert!(!e.contains('\x1b'), "{e}");

    let missing = d.path().join("missing.yaml");
    let m = missing.to_str().unwrap();
    let out = output_within(mcpcell_cmd(&["check", m]), T);
    // A profile that cannot be read is a usage error (125), not an error in a profile (1).
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stdout),
        format!(
            "failed to read profile {m}: No such file or directory (os error 2)\n{m}: 1 error\n"
        )
    );
    let out = output_within(mcpcell_cmd(&["run", "-p", m, "--", "/bin/true"]), T);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        format!(
            "mcpcell: error: failed to read profile {m}: No such file or directory (os error 2)\n"
        )
    );
    // A file that is there but is no text: an error in the profile (1).
    let binary = d.path().join("binary.yaml");
    std::fs::write(&binary, b"a: \xff\xfe\n").unwrap();
    let out = output_within(mcpcell_cmd(&["check", binary.to_str().unwrap()]), T);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("valid UTF-8"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn profiles_list_and_show() {
    let out = output_within(mcpcell_cmd(&["profiles", "list"]), T);
    assert_eq!(out.status.code(), Some(0));
    let o = text(&out.stdout);
    for name in ["default", "minimal", "node", "python"] {
        assert!(
            o.lines()
                .any(|l| l.starts_with(name) && l.contains("built-in")),
            "{o}"
        );
    }
    let out = output_within(mcpcell_cmd(&["profiles", "show", "node"]), T);
    assert_eq!(out.status.code(), Some(0));
    let o = text(&out.stdout);
    assert!(o.starts_with("# node: built-in:node\n"));
    assert!(o.contains("programs: [node, npm, npx]"));
    let out = output_within(mcpcell_cmd(&["profiles", "show", "nope"]), T);
    assert_eq!(
        out.status.code(),
        Some(125),
        "an unknown profile is a usage error"
    );
    assert!(text(&out.stderr).contains("no profile named `nope`"));
}

#[test]
fn doctor_reports_this_kernel() {
    let out = output_within(mcpcell_cmd(&["doctor"]), T);
    let o = text(&out.stdout);
    assert!(
        o.contains(&format!(
            "[x] landlock filesystem rules (Landlock ABI {})",
            landlock_abi()
        )) || landlock_abi() == 0,
        "{o}"
    );
    assert!(o.contains("namespaces:"), "{o}");
    let out = output_within(mcpcell_cmd(&["doctor", "--format", "json"]), T);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kernel"]["landlock_abi"], landlock_abi());
}

#[test]
fn without_landlock_it_fails_closed_unless_best_effort() {
    let d = scratch();
    let secret = d.path().join("secret");
    write(&secret, "s3cret");
    let p = probe();
    let m = mcpcell();
    // The probe's `without landlock` hides Landlock from mcpcell with a seccomp filter.
    let run_probe = |extra: &[&str], what: &[&str]| {
        let mut c = Command::new(&p);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("XDG_STATE_HOME", state_home());
        c.args(["without", "landlock"])
            .arg(&m)
            .arg("run")
            .args(extra);
        c.arg("--").arg(&p).args(what);
        output_within(c, T)
    };
    let run = |extra: &[&str]| run_probe(extra, &["read", secret.to_str().unwrap()]);
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        out.stdout.is_empty(),
        "the server ran: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("this profile cannot be fully enforced here, so the server was not started"),
        "{err}"
    );
    assert!(err.contains("Landlock filesystem rules"), "{err}");
    assert!(err.contains("--best-effort"), "{err}");
    let out = run(&["--best-effort"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("--best-effort: NOT enforced: Landlock filesystem rules"),
        "{err}"
    );
    // Without Landlock the sandbox's view still holds only the granted paths: the file is
    // not there at all.
    assert_eq!(
        text(&out.stdout).trim(),
        "ERR ENOENT No such file or directory"
    );
    // Honest degradation: what Landlock alone refused is allowed now. The root of the view
    // (a tmpfs of mcpcell's making, with only the granted paths in it) can be listed.
    let out = run_probe(&[], &["ls", "/"]);
    assert_eq!(out.status.code(), Some(125));
    let out = run_probe(&["--best-effort"], &["ls", "/"]);
    assert!(
        text(&out.stdout).starts_with("OK "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn without_namespaces_it_fails_closed_unless_best_effort() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let p = probe();
    let m = mcpcell();
    let run = |extra: &[&str]| {
        let mut c = Command::new(&p);
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("XDG_STATE_HOME", state_home());
        c.args(["without", "userns"]).arg(&m).arg("run").args(extra);
        c.arg("--").arg(&p).args(["tcp", "127.0.0.1", &port, "hi"]);
        output_within(c, T)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("the namespace-free tier cannot keep every promise"),
        "{err}"
    );
    assert!(err.contains("--best-effort accepts these losses"), "{err}");
    // Accepting the losses does not open the network: the tier refuses inet sockets
    // (tests/tier.rs has the rest).
    let out = run(&["--best-effort"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("--best-effort: NOT enforced without namespaces"),
        "{err}"
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "ERR EPERM Operation not permitted",
        "{err}"
    );
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the server reached the host");
}

#[test]
fn a_profile_inside_a_writable_grant_is_refused() {
    let d = scratch();
    let dir = d.path().canonicalize().unwrap();
    let prof = profile(
        &dir,
        "selfish",
        &format!(
            "extends: [default]\nfilesystem:\n  write: [\"{}\"]\n",
            dir.display()
        ),
    );
    let out = output_within(
        mcpcell_cmd(&["run", "-p", prof.to_str().unwrap(), "--", "true"]),
        T,
    );
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "profile {} lies inside {}",
            prof.display(),
            dir.display()
        )),
        "{err}"
    );
    // The same through the command line, and through a base profile.
    let base = profile(&dir, "base", "extends: [default]\n");
    let out = output_within(
        mcpcell_cmd(&[
            "run",
            "-p",
            base.to_str().unwrap(),
            "--allow-write",
            dir.to_str().unwrap(),
            "--",
            "true",
        ]),
        T,
    );
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn proxy_mode_dry_run_shows_the_allowlist() {
    let d = scratch();
    let prof = profile(
        d.path(),
        "proxied",
        "network:\n  mode: proxy\n  allow: [example.com, \"*.github.com:443\"]\n  allow_private: [10.0.0.0/8]\n",
    );
    let out = output_within(
        mcpcell_cmd(&[
            "run",
            "--dry-run",
            "-p",
            prof.to_str().unwrap(),
            "--allow-host",
            "api.test:8443",
            "--",
            "true",
        ]),
        T,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let o = text(&out.stdout);
    assert!(
        o.contains(
            "  allow: example.com, *.github.com:443, api.test:8443 (without a port: 443 and 80)"
        ),
        "{o}"
    );
    assert!(o.contains("  private addresses allowed: 10.0.0.0/8"), "{o}");
    assert!(o.contains("transparent ports 80, 443, 8443"), "{o}");
    assert!(
        o.contains("HTTPS_PROXY from set (network mode proxy)"),
        "{o}"
    );
    // --allow-host is only for proxy mode, and is checked like a profile entry.
    let out = output_within(
        mcpcell_cmd(&["run", "--allow-host", "example.com", "--", "true"]),
        T,
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("--allow-host only applies in network mode `proxy`"));
    let out = output_within(
        mcpcell_cmd(&[
            "run",
            "-p",
            prof.to_str().unwrap(),
            "--allow-host",
            "bad host",
            "--",
            "true",
        ]),
        T,
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("--allow-host `bad host`: `bad host` is not a valid host name"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn required_paths_must_exist() {
    let d = scratch();
    let prof = profile(
        d.path(),
        "req",
        "extends: [default]\nfilesystem:\n  read: [\"!/nonexistent/needed\"]\n",
    );
    let out = output_within(
        mcpcell_cmd(&["run", "-p", prof.to_str().unwrap(), "--", "true"]),
        T,
    );
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:10 (filesystem.read[0]): `/nonexistent/needed` does not exist, and the profile marks it as required (a leading `!`)", prof.display())),
        "{err}"
    );
}

/// The binary's own relocations are packed (`DT_RELR`, build.rs): a static-pie binary reads
/// its relocation table at every start, and as `RELA` it was 151 KB of the launch's peak
/// memory. Built with glibc 2.36 or later (which applies packed relocations) unless
/// `MCPCELL_NO_RELR` was set; read from the ELF section headers of the binary under test
/// (`MCPCELL_BIN` when the tests run as another user).
#[test]
fn the_binary_carries_packed_relocations() {
    let glibc = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    let mut v = glibc
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let new_enough = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (2, 36);
    if !new_enough || std::env::var_os("MCPCELL_NO_RELR").is_some() || !cfg!(target_arch = "x86_64")
    {
        // The build did not ask for them: nothing to check.
        eprintln!("SKIPPED: glibc before 2.36, MCPCELL_NO_RELR or another architecture");
        return;
    }
    let elf = std::fs::read(mcpcell()).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let (shoff, shentsize, shnum) = (u64_at(0x28) as usize, u16_at(0x3A), u16_at(0x3C));
    let (mut relr, mut rela) = (0, 0);
    for i in 0..shnum {
        let h = shoff + i * shentsize;
        match u32_at(h + 4) {
            4 => rela += u64_at(h + 32),
            19 => relr += u64_at(h + 32),
            _ => {}
        }
    }
    assert!(relr > 0, "no packed relocations (.relr.dyn)");
    assert!(rela < 8192, "{rela} bytes of RELA relocations left");
}

/// A hostile profile nested 100,000 deep. serde_yaml's scanner takes time growing with the
/// square of the nesting (73 s for this one before it said a word), and mcpcell runs without
/// Rust's stack-overflow message (src/main.rs): the nesting is checked first
/// (`profile::location::screen`), and the profile is an error naming its file and line
/// at once (well within the harness's limit of 30 s).
#[test]
fn a_profile_nested_too_deep_is_an_error_said_at_once() {
    let dir = scratch();
    let deep = |open: &str, inner: &str, close: &str| {
        format!("{}{inner}{}", open.repeat(100_000), close.repeat(100_000))
    };
    for (name, yaml, line) in [
        ("seq", format!("description: {}\n", deep("[", "", "]")), 1),
        (
            "map",
            format!("env:\n  set: {}\n", deep("{a: ", "1", "}")),
            2,
        ),
    ] {
        let path = profile(dir.path(), name, &yaml);
        let at = format!("{}:{line}:", path.display());
        for args in [
            vec!["check", path.to_str().unwrap()],
            vec!["run", "-p", path.to_str().unwrap(), "--", "/bin/true"],
        ] {
            let out = output_within(mcpcell_cmd(&args), T);
            // `check` lists its findings on stdout; `run` says why it stops on stderr.
            let said = text(&out.stdout) + &text(&out.stderr);
            let code = if args[0] == "check" { 1 } else { 125 };
            assert_eq!(out.status.code(), Some(code), "{args:?}: {said}");
            assert!(said.contains(&at), "{said}");
            assert!(said.contains("nested more than 128 deep"), "{said}");
        }
    }
}

/// A hostile profile's long key, path or value does not fill the terminal: `check` and `run`
/// show each long word of a message clipped in its middle, with the line and both ends.
#[test]
fn a_profile_s_long_key_or_path_is_shown_clipped() {
    let dir = scratch();
    // YAML keeps a plain key to 1024 characters; a value has no bound.
    let key = format!("head{}tail", "k".repeat(1_000));
    let value = format!("head{}tail", "k".repeat(40_000));
    for (name, yaml) in [
        ("key", format!("filesystem:\n  {key}: [/tmp]\n")),
        ("path", format!("filesystem:\n  read: [relative/{value}]\n")),
        ("mode", format!("network:\n  mode: {value}\n")),
        ("type", format!("filesystem:\n  {value}\n")),
    ] {
        let path = profile(dir.path(), name, &yaml);
        for args in [
            vec!["check", path.to_str().unwrap()],
            vec!["run", "-p", path.to_str().unwrap(), "--", "/bin/true"],
        ] {
            let out = output_within(mcpcell_cmd(&args), T);
            let said = text(&out.stdout) + &text(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{args:?}: {said}");
            assert!(said.contains(&format!("{}:", path.display())), "{said}");
            assert!(said.contains("characters]…kkk"), "{args:?}: {said}");
            assert!(said.contains("kkktail"), "{args:?}: {said}");
            assert!(said.len() < 4000, "{name} {args:?}: {} bytes", said.len());
        }
    }
}

/// A grant hidden behind a character YAML 1.1 (mcpcell's parser) reads as a line break and
/// editors and `cat` show as none: `read: [/tmp] # a comment<NEL>  write: [/opt]` looks like
/// one commented line, and the build before this check granted /opt for writing. Refused,
/// naming the line and column, by `check` and by `run`; so are aliases that expand a small
/// file to hundreds of megabytes.
#[test]
fn a_profile_that_reads_other_than_it_shows_is_refused() {
    let dir = scratch();
    let hidden = profile(
        dir.path(),
        "hidden",
        "extends: [default]\nfilesystem:\n  read: [/tmp] # a comment\u{85}  write: [/opt]\n",
    );
    let bomb = profile(
        dir.path(),
        "bomb",
        &format!(
            "extends: [default]\nfilesystem:\n  read: [&s /{}, {}]\n",
            "a".repeat(100 * 1024),
            vec!["*s"; 5000].join(", ")
        ),
    );
    for (path, at, what) in [
        (&hidden, ":3:27:", "U+0085"),
        (&bomb, ":3:", "expand it past 1024 KiB"),
    ] {
        for args in [
            vec!["check", path.to_str().unwrap()],
            vec!["run", "-p", path.to_str().unwrap(), "--", "/bin/true"],
        ] {
            let out = output_within(mcpcell_cmd(&args), T);
            let said = text(&out.stdout) + &text(&out.stderr);
            let code = if args[0] == "check" { 1 } else { 125 };
            assert_eq!(out.status.code(), Some(code), "{args:?}: {said}");
            assert!(said.contains(&format!("{}{at}", path.display())), "{said}");
            assert!(said.contains(what), "{said}");
        }
    }
}

/// A command's output that cannot be written whole (a full disk) is an error, exit 125 and
/// said on stderr, so that a truncated export or schema is never taken for a whole one; a
/// reader that stops early (`| head`) is not, as for any Unix tool.
#[test]
fn output_that_cannot_be_written_is_an_error_a_reader_gone_is_not() {
    for args in [
        vec!["schema"],
        vec!["export", "seccomp", "-p", "default"],
        vec!["profiles", "list"],
        vec!["completions", "bash"],
        vec!["doctor"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = mcpcell_cmd(&args).stdout(full).output().unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(
            err.contains("could not write the output"),
            "{args:?}: {err}"
        );

        let mut child = mcpcell_cmd(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(!err.contains("mcpcell: error"), "{args:?}: {err}");
    }
}

/// A grace period past what a deadline can hold was a panic once the server was asked to
/// stop; now it is refused with the option's range, before anything starts.
#[test]
fn a_stop_timeout_beyond_an_hour_is_a_usage_error() {
    for t in ["3601", "18446744073709551615"] {
        let out = output_within(
            mcpcell_cmd(&[
                "run",
                "--stop-timeout",
                t,
                "-p",
                "minimal",
                "--",
                "/bin/true",
            ]),
            T,
        );
        assert_eq!(out.status.code(), Some(125), "{t}");
        let e = text(&out.stderr);
        assert!(
            e.contains("--stop-timeout") && e.contains("0..=3600"),
            "{e}"
        );
    }
    let out = output_within(
        mcpcell_cmd(&[
            "run",
            "--stop-timeout",
            "3600",
            "-p",
            "minimal",
            "--",
            "/bin/true",
        ]),
        T,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// A value in a report (a profile's words, a path, the working directory, a profile's
/// name) stays on its line: it cannot add a line that reads like a grant or a verdict.
#[test]
fn report_values_cannot_forge_lines() {
    let d = scratch();
    let cwd = d.path().join("w\nFORGED cwd");
    std::fs::create_dir(&cwd).unwrap();
    let p = profile(
        d.path(),
        "hostile",
        "description: \"x\\nFORGED description\"\nfilesystem:\n  read: [\"/nowhere\\nFORGED read\"]\n  hide: [\"/nowhere\\nFORGED hide\"]\n",
    );
    let p = p.to_str().unwrap();
    let runs: Vec<Vec<&str>> = vec![
        vec!["run", "--dry-run", "-p", p, "--", "/bin/true"],
        vec!["explain", "-p", p, "/nowhere\nFORGED target"],
        vec!["check", p, "/nowhere\nFORGED name.yaml"],
    ];
    for args in runs {
        let mut c = mcpcell_cmd(&args);
        c.current_dir(&cwd);
        let out = output_within(c, T);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            all.contains("FORGED"),
            "{args:?}: the value is not shown at all: {all}"
        );
        assert!(
            !all.lines().any(|l| l.starts_with("FORGED")),
            "{args:?}: {all}"
        );
    }
}
