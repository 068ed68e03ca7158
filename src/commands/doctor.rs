//! `mcpcell doctor`: what this kernel and user can enforce, and what degrades.

use serde::Serialize;

use crate::cli::Format;
use crate::kernel::{Kernel, NsProbe, probe_namespaces};
use crate::plan::tier;
use crate::profile::NetworkMode;

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
    /// Ubuntu's AppArmor restriction of user namespaces, where the kernel has it.
    apparmor: Option<String>,
}

fn feature(name: &str, available: bool, detail: impl Into<String>) -> Feature {
    Feature {
        name: name.into(),
        available,
        detail: detail.into(),
    }
}

/// Whether the kernel answers seccomp's notification-size query (Linux 5.0), and has the
/// CONTINUE answer `learn` relies on (5.5, the same release as the size query's users).
/// Whether this kernel has mount_setattr(2): an empty call fails with EBADF, not ENOSYS.
fn mount_setattr() -> bool {
    // SAFETY: an invalid descriptor and null pointers: the kernel only checks and fails.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            std::ptr::null::<libc::c_char>(),
            0,
            std::ptr::null::<u8>(),
            0usize,
        )
    };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
}

fn user_notification() -> bool {
    const SECCOMP_GET_NOTIF_SIZES: libc::c_ulong = 3;
    let mut sizes = libc::seccomp_notif_sizes {
        seccomp_notif: 0,
        seccomp_notif_resp: 0,
        seccomp_data: 0,
    };
    // SAFETY: seccomp(2) fills the struct it is given.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_NOTIF_SIZES,
            0,
            &mut sizes as *mut libc::seccomp_notif_sizes,
        )
    };
    let release = crate::kernel::release_at_least(5, 5);
    r == 0 && sizes.seccomp_notif as usize >= std::mem::size_of::<libc::seccomp_notif>() && release
}

/// Exits 1 when something degrades. Every probe answers, so this command has no error.
pub fn run(format: Format) -> Result<i32, crate::commands::Error> {
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
            "ABI 9, Linux 7.1; without it, when network.unix is set, a host socket that lies inside a granted directory can be reached too (the sandbox's root holds only granted paths, so /run and $XDG_RUNTIME_DIR are not there)",
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
    features.push(feature(
        "a root of the granted paths only (read-only and no-exec mounts per grant)",
        all_ns && mount_setattr(),
        "mount namespaces and mount_setattr (Linux 5.12): outside the grants nothing exists for the server, read-only grants are read-only for metadata too, and what it may write it cannot map executable",
    ));
    features.push(feature(
        "seccomp user notification (mcpcell learn)",
        user_notification(),
        "Linux 5.5; only `learn` needs it",
    ));
    if k.euid == 0 {
        let cg = crate::cgroup::available();
        features.push(feature(
            "pids cgroup (limits.processes as root)",
            cg,
            "RLIMIT_NPROC does not bind uid 0; joining the cgroup makes each root launch of \
             a profile with limits.processes wait for an RCU grace period (5-15 ms measured on \
             Linux 6.18)",
        ));
    }

    // No built-in profile sets limits.memory: only a profile that does needs this.
    features.push(match crate::cgroup::memory_home(k.euid) {
        Ok(home) => feature(
            "memory cgroup (limits.memory)",
            true,
            format!("the sandbox's memory is bounded by {}", home.describe()),
        ),
        Err(m) => feature(
            "memory cgroup (limits.memory)",
            false,
            format!(
                "{}; a profile with limits.memory fails closed here (--best-effort: only RLIMIT_DATA, per process). To get one: {}",
                m.why, m.fix
            ),
        ),
    });

    let mut degraded = Vec::new();
    for f in &features {
        // Optional layers: nothing a profile asks for depends on them, or only a profile that
        // sets limits.memory (none of the built-in ones).
        let optional = f.name.contains("network.unix")
            || f.name.contains("learn")
            || f.name.contains("limits.memory");
        if !f.available && !optional {
            degraded.push(format!("{} ({})", f.name, f.detail));
        }
    }
    let still_holds = if all_ns {
        Vec::new()
    } else {
        // What a launch does here: the namespace-free tier, shown for a profile like
        // `default` (network none) and for the other network modes.
        let mut out = Vec::new();
        for mode in [NetworkMode::None, NetworkMode::Host, NetworkMode::Proxy] {
            let t = tier::namespace_free(&tier::Facts::typical(&k, mode), "namespaces refused");
            if mode == NetworkMode::None {
                out.push("the namespace-free tier, chosen automatically:".to_string());
                out.extend(
                    t.layers
                        .iter()
                        .filter(|l| !l.layer.starts_with("network"))
                        .map(|l| format!("{}: {}", l.layer, l.how)),
                );
            }
            out.extend(
                t.layers
                    .iter()
                    .filter(|l| l.layer.starts_with("network"))
                    .map(|l| format!("{}: {}", l.layer, l.how)),
            );
            for l in &t.losses {
                let line = if l.acceptable {
                    format!(
                        "NOT kept (a launch fails closed unless --best-effort accepts it): {}: {}",
                        l.what, l.why
                    )
                } else {
                    format!("REFUSED even with --best-effort: {}: {}", l.what, l.why)
                };
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
        out
    };
    let report = Report {
        kernel: k,
        namespaces: ns,
        features,
        degraded,
        still_holds,
        apparmor: crate::commands::setup::apparmor_status(),
    };
    let out = match format {
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        Format::Text => text(&report),
    };
    super::print(out.as_bytes())?;
    Ok(i32::from(!report.degraded.is_empty()))
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
    if let Some(a) = &r.apparmor {
        o.push_str(&format!("  apparmor {a}\n"));
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
            "ok: private network namespace; mcpcell relays allowlisted hosts from outside"
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
        o.push_str("where namespaces are refused (as here):\n");
        for s in &r.still_holds {
            o.push_str(&format!("  - {s}\n"));
        }
    }
    o.push_str("\nsyscall groups (for syscalls.deny and syscalls.allow):\n");
    for g in crate::seccomp::groups::GROUPS {
        o.push_str(&format!("  {:<16} {}\n", g.name, g.help));
    }
    o
}
