//! Chaining through an upstream HTTP proxy: where the only way out of a company network is
//! its proxy, named for mcpcell itself by `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
//! `NO_PROXY` (lower case first, as curl and Python read them).
//!
//! The egress proxy keeps every rule of its own: the allowlist is checked by name before
//! anything goes upstream, and a name that resolves here only to addresses the profile does
//! not allow is refused. An allowed destination is then reached with `CONNECT host:port`
//! to the upstream (for tunnels and plain `http://` requests alike); a destination that
//! `NO_PROXY` names is reached directly, as without an upstream.
//!
//! The upstream's URL may carry `user:password@`: the password is kept only as the
//! `Proxy-Authorization` value, never shown (`Debug`, `Display` and the dry-run's JSON all
//! mask it), and the sandbox never sees the upstream at all: it is given mcpcell's own proxy.

use std::fmt;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;
use thiserror::Error;

use crate::hostspec::{Cidr, valid_dns_name};

/// How long connecting to the upstream and its answer to CONNECT may take, together.
const UPSTREAM_DEADLINE: Duration = Duration::from_secs(15);
/// The longest answer head read from the upstream; a longer one is refused.
const MAX_REPLY_HEAD: usize = 16 * 1024;
/// How much of the upstream's reason phrase a log line or an error repeats.
const MAX_REASON: usize = 120;

/// Why the upstream proxy named in mcpcell's environment cannot be used. The value itself is
/// never repeated: it may hold a password.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChainError {
    #[error(
        "`{var}` in mcpcell's environment names an https:// proxy: a TLS connection to the upstream proxy is not supported; give its http:// address (the tunnels inside stay TLS end to end), or unset {var} for mcpcell"
    )]
    Https { var: &'static str },
    #[error(
        "`{var}` in mcpcell's environment names a `{scheme}` proxy: the egress proxy chains only through an http:// proxy (with CONNECT); give one, or unset {var} for mcpcell"
    )]
    Scheme { var: &'static str, scheme: String },
    #[error(
        "`{var}` in mcpcell's environment is not a usable proxy URL: {what} (the value is not shown: it may hold a password); write http://[USER:PASSWORD@]HOST[:PORT], with special characters in the user and password percent-encoded, or unset {var} for mcpcell"
    )]
    Url {
        var: &'static str,
        what: &'static str,
    },
}

/// The `Proxy-Authorization` value: shown nowhere.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One upstream proxy, as a variable of mcpcell's environment names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// Without brackets.
    host: String,
    port: u16,
    /// `Basic base64(user:password)`, when the URL had user information.
    auth: Option<Secret>,
    /// Texts that would give the credentials away, for keeping them out of the sandbox's
    /// environment: the user information as written and as decoded.
    secrets: Vec<Secret>,
    /// The variable it came from.
    pub var: &'static str,
    /// Its addresses, looked up once when first needed.
    resolved: OnceLock<Vec<IpAddr>>,
}

impl Upstream {
    /// `host:port` of the upstream (IPv6 in brackets).
    pub fn address(&self) -> String {
        authority(&self.host, self.port)
    }

    /// Its addresses (none when its name does not resolve).
    fn addrs(&self) -> &[IpAddr] {
        self.resolved
            .get_or_init(|| match self.host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => super::resolve::lookup(&super::resolve::Config::system(), &self.host)
                    .unwrap_or_default(),
            })
    }
}

/// `http://***@host:port`: the credentials masked.
impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let creds = if self.auth.is_some() { "***@" } else { "" };
        write!(f, "http://{creds}{}", self.address())
    }
}

impl Serialize for Upstream {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Upstream", 3)?;
        st.serialize_field("url", &self.to_string())?;
        st.serialize_field("from", self.var)?;
        st.serialize_field("credentials", &self.auth.is_some())?;
        st.end()
    }
}

/// A `NO_PROXY` entry: destinations reached directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bypass {
    /// `*`: every destination.
    All,
    /// `example.com`, `.example.com` or `*.example.com`: the name and every name below it.
    Domain(String),
    /// An IP address or range: destinations given as an address in it (names are not
    /// resolved for this).
    Range(Cidr),
}

impl fmt::Display for Bypass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bypass::All => f.write_str("*"),
            Bypass::Domain(d) => f.write_str(d),
            Bypass::Range(c) => write!(f, "{c}"),
        }
    }
}

impl Serialize for Bypass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What kind of connection is being opened: the variables curl would consult differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// CONNECT, SOCKS5 and transparent connections: `HTTPS_PROXY`, else `ALL_PROXY`.
    Tunnel,
    /// A plain `http://` request: `HTTP_PROXY`, else `ALL_PROXY`.
    Http,
}

/// The upstream proxies and the destinations that bypass them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub tunnel: Option<Upstream>,
    pub http: Option<Upstream>,
    pub no_proxy: Vec<Bypass>,
}

/// The variables [`Chain::from_env`] reads, in both cases.
pub const VARIABLES: &[&str] = &[
    "https_proxy",
    "HTTPS_PROXY",
    "http_proxy",
    "HTTP_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

impl Chain {
    /// The upstream proxies `get` (an environment) names; none when it names none. Only the
    /// variables that are used are parsed: an `ALL_PROXY` that `HTTPS_PROXY` and `HTTP_PROXY`
    /// both override does not matter.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Chain>, ChainError> {
        let first = |names: &[&'static str]| -> Option<(&'static str, String)> {
            names
                .iter()
                .find_map(|n| get(n).filter(|v| !v.trim().is_empty()).map(|v| (*n, v)))
        };
        let pick = |names| first(names).map(|(var, v)| parse(var, &v)).transpose();
        let tunnel = pick(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"])?;
        let http = pick(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"])?;
        if tunnel.is_none() && http.is_none() {
            return Ok(None);
        }
        let no_proxy = first(&["no_proxy", "NO_PROXY"])
            .map(|(_, v)| parse_no_proxy(&v))
            .unwrap_or_default();
        Ok(Some(Chain {
            tunnel,
            http,
            no_proxy,
        }))
    }

    /// The upstream for a connection of kind `how` to `host`, or none when it goes direct.
    /// `pinned` is the address `network.hosts` gives the name, which `NO_PROXY` may name too.
    pub fn route(&self, host: &str, pinned: Option<IpAddr>, how: Use) -> Option<&Upstream> {
        let up = match how {
            Use::Tunnel => self.tunnel.as_ref(),
            Use::Http => self.http.as_ref(),
        }?;
        if self.bypassed(host) || pinned.is_some_and(|ip| self.bypassed(&ip.to_string())) {
            return None;
        }
        Some(up)
    }

    /// Whether `NO_PROXY` sends `host` direct: case-insensitive, without a trailing dot.
    fn bypassed(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip: Option<IpAddr> = host.parse().ok();
        self.no_proxy.iter().any(|b| match b {
            Bypass::All => true,
            Bypass::Domain(d) => {
                ip.is_none()
                    && (host == *d
                        || host.len() > d.len()
                            && host.ends_with(d.as_str())
                            && host.as_bytes()[host.len() - d.len() - 1] == b'.')
            }
            Bypass::Range(c) => ip.is_some_and(|ip| c.contains(ip)),
        })
    }

    /// Whether a destination is one of the upstream proxies: by name, or by one of the
    /// addresses it has here. A tunnel to the upstream would let the sandbox speak to it
    /// directly (a proxy that admits by source address needs no credentials), and so reach
    /// any name past the allowlist.
    pub fn is_upstream(&self, host: &str, addrs: &[IpAddr], port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.');
        [&self.tunnel, &self.http].into_iter().flatten().any(|u| {
            u.port == port
                && (u.host.trim_end_matches('.').eq_ignore_ascii_case(host)
                    || addrs.iter().any(|a| same_address(*a, u.addrs())))
        })
    }

    /// Whether `value` would give an upstream's credentials away.
    pub fn reveals(&self, value: &str) -> bool {
        [&self.tunnel, &self.http]
            .into_iter()
            .flatten()
            .flat_map(|u| &u.secrets)
            .any(|s| value.contains(&s.0))
    }

    /// One line for `--dry-run` and the log: each upstream (credentials masked) and the
    /// destinations that go direct.
    pub fn describe(&self) -> String {
        let show = |u: &Option<Upstream>| match u {
            Some(u) => format!("through {u} (from {})", u.var),
            None => "direct".to_string(),
        };
        let direct = if self.no_proxy.is_empty() {
            "none".to_string()
        } else {
            let v: Vec<String> = self.no_proxy.iter().map(|b| b.to_string()).collect();
            crate::escape::terminal(&v.join(", ")).into_owned()
        };
        format!(
            "CONNECT, SOCKS5 and transparent connections {}; http:// requests {}; direct (NO_PROXY): {direct}",
            show(&self.tunnel),
            show(&self.http)
        )
    }
}

/// `http://[user:password@]host[:port][/]`; no scheme means http (as curl reads it); without
/// a port, 80.
fn parse(var: &'static str, raw: &str) -> Result<Upstream, ChainError> {
    let bad = |what| ChainError::Url { var, what };
    let raw = raw.trim();
    let (scheme, rest) = match raw.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_string(), raw),
    };
    match scheme.as_str() {
        "http" => {}
        "https" => return Err(ChainError::Https { var }),
        s if s.len() <= 16 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') => {
            return Err(ChainError::Scheme {
                var,
                scheme: s.to_string(),
            });
        }
        _ => return Err(bad("the scheme is not http")),
    }
    // The authority ends at the first `/`, `?` or `#`; a password with one of them unencoded
    // would split wrongly, which ends in an error below rather than a wrong proxy.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if !matches!(tail, "" | "/") {
        return Err(bad("a proxy URL has no path, query or fragment"));
    }
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let split = crate::hostspec::split_host_port(hostport).ok_or(bad("the host is malformed"))?;
    if !split.trailing.is_empty() {
        return Err(bad("the host is malformed"));
    }
    let host = split.host.to_ascii_lowercase();
    let host_ok = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => split.bracketed,
        Ok(IpAddr::V4(_)) => !split.bracketed,
        Err(_) => !split.bracketed && valid_dns_name(host.trim_end_matches('.')),
    };
    if !host_ok {
        return Err(bad("the host is not a host name or an IP address"));
    }
    let port = match split.port {
        Some(p) => crate::hostspec::parse_port(p).ok_or(bad("the port is not 1 to 65535"))?,
        None => 80,
    };
    let (auth, secrets) = match userinfo {
        None => (None, Vec::new()),
        Some(u) => {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| bad("the user or password is not UTF-8 once decoded"))
            };
            let (user, pass) = (decode(user)?, decode(pass)?);
            if user.chars().any(char::is_control) || pass.chars().any(char::is_control) {
                return Err(bad("the user or password holds a control character"));
            }
            let plain = format!("{user}:{pass}");
            let token = data_encoding::BASE64.encode(plain.as_bytes());
            let mut secrets = vec![Secret(u.to_string()), Secret(plain)];
            // A password alone is looked for only when it is long enough not to turn up by
            // chance in unrelated values.
            if pass.len() >= 6 {
                secrets.push(Secret(pass));
            }
            (Some(Secret(format!("Basic {token}"))), secrets)
        }
    };
    Ok(Upstream {
        host,
        port,
        auth,
        secrets,
        var,
        resolved: OnceLock::new(),
    })
}

/// `NO_PROXY`: entries separated by commas or white space. `*` is every destination; a name
/// (with or without a leading `.` or `*.`) is itself and every name below it; an IP address
/// or `ADDRESS/PREFIX` is destinations given as such an address. A `:PORT` is ignored (the
/// entry then goes direct on every port). Anything else is ignored.
fn parse_no_proxy(v: &str) -> Vec<Bypass> {
    let mut out = Vec::new();
    for e in v
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        if e == "*" {
            out.push(Bypass::All);
            continue;
        }
        if e.contains('/') {
            if let Ok(c) = e.parse::<Cidr>() {
                out.push(Bypass::Range(c));
            }
            continue;
        }
        let host = match crate::hostspec::split_host_port(e) {
            Some(s)
                if s.port
                    .is_none_or(|p| crate::hostspec::parse_port(p).is_some()) =>
            {
                s.host
            }
            _ => e,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            if let Ok(c) = ip.to_string().parse::<Cidr>() {
                out.push(Bypass::Range(c));
            }
            continue;
        }
        let name = host
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if valid_dns_name(&name) {
            out.push(Bypass::Domain(name));
        }
    }
    out
}

/// Whether a destination the sandbox asked for is a DNS name or an IP address (without
/// brackets): anything else is refused before it is looked up, logged or sent anywhere.
pub fn valid_target(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok() || valid_dns_name(host.strip_suffix('.').unwrap_or(host))
}

/// Whether `ip` is one of `addrs`, an IPv4-mapped IPv6 form counting as its IPv4 address.
fn same_address(ip: IpAddr, addrs: &[IpAddr]) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    addrs.iter().any(|a| canon(*a) == canon(ip))
}

/// `host:port`, an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

/// Why the upstream did not open a tunnel. Each message is safe to log: the upstream's own
/// words are escaped and shortened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelError {
    /// The destination is not a host name or an IP address; nothing was sent.
    Target,
    /// The upstream could not be reached.
    Connect(String),
    /// The upstream answered something other than 2xx, or nothing usable.
    Answer(String),
}

impl fmt::Display for TunnelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelError::Target => f.write_str("not a host name or an IP address"),
            TunnelError::Connect(e) | TunnelError::Answer(e) => f.write_str(e),
        }
    }
}

/// The CONNECT request for `host:port`, or none when `host` is neither a DNS name nor an IP
/// address: nothing from the sandbox reaches the upstream's request line or headers
/// unchecked, so no CR, LF, space or other byte can add a header or a second request.
fn request(up: &Upstream, host: &str, port: u16) -> Option<String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !valid_target(host) || port == 0 {
        return None;
    }
    let target = authority(host, port);
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(a) = &up.auth {
        req.push_str("Proxy-Authorization: ");
        req.push_str(&a.0);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    Some(req)
}

/// Opens a tunnel to `host:port` through `up`. The upstream's answer is read only up to the
/// end of its head (bytes after it belong to the tunnel), at most [`MAX_REPLY_HEAD`] bytes,
/// within [`UPSTREAM_DEADLINE`].
pub fn tunnel(up: &Upstream, host: &str, port: u16) -> Result<TcpStream, TunnelError> {
    let req = request(up, host, port).ok_or(TunnelError::Target)?;
    let deadline = Instant::now() + UPSTREAM_DEADLINE;
    let mut s = connect_upstream(up, deadline)?;
    let fail = |e: std::io::Error| {
        TunnelError::Connect(format!("the upstream proxy {}: {e}", up.address()))
    };
    s.write_all(req.as_bytes()).map_err(fail)?;
    let head = read_reply_head(&mut s, deadline).map_err(|e| match e {
        Head::Io(e) => fail(e),
        Head::TooLong => TunnelError::Answer(format!(
            "the upstream proxy {} answered with a head over {MAX_REPLY_HEAD} bytes",
            up.address()
        )),
    })?;
    let Some((code, reason)) = status_line(&head) else {
        return Err(TunnelError::Answer(format!(
            "the upstream proxy {} answered CONNECT with something other than HTTP",
            up.address()
        )));
    };
    if !(200..300).contains(&code) {
        let reason: String = reason.chars().take(MAX_REASON).collect();
        let hint = if code == 407 {
            "; it wants credentials: give them in the proxy URL (http://USER:PASSWORD@HOST:PORT)"
        } else {
            ""
        };
        return Err(TunnelError::Answer(format!(
            "the upstream proxy {} answered CONNECT {code} {}{hint}",
            up.address(),
            crate::escape::terminal(&reason)
        )));
    }
    s.set_read_timeout(None).map_err(fail)?;
    s.set_write_timeout(None).map_err(fail)?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// The upstream's address is not checked against the private ranges: it is the user's own
/// proxy (usually on the company's network), named outside the sandbox.
fn connect_upstream(up: &Upstream, deadline: Instant) -> Result<TcpStream, TunnelError> {
    let fail =
        |e: String| TunnelError::Connect(format!("the upstream proxy {}: {e}", up.address()));
    let addrs: Vec<IpAddr> = match up.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => super::resolve::lookup(&super::resolve::Config::system(), &up.host)
            .map_err(|e| fail(format!("does not resolve: {e}")))?,
    };
    let mut last = String::from("no addresses");
    for ip in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&SocketAddr::new(ip, up.port), left) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(fail(last))
}

/// `HTTP/1.x CODE REASON` of an answer head: the code, and the reason as text (lossily, and
/// still to be escaped). Only the status line is needed, and it is read leniently: a reason
/// with a control character in it is still a status to show, escaped.
fn status_line(head: &[u8]) -> Option<(u16, String)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let rest = line.trim_end_matches('\r').strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let minor = parts.next()?;
    let code = parts.next()?;
    if minor.len() != 1 || code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok()?, parts.next().unwrap_or("").to_string()))
}

enum Head {
    Io(std::io::Error),
    TooLong,
}

/// The answer's head, through its blank line, and not a byte more: MSG_PEEK finds the end
/// before anything is taken off the socket.
fn read_reply_head(s: &mut TcpStream, deadline: Instant) -> Result<Vec<u8>, Head> {
    let mut buf = vec![0u8; MAX_REPLY_HEAD];
    let mut seen = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Head::Io(std::io::ErrorKind::TimedOut.into()));
        }
        s.set_read_timeout(Some(left)).map_err(Head::Io)?;
        let n = s.peek(&mut buf).map_err(Head::Io)?;
        if n == 0 {
            return Err(Head::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            let mut head = vec![0u8; end + 4];
            s.read_exact(&mut head).map_err(Head::Io)?;
            return Ok(head);
        }
        if n >= MAX_REPLY_HEAD {
            return Err(Head::TooLong);
        }
        if n == seen {
            // Nothing new yet: peek returns at once while the bytes already there stay.
            std::thread::sleep(Duration::from_millis(5));
        }
        seen = n;
    }
}

#[cfg(test)]
mod tests;
