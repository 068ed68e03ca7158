//! The escape suite: a malicious MCP server (`tests/adversary/server.c`) runs under every
//! built-in profile and, on one tools/call, tries everything at once: secrets, writes
//! outside its grants, link and rename tricks, host processes, the network, host daemons'
//! sockets, namespaces, mounts, the kernel's attack surface, 32-bit syscalls, the terminal,
//! setuid and file-capability binaries, fork, descriptor and file-size bombs, a daemon that
//! would outlive its client. Every attempt is judged from the host: planted secrets must not
//! come back, listeners must see nothing, the victim process must be untouched, files must be
//! as they were, and the limits must hold as the host counts them.
//!
//! A built-in profile that must allow one of these says why in its YAML, and [`exception`]
//! names exactly that: the attempt must then succeed, no more.

mod adversary;
mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use adversary::{Client, Listeners, Sampler, Terminal, Victim};
use common::*;

/// Every attempt the server makes, in its order. The server must report exactly these.
const ATTEMPTS: &[&str] = &[
    "read_ssh_key",
    "read_aws_credentials",
    "read_other_project_env",
    "read_etc_shadow",
    "read_shell_history",
    "read_dotdot",
    "read_relative",
    "env_secret",
    "inherited_fds",
    "victim_environ",
    "victim_cmdline",
    "victim_mem_read",
    "victim_mem_write",
    "victim_process_vm_readv",
    "victim_kill",
    "victim_stop",
    "victim_ptrace_attach",
    "victim_ptrace_seize",
    "victim_pidfd_signal",
    "mcpcell_kill",
    "init_environ",
    "init_mem",
    "init_fds",
    "append_bashrc",
    "truncate_bashrc",
    "create_zshrc",
    "write_host_tmp",
    "write_npm_cache",
    "write_other_project",
    "write_other_state_dir",
    "write_own_profile",
    "write_etc",
    "symlink_read",
    "symlink_dir_read",
    "symlink_write",
    "hardlink_secret",
    "hardlink_bashrc",
    "rename_in",
    "rename_out",
    "rename_dir_out",
    "rename_exchange_bashrc",
    "exec_written_file",
    "chown_in_workspace",
    "mknod_in_workspace",
    "setuid_bit_in_workspace",
    "chmod_outside",
    "setxattr_outside",
    "utimes_outside",
    "stat_outside",
    "readlink_outside",
    "getxattr_outside",
    "inotify_outside",
    "mmap_exec_written",
    "memfd_mmap_exec",
    "sysv_shm_exec",
    "chmod_proc",
    "memfd_execveat",
    "memfd_proc_fd_exec",
    "memfd_exec_flag",
    "memfd_sealed_exec",
    "exec_from_dev_shm",
    "exec_from_tmp",
    "setuid_binary",
    "file_caps_binary",
    "setuid_root",
    "tcp_loopback",
    "tcp_host_ip",
    "tcp6_loopback",
    "udp_loopback",
    "udp_host_ip",
    "dns_to_host",
    "dns_resolver",
    "raw_icmp",
    "raw_packet",
    "ping_socket",
    "vsock_connect",
    "netlink_uevent",
    "netlink_audit",
    "mptcp_socket",
    "udplite_socket",
    "sctp_socket",
    "alg_socket",
    "proxy_connect_loopback",
    "proxy_connect_name",
    "proxy_http_get",
    "proxy_socks5",
    "unix_ssh_agent",
    "unix_dbus",
    "unix_in_project",
    "unix_abstract",
    "unix_socket_create",
    "unshare_user",
    "unshare_mount",
    "unshare_net",
    "unshare_pid",
    "unshare_cgroup",
    "clone_newuser",
    "clone_newns",
    "clone_newnet",
    "clone3_newuser",
    "setns_init",
    "setns_victim",
    "setns_pidfd",
    "mount_tmpfs",
    "mount_bind_root",
    "mount_proc",
    "umount_proc",
    "umount_tmp",
    "umount_hidden",
    "fsopen",
    "open_tree",
    "pivot_root",
    "chroot",
    "io_uring_setup",
    "bpf_map_create",
    "bpf_prog_load",
    "perf_event_open",
    "userfaultfd",
    "userfaultfd_dev",
    "add_key",
    "request_key",
    "keyctl_join_session",
    "personality_read_implies_exec",
    "personality_no_randomize",
    "init_module",
    "finit_module",
    "kexec_load",
    "iopl",
    "ioperm",
    "syslog_read",
    "open_by_handle_at",
    "reboot",
    "swapon",
    "acct",
    "clock_settime",
    "sethostname",
    "read_dev_kmsg",
    "read_dev_mem",
    "read_proc_kcore",
    "write_core_pattern",
    "write_sysrq_trigger",
    "cgroup_escape",
    "int80_getpid",
    "int80_open_shadow",
    "int80_unshare",
    "int80_ptrace",
    "int80_socket_unix",
    "x32_unshare",
    "x32_getpid",
    "tiocsti_stderr",
    "tiocsti_dev_tty",
    "tiocsti_stolen_ctty",
    "tioclinux",
    "fork_bomb",
    "open_files_bomb",
    "file_size_bomb",
    "tmp_file_size_bomb",
    "tmp_fill",
    "daemon_outlives_client",
];

/// Attempts that may succeed inside because nothing leaves the sandbox: the host's evidence
/// alone decides (a write into the private /tmp, a datagram to the sandbox's own loopback).
const CONTAINED: &[&str] = &[
    "write_host_tmp",
    "udp_loopback",
    "udp_host_ip",
    "dns_to_host",
    "daemon_outlives_client",
];

/// What the plan says about the profile under test (`mcpcell run --dry-run --format json`).
struct PlanFacts {
    limits: BTreeMap<String, u64>,
    tmp_size: Option<u64>,
    state_dir: Option<PathBuf>,
    /// Directories the server may execute from.
    exec_dirs: Vec<PathBuf>,
    pids_cgroup: Option<u64>,
    /// Where namespaces are refused (the suite run through tests/nouserns): what the
    /// namespace-free tier says it cannot keep.
    tier_losses: Vec<String>,
    /// A loss the tier refuses even with --best-effort: the launch must not start.
    tier_refused: Option<String>,
}

/// What the namespace-free tier names as lost, and the attempts and host findings each one
/// accounts for: only a loss the tier itself names excuses them.
const TIER_LOSSES: &[(&str, &[&str])] = &[
    (
        "names and metadata outside the grants",
        &[
            "stat_outside",
            "readlink_outside",
            "getxattr_outside",
            "inotify_outside",
        ],
    ),
    ("a process world of its own", &["victim_cmdline"]),
    (
        "no-exec of written files by every route",
        &["mmap_exec_written"],
    ),
];

/// Moves the failures a named loss of the tier accounts for from `failures` to the result.
fn tier_excused(facts: &PlanFacts, failures: &mut Vec<String>) -> Vec<String> {
    let mut excused = Vec::new();
    failures.retain(|f| {
        let by = TIER_LOSSES.iter().find(|(loss, attempts)| {
            facts.tier_losses.iter().any(|l| l == loss)
                && attempts.iter().any(|a| {
                    f.starts_with(&format!("{a}:"))
                        || f.starts_with(&format!("a secret came out: {a}\t"))
                })
        });
        match by {
            Some((loss, _)) => {
                let what = f.split(['[', '\t']).next().unwrap_or(f).trim_end();
                excused.push(format!("{what} (lost: {loss})"));
                false
            }
            None => true,
        }
    });
    excused
}

impl PlanFacts {
    fn limit(&self, name: &str) -> Option<u64> {
        self.limits.get(name).copied()
    }
}

/// An attempt a built-in profile allows on purpose, and where the profile says why.
fn exception(
    profile: &str,
    attempt: &str,
    facts: &PlanFacts,
    work: Option<&Path>,
) -> Option<&'static str> {
    match attempt {
        "unix_socket_create" if profile == "playwright" => Some(
            "playwright.yaml: network.unix [/tmp], for Chromium's own processes (the sandbox then sees only granted paths)",
        ),
        "unix_socket_create" if profile == "docker" => Some(
            "docker.yaml: network.unix lists the daemon's socket the user linked (the sandbox then sees only granted paths)",
        ),
        "unix_socket_create" if profile == "puppeteer" || profile == "chrome-devtools" => Some(
            "puppeteer.yaml, chrome-devtools.yaml: network.unix [/tmp], for Chromium's own processes (the sandbox then sees only granted paths)",
        ),
        "exec_written_file" | "mmap_exec_written"
            if work.is_some_and(|w| facts.exec_dirs.iter().any(|d| w.starts_with(d))) =>
        {
            Some(
                "node.yaml/python.yaml: ${STATE_DIR} is executable, for the packages npx and uvx download and run from there",
            )
        }
        "fork_bomb" if profile == "minimal" && facts.limit("processes").is_none() => Some(
            "minimal.yaml: no process limit (the benchmarks' profile; a pids cgroup costs root a launch 5-10 ms on cgroup v1)",
        ),
        _ => None,
    }
}

fn plan_facts(cmd: &Command) -> PlanFacts {
    let mut dry = Command::new(cmd.get_program());
    let args: Vec<_> = cmd.get_args().collect();
    dry.arg(args[0])
        .args(["--dry-run", "--format", "json"])
        .args(&args[1..]);
    dry.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            dry.env(k, v);
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        dry.current_dir(d);
    }
    let out = output_within(dry, Duration::from_secs(30));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let plan = &v["plan"];
    let losses = plan["tier"]["losses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let tier_refused = losses
        .iter()
        .find(|l| l["acceptable"] == false)
        .and_then(|l| l["what"].as_str())
        .map(str::to_string);
    assert!(
        out.status.success() || tier_refused.is_some(),
        "dry run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let limits = plan["limits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_string(),
                l["value"].as_u64().unwrap(),
            )
        })
        .collect();
    let exec_dirs = plan["filesystem"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rights"]["exec"] == true && r["kind"] == "dir")
        .map(|r| PathBuf::from(r["path"].as_str().unwrap()))
        .collect();
    PlanFacts {
        limits,
        tmp_size: plan["tmp_size"].as_u64(),
        state_dir: plan["state_dir"].as_str().map(PathBuf::from),
        exec_dirs,
        pids_cgroup: plan["pids_cgroup"].as_u64(),
        tier_losses: losses
            .iter()
            .filter_map(|l| l["what"].as_str().map(str::to_string))
            .collect(),
        tier_refused,
    }
}

/// Copies of the payload that would gain privilege at exec, were it not for the sandbox:
/// setuid to another user, and with file capabilities. Root makes them here; for the
/// ordinary user tests/run.sh makes them as root beforehand.
fn privileged_payloads(dir: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let from_env = |v: &str| std::env::var_os(v).map(PathBuf::from);
    if !is_root() {
        return (
            from_env("MCPCELL_ADVERSARY_SUID"),
            from_env("MCPCELL_ADVERSARY_FCAP"),
        );
    }
    let suid = dir.join("payload-suid");
    std::fs::copy(adversary::payload(), &suid).unwrap();
    nix::unistd::chown(&suid, Some(65534.into()), Some(65534.into())).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let fcap = dir.join("payload-fcap");
    std::fs::copy(adversary::payload(), &fcap).unwrap();
    // vfs_cap_data revision 2, effective: CAP_DAC_READ_SEARCH and CAP_NET_RAW permitted.
    let mut data = Vec::new();
    data.extend_from_slice(&(0x0200_0000u32 | 1).to_le_bytes());
    data.extend_from_slice(&((1u32 << 2) | (1 << 13)).to_le_bytes());
    data.extend_from_slice(&[0u8; 12]);
    let path = std::ffi::CString::new(fcap.to_str().unwrap()).unwrap();
    // SAFETY: NUL-terminated strings and a valid buffer.
    let r = unsafe {
        libc::setxattr(
            path.as_ptr(),
            c"security.capability".as_ptr(),
            data.as_ptr().cast(),
            data.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "setting file capabilities: {}",
        std::io::Error::last_os_error()
    );
    (Some(suid), Some(fcap))
}

/// "ruid=U euid=E suid=S capeff=C" from a payload that ran.
fn payload_gained(detail: &str) -> Option<String> {
    let field = |k: &str| {
        detail
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or("?")
            .to_string()
    };
    let (ruid, euid, caps) = (field("ruid="), field("euid="), field("capeff="));
    if ruid != euid || caps != "0000000000000000" {
        Some(format!("the exec'd payload gained privilege: {detail}"))
    } else {
        None
    }
}

/// The first number in a detail ("forked 509 (...)" → 509).
fn number(detail: &str) -> u64 {
    detail
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX)
}

struct Run<'a> {
    profile: &'a str,
    facts: &'a PlanFacts,
    work: Option<&'a Path>,
    host_procs: usize,
    host_fds: usize,
    /// The host's home directory (device, inode).
    home_id: (u64, u64),
}

/// The verdict on one attempt from what the server said; `Ok(Some(why))` for an exception.
fn judge(
    run: &Run<'_>,
    name: &str,
    status: &str,
    detail: &str,
) -> Result<Option<&'static str>, String> {
    let ok = status == "OK";
    if let Some(why) = exception(run.profile, name, run.facts, run.work) {
        return if ok {
            Ok(Some(why))
        } else {
            Err(format!(
                "{name} is allowed on purpose ({why}) but failed: {status} {detail}"
            ))
        };
    }
    let escaped = |why: String| Err(format!("{name}: {why} [{status} {detail}]"));
    match name {
        _ if CONTAINED.contains(&name) => Ok(None),
        "inotify_outside" if ok => {
            // The home directory in the sandbox's view is an empty one of mcpcell's making
            // (on the way to the project): watching it shows nothing of the host's.
            let (dev, ino) = run.home_id;
            if detail.contains(&format!("dev={dev} ino={ino}")) {
                escaped("a watch on the host's home directory".into())
            } else {
                Ok(None)
            }
        }
        "dns_resolver" if ok => {
            // mcpcell's own responder (proxy mode) answers NXDOMAIN and forwards nothing.
            if detail.contains("rcode=3 answers=0") {
                Ok(None)
            } else {
                escaped("a resolver answered a name that is not allowed".into())
            }
        }
        "setuid_root" | "setuid_binary" | "file_caps_binary" | "exec_written_file" if ok => {
            match payload_gained(detail) {
                Some(why) => escaped(why),
                None if name == "exec_written_file" => {
                    escaped("a file the server wrote was executed".into())
                }
                None => Ok(None),
            }
        }
        "fork_bomb" => {
            let limit = run.facts.limit("processes").unwrap_or(0) as usize;
            if run.host_procs > limit {
                escaped(format!(
                    "{} processes under mcpcell, limits.processes is {limit}",
                    run.host_procs
                ))
            } else if !ok || number(detail) as usize >= limit {
                escaped("the fork bomb was not stopped by the process limit".into())
            } else {
                Ok(None)
            }
        }
        "open_files_bomb" => {
            let limit = run.facts.limit("open_files").unwrap_or(0);
            if run.host_fds as u64 > limit || number(detail) > limit {
                escaped(format!(
                    "{} descriptors in one process (host count {}), limits.open_files is {limit}",
                    number(detail),
                    run.host_fds
                ))
            } else {
                Ok(None)
            }
        }
        "file_size_bomb" | "tmp_file_size_bomb" => {
            let limit = run.facts.limit("file_size");
            let efbig = detail.starts_with("EFBIG");
            if ok || (efbig && limit.is_none_or(|l| number(detail) > l)) {
                escaped(format!("a file grew past limits.file_size ({limit:?})"))
            } else {
                Ok(None)
            }
        }
        "tmp_fill" if ok => match run.facts.tmp_size {
            Some(size) if number(detail) <= size && detail.contains("ENOSPC") => Ok(None),
            size => escaped(format!("/tmp took more than limits.tmp_size ({size:?})")),
        },
        _ if ok || status == "TIMEOUT" => escaped("it succeeded inside the sandbox".into()),
        _ => Ok(None),
    }
}

/// Runs the adversary under `profile` and checks everything from the host.
fn attack(profile: &str) {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    let (failures, report, _) = attack_with(profile, None);
    let user = if is_root() {
        "root"
    } else {
        "an ordinary user"
    };
    assert!(
        failures.is_empty(),
        "under profile `{profile}` as {user}:\n  {}\nthe server's report:\n{report}",
        failures.join("\n  ")
    );
}

/// The adversary under `profile` (a built-in name, or a profile text written to a file):
/// everything the host saw get out, the server's own report, and what the namespace-free tier
/// names as lost (where it applies) that accounts for the rest.
fn attack_with(profile: &str, text: Option<&str>) -> (Vec<String>, String, Vec<String>) {
    let d = scratch();
    let root = d.path().canonicalize().unwrap();
    let nonce = adversary::nonce();
    let home = root.join("home");
    let project = home.join("project");
    let other = home.join("other-project");
    let state_home = root.join("state");
    let config_home = root.join("config");
    let run_dir = root.join("run");
    for dir in [
        home.join(".ssh"),
        home.join(".aws"),
        home.join(".npm/_cacache"),
        other.clone(),
        project.clone(),
        state_home.join("mcpcell/other-server"),
        config_home.clone(),
        run_dir.clone(),
    ] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let secret = |what: &str| format!("{what}-SECRET-{nonce}");
    let planted = [
        (home.join(".ssh/id_rsa"), secret("ssh")),
        (home.join(".aws/credentials"), secret("aws")),
        (other.join(".env"), secret("dotenv")),
        (home.join(".bash_history"), secret("history")),
    ];
    for (path, s) in &planted {
        write(path, s);
    }
    let bashrc = home.join(".bashrc");
    write(&bashrc, "# the user's shell\n");
    // Metadata the server must neither change nor read: a link target and an extended
    // attribute that hold secrets, and ~/.bashrc's mode and times.
    std::os::unix::fs::symlink(format!("/link-SECRET-{nonce}"), home.join(".secret-link")).unwrap();
    let xattr_secret = secret("xattr");
    let xattr_set = set_xattr(&bashrc, "user.secret", &xattr_secret);
    let bashrc_meta = std::fs::metadata(&bashrc).unwrap();
    let proc_version_mode = std::fs::metadata("/proc/version").unwrap().mode();
    let hostname = nix::unistd::gethostname().unwrap();
    let core_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();

    let listeners = Listeners::start(&nonce, &run_dir, &project);
    let mut victim = Victim::start(
        &root,
        &secret("victim-env"),
        &secret("victim-argv"),
        &secret("victim-mem"),
    );
    let terminal = Terminal::open();
    let (suid, fcap) = privileged_payloads(&root);
    // Without them the two attempts cannot be made; locally that is a skip of those two.
    require(
        suid.is_some() && fcap.is_some(),
        "setuid and file-capability payloads (MCPCELL_ADVERSARY_SUID, MCPCELL_ADVERSARY_FCAP)",
    );

    let server = adversary::server();
    let spec = match text {
        Some(t) => common::profile(&root, profile, t).display().to_string(),
        None => profile.to_string(),
    };
    let mut args: Vec<String> = vec!["run".into(), "-p".into(), spec];
    for p in [&suid, &fcap].into_iter().flatten() {
        args.push("--allow-exec".into());
        args.push(p.display().to_string());
    }
    args.push("--".into());
    args.push(server.display().to_string());
    let db = project.join("db.sqlite");
    match profile {
        "filesystem" => args.push(project.display().to_string()),
        "git" => args.extend(["--repository".into(), project.display().to_string()]),
        "sqlite" => args.extend(["--db-path".into(), db.display().to_string()]),
        _ => {}
    }
    // The docker profile starts only once the user names a daemon's socket: a stand-in,
    // linked where the profile asks for it (the adversary may reach it; nothing else).
    let _daemon = (profile == "docker").then(|| {
        let sock = root.join("daemon.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        std::fs::create_dir_all(config_home.join("mcpcell")).unwrap();
        std::os::unix::fs::symlink(&sock, config_home.join("mcpcell/docker.sock")).unwrap();
        listener
    });
    let mut cmd = Command::new(mcpcell());
    cmd.args(&args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .env("HOME", &home)
        .env("XDG_STATE_HOME", &state_home)
        .env("XDG_CONFIG_HOME", &config_home)
        .env("XDG_RUNTIME_DIR", &run_dir)
        .env("SSH_AUTH_SOCK", &listeners.unix[0].1)
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", listeners.unix[1].1.display()),
        )
        .env("MCPCELL_ESCAPE_SECRET", secret("mcpcell-env"))
        .current_dir(&project);
    let facts = plan_facts(&cmd);
    if let Some(what) = &facts.tier_refused {
        // Namespaces are refused and the tier cannot confine this profile: the launch must
        // fail closed, the server never starting.
        let mut launch = Command::new(cmd.get_program());
        launch.args(cmd.get_args()).env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                launch.env(k, v);
            }
        }
        launch
            .current_dir(&project)
            .stdin(std::process::Stdio::null());
        let out = output_within(launch, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let mut failures = Vec::new();
        if out.status.code() != Some(125) || !out.stdout.is_empty() || !err.contains(what.as_str())
        {
            failures.push(format!(
                "the namespace-free tier refuses `{what}`, but the launch exited {:?}: {err}",
                out.status.code()
            ));
        }
        eprintln!("escape[{profile}]: refused by the namespace-free tier ({what})");
        return (failures, String::new(), Vec::new());
    }
    let work: Option<PathBuf> = match profile {
        "filesystem" | "git" | "sqlite" => Some(project.clone()),
        "minimal" => None,
        _ => facts.state_dir.clone(),
    };

    // A secret file that mcpcell's caller left open as descriptor 7.
    let inherited = std::fs::File::open(home.join(".aws/credentials")).unwrap();
    let inherited_fd = std::os::fd::AsRawFd::as_raw_fd(&inherited);
    terminal.attach(&mut cmd);
    // SAFETY: dup2 between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(inherited_fd, 7);
            Ok(())
        });
    }
    let mut client = Client::start(cmd);
    let t = Duration::from_secs(60);
    assert_eq!(client.initialize(t), "mcpcell-adversary");
    let tools = client.request("tools/list", json!({}), t);
    assert_eq!(tools["tools"].as_array().map(Vec::len), Some(2), "{tools}");

    // Where the fork bomb stops without a limit, and what would exceed each limit.
    let fork_cap = facts.limit("processes").map_or(1200, |l| l + 64);
    let fsize_try = facts.limit("file_size").unwrap_or(8 << 30);
    let tmp_fill = facts.tmp_size.map_or(1 << 30, |s| s + (64 << 20));
    let w = work
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let depth = work.as_ref().map_or(0, |p| p.components().count() - 1);
    let up = "../".repeat(depth);
    let aws_rel = home.join(".aws/credentials");
    let aws_rel = aws_rel.strip_prefix("/").unwrap().display();
    let mut config = format!(
        "home={}\nwork={w}\nother_env={}\ndotdot={w}/{up}{aws_rel}\nrelative={up}{aws_rel}\n\
         victim={}\nvictim_secret_addr={}\nvictim_flag_addr={}\nmcpcell={}\nnonce={nonce}\n\
         host_tmp_file=/tmp/mcpcell-escape-{nonce}\nnpm_cache={}\nother_state={}\n\
         config_home={}\nhold_ms=400\nfork_cap={fork_cap}\nfsize_try={fsize_try}\n\
         tmp_fill={tmp_fill}\n",
        home.display(),
        other.join(".env").display(),
        victim.pid(),
        victim.secret_addr,
        victim.flag_addr,
        client.pid(),
        home.join(".npm/_cacache").display(),
        state_home.join("mcpcell/other-server").display(),
        config_home.display(),
    );
    if let Some(p) = &suid {
        config.push_str(&format!("suid={}\n", p.display()));
    }
    if let Some(p) = &fcap {
        config.push_str(&format!("fcap={}\n", p.display()));
    }
    config.push_str(&listeners.config());

    // As root, limits.processes is a pids cgroup: the server must be in it.
    let mut cgroup_note = String::new();
    if let (true, Some(max)) = (is_root(), facts.pids_cgroup) {
        // The sandbox's processes: those in a PID namespace other than mcpcell's (the
        // process that makes the namespaces may still be leaving, outside the cgroup), or
        // all of mcpcell's descendants in the namespace-free tier, which has none.
        let pid_ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
        let kids = descendants(client.pid());
        let inside: Vec<i32> = kids
            .iter()
            .copied()
            .filter(|&p| pid_ns(p).is_some() && pid_ns(p) != pid_ns(client.pid()))
            .collect();
        let cg = if inside.is_empty() { &kids } else { &inside }
            .iter()
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup")).ok())
            .next()
            .unwrap_or_default();
        let want = format!("mcpcell.{}", client.pid());
        let line = cg.lines().find(|l| l.contains("pids")).unwrap_or("");
        assert!(
            line.contains(&want),
            "the sandbox is not in its pids cgroup: {cg}"
        );
        cgroup_note = format!(" (root: pids cgroup {want}, pids.max {max})");
    }

    let sampler = Sampler::start(client.pid());
    let report = client.call(
        "attack",
        json!({"config": config}),
        Duration::from_secs(300),
    );
    let (host_procs, host_fds) = sampler.finish();
    assert_eq!(
        client.call("echo", json!({"text": "still here"}), t),
        "still here",
        "the server did not survive its own attack"
    );
    let code = client.finish(Duration::from_secs(30));
    let stderr = terminal.drain();

    let mut failures: Vec<String> = Vec::new();
    if code != 0 {
        failures.push(format!("mcpcell exited {code}; its stderr:\n{stderr}"));
    }
    let run = Run {
        profile,
        facts: &facts,
        work: work.as_deref(),
        host_procs,
        host_fds,
        home_id: {
            let m = std::fs::metadata(&home).unwrap();
            (m.dev(), m.ino())
        },
    };
    let mut seen = Vec::new();
    let mut excepted = Vec::new();
    // Succeeded inside, but nothing reached the host (private /tmp, own loopback, limits).
    let mut contained = 0;
    let mut refused = 0;
    for line in report.lines() {
        let mut f = line.splitn(3, '\t');
        let (name, status, detail) = (
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
        );
        seen.push(name.to_string());
        match judge(&run, name, status, detail) {
            Ok(Some(why)) => excepted.push(format!("{name} ({why})")),
            Ok(None) if status == "OK" => contained += 1,
            Ok(None) => refused += 1,
            Err(e) => failures.push(e),
        }
    }
    let expected: Vec<String> = ATTEMPTS.iter().map(|s| s.to_string()).collect();
    if seen != expected {
        failures.push(format!(
            "the server's attempts differ from the list here: missing {:?}, unexpected {:?}",
            expected
                .iter()
                .filter(|e| !seen.contains(e))
                .collect::<Vec<_>>(),
            seen.iter()
                .filter(|s| !expected.contains(s))
                .collect::<Vec<_>>()
        ));
    }

    // The host's evidence.
    let mut secrets: Vec<String> = planted.iter().map(|(_, s)| s.clone()).collect();
    secrets.push(format!("link-SECRET-{nonce}"));
    if xattr_set {
        secrets.push(xattr_secret.clone());
    }
    for w in ["victim-env", "victim-argv", "victim-mem", "mcpcell-env"] {
        secrets.push(secret(w));
    }
    for s in &secrets {
        if report.contains(s.as_str()) {
            let line = report
                .lines()
                .find(|l| l.contains(s.as_str()))
                .unwrap_or("");
            failures.push(format!("a secret came out: {line}"));
        }
    }
    failures.extend(listeners.reached(&nonce));
    failures.extend(victim.harm());
    let mut absent = vec![
        home.join(".zshrc"),
        PathBuf::from(format!("/tmp/mcpcell-escape-{nonce}")),
        home.join(".npm/_cacache").join(&nonce),
        state_home.join("mcpcell/other-server").join(&nonce),
        // Under docker the directory holds the user's link to the daemon's socket: what the
        // server must not make there is its own profile.
        if profile == "docker" {
            config_home.join("mcpcell/profiles")
        } else {
            config_home.join("mcpcell")
        },
        PathBuf::from("/etc/mcpcell-escape"),
        home.join(".planted"),
        home.join(".config-planted"),
    ];
    if let Some(w) = &work {
        for f in ["h-aws", "h-rc", "stolen-env", "sda"] {
            absent.push(w.join(f));
        }
    }
    for p in absent {
        if std::fs::symlink_metadata(&p).is_ok() {
            failures.push(format!("{} exists on the host", p.display()));
        }
    }
    for (path, s) in &planted {
        if std::fs::read_to_string(path).ok().as_deref() != Some(s.as_str()) {
            failures.push(format!("{} changed or disappeared", path.display()));
        }
    }
    if std::fs::read_to_string(&bashrc).unwrap_or_default() != "# the user's shell\n" {
        failures.push("~/.bashrc changed".into());
    }
    if let Ok(m) = std::fs::metadata(&bashrc) {
        if m.mode() != bashrc_meta.mode() {
            failures.push(format!(
                "~/.bashrc's mode changed: {:o} -> {:o}",
                bashrc_meta.mode(),
                m.mode()
            ));
        }
        if m.mtime() != bashrc_meta.mtime() || m.mtime_nsec() != bashrc_meta.mtime_nsec() {
            failures.push("~/.bashrc's modification time changed".into());
        }
    }
    let mode = std::fs::metadata("/proc/version").unwrap().mode();
    if mode != proc_version_mode {
        failures.push(format!(
            "the host's /proc/version changed mode: {proc_version_mode:o} -> {mode:o}"
        ));
        std::fs::set_permissions(
            "/proc/version",
            std::fs::Permissions::from_mode(proc_version_mode & 0o7777),
        )
        .ok();
    }
    if get_xattr(&bashrc, "user.planted").is_some() {
        failures.push("an extended attribute was set on ~/.bashrc".into());
    }
    if let Some(w) = &work {
        if let Ok(m) = std::fs::metadata(w.join("owned")) {
            if m.uid() != nix::unistd::geteuid().as_raw() {
                failures.push(format!(
                    "a file in the workspace was given to uid {}",
                    m.uid()
                ));
            }
        }
        if let Ok(m) = std::fs::metadata(w.join("suid")) {
            if m.mode() & 0o6000 != 0 {
                failures.push(format!(
                    "the server left a setuid/setgid file (mode {:o}, uid {}) in the workspace",
                    m.mode(),
                    m.uid()
                ));
            }
        }
        if let Ok(m) = std::fs::metadata(w.join("huge")) {
            let limit = facts.limit("file_size").unwrap_or(0);
            if m.len() > limit {
                failures.push(format!(
                    "a {}-byte file in the workspace, limits.file_size {limit}",
                    m.len()
                ));
            }
        }
    }
    if nix::unistd::gethostname().unwrap() != hostname {
        failures.push("the host's name changed".into());
    }
    if std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default() != core_pattern
    {
        failures.push("the host's core_pattern changed".into());
    }
    let pending = terminal.pending_input();
    if pending != 0 {
        failures.push(format!(
            "{pending} bytes were pushed into the terminal's input"
        ));
    }
    let daemon = format!("d{}", &nonce[..nonce.len().min(14)]);
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while !adversary::processes_named(&daemon).is_empty() {
        if std::time::Instant::now() > deadline {
            failures.push(format!(
                "the server's daemon outlived mcpcell: {:?}",
                adversary::processes_named(&daemon)
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let lost = tier_excused(&facts, &mut failures);

    let user = if is_root() {
        "root"
    } else {
        "an ordinary user"
    };
    eprintln!(
        "escape[{profile}] as {user}: {} attempts: {refused} refused, {contained} contained, {} allowed by the profile, {} problems{}{cgroup_note}{}; host saw at most {host_procs} processes and {host_fds} descriptors in one",
        seen.len(),
        excepted.len(),
        failures.len(),
        if excepted.is_empty() {
            String::new()
        } else {
            format!(": {}", excepted.join("; "))
        },
        if lost.is_empty() {
            String::new()
        } else {
            format!("; namespace-free tier, named losses: {}", lost.join("; "))
        },
    );
    (failures, report, lost)
}

/// A weak profile of our own: the suite must see what gets out under it, or its judgements
/// would prove nothing.
#[test]
fn the_suite_sees_escapes_from_a_weak_profile() {
    if !require(landlock_abi() >= 1, "Landlock") {
        return;
    }
    // Write on ~/.bashrc alone: a write grant of all of ${HOME} holds where profiles are
    // looked up, which no launch may grant.
    let weak = "filesystem:\n  read: [/]\n  write: [\"${HOME}/.bashrc\"]\nnetwork:\n  mode: host\nsyscalls:\n  deny: []\nenv:\n  pass: [\"MCPCELL_*\"]\n";
    // What the namespace-free tier names as lost is still seen, and counted here.
    let (failures, _, lost) = attack_with("weak", Some(weak));
    let all = [failures, lost].concat().join("\n");
    // Where namespaces are refused, the namespace-free tier refuses these whatever the
    // profile says (seccomp: extended attributes, System V IPC); the namespace tier's run of
    // this test shows that the suite sees them. A mode change beneath the write grant
    // (${HOME}/.bashrc here) is made by mcpcell's supervisor in the tier too, so it is seen in both.
    let tier_blocks = [
        "an extended attribute was set on ~/.bashrc",
        "sysv_shm_exec: it succeeded",
    ];
    let tier = namespace_free_tier();
    for caught in [
        "a secret came out: read_ssh_key",
        "a secret came out: env_secret",
        "TCP 127.0.0.1 got a connection",
        "~/.bashrc changed",
        "unshare_user: it succeeded",
        "io_uring_setup: it succeeded",
        "DNS 127.0.0.1 got",
        "open_files_bomb: ",
        "~/.bashrc's mode changed",
        "~/.bashrc's modification time changed",
        "an extended attribute was set on ~/.bashrc",
        "a secret came out: readlink_outside",
        "inotify_outside: a watch on the host's home directory",
        "stat_outside: it succeeded",
        "a secret came out: getxattr_outside",
        "memfd_mmap_exec: it succeeded",
        "sysv_shm_exec: it succeeded",
    ] {
        // And namespaces are what the surroundings refuse in the first place.
        if tier && caught.starts_with("unshare_user") {
            continue;
        }
        if tier && tier_blocks.contains(&caught) {
            assert!(
                !all.contains(caught),
                "the tier let `{caught}` through:\n{all}"
            );
            continue;
        }
        assert!(
            all.contains(caught),
            "the suite missed `{caught}`; it saw:\n{all}"
        );
    }
}

/// The built-in profiles, from profiles/*.yaml.
fn builtin_profiles() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "yaml").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    v.sort();
    v
}

macro_rules! under_every_profile {
    ($($test:ident => $profile:literal),* $(,)?) => {
        $(#[test] fn $test() { attack($profile) })*

        #[test]
        fn every_builtin_profile_is_attacked() {
            let mut tested = vec![$($profile.to_string()),*];
            tested.sort();
            assert_eq!(tested, builtin_profiles(), "add the new profile to escape.rs");
        }
    };
}

under_every_profile! {
    under_default => "default",
    under_minimal => "minimal",
    under_node => "node",
    under_python => "python",
    under_npx => "npx",
    under_uvx => "uvx",
    under_filesystem => "filesystem",
    under_memory => "memory",
    under_everything => "everything",
    under_sequential_thinking => "sequential-thinking",
    under_github => "github",
    under_brave_search => "brave-search",
    under_playwright => "playwright",
    under_time => "time",
    under_git => "git",
    under_fetch => "fetch",
    under_sqlite => "sqlite",
    under_context7 => "context7",
    under_tavily => "tavily",
    under_exa => "exa",
    under_perplexity_ask => "perplexity-ask",
    under_slack => "slack",
    under_firecrawl => "firecrawl",
    under_notion => "notion",
    under_postgres => "postgres",
    under_desktop_commander => "desktop-commander",
    under_redis => "redis",
    under_figma => "figma",
    under_aws_documentation => "aws-documentation",
    under_puppeteer => "puppeteer",
    under_sentry => "sentry",
    under_chrome_devtools => "chrome-devtools",
    under_linear => "linear",
    under_google_maps => "google-maps",
    under_gitlab => "gitlab",
    under_terraform => "terraform",
    under_docker => "docker",
    under_prometheus => "prometheus",
    under_grafana => "grafana",
    under_home_assistant => "home-assistant",
    under_atlassian => "atlassian",
    under_obsidian => "obsidian",
}
