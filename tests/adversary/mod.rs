//! The malicious MCP server (`server.c`), a small MCP client to drive it, and the host side
//! of an attack: planted secrets, listeners that record every connection, a victim process,
//! a terminal. Used by `escape.rs` and by the load tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

fn build(out_name: &str, env_var: &str, defines: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        return PathBuf::from(p);
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/adversary/server.c");
    let out =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{out_name}-{}", std::process::id()));
    let status = Command::new("gcc")
        .args(["-static", "-O2"])
        .args(defines)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("gcc must be installed to build the adversary");
    assert!(status.success(), "building {out_name} failed");
    out
}

/// The malicious MCP server (`MCPCELL_ADVERSARY` overrides; otherwise built with gcc).
pub fn server() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| build("adversary", "MCPCELL_ADVERSARY", &[]))
        .clone()
}

/// The payload alone: what the setuid and file-capability copies run.
pub fn payload() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| build("payload", "MCPCELL_PAYLOAD", &["-DPAYLOAD_ONLY"]))
        .clone()
}

/// A unique token for one run: it names the data the server tries to get out.
pub fn nonce() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "n{:x}{:x}{}",
        std::process::id(),
        t & 0xfffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// An MCP client over a child's stdio: one JSON-RPC message a line.
pub struct Client {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: u64,
}

impl Client {
    /// Starts `cmd` with piped stdin and stdout (stderr as the caller set it).
    pub fn start(mut cmd: Command) -> Client {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn mcpcell");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(l) = line else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Client {
            child,
            stdin,
            lines: rx,
            next_id: 1,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn send(&mut self, v: &Value) {
        let mut s = serde_json::to_string(v).unwrap();
        s.push('\n');
        self.stdin
            .as_mut()
            .expect("stdin is open")
            .write_all(s.as_bytes())
            .expect("write to the server");
    }

    /// Sends a request and waits for its response; returns `result`, panics on an error.
    pub fn request(&mut self, method: &str, params: Value, limit: Duration) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no answer to {method} within {limit:?}: {e}"));
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not JSON-RPC on stdout ({e}): {line}"));
            if v["id"] == json!(id) {
                if let Some(err) = v.get("error") {
                    panic!("{method} failed: {err}");
                }
                return v["result"].clone();
            }
        }
    }

    pub fn notify(&mut self, method: &str) {
        self.send(&json!({"jsonrpc": "2.0", "method": method}));
    }

    /// initialize + notifications/initialized; returns the server's name.
    pub fn initialize(&mut self, limit: Duration) -> String {
        let r = self.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "mcpcell-tests", "version": "1"}}),
            limit,
        );
        self.notify("notifications/initialized");
        r["serverInfo"]["name"].as_str().unwrap_or("").to_string()
    }

    /// tools/call; returns the first text content.
    pub fn call(&mut self, tool: &str, arguments: Value, limit: Duration) -> String {
        let r = self.request(
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
            limit,
        );
        r["content"][0]["text"].as_str().unwrap_or("").to_string()
    }

    /// Closes the server's stdin and waits for mcpcell to exit; returns its status.
    pub fn finish(&mut self, limit: Duration) -> i32 {
        drop(self.stdin.take());
        wait_exit(&mut self.child, limit)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A host process the sandbox must not reach: it holds a secret in its memory, its
/// environment and its command line, and logs every signal it receives.
pub struct Victim {
    pub child: Child,
    pub secret_addr: String,
    pub flag_addr: String,
    pub log: PathBuf,
}

impl Victim {
    pub fn start(dir: &Path, env_secret: &str, argv_secret: &str, memory_secret: &str) -> Victim {
        let log = dir.join("victim.log");
        let mut child = Command::new(server())
            .arg("victim")
            .arg(&log)
            .arg(argv_secret)
            .env("VICTIM_ENV_SECRET", env_secret)
            .env("VICTIM_MEMORY_SECRET", memory_secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the victim");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut parts = line.split_whitespace().skip(1);
        let secret_addr = parts.next().expect("victim address").to_string();
        let flag_addr = parts.next().expect("victim flag").to_string();
        Victim {
            child,
            secret_addr,
            flag_addr,
            log,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What happened to it, as the host sees it; empty when nothing did.
    pub fn harm(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(l) = std::fs::read_to_string(&self.log) {
            if !l.is_empty() {
                out.push(format!(
                    "the victim received: {}",
                    l.trim().replace('\n', ", ")
                ));
            }
        }
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        for l in status.lines() {
            if l.starts_with("State:") && !l.contains("S (sleeping)") {
                out.push(format!("the victim is not sleeping: {l}"));
            }
            if l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0") {
                out.push(format!("the victim is traced: {l}"));
            }
        }
        // Its memory, read by its parent (the test).
        let addr = u64::from_str_radix(self.flag_addr.trim_start_matches("0x"), 16).unwrap();
        if let Ok(f) = std::fs::File::open(format!("/proc/{}/mem", self.pid())) {
            use std::os::unix::fs::FileExt;
            let mut b = [0u8; 8];
            if f.read_exact_at(&mut b, addr).is_ok() && u64::from_ne_bytes(b) != 0x1111111111111111
            {
                out.push(format!("the victim's memory changed: {:x?}", b));
            }
        }
        if self.child.try_wait().unwrap().is_some() {
            out.push("the victim died".into());
        }
        out
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Listeners on the host, each recording whether anything reached it.
pub struct Listeners {
    pub tcp: TcpListener,
    pub tcp_any: TcpListener,
    pub tcp6: Option<TcpListener>,
    pub udp: UdpSocket,
    pub udp_any: UdpSocket,
    pub dns: UdpSocket,
    pub unix: Vec<(&'static str, PathBuf, UnixListener)>,
    pub abstract_name: String,
    pub abstract_listener: UnixListener,
    /// Root only: a raw ICMP socket that sees every ICMP packet the host receives.
    pub icmp: Option<OwnedFd>,
    pub host_ip: Option<Ipv4Addr>,
    ssh_dir: PathBuf,
}

/// The host's own outbound IPv4 address (a UDP connect sends nothing).
fn host_ip() -> Option<Ipv4Addr> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("10.255.255.53:53").ok()?;
    match s.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

fn nonblocking_unix(path: &Path) -> UnixListener {
    let l = UnixListener::bind(path).unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

impl Listeners {
    /// `dbus_dir` and `project_dir` are where the D-Bus-like socket and a socket inside the
    /// workspace go; the ssh-agent-like one goes where ssh-agent puts it, in the host's /tmp.
    pub fn start(nonce: &str, dbus_dir: &Path, project_dir: &Path) -> Listeners {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_any = TcpListener::bind("0.0.0.0:0").unwrap();
        let tcp6 = TcpListener::bind("[::1]:0").ok();
        for l in [Some(&tcp), Some(&tcp_any), tcp6.as_ref()]
            .into_iter()
            .flatten()
        {
            l.set_nonblocking(true).unwrap();
        }
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp_any = UdpSocket::bind("0.0.0.0:0").unwrap();
        let dns = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&udp, &udp_any, &dns] {
            s.set_nonblocking(true).unwrap();
        }
        let ssh_dir = PathBuf::from(format!("/tmp/ssh-{nonce}"));
        std::fs::create_dir_all(&ssh_dir).unwrap();
        let ssh = ssh_dir.join("agent.1");
        let dbus = dbus_dir.join("bus");
        let project = project_dir.join("devcontainer.sock");
        let unix = vec![
            ("ssh-agent", ssh.clone(), nonblocking_unix(&ssh)),
            ("D-Bus", dbus.clone(), nonblocking_unix(&dbus)),
            ("workspace", project.clone(), nonblocking_unix(&project)),
        ];
        let abstract_name = format!("mcpcell-escape-{nonce}");
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&abstract_name).unwrap();
        let abstract_listener = UnixListener::bind_addr(&addr).unwrap();
        abstract_listener.set_nonblocking(true).unwrap();
        let icmp = if is_root() {
            // SAFETY: creates a socket; the descriptor is owned below.
            let fd = unsafe {
                libc::socket(
                    libc::AF_INET,
                    libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    libc::IPPROTO_ICMP,
                )
            };
            // SAFETY: a fresh descriptor that nothing else owns.
            (fd >= 0).then(|| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        } else {
            None
        };
        Listeners {
            tcp,
            tcp_any,
            tcp6,
            udp,
            udp_any,
            dns,
            unix,
            abstract_name,
            abstract_listener,
            icmp,
            host_ip: host_ip(),
            ssh_dir,
        }
    }

    /// The configuration lines that tell the server where everything is.
    pub fn config(&self) -> String {
        let port = |l: &TcpListener| l.local_addr().unwrap().port();
        let uport = |s: &UdpSocket| s.local_addr().unwrap().port();
        let mut c = format!(
            "tcp={}\ntcp_any={}\ntcp6={}\nudp={}\nudp_any={}\ndns={}\nsock_abstract=@{}\n",
            port(&self.tcp),
            port(&self.tcp_any),
            self.tcp6.as_ref().map(port).unwrap_or(0),
            uport(&self.udp),
            uport(&self.udp_any),
            uport(&self.dns),
            self.abstract_name
        );
        for (key, (_, path, _)) in ["sock_ssh", "sock_dbus", "sock_project"]
            .iter()
            .zip(&self.unix)
        {
            c.push_str(&format!("{key}={}\n", path.display()));
        }
        if let Some(ip) = self.host_ip {
            c.push_str(&format!("host_ip={ip}\n"));
        }
        c
    }

    /// Everything that reached a listener.
    pub fn reached(&self, nonce: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (what, l) in [
            ("TCP 127.0.0.1", Some(&self.tcp)),
            ("TCP 0.0.0.0", Some(&self.tcp_any)),
            ("TCP [::1]", self.tcp6.as_ref()),
        ] {
            if let Some(l) = l {
                if let Ok((_, from)) = l.accept() {
                    out.push(format!(
                        "the host listener {what} got a connection from {from}"
                    ));
                }
            }
        }
        let mut buf = [0u8; 2048];
        for (what, s) in [
            ("UDP 127.0.0.1", &self.udp),
            ("UDP 0.0.0.0", &self.udp_any),
            ("DNS 127.0.0.1", &self.dns),
        ] {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                out.push(format!(
                    "the host listener {what} got {n} bytes from {from}"
                ));
            }
        }
        for (what, path, l) in &self.unix {
            if l.accept().is_ok() {
                out.push(format!(
                    "the host's {what} socket {} got a connection",
                    path.display()
                ));
            }
        }
        if self.abstract_listener.accept().is_ok() {
            out.push(format!(
                "the abstract socket @{} got a connection",
                self.abstract_name
            ));
        }
        if let Some(fd) = &self.icmp {
            loop {
                // SAFETY: reads into a local buffer from our own socket.
                let n =
                    unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n <= 0 {
                    break;
                }
                let pkt = &buf[..n as usize];
                if pkt.windows(nonce.len()).any(|w| w == nonce.as_bytes()) {
                    out.push("an ICMP packet carrying the nonce reached the host".into());
                }
            }
        }
        out
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.ssh_dir);
    }
}

/// Processes whose command name is `comm` (host view).
pub fn processes_named(comm: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
        {
            out.push(pid);
        }
    }
    out
}

fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

/// [`descendants`], read twice: a scan of /proc is not atomic, and while pids are reused
/// quickly (fork bombs in parallel tests) a process can be seen under a parent it never had.
/// What the second reading does not confirm is not counted.
pub fn confirmed_descendants(root: i32) -> Vec<i32> {
    let d = descendants(root);
    d.iter()
        .copied()
        .filter(|&p| parent(p).is_some_and(|pp| pp == root || d.contains(&pp)))
        .collect()
}

/// The highest process count and per-process descriptor count seen under `root` while
/// `busy` holds, sampled from the host.
pub struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<(usize, usize)>>,
}

impl Sampler {
    pub fn start(root: i32) -> Sampler {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut procs, mut fds) = (0, 0);
            while !s.load(Ordering::Relaxed) {
                let d = confirmed_descendants(root);
                procs = procs.max(d.len());
                for p in d {
                    if let Ok(rd) = std::fs::read_dir(format!("/proc/{p}/fd")) {
                        fds = fds.max(rd.count());
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (procs, fds)
        });
        Sampler {
            stop,
            handle: Some(handle),
        }
    }

    /// (most processes under the root, most descriptors in one process).
    pub fn finish(mut self) -> (usize, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle.take().unwrap().join().unwrap()
    }
}

/// A pseudo-terminal that becomes the controlling terminal of mcpcell's session and its
/// stderr, as when a client runs in a terminal. Raw mode, so that anything pushed into its
/// input queue can be counted.
pub struct Terminal {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

impl Terminal {
    pub fn open() -> Terminal {
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut t = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
        Terminal {
            master: pty.master,
            slave: pty.slave,
        }
    }

    /// Makes `cmd` a session leader with this terminal as its controlling terminal and
    /// stderr.
    pub fn attach(&self, cmd: &mut Command) {
        let slave = self.slave.as_raw_fd();
        cmd.stderr(Stdio::from(self.slave.try_clone().unwrap()));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::setsid();
                libc::ioctl(slave, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
    }

    /// Bytes waiting in the terminal's input queue: what was typed, or injected.
    pub fn pending_input(&self) -> i32 {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int.
        unsafe { libc::ioctl(self.slave.as_raw_fd(), libc::FIONREAD, &mut n) };
        n
    }

    /// Everything written to the terminal so far (mcpcell's stderr).
    pub fn drain(&self) -> String {
        let fd = self.master.as_raw_fd();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let mut p = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; reads into a local buffer.
            let n = unsafe {
                if libc::poll(&mut p, 1, 0) <= 0 {
                    break;
                }
                libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
            };
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
