//! Network mode `proxy` without a network namespace: the server may reach mcpcell's egress
//! proxy and nothing else.
//!
//! Without a namespace the server shares the host's network, and Landlock's TCP rules see
//! only ports. So the sandbox's seccomp filter sends every `connect(2)` and `listen(2)` to
//! mcpcell (user notification), and this thread answers them:
//!
//! - **connect to an internet address**: the address the server asked for is read from its
//!   memory and, once the notification is checked to be still pending (so the pid was not
//!   reused), compared with the proxy's address as the server knows it (`HTTP_PROXY`,
//!   `127.0.0.1:PORT`, IPv4 only: an IPv4-mapped IPv6 address is another address). If it is
//!   that address, mcpcell creates a socket of its own, connects it to the proxy's real
//!   listener itself, gives it the server's descriptor flags (O_NONBLOCK, close-on-exec, from
//!   `/proc/PID/fdinfo`) and TCP options (where it may copy the server's socket with
//!   `pidfd_getfd`), and puts it in place of the server's descriptor
//!   (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SETFD`); the call returns 0. Any
//!   other internet address fails with ECONNREFUSED, and the refusal is logged with a hint:
//!   a client that ignores the proxy variables cannot be redirected without a namespace, so
//!   it must fail, never leak. This never lets the kernel act on the server's memory: what
//!   the server writes there after the check (another thread racing the call) changes
//!   nothing, because the connection that results is mcpcell's, to the proxy, or none.
//! - **connect to any other address** (Unix, netlink, or memory mcpcell may not read)
//!   proceeds as the server made it (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`): a Unix connect
//!   must be judged by the server's own Landlock domain and from its own root and working
//!   directory, which mcpcell, outside the sandbox, cannot stand in for. The kernel then
//!   re-reads the address, so a racing thread can turn it into an internet address after
//!   the check. That is harmless only because of what lies under this layer: the only
//!   internet sockets that can exist are TCP (seccomp refuses UDP, raw and every other type
//!   and protocol at `socket(2)`), and Landlock refuses every TCP connect and bind of the
//!   sandbox's own. That Landlock layer (ABI 4) is therefore required, and it is why the
//!   decision needs neither the socket itself nor `pidfd_getfd`, which Docker's default
//!   seccomp profile refuses.
//! - **listen** is done by mcpcell itself on a copy of a Unix socket (`pidfd_getfd`: the same
//!   socket, whatever the descriptor number holds a moment later), and refused on anything
//!   else, or where mcpcell may not take the copy: `listen(2)` on an unbound TCP socket binds
//!   an ephemeral port on every address of the host without the `bind(2)` that Landlock
//!   checks, so it must never proceed unseen.
//!
//! The other ways to open a flow without `connect(2)` are closed in the filter itself:
//! datagram, raw and other internet sockets at `socket(2)`, TCP Fast Open (`MSG_FASTOPEN`;
//! `TCP_FASTOPEN_CONNECT` still needs a `connect(2)`, which this thread answers), io_uring.
//!
//! A filter has one listener, so the same thread also answers the tier's metadata calls
//! (chmod, chown, utimes and their variants), in every network mode: see [`meta`].

pub mod meta;
pub mod notif;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tracing::{info, warn};

use notif::Notification;

/// The local addresses of the connections mcpcell made to its own proxy for the server,
/// each recorded before its connect and taken when the proxy accepts it. In the
/// namespace-free tier the proxy listens on the host's loopback, where any local user could
/// otherwise use it (the user's allowlist, `allow_private` reach and upstream proxy
/// credentials). While mcpcell's socket is open, no other process can have its address.
#[derive(Debug, Default, Clone)]
pub struct Admitted(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<SocketAddrV4>>>);

impl Admitted {
    fn addresses(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<SocketAddrV4>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A connection from `from` is about to be made.
    pub fn expect(&self, from: SocketAddrV4) {
        self.addresses().insert(from);
    }

    /// The connection from `from` was not made after all.
    pub fn forget(&self, from: SocketAddrV4) {
        self.addresses().remove(&from);
    }

    /// Whether the connection from `from` is one mcpcell made (once).
    pub fn take(&self, from: SocketAddr) -> bool {
        match from {
            SocketAddr::V4(v4) => self.addresses().remove(&v4),
            SocketAddr::V6(_) => false,
        }
    }
}

/// The proxy as the server knows it, and where it really listens.
#[derive(Debug, Clone)]
pub struct Target {
    /// The address in the server's `HTTP_PROXY`: the only one it may connect to.
    pub shown: SocketAddrV4,
    /// mcpcell's listener on the host's loopback (an ephemeral port).
    pub real: SocketAddrV4,
    /// Where the connections mcpcell makes are recorded, for the proxy to serve only those.
    pub admitted: Admitted,
}

/// At most this many refusals are logged one by one: the server decides how many it makes.
const LOGGED: usize = 16;
/// How long mcpcell waits for its own proxy to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers the sandbox's notifications on `listener` until nothing in the sandbox can make
/// another one, or `stop` is set and none is pending: connects and listens in network mode
/// proxy (`target`), metadata changes beneath `writable`.
pub fn serve(
    listener: OwnedFd,
    target: Option<Target>,
    writable: meta::Writable,
    stop: Arc<AtomicBool>,
) {
    let mut log = Refusals::default();
    let mut meta_log = meta::Log::default();
    while notif::wait_readable(listener.as_raw_fd(), &stop) {
        if let Some(n) = Notification::recv(listener.as_raw_fd()) {
            let fd = listener.as_raw_fd();
            match &target {
                _ if meta::handles(n.nr()) => meta::answer(&n, fd, &writable, &mut meta_log),
                Some(target) => answer(&n, fd, target, &mut log),
                // Nothing else is sent here without a proxy; whatever it is, it does not run.
                None => n.fail(fd, libc::EPERM),
            }
        }
    }
    log.finish();
}

fn answer(n: &Notification, listener: RawFd, target: &Target, log: &mut Refusals) {
    let nr = n.nr();
    if nr == libc::SYS_connect {
        connect(n, listener, target, log);
    } else if nr == libc::SYS_listen {
        listen(n, listener, log);
    } else {
        // Nothing else is sent here; whatever it is, it does not run.
        n.fail(listener, libc::EPERM);
    }
}

/// The socket the call names, as a duplicate of the caller's descriptor; `Err(errno)` to
/// answer with when there is none (the number is not a descriptor), or ESRCH when the call
/// is no longer pending (the caller is gone: nothing to answer).
fn socket_of(n: &Notification, listener: RawFd) -> Result<OwnedFd, i32> {
    let pidfd = notif::pidfd_open(n.pid());
    // The pid named the caller when the notification was made; still pending, it still does.
    if !n.valid(listener) {
        return Err(libc::ESRCH);
    }
    // Refused, never let through unseen, when mcpcell cannot look.
    let pidfd = pidfd.map_err(|_| libc::EACCES)?;
    let fd = n.arg(0) as i32;
    notif::pidfd_getfd(&pidfd, fd).map_err(|e| match e.raw_os_error() {
        Some(libc::EBADF) => libc::EBADF,
        // mcpcell may not look at the caller's descriptors (it made itself undumpable):
        // the call is refused, never let through unseen.
        _ => libc::EACCES,
    })
}

fn connect(n: &Notification, listener: RawFd, target: &Target, log: &mut Refusals) {
    let fd = n.arg(0) as i32;
    let len = (n.arg(2) as u32 as usize).min(128);
    let requested = notif::read_memory(n.pid(), n.arg(1), len);
    // The pid named the caller when the notification was made; still pending, it still does.
    if !n.valid(listener) {
        return;
    }
    let family = requested
        .as_deref()
        .and_then(|b| Some(u16::from_ne_bytes([*b.first()?, *b.get(1)?]) as i32));
    if requested.is_none() {
        log.unreadable();
    }
    if !matches!(family, Some(libc::AF_INET | libc::AF_INET6)) {
        // A Unix or netlink address (or memory mcpcell may not read: a server that made
        // itself undumpable): the kernel judges the call as made, and whatever the memory
        // says by then, a TCP connect is refused by Landlock and no other internet socket
        // exists.
        return n.proceed(listener);
    }
    let bytes = requested.unwrap_or_default();
    let dest = parse_sockaddr(&bytes);
    if dest != Some(SocketAddr::V4(target.shown)) {
        log.refused(dest, &bytes, target);
        return n.fail(listener, libc::ECONNREFUSED);
    }
    // The server's socket itself, where mcpcell may take a copy (Docker's default seccomp
    // profile refuses pidfd_getfd without CAP_SYS_PTRACE): a socket connected already keeps
    // its connection, as the kernel would have it, and its TCP options are copied.
    let theirs = socket_of(n, listener).ok();
    if theirs.as_ref().is_some_and(|s| peer_of(s.as_raw_fd())) {
        return n.fail(listener, libc::EISCONN);
    }
    let ours = match connect_own(target) {
        Ok(s) => s,
        Err(e) => {
            warn!(target: "mcpcell", "network proxy: failed to connect to mcpcell's own proxy for the server: {e}");
            return n.fail(listener, libc::ECONNREFUSED);
        }
    };
    let flags = notif::fd_flags(n.pid(), fd);
    if flags.is_some_and(|f| f & libc::O_NONBLOCK as u32 != 0) {
        let _ = ours.set_nonblocking(true);
    }
    if let Some(theirs) = &theirs {
        copy_options(theirs.as_raw_fd(), &ours);
    }
    let cloexec = flags.is_none_or(|f| f & libc::O_CLOEXEC as u32 != 0);
    match n.install(listener, ours.as_raw_fd(), fd, cloexec) {
        Ok(()) => n.succeed(listener, 0),
        // The caller is gone, or its table is full: the call fails as the kernel says.
        Err(e) => n.fail(listener, e.raw_os_error().unwrap_or(libc::EBADF)),
    }
}

/// A connection of mcpcell's own to its proxy, from an address recorded in
/// `target.admitted` before the connect (the proxy may accept it at once), within
/// [`CONNECT_TIMEOUT`]. The port is chosen at `bind`, where the kernel does not reuse one
/// that a closed connection keeps in TIME_WAIT: the connections go out from 127.0.0.2 to
/// 127.0.0.254 in turn, so that a server making thousands a minute does not run out
/// (28,000 ports of one address last 20 s at 1,300 a second; 253 addresses, as long as
/// the server keeps that up).
fn connect_own(target: &Target) -> std::io::Result<TcpStream> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, getsockname, setsockopt,
        socket, sockopt,
    };
    use nix::sys::time::TimeVal;
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(0);
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let host = 2 + NEXT.fetch_add(1, Ordering::Relaxed) % 253;
    // 127.0.0.1 where the others are not local (a loopback with only its first address).
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, host, 0))
        .or_else(|_| bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)))?;
    let from = SocketAddrV4::from(getsockname::<SockaddrIn>(fd.as_raw_fd())?);
    target.admitted.expect(from);
    // A blocking connect gives up after the send timeout; none is left on the socket.
    let limit = TimeVal::new(CONNECT_TIMEOUT.as_secs() as _, 0);
    let made = setsockopt(&fd, sockopt::SendTimeout, &limit)
        .and_then(|()| connect(fd.as_raw_fd(), &SockaddrIn::from(target.real)))
        .and_then(|()| setsockopt(&fd, sockopt::SendTimeout, &TimeVal::new(0, 0)));
    if let Err(e) = made {
        target.admitted.forget(from);
        return Err(e.into());
    }
    Ok(TcpStream::from(fd))
}

/// The TCP options the server set on its own socket, set on mcpcell's.
fn copy_options(theirs: RawFd, ours: &TcpStream) {
    for (level, name) in [
        (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
    ] {
        if let Some(v) = notif::sockopt(theirs, level, name).filter(|&v| v != 0) {
            notif::set_sockopt(ours.as_raw_fd(), level, name, v);
        }
    }
}

/// Whether the socket is connected already.
fn peer_of(fd: RawFd) -> bool {
    // SAFETY: a zeroed sockaddr_storage and its size are valid out-parameters.
    unsafe {
        let mut sa: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::getpeername(fd, (&raw mut sa).cast(), &mut len) == 0
    }
}

fn listen(n: &Notification, listener: RawFd, log: &mut Refusals) {
    let sock = match socket_of(n, listener) {
        Ok(s) => s,
        Err(libc::ESRCH) => return,
        Err(e) => return n.fail(listener, e),
    };
    if notif::sockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_DOMAIN) != Some(libc::AF_UNIX) {
        log.listen_refused();
        return n.fail(listener, libc::EACCES);
    }
    // SAFETY: listen on a descriptor this thread owns; the backlog is an int.
    let r = unsafe { libc::listen(sock.as_raw_fd(), n.arg(1) as i32) };
    if r == 0 {
        n.succeed(listener, 0);
    } else {
        n.fail(
            listener,
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL),
        );
    }
}

/// The address in a `struct sockaddr` as the kernel would read it for an internet socket.
pub fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes([*b.first()?, *b.get(1)?]) as i32;
    let port = |b: &[u8]| u16::from_be_bytes([b[2], b[3]]);
    match family {
        libc::AF_INET if b.len() >= 16 => Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            port(b),
        ))),
        libc::AF_INET6 if b.len() >= 24 => {
            let ip: [u8; 16] = b[8..24].try_into().ok()?;
            let scope = if b.len() >= 28 {
                u32::from_ne_bytes(b[24..28].try_into().ok()?)
            } else {
                0
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port(b),
                0,
                scope,
            )))
        }
        _ => None,
    }
}

/// The refusals logged so far, bounded.
#[derive(Default)]
struct Refusals {
    seen: BTreeSet<String>,
    unlogged: u64,
    listen_logged: bool,
    unreadable_logged: bool,
}

impl Refusals {
    fn refused(&mut self, dest: Option<SocketAddr>, raw: &[u8], target: &Target) {
        // Only numbers reach the log: an address mcpcell parsed, or the family's number.
        let what = match dest {
            Some(a) => a.to_string(),
            None => match raw {
                [a, b, ..] => format!("an address of family {}", u16::from_ne_bytes([*a, *b])),
                _ => "a malformed address".into(),
            },
        };
        if self.seen.contains(&what) {
            return;
        }
        if self.seen.len() >= LOGGED {
            self.unlogged += 1;
            return;
        }
        warn!(
            target: "mcpcell",
            event = "proxy_refused",
            destination = %what,
            "network proxy: refused a connection to {what}: without a network namespace only mcpcell's proxy (http://{}, in HTTP_PROXY and HTTPS_PROXY) can be reached, and a client that ignores the proxy variables (Node's fetch, plain sockets, an IPv6 socket) cannot be redirected; use a proxy-aware client, or run where user namespaces are allowed (see `mcpcell doctor`)",
            target.shown
        );
        self.seen.insert(what);
    }

    fn listen_refused(&mut self) {
        if !self.listen_logged {
            warn!(target: "mcpcell", "network proxy: refused listen(2) on a TCP socket: without a network namespace a listening port would be the host's; only Unix sockets may listen");
            self.listen_logged = true;
        }
    }

    fn unreadable(&mut self) {
        if !self.unreadable_logged {
            warn!(target: "mcpcell", "network proxy: mcpcell could not read the address a connect(2) asked for (the server made itself undumpable, or ptrace access is restricted here, as with kernel.yama.ptrace_scope 2 or 3): the call is left to the kernel, where Landlock refuses TCP, so the proxy cannot be reached this way");
            self.unreadable_logged = true;
        }
    }

    fn finish(&self) {
        if self.unlogged > 0 {
            info!(target: "mcpcell", "network proxy: {} more refused connections to other destinations were not logged", self.unlogged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = (libc::AF_INET as u16).to_ne_bytes().to_vec();
        b.extend(port.to_be_bytes());
        b.extend(a);
        b.extend([0u8; 8]);
        b
    }

    #[test]
    fn addresses_parse_as_the_kernel_reads_them() {
        assert_eq!(
            parse_sockaddr(&v4([127, 0, 0, 1], 3128)),
            Some("127.0.0.1:3128".parse().unwrap())
        );
        // Too short for its family: not an address.
        assert_eq!(parse_sockaddr(&v4([127, 0, 0, 1], 3128)[..8]), None);
        let mut b = (libc::AF_INET6 as u16).to_ne_bytes().to_vec();
        b.extend(3128u16.to_be_bytes());
        b.extend([0u8; 4]);
        b.extend("::ffff:127.0.0.1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend([0u8; 4]);
        let mapped = parse_sockaddr(&b).unwrap();
        // A mapped address is not the proxy's IPv4 address.
        let shown: SocketAddrV4 = "127.0.0.1:3128".parse().unwrap();
        assert_ne!(mapped, SocketAddr::V4(shown));
        assert_eq!(mapped.port(), 3128);
        let unix = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        assert_eq!(parse_sockaddr(&unix), None);
        assert_eq!(parse_sockaddr(&[]), None);
    }
}
