//! `mcpcell proxy`: the egress proxy on its own, with curl as the client and a real HTTP
//! server on the host's loopback. `allowed.mcpcell.test` and `other.mcpcell.test` resolve
//! to 127.0.0.1 (tests/run.sh adds them to /etc/hosts), a private address: a control shows
//! that without `--allow-private` the allowed name is refused for it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, ToSocketAddrs, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::*;

const ALLOWED: &str = "allowed.mcpcell.test";
const OTHER: &str = "other.mcpcell.test";

fn names_resolve() -> bool {
    let ok = |n: &str| {
        (n, 80)
            .to_socket_addrs()
            .map(|mut a| a.any(|s| s.ip().is_loopback()))
            .unwrap_or(false)
    };
    require(
        ok(ALLOWED) && ok(OTHER),
        "/etc/hosts entries for allowed.mcpcell.test and other.mcpcell.test (tests/run.sh adds them)",
    )
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
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            h.fetch_add(1, Ordering::SeqCst);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
            );
        }
    });
    (port, hits)
}

/// A running `mcpcell proxy`, its port read from its log, and its log lines.
struct Proxy {
    child: Child,
    port: u16,
    log: mpsc::Receiver<String>,
}

impl Proxy {
    fn start(args: &[&str]) -> Proxy {
        let mut child = Command::new(mcpcell())
            .args(["proxy", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, log) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let first = log
            .recv_timeout(Duration::from_secs(20))
            .expect("the proxy logs where it listens");
        let port = first
            .split("listening on 127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {first:?}"));
        Proxy { child, port, log }
    }

    /// curl's HTTP status for `url` through the proxy (`socks` selects SOCKS5).
    fn get(&self, url: &str, socks: bool) -> String {
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ]);
        match socks {
            true => c.arg("--socks5-hostname"),
            false => c.arg("-x"),
        };
        c.arg(format!("127.0.0.1:{}", self.port)).arg(url);
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    }

    /// Stops it with SIGTERM; its exit status and every log line.
    fn stop(mut self) -> (i32, Vec<String>) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let code = wait_exit(&mut self.child, Duration::from_secs(20));
        let mut lines = Vec::new();
        while let Ok(l) = self.log.recv_timeout(Duration::from_secs(2)) {
            lines.push(l);
        }
        (code, lines)
    }
}

#[test]
fn allowed_names_pass_and_everything_else_is_refused() {
    if !names_resolve() {
        return;
    }
    let (port, hits) = http_server();
    let allow = format!("{ALLOWED}:{port}");
    let px = Proxy::start(&["--allow-host", &allow, "--allow-private", "127.0.0.0/8"]);
    assert_eq!(px.get(&format!("http://{ALLOWED}:{port}/"), false), "200");
    assert_eq!(px.get(&format!("http://{ALLOWED}:{port}/"), true), "200");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // Another name, the allowed name on another port, and the address itself: refused.
    assert_eq!(px.get(&format!("http://{OTHER}:{port}/"), false), "403");
    assert_ne!(px.get(&format!("http://{OTHER}:{port}/"), true), "200");
    assert_eq!(px.get(&format!("http://{ALLOWED}:1/"), false), "403");
    assert_eq!(px.get(&format!("http://127.0.0.1:{port}/"), false), "403");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "a refused request reached the server"
    );
    let (code, log) = px.stop();
    assert_eq!(code, 0, "{log:?}");
    let log = log.join("\n");
    assert!(
        log.contains(&format!("allowed {ALLOWED}:{port}: 2 connections")),
        "{log}"
    );
    assert!(log.contains(&format!("refused {OTHER}:{port}")), "{log}");
}

#[test]
fn a_private_address_is_refused_unless_allowed() {
    if !names_resolve() {
        return;
    }
    let (port, hits) = http_server();
    let allow = format!("{ALLOWED}:{port}");
    // The control for the test above: the same allowlist without --allow-private.
    let px = Proxy::start(&["--allow-host", &allow]);
    assert_ne!(px.get(&format!("http://{ALLOWED}:{port}/"), false), "200");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    px.stop();
}

#[test]
fn a_profile_gives_the_allowlist_and_must_be_in_proxy_mode() {
    if !names_resolve() {
        return;
    }
    let (port, hits) = http_server();
    let dir = scratch();
    let p = profile(
        dir.path(),
        "egress",
        &format!(
            "network:\n  mode: proxy\n  allow: [\"{ALLOWED}:{port}\"]\n  allow_private: [127.0.0.0/8]\n"
        ),
    );
    let px = Proxy::start(&["--profile", p.to_str().unwrap()]);
    assert_eq!(px.get(&format!("http://{ALLOWED}:{port}/"), false), "200");
    assert_eq!(px.get(&format!("http://{OTHER}:{port}/"), false), "403");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    px.stop();

    let out = Command::new(mcpcell())
        .args(["proxy", "--listen", "127.0.0.1:0", "--profile", "default"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("network mode `none`"), "{err}");
    let out = Command::new(mcpcell())
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--allow-host",
            "bad host",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-host"));
}

/// A DNS query for `name` (type A); the response's rcode and answer count.
fn dns(server: u16, name: &str) -> (u8, u16) {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.send_to(&q, ("127.0.0.1", server)).unwrap();
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf).unwrap();
    assert!(n >= 12 && buf[..2] == [0x12, 0x34]);
    (buf[3] & 0x0f, u16::from_be_bytes([buf[6], buf[7]]))
}

#[test]
fn the_dns_responder_answers_allowed_names_only() {
    if !names_resolve() {
        return;
    }
    let free = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns_port = free.local_addr().unwrap().port();
    drop(free);
    let dns_at = format!("127.0.0.1:{dns_port}");
    let px = Proxy::start(&[
        "--allow-host",
        ALLOWED,
        "--allow-private",
        "127.0.0.0/8",
        "--dns",
        &dns_at,
    ]);
    let (rcode, answers) = dns(dns_port, ALLOWED);
    assert_eq!((rcode, answers > 0), (0, true));
    let (rcode, answers) = dns(dns_port, OTHER);
    assert_eq!((rcode, answers), (3, 0), "NXDOMAIN for a name not allowed");
    px.stop();
}

/// Plain HTTP through the proxy: the upstream is told the host the allowlist judged (the
/// URL's), not a `Host` header the client put beside it, which on an address shared by many
/// sites would reach another one.
#[test]
fn plain_http_carries_the_host_the_allowlist_judged() {
    if !names_resolve() {
        return;
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, seen) = mpsc::channel();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let allow = format!("{ALLOWED}:{port}");
    let px = Proxy::start(&["--allow-host", &allow, "--allow-private", "127.0.0.0/8"]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", px.port)).unwrap();
    write!(
        s,
        "GET http://{ALLOWED}:{port}/ HTTP/1.1\r\nHost: tenant.other.example\r\nX-Kept: 1\r\n\r\n"
    )
    .unwrap();
    let head = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    let hosts: Vec<&str> = head
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("host:"))
        .collect();
    assert_eq!(hosts, [format!("Host: {ALLOWED}:{port}")], "{head}");
    assert!(head.contains("X-Kept: 1"), "{head}");
    let _ = px.stop();
}
