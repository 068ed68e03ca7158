//! The parent side of a launch: clone the sandbox, learn whether the server started, then
//! wait, passing signals on, and exit with the server's status.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{debug, info, warn};

mod live;
mod relay;
pub(crate) mod terminal;
mod unmade;

use crate::cgroup::{self, SandboxCgroup};
use crate::plan::Plan;
use crate::plan::tier::Facts;
use crate::sandbox::channel::Channels;
use crate::sandbox::{self, FORWARDED, Failure, Isolation, Prepared, Step};

#[derive(Debug, Error)]
pub enum LaunchError {
    #[error(transparent)]
    Prepare(#[from] sandbox::prepare::PrepareError),
    #[error("failed to set up the relay that keeps the terminal from the server{}", out_of_threads(.0))]
    Terminal(#[source] std::io::Error),
    #[error(
        "failed to set up the sandbox's cgroup (it enforces limits.memory, and limits.processes for root); `mcpcell doctor` says what this user can have, and --best-effort starts the server without it"
    )]
    Cgroup(#[source] std::io::Error),
    #[error(
        "failed to create the sandbox's namespaces ({kinds}); `mcpcell doctor` shows what this system allows, and --best-effort starts the server without them"
    )]
    Namespaces {
        kinds: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", tier_refusal(.0))]
    Tier(Box<crate::plan::tier::Tier>),
    #[error("failed to create the sandbox's private temporary directory")]
    PrivateTmp(#[source] std::io::Error),
    #[error("failed to compile the namespace-free tier's seccomp filter")]
    TierSeccomp(#[source] crate::seccomp::CompileError),
    #[error("failed to create a pipe to the sandbox")]
    Pipe(#[source] nix::Error),
    #[error("failed to start the egress proxy{}", out_of_threads(.0))]
    Proxy(#[source] std::io::Error),
    #[error("failed to start a thread of mcpcell's{}", out_of_threads(.0))]
    Thread(#[source] std::io::Error),
    #[error("an observe-mode plan was launched without an observer")]
    NoObserver,
    #[error("{}: {}{}", failure.step.describe(), std::io::Error::from_raw_os_error(failure.errno), hint(failure, what.as_deref()))]
    Child {
        failure: Failure,
        what: Option<String>,
    },
}

impl LaunchError {
    pub fn exit_code(&self) -> i32 {
        match self {
            LaunchError::Child { failure, .. } if failure.step == Step::Exec => {
                if failure.errno == libc::ENOENT {
                    127
                } else {
                    126
                }
            }
            _ => 125,
        }
    }
}

/// What to tell of a thread that could not be created (`EAGAIN`: a process limit).
fn out_of_threads(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EAGAIN) => {
            " (no thread could be created: this user's process limit, `ulimit -u`, or a cgroup's pids.max is reached; the sandbox was stopped)"
        }
        _ => "",
    }
}

fn tier_refusal(t: &crate::plan::tier::Tier) -> String {
    let mut s = format!(
        "namespaces are refused here ({}), and the {} tier cannot keep every promise, so the server was not started:",
        t.why, t.name
    );
    let common = crate::plan::tier::COMMON_FIX;
    for l in &t.losses {
        s.push_str(&format!("\n  - {}: {}", l.what, l.why));
        if !l.acceptable {
            s.push_str(" [refused even with --best-effort]");
        }
        if let Some(fix) = l.fix.as_deref().filter(|f| *f != common) {
            s.push_str(&format!(" ({fix})"));
        }
    }
    s.push_str(&format!("\nto keep them: {common}"));
    if t.losses.iter().all(|l| l.acceptable) {
        s.push_str("; --best-effort accepts these losses; `mcpcell run --dry-run` shows the tier layer by layer");
    }
    s
}

fn hint(f: &Failure, what: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(w) = what {
        s.push_str(&format!(" ({w})"));
    }
    let tip = match (f.step, f.errno) {
        (Step::Setgroups | Step::UidMap | Step::GidMap, _) => {
            "; this system restricts unprivileged user namespaces (for example AppArmor's kernel.apparmor_restrict_unprivileged_userns); see `mcpcell doctor`"
        }
        (Step::MountProc, libc::EPERM) => {
            "; a fresh /proc can only be mounted where the host's /proc is fully visible, which is often not the case inside containers"
        }
        (Step::Exec, libc::ENOENT) => {
            "; inside the sandbox the command or its interpreter was not found"
        }
        (Step::Exec, libc::EACCES | libc::EPERM) => {
            "; the sandbox denied it: the command, its #! interpreter or its libraries are not granted read+exec (see `mcpcell run --dry-run`)"
        }
        _ => "",
    };
    s.push_str(tip);
    s
}

/// fork(2) with namespace flags: the child gets a copy of the address space and continues
/// from the call, as with fork.
fn clone_process(flags: libc::c_int) -> std::io::Result<libc::pid_t> {
    // SAFETY: without CLONE_VM and with a null stack, clone behaves like fork. mcpcell is
    // single-threaded here, so the child inherits no lock held by another thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as libc::pid_t)
    }
}

/// Clones the sandbox's process here ([`clone_process`]), which runs `enter` (and does not
/// return from it).
#[inline(always)]
fn clone_here(flags: libc::c_int, enter: &mut impl FnMut()) -> std::io::Result<libc::pid_t> {
    match clone_process(flags) {
        Ok(0) => {
            enter();
            // SAFETY: not reached: `enter` does not return.
            unsafe { libc::_exit(125) }
        }
        r => r,
    }
}

/// How long mcpcell waits, once the sandbox has ended, for the rest of the server's output
/// to reach the terminal, and for the stderr relay's thread to relay the rest of its stderr.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// How long the namespace-free tier's init has to kill the server's tree and leave, once
/// told to, before it is killed itself (its `kill_tree` gives up after about a second).
const TREE_KILL: Duration = Duration::from_secs(2);

/// How long after the stderr relay's thread starts, when the launch's pages were given back
/// before, the pages its start brought in are given back too: time to relay the server's
/// first words (the thread then waits in `read`). The server has run for longer than
/// [`crate::residency::AFTER`] by then, so no short command pays for it.
const RELAY_SETTLE: Duration = Duration::from_millis(20);

struct Spawned {
    pid: libc::pid_t,
    /// The namespace-free tier's private temporary directory, removed after the server.
    _tmp: Option<sandbox::tier::PrivateTmp>,
    /// The enforcement tier: `namespaces`, or `namespace-free`.
    tier: &'static str,
    _cgroup: Option<SandboxCgroup>,
    /// What serves the sandbox: the proxy, the observer, the relays.
    attached: Attached,
}

/// The thread that answers an observe-mode sandbox's notifications.
struct Observer {
    thread: std::thread::JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

/// Watches the server's stderr while mcpcell relays it, and is asked what to tell the user
/// if the server fails.
pub trait StderrWatch: Send {
    /// One line the server wrote, without its line break (long lines are cut at 4 KiB).
    fn line(&mut self, line: &str);
    /// What to say after the server exited with `code`, one message per entry.
    fn report(&self, plan: &Plan, code: i32) -> Vec<String>;
    /// What to say now, while the server runs, about what it reported so far and was not
    /// told yet (asked after each line once the server has started).
    fn live(&mut self, _plan: &Plan) -> Vec<String> {
        Vec::new()
    }
    /// The launch failed and is tried again (the namespace-free tier): a fresh start.
    fn restart(&mut self) {}
}

/// Answers an observe-mode sandbox's notifications: it gets mcpcell's end of the channel
/// and runs until the flag is set (after the server has exited).
pub type Observe = Box<dyn FnOnce(OwnedFd, Arc<AtomicBool>) + Send>;

/// What a command adds to a launch; the launch itself names no command.
#[derive(Default)]
pub struct Plugins {
    /// Watches the server's stderr (which then passes through mcpcell).
    pub stderr: Option<Box<dyn StderrWatch>>,
    /// Serves an observe-mode plan's notifications (required by such a plan).
    pub observe: Option<Observe>,
    /// The sandbox's namespaces, being made while mcpcell plans (`crate::netns`).
    pub netns: Option<crate::netns::Ahead>,
}

/// How a launch ended.
pub struct Outcome {
    /// The server's exit status as `mcpcell run` reports it.
    pub code: i32,
    pub proxy: Option<crate::proxy::Proxy>,
}

/// Starts the sandbox and the server with the command's plug-ins, waits for the server, and
/// returns how it ended.
pub fn launch(
    mut plan: Plan,
    stop_timeout: Duration,
    mut plugins: Plugins,
) -> Result<Outcome, LaunchError> {
    let forwarded_and_chld: Vec<libc::c_int> =
        FORWARDED.iter().copied().chain([libc::SIGCHLD]).collect();
    let block = sandbox::sigset(&forwarded_and_chld);
    // SAFETY: a zeroed sigset is a valid out-parameter.
    let mut original: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid set pointers.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &block, &mut original) };

    // The watcher judges what the server reports while it runs, with the plan it gets
    // once the server has started.
    let handed_over = Arc::new(std::sync::OnceLock::new());
    if let Some(inner) = plugins.stderr.take() {
        plugins.stderr = Some(Box::new(live::Live {
            inner,
            plan: Arc::clone(&handed_over),
            waited: false,
        }));
    }
    // Taken before anything can take long: the client that started mcpcell.
    let client = Client::watch();
    // Set up before the server starts, so that nothing it makes goes unseen.
    let unmade = unmade::prepare(&plan.filesystem.unmade);
    let nested_before = nested_git_dirs(&plan.filesystem.git_dirs);
    let launched = std::time::SystemTime::now();
    let spawned = spawn(&plan, &original, &mut plugins);
    // What runs from here on (hints, state-size checks, reports at exit) looks paths up anew.
    crate::paths::forget();
    let mut spawned = spawned?;
    info!(
        target: "mcpcell",
        event = "started",
        profile = %plan.profile.name,
        command = %plan.command.path.display(),
        pid = spawned.pid,
        tier = spawned.tier,
        namespaces = %if spawned.tier == "namespaces" { plan.namespaces.kinds.join(",") } else { String::new() },
        landlock_abi = plan.landlock.abi,
        seccomp_rules = plan.seccomp.denied.len(),
        "server started"
    );
    // The plan's descriptors are no longer needed; the rest answers questions at exit.
    for r in &mut plan.filesystem.rules {
        r.fd = None;
    }
    plan.seccomp.program = Vec::new();
    let plan = Arc::new(plan);
    let _ = handed_over.set(Arc::clone(&plan));
    release_stdio();

    let state_watch = match (&plan.state_dir, plan.state_size) {
        (Some(dir), Some(limit)) => crate::statesize::watch(dir, limit, spawned.pid),
        _ => None,
    };
    let unmade_watch = unmade.map(|u| u.start(spawned.pid));
    let code = wait(
        spawned.pid,
        &forwarded_and_chld,
        stop_timeout,
        spawned.attached.stderr.as_mut(),
        spawned.attached.alive.take(),
        client,
    );
    drop(state_watch);
    if spawned.tier != "namespaces" {
        kill_adopted();
    }
    if let Some(w) = unmade_watch {
        w.finish();
    }
    if let Some(o) = spawned.attached.observer {
        o.stop.store(true, Ordering::Relaxed);
        let _ = o.thread.join();
    }
    // The sandbox is gone, and with it the last writer of the terminal's pipe: what the
    // server wrote last reaches the terminal before mcpcell exits.
    if let Some(relay) = spawned.attached.stdout {
        if !relay.finish(OUTPUT_DRAIN) {
            warn!(target: "mcpcell", "the server's output to the terminal did not end within {OUTPUT_DRAIN:?} of the sandbox's end: a process it started still holds it; not waiting for it");
        }
    }
    if let Some(relay) = spawned.attached.stderr.take() {
        let (watch, ended) = relay.finish(OUTPUT_DRAIN);
        if !ended {
            warn!(target: "mcpcell", "the server's stderr did not end within {OUTPUT_DRAIN:?} of the sandbox's end: a process it started still holds it; not waiting for it");
        }
        for h in watch.map(|w| w.report(&plan, code)).unwrap_or_default() {
            say!("mcpcell: hint: {h}");
        }
    }
    made_a_repository(&plan.filesystem.no_repository);
    made_nested_git_dirs(&plan.filesystem.git_dirs, &nested_before);
    made_in_gitlinks(&plan.filesystem.git_dirs, launched);
    prompt_text(&plan.filesystem.git_dirs);
    if let Some(p) = &spawned.attached.proxy {
        for line in p.summary() {
            info!(target: "mcpcell", event = "proxy_summary", "proxy summary: {line}");
        }
    }
    info!(target: "mcpcell", event = "exited", status = code, "server exited with status {code}");
    Ok(Outcome {
        code,
        proxy: spawned.attached.proxy,
    })
}

fn spawn(
    plan: &Plan,
    original: &libc::sigset_t,
    plugins: &mut Plugins,
) -> Result<Spawned, LaunchError> {
    let request = cgroup::Request {
        pids: plan.pids_cgroup,
        memory: plan.memory.as_ref().filter(|m| m.cgroup).map(|m| m.bytes),
    };
    let cgroup = match request.pids.is_some() || request.memory.is_some() {
        true => match SandboxCgroup::create(&request) {
            Ok(c) => Some(c),
            Err(e) if plan.best_effort => {
                warn!(target: "mcpcell", "--best-effort: the sandbox's cgroup could not be set up, so limits.memory and (for root) limits.processes are not enforced: {e}");
                None
            }
            Err(e) => return Err(LaunchError::Cgroup(e)),
        },
        false => None,
    };
    let procs: Vec<std::os::fd::RawFd> = cgroup
        .iter()
        .flat_map(|c| c.procs.iter().map(|f| f.as_raw_fd()))
        .collect();
    match start(
        plan,
        Isolation::Full,
        procs.clone(),
        original,
        plugins,
        &|_| Ok(()),
        None,
    ) {
        Ok((pid, a)) => Ok(Spawned {
            pid,
            _tmp: None,
            tier: "namespaces",
            _cgroup: cgroup,
            attached: a,
        }),
        Err(e) => {
            // Refused namespaces: the namespace-free tier (crate::plan::tier), which says
            // what enforces each promise and what it cannot keep.
            let Some(why) = refused_namespaces(&e) else {
                return Err(e);
            };
            let tier = crate::plan::tier::namespace_free(&Facts::of(plan), &why);
            for line in tier.lines() {
                info!(target: "mcpcell", event = "tier", "{line}");
            }
            let refused = tier.losses.iter().any(|l| !l.acceptable);
            if refused || (!tier.losses.is_empty() && !plan.best_effort) {
                return Err(LaunchError::Tier(Box::new(tier)));
            }
            for l in &tier.losses {
                warn!(target: "mcpcell", "--best-effort: NOT enforced without namespaces: {}: {}", l.what, l.why);
            }
            let tmp = sandbox::tier::PrivateTmp::create().map_err(LaunchError::PrivateTmp)?;
            let program = match plan.kernel.seccomp_filter {
                true => Some(
                    crate::plan::tier::seccomp_program(plan).map_err(LaunchError::TierSeccomp)?,
                ),
                false => None,
            };
            let abi = landlock::ABI::from(plan.kernel.landlock_abi);
            let tier_setup = |prepared: &mut Prepared| -> Result<(), LaunchError> {
                prepared.use_private_tmp(tmp.path(), abi)?;
                if let Some(p) = &program {
                    prepared.seccomp = Some(p.clone());
                }
                Ok(())
            };
            // What outlives the init (killed by something it could not stop) comes to
            // mcpcell, which kills it ([`kill_adopted`]), instead of to the host's init.
            // SAFETY: a flag of this process.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
            let (pid, a) = start(
                plan,
                Isolation::NoNamespaces,
                procs,
                original,
                plugins,
                &tier_setup,
                Some(tmp.path()),
            )?;
            Ok(Spawned {
                pid,
                _tmp: Some(tmp),
                tier: tier.name,
                _cgroup: cgroup,
                attached: a,
            })
        }
    }
}

/// Why a failed launch means that namespaces are refused here, so that the namespace-free
/// tier applies: the clone was refused (a container's seccomp profile, no user namespaces
/// left or allowed), or the namespaces were made but setting them up was (Ubuntu's AppArmor
/// restriction leaves the user namespace without capabilities; a container's /proc cannot be
/// mounted again). Anything else (out of processes, a grant that cannot be bound) is not.
fn refused_namespaces(e: &LaunchError) -> Option<String> {
    let refused = |errno: Option<i32>| {
        matches!(
            errno,
            Some(libc::EPERM | libc::EACCES | libc::EINVAL | libc::ENOSPC | libc::EUSERS)
        )
    };
    match e {
        LaunchError::Namespaces { kinds, source } if refused(source.raw_os_error()) => {
            Some(format!("creating the {kinds} namespaces failed: {source}"))
        }
        LaunchError::Child { failure, .. }
            if matches!(
                failure.step,
                Step::Setgroups
                    | Step::UidMap
                    | Step::GidMap
                    | Step::MountPrivate
                    | Step::MountProc
                    | Step::Loopback
            ) && matches!(failure.errno, libc::EPERM | libc::EACCES) =>
        {
            Some(format!(
                "the namespaces were created, but setting them up was refused: {e}"
            ))
        }
        _ => None,
    }
}

/// A started sandbox: its pid, and what serves it.
type Started = (libc::pid_t, Attached);

/// Creates the pipes and socketpairs to the sandbox, prepares the plan with them, clones the
/// sandbox and waits until the server has been executed (or a step failed).
fn start(
    plan: &Plan,
    isolation: Isolation,
    procs: Vec<std::os::fd::RawFd>,
    original: &libc::sigset_t,
    plugins: &mut Plugins,
    // What the namespace-free tier changes in the prepared sandbox.
    adjust: &dyn Fn(&mut Prepared) -> Result<(), LaunchError>,
    // The namespace-free tier's private temporary directory.
    tmp: Option<&std::path::Path>,
) -> Result<Started, LaunchError> {
    let proxy_cfg = plan.network.proxy.as_ref();
    // Without namespaces the proxy listens on the host's loopback and the server reaches it
    // only through mcpcell's supervisor of its connects (crate::netguard).
    let guarded = match (proxy_cfg, isolation) {
        (Some(cfg), Isolation::NoNamespaces) if plan.observed.is_empty() => {
            Some(guarded_proxy(cfg.proxy_port).map_err(LaunchError::Proxy)?)
        }
        _ => None,
    };
    // Without namespaces mcpcell also makes the server's metadata changes on files it may
    // write (crate::netguard::meta): the filter's listener is mcpcell's in every network mode.
    let listens = guarded.is_some()
        || (isolation == Isolation::NoNamespaces && crate::plan::tier::supervises_metadata(plan));
    let (status_r, status_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(LaunchError::Pipe)?;
    // A terminal or a host file never reaches the server (crate::supervise::terminal): stdin
    // and stdout that are become pipes that mcpcell relays, and so does stderr, which mcpcell
    // also relays when it watches it for denials. A device is opened anew on a read-only
    // mount, except where the namespace-free tier's supervisor refuses its metadata changes.
    let devices = if isolation == Isolation::Full && plan.granted_view {
        if plugins
            .netns
            .as_ref()
            .is_some_and(crate::netns::Ahead::refused)
        {
            // The namespaces were refused to the maker, so this attempt will be refused too
            // (the namespace-free tier follows), and a device's copy dropped unattached
            // would cost a launch an RCU grace period (bench/ANALYSIS.md §1.36). Relayed,
            // should the sandbox start after all.
            terminal::Devices::Relay
        } else {
            terminal::Devices::Reopen
        }
    } else if isolation == Isolation::NoNamespaces && crate::plan::tier::supervises_metadata(plan) {
        terminal::Devices::Pass
    } else {
        terminal::Devices::Relay
    };
    let mut terminal = terminal::TerminalPipes::new(devices, plugins.stderr.is_some())
        .map_err(LaunchError::Terminal)?;
    let stderr_tty = terminal::is_terminal(std::io::stderr());
    let stderr_pipe = if plugins.stderr.is_some() || terminal.stderr_relayed {
        Some(nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(LaunchError::Pipe)?)
    } else {
        None
    };
    let (alive_r, alive_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(LaunchError::Pipe)?;
    let new_pair = || sandbox::channel::pair().map_err(LaunchError::Pipe);
    let channel_pair = proxy_cfg
        .filter(|_| isolation == Isolation::Full)
        .map(|_| new_pair())
        .transpose()?;
    let observe_pair = (!plan.observed.is_empty() || listens)
        .then(new_pair)
        .transpose()?;
    let theirs = |pair: &Option<(OwnedFd, OwnedFd)>| pair.as_ref().map(|p| p.1.as_raw_fd());
    let channels = Channels {
        stdio: [
            terminal.server[0].as_ref().map(|f| f.as_raw_fd()),
            terminal.server[1].as_ref().map(|f| f.as_raw_fd()),
            theirs(&stderr_pipe).or(terminal.server[2].as_ref().map(|f| f.as_raw_fd())),
        ],
        device_copies: terminal.copies(),
        proxy: theirs(&channel_pair),
        observe: theirs(&observe_pair),
    };
    let mut prepared = Prepared::new(plan, isolation, procs, channels)?;
    adjust(&mut prepared)?;
    if listens {
        // The sandbox hands its seccomp listener over as observe mode does.
        prepared.observe_channel = theirs(&observe_pair);
    }
    // Waits for the maker to have made the network namespace (and for an ordinary user the
    // user namespace): it clones the sandbox when the clone would make them.
    let wants_net = isolation == Isolation::Full && prepared.clone_flags & libc::CLONE_NEWNET != 0;
    let maker = plugins
        .netns
        .take()
        .and_then(crate::netns::Ahead::finish)
        .filter(|m| {
            let (made, makes) = (m.made(), m.makes());
            wants_net
                && prepared.clone_flags & makes == makes
                && (made & libc::CLONE_NEWUSER != 0) == plan.namespaces.user
        });
    let flags = prepared.clone_flags;
    if let Some(m) = &maker {
        if plan.namespaces.user {
            debug!(target: "mcpcell", "the sandbox's user and network namespaces were made while planning");
        } else {
            debug!(target: "mcpcell", "the sandbox's network namespace was made while planning");
        }
        // The maker is in them, with loopback up, and clones the sandbox.
        prepared.clone_flags &= !m.made();
        prepared.loopback = false;
    } else if isolation == Isolation::Full
        && plan.namespaces.user
        && prepared.clone_flags & libc::CLONE_NEWNET != 0
        && crate::netns::spare_cpu()
    {
        // An ordinary user's network namespace belongs to the user namespace the clone
        // makes: the init has a helper make it while it mounts (`sandbox::nethelper`).
        debug!(target: "mcpcell", "the sandbox's network namespace is made beside its mounts");
        prepared.clone_flags &= !libc::CLONE_NEWNET;
        prepared.loopback = false;
        prepared.net_helper = true;
    }
    // The sandbox's process: a copy of this one, which lets go of mcpcell's ends and applies
    // the prepared sandbox. It never returns, so nothing here is dropped in it.
    let (status_r_fd, alive_w_fd) = (status_r.as_raw_fd(), alive_w.as_raw_fd());
    let ours: Vec<std::os::fd::RawFd> = channel_pair
        .iter()
        .chain(&observe_pair)
        .map(|(ours, _)| ours.as_raw_fd())
        .collect();
    let (status, alive) = (status_w.as_raw_fd(), alive_r.as_raw_fd());
    let clone_flags = prepared.clone_flags;
    // Set when the maker cloned nothing after all: the init then brings loopback up in the
    // network namespace its clone makes.
    let loopback = std::cell::Cell::new(false);
    let mut enter = || {
        // SAFETY: this process's copies of mcpcell's ends, owned by nothing that runs here.
        unsafe {
            libc::close(status_r_fd);
            libc::close(alive_w_fd);
            for &fd in &ours {
                libc::close(fd);
            }
        }
        terminal.close_relay_ends();
        prepared.loopback |= loopback.get();
        sandbox::run(&mut prepared, status, alive, original);
    };
    let cloned = match maker {
        Some(m) => match m.clone_sandbox(clone_flags, &mut enter) {
            Ok(Some((pid, waited))) => {
                if waited != 0 {
                    debug!(target: "mcpcell", "the sandbox's {} namespaces were made while the plan was not ready", ns_names(waited));
                }
                Ok(pid)
            }
            Ok(None) => {
                debug!(target: "mcpcell", "the host's mounts changed while mcpcell planned: the sandbox is cloned afresh, with every namespace");
                loopback.set(true);
                clone_here(flags, &mut enter)
            }
            Err(e) => Err(e),
        },
        None => clone_here(clone_flags, &mut enter),
    };
    let pid = match cloned {
        Ok(pid) => pid,
        Err(source) => {
            let kinds = ns_names(flags);
            return Err(LaunchError::Namespaces { kinds, source });
        }
    };
    drop(status_w);
    drop(alive_r);
    let ends = Ends {
        terminal,
        stderr_pipe,
        stderr_tty,
        observe_pair,
        channel_pair,
        guarded,
    };
    let attached = attach(plan, listens, tmp, plugins, ends);
    let mut attached = match attached {
        Ok(parts) => parts,
        Err(e) => {
            // No sandbox outlives a launch that failed: with the pipe's last writer gone its
            // init leaves, taking the server and everything it started along, and mcpcell
            // says why only once it is gone.
            drop(alive_w);
            reap(pid);
            return Err(e);
        }
    };
    // The write end stays open for as long as mcpcell lives; without namespaces the stop
    // timeout closes it (`wait`), so that the init kills the server's whole tree.
    match isolation {
        Isolation::NoNamespaces => attached.alive = Some(alive_w),
        Isolation::Full => std::mem::forget::<OwnedFd>(alive_w),
    }
    match read_failure(&status_r) {
        None => Ok((pid, attached)),
        Some(failure) => {
            reap(pid);
            // The sandbox is gone, and with it the stderr pipe's last writer: the watcher
            // comes back for a launch that tries again (the namespace-free tier).
            let watch = attached.stderr.and_then(|r| r.finish(OUTPUT_DRAIN).0);
            if let Some(mut watch) = watch {
                watch.restart();
                plugins.stderr = Some(watch);
            }
            Err(LaunchError::Child {
                failure,
                what: prepared.describe(failure),
            })
        }
    }
}

/// The supervisor's ends of the pipes and channels to a sandbox, and the namespace-free
/// tier's proxy listeners.
struct Ends {
    terminal: terminal::TerminalPipes,
    stderr_pipe: Option<(OwnedFd, OwnedFd)>,
    stderr_tty: bool,
    observe_pair: Option<(OwnedFd, OwnedFd)>,
    channel_pair: Option<(OwnedFd, OwnedFd)>,
    guarded: Option<Guarded>,
}

/// What serves a started sandbox.
struct Attached {
    /// The proxy, which starts once the sandbox has handed over its listeners.
    proxy: Option<crate::proxy::Proxy>,
    observer: Option<Observer>,
    /// The relay of the server's stdout to mcpcell's terminal, which ends with the sandbox.
    stdout: Option<terminal::OutputRelay>,
    /// The namespace-free tier: the write end of the pipe whose closing makes the sandbox's
    /// init kill everything the server started and leave (crate::sandbox::tier::kill_tree).
    alive: Option<OwnedFd>,
    /// The relay of the server's stderr, and the watcher it feeds.
    stderr: Option<relay::StderrRelay>,
}

/// The supervisor's side of a sandbox just cloned: the terminal relays, the stderr relay, the
/// observer (started before anything waits on the sandbox: its execve waits for an answer)
/// and the proxy. Inlined into its one caller: the launch's code stays where the launch
/// layout (`packaging/launch-order.txt`) puts `start`.
#[inline(always)]
fn attach(
    plan: &Plan,
    listens: bool,
    tmp: Option<&std::path::Path>,
    plugins: &mut Plugins,
    ends: Ends,
) -> Result<Attached, LaunchError> {
    let Ends {
        terminal,
        stderr_pipe,
        stderr_tty,
        observe_pair,
        channel_pair,
        guarded,
    } = ends;
    let proxy_cfg = plan.network.proxy.as_ref();
    let stdout = terminal.start().map_err(LaunchError::Terminal)?;
    let stderr = match stderr_pipe {
        Some((r, w)) => {
            drop(w);
            // Its thread starts when the server first writes there (supervise::relay).
            Some(relay::StderrRelay::new(
                r,
                stderr_tty,
                plugins.stderr.take(),
            ))
        }
        None => None,
    };
    // Started before anything waits on the sandbox: its execve waits for an answer.
    let observer = match observe_pair {
        Some((ours, theirs)) => {
            drop(theirs);
            let stop = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&stop);
            let serve = match listens {
                true => guard(
                    guarded.as_ref().map(|g| g.target.clone()),
                    writable(plan, tmp),
                ),
                false => plugins.observe.take().ok_or(LaunchError::NoObserver)?,
            };
            let thread = std::thread::Builder::new()
                .name("observe".into())
                .spawn(move || serve(ours, flag))
                .map_err(LaunchError::Thread)?;
            Some(Observer { thread, stop })
        }
        None => None,
    };
    let mut proxy = None;
    if let (Some(g), Some(cfg)) = (guarded, proxy_cfg) {
        proxy = Some(crate::proxy::start(cfg.clone(), g.listeners).map_err(LaunchError::Proxy)?);
    }
    if let (Some((ours, theirs)), Some(cfg)) = (channel_pair, proxy_cfg) {
        drop(theirs);
        // EOF here means the sandbox failed first; the report pipe says why.
        if let Some(listeners) = receive_listeners(&ours, &cfg.transparent_ports) {
            proxy = Some(crate::proxy::start(cfg.clone(), listeners).map_err(LaunchError::Proxy)?);
        }
    }
    Ok(Attached {
        proxy,
        observer,
        stdout,
        alive: None,
        stderr,
    })
}

/// Waits for the sandbox's init, a child of this process, to end.
fn reap(pid: libc::pid_t) {
    let mut st = 0;
    // SAFETY: waits for our own child.
    while unsafe { libc::waitpid(pid, &mut st, 0) } < 0
        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
    {}
}

/// The proxy of a launch without namespaces: its listeners on the host's loopback, and the
/// address the server knows it by.
struct Guarded {
    listeners: crate::proxy::Listeners,
    target: crate::netguard::Target,
}

/// Listeners on ephemeral ports of the host's loopback. The server cannot reach them by
/// itself: its connects to `127.0.0.1:shown_port` (the port in its HTTP_PROXY) are made by
/// mcpcell, to these, and the proxy serves only the connections mcpcell made (other local
/// users could reach the port). There is no DNS responder the server could reach (UDP is
/// refused) and no transparent listener: the socket the proxy requires for DNS is bound,
/// connected to itself (no other sender's datagram reaches it) and never used.
fn guarded_proxy(shown_port: u16) -> std::io::Result<Guarded> {
    let proxy = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    let dns = std::net::UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    dns.connect(dns.local_addr()?)?;
    let real = match proxy.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(_) => return Err(std::io::ErrorKind::InvalidData.into()),
    };
    let admitted = crate::netguard::Admitted::default();
    Ok(Guarded {
        listeners: crate::proxy::Listeners {
            proxy,
            dns,
            transparent: Vec::new(),
            admitted: Some(admitted.clone()),
        },
        target: crate::netguard::Target {
            shown: std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, shown_port),
            real,
            admitted,
        },
    })
}

/// Serves the sandbox's connect, listen (network mode proxy) and metadata notifications once
/// its listener arrives.
fn guard(
    target: Option<crate::netguard::Target>,
    writable: crate::netguard::meta::Writable,
) -> Observe {
    Box::new(move |channel, stop| {
        let Some(listener) =
            sandbox::channel::receive_fds(&channel).and_then(|v| v.into_iter().next())
        else {
            return;
        };
        drop(channel);
        crate::netguard::serve(listener, target, writable, stop);
    })
}

/// Tells of a `.git` the server made where git would look and found none at launch (see
/// [`crate::plan::runs_later::Protected::unrepositoried`]): what git runs there later is the
/// server's to choose.
fn made_a_repository(dirs: &[std::path::PathBuf]) {
    for d in dirs {
        let git = d.join(".git");
        if crate::plan::runs_later::holds_a_repository(d) {
            let git = if std::fs::symlink_metadata(&git).is_ok() {
                git
            } else {
                d.clone()
            };
            warn!(
                target: "mcpcell",
                event = "repository_made",
                "the server made {}, a git repository where there was none: git run in {} or beneath it (a shell prompt's `git status` too) runs what its configuration and hooks name, outside any sandbox. Look at its config and hooks, or remove it, before you run git there",
                crate::escape::path(&git),
                crate::escape::path(d)
            );
        }
    }
}

/// The worktrees' and submodules' git directories in `git_dirs` (`.git/worktrees/NAME`,
/// `.git/modules/NAME`).
/// At most [`MAX_NESTED`] a directory: thousands the server made cost every later launch
/// only that many.
fn nested_git_dirs(
    git_dirs: &[std::path::PathBuf],
) -> std::collections::HashSet<std::path::PathBuf> {
    let mut out = std::collections::HashSet::new();
    for g in git_dirs {
        for nested in ["worktrees", "modules"] {
            if let Ok(rd) = std::fs::read_dir(g.join(nested)) {
                out.extend(rd.flatten().take(MAX_NESTED).map(|e| e.path()));
            }
        }
    }
    out
}

/// The most entries of `.git/worktrees` or `.git/modules` looked at.
const MAX_NESTED: usize = 1024;

/// The most new ones named one by one at exit; the rest are counted.
const NESTED_NAMED: usize = 8;

/// Tells of a worktree's or a submodule's git directory the server made: git run in that
/// worktree or submodule takes its configuration and hooks from what the server wrote
/// there (its `commondir`, its `config`), which nothing kept read-only.
fn made_nested_git_dirs(
    git_dirs: &[std::path::PathBuf],
    before: &std::collections::HashSet<std::path::PathBuf>,
) {
    let mut made: Vec<std::path::PathBuf> = nested_git_dirs(git_dirs)
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    made.sort();
    tell_made(
        &made,
        "the git directory of a worktree or submodule: git run there (a shell prompt's `git status` too) reads the configuration and hooks the server chose, outside any sandbox. Look at its commondir, config and hooks, or remove it, before you run git in that worktree or submodule",
    );
}

/// Tells of what the server made, `what` said of each: the first [`NESTED_NAMED`] by name,
/// the rest counted.
fn tell_made(made: &[std::path::PathBuf], what: &str) {
    for d in made.iter().take(NESTED_NAMED) {
        warn!(
            target: "mcpcell",
            event = "repository_made",
            "the server made {}, {what}",
            crate::escape::path(d)
        );
    }
    if made.len() > NESTED_NAMED {
        warn!(
            target: "mcpcell",
            event = "repository_made",
            "and {} more such the server made",
            made.len() - NESTED_NAMED
        );
    }
}

/// Tells of a repository made during the run at a submodule's place (a gitlink in the
/// index, which the server may write): the user's plain `git status` goes into it and runs
/// what its configuration names. Only an index changed since the launch is read, and only
/// a `.git` born since then is told of.
fn made_in_gitlinks(git_dirs: &[std::path::PathBuf], launched: std::time::SystemTime) {
    use std::os::unix::fs::MetadataExt;
    // File times come from the kernel's coarse clock, a tick behind.
    let since = launched - Duration::from_millis(20);
    let changed = |m: &std::fs::Metadata| {
        std::time::UNIX_EPOCH
            + Duration::new(
                m.ctime().max(0) as u64,
                m.ctime_nsec().clamp(0, 999_999_999) as u32,
            )
    };
    let mut made = Vec::new();
    for g in git_dirs {
        if !std::fs::metadata(g.join("index")).is_ok_and(|m| changed(&m) >= since) {
            continue;
        }
        let top = crate::plan::runs_later::top_of(g, None);
        for p in crate::plan::runs_later::gitlinks(g)
            .into_iter()
            .take(MAX_NESTED)
        {
            let dot_git = top.join(p).join(".git");
            let Ok(m) = std::fs::symlink_metadata(&dot_git) else {
                continue;
            };
            if m.created().unwrap_or_else(|_| changed(&m)) >= since {
                made.push(dot_git);
            }
        }
    }
    tell_made(
        &made,
        "a git repository at a submodule's place in the index: a plain `git status` (a shell prompt's too) goes into it and runs what its configuration and hooks name, outside any sandbox. Look at it, or remove it and `git rm --cached` its place, before you run git there",
    );
}

/// Git's files a shell prompt prints (`__git_ps1`: the branch from `HEAD`, a rebase's
/// branch and step) hold what the server wrote, control characters included, which the
/// prompt writes to the terminal as they are (a clipboard write, a title, a cleared
/// screen). Told of when the server has exited.
fn prompt_text(git_dirs: &[std::path::PathBuf]) {
    const SHOWN: &[&str] = &[
        "HEAD",
        "rebase-merge/head-name",
        "rebase-merge/msgnum",
        "rebase-merge/end",
        "rebase-apply/head-name",
        "rebase-apply/next",
        "rebase-apply/last",
        "BISECT_START",
    ];
    for g in git_dirs {
        for name in SHOWN {
            let f = g.join(name);
            // Not text, or larger than a branch name: as suspect as control characters.
            let control = match crate::paths::read_regular(&f, 4096) {
                Ok(text) => text.chars().any(|c| c.is_control() && c != '\n'),
                Err(e) => e.kind() == std::io::ErrorKind::InvalidData,
            };
            if control {
                warn!(
                    target: "mcpcell",
                    event = "prompt_text",
                    "{} holds control characters, which a shell prompt that shows the branch (git's __git_ps1) writes to the terminal as they are: look at it (cat -v) before you enter that repository",
                    crate::escape::path(&f)
                );
            }
        }
    }
}

/// Where the server may change mode, owner and times without namespaces: its write grants
/// (the state directory among them when the profile uses it), its private temporary
/// directory, less its hidden paths and the read-only grants inside them. Canonical, as the kernel names an open file.
fn writable(plan: &Plan, tmp: Option<&std::path::Path>) -> crate::netguard::meta::Writable {
    use crate::plan::fs::Placement;
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    let grants = plan
        .filesystem
        .rules
        .iter()
        // As the tier grants them (crate::sandbox::prepare): host paths only, never the
        // private /tmp of the namespace tier, which here is not the host's.
        .filter(|r| r.rights.write && r.fd.is_some())
        .filter(|r| matches!(r.placement, Placement::Host | Placement::BoundIntoPrivate))
        .filter_map(|r| canonical(&r.path))
        .chain(tmp.and_then(canonical))
        .collect();
    let hidden = plan
        .filesystem
        .hide
        .iter()
        .map(|h| canonical(&h.path).unwrap_or_else(|| h.path.clone()))
        .collect();
    let read_only = plan
        .filesystem
        .rules
        .iter()
        .filter(|r| !r.rights.write && r.fd.is_some())
        .filter(|r| matches!(r.placement, Placement::Host | Placement::BoundIntoPrivate))
        .filter_map(|r| canonical(&r.path))
        .collect();
    crate::netguard::meta::Writable {
        grants,
        hidden,
        read_only,
    }
}

/// The proxy's listeners, as the sandbox sent them: proxy port, DNS, transparent ports.
fn receive_listeners(channel: &OwnedFd, ports: &[u16]) -> Option<crate::proxy::Listeners> {
    let mut owned = sandbox::channel::receive_fds(channel)?;
    if owned.len() != 2 + ports.len() {
        return None;
    }
    let transparent = owned
        .split_off(2)
        .into_iter()
        .zip(ports)
        .map(|(fd, &port)| (port, std::net::TcpListener::from(fd)))
        .collect();
    let dns = owned.pop()?;
    let proxy = owned.pop()?;
    Some(crate::proxy::Listeners {
        proxy: proxy.into(),
        dns: dns.into(),
        transparent,
        admitted: None,
    })
}

fn ns_names(flags: libc::c_int) -> String {
    let mut v = Vec::new();
    for (f, n) in [
        (libc::CLONE_NEWUSER, "user"),
        (libc::CLONE_NEWNS, "mount"),
        (libc::CLONE_NEWPID, "pid"),
        (libc::CLONE_NEWNET, "network"),
        (libc::CLONE_NEWIPC, "ipc"),
        (libc::CLONE_NEWUTS, "uts"),
        (libc::CLONE_NEWCGROUP, "cgroup"),
    ] {
        if flags & f != 0 {
            v.push(n);
        }
    }
    v.join(", ")
}

fn read_failure(fd: &OwnedFd) -> Option<Failure> {
    let mut buf = [0u8; Failure::SIZE];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(nix::Error::EINTR) => continue,
            Err(_) => break,
        }
    }
    if got == buf.len() {
        Failure::decode(&buf)
    } else {
        None
    }
}

/// mcpcell neither reads stdin nor writes stdout; once the server has them, mcpcell lets go of
/// its own copies so that the client sees EOF exactly when the server closes its stdout.
fn release_stdio() {
    if let Ok(null) = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        // SAFETY: dup2 onto the standard descriptors from a valid fd.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
}

/// The namespace-free tier, once its init is gone: mcpcell is a subreaper there, so a
/// process of the sandbox that outlived the init (which kills the whole tree as it leaves,
/// unless something killed it first) is mcpcell's child now. Each is killed and reaped,
/// round after round, until none is left (what one forks as it dies comes here too).
fn kill_adopted() {
    let me = std::process::id() as libc::pid_t;
    let mut killed = 0usize;
    for _ in 0..10_000 {
        let children = children_of(me);
        if children.is_empty() {
            break;
        }
        for &c in &children {
            // SAFETY: signals a child of this process.
            unsafe { libc::kill(c, libc::SIGKILL) };
        }
        killed += children.len();
        for _ in &children {
            // SAFETY: waits for any child of this process.
            unsafe { libc::waitpid(-1, std::ptr::null_mut(), 0) };
        }
    }
    // Whatever else ended meanwhile.
    // SAFETY: waits for any child without blocking.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    if killed > 0 {
        warn!(target: "mcpcell", "{killed} process(es) of the sandbox outlived its init; killed");
    }
}

/// The processes whose parent is `pid` (from `/proc/PID/stat`).
fn children_of(pid: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|st| {
                // The fields after the command name: state, then the parent.
                st.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// The MCP client: the process that started mcpcell with a pipe or a socket as its stdout.
/// Once it is gone (killed, even by SIGKILL, or crashed) nobody can talk to the server any
/// more, and a server that ignores the end of its input would otherwise outlive it: mcpcell
/// then stops the server as SIGTERM would. Not watched when stdout is a terminal, a file or
/// `/dev/null` (a person or a script, not a client), when mcpcell's parent is PID 1 (a
/// container's init, a daemon), or where `pidfd_open` is refused.
struct Client {
    pid: libc::pid_t,
    /// Readable once the client has exited; `None` when it was gone before it was watched.
    pidfd: Option<OwnedFd>,
}

impl Client {
    fn watch() -> Option<Client> {
        use nix::sys::stat::SFlag;
        // SAFETY: no arguments.
        let pid = unsafe { libc::getppid() };
        let mode = nix::sys::stat::fstat(std::io::stdout()).ok()?.st_mode;
        let kind = SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits());
        if pid <= 1 || !(kind == SFlag::S_IFIFO || kind == SFlag::S_IFSOCK) {
            return None;
        }
        // SAFETY: pidfd_open takes a pid and flags; the descriptor returned is new and ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: no arguments.
        let gone = unsafe { libc::getppid() } != pid;
        if fd < 0 {
            return gone.then_some(Client { pid, pidfd: None });
        }
        // SAFETY: a descriptor pidfd_open just returned.
        let pidfd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
        Some(Client {
            pid,
            pidfd: Some(pidfd),
        })
    }
}

/// Waits for the sandbox's PID 1, passing signals on. After SIGTERM, SIGINT or SIGHUP the
/// server has `stop_timeout` to exit before the sandbox is killed: with namespaces by
/// killing its init (PID 1 of its PID namespace, which takes every process in it along);
/// without them (`alive`, the liveness pipe's write end) by closing the pipe, on which the
/// init kills the server's whole tree and leaves, and killing the init only if it has not
/// left within [`TREE_KILL`].
///
/// Once the server has run [`crate::residency::AFTER`], the supervisor gives back the
/// launch's pages; a relay thread started after that gives back what its start brought in
/// once it has relayed the server's first words.
fn wait(
    pid: libc::pid_t,
    sigs: &[libc::c_int],
    stop_timeout: Duration,
    mut stderr: Option<&mut relay::StderrRelay>,
    mut alive: Option<OwnedFd>,
    mut client: Option<Client>,
) -> i32 {
    let waiter = Waiter::new(sandbox::sigset(sigs));
    if waiter.signals.is_none() {
        // Only signals can be waited for: the relay reads from the start.
        if let Some(r) = stderr.as_deref_mut() {
            r.start();
        }
    }
    let mut stop_deadline: Option<Instant> = None;
    // Whether the namespace-free tier's init was told to kill the tree (`alive` closed).
    let mut told_tree = false;
    // The launch's heap is mostly freed by now, in pieces between blocks still in use; their
    // pages go back at once (`malloc_trim` gives back the free pages inside the heap too).
    // SAFETY: no pointers.
    unsafe { libc::malloc_trim(0) };
    // A server that lives longer than a moment no longer needs the launch's pages.
    let mut release_at = Some(Instant::now() + crate::residency::AFTER);
    let mut released = false;
    // Whether the relay's thread was seen started: started after the release (a server
    // whose first words to stderr come late, as the memory server's do), its start brought
    // back pages that its wait for the next words does not use (creating the thread, the
    // start-up's constants and small functions it shares), and they are given back once
    // more, [`RELAY_SETTLE`] later.
    let mut relay_started = false;
    loop {
        let now = Instant::now();
        if !relay_started && stderr.as_deref().is_some_and(relay::StderrRelay::started) {
            relay_started = true;
            if released {
                release_at = Some(now + RELAY_SETTLE);
            }
        }
        let retry_at = stderr.as_deref().and_then(relay::StderrRelay::retry_at);
        let watched = stderr.as_deref().and_then(|r| r.watched(now));
        let until = [stop_deadline, release_at, retry_at]
            .into_iter()
            .flatten()
            .min();
        let client_fd = client
            .as_ref()
            .and_then(|c| c.pidfd.as_ref().map(|f| f.as_raw_fd()));
        let gone_already = client.as_ref().is_some_and(|c| c.pidfd.is_none());
        let wake = match gone_already {
            true => Wake::ClientGone,
            false => waiter.next(watched, client_fd, until),
        };
        let sig = match wake {
            Wake::Signal(sig) => sig,
            Wake::ClientGone => {
                let pid = client.take().map_or(0, |c| c.pid);
                warn!(target: "mcpcell", event = "client_gone", client = pid, "the client that started mcpcell (PID {pid}) is gone: stopping the server");
                if stop_deadline.is_some() {
                    continue;
                }
                libc::SIGTERM
            }
            Wake::Stderr(revents) => {
                if let Some(r) = stderr.as_deref_mut() {
                    r.ready(revents);
                }
                continue;
            }
            Wake::Idle => {
                let now = Instant::now();
                if release_at.is_some_and(|t| t <= now) {
                    crate::residency::release_launch_pages();
                    release_at = None;
                    released = true;
                }
                if stop_deadline.is_some_and(|t| t <= now) {
                    stop_deadline = None;
                    match alive.take() {
                        Some(pipe) => {
                            warn!(target: "mcpcell", "the server did not exit within {:?} of being asked to stop; killing it and everything it started", stop_timeout);
                            drop(pipe);
                            told_tree = true;
                            stop_deadline = Some(now + TREE_KILL);
                        }
                        None => {
                            if !told_tree {
                                warn!(target: "mcpcell", "the server did not exit within {:?} of being asked to stop; killing it", stop_timeout);
                            }
                            // SAFETY: signals our own child.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                        }
                    }
                }
                if retry_at.is_some_and(|t| t <= now) {
                    if let Some(r) = stderr.as_deref_mut() {
                        r.start();
                    }
                }
                continue;
            }
        };
        if sig == libc::SIGCHLD {
            let mut st = 0;
            // SAFETY: waits for our own child without blocking.
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            if r == pid {
                if let Some(code) = sandbox::exit_code(st) {
                    return code;
                }
            }
            continue;
        }
        info!(target: "mcpcell", event = "signal", signal = sig, "passing signal {sig} to the server");
        // SAFETY: signals our own child.
        unsafe { libc::kill(pid, sig) };
        if matches!(sig, libc::SIGTERM | libc::SIGINT | libc::SIGHUP) && stop_deadline.is_none() {
            // `--stop-timeout` is capped (cli::MAX_STOP_TIMEOUT); a deadline past what an
            // Instant holds is no deadline at all, so never overflow into a panic.
            let now = Instant::now();
            stop_deadline = Some(now.checked_add(stop_timeout).unwrap_or(now));
        }
    }
}

/// What wakes the supervisor.
enum Wake {
    /// One of the blocked signals it waits for.
    Signal(libc::c_int),
    /// The server's stderr pipe, which no thread reads yet, is ready (poll's `revents`).
    Stderr(libc::c_short),
    /// The client that started mcpcell has exited ([`Client`]).
    ClientGone,
    /// A deadline passed, or the wait was interrupted.
    Idle,
}

/// The supervisor's wait: its blocked signals, read from a signalfd, and the server's stderr
/// pipe while no thread reads it. Without a signalfd (none could be made) it waits for the
/// signals alone, as `sigtimedwait` does.
struct Waiter {
    set: libc::sigset_t,
    signals: Option<OwnedFd>,
}

impl Waiter {
    fn new(set: libc::sigset_t) -> Waiter {
        // SAFETY: a valid set; the descriptor returned is new and ours.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        // SAFETY: a descriptor signalfd just returned.
        let signals =
            (fd >= 0).then(|| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        Waiter { set, signals }
    }

    /// Waits until a signal, the pipe `stderr` (when given), the client's exit (`client`, a
    /// pidfd) or `until`. A pending signal is answered first, then the client, then the pipe.
    fn next(
        &self,
        stderr: Option<std::os::fd::RawFd>,
        client: Option<std::os::fd::RawFd>,
        until: Option<Instant>,
    ) -> Wake {
        let ts = until.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            }
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        let Some(signals) = &self.signals else {
            // SAFETY: a valid set and timespec (or none); no siginfo wanted.
            let sig = unsafe {
                match ts_ptr.is_null() {
                    true => libc::sigwaitinfo(&self.set, std::ptr::null_mut()),
                    false => libc::sigtimedwait(&self.set, std::ptr::null_mut(), ts_ptr),
                }
            };
            return if sig < 0 {
                Wake::Idle
            } else {
                Wake::Signal(sig)
            };
        };
        let mut fds = [
            libc::pollfd {
                fd: signals.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                // poll skips a negative descriptor.
                fd: stderr.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: client.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: three valid pollfd entries, a valid timespec (or none), no signal mask.
        let n = unsafe { libc::ppoll(fds.as_mut_ptr(), 3, ts_ptr, std::ptr::null()) };
        if n <= 0 {
            return Wake::Idle;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Some(sig) = sandbox::read_signal(signals.as_raw_fd()) {
                return Wake::Signal(sig);
            }
        }
        if fds[2].revents != 0 {
            return Wake::ClientGone;
        }
        match fds[1].revents {
            0 => Wake::Idle,
            revents => Wake::Stderr(revents),
        }
    }
}
