//! Connections out of the sandbox: mcpcell resolves the name itself and connects only to
//! addresses the profile allows.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use super::ProxyConfig;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Loopback, private, link-local, shared, multicast and other non-public ranges. An IPv6
/// address that carries an IPv4 address ([`embedded_v4`]) is as private as any address it
/// carries: `::ffff:127.0.0.1` and `64:ff9b::7f00:1` reach (or, through a translator, may
/// reach) the same place as `127.0.0.1`.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6_range(v6) || embedded_v4(v6).into_iter().any(private_v4),
    }
}

fn private_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64.0.0/10, shared address space
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
        || (o[0] == 198 && (o[1] & 0xFE) == 18) // 198.18.0.0/15
        || o[0] >= 240
}

/// `ip` as an IPv4 address when it is an IPv4-mapped IPv6 one.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is one of this host's own addresses, on any interface (`lo` included), or
/// carries one in any IPv4-embedding form ([`embedded_v4`]: a NAT64 or a 6to4 relay that
/// turns it back into IPv4 delivers it here), or whether that cannot be told (then it is
/// taken to be one). Whatever its range says, an allowed name that resolves to it reaches
/// the host's own services: a database listening on every address of a machine whose
/// public address is on its interface.
pub fn is_host_local(ip: IpAddr) -> bool {
    let mut want = vec![canonical(ip)];
    if let IpAddr::V6(v6) = ip {
        want.extend(embedded_v4(v6).into_iter().map(IpAddr::V4));
    }
    let Ok(ifs) = nix::ifaddrs::getifaddrs() else {
        return true;
    };
    ifs.filter_map(|i| i.address)
        .filter_map(|a| {
            a.as_sockaddr_in()
                .map(|s| IpAddr::V4(s.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
        })
        .any(|a| want.contains(&canonical(a)))
}

/// A connection that reached this host itself: its two ends share the address (the kernel
/// picks the destination as the source of a local route's traffic). Catches what
/// [`is_host_local`] could not list (an address routed locally without being on an
/// interface); `None` when the peer is elsewhere.
fn landed_on_host(s: &TcpStream) -> Option<IpAddr> {
    let (local, peer) = (s.local_addr().ok()?, s.peer_addr().ok()?);
    (canonical(local.ip()) == canonical(peer.ip())).then_some(peer.ip())
}

/// IPv6 ranges that are not public in themselves.
pub(crate) fn private_v6_range(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (s[0] & 0xFE00) == 0xFC00 // fc00::/7 unique local
        || (s[0] & 0xFFC0) == 0xFE80 // fe80::/10 link local
        || (s[0] & 0xFFC0) == 0xFEC0 // fec0::/10 site local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64 discard
}

/// The IPv4 addresses an IPv6 address carries, in every form that a host, a NAT64 or a
/// tunnel turns back into IPv4 traffic: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96` and the local-use
/// `64:ff9b:1::/48` (whose operator may put the address at any RFC 6052 position: every
/// one is returned), 6to4 `2002:AABB:CCDD::/48`, and Teredo `2001:0::/32` (server and
/// client).
pub fn embedded_v4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let b = v6.octets();
    let s = v6.segments();
    let v4 = |o: [u8; 4]| Ipv4Addr::from(o);
    let last = v4([b[12], b[13], b[14], b[15]]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => vec![last],
        [0, 0, 0, 0, 0xffff, 0, _, _] => vec![last],
        [0, 0, 0, 0, 0, 0, _, _] => vec![last],
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => vec![last],
        [0x64, 0xff9b, 1, ..] => vec![
            // RFC 6052 section 2.2: prefix lengths 48, 56, 64 and 96 (bits 64..72 are zero).
            v4([b[6], b[7], b[9], b[10]]),
            v4([b[7], b[9], b[10], b[11]]),
            v4([b[9], b[10], b[11], b[12]]),
            last,
        ],
        [0x2002, ..] => vec![v4([b[2], b[3], b[4], b[5]])],
        [0x2001, 0, ..] => vec![
            v4([b[4], b[5], b[6], b[7]]),
            v4([!b[12], !b[13], !b[14], !b[15]]),
        ],
        _ => Vec::new(),
    }
}

/// Why a destination was not reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not on the allowlist.
    NotAllowed,
    /// A connection straight to an address that no allowed name resolved to.
    Direct,
    /// Every address the name resolves to is private and not in `allow_private`.
    Private(IpAddr),
    /// The name does not resolve.
    Resolve(String),
    /// Connecting failed (the host refused, or timed out).
    Connect(String),
    /// The name is not a DNS name or an IP address (control characters, spaces, over 253
    /// bytes): refused before anything is looked up or sent.
    HostName,
    /// The upstream proxy did not open the tunnel; its answer, escaped.
    Upstream(String),
    /// The destination is the upstream proxy itself.
    ToUpstream,
}

impl Refusal {
    pub fn reason(&self) -> String {
        match self {
            Refusal::NotAllowed => "not in network.allow".into(),
            Refusal::Direct => {
                "a direct connection to an address no allowed name resolved to".into()
            }
            Refusal::Private(ip) => format!(
                "resolves to the non-public address {ip}, which network.allow_private does not cover"
            ),
            Refusal::Resolve(e) => format!("does not resolve: {e}"),
            Refusal::Connect(e) => format!("connection failed: {e}"),
            Refusal::HostName => "not a host name or an IP address".into(),
            Refusal::Upstream(e) => e.clone(),
            Refusal::ToUpstream => {
                "the upstream proxy itself, which would take requests for any host".into()
            }
        }
    }

    /// Whether this is a policy refusal (logged as such) rather than a network failure.
    pub fn is_policy(&self) -> bool {
        matches!(
            self,
            Refusal::NotAllowed
                | Refusal::Direct
                | Refusal::Private(_)
                | Refusal::HostName
                | Refusal::ToUpstream
        )
    }
}

/// The IPv4 addresses the DNS responder gives an allowed name: as `network.hosts` pins it,
/// or as the host resolves it, keeping only addresses the profile allows.
pub fn resolve_v4(cfg: &ProxyConfig, name: &str) -> Result<Vec<std::net::Ipv4Addr>, Refusal> {
    if let Some((_, ip, _)) = cfg
        .hosts
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
    {
        return match ip {
            IpAddr::V4(v4) if cfg.ip_allowed(*ip) => Ok(vec![*v4]),
            _ => Err(Refusal::Private(*ip)),
        };
    }
    let mut out = Vec::new();
    let mut private = None;
    for ip in super::resolve::lookup(&super::resolve::Config::system(), name)
        .map_err(|e| Refusal::Resolve(e.to_string()))?
    {
        if let IpAddr::V4(v4) = ip {
            if !cfg.ip_allowed(ip) {
                private.get_or_insert(ip);
            } else if !out.contains(&v4) {
                out.push(v4);
            }
        }
    }
    match (out.is_empty(), private) {
        (false, _) => Ok(out),
        (true, Some(ip)) => Err(Refusal::Private(ip)),
        (true, None) => Err(Refusal::Resolve("no IPv4 address".into())),
    }
}

/// Connects to an address a client dialled directly (the transparent path), for `name`: a
/// `network.hosts` pin with a port also moves the port.
pub fn connect_to(
    cfg: &ProxyConfig,
    name: &str,
    mut addr: SocketAddr,
) -> Result<TcpStream, Refusal> {
    if let Some((_, ip, Some(p))) = cfg
        .hosts
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
    {
        addr = SocketAddr::new(*ip, *p);
    }
    if !cfg.ip_allowed(addr.ip()) {
        return Err(Refusal::Private(addr.ip()));
    }
    if to_upstream(cfg, name, &[addr.ip()], addr.port()) {
        return Err(Refusal::ToUpstream);
    }
    let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| Refusal::Connect(e.to_string()))?;
    if let Some(ip) = landed_on_host(&s).filter(|ip| !cfg.private_covered(*ip)) {
        return Err(Refusal::Private(ip));
    }
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Resolves `host` and connects to the first allowed address.
pub fn connect(cfg: &ProxyConfig, host: &str, port: u16) -> Result<TcpStream, Refusal> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let pinned = cfg
        .hosts
        .iter()
        .find(|(name, _, _)| name.eq_ignore_ascii_case(bare.trim_end_matches('.')));
    let addrs: Vec<SocketAddr> = match (pinned, bare.parse::<IpAddr>()) {
        (Some((_, ip, p)), _) => vec![SocketAddr::new(*ip, p.unwrap_or(port))],
        (None, Ok(ip)) => vec![SocketAddr::new(ip, port)],
        (None, Err(_)) => super::resolve::lookup(&super::resolve::Config::system(), bare)
            .map_err(|e| Refusal::Resolve(e.to_string()))?
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect(),
    };
    let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
    if addrs.iter().any(|a| to_upstream(cfg, bare, &ips, a.port())) {
        return Err(Refusal::ToUpstream);
    }
    let mut refused_private = None;
    let mut last_err = None;
    for a in addrs {
        if !cfg.ip_allowed(a.ip()) {
            refused_private.get_or_insert(a.ip());
            continue;
        }
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) if landed_on_host(&s).is_some_and(|ip| !cfg.private_covered(ip)) => {
                refused_private.get_or_insert(a.ip());
            }
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last_err = Some(e.to_string()),
        }
    }
    if let Some(e) = last_err {
        return Err(Refusal::Connect(e));
    }
    match refused_private {
        Some(ip) => Err(Refusal::Private(ip)),
        None => Err(Refusal::Resolve("no addresses".into())),
    }
}

/// Whether `host` (with the addresses it has here) on `port` is an upstream proxy of `cfg`.
fn to_upstream(cfg: &ProxyConfig, host: &str, addrs: &[IpAddr], port: u16) -> bool {
    cfg.chain
        .as_ref()
        .is_some_and(|c| c.is_upstream(host, addrs, port))
}

/// Connects to `host:port` through the upstream proxy `up`. The name is resolved here too
/// when it can be: if any address it has here is one the profile does not allow, it is
/// refused (the upstream might pick that one). A name that does not resolve here (a
/// network where only the proxy resolves outside names) goes to the upstream by name, which
/// then decides its address. A `network.hosts` pin is sent to the upstream as its address.
pub fn connect_via(
    cfg: &ProxyConfig,
    up: &super::chain::Upstream,
    host: &str,
    port: u16,
) -> Result<TcpStream, Refusal> {
    use super::chain::TunnelError;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let (target, port) = match (cfg.pinned(bare), bare.parse::<IpAddr>()) {
        (Some((ip, p)), _) => {
            if !cfg.ip_allowed(ip) {
                return Err(Refusal::Private(ip));
            }
            (ip.to_string(), p.unwrap_or(port))
        }
        (None, Ok(ip)) => {
            if !cfg.ip_allowed(ip) {
                return Err(Refusal::Private(ip));
            }
            (bare.to_string(), port)
        }
        (None, Err(_)) => {
            let addrs =
                super::resolve::lookup(&super::resolve::Config::system(), bare).unwrap_or_default();
            if let Some(ip) = addrs.iter().find(|ip| !cfg.ip_allowed(**ip)) {
                return Err(Refusal::Private(*ip));
            }
            if to_upstream(cfg, bare, &addrs, port) {
                return Err(Refusal::ToUpstream);
            }
            (bare.to_string(), port)
        }
    };
    let ip: Vec<IpAddr> = target.parse().into_iter().collect();
    if to_upstream(cfg, &target, &ip, port) {
        return Err(Refusal::ToUpstream);
    }
    super::chain::tunnel(up, &target, port).map_err(|e| match e {
        TunnelError::Target => Refusal::HostName,
        TunnelError::Connect(m) => Refusal::Connect(m),
        TunnelError::Answer(m) => Refusal::Upstream(m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.215.14", "1.1.1.1", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
        // The IPv4 documentation ranges stay public: some networks put real services there
        // (a package registry's mirror, say).
        for ip in ["192.0.2.7", "203.0.113.80"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn this_hosts_own_addresses_are_known() {
        for ip in ["127.0.0.1", "::ffff:127.0.0.1"] {
            assert!(is_host_local(ip.parse().unwrap()), "{ip}");
        }
        assert!(!is_host_local("93.184.215.14".parse().unwrap()));
        // Every address on an interface, whatever its range, and every IPv6 form that
        // carries it (a NAT64 or a 6to4 relay delivers those back here).
        for i in nix::ifaddrs::getifaddrs().unwrap() {
            if let Some(v4) = i.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
                assert!(is_host_local(IpAddr::V4(v4.ip())), "{}", v4.ip());
                let [a, b, c, d] = v4.ip().octets();
                let w = |hi: u8, lo: u8| u16::from_be_bytes([hi, lo]);
                for v6 in [
                    Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, w(a, b), w(c, d)),
                    Ipv6Addr::new(0, 0, 0, 0, 0, 0, w(a, b), w(c, d)),
                    Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, w(a, b), w(c, d)),
                    Ipv6Addr::new(0x2002, w(a, b), w(c, d), 0, 0, 0, 0, 1),
                ] {
                    assert!(is_host_local(IpAddr::V6(v6)), "{v6} carries {}", v4.ip());
                }
            }
        }
        // The same forms of an address that is on no interface are not this host's.
        assert!(!is_host_local("64:ff9b::5db8:d70e".parse().unwrap()));
        assert!(!is_host_local("2002:5db8:d70e::1".parse().unwrap()));
    }

    /// Every IPv4-embedding form of a loopback or private address is private; the same
    /// forms of a public address are not (so the check is about the embedded address).
    #[test]
    fn ipv4_embedded_in_ipv6_is_judged_by_the_ipv4_address() {
        let forms = |a: [u8; 4]| -> Vec<(String, Ipv6Addr)> {
            let [p, q, r, t] = a;
            let w = |hi: u8, lo: u8| u16::from_be_bytes([hi, lo]);
            vec![
                ("mapped".into(), Ipv4Addr::from(a).to_ipv6_mapped()),
                ("compatible".into(), Ipv4Addr::from(a).to_ipv6_compatible()),
                (
                    "translated".into(),
                    Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, w(p, q), w(r, t)),
                ),
                (
                    "nat64".into(),
                    Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, w(p, q), w(r, t)),
                ),
                (
                    "nat64-local/96".into(),
                    Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, w(p, q), w(r, t)),
                ),
                (
                    "nat64-local/48".into(),
                    Ipv6Addr::new(0x64, 0xff9b, 1, w(p, q), w(0, r), w(t, 0), 0, 0),
                ),
                (
                    "6to4".into(),
                    Ipv6Addr::new(0x2002, w(p, q), w(r, t), 0, 0, 0, 0, 1),
                ),
                (
                    "teredo client".into(),
                    Ipv6Addr::new(0x2001, 0, w(4, 2), w(2, 4), 0, 0, w(!p, !q), w(!r, !t)),
                ),
                (
                    "teredo server".into(),
                    Ipv6Addr::new(0x2001, 0, w(p, q), w(r, t), 0, 0, w(!1, !1), w(!1, !1)),
                ),
            ]
        };
        for private in [
            [127, 0, 0, 1],
            [10, 1, 2, 3],
            [169, 254, 169, 254],
            [192, 168, 0, 1],
        ] {
            for (name, ip) in forms(private) {
                assert!(is_private(IpAddr::V6(ip)), "{name} {ip} of {private:?}");
                assert!(
                    embedded_v4(ip).contains(&Ipv4Addr::from(private)),
                    "{name} {ip}"
                );
            }
        }
        for (name, ip) in forms([93, 184, 215, 14]) {
            // The local-use NAT64 prefix does not say where its operator put the address;
            // some position always reads as a 0.x address, so it stays private unless
            // allow_private lists it.
            let ambiguous = name.starts_with("nat64-local");
            assert_eq!(is_private(IpAddr::V6(ip)), ambiguous, "{name} {ip}");
        }
        for ip in [
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "::ffff:0:a00:1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
