//! What a server must not be able to write, checked against the plan's writable grants
//! before anything starts (promises 8 and 10): the profile files this run loaded, every
//! profile search directory (existing or not: a later run looks there), the other servers'
//! state directories, and the files mcpcell itself writes (`--log-file`, `learn -o`).
//!
//! Grants of a private mount (`/tmp`, `/dev/shm` themselves) reach the sandbox's own tmpfs
//! (without a mount namespace they are dropped, see `sandbox::prepare`), never the host's
//! files, so they do not count here, except for profile files, which keep the stricter rule
//! they always had (a profile under a host `/tmp` is refused when `/tmp` is granted).

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::fs::{FsPlan, FsRule, Placement};
use super::provenance;
use super::query::resolve_existing;
use crate::profile::Origin;

/// A writable grant that reaches what no server may write.
#[derive(Debug, Error)]
pub enum TrustError {
    #[error(
        "profile {} lies inside {}, which the profile lets the server write ({}); a server could rewrite its own sandbox. Keep profiles outside every writable path, or narrow that grant",
        profile.display(),
        grant.display(),
        provenance::join(from, ", ")
    )]
    Profile {
        profile: PathBuf,
        grant: PathBuf,
        from: Vec<Origin>,
    },
    #[error(
        "{} is writable by the server ({}) and {how} the profile search directory {}{}: a server could add or change a profile that a later run loads. Narrow that grant so that it leaves {} out",
        grant.display(),
        provenance::join(from, ", "),
        dir.display(),
        if *exists { "" } else { " (which does not exist yet)" },
        dir.display()
    )]
    SearchDir {
        grant: PathBuf,
        from: Vec<Origin>,
        how: Overlap,
        dir: PathBuf,
        /// Whether the search directory exists yet.
        exists: bool,
    },
    #[error(
        "{} is writable by the server ({}) and {how} {}, where every server keeps its private state: a server could plant files that another server runs. Narrow that grant so that it leaves {} out{}",
        grant.display(),
        provenance::join(from, ", "),
        root.display(),
        root.display(),
        own.as_ref()
            .map(|s| format!(
                " (this server's own state directory, ${{STATE_DIR}}, is {})",
                s.display()
            ))
            .unwrap_or_default()
    )]
    OtherState {
        grant: PathBuf,
        from: Vec<Origin>,
        how: Overlap,
        /// Where every server's state directory lies.
        root: PathBuf,
        /// This server's own state directory, which it may write.
        own: Option<PathBuf>,
    },
}

/// How a writable grant and a protected directory overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// The grant is the directory.
    Is,
    /// The grant holds the directory.
    Contains,
    /// The grant lies inside the directory.
    LiesInside,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Overlap::Is => "is",
            Overlap::Contains => "contains",
            Overlap::LiesInside => "lies inside",
        })
    }
}

/// The writable rules that reach host files (see the module comment for `host_only`).
fn writable(fs: &FsPlan, host_only: bool) -> impl Iterator<Item = &FsRule> {
    fs.rules
        .iter()
        .filter(move |r| r.rights.write && !(host_only && r.placement == Placement::Private))
}

/// Every name the rule's path goes by: canonical, and as each grant wrote it.
fn names(rule: &FsRule) -> impl Iterator<Item = &Path> {
    std::iter::once(rule.path.as_path()).chain(rule.aliases.iter().map(PathBuf::as_path))
}

/// `path` as written (normalised) and with the links of its existing part resolved.
fn forms(path: &Path) -> [PathBuf; 2] {
    let written = super::query::normalize(path);
    let real = resolve_existing(&written);
    [written, real]
}

/// The writable grant that holds `path` (at or below it), if any.
pub fn writable_holding<'a>(fs: &'a FsPlan, path: &Path) -> Option<&'a FsRule> {
    let forms = forms(path);
    writable(fs, true).find(|r| names(r).any(|n| forms.iter().any(|f| f.starts_with(n))))
}

/// How a writable grant `g` and a protected directory `d` overlap, if they do.
fn overlap(g: &Path, d: &Path) -> Option<Overlap> {
    if g == d {
        Some(Overlap::Is)
    } else if d.starts_with(g) {
        Some(Overlap::Contains)
    } else if g.starts_with(d) {
        Some(Overlap::LiesInside)
    } else {
        None
    }
}

/// Refuses a plan whose writable grants reach a profile file, a profile search directory or
/// another server's state. `state_roots` are where state directories lie (this launch's
/// first, then those a launch of this user with another environment would use);
/// `own_state` is this server's `${STATE_DIR}`, which it may write.
pub fn check(
    fs: &FsPlan,
    files: &[PathBuf],
    search_dirs: &[PathBuf],
    state_roots: &[PathBuf],
    own_state: Option<&Path>,
) -> Result<(), TrustError> {
    for rule in writable(fs, false) {
        for f in files {
            if names(rule).any(|n| f.starts_with(n)) {
                return Err(TrustError::Profile {
                    profile: f.clone(),
                    grant: rule.path.clone(),
                    from: rule.from.clone(),
                });
            }
        }
    }
    if writable(fs, true).next().is_none() {
        return Ok(());
    }
    // The protected directories' forms, resolved once for every rule.
    let dirs: Vec<(&PathBuf, [PathBuf; 2])> = search_dirs.iter().map(|d| (d, forms(d))).collect();
    let own: Vec<PathBuf> = own_state.map(|s| forms(s).to_vec()).unwrap_or_default();
    let root_forms: Vec<(&PathBuf, [PathBuf; 2])> =
        state_roots.iter().map(|r| (r, forms(r))).collect();
    for rule in writable(fs, true) {
        // By the rule's real path: a name that passes through a link reaches the same file.
        for (dir, forms) in &dirs {
            let hit = forms.iter().find_map(|d| overlap(&rule.path, d));
            if let Some(how) = hit {
                return Err(TrustError::SearchDir {
                    grant: rule.path.clone(),
                    from: rule.from.clone(),
                    how,
                    dir: (*dir).clone(),
                    exists: dir.exists(),
                });
            }
        }
        // Only by the rule's real path: `${STATE_DIR}/cache` that a link planted on an earlier
        // run sends into another server's state is not this server's own.
        let n = &rule.path;
        if own.iter().any(|o| n.starts_with(o)) {
            continue;
        }
        for (root, forms) in &root_forms {
            if let Some(how) = forms.iter().find_map(|d| overlap(n, d)) {
                return Err(TrustError::OtherState {
                    grant: rule.path.clone(),
                    from: rule.from.clone(),
                    how,
                    root: root.to_path_buf(),
                    own: own_state.map(Path::to_path_buf),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fs::{Grant, Rights, build};
    use crate::profile::Origin;

    fn plan(writable: &[&Path]) -> FsPlan {
        let grants = writable
            .iter()
            .map(|p| Grant {
                path: p.to_path_buf(),
                rights: Rights::WRITE,
                origin: Origin::command_line("--allow-write"),
                required: true,
                evidence: Vec::new(),
            })
            .collect();
        build(grants, None).unwrap()
    }

    #[test]
    fn search_directories_count_whether_or_not_they_exist() {
        let d = tempfile::tempdir().unwrap();
        let config = d.path().join("config");
        let other = d.path().join("other");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let search = [config.join("mcpcell/profiles")];
        let refused = |grant: &Path| check(&plan(&[grant]), &[], &search, &[], None).is_err();
        assert!(refused(&config));
        assert!(refused(d.path()));
        assert!(!refused(&other));
        // Inside it, once it exists.
        std::fs::create_dir_all(config.join("mcpcell/profiles/x")).unwrap();
        assert!(refused(&config.join("mcpcell/profiles/x")));
        assert!(refused(&config.join("mcpcell/profiles")));
        // Through a link to it.
        let link = d.path().join("link");
        std::os::unix::fs::symlink(config.join("mcpcell"), &link).unwrap();
        assert!(refused(&link));
    }

    #[test]
    fn only_the_own_state_directory_may_be_written() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("state/mcpcell");
        let own = root.join("p/own");
        let theirs = root.join("p/theirs");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::create_dir_all(&theirs).unwrap();
        let ok = |grant: &Path| {
            check(
                &plan(&[grant]),
                &[],
                &[],
                std::slice::from_ref(&root),
                Some(&own),
            )
            .is_ok()
        };
        assert!(ok(&own));
        assert!(!ok(&theirs));
        assert!(!ok(&root.join("p")));
        assert!(!ok(d.path()));
        // A link in its own directory that leads to another's is the other's.
        let link = own.join("cache");
        std::os::unix::fs::symlink(&theirs, &link).unwrap();
        assert!(!ok(&link));
    }
}
