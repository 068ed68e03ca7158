//! Checks of a merged profile that need no look at the running system.

use std::str::FromStr;

use super::{Diagnostic, Entry, NetworkMode, Profile};
use crate::hostspec::{Cidr, HostPattern};
use crate::seccomp::{self, groups};
use crate::vars;

pub fn validate(p: &Profile) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    for list in [
        &p.filesystem.read,
        &p.filesystem.write,
        &p.filesystem.exec,
        &p.filesystem.hide,
        &p.network.unix,
    ] {
        for e in list {
            check_path(e, &mut d);
        }
    }
    for e in &p.filesystem.programs {
        check_program(e, &mut d);
    }
    for e in p.syscalls.deny.iter().chain(&p.syscalls.allow) {
        if let Err(msg) = syscall_entry(&e.value) {
            d.push(Diagnostic::error(&e.origin, msg.to_string()));
        }
    }
    check_allow_exceptions(p, &mut d);
    for e in &p.env.pass {
        if !valid_env_pattern(&e.value) {
            d.push(Diagnostic::error(
                &e.origin,
                format!(
                    "`{}` is not a variable name or pattern: use letters, digits and `_`, optionally ending in `*` (as in LC_*)",
                    e.value
                ),
            ));
        }
    }
    for (k, e) in p.env.set.iter().chain(&p.env.default) {
        if !valid_env_pattern(k) || k.ends_with('*') {
            d.push(Diagnostic::error(
                &e.origin,
                format!("`{k}` is not a valid environment variable name"),
            ));
        }
        if let Err(err) = vars::names_in(&e.value) {
            d.push(Diagnostic::error(&e.origin, err.to_string()));
        }
    }
    for e in &p.capabilities {
        if capability(&e.value).is_none() {
            d.push(Diagnostic::error(
                &e.origin,
                format!(
                    "unknown capability `{}`; write a name such as CAP_NET_BIND_SERVICE (see capabilities(7))",
                    e.value
                ),
            ));
        }
    }
    check_network(p, &mut d);
    d
}

fn check_path(e: &Entry<String>, d: &mut Vec<Diagnostic>) {
    let path = e.value.strip_prefix('!').unwrap_or(&e.value);
    if let Err(err) = vars::names_in(path) {
        d.push(Diagnostic::error(&e.origin, err.to_string()));
        return;
    }
    if path.is_empty() {
        d.push(Diagnostic::error(&e.origin, "empty path"));
    } else if !(path.starts_with('/')
        || path.starts_with("${")
        || path == "~"
        || path.starts_with("~/"))
    {
        d.push(Diagnostic::error(
            &e.origin,
            format!(
                "`{path}` is a relative path; profile paths must be absolute: start it with /, ${{HOME}}/ or ${{CWD}}/"
            ),
        ));
    }
}

fn check_program(e: &Entry<String>, d: &mut Vec<Diagnostic>) {
    let v = &e.value;
    if v.is_empty() || (v.contains('/') && !v.starts_with('/') && !v.starts_with("${")) {
        d.push(Diagnostic::error(
            &e.origin,
            format!("`{v}` is not a program: give a name found on PATH, such as node, or an absolute path"),
        ));
    } else if let Err(err) = vars::names_in(v) {
        d.push(Diagnostic::error(&e.origin, err.to_string()));
    }
}

/// A `syscalls.deny` or `syscalls.allow` entry that names nothing; each message lists or
/// suggests what does exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyscallEntryError {
    #[error(
        "unknown syscall group `{name}`{}; groups are {}",
        did_you_mean(*suggestion),
        groups::GROUPS.iter().map(|g| g.name).collect::<Vec<_>>().join(", ")
    )]
    Group {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error(
        "unknown argument rule `{name}`{}; rules are {}",
        did_you_mean(*suggestion),
        groups::Qualified::ALL.iter().map(|q| q.name()).collect::<Vec<_>>().join(", ")
    )]
    Rule {
        name: String,
        suggestion: Option<&'static str>,
    },
    #[error("unknown syscall `{name}` on {}{}", std::env::consts::ARCH, did_you_mean(*suggestion))]
    Syscall {
        name: String,
        suggestion: Option<&'static str>,
    },
}

fn did_you_mean(s: Option<&str>) -> String {
    s.map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// Checks a `syscalls.deny` or `syscalls.allow` entry; the error suggests the closest name.
pub fn syscall_entry(name: &str) -> Result<(), SyscallEntryError> {
    if name.starts_with('@') {
        if groups::find(name).is_some() {
            return Ok(());
        }
        return Err(SyscallEntryError::Group {
            name: name.to_string(),
            suggestion: suggest(name, groups::GROUPS.iter().map(|g| g.name)),
        });
    }
    if name.contains('(') {
        if groups::Qualified::from_name(name).is_some() {
            return Ok(());
        }
        return Err(SyscallEntryError::Rule {
            name: name.to_string(),
            suggestion: suggest(name, groups::Qualified::ALL.iter().map(|q| q.name())),
        });
    }
    if seccomp::syscall_number(name).is_some() {
        return Ok(());
    }
    Err(SyscallEntryError::Syscall {
        name: name.to_string(),
        suggestion: suggest(name, syscalls::Sysno::iter().map(|s| s.name())),
    })
}

fn suggest(name: &str, candidates: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    candidates
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(dist, c)| *dist <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

/// ` (did you mean `NAME`?)` for the candidate closest to `name`, or nothing: for names that
/// are not `'static` (a profile's keys and values, profile names found on disk).
pub(crate) fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(dist, c)| *dist <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// An `allow` entry that lifts nothing is probably a typo or a misunderstanding.
fn check_allow_exceptions(p: &Profile, d: &mut Vec<Diagnostic>) {
    // Expanding the deny list is most of a plain launch's group work: only when it is asked.
    if p.syscalls.allow.is_empty() {
        return;
    }
    let denied: Vec<groups::Member> = p
        .syscalls
        .deny
        .iter()
        .flat_map(|e| expand_entry(&e.value))
        .collect();
    for e in &p.syscalls.allow {
        if syscall_entry(&e.value).is_err() {
            continue;
        }
        let lifted = expand_entry(&e.value);
        let hits = denied.iter().any(|m| {
            lifted.iter().any(|l| {
                l == m || (matches!(l, groups::Member::Syscall(_)) && l.syscall() == m.syscall())
            })
        });
        if !hits {
            d.push(Diagnostic::warning(
                &e.origin,
                format!(
                    "`{}` is not denied by syscalls.deny, so allowing it changes nothing",
                    e.value
                ),
            ));
        }
    }
}

/// The members a deny or allow entry stands for.
pub fn expand_entry(name: &str) -> Vec<groups::Member> {
    if let Some(g) = groups::find(name) {
        groups::expand(g)
    } else if let Some(q) = groups::Qualified::from_name(name) {
        vec![groups::Member::Qualified(q)]
    } else if seccomp::syscall_number(name).is_some() {
        // Leak-free: the name lives in the syscalls crate's static table.
        syscalls::Sysno::from_str(name)
            .map(|s| vec![groups::Member::Syscall(s.name())])
            .unwrap_or_default()
    } else {
        Vec::new()
    }
}

fn valid_env_pattern(p: &str) -> bool {
    let body = p.strip_suffix('*').unwrap_or(p);
    let mut chars = body.chars();
    match chars.next() {
        None => p == "*",
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {
            chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        _ => false,
    }
}

/// Parses a capability name: `CAP_NET_ADMIN`, `cap_net_admin` or `net_admin`.
pub fn capability(name: &str) -> Option<caps::Capability> {
    caps::Capability::from_str(&caps::to_canonical(name)).ok()
}

fn check_network(p: &Profile, d: &mut Vec<Diagnostic>) {
    let mode = p.network.mode();
    for e in &p.network.allow {
        if let Err(msg) = HostPattern::from_str(&e.value) {
            d.push(Diagnostic::error(&e.origin, msg.to_string()));
        }
    }
    for e in &p.network.allow_private {
        if let Err(msg) = Cidr::from_str(&e.value) {
            d.push(Diagnostic::error(&e.origin, msg.to_string()));
        }
    }
    for (name, e) in &p.network.hosts {
        let is_name = matches!(
            HostPattern::from_str(name),
            Ok(HostPattern {
                host: crate::hostspec::HostMatch::Exact(_),
                port: None
            })
        );
        if !is_name {
            d.push(Diagnostic::error(
                &e.origin,
                format!("`{name}` is not a host name (network.hosts maps a name, without a port or wildcard, to an address)"),
            ));
        }
        if let Err(msg) = crate::hostspec::parse_address(&e.value) {
            d.push(Diagnostic::error(&e.origin, msg.to_string()));
        }
    }
    if mode != NetworkMode::Proxy {
        if let Some(e) = p.network.hosts.values().next() {
            d.push(Diagnostic::warning(
                &e.origin,
                format!("network.hosts only applies when network.mode is proxy; with mode {} it is ignored", mode_name(mode)),
            ));
        }
    }
    let only_in = |list_empty: bool,
                   key: &str,
                   wanted: NetworkMode,
                   d: &mut Vec<Diagnostic>,
                   origin: Option<&super::Origin>| {
        if !list_empty && mode != wanted {
            if let Some(o) = origin {
                d.push(Diagnostic::warning(
                    o,
                    format!(
                        "network.{key} only applies when network.mode is {}; with mode {} it is ignored",
                        mode_name(wanted),
                        mode_name(mode)
                    ),
                ));
            }
        }
    };
    only_in(
        p.network.allow.is_empty(),
        "allow",
        NetworkMode::Proxy,
        d,
        p.network.allow.first().map(|e| &e.origin),
    );
    only_in(
        p.network.allow_private.is_empty(),
        "allow_private",
        NetworkMode::Proxy,
        d,
        p.network.allow_private.first().map(|e| &e.origin),
    );
    only_in(
        p.network.connect.is_empty(),
        "connect",
        NetworkMode::Host,
        d,
        p.network.connect.first().map(|e| &e.origin),
    );
    only_in(
        p.network.bind.is_empty(),
        "bind",
        NetworkMode::Host,
        d,
        p.network.bind.first().map(|e| &e.origin),
    );
}

pub fn mode_name(m: NetworkMode) -> &'static str {
    match m {
        NetworkMode::None => "none",
        NetworkMode::Proxy => "proxy",
        NetworkMode::Host => "host",
    }
}
