//! What git runs later, outside any sandbox, made read-only for the server where a writable
//! grant holds it. A server that may write a repository could otherwise leave code for the
//! user's own git: a hook (run at the next commit), or a program named in git's
//! configuration (`core.hooksPath`, `core.fsmonitor`, run at the next `git status`;
//! filters, aliases). These files are git's own, not the project's content: no checkout
//! changes them, and no server needs to.
//!
//! For each repository whose git directory lies at the root of a writable directory grant,
//! in the working directory or in a directory between the two (or that is itself such a
//! root: a worktree's git directory granted on its own), its `hooks`, `config`,
//! `config.worktree` and `commondir`, its worktrees' and its submodules' (recursively), and
//! a `.git` file that names the git directory (a worktree's, a submodule's), are granted
//! read-only, and not executable: a read-only mount inside the writable one, which the
//! server cannot move away (the directories on the way are pinned). In the namespace-free
//! tier they stay writable, a named loss. A grant that names the place itself, or a
//! directory between it and the writable root, is the user's word that the server may
//! change it: then it stays writable.

use std::path::{Path, PathBuf};

use super::fs::{Grant, Rights, is_private};
use crate::profile::Origin;

/// How the origin of each grant made here starts (the key of a command-line origin).
pub const ORIGIN: &str = "(read-only inside a writable grant: ";

/// Whether every grant of `r` was made here: no grant of the user's asked for it.
pub fn only_protected(r: &super::fs::FsRule) -> bool {
    !r.from.is_empty()
        && r.from
            .iter()
            .all(|o| o.is_command_line() && o.key.starts_with(ORIGIN))
}

/// In a git directory: what git runs, and where it finds more of it.
const IN_GIT_DIR: &[(&str, &str)] = &[
    ("hooks", "git runs its hooks"),
    (
        "config",
        "git runs the programs it names: core.hooksPath, core.fsmonitor, filters",
    ),
    (
        "config.worktree",
        "git runs the programs it names: core.hooksPath, core.fsmonitor, filters",
    ),
    (
        "commondir",
        "git takes its configuration and hooks from where it points",
    ),
];

/// The most of a `.git` file read: its one line names a directory.
const GIT_FILE_MAX: u64 = 4096;

/// The most git directories looked at beneath one root (submodules of submodules).
const MAX_GIT_DIRS: usize = 64;

/// Whether `dir` is a git directory (`HEAD`, `objects`, `refs`).
fn is_git_dir(dir: &Path) -> bool {
    ["HEAD", "objects", "refs"]
        .iter()
        .all(|n| std::fs::symlink_metadata(dir.join(n)).is_ok())
}

/// What git runs from `git_dir` and the git directories it holds (its worktrees' and
/// submodules'), with why.
fn places_of(git_dir: &Path, out: &mut Vec<(PathBuf, &'static str)>) {
    let mut todo = vec![git_dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = todo.pop() {
        seen += 1;
        if seen > MAX_GIT_DIRS {
            break;
        }
        for (name, why) in IN_GIT_DIR {
            out.push((d.join(name), why));
        }
        for nested in ["worktrees", "modules"] {
            let Ok(rd) = std::fs::read_dir(d.join(nested)) else {
                continue;
            };
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    // A submodule's name may hold `/`: its git directory lies deeper.
                    let p = e.path();
                    if is_git_dir(&p) || nested == "worktrees" {
                        todo.push(p);
                    } else {
                        todo.extend(
                            std::fs::read_dir(&p)
                                .into_iter()
                                .flatten()
                                .flatten()
                                .map(|e| e.path())
                                .filter(|p| is_git_dir(p)),
                        );
                    }
                }
            }
        }
    }
}

/// The read-only grants for what git runs later beneath the writable directory grants
/// among `grants`, with warnings for the user. A protected file that has other names stops
/// the launch: a hard link elsewhere in the writable grant (planted on a launch where the
/// file was not protected) would still change it. `state_root` (every server's state)
/// holds no repository.
pub fn protect(
    grants: &[Grant],
    cwd: &Path,
    state_root: Option<&Path>,
) -> Result<(Vec<Grant>, Vec<String>), super::PlanError> {
    let real = |p: &Path| crate::paths::real_path(p).ok();
    let state_root = state_root.and_then(real);
    let writable: Vec<PathBuf> = grants
        .iter()
        .filter(|g| g.rights.write && !is_private(&g.path))
        .filter_map(|g| real(&g.path))
        .filter(|p| !is_private(p) && p.is_dir())
        .filter(|p| !state_root.as_ref().is_some_and(|s| p.starts_with(s)))
        .collect();
    if writable.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // What the user granted for writing by name: a place at or beneath one of these, below
    // a writable root, stays writable.
    let named: Vec<PathBuf> = grants
        .iter()
        .filter(|g| g.rights.write)
        .filter_map(|g| real(&g.path))
        .collect();
    let cwd = real(cwd);
    let mut out: Vec<Grant> = Vec::new();
    let mut warnings = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for root in &writable {
        let mut dirs = vec![root.clone()];
        if let Some(c) = cwd.as_ref().filter(|c| c.starts_with(root)) {
            dirs.extend(
                c.ancestors()
                    .take_while(|a| *a != root.as_path())
                    .map(Path::to_path_buf),
            );
        }
        let mut places: Vec<(PathBuf, &'static str)> = Vec::new();
        if is_git_dir(root) {
            places_of(root, &mut places);
        }
        for dir in dirs {
            let dot_git = dir.join(".git");
            match std::fs::symlink_metadata(&dot_git) {
                Ok(m) if m.is_dir() => {
                    // Git makes a `commondir` only in a worktree's directory, never in a
                    // repository's own `.git`: there it sends git elsewhere for its
                    // configuration and hooks, and was planted.
                    let common = dot_git.join("commondir");
                    if std::fs::symlink_metadata(&common).is_ok() {
                        warnings.push(format!(
                            "{} exists: git never makes one in a repository's own .git, and with it git takes its configuration and hooks from where it points, outside this protection; a server that could write the repository may have planted it. Look at it, and remove it, before you run git there",
                            crate::escape::path(&common)
                        ));
                    }
                    places_of(&dot_git, &mut places)
                }
                // A worktree's or a submodule's: `gitdir: PATH`, where git finds the rest.
                Ok(m) if m.is_file() => {
                    places.push((dot_git.clone(), "git takes its directory from it"));
                    // Read as any file a server may have written: a regular file, bounded
                    // (`gitdir: PATH` is one line), never a FIFO swapped in since the lstat.
                    let text = crate::paths::read_regular(&dot_git, GIT_FILE_MAX).ok();
                    let named_dir = text.and_then(|t| {
                        t.strip_prefix("gitdir:")
                            .map(|p| dir.join(p.trim()))
                            .and_then(|p| real(&p))
                    });
                    if let Some(g) = named_dir.filter(|g| is_git_dir(g)) {
                        places_of(&g, &mut places);
                    }
                }
                _ => {}
            }
        }
        for (p, why) in places {
            // Only within this writable grant, with no link on the way: a link could lead
            // anywhere, and granting where it leads would widen the launch.
            if seen.contains(&p) || !p.starts_with(root) || real(&p).as_deref() != Some(p.as_path())
            {
                continue;
            }
            let chosen = named
                .iter()
                .any(|n| n != root && p.starts_with(n) && n.starts_with(root));
            if chosen {
                continue;
            }
            if let Ok(m) = std::fs::symlink_metadata(&p) {
                use std::os::unix::fs::MetadataExt;
                if m.is_file() && m.nlink() > 1 {
                    return Err(super::PlanError::SteeredSource {
                        what: "what git runs later,",
                        path: p.clone(),
                        by: p.clone(),
                        inside: root.clone(),
                        place: super::steer::Place::Now,
                        why: "it has other names (hard links), and one of them elsewhere in the writable grant would let the server change it however it is protected. Look at the other names (find DIR -samefile FILE) and remove them",
                    });
                }
            }
            seen.push(p.clone());
            out.push(Grant {
                path: p,
                rights: Rights::READ,
                origin: Origin::command_line(&format!(
                    "{ORIGIN}{why}, outside the sandbox; a grant of its own for writing keeps it writable)"
                )),
                required: false,
                evidence: Vec::new(),
            });
        }
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(p: &Path, rights: Rights) -> Grant {
        Grant {
            path: p.to_path_buf(),
            rights,
            origin: Origin::command_line("--allow-write"),
            required: true,
            evidence: Vec::new(),
        }
    }

    fn git_dir(p: &Path) {
        for d in ["objects", "refs", "hooks"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::write(p.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(p.join("config"), "[core]\n").unwrap();
    }

    #[test]
    fn what_git_runs_beneath_writable_roots_and_the_working_directory() {
        let d = tempfile::Builder::new()
            .prefix("runs-later-")
            .tempdir()
            .unwrap();
        let root = crate::paths::real_path(d.path()).unwrap();
        let proj = root.join("proj");
        let sub = proj.join("pkg/sub");
        std::fs::create_dir_all(&sub).unwrap();
        git_dir(&proj.join(".git"));
        // A submodule's git directory, and a worktree's files.
        git_dir(&proj.join(".git/modules/lib"));
        std::fs::create_dir_all(proj.join(".git/worktrees/wt")).unwrap();
        std::fs::write(proj.join(".git/worktrees/wt/config.worktree"), "").unwrap();
        // A submodule checked out in the working directory's parent: its `.git` file.
        std::fs::write(proj.join("pkg/.git"), "gitdir: ../.git/modules/lib\n").unwrap();
        // The working tree's own files are the project's: not protected.
        std::fs::create_dir_all(proj.join(".vscode")).unwrap();
        let grants = vec![
            grant(&proj, Rights::WRITE),
            // Named for writing: it stays writable.
            grant(&proj.join(".git/modules/lib/hooks"), Rights::WRITE),
            grant(Path::new("/usr"), Rights::READ),
        ];
        let (got, warnings) = protect(&grants, &sub, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut got: Vec<PathBuf> = got
            .into_iter()
            .map(|g| {
                assert_eq!(g.rights, Rights::READ);
                g.path
            })
            .collect();
        got.sort();
        let mut want: Vec<PathBuf> = [
            ".git/config",
            ".git/hooks",
            ".git/modules/lib/config",
            ".git/worktrees/wt/config.worktree",
            "pkg/.git",
        ]
        .iter()
        .map(|r| proj.join(r))
        .collect();
        want.sort();
        assert_eq!(got, want);
        // A planted `commondir` in the repository's own `.git` is told.
        std::fs::write(proj.join(".git/commondir"), "../elsewhere\n").unwrap();
        let (got, warnings) = protect(&grants, &sub, None).unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("commondir exists")),
            "{warnings:?}"
        );
        assert!(got.iter().any(|g| g.path == proj.join(".git/commondir")));
        std::fs::remove_file(proj.join(".git/commondir")).unwrap();
        // Nothing writable, nothing to protect; a state directory holds no repository.
        assert!(protect(&grants[2..], &sub, None).unwrap().0.is_empty());
        assert!(
            protect(&grants[..1], &sub, Some(&root))
                .unwrap()
                .0
                .is_empty()
        );
        // A git directory granted on its own is protected at its root.
        let (got, _) = protect(&[grant(&proj.join(".git"), Rights::WRITE)], &root, None).unwrap();
        assert!(got.iter().any(|g| g.path == proj.join(".git/hooks")));
        // A second name of a protected file stops the launch.
        std::fs::hard_link(proj.join(".git/config"), proj.join("notes")).unwrap();
        assert!(protect(&grants, &sub, None).is_err());
    }
}
