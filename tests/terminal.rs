//! A person runs mcpcell by hand in a terminal: the server must not get the terminal. Each
//! attack is tried against mcpcell and, as the control, against the probe holding the
//! terminal the way a server did before (bare, or in a session of its own), judged from
//! the terminal's side.

mod common;

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};

use common::*;

/// A pseudo-terminal and everything written to it, read from the master side.
struct Pty {
    master: OwnedFd,
    slave: OwnedFd,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn open() -> Pty {
        Pty::open_reading_every(Duration::ZERO)
    }

    /// A terminal whose other side takes what was written at most once every `pause`: a slow
    /// terminal, which keeps the writer waiting.
    fn open_reading_every(pause: Duration) -> Pty {
        let pty = nix::pty::openpty(None, None).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let reader = pty.master.try_clone().unwrap();
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match nix::unistd::read(&reader, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
                std::thread::sleep(pause);
            }
        });
        Pty {
            master: pty.master,
            slave: pty.slave,
            seen,
        }
    }

    fn stdio(&self) -> Stdio {
        Stdio::from(self.slave.try_clone().unwrap())
    }

    /// `cmd` with the terminal as stdin, stdout and stderr.
    fn attach(&self, cmd: &mut Command) {
        cmd.stdin(self.stdio())
            .stdout(self.stdio())
            .stderr(self.stdio());
    }

    fn echo(&self) -> bool {
        tcgetattr(&self.slave)
            .unwrap()
            .local_flags
            .contains(LocalFlags::ECHO)
    }

    fn set_echo(&self, on: bool) {
        let mut t = tcgetattr(&self.slave).unwrap();
        t.local_flags.set(LocalFlags::ECHO, on);
        tcsetattr(&self.slave, SetArg::TCSANOW, &t).unwrap();
    }

    fn type_line(&self, s: &str) {
        nix::unistd::write(&self.master, format!("{s}\n").as_bytes()).unwrap();
    }

    fn seen(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }

    fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if String::from_utf8_lossy(&self.seen()).contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

fn mcpcell_run(args: &[&str]) -> Command {
    let mut c = run_cmd(args);
    c.stdin(Stdio::null());
    c
}

fn finish(mut child: Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the process did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_server_cannot_change_the_terminals_settings() {
    let pty = Pty::open();
    pty.set_echo(true);
    let p = probe();
    let mut c = mcpcell_run(&["--", p.to_str().unwrap(), "tty-echo-off"]);
    pty.attach(&mut c);
    finish(c.spawn().unwrap());
    assert!(pty.echo(), "the server turned the terminal's echo off");
    assert!(
        pty.wait_for("ERR ENOTTY", Duration::from_secs(5)),
        "{}",
        String::from_utf8_lossy(&pty.seen())
    );

    // The control: a process that holds the terminal does turn echo off.
    let mut bare = Command::new(&p);
    bare.arg("tty-echo-off");
    pty.attach(&mut bare);
    finish(bare.spawn().unwrap());
    assert!(!pty.echo(), "the control could not turn echo off");
    pty.set_echo(true);
}

#[test]
fn the_servers_output_cannot_drive_the_terminal() {
    let pty = Pty::open();
    let p = probe();
    // Set the clipboard (OSC 52), erase the line, and a C1 CSI.
    let hostile = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2K\u{9b}1A-end";
    let mut c = mcpcell_run(&[
        "--",
        p.to_str().unwrap(),
        "write",
        "/proc/self/fd/1",
        hostile,
    ]);
    pty.attach(&mut c);
    finish(c.spawn().unwrap());
    assert!(pty.wait_for("-end", Duration::from_secs(5)));
    let seen = pty.seen();
    let text = String::from_utf8_lossy(&seen);
    assert!(
        !seen.contains(&0x1b) && !text.contains('\u{9b}') && !seen.contains(&0x07),
        "control characters reached the terminal: {text:?}"
    );
    assert!(text.contains("\\x1b]52;c;"), "{text:?}");

    // The control: written by a process that holds the terminal, they arrive as they are.
    let pty = Pty::open();
    let mut bare = Command::new(&p);
    bare.args(["write", "/proc/self/fd/1", hostile]);
    pty.attach(&mut bare);
    finish(bare.spawn().unwrap());
    assert!(pty.wait_for("-end", Duration::from_secs(5)));
    assert!(pty.seen().contains(&0x1b));
}

#[test]
fn everything_the_server_wrote_reaches_the_terminal_before_mcpcell_exits() {
    // More than a pipe holds, written as fast as it goes to a slow terminal, and then the
    // server exits: what is still in the pipe then must reach the terminal too.
    let pty = Pty::open_reading_every(Duration::from_millis(2));
    let script = "head -c 300000 /dev/zero | tr '\\0' x; echo; echo END-OF-OUTPUT";
    let mut c = mcpcell_run(&["--", "/bin/sh", "-c", script]);
    pty.attach(&mut c);
    let status = c.spawn().unwrap().wait().unwrap();
    assert!(status.success(), "{status}");
    // mcpcell has exited: the terminal has everything the server wrote, bar what the reader
    // of the terminal's other side has yet to take from it.
    assert!(
        pty.wait_for("END-OF-OUTPUT", Duration::from_secs(5)),
        "the end of the output was lost: {} bytes arrived",
        pty.seen().len()
    );
    let xs = pty.seen().iter().filter(|&&b| b == b'x').count();
    assert_eq!(xs, 300_000);
}

/// The pids of the processes whose command line is exactly `cmdline`.
fn processes_with_cmdline(cmdline: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid: &i32| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == cmdline.as_bytes())
        })
        .collect()
}

/// Asks `child` to stop with SIGTERM and waits for it, for at most `limit`; how long it took.
fn stop(child: &mut Child, limit: Duration) -> Duration {
    let asked = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    while child.try_wait().unwrap().is_none() && asked.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(20));
    }
    let waited = asked.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    waited
}

#[test]
fn the_stop_timeout_ends_everything_the_server_started_without_namespaces() {
    // Without namespaces no PID namespace takes the server's descendants along when the
    // sandbox is killed: the stop timeout must still end them all, and a descendant that
    // holds the server's stdout (a terminal, relayed) must not keep mcpcell waiting.
    let leftover = "sleep\x0019.25\x00";
    let script = "trap '' TERM; sleep 19.25 & echo started; while :; do sleep 1; done";
    let pty = Pty::open();
    let mut c = in_container(run_cmd(&[
        "--best-effort",
        "--stop-timeout",
        "1",
        "--",
        "/bin/sh",
        "-c",
        script,
    ]));
    pty.attach(&mut c);
    c.stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    assert!(
        pty.wait_for("started", Duration::from_secs(30)),
        "the server did not start: {}",
        String::from_utf8_lossy(&pty.seen())
    );
    let waited = stop(&mut child, Duration::from_secs(15));
    let left = processes_with_cmdline(leftover);
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(left.is_empty(), "the server's child outlived the sandbox");
    assert!(
        waited < Duration::from_secs(10),
        "mcpcell took {waited:?} to stop"
    );

    // The control: the same server, run bare and killed, leaves its child behind, and the
    // check above sees it.
    let pty = Pty::open();
    let mut bare = Command::new("/bin/sh");
    bare.args(["-c", script]);
    pty.attach(&mut bare);
    let mut child = bare.spawn().unwrap();
    assert!(pty.wait_for("started", Duration::from_secs(30)));
    let _ = child.kill();
    let _ = child.wait();
    // `echo started` may come before the background child has become `sleep` (a busy
    // machine): look until it shows, for a few seconds.
    let mut left = processes_with_cmdline(leftover);
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while left.is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        left = processes_with_cmdline(leftover);
    }
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        !left.is_empty(),
        "the check did not see the control's leftover"
    );
}

/// An interactive shell with job control on a terminal of its own.
fn shell(pty: &Pty) -> Child {
    let mut c = Command::new("bash");
    c.args(["--norc", "--noprofile", "--noediting", "-i"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PS1", "$ ")
        .env("TERM", "dumb")
        .env("XDG_STATE_HOME", state_home())
        .current_dir("/");
    if let Ok(h) = std::env::var("HOME") {
        c.env("HOME", h);
    }
    pty.attach(&mut c);
    let slave = pty.slave.as_raw_fd();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(move || {
            libc::setsid();
            libc::ioctl(slave, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    c.spawn().unwrap()
}

/// Whether a process with exactly this command line is asleep or stopped (waiting to read).
fn waiting_process_with_cmdline(cmdline: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        let dir = e.path();
        std::fs::read(dir.join("cmdline")).is_ok_and(|c| c == cmdline.as_bytes())
            && e.file_name()
                .to_str()
                .and_then(|n| n.parse().ok())
                .and_then(state)
                .is_some_and(|c| c == 'S' || c == 'T' || c == 't')
    })
}

/// Puts `job` in the shell's background, then types lines at the shell's prompt; with
/// `then_fg`, brings the job to the foreground and types a line for it and the end of input.
/// Returns what the job wrote to its output file.
fn typed_while_in_background(job: &str, out: &std::path::Path, then_fg: bool) -> String {
    let pty = Pty::open();
    let mut sh = shell(&pty);
    assert!(pty.wait_for("$ ", Duration::from_secs(10)), "no prompt");
    pty.type_line(&format!("{job} > {} 2>/dev/null &", out.display()));
    // The job's reader (the probe's `cat`, sandboxed or not) has started and waits: nothing
    // is typed before it could read it.
    let reader = format!("{}\0cat\0", probe().display());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !waiting_process_with_cmdline(&reader) {
        assert!(Instant::now() < deadline, "the job's reader did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..8 {
        pty.type_line(&format!(": typed-secret-{i}"));
        std::thread::sleep(Duration::from_millis(100));
    }
    if then_fg {
        pty.type_line("echo MARK-$((40+2))");
        assert!(
            pty.wait_for("MARK-42", Duration::from_secs(10)),
            "the shell did not answer: {}",
            String::from_utf8_lossy(&pty.seen())
        );
        pty.type_line("fg");
        std::thread::sleep(Duration::from_millis(500));
        pty.type_line("foreground-line");
        std::thread::sleep(Duration::from_millis(200));
        nix::unistd::write(&pty.master, b"\x04").unwrap();
        pty.type_line("echo DONE-$((1+1))");
        assert!(
            pty.wait_for("DONE-2", Duration::from_secs(10)),
            "the job did not end at the end of input: {}",
            String::from_utf8_lossy(&pty.seen())
        );
    } else {
        // The control reads the terminal too: give it time to take some lines, typing more
        // while it has none (a loaded machine may start it late).
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut i = 8;
        while Instant::now() < deadline
            && !std::fs::read_to_string(out)
                .unwrap_or_default()
                .contains("typed-secret")
        {
            pty.type_line(&format!(": typed-secret-{i}"));
            i += 1;
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    pty.type_line("kill -KILL %1 2>/dev/null; exit");
    let _ = sh.kill();
    let _ = sh.wait();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read_to_string(out).unwrap_or_default()
}

#[test]
fn a_server_in_the_background_reads_nothing_the_user_types() {
    let d = scratch();
    let p = probe();
    let out = d.path().join("server-read.txt");
    let job = format!("{} run -- {} cat", mcpcell().display(), p.display());
    let got = typed_while_in_background(&job, &out, true);
    assert!(
        !got.contains("typed-secret"),
        "the sandboxed server read what the user typed at the shell: {got:?}"
    );
    // It was there all along: in the foreground it gets what is typed.
    assert_eq!(got, "foreground-line\n");

    // The control: a process in a session of its own that holds the terminal (as the server
    // did) reads what is typed at the shell's prompt.
    let out = d.path().join("control-read.txt");
    let pid_file = d.path().join("control.pid");
    let job = format!(
        "setsid sh -c 'echo $$ > {}; exec {} cat'",
        pid_file.display(),
        p.display()
    );
    let got = typed_while_in_background(&job, &out, false);
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        if let Ok(pid) = pid.trim().parse::<i32>() {
            // SAFETY: a plain kill of the control process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    assert!(
        got.contains("typed-secret"),
        "the control read nothing of what was typed, so this test proves nothing: {got:?}"
    );
    let _ = std::io::stderr().flush();
}
