//! `mcpcell status` and `wrap --check`: for every server of every client config found, whether
//! the client starts it under mcpcell, and if not, why. Nothing is changed. The answer goes
//! to stdout; exit 1 when any server a client starts runs without mcpcell.

use super::model::Kind;
use super::{Target, Targets, WrapError, load_targets};
use crate::escape::terminal;
use std::path::PathBuf;

fn is_executable(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let p = std::path::Path::new(path);
    p.is_absolute()
        && std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why `command`, named mcpcell, is not this mcpcell; `None` for this mcpcell, for any other
/// program, and for a path where no file is (which starts nothing).
pub(super) fn impostor(command: &str, launcher: &str) -> Option<String> {
    let named = super::model::is_launcher(command, launcher);
    let there = !command.starts_with('/') || is_executable(command);
    if !named || !there {
        return None;
    }
    super::model::genuine(command, launcher).err()
}

/// Why the launcher an entry names could be another program at the client's next start: it
/// (or a directory on its way, or where its links lead) lies where this entry lets the
/// server write (its options, `profile_writes`: its profile's grants and arguments), or
/// where an earlier launch of this user let a server write. The server
/// replaces it, and the client runs that, outside any sandbox.
fn replaceable_launcher(
    command: &str,
    options: &[String],
    profile_writes: Vec<(PathBuf, String)>,
) -> Option<String> {
    let named = if command.contains('/') {
        PathBuf::from(command)
    } else {
        which::which(command).ok()?
    };
    let real = std::fs::canonicalize(&named).ok();
    let mut writable: Vec<(PathBuf, String)> = Vec::new();
    let mut i = 0;
    while i < options.len() {
        let (opt, value) = match options[i].split_once('=') {
            Some((o, v)) if o == "--allow-write" => (o, Some(v.to_string())),
            _ => (options[i].as_str(), None),
        };
        if opt == "--allow-write" {
            let v = value.or_else(|| {
                i += 1;
                options.get(i).cloned()
            });
            if let Some(v) = v {
                let p = PathBuf::from(&v);
                let why = format!("--allow-write {v}");
                if let Ok(r) = std::fs::canonicalize(&p) {
                    writable.push((r, why.clone()));
                }
                writable.push((p, why));
            }
        }
        i += 1;
    }
    for (p, why) in profile_writes {
        if let Ok(r) = std::fs::canonicalize(&p) {
            writable.push((r, why.clone()));
        }
        writable.push((p, why));
    }
    let homes = crate::vars::homes();
    for root in crate::vars::every_place("XDG_STATE_HOME", ".local/state", &homes) {
        let root = root.join("mcpcell");
        if let Ok((places, _)) = crate::plan::written::read(&root) {
            writable.extend(places.into_iter().map(|p| {
                (
                    p,
                    "an earlier launch let a server write there (mcpcell's record)".to_string(),
                )
            }));
        }
    }
    for p in std::iter::once(&named).chain(real.as_ref()) {
        if let Some((w, why)) = writable.iter().find(|(w, _)| p.starts_with(w)) {
            return Some(format!(
                "its launcher {} lies in {} ({why}): the server can replace it, and the client would run that instead of mcpcell. Point the entry at mcpcell where no server writes (`mcpcell wrap --write` writes this mcpcell's path)",
                crate::escape::path(p),
                crate::escape::path(w)
            ));
        }
    }
    None
}

/// One server's verdict.
enum Verdict {
    Sandboxed(String),
    Unsandboxed(String),
    NotAProcess(String),
}

pub fn run(target: &Target) -> Result<i32, WrapError> {
    let Targets { loaded, failed } = load_targets(target, &[])?;
    let unreadable = failed.len();
    for e in failed {
        crate::exit::print_error(&e);
    }
    let launcher = super::launcher(None).unwrap_or_else(|_| "mcpcell".into());
    let loader = crate::profile::Loader::from_env();
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let mut out = String::new();
    let (mut good, mut bad, mut remote) = (0, 0, 0);
    for l in &loaded {
        out.push_str(&format!("{}\n", l.title()));
        let width = l
            .servers
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0);
        for s in &l.servers {
            if !target.servers.is_empty() && !target.servers.contains(&s.name) {
                continue;
            }
            let verdict = match &s.kind {
                Kind::Remote(how) => Verdict::NotAProcess(format!(
                    "not started by the client ({how}); nothing to sandbox here"
                )),
                Kind::Unsupported(why) => Verdict::Unsandboxed(format!(
                    "NOT sandboxed: mcpcell cannot wrap this entry ({why})"
                )),
                Kind::Stdio(st) => match st.wrapped(&launcher) {
                    // A program named mcpcell that is not this one (a file that is not there
                    // runs nothing: that is said below).
                    _ if let Some(why) = impostor(&st.command, &launcher) => {
                        Verdict::Unsandboxed(format!("NOT sandboxed: {why}"))
                    }
                    Some(w)
                        if let Some(why) = replaceable_launcher(
                            &st.command,
                            &w.options,
                            super::audit::entry_writes(
                                w.profile.as_deref().unwrap_or("default"),
                                &w.args,
                                &loader,
                                home.as_deref(),
                            ),
                        ) =>
                    {
                        Verdict::Unsandboxed(format!("NOT sandboxed after its next start: {why}"))
                    }
                    Some(w) => {
                        let profile = w.profile.clone().unwrap_or_else(|| "default".into());
                        let mut v = format!("sandboxed (profile `{profile}`, runs {})", w.command);
                        let weak = super::audit::weakenings(
                            &w.audited(),
                            &loader,
                            home.as_deref(),
                            &st.own_env(),
                        );
                        if !weak.is_empty() {
                            v.push_str(&format!(", but WEAKENED: {}", weak.join("; ")));
                        }
                        // A bare name is looked up on the PATH, as the client will (this
                        // one's PATH: a client started elsewhere may have another).
                        let startable = match st.command.contains('/') {
                            true => is_executable(&st.command),
                            false => which::which(&st.command).is_ok(),
                        };
                        if !startable {
                            v.push_str(&format!(
                                ", but will not start: {} is not an executable file (mcpcell moved? `mcpcell unwrap` and `wrap` again)",
                                st.command
                            ));
                        }
                        if st.client_sandbox {
                            v.push_str(", but will not start: \"sandboxEnabled\": true puts it in VS Code's own sandbox, where mcpcell cannot create namespaces");
                        }
                        Verdict::Sandboxed(v)
                    }
                    // `learn` lets the server write beyond its profile, `run` without `--`
                    // may run anything: nothing here says the server is confined.
                    None if super::model::is_launcher(&st.command, &launcher) => {
                        Verdict::Unsandboxed(
                            "NOT sandboxed as far as status can tell: runs mcpcell, but not as `run [OPTIONS] -- COMMAND` (`learn` lets its server write beyond the profile): check it by hand"
                                .into(),
                        )
                    }
                    None => Verdict::Unsandboxed(format!(
                        "NOT sandboxed: the client runs `{}` directly; `mcpcell wrap {}--write` wraps it",
                        st.command,
                        match l.client {
                            Some(c) => format!("--client {} ", c.cli_name()),
                            None => format!("{} ", crate::escape::path(&l.path)),
                        }
                    )),
                },
            };
            let line = match verdict {
                Verdict::Sandboxed(v) => {
                    good += 1;
                    v
                }
                Verdict::Unsandboxed(v) => {
                    bad += 1;
                    v
                }
                Verdict::NotAProcess(v) => {
                    remote += 1;
                    v
                }
            };
            let pad = width.saturating_sub(s.name.chars().count());
            out.push_str(&format!(
                "  {}{}  {}\n",
                terminal(&s.name),
                " ".repeat(pad),
                terminal(&line)
            ));
        }
    }
    out.push_str(&format!(
        "{good} sandboxed, {bad} NOT sandboxed, {remote} not started by a client{}\n",
        if unreadable > 0 {
            format!(", {unreadable} config file(s) that could not be read")
        } else {
            String::new()
        }
    ));
    crate::commands::print(out.as_bytes())?;
    Ok(if bad > 0 || unreadable > 0 { 1 } else { 0 })
}
