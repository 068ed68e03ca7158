//! The verdicts of `mcpcell explain`: pure functions of a [`Plan`] (nothing here looks at the
//! command line or prints), so that the stderr hints of `run` ([`crate::commands::hints`])
//! give the same answers.

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use super::target::Target;
use crate::hostspec::HostPattern;
use crate::plan::fs::Rights;
use crate::plan::query::Inside;
use crate::plan::{self, Plan};
use crate::profile::NetworkMode;

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

/// A target that parses but names nothing this plan can answer for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerdictError {
    #[error(
        "`{0}` is neither a syscall on this architecture nor a syscall group (`mcpcell doctor` lists the groups)"
    )]
    UnknownSyscall(String),
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
    if let Some(n) = &a.narrowed_by {
        why.push(format!(
            "the innermost grant, {}, is its own mount and decides: {}",
            n.display(),
            a.granted.label()
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
        let list = want.word();
        // The path may be one the server named: quoted for the YAML and for the shell.
        Some(format!(
            "add {} to filesystem.{list} {}, or run with --allow-{list} {}",
            crate::escape::yaml_scalar(&a.path.to_string_lossy()),
            where_to_add(plan),
            crate::escape::shell_word(a.path.as_os_str())
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
                "use network mode proxy with network.allow: [{}] {}",
                crate::escape::yaml_scalar(host),
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
                    "add {} to network.allow {}, or run with --allow-host {}",
                    crate::escape::yaml_scalar(&entry),
                    where_to_add(plan),
                    crate::escape::shell_word(entry.as_ref())
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
    if let Some(cap) = crate::seccomp::capability::needed_by(n) {
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

fn syscall_verdict(plan: &Plan, name: &str) -> Result<Verdict, VerdictError> {
    let members = crate::profile::validate::expand_entry(name);
    if members.is_empty() {
        return Err(VerdictError::UnknownSyscall(name.to_string()));
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
            "add {} to env.pass {}, or run with --pass-env {} (or --set-env {})",
            crate::escape::yaml_scalar(name),
            where_to_add(plan),
            crate::escape::shell_word(name.as_ref()),
            crate::escape::shell_word(format!("{name}=VALUE").as_ref()),
        )),
    }
}

/// Answers one target against `plan`.
pub fn verdict(plan: &Plan, text: &str, target: &Target) -> Result<Verdict, VerdictError> {
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
                        crate::escape::yaml_scalar(&a.path.to_string_lossy()),
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
