//! Network mode `proxy` in the namespace-free tier (tests/nouserns: namespaces refused, as in
//! a container): the server reaches mcpcell's proxy and nothing else. Real clients go through
//! the proxy to servers on the host's loopback; every other way out is tried from inside and
//! judged from outside, by a listener on the host that must see nothing, and each probe is
//! first shown to reach that listener from the same tier in network mode `host` (the weak
//! setup: the same launch without the proxy's confinement).
//!
//! The names `allowed.mcpcell.test` and `other.mcpcell.test` must resolve to 127.0.0.1 on
//! the host (`tests/run.sh` adds them to /etc/hosts).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

const ALLOWED: &str = "allowed.mcpcell.test";
const OTHER: &str = "other.mcpcell.test";
const T: Duration = Duration::from_secs(60);
/// The proxy's port as the server knows it (HTTP_PROXY): mcpcell's default.
const PROXY_PORT: u16 = 3128;

/// Held by the tests that listen on, or connect to, the host's 127.0.0.1:3128: one's
/// connects would be counted by the other's listener.
static HOST_PROXY_PORT: Mutex<()> = Mutex::new(());

fn host_proxy_port() -> std::sync::MutexGuard<'static, ()> {
    HOST_PROXY_PORT.lock().unwrap_or_else(|e| e.into_inner())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What the tier's proxy mode rests on: seccomp user notification and Landlock's TCP rules.
fn supported() -> bool {
    require(
        landlock_abi() >= 4,
        "Landlock ABI 4 (TCP connect and bind rules), which network mode proxy needs without namespaces",
    )
}

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

/// `mcpcell run --best-effort -p PROFILE -- COMMAND...` as in a container: (code, stdout,
/// stderr).
fn tier_run(profile: &Path, state: &Path, command: &[&str]) -> (i32, String, String) {
    let mut all = vec![
        "--best-effort",
        "-p",
        profile.to_str().unwrap(),
        "--log-level",
        "info",
        "--",
    ];
    all.extend_from_slice(command);
    let mut c = run_cmd(&all);
    c.env("XDG_STATE_HOME", state);
    let out = output_within(in_container(c), T);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// A profile in network mode proxy that allows `allow` (host:port entries) and loopback
/// addresses, and one in mode host: the weak setup.
struct Profiles {
    dir: tempfile::TempDir,
    proxy: PathBuf,
    host: PathBuf,
}

impl Profiles {
    fn new(allow: &[String]) -> Profiles {
        let dir = readable_scratch();
        let allow: Vec<String> = allow.iter().map(|a| format!("\"{a}\"")).collect();
        let read = dir.path().display();
        let proxy = profile(
            dir.path(),
            "proxied",
            &format!(
                "extends: [python]\nfilesystem:\n  read: [\"{read}\"]\nnetwork:\n  mode: proxy\n  allow: [{}]\n  allow_private: [127.0.0.0/8]\n",
                allow.join(", ")
            ),
        );
        let host = profile(
            dir.path(),
            "hosted",
            &format!(
                "extends: [python]\nfilesystem:\n  read: [\"{read}\"]\nnetwork:\n  mode: host\n"
            ),
        );
        Profiles { dir, proxy, host }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The probe under `profile`: (code, its verdict line, mcpcell's stderr).
    fn probe(&self, profile: &Path, args: &[&str]) -> (i32, String, String) {
        let p = probe();
        let mut command = vec![p.to_str().unwrap()];
        command.extend_from_slice(args);
        let (code, out, err) = tier_run(profile, &self.state(), &command);
        (code, out.trim_end().to_string(), err)
    }
}

/// A TCP listener on the host that counts the connections it is offered, and what they
/// sent, until it is dropped.
struct Watch {
    port: u16,
    seen: Arc<AtomicUsize>,
    bytes: Arc<Mutex<Vec<u8>>>,
    /// How many times the watcher found no connection waiting: a count taken after two more
    /// includes every connection queued before it was asked for.
    idle: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Watch {
    fn on(addr: &str) -> std::io::Result<Watch> {
        let l = TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        let port = l.local_addr()?.port();
        let w = Watch {
            port,
            seen: Arc::default(),
            bytes: Arc::default(),
            idle: Arc::default(),
            stop: Arc::default(),
        };
        let (seen, bytes, idle, stop) = (
            Arc::clone(&w.seen),
            Arc::clone(&w.bytes),
            Arc::clone(&w.idle),
            Arc::clone(&w.stop),
        );
        // Accepted as they come (a racing probe's hundreds of connects would overflow the
        // backlog if they waited for a count).
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
                        let mut b = Vec::new();
                        let _ = c.read_to_end(&mut b);
                        bytes.lock().unwrap().extend(b);
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        idle.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            }
        });
        Ok(w)
    }

    /// Connections offered so far: once the watcher has found the queue empty twice since
    /// the call (a loopback connect is queued before the connecting call returns, so every
    /// connect of a probe that has exited is counted), whatever the machine's load; at most
    /// 20 s.
    fn count(&self) -> usize {
        let end = Instant::now() + Duration::from_secs(20);
        let asked = self.idle.load(Ordering::SeqCst);
        while self.idle.load(Ordering::SeqCst) < asked + 2 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.seen.load(Ordering::SeqCst)
    }

    /// Forgets what was seen, once every connection already queued has come in.
    fn reset(&self) {
        self.count();
        self.seen.store(0, Ordering::SeqCst);
        self.bytes.lock().unwrap().clear();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
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
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", &format!("/CN={ALLOWED}")])
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
        body = ("hello over tls " + self.path + "\n").encode()
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
        std::fs::set_permissions(&cert, std::os::unix::fs::PermissionsExt::from_mode(0o644))
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

#[test]
fn proxy_aware_clients_reach_an_allowed_host_and_nothing_else() {
    if !supported() || !names_resolve() {
        return;
    }
    let http = HttpServer::start();
    let pre = Profiles::new(&[]);
    let tls = TlsServer::start(pre.dir.path());
    let p = Profiles::new(&[
        format!("{ALLOWED}:{}", tls.port),
        format!("{ALLOWED}:{}", http.port),
    ]);
    std::fs::copy(&tls.cert, p.dir.path().join("cert.pem")).unwrap();
    let cert = p.dir.path().join("cert.pem");

    // curl over TLS, through the proxy (CONNECT): the host server's own certificate.
    let url = format!("https://{ALLOWED}:{}/curl", tls.port);
    let (code, out, err) = tier_run(
        &p.proxy,
        &p.state(),
        &["curl", "-sS", "--cacert", cert.to_str().unwrap(), &url],
    );
    assert_eq!((code, out.as_str()), (0, "hello over tls /curl\n"), "{err}");
    assert!(err.contains("enforcement tier: namespace-free"), "{err}");
    assert!(
        err.contains("network proxy: seccomp user notification connects only to mcpcell's proxy"),
        "{err}"
    );
    assert!(
        err.contains(&format!("proxy: connected to {ALLOWED}:{}", tls.port)),
        "{err}"
    );

    // Python's urllib (what a uvx-installed server uses), plain HTTP through the proxy.
    let url = format!("http://{ALLOWED}:{}/urllib", http.port);
    let script = format!(
        "import urllib.request; print(urllib.request.urlopen('{url}').read().decode(), end='')"
    );
    let (code, out, err) = tier_run(&p.proxy, &p.state(), &["python3", "-c", &script]);
    assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");
    assert!(
        http.requests()
            .iter()
            .any(|r| r.starts_with("GET /urllib") && r.contains(ALLOWED)),
        "{:?}",
        http.requests()
    );

    // Node: a client that uses HTTP_PROXY (libuv's non-blocking connect gets mcpcell's
    // socket), and Node's fetch, which ignores it: refused, with the hint, nothing sent.
    if require(which::which("node").is_ok(), "node") {
        let node = profile(
            p.dir.path(),
            "node-proxied",
            &format!(
                "extends: [node]\nnetwork:\n  mode: proxy\n  allow: [\"{ALLOWED}:{}\"]\n  allow_private: [127.0.0.0/8]\n",
                http.port
            ),
        );
        let via_proxy = format!(
            "const u = new URL(process.env.HTTP_PROXY); require('http').get({{host: u.hostname, port: u.port, path: 'http://{ALLOWED}:{0}/node', headers: {{Host: '{ALLOWED}:{0}'}}}}, r => {{ let b = ''; r.on('data', d => b += d); r.on('end', () => process.stdout.write(b)); }}).on('error', e => {{ console.log('ERR', e.message); }});",
            http.port
        );
        let (code, out, err) = tier_run(&node, &p.state(), &["node", "-e", &via_proxy]);
        assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");
        let fetch = format!(
            "fetch('http://{ALLOWED}:{}/node-fetch').then(r => console.log('OK', r.status), e => console.log('ERR', e.cause ? e.cause.code : e.message));",
            http.port
        );
        let (_, out, err) = tier_run(&node, &p.state(), &["node", "-e", &fetch]);
        assert!(out.starts_with("ERR"), "{out}\n{err}");
        assert!(err.contains("cannot be redirected"), "{err}");
        assert!(
            !http.requests().iter().any(|r| r.contains("/node-fetch")),
            "{:?}",
            http.requests()
        );
    }

    // The allowlist still decides: another name for the same address is refused by the
    // proxy, and the host server never hears of it.
    let url = format!("http://{OTHER}:{}/other", http.port);
    let (code, _, err) = tier_run(&p.proxy, &p.state(), &["curl", "-sS", "-f", &url]);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains(&format!("proxy: refused {OTHER}:{}", http.port)),
        "{err}"
    );
    assert!(
        !http.requests().iter().any(|r| r.contains("/other")),
        "{:?}",
        http.requests()
    );

    // curl told not to use the proxy connects by itself: refused by mcpcell, with the hint,
    // and nothing reaches the host server. The same command in mode host gets through.
    let url = format!("http://127.0.0.1:{}/direct", http.port);
    let (code, _, err) = tier_run(
        &p.proxy,
        &p.state(),
        &["curl", "-sS", "-f", "--noproxy", "*", &url],
    );
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("network proxy: refused a connection to 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("cannot be redirected"), "{err}");
    assert!(
        !http.requests().iter().any(|r| r.contains("/direct")),
        "{:?}",
        http.requests()
    );
    let (code, out, err) = tier_run(&p.host, &p.state(), &["curl", "-sS", "-f", &url]);
    assert_eq!((code, out.as_str()), (0, "hello from the host\n"), "{err}");
    assert!(http.requests().iter().any(|r| r.contains("/direct")));
}

/// The TCP ports `pid` and its descendants listen on (host view: /proc/net/tcp's listening
/// sockets whose inodes they hold).
fn listening_ports(pid: i32) -> Vec<u16> {
    let mut inodes = Vec::new();
    for p in std::iter::once(pid).chain(descendants(pid)) {
        for fd in std::fs::read_dir(format!("/proc/{p}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let link = std::fs::read_link(fd.path()).unwrap_or_default();
            if let Some(i) = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
            {
                inodes.push(i.to_string());
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // local address, state (0A: listening), inode.
            (f.get(3) == Some(&"0A") && inodes.iter().any(|i| Some(&i.as_str()) == f.get(9)))
                .then(|| u16::from_str_radix(f[1].split(':').nth(1)?, 16).ok())
                .flatten()
        })
        .collect()
}

/// The proxy listens on the host's loopback, where any local process can connect: it serves
/// only the connections mcpcell made for the server. Judged from outside: a request sent
/// straight to every port mcpcell listens on gets no answer and never reaches the allowed
/// host; the control is the server's own request, through the same proxy, which does.
#[test]
fn the_proxy_serves_no_one_but_the_server() {
    if !supported() || !names_resolve() {
        return;
    }
    let http = HttpServer::start();
    let p = Profiles::new(&[format!("{ALLOWED}:{}", http.port)]);
    let url = format!("http://{ALLOWED}:{}/from-the-server", http.port);
    let script = format!(
        "import urllib.request, time; print(urllib.request.urlopen('{url}').read().decode(), end='', flush=True); time.sleep(30)"
    );
    let mut c = run_cmd(&[
        "--best-effort",
        "-p",
        p.proxy.to_str().unwrap(),
        "--",
        "python3",
        "-c",
        &script,
    ]);
    c.env("XDG_STATE_HOME", p.state());
    let mut r = Running::start(in_container(c));
    assert_eq!(r.line(T), "hello from the host");
    let ports = listening_ports(r.pid());
    assert!(!ports.is_empty(), "mcpcell listens on no TCP port");
    for port in &ports {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", *port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let req = format!(
            "GET http://{ALLOWED}:{}/from-outside HTTP/1.1\r\nHost: {ALLOWED}:{}\r\n\r\n",
            http.port, http.port
        );
        let _ = s.write_all(req.as_bytes());
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert!(answer.is_empty(), "port {port} answered: {}", text(&answer));
    }
    r.signal(nix::sys::signal::Signal::SIGTERM);
    let _ = r.wait(T);
    let seen = http.requests();
    assert!(
        seen.iter().any(|q| q.contains("/from-the-server")),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|q| q.contains("/from-outside")),
        "{seen:?}"
    );
}

/// Runs `args` under the weak profile and then the proxy profile: the weak run must reach
/// `watch`, the proxied one must not (and must not say it did).
fn reaches_only_when_weak(p: &Profiles, watch: &Watch, args: &[&str], what: &str) {
    let (code, line, err) = p.probe(&p.host, args);
    assert_eq!(
        (code, line.as_str()),
        (0, "OK sent"),
        "{what}: the weak setup (mode host) should get through: {err}"
    );
    assert!(
        watch.count() > 0,
        "{what}: the listener saw nothing in mode host"
    );
    watch.reset();
    let (code, line, err) = p.probe(&p.proxy, args);
    assert!(
        code == 1 && line.starts_with("ERR "),
        "{what} was not refused: {code} {line}\n{err}"
    );
    assert_eq!(watch.count(), 0, "{what} reached the host listener: {err}");
}

#[test]
fn direct_connections_other_ports_and_addresses_are_refused() {
    if !supported() {
        return;
    }
    let p = Profiles::new(&["allowed.mcpcell.test:443".into()]);
    // Another port of the proxy's address.
    let w = Watch::on("127.0.0.1:0").unwrap();
    let port = w.port.to_string();
    reaches_only_when_weak(
        &p,
        &w,
        &["tcp", "127.0.0.1", &port, "leak"],
        "tcp to another port",
    );
    // From a thread that is not the process's leader (the notification names the thread).
    reaches_only_when_weak(
        &p,
        &w,
        &["tcp-thread", "127.0.0.1", &port, "leak"],
        "tcp from another thread",
    );
    // TCP_FASTOPEN_CONNECT: still a connect(2), answered by mcpcell.
    reaches_only_when_weak(
        &p,
        &w,
        &["tfo-connect", "127.0.0.1", &port, "leak"],
        "TCP_FASTOPEN_CONNECT",
    );
    // An IPv6 socket to the IPv4-mapped form of the address.
    reaches_only_when_weak(
        &p,
        &w,
        &["tcp6", "::ffff:127.0.0.1", &port, "leak"],
        "a v4-mapped IPv6 connect",
    );
    // TCP Fast Open: a connection and data in one sendto, without connect(2).
    let (_, line, _) = p.probe(&p.host, &["tfo", "127.0.0.1", &port, "leak"]);
    if line == "OK sent" {
        assert!(w.count() > 0, "Fast Open in mode host reached nothing");
        w.reset();
        let (code, line, err) = p.probe(&p.proxy, &["tfo", "127.0.0.1", &port, "leak"]);
        assert!(code == 1 && line.starts_with("ERR "), "{line}\n{err}");
        assert_eq!(w.count(), 0, "Fast Open reached the host listener");
    } else {
        // Refused in host mode too (net.ipv4.tcp_fastopen without the client bit): the
        // proxied run must refuse it all the same.
        let (_, line, _) = p.probe(&p.proxy, &["tfo", "127.0.0.1", &port, "leak"]);
        assert!(line.starts_with("ERR "), "{line}");
        assert_eq!(w.count(), 0);
    }

    // The proxy's port on another address.
    let other = Watch::on(&format!("127.0.0.2:{PROXY_PORT}"));
    if require(other.is_ok(), "port 3128 free on 127.0.0.2") {
        let other = other.unwrap();
        reaches_only_when_weak(
            &p,
            &other,
            &["tcp", "127.0.0.2", &PROXY_PORT.to_string(), "leak"],
            "the proxy's port on another address",
        );
    }
}

#[test]
fn the_proxys_own_address_leads_only_to_mcpcells_proxy() {
    if !supported() {
        return;
    }
    // A host service on the very address the server's HTTP_PROXY names: in mode host the
    // probe reaches it; in mode proxy the same connect lands on mcpcell's proxy instead,
    // because the server's own connect(2) never runs.
    let _port = host_proxy_port();
    let w = Watch::on(&format!("127.0.0.1:{PROXY_PORT}"));
    if !require(w.is_ok(), "port 3128 free on 127.0.0.1") {
        return;
    }
    let w = w.unwrap();
    let p = Profiles::new(&["allowed.mcpcell.test:443".into()]);
    let (code, line, err) = p.probe(&p.host, &["tcp", "127.0.0.1", "3128", "leak"]);
    assert_eq!((code, line.as_str()), (0, "OK sent"), "{err}");
    assert!(w.count() > 0);
    w.reset();
    for how in ["tcp", "tcp-thread"] {
        let (code, line, err) = p.probe(&p.proxy, &[how, "127.0.0.1", "3128", "leak"]);
        assert_eq!((code, line.as_str()), (0, "OK sent"), "{how}: {err}");
        assert_eq!(
            w.count(),
            0,
            "{how}: the server's connect reached the host's port 3128"
        );
    }
}

#[test]
fn a_server_mcpcell_cannot_read_reaches_nothing() {
    if !supported() {
        return;
    }
    // Undumpable, the server's memory is closed to mcpcell: its connects are left to the
    // kernel, where Landlock refuses TCP. In mode host the same probe gets through.
    let p = Profiles::new(&["allowed.mcpcell.test:443".into()]);
    let w = Watch::on("127.0.0.1:0").unwrap();
    let port = w.port.to_string();
    reaches_only_when_weak(
        &p,
        &w,
        &["undumpable", "tcp", "127.0.0.1", &port, "leak"],
        "an undumpable server's connect",
    );
    let (code, line, err) = p.probe(&p.proxy, &["undumpable", "tcp", "127.0.0.1", "3128", "x"]);
    if is_root() {
        // mcpcell as root reads it all the same (CAP_SYS_PTRACE), and connects it.
        assert_eq!((code, line.as_str()), (0, "OK sent"), "{err}");
    } else {
        // Not even the proxy: the call failed closed, and the log says why.
        assert!(code == 1 && line.starts_with("ERR EACCES"), "{line}\n{err}");
        assert!(err.contains("could not read the address"), "{err}");
    }
}

#[test]
fn io_uring_stays_refused_whatever_the_profile_lifts() {
    if !supported() {
        return;
    }
    // io_uring's operations (connect among them) pass no seccomp filter: in mode proxy it is
    // refused even where the profile allows it; in mode host the same lift gets it.
    let d = scratch();
    let lift = "syscalls:\n  allow: [io_uring_setup, io_uring_enter, io_uring_register]\n";
    let proxy = profile(
        d.path(),
        "uring-proxy",
        &format!(
            "extends: [default]\n{lift}network:\n  mode: proxy\n  allow: [\"{ALLOWED}:443\"]\n"
        ),
    );
    let host = profile(
        d.path(),
        "uring-host",
        &format!("extends: [default]\n{lift}network:\n  mode: host\n"),
    );
    let p = probe();
    let state = d.path().join("state");
    let (_, out, err) = tier_run(&host, &state, &[p.to_str().unwrap(), "io_uring"]);
    assert_eq!(out.trim_end(), "OK io_uring", "{err}");
    let (_, out, err) = tier_run(&proxy, &state, &[p.to_str().unwrap(), "io_uring"]);
    assert!(out.starts_with("ERR ENOSYS"), "{out}\n{err}");
}

#[test]
fn udp_is_refused() {
    if !supported() {
        return;
    }
    let p = Profiles::new(&["allowed.mcpcell.test:443".into()]);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let port = u.local_addr().unwrap().port().to_string();
    let mut b = [0u8; 64];
    let (code, line, err) = p.probe(&p.host, &["udp", "127.0.0.1", &port, "leak"]);
    assert_eq!((code, line.as_str()), (0, "OK sent"), "{err}");
    assert!(u.recv(&mut b).is_ok(), "UDP in mode host reached nothing");
    let (code, line, err) = p.probe(&p.proxy, &["udp", "127.0.0.1", &port, "leak"]);
    assert!(code == 1 && line.starts_with("ERR "), "{line}\n{err}");
    assert!(u.recv(&mut b).is_err(), "UDP reached the host");
}

#[test]
fn a_racing_rewrite_of_the_address_reaches_nothing_else() {
    if !supported() {
        return;
    }
    let p = Profiles::new(&["allowed.mcpcell.test:443".into()]);
    let w = Watch::on("127.0.0.1:0").unwrap();
    let port = w.port.to_string();
    // One thread flips the address between the proxy's and the listener's while the other
    // connects, 300 times.
    let args = ["tcp-race", "3128", "127.0.0.1", &port, "300", "leak"];
    // In mode host, the connects to 3128 reach the host's port.
    let _port = host_proxy_port();
    // The weak setup (mode host): some connect reads the listener's address and reaches
    // it. How the threads interleave is the scheduler's (other load on the machine can
    // keep the flipping thread off the processor), so it has a few tries.
    let reached = (0..5).any(|_| {
        let (code, line, err) = p.probe(&p.host, &args);
        assert_eq!(code, 0, "{line}\n{err}");
        w.count() > 0
    });
    assert!(
        reached,
        "the race reached nothing in mode host in five runs"
    );
    w.reset();
    // Both outcomes must happen for the race to have been run: some connects asked for the
    // proxy (and got it), some for the listener (and were refused). The scheduler decides
    // how the threads interleave, so a run where one outcome never came is tried again;
    // in every run, nothing reaches the listener.
    for attempt in 1..=5 {
        let start = Instant::now();
        let (code, line, err) = p.probe(&p.proxy, &args);
        assert_eq!(code, 0, "{line}\n{err}");
        assert_eq!(
            w.count(),
            0,
            "a racing connect reached the listener ({line})"
        );
        assert!(w.bytes.lock().unwrap().is_empty());
        let n = |key: &str| -> usize {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{key} missing: {line}"))
        };
        eprintln!(
            "attempt {attempt}: 300 racing connects in the tier took {:?}: {line}",
            start.elapsed()
        );
        if n("connected=") > 0 && n("refused=") > 0 {
            return;
        }
    }
    panic!("the two threads never interleaved in five runs: the race was not tried");
}

#[test]
fn a_race_on_the_address_family_reaches_nothing() {
    if !supported() {
        return;
    }
    // The family flips between AF_UNIX, which mcpcell lets the kernel judge, and AF_INET:
    // the kernel may then read AF_INET and the listener's address, and only Landlock's
    // refusal of the server's own TCP connects stands between it and the listener.
    let p = Profiles::new(&["allowed.mcpcell.test:443".into()]);
    let w = Watch::on("127.0.0.1:0").unwrap();
    let port = w.port.to_string();
    let args = ["tcp-race-family", "127.0.0.1", &port, "300", "leak"];
    let reached = (0..5).any(|_| {
        let (code, line, err) = p.probe(&p.host, &args);
        assert_eq!(code, 0, "{line}\n{err}");
        w.count() > 0
    });
    assert!(
        reached,
        "the race reached nothing in mode host in five runs"
    );
    w.reset();
    let (code, line, err) = p.probe(&p.proxy, &args);
    assert_eq!(code, 0, "{line}\n{err}");
    assert!(line.contains("connected=0 "), "{line}\n{err}");
    assert_eq!(
        w.count(),
        0,
        "a racing connect reached the listener ({line})"
    );
}

#[test]
fn without_best_effort_the_lost_redirection_is_named() {
    if !supported() {
        return;
    }
    let p = Profiles::new(&["allowed.mcpcell.test:443".into()]);
    let pr = probe();
    let mut c = run_cmd(&[
        "-p",
        p.proxy.to_str().unwrap(),
        "--",
        pr.to_str().unwrap(),
        "exit",
        "0",
    ]);
    c.env("XDG_STATE_HOME", p.state());
    let out = output_within(in_container(c), T);
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(
        err.contains("proxy-unaware clients reaching allowed hosts"),
        "{err}"
    );
    assert!(!err.contains("[refused even with --best-effort]"), "{err}");
    // --dry-run shows the layer.
    let mut c = run_cmd(&[
        "-p",
        p.proxy.to_str().unwrap(),
        "--dry-run",
        "--",
        pr.to_str().unwrap(),
        "exit",
        "0",
    ]);
    c.env("XDG_STATE_HOME", p.state());
    let o = text(&output_within(in_container(c), T).stdout);
    assert!(
        o.contains("  network proxy: seccomp user notification connects only to mcpcell's proxy"),
        "{o}"
    );
}

/// A real MCP server started through mcpcell in the tier, spoken to over stdio.
struct Mcp {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Mcp {
    fn start(profile: &Path, state: &Path, command: &[&str]) -> Mcp {
        let mut all = vec![
            "--best-effort",
            "-p",
            profile.to_str().unwrap(),
            "--log-level",
            "info",
            "--",
        ];
        all.extend_from_slice(command);
        let mut c = run_cmd(&all);
        c.env("XDG_STATE_HOME", state);
        let mut c = in_container(c);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Mcp {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    fn send(&mut self, msg: &serde_json::Value) {
        let s = self.stdin.as_mut().unwrap();
        writeln!(s, "{msg}").unwrap();
        s.flush().unwrap();
    }

    /// Sends a request and waits for its answer (`None` after the deadline or at EOF).
    fn call(
        &mut self,
        id: u64,
        method: &str,
        params: serde_json::Value,
    ) -> Option<serde_json::Value> {
        self.send(
            &serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        );
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let line = self.lines.recv_timeout(left).ok()?;
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["id"] == id {
                return Some(v);
            }
        }
    }

    fn initialize(&mut self) -> Option<serde_json::Value> {
        let r = self.call(
            1,
            "initialize",
            serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "tier-proxy-test", "version": "0"}}),
        )?;
        self.send(&serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        Some(r)
    }

    /// Closes stdin and returns mcpcell's stderr once it has exited.
    fn finish(mut self) -> String {
        drop(self.stdin.take());
        wait_exit(&mut self.child, T);
        self.stderr.join().unwrap()
    }
}

#[test]
fn the_real_fetch_server_fetches_an_allowed_page_through_the_proxy() {
    let server = deps().join("python/bin/mcp-server-fetch");
    if !supported()
        || !names_resolve()
        || !require(
            server.exists(),
            "mcp-server-fetch in MCPCELL_DEPS (integration/setup.sh)",
        )
    {
        return;
    }
    let http = HttpServer::start();
    let dir = scratch();
    let prof = profile(
        dir.path(),
        "fetch-tier",
        &format!(
            "extends: [fetch]\nnetwork:\n  allow: [\"{ALLOWED}:{}\"]\n  allow_private: [127.0.0.0/8]\n",
            http.port
        ),
    );
    let state = dir.path().join("state");
    let mut s = Mcp::start(
        &prof,
        &state,
        &[server.to_str().unwrap(), "--allow-private-ips"],
    );
    let init = s.initialize();
    let good = s.call(
        2,
        "tools/call",
        serde_json::json!({"name": "fetch", "arguments": {"url": format!("http://{ALLOWED}:{}/page", http.port)}}),
    );
    let bad = s.call(
        3,
        "tools/call",
        serde_json::json!({"name": "fetch", "arguments": {"url": format!("http://{OTHER}:{}/page", http.port)}}),
    );
    let err = s.finish();
    let init = init.unwrap_or_else(|| panic!("no answer to initialize:\n{err}"));
    assert!(init["result"]["serverInfo"].is_object(), "{init}\n{err}");
    assert!(
        err.contains("network proxy: seccomp user notification"),
        "{err}"
    );
    let good = good.unwrap_or_else(|| panic!("no answer to the allowed fetch:\n{err}"));
    assert!(
        good.to_string().contains("hello from the host"),
        "{good}\n{err}"
    );
    let bad = bad.unwrap_or_else(|| panic!("no answer to the refused fetch:\n{err}"));
    assert!(!bad.to_string().contains("hello from the host"), "{bad}");
    assert!(
        err.contains(&format!("refused {OTHER}:{}", http.port)),
        "{err}"
    );
    let seen = http.requests();
    assert!(seen.iter().any(|r| r.starts_with("GET /page")), "{seen:?}");
    assert!(seen.iter().all(|r| r.contains(ALLOWED)), "{seen:?}");
}

#[test]
fn the_real_memory_server_starts_in_proxy_mode() {
    let server = deps().join("node/node_modules/.bin/mcp-server-memory");
    if !supported()
        || !require(
            server.exists(),
            "mcp-server-memory in MCPCELL_DEPS (integration/setup.sh)",
        )
    {
        return;
    }
    let dir = scratch();
    let state = dir.path().join("state");
    // The built-in profile, which extends `npx`: network mode proxy.
    let mut s = Mcp::start(Path::new("memory"), &state, &[server.to_str().unwrap()]);
    let init = s.initialize();
    let tools = s.call(2, "tools/list", serde_json::json!({}));
    let err = s.finish();
    let init = init.unwrap_or_else(|| panic!("no answer to initialize:\n{err}"));
    assert!(init["result"]["serverInfo"].is_object(), "{init}\n{err}");
    let tools = tools.unwrap_or_else(|| panic!("no tools/list answer:\n{err}"));
    assert!(tools.to_string().contains("create_entities"), "{tools}");
    assert!(
        err.contains("network proxy: seccomp user notification"),
        "{err}"
    );
}
