//! `mcpjail doctor`: what this kernel and user can enforce, and what degrades.

use std::io::Write;

use serde::Serialize;

use crate::cli::Format;
use crate::kernel::{Kernel, NsProbe, probe_namespaces};

#[derive(Serialize)]
struct Feature {
    name: String,
    available: bool,
    detail: String,
}

#[derive(Serialize)]
struct Report {
    kernel: Kernel,
    namespaces: Vec<NsProbe>,
    features: Vec<Feature>,
    /// What does not hold on this machine, for the default profile.
    degraded: Vec<String>,
    /// What still holds when namespaces cannot be created.
    still_holds: Vec<String>,
}

fn feature(name: &str, available: bool, detail: impl Into<String>) -> Feature {
    Feature {
        name: name.into(),
        available,
        detail: detail.into(),
    }
}

pub fn run(format: Format) -> i32 {
    let k = Kernel::probe();
    let ns = probe_namespaces(k.privileged);
    let abi = k.landlock_abi;
    let ns_ok = |name: &str| ns.iter().any(|p| p.name == name && p.ok);
    let all_ns = ns
        .iter()
        .filter(|p| k.privileged || p.name != "user")
        .all(|p| p.ok)
        && (k.privileged || ns_ok("user"));

    let mut features = vec![
        feature(
            "landlock filesystem rules",
            abi >= 1,
            if abi >= 1 {
                format!("Landlock ABI {abi}")
            } else {
                format!("Landlock is {}", k.landlock_status)
            },
        ),
        feature("landlock: limits on truncate", abi >= 3, "ABI 3, Linux 6.2"),
        feature(
            "landlock: TCP port rules (network mode host)",
            abi >= 4,
            "ABI 4, Linux 6.7",
        ),
        feature(
            "landlock: limits on device ioctls",
            abi >= 5,
            "ABI 5, Linux 6.10",
        ),
        feature(
            "landlock: scoping of abstract Unix sockets and signals",
            abi >= 6,
            "ABI 6, Linux 6.12",
        ),
        feature(
            "landlock: pathname Unix socket rules (network.unix)",
            abi >= 9,
            "ABI 9, Linux 7.1; without it network.unix needs --best-effort",
        ),
        feature(
            "seccomp filters",
            k.seccomp_filter,
            "syscall deny lists, foreign-ABI refusal",
        ),
        feature(
            "namespaces",
            all_ns,
            if k.privileged {
                "created directly (running as root)".to_string()
            } else {
                "created inside a new user namespace".to_string()
            },
        ),
    ];
    if k.euid == 0 {
        let cg = crate::cgroup::available();
        features.push(feature(
            "pids cgroup (limits.processes as root)",
            cg,
            "RLIMIT_NPROC does not bind uid 0",
        ));
    }

    let mut degraded = Vec::new();
    for f in &features {
        if !f.available && !f.name.contains("network.unix") {
            degraded.push(format!("{} ({})", f.name, f.detail));
        }
    }
    let still_holds = if all_ns {
        Vec::new()
    } else {
        vec![
            "Landlock filesystem rules (if available above)".to_string(),
            "the seccomp filter".to_string(),
            "capability drop and no_new_privs".to_string(),
            "resource limits".to_string(),
            "NOT: network isolation, private /tmp, private /proc, hide masks, PID isolation (run with --best-effort to accept this)".to_string(),
        ]
    };
    let report = Report {
        kernel: k,
        namespaces: ns,
        features,
        degraded,
        still_holds,
    };
    let out = match format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        Format::Text => text(&report),
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    i32::from(!report.degraded.is_empty())
}

fn text(r: &Report) -> String {
    let k = &r.kernel;
    let mut o = String::new();
    o.push_str(&format!(
        "kernel: Linux {} ({})\n",
        k.release,
        std::env::consts::ARCH
    ));
    o.push_str(&format!(
        "user: uid {} gid {}{}\n",
        k.euid,
        k.egid,
        if k.privileged {
            " (root: namespaces are created without a user namespace)"
        } else {
            " (unprivileged: namespaces are created inside a user namespace)"
        }
    ));
    o.push_str("\nnamespaces:\n");
    for p in &r.namespaces {
        let status = if p.ok {
            "ok".to_string()
        } else {
            format!("FAILED: {}", p.error.as_deref().unwrap_or("?"))
        };
        o.push_str(&format!("  {:<8} {status}\n", p.name));
    }
    o.push_str("\nfeatures:\n");
    for f in &r.features {
        o.push_str(&format!(
            "  [{}] {} ({})\n",
            if f.available { "x" } else { " " },
            f.name,
            f.detail
        ));
    }
    o.push_str("\nnetwork modes:\n");
    let ns_net = r.namespaces.iter().any(|p| p.name == "network" && p.ok);
    o.push_str(&format!(
        "  none   {}\n",
        if ns_net {
            "ok: private network namespace with loopback"
        } else {
            "NOT available: needs a network namespace"
        }
    ));
    o.push_str(&format!(
        "  host   ok{}\n",
        if k.landlock_abi >= 4 {
            "; TCP connect/bind ports enforced by Landlock"
        } else {
            "; TCP ports NOT restricted (needs Landlock ABI 4)"
        }
    ));
    o.push_str(&format!(
        "  proxy  {}\n",
        if ns_net {
            "ok: private network namespace; mcpjail relays allowlisted hosts from outside"
        } else {
            "NOT available: needs a network namespace"
        }
    ));
    o.push('\n');
    if r.degraded.is_empty() {
        o.push_str("everything the default profile asks for is enforced here.\n");
    } else {
        o.push_str("degraded here (the default profile fails closed unless --best-effort):\n");
        for d in &r.degraded {
            o.push_str(&format!("  - {d}\n"));
        }
    }
    if !r.still_holds.is_empty() {
        o.push_str("with --best-effort, what still holds:\n");
        for s in &r.still_holds {
            o.push_str(&format!("  - {s}\n"));
        }
    }
    o
}
