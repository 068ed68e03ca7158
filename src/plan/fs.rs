//! Filesystem grants: every path a profile, the command line or the command itself grants,
//! opened once (O_PATH) so that the Landlock rule, the existence check and the bind mount all
//! refer to the same file; the `hide` masks; the private mounts.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{ABI, Access, AccessFs, BitFlags};
use nix::errno::Errno;
use serde::Serialize;
use thiserror::Error;

use crate::profile::Origin;

/// The sandbox's own tmpfs instances over the host's `/tmp` and `/dev/shm`: a host path below
/// them is seen only when it is bound into the private instance.
pub const PRIVATE_TMP: [&str; 2] = ["/tmp", "/dev/shm"];
/// The sandbox's own procfs: it shows only the sandbox's processes.
pub const PRIVATE_PROC: &str = "/proc";
/// Directories the sandbox gets a private instance of (tmpfs, or its own procfs).
pub const PRIVATE_MOUNTS: [&str; 3] = [PRIVATE_TMP[0], PRIVATE_TMP[1], PRIVATE_PROC];

pub use crate::paths::{open_real, real_path};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rights {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Rights {
    pub const READ: Rights = Rights {
        read: true,
        write: false,
        exec: false,
    };
    pub const WRITE: Rights = Rights {
        read: true,
        write: true,
        exec: false,
    };
    pub const EXEC: Rights = Rights {
        read: true,
        write: false,
        exec: true,
    };

    /// Whether these rights allow everything `o` allows.
    pub fn includes(self, o: Rights) -> bool {
        (self.read || !o.read) && (self.write || !o.write) && (self.exec || !o.exec)
    }

    pub fn union(self, o: Rights) -> Rights {
        Rights {
            read: self.read || o.read,
            write: self.write || o.write,
            exec: self.exec || o.exec,
        }
    }

    /// The strongest right asked for (write, then exec, then read): the `filesystem.` list
    /// and the `--allow-` option that grant it, and the suffix of an `explain` target.
    pub fn word(self) -> &'static str {
        if self.write {
            "write"
        } else if self.exec {
            "exec"
        } else {
            "read"
        }
    }

    /// [`Rights::word`] as a verb in a sentence: "the server may not {verb} it".
    pub fn verb(self) -> &'static str {
        match self.word() {
            "exec" => "execute",
            w => w,
        }
    }

    pub fn label(self) -> &'static str {
        match (self.write, self.exec) {
            (true, true) => "read+write+exec",
            (true, false) => "read+write",
            (false, true) => "read+exec",
            (false, false) => "read",
        }
    }

    /// The Landlock access rights for these rights at `abi`, limited to what applies to a
    /// non-directory when `dir` is false.
    pub fn access(self, abi: ABI, dir: bool) -> BitFlags<AccessFs> {
        let mut a = AccessFs::ReadFile | AccessFs::ReadDir;
        if self.exec {
            a |= AccessFs::Execute;
        }
        if self.write {
            a |= AccessFs::from_write(abi);
        }
        let a = a & AccessFs::from_all(abi);
        if dir { a } else { a & AccessFs::from_file(abi) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dir,
    File,
}

/// Where a granted path lives once the sandbox's mounts are in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// A host path, seen as is.
    Host,
    /// A private mount (`/tmp`, `/dev/shm`, `/proc`) or a path inside one: the rule is added
    /// inside the sandbox after mounting.
    Private,
    /// A host path under `/tmp` or `/dev/shm`, bind-mounted into the private instance.
    BoundIntoPrivate,
}

/// One grant request before it is resolved.
#[derive(Debug, Clone)]
pub struct Grant {
    pub path: PathBuf,
    pub rights: Rights,
    pub origin: Origin,
    /// Written with a leading `!`, or given on the command line: it must exist.
    pub required: bool,
    /// What the path was learnt from beside itself (see [`super::steer`]).
    pub evidence: Vec<super::steer::Evidence>,
}

#[derive(Debug, Serialize)]
pub struct FsRule {
    /// The canonical path when it exists on the host, otherwise the path as written.
    pub path: PathBuf,
    /// The path as the first grant wrote it (after variables), when that differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<PathBuf>,
    /// Every path, as written, that grants this file.
    #[serde(skip)]
    pub aliases: Vec<PathBuf>,
    pub rights: Rights,
    pub kind: Kind,
    pub placement: Placement,
    /// Where each grant of this path comes from.
    pub from: Vec<Origin>,
    /// A directory mcpcell creates at launch (the state directory, in a dry run).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub created_at_launch: bool,
    #[serde(skip)]
    pub fd: Option<OwnedFd>,
}

impl FsRule {
    /// Whether this grant's own mount is no-exec: it may write but not execute, or it is a
    /// place git runs later that mcpcell keeps read-only ([`super::runs_later`]: a hook git
    /// cannot run is one it skips). The sandbox's mount flags and `explain` both ask this.
    pub fn mounted_noexec(&self) -> bool {
        (self.rights.write && !self.rights.exec) || super::runs_later::only_protected(self)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub rights: Rights,
    pub reason: String,
    pub from: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hide {
    pub path: PathBuf,
    pub kind: Kind,
    pub from: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct HideSkipped {
    pub path: PathBuf,
    pub reason: String,
    pub from: Origin,
}

/// Why a granted path cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    Missing,
    NotAccessible,
    TooManyLinks,
    /// A link appeared on its way after the plan resolved it.
    Changed,
    Other(Errno),
}

impl Unreachable {
    fn of(e: Errno) -> Unreachable {
        match e {
            Errno::ENOENT | Errno::ENOTDIR => Unreachable::Missing,
            Errno::EACCES => Unreachable::NotAccessible,
            Errno::ELOOP => Unreachable::TooManyLinks,
            Errno::ESTALE => Unreachable::Changed,
            other => Unreachable::Other(other),
        }
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unreachable::Missing => "does not exist",
            Unreachable::NotAccessible => "not accessible to this user",
            Unreachable::TooManyLinks => "too many levels of symbolic links",
            Unreachable::Changed => {
                "changed while mcpcell planned (a link appeared on its way, which is not followed)"
            }
            Unreachable::Other(e) => e.desc(),
        })
    }
}

/// A failure the user must fix before anything starts.
#[derive(Debug, Error)]
pub enum GrantError {
    /// A path written with a leading `!`, or given on the command line, cannot be reached.
    #[error("{origin}: `{}` {why}{}", path.display(), required_because(origin, path, why))]
    Required {
        origin: Origin,
        path: PathBuf,
        why: Unreachable,
    },
}

/// Why an unreachable path stops the launch, and what to do.
fn required_because(origin: &Origin, path: &Path, why: &Unreachable) -> String {
    match (origin.is_command_line(), why) {
        (true, Unreachable::Missing) => format!(
            ": a path given with --allow-* must exist; create it first (mkdir -p {}), or leave the option out",
            crate::escape::shell_word(path.as_os_str())
        ),
        (true, _) => ": a path given with --allow-* must be reachable".into(),
        (false, _) => ", and the profile marks it as required (a leading `!`)".into(),
    }
}

#[derive(Debug, Default, Serialize)]
pub struct FsPlan {
    pub rules: Vec<FsRule>,
    pub skipped: Vec<Skipped>,
    pub hide: Vec<Hide>,
    pub hide_skipped: Vec<HideSkipped>,
    /// Indexes into `rules` of host paths to bind-mount into the private /tmp or /dev/shm.
    #[serde(skip)]
    pub binds: Vec<usize>,
    /// The entries (variable, index) of the server's search paths (`PATH`, `PYTHONPATH`,
    /// ...) left out: directories where a server may have planted code
    /// ([`super::steer::Sifted::path`]).
    #[serde(skip)]
    pub path_left_out: Vec<(String, usize)>,
    /// Directories the server may write where git would look for a repository and found
    /// none at launch ([`super::runs_later::Protected::unrepositoried`]): one the server
    /// makes there is told of when it exits.
    #[serde(skip)]
    pub no_repository: Vec<PathBuf>,
    /// Git directories a writable grant holds ([`super::runs_later::Protected::git_dirs`]).
    #[serde(skip)]
    pub git_dirs: Vec<PathBuf>,
    /// What git would read or run, absent at launch where the server may write
    /// ([`super::runs_later::Protected::unmade`]), with why: watched while the server runs.
    #[serde(skip)]
    pub unmade: Vec<(PathBuf, &'static str)>,
}

fn under(path: &Path, dir: &str) -> bool {
    path.starts_with(dir) && path != Path::new(dir)
}

fn private_root(path: &Path) -> Option<&'static str> {
    PRIVATE_MOUNTS.iter().copied().find(|m| path.starts_with(m))
}

/// Whether `path` names one of the sandbox's own mounts (`/tmp`, `/dev/shm` themselves) or
/// anything under its own `/proc`: never a host file.
pub fn is_private(path: &Path) -> bool {
    private_root(path).is_some_and(|root| path == Path::new(root) || root == PRIVATE_PROC)
}

/// Resolves the grants. `pending` is a directory that does not exist yet but will be created
/// at launch (the state directory during a dry run): grants under it are shown, not skipped.
pub fn build(grants: Vec<Grant>, pending: Option<&Path>) -> Result<FsPlan, GrantError> {
    let mut plan = FsPlan::default();
    // Merge key: the inode for host files, the path for private ones.
    let mut by_inode: HashMap<(u64, u64), usize> = HashMap::new();
    let mut by_path: HashMap<PathBuf, usize> = HashMap::new();

    for g in grants {
        let from = g.origin.clone();
        // Private mounts themselves, and anything under /proc, only exist inside.
        if is_private(&g.path) {
            let idx = *by_path.entry(g.path.clone()).or_insert_with(|| {
                plan.rules.push(FsRule {
                    path: g.path.clone(),
                    written: None,
                    aliases: Vec::new(),
                    rights: Rights::default(),
                    kind: Kind::Dir,
                    placement: Placement::Private,
                    from: Vec::new(),
                    created_at_launch: false,
                    fd: None,
                });
                plan.rules.len() - 1
            });
            let r = &mut plan.rules[idx];
            r.rights = r.rights.union(g.rights);
            r.from.push(from);
            if !r.aliases.contains(&g.path) {
                r.aliases.push(g.path.clone());
            }
            continue;
        }
        let (fd, canon) = match open_real(&g.path) {
            Ok(opened) => opened,
            Err(Errno::ENOENT) if pending.is_some_and(|p| g.path.starts_with(p)) => {
                plan.rules.push(FsRule {
                    aliases: vec![g.path.clone()],
                    path: g.path,
                    written: None,
                    rights: g.rights,
                    kind: Kind::Dir,
                    placement: Placement::Host,
                    from: vec![from],
                    created_at_launch: true,
                    fd: None,
                });
                continue;
            }
            Err(e) => {
                let why = Unreachable::of(e);
                if g.required {
                    return Err(GrantError::Required {
                        origin: g.origin,
                        path: g.path,
                        why,
                    });
                }
                plan.skipped.push(Skipped {
                    path: g.path,
                    rights: g.rights,
                    reason: why.to_string(),
                    from,
                });
                continue;
            }
        };
        let Ok(meta) = nix::sys::stat::fstat(fd.as_fd()) else {
            plan.skipped.push(Skipped {
                path: g.path,
                rights: g.rights,
                reason: "cannot be inspected".into(),
                from,
            });
            continue;
        };
        let kind = if meta.st_mode & libc::S_IFMT == libc::S_IFDIR {
            Kind::Dir
        } else {
            Kind::File
        };
        let placement = match private_root(&canon) {
            Some(PRIVATE_PROC) => Placement::Private,
            Some(root) if under(&canon, root) => Placement::BoundIntoPrivate,
            Some(_) => Placement::Private,
            None => Placement::Host,
        };
        let key = (meta.st_dev, meta.st_ino);
        let idx = match (placement, by_inode.get(&key)) {
            (Placement::Host | Placement::BoundIntoPrivate, Some(&i)) => i,
            _ => {
                let existing = (placement == Placement::Private)
                    .then(|| by_path.get(&canon).copied())
                    .flatten();
                match existing {
                    Some(i) => i,
                    None => {
                        plan.rules.push(FsRule {
                            written: (canon != g.path).then(|| g.path.clone()),
                            aliases: Vec::new(),
                            path: canon.clone(),
                            rights: Rights::default(),
                            kind,
                            placement,
                            from: Vec::new(),
                            created_at_launch: false,
                            fd: (placement != Placement::Private).then_some(fd),
                        });
                        let i = plan.rules.len() - 1;
                        if placement == Placement::Private {
                            by_path.insert(canon, i);
                        } else {
                            by_inode.insert(key, i);
                        }
                        i
                    }
                }
            }
        };
        let r = &mut plan.rules[idx];
        r.rights = r.rights.union(g.rights);
        r.from.push(from);
        if !r.aliases.contains(&g.path) {
            r.aliases.push(g.path);
        }
    }

    // Bind only the outermost of nested host paths under /tmp or /dev/shm.
    let mut bound: Vec<usize> = (0..plan.rules.len())
        .filter(|&i| plan.rules[i].placement == Placement::BoundIntoPrivate)
        .collect();
    bound.sort_by(|&a, &b| plan.rules[a].path.cmp(&plan.rules[b].path));
    for i in bound {
        let covered = plan.binds.iter().any(|&j| {
            plan.rules[j].kind == Kind::Dir && plan.rules[i].path.starts_with(&plan.rules[j].path)
        });
        if !covered {
            plan.binds.push(i);
        }
    }
    Ok(plan)
}

/// The most entries of a hidden directory looked at for files with other names.
pub const MAX_LINKED_LOOKED_AT: usize = 4096;

impl FsPlan {
    /// Whether `path` (canonical) lies at or beneath a granted path.
    pub fn covers(&self, path: &Path) -> bool {
        self.rules.iter().any(|r| path.starts_with(&r.path))
    }

    /// The paths beneath the host grant `r` that Landlock rules for `r` must leave out
    /// where no mount can narrow it (the namespace-free tier): the hidden ones, and the
    /// grants beneath it with fewer rights (a read-only file inside a writable project),
    /// which keep only their own rules. Landlock adds rules up: a rule for `r` itself would
    /// give them its rights. Not the places mcpcell itself makes read-only
    /// ([`super::runs_later`]): granting around `.git/hooks` would leave `.git`'s new
    /// entries ungranted, and git's lock files with them; the tier names that loss.
    pub fn left_out_of(&self, r: &FsRule) -> Vec<PathBuf> {
        self.hide
            .iter()
            .map(|h| &h.path)
            .chain(
                self.rules
                    .iter()
                    .filter(|o| {
                        o.placement != Placement::Private
                            && o.path != r.path
                            && !o.rights.includes(r.rights)
                            && !super::runs_later::only_protected(o)
                    })
                    .map(|o| &o.path),
            )
            .filter(|p| p.starts_with(&r.path))
            .cloned()
            .collect()
    }

    /// How many paths [`FsPlan::left_out_of`] leaves out of some grant's rules.
    pub fn carved_out(&self) -> usize {
        let mut all: Vec<PathBuf> = self
            .rules
            .iter()
            .filter(|r| r.kind == Kind::Dir && r.placement != Placement::Private)
            .flat_map(|r| self.left_out_of(r))
            .collect();
        all.sort();
        all.dedup();
        all.len()
    }

    /// Whether `path` stays reachable once the private /tmp and /dev/shm are mounted.
    pub fn reachable_after_mounts(&self, path: &Path) -> bool {
        match PRIVATE_TMP.iter().find(|m| path.starts_with(m)) {
            None => true,
            Some(_) => self
                .binds
                .iter()
                .any(|&i| path.starts_with(&self.rules[i].path)),
        }
    }

    /// Adds the `hide` masks that matter: a mask under no grant hides what Landlock already
    /// denies, so it is skipped, except in observe mode, where Landlock does not restrict
    /// files and every mask is applied.
    pub fn add_hides(
        &mut self,
        hides: Vec<(PathBuf, Origin, bool)>,
        observe: bool,
    ) -> Result<(), GrantError> {
        for (path, origin, required) in hides {
            let from = origin.clone();
            let canon = match real_path(&path) {
                Ok(c) => c,
                Err(_) if required => {
                    return Err(GrantError::Required {
                        origin,
                        path,
                        why: Unreachable::Missing,
                    });
                }
                Err(_) => {
                    self.hide_skipped.push(HideSkipped {
                        path,
                        reason: Unreachable::Missing.to_string(),
                        from,
                    });
                    continue;
                }
            };
            let reason = if private_root(&canon).is_some() && !self.reachable_after_mounts(&canon) {
                Some("inside a private mount already")
            } else if !observe && !self.covers(&canon) {
                Some("no grant covers it, so it is denied anyway")
            } else {
                None
            };
            if let Some(reason) = reason {
                self.hide_skipped.push(HideSkipped {
                    path: canon,
                    reason: reason.into(),
                    from,
                });
                continue;
            }
            let kind = if canon.is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            if !self.hide.iter().any(|h| canon.starts_with(&h.path)) {
                self.hide.push(Hide {
                    path: canon,
                    kind,
                    from,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(p: &str, rights: Rights) -> Grant {
        Grant {
            path: PathBuf::from(p),
            rights,
            origin: Origin::command_line("--allow-read"),
            required: false,
            evidence: Vec::new(),
        }
    }

    #[test]
    fn merges_grants_of_the_same_file() {
        let plan = build(
            vec![
                grant("/usr", Rights::READ),
                grant("/usr/", Rights::EXEC),
                grant("/nonexistent/x", Rights::READ),
                grant("/tmp", Rights::WRITE),
            ],
            None,
        )
        .unwrap();
        assert_eq!(plan.rules.len(), 2);
        assert_eq!(plan.rules[0].rights, Rights::EXEC);
        assert_eq!(plan.rules[0].placement, Placement::Host);
        assert_eq!(plan.rules[1].placement, Placement::Private);
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].reason, "does not exist");
    }

    #[test]
    fn required_paths_must_exist() {
        let mut g = grant("/nonexistent/x", Rights::READ);
        g.required = true;
        let GrantError::Required { path, why, .. } = build(vec![g], None).unwrap_err();
        assert_eq!(path, Path::new("/nonexistent/x"));
        assert_eq!(why, Unreachable::Missing);
    }

    #[test]
    fn host_paths_under_tmp_are_bound_once() {
        let dir = tempfile::Builder::new().tempdir_in("/tmp").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let plan = build(
            vec![
                grant(sub.to_str().unwrap(), Rights::READ),
                grant(dir.path().to_str().unwrap(), Rights::WRITE),
            ],
            None,
        )
        .unwrap();
        assert_eq!(plan.binds.len(), 1);
        assert_eq!(
            plan.rules[plan.binds[0]].path,
            dir.path().canonicalize().unwrap()
        );
        assert!(plan.reachable_after_mounts(&sub));
        assert!(!plan.reachable_after_mounts(Path::new("/tmp/elsewhere")));
    }

    #[test]
    fn real_paths_resolve_links_like_canonicalize() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), "").unwrap();
        std::os::unix::fs::symlink("a/b", d.path().join("l")).unwrap();
        std::os::unix::fs::symlink(d.path().join("l/f"), d.path().join("abs")).unwrap();
        for p in ["l/f", "abs", "l/../b/f", "a/b", "l", "a/./b/../b/f", "a/b/"] {
            let p = d.path().join(p);
            assert_eq!(real_path(&p).unwrap(), p.canonicalize().unwrap(), "{p:?}");
        }
        assert_eq!(
            real_path(&d.path().join("missing")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[test]
    fn rights_map_to_landlock_access() {
        let abi = ABI::V5;
        assert!(Rights::READ.access(abi, true).contains(AccessFs::ReadDir));
        assert!(!Rights::READ.access(abi, true).contains(AccessFs::Execute));
        assert!(Rights::EXEC.access(abi, false).contains(AccessFs::Execute));
        assert!(!Rights::EXEC.access(abi, false).contains(AccessFs::ReadDir));
        let w = Rights::WRITE.access(abi, true);
        assert!(w.contains(AccessFs::Truncate | AccessFs::Refer | AccessFs::MakeReg));
        assert!(!w.contains(AccessFs::Execute));
    }
}
