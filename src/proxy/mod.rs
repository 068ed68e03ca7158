//! Network mode `proxy`: an egress allowlist enforced outside the sandbox.
//!
//! The sandbox keeps its private network namespace. Before the server starts, the sandbox's
//! init creates listening sockets inside that namespace and hands them to mcpcell over a
//! socketpair; mcpcell serves them from outside, where the real network is:
//!
//! - `127.0.0.1:PORT`: an HTTP proxy (CONNECT and plain `http://` forwarding) that also
//!   speaks SOCKS5; `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` point at it;
//! - `127.0.0.1:53` (UDP): a DNS responder that answers allowlisted names with their real
//!   IPv4 addresses (resolved by mcpcell) and every other name with NXDOMAIN;
//! - `0.0.0.0:PORT` for every allowed port: a transparent listener. Inside the sandbox every
//!   IPv4 address is routed to loopback, so a client that ignores the proxy variables and
//!   connects to an address it looked up lands there; the listener sees which address was
//!   dialled, checks that the DNS responder gave it out for an allowed name, and connects to
//!   it from outside.
//!
//! mcpcell resolves every name itself and refuses loopback, private and link-local
//! addresses unless `network.allow_private` covers them, so an allowed name cannot be
//! pointed at the host's own services. Bytes are relayed with splice(2); TLS is never
//! terminated. The listening sockets live in the sandbox's namespace, so nothing else on
//! the host can use the proxy. Where namespaces are refused, the proxy listens on the
//! host's loopback and serves only the connections mcpcell made for the server
//! ([`crate::netguard::Admitted`]).

mod answers;
pub mod chain;
mod dns;
mod limits;
mod relay;
mod resolve;
mod serve;
mod upstream;

use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::hostspec::{Cidr, DEFAULT_PORTS, HostPattern};
use crate::plural::plural;

pub use serve::start;
pub use upstream::{Refusal, resolve_v4};

/// The resolver configuration and hosts file the sandbox sees in proxy mode.
pub const RESOLV_CONF: &str = "# written by mcpcell: names resolve through its egress proxy\nnameserver 127.0.0.1\noptions attempts:2 timeout:2\n";
pub const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// What the proxy admits, and where it listens inside the sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyConfig {
    pub allow: Vec<HostPattern>,
    pub allow_private: Vec<Cidr>,
    /// `network.hosts`: names the proxy connects to at a fixed address (and port).
    pub hosts: Vec<(String, std::net::IpAddr, Option<u16>)>,
    /// The HTTP/SOCKS5 proxy port on 127.0.0.1.
    pub proxy_port: u16,
    /// Ports with a transparent listener: every port an allow entry admits.
    pub transparent_ports: Vec<u16>,
    /// Observe mode: every name is admitted (and recorded); addresses are still checked.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub learn: bool,
    /// The upstream proxy that mcpcell's environment names, which allowed connections go
    /// through (credentials masked when shown); none: they go direct.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<chain::Chain>,
    /// The options that make `mcpcell explain` answer for this sandbox (`-p PROFILE ...`,
    /// shell-quoted), for the command each refusal's log line suggests; none when empty.
    #[serde(skip)]
    pub explain: String,
}

impl ProxyConfig {
    pub fn new(allow: Vec<HostPattern>, allow_private: Vec<Cidr>) -> ProxyConfig {
        let mut ports: Vec<u16> = Vec::new();
        for a in &allow {
            match a.port {
                Some(p) => ports.push(p),
                None => ports.extend(DEFAULT_PORTS),
            }
        }
        ports.sort_unstable();
        ports.dedup();
        let mut proxy_port = 3128;
        while ports.contains(&proxy_port) {
            proxy_port += 1;
        }
        ProxyConfig {
            allow,
            allow_private,
            hosts: Vec::new(),
            proxy_port,
            transparent_ports: ports,
            learn: false,
            chain: None,
            explain: String::new(),
        }
    }

    /// Observe mode: admits every name on the default ports and on the ports allowed already.
    pub fn learning(mut self) -> ProxyConfig {
        self.learn = true;
        self.transparent_ports.extend(DEFAULT_PORTS);
        self.transparent_ports.sort_unstable();
        self.transparent_ports.dedup();
        self
    }

    /// `; check with: mcpcell explain ... TARGET` for a refusal's log line, or nothing.
    pub fn check_with(&self, target: &str) -> String {
        if self.explain.is_empty() {
            return String::new();
        }
        format!(
            "; check with: mcpcell explain {} {}",
            self.explain,
            crate::escape::shell_operand(target.as_ref())
        )
    }

    /// The `network.hosts` pin of `name`, if it has one.
    pub fn pinned(&self, name: &str) -> Option<(std::net::IpAddr, Option<u16>)> {
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        self.hosts
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(bare.trim_end_matches('.')))
            .map(|(_, ip, port)| (*ip, *port))
    }

    /// Whether `host:port` is on the allowlist.
    pub fn admits(&self, host: &str, port: u16) -> bool {
        self.learn || self.allow.iter().any(|a| a.matches(host, port))
    }

    /// Whether some entry admits `host` on any port (what the DNS responder asks).
    pub fn admits_name(&self, host: &str) -> bool {
        self.learn
            || self.allow.iter().any(|a| match a.port {
                Some(p) => a.matches(host, p),
                None => DEFAULT_PORTS.iter().any(|&p| a.matches(host, p)),
            })
    }

    /// Whether an `allow_private` range covers `ip`.
    pub fn private_covered(&self, ip: std::net::IpAddr) -> bool {
        self.allow_private.iter().any(|c| c.contains(ip))
    }

    /// Whether connecting to `ip` is allowed: public addresses that are not this host's
    /// own always, others only when an `allow_private` range covers them.
    pub fn ip_allowed(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let covered = |ip: IpAddr| self.private_covered(ip);
        if covered(ip) {
            return true;
        }
        if !upstream::is_private(ip) {
            return !upstream::is_host_local(ip);
        }
        // An IPv6 form of an IPv4 address is allowed where the IPv4 address is: when every
        // address it carries is public or covered, and its own range is not private.
        let IpAddr::V6(v6) = ip else {
            return false;
        };
        let carried = upstream::embedded_v4(v6);
        let as_v4 = |e: &std::net::Ipv4Addr| {
            let e = IpAddr::V4(*e);
            covered(e) || !upstream::is_private(e) && !upstream::is_host_local(e)
        };
        !carried.is_empty() && carried.iter().all(as_v4) && !upstream::private_v6_range(v6)
    }

    /// Environment variables that point proxy-aware clients at the proxy.
    pub fn env(&self) -> Vec<(String, String)> {
        let http = format!("http://127.0.0.1:{}", self.proxy_port);
        // ALL_PROXY is an http:// URL too: Python's httpx builds a transport for it at start
        // and fails without the optional socksio package when it says socks5h://. The port
        // still speaks SOCKS5 to clients told so.
        let mut v = Vec::new();
        for (k, val) in [
            ("HTTP_PROXY", &http),
            ("HTTPS_PROXY", &http),
            ("ALL_PROXY", &http),
            ("NO_PROXY", &"localhost,127.0.0.1".to_string()),
        ] {
            v.push((k.to_string(), val.clone()));
            v.push((k.to_ascii_lowercase(), val.clone()));
        }
        v
    }
}

/// The sockets the sandbox created for the proxy, in the order it sends them.
pub struct Listeners {
    pub proxy: TcpListener,
    pub transparent: Vec<(u16, TcpListener)>,
    pub dns: UdpSocket,
    /// When the proxy listens where other processes could reach it (the namespace-free
    /// tier: the host's loopback), the connections it serves: those mcpcell made itself.
    pub admitted: Option<crate::netguard::Admitted>,
}

/// Allowed and refused destinations, for the summary at exit.
#[derive(Debug, Default)]
pub struct Stats {
    /// `host:port` → connections.
    pub allowed: BTreeMap<String, u64>,
    /// `host:port` → (attempts, last reason).
    pub refused: BTreeMap<String, (u64, String)>,
    /// `host:port` → attempts the allowlist admitted, whether or not they connected.
    pub admitted: BTreeMap<String, u64>,
}

/// A refused destination: `host:port`, attempts, and why.
pub type Refused = (String, u64, String);

/// A running proxy: threads serving the listeners until mcpcell exits.
pub struct Proxy {
    pub(crate) stats: Arc<Mutex<Stats>>,
}

impl Proxy {
    /// One line per destination, for the log at exit.
    pub fn summary(&self) -> Vec<String> {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (dest, n) in &s.allowed {
            out.push(format!("allowed {dest}: {}", plural(*n, "connection")));
        }
        for (dest, (n, why)) in &s.refused {
            out.push(format!("refused {dest}: {} ({why})", plural(*n, "attempt")));
        }
        out
    }

    /// Every `host:port` the allowlist admitted, with the number of attempts; and every one
    /// refused, with the number of attempts and why.
    pub fn destinations(&self) -> (Vec<(String, u64)>, Vec<Refused>) {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        (
            s.admitted.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            s.refused
                .iter()
                .map(|(k, (n, why))| (k.clone(), *n, why.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(allow: &[&str], private: &[&str]) -> ProxyConfig {
        ProxyConfig::new(
            allow.iter().map(|a| a.parse().unwrap()).collect(),
            private.iter().map(|c| c.parse().unwrap()).collect(),
        )
    }

    #[test]
    fn ports_and_names() {
        let c = cfg(
            &["registry.npmjs.org", "*.github.com:443", "api.test:8443"],
            &[],
        );
        assert_eq!(c.transparent_ports, [80, 443, 8443]);
        assert_eq!(c.proxy_port, 3128);
        assert!(c.admits("registry.npmjs.org", 443));
        assert!(c.admits("registry.npmjs.org", 80));
        assert!(!c.admits("registry.npmjs.org", 8443));
        assert!(c.admits_name("api.github.com"));
        assert!(!c.admits_name("github.com"));
        assert!(c.admits_name("api.test"));
        assert!(!c.admits_name("evil.example"));
    }

    #[test]
    fn proxy_port_avoids_allowed_ports() {
        assert_eq!(cfg(&["a.test:3128", "b.test:3129"], &[]).proxy_port, 3130);
    }

    #[test]
    fn private_addresses_need_allow_private() {
        let c = cfg(&["a.test"], &["127.0.0.0/8"]);
        assert!(c.ip_allowed("127.0.0.1".parse().unwrap()));
        assert!(!c.ip_allowed("10.0.0.1".parse().unwrap()));
        assert!(!c.ip_allowed("169.254.169.254".parse().unwrap()));
        assert!(!c.ip_allowed("::1".parse().unwrap()));
        assert!(c.ip_allowed("93.184.215.14".parse().unwrap()));
        // IPv6 forms of an IPv4 address follow the IPv4 address: allowed where
        // allow_private covers it, refused where it does not.
        for ip in [
            "::ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "::127.0.0.1",
            "2002:7f00:1::1",
        ] {
            assert!(c.ip_allowed(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["::ffff:10.0.0.1", "64:ff9b::a00:1", "::ffff:0:a9fe:a9fe"] {
            assert!(!c.ip_allowed(ip.parse().unwrap()), "{ip}");
        }
        assert!(!c.ip_allowed("::1".parse().unwrap()));
        let none = cfg(&["a.test"], &[]);
        assert!(!none.ip_allowed("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!none.ip_allowed("64:ff9b::7f00:1".parse().unwrap()));
        assert!(none.ip_allowed("64:ff9b::5db8:d70e".parse().unwrap()));
    }

    #[test]
    fn environment_for_proxy_aware_clients() {
        let env = cfg(&["a.test"], &[]).env();
        assert!(env.contains(&("HTTPS_PROXY".into(), "http://127.0.0.1:3128".into())));
        assert!(env.contains(&("all_proxy".into(), "http://127.0.0.1:3128".into())));
        assert!(env.contains(&("no_proxy".into(), "localhost,127.0.0.1".into())));
    }
}
