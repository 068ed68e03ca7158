//! What a learning run observed, and the grants it implies: every access the base profile
//! does not already allow, collapsed into as few entries as stay tight, with secrets set
//! aside.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::plan::Plan;
use crate::plan::fs::Rights;
use crate::plan::query::Inside;

/// What an observed call does with its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Open {
        flags: u64,
    },
    Exec,
    /// Creates a directory entry (mkdir, mknod, symlink, link, socket): fails with EEXIST,
    /// before any permission check, when the entry exists.
    Make,
    /// The target of a rename: created, or replaced when it exists.
    RenameTo,
    /// Removes a directory entry (unlink, rmdir, rename source).
    Remove,
    Truncate,
    ConnectUnix,
    ConnectIp(SocketAddr),
    /// stat, access, readlink: needs no grant; reported only when it names a secret.
    Look,
}

/// One path (or destination) an observed call used.
#[derive(Debug, Clone)]
pub struct Use {
    /// Absolute, as the server named it (`.` and `..` removed).
    pub path: PathBuf,
    /// Where it leads inside the sandbox: the file itself, or where it would be created.
    pub resolved: Option<PathBuf>,
    /// Whether it existed inside the sandbox when the call was made.
    pub exists: bool,
    pub op: Op,
    pub syscall: &'static str,
    /// The calling process's name.
    pub comm: String,
}

/// A grant the learned profile adds, with what used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub path: PathBuf,
    pub rights: Rights,
    /// `"node (openat)"` → calls.
    pub by: BTreeMap<String, u64>,
    /// How many distinct paths it stands for.
    pub paths: usize,
}

impl Need {
    fn new(path: PathBuf, rights: Rights, by: String) -> Need {
        Need {
            path,
            rights,
            by: BTreeMap::from([(by, 1)]),
            paths: 1,
        }
    }

    fn merge(&mut self, o: &Need) {
        self.rights = self.rights.union(o.rights);
        for (k, v) in &o.by {
            *self.by.entry(k.clone()).or_default() += v;
        }
    }

    /// `read by node (openat ×12)`-style description.
    pub fn describe(&self) -> String {
        let verb = self.rights.label();
        let mut by: Vec<String> = self
            .by
            .iter()
            .map(|(k, n)| {
                if *n > 1 {
                    format!("{k} ×{n}")
                } else {
                    k.clone()
                }
            })
            .collect();
        if by.len() > 3 {
            let more = by.len() - 3;
            by.truncate(3);
            by.push(format!("{more} more"));
        }
        let files = if self.paths > 1 {
            format!("; {} paths under it", self.paths)
        } else {
            String::new()
        };
        format!("{verb}: {}{files}", by.join(", "))
    }
}

/// A secret the server touched: reported, never granted.
#[derive(Debug, Clone)]
pub struct Secret {
    pub need: Need,
    pub why: &'static str,
}

#[derive(Debug, Default)]
pub struct Learned {
    pub read: Vec<Need>,
    pub write: Vec<Need>,
    pub exec: Vec<Need>,
    pub unix: Vec<Need>,
    pub secrets: Vec<Secret>,
    /// Network mode none or host: IP destinations the server tried.
    pub ip_attempts: BTreeMap<SocketAddr, String>,
    /// Secrets inside a learned grant: masked with `hide`.
    pub hide: Vec<Secret>,
}

use crate::places::{persistence_kind, secret_kind};

/// The grant one use needs: the path and the rights, or nothing (the call would fail on a
/// missing file whatever the profile says).
fn need_of(u: &Use, since: std::time::SystemTime) -> Vec<(PathBuf, Rights)> {
    let Some(r) = u.resolved.clone() else {
        return Vec::new();
    };
    let parent = || {
        r.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| r.clone())
    };
    match u.op {
        Op::Open { flags } => {
            let flags = flags as i32;
            if flags & libc::O_PATH != 0 {
                return Vec::new();
            }
            let write = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
            match (u.exists, flags & libc::O_CREAT != 0) {
                (true, _) if write => vec![(r, Rights::WRITE)],
                (true, _) => vec![(r, Rights::READ)],
                (false, true) => vec![(parent(), Rights::WRITE)],
                (false, false) => Vec::new(),
            }
        }
        Op::Exec if u.exists => {
            let mut v = vec![(r.clone(), Rights::EXEC)];
            // The `#!` line and ELF loader are read now, after the run: a file changed while
            // the server was observed names what the server chose, not what it ran.
            if !changed_since(&r, since) {
                v.extend(
                    crate::plan::command::loaders_of(&r)
                        .into_iter()
                        .map(|p| (p, Rights::EXEC)),
                );
            }
            v
        }
        Op::Truncate if u.exists => vec![(r, Rights::WRITE)],
        Op::Make if !u.exists => vec![(parent(), Rights::WRITE)],
        Op::RenameTo => vec![(parent(), Rights::WRITE)],
        Op::Remove if u.exists => vec![(parent(), Rights::WRITE)],
        _ => Vec::new(),
    }
}

/// Directories a grant is never collapsed into: too wide to grant for a few files in them.
fn too_wide(dir: &Path, home: Option<&Path>) -> bool {
    if dir.components().count() <= 2 {
        return true;
    }
    if let Some(h) = home {
        if h.starts_with(dir) {
            return true;
        }
        for x in [
            ".config",
            ".local",
            ".local/share",
            ".local/state",
            ".cache",
        ] {
            if dir == h.join(x) {
                return true;
            }
        }
    }
    [
        "/usr/lib",
        "/usr/share",
        "/usr/local",
        "/usr/bin",
        "/var/lib",
        "/var/cache",
        "/run/user",
        "/etc/ssl",
    ]
    .iter()
    .any(|p| dir == Path::new(p))
}

/// Whether `dir` holds something that looks like a secret, two levels deep.
fn holds_secret(dir: &Path, home: Option<&Path>) -> bool {
    fn walk(d: &Path, depth: u8, budget: &mut u32, home: Option<&Path>) -> bool {
        let Ok(rd) = std::fs::read_dir(d) else {
            return false;
        };
        for e in rd.flatten() {
            if *budget == 0 {
                return true;
            }
            *budget -= 1;
            let p = e.path();
            if secret_kind(&p, home).is_some() {
                return true;
            }
            if depth > 0
                && e.file_type().is_ok_and(|t| t.is_dir())
                && walk(&p, depth - 1, budget, home)
            {
                return true;
            }
        }
        false
    }
    let mut budget = 5000;
    walk(dir, 1, &mut budget, home)
}

/// Why a path cannot be written into a profile as itself: a profile reads `${` as the start
/// of a variable, and a name that is not UTF-8 would be written as another name.
fn unwritable_name(path: &Path) -> Option<&'static str> {
    match path.to_str() {
        None => Some("a path that is not UTF-8, which a profile cannot name exactly"),
        Some(p) if p.contains("${") => {
            Some("a path holding `${`, which a profile reads as a variable")
        }
        Some(_) => None,
    }
}

/// Entries [`secrets_beneath`] looks at before it gives up on a directory.
const SCAN_BUDGET: u32 = 50_000;

/// Every secret beneath `dir`, however deep (links are not followed; a secret directory is
/// one entry, not searched), and with `write` every place whose contents run outside later
/// ([`persistence_kind`]); `None` when `dir` holds more than [`SCAN_BUDGET`] entries.
fn secrets_beneath(
    dir: &Path,
    home: Option<&Path>,
    write: bool,
) -> Option<Vec<(PathBuf, &'static str)>> {
    let mut found = Vec::new();
    let mut budget = SCAN_BUDGET;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            budget = budget.checked_sub(1)?;
            let p = e.path();
            // Beneath a write grant, what would run outside later is kept out too.
            let persists = write.then(|| persistence_kind(&p, home)).flatten();
            if let Some(why) = secret_kind(&p, home).or(persists) {
                found.push((p, why));
            } else if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p);
            }
        }
    }
    found.sort();
    Some(found)
}

/// Replaces groups of at least `min` paths with the same rights in one directory by that
/// directory, when it is not too wide and holds no secret.
fn collapse(needs: Vec<Need>, min: usize, home: Option<&Path>) -> Vec<Need> {
    let mut groups: BTreeMap<(PathBuf, bool, bool), Vec<Need>> = BTreeMap::new();
    let mut out = Vec::new();
    for n in needs {
        match n.path.parent() {
            Some(p) => groups
                .entry((p.to_path_buf(), n.rights.write, n.rights.exec))
                .or_default()
                .push(n),
            None => out.push(n),
        }
    }
    for ((dir, _, _), members) in groups {
        if members.len() >= min && !too_wide(&dir, home) && !holds_secret(&dir, home) {
            let mut n = Need {
                path: dir,
                rights: Rights::default(),
                by: BTreeMap::new(),
                paths: 0,
            };
            for m in &members {
                n.merge(m);
                n.paths += m.paths;
            }
            out.push(n);
        } else {
            out.extend(members);
        }
    }
    out
}

/// Drops every need that another one with at least its rights covers.
fn dedupe(mut needs: Vec<Need>) -> Vec<Need> {
    needs.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out: Vec<Need> = Vec::new();
    for n in needs {
        if let Some(o) = out
            .iter_mut()
            .find(|o| n.path.starts_with(&o.path) && o.rights.contains(n.rights))
        {
            o.merge(&Need {
                rights: o.rights,
                ..n.clone()
            });
            o.paths += n.paths;
            continue;
        }
        out.push(n);
    }
    out
}

/// A symbolic link on the way to `p` (or `p` itself) made or changed at or after `since`:
/// while the server was observed, which may have planted it to make the learned grant reach
/// more than it used. A link's change time is the kernel's, which no unprivileged call can
/// set back.
fn link_made_since(p: &Path, since: std::time::SystemTime) -> Option<PathBuf> {
    let mut at = PathBuf::new();
    for c in p.components() {
        at.push(c);
        let m = std::fs::symlink_metadata(&at).ok()?;
        if m.file_type().is_symlink() && changed_after(&m, since) {
            return Some(at);
        }
    }
    None
}

/// Whether a file with metadata `m` was changed (its inode: contents, name, mode) at or
/// after `since`.
fn changed_after(m: &std::fs::Metadata, since: std::time::SystemTime) -> bool {
    use std::os::unix::fs::MetadataExt;
    let since = since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    m.ctime() as f64 + m.ctime_nsec() as f64 / 1e9 >= since
}

/// Whether `p` (followed) was changed at or after `since`; a file gone counts as changed.
fn changed_since(p: &Path, since: std::time::SystemTime) -> bool {
    std::fs::metadata(p).map_or(true, |m| changed_after(&m, since))
}

/// Why a learned grant is not granted after all, judged where it leads now: a link planted
/// while the server was observed, or a real path that is a secret, too wide, or (for
/// writing) a place whose contents run later.
fn judged_where_it_leads(
    n: &Need,
    home: Option<&Path>,
    since: std::time::SystemTime,
) -> Option<&'static str> {
    if link_made_since(&n.path, since).is_some() {
        return Some(
            "reached through a symbolic link made while the server was observed (it could have planted it to widen this grant)",
        );
    }
    let real = std::fs::canonicalize(&n.path).ok()?;
    if real == n.path {
        return None;
    }
    secret_kind(&real, home)
        .or_else(|| {
            (real.is_dir() && too_wide(&real, home))
                .then_some("reached through a link to a directory too wide to grant")
        })
        .or_else(|| {
            n.rights
                .write
                .then(|| persistence_kind(&real, home))
                .flatten()
        })
}

/// Turns the observed uses into the grants `base` lacks. `since`: when the server was
/// started (links made after it are the server's).
pub fn analyse(
    uses: &[Use],
    base: &Plan,
    home: Option<&Path>,
    since: std::time::SystemTime,
) -> Learned {
    // A HOME reached through a link (`/home/u` -> `/data/u`): a path the server names by the
    // real directory is taken as under HOME, so that its secrets are known as such (and the
    // grant is written with `${HOME}`, which leads to the same file).
    let real_home = home
        .and_then(|h| std::fs::canonicalize(h).ok())
        .filter(|r| Some(r.as_path()) != home);
    let as_home = |p: &Path| -> PathBuf {
        match (&real_home, home) {
            (Some(r), Some(h)) => p
                .strip_prefix(r)
                .map_or_else(|_| p.to_path_buf(), |rel| h.join(rel)),
            _ => p.to_path_buf(),
        }
    };
    let uses: Vec<Use> = uses
        .iter()
        .map(|u| Use {
            path: as_home(&u.path),
            resolved: u.resolved.as_deref().map(as_home),
            ..u.clone()
        })
        .collect();
    let mut learned = Learned::default();
    let mut files: BTreeMap<PathBuf, Need> = BTreeMap::new();
    let mut unix: BTreeMap<PathBuf, Need> = BTreeMap::new();
    let mut secrets: BTreeMap<PathBuf, Secret> = BTreeMap::new();
    for u in &uses {
        let by = format!("{} ({})", u.comm, u.syscall);
        if let Op::ConnectIp(addr) = u.op {
            let ip = addr.ip();
            if !ip.is_loopback() && !ip.is_unspecified() {
                learned.ip_attempts.entry(addr).or_insert(by);
            }
            continue;
        }
        let secret = secret_kind(&u.path, home)
            .or_else(|| u.resolved.as_deref().and_then(|r| secret_kind(r, home)));
        if u.op == Op::ConnectUnix {
            let path = u.resolved.clone().unwrap_or_else(|| u.path.clone());
            if !u.exists || base.query_unix(&path).allowed {
                continue;
            }
            let n = Need::new(path.clone(), Rights::READ, by);
            match secret {
                Some(why) => {
                    secrets.entry(path).or_insert(Secret { need: n, why });
                }
                None => unix.entry(path).or_insert(n.clone()).merge(&n),
            }
            continue;
        }
        let needs = need_of(u, since);
        let base_allows = || base.filesystem.query(&u.path, Rights::READ).allowed;
        if let (Some(why), true) = (secret, needs.is_empty() && !base_allows()) {
            // Asked for, but not there (or masked by `hide`): still worth a warning.
            let n = Need::new(u.path.clone(), Rights::READ, by.clone());
            secrets
                .entry(u.path.clone())
                .or_insert(Secret { need: n, why });
        }
        for (path, rights) in needs {
            let (located, inside) = base.filesystem.locate(&path);
            // Inside a private mount, only the mount itself can be granted.
            let path = match inside {
                Inside::PrivateTmp => {
                    let root = if located.starts_with("/dev/shm") {
                        "/dev/shm"
                    } else {
                        "/tmp"
                    };
                    PathBuf::from(root)
                }
                Inside::PrivateProc => PathBuf::from("/proc"),
                Inside::Host | Inside::Bound => path,
            };
            if base.filesystem.query(&path, rights).allowed {
                continue;
            }
            let n = Need::new(path.clone(), rights, by.clone());
            // A directory grant reaches everything beneath it: $HOME, / and the like are
            // never granted, even if the server opened them.
            let host = matches!(inside, Inside::Host | Inside::Bound);
            let wide =
                (host && path.is_dir() && too_wide(&path, home)).then_some(if rights.write {
                    "a directory too wide to grant write access to"
                } else {
                    "a directory too wide to grant (everything beneath it would be readable)"
                });
            let persists = rights
                .write
                .then(|| persistence_kind(&path, home))
                .flatten();
            if let Some(why) = secret_kind(&path, home)
                .or(secret)
                .or(wide)
                .or_else(|| unwritable_name(&path))
                .or(persists)
            {
                secrets
                    .entry(path)
                    .and_modify(|s| s.need.merge(&n))
                    .or_insert(Secret { need: n, why });
                continue;
            }
            files.entry(path).and_modify(|e| e.merge(&n)).or_insert(n);
        }
    }
    let all = dedupe(collapse(files.into_values().collect(), 3, home));
    let on_host = |p: &Path| matches!(base.filesystem.locate(p).1, Inside::Host | Inside::Bound);
    let mut unix: Vec<Need> = unix.into_values().collect();
    let mut all = all;
    for list in [&mut all, &mut unix] {
        list.retain(|n| {
            let Some(why) = on_host(&n.path)
                .then(|| judged_where_it_leads(n, home, since))
                .flatten()
            else {
                return true;
            };
            secrets
                .entry(n.path.clone())
                .and_modify(|s| s.need.merge(n))
                .or_insert(Secret {
                    need: n.clone(),
                    why,
                });
            false
        });
    }
    for n in all {
        if n.rights.write {
            learned.write.push(n);
        } else if n.rights.exec {
            learned.exec.push(n);
        } else {
            learned.read.push(n);
        }
    }
    learned.unix = unix;
    learned.secrets = secrets.into_values().collect();
    // A directory granted whole (for one file created in it, or one listing) reaches every
    // file beneath it, which the server may never have touched: each secret there is
    // hidden. One in $HOME too large to check completely is not granted.
    let mut beneath = Vec::new();
    for list in [&mut learned.read, &mut learned.write, &mut learned.exec] {
        list.retain(|n| {
            let on_host = matches!(
                base.filesystem.locate(&n.path).1,
                Inside::Host | Inside::Bound
            );
            if !on_host || !n.path.is_dir() {
                return true;
            }
            match secrets_beneath(&n.path, home, n.rights.write) {
                // A secret a `hide` entry cannot name: the directory is not granted.
                Some(found) if found.iter().any(|(p, _)| unwritable_name(p).is_some()) => {
                    learned.secrets.push(Secret {
                        need: n.clone(),
                        why: "a directory holding a secret whose name a profile cannot hold",
                    });
                    false
                }
                Some(found) => {
                    beneath.extend(found.into_iter().map(|(p, why)| Secret {
                        need: Need::new(p, Rights::READ, "beneath a learned grant".into()),
                        why,
                    }));
                    true
                }
                None if home.is_some_and(|h| n.path.starts_with(h)) => {
                    learned.secrets.push(Secret {
                        need: n.clone(),
                        why: "a directory too large to check for secrets beneath it",
                    });
                    false
                }
                None => true,
            }
        });
    }
    for s in beneath {
        if !learned.secrets.iter().any(|o| o.need.path == s.need.path) {
            learned.hide.push(s);
        }
    }
    // A secret inside a directory the server needs stays masked.
    for s in &learned.secrets {
        let granted = learned
            .read
            .iter()
            .chain(&learned.write)
            .chain(&learned.exec)
            .any(|n| s.need.path.starts_with(&n.path));
        let masked = learned
            .hide
            .iter()
            .any(|h| s.need.path.starts_with(&h.need.path));
        let wide = s.why.starts_with("a directory too wide");
        let nameless = unwritable_name(&s.need.path).is_some();
        if granted && !masked && !wide && !nameless && s.need.path.exists() {
            learned.hide.push(s.clone());
        }
    }
    learned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_what_git_runs_later() {
        for p in [
            "/w/p/.git/hooks",
            "/w/p/.git/hooks/pre-commit",
            "/w/p/.git/config",
            "/w/p/.git/modules/sub/hooks/post-checkout",
            "/w/p/.git/modules/sub/config",
            "/w/p/.git/modules/a/modules/b/config",
            "/w/p/.git/worktrees/wt/config.worktree",
        ] {
            assert!(persistence_kind(Path::new(p), None).is_some(), "{p}");
        }
        for p in [
            "/w/p/.git",
            "/w/p/.git/objects/ab/cdef",
            "/w/p/.git/index",
            "/w/p/.git/refs/heads/config",
            "/w/p/src/config",
            "/w/p/hooks/x",
        ] {
            assert!(persistence_kind(Path::new(p), None).is_none(), "{p}");
        }
    }

    #[test]
    fn recognises_secrets() {
        let home = Some(Path::new("/home/u"));
        for p in [
            "/home/u/.ssh/id_rsa",
            "/home/u/.aws/credentials",
            "/home/u/.gnupg/pubring.kbx",
            "/home/u/work/app/.env",
            "/home/u/work/app/.env.production",
            "/srv/keys/server.pem",
            "/home/u/.local/share/keyrings/login.keyring",
            "/run/user/1000/bus",
            "/run/user/1000/gnupg/S.gpg-agent",
            "/etc/shadow",
        ] {
            assert!(secret_kind(Path::new(p), home).is_some(), "{p}");
        }
        for p in [
            "/home/u/notes/todo.md",
            "/home/u/work/app/.env.example",
            "/usr/lib/node_modules/x/index.js",
            "/etc/passwd",
        ] {
            assert!(secret_kind(Path::new(p), home).is_none(), "{p}");
        }
    }

    fn need(p: &str, r: Rights) -> Need {
        Need::new(PathBuf::from(p), r, "node (openat)".into())
    }

    #[test]
    fn collapses_siblings_but_not_wide_directories() {
        let home = Some(Path::new("/home/u"));
        let v = collapse(
            vec![
                need("/srv/data/a", Rights::READ),
                need("/srv/data/b", Rights::READ),
                need("/srv/data/c", Rights::READ),
                need("/srv/data/d", Rights::WRITE),
                need("/home/u/a", Rights::READ),
                need("/home/u/b", Rights::READ),
                need("/home/u/c", Rights::READ),
            ],
            3,
            home,
        );
        let paths: Vec<String> = v.iter().map(|n| n.path.display().to_string()).collect();
        assert!(paths.contains(&"/srv/data".to_string()), "{paths:?}");
        assert!(paths.contains(&"/srv/data/d".to_string()), "{paths:?}");
        assert!(paths.contains(&"/home/u/a".to_string()), "{paths:?}");
        assert!(!paths.contains(&"/home/u".to_string()), "{paths:?}");
    }

    #[test]
    fn dedupes_covered_needs() {
        let v = dedupe(vec![
            need("/srv/data", Rights::WRITE),
            need("/srv/data/x", Rights::READ),
            need("/srv/data/y", Rights::EXEC),
        ]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].path, Path::new("/srv/data"));
        assert_eq!(v[0].paths, 2);
    }
}
