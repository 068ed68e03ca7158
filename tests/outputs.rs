//! mcpcell's own outputs as a channel: what the server or a client config controls (process
//! names, refused paths, server entries) is written into a learned profile, a suggested
//! command and the terminal only escaped. Each attack is carried out for real and judged from
//! outside: the learned profile is loaded again and its grants compared, the suggested
//! command is pasted into a shell, the terminal output is searched for control bytes.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(60);

/// Raw control characters a terminal acts on (line feed and tab excepted).
fn raw_controls(b: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(b)
        .chars()
        .filter(|&c| c.is_control() && c != '\n' && c != '\t')
        .map(|c| c as u32 as u8)
        .collect()
}

/// The paths the learned profile itself adds to the plan `run --dry-run` builds with it.
fn grants_from(profile: &Path, home: &Path) -> (Vec<String>, String) {
    let p = probe();
    let mut cmd = run_cmd(&[
        "-p",
        profile.to_str().unwrap(),
        "--dry-run",
        "--format",
        "json",
        "--",
        p.to_str().unwrap(),
    ]);
    cmd.env("HOME", home);
    let o = output_within(cmd, T);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "dry run with the learned profile: {e}: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let name = profile.file_stem().unwrap().to_str().unwrap();
    let mut out: Vec<String> = v["plan"]["filesystem"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["from"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f.as_str().unwrap().contains(name))
        })
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out.dedup();
    let mode = v["plan"]["network"]["mode"].as_str().unwrap().to_string();
    (out, mode)
}

#[test]
fn a_hostile_process_name_cannot_write_grants_into_the_learned_profile() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    // Each name would, spliced into a comment as-is, end the comment and add `/` to the list
    // the comment precedes (YAML breaks lines at CR and NEL as well as LF), or reopen a key.
    let names: [&[u8]; 4] = [
        b"x\r    - /\r#",
        b"x\n    - /\n#",
        b"#\xc2\x85    - /\xc2\x85#",
        b"a: \"b' #\x1b]52;",
    ];
    for name in names {
        let d = scratch();
        let home = d.path().join("home");
        let data = d.path().join("data");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        write(&data.join("a"), "a");
        write(&data.join("secret"), "s");
        let out = d.path().join("learned-hostile.yaml");
        let file = data.join("a");
        let p = probe();
        let mut cmd = mcpcell_cmd(
            "learn",
            &["-p", "default", "-o", out.to_str().unwrap(), "--"],
        );
        cmd.arg(&p)
            .arg("named")
            .arg(OsStr::from_bytes(name))
            .arg("read")
            .arg(&file);
        cmd.env("HOME", &home);
        let o = output_within(cmd, T);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{name:?}: {stderr}");
        let text = std::fs::read(&out).unwrap();
        assert!(raw_controls(&text).is_empty(), "{name:?}: {:?}", text);
        // The name is there, escaped, saying what used the grant.
        assert!(
            String::from_utf8_lossy(&text).contains("(openat)"),
            "{}",
            String::from_utf8_lossy(&text)
        );

        let check = output_within(mcpcell_cmd("check", &[out.to_str().unwrap()]), T);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
        let (grants, mode) = grants_from(&out, &home);
        assert_eq!(
            grants,
            [file.display().to_string()],
            "{name:?}: {}",
            String::from_utf8_lossy(&text)
        );
        assert_eq!(mode, "none");
        // And from inside: the file beside the one used stays out of reach.
        let mut run = run_cmd(&["-p", out.to_str().unwrap(), "--"]);
        run.arg(&p)
            .arg("read")
            .arg(data.join("secret"))
            .env("HOME", &home);
        let line = String::from_utf8_lossy(&output_within(run, T).stdout).into_owned();
        assert_denied(line.trim(), "a file the learned profile does not name");
    }
}

/// The `mcpcell explain` commands the hints suggest.
fn suggested(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with("mcpcell: hint: "))
        .filter_map(|l| l.split_once("check with: ").map(|(_, c)| c.to_string()))
        .collect()
}

/// `sh -c COMMAND` with this mcpcell first on PATH, as a user would paste it.
fn paste(command: &str) -> std::process::Output {
    let dir = mcpcell().parent().unwrap().to_path_buf();
    let bin = scratch();
    // The binary under test may not be called `mcpcell`; the command names it so.
    std::os::unix::fs::symlink(mcpcell(), bin.path().join("mcpcell")).unwrap();
    let path = format!("{}:{}:/usr/bin:/bin", bin.path().display(), dir.display());
    output_within(
        {
            let mut c = Command::new("sh");
            c.arg("-c").arg(command).env("PATH", path);
            c
        },
        T,
    )
}

#[test]
fn a_hint_for_a_hostile_path_runs_nothing_when_pasted() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let d = scratch();
    let mark = d.path().join("pwned");
    let hostile = format!("/x; touch {} #'", mark.display());
    let message = format!(
        "Error: EACCES: permission denied, open \"{hostile}\"\nError: EACCES: permission denied, open \"/y\x1b]52;c;aGk=\x07\x1b[2K\""
    );
    let o = output_within(
        run_cmd(&[
            "--",
            "sh",
            "-c",
            "printf '%s\\n' \"$1\" >&2; exit 1",
            "server",
            &message,
        ]),
        T,
    );
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let hints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mcpcell: hint: "))
        .collect();
    assert_eq!(hints.len(), 2, "{stderr}");
    for h in &hints {
        assert!(raw_controls(h.as_bytes()).is_empty(), "{h:?}");
    }
    let commands = suggested(&stderr);
    let cmd = commands
        .iter()
        .find(|c| c.contains("pwned"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let pasted = paste(cmd);
    assert!(
        !mark.exists(),
        "pasting the suggested command ran the server's payload: {cmd}"
    );
    // It is a real explain of that path: a denial (1), and the path it names is the one
    // the server reported.
    assert_eq!(
        pasted.status.code(),
        Some(1),
        "{cmd}: {}",
        String::from_utf8_lossy(&pasted.stderr)
    );
    assert!(
        String::from_utf8_lossy(&pasted.stdout).contains(&hostile),
        "{}",
        String::from_utf8_lossy(&pasted.stdout)
    );

    // Control: the same path spliced in unquoted does run the payload, so the check above
    // would have seen it.
    paste(&format!("mcpcell explain -p default {hostile}"));
    assert!(mark.exists(), "the control did not run the payload");
}

#[test]
fn wrap_shows_a_hostile_config_escaped_and_flags_weakened_entries() {
    let d = scratch();
    let home = d.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let launcher = mcpcell().canonicalize().unwrap();
    let config = d.path().join("mcp.json");
    let text = format!(
        r#"{{
  "mcpServers": {{
    "evil\u001b]52;c;cm0gLXJmIH4=\u0007": {{ "command": "npx\u001b[2K\r", "args": ["-y", "pkg\u001b[1A"] }},
    "weak": {{ "command": "{}", "args": ["run", "--best-effort", "-p", "/tmp/x.yaml", "--", "npx", "-y", "other"] }},
    "fine": {{ "command": "{}", "args": ["run", "-p", "node", "--", "node", "server.js"] }},
    "nodash": {{ "command": "{}", "args": ["run", "--best-effort", "npx", "-y", "other"] }}
  }}
}}
"#,
        launcher.display(),
        launcher.display(),
        launcher.display()
    );
    std::fs::write(&config, &text).unwrap();
    // The input is real: the names a JSON parser reads hold the raw escape sequences.
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        parsed["mcpServers"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains('\x1b'))
    );
    let mut cmd = mcpcell_cmd("wrap", &[config.to_str().unwrap()]);
    cmd.env("HOME", &home);
    let o = output_within(cmd, T);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(raw_controls(&o.stderr).is_empty(), "{stderr:?}");
    assert!(raw_controls(&o.stdout).is_empty(), "{:?}", o.stdout);
    assert!(
        stderr.contains(r"evil\x1b]52;c;cm0gLXJmIH4=\x07"),
        "{stderr}"
    );
    let weak: Vec<&str> = stderr.lines().filter(|l| l.contains("weak")).collect();
    assert!(
        weak.iter().any(|l| l.contains("WEAKENED")
            && l.contains("--best-effort")
            && l.contains("/tmp/x.yaml")),
        "{stderr}"
    );
    assert!(
        stderr.contains("fine: already wrapped (profile `node`)\n"),
        "{stderr}"
    );
    // mcpcell without `--` is read as `run` reads it: already wrapped, its weakening
    // named, and not wrapped a second time.
    assert!(
        stderr.contains("nodash: already wrapped (profile `default`), but WEAKENED: --best-effort"),
        "{stderr}"
    );
    let diff = String::from_utf8_lossy(&o.stdout);
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("pkg\\u001b[1A")),
        "the plain entry is wrapped: {diff}"
    );
    assert!(
        !diff
            .lines()
            .any(|l| (l.starts_with('+') || l.starts_with('-')) && l.contains("nodash")),
        "{diff}"
    );

    // Errors that list the config's names escape them too, line breaks included.
    let forged = d.path().join("forged.json");
    std::fs::write(
        &forged,
        r#"{"mcpServers": {"a\nmcpcell: wrote nothing\r\u001b[2K": {"command": "npx"}}}"#,
    )
    .unwrap();
    let mut cmd = mcpcell_cmd(
        "wrap",
        &[forged.to_str().unwrap(), "--server", "no-such-server"],
    );
    cmd.env("HOME", &home);
    let o = output_within(cmd, T);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "{stderr}");
    assert!(raw_controls(&o.stderr).is_empty(), "{stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(r"a\x0amcpcell: wrote nothing"), "{stderr}");
}
