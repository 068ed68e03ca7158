//! Load and stdio: 50 sandboxed MCP servers at once, a gibibyte through the sandbox byte for
//! byte, and a client that stops reading. Each test counts what mcpcell holds from /proc.
//!
//! The tests here run one at a time (they measure this process's descriptors and
//! mcpcell's memory and CPU time).

mod adversary;
mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};

use adversary::Client;
use common::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// (resident KiB, peak resident KiB) of a process.
fn rss_kib(pid: i32) -> (u64, u64) {
    let field = |k: &str| status_number(pid, k).unwrap_or(0);
    (field("VmRSS"), field("VmHWM"))
}

/// What mcpcell leaves on disk while it runs: the pids cgroup of a root launch.
fn cgroup_dir(mcpcell_pid: i32) -> Option<std::path::PathBuf> {
    [
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/unified",
    ]
    .iter()
    .map(|root| std::path::Path::new(root).join(format!("mcpcell.{mcpcell_pid}")))
    .find(|p| p.exists())
}

#[test]
fn fifty_servers_at_once() {
    const SERVERS: usize = 50;
    const CALLS: usize = 20;
    let _one = serial();
    let d = scratch();
    let state = d.path().join("state");
    let marker = format!("fifty-{}", adversary::nonce());
    let server = adversary::server();
    // Warm up (the state directory exists from then on) and take the baseline.
    let start_one = |i: usize| {
        let mut cmd = run_cmd(&["--"]);
        cmd.arg(&server).arg(format!("{marker}-{i}"));
        cmd.env("XDG_STATE_HOME", &state).stderr(Stdio::null());
        Client::start(cmd)
    };
    {
        let mut c = start_one(999);
        c.initialize(Duration::from_secs(30));
        assert_eq!(c.finish(Duration::from_secs(30)), 0);
    }
    let fds_before = open_fds();
    let state_before = walk(&state);

    let barrier = Arc::new(Barrier::new(SERVERS));
    let mut threads = Vec::new();
    let started = Instant::now();
    for i in 0..SERVERS {
        let barrier = barrier.clone();
        let mut c = start_one(i);
        threads.push(std::thread::spawn(move || {
            barrier.wait();
            let t = Duration::from_secs(120);
            assert_eq!(c.initialize(t), "mcpcell-adversary");
            let tools = c.request("tools/list", json!({}), t);
            assert_eq!(tools["tools"][0]["name"], "echo");
            for n in 0..CALLS {
                let text = format!("server {i} message {n} {}", "x".repeat(n * 100));
                assert_eq!(c.call("echo", json!({"text": text}), t), text);
            }
            // Everything mcpcell's process holds while the server runs.
            let pid = c.pid();
            let held = cgroup_dir(pid);
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |r| r.count());
            let code = c.finish(t);
            (pid, code, fds, held)
        }));
    }
    let mut pids = Vec::new();
    let mut most_fds = 0;
    for t in threads {
        let (pid, code, fds, held) = t.join().expect("a server failed");
        assert_eq!(code, 0, "mcpcell {pid} exited {code}");
        assert_eq!(held.is_some(), is_root(), "pids cgroup of {pid}: {held:?}");
        pids.push(pid);
        most_fds = most_fds.max(fds);
    }
    let took = started.elapsed();

    // Nothing is left: no process, no descriptor in this process, no cgroup, no file.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left: Vec<i32> = processes_with(&marker);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "processes left: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in &pids {
        assert_eq!(
            cgroup_dir(*pid),
            None,
            "mcpcell {pid} left its cgroup behind"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while open_fds() != fds_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        open_fds(),
        fds_before,
        "descriptors leaked in the test process"
    );
    // Each server (its own arguments) has its own state directory, empty: nothing else.
    let left: Vec<_> = walk(&state)
        .into_iter()
        .filter(|p| !state_before.contains(p))
        .filter(|p| {
            !(p.parent() == Some(&state.join("mcpcell/default"))
                && std::fs::read_dir(p).is_ok_and(|mut r| r.next().is_none()))
        })
        .collect();
    assert_eq!(
        left,
        Vec::<std::path::PathBuf>::new(),
        "mcpcell left files in its state directory"
    );
    eprintln!(
        "{SERVERS} servers at once, {CALLS} echo calls each: all answered in {took:?}; mcpcell held at most {most_fds} descriptors; nothing left behind"
    );
}

/// Every path under `dir`, sorted.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A deterministic stream: 1 MiB of pseudo-random bytes, with each block's number written
/// into it so that no two blocks are the same.
struct Stream {
    block: Vec<u8>,
}

impl Stream {
    const BLOCK: usize = 1 << 20;

    fn new() -> Stream {
        let mut block = vec![0u8; Self::BLOCK];
        let mut x: u64 = 0x243f_6a88_85a3_08d3;
        for c in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
        }
        Stream { block }
    }

    fn fill(&mut self, n: u64) -> &[u8] {
        for k in 0..16 {
            let at = k * (Self::BLOCK / 16);
            self.block[at..at + 8].copy_from_slice(&(n ^ (k as u64) << 56).to_le_bytes());
        }
        &self.block
    }
}

#[test]
fn a_gibibyte_through_the_sandbox_byte_for_byte() {
    const BLOCKS: u64 = 1024;
    let _one = serial();
    let p = probe();
    let mut cmd = run_cmd(&["--", p.to_str().unwrap(), "cat"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut s = Stream::new();
        let mut h = Sha256::new();
        for n in 0..BLOCKS {
            let b = s.fill(n);
            h.update(b);
            stdin.write_all(b).unwrap();
        }
        h.finalize()
    });
    let mut out = child.stdout.take().unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total: u64 = 0;
    let mut peak = (0, 0);
    loop {
        let n = out.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
        if total % (64 << 20) < n as u64 {
            let r = rss_kib(pid);
            peak = (peak.0.max(r.0), peak.1.max(r.1));
        }
    }
    let sent = writer.join().unwrap();
    let status = child.wait().unwrap();
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert_eq!(total, BLOCKS << 20);
    assert_eq!(h.finalize(), sent, "the bytes differ");
    eprintln!(
        "1 GiB through `mcpcell run -- probe cat`: byte for byte in {took:?}; mcpcell resident {} KiB (peak {} KiB)",
        peak.0, peak.1
    );
    // mcpcell is not in the data path: its memory does not grow with the stream.
    assert!(peak.1 < 64 * 1024, "mcpcell peaked at {} KiB", peak.1);
}

#[test]
fn a_client_that_stops_reading_stalls_the_server_and_costs_mcpcell_nothing() {
    let _one = serial();
    let p = probe();
    let mut cmd = run_cmd(&["--", p.to_str().unwrap(), "flood"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let mut out = child.stdout.take().unwrap();
    // Read a little, then stop: the pipe fills and the server blocks in write(2).
    let mut buf = vec![0u8; 1 << 20];
    out.read_exact(&mut buf).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let server = *descendants(pid).last().expect("the server");
    let written = |p: i32| -> u64 {
        std::fs::read_to_string(format!("/proc/{p}/io"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("wchar: ").and_then(|v| v.parse().ok()))
            .unwrap_or(0)
    };
    // Until the server has filled the pipe (its count stops moving; a loaded machine may
    // take a while to run it), so that the window below sees only the stall.
    let settle = Instant::now() + Duration::from_secs(30);
    let mut last = written(server);
    while Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(200));
        let now = written(server);
        if now == last {
            break;
        }
        last = now;
    }
    let (cpu0, w0, rss0) = (cpu_ticks(pid), written(server), rss_kib(pid));
    std::thread::sleep(Duration::from_secs(3));
    let (cpu1, w1, rss1) = (cpu_ticks(pid), written(server), rss_kib(pid));
    let state = state(server).unwrap_or('?');
    eprintln!(
        "stalled client, over 3 s: mcpcell used {} CPU ticks, resident {} → {} KiB; the server wrote {} bytes and is in state {state}",
        cpu1 - cpu0,
        rss0.0,
        rss1.0,
        w1 - w0
    );
    assert_eq!(w1, w0, "the server kept writing to a stalled client");
    assert_eq!(state, 'S', "the server is not blocked");
    assert!(
        cpu1 - cpu0 <= 5,
        "mcpcell used {} ticks while stalled",
        cpu1 - cpu0
    );
    assert!(
        rss1.0 <= rss0.0 + 256,
        "mcpcell grew from {} to {} KiB",
        rss0.0,
        rss1.0
    );
    // Reading again lets it go on.
    out.read_exact(&mut buf).unwrap();
    assert!(written(server) > w1);
    drop(out);
    // The server dies of SIGPIPE once its reader is gone.
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), 141);
}

#[test]
fn a_server_that_stops_reading_stalls_the_client_and_costs_mcpcell_nothing() {
    let _one = serial();
    let p = probe();
    let mut cmd = run_cmd(&["--", p.to_str().unwrap(), "sleep", "60"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let mut line = [0u8; 6];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut line)
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    nix::fcntl::fcntl(
        &stdin,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut stdin = stdin;
    let chunk = vec![b'y'; 1 << 16];
    let mut sent = 0usize;
    let (cpu0, rss0) = (cpu_ticks(pid), rss_kib(pid));
    loop {
        match stdin.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let (cpu1, rss1) = (cpu_ticks(pid), rss_kib(pid));
    eprintln!(
        "a server that does not read: the client could write {sent} bytes before blocking; mcpcell used {} ticks, resident {} → {} KiB",
        cpu1 - cpu0,
        rss0.0,
        rss1.0
    );
    // Only the pipe's buffer: mcpcell does not read stdin on the server's behalf.
    assert!(sent <= 1 << 20, "{sent} bytes went somewhere");
    assert!(cpu1 - cpu0 <= 5);
    assert!(rss1.0 <= rss0.0 + 256);
    let _ = child.kill();
    let _ = child.wait();
}

/// A server whose first words to stderr come long after its start (the memory server's come
/// after its set-up): the supervisor has given back the launch's pages by then, and starting
/// the relay's thread brings many back (creating the thread, constants and small functions
/// the start-up shares). Once the words are relayed, the supervisor is back to about what it
/// held while the server was quiet. Checked on a build without the second release: it stays
/// ~680 KiB above.
#[test]
fn a_late_first_line_to_stderr_leaves_the_supervisor_as_small_as_before() {
    let _one = serial();
    let script = "read go; echo late words >&2; read end";
    let mut cmd = run_cmd(&["-p", "default", "--", "/bin/sh", "-c", script]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    let until = |what: &str, ok: &dyn Fn((u64, u64)) -> bool| -> (u64, u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = rss_kib(pid);
            if ok(r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: mcpcell resident {} KiB, peak {} KiB",
                r.0,
                r.1
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // The launch's pages given back: resident well under the launch's peak.
    let quiet = until("the launch's pages were never given back", &|(rss, hwm)| {
        rss > 0 && rss + 512 <= hwm
    });
    let (said, heard) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(err)) {
            let Ok(line) = line else { break };
            let _ = said.send(line);
        }
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match heard.recv_timeout(left) {
            Ok(line) if line == "late words" => break,
            Ok(_) => continue,
            Err(e) => panic!("the server's words were not relayed ({e})"),
        }
    }
    let relayed = until("the relay's start kept its pages", &|(rss, _)| {
        rss <= quiet.0 + 128
    });
    eprintln!(
        "a late first line to stderr: mcpcell resident {} KiB quiet, {} KiB once it was relayed (peak {} KiB)",
        quiet.0, relayed.0, relayed.1
    );
    stdin.write_all(b"end\n").unwrap();
    drop(stdin);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)), 0);
}
