//! A person's terminal stays mcpcell's.
//!
//! An MCP client talks to a server over pipes, and those pass to the server untouched. When
//! mcpcell is run by hand, its stdin, stdout or stderr is a terminal instead, and a server
//! holding a terminal descriptor could reconfigure it (turn echo off, change the line
//! discipline, and leave it so after it exits), inject input, or keep reading what the user
//! types after mcpcell was put in the background (a password typed at the shell's next
//! prompt, say). So the server never gets a terminal: each of its standard descriptors that
//! would have been one is a pipe, and mcpcell relays between the pipe and the terminal.
//!
//! - Input is read from the terminal by mcpcell, so the kernel's job control applies to
//!   mcpcell: a read while its job is in the background stops it (SIGTTIN) before anything
//!   is read. The server only ever sees what was typed while mcpcell was in the foreground.
//! - Output the server writes is shown with control characters made visible (`\x1b`, `\r`,
//!   C1 controls), so it cannot move the cursor, rewrite what is on the screen, set the
//!   clipboard or the title, or make the terminal answer with input of its choosing.
//! - The server runs in a session of its own, without a controlling terminal, and no path to
//!   a terminal exists in its view of the filesystem.
//!
//! A standard descriptor that is a host file (a regular file, a named FIFO: `mcpcell run ...
//! < in.json > out.json`) is relayed the same way, its bytes untouched: the server would
//! otherwise hold a descriptor to a file outside its grants, and a descriptor is enough to
//! change the file's mode, owner or times (`fchmod`, or `chmod` of `/proc/self/fd/0`).
//! A character device (`/dev/null`, which scripts and benchmarks give) is the same device
//! opened anew on a read-only copy of its mount: reads and writes reach the device, its
//! mode, owner and times cannot change (`EROFS`), as with a device the profile grants (see
//! `crate::sandbox::mounts::sources::attrs_for`). That is for the memory devices (`/dev/null`,
//! `/dev/zero`, ...), and takes root; any other device the server could change is relayed
//! (an ordinary user's server can change only devices the user owns; others pass).
//! Pipes and sockets, which is what clients give, pass as they are.

use std::io::{self, Read, Write};

use crate::escape;
use crate::sandbox::mounts::DEVICE_COPIES_AT;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use tracing::debug;

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: impl AsFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// The filesystem type of pipes made with pipe(2).
const PIPEFS_MAGIC: libc::__fsword_t = 0x5049_5045;

/// What one of mcpcell's standard descriptors is to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
    /// A pipe or a socket (or nothing), or a device the server could not change: passed as
    /// it is.
    Pass,
    /// Relayed, its control characters made visible.
    Terminal,
    /// A host file, or a device other than a memory device that the server could change:
    /// relayed byte for byte.
    HostFile,
    /// A memory device (`/dev/null`) the server could change: opened anew on a read-only
    /// mount, or, where no mount can be copied, relayed byte for byte.
    Device,
}

fn std_kind(fd: impl AsFd) -> Std {
    let fd = fd.as_fd();
    if is_terminal(fd) {
        return Std::Terminal;
    }
    let Ok(st) = nix::sys::stat::fstat(fd) else {
        return Std::Pass;
    };
    match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => Std::Pass,
        // Its owner may change its mode and times without a capability; root's server runs
        // as root, an ordinary user's as that user (another's device it cannot change but
        // for setting its times to now where it may write it, which every process may).
        libc::S_IFCHR => {
            // SAFETY: geteuid takes no arguments.
            let me = unsafe { libc::geteuid() };
            if me != 0 && st.st_uid != me {
                Std::Pass
            } else if libc::major(st.st_rdev) == 1 {
                Std::Device
            } else {
                // Opening a device again can do what its driver does at open and at the last
                // close (a tape rewinds): only the memory devices (`/dev/null`, `/dev/zero`,
                // `/dev/urandom`: major 1), which do nothing there, are opened anew.
                Std::HostFile
            }
        }
        libc::S_IFIFO => match nix::sys::statfs::fstatfs(fd) {
            Ok(fs) if fs.filesystem_type().0 == PIPEFS_MAGIC => Std::Pass,
            _ => Std::HostFile,
        },
        _ => Std::HostFile,
    }
}

/// A detached, private, read-only copy of the mount of the file `fd` names
/// (`crate::sandbox::mounts::readonly_copy`). Needs `CAP_SYS_ADMIN`, and `fd` in mcpcell's
/// mount namespace.
fn readonly_copy(fd: BorrowedFd) -> io::Result<OwnedFd> {
    let tree = crate::sandbox::mounts::readonly_copy(
        fd.as_raw_fd(),
        c"",
        libc::AT_EMPTY_PATH as libc::c_uint,
    )
    .map_err(io::Error::from_raw_os_error)?;
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(tree) })
}

/// The file `st` describes (`fd`'s) opened anew through `tree` (its copy from
/// [`readonly_copy`]), with `fd`'s access mode; checked to be the same file.
fn reopen(fd: BorrowedFd, st: &libc::stat, tree: &OwnedFd) -> io::Result<OwnedFd> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    let keep = flags & (OFlag::O_ACCMODE | OFlag::O_APPEND | OFlag::O_NONBLOCK);
    let f = open(
        format!("/proc/self/fd/{}", tree.as_raw_fd()).as_str(),
        keep | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )?;
    // The copy must be the file mcpcell was given, not one swapped in by path meanwhile.
    let b = nix::sys::stat::fstat(&f)?;
    if (st.st_dev, st.st_ino, st.st_rdev) != (b.st_dev, b.st_ino, b.st_rdev) {
        return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    Ok(f)
}

/// What becomes of a memory device given as stdio that the server could change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    /// Passed: something else refuses the server every change to a device's metadata (the
    /// namespace-free tier's supervisor, `crate::netguard::meta`).
    Pass,
    /// Opened anew on a read-only copy of its mount, which the sandbox attaches at the
    /// device's name in its /dev (the server's descriptor reads as `/dev/null`), or over the
    /// host tree's `/dev/null`, which the pivot lets go of (`crate::sandbox::mounts`): the
    /// copy ends with the sandbox's mount namespace. Closed unattached, a copy would cost a
    /// wait for an RCU grace period (1.3 ms measured in a launch).
    Reopen,
    /// Relayed byte for byte (no mount namespace to attach a copy to).
    Relay,
}

/// What the server gets in place of mcpcell's standard descriptors: pipes that stand in for
/// a terminal or a host file, and devices opened anew.
#[derive(Default)]
pub struct TerminalPipes {
    /// What the server gets as stdin, stdout and stderr instead of mcpcell's own: a relay's
    /// pipe end (stdin and stdout; stderr's relay is `crate::supervise::relay`'s), or a
    /// device opened anew on a read-only mount.
    pub server: [Option<OwnedFd>; 3],
    /// Whether mcpcell must relay its stderr: a terminal, a host file, or a device it could
    /// not open anew.
    pub stderr_relayed: bool,
    /// The read-only copies of the devices' mounts ([`Devices::Reopen`]), for the sandbox to
    /// attach: (device, inode, the first standard descriptor that is it, copy).
    copies: Vec<(u64, u64, RawFd, OwnedFd)>,
    /// mcpcell's ends: (terminal, pipe's write end) and (pipe's read end, terminal).
    input: Option<(OwnedFd, OwnedFd)>,
    output: Option<(OwnedFd, OwnedFd)>,
    /// Whether stdout is a terminal (shown with visible controls) rather than a host file.
    output_terminal: bool,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// A close-on-exec copy of one of mcpcell's standard descriptors.
fn dup_std(fd: impl AsFd) -> io::Result<OwnedFd> {
    fd.as_fd().try_clone_to_owned()
}

/// What becomes of one standard descriptor.
enum Way {
    Pass,
    Relay,
    Reopened(OwnedFd),
}

impl TerminalPipes {
    /// Pipes for whichever of stdin and stdout is a terminal or a host file, devices as
    /// `devices` says (nothing when all three are pipes or sockets, as a client gives them).
    /// For stderr only the device: whether it is relayed is [`TerminalPipes::stderr_relayed`],
    /// and nothing is done for it when `stderr_piped` (mcpcell watches it anyway).
    pub fn new(devices: Devices, stderr_piped: bool) -> io::Result<TerminalPipes> {
        let mut t = TerminalPipes::default();
        match t.way(io::stdin().as_fd(), devices).0 {
            Way::Pass => {}
            Way::Reopened(f) => t.server[0] = Some(f),
            Way::Relay => {
                let (r, w) = pipe()?;
                t.input = Some((dup_std(io::stdin())?, w));
                t.server[0] = Some(r);
            }
        }
        match t.way(io::stdout().as_fd(), devices) {
            (Way::Pass, _) => {}
            (Way::Reopened(f), _) => t.server[1] = Some(f),
            (Way::Relay, terminal) => {
                let (r, w) = pipe()?;
                t.output = Some((r, dup_std(io::stdout())?));
                t.server[1] = Some(w);
                t.output_terminal = terminal;
            }
        }
        if !stderr_piped {
            match t.way(io::stderr().as_fd(), devices).0 {
                Way::Pass => {}
                Way::Reopened(f) => t.server[2] = Some(f),
                Way::Relay => t.stderr_relayed = true,
            }
        }
        Ok(t)
    }

    /// What becomes of `fd`, and whether it is a terminal.
    fn way(&mut self, fd: BorrowedFd, devices: Devices) -> (Way, bool) {
        let kind = std_kind(fd);
        let way = match (kind, devices) {
            (Std::Pass, _) | (Std::Device, Devices::Pass) => Way::Pass,
            (Std::Terminal | Std::HostFile, _) | (Std::Device, Devices::Relay) => Way::Relay,
            (Std::Device, Devices::Reopen) => match self.reopened(fd) {
                Ok(f) => Way::Reopened(f),
                Err(e) => {
                    debug!(target: "mcpcell", "a standard descriptor's device is relayed: it could not be opened on a read-only mount ({e})");
                    Way::Relay
                }
            },
        };
        (way, kind == Std::Terminal)
    }

    /// `fd`'s device opened anew on a read-only copy of its mount (one copy per device).
    fn reopened(&mut self, fd: BorrowedFd) -> io::Result<OwnedFd> {
        let st = nix::sys::stat::fstat(fd).map_err(io::Error::from)?;
        // A node no longer linked anywhere: its copy could not be attached in the sandbox.
        if st.st_nlink == 0 {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        let (dev, ino) = (st.st_dev, st.st_ino);
        if let Some((_, _, _, tree)) = self.copies.iter().find(|c| (c.0, c.1) == (dev, ino)) {
            return reopen(fd, &st, tree);
        }
        // The sandbox attaches the copy over its /dev/null, which must be there.
        let at = nix::sys::stat::stat(DEVICE_COPIES_AT).map_err(io::Error::from)?;
        if at.st_mode & libc::S_IFMT != libc::S_IFCHR {
            return Err(io::Error::from_raw_os_error(libc::ENODEV));
        }
        let tree = readonly_copy(fd)?;
        let f = reopen(fd, &st, &tree)?;
        self.copies.push((dev, ino, fd.as_raw_fd(), tree));
        Ok(f)
    }

    /// The read-only copies of the devices' mounts, each with a standard descriptor that is
    /// the device, for the sandbox to attach before it lets go of the host's root.
    pub fn copies(&self) -> [Option<(RawFd, RawFd)>; 3] {
        let mut out = [None; 3];
        for (o, c) in out.iter_mut().zip(&self.copies) {
            *o = Some((c.3.as_raw_fd(), c.2));
        }
        out
    }

    /// In the sandbox's first process, after the clone: closes mcpcell's ends, so that the
    /// server sees the end of input when the relay ends it. Only closes descriptors.
    pub fn close_relay_ends(&mut self) {
        self.input = None;
        self.output = None;
    }

    /// Once the sandbox holds its ends: lets go of them and starts the relays. Returns the
    /// output's relay, which ends once every writer of the pipe (the sandbox) is gone; the
    /// input's relay ends with mcpcell, or when the user ends the input.
    pub fn start(mut self) -> io::Result<Option<OutputRelay>> {
        self.server = [None, None, None];
        // The sandbox holds its own references to the copies, attached.
        self.copies.clear();
        if let Some((tty, pipe)) = self.input.take() {
            std::thread::Builder::new()
                .name("tty-in".into())
                .stack_size(64 * 1024)
                .spawn(move || relay_input(tty, pipe))?;
        }
        let mut output = None;
        if let Some((pipe, tty)) = self.output.take() {
            let (ended, done) = std::sync::mpsc::channel::<()>();
            let terminal = self.output_terminal;
            std::thread::Builder::new()
                .name("tty-out".into())
                .stack_size(64 * 1024)
                .spawn(move || {
                    let file = std::fs::File::from(tty);
                    let _ = if terminal {
                        copy(pipe, &mut VisibleControls::new(file, utf8_locale()))
                    } else {
                        copy(pipe, &mut { file })
                    };
                    drop(ended);
                })?;
            output = Some(OutputRelay { done });
        }
        Ok(output)
    }
}

/// The relay of the server's output to the terminal, once started.
pub struct OutputRelay {
    /// Disconnected when the relay's thread has written everything and ended.
    done: std::sync::mpsc::Receiver<()>,
}

impl OutputRelay {
    /// Once the sandbox has ended: waits until the relay has written all the server wrote,
    /// which it has once the pipe's last writer is gone, for at most `limit`. A process the
    /// server started may outlive the sandbox where nothing kills it (the namespace-free
    /// tier, see `crate::plan::tier`) and hold the pipe: mcpcell does not wait for it.
    /// Whether the relay ended.
    pub fn finish(self, limit: std::time::Duration) -> bool {
        !matches!(
            self.done.recv_timeout(limit),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        )
    }
}

/// Terminal → server, until the user ends the input (Ctrl-D) or the server stops reading.
fn relay_input(tty: OwnedFd, pipe: OwnedFd) {
    let mut to = std::fs::File::from(pipe);
    let _ = copy(tty, &mut to);
    // Dropping the pipe's write end is the server's end of input.
}

fn copy(from: OwnedFd, to: &mut impl Write) -> io::Result<()> {
    let mut from = std::fs::File::from(from);
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return to.flush(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // EIO: the terminal hung up, or mcpcell's job can no longer read it.
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        to.flush()?;
    }
}

/// Whether the locale says the terminal decodes UTF-8 (`LC_ALL`, else `LC_CTYPE`, else
/// `LANG`).
pub fn utf8_locale() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .is_some_and(|s| {
            let s = s.to_ascii_lowercase();
            s.contains("utf-8") || s.contains("utf8")
        })
}

/// A writer for a terminal that shows control characters instead of passing them on: what
/// [`escape::is_special`] names (C0 but newline and tab, DEL, C1, bidirectional overrides,
/// line separators), shown as [`escape::terminal_lines`] shows them, and bytes that are not
/// UTF-8 as `\xNN`. Printable text passes as it is. Works on a stream: a character split
/// between two writes is judged whole. For a terminal that does not decode UTF-8 (an 8-bit
/// one takes every byte 0x80 to 0x9F as a control), each such byte is shown, wherever it
/// stands.
pub struct VisibleControls<W: Write> {
    inner: W,
    utf8: bool,
    /// The start of a UTF-8 character whose end has not been written yet.
    carry: Vec<u8>,
}

impl<W: Write> VisibleControls<W> {
    pub fn new(inner: W, utf8: bool) -> Self {
        VisibleControls {
            inner,
            utf8,
            carry: Vec::new(),
        }
    }

    /// The visible form of `bytes`, with the state carried over from earlier writes.
    fn render(&mut self, bytes: &[u8]) -> Vec<u8> {
        if !self.utf8 {
            let mut out = Vec::with_capacity(bytes.len() + 16);
            for &b in bytes {
                match b {
                    b'\n' | b'\t' | 0x20..=0x7e | 0xa0..=0xff => out.push(b),
                    _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                }
            }
            return out;
        }
        // Decoded as UTF-8 and shown as crate::escape shows text everywhere else; a character
        // split between two writes waits for its end, an invalid byte is shown as `\xNN`.
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(bytes);
        let mut out = String::with_capacity(buf.len() + 16);
        let mut rest = &buf[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    out.push_str(&escape::terminal_lines(text));
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(&escape::terminal_lines(
                        std::str::from_utf8(good).unwrap_or_default(),
                    ));
                    match e.error_len() {
                        None => {
                            self.carry = bad.to_vec();
                            break;
                        }
                        Some(n) => {
                            for b in &bad[..n] {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                            rest = &bad[n..];
                        }
                    }
                }
            }
        }
        out.into_bytes()
    }
}

impl<W: Write> Write for VisibleControls<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let out = self.render(buf);
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for VisibleControls<W> {
    fn drop(&mut self) {
        for b in std::mem::take(&mut self.carry) {
            let _ = write!(self.inner, "\\x{b:02x}");
        }
        let _ = self.inner.flush();
    }
}

/// Copies the server's stderr (`from`) to mcpcell's, showing control characters rather than
/// obeying them when stderr is a terminal, and hands each line to `on_line` (lines are cut
/// at 4 KiB). Returns at end of file.
pub fn relay_stderr(from: OwnedFd, to_terminal: bool, on_line: &mut dyn FnMut(&str)) {
    let mut src = std::fs::File::from(from);
    // Locked per chunk only: mcpcell's own log lines go to the same stderr.
    let stderr = std::io::stderr();
    let mut visible = VisibleControls::new(stderr, utf8_locale());
    let mut raw = std::io::stderr();
    let dst: &mut dyn Write = if to_terminal { &mut visible } else { &mut raw };
    let mut buf = vec![0u8; 16 * 1024];
    let mut line: Vec<u8> = Vec::new();
    let mut out_ok = true;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if out_ok && dst.write_all(&buf[..n]).is_err() {
            out_ok = false;
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                on_line(&String::from_utf8_lossy(&line));
                line.clear();
            } else if line.len() < 4096 {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        on_line(&String::from_utf8_lossy(&line));
    }
    let _ = dst.flush();
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_output_relay_is_waited_for_only_while_a_writer_is_left_within_the_limit() {
        use std::os::fd::AsFd;
        // The pipe's last writer gone: everything written arrives, and the wait ends.
        let (to_r, to_w) = pipe().unwrap();
        let (srv_r, srv_w) = pipe().unwrap();
        let t = TerminalPipes {
            output: Some((srv_r, to_w)),
            ..TerminalPipes::default()
        };
        nix::unistd::write(srv_w.as_fd(), b"last words\n").unwrap();
        drop(srv_w);
        let relay = t.start().unwrap().unwrap();
        assert!(relay.finish(std::time::Duration::from_secs(10)));
        let mut seen = String::new();
        std::fs::File::from(to_r).read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "last words\n");
        // A writer left (a process the server started, outliving the sandbox): the wait
        // ends at the limit.
        let (_to_r, to_w) = pipe().unwrap();
        let (srv_r, srv_w) = pipe().unwrap();
        let t = TerminalPipes {
            output: Some((srv_r, to_w)),
            ..TerminalPipes::default()
        };
        let relay = t.start().unwrap().unwrap();
        let asked = std::time::Instant::now();
        assert!(!relay.finish(std::time::Duration::from_millis(200)));
        assert!(asked.elapsed() < std::time::Duration::from_secs(5));
        drop(srv_w);
    }

    use super::*;

    fn shown(chunks: &[&[u8]]) -> String {
        let mut out = Vec::new();
        {
            let mut w = VisibleControls::new(&mut out, true);
            for c in chunks {
                w.write_all(c).unwrap();
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn text_and_line_breaks_pass() {
        let s = "{\"jsonrpc\":\"2.0\",\"result\":\"héllo € 𝄞\"}\n\tnext\n";
        assert_eq!(shown(&[s.as_bytes()]), s);
    }

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        // OSC 52 (set the clipboard), erase line, cursor up, a title report request.
        let hostile = b"a\x1b]52;c;cm0gLXJmIH4=\x07b\x1b[2K\x1b[1A\x1b[21t\r\x7f";
        let s = shown(&[hostile]);
        assert!(!s.bytes().any(|b| b < 0x20 || b == 0x7f), "{s:?}");
        assert_eq!(
            s,
            "a\\x1b]52;c;cm0gLXJmIH4=\\x07b\\x1b[2K\\x1b[1A\\x1b[21t\\x0d\\x7f"
        );
    }

    #[test]
    fn c1_controls_are_shown_even_split_across_writes() {
        // U+009B (CSI) as UTF-8, split between two writes; and a lone 0x9b byte.
        let s = shown(&[b"x\xc2", b"\x9b2Jy\x9bz"]);
        assert_eq!(s, "x\\u{009b}2Jy\\x9bz");
        // A right-to-left override, split too: text that would read otherwise than stored.
        assert_eq!(shown(&[b"a\xe2\x80", b"\xaeb"]), "a\\u{202e}b");
        // U+00A0 (no-break space) starts with the same 0xC2 and passes.
        assert_eq!(shown(&[b"\xc2", b"\xa0"]), "\u{a0}");
    }

    #[test]
    fn an_eight_bit_terminal_gets_every_c1_byte_shown() {
        let mut out = Vec::new();
        {
            let mut w = VisibleControls::new(&mut out, false);
            // U+00DB is C3 9B in UTF-8; an 8-bit terminal takes the 9B as CSI.
            w.write_all(b"A\xc3\x9b2J \xe9t\xe9").unwrap();
        }
        assert_eq!(out, b"A\xc3\\x9b2J \xe9t\xe9");
    }

    #[test]
    fn every_byte_value_is_safe() {
        let all: Vec<u8> = (0..=255u8).collect();
        let out = {
            let mut out = Vec::new();
            {
                let mut w = VisibleControls::new(&mut out, true);
                w.write_all(&all).unwrap();
            }
            out
        };
        for (i, &b) in out.iter().enumerate() {
            assert!(
                b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0xa0,
                "byte {b:#x} at {i} reached the terminal"
            );
        }
    }
}
