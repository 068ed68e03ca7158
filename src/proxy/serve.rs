//! The proxy's threads: one polls the listeners (and answers DNS), one more per connection
//! (two while relaying), one per DNS query being resolved; all of them bounded (see
//! [`super::limits`]).

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::answers::Answers;
use super::chain::{Upstream, Use};
use super::dns::{self, Answer, Want};
use super::limits::{self, Gate, Slot, Throttle};
use super::relay::relay;
use super::upstream::{self, Refusal};
use super::{Listeners, Proxy, ProxyConfig, Stats};

struct Shared {
    cfg: ProxyConfig,
    answers: Mutex<Answers>,
    stats: Arc<Mutex<Stats>>,
    dns_refused: Mutex<HashSet<String>>,
    /// Allowed names the host could not resolve, each logged once.
    dns_failed: Mutex<HashSet<String>>,
    connections: Gate,
    dns_queries: Gate,
    /// Warnings about what the bounds turned away, at most one per few seconds.
    turned_away: Mutex<Throttle>,
}

impl Shared {
    fn allowed(&self, host: &str, port: u16, via: Option<&Upstream>) {
        match via {
            Some(up) => {
                let upstream = up.address();
                info!(target: "mcpcell", event = "proxy_allowed", host, port, upstream, "proxy: connected to {host}:{port} through the upstream proxy {upstream}");
            }
            None => {
                info!(target: "mcpcell", event = "proxy_allowed", host, port, "proxy: connected to {host}:{port}");
            }
        }
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *limits::entry(&mut s.allowed, format!("{host}:{port}")) += 1;
    }

    fn admitted(&self, host: &str, port: u16) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *limits::entry(&mut s.admitted, format!("{host}:{port}")) += 1;
    }

    /// Counts a refusal; the first few of each destination are logged one by one (a server
    /// that retries in a loop cannot flood the log: the summary at exit has the counts).
    fn refused(&self, host: &str, port: u16, why: &Refusal) {
        let reason = why.reason();
        // The name comes from the server: a request head may hold 64 KiB of it. Longer than
        // any name can be, it is kept (in the table, the log, the summary) clipped in its
        // middle, so that a thousand such names cost kilobytes, not the hundreds of
        // megabytes three log lines of each would.
        let clipped = crate::escape::clip_words(host, limits::NAME_MAX);
        let long = matches!(clipped, std::borrow::Cow::Owned(_));
        let host = &*clipped;
        let key = format!("{host}:{port}");
        // `tracked`: the destination has an entry of its own (past the table's bound,
        // destinations are counted together and not logged one by one).
        let (attempts, tracked) = {
            let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            let e = limits::entry(&mut s.refused, key.clone());
            e.0 += 1;
            e.1 = reason.clone();
            let attempts = e.0;
            (attempts, s.refused.contains_key(&key))
        };
        if tracked && attempts <= limits::LOGGED_PER_DESTINATION {
            let check = if long {
                String::new()
            } else {
                self.cfg.check_with(&key)
            };
            warn!(target: "mcpcell", event = "proxy_refused", host, port, reason = %reason, "proxy: refused {host}:{port}: {reason}{check}");
        } else {
            self.turned_away(&format!("refusals after the first {} of a destination are only counted in the summary at exit; latest: {host}:{port}: {reason}", limits::LOGGED_PER_DESTINATION));
        }
    }

    /// Logs (throttled) that a bound turned something away.
    fn turned_away(&self, what: &str) {
        let pass = self
            .turned_away
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pass(Instant::now());
        if let Some(n) = pass {
            warn!(target: "mcpcell", event = "proxy_limit", count = n, "proxy: {what} ({n} since the last such message)");
        }
    }

    /// The upstream proxy a connection to `host` goes through, if any.
    fn route(&self, host: &str, how: Use) -> Option<&Upstream> {
        let chain = self.cfg.chain.as_ref()?;
        chain.route(host, self.cfg.pinned(host).map(|(ip, _)| ip), how)
    }

    /// Checks the name and the allowlist, then connects: directly (resolving the name
    /// itself), or through the upstream proxy.
    fn open(&self, host: &str, port: u16, how: Use) -> Result<TcpStream, Refusal> {
        let via = self.route(host, how);
        let result = if !super::chain::valid_target(host) {
            Err(Refusal::HostName)
        } else if self.cfg.admits(host, port) {
            self.admitted(host, port);
            match via {
                Some(up) => upstream::connect_via(&self.cfg, up, host, port),
                None => upstream::connect(&self.cfg, host, port),
            }
        } else {
            Err(Refusal::NotAllowed)
        };
        match &result {
            Ok(_) => self.allowed(host, port, via),
            Err(r) => self.refused(host, port, r),
        }
        result
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(128 * 1024)
        .spawn(f)
        .map(|_| ())
}

/// Starts serving the listeners the sandbox handed over.
pub fn start(cfg: ProxyConfig, l: Listeners) -> io::Result<Proxy> {
    let stats = Arc::new(Mutex::new(Stats::default()));
    let shared = Arc::new(Shared {
        cfg,
        answers: Mutex::new(Answers::default()),
        stats: Arc::clone(&stats),
        dns_refused: Mutex::new(HashSet::new()),
        dns_failed: Mutex::new(HashSet::new()),
        connections: Gate::new(limits::MAX_CONNECTIONS),
        dns_queries: Gate::new(limits::MAX_DNS_IN_FLIGHT),
        turned_away: Mutex::new(Throttle::new(Duration::from_secs(5))),
    });
    if let Some(chain) = &shared.cfg.chain {
        info!(target: "mcpcell", event = "proxy_upstream", "proxy: allowed destinations go {}", chain.describe());
    }
    raise_descriptor_limit();
    l.proxy.set_nonblocking(true)?;
    l.dns.set_nonblocking(true)?;
    for (_, t) in &l.transparent {
        t.set_nonblocking(true)?;
    }
    std::thread::Builder::new()
        .name("mcpcell-proxy".into())
        .stack_size(128 * 1024)
        .spawn(move || accept_loop(shared, l))?;
    Ok(Proxy { stats })
}

/// Lets mcpcell hold every connection it admits: each one needs up to eight descriptors
/// (two sockets, their duplicates for the second relay thread, two pipes), more than the
/// usual soft limit of 1024 allows for [`limits::MAX_CONNECTIONS`].
fn raise_descriptor_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let want = (limits::MAX_CONNECTIONS as u64 + limits::MAX_DNS_IN_FLIGHT as u64) * 8 + 256;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < want {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard);
        }
    }
}

/// Held open so that, out of descriptors, the accept loop can still take a pending connection
/// and close it instead of waking up for it forever.
fn reserve() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

fn accept_loop(shared: Arc<Shared>, l: Listeners) {
    let mut fds: Vec<libc::pollfd> = std::iter::once(l.proxy.as_raw_fd())
        .chain(std::iter::once(l.dns.as_raw_fd()))
        .chain(l.transparent.iter().map(|(_, t)| t.as_raw_fd()))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = [0u8; 1500];
    let mut spare = reserve();
    loop {
        // SAFETY: a valid array of pollfd of the given length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            continue;
        }
        for (i, pfd) in fds.iter_mut().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            pfd.revents = 0;
            match i {
                0 => accept_all(
                    &shared,
                    &l.proxy,
                    l.admitted.as_ref(),
                    &mut spare,
                    |sh, s, slot| {
                        spawn("mcpcell-proxy-conn", move || {
                            handle_proxy(&sh, s);
                            drop(slot);
                        })
                    },
                ),
                1 => {
                    while let Ok((n, from)) = l.dns.recv_from(&mut buf) {
                        let Some(slot) = shared.dns_queries.take() else {
                            shared.turned_away(&format!(
                                "{} DNS queries are being resolved already; dropped one (the resolver asks again)",
                                limits::MAX_DNS_IN_FLIGHT
                            ));
                            continue;
                        };
                        // Resolving may take a while: answer from a thread of its own.
                        let (Ok(sock), sh, query) =
                            (l.dns.try_clone(), Arc::clone(&shared), buf[..n].to_vec())
                        else {
                            continue;
                        };
                        let _ = spawn("mcpcell-dns", move || {
                            if let Some(reply) = answer_dns(&sh, &query) {
                                let _ = sock.send_to(&reply, from);
                            }
                            drop(slot);
                        });
                    }
                }
                _ => {
                    let (port, listener) = &l.transparent[i - 2];
                    let port = *port;
                    accept_all(&shared, listener, None, &mut spare, move |sh, s, slot| {
                        spawn("mcpcell-proxy-conn", move || {
                            handle_transparent(&sh, s, port);
                            drop(slot);
                        })
                    });
                }
            }
        }
    }
}

/// Accepts every pending connection on `listener`: each one within
/// [`limits::MAX_CONNECTIONS`] goes to `serve` with its slot, the others are closed at once;
/// with `admitted`, so is every one mcpcell did not make itself.
/// Out of descriptors (EMFILE, ENFILE), the reserve descriptor is given up for a moment to
/// take the pending connection and close it: poll() would otherwise report it again at once,
/// and the loop would spin.
fn accept_all(
    shared: &Arc<Shared>,
    listener: &TcpListener,
    admitted: Option<&crate::netguard::Admitted>,
    spare: &mut Option<std::fs::File>,
    serve: impl Fn(Arc<Shared>, TcpStream, Slot) -> io::Result<()>,
) {
    if spare.is_none() {
        // Lost while every descriptor was taken; freed ones go to it before any connection.
        *spare = reserve();
    }
    loop {
        match listener.accept() {
            Ok((s, from)) => {
                if admitted.is_some_and(|a| !a.take(from)) {
                    drop(s);
                    shared.turned_away(&format!(
                        "refused a connection from {from}, which mcpcell did not make for the server: another process on this host reached the proxy's port"
                    ));
                    continue;
                }
                let Some(slot) = shared.connections.take() else {
                    drop(s);
                    shared.turned_away(&format!(
                        "{} connections are open already; closed a new one",
                        limits::MAX_CONNECTIONS
                    ));
                    continue;
                };
                if serve(Arc::clone(shared), s, slot).is_err() {
                    shared.turned_away("could not start a thread for a new connection; closed it");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                // The kernel takes the descriptor before it looks at the queue: EMFILE does
                // not say a connection is pending. The accept with the reserve freed does.
                drop(spare.take());
                // The connection is closed before the reserve is taken back: its descriptor is
                // the one the reserve needs.
                // (One mcpcell made is taken off the admitted as it is closed: its address
                // must not let another connection in later.)
                let pending = listener.accept().map(|(_, from)| {
                    if let Some(a) = admitted {
                        a.take(from);
                    }
                });
                *spare = reserve();
                match pending {
                    Ok(()) => {
                        shared.turned_away("out of file descriptors; closed a new connection");
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    // Still out of descriptors (another thread took the freed one, or the
                    // whole system is out): wait for some to be freed.
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(50));
                        return;
                    }
                }
                if spare.is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                    return;
                }
            }
            // ECONNABORTED and the like concern one connection; anything else, back off.
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {}
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                return;
            }
        }
    }
}

fn answer_dns(shared: &Shared, query: &[u8]) -> Option<Vec<u8>> {
    dns::respond(query, |name, want| {
        if !shared.cfg.admits_name(name) {
            refused_lookup(shared, name, || {
                format!("not in network.allow{}", shared.cfg.check_with(name))
            });
            return Answer::Refused;
        }
        // A name a wildcard admits but no host could have (control characters, a dot
        // inside a label): never sent to the host's resolver, as a CONNECT to it is refused.
        if !super::chain::valid_target(name) {
            refused_lookup(shared, name, || "not a valid host name".into());
            return Answer::Refused;
        }
        if want == Want::Nothing {
            // Answered from the allowlist: nothing is looked up for it.
            return Answer::Allowed(Vec::new());
        }
        debug!(target: "mcpcell", event = "dns_resolve", host = name, "proxy: resolving {name} for the sandbox");
        match upstream::resolve_v4(&shared.cfg, name) {
            Ok(ips) => {
                let mut answers = shared.answers.lock().unwrap_or_else(|e| e.into_inner());
                if answers.record(name, &ips) {
                    return Answer::Allowed(ips);
                }
                // The table of answers is full: refused, as a name not allowed is.
                drop(answers);
                refused_lookup(shared, name, || {
                    format!(
                        "the proxy already answered {} other names, the most it keeps for one sandbox",
                        super::answers::MAX_NAMES
                    )
                });
                Answer::Refused
            }
            Err(r) => {
                // Once per name: a server asking again and again (or for name after
                // name under a wildcard) cannot flood the log.
                once_per_name(shared, &shared.dns_failed, name, "failed lookups", || {
                    warn!(target: "mcpcell", event = "dns_refused", host = name, reason = %r.reason(), "proxy: no address for {name}: {}", r.reason());
                });
                Answer::Refused
            }
        }
    })
}

/// Logs, once per name, that the lookup of `name` was refused and `why`.
fn refused_lookup(shared: &Shared, name: &str, why: impl FnOnce() -> String) {
    once_per_name(
        shared,
        &shared.dns_refused,
        name,
        "refused DNS lookups",
        || {
            let why = why();
            warn!(target: "mcpcell", event = "dns_refused", host = name, "proxy: refused DNS lookup of {name}: {why}");
        },
    );
}

/// Runs `log` the first time `name` is seen in `seen`, for at most
/// [`limits::MAX_DESTINATIONS`] names; past that, one throttled line says that `what` are
/// no longer logged one by one.
fn once_per_name(
    shared: &Shared,
    seen: &Mutex<HashSet<String>>,
    name: &str,
    what: &str,
    log: impl FnOnce(),
) {
    let mut set = seen.lock().unwrap_or_else(|e| e.into_inner());
    if set.len() < limits::MAX_DESTINATIONS {
        if set.insert(name.to_string()) {
            drop(set);
            log();
        }
    } else if !set.contains(name) {
        drop(set);
        shared.turned_away(&format!(
            "{what} of more than {} names are no longer logged one by one; latest: {name}",
            limits::MAX_DESTINATIONS
        ));
    }
}

/// A connection a client made directly to an address: the sandbox routes every IPv4 address
/// to its loopback, where this listener accepts it. It goes out only to an address the DNS
/// responder gave for an allowed name, on a port that name allows.
fn handle_transparent(shared: &Shared, client: TcpStream, port: u16) {
    let _ = client.set_nonblocking(false);
    let Ok(local) = client.local_addr() else {
        return;
    };
    let IpAddr::V4(ip) = local.ip() else {
        return;
    };
    let names = shared
        .answers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .names_of(ip);
    let Some(name) = names.iter().find(|n| shared.cfg.admits(n, port)) else {
        match names.first() {
            Some(n) => shared.refused(n, port, &Refusal::NotAllowed),
            None => shared.refused(&ip.to_string(), port, &Refusal::Direct),
        }
        return;
    };
    shared.admitted(name, port);
    let via = shared.route(name, Use::Tunnel);
    let connected = match via {
        Some(u) => upstream::connect_via(&shared.cfg, u, name, port),
        None => upstream::connect_to(
            &shared.cfg,
            name,
            std::net::SocketAddr::new(IpAddr::V4(ip), port),
        ),
    };
    match connected {
        Ok(up) => {
            shared.allowed(name, port, via);
            relay(client, up);
        }
        Err(r) => shared.refused(name, port, &r),
    }
}

/// Reads an HTTP request head (up to the blank line); returns it with any bytes after it.
/// The whole head must come within [`limits::REQUEST_DEADLINE`] of the connection.
fn read_head(s: &mut TcpStream, first: &[u8], deadline: Instant) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = first.to_vec();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        s.set_read_timeout(Some(left))?;
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other("request head too long"));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Splits `host:port` (IPv6 in brackets); `default` when there is no port. Lenient where
/// it does no harm: the host is checked against the allowlist afterwards, so an empty host,
/// port 0 or text after `]` only lead to a refusal or a failed connection.
fn split_authority(a: &str, default: u16) -> Option<(String, u16)> {
    let split = crate::hostspec::split_host_port(a)?;
    let port = match split.port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    Some((split.host.to_string(), port))
}

fn http_error(s: &mut TcpStream, code: u16, text: &str, detail: &str) {
    let body = format!("mcpcell: {detail}\n");
    let _ = write!(
        s,
        "HTTP/1.1 {code} {text}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A connection to the proxy port: HTTP or SOCKS5, told apart by the first byte. A client
/// that sends nothing is closed after [`limits::REQUEST_DEADLINE`].
fn handle_proxy(shared: &Shared, mut client: TcpStream) {
    let deadline = Instant::now() + limits::REQUEST_DEADLINE;
    if client.set_nonblocking(false).is_err()
        || client
            .set_read_timeout(Some(limits::REQUEST_DEADLINE))
            .is_err()
    {
        return;
    }
    let mut first = [0u8; 1];
    if client.read_exact(&mut first).is_err() {
        return;
    }
    if first[0] == 5 {
        socks5(shared, client, deadline);
    } else {
        http(shared, client, &first, deadline);
    }
}

/// Before relaying: the request deadline no longer applies (a tunnel may rightly be idle), and
/// a read timeout would end splice(2) on the socket too.
fn relay_from(client: TcpStream, up: TcpStream) {
    if client.set_read_timeout(None).is_ok() {
        relay(client, up);
    }
}

fn refusal_response(s: &mut TcpStream, host: &str, port: u16, r: &Refusal) {
    if r.is_policy() {
        http_error(
            s,
            403,
            "Forbidden",
            &format!(
                "{host}:{port} is refused by this sandbox's network policy ({})",
                r.reason()
            ),
        );
    } else {
        http_error(
            s,
            502,
            "Bad Gateway",
            &format!("{host}:{port}: {}", r.reason()),
        );
    }
}

fn http(shared: &Shared, mut client: TcpStream, first: &[u8], deadline: Instant) {
    let Ok((head, rest)) = read_head(&mut client, first, deadline) else {
        return;
    };
    let mut headers = [httparse::EMPTY_HEADER; 96];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) {
        http_error(&mut client, 400, "Bad Request", "malformed request");
        return;
    }
    let method = req.method.unwrap_or("");
    let target = req.path.unwrap_or("");
    if method.eq_ignore_ascii_case("CONNECT") {
        let Some((host, port)) = split_authority(target, 443) else {
            http_error(&mut client, 400, "Bad Request", "CONNECT needs host:port");
            return;
        };
        match shared.open(&host, port, Use::Tunnel) {
            Ok(mut up) => {
                if client
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .is_err()
                    || (!rest.is_empty() && up.write_all(&rest).is_err())
                {
                    return;
                }
                relay_from(client, up);
            }
            Err(r) => refusal_response(&mut client, &host, port, &r),
        }
        return;
    }
    // Plain HTTP forwarding: `GET http://host[:port]/path HTTP/1.1`.
    let Some(after) = target.strip_prefix("http://") else {
        http_error(
            &mut client,
            400,
            "Bad Request",
            "a proxy request needs an absolute http:// URL (use CONNECT for https)",
        );
        return;
    };
    let (authority, path) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let Some((host, port)) = split_authority(authority, 80) else {
        http_error(&mut client, 400, "Bad Request", "bad host in URL");
        return;
    };
    let mut up = match shared.open(&host, port, Use::Http) {
        Ok(u) => u,
        Err(r) => {
            refusal_response(&mut client, &host, port, &r);
            return;
        }
    };
    // One request per connection: the client may send the next one for another host.
    // `Host` is the URL's, which the allowlist judged (RFC 9112 §3.2.2): one the client
    // sends beside it could name another site served at the same address.
    let shown = match host.contains(':') {
        true => format!("[{host}]"),
        false => host.clone(),
    };
    let mut out = match port {
        80 => format!("{method} {path} HTTP/1.1\r\nHost: {shown}\r\n"),
        p => format!("{method} {path} HTTP/1.1\r\nHost: {shown}:{p}\r\n"),
    };
    for h in req.headers.iter() {
        let n = h.name.to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "proxy-connection" | "proxy-authorization" | "connection" | "keep-alive" | "host"
        ) {
            continue;
        }
        out.push_str(h.name);
        out.push_str(": ");
        out.push_str(&String::from_utf8_lossy(h.value));
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    if up.write_all(out.as_bytes()).is_err() || (!rest.is_empty() && up.write_all(&rest).is_err()) {
        return;
    }
    relay_from(client, up);
}

/// Reads exactly `buf.len()` bytes before `deadline`.
fn read_by(c: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    c.set_read_timeout(Some(left))?;
    c.read_exact(buf)
}

/// SOCKS5: the whole handshake must come within [`limits::REQUEST_DEADLINE`] of the
/// connection; past the deadline the request is dropped before it is acted on.
fn socks5(shared: &Shared, mut c: TcpStream, deadline: Instant) {
    // Greeting: VER(5, already read) NMETHODS METHODS...
    let mut n = [0u8; 1];
    if read_by(&mut c, &mut n, deadline).is_err() {
        return;
    }
    let mut methods = vec![0u8; n[0] as usize];
    if read_by(&mut c, &mut methods, deadline).is_err() {
        return;
    }
    if !methods.contains(&0) {
        let _ = c.write_all(&[5, 0xFF]);
        return;
    }
    if c.write_all(&[5, 0]).is_err() {
        return;
    }
    // Request: VER CMD RSV ATYP ADDR PORT
    let mut hdr = [0u8; 4];
    if read_by(&mut c, &mut hdr, deadline).is_err() || hdr[0] != 5 {
        return;
    }
    let reply = |c: &mut TcpStream, code: u8| {
        let _ = c.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    let host = match hdr[3] {
        1 => {
            let mut a = [0u8; 4];
            if read_by(&mut c, &mut a, deadline).is_err() {
                return;
            }
            Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            if read_by(&mut c, &mut len, deadline).is_err() {
                return;
            }
            let mut name = vec![0u8; len[0] as usize];
            if read_by(&mut c, &mut name, deadline).is_err() {
                return;
            }
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut a = [0u8; 16];
            if read_by(&mut c, &mut a, deadline).is_err() {
                return;
            }
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => {
            reply(&mut c, 8);
            return;
        }
    };
    let mut p = [0u8; 2];
    if read_by(&mut c, &mut p, deadline).is_err() {
        return;
    }
    let port = u16::from_be_bytes(p);
    if Instant::now() > deadline {
        return;
    }
    if hdr[1] != 1 {
        reply(&mut c, 7); // only CONNECT
        return;
    }
    match shared.open(&host, port, Use::Tunnel) {
        Ok(up) => {
            reply(&mut c, 0);
            relay_from(c, up);
        }
        Err(r) => reply(&mut c, if r.is_policy() { 2 } else { 4 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(
            split_authority("a.test:8443", 443),
            Some(("a.test".into(), 8443))
        );
        assert_eq!(split_authority("a.test", 80), Some(("a.test".into(), 80)));
        assert_eq!(split_authority("[::1]:443", 80), Some(("::1".into(), 443)));
        assert_eq!(split_authority("a.test:x", 80), None);
        // Exactly what the proxy accepted before the splitter was shared.
        assert_eq!(split_authority("[::1]", 80), Some(("::1".into(), 80)));
        assert_eq!(split_authority("[::1]:", 80), None);
        assert_eq!(split_authority("[::1", 80), None);
        assert_eq!(split_authority("[::1]x", 80), Some(("::1".into(), 80)));
        assert_eq!(split_authority("[::1]x:443", 80), Some(("::1".into(), 80)));
        assert_eq!(split_authority("::1:443", 80), Some(("::1".into(), 443)));
        assert_eq!(split_authority(":443", 80), Some(("".into(), 443)));
        assert_eq!(split_authority("", 80), Some(("".into(), 80)));
        assert_eq!(split_authority("a.test:0", 80), Some(("a.test".into(), 0)));
        assert_eq!(split_authority("a.test:65536", 80), None);
        assert_eq!(split_authority("a.test:-1", 80), None);
        assert_eq!(split_authority("a.test: 80", 80), None);
    }
}
