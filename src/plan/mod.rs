//! Profile + command line + this kernel → [`Plan`]: every grant resolved and opened, the
//! environment, the compiled seccomp program, the namespaces and limits, and what cannot be
//! enforced here. Everything that can fail for a reason the user can fix fails here, before
//! fork. `--dry-run` prints the plan.

pub mod command;
pub mod env;
pub mod fs;
mod grants;
pub mod host;
pub mod pkgsettings;
mod programs;
pub mod provenance;
pub mod query;
pub mod report;
pub mod runs_later;
pub mod state;
pub mod steer;
pub mod tier;
pub mod trust;
pub mod workdir;
pub mod written;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;

use crate::infer::Recognition;
use crate::kernel::Kernel;
use crate::profile::{
    Diagnostic, Entry, Loader, NetworkMode, Origin, Profile, ProfileError, Source,
};
use crate::seccomp::{self, Action, Member, Qualified};
use crate::vars::{VarError, Vars};
use command::{Command, CommandError};
use fs::FsPlan;
pub use host::Host;
pub use provenance::Provenance;

/// What `mcpcell run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub profile: Option<String>,
    pub command: Vec<OsString>,
    pub allow_read: Vec<PathBuf>,
    pub allow_write: Vec<PathBuf>,
    pub allow_exec: Vec<PathBuf>,
    pub allow_host: Vec<String>,
    pub pass_env: Vec<String>,
    pub set_env: Vec<(String, String)>,
    /// `--best-effort`: the server is to start even where a protection is missing. The plan
    /// lists what is missing instead of failing, and says so to the launch.
    pub start_anyway: bool,
    /// List what cannot be enforced here (`Plan::not_enforced`) instead of failing, for a
    /// plan that is shown rather than started (`--dry-run`, `explain`).
    pub collect_gaps: bool,
    /// Plan only: do not create the state directory.
    pub dry_run: bool,
    /// A command is optional (`explain`): with none, nothing is granted for one.
    pub command_optional: bool,
    /// Observe mode (`learn`): file, exec and Unix-socket access is not restricted but
    /// reported to mcpcell; everything else is as the profile says.
    pub learn: bool,
    /// A launch (`run`): the sandbox's namespaces start being made as soon as the profile
    /// says there is a network namespace (`crate::netns`), while the rest is planned.
    pub netns_ahead: bool,
}

#[derive(Debug, Error)]
pub enum PlanError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A variable in the entry at `origin` cannot be expanded; the cause says which and why.
    #[error("{origin}")]
    Var {
        origin: Origin,
        #[source]
        source: VarError,
    },
    #[error(transparent)]
    Grant(#[from] fs::GrantError),
    #[error(transparent)]
    Trust(#[from] trust::TrustError),
    /// A required grant (`--allow-*`, a `!` entry) that a link or file the server may write
    /// chose; the message says which and what to grant instead.
    #[error("{origin}: `{}` is {reason}. If you mean it, {instead}", path.display())]
    Steered {
        origin: Origin,
        path: PathBuf,
        reason: String,
        instead: String,
    },
    /// What mcpcell reads or connects to beside the grants (an `env.package_settings` file,
    /// a `network.unix` socket) is where, or behind a link where, the server may write.
    #[error(
        "{what} {}{} lies inside {}, {}: {why}",
        crate::escape::path(path),
        if by == path { String::new() } else { format!(" is reached through the link {}, which", crate::escape::path(by)) },
        crate::escape::path(inside),
        place.phrase()
    )]
    SteeredSource {
        /// What the path is, with the setting that named it.
        what: &'static str,
        path: PathBuf,
        /// The link on its way, or the path itself.
        by: PathBuf,
        inside: PathBuf,
        place: steer::Place,
        /// What a server could do with it, and what to do.
        why: &'static str,
    },
    #[error("failed to create the state directory {}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: state::StateError,
    },
    #[error("failed to write the package managers' CA certificates (env.package_settings) into {}", .path.display())]
    PackageSettings {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{option} {}: {} lies inside {}, which the server may write ({}); it could put a link there and make mcpcell write into another file. Give a path outside every writable grant",
        written.display(),
        path.display(),
        grant.display(),
        from
    )]
    OutputInGrant {
        option: String,
        written: PathBuf,
        path: PathBuf,
        grant: PathBuf,
        from: String,
    },
    #[error(transparent)]
    StateSize(#[from] crate::statesize::StateSizeError),
    #[error("the current directory cannot be used")]
    Cwd(#[source] std::io::Error),
    #[error(
        "--allow-host only applies in network mode `proxy`, and this profile's mode is `{}`: use a profile in mode proxy (`-p npx` or `-p uvx`, which also allow their registry), or one of your own that extends this one with `network: {{mode: proxy}}`",
        crate::profile::validate::mode_name(*mode)
    )]
    AllowHostOutsideProxy { mode: NetworkMode },
    /// The host error names the entry, and has no cause of its own: shown in this message.
    #[error("--allow-host {0}")]
    AllowHost(crate::hostspec::HostSpecError),
    #[error("--pass-env {name:?}: give a variable name (or a prefix pattern such as LC_*)")]
    PassEnv { name: String },
    /// The upstream proxy of network mode `proxy`; the message says which variable and why.
    #[error(transparent)]
    UpstreamProxy(#[from] crate::proxy::chain::ChainError),
    #[error("failed to compile the seccomp filter")]
    Seccomp(#[from] seccomp::CompileError),
    #[error("{}", not_enforceable_message(.0))]
    NotEnforceable(Vec<Gap>),
    /// A `!` entry of network.unix: the socket is the user's to name (a profile that reaches
    /// a root daemon asks for it this way), so its absence stops the launch.
    #[error(
        "{origin}: the Unix socket `{}` does not exist, and it is marked as required: this profile reaches only a socket you name there. Create it, or a symbolic link to the socket you mean to grant (the comment above that line in the profile says what it must be; `mcpcell profiles show NAME` prints a built-in profile)",
        path.display()
    )]
    UnixRequired { origin: Origin, path: PathBuf },
}

impl PlanError {
    /// The exit status of `mcpcell run` for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            PlanError::Command(c) => c.exit_code(),
            _ => 125,
        }
    }
}

fn not_enforceable_message(gaps: &[Gap]) -> String {
    let mut s =
        String::from("this profile cannot be fully enforced here, so the server was not started:");
    // One line a gap: what a gap says is escaped, so that only these line breaks are kept
    // when the message is shown (a path in it may hold one).
    let one = |t: &str| crate::escape::terminal(t).into_owned();
    for g in gaps {
        s.push_str(&format!("\n  - {}: {}", one(&g.what), one(&g.why)));
        if let Some(fix) = &g.fix {
            s.push_str(&format!(" ({})", one(fix)));
        }
    }
    s.push_str("\nRun with --best-effort to start it anyway with these protections missing, or change the profile.");
    s
}

/// A protection the profile asks for that this kernel or user cannot provide.
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub what: String,
    pub why: String,
    pub fix: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProfileInfo {
    pub name: String,
    pub description: Option<String>,
    /// Why this profile: given with --profile, inferred from the command, or the default.
    pub chosen: String,
    pub inferred: bool,
    /// Every document merged, bases first.
    pub sources: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Network {
    pub mode: NetworkMode,
    /// Where the mode is set, when a profile sets it.
    #[serde(skip)]
    pub mode_from: Option<Origin>,
    /// Host mode: TCP ports the server may connect to; empty means any.
    pub connect: Vec<u16>,
    /// Host mode: TCP ports it may listen on; empty means none.
    pub bind: Vec<u16>,
    /// Pathname Unix sockets it may connect to.
    pub unix: Vec<PathBuf>,
    /// Proxy mode: the egress allowlist and where the proxy listens inside.
    pub proxy: Option<crate::proxy::ProxyConfig>,
}

#[derive(Debug, Serialize)]
pub struct Landlock {
    pub abi: i32,
    /// Handled filesystem access rights at this ABI.
    pub handled: Vec<String>,
    pub tcp_rules: bool,
    pub scopes: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Denied {
    pub name: &'static str,
    /// The deny entry that brought it in (`@default`, or the name itself), shared by every
    /// member of a group (a copy each was two allocations per denied call at every launch).
    pub via: Arc<str>,
    /// Where that entry is written.
    pub from: Arc<Provenance>,
    pub action: Action,
}

/// A member of a denied group that `syscalls.allow` lets through.
#[derive(Debug, Serialize)]
pub struct Lifted {
    pub name: &'static str,
    /// The deny entry it would otherwise fall under, and where that is written.
    pub via: String,
    /// The allow entry that lifts it, and where that is written.
    pub by: String,
    pub by_from: Origin,
}

#[derive(Debug, Serialize)]
pub struct Seccomp {
    pub on_violation: crate::profile::OnViolation,
    pub denied: Vec<Denied>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lifted: Vec<Lifted>,
    /// Always refused: syscalls through the i386 (`int 0x80`) and x32 ABIs.
    pub foreign_abi: &'static str,
    pub instructions: usize,
    #[serde(skip)]
    pub program: seccompiler::BpfProgram,
}

#[derive(Debug, Serialize)]
pub struct Capabilities {
    pub keep: Vec<String>,
    #[serde(skip)]
    pub mask: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Limit {
    pub name: &'static str,
    #[serde(skip)]
    pub resource: libc::__rlimit_resource_t,
    pub value: u64,
}

/// `limits.memory`: the sandbox's memory cgroup, or (`--best-effort` without one) a
/// per-process RLIMIT_DATA.
#[derive(Debug, Serialize)]
pub struct MemoryLimit {
    pub bytes: u64,
    /// Whether a memory cgroup enforces it (false: only RLIMIT_DATA, per process).
    pub cgroup: bool,
    /// What enforces it, for the dry-run.
    pub how: String,
}

#[derive(Debug, Serialize)]
pub struct Namespaces {
    /// Created with a user namespace (when mcpcell is not root).
    pub user: bool,
    pub kinds: Vec<&'static str>,
    #[serde(skip)]
    pub clone_flags: libc::c_int,
}

#[derive(Debug, Serialize)]
pub struct Plan {
    pub profile: ProfileInfo,
    pub command: Command,
    pub cwd: PathBuf,
    pub state_dir: Option<PathBuf>,
    /// Names this server's `${STATE_DIR}` below the profile's: from the resolved command and
    /// its arguments, so that no two servers share one.
    pub server_id: String,
    pub filesystem: FsPlan,
    pub landlock: Landlock,
    pub network: Network,
    pub seccomp: Seccomp,
    pub namespaces: Namespaces,
    pub capabilities: Capabilities,
    pub limits: Vec<Limit>,
    /// `limits.processes` as a pids cgroup, for root (which RLIMIT_NPROC does not bind).
    pub pids_cgroup: Option<u64>,
    /// `limits.memory`, and how it is enforced.
    pub memory: Option<MemoryLimit>,
    /// `limits.state_size`: the most `state_dir` may hold (only with a state directory).
    pub state_size: Option<u64>,
    /// Size limit of the private /tmp and /dev/shm, in bytes (the kernel's default when unset).
    pub tmp_size: Option<u64>,
    /// The sandbox sees a root made only of the granted paths (because it may use Unix
    /// sockets: then host sockets must not even be reachable by path).
    pub granted_view: bool,
    pub env: Vec<env::EnvVar>,
    /// `env.package_settings`: what was read outside and passed in.
    #[serde(skip_serializing_if = "pkgsettings::PkgSettings::is_empty")]
    pub package_settings: pkgsettings::PkgSettings,
    pub kernel: Kernel,
    /// Protections that are not in force (only when the request collects gaps or starts
    /// anyway).
    pub not_enforced: Vec<Gap>,
    /// Shown on every run (stderr, warn level).
    pub warnings: Vec<String>,
    /// Shown by --dry-run and at info level.
    pub notes: Vec<String>,
    /// `--best-effort`: start even where a protection is missing (`not_enforced`).
    pub best_effort: bool,
    /// The enforcement tier where namespaces are refused (set by a dry run that finds them
    /// refused; a launch finds out by trying).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<tier::Tier>,
    /// Observe mode: the syscalls reported to mcpcell instead of restricted by Landlock.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<&'static str>,
    /// The merged profile, with where each entry is written.
    #[serde(skip)]
    pub merged: Profile,
    /// The options that make `mcpcell explain` answer for this plan: `-p PROFILE` and the
    /// command line's grants, ready to paste.
    #[serde(skip)]
    pub explain_args: Vec<String>,
    /// The sandbox's namespaces being made while this plan was built
    /// (`Request::netns_ahead`).
    #[serde(skip)]
    pub netns_ahead: Option<crate::netns::Ahead>,
}

/// The directory of the profile file `origin` points into, for `${PROFILE_DIR}`.
fn profile_dir(origin: &Origin) -> Option<&Path> {
    origin.source.file().and_then(|f| f.parent())
}

/// A profile path with its variables expanded, and whether it is required (`!`).
pub(crate) fn expand(vars: &Vars, e: &Entry<String>) -> Result<(String, bool), PlanError> {
    let (raw, required) = match e.value.strip_prefix('!') {
        Some(r) => (r, true),
        None => (e.value.as_str(), false),
    };
    let v = vars
        .expand(raw, profile_dir(&e.origin))
        .map_err(|source| PlanError::Var {
            origin: e.origin.clone(),
            source,
        })?;
    Ok((v, required))
}

/// Which profile to use, and why: `--profile`, else the profile of the MCP server the
/// command runs (when such a profile exists), else `default`.
pub fn choose_profile(req: &Request, loader: &Loader) -> (String, String, bool) {
    if let Some(p) = &req.profile {
        return (p.clone(), "given with --profile".into(), false);
    }
    match crate::infer::recognise(&req.command) {
        Recognition::Known(i) if loader.source(i.profile).is_ok() => {
            return (
                i.profile.to_string(),
                format!("inferred from the command: {} ({})", i.package, i.how),
                true,
            );
        }
        Recognition::Doubtful {
            profile,
            package,
            why,
        } => {
            let (base, applies) = match registry_base(req, loader) {
                Some(r) => (
                    r.base.to_string(),
                    format!(
                        "The `{}` base applies ({} through the egress proxy, nothing else)",
                        r.base, r.registry
                    ),
                ),
                None => (
                    "default".to_string(),
                    "The built-in `default` profile applies".to_string(),
                ),
            };
            return (
                base,
                format!(
                    "no --profile given; the command names {package}, but {why}: the `{profile}` profile, and the secrets and hosts it grants, is not chosen for it. {applies}; pass -p {profile} only if you trust what the command runs"
                ),
                false,
            );
        }
        _ => {}
    }
    // An unknown package from a registry: without the registry it cannot even start, and the
    // registry base grants nothing else.
    if let Some(r) = registry_base(req, loader) {
        return (
            r.base.to_string(),
            format!(
                "no known MCP server recognised, but `{}` fetches its package from {}: the `{}` base, which lets it reach only {} through the egress proxy",
                r.runner, r.registry, r.base, r.registry
            ),
            true,
        );
    }
    (
        "default".into(),
        "no --profile given and no known MCP server recognised in the command; the built-in `default` profile applies".into(),
        false,
    )
}

/// The registry base for a command that fetches its package when it runs, if that profile
/// can be loaded.
fn registry_base(req: &Request, loader: &Loader) -> Option<crate::infer::RegistryRunner> {
    crate::infer::registry_runner(&req.command).filter(|r| loader.source(r.base).is_ok())
}

/// Builds the plan for `req` on `host`.
pub fn build(req: &Request, loader: &Loader, host: &Host) -> Result<Plan, PlanError> {
    let _memo = crate::paths::Memo::start();
    let kernel = &host.kernel;
    let (spec, chosen, inferred) = choose_profile(req, loader);
    let (profile, diags) = loader.load(&spec)?;
    // The sandbox's network namespace is made while the rest is planned.
    let netns_ahead = match req.netns_ahead && !req.dry_run {
        true if profile.network.mode() != NetworkMode::Host => crate::netns::Ahead::start(),
        _ => None,
    };
    let mut warnings: Vec<String> = diags.iter().map(Diagnostic::to_string).collect();
    if req.profile.is_none()
        && matches!(
            crate::infer::recognise(&req.command),
            Recognition::Doubtful { .. }
        )
    {
        warnings.push(chosen.clone());
    }
    let cwd = host.cwd.clone();
    let host_path = host.var_os("PATH");
    let server_id = state::server_id(&req.command, &cwd, host_path);
    let state_rel = [state::component(&profile.name, 64), server_id.clone()];
    let vars = Vars::from_lookup(
        &state_rel.join("/"),
        Ok(cwd.clone()),
        |k| host.var(k).map(String::from),
        host.probes.passwd_home,
    );

    let state_dir = prepare_state_dir(&profile, &vars, &state_rel, req.dry_run)?;
    let state_size = build_state_size(&profile, state_dir.as_deref(), req.dry_run, &mut warnings)?;
    let programs = programs::Programs::default();
    let pkg = pkgsettings::for_profile(
        &profile,
        &vars,
        &cwd,
        state_dir.as_deref(),
        req.dry_run,
        &programs,
    )
    .map_err(|source| PlanError::PackageSettings {
        path: state_dir.clone().unwrap_or_default(),
        source,
    })?;
    let mut gaps = Vec::new();
    let mut network = build_network(&profile, req, &vars, kernel, &pkg.hosts, &mut gaps)?;
    if let Some(p) = network.proxy.as_mut() {
        p.chain = crate::proxy::chain::Chain::from_env(|n| host.var(n).map(str::to_string))?;
    }
    let mut env = build_env(&profile, req, &vars, host, network.proxy.as_ref(), &pkg.env)?;
    let sandbox_path = env
        .iter()
        .find(|v| v.name == "PATH")
        .map(|v| v.value.clone());
    let search: Vec<(&str, &std::ffi::OsStr)> = env
        .iter()
        .filter(|v| grants::SEARCH_PATHS.contains(&v.name.as_str()))
        .map(|v| (v.name.as_str(), v.value.as_os_str()))
        .collect();
    let command = if req.command_optional && req.command.is_empty() {
        Command::none()
    } else {
        command::resolve(&req.command, &cwd, host_path, sandbox_path.as_deref())?
    };

    let mut notes: Vec<String> = pkg
        .notes
        .iter()
        .map(|n| format!("env.package_settings: {n}"))
        .collect();
    let filesystem = grants::build(
        &grants::Inputs {
            profile: &profile,
            req,
            command: &command,
            vars: &vars,
            cwd: &cwd,
            path_var: host_path,
            state_dir: state_dir.as_deref(),
            loader,
            programs: &programs,
            settings: &pkg.sources,
            sockets: &network.unix,
            search: &search,
        },
        &mut warnings,
        &mut notes,
    )?;
    drop(search);
    // What is left of each search path, each entry as the directory that was checked: a
    // relative or empty one (the working directory) made absolute, since the server may
    // change directory before it looks. One left empty is unset (an empty PATH would
    // search the working directory).
    for v in env
        .iter_mut()
        .filter(|v| grants::SEARCH_PATHS.contains(&v.name.as_str()))
    {
        let left = &filesystem.path_left_out;
        let kept: Vec<PathBuf> = std::env::split_paths(&v.value)
            .enumerate()
            .filter(|(n, _)| !left.iter().any(|(var, i)| *var == v.name && i == n))
            .map(|(_, d)| match d.as_os_str().is_empty() {
                true => cwd.clone(),
                false => cwd.join(d),
            })
            // A working directory with `:` in its name cannot be an entry.
            .filter(|d| !std::os::unix::ffi::OsStrExt::as_bytes(d.as_os_str()).contains(&b':'))
            .collect();
        v.value = std::env::join_paths(kept).unwrap_or_default();
    }
    env.retain(|v| !(v.value.is_empty() && grants::SEARCH_PATHS.contains(&v.name.as_str())));

    warnings.extend(workdir::warning(
        &cwd,
        fs::real_path(&cwd).ok().as_deref(),
        &filesystem,
        req.learn,
        vars.get("HOME").ok().map(Path::new),
    ));
    let cwd_inside = match fs::real_path(&cwd) {
        Ok(c) if filesystem.reachable_after_mounts(&c) => cwd.clone(),
        // Started from /tmp itself: the server starts in its own private /tmp.
        Ok(c) if fs::PRIVATE_TMP.iter().any(|m| c == Path::new(m)) => c,
        _ => {
            warnings.push(format!(
                "the current directory {} is inside the private /tmp and not granted; the server starts in /",
                cwd.display()
            ));
            PathBuf::from("/")
        }
    };

    if !req.allow_host.is_empty() && network.mode != NetworkMode::Proxy {
        return Err(PlanError::AllowHostOutsideProxy { mode: network.mode });
    }
    // The sandbox sees only what its grants name (a root assembled from them), so that
    // nothing else exists for it: no metadata, no names, no sockets. Learning instead
    // shows the host's tree and records what the server reaches for.
    let granted_view = !req.learn;
    let observed: Vec<&'static str> = if req.learn {
        seccomp::OBSERVED.to_vec()
    } else {
        Vec::new()
    };
    let seccomp = build_seccomp(&profile, &network, kernel, &observed, &mut gaps)?;
    let landlock = build_landlock(kernel, &network, &mut gaps);
    if !network.unix.is_empty() && !req.learn && kernel.landlock_abi < 9 {
        notes.push(format!(
            "network.unix: the sandbox's view holds only the granted paths, but on this kernel (Landlock ABI {}) a host socket that lies inside a granted directory can be connected to as well as the listed ones; Landlock ABI 9 (Linux 7.1) limits connecting by path to the listed sockets",
            kernel.landlock_abi
        ));
    }
    let namespaces = build_namespaces(kernel, &network);
    let capabilities = build_caps(&profile);
    let (mut limits, pids_cgroup) = build_limits(&profile, host, &mut gaps, &mut notes);
    let memory = build_memory(&profile, host, &mut limits, &mut gaps);

    if !gaps.is_empty() && !req.collect_gaps && !req.start_anyway {
        return Err(PlanError::NotEnforceable(gaps));
    }

    Ok(Plan {
        profile: ProfileInfo {
            name: profile.name.clone(),
            description: profile.description.clone(),
            chosen,
            inferred,
            sources: profile
                .sources
                .iter()
                .map(|s: &Arc<Source>| s.label())
                .collect(),
        },
        command,
        cwd: cwd_inside,
        state_dir,
        server_id,
        filesystem,
        landlock,
        network,
        seccomp,
        namespaces,
        capabilities,
        limits,
        pids_cgroup,
        memory,
        state_size,
        tmp_size: profile.limits.tmp_size.as_ref().map(|e| e.value),
        granted_view,
        env,
        package_settings: pkg,
        kernel: kernel.clone(),
        not_enforced: gaps,
        warnings,
        notes,
        best_effort: req.start_anyway,
        tier: None,
        observed,
        merged: profile,
        explain_args: explain_args(&spec, req, &host.cwd),
        netns_ahead,
    })
}

/// `-p SPEC` and the grant options of `req`, shell-quoted.
fn explain_args(spec: &str, req: &Request, cwd: &Path) -> Vec<String> {
    let spec = if crate::profile::is_path(spec) {
        std::fs::canonicalize(cwd.join(spec))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| spec.to_string())
    } else {
        spec.to_string()
    };
    let mut argv: Vec<OsString> = vec!["-p".into(), spec.into()];
    for (opt, paths) in [
        ("--allow-read", &req.allow_read),
        ("--allow-write", &req.allow_write),
        ("--allow-exec", &req.allow_exec),
    ] {
        for p in paths {
            argv.push(opt.into());
            argv.push(cwd.join(p).into_os_string());
        }
    }
    for h in &req.allow_host {
        argv.push("--allow-host".into());
        argv.push(h.into());
    }
    for n in &req.pass_env {
        argv.push("--pass-env".into());
        argv.push(n.into());
    }
    vec![crate::escape::shell_words(&argv)]
}

/// Creates `${STATE_DIR}` (0700, see [`state::prepare`]) when the profile uses it.
fn prepare_state_dir(
    profile: &Profile,
    vars: &Vars,
    rel: &[String; 2],
    dry_run: bool,
) -> Result<Option<PathBuf>, PlanError> {
    let f = &profile.filesystem;
    let uses = f
        .read
        .iter()
        .chain(&f.write)
        .chain(&f.exec)
        .chain(&f.hide)
        .map(|e| &e.value)
        .chain(profile.env.set.values().map(|e| &e.value))
        .chain(profile.env.default.values().map(|e| &e.value))
        .any(|v| v.contains("${STATE_DIR}"));
    if !uses {
        return Ok(None);
    }
    let path = vars.state_dir().map_err(|source| PlanError::Var {
        origin: Origin::command_line("${STATE_DIR}"),
        source,
    })?;
    if dry_run {
        return Ok(Some(path));
    }
    let home = vars
        .get("XDG_STATE_HOME")
        .map_err(|source| PlanError::Var {
            origin: Origin::command_line("${STATE_DIR}"),
            source,
        })?;
    state::prepare(Path::new(home), &["mcpcell", &rel[0], &rel[1]])
        .map(Some)
        .map_err(|source| PlanError::StateDir { path, source })
}

impl Plan {
    /// Refuses a file mcpcell will write (`option` names where it was given) that lies
    /// inside a path the server may write.
    pub fn refuse_output(
        &self,
        option: &str,
        out: &crate::outfile::OutFile,
    ) -> Result<(), PlanError> {
        use std::os::unix::fs::FileTypeExt;
        // A device (`/dev/null`, a terminal) cannot be replaced by a server that may write it,
        // only written, which is all mcpcell does with it too.
        let device =
            std::fs::symlink_metadata(out.path()).is_ok_and(|m| m.file_type().is_char_device());
        if device {
            return Ok(());
        }
        for p in [out.written().to_path_buf(), out.path()] {
            if let Some(rule) = trust::writable_holding(&self.filesystem, &p) {
                return Err(PlanError::OutputInGrant {
                    option: option.to_string(),
                    written: out.written().to_path_buf(),
                    path: out.path(),
                    grant: rule.path.clone(),
                    from: provenance::join(&rule.from, ", "),
                });
            }
        }
        Ok(())
    }
}

fn build_env(
    profile: &Profile,
    req: &Request,
    vars: &Vars,
    host: &Host,
    proxy: Option<&crate::proxy::ProxyConfig>,
    package_settings: &[(String, OsString, String)],
) -> Result<Vec<env::EnvVar>, PlanError> {
    let mut pass: Vec<(String, Provenance)> = profile
        .env
        .pass
        .iter()
        .map(|e| (e.value.clone(), e.origin.clone().into()))
        .collect();
    for name in &req.pass_env {
        if name.is_empty() || name.contains('=') {
            return Err(PlanError::PassEnv { name: name.clone() });
        }
        pass.push((name.clone(), "--pass-env".into()));
    }
    // Profile values with their variables expanded, each with where it comes from.
    let expanded = |entries: &BTreeMap<String, Entry<String>>| -> Result<Vec<_>, PlanError> {
        let mut out = Vec::new();
        for (k, e) in entries {
            let value = vars
                .expand(&e.value, profile_dir(&e.origin))
                .map_err(|source| PlanError::Var {
                    origin: e.origin.clone(),
                    source,
                })?;
            out.push((k.clone(), OsString::from(value), e.origin.clone().into()));
        }
        Ok(out)
    };
    // The package managers' settings first: the profile's own values win over them.
    let mut set: Vec<_> = package_settings
        .iter()
        .map(|(k, v, from)| {
            let from = Provenance::via(from.clone(), "env.package_settings".into());
            (k.clone(), v.clone(), from)
        })
        .collect();
    set.extend(expanded(&profile.env.set)?);
    for (k, v) in &req.set_env {
        set.push((k.clone(), OsString::from(v), "--set-env".into()));
    }
    // Proxy-aware clients find the egress proxy through these; they win over the profile.
    for (k, v) in proxy.map(|p| p.env()).unwrap_or_default() {
        set.push((k, OsString::from(v), "network mode proxy".into()));
    }
    let defaults = expanded(&profile.env.default)?;
    // In proxy mode the sandbox's only way out is mcpcell's proxy: no other proxy setting is
    // passed in (`npm_config_https_proxy`, `FTP_PROXY`, ... would name one it cannot reach),
    // and nothing that would give the upstream proxy's credentials away, whatever its name.
    let hidden = |(name, value): &(OsString, OsString)| {
        let Some(p) = proxy else {
            return false;
        };
        let name = name.to_string_lossy().to_ascii_lowercase();
        name.ends_with("proxy")
            || p.chain
                .as_ref()
                .is_some_and(|c| c.reveals(&value.to_string_lossy()))
    };
    let passed = host.env.iter().filter(|v| !hidden(v)).cloned();
    Ok(env::build(passed, &pass, defaults, set))
}

fn build_network(
    profile: &Profile,
    req: &Request,
    vars: &Vars,
    kernel: &Kernel,
    package_hosts: &[(crate::hostspec::HostPattern, String)],
    gaps: &mut Vec<Gap>,
) -> Result<Network, PlanError> {
    let mode = profile.network.mode();
    let proxy = if mode == NetworkMode::Proxy {
        // Validation has checked the profile's entries; --allow-host is checked here.
        let mut allow: Vec<crate::hostspec::HostPattern> = profile
            .network
            .allow
            .iter()
            .filter_map(|e| e.value.parse().ok())
            .collect();
        let mut more = Vec::new();
        for h in &req.allow_host {
            more.push(h.parse().map_err(PlanError::AllowHost)?);
        }
        more.extend(package_hosts.iter().map(|(h, _)| h.clone()));
        // A host given again (`--allow-host` of one the profile has) is listed once.
        for h in more {
            if !allow.contains(&h) {
                allow.push(h);
            }
        }
        let allow_private = profile
            .network
            .allow_private
            .iter()
            .filter_map(|e| e.value.parse().ok())
            .collect();
        let mut cfg = crate::proxy::ProxyConfig::new(allow, allow_private);
        cfg.hosts = profile
            .network
            .hosts
            .iter()
            .filter_map(|(name, e)| {
                let (ip, port) = crate::hostspec::parse_address(&e.value).ok()?;
                Some((name.clone(), ip, port))
            })
            .collect();
        Some(if req.learn { cfg.learning() } else { cfg })
    } else {
        None
    };
    let mut unix = Vec::new();
    for e in &profile.network.unix {
        let (p, required) = expand(vars, e)?;
        // metadata() follows a link: a link to a socket that is gone counts as missing.
        if required && std::fs::metadata(&p).is_err() {
            return Err(PlanError::UnixRequired {
                origin: e.origin.clone(),
                path: PathBuf::from(p),
            });
        }
        unix.push(PathBuf::from(p));
    }
    let (connect, bind) = if mode == NetworkMode::Host {
        (
            profile
                .network
                .connect
                .iter()
                .map(|e| e.value)
                .collect::<Vec<_>>(),
            profile
                .network
                .bind
                .iter()
                .map(|e| e.value)
                .collect::<Vec<_>>(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    if mode == NetworkMode::Host && kernel.landlock_abi < 4 {
        gaps.push(Gap {
            what: "TCP port restrictions in network mode host (listening is denied unless network.bind lists the port; connecting is limited to network.connect)".into(),
            why: format!("they need Landlock ABI 4 (Linux 6.7); this kernel has ABI {}", kernel.landlock_abi),
            fix: Some("use network mode none".into()),
        });
    }
    Ok(Network {
        mode,
        mode_from: profile.network.mode.as_ref().map(|e| e.origin.clone()),
        connect,
        bind,
        unix,
        proxy,
    })
}

fn build_seccomp(
    profile: &Profile,
    network: &Network,
    kernel: &Kernel,
    observed: &[&'static str],
    gaps: &mut Vec<Gap>,
) -> Result<Seccomp, PlanError> {
    use crate::profile::validate::expand_entry;
    let on_violation = profile.syscalls.on_violation();
    let lifting: Vec<(Member, &crate::profile::Entry<String>)> = profile
        .syscalls
        .allow
        .iter()
        .flat_map(|e| expand_entry(&e.value).into_iter().map(move |m| (m, e)))
        .collect();
    let lifted_by = |m: &Member| {
        lifting
            .iter()
            .find(|(l, _)| {
                l == m || (matches!(l, Member::Syscall(_)) && l.syscall() == m.syscall())
            })
            .map(|(_, e)| *e)
    };
    let mut denied: Vec<Denied> = Vec::new();
    let mut lifted: Vec<Lifted> = Vec::new();
    // The names denied or lifted so far (a member of two groups is listed once, under the
    // first): a set, where a scan of both lists compared ~240 names with each of ~240.
    let mut seen = std::collections::HashSet::new();
    for e in &profile.syscalls.deny {
        let via: Arc<str> = Arc::from(e.value.as_str());
        let from = Arc::new(Provenance::from(e.origin.clone()));
        for m in expand_entry(&e.value) {
            if !seen.insert(m.name()) {
                continue;
            }
            if let Some(by) = lifted_by(&m) {
                lifted.push(Lifted {
                    name: m.name(),
                    via: e.value.clone(),
                    by: by.value.clone(),
                    by_from: by.origin.clone(),
                });
                continue;
            }
            denied.push(Denied {
                name: m.name(),
                via: Arc::clone(&via),
                from: Arc::clone(&from),
                action: seccomp::action_for(m, on_violation),
            });
        }
    }
    if network.unix.is_empty() && observed.is_empty() {
        // A datagram socketpair's end is a Unix socket too: `sendto` a path reaches any
        // datagram socket in view (a journal or syslog socket in a granted directory; in the
        // namespace-free tier, the host's).
        let from = Arc::new(Provenance::Text(format!(
            "profile `{}` lists no network.unix path",
            profile.name
        )));
        for q in [Qualified::SocketUnix, Qualified::SocketpairUnixDgram] {
            let m = Member::Qualified(q);
            denied.push(Denied {
                name: m.name(),
                via: "network.unix is empty".into(),
                from: Arc::clone(&from),
                action: seccomp::action_for(m, on_violation),
            });
        }
    }
    // Socket families and transports: only what the network mode needs.
    let mut policy = |q: Qualified, why: String| {
        let m = Member::Qualified(q);
        denied.push(Denied {
            name: m.name(),
            via: "network policy".into(),
            from: Arc::new(Provenance::Text(why)),
            action: seccomp::action_for(m, on_violation),
        });
    };
    for q in [
        Qualified::SocketOtherFamily,
        Qualified::SocketpairOtherFamily,
        Qualified::SocketNetlinkOther,
        Qualified::SocketInetOther,
    ] {
        policy(
            q,
            "every network mode: only Unix, IPv4, IPv6 and routing-netlink sockets, TCP and UDP"
                .into(),
        );
    }
    if network.mode == NetworkMode::Host && !network.connect.is_empty() {
        // Landlock's port rules see TCP's connect(2) only: UDP and TCP Fast Open would pass
        // around the `connect` list.
        for q in [
            Qualified::SocketUdp,
            Qualified::SendtoFastopen,
            Qualified::SendmsgFastopen,
            Qualified::SendmmsgFastopen,
        ] {
            policy(q, "network.connect narrows host mode to TCP ports, which UDP and TCP Fast Open would bypass".into());
        }
    }
    if network.mode == NetworkMode::Host && network.bind.is_empty() {
        // listen(2) on a socket that was never bound binds an ephemeral port without the
        // bind(2) that Landlock checks.
        let m = Member::Syscall("listen");
        if !denied.iter().any(|d| d.name == "listen") {
            denied.push(Denied {
                name: m.name(),
                via: "network policy".into(),
                from: Arc::new(Provenance::Text(
                    "network.bind is empty in host mode: nothing may listen".into(),
                )),
                action: Action::Errno(libc::EPERM as u32),
            });
        }
    }
    let mut members: Vec<(Member, Action)> = observed
        .iter()
        .map(|&name| (Member::Syscall(name), Action::Notify))
        .collect();
    members.extend(denied.iter().map(|d| {
        let m = Qualified::from_name(d.name)
            .map(Member::Qualified)
            .unwrap_or(Member::Syscall(d.name));
        (m, d.action)
    }));
    let program = seccomp::compile(&members)?;
    if !kernel.seccomp_filter {
        gaps.push(Gap {
            what: "the seccomp filter (syscalls.deny, foreign-ABI refusal, Unix socket denial)"
                .into(),
            why: "this kernel does not support seccomp filters".into(),
            fix: Some("use a kernel built with CONFIG_SECCOMP_FILTER".into()),
        });
    }
    denied.sort_by(|a, b| a.name.cmp(b.name));
    lifted.sort_by(|a, b| a.name.cmp(b.name));
    Ok(Seccomp {
        on_violation,
        instructions: program.len(),
        denied,
        lifted,
        foreign_abi: "refused (ENOSYS): i386 int 0x80, x32 and syscalls newer than mcpcell knows",
        program,
    })
}

fn build_landlock(kernel: &Kernel, network: &Network, gaps: &mut Vec<Gap>) -> Landlock {
    let abi = kernel.landlock_abi;
    if abi == 0 {
        gaps.push(Gap {
            what: "Landlock filesystem rules (the second layer under the sandbox's view: the view still holds only the granted paths, read-only and no-exec as granted, but the directories leading to them can be listed, and the private /tmp, /dev/shm and /proc are open whatever the profile grants)".into(),
            why: format!("Landlock is {}", kernel.landlock_status),
            fix: None,
        });
    } else {
        if abi < 3 {
            gaps.push(Gap {
                what: "truncation limits (a readable file could be truncated)".into(),
                why: format!("they need Landlock ABI 3 (Linux 6.2); this kernel has ABI {abi}"),
                fix: None,
            });
        }
        if abi < 5 {
            gaps.push(Gap {
                what: "ioctl limits on device files".into(),
                why: format!("they need Landlock ABI 5 (Linux 6.10); this kernel has ABI {abi}"),
                fix: None,
            });
        }
    }
    let labi = landlock::ABI::from(abi);
    let handled = <landlock::AccessFs as landlock::Access>::from_all(labi)
        .iter()
        .map(|a| format!("{a:?}"))
        .collect();
    let mut scopes = Vec::new();
    if abi >= 6 {
        scopes.extend(["abstract-unix-socket", "signal"]);
    }
    Landlock {
        abi,
        handled,
        tcp_rules: network.mode == NetworkMode::Host && abi >= 4,
        scopes,
    }
}

fn build_namespaces(kernel: &Kernel, network: &Network) -> Namespaces {
    let mut flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWCGROUP;
    let mut kinds = vec!["mount", "pid", "ipc", "uts", "cgroup"];
    if network.mode != NetworkMode::Host {
        flags |= libc::CLONE_NEWNET;
        kinds.push("network");
    }
    let user = !kernel.privileged;
    if user {
        flags |= libc::CLONE_NEWUSER;
        kinds.insert(0, "user");
    }
    Namespaces {
        user,
        kinds,
        clone_flags: flags,
    }
}

fn build_caps(profile: &Profile) -> Capabilities {
    let mut keep = Vec::new();
    let mut mask = 0u64;
    for e in &profile.capabilities {
        if let Some(c) = crate::profile::validate::capability(&e.value) {
            if mask & c.bitmask() == 0 {
                keep.push(c.to_string());
            }
            mask |= c.bitmask();
        }
    }
    Capabilities { keep, mask }
}

/// The rlimits, and `limits.processes` as a pids cgroup for root. A limit above the hard
/// limit is lowered to it: stricter, not weaker, so a note (shown by `--dry-run`).
fn build_limits(
    profile: &Profile,
    host: &Host,
    gaps: &mut Vec<Gap>,
    notes: &mut Vec<String>,
) -> (Vec<Limit>, Option<u64>) {
    let l = &profile.limits;
    let mut out = Vec::new();
    let hard = host.probes.hard_limit;
    let mut push = |name, resource, value: u64, nix_res| {
        let h = hard(nix_res);
        let v = if value > h {
            notes.push(format!(
                "limits.{name} = {value} is above this process's hard limit {h}; {h} applies"
            ));
            h
        } else {
            value
        };
        out.push(Limit {
            name,
            resource,
            value: v,
        });
    };
    use nix::sys::resource::Resource;
    if let Some(e) = &l.open_files {
        push(
            "open_files",
            libc::RLIMIT_NOFILE,
            e.value,
            Resource::RLIMIT_NOFILE,
        );
    }
    if let Some(e) = &l.processes {
        push(
            "processes",
            libc::RLIMIT_NPROC,
            e.value,
            Resource::RLIMIT_NPROC,
        );
    }
    if let Some(e) = &l.file_size {
        push(
            "file_size",
            libc::RLIMIT_FSIZE,
            e.value,
            Resource::RLIMIT_FSIZE,
        );
    }
    if l.core_dumps.as_ref().is_none_or(|e| !e.value) {
        out.push(Limit {
            name: "core_dumps",
            resource: libc::RLIMIT_CORE,
            value: 0,
        });
    }
    // Queued signals are counted per user, the sandbox's with those of the user's other
    // programs, up to each receiver's RLIMIT_SIGPENDING: a server that queued the user's
    // whole allowance to itself left none for the host (sigqueue, POSIX timers and AIO
    // failed with EAGAIN there until it exited).
    out.push(Limit {
        name: "pending_signals",
        resource: libc::RLIMIT_SIGPENDING,
        value: PENDING_SIGNALS.min(hard(Resource::RLIMIT_SIGPENDING)),
    });
    let mut cgroup = None;
    if let Some(e) = &l.processes {
        if host.kernel.euid == 0 {
            if (host.probes.pids_cgroup)() {
                cgroup = Some(e.value);
            } else {
                gaps.push(Gap {
                    what: "limits.processes for root".into(),
                    why: "the kernel does not apply RLIMIT_NPROC to uid 0, and no cgroup hierarchy with the pids controller is mounted".into(),
                    fix: Some("mount the pids cgroup controller, or run mcpcell as an ordinary user".into()),
                });
            }
        }
    }
    (out, cgroup)
}

/// The signals a sandbox's processes may have queued at once (`RLIMIT_SIGPENDING`; the
/// kernel's default is in the tens of thousands, counted for all of a user's processes).
pub const PENDING_SIGNALS: u64 = 1024;

/// `limits.state_size`: a state directory already over it is refused before the launch (a
/// dry run only reports it); supervise keeps measuring while the server runs.
fn build_state_size(
    profile: &Profile,
    state_dir: Option<&Path>,
    dry_run: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<u64>, PlanError> {
    let Some(e) = &profile.limits.state_size else {
        return Ok(None);
    };
    let Some(dir) = state_dir else {
        warnings.push(format!(
            "{}: limits.state_size has no effect: the profile does not use ${{STATE_DIR}}",
            e.origin
        ));
        return Ok(None);
    };
    match crate::statesize::check(dir, e.value) {
        Ok(_) => Ok(Some(e.value)),
        Err(err) if dry_run => {
            warnings.push(format!("{err}: the launch would be refused"));
            Ok(Some(e.value))
        }
        Err(err) => Err(err.into()),
    }
}

/// `limits.memory`: a memory cgroup where one can be had. Without one the limit is a gap
/// (fail closed); with --best-effort each process gets RLIMIT_DATA instead (not RLIMIT_AS:
/// V8 and the JVM reserve far more address space than they use, and would not start).
fn build_memory(
    profile: &Profile,
    host: &Host,
    limits: &mut Vec<Limit>,
    gaps: &mut Vec<Gap>,
) -> Option<MemoryLimit> {
    let entry = profile.limits.memory.as_ref()?;
    let bytes = entry.value;
    match (host.probes.memory_cgroup)(host.kernel.euid) {
        Ok(home) => Some(MemoryLimit {
            bytes,
            cgroup: true,
            how: home.describe(),
        }),
        Err(missing) => {
            gaps.push(Gap {
                what: "limits.memory".into(),
                why: format!(
                    "set at {}, but there is no memory cgroup for this user: {}; with --best-effort only RLIMIT_DATA applies, per process (heap and private writable mappings; not the sandbox as a whole, not shared memory or page cache)",
                    entry.origin, missing.why
                ),
                fix: Some(missing.fix),
            });
            limits.push(Limit {
                name: "memory_per_process",
                resource: libc::RLIMIT_DATA,
                value: bytes,
            });
            Some(MemoryLimit {
                bytes,
                cgroup: false,
                how: "RLIMIT_DATA per process only (no memory cgroup)".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests;
