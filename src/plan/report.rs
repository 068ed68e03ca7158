//! `--dry-run`: the plan as text for people, or as a stable JSON document for tools.

use std::fmt::Write;

/// One line of the report: a value inside it (a path, a name, a description from a profile)
/// cannot start another line or hide characters, whatever it holds; written with `writeln!`.
macro_rules! out {
    ($o:expr) => {
        writeln!($o)
    };
    ($o:expr, $($arg:tt)*) => {{
        let line = format!($($arg)*);
        writeln!($o, "{}", crate::escape::terminal(&line))
    }};
}

use serde::Serialize;

use super::Plan;
use super::fs::Placement;
use crate::profile::NetworkMode;

/// The JSON document: `version` changes when a field changes meaning or disappears.
#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    enforceable: bool,
    plan: &'a Plan,
}

pub fn json(plan: &Plan) -> String {
    let doc = Document {
        version: 1,
        enforceable: plan.not_enforced.is_empty(),
        plan,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn list<T: AsRef<str>>(items: &[T]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items
            .iter()
            .map(|s| s.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn text(plan: &Plan) -> String {
    let mut o = String::new();
    let p = plan;
    let _ = out!(o, "mcpcell run --dry-run: nothing was started.");
    let _ = out!(o);
    let _ = out!(o, "profile: {} ({})", p.profile.name, p.profile.chosen);
    if let Some(d) = &p.profile.description {
        let _ = out!(o, "  {d}");
    }
    let _ = out!(o, "  merged from: {}", list(&p.profile.sources));
    let _ = out!(o);
    let _ = out!(o, "command: {}", p.command.path.display());
    let argv: Vec<String> = p
        .command
        .argv
        .iter()
        .map(|a| format!("{:?}", a.to_string_lossy()))
        .collect();
    let _ = out!(o, "  argv: [{}]", argv.join(", "));
    let _ = out!(o, "  working directory: {}", p.cwd.display());
    if let Some(s) = &p.state_dir {
        let note = if s.is_dir() {
            ""
        } else {
            " (created on first run)"
        };
        let _ = out!(o, "  state directory: {}{note}", s.display());
        let _ = out!(
            o,
            "    this server's own ({}: from the resolved command and its arguments); no other server can reach it",
            p.server_id
        );
    }
    let _ = out!(o);
    let _ = out!(o, "namespaces: {}", list(&p.namespaces.kinds));
    let _ = out!(
        o,
        "  new session (no controlling terminal); the sandbox dies with mcpcell; private /tmp, /dev/shm and /proc"
    );
    if let Some(t) = &p.tier {
        for line in t.lines() {
            let _ = out!(o, "{line}");
        }
    }
    let _ = out!(o);
    match p.network.mode {
        NetworkMode::None => {
            let _ = out!(
                o,
                "network: none (a private network namespace with only loopback)"
            );
        }
        NetworkMode::Host => {
            let connect = if p.network.connect.is_empty() {
                "any port".to_string()
            } else {
                p.network
                    .connect
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let bind = if p.network.bind.is_empty() {
                "none".to_string()
            } else {
                p.network
                    .bind
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // UDP is refused with a connect list; without one it is the host's, both ways:
            // Landlock has no UDP rules, and seccomp cannot see the port a bind(2) names.
            let udp = if p.network.connect.is_empty() {
                "any port, sending and receiving (a bind to any port is not refused)"
            } else {
                "refused"
            };
            let _ = out!(
                o,
                "network: host (the host's network); TCP connect: {connect}; TCP listen: {bind}; UDP: {udp}"
            );
        }
        NetworkMode::Proxy => {
            let _ = out!(
                o,
                "network: proxy (a private network namespace; mcpcell relays only allowlisted hosts, from outside)"
            );
            if let Some(px) = &p.network.proxy {
                let allow: Vec<String> = px.allow.iter().map(|a| a.to_string()).collect();
                let _ = out!(o, "  allow: {} (without a port: 443 and 80)", list(&allow));
                for (name, ip, port) in &px.hosts {
                    let at = match port {
                        Some(p) => format!("{ip}:{p}"),
                        None => ip.to_string(),
                    };
                    let _ = out!(o, "  {name} connects to {at} (network.hosts)");
                }
                let private: Vec<String> = px.allow_private.iter().map(|c| c.to_string()).collect();
                let _ = out!(o, "  private addresses allowed: {}", list(&private));
                if let Some(chain) = &px.chain {
                    let _ = out!(
                        o,
                        "  upstream proxy (mcpcell's environment): {}",
                        chain.describe()
                    );
                }
                let _ = out!(
                    o,
                    "  inside: HTTP/SOCKS5 proxy on 127.0.0.1:{}, DNS on 127.0.0.1:53 (other names: NXDOMAIN), transparent ports {}",
                    px.proxy_port,
                    px.transparent_ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
    }
    let unix: Vec<String> = p
        .network
        .unix
        .iter()
        .map(|u| u.display().to_string())
        .collect();
    let _ = out!(
        o,
        "  Unix sockets: {}",
        if unix.is_empty() {
            "denied (socket(AF_UNIX) and datagram socketpairs refused)".into()
        } else {
            list(&unix)
        }
    );
    let _ = out!(o);
    if p.landlock.abi > 0 {
        let _ = out!(
            o,
            "landlock: ABI {}; scopes: {}",
            p.landlock.abi,
            list(&p.landlock.scopes)
        );
        let _ = out!(o, "  handled: {}", p.landlock.handled.join(" "));
    } else {
        let _ = out!(o, "landlock: not available ({})", p.kernel.landlock_status);
    }
    if p.granted_view {
        let _ = out!(
            o,
            "filesystem view: a root of the granted paths only; read grants mounted read-only, write grants no-exec unless exec, nothing setuid"
        );
    } else {
        let _ = out!(
            o,
            "filesystem view: the host's tree (observe mode), Landlock rules only"
        );
    }
    let _ = out!(o, "filesystem grants:");
    for r in &p.filesystem.rules {
        let place = match r.placement {
            Placement::Host if r.created_at_launch => "  [created at launch]",
            Placement::Host => "",
            Placement::Private => "  [private to the sandbox]",
            Placement::BoundIntoPrivate => "  [bound into the private mount]",
        };
        let shown = match &r.written {
            Some(w) => format!("{} -> {}", w.display(), r.path.display()),
            None => r.path.display().to_string(),
        };
        let _ = out!(o, "  {:<15} {shown}{place}", r.rights.label());
        for f in &r.from {
            let _ = out!(o, "  {:<15}   from {f}", "");
        }
    }
    if !p.filesystem.skipped.is_empty() {
        let _ = out!(o, "  skipped:");
        for s in &p.filesystem.skipped {
            let _ = out!(
                o,
                "  {:<15} {} ({}) from {}",
                s.rights.label(),
                s.path.display(),
                s.reason,
                s.from
            );
        }
    }
    let _ = out!(o, "hidden:");
    if p.filesystem.hide.is_empty() {
        let _ = out!(o, "  nothing needs hiding");
    }
    for h in &p.filesystem.hide {
        let _ = out!(o, "  {} from {}", h.path.display(), h.from);
    }
    for h in &p.filesystem.hide_skipped {
        let _ = out!(o, "  skipped {} ({})", h.path.display(), h.reason);
    }
    let _ = out!(o);
    let _ = out!(
        o,
        "seccomp: {} syscall rules, {} BPF instructions; on violation: {}; foreign ABIs {}",
        p.seccomp.denied.len(),
        p.seccomp.instructions,
        format!("{:?}", p.seccomp.on_violation).to_lowercase(),
        p.seccomp.foreign_abi
    );
    let mut vias: Vec<&str> = p.seccomp.denied.iter().map(|d| &*d.via).collect();
    vias.sort();
    vias.dedup();
    for via in vias {
        let names: Vec<&str> = p
            .seccomp
            .denied
            .iter()
            .filter(|d| *d.via == *via)
            .map(|d| d.name)
            .collect();
        let _ = out!(o, "  denied via {via}: {}", names.join(" "));
    }
    let _ = out!(o);
    let _ = out!(
        o,
        "capabilities: all dropped (effective, permitted, inheritable, ambient, bounding){}; no_new_privs",
        if p.capabilities.keep.is_empty() {
            String::new()
        } else {
            format!(" except {}", p.capabilities.keep.join(", "))
        }
    );
    let limits: Vec<String> = p
        .limits
        .iter()
        .map(|l| format!("{}={}", l.name, l.value))
        .collect();
    let _ = out!(o, "limits: {}", list(&limits));
    if let Some(n) = p.pids_cgroup {
        let _ = out!(
            o,
            "  processes: also a pids cgroup with pids.max={n} (RLIMIT_NPROC does not bind root)"
        );
    }
    if let (Some(n), Some(dir)) = (p.state_size, &p.state_dir) {
        let _ = out!(
            o,
            "  state_size: {n} bytes in {}, measured by mcpcell every second while the server runs (not a kernel quota: it can be passed by what the server writes between two measurements)",
            dir.display()
        );
    }
    if let Some(m) = &p.memory {
        let _ = out!(
            o,
            "  memory: {} bytes for the whole sandbox, by {}",
            m.bytes,
            m.how
        );
    }
    let _ = out!(o);
    write_package_settings(&mut o, &p.package_settings);
    let _ = out!(o, "environment (values hidden):");
    for v in &p.env {
        let _ = out!(o, "  {} from {}", v.name, v.from);
    }
    let _ = out!(o);
    if p.not_enforced.is_empty() {
        let _ = out!(
            o,
            "everything above is enforced on this kernel ({}).",
            p.kernel.release
        );
    } else {
        let _ = out!(o, "NOT ENFORCED here ({}):", p.kernel.release);
        for g in &p.not_enforced {
            let _ = out!(o, "  - {}: {}", g.what, g.why);
        }
    }
    for w in &p.warnings {
        let _ = out!(o, "warning: {w}");
    }
    for n in &p.notes {
        let _ = out!(o, "note: {n}");
    }
    o
}

/// `env.package_settings`: what was read outside the sandbox and what of it went in.
fn write_package_settings(o: &mut String, s: &super::pkgsettings::PkgSettings) {
    if s.is_empty() {
        return;
    }
    let names: Vec<String> = s
        .managers
        .iter()
        .map(|m| format!("{m:?}").to_ascii_lowercase())
        .collect();
    let _ = out!(
        o,
        "package settings ({}), read outside the sandbox; credentials stay outside:",
        names.join(", ")
    );
    if s.hosts.is_empty() && s.bundles.is_empty() && s.env.is_empty() {
        let _ = out!(o, "  nothing to pass in");
    }
    for (h, from) in &s.hosts {
        let _ = out!(
            o,
            "  allow {h} in network mode proxy (private addresses still refused), from {from}"
        );
    }
    for b in &s.bundles {
        let _ = out!(
            o,
            "  {} CA certificate(s) copied into ${{STATE_DIR}}/{}, from {}",
            b.certificates,
            b.file,
            b.from.join(", ")
        );
    }
    let _ = out!(o);
}
