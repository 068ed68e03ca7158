//! Host allowlist entries (`network.allow`, `--allow-host`) and address ranges
//! (`network.allow_private`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;

/// Which names an allowlist entry admits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum HostMatch {
    /// Exactly this name.
    Exact(String),
    /// `*.example.com`: any name below `example.com`, but not `example.com` itself. List the
    /// apex separately to admit it too.
    Subdomains(String),
    /// An IP address literal.
    Ip(IpAddr),
}

/// One `network.allow` entry: a host and, optionally, one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPattern {
    pub host: HostMatch,
    /// `None` means the default ports, 443 and 80.
    pub port: Option<u16>,
}

pub const DEFAULT_PORTS: [u16; 2] = [443, 80];

impl HostPattern {
    /// Whether `name:port` is admitted. `name` is compared case-insensitively, without a
    /// trailing dot.
    pub fn matches(&self, name: &str, port: u16) -> bool {
        let port_ok = match self.port {
            Some(p) => p == port,
            None => DEFAULT_PORTS.contains(&port),
        };
        if !port_ok {
            return false;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match &self.host {
            HostMatch::Exact(h) => *h == name,
            HostMatch::Subdomains(d) => {
                name.len() > d.len() + 1
                    && name.ends_with(d.as_str())
                    && name.as_bytes()[name.len() - d.len() - 1] == b'.'
            }
            HostMatch::Ip(ip) => IpAddr::from_str(name.trim_matches(['[', ']'])).ok() == Some(*ip),
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            HostMatch::Exact(h) => write!(f, "{h}")?,
            HostMatch::Subdomains(d) => write!(f, "*.{d}")?,
            HostMatch::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostMatch::Ip(ip) => write!(f, "{ip}")?,
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

fn valid_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let end = rest
                .find(']')
                .ok_or_else(|| format!("`{s}`: an IPv6 address in brackets needs a closing `]`"))?;
            let after = &rest[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("`{s}`: expected `:PORT` after `]`")),
            };
            (&rest[..end], port)
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                Some(_) => {
                    return Err(format!(
                        "`{s}`: write an IPv6 address in brackets, as in [2001:db8::1]:443"
                    ));
                }
                None => (s, None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("`{s}`: port `{p}` is not a number from 1 to 65535"))?,
            ),
        };
        if host.is_empty() {
            return Err(format!("`{s}`: the host is empty"));
        }
        if let Ok(ip) = IpAddr::from_str(host) {
            return Ok(HostPattern {
                host: HostMatch::Ip(ip),
                port,
            });
        }
        let lower = host.trim_end_matches('.').to_ascii_lowercase();
        let host = if let Some(domain) = lower.strip_prefix("*.") {
            if !valid_dns_name(domain) || !domain.contains('.') && domain.len() < 2 {
                return Err(format!("`{s}`: `{domain}` is not a valid domain name"));
            }
            HostMatch::Subdomains(domain.to_string())
        } else if lower.contains('*') {
            return Err(format!(
                "`{s}`: a wildcard may only stand first, as in *.example.com (which matches the subdomains, not example.com itself)"
            ));
        } else if valid_dns_name(&lower) {
            HostMatch::Exact(lower)
        } else {
            return Err(format!("`{s}`: `{host}` is not a valid host name"));
        };
        Ok(HostPattern { host, port })
    }
}

/// Parses `IP`, `IP:PORT` or `[IPv6]:PORT` (a `network.hosts` value).
pub fn parse_address(s: &str) -> Result<(IpAddr, Option<u16>), String> {
    let bad = || {
        format!(
            "`{s}` is not an address: write an IP address, optionally with a port, as in 127.0.0.1:8443 or [::1]:8443"
        )
    };
    if let Ok(ip) = IpAddr::from_str(s) {
        return Ok((ip, None));
    }
    let (ip, port) = if let Some(rest) = s.strip_prefix('[') {
        rest.split_once("]:").ok_or_else(bad)?
    } else {
        s.rsplit_once(':').ok_or_else(bad)?
    };
    let ip = IpAddr::from_str(ip).map_err(|_| bad())?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(bad)?;
    Ok((ip, Some(port)))
}

/// An address range, such as `10.0.0.0/8` or `::1` (a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(v4)) => self.contains(IpAddr::V6(v4.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => self.contains(IpAddr::V4(v4)),
                None => false,
            },
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(addr.trim()).map_err(|_| {
            format!("`{s}` is not an address range: write an address or ADDRESS/PREFIX, as in 10.0.0.0/8 or ::1")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| {
                    format!("`{s}`: the prefix length must be a number from 0 to {max}")
                })?,
        };
        Ok(Cidr { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> HostPattern {
        s.parse().unwrap()
    }

    #[test]
    fn exact_hosts_and_default_ports() {
        let p = hp("Registry.NPMJS.org");
        assert!(p.matches("registry.npmjs.org", 443));
        assert!(p.matches("REGISTRY.npmjs.org.", 80));
        assert!(!p.matches("registry.npmjs.org", 8080));
        assert!(!p.matches("evil.registry.npmjs.org", 443));
        assert_eq!(p.to_string(), "registry.npmjs.org");
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let p = hp("*.github.com:443");
        assert!(p.matches("api.github.com", 443));
        assert!(p.matches("a.b.github.com", 443));
        assert!(!p.matches("github.com", 443));
        assert!(!p.matches("evilgithub.com", 443));
        assert!(!p.matches("api.github.com", 80));
    }

    #[test]
    fn ip_literals() {
        assert!(hp("127.0.0.1:8080").matches("127.0.0.1", 8080));
        assert!(hp("[::1]:8443").matches("::1", 8443));
        assert_eq!(hp("[::1]:8443").to_string(), "[::1]:8443");
    }

    #[test]
    fn bad_entries_are_explained() {
        let err = |s: &str| s.parse::<HostPattern>().unwrap_err();
        assert_eq!(
            err("example.com:0"),
            "`example.com:0`: port `0` is not a number from 1 to 65535"
        );
        assert_eq!(
            err("example.com:99999"),
            "`example.com:99999`: port `99999` is not a number from 1 to 65535"
        );
        assert!(err("exa*mple.com").contains("wildcard may only stand first"));
        assert!(err("bad host").contains("not a valid host name"));
        assert!(err("::1").contains("brackets"));
        assert!(err(":443").contains("host is empty"));
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("foo".parse::<Cidr>().is_err());
    }
}
