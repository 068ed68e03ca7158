//! A server no built-in profile knows, run straight from its registry (`npx -y`, `npm exec`,
//! `uvx`, ...): it gets the registry's base, which lets it fetch its package through the
//! egress proxy and reach nothing else.
//!
//! Needs the npm registry (the one network this project's machines reach) and the names
//! `allowed.mcpcell.test` on the host's loopback (`tests/run.sh` adds them to /etc/hosts).

mod common;

use std::net::{TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

const ALLOWED: &str = "allowed.mcpcell.test";

fn registry_and_names() -> bool {
    require(
        ("registry.npmjs.org", 443).to_socket_addrs().is_ok(),
        "the npm registry (DNS)",
    ) && require(
        (ALLOWED, 80)
            .to_socket_addrs()
            .map(|mut a| a.any(|s| s.ip().is_loopback()))
            .unwrap_or(false),
        "/etc/hosts entry for allowed.mcpcell.test (tests/run.sh adds it)",
    ) && require(which::which("npm").is_ok(), "npm")
}

/// A listener on the host's loopback that counts the connections it accepts.
fn listener() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            s.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    (port, seen)
}

/// `npm exec` fetches a package that is no built-in server (cowsay) and runs it; the
/// package's own code then tries the host, through the proxy and directly. Without
/// `--profile`, the `npx` base is chosen and said so on stderr, the package arrives through
/// the proxy, and the host's listener sees nothing. The control runs the same command under
/// a profile that also allows the host: the listener sees it, so the check can see a leak.
#[test]
fn an_unknown_npm_package_reaches_its_registry_and_nothing_else() {
    if !registry_and_names() {
        return;
    }
    let d = scratch();
    let (port, seen) = listener();
    let script = format!(
        "cowsay sandboxed; curl -sS -m 5 http://{ALLOWED}:{port}/; curl -sS -m 5 --noproxy '*' http://127.0.0.1:{port}/; exit 0"
    );
    let run = |extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend([
            "npm",
            "exec",
            "--yes",
            "--package=cowsay@1.6.0",
            "-c",
            &script,
        ]);
        let mut c = run_cmd(&args);
        // A fresh state directory: the package really is downloaded.
        c.env("XDG_STATE_HOME", d.path().join("state"));
        for k in ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"] {
            if let Ok(v) = std::env::var(k) {
                c.env(k, v);
            }
        }
        let o = output_within(c, Duration::from_secs(240));
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };

    let (code, out, err) = run(&[]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("< sandboxed >"),
        "stdout: {out}\nstderr: {err}"
    );
    assert!(
        err.contains("using profile `npx`") && err.contains("`npm exec` fetches its package"),
        "{err}"
    );
    assert!(
        err.contains(&format!("refused {ALLOWED}:{port}")),
        "the proxy logs the refusal: {err}"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "the host was reached: {err}"
    );
    // Fetched into this server's own state directory, under the base's name.
    assert!(d.path().join("state/mcpcell/npx").is_dir());

    // The control: the same package, allowed to reach the host.
    let weak = profile(
        d.path(),
        "weak",
        &format!(
            "extends: [npx]\nnetwork:\n  allow: [\"{ALLOWED}:{port}\"]\n  allow_private: [127.0.0.0/8]\n"
        ),
    );
    let (code, out, err) = run(&["--profile", weak.to_str().unwrap()]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(
        seen.load(Ordering::SeqCst) >= 1,
        "the control did not reach the host, so the check above proves nothing: {err}"
    );
}

/// Which base each registry runner gets, without running it: the plan's network is the
/// registry through the proxy and nothing else.
#[test]
fn registry_runners_get_only_their_registry() {
    for (cmd, base, hosts) in [
        (
            vec!["npx", "-y", "some-unknown-mcp-server"],
            "npx",
            "registry.npmjs.org",
        ),
        (
            vec!["npm", "exec", "--yes", "some-unknown-mcp-server"],
            "npx",
            "registry.npmjs.org",
        ),
        (vec!["/bin/sh", "-c", "true"], "default", ""),
    ] {
        let mut args = vec!["--dry-run", "--format", "json"];
        args.extend(cmd.iter().copied());
        let o = output_within(run_cmd(&args), Duration::from_secs(30));
        let v: serde_json::Value = match serde_json::from_slice(&o.stdout) {
            Ok(v) => v,
            // npx itself is missing: the command cannot be planned.
            Err(_) if which::which(cmd[0]).is_err() => continue,
            Err(e) => panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)),
        };
        let plan = &v["plan"];
        assert_eq!(plan["profile"]["name"], base, "{cmd:?}");
        let allow: Vec<String> = plan["network"]["proxy"]["allow"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|h| h["host"]["value"].as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(allow.join(","), hosts, "{cmd:?}: {}", plan["network"]);
    }
}
