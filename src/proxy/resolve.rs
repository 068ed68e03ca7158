//! Name resolution for the proxy, without the C library's name service.
//!
//! mcpcell is a static binary. glibc's `getaddrinfo` follows `/etc/nsswitch.conf`, and on
//! many desktops (Ubuntu's `hosts: files mdns4_minimal [NOTFOUND=return] dns`, systemd's
//! `resolve` and `myhostname`) that means loading a module with dlopen, which a static binary
//! cannot do safely. So the proxy reads `/etc/hosts` itself and asks the nameservers of
//! `/etc/resolv.conf` over UDP (TCP when the answer is truncated), as the `files dns` sources
//! would. Names only a module knows (mDNS `.local` names, systemd's machine names) do not
//! resolve; a profile can pin them with `network.hosts`.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};

/// What the resolver reads from the machine; tests give their own.
#[derive(Debug, Clone)]
pub struct Config {
    pub hosts: String,
    pub nameservers: Vec<SocketAddr>,
    pub search: Vec<String>,
    pub ndots: usize,
    pub timeout: Duration,
    pub attempts: usize,
}

impl Config {
    /// `/etc/hosts` and `/etc/resolv.conf` as they are now.
    pub fn system() -> Config {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        Config::parse(hosts, &resolv)
    }

    /// A configuration from the text of a hosts file and of resolv.conf (resolv.conf(5):
    /// `nameserver`, `search`/`domain`, `options ndots: timeout: attempts:`).
    pub fn parse(hosts: String, resolv: &str) -> Config {
        let mut c = Config {
            hosts,
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
        };
        for line in resolv.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // An IPv6 server may carry a zone (`fe80::1%eth0`): not supported.
                    if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                        if c.nameservers.len() < 3 {
                            c.nameservers.push(SocketAddr::new(ip, 53));
                        }
                    }
                }
                Some("search") | Some("domain") => {
                    c.search = words.map(|w| w.trim_end_matches('.').to_string()).collect();
                }
                Some("options") => {
                    for o in words {
                        let num = |p: &str| o.strip_prefix(p).and_then(|v| v.parse::<u64>().ok());
                        if let Some(n) = num("ndots:") {
                            c.ndots = n.min(15) as usize;
                        } else if let Some(n) = num("timeout:") {
                            c.timeout = Duration::from_secs(n.clamp(1, 30));
                        } else if let Some(n) = num("attempts:") {
                            c.attempts = n.clamp(1, 5) as usize;
                        }
                    }
                }
                _ => {}
            }
        }
        if c.nameservers.is_empty() {
            // resolv.conf(5): without a nameserver line, the local machine's.
            c.nameservers.push(SocketAddr::from(([127, 0, 0, 1], 53)));
        }
        c
    }
}

/// The addresses `/etc/hosts` gives `name` (case-insensitive, without a trailing dot).
fn from_hosts(hosts: &str, name: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) else {
            continue;
        };
        if words.any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(name)) && !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

/// The names to ask for, in order, as glibc's stub resolver tries them.
fn candidates(c: &Config, name: &str) -> Vec<String> {
    if name.ends_with('.') {
        return vec![name.trim_end_matches('.').to_string()];
    }
    let searched = c.search.iter().map(|d| format!("{name}.{d}"));
    if name.matches('.').count() >= c.ndots {
        std::iter::once(name.to_string()).chain(searched).collect()
    } else {
        searched.chain(std::iter::once(name.to_string())).collect()
    }
}

fn query(name: &str, t: TYPE, id: u16) -> io::Result<Vec<u8>> {
    let mut p = Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    let n = Name::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    p.questions.push(Question::new(
        n,
        QTYPE::TYPE(t),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    p.build_bytes_vec()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// The answer to one question from one server: Ok(None) for "no such name" (or no data),
/// Err for a failure worth trying the next server.
fn ask(
    server: SocketAddr,
    q: &[u8],
    id: u16,
    timeout: Duration,
) -> io::Result<Option<Vec<IpAddr>>> {
    let bind: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(server)?;
    sock.send(q)?;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 4096];
    let reply = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        sock.set_read_timeout(Some(left))?;
        let n = sock.recv(&mut buf)?;
        // A reply to another question (or forged) is not ours: keep waiting.
        match Packet::parse(&buf[..n]) {
            Ok(p) if p.id() == id && p.has_flags(PacketFlag::RESPONSE) => {
                if p.has_flags(PacketFlag::TRUNCATION) {
                    break ask_tcp(server, q, id, deadline)?;
                }
                break buf[..n].to_vec();
            }
            _ => continue,
        }
    };
    addresses(&reply)
}

fn ask_tcp(server: SocketAddr, q: &[u8], id: u16, deadline: Instant) -> io::Result<Vec<u8>> {
    let left = deadline.saturating_duration_since(Instant::now());
    let mut s = TcpStream::connect_timeout(&server, left.max(Duration::from_millis(100)))?;
    s.set_read_timeout(Some(left.max(Duration::from_millis(100))))?;
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(q);
    s.write_all(&framed)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut reply)?;
    match Packet::parse(&reply) {
        Ok(p) if p.id() == id => Ok(reply),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a DNS reply to another question",
        )),
    }
}

/// The A and AAAA records of a reply; Ok(None) for NXDOMAIN, Err for a server failure.
fn addresses(reply: &[u8]) -> io::Result<Option<Vec<IpAddr>>> {
    let p = Packet::parse(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    match p.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Ok(None),
        other => {
            return Err(io::Error::other(format!(
                "the nameserver answered {other:?}"
            )));
        }
    }
    let ips: Vec<IpAddr> = p
        .answers
        .iter()
        .filter_map(|r| match &r.rdata {
            RData::A(a) => Some(IpAddr::V4(Ipv4Addr::from(a.address))),
            RData::AAAA(a) => Some(IpAddr::V6(Ipv6Addr::from(a.address))),
            _ => None,
        })
        .collect();
    Ok((!ips.is_empty()).then_some(ips))
}

/// The addresses of `name`: an address literal is itself; then `/etc/hosts`; then DNS (A
/// first, then AAAA).
pub fn lookup(c: &Config, name: &str) -> io::Result<Vec<IpAddr>> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let local = from_hosts(&c.hosts, name.trim_end_matches('.'));
    if !local.is_empty() {
        return Ok(local);
    }
    let mut last_err: Option<io::Error> = None;
    for candidate in candidates(c, name) {
        let mut found = Vec::new();
        let mut answered = false;
        for t in [TYPE::A, TYPE::AAAA] {
            let id: u16 = rand_id();
            let q = query(&candidate, t, id)?;
            'servers: for _ in 0..c.attempts {
                for &server in &c.nameservers {
                    match ask(server, &q, id, c.timeout) {
                        Ok(Some(ips)) => {
                            answered = true;
                            found.extend(ips);
                            break 'servers;
                        }
                        Ok(None) => {
                            answered = true;
                            break 'servers;
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
            }
        }
        if !found.is_empty() {
            return Ok(found);
        }
        if !answered {
            break;
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such name"))
    }))
}

/// A query id that an off-path sender cannot guess.
fn rand_id() -> u16 {
    let mut b = [0u8; 2];
    // SAFETY: getrandom writes at most two bytes into the buffer it is given.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 2, 0) };
    if n == 2 {
        u16::from_ne_bytes(b)
    } else {
        (Instant::now().elapsed().subsec_nanos() ^ std::process::id()) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::ResourceRecord;
    use simple_dns::rdata::A;

    #[test]
    fn resolv_conf_is_read_as_glibc_reads_it() {
        let c = Config::parse(
            String::new(),
            "# x\nnameserver 10.0.0.1\nnameserver ::1\nnameserver bad\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example. lab.example\noptions ndots:2 timeout:1 attempts:3 edns0\n",
        );
        assert_eq!(c.nameservers.len(), 3);
        assert_eq!(c.nameservers[1], "[::1]:53".parse().unwrap());
        assert_eq!(c.search, ["corp.example", "lab.example"]);
        assert_eq!((c.ndots, c.timeout.as_secs(), c.attempts), (2, 1, 3));
        let empty = Config::parse(String::new(), "");
        assert_eq!(empty.nameservers, ["127.0.0.1:53".parse().unwrap()]);
    }

    #[test]
    fn hosts_entries_match_any_alias_without_case_or_trailing_dot() {
        let hosts = "127.0.0.1 localhost\n10.1.2.3 Api.Corp.example api # comment\n::1 ip6-localhost\n# 9.9.9.9 api\n";
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(from_hosts(hosts, "api.corp.example"), [ip("10.1.2.3")]);
        assert_eq!(from_hosts(hosts, "api"), [ip("10.1.2.3")]);
        assert!(from_hosts(hosts, "comment").is_empty());
        let c = Config::parse(hosts.into(), "nameserver 192.0.2.1\n");
        assert_eq!(lookup(&c, "API.corp.example.").unwrap(), [ip("10.1.2.3")]);
        assert_eq!(lookup(&c, "[::1]").unwrap(), [ip("::1")]);
    }

    #[test]
    fn search_domains_come_first_for_short_names() {
        let c = Config::parse(String::new(), "search a.test b.test\noptions ndots:1\n");
        assert_eq!(
            candidates(&c, "host"),
            ["host.a.test", "host.b.test", "host"]
        );
        assert_eq!(candidates(&c, "x.y"), ["x.y", "x.y.a.test", "x.y.b.test"]);
        assert_eq!(candidates(&c, "x.y."), ["x.y"]);
    }

    /// A nameserver on loopback that answers one name, says NXDOMAIN for others, and first
    /// sends a reply with the wrong id (which must be ignored).
    fn fake_server(name: &'static str, ip: Ipv4Addr) -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let at = s.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                let q = Packet::parse(&buf[..n]).unwrap();
                let mut r = q.clone().into_reply();
                let asked = q.questions[0].qname.to_string();
                let is_a = q.questions[0].qtype == QTYPE::TYPE(TYPE::A);
                if asked == name {
                    if is_a {
                        r.answers.push(ResourceRecord::new(
                            Name::new_unchecked(name),
                            CLASS::IN,
                            60,
                            RData::A(A {
                                address: u32::from(ip),
                            }),
                        ));
                    }
                } else {
                    *r.rcode_mut() = RCODE::NameError;
                }
                let mut forged = r.clone();
                forged.set_id(q.id().wrapping_add(1));
                let _ = s.send_to(&forged.build_bytes_vec().unwrap(), from);
                let _ = s.send_to(&r.build_bytes_vec().unwrap(), from);
            }
        });
        at
    }

    #[test]
    fn names_resolve_through_the_nameserver() {
        let ip = Ipv4Addr::new(203, 0, 113, 7);
        let server = fake_server("api.example.test", ip);
        let mut c = Config::parse(String::new(), "");
        c.nameservers = vec![server];
        c.timeout = Duration::from_secs(3);
        assert_eq!(lookup(&c, "api.example.test").unwrap(), [IpAddr::V4(ip)]);
        let e = lookup(&c, "missing.example.test").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        // Nobody answering: an error after the timeout, not a hang.
        c.nameservers = vec!["127.0.0.1:9".parse().unwrap()];
        c.timeout = Duration::from_secs(1);
        c.attempts = 1;
        assert!(lookup(&c, "api.example.test").is_err());
    }
}
