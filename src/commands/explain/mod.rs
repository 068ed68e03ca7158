//! `mcpcell explain`: does a profile let the server use this path, host, syscall or
//! variable, and which rule decides it. The answers come from the same plan `run` enforces.

use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{ExplainArgs, Format};
use crate::exit::print_error;
use crate::hostspec::HostPattern;
use crate::plan::fs::Rights;
use crate::plan::query::Inside;
use crate::plan::{self, Plan};
use crate::profile::{Loader, NetworkMode};

/// What the user asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Path(PathBuf, Rights),
    Unix(PathBuf),
    Host(String, u16),
    Bind(u16),
    Syscall(String),
    Env(String),
}

/// The answer for one target.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub target: String,
    pub allowed: bool,
    /// The rules that decide it, most important first.
    pub why: Vec<String>,
    /// What would change the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn rights_of(spec: &str) -> Option<Rights> {
    let mut r = Rights::default();
    for part in spec.split(['+', ',']) {
        match part {
            "read" | "r" => r.read = true,
            "write" | "w" => r = r.union(Rights::WRITE),
            "exec" | "x" | "execute" => r = r.union(Rights::EXEC),
            _ => return None,
        }
    }
    Some(r)
}

fn expand_home(p: &str, home: Option<&str>) -> PathBuf {
    match (p.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(format!("{h}{rest}"))
        }
        _ => PathBuf::from(p),
    }
}

/// Parses a target: `PATH[:ACCESS]`, `unix:PATH`, `env:NAME`, `bind:PORT`, a syscall name,
/// `@group` or `name(qualifier)`, else `HOST[:PORT]`.
pub fn parse_target(s: &str, home: Option<&str>, cwd: &Path) -> Result<Target, String> {
    let path = |p: &str| cwd.join(expand_home(p, home));
    if let Some(p) = s.strip_prefix("unix:") {
        return Ok(Target::Unix(path(p)));
    }
    if let Some(name) = s.strip_prefix("env:") {
        if name.is_empty() || name.contains('=') {
            return Err(format!("`{s}`: give a variable name after env:"));
        }
        return Ok(Target::Env(name.to_string()));
    }
    if let Some(port) = s.strip_prefix("bind:") {
        return port
            .parse()
            .map(Target::Bind)
            .map_err(|_| format!("`{s}`: give a TCP port number after bind:"));
    }
    if let Some(name) = s.strip_prefix("syscall:") {
        return Ok(Target::Syscall(name.to_string()));
    }
    let looks_like_path = s.starts_with(['/', '~', '.']) || s.contains('/');
    if looks_like_path {
        if let Some((p, access)) = s.rsplit_once(':') {
            if let Some(r) = rights_of(access) {
                return Ok(Target::Path(path(p), r));
            }
        }
        return Ok(Target::Path(path(s), Rights::READ));
    }
    if s.starts_with('@')
        || crate::seccomp::syscall_number(s).is_some()
        || crate::seccomp::Qualified::from_name(s).is_some()
    {
        return Ok(Target::Syscall(s.to_string()));
    }
    let (host, port) = split_host_port(s)?;
    if host.is_empty() {
        return Err(format!("`{s}` is not a path, host, syscall or env:NAME"));
    }
    Ok(Target::Host(host, port.unwrap_or(443)))
}

fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let bad_port = || format!("`{s}`: the port must be a number from 1 to 65535");
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{s}`: missing `]`"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| bad_port())?),
            None if after.is_empty() => None,
            None => return Err(format!("`{s}` is not HOST[:PORT]")),
        };
        return Ok((h.to_string(), port));
    }
    if s.parse::<IpAddr>().is_ok() {
        return Ok((s.to_string(), None));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => {
            let port: u16 = p.parse().map_err(|_| bad_port())?;
            if port == 0 {
                return Err(bad_port());
            }
            Ok((h.to_string(), Some(port)))
        }
        None => Ok((s.to_string(), None)),
    }
}

/// The place a user adds a grant: the requested profile's file, or a profile of their own.
fn where_to_add(plan: &Plan) -> String {
    match plan.merged.sources.last().and_then(|s| s.file()) {
        Some(f) => format!("in {}", f.display()),
        None => format!(
            "in a profile of your own that has `extends: [{}]`",
            plan.profile.name
        ),
    }
}

fn path_verdict(plan: &Plan, target: &str, path: &Path, want: Rights) -> Verdict {
    let a = plan.filesystem.query(path, want);
    let mut why = Vec::new();
    if a.path != path {
        why.push(format!("resolves to {}", a.path.display()));
    }
    match a.inside {
        Inside::PrivateTmp => why.push(
            "inside the sandbox's private /tmp or /dev/shm: a fresh tmpfs that starts empty; the host's files there are not visible".into(),
        ),
        Inside::PrivateProc => why.push(
            "inside the sandbox's own /proc, which shows only the sandbox's processes".into(),
        ),
        Inside::Bound => why.push("a host path bind-mounted into the private /tmp".into()),
        Inside::Host => {}
    }
    if let Some(h) = &a.hidden_by {
        why.push(format!(
            "masked by {h}: the sandbox sees an empty, read-only stand-in, whatever grants cover it"
        ));
    }
    for c in &a.covers {
        why.push(format!(
            "{} granted by {} ({})",
            c.rights.label(),
            c.path.display(),
            crate::plan::provenance::join(&c.from, "; ")
        ));
    }
    for s in &a.skipped {
        why.push(format!(
            "would be granted by {s}, but that grant was skipped"
        ));
    }
    let need = want.label();
    let fix = if a.allowed {
        None
    } else if a.hidden_by.is_some() {
        Some("a hide entry cannot be undone by a grant in a profile that extends it; use a profile that does not extend the one with this entry".into())
    } else if a.inside == Inside::PrivateProc {
        Some("the host's /proc is never visible in the sandbox".into())
    } else {
        let args = plan.merged.filesystem.args.as_ref();
        if args.is_some_and(|a| a.value != crate::profile::ArgsAccess::None)
            && plan.command.argv.is_empty()
        {
            why.push(format!(
                "the profile also grants paths named in the server's arguments ({}); give the server's command with --command to include them",
                args.map(|a| a.origin.to_string()).unwrap_or_default()
            ));
        }
        if a.covers.is_empty() {
            why.push("no grant covers it".into());
        } else {
            why.push(format!(
                "it needs {need}, and the grants give only {}",
                a.granted.label()
            ));
        }
        let (list, opt) = if want.write {
            ("write", "--allow-write")
        } else if want.exec {
            ("exec", "--allow-exec")
        } else {
            ("read", "--allow-read")
        };
        Some(format!(
            "add {} to filesystem.{list} {}, or run with {opt} {}",
            a.path.display(),
            where_to_add(plan),
            a.path.display()
        ))
    };
    Verdict {
        target: format!("{target} ({need})"),
        allowed: a.allowed,
        why,
        fix,
    }
}

fn host_verdict(plan: &Plan, target: &str, host: &str, port: u16) -> Verdict {
    let t = format!("{target} (TCP port {port})");
    let mode_from = plan
        .network
        .mode_from
        .as_ref()
        .map_or_else(|| "the default".to_string(), |o| o.to_string());
    match plan.network.mode {
        NetworkMode::None => Verdict {
            target: t,
            allowed: false,
            why: vec![format!(
                "network mode none ({mode_from}): the sandbox has only its own loopback interface"
            )],
            fix: Some(format!(
                "use network mode proxy with network.allow: [\"{host}\"] {}",
                where_to_add(plan)
            )),
        },
        NetworkMode::Host => {
            let connect = &plan.merged.network.connect;
            let mut why = vec![format!(
                "network mode host ({mode_from}): any host, with TCP ports limited by Landlock"
            )];
            let allowed = match connect.iter().find(|e| e.value == port) {
                Some(e) => {
                    why.push(format!("port {port} is listed in {}", e.origin));
                    true
                }
                None if connect.is_empty() => {
                    why.push("network.connect is empty, so every port is allowed".into());
                    true
                }
                None => {
                    why.push(format!(
                        "port {port} is not in network.connect ({})",
                        connect
                            .iter()
                            .map(|e| e.value.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    false
                }
            };
            Verdict {
                target: t,
                allowed,
                why,
                fix: (!allowed)
                    .then(|| format!("add {port} to network.connect {}", where_to_add(plan))),
            }
        }
        NetworkMode::Proxy => proxy_verdict(plan, t, host, port, &mode_from),
    }
}

fn proxy_verdict(plan: &Plan, target: String, host: &str, port: u16, mode_from: &str) -> Verdict {
    let Some(cfg) = plan.network.proxy.as_ref() else {
        return Verdict {
            target,
            allowed: false,
            why: vec!["network mode proxy without a proxy configuration".into()],
            fix: None,
        };
    };
    let mut why = vec![format!(
        "network mode proxy ({mode_from}): only network.allow entries leave the sandbox, through mcpcell's proxy"
    )];
    let Some(pattern) = cfg.allow.iter().find(|a| a.matches(host, port)) else {
        why.push(format!("no network.allow entry admits {host}:{port}"));
        let similar: Vec<String> = cfg
            .allow
            .iter()
            .filter(|a| a.matches(host, a.port.unwrap_or(443)) || a.matches(host, 80))
            .map(ToString::to_string)
            .collect();
        if !similar.is_empty() {
            why.push(format!(
                "{} admitted on other ports: {}",
                host,
                similar.join(", ")
            ));
        }
        return Verdict {
            target,
            allowed: false,
            why,
            fix: Some({
                let entry = if crate::hostspec::DEFAULT_PORTS.contains(&port) {
                    host.to_string()
                } else {
                    format!("{host}:{port}")
                };
                format!(
                    "add \"{entry}\" to network.allow {}, or run with --allow-host {entry}",
                    where_to_add(plan)
                )
            }),
        };
    };
    let origin = plan
        .merged
        .network
        .allow
        .iter()
        .find(|e| e.value.parse::<HostPattern>().ok().as_ref() == Some(pattern))
        .map(|e| e.origin.to_string())
        .unwrap_or_else(|| "command line --allow-host".into());
    why.push(format!(
        "admitted by network.allow entry {pattern} ({origin})"
    ));
    let ip = host.trim_matches(['[', ']']).parse::<IpAddr>().ok();
    let resolved = match ip {
        Some(ip) if cfg.ip_allowed(ip) => Ok(vec![ip]),
        Some(ip) => Err(crate::proxy::Refusal::Private(ip)),
        None => crate::proxy::resolve_v4(cfg, host)
            .map(|v| v.into_iter().map(IpAddr::V4).collect::<Vec<_>>()),
    };
    match resolved {
        Ok(addrs) => {
            let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            why.push(format!("the proxy would connect to {}", list.join(", ")));
            Verdict {
                target,
                allowed: true,
                why,
                fix: None,
            }
        }
        Err(crate::proxy::Refusal::Private(ip)) => {
            why.push(format!(
                "it resolves to the non-public address {ip}, and the proxy refuses loopback, private and link-local addresses that network.allow_private does not list"
            ));
            Verdict {
                target,
                allowed: false,
                why,
                fix: Some(format!(
                    "add \"{ip}/32\" to network.allow_private {}, if the server really needs it",
                    where_to_add(plan)
                )),
            }
        }
        Err(r) => {
            why.push(format!(
                "allowed by the profile, but here it {}; the proxy would fail to connect",
                r.reason()
            ));
            Verdict {
                target,
                allowed: true,
                why,
                fix: None,
            }
        }
    }
}

fn bind_verdict(plan: &Plan, target: &str, port: u16) -> Verdict {
    if plan.network.mode != NetworkMode::Host {
        return Verdict {
            target: target.to_string(),
            allowed: true,
            why: vec![
                "the sandbox has its own network namespace: it may listen there, and only processes inside the sandbox can connect".into(),
            ],
            fix: None,
        };
    }
    let bind = &plan.merged.network.bind;
    match bind.iter().find(|e| e.value == port) {
        Some(e) => Verdict {
            target: target.to_string(),
            allowed: true,
            why: vec![format!("port {port} is listed in {}", e.origin)],
            fix: None,
        },
        None => Verdict {
            target: target.to_string(),
            allowed: false,
            why: vec![format!(
                "network mode host: listening is denied on every port network.bind does not list ({})",
                if bind.is_empty() {
                    "it lists none".to_string()
                } else {
                    bind.iter()
                        .map(|e| e.value.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )],
            fix: Some(format!("add {port} to network.bind {}", where_to_add(plan))),
        },
    }
}

/// Syscalls that also need a capability the sandbox does not keep.
const NEEDS_CAPABILITY: &[(&str, &str)] = &[
    ("mount", "CAP_SYS_ADMIN"),
    ("umount2", "CAP_SYS_ADMIN"),
    ("pivot_root", "CAP_SYS_ADMIN"),
    ("swapon", "CAP_SYS_ADMIN"),
    ("swapoff", "CAP_SYS_ADMIN"),
    ("sethostname", "CAP_SYS_ADMIN"),
    ("setdomainname", "CAP_SYS_ADMIN"),
    ("chroot", "CAP_SYS_CHROOT"),
    ("reboot", "CAP_SYS_BOOT"),
    ("kexec_load", "CAP_SYS_BOOT"),
    ("init_module", "CAP_SYS_MODULE"),
    ("finit_module", "CAP_SYS_MODULE"),
    ("delete_module", "CAP_SYS_MODULE"),
    ("settimeofday", "CAP_SYS_TIME"),
    ("clock_settime", "CAP_SYS_TIME"),
    ("adjtimex", "CAP_SYS_TIME"),
    ("acct", "CAP_SYS_PACCT"),
    ("iopl", "CAP_SYS_RAWIO"),
    ("ioperm", "CAP_SYS_RAWIO"),
];

/// Whether one member of the filter lets the call through, and the rule that says so.
fn member_verdict(plan: &Plan, n: &'static str, single: bool) -> (bool, Option<String>) {
    let sc = &plan.seccomp;
    if let Some(d) = sc.denied.iter().find(|d| d.name == n) {
        let (allowed, what) = match d.action {
            crate::seccomp::Action::Errno(e) => (
                false,
                format!(
                    "fails with {}",
                    nix::errno::Errno::from_raw(e as i32).desc()
                ),
            ),
            crate::seccomp::Action::Kill => (false, "kills the server".into()),
            crate::seccomp::Action::Log => {
                (true, "is logged by the kernel and then allowed".into())
            }
            crate::seccomp::Action::Notify => (true, "is reported to mcpcell".into()),
        };
        return (
            allowed,
            Some(format!(
                "{n} {what}: syscalls.deny entry {} ({})",
                d.via, d.from
            )),
        );
    }
    if let Some(l) = sc.lifted.iter().find(|l| l.name == n) {
        return (
            true,
            Some(format!(
                "{n} is allowed: syscalls.allow entry {} ({}) lifts it out of {}",
                l.by, l.by_from, l.via
            )),
        );
    }
    if let Some((_, cap)) = NEEDS_CAPABILITY.iter().find(|(s, _)| *s == n) {
        if !plan.capabilities.keep.iter().any(|k| k == cap) {
            return (
                false,
                Some(format!(
                    "{n} passes the seccomp filter but needs {cap}, and the sandbox drops every capability not in capabilities.keep: the kernel refuses it with EPERM"
                )),
            );
        }
    }
    if !single {
        return (true, None);
    }
    let qualified: Vec<String> = sc
        .denied
        .iter()
        .filter(|d| d.name != n && d.name.split('(').next() == Some(n))
        .map(|d| format!("{} (syscalls.deny entry {}, {})", d.name, d.via, d.from))
        .collect();
    let line = if qualified.is_empty() {
        format!("{n} is not in any syscalls.deny entry")
    } else {
        format!(
            "{n} is allowed except with these arguments: {}",
            qualified.join("; ")
        )
    };
    (true, Some(line))
}

fn syscall_verdict(plan: &Plan, name: &str) -> Result<Verdict, String> {
    let members = crate::profile::validate::expand_entry(name);
    if members.is_empty() {
        return Err(format!(
            "`{name}` is neither a syscall on this architecture nor a syscall group (`mcpcell doctor` lists the groups)"
        ));
    }
    let single = members.len() == 1;
    let mut why = Vec::new();
    let mut unlisted = Vec::new();
    let mut allowed = true;
    for m in &members {
        let (ok, line) = member_verdict(plan, m.name(), single);
        allowed &= ok;
        match line {
            Some(l) => why.push(l),
            None => unlisted.push(m.name()),
        }
    }
    if !unlisted.is_empty() {
        why.push(format!("not denied: {}", unlisted.join(" ")));
    }
    Ok(Verdict {
        target: format!("syscall {name}"),
        allowed,
        why,
        fix: (!allowed).then(|| {
            format!(
                "add {name} to syscalls.allow {} (and the capability to capabilities.keep if one is named), if the server really needs it",
                where_to_add(plan)
            )
        }),
    })
}

fn env_verdict(plan: &Plan, name: &str) -> Verdict {
    if let Some(v) = plan.env.iter().find(|v| v.name == name) {
        return Verdict {
            target: format!("env:{name}"),
            allowed: true,
            why: vec![format!("in the server's environment: {}", v.from)],
            fix: None,
        };
    }
    let mut why = vec![
        "the server's environment holds only what env.pass, env.set and env.default name".into(),
    ];
    let patterns: Vec<String> = plan
        .merged
        .env
        .pass
        .iter()
        .map(|e| e.value.clone())
        .collect();
    if plan
        .merged
        .env
        .pass
        .iter()
        .any(|e| plan::env::pattern_matches(&e.value, name))
    {
        why.push(format!(
            "env.pass admits {name}, but mcpcell's own environment does not have it"
        ));
    } else {
        why.push(format!(
            "{name} matches no env.pass entry ({})",
            patterns.join(", ")
        ));
    }
    Verdict {
        target: format!("env:{name}"),
        allowed: false,
        why,
        fix: Some(format!(
            "add {name} to env.pass {}, or run with --pass-env {name} (or --set-env {name}=VALUE)",
            where_to_add(plan)
        )),
    }
}

/// Answers one target against `plan`.
pub fn verdict(plan: &Plan, text: &str, target: &Target) -> Result<Verdict, String> {
    Ok(match target {
        Target::Path(p, want) => path_verdict(plan, &p.display().to_string(), p, *want),
        Target::Unix(p) => {
            let a = plan.query_unix(p);
            Verdict {
                target: format!("Unix socket {}", a.path.display()),
                allowed: a.allowed,
                why: vec![a.why],
                fix: (!a.allowed).then(|| {
                    format!(
                        "add {} to network.unix {}",
                        a.path.display(),
                        where_to_add(plan)
                    )
                }),
            }
        }
        Target::Host(h, port) => host_verdict(plan, text, h, *port),
        Target::Bind(port) => bind_verdict(plan, text, *port),
        Target::Syscall(name) => syscall_verdict(plan, name)?,
        Target::Env(name) => env_verdict(plan, name),
    })
}

fn render_text(plan: &Plan, verdicts: &[Verdict]) -> String {
    let mut out = format!(
        "profile {} ({})\n",
        plan.profile.name,
        plan.profile.sources.join(" <- ")
    );
    for g in &plan.not_enforced {
        out.push_str(&format!(
            "note: not enforceable here, so `run` refuses to start without --best-effort: {}: {}\n",
            g.what, g.why
        ));
    }
    for v in verdicts {
        out.push_str(&format!(
            "\n{} {}\n",
            if v.allowed { "ALLOWED" } else { "DENIED " },
            v.target
        ));
        for w in &v.why {
            out.push_str(&format!("  - {w}\n"));
        }
        if let Some(f) = &v.fix {
            out.push_str(&format!("  to change it: {f}\n"));
        }
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    profile: &'a str,
    sources: &'a [String],
    not_enforced: &'a [plan::Gap],
    verdicts: &'a [Verdict],
}

pub fn run(args: ExplainArgs) -> i32 {
    let cwd = match std::env::current_dir() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcpcell: error: the current directory cannot be used: {e}");
            return 125;
        }
    };
    let home = std::env::var("HOME").ok();
    let mut targets = Vec::new();
    for t in &args.targets {
        match parse_target(t, home.as_deref(), &cwd) {
            Ok(parsed) => targets.push((t.clone(), parsed)),
            Err(e) => {
                eprintln!(
                    "mcpcell: error: {}",
                    crate::escape::terminal(&e.to_string())
                );
                return 125;
            }
        }
    }
    let command: Vec<OsString> = args.command.clone();
    let mut req = args.sandbox.request(command);
    req.dry_run = true;
    req.collect_gaps = true;
    req.command_optional = true;
    let host = plan::Host::probe();
    let plan = match host.and_then(|h| plan::build(&req, &Loader::from_env(), &h)) {
        Ok(p) => p,
        Err(e) => {
            print_error(&e);
            return e.exit_code();
        }
    };
    let mut verdicts = Vec::new();
    for (text, t) in &targets {
        match verdict(&plan, text, t) {
            Ok(v) => verdicts.push(v),
            Err(e) => {
                eprintln!(
                    "mcpcell: error: {}",
                    crate::escape::terminal(&e.to_string())
                );
                return 125;
            }
        }
    }
    let out = match args.format {
        Format::Text => crate::escape::terminal_text(&render_text(&plan, &verdicts)).into_owned(),
        Format::Json => {
            serde_json::to_string_pretty(&JsonReport {
                profile: &plan.profile.name,
                sources: &plan.profile.sources,
                not_enforced: &plan.not_enforced,
                verdicts: &verdicts,
            })
            .unwrap_or_default()
                + "\n"
        }
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    i32::from(verdicts.iter().any(|v| !v.allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let cwd = Path::new("/srv/project");
        let home = Some("/home/u");
        let p = |s| parse_target(s, home, cwd).unwrap();
        assert_eq!(
            p("~/.ssh/id_rsa"),
            Target::Path("/home/u/.ssh/id_rsa".into(), Rights::READ)
        );
        assert_eq!(
            p("notes/a.txt:write"),
            Target::Path("/srv/project/notes/a.txt".into(), Rights::WRITE)
        );
        assert_eq!(
            p("/usr/bin/node:exec"),
            Target::Path("/usr/bin/node".into(), Rights::EXEC)
        );
        assert_eq!(
            p("/odd:name"),
            Target::Path("/odd:name".into(), Rights::READ)
        );
        assert_eq!(
            p("api.github.com"),
            Target::Host("api.github.com".into(), 443)
        );
        assert_eq!(
            p("example.com:8080"),
            Target::Host("example.com".into(), 8080)
        );
        assert_eq!(p("[::1]:22"), Target::Host("::1".into(), 22));
        assert_eq!(p("127.0.0.1"), Target::Host("127.0.0.1".into(), 443));
        assert_eq!(p("ptrace"), Target::Syscall("ptrace".into()));
        assert_eq!(p("@mount"), Target::Syscall("@mount".into()));
        assert_eq!(
            p("clone(CLONE_NEW*)"),
            Target::Syscall("clone(CLONE_NEW*)".into())
        );
        assert_eq!(p("env:GITHUB_TOKEN"), Target::Env("GITHUB_TOKEN".into()));
        assert_eq!(p("unix:/run/x.sock"), Target::Unix("/run/x.sock".into()));
        assert_eq!(p("bind:8080"), Target::Bind(8080));
        assert!(parse_target("host:port", home, cwd).is_err());
        assert!(parse_target("bind:x", home, cwd).is_err());
        assert!(parse_target("env:", home, cwd).is_err());
    }
}
