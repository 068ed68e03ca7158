//! Promise 9, bounded: the sandbox's memory (limits.memory), and mcpcell's own threads,
//! descriptors and CPU when the server floods its egress proxy with idle connections. Each
//! attack runs inside the sandbox; its effect is judged from outside (the server's exit
//! status, mcpcell's /proc entries).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(60);
/// The proxy's connection bound (src/proxy/limits.rs).
const MAX_CONNECTIONS: usize = 256;
/// The proxy's request deadline for a new connection, in seconds.
const REQUEST_DEADLINE: u64 = 10;
/// Connections the server opens: far more than the bound.
const FLOOD: usize = 1500;

/// Whether this user can have a memory cgroup: root with the memory controller mounted, or a
/// cgroup v2 that systemd delegated (writable, with the memory controller).
fn memory_cgroup_expected() -> bool {
    let cgroups = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    let has_memory = cgroups.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() == 4 && f[0] == "memory" && f[3] == "1"
    });
    if !has_memory {
        return false;
    }
    if is_root() {
        return true;
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return false;
    };
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    controllers.split_whitespace().any(|c| c == "memory")
        && nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_ok()
        && nix::unistd::access(
            &dir.join("cgroup.subtree_control"),
            nix::unistd::AccessFlags::W_OK,
        )
        .is_ok()
}

fn alloc_under(dir: &Path, memory: &str, mib: u32, extra: &[&str]) -> (i32, String, String) {
    let prof = profile(
        dir,
        "mem",
        &format!("description: memory\nlimits:\n  memory: {memory}\n"),
    );
    let mut opts = vec!["-p", prof.to_str().unwrap()];
    opts.extend_from_slice(extra);
    sandboxed(&opts, &["alloc", &mib.to_string()])
}

#[test]
fn memory_beyond_the_limit_is_refused_to_the_sandbox() {
    let d = scratch();
    // Control: the same allocation fits under a generous limit, so the probe really touches
    // that much memory and a kill below is the limit's doing.
    if memory_cgroup_expected() {
        let (code, out, err) = alloc_under(d.path(), "2G", 256, &[]);
        assert_eq!((code, out.as_str()), (0, "ALLOCATED 256"), "{err}");
        let prof = profile(
            d.path(),
            "mem",
            "description: memory\nlimits:\n  memory: 64M\n",
        );
        let p = probe();
        let mut cmd = run_cmd(&["-p", prof.to_str().unwrap(), "--", p.to_str().unwrap()]);
        cmd.args(["alloc", "256"]).stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        let code = wait_exit(&mut child, T);
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out);
        // Killed by the kernel's OOM killer inside the cgroup (SIGKILL: 128 + 9).
        assert_eq!(code, 137, "not killed: {out}");
        assert!(!out.contains("ALLOCATED 256"), "{out}");
        // The cgroup is gone with the sandbox.
        let name = format!("mcpcell.{pid}");
        let left: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(" - cgroup"))
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .flat_map(|m| walk_for_mcpcell(Path::new(&m), 6))
            .filter(|p| p.rsplit('/').next() == Some(name.as_str()))
            .collect();
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    } else {
        eprintln!("no memory cgroup for this user: checking that limits.memory fails closed");
        let (code, out, err) = alloc_under(d.path(), "64M", 256, &[]);
        assert_eq!(code, 125, "{out}\n{err}");
        assert!(out.is_empty(), "the server ran: {out}");
        assert!(
            err.contains("limits.memory") && err.contains("systemd-run --user --scope"),
            "{err}"
        );
        // --best-effort: only a per-process RLIMIT_DATA, which still stops this one process.
        let (code, out, err) = alloc_under(d.path(), "64M", 256, &["--best-effort"]);
        assert_eq!(code, 3, "{out}\n{err}");
        let got: u32 = out
            .strip_prefix("ALLOCATED ")
            .and_then(|n| n.parse().ok())
            .unwrap_or(u32::MAX);
        assert!(got < 64, "{out}");
        assert!(err.contains("RLIMIT_DATA"), "{err}");
        // Control: without the limit the same process allocates it all.
        let (code, out, err) = alloc_under(d.path(), "2G", 256, &["--best-effort"]);
        assert_eq!((code, out.as_str()), (0, "ALLOCATED 256"), "{err}");
    }
}

/// Directories named `mcpcell.*` under `dir`, a few levels down.
fn walk_for_mcpcell(dir: &Path, depth: u32) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with("mcpcell.") {
            out.push(p.to_string_lossy().into_owned());
        } else if depth > 0 {
            out.extend(walk_for_mcpcell(&p, depth - 1));
        }
    }
    out
}

/// mcpcell's threads and open descriptors from /proc (its CPU time: `common::cpu_ticks`).
fn threads(pid: u32) -> usize {
    status_number(pid as i32, "Threads").unwrap() as usize
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

struct Flood {
    child: Child,
    lines: BufReader<std::process::ChildStdout>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    seen: Vec<String>,
}

/// Starts a proxy-mode sandbox whose server opens [`FLOOD`] idle connections to the proxy
/// port, with mcpcell's descriptor limit set to `nofile` (soft and hard) when given.
fn flood(dir: &Path, nofile: Option<u64>, hold1: u32, hold2: u32) -> Flood {
    let prof = profile(
        dir,
        "flood",
        "description: flood\nnetwork:\n  mode: proxy\n  allow: [\"allowed.mcpcell.test\"]\nlimits:\n  open_files: 120\n  processes: 64\n",
    );
    let p = probe();
    let mut cmd = run_cmd(&["-p", prof.to_str().unwrap(), "--", p.to_str().unwrap()]);
    cmd.args([
        "conns",
        "3128",
        &FLOOD.to_string(),
        &hold1.to_string(),
        &hold2.to_string(),
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let rl = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap());
    // The log is read by a thread so that a full pipe cannot stall mcpcell.
    let err = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let log2 = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            log2.lock().unwrap().push_str(&(l + "\n"));
        }
    });
    Flood {
        child,
        lines,
        log,
        seen: Vec::new(),
    }
}

impl Flood {
    /// Sums the values of `key` lines once one per probe process has come (lines are kept:
    /// under load one process may report its first hold before another has connected).
    fn sum(&mut self, key: &str) -> usize {
        let procs = FLOOD.div_ceil(100);
        let start = Instant::now();
        loop {
            let values: Vec<usize> = self
                .seen
                .iter()
                .filter_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().parse().unwrap())
                .collect();
            if values.len() == procs {
                return values.iter().sum();
            }
            assert!(start.elapsed() < T, "the probe did not report {key}");
            let mut line = String::new();
            if self.lines.read_line(&mut line).unwrap() == 0 {
                let status = self.child.wait();
                panic!(
                    "the probe's output ended before {key} ({} of {procs}); mcpcell: {status:?}\n{}\n{}",
                    values.len(),
                    self.seen.join("\n"),
                    self.log.lock().unwrap()
                );
            }
            self.seen.push(line.trim().to_string());
        }
    }

    /// Waits until the probe says every process has connected (their holds start then).
    fn all_connected(&mut self) {
        while !self.seen.iter().any(|l| l == "ALL CONNECTED") {
            let mut line = String::new();
            assert!(
                self.lines.read_line(&mut line).unwrap() > 0,
                "the probe's output ended"
            );
            self.seen.push(line.trim().to_string());
        }
    }

    fn finish(mut self) -> i32 {
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.lines, &mut rest);
        wait_exit(&mut self.child, T)
    }
}

/// mcpcell's CPU time over `d`, in seconds.
fn cpu_over(pid: u32, d: Duration) -> f64 {
    let a = cpu_ticks(pid as i32);
    std::thread::sleep(d);
    let b = cpu_ticks(pid as i32);
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (b - a) as f64 / hz
}

#[test]
fn idle_connections_cannot_grow_the_proxy() {
    let d = scratch();
    let mut f = flood(d.path(), None, 5, REQUEST_DEADLINE as u32 + 2);
    let pid = f.child.id();
    let connected = f.sum("CONNECTED ");
    f.all_connected();
    // Control: the server really opened more connections than the bound (connect() succeeds
    // once the kernel queues it, whether or not mcpcell keeps it).
    assert!(
        connected > MAX_CONNECTIONS * 4,
        "only {connected} connected"
    );
    std::thread::sleep(Duration::from_secs(1));
    let (t, n, cpu) = (
        threads(pid),
        fds(pid),
        cpu_over(pid, Duration::from_secs(2)),
    );
    eprintln!(
        "{connected} connections held: mcpcell has {t} threads, {n} descriptors, {cpu:.2} s CPU in 2 s"
    );
    assert!(t <= MAX_CONNECTIONS + 16, "{t} threads");
    assert!(n <= MAX_CONNECTIONS + 64, "{n} descriptors");
    assert!(cpu < 0.5, "{cpu} s of CPU in 2 s while idle");
    // Everything past the bound was closed at once...
    let closed = f.sum("CLOSED1 ");
    assert!(
        closed >= connected - MAX_CONNECTIONS,
        "{closed} of {connected} closed"
    );
    // ...and the ones kept, which never sent a request, after the request deadline.
    let closed = f.sum("CLOSED2 ");
    assert_eq!(closed, connected, "idle connections outlived the deadline");
    assert!(
        threads(pid) <= 16,
        "{} threads after the flood",
        threads(pid)
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    f.finish();
}

#[test]
fn out_of_descriptors_the_proxy_does_not_spin() {
    let d = scratch();
    const NOFILE: u64 = 128;
    let mut f = flood(d.path(), Some(NOFILE), 5, 0);
    let pid = f.child.id();
    let connected = f.sum("CONNECTED ");
    f.all_connected();
    std::thread::sleep(Duration::from_secs(1));
    let (t, n, cpu) = (
        threads(pid),
        fds(pid),
        cpu_over(pid, Duration::from_secs(2)),
    );
    eprintln!(
        "{connected} connections, mcpcell limited to {NOFILE} descriptors: {t} threads, {n} descriptors, {cpu:.2} s CPU in 2 s"
    );
    // A spinning accept loop burns a full CPU: 2 s of CPU in 2 s.
    assert!(cpu < 0.5, "{cpu} s of CPU in 2 s");
    // Control: mcpcell really ran out of descriptors (all but a few are taken), and the
    // connections past that were taken and closed, not left hanging in the queue.
    assert!(n as u64 >= NOFILE - 8, "only {n} descriptors open");
    assert!(connected as u64 > NOFILE * 4, "only {connected} connected");
    assert!(t <= MAX_CONNECTIONS + 16, "{t} threads");
    f.sum("CLOSED1 ");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    f.finish();
}

/// The state directory of profile `prof` for the probe run with `args`, from the dry run's
/// JSON (each server, by its command line, has its own).
fn state_dir_of(prof: &Path, args: &[&str]) -> std::path::PathBuf {
    let p = probe();
    let mut all = vec![
        "--dry-run",
        "--format",
        "json",
        "-p",
        prof.to_str().unwrap(),
        "--",
        p.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = output_within(run_cmd(&all), T);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    std::path::PathBuf::from(v["plan"]["state_dir"].as_str().unwrap())
}

/// A profile for the probe's `fill`, whose state directory may hold `size` (`FILL_DIR`).
fn fill_profile(dir: &Path, name: &str, size: &str) -> std::path::PathBuf {
    profile(
        dir,
        name,
        &format!(
            "description: fill\nfilesystem:\n  write: [\"${{STATE_DIR}}\"]\nenv:\n  set: {{FILL_DIR: \"${{STATE_DIR}}\"}}\nlimits:\n  state_size: {size}\n"
        ),
    )
}

#[test]
fn a_state_directory_over_its_limit_stops_the_server() {
    let d = scratch();
    // 1,000 files of 1 KiB: at least 4 MiB as counted (4 KiB an entry), then a stay of 4 s
    // (the control: the size is checked about every second) or 30 s (long enough that only
    // mcpcell can end it early).
    let control = ["fill", "1000", "1", "4"];
    let args = ["fill", "1000", "1", "30"];
    let fill = |size: &str, args: &[&str]| {
        let prof = fill_profile(d.path(), &format!("fill-{}", std::process::id()), size);
        (state_dir_of(&prof, args), prof)
    };
    let (state, prof) = fill("1G", &control);
    let _ = std::fs::remove_dir_all(&state);
    // Control: under a limit it does not reach, the server writes it all and keeps running.
    let (code, out, err) = sandboxed(&["-p", prof.to_str().unwrap()], &control);
    assert_eq!((code, out.as_str()), (0, "FILLED 1000\nSURVIVED"), "{err}");
    let _ = std::fs::remove_dir_all(&state);
    let (state, prof) = fill("2M", &args);
    let _ = std::fs::remove_dir_all(&state);
    let start = Instant::now();
    let (code, out, err) = sandboxed(&["-p", prof.to_str().unwrap()], &args);
    assert_eq!(code, 137, "{out}\n{err}");
    assert!(!out.contains("SURVIVED"), "{out}");
    assert!(err.contains("limits.state_size"), "{err}");
    // Stopped well within its stay (the size is checked every second or so; a loaded machine
    // may take a few).
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    // The directory stays over the limit: the next launch is refused.
    let (code, out, err) = sandboxed(&["-p", prof.to_str().unwrap()], &args);
    assert_eq!((code, out.as_str()), (125, ""), "{err}");
    assert!(err.contains("remove files from it"), "{err}");
    let _ = std::fs::remove_dir_all(&state);
}

/// The size of a state directory is measured without holding its listing: a server that
/// made many long names (its own choice, in its own directory) cannot make mcpcell hold
/// them all. Collected first, 400,000 names of 250 bytes held 115 MB in mcpcell.
#[test]
fn measuring_a_state_directory_of_many_long_names_costs_mcpcell_little_memory() {
    let d = scratch();
    let args = ["fill", "0", "1", "4"];
    let name = format!("names-{}", std::process::id());
    let prof = fill_profile(d.path(), &name, "8G");
    let state = state_dir_of(&prof, &args);
    let _ = std::fs::remove_dir_all(&state);
    // mcpcell's peak (VmHWM, with the pages of its own code) while the server stays 4 s:
    // measured before the launch and then every second meanwhile.
    let peak = || {
        let mut cmd = probe_cmd(&["-p", prof.to_str().unwrap()], &args);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        let hwm = status_number(child.id() as i32, "VmHWM").unwrap();
        let _ = child.wait();
        hwm
    };
    std::fs::create_dir_all(&state).unwrap();
    let empty = peak();
    for i in 0..40_000 {
        std::fs::File::create(state.join(format!("{i:0>240}"))).unwrap();
    }
    let full = peak();
    // The names alone are 40,000 * 241 bytes, 9.6 MB.
    assert!(
        full < empty + 2048,
        "mcpcell's peak: {full} KiB, {empty} KiB with the directory empty"
    );
    // Control: the walk saw every name (at 4 KiB each, 160 MB, over a 100M limit).
    let prof = fill_profile(d.path(), &name, "100M");
    let (code, out, err) = sandboxed(&["-p", prof.to_str().unwrap()], &args);
    assert_eq!((code, out.as_str()), (125, ""), "{err}");
    assert!(err.contains("remove files from it"), "{err}");
    let _ = std::fs::remove_dir_all(&state);
}

/// Queued signals are counted per user, the host's programs' with the sandbox's: a server
/// may queue only a small share of the user's allowance (RLIMIT_SIGPENDING, tens of
/// thousands), so that the user's other programs can still queue theirs.
#[test]
fn a_server_cannot_queue_the_users_whole_allowance_of_signals() {
    let queued = |out: &str| -> u64 {
        out.trim()
            .strip_prefix("QUEUED ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{out}"))
    };
    // Control: outside the sandbox the same program queues all it asks for.
    let bare = std::process::Command::new(probe())
        .args(["sigqueue", "5000"])
        .output()
        .unwrap();
    assert_eq!(queued(&String::from_utf8_lossy(&bare.stdout)), 5000);
    let (code, out, err) = sandboxed(&["-p", "default"], &["sigqueue", "5000"]);
    assert_eq!(code, 0, "{err}");
    let n = queued(&out);
    assert!((1..=1024).contains(&n), "{n} signals queued in the sandbox");
}

#[test]
fn refusals_in_a_loop_cannot_flood_the_log() {
    let d = scratch();
    let prof = profile(
        d.path(),
        "refused",
        "description: refused\nnetwork:\n  mode: proxy\n  allow: [\"allowed.mcpcell.test\"]\nlimits:\n  open_files: 120\n",
    );
    // 300 connections straight to an address no allowed name resolved to: each one lands on
    // the transparent listener for port 443 and is refused. The server stays 5 s after its
    // last connect: the kernel queues them faster than mcpcell takes them, and those still
    // queued when the server exits are not counted.
    let (code, out, err) = sandboxed(
        &["-p", prof.to_str().unwrap(), "--log-level", "info"],
        &["conns", "443", "300", "5", "0"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let logged = err
        .lines()
        .filter(|l| l.contains("proxy: refused 127.0.0.1:443"))
        .count();
    // Control: the summary at exit counts the attempts, far more than were logged.
    let counted: u64 = err
        .split("proxy summary: refused 127.0.0.1:443: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let connected: u64 = out
        .lines()
        .filter_map(|l| l.strip_prefix("CONNECTED "))
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert!(connected >= 100, "{out}");
    assert_eq!(counted, connected, "{err}");
    assert!((1..=3).contains(&logged), "{logged} refusal lines:\n{err}");
    assert!(err.lines().count() < 40, "{err}");
}

#[test]
fn a_request_that_never_ends_is_closed_at_the_deadline() {
    let d = scratch();
    let prof = profile(
        d.path(),
        "slow",
        "description: slow\nnetwork:\n  mode: proxy\n  allow: [\"allowed.mcpcell.test\"]\n",
    );
    // 20 connections that each send one more byte of a request head every second.
    let secs = REQUEST_DEADLINE + 3;
    let (code, out, err) = sandboxed(
        &["-p", prof.to_str().unwrap()],
        &["slow", "3128", "20", &secs.to_string()],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let closed_after = |t: u64| -> usize {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("AFTER {t} ")))
            .unwrap_or_else(|| panic!("no report for {t} s: {out}"))
            .parse()
            .unwrap()
    };
    // Control: a client still sending its request in time is served, not cut off early.
    assert_eq!(closed_after(REQUEST_DEADLINE / 2), 0, "{out}");
    assert_eq!(closed_after(secs), 20, "{out}");
}

/// `limits.tmp_size` bounds the private /tmp's files as well as its bytes: an empty file
/// takes no block but an inode, kernel memory outside any limit. 1 MiB holds 1,024 files;
/// the control, the same launch with the default size, holds 3,000.
#[test]
fn the_private_tmp_holds_a_bounded_number_of_files() {
    let dir = scratch();
    let small = profile(
        dir.path(),
        "small-tmp",
        "extends: [default]\nlimits:\n  tmp_size: 1M\n",
    );
    let fill = "i=0; while [ $i -lt 3000 ]; do true > /tmp/f$i 2>/dev/null || break; i=$((i+1)); done; echo $i";
    let count = |opts: &[&str]| {
        let mut args = opts.to_vec();
        args.extend(["--", "/bin/sh", "-c", fill]);
        let out = output_within(run_cmd(&args), T);
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .unwrap_or(0)
    };
    let n = count(&["-p", small.to_str().unwrap()]);
    assert!((1000..=1024).contains(&n), "{n} files in a 1 MiB /tmp");
    assert_eq!(count(&["-p", "default"]), 3000);
}
