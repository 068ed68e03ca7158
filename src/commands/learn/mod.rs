//! `mcpcell learn`: run a server in observe mode and write the profile it needs.
//!
//! Observe mode keeps every namespace, the network mode, the seccomp deny list, the
//! capability drop and the limits of the base profile, but does not restrict files: Landlock
//! handles no filesystem rights, and the calls that open, execute, create, remove, rename or
//! link a path, or connect a Unix socket, are reported to mcpcell through seccomp user
//! notification ([`notify`]) and then proceed. Every `hide` mask of the base is applied, so
//! the secrets it names stay out of reach. In network mode proxy the proxy admits every name
//! and records it. When the server exits, what the base does not already allow becomes the
//! learned profile ([`record`], [`write`]).

pub mod notify;
pub mod record;
pub mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::cli::LearnArgs;
use crate::commands::Error;
use crate::commands::run::{init_logging, log_target};
use crate::escape;
use crate::hostspec::{DEFAULT_PORTS, split_host_port};
use crate::outfile::{OutFile, OutFileError};
use crate::plan::{self, Plan};
use crate::plural::plural;
use crate::profile::{Loader, NetworkMode, is_path};
use crate::vars::Vars;

/// Why `mcpcell learn` could not write its profile.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error(
        "there is no profile directory to write the learned profile to (HOME is not set); give one with -o FILE"
    )]
    NoProfileDir,
    #[error(
        "-o {} is a directory; give a file name such as {}/my-server.yaml",
        path.display(),
        path.display()
    )]
    OutputIsDir { path: PathBuf },
    #[error(
        "the learned profile {} would have the base's name `{name}` and extend itself; choose another file name with -o",
        path.display()
    )]
    BaseName { path: PathBuf, name: String },
    #[error(
        "{} holds the profile learned from another command ({other}); give this one a file of its own with -o FILE, or delete that file to replace it",
        path.display()
    )]
    OtherServer { path: PathBuf, other: String },
    #[error("-o {}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: OutFileError,
    },
    #[error(transparent)]
    Render(write::WriteError),
    #[error("failed to write the learned profile to {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: OutFileError,
    },
}

/// Where the learned profile goes without `-o`: the user's profile directory, so that it can
/// be used by name.
fn default_output(loader: &Loader, base: &str) -> Option<PathBuf> {
    // The user's own links on the way (a config directory kept elsewhere) are resolved here;
    // the profile is then written by its real path (see `outfile`).
    let dir = crate::plan::query::resolve_existing(loader.dirs().first()?);
    Some(dir.join(format!("learned-{base}.yaml")))
}

/// The name a profile file at `path` is known by.
fn profile_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "learned".into())
}

/// Hosts the proxy admitted that the base's allowlist does not, as `network.allow` entries.
fn new_hosts(base: &Plan, admitted: Vec<(String, u64)>) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for (dest, n) in admitted {
        let Some(split) = split_host_port(&dest) else {
            continue;
        };
        let Some(port) = split.port.and_then(|p| p.parse::<u16>().ok()) else {
            continue;
        };
        let host = split.host;
        let known = base
            .network
            .proxy
            .as_ref()
            .is_some_and(|c| c.admits(host, port));
        if known {
            continue;
        }
        let entry = allow_entry(host, port);
        match out.iter_mut().find(|(e, _)| *e == entry) {
            Some(e) => e.1 += n,
            None => out.push((entry, n)),
        }
    }
    out
}

/// The `network.allow` entry for `host:port`: the port only when it is not a default one,
/// an IPv6 address in brackets (which an entry needs).
fn allow_entry(host: &str, port: u16) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if DEFAULT_PORTS.contains(&port) {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// Runs the server in observe mode and writes the learned profile; returns the server's
/// exit status.
pub fn run(args: LearnArgs) -> Result<i32, Error> {
    // Grown while mcpcell has one thread: the observer's and the supervisor's come later
    // (crate::fdtable).
    crate::fdtable::grow(libc::STDERR_FILENO);
    let log_file = log_target(&args.supervise)?;
    let loader = Loader::from_env();
    // Every profile search directory exists before the plan is made, which masks it from
    // the server: one it made first could hold a profile of its own, which every later
    // launch would load. What mcpcell cannot create (`/etc` as an ordinary user), its server,
    // with the same user and fewer rights, cannot either. The user's own is private.
    for (i, dir) in loader.dirs().iter().enumerate() {
        use std::os::unix::fs::DirBuilderExt as _;
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(if i == 0 { 0o700 } else { 0o755 })
            .create(dir);
    }
    let host = plan::Host::probe()?;
    let mut req = args.sandbox.request(args.command.clone());
    req.start_anyway = args.supervise.best_effort;
    // What `run` would enforce with the base: grants are learned beyond it.
    let mut base_req = req.clone();
    base_req.dry_run = true;
    base_req.collect_gaps = true;
    let base = plan::build(&base_req, &loader, &host)?;
    init_logging(&args.supervise, log_file.as_ref(), &base)?;
    req.learn = true;
    let plan = plan::build(&req, &loader, &host)?;
    let (spec, _, _) = plan::choose_profile(&req, &loader);
    let extends = if is_path(&spec) {
        std::fs::canonicalize(&spec)
            .map(|p| p.display().to_string())
            .unwrap_or(spec)
    } else {
        spec
    };
    let Some(output) = args
        .output
        .clone()
        .or_else(|| default_output(&loader, &base.profile.name))
    else {
        return Err(LearnError::NoProfileDir.into());
    };
    // The default file names the base, not the server: one learned from another command is
    // another server's profile (a client entry may use it by name), never replaced unasked.
    if args.output.is_none() {
        let text = std::fs::read_to_string(&output).unwrap_or_default();
        if let Some((other, false)) = write::learned_from(&text, &plan.server_id) {
            return Err(LearnError::OtherServer {
                path: output,
                other,
            }
            .into());
        }
    }
    let output = std::env::current_dir()
        .map(|d| d.join(&output))
        .unwrap_or(output);
    if output.is_dir() {
        return Err(LearnError::OutputIsDir { path: output }.into());
    }
    if profile_name(&output) == base.profile.name {
        return Err(LearnError::BaseName {
            path: output,
            name: base.profile.name.clone(),
        }
        .into());
    }
    // Resolved now, before the server runs: it is written without following links, and never
    // inside a path the profile lets a server write (a profile there is refused anyway).
    let out = OutFile::new_creating_dirs(&output, 0o700).map_err(|source| LearnError::Output {
        path: output.clone(),
        source,
    })?;
    base.refuse_output("-o", &out)?;

    let proxy_note = if plan.network.mode == NetworkMode::Proxy {
        " Every host it contacts through the proxy is allowed and recorded too (private addresses excepted)."
    } else {
        ""
    };
    say!(
        "mcpcell: LEARNING: the server runs with the `{}` profile's namespaces, network mode, syscall filter and limits, but file, exec and Unix-socket access beyond it is ALLOWED and recorded, not denied.{proxy_note} Learn only with servers and inputs you trust that far. The profile is written to {} when the server exits.",
        base.profile.name,
        output.display()
    );
    for w in &plan.warnings {
        tracing::warn!(target: "mcpcell", "{w}");
    }

    let sink: notify::Sink = Arc::new(Mutex::new(Vec::new()));
    let command = plan.command.argv.clone();
    let server = plan.server_id.clone();
    let recorder = Arc::clone(&sink);
    let plugins = crate::supervise::Plugins {
        stderr: None,
        netns: None,
        observe: Some(Box::new(move |channel, stop| {
            notify::serve(channel, recorder, stop)
        })),
    };
    // A second's margin: the kernel stamps a link's change with a coarse clock.
    let since = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    let outcome = crate::supervise::launch(plan, args.supervise.stop_timeout(), plugins)?;
    let uses = std::mem::take(&mut *sink.lock().unwrap_or_else(|e| e.into_inner()));
    let vars = Vars::from_env("learn");
    let home = vars.get("HOME").ok().map(PathBuf::from);
    let learned = record::analyse(&uses, &base, home.as_deref(), since);

    let (admitted, refused) = outcome
        .proxy
        .as_ref()
        .map(|p| p.destinations())
        .unwrap_or_default();
    let hosts = new_hosts(&base, admitted);
    let mut var_list: Vec<(&'static str, PathBuf)> = Vec::new();
    if let Some(s) = &base.state_dir {
        var_list.push(("STATE_DIR", s.clone()));
    }
    if let Some(h) = &home {
        var_list.push(("HOME", h.clone()));
        if let Ok(cwd) = std::env::current_dir() {
            // The working directory only when it is a project of its own, not $HOME or above.
            if cwd.starts_with(h) && cwd != *h {
                var_list.push(("CWD", cwd));
            }
        }
    }
    let mode = crate::profile::validate::mode_name(base.network.mode);
    let text = write::render(
        &learned,
        &write::Context {
            extends: &extends,
            base_name: &base.profile.name,
            command: &command,
            server: &server,
            vars: var_list,
            hosts,
            refused,
            network_mode: mode,
        },
    )
    .map_err(LearnError::Render)?;
    out.replace(text.as_bytes(), 0o644)
        .map_err(|source| LearnError::Write {
            path: output.clone(),
            source,
        })?;
    let grants = learned.read.len() + learned.write.len() + learned.exec.len();
    say!(
        "mcpcell: learned profile written to {} ({}, {}, {}); use it with: mcpcell run --profile {} COMMAND...",
        output.display(),
        plural(grants, "filesystem grant"),
        plural(learned.unix.len(), "Unix socket"),
        plural(uses.len(), "observed call"),
        if args.output.is_some() {
            output.display().to_string()
        } else {
            profile_name(&output)
        }
    );
    for s in &learned.secrets {
        say!(
            "mcpcell: WARNING: the server {} {} ({}): check what is there. It is NOT granted in the learned profile",
            if s.need.rights.write {
                "wrote or tried to write"
            } else {
                "used or tried to use"
            },
            escape::path(&s.need.path),
            s.why
        );
    }
    Ok(outcome.code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_entries_read_back_as_the_destination() {
        for (host, port, entry) in [
            ("api.test", 443, "api.test"),
            ("api.test", 8443, "api.test:8443"),
            ("10.0.0.1", 80, "10.0.0.1"),
            ("2001:db8::1", 443, "[2001:db8::1]"),
            ("2001:db8::1", 8443, "[2001:db8::1]:8443"),
        ] {
            assert_eq!(allow_entry(host, port), entry);
            let p: crate::hostspec::HostPattern = entry.parse().unwrap();
            assert!(p.matches(host, port), "{entry}");
        }
    }
}
