//! The proxy's threads: one polls the listeners (and answers DNS), one more per connection
//! (two while relaying).

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use tracing::{debug, info, warn};

use super::answers::Answers;
use super::dns::{self, Answer, Want};
use super::relay::relay;
use super::upstream::{self, Refusal};
use super::{Listeners, Proxy, ProxyConfig, Stats};

struct Shared {
    cfg: ProxyConfig,
    answers: Mutex<Answers>,
    stats: Arc<Mutex<Stats>>,
    dns_refused: Mutex<HashSet<String>>,
}

impl Shared {
    fn allowed(&self, host: &str, port: u16) {
        info!(target: "mcpcell", event = "proxy_allowed", host, port, "proxy: connected to {host}:{port}");
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *s.allowed.entry(format!("{host}:{port}")).or_default() += 1;
    }

    fn admitted(&self, host: &str, port: u16) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        *s.admitted.entry(format!("{host}:{port}")).or_default() += 1;
    }

    fn refused(&self, host: &str, port: u16, why: &Refusal) {
        let reason = why.reason();
        warn!(target: "mcpcell", event = "proxy_refused", host, port, reason = %reason, "proxy: refused {host}:{port}: {reason}");
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let e = s
            .refused
            .entry(format!("{host}:{port}"))
            .or_insert((0, String::new()));
        e.0 += 1;
        e.1 = reason;
    }

    /// Checks the allowlist, then resolves and connects.
    fn open(&self, host: &str, port: u16) -> Result<TcpStream, Refusal> {
        let result = if self.cfg.admits(host, port) {
            self.admitted(host, port);
            upstream::connect(&self.cfg, host, port)
        } else {
            Err(Refusal::NotAllowed)
        };
        match &result {
            Ok(_) => self.allowed(host, port),
            Err(r) => self.refused(host, port, r),
        }
        result
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new()
        .name(name.into())
        .stack_size(128 * 1024)
        .spawn(f);
}

/// Starts serving the listeners the sandbox handed over.
pub fn start(cfg: ProxyConfig, l: Listeners) -> io::Result<Proxy> {
    let stats = Arc::new(Mutex::new(Stats::default()));
    let shared = Arc::new(Shared {
        cfg,
        answers: Mutex::new(Answers::default()),
        stats: Arc::clone(&stats),
        dns_refused: Mutex::new(HashSet::new()),
    });
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
                0 => {
                    while let Ok((s, _)) = l.proxy.accept() {
                        let sh = Arc::clone(&shared);
                        spawn("mcpcell-proxy-conn", move || handle_proxy(&sh, s));
                    }
                }
                1 => {
                    while let Ok((n, from)) = l.dns.recv_from(&mut buf) {
                        // Resolving may take a while: answer from a thread of its own.
                        let (Ok(sock), sh, query) =
                            (l.dns.try_clone(), Arc::clone(&shared), buf[..n].to_vec())
                        else {
                            continue;
                        };
                        spawn("mcpcell-dns", move || {
                            if let Some(reply) = answer_dns(&sh, &query) {
                                let _ = sock.send_to(&reply, from);
                            }
                        });
                    }
                }
                _ => {
                    let (port, listener) = &l.transparent[i - 2];
                    while let Ok((s, _)) = listener.accept() {
                        let sh = Arc::clone(&shared);
                        let port = *port;
                        spawn("mcpcell-proxy-conn", move || {
                            handle_transparent(&sh, s, port)
                        });
                    }
                }
            }
        }
    }
}

fn answer_dns(shared: &Shared, query: &[u8]) -> Option<Vec<u8>> {
    dns::respond(query, |name, want| {
        if shared.cfg.admits_name(name) && want == Want::Nothing {
            // Answered from the allowlist: nothing is looked up for it.
            return Answer::Allowed(Vec::new());
        }
        if shared.cfg.admits_name(name) {
            debug!(target: "mcpcell", event = "dns_resolve", host = name, "proxy: resolving {name} for the sandbox");
            match upstream::resolve_v4(&shared.cfg, name) {
                Ok(ips) => {
                    let mut answers = shared.answers.lock().unwrap_or_else(|e| e.into_inner());
                    if answers.record(name, &ips) {
                        return Answer::Allowed(ips);
                    }
                }
                Err(r) => {
                    warn!(target: "mcpcell", event = "dns_refused", host = name, reason = %r.reason(), "proxy: no address for {name}: {}", r.reason());
                    return Answer::Refused;
                }
            }
        }
        let mut seen = shared.dns_refused.lock().unwrap_or_else(|e| e.into_inner());
        if seen.insert(name.to_string()) {
            warn!(target: "mcpcell", event = "dns_refused", host = name, "proxy: refused DNS lookup of {name}: not in network.allow");
        }
        Answer::Refused
    })
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
    match upstream::connect_to(
        &shared.cfg,
        name,
        std::net::SocketAddr::new(IpAddr::V4(ip), port),
    ) {
        Ok(up) => {
            shared.allowed(name, port);
            relay(client, up);
        }
        Err(r) => shared.refused(name, port, &r),
    }
}

/// Reads an HTTP request head (up to the blank line); returns it with any bytes after it.
fn read_head(s: &mut TcpStream, first: &[u8]) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = first.to_vec();
    let mut chunk = [0u8; 4096];
    loop {
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

/// Splits `host:port` (IPv6 in brackets); `default` when there is no port.
fn split_authority(a: &str, default: u16) -> Option<(String, u16)> {
    if let Some(rest) = a.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let port = match rest[end + 1..].strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((host.to_string(), port));
    }
    match a.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((a.to_string(), default)),
    }
}

fn http_error(s: &mut TcpStream, code: u16, text: &str, detail: &str) {
    let body = format!("mcpcell: {detail}\n");
    let _ = write!(
        s,
        "HTTP/1.1 {code} {text}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn handle_proxy(shared: &Shared, mut client: TcpStream) {
    let _ = client.set_nonblocking(false);
    let mut first = [0u8; 1];
    if client.read_exact(&mut first).is_err() {
        return;
    }
    if first[0] == 5 {
        socks5(shared, client);
    } else {
        http(shared, client, &first);
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

fn http(shared: &Shared, mut client: TcpStream, first: &[u8]) {
    let Ok((head, rest)) = read_head(&mut client, first) else {
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
        match shared.open(&host, port) {
            Ok(mut up) => {
                if client
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .is_err()
                    || (!rest.is_empty() && up.write_all(&rest).is_err())
                {
                    return;
                }
                relay(client, up);
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
    let mut up = match shared.open(&host, port) {
        Ok(u) => u,
        Err(r) => {
            refusal_response(&mut client, &host, port, &r);
            return;
        }
    };
    // One request per connection: the client may send the next one for another host.
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for h in req.headers.iter() {
        let n = h.name.to_ascii_lowercase();
        if matches!(
            n.as_str(),
            "proxy-connection" | "proxy-authorization" | "connection" | "keep-alive"
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
    relay(client, up);
}

fn socks5(shared: &Shared, mut c: TcpStream) {
    // Greeting: VER(5, already read) NMETHODS METHODS...
    let mut n = [0u8; 1];
    if c.read_exact(&mut n).is_err() {
        return;
    }
    let mut methods = vec![0u8; n[0] as usize];
    if c.read_exact(&mut methods).is_err() {
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
    if c.read_exact(&mut hdr).is_err() || hdr[0] != 5 {
        return;
    }
    let reply = |c: &mut TcpStream, code: u8| {
        let _ = c.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    let host = match hdr[3] {
        1 => {
            let mut a = [0u8; 4];
            if c.read_exact(&mut a).is_err() {
                return;
            }
            Ipv4Addr::from(a).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            if c.read_exact(&mut len).is_err() {
                return;
            }
            let mut name = vec![0u8; len[0] as usize];
            if c.read_exact(&mut name).is_err() {
                return;
            }
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut a = [0u8; 16];
            if c.read_exact(&mut a).is_err() {
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
    if c.read_exact(&mut p).is_err() {
        return;
    }
    let port = u16::from_be_bytes(p);
    if hdr[1] != 1 {
        reply(&mut c, 7); // only CONNECT
        return;
    }
    match shared.open(&host, port) {
        Ok(up) => {
            reply(&mut c, 0);
            relay(c, up);
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
    }
}
