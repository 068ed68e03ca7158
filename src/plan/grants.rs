//! Grant assembly: every path the sandbox may reach, collected from where grants come from
//! (the profile's `filesystem` lists, `programs` and `args`; the command itself; the command
//! line's `--allow-*`), then resolved and opened ([`fs::build`]), masked (`hide`) and checked
//! against what no server may write ([`trust::check`]).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::escape;
use crate::profile::{ArgsAccess, Loader, Origin, Profile};
use crate::vars::Vars;

use super::command::Command;
use super::fs::{self, FsPlan, Grant, Rights};
use super::programs::Programs;
use super::{PlanError, Request, expand, steer, trust, written};

/// What the grants are assembled from.
pub(super) struct Inputs<'a> {
    pub profile: &'a Profile,
    pub req: &'a Request,
    pub command: &'a Command,
    pub vars: &'a Vars,
    /// mcpcell's working directory: relative paths on the command line start here.
    pub cwd: &'a Path,
    /// The host's PATH, where `filesystem.programs` are looked up.
    pub path_var: Option<&'a OsStr>,
    /// `${STATE_DIR}`, when the profile uses it.
    pub state_dir: Option<&'a Path>,
    /// Where profiles are looked up: no server may write there.
    pub loader: &'a Loader,
    /// Programs this plan has looked up already.
    pub programs: &'a Programs,
    /// The files `env.package_settings` were read from, and the programs that named some.
    pub settings: &'a [PathBuf],
    /// `network.unix`.
    pub sockets: &'a [PathBuf],
    /// The variables of the server's environment that name where programs and code are
    /// looked up ([`SEARCH_PATHS`]), with their values.
    pub search: &'a [(&'a str, &'a std::ffi::OsStr)],
}

/// Variables that list where a program or an interpreter looks for what it runs: a
/// directory there that a server may have planted in is left out of them (`PYTHONPATH`
/// naming a project's `src`, an activated venv's `bin` on the PATH).
pub const SEARCH_PATHS: &[&str] = &[
    "PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "NODE_PATH",
    "PERL5LIB",
    "PERLLIB",
    "RUBYLIB",
    "GEM_PATH",
    "GEM_HOME",
    "CLASSPATH",
];

/// The filesystem part of the plan. `warnings` get what the user should see on every run (an
/// argument too wide to grant), `notes` what `--dry-run` shows (how a program was granted).
pub(super) fn build(
    i: &Inputs,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Result<FsPlan, PlanError> {
    let mut grants = profile_lists(i)?;
    programs(i, &mut grants, notes)?;
    arguments(i, &mut grants, warnings);
    needed_by_command(i.command, &mut grants);
    options(i.req, i.cwd, &mut grants);

    // What the server could have chosen for itself (a link or a file it may write) and
    // that reaches something new is left out before anything is opened.
    let state_root = i.vars.state_root().ok();
    // Where earlier launches let a server write: links and files planted then count too.
    let earlier = match state_root.as_deref() {
        None => Vec::new(),
        Some(root) => {
            // Named only in a warning.
            let shown = || escape::path(&written::file(root));
            match written::read(root) {
                Err(e) => {
                    warnings.push(format!(
                        "could not read {}, the record of where earlier launches let a server write ({e}): links planted there are judged only by this launch's grants",
                        shown()
                    ));
                    Vec::new()
                }
                Ok((v, whole)) => {
                    if !whole {
                        warnings.push(format!(
                            "{} is over {} MiB: only the paths at its start count; delete it once you have looked at the places it names",
                            shown(),
                            written::MAX >> 20
                        ));
                    }
                    v
                }
            }
        }
    };
    // What the check keeps open for `fs::build` is closed on every way out.
    let _kept = crate::paths::Kept;
    // The directories as the server's first lookups resolve them: a relative or empty
    // entry (the working directory) from where it starts. (variable, entry, directory).
    let entries: Vec<(&str, usize, PathBuf)> = i
        .search
        .iter()
        .flat_map(|(var, value)| {
            std::env::split_paths(value)
                .enumerate()
                .map(move |(n, d)| (*var, n, d))
        })
        .map(|(var, n, d)| match d.as_os_str().is_empty() {
            true => (var, n, i.cwd.to_path_buf()),
            false => (var, n, i.cwd.join(d)),
        })
        .collect();
    let path_dirs: Vec<PathBuf> = entries.iter().map(|(_, _, d)| d.clone()).collect();
    let steer::Sifted {
        kept: grants,
        steered,
        source,
        socket,
        path,
    } = steer::sift(
        grants,
        state_root.as_deref(),
        &earlier,
        i.settings,
        i.sockets,
        &path_dirs,
    );
    let settings = source.map(|s| (s, "env.package_settings: a settings file (or the program that located one)", "a server could have written it to choose its own registries (and so its network allowlist) or CAs. Narrow that grant, or take the directory off PATH"));
    let socket = socket.map(|s| (s, "network.unix: the socket", "a server could have planted a link to reach another socket (a root daemon's, say). Name the socket by its own path"));
    if let Some((s, what, why)) = settings.or(socket) {
        return Err(PlanError::SteeredSource {
            what,
            path: s.file,
            by: s.by,
            inside: s.inside,
            place: s.place,
            why,
        });
    }
    if let Some(s) = steered.iter().find(|s| s.grant.required) {
        return Err(PlanError::Steered {
            origin: s.grant.origin.clone(),
            path: s.grant.path.clone(),
            reason: s.reason(),
            instead: s.instead(),
        });
    }
    // What the user's own tools run later, where the server may write: read-only.
    let mut grants = grants;
    let mut no_repository = Vec::new();
    let mut git_dirs = Vec::new();
    let mut unmade = Vec::new();
    if !i.req.learn {
        let super::runs_later::Protected {
            grants: protected,
            warnings: told,
            unrepositoried,
            git_dirs: found,
            unmade: absent,
        } = super::runs_later::protect(&grants, i.cwd, state_root.as_deref())?;
        no_repository = unrepositoried;
        git_dirs = found;
        unmade = absent;
        let listed = |paths: Vec<&Path>| {
            paths
                .into_iter()
                .map(escape::path)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !protected.is_empty() {
            notes.push(format!(
                "read-only inside a writable grant (git runs them outside the sandbox; a grant of its own for writing keeps one writable): {}",
                listed(protected.iter().map(|g| g.path.as_path()).collect())
            ));
        }
        if !unmade.is_empty() {
            notes.push(format!(
                "watched while the server runs (git would read them once they exist; the server is stopped if it makes one): {}",
                listed(unmade.iter().map(|(p, _)| p.as_path()).collect())
            ));
        }
        grants.extend(protected);
        warnings.extend(told);
    }
    let pending = i.state_dir.filter(|s| i.req.dry_run && !s.exists());
    let mut filesystem = fs::build(grants, pending)?;
    filesystem.no_repository = no_repository;
    filesystem.git_dirs = git_dirs;
    filesystem.unmade = unmade;
    drop(_kept);
    let mut told = std::collections::HashSet::new();
    for (index, s) in path {
        let (var, n, _) = entries[index];
        filesystem.path_left_out.push((var.to_string(), n));
        // A directory given twice is told once.
        if !told.insert((var, s.file.clone())) {
            continue;
        }
        let is_link = std::fs::symlink_metadata(&s.by).is_ok_and(|m| m.file_type().is_symlink());
        let place = if is_link {
            format!(
                "it is reached through the link {}, which lies inside {}",
                escape::path(&s.by),
                escape::path(&s.inside)
            )
        } else if s.by == crate::paths::normalize(&s.file) {
            format!("it lies inside {}", escape::path(&s.inside))
        } else {
            format!(
                "it leads to {}, inside {}",
                escape::path(&s.by),
                escape::path(&s.inside)
            )
        };
        warnings.push(format!(
            "{var}: {} is left out of the server's {var}: {place}, {}, so what is looked up there could be what a server put there. If you trust it, let programs run from there (--allow-exec {})",
            escape::path(&s.file),
            s.place.phrase(),
            escape::shell_word(s.file.as_os_str())
        ));
    }
    for s in steered {
        warnings.push(s.warning());
        filesystem.skipped.push(fs::Skipped {
            reason: format!("left out: {}", s.reason()),
            path: s.grant.path,
            rights: s.grant.rights,
            from: s.grant.origin,
        });
    }
    let mut hides = Vec::new();
    for e in &i.profile.filesystem.hide {
        let (path, required) = expand(i.vars, e)?;
        hides.push((PathBuf::from(path), e.origin.clone(), required));
    }
    if i.req.learn {
        // `learn` lets the server write beyond its base: never where profiles are looked up,
        // or what it wrote there would be every later launch's profile. (`learn` creates
        // the user's own directory before planning, so that it exists to be masked.)
        for d in i.loader.dirs() {
            let origin = Origin::command_line("learn: a profile search directory");
            hides.push((d.clone(), origin, false));
        }
        // Nor the profile files the learned profile will extend (a base given by path, and
        // every file it extends): each later launch loads them.
        for f in i.profile.sources.iter().filter_map(|s| s.file()) {
            let origin = Origin::command_line("learn: a profile file the learned profile extends");
            hides.push((f.clone(), origin, false));
        }
    }
    filesystem.add_hides(hides, i.req.learn)?;
    protected_with_other_names(&filesystem, warnings);
    let files: Vec<PathBuf> = i
        .profile
        .sources
        .iter()
        .filter_map(|s| s.file().cloned())
        .collect();
    // Where profiles and state lie for this launch, and for a launch of this user with
    // another environment (HOME unset, XDG_CONFIG_HOME set): kept out of reach alike.
    let homes = crate::vars::homes();
    let with_every_place = |mut known: Vec<PathBuf>, xdg: &str, rel: &str, sub: &str| {
        for d in crate::vars::every_place(xdg, rel, &homes) {
            let d = d.join(sub);
            if !known.contains(&d) {
                known.push(d);
            }
        }
        known
    };
    let search_dirs = with_every_place(
        i.loader.dirs().to_vec(),
        "XDG_CONFIG_HOME",
        ".config",
        "mcpcell/profiles",
    );
    let state_roots = with_every_place(
        state_root.iter().cloned().collect(),
        "XDG_STATE_HOME",
        ".local/state",
        "mcpcell",
    );
    trust::check(&filesystem, &files, &search_dirs, &state_roots, i.state_dir)?;
    planted_profile(i, &files, &state_roots, &earlier)?;
    if !i.req.dry_run && !i.req.learn {
        record(i, &filesystem, state_root.as_deref(), &earlier, warnings);
    }
    Ok(filesystem)
}

/// Refuses a profile file (or one it extends) that a server may have written: one inside a
/// place an earlier launch let a server write, or inside any server's state directory. A
/// server that could write the project's `.mcpcell/b.yaml` on one launch would otherwise
/// choose the grants of the next launch that loads it. (A place this launch lets the server
/// write is `trust::check`'s.) Files are compared by their real paths, and the `-p` path as
/// given too: a link planted there could lead to any profile the user can read.
fn planted_profile(
    i: &Inputs,
    files: &[PathBuf],
    state_roots: &[PathBuf],
    earlier: &[PathBuf],
) -> Result<(), PlanError> {
    if files.is_empty() {
        return Ok(());
    }
    let real = |r: &PathBuf| fs::real_path(r).unwrap_or_else(|_| r.clone());
    let roots: Vec<PathBuf> = state_roots.iter().map(real).collect();
    // What another environment's launches let a server write counts too (their record
    // lies in their state root).
    let mut earlier = earlier.to_vec();
    for r in state_roots.iter().skip(1) {
        if let Ok((more, _)) = written::read(r) {
            earlier.extend(more);
        }
    }
    let given = i
        .req
        .profile
        .as_deref()
        .filter(|p| crate::profile::is_path(p))
        .map(|p| crate::paths::normalize(&i.cwd.join(p)));
    for f in files.iter().chain(given.as_ref()) {
        let place = earlier
            .iter()
            .find(|p| f.starts_with(p))
            .map(|p| (p.clone(), steer::Place::Earlier))
            .or_else(|| {
                roots
                    .iter()
                    .find(|r| f.starts_with(r))
                    .map(|r| (r.clone(), steer::Place::Now))
            });
        if let Some((inside, place)) = place {
            return Err(PlanError::SteeredSource {
                what: "a profile file (or one it extends)",
                path: f.clone(),
                by: f.clone(),
                inside,
                place,
                why: "a server could have written it to choose its own grants, or another server's. Keep profiles where no server writes (~/.config/mcpcell/profiles, or a directory of your own), and check what is in that one before you move it. (Where earlier launches let a server write is recorded in .written in the state directories' root, $XDG_STATE_HOME/mcpcell; deleting that file forgets all of it)",
            });
        }
    }
    Ok(())
}

/// Warns of a file granted read-only inside a writable directory grant, or hidden inside
/// any directory grant, that has other names: a hard link to it elsewhere in the grant
/// changes or shows it however its own name is protected.
fn protected_with_other_names(fs: &FsPlan, warnings: &mut Vec<String>) {
    let writable: Vec<&Path> = fs
        .rules
        .iter()
        .filter(|r| r.rights.write && r.kind == fs::Kind::Dir)
        .filter(|r| r.placement == fs::Placement::Host)
        .map(|r| r.path.as_path())
        .collect();
    for r in &fs.rules {
        if r.rights.write || r.kind != fs::Kind::File || r.placement != fs::Placement::Host {
            continue;
        }
        let Some(inside) = writable.iter().find(|w| r.path.starts_with(w)) else {
            continue;
        };
        let names =
            r.fd.as_ref()
                .and_then(|fd| nix::sys::stat::fstat(fd).ok())
                .map_or(1, |st| st.st_nlink);
        if names > 1 {
            warnings.push(format!(
                "{} is granted read-only inside the writable {}, but has {names} names: a hard link to it elsewhere in that grant would let the server change it (find {} -samefile {})",
                escape::path(&r.path),
                escape::path(inside),
                escape::shell_word(inside.as_os_str()),
                escape::shell_word(r.path.as_os_str())
            ));
        }
    }
    // A hidden file is masked by its name: another name of it in a grant shows it (a file
    // of a hidden directory too).
    for h in &fs.hide {
        use std::os::unix::fs::MetadataExt;
        let Some(inside) = fs
            .rules
            .iter()
            .filter(|r| r.kind == fs::Kind::Dir && r.placement == fs::Placement::Host)
            .find(|r| h.path.starts_with(&r.path))
        else {
            continue;
        };
        for (file, m) in crate::paths::linked_files(&h.path, fs::MAX_LINKED_LOOKED_AT) {
            warnings.push(format!(
                "{} is hidden, but has {} names: another name of it inside the granted {} shows the server its contents (find {} -samefile {})",
                escape::path(&file),
                m.nlink(),
                escape::path(&inside.path),
                escape::shell_word(inside.path.as_os_str()),
                escape::shell_word(file.as_os_str())
            ));
        }
    }
}

/// Adds the host paths this launch lets the server write to the record of
/// [`written`], for every later launch to count.
fn record(
    i: &Inputs,
    fs: &FsPlan,
    state_root: Option<&Path>,
    earlier: &[PathBuf],
    warnings: &mut Vec<String>,
) {
    let Some(root) = state_root else { return };
    // The state directories' root counts already; devices (`/dev/null`) keep nothing, but
    // a host directory under /dev/shm does.
    let root_real = fs::real_path(root).unwrap_or_else(|_| root.to_path_buf());
    let paths: Vec<&Path> = fs
        .rules
        .iter()
        .filter(|r| r.rights.write && r.placement != fs::Placement::Private)
        .map(|r| r.path.as_path())
        .filter(|p| !p.starts_with(&root_real) && !p.starts_with(root))
        .filter(|p| !p.starts_with("/dev") || p.starts_with("/dev/shm"))
        .collect();
    let new = written::unrecorded(&paths, earlier);
    if new.is_empty() {
        return;
    }
    let home = i.vars.get("XDG_STATE_HOME").ok().map(Path::new);
    let done = home
        .ok_or_else(|| "XDG_STATE_HOME is not known".to_string())
        .and_then(|h| super::state::prepare(h, &["mcpcell"]).map_err(|e| e.to_string()))
        .and_then(|dir| written::append(&dir, &new).map_err(|e| e.to_string()));
    if let Err(e) = done {
        warnings.push(format!(
            "could not record where this server may write in {} ({e}): a later launch will not count links planted there",
            escape::path(&written::file(root))
        ));
    }
}

/// `filesystem.read`, `write` and `exec`.
fn profile_lists(i: &Inputs) -> Result<Vec<Grant>, PlanError> {
    let f = &i.profile.filesystem;
    let mut grants = Vec::new();
    for (list, rights) in [
        (&f.read, Rights::READ),
        (&f.write, Rights::WRITE),
        (&f.exec, Rights::EXEC),
    ] {
        for e in list {
            let (path, required) = expand(i.vars, e)?;
            grants.push(Grant {
                path: PathBuf::from(path),
                rights,
                origin: e.origin.clone(),
                required,
                evidence: Vec::new(),
            });
        }
    }
    Ok(grants)
}

/// `filesystem.programs`: each program's install prefix, read and execute.
fn programs(i: &Inputs, grants: &mut Vec<Grant>, notes: &mut Vec<String>) -> Result<(), PlanError> {
    for e in &i.profile.filesystem.programs {
        let (name, _) = expand(i.vars, e)?;
        match program_prefix(&name, i) {
            Some((prefix, note, found)) => {
                if let Some(n) = note {
                    notes.push(format!("{}: {n}", e.origin));
                }
                grants.push(Grant {
                    path: prefix,
                    rights: Rights::EXEC,
                    origin: e.origin.clone(),
                    required: false,
                    // A program found where the server may write (a planted file or link on
                    // the PATH) chose the prefix.
                    evidence: vec![super::steer::Evidence::Content(found)],
                });
            }
            None => notes.push(format!(
                "{}: program `{name}` not found on PATH; skipped",
                e.origin
            )),
        }
    }
    Ok(())
}

/// `filesystem.args`: the paths named in the command's arguments.
fn arguments(i: &Inputs, grants: &mut Vec<Grant>, warnings: &mut Vec<String>) {
    let Some(args) = &i.profile.filesystem.args else {
        return;
    };
    let (rights, parents) = match args.value {
        ArgsAccess::None => return,
        ArgsAccess::Read => (Rights::READ, false),
        ArgsAccess::Write => (Rights::WRITE, false),
        ArgsAccess::WriteParent => (Rights::WRITE, true),
    };
    let home = home(i.vars);
    for path in argument_paths(i.command, i.cwd, parents) {
        // A directory as wide as / or $HOME is never granted implicitly.
        if too_wide(&path, home.as_deref()) {
            warnings.push(format!(
                "{}: not granting {} named on the command line: it is / or contains $HOME; grant it explicitly with --allow-write if you mean it",
                args.origin,
                escape::path(&path)
            ));
            continue;
        }
        // Nor, for writing, a place that runs outside later or holds secrets, anything
        // hidden in HOME (settings, tools, clients' configurations, git's: what programs
        // read and run), or a directory on the PATH: a server's arguments are the client
        // config's, which a project may bring. Judged where a link leads too.
        let judge = |p: &Path| {
            crate::places::write_concern(p, home.as_deref())
                .or_else(|| hidden_in_home(p, home.as_deref()))
                .or_else(|| on_the_path(p, i.path_var))
                .or_else(|| in_xdg_places(p, i.vars))
        };
        let concern = rights.write.then(|| {
            judge(&path).or_else(|| {
                let real = fs::real_path(&path).ok().filter(|r| *r != path)?;
                judge(&real)
            })
        });
        if let Some(why) = concern.flatten() {
            warnings.push(format!(
                "{}: not granting write access to {} named on the command line: {why}; grant it explicitly with --allow-write if you mean it",
                args.origin,
                escape::path(&path)
            ));
            continue;
        }
        grants.push(Grant {
            path,
            rights,
            origin: args.origin.clone(),
            required: false,
            evidence: Vec::new(),
        });
    }
}

/// Why `p` is no place to grant for writing without being asked by name: it is hidden in
/// `home`, or lies in a hidden directory there (`~/.gitconfig`, `~/.claude.json`,
/// `~/.config/...`); a project's own dotfiles are the project's.
fn hidden_in_home(p: &Path, home: Option<&Path>) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let rel = p.strip_prefix(home?).ok()?;
    rel.components()
        .next()
        .is_some_and(|c| c.as_os_str().as_bytes().starts_with(b"."))
        .then(|| {
            "a hidden file or directory in HOME, where programs keep the settings they read and the programs they run".to_string()
        })
}

/// Why `p` is no place to grant for writing without being asked by name: it is or lies in
/// a directory of the launch's PATH, or holds one (`~/go` holds `~/go/bin`; `/usr/local`,
/// `/usr/local/bin`): a program put there runs by name later. Each PATH entry as written
/// and where its links lead.
fn on_the_path(p: &Path, path_var: Option<&std::ffi::OsStr>) -> Option<String> {
    lies_in_or_holds(p, std::env::split_paths(path_var?)).map(|d| {
        format!(
            "{} is on the PATH: a program put there runs by name later",
            escape::path(&d)
        )
    })
}

/// Why `p` is no place to grant for writing without being asked by name: it lies in, or
/// holds, a directory where programs keep their settings and data outside HOME
/// (`XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_STATE_HOME` set elsewhere): git's, systemd's,
/// the desktop's autostart and MCP clients' configurations are found there.
fn in_xdg_places(p: &Path, vars: &Vars) -> Option<String> {
    ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"]
        .iter()
        .find_map(|v| {
            let d = lies_in_or_holds(p, vars.get(v).ok().map(PathBuf::from))?;
            Some(format!(
                "{} is {v}, where programs keep the settings they read and the programs they run",
                escape::path(&d)
            ))
        })
}

/// The first of `dirs` (absolute, not `/`; each as written and where its links lead) that
/// `p` lies in or holds.
fn lies_in_or_holds(p: &Path, dirs: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    dirs.into_iter()
        .filter(|d| d.is_absolute() && d != Path::new("/"))
        .flat_map(|d| {
            let real = fs::real_path(&d).ok().filter(|r| *r != d);
            std::iter::once(d).chain(real)
        })
        .find(|d| p.starts_with(d) || d.starts_with(p))
}

/// What running the command needs: the file and its loaders (read and execute), the package
/// trees its code lives in (read). The command itself is required: one a server could have
/// chosen (a link or a program it planted) stops the launch before anything starts.
fn needed_by_command(command: &Command, grants: &mut Vec<Grant>) {
    for (list, rights) in [
        (&command.needed, Rights::EXEC),
        (&command.trees, Rights::READ),
    ] {
        for n in list {
            grants.push(Grant {
                path: n.path.clone(),
                rights,
                origin: Origin::command_line(&format!("(needed to run the command: {})", n.why)),
                required: command.needed.first().is_some_and(|c| std::ptr::eq(n, c)),
                evidence: n.evidence.clone(),
            });
        }
    }
}

/// `--allow-read`, `--allow-write`, `--allow-exec`: relative to `cwd`, and they must exist.
fn options(req: &Request, cwd: &Path, grants: &mut Vec<Grant>) {
    for (paths, rights, opt) in [
        (&req.allow_read, Rights::READ, "--allow-read"),
        (&req.allow_write, Rights::WRITE, "--allow-write"),
        (&req.allow_exec, Rights::EXEC, "--allow-exec"),
    ] {
        for p in paths {
            grants.push(Grant {
                path: cwd.join(p),
                rights,
                origin: Origin::command_line(&format!("{opt} {}", p.display())),
                required: true,
                evidence: Vec::new(),
            });
        }
    }
}

fn home(vars: &Vars) -> Option<PathBuf> {
    vars.get("HOME").ok().map(PathBuf::from)
}

/// Whether `path` is too wide to grant without being asked for by name: `/`, or a directory
/// holding `home`.
fn too_wide(path: &Path, home: Option<&Path>) -> bool {
    path == Path::new("/") || home.is_some_and(|h| h.starts_with(path))
}

/// The install prefix of a program found on PATH: for `/usr/bin/node`, `/usr`; for
/// `~/.nvm/versions/node/v20/bin/node`, that version's directory. Never `/` or a directory
/// at or above `$HOME`: then only the program's own directory (or file) is granted.
/// Also where the program was found.
fn program_prefix(name: &str, i: &Inputs) -> Option<(PathBuf, Option<String>, PathBuf)> {
    let (found, real) = if name.starts_with('/') {
        (PathBuf::from(name), fs::real_path(Path::new(name)).ok()?)
    } else {
        i.programs.find(name, i.path_var, i.cwd)?
    };
    let dir = real.parent()?.to_path_buf();
    let prefix = match dir.file_name().and_then(|n| n.to_str()) {
        Some("bin" | "sbin" | "shims") => dir.parent().map(Path::to_path_buf),
        _ => None,
    };
    let home = home(i.vars);
    for candidate in [prefix, Some(dir)].into_iter().flatten() {
        if !too_wide(&candidate, home.as_deref()) {
            return Some((candidate, None, found));
        }
    }
    Some((
        real.clone(),
        Some(format!(
            "`{name}` lives directly in {}; only the program file itself is granted",
            real.parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )),
        found,
    ))
}

/// Paths named on the command line, for `filesystem.args`: each argument and the value of
/// `--option=VALUE`, when it exists (the interpreter's script excepted). With `parents`
/// (`args: write-parent`), a named file (or link) stands for its directory, and a path that does not
/// exist yet (a database to be created, say) counts when its directory exists and it is an
/// option's value or contains a `/`.
fn argument_paths(command: &Command, cwd: &Path, parents: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut after_option = false;
    for arg in command.argv.iter().skip(1) {
        let Some(a) = arg.to_str() else { continue };
        let (value, is_value) = if a.starts_with('-') {
            let v = a.split_once('=').map(|(_, v)| v);
            after_option = v.is_none();
            match v {
                Some(v) => (v, true),
                None => continue,
            }
        } else {
            let was = after_option;
            after_option = false;
            (a, was)
        };
        if value.is_empty() {
            continue;
        }
        let p = cwd.join(value);
        if command.script.as_deref() == Some(p.as_path()) {
            continue;
        }
        if !parents {
            if p.exists() {
                out.push(p);
            }
            continue;
        }
        // A link stands for its directory, as a file does: the server may have put it there
        // (it may write that directory), to have the next launch grant what it points at.
        if p.is_dir() && !p.is_symlink() {
            out.push(p);
        } else if p.exists() || p.is_symlink() || is_value || value.contains('/') {
            if let Some(dir) = p.parent().filter(|d| d.is_dir()) {
                out.push(dir.to_path_buf());
            }
        }
    }
    out
}
