//! Network mode `proxy` (and `mcpcell proxy`) chained through an upstream HTTP proxy named in
//! mcpcell's environment: a real tinyproxy on the host's loopback, real clients (curl,
//! Python) inside the sandbox, and checks made from outside, in the upstream's own log.
//!
//! `allowed.mcpcell.test` and `other.mcpcell.test` resolve to 127.0.0.1 on the host
//! (`tests/run.sh` adds them to /etc/hosts), so the profiles allow 127.0.0.0/8; tinyproxy
//! resolves them the same way. Each test has its control: the same request succeeding
//! without the upstream or failing with it stopped, the upstream's log showing what reached
//! it, the secret scanner finding the secret where it is deliberately passed in.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use common::*;

const ALLOWED: &str = "allowed.mcpcell.test";
const OTHER: &str = "other.mcpcell.test";
const T: Duration = Duration::from_secs(60);
const USER: &str = "corpuser";
const PASSWORD: &str = "Upstream-S3cret-pw";

fn ready() -> bool {
    let ok = |n: &str| {
        (n, 80)
            .to_socket_addrs()
            .map(|mut a| a.any(|s| s.ip().is_loopback()))
            .unwrap_or(false)
    };
    let tinyproxy = Command::new("tinyproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    require(
        ok(ALLOWED) && ok(OTHER),
        "/etc/hosts entries for allowed.mcpcell.test and other.mcpcell.test (tests/run.sh adds them)",
    ) && require(tinyproxy, "tinyproxy (.ci/run installs it)")
}

/// An HTTP server on loopback that counts the requests it answers.
fn http_server() -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            // The whole request head: answering and closing before it is read would reset
            // the connection under a proxy still sending it.
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            h.fetch_add(1, Ordering::SeqCst);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello origin\n",
            );
        }
    });
    (port, hits)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real tinyproxy on 127.0.0.1, logging every request it gets.
struct Tinyproxy {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Tinyproxy {
    fn start(dir: &Path, auth: bool) -> Tinyproxy {
        let port = free_port();
        let log = dir.join(format!("tinyproxy-{port}.log"));
        let conf = dir.join(format!("tinyproxy-{port}.conf"));
        let mut text = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 32\nAllow 127.0.0.1\n",
            log.display()
        );
        if auth {
            text.push_str(&format!("BasicAuth {USER} {PASSWORD}\n"));
        }
        std::fs::write(&conf, text).unwrap();
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "tinyproxy did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Tinyproxy {
            child: Some(child),
            port,
            log,
        }
    }

    fn url(&self, creds: bool) -> String {
        match creds {
            true => format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", self.port),
            false => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// The request lines tinyproxy logged (`CONNECT host:port HTTP/1.1`, ...).
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split("]: Request (file descriptor ").nth(1))
            .filter_map(|l| l.split_once("): ").map(|(_, r)| r.to_string()))
            .collect()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A proxy-mode profile allowing `allow`, with 127.0.0.0/8 allowed as private when `private`.
fn proxy_profile(dir: &Path, name: &str, allow: &[String], private: bool) -> PathBuf {
    let allow: Vec<String> = allow.iter().map(|a| format!("\"{a}\"")).collect();
    let private = if private {
        "  allow_private: [127.0.0.0/8]\n"
    } else {
        ""
    };
    profile(
        dir,
        name,
        &format!(
            "extends: [default]\nnetwork:\n  mode: proxy\n  allow: [{}]\n{private}",
            allow.join(", ")
        ),
    )
}

/// `mcpcell run -p PROFILE --log-level LEVEL [OPTS] -- ARGS` with `env` added to mcpcell's
/// own environment; (code, stdout, stderr).
fn inside(
    dir: &Path,
    profile: &Path,
    env: &[(&str, &str)],
    opts: &[&str],
    args: &[&str],
) -> (i32, String, String) {
    let mut all = vec!["-p", profile.to_str().unwrap(), "--log-level", "debug"];
    all.extend_from_slice(opts);
    all.push("--");
    all.extend_from_slice(args);
    let mut c = run_cmd(&all);
    c.env("XDG_STATE_HOME", dir.join("state"));
    for (k, v) in env {
        c.env(k, v);
    }
    let out = output_within(c, T);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn curl(args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["curl", "-sS", "--max-time", "20"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn allowed_hosts_are_reached_only_through_the_upstream() {
    if !ready() {
        return;
    }
    let dir = readable_scratch();
    let (port, hits) = http_server();
    let mut up = Tinyproxy::start(dir.path(), false);
    let profile = proxy_profile(dir.path(), "chained", &[format!("{ALLOWED}:{port}")], true);
    let upstream = up.url(false);
    let env = [
        ("HTTPS_PROXY", upstream.as_str()),
        ("HTTP_PROXY", upstream.as_str()),
    ];
    let url = format!("http://{ALLOWED}:{port}/");
    let socks = "curl -sS --max-time 20 --proxy \"socks5h://${HTTP_PROXY#http://}\" \"$0\"";
    // A CONNECT tunnel, a plain http:// request and SOCKS5: each reaches the origin, and each
    // is a CONNECT in the upstream's log.
    for (what, args) in [
        ("CONNECT", curl(&["-p", &url])),
        ("plain HTTP", curl(&[&url])),
        (
            "SOCKS5",
            vec!["sh".into(), "-c".into(), socks.into(), url.clone()],
        ),
    ] {
        let before = up.requests().len();
        let (code, out, err) = inside(dir.path(), &profile, &env, &[], &strs(&args));
        assert_eq!((code, out.as_str()), (0, "hello origin\n"), "{what}: {err}");
        assert!(
            err.contains(&format!(
                "proxy: connected to {ALLOWED}:{port} through the upstream proxy 127.0.0.1:{}",
                up.port
            )),
            "{what}: {err}"
        );
        let seen = up.requests();
        assert_eq!(
            seen[before..],
            [format!("CONNECT {ALLOWED}:{port} HTTP/1.1")],
            "{what}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // Control: with the upstream stopped, the same request fails although the origin is up,
    // so the requests above went through it ...
    up.stop();
    let (code, _, err) = inside(
        dir.path(),
        &profile,
        &env,
        &[],
        &strs(&curl(&["-f", "-p", &url])),
    );
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "proxy: refused {ALLOWED}:{port}: connection failed: the upstream proxy 127.0.0.1:{}",
            up.port
        )),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    // ... and without the variables it goes direct.
    let (code, out, err) = inside(dir.path(), &profile, &[], &[], &strs(&curl(&["-p", &url])));
    assert_eq!((code, out.as_str()), (0, "hello origin\n"), "{err}");
    assert!(!err.contains("upstream"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

/// A `network.hosts` pin goes to the upstream as the pinned address and port; a pinned
/// address the profile does not allow is refused before it.
#[test]
fn a_pinned_name_goes_upstream_as_its_address() {
    if !ready() {
        return;
    }
    let dir = readable_scratch();
    let (port, hits) = http_server();
    let up = Tinyproxy::start(dir.path(), false);
    let upstream = up.url(false);
    let env = [("HTTPS_PROXY", upstream.as_str())];
    let yaml = |private: &str| {
        format!(
            "extends: [default]\nnetwork:\n  mode: proxy\n  allow: [\"pinned.invalid:443\"]\n  hosts: {{pinned.invalid: \"127.0.0.1:{port}\"}}\n{private}"
        )
    };
    let open = profile(
        dir.path(),
        "pinned",
        &yaml("  allow_private: [127.0.0.0/8]\n"),
    );
    let url = "http://pinned.invalid:443/";
    let (code, out, err) = inside(dir.path(), &open, &env, &[], &strs(&curl(&["-p", url])));
    assert_eq!((code, out.as_str()), (0, "hello origin\n"), "{err}");
    assert_eq!(
        up.requests(),
        [format!("CONNECT 127.0.0.1:{port} HTTP/1.1")]
    );
    // Without allow_private the pin's loopback address is refused, and nothing goes upstream.
    let strict = profile(dir.path(), "pinned-strict", &yaml(""));
    let (code, _, err) = inside(
        dir.path(),
        &strict,
        &env,
        &[],
        &strs(&curl(&["-f", "-p", url])),
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("non-public address 127.0.0.1"), "{err}");
    assert_eq!(up.requests().len(), 1);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn refused_hosts_never_reach_the_upstream() {
    if !ready() {
        return;
    }
    let dir = readable_scratch();
    let (port, hits) = http_server();
    let up = Tinyproxy::start(dir.path(), false);
    let upstream = up.url(false);
    let env = [
        ("HTTPS_PROXY", upstream.as_str()),
        ("HTTP_PROXY", upstream.as_str()),
    ];
    let profile = proxy_profile(dir.path(), "chained", &[format!("{ALLOWED}:{port}")], true);
    // Not on the allowlist: another name, another port of the allowed name, an address.
    for target in [
        format!("http://{OTHER}:{port}/"),
        format!("http://{ALLOWED}:{}/", port ^ 1),
        format!("http://127.0.0.1:{port}/"),
    ] {
        for tunnel in [true, false] {
            let mut args = vec!["-f"];
            if tunnel {
                args.push("-p");
            }
            args.push(&target);
            let (code, _, err) = inside(dir.path(), &profile, &env, &[], &strs(&curl(&args)));
            assert_ne!(code, 0, "{target}: {err}");
            // The address is refused by the transparent path: curl connects to it directly
            // (NO_PROXY inside names 127.0.0.1).
            assert!(
                err.contains("not in network.allow")
                    || err.contains("a direct connection to an address no allowed name"),
                "{target}: {err}"
            );
        }
    }
    // Allowed by name, but it resolves here to 127.0.0.1, which this profile does not allow:
    // refused before the upstream (which would resolve it the same way) is asked.
    let strict = proxy_profile(dir.path(), "strict", &[format!("{ALLOWED}:{port}")], false);
    let url = format!("http://{ALLOWED}:{port}/");
    let (code, _, err) = inside(
        dir.path(),
        &strict,
        &env,
        &[],
        &strs(&curl(&["-f", "-p", &url])),
    );
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("resolves to the non-public address 127.0.0.1"),
        "{err}"
    );
    assert_eq!(up.requests(), Vec::<String>::new());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // Control: the allowed name with the permissive profile does reach the upstream's log.
    let (code, _, err) = inside(dir.path(), &profile, &env, &[], &strs(&curl(&["-p", &url])));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        up.requests(),
        [format!("CONNECT {ALLOWED}:{port} HTTP/1.1")]
    );
}

#[test]
fn no_proxy_destinations_go_direct() {
    if !ready() {
        return;
    }
    let dir = readable_scratch();
    let (port, hits) = http_server();
    let up = Tinyproxy::start(dir.path(), false);
    let upstream = up.url(false);
    let profile = proxy_profile(
        dir.path(),
        "chained",
        &[format!("{ALLOWED}:{port}"), format!("{OTHER}:{port}")],
        true,
    );
    let env = [
        ("HTTPS_PROXY", upstream.as_str()),
        ("HTTP_PROXY", upstream.as_str()),
        ("NO_PROXY", "example.org, .mcpcell.test:1"),
        ("no_proxy", "localhost,.Other.MCPCELL.test"),
    ];
    // no_proxy (lower case first) names OTHER's domain: direct, the upstream never sees it.
    let url = format!("http://{OTHER}:{port}/");
    let (code, out, err) = inside(dir.path(), &profile, &env, &[], &strs(&curl(&["-p", &url])));
    assert_eq!((code, out.as_str()), (0, "hello origin\n"), "{err}");
    assert!(
        err.contains(&format!("proxy: connected to {OTHER}:{port}")),
        "{err}"
    );
    assert!(
        !err.contains(&format!("connected to {OTHER}:{port} through")),
        "{err}"
    );
    assert_eq!(up.requests(), Vec::<String>::new());
    // Control: a name NO_PROXY does not cover goes through the upstream.
    let url = format!("http://{ALLOWED}:{port}/");
    let (code, out, err) = inside(dir.path(), &profile, &env, &[], &strs(&curl(&["-p", &url])));
    assert_eq!((code, out.as_str()), (0, "hello origin\n"), "{err}");
    assert_eq!(
        up.requests(),
        [format!("CONNECT {ALLOWED}:{port} HTTP/1.1")]
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

/// A Python program run inside: looks for the upstream's secrets (given hex-encoded, so that
/// its own command line does not hold them) in its environment and in every environment and
/// command line under /proc it can read. Prints `FOUND where` or `CLEAN n`.
const SCANNER: &str = r#"
import os, sys
needles = [bytes.fromhex(h) for h in sys.argv[1:]]
found, scanned = [], 0
for k, v in os.environb.items():
    if any(n in k + b"=" + v for n in needles):
        found.append("env " + k.decode(errors="replace"))
for pid in os.listdir("/proc"):
    if not pid.isdigit() or pid == str(os.getpid()):
        continue
    for f in ("environ", "cmdline"):
        try:
            data = open("/proc/%s/%s" % (pid, f), "rb").read()
        except OSError:
            continue
        scanned += 1
        if any(n in data for n in needles):
            found.append("/proc/%s/%s" % (pid, f))
print("FOUND " + ", ".join(found) if found else "CLEAN %d" % scanned)
"#;

#[test]
fn credentials_reach_the_upstream_and_nothing_else() {
    if !ready() {
        return;
    }
    let dir = readable_scratch();
    let (port, hits) = http_server();
    let up = Tinyproxy::start(dir.path(), true);
    let with_creds = up.url(true);
    let profile = proxy_profile(dir.path(), "chained", &[format!("{ALLOWED}:{port}")], true);
    let url = format!("http://{ALLOWED}:{port}/");
    let token = {
        // Basic auth's base64 of USER:PASSWORD, as the upstream receives it.
        let out = Command::new("base64")
            .arg("-w0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(format!("{USER}:{PASSWORD}").as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let secrets = [
        PASSWORD.to_string(),
        token.clone(),
        format!("127.0.0.1:{}", up.port),
    ];
    let hex: Vec<String> = secrets
        .iter()
        .map(|s| s.bytes().map(|b| format!("{b:02x}")).collect())
        .collect();
    let env = [
        ("HTTPS_PROXY", with_creds.as_str()),
        ("https_proxy", with_creds.as_str()),
        ("HTTP_PROXY", with_creds.as_str()),
        ("ALL_PROXY", with_creds.as_str()),
        ("npm_config_https_proxy", with_creds.as_str()),
        ("CORP_NOTE", with_creds.as_str()),
    ];
    // The profile's pass list and --pass-env try to pass them in by name.
    let passes = [
        "--pass-env",
        "HTTPS_PROXY",
        "--pass-env",
        "npm_config_*",
        "--pass-env",
        "CORP_NOTE",
    ];

    // With the credentials the upstream lets the request through; mcpcell's log (at debug
    // level) holds neither the password nor the header's token.
    let (code, out, err) = inside(
        dir.path(),
        &profile,
        &env,
        &passes,
        &strs(&curl(&["-p", &url])),
    );
    assert_eq!((code, out.as_str()), (0, "hello origin\n"), "{err}");
    assert_eq!(
        up.requests(),
        [format!("CONNECT {ALLOWED}:{port} HTTP/1.1")]
    );
    assert!(!err.contains(PASSWORD) && !err.contains(&token), "{err}");
    assert!(
        err.contains(&format!("http://***@127.0.0.1:{}", up.port)),
        "{err}"
    );

    // Inside, neither the environment nor anything readable under /proc holds them.
    // Under a shell that stays (the `; true`), so that another process of the sandbox, with
    // the same environment, is there to be read through /proc.
    let mut args = vec!["sh", "-c", "python3 -c \"$0\" \"$@\"; true", SCANNER];
    args.extend(hex.iter().map(String::as_str));
    let (code, out, err) = inside(dir.path(), &profile, &env, &passes, &args);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("CLEAN "), "{out}\n{err}");
    // It did read something under /proc: the shell's environment and command line at least.
    let scanned: u32 = out.trim()["CLEAN ".len()..].parse().unwrap();
    assert!(scanned >= 2, "{out}");
    assert!(!err.contains(PASSWORD) && !err.contains(&token), "{err}");
    // The sandbox sees mcpcell's own proxy and nothing else.
    let (_, out, _) = inside(
        dir.path(),
        &profile,
        &env,
        &passes,
        &[
            "sh",
            "-c",
            "echo $HTTPS_PROXY $CORP_NOTE $npm_config_https_proxy",
        ],
    );
    assert_eq!(out.trim(), "http://127.0.0.1:3128");

    // Control: the scanner finds the secret where it is deliberately passed in (network mode
    // none, the user passing the variable on purpose).
    let plain = profile_none(dir.path());
    let (code, out, err) = inside(dir.path(), &plain, &env, &passes, &args);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("FOUND env"), "{out}\n{err}");
    assert!(out.contains("/environ"), "{out}\n{err}");
    // Control: without the credentials the upstream refuses (407), and mcpcell says so.
    let bare = up.url(false);
    let (code, _, err) = inside(
        dir.path(),
        &profile,
        &[("HTTPS_PROXY", bare.as_str())],
        &[],
        &strs(&curl(&["-f", "-p", &url])),
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("answered CONNECT 407"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

fn profile_none(dir: &Path) -> PathBuf {
    profile(dir, "plain", "extends: [default]\nnetwork: {mode: none}\n")
}

/// A fake upstream that records every byte it is sent and answers each CONNECT with 200
/// (then closes).
fn recorder() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            s2.lock().unwrap().extend_from_slice(&got);
            let _ = c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        }
    });
    (port, seen)
}

/// SOCKS5 CONNECT requests for raw names (hex) from inside; prints each reply code.
const SOCKS: &str = r#"
import os, socket, sys
proxy = int(os.environ["ALL_PROXY"].rsplit(":", 1)[1])
port = int(sys.argv[1])
for h in sys.argv[2:]:
    name = bytes.fromhex(h)
    s = socket.create_connection(("127.0.0.1", proxy))
    s.sendall(b"\x05\x01\x00"); s.recv(2)
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
    r = s.recv(10)
    print(r[1] if len(r) > 1 else "closed")
    s.close()
"#;

#[test]
fn hostile_names_cannot_inject_into_the_upstream_request() {
    if !ready() {
        return;
    }
    let dir = readable_scratch();
    let (rec_port, seen) = recorder();
    let upstream = format!("http://127.0.0.1:{rec_port}");
    // A wildcard admits any name that ends in .mcpcell.test, line breaks and all.
    let profile = proxy_profile(
        dir.path(),
        "wild",
        &["*.mcpcell.test:443".to_string()],
        true,
    );
    let long = format!("{}.mcpcell.test", "a".repeat(240));
    let names = [
        "x\r\nX-Injected: 1\r\n\r\nCONNECT evil.example:443 HTTP/1.1\r\nA: b.mcpcell.test",
        "x HTTP/1.1\nX-Injected: 1\nA: b.mcpcell.test",
        "x y.mcpcell.test",
        long.as_str(),
        // Control: a well-formed name under the same wildcard, by the same client, is sent.
        ALLOWED,
    ];
    let hex: Vec<String> = names
        .iter()
        .map(|s| s.bytes().map(|b| format!("{b:02x}")).collect())
        .collect();
    let mut args = vec!["python3", "-c", SOCKS, "443"];
    args.extend(hex.iter().map(String::as_str));
    let (code, out, err) = inside(
        dir.path(),
        &profile,
        &[("HTTPS_PROXY", upstream.as_str())],
        &[],
        &args,
    );
    assert_eq!(code, 0, "{err}");
    let replies: Vec<&str> = out.lines().collect();
    // SOCKS5 reply 2: refused by the ruleset; 0: succeeded.
    assert_eq!(replies, ["2", "2", "2", "2", "0"], "{err}");
    let refusals = err
        .lines()
        .filter(|l| l.starts_with(" WARN proxy: refused") && l.contains("not a host name"))
        .count();
    assert_eq!(refusals, 4, "{err}");
    let got = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert_eq!(
        got,
        format!("CONNECT {ALLOWED}:443 HTTP/1.1\r\nHost: {ALLOWED}:443\r\n\r\n")
    );
    // The log shows the hostile names escaped, on one line each.
    assert!(err.contains("x\\x0d\\x0aX-Injected"), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("X-Injected")), "{err}");
}

/// From inside: CONNECT to `host:port` through mcpcell's proxy, then, inside the tunnel, ask
/// what answered for `http://TARGET/` as a proxy request. Prints `REFUSED status`,
/// `REACHED` (the origin answered) or `NOTHING`.
const THROUGH_UPSTREAM: &str = r#"
import os, socket, sys
host, port, target = sys.argv[1], sys.argv[2], sys.argv[3]
proxy = int(os.environ["HTTPS_PROXY"].rsplit(":", 1)[1])
s = socket.create_connection(("127.0.0.1", proxy), timeout=20)
s.sendall(("CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n" % (host, port, host, port)).encode())
r = b""
while b"\r\n\r\n" not in r:
    c = s.recv(4096)
    if not c:
        break
    r += c
r = r.decode(errors="replace")
if not r.startswith("HTTP/1.1 200"):
    print("REFUSED " + r.split("\r\n")[0])
    sys.exit(0)
s.sendall(("GET http://%s/ HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (target, target)).encode())
data = b""
while True:
    try:
        c = s.recv(4096)
    except OSError:
        break
    if not c:
        break
    data += c
print("REACHED" if b"hello origin" in data else "NOTHING %r" % data[:300])
"#;

/// An allowlist entry that happens to name the upstream proxy (here by its address) would
/// let the sandbox talk to the upstream itself and have it fetch any host: refused.
#[test]
fn the_upstream_itself_is_not_a_destination() {
    if !ready() {
        return;
    }
    let dir = readable_scratch();
    let (port, hits) = http_server();
    let up = Tinyproxy::start(dir.path(), false);
    let upstream = up.url(false);
    // allowed.mcpcell.test resolves to 127.0.0.1, where the upstream listens.
    let profile = proxy_profile(
        dir.path(),
        "loop",
        &[format!("{ALLOWED}:{}", up.port)],
        true,
    );
    let target = format!("{OTHER}:{port}");
    let up_port = up.port.to_string();
    let args = [
        "python3",
        "-c",
        THROUGH_UPSTREAM,
        ALLOWED,
        up_port.as_str(),
        target.as_str(),
    ];
    let env = [("HTTPS_PROXY", upstream.as_str())];
    let (code, out, err) = inside(dir.path(), &profile, &env, &[], &args);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("REFUSED HTTP/1.1 403"), "{out}\n{err}");
    assert!(err.contains("the upstream proxy itself"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(up.requests(), Vec::<String>::new());
    // Control: the same allowlist without the upstream configured is a weak setup: the
    // sandbox reaches a host that is not on its allowlist through the proxy it may reach.
    let (code, out, err) = inside(dir.path(), &profile, &[], &[], &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "REACHED", "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(up.requests(), [format!("GET http://{target}/ HTTP/1.1")]);
}

#[test]
fn dry_run_shows_the_chain_with_credentials_masked() {
    let dir = readable_scratch();
    let profile = proxy_profile(dir.path(), "chained", &["registry.npmjs.org".into()], false);
    let with_creds = format!("http://{USER}:{PASSWORD}@proxy.corp.example:3128");
    for format in ["text", "json"] {
        let mut c = run_cmd(&[
            "-p",
            profile.to_str().unwrap(),
            "--dry-run",
            "--format",
            format,
            "--",
            "/bin/true",
        ]);
        c.env("XDG_STATE_HOME", dir.path().join("state"))
            .env("HTTPS_PROXY", &with_creds)
            .env("http_proxy", "http://plain.corp.example:8080")
            .env("NO_PROXY", "localhost,.corp.example,10.0.0.0/8");
        let out = output_within(c, T);
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(
            !text.contains(PASSWORD) && !err.contains(PASSWORD),
            "{text}{err}"
        );
        assert!(!text.contains(USER) && !err.contains(USER), "{text}{err}");
        assert!(
            text.contains("http://***@proxy.corp.example:3128"),
            "{text}"
        );
        assert!(text.contains("http://plain.corp.example:8080"), "{text}");
        if format == "text" {
            assert!(
                text.contains("upstream proxy (mcpcell's environment): CONNECT, SOCKS5 and transparent connections through http://***@proxy.corp.example:3128 (from HTTPS_PROXY); http:// requests through http://plain.corp.example:8080 (from http_proxy); direct (NO_PROXY): localhost, corp.example, 10.0.0.0/8"),
                "{text}"
            );
        }
    }
    // An https:// or socks upstream is refused, naming the variable and never its value.
    for (var, url) in [
        (
            "HTTPS_PROXY",
            format!("https://{USER}:{PASSWORD}@proxy.corp.example"),
        ),
        (
            "ALL_PROXY",
            format!("socks5h://{USER}:{PASSWORD}@proxy.corp.example"),
        ),
    ] {
        let mut c = run_cmd(&[
            "-p",
            profile.to_str().unwrap(),
            "--dry-run",
            "--",
            "/bin/true",
        ]);
        c.env("XDG_STATE_HOME", dir.path().join("state"))
            .env(var, &url);
        let out = output_within(c, T);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert!(
            err.contains(&format!("`{var}` in mcpcell's environment")),
            "{err}"
        );
        assert!(!err.contains(PASSWORD) && !err.contains(USER), "{err}");
    }
}

/// `mcpcell proxy` with an upstream: its first log line says where it listens.
fn proxy_command(env: &[(&str, &str)], args: &[&str]) -> (Child, u16, mpsc::Receiver<String>) {
    let mut c = mcpcell_cmd(
        "proxy",
        &["--listen", "127.0.0.1:0", "--log-level", "debug"],
    );
    c.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let (tx, log) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let first = log
        .recv_timeout(Duration::from_secs(20))
        .expect("a log line");
    let port = first
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    (child, port, log)
}

#[test]
fn the_proxy_command_chains_too() {
    if !ready() {
        return;
    }
    let dir = readable_scratch();
    let (port, hits) = http_server();
    let up = Tinyproxy::start(dir.path(), true);
    let with_creds = up.url(true);
    let allow = format!("{ALLOWED}:{port}");
    let (mut child, listen, log) = proxy_command(
        &[("HTTPS_PROXY", with_creds.as_str())],
        &["--allow-host", &allow, "--allow-private", "127.0.0.0/8"],
    );
    let get = |target: &str| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_connect}",
                "--max-time",
                "20",
                "-p",
                "-x",
            ])
            .arg(format!("http://127.0.0.1:{listen}"))
            .arg(target)
            .env_clear()
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(get(&format!("http://{ALLOWED}:{port}/")), "200");
    assert_eq!(get(&format!("http://{OTHER}:{port}/")), "403");
    assert_eq!(
        up.requests(),
        [format!("CONNECT {ALLOWED}:{port} HTTP/1.1")]
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), 0);
    let mut lines = Vec::new();
    while let Ok(l) = log.recv_timeout(Duration::from_secs(2)) {
        lines.push(l);
    }
    let all = lines.join("\n");
    assert!(
        all.contains(&format!(
            "through http://***@127.0.0.1:{} (from HTTPS_PROXY)",
            up.port
        )),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "connected to {ALLOWED}:{port} through the upstream proxy 127.0.0.1:{}",
            up.port
        )),
        "{all}"
    );
    assert!(!all.contains(PASSWORD) && !all.contains(USER), "{all}");
}
