//! Host allowlist entries (`network.allow`, `--allow-host`) and address ranges
//! (`network.allow_private`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Serialize;
use thiserror::Error;

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

/// Whether `name` is a DNS name: labels of letters, digits, `-` and `_`, at most 63 bytes each
/// and 253 in all.
pub fn valid_dns_name(name: &str) -> bool {
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

/// Why a host entry, an address or an address range was refused. Each message quotes the
/// entry as written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HostSpecError {
    #[error("`{entry}`: an IPv6 address in brackets needs a closing `]`")]
    Unclosed { entry: String },
    #[error("`{entry}`: expected `:PORT` after `]`")]
    AfterBracket { entry: String },
    #[error("`{entry}`: write an IPv6 address in brackets, as in [2001:db8::1]:443")]
    Unbracketed { entry: String },
    #[error("`{entry}`: port `{port}` is not a number from 1 to 65535")]
    Port { entry: String, port: String },
    #[error(
        "`{entry}` is a URL: give the host, with a port if it is not 443 or 80, as in `{host}`"
    )]
    Url { entry: String, host: String },
    #[error("`{entry}`: the host is empty")]
    EmptyHost { entry: String },
    #[error("`{entry}`: `{domain}` is not a valid domain name")]
    Domain { entry: String, domain: String },
    #[error(
        "`{entry}`: a wildcard may only stand first, as in *.example.com (which matches the subdomains, not example.com itself)"
    )]
    Wildcard { entry: String },
    #[error("`{entry}`: `{host}` is not a valid host name")]
    HostName { entry: String, host: String },
    #[error(
        "`{entry}` is not an address: write an IP address, optionally with a port, as in 127.0.0.1:8443 or [::1]:8443"
    )]
    Address { entry: String },
    #[error(
        "`{entry}` is not an address range: write an address or ADDRESS/PREFIX, as in 10.0.0.0/8 or ::1"
    )]
    Range { entry: String },
    #[error("`{entry}`: the prefix length must be a number from 0 to {max}")]
    Prefix { entry: String, max: u8 },
}

/// `host[:port]` or `[host]:port`, split but not checked: each caller has its own rules for
/// what the parts may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort<'a> {
    /// Without the brackets. Unbracketed, it may still contain `:` (everything before the
    /// last one).
    pub host: &'a str,
    /// The text after the last `:` (after `]:` when bracketed), if there is one.
    pub port: Option<&'a str>,
    /// Whether the host was written in brackets.
    pub bracketed: bool,
    /// Bracketed only: text after `]` that is not `:PORT` (empty when there is none).
    pub trailing: &'a str,
}

/// Splits `host[:port]` or `[host][:port]`. The only error is a `[` without its `]`.
pub fn split_host_port(s: &str) -> Option<HostPort<'_>> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        let (port, trailing) = match after.strip_prefix(':') {
            Some(p) => (Some(p), ""),
            None => (None, after),
        };
        return Some(HostPort {
            host: &rest[..end],
            port,
            bracketed: true,
            trailing,
        });
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    Some(HostPort {
        host,
        port,
        bracketed: false,
        trailing: "",
    })
}

/// A port number from 1 to 65535.
pub fn parse_port(p: &str) -> Option<u16> {
    p.parse::<u16>().ok().filter(|p| *p != 0)
}

impl FromStr for HostPattern {
    type Err = HostSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let entry = || s.to_string();
        // `https://api.example.com/v1`: the host (and port) it names, offered.
        if let Some((_, rest)) = s.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            return Err(HostSpecError::Url {
                entry: entry(),
                host: host.to_string(),
            });
        }
        let split = split_host_port(s).ok_or_else(|| HostSpecError::Unclosed { entry: entry() })?;
        if !split.trailing.is_empty() {
            return Err(HostSpecError::AfterBracket { entry: entry() });
        }
        if !split.bracketed && split.host.contains(':') {
            return Err(HostSpecError::Unbracketed { entry: entry() });
        }
        let host = split.host;
        let port = match split.port {
            None => None,
            Some(p) => Some(parse_port(p).ok_or_else(|| HostSpecError::Port {
                entry: entry(),
                port: p.to_string(),
            })?),
        };
        if host.is_empty() {
            return Err(HostSpecError::EmptyHost { entry: entry() });
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
                return Err(HostSpecError::Domain {
                    entry: entry(),
                    domain: domain.to_string(),
                });
            }
            HostMatch::Subdomains(domain.to_string())
        } else if lower.contains('*') {
            return Err(HostSpecError::Wildcard { entry: entry() });
        } else if valid_dns_name(&lower) {
            HostMatch::Exact(lower)
        } else {
            return Err(HostSpecError::HostName {
                entry: entry(),
                host: host.to_string(),
            });
        };
        Ok(HostPattern { host, port })
    }
}

/// Parses `IP`, `IP:PORT` or `[IPv6]:PORT` (a `network.hosts` value).
pub fn parse_address(s: &str) -> Result<(IpAddr, Option<u16>), HostSpecError> {
    let bad = || HostSpecError::Address {
        entry: s.to_string(),
    };
    if let Ok(ip) = IpAddr::from_str(s) {
        return Ok((ip, None));
    }
    let split = split_host_port(s).ok_or_else(bad)?;
    if !split.trailing.is_empty() {
        return Err(bad());
    }
    let ip = IpAddr::from_str(split.host).map_err(|_| bad())?;
    let port = split.port.and_then(parse_port).ok_or_else(bad)?;
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

impl Cidr {
    /// The same range with the address's host bits cleared (`10.0.0.5/8` is `10.0.0.0/8`).
    pub fn network(&self) -> Cidr {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        Cidr {
            addr,
            prefix: self.prefix,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = HostSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = IpAddr::from_str(addr.trim()).map_err(|_| HostSpecError::Range {
            entry: s.to_string(),
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| HostSpecError::Prefix {
                    entry: s.to_string(),
                    max,
                })?,
        };
        Ok(Cidr { addr, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_written_with_its_host_bits_cleared() {
        let n = |s: &str| s.parse::<Cidr>().unwrap().network().to_string();
        assert_eq!(n("10.0.0.5"), "10.0.0.5/32");
        assert_eq!(n(" 192.168.1.7 /24"), "192.168.1.0/24");
        assert_eq!(n("10.1.2.3/8"), "10.0.0.0/8");
        assert_eq!(n("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(n("fd00:1::5/64"), "fd00:1::/64");
        assert_eq!(n("::1"), "::1/128");
    }

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
        let err = |s: &str| s.parse::<HostPattern>().unwrap_err().to_string();
        assert_eq!(
            err("example.com:0"),
            "`example.com:0`: port `0` is not a number from 1 to 65535"
        );
        assert_eq!(
            err("example.com:99999"),
            "`example.com:99999`: port `99999` is not a number from 1 to 65535"
        );
        assert_eq!(
            err("https://user:pw@api.example.com:8443/v1?q"),
            "`https://user:pw@api.example.com:8443/v1?q` is a URL: give the host, with a port if it is not 443 or 80, as in `api.example.com:8443`"
        );
        assert!(err("http://x.com").ends_with("as in `x.com`"));
        assert!(err("exa*mple.com").contains("wildcard may only stand first"));
        assert!(err("bad host").contains("not a valid host name"));
        assert!(err("::1").contains("brackets"));
        assert!(err(":443").contains("host is empty"));
    }

    #[test]
    fn splits_host_and_port() {
        let s = |x| split_host_port(x).unwrap();
        let plain = |host, port| HostPort {
            host,
            port,
            bracketed: false,
            trailing: "",
        };
        assert_eq!(s("a.test"), plain("a.test", None));
        assert_eq!(s("a.test:8443"), plain("a.test", Some("8443")));
        assert_eq!(s("a.test:"), plain("a.test", Some("")));
        assert_eq!(s(":443"), plain("", Some("443")));
        assert_eq!(s(""), plain("", None));
        // Unbracketed, everything before the last `:` is the host: callers decide.
        assert_eq!(s("::1:443"), plain("::1", Some("443")));
        let bracketed = |host, port, trailing| HostPort {
            host,
            port,
            bracketed: true,
            trailing,
        };
        assert_eq!(s("[::1]:443"), bracketed("::1", Some("443"), ""));
        assert_eq!(s("[::1]"), bracketed("::1", None, ""));
        assert_eq!(s("[::1]:"), bracketed("::1", Some(""), ""));
        assert_eq!(s("[]:443"), bracketed("", Some("443"), ""));
        assert_eq!(s("[::1]x:443"), bracketed("::1", None, "x:443"));
        assert_eq!(s("[::1]]:443"), bracketed("::1", None, "]:443"));
        assert_eq!(split_host_port("[::1"), None);
        assert_eq!(split_host_port("[::1:443"), None);
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("1"), Some(1));
        assert_eq!(parse_port("65535"), Some(65535));
        for bad in ["0", "65536", "", "-1", " 80", "80 ", "x", "0x50"] {
            assert_eq!(parse_port(bad), None, "{bad}");
        }
        // Rust's integer parser takes a leading `+`; entries have always been read that way.
        assert_eq!(parse_port("+80"), Some(80));
    }

    #[test]
    fn bracket_rules_of_allow_entries() {
        let err = |s: &str| s.parse::<HostPattern>().unwrap_err();
        assert!(matches!(err("[::1"), HostSpecError::Unclosed { .. }));
        assert!(matches!(
            err("[::1]443"),
            HostSpecError::AfterBracket { .. }
        ));
        assert!(matches!(err("[::1]:"), HostSpecError::Port { .. }));
        assert!(matches!(err("[]:443"), HostSpecError::EmptyHost { .. }));
        assert!(matches!(
            err("2001:db8::1:443"),
            HostSpecError::Unbracketed { .. }
        ));
        assert!(matches!(err("a.test:"), HostSpecError::Port { .. }));
        assert_eq!(hp("[2001:db8::1]").to_string(), "[2001:db8::1]");
        assert_eq!(hp("[a.test]:8443").to_string(), "a.test:8443");
    }

    #[test]
    fn addresses() {
        let ok = |s: &str| parse_address(s).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(ok("127.0.0.1"), (ip("127.0.0.1"), None));
        assert_eq!(ok("127.0.0.1:8443"), (ip("127.0.0.1"), Some(8443)));
        assert_eq!(ok("::1"), (ip("::1"), None));
        // A bare IPv6 address ending in a number is an address, not a port.
        assert_eq!(ok("::1:8443"), (ip("::1:8443"), None));
        assert_eq!(ok("[::1]:8443"), (ip("::1"), Some(8443)));
        for bad in [
            "[::1]",
            "[::1]:",
            "[::1]:0",
            "[::1",
            "[::1]x:80",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "a.test:80",
            ":80",
            "",
        ] {
            assert!(
                matches!(parse_address(bad), Err(HostSpecError::Address { .. })),
                "{bad}"
            );
        }
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
