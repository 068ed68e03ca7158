//! Connections out of the sandbox: mcpcell resolves the name itself and connects only to
//! addresses the profile allows.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::ProxyConfig;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Loopback, private, link-local, shared, multicast and other non-public ranges.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
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
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xFE00) == 0xFC00 // fc00::/7 unique local
                || (s[0] & 0xFFC0) == 0xFE80 // fe80::/10 link local
        }
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
        }
    }

    /// Whether this is a policy refusal (logged as such) rather than a network failure.
    pub fn is_policy(&self) -> bool {
        matches!(
            self,
            Refusal::NotAllowed | Refusal::Direct | Refusal::Private(_)
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
    for a in (name, 0)
        .to_socket_addrs()
        .map_err(|e| Refusal::Resolve(e.to_string()))?
    {
        if let IpAddr::V4(v4) = a.ip() {
            if !cfg.ip_allowed(a.ip()) {
                private.get_or_insert(a.ip());
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
    let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| Refusal::Connect(e.to_string()))?;
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
        (None, Err(_)) => (bare, port)
            .to_socket_addrs()
            .map_err(|e| Refusal::Resolve(e.to_string()))?
            .collect(),
    };
    let mut refused_private = None;
    let mut last_err = None;
    for a in addrs {
        if !cfg.ip_allowed(a.ip()) {
            refused_private.get_or_insert(a.ip());
            continue;
        }
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
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
    }
}
