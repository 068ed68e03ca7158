//! What an entry that is already wrapped gives away. A config can say `mcpcell run` and still
//! run the server nearly unconfined: `--best-effort`, `--allow-write /`, a profile in `/tmp`
//! that anyone can replace, a profile with the host's network. Such an entry is reported with
//! what was found, never as simply "already wrapped".

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path};

use crate::profile::{Loader, NetworkMode, is_path};

/// Directories where anyone may create a file: a profile there can be someone else's.
const SHARED_DIRS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm", "/run/shm", "/var/crash"];

/// Why a path given to `--allow-*` reaches too far, if it does.
pub(super) fn too_wide(path: &str, home: Option<&Path>) -> Option<String> {
    if let Some(why) = odd_or_top_level(path) {
        return Some(why);
    }
    let p = Path::new(path);
    if let Some(h) = home {
        if h.starts_with(p) {
            return Some("the home directory or one above it".into());
        }
        for (dir, what) in [
            (".ssh", "SSH keys"),
            (".gnupg", "GnuPG keys"),
            (".aws", "cloud credentials"),
            (".config", "every application's settings"),
            (".local", "every application's data"),
        ] {
            let d = h.join(dir);
            if d.starts_with(p) || p.starts_with(&d) {
                return Some(format!("{what} ({})", d.display()));
            }
        }
    }
    None
}

/// Why a path reaches further than it reads, or as far as a whole top-level directory.
fn odd_or_top_level(path: &str) -> Option<String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Some(
            "a relative path, resolved against whatever directory the client starts in".into(),
        );
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Some("a path with `..` in it".into());
    }
    (p.components().count() <= 2).then(|| "a top-level directory".into())
}

/// Why a `-p PATH` profile can be changed by someone other than the user, if it can.
fn unsafe_profile_path(path: &str) -> Option<String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Some(
            "a relative profile path: which file it names depends on the client's directory".into(),
        );
    }
    if let Some(d) = SHARED_DIRS.iter().find(|d| p.starts_with(d)) {
        return Some(format!(
            "the profile lies in {d}, where any user can create or replace files"
        ));
    }
    let uid = nix::unistd::getuid().as_raw();
    let Ok(meta) = std::fs::metadata(p) else {
        return Some(
            "the profile file does not exist: whoever creates it decides the policy".into(),
        );
    };
    if meta.uid() != uid && meta.uid() != 0 {
        return Some(format!(
            "the profile file belongs to uid {}, not to you or root",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some("the profile file is writable by its group or by everyone".into());
    }
    for dir in p.ancestors().skip(1) {
        let Ok(m) = std::fs::metadata(dir) else {
            continue;
        };
        let others_write = m.mode() & 0o002 != 0;
        let sticky = m.mode() & 0o1000 != 0;
        if others_write && !sticky || m.uid() != uid && m.uid() != 0 {
            return Some(format!(
                "{} lets other users replace the profile",
                dir.display()
            ));
        }
    }
    None
}

/// Whether a variable's name says it holds a secret.
/// The variable forms MCP clients expand in a server's arguments before starting it (Claude
/// Code `${VAR}`, Cursor and VS Code `${env:VAR}`, opencode `{env:VAR}` and `{file:PATH}`,
/// Continue `${{ secrets.X }}`): the first one in `value`.
fn expanded_by_clients(value: &str) -> Option<&'static str> {
    if let Some(f) = ["${", "{env:", "{file:"]
        .into_iter()
        .find(|f| value.contains(f))
    {
        return Some(f);
    }
    // Gemini CLI's `$VAR`.
    let b = value.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'$' && (w[1].is_ascii_alphabetic() || w[1] == b'_'))
        .then_some("$VAR")
}

fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "API_KEY",
        "APIKEY",
        "_KEY",
        "AUTH",
        "COOKIE",
        "SESSION",
        "PRIVATE",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Variables that mcpcell itself reads where the client sets them for it: where it finds
/// profiles, keeps state and records where servers could write, and the program it is.
const MCPCELL_READS: &[&str] = &[
    "HOME",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_STATE_HOME",
    "PATH",
];

/// Variables that decide where a profile's grants point (`${XDG_CACHE_HOME}`,
/// `${XDG_DATA_HOME}`), or which host directory the namespace-free tier treats as the
/// shared temporary directory (`TMPDIR`): no grant may hold it, the server gets its own.
const MCPCELL_PLACES: &[&str] = &["XDG_CACHE_HOME", "XDG_DATA_HOME", "TMPDIR"];

/// Why the client setting `name` for the entry changes mcpcell itself, if it does.
pub(super) fn sets_for_mcpcell(name: &str) -> Option<String> {
    if MCPCELL_READS.contains(&name) || name.starts_with("MCPCELL_") {
        Some(format!(
            "the entry sets {name} for mcpcell itself: it decides which profiles, state or programs mcpcell uses"
        ))
    } else if MCPCELL_PLACES.contains(&name) {
        Some(format!(
            "the entry sets {name} for mcpcell itself: it decides where the profile's grants point and which directory counts as the host's shared temporary one"
        ))
    } else if crate::plan::pkgsettings::reads_variable(name)
        || crate::proxy::chain::VARIABLES.contains(&name)
    {
        Some(format!(
            "the entry sets {name} for mcpcell itself: it chooses the registries (whose hosts join the allowlist), the CAs or the upstream proxy of the server's network"
        ))
    } else if name.starts_with("LD_") {
        Some(format!(
            "the entry sets {name} for mcpcell itself: the dynamic loader reads it"
        ))
    } else {
        None
    }
}

/// Everything in `options` (the `mcpcell run` arguments before `--`) that weakens the
/// sandbox, each as one sentence. `own_env` are the variables the entry sets for the server
/// itself (its `env` block, its env file): `--pass-env` of any other takes the client's own.
pub fn weakenings(
    options: &[String],
    loader: &Loader,
    home: Option<&Path>,
    own_env: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = own_env.iter().filter_map(|n| sets_for_mcpcell(n)).collect();
    let mut profile: Option<String> = None;
    let mut i = 0;
    while i < options.len() {
        let a = options[i].as_str();
        let (opt, value) = match a.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v.to_string())),
            _ => (a, None),
        };
        let takes_value = super::model::RUN_VALUE_OPTIONS.contains(&opt);
        let value = match (takes_value, value) {
            (true, Some(v)) => Some(v),
            (true, None) => {
                i += 1;
                options.get(i).cloned()
            }
            (false, _) => None,
        };
        i += 1;
        let v = value.unwrap_or_default();
        if !a.starts_with('-') && !takes_value {
            // The command, with no `--` before it: what the client makes of it is read as
            // options to `run` if it starts with `-`.
            if let Some(form) = expanded_by_clients(a) {
                out.push(format!(
                    "{a}: the client replaces `{form}` in the command before mcpcell starts, and what it makes of it could be options to `mcpcell run` (`--allow-write=/`, `--best-effort`): put `--` before the command"
                ));
            }
            continue;
        }
        if let Some(form) = expanded_by_clients(a).or_else(|| expanded_by_clients(&v)) {
            // Clients expand these in `args` before mcpcell sees them: what runs is not
            // the text audited here.
            out.push(format!(
                "{opt} {v}: the client replaces `{form}` before mcpcell starts, so what mcpcell is given cannot be checked here"
            ));
        }
        match opt {
            "--best-effort" => out.push(
                "--best-effort: protections this kernel or user cannot apply are dropped instead of refusing to start".into(),
            ),
            "--allow-read" | "--allow-write" | "--allow-exec" => {
                // Judged where it leads too: `run` follows a link on the way.
                let real = std::fs::canonicalize(&v)
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned())
                    .filter(|r| *r != v);
                let leads = real.as_deref().and_then(|r| too_wide(r, home));
                if let Some(why) = too_wide(&v, home) {
                    out.push(format!("{opt} {v}: {why}"));
                } else if let (Some(why), Some(r)) = (leads, &real) {
                    out.push(format!("{opt} {v}: leads to {r}: {why}"));
                } else if let Some(why) = (opt == "--allow-write")
                    .then(|| {
                        crate::places::write_concern(Path::new(&v), home).or_else(|| {
                            let r = real.as_deref()?;
                            crate::places::write_concern(Path::new(r), home)
                                .map(|w| format!("leads to {r}: {w}"))
                        })
                    })
                    .flatten()
                {
                    out.push(format!("{opt} {v}: {why}"));
                } else if opt == "--allow-exec"
                    && SHARED_DIRS.iter().any(|d| Path::new(&v).starts_with(d))
                {
                    out.push(format!(
                        "{opt} {v}: executes from a directory anyone can write to"
                    ));
                }
            }
            "--allow-host" => {
                let host = v.rsplit_once(':').map_or(v.as_str(), |(h, _)| h);
                let labels = host.trim_start_matches("*.").split('.').count();
                if host == "*" || host.starts_with('*') && labels < 2 {
                    out.push(format!("{opt} {v}: allows a whole top-level domain"));
                } else {
                    // wrap never writes one: whoever wrote the entry chose the destination.
                    out.push(format!(
                        "{opt} {v}: the server may reach it beyond its profile's allowlist"
                    ));
                }
            }
            "--pass-env" if v.contains('*') => out.push(format!(
                "{opt} {v}: passes every variable of the client's environment that the pattern matches, not only those this entry sets"
            )),
            "--log-file" => out.push(format!(
                "{opt} {v}: mcpcell appends its log there, outside the sandbox, with text the server chooses (host names, paths, its messages)"
            )),
            "--pass-env" if !own_env.contains(&v) => {
                // wrap passes only what the entry sets itself: this is the client's own.
                out.push(format!(
                    "{opt} {v}: passes the client's own {v}, which this entry does not set{}",
                    if secret_name(&v) {
                        ", and whose name says it is a secret"
                    } else {
                        ""
                    }
                ));
            }
            "-p" | "--profile" => profile = Some(v),
            "--stop-timeout" if v.parse::<u64>().map_or(true, |t| t > 60) => out.push(format!(
                "{opt} {v}: a server that ignores SIGTERM outlives its client that long"
            )),
            "--pass-env" | "--set-env" | "--format" | "--log-level" | "--log-format"
            | "--stop-timeout" | "--dry-run" => {}
            other => out.push(format!(
                "`{other}`: an option mcpcell wrap does not know; check what it does"
            )),
        }
    }
    let spec = profile.unwrap_or_else(|| "default".into());
    if is_path(&spec) {
        if let Some(why) = unsafe_profile_path(&spec) {
            out.push(format!("-p {spec}: {why}"));
        }
    }
    match loader.load(&spec) {
        Ok((p, _)) => {
            if p.network.mode() == NetworkMode::Host {
                out.push(format!(
                    "profile `{spec}` uses network mode host: the server has the host's network"
                ));
            }
            out.extend(profile_writes(&spec, &p.filesystem.write, home));
        }
        Err(e) => out.push(format!(
            "profile `{spec}` cannot be loaded here ({}): the server would not start",
            e
        )),
    }
    out
}

/// Where an entry's profile (`spec`, as the entry names it) lets the server write,
/// expanded, and with `args: write` (or `write-parent`) the absolute paths among the
/// server's arguments (or their directories):
/// each with where it comes from. What the profile cannot be loaded for is left out (the
/// entry's other findings say so).
pub(super) fn entry_writes(
    spec: &str,
    server_args: &[String],
    loader: &Loader,
    home: Option<&Path>,
) -> Vec<(std::path::PathBuf, String)> {
    let Ok((p, _)) = loader.load(spec) else {
        return Vec::new();
    };
    let vars = audit_vars(home);
    let mut out: Vec<(std::path::PathBuf, String)> = p
        .filesystem
        .write
        .iter()
        .filter_map(|e| {
            let (path, _) = crate::plan::expand(&vars, e).ok()?;
            // The sandbox's own, not the host's.
            if ["/tmp", "/dev/shm", "/proc"].contains(&path.as_str()) {
                return None;
            }
            Some((path.into(), format!("profile `{spec}` ({})", e.origin)))
        })
        .collect();
    use crate::profile::ArgsAccess;
    let parents = match p.filesystem.args.as_ref().map(|a| a.value) {
        Some(ArgsAccess::Write) => false,
        Some(ArgsAccess::WriteParent) => true,
        _ => return out,
    };
    for a in server_args {
        let path = Path::new(a.split_once('=').map_or(a.as_str(), |(_, v)| v));
        if !path.is_absolute() {
            continue;
        }
        let granted = if parents { path.parent() } else { Some(path) };
        if let Some(g) = granted {
            out.push((
                g.to_path_buf(),
                format!("profile `{spec}` grants its arguments (args)"),
            ));
        }
    }
    out
}

/// The variables a profile's paths are expanded with here: this process's, HOME as given.
fn audit_vars(home: Option<&Path>) -> crate::vars::Vars {
    crate::vars::Vars::from_lookup(
        "audit",
        std::env::current_dir(),
        |k| match k {
            "HOME" => home.map(|h| h.display().to_string()),
            _ => std::env::var(k).ok(),
        },
        || None,
    )
}

/// What a profile file (not a built-in one) lets the server write that outlives the
/// sandbox or gives it away: a place that runs outside later (a shell startup file,
/// autostart, systemd user units, a directory on the PATH, git hooks), a file of secrets, a
/// directory holding one of those (HOME, `~/.config`), or a top-level directory. A
/// directory of an application's own under `~/.local` or `~/.config` (its state, its cache)
/// is what profiles are for, and is not named.
fn profile_writes(
    spec: &str,
    write: &[crate::profile::Entry<String>],
    home: Option<&Path>,
) -> Vec<String> {
    let vars = audit_vars(home);
    let judge = |p: &Path| {
        crate::places::write_concern(p, home).or_else(|| odd_or_top_level(&p.to_string_lossy()))
    };
    let mut out = Vec::new();
    for e in write {
        if e.origin.source.kind == crate::profile::SourceKind::Builtin {
            continue;
        }
        let Ok((path, _)) = crate::plan::expand(&vars, e) else {
            continue;
        };
        let p = Path::new(&path);
        // Judged where a link leads too, as `--allow-*` is: the grant follows it.
        let why = judge(p).or_else(|| {
            let real = std::fs::canonicalize(p).ok().filter(|r| r != p)?;
            judge(&real).map(|w| format!("leads to {}: {w}", real.display()))
        });
        if let Some(why) = why {
            out.push(format!(
                "profile `{spec}` lets the server write {path} ({}): {why}",
                e.origin
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(opts: &[&str]) -> Vec<String> {
        let opts: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        weakenings(
            &opts,
            &Loader::with_dirs(Vec::new()),
            Some(Path::new("/home/u")),
            &["TOKEN".to_string()],
        )
    }

    /// A profile file's write grants are judged as `--allow-write` is: the entry ran the
    /// server with `~/.bashrc` writable and was reported as plainly sandboxed.
    #[test]
    fn a_profile_files_dangerous_write_grants_are_named() {
        let d = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            std::fs::write(d.path().join(format!("{name}.yaml")), text).unwrap();
        };
        write(
            "notes",
            "extends: [default]\nfilesystem:\n  write: [\"${HOME}/.bashrc\", \"~/.config/autostart\", \"${HOME}/.ssh\", \"${HOME}/proj/.git/hooks\", \"${HOME}\", \"~/.config\", \"${HOME}/notes\"]\n",
        );
        write(
            "fine",
            "extends: [default]\nfilesystem:\n  write: [\"${HOME}/notes\", \"${STATE_DIR}\", \"${XDG_CACHE_HOME}/app\", \"~/.local/share/app\", \"~/.config/app\"]\n",
        );
        let loader = Loader::with_dirs(vec![d.path().to_path_buf()]);
        let home = Some(Path::new("/home/u"));
        let f = weakenings(&["-p".into(), "notes".into()], &loader, home, &[]);
        for needle in [
            "/home/u/.bashrc (",
            "/home/u/.config/autostart (",
            "/home/u/.ssh (",
            "/home/u/proj/.git/hooks (",
            "write /home/u (",
            "write /home/u/.config (",
        ] {
            assert!(f.iter().any(|w| w.contains(needle)), "{needle}: {f:?}");
        }
        assert_eq!(f.len(), 6, "{f:?}");
        assert!(f[5].contains("it holds /home/u/.config/"), "{f:?}");
        assert!(
            f[0].contains("notes.yaml:") && f[0].contains("shell startup file"),
            "{f:?}"
        );
        // Control: a project directory, and the built-in profiles' own grants, are not named.
        let f = weakenings(&["-p".into(), "fine".into()], &loader, home, &[]);
        assert!(f.is_empty(), "{f:?}");
        // Judged where a link leads too: the grant follows it.
        let h = tempfile::tempdir().unwrap();
        std::fs::write(h.path().join(".bashrc"), "").unwrap();
        std::os::unix::fs::symlink(h.path().join(".bashrc"), h.path().join("notes")).unwrap();
        let f = weakenings(&["-p".into(), "fine".into()], &loader, Some(h.path()), &[]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].contains("leads to") && f[0].contains("shell startup file"),
            "{f:?}"
        );
    }

    #[test]
    fn plain_wrapped_entries_are_clean() {
        assert!(found(&["-p", "node", "--pass-env", "TOKEN"]).is_empty());
        assert!(found(&["--profile", "default"]).is_empty());
        assert!(found(&["--allow-read", "/srv/data/project"]).is_empty());
    }

    #[test]
    fn variables_the_entry_sets_for_mcpcell_itself_are_named() {
        let env: Vec<String> = [
            "XDG_CONFIG_HOME",
            "API_TOKEN",
            "LD_PRELOAD",
            "TMPDIR",
            "NPM_CONFIG_REGISTRY",
            "https_proxy",
            "PIP_INDEX_URL",
            "PREFIX",
            "NODE_ENV",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let f = weakenings(
            &[],
            &Loader::with_dirs(Vec::new()),
            Some(Path::new("/home/u")),
            &env,
        );
        assert_eq!(f.len(), 7, "{f:?}");
        assert!(f[0].contains("XDG_CONFIG_HOME") && f[1].contains("LD_PRELOAD"));
        assert!(f[2].contains("sets TMPDIR") && f[2].contains("shared temporary"));
        for (i, v) in [
            (3, "NPM_CONFIG_REGISTRY"),
            (4, "https_proxy"),
            (5, "PIP_INDEX_URL"),
            (6, "PREFIX"),
        ] {
            assert!(
                f[i].contains(&format!("sets {v} ")) && f[i].contains("allowlist"),
                "{f:?}"
            );
        }
        // Every path variable a profile may use that comes from the environment is named.
        for v in crate::vars::KNOWN {
            let from_env = !matches!(*v, "CWD" | "PROFILE_DIR" | "STATE_DIR");
            assert_eq!(sets_for_mcpcell(v).is_some(), from_env, "{v}");
        }
    }

    #[test]
    fn what_the_entry_adds_beyond_what_wrap_writes_is_named() {
        let f = found(&["--allow-host", "api.github.com"]);
        assert!(f[0].contains("beyond its profile's allowlist"), "{f:?}");
        let f = found(&["--pass-env", "AWS_SECRET_ACCESS_KEY", "--pass-env=HOME_DIR"]);
        assert!(
            f[0].contains("the client's own AWS_SECRET_ACCESS_KEY")
                && f[0].contains("says it is a secret"),
            "{f:?}"
        );
        assert!(f[1].contains("the client's own HOME_DIR") && !f[1].contains("secret"));
    }

    #[test]
    fn weakening_options_are_named() {
        let one = |opts: &[&str], needle: &str| {
            let f = found(opts);
            assert!(f.iter().any(|w| w.contains(needle)), "{opts:?}: {f:?}");
        };
        one(&["--best-effort", "-p", "node"], "--best-effort");
        one(&["-p", "/tmp/x.yaml"], "/tmp");
        one(&["--profile=/var/tmp/p.yaml"], "/var/tmp");
        one(&["-p", "rel/p.yaml"], "relative");
        one(&["--allow-write", "/"], "top-level");
        one(&["--allow-read=/home"], "top-level");
        one(&["--allow-read", "/home/u"], "home directory");
        one(&["--allow-read", "/home/u/.ssh/id_rsa"], "SSH keys");
        one(
            &["--allow-write", "/home/u/.bashrc"],
            "a shell startup file",
        );
        one(&["--allow-write", "/home/u/bin"], "programs on the PATH");
        one(&["--allow-write", "/home/u/p/.git/hooks"], "git hooks");
        one(&["--allow-write", "/srv/../etc"], "..");
        one(&["--allow-exec", "/tmp/bin/x"], "anyone can write");
        one(&["--allow-host", "*"], "top-level domain");
        one(&["--allow-host", "*.com:443"], "top-level domain");
        one(&["--no-sandbox"], "does not know");
        one(&["-p", "no-such-profile"], "cannot be loaded");
        // A pattern passes the client's own variables even when the entry sets one of
        // that very name (`"env": {"*": ""}`).
        let f = weakenings(
            &["--pass-env".into(), "*".into(), "--pass-env=AWS_*".into()],
            &Loader::with_dirs(Vec::new()),
            None,
            &["*".to_string(), "AWS_*".to_string()],
        );
        assert!(
            f.len() == 2 && f.iter().all(|w| w.contains("the pattern matches")),
            "{f:?}"
        );
        one(&["--log-file", "/home/u/.bashrc"], "appends its log there");
        one(&["--stop-timeout", "86400"], "outlives its client");
        one(&["--stop-timeout=x"], "outlives its client");
        assert!(found(&["--stop-timeout", "5"]).is_empty());
        one(&["--allow-read", "/home/${USER}"], "replaces `${`");
        // A link to a directory too wide to grant is judged where it leads.
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("etc-link");
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        one(&["--allow-read", link.to_str().unwrap()], "leads to /etc");
        one(&["--allow-read", "${env:HOME}/p"], "replaces `${`");
        one(&["--allow-write={env:HOME}"], "replaces `{env:`");
        one(&["-p", "{file:/tmp/p}"], "replaces `{file:`");
        // The command itself, with no `--` before it (`Wrapped::audited` adds it): what the
        // client makes of it could be options.
        one(
            &["-p", "default", "${X:---allow-write=/}"],
            "put `--` before the command",
        );
        one(
            &["-p", "default", "{file:/tmp/opts}"],
            "put `--` before the command",
        );
        one(&["-p", "default", "$OPTS"], "replaces `$VAR`");
        one(&["--allow-read=$HOME/p"], "replaces `$VAR`");
        assert!(found(&["-p", "default", "npx"]).is_empty());
        let d = tempfile::tempdir().unwrap();
        let host = d.path().join("host.yaml");
        std::fs::write(&host, "network:\n  mode: host\n").unwrap();
        one(&["-p", host.to_str().unwrap()], "network mode host");
    }
}
