//! Shared test harness: the built mcpcell, the probe program, host-side listeners and
//! victims, and runs with a timeout.
//!
//! The same tests run as root and as an ordinary user (`.ci/run` runs them twice). A test
//! that needs a kernel feature this machine lacks says so on stderr and skips, except under
//! `CI=true`, where a skip is a failure.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The mcpcell binary under test (`MCPCELL_BIN` overrides the one cargo built).
pub fn mcpcell() -> PathBuf {
    std::env::var_os("MCPCELL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_mcpcell")))
}

/// The static probe program (`MCPCELL_PROBE` overrides; otherwise built once with gcc).
pub fn probe() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("MCPCELL_PROBE") {
                return PathBuf::from(p);
            }
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/probe/probe.c");
            let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("probe-{}", std::process::id()));
            let status = Command::new("gcc")
                .args(["-static", "-O2", "-o"])
                .arg(&out)
                .arg(&src)
                .status()
                .expect("gcc must be installed to build the test probe");
            assert!(status.success(), "building the probe failed");
            out
        })
        .clone()
}

/// The static `nouserns` program (`MCPCELL_NOUSERNS` overrides; otherwise built once with
/// gcc): it runs a command with namespace creation refused, as a container's default seccomp
/// profile does (tests/nouserns/nouserns.c).
pub fn nouserns() -> PathBuf {
    static NOUSERNS: OnceLock<PathBuf> = OnceLock::new();
    NOUSERNS
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("MCPCELL_NOUSERNS") {
                return PathBuf::from(p);
            }
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nouserns/nouserns.c");
            let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("nouserns-{}", std::process::id()));
            let status = Command::new("gcc")
                .args(["-static", "-O2", "-o"])
                .arg(&out)
                .arg(&src)
                .status()
                .expect("gcc must be installed to build the nouserns harness");
            assert!(status.success(), "building nouserns failed");
            out
        })
        .clone()
}

/// Whether mcpcell launches here in the namespace-free tier (its plan says so).
pub fn namespace_free_tier() -> bool {
    let out = output_within(
        run_cmd(&["--dry-run", "--format", "json", "--", "/bin/true"]),
        Duration::from_secs(30),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["plan"]["tier"]["name"] == "namespace-free"
}

/// `cmd` (a command line for mcpcell) run under [`nouserns`]: as in a container.
pub fn in_container(cmd: Command) -> Command {
    under_nouserns(&[], cmd)
}

/// `cmd` run where no thread can be created (`nouserns --nothreads`), as on a system out of
/// threads; the harness exits with 124 if `cmd` leaves a process behind.
pub fn without_threads(cmd: Command) -> Command {
    under_nouserns(&["--nothreads"], cmd)
}

fn under_nouserns(mode: &[&str], cmd: Command) -> Command {
    let mut n = Command::new(nouserns());
    n.args(mode);
    let mut c = through(n, &cmd);
    c.stdin(Stdio::null());
    c
}

/// `inner` run through the wrapper `outer` (nouserns, strace, unshare ...): `inner`'s
/// command line after `outer`'s own arguments, with `inner`'s environment alone and its
/// working directory.
pub fn through(mut outer: Command, inner: &Command) -> Command {
    outer
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_clear();
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            outer.env(k, v);
        }
    }
    if let Some(d) = inner.get_current_dir() {
        outer.current_dir(d);
    }
    outer
}

/// `cmd` started with nothing open beyond stdin, stdout and stderr, whatever the test runner
/// left open without close-on-exec (a jobserver's pipe, say).
pub fn only_stdio(mut cmd: Command) -> Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: close_range is async-signal-safe; the descriptors closed are the child's copies.
    unsafe {
        cmd.pre_exec(|| {
            libc::close_range(3, u32::MAX, 0);
            Ok(())
        });
    }
    cmd
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Skips (or, under CI, fails) a test that needs something this machine lacks.
pub fn require(cond: bool, what: &str) -> bool {
    if cond {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("required feature missing in CI: {what}");
    }
    eprintln!("SKIPPED: {what} is not available on this machine");
    false
}

pub fn landlock_abi() -> i32 {
    // SAFETY: the version query reads no memory.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    v.max(0) as i32
}

/// A scratch directory outside /tmp (which the sandbox replaces with its own), readable by
/// the sandbox only where a test grants it.
pub fn scratch() -> tempfile::TempDir {
    let base = std::env::var("MCPCELL_TEST_DIR").unwrap_or_else(|_| "/var/tmp".into());
    tempfile::Builder::new()
        .prefix("mcpcell-test-")
        .tempdir_in(base)
        .expect("scratch directory")
}

/// A [`scratch`] directory anyone may enter and read: an ordinary user's sandbox maps other
/// users out, and the profile, state or programs a test puts there must stay reachable.
pub fn readable_scratch() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("scratch directory's mode");
    dir
}

/// A command line for `mcpcell run` with a clean, predictable environment.
pub fn run_cmd(args: &[&str]) -> Command {
    mcpcell_cmd("run", args)
}

/// A command line for `mcpcell SUBCOMMAND` with a clean, predictable environment.
pub fn mcpcell_cmd(sub: &str, args: &[&str]) -> Command {
    let mut c = Command::new(mcpcell());
    c.env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8")
        .env("XDG_STATE_HOME", state_home());
    if let Ok(h) = std::env::var("HOME") {
        c.env("HOME", h);
    }
    c.arg(sub).args(args);
    c.stdin(Stdio::null());
    // Not the checkout, which may lie under /tmp (where mcpcell says the server starts in /
    // instead); a test that needs a working directory sets its own.
    c.current_dir("/");
    c
}

/// A per-user state directory for the tests, so runs as different users do not collide.
pub fn state_home() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("mcpcell-test-state-{}", nix::unistd::geteuid()));
        let d = if d.starts_with("/tmp") {
            PathBuf::from(format!(
                "/var/tmp/mcpcell-test-state-{}",
                nix::unistd::geteuid()
            ))
        } else {
            d
        };
        std::fs::create_dir_all(&d).unwrap();
        d
    })
    .clone()
}

/// Runs `cmd` to completion, killing it after `limit`.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mcpcell");
    let start = Instant::now();
    // Read pipes in threads so that a large output cannot block the child.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("mcpcell did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
    }
}

/// `mcpcell run OPTS -- probe PROBE_ARGS`.
pub fn probe_cmd(opts: &[&str], probe_args: &[&str]) -> Command {
    let p = probe();
    let mut args: Vec<&str> = opts.to_vec();
    args.push("--");
    args.push(p.to_str().unwrap());
    args.extend_from_slice(probe_args);
    run_cmd(&args)
}

/// Runs the probe in the sandbox with extra mcpcell options; returns (exit code, stdout,
/// stderr).
pub fn sandboxed(opts: &[&str], probe_args: &[&str]) -> (i32, String, String) {
    let out = output_within(probe_cmd(opts, probe_args), Duration::from_secs(30));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The probe's one-line verdict, asserting mcpcell itself worked.
pub fn probe_line(opts: &[&str], probe_args: &[&str]) -> String {
    let (code, out, err) = sandboxed(opts, probe_args);
    assert!(
        code == 0 || code == 1,
        "mcpcell run {opts:?} -- probe {probe_args:?} exited {code}; stderr:\n{err}"
    );
    out
}

pub fn assert_denied(line: &str, what: &str) {
    assert!(line.starts_with("ERR "), "{what} was not denied: {line}");
}

/// A long-running mcpcell whose stdout can be read line by line.
pub struct Running {
    pub child: Child,
    pub lines: BufReader<ChildStdout>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn mcpcell");
        let lines = BufReader::new(child.stdout.take().unwrap());
        Running { child, lines }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The next stdout line, or panics after `limit`.
    pub fn line(&mut self, limit: Duration) -> String {
        let fd = std::os::fd::AsRawFd::as_raw_fd(self.lines.get_ref());
        let deadline = Instant::now() + limit;
        loop {
            if !self.lines.buffer().is_empty() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("no output within {limit:?}");
            }
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
            if r > 0 {
                break;
            }
        }
        let mut s = String::new();
        self.lines.read_line(&mut s).unwrap();
        s.trim_end().to_string()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// Waits for exit; returns the exit code (or 128+signal), panicking after `limit`.
    pub fn wait(&mut self, limit: Duration) -> i32 {
        wait_exit(&mut self.child, limit)
    }

    pub fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit; returns its exit code (or 128+signal), killing it and
/// panicking after `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            use std::os::unix::process::ExitStatusExt;
            return s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("mcpcell did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The descendants of `root` once there are `n` of them, waiting up to 20 s (a tree a probe
/// is still forking, or the process making the sandbox's namespaces still leaving); what
/// there is when the time is up otherwise.
pub fn descendants_when(root: i32, n: usize) -> Vec<i32> {
    settled(
        Duration::from_secs(20),
        || descendants(root),
        |t| t.len() == n,
    )
}

/// `read()` once `done` holds for it, read again every 10 ms up to `wait`; the last reading
/// when the time is up. For a state the sandbox reaches soon after a line it printed
/// (a helper process still leaving, a child still forking) on a loaded machine.
pub fn settled<T>(wait: Duration, read: impl Fn() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + wait;
    loop {
        let now = read();
        if done(&now) || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The first descendant of `root` whose command name (`/proc/PID/comm`) is `name`, waiting
/// up to `wait` for it to appear: a server known by what it runs, not by its place in a
/// tree where the process making the sandbox's namespaces may still be leaving.
pub fn descendant_named(root: i32, name: &str, wait: Duration) -> Option<i32> {
    let comm = |p: &i32| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
    let named = || {
        descendants(root)
            .into_iter()
            .find(|p| comm(p).trim_end() == name)
    };
    settled(wait, named, Option::is_some)
}

/// Every process whose ancestry leads to `root` (host view).
pub fn descendants(root: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        let ppid: i32 = fields.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        parent_of.push((pid, ppid));
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        for &(c, pp) in &parent_of {
            if pp == p && !out.contains(&c) {
                out.push(c);
            }
        }
        i += 1;
    }
    out.remove(0);
    out
}

/// Processes whose command line contains `marker` (host view; /proc/PID/cmdline is readable
/// for every process).
pub fn processes_with(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if c.windows(marker.len()).any(|w| w == marker.as_bytes()) && alive(pid) {
                out.push(pid);
            }
        }
    }
    out
}

/// The fields of `/proc/PID/stat` from the third (the state) on: those after the command
/// name, which may itself hold spaces and parentheses.
pub fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// CPU time (user + system) of a process and all its threads, in clock ticks (0 once gone).
pub fn cpu_ticks(pid: i32) -> u64 {
    // utime and stime: fields 14 and 15, the 12th and 13th from the state on.
    let f = stat_fields(pid).unwrap_or_default();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// A field of `/proc/PID/status` (`VmHWM`, `Threads`, `FDSize`, ...), its value trimmed;
/// `None` once the process is gone.
pub fn status_field(pid: i32, name: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix(name)?.strip_prefix(':')?;
        Some(v.trim().to_string())
    })
}

/// The first number of a `/proc/PID/status` field (kB for the memory ones).
pub fn status_number(pid: i32, name: &str) -> Option<u64> {
    status_field(pid, name)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The process's state letter (`R`, `S`, `Z`, ...).
pub fn state(pid: i32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

pub fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); look at the state instead.
    state(pid).is_some_and(|c| c != 'Z')
}

/// Whether `pid` is dying: it has been sent SIGKILL (pending for its main thread or the whole
/// process), or it is already exiting (`PF_EXITING` in its flags: a killed process takes the
/// signal off its pending set once it starts to exit, and a pid namespace's init waits there
/// for the rest of its namespace).
pub fn dying(pid: i32) -> bool {
    const PF_EXITING: u64 = 0x4;
    // The flags are field 9, the seventh from the state on.
    let flags = stat_fields(pid)
        .and_then(|f| f.get(6)?.parse::<u64>().ok())
        .unwrap_or(0);
    if flags & PF_EXITING != 0 {
        return true;
    }
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    s.lines()
        .filter_map(|l| {
            l.strip_prefix("SigPnd:")
                .or_else(|| l.strip_prefix("ShdPnd:"))
        })
        .filter_map(|v| u64::from_str_radix(v.trim(), 16).ok())
        .any(|mask| mask & (1 << (libc::SIGKILL - 1)) != 0)
}

/// Promise 7 ("the whole sandboxed process tree is gone within a second"), judged so that a
/// loaded machine's scheduling does not decide it: waits up to `within` for `left()` to be
/// empty; what is still there then must at least be dying (sent SIGKILL, or exiting), and
/// must be gone within 5 s more. Returns the processes that were spared (neither in time) or
/// never died, empty when the promise held.
pub fn killed_within(within: Duration, left: impl Fn() -> Vec<i32>) -> Vec<i32> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if left().is_empty() {
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let spared: Vec<i32> = left()
        .into_iter()
        .filter(|&p| !dying(p) && alive(p))
        .collect();
    if !spared.is_empty() {
        return spared;
    }
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let l = left();
        if l.is_empty() || Instant::now() > end {
            return l;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes a profile file and returns its path.
pub fn profile(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    p
}

pub fn write(path: &Path, data: &str) {
    std::fs::write(path, data).unwrap();
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

pub fn stdin_write(child: &mut Child, data: &[u8]) {
    child.stdin.as_mut().unwrap().write_all(data).unwrap();
}

/// Where `.ci/run` installed the real MCP servers and clients (`MCPCELL_DEPS`, default
/// /opt/mcpcell-deps), falling back to the repository's `integration/` for local runs.
pub fn deps() -> PathBuf {
    if let Some(d) = std::env::var_os("MCPCELL_DEPS") {
        return PathBuf::from(d);
    }
    let opt = PathBuf::from("/opt/mcpcell-deps");
    if opt.is_dir() {
        return opt;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/deps")
}

/// The npm packages of `integration/node/package.json`.
pub fn node_modules() -> PathBuf {
    let d = deps().join("node/node_modules");
    if d.is_dir() {
        return d;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/node/node_modules")
}

/// The Python environment of `integration/python/requirements.txt`.
pub fn venv() -> PathBuf {
    let d = deps().join("python");
    if d.is_dir() {
        return d;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/python/.venv")
}

/// Sets an extended attribute from the host; false where the filesystem refuses it.
pub fn set_xattr(path: &Path, name: &str, value: &str) -> bool {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a valid buffer of the length passed.
    unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        ) == 0
    }
}

/// An extended attribute as the host sees it.
pub fn get_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 256];
    // SAFETY: NUL-terminated strings and a buffer of the length passed.
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

/// A plain HTTP server on the host's loopback that records each request line with its Host
/// header, answering every request with "hello from the host" (a thread per connection, so
/// that one client that keeps its connection open delays no other).
pub struct HttpServer {
    pub port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn start() -> HttpServer {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut c) = c else { continue };
                let s3 = std::sync::Arc::clone(&s2);
                std::thread::spawn(move || {
                    let mut r = BufReader::new(c.try_clone().unwrap());
                    let mut line = String::new();
                    let _ = r.read_line(&mut line);
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if h.to_ascii_lowercase().starts_with("host:") {
                            line.push_str(&format!(" [{}]", h.trim()));
                        }
                    }
                    s3.lock().unwrap().push(line.trim().to_string());
                    let body = "hello from the host\n";
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        HttpServer { port, seen }
    }

    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
