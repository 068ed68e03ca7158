//! Questions about a plan: may the server read, write or execute this path, and why. Used
//! by `explain` to answer the user and by `learn` to tell what the base profile already
//! grants. The answers follow what the sandbox enforces: Landlock rules on the path and its
//! ancestors, the private `/tmp`, `/dev/shm` and `/proc`, and the `hide` masks.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::Plan;
use super::fs::{FsPlan, PRIVATE_PROC, PRIVATE_TMP, Placement, Rights};

/// Where a path lives as the sandbox sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inside {
    /// The host's file.
    Host,
    /// A host path under `/tmp` or `/dev/shm` that is bind-mounted into the private instance.
    Bound,
    /// Inside the sandbox's own `/tmp` or `/dev/shm`: a fresh tmpfs, not the host's files.
    PrivateTmp,
    /// Inside the sandbox's own `/proc`: only the sandbox's processes.
    PrivateProc,
}

/// A grant that covers the path.
#[derive(Debug, Clone, Serialize)]
pub struct Cover {
    pub path: PathBuf,
    pub rights: Rights,
    pub from: Vec<crate::profile::Origin>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FsAnswer {
    /// The path the sandbox resolves (symbolic links followed where they exist).
    pub path: PathBuf,
    pub inside: Inside,
    pub want: Rights,
    pub allowed: bool,
    /// The union of the rights of every covering grant, narrowed by the mount of the
    /// innermost one: a read-only grant inside a writable one is a read-only mount, and one
    /// that may write but not execute is a no-exec mount.
    pub granted: Rights,
    /// The innermost covering grant, when its mount takes away rights the others give.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub narrowed_by: Option<PathBuf>,
    pub covers: Vec<Cover>,
    /// The `hide` entry that masks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_by: Option<String>,
    /// Grants that would cover it but were skipped (their path did not exist).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl Rights {
    /// Whether these rights include every right in `want`.
    pub fn contains(self, want: Rights) -> bool {
        (self.read || !want.read) && (self.write || !want.write) && (self.exec || !want.exec)
    }
}

pub use crate::paths::normalize;

/// The canonical form of the longest existing prefix of `path` (absolute), with the rest
/// appended as written.
pub fn resolve_existing(path: &Path) -> PathBuf {
    let comps: Vec<Component> = path.components().collect();
    for i in (1..=comps.len()).rev() {
        let prefix: PathBuf = comps[..i].iter().collect();
        if let Ok(c) = crate::paths::real_path(&prefix) {
            let mut out = c;
            for rest in &comps[i..] {
                match rest {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other),
                }
            }
            return out;
        }
    }
    normalize(path)
}

fn private_tmp_root(path: &Path) -> Option<&'static str> {
    PRIVATE_TMP.iter().copied().find(|m| path.starts_with(m))
}

impl FsPlan {
    /// Whether a host path under `/tmp` or `/dev/shm` is bind-mounted into the sandbox.
    fn bound(&self, path: &Path) -> bool {
        self.binds
            .iter()
            .any(|&i| path.starts_with(&self.rules[i].path))
    }

    /// Where `path` (absolute, as the server would name it) leads inside the sandbox.
    pub fn locate(&self, path: &Path) -> (PathBuf, Inside) {
        let lexical = normalize(path);
        if lexical.starts_with(PRIVATE_PROC) {
            return (lexical, Inside::PrivateProc);
        }
        if private_tmp_root(&lexical).is_some() && !self.bound(&lexical) {
            // The host's /tmp is not visible: nothing in it is followed.
            return (lexical, Inside::PrivateTmp);
        }
        let real = resolve_existing(&lexical);
        match private_tmp_root(&real) {
            Some(_) if self.bound(&real) => (real, Inside::Bound),
            Some(_) => (real, Inside::PrivateTmp),
            None if real.starts_with(PRIVATE_PROC) => (real, Inside::PrivateProc),
            None => (real, Inside::Host),
        }
    }

    /// May the server access `path` with `want`?
    pub fn query(&self, path: &Path, want: Rights) -> FsAnswer {
        let (real, inside) = self.locate(path);
        let covers: Vec<Cover> = self
            .rules
            .iter()
            .filter(|r| real.starts_with(&r.path))
            .filter(|r| match inside {
                // Only the grants of the private mount itself apply to its fresh contents.
                Inside::PrivateTmp | Inside::PrivateProc => r.placement == Placement::Private,
                Inside::Host | Inside::Bound => true,
            })
            .map(|r| Cover {
                path: r.path.clone(),
                rights: r.rights,
                from: r.from.clone(),
            })
            .collect();
        let union = covers
            .iter()
            .fold(Rights::default(), |a, c| a.union(c.rights));
        // The innermost host grant is the mount the path lies in (in the namespace-free tier
        // the others are granted around it): it decides writing, and whether what is there
        // may be executed at all.
        let innermost = self
            .rules
            .iter()
            .filter(|_| matches!(inside, Inside::Host | Inside::Bound))
            .filter(|r| r.placement != Placement::Private && real.starts_with(&r.path))
            .max_by_key(|r| r.path.as_os_str().len());
        let mut granted = union;
        if let Some(r) = innermost {
            granted.write &= r.rights.write;
            if r.mounted_noexec() {
                granted.exec = false;
            }
        }
        let narrowed_by = innermost
            .filter(|_| granted != union)
            .map(|r| r.path.clone());
        let hidden_by = self
            .hide
            .iter()
            .find(|h| inside == Inside::Host && real.starts_with(&h.path))
            .map(|h| h.from.to_string());
        let lexical = normalize(path);
        let skipped = self
            .skipped
            .iter()
            .filter(|s| lexical.starts_with(&s.path) || real.starts_with(&s.path))
            .map(|s| format!("{} ({}: {})", s.from, s.path.display(), s.reason))
            .collect();
        FsAnswer {
            allowed: hidden_by.is_none() && granted.contains(want),
            path: real,
            inside,
            want,
            granted,
            narrowed_by,
            covers,
            hidden_by,
            skipped,
        }
    }
}

/// May the server connect to the Unix socket at `path`?
#[derive(Debug, Clone, Serialize)]
pub struct UnixAnswer {
    pub path: PathBuf,
    pub allowed: bool,
    pub why: String,
}

impl Plan {
    pub fn query_unix(&self, path: &Path) -> UnixAnswer {
        let (real, inside) = self.filesystem.locate(path);
        if let Some(d) = self
            .seccomp
            .denied
            .iter()
            .find(|d| d.name == "socket(AF_UNIX)")
        {
            return UnixAnswer {
                path: real,
                allowed: false,
                why: format!(
                    "the server cannot create Unix sockets at all: socket(AF_UNIX) is refused because {} ({})",
                    d.via, d.from
                ),
            };
        }
        if !self.granted_view {
            // Learning: every socket is visible and each connect is recorded.
            return UnixAnswer {
                path: real,
                allowed: true,
                why: "observe mode: Unix sockets are not restricted".into(),
            };
        }
        // An entry may be a link to the socket (the docker profile's opt-in): it grants what
        // the link leads to, which is what `real` is.
        let listed = |u: &&PathBuf| {
            real.starts_with(u) || crate::paths::real_path(u).is_ok_and(|r| real.starts_with(r))
        };
        if let Some(u) = self.network.unix.iter().find(listed) {
            let what = if inside == Inside::PrivateTmp {
                "the sandbox's own sockets in its private /tmp; the host's are not there"
            } else {
                "bind-mounted into the sandbox's view"
            };
            return UnixAnswer {
                path: real.clone(),
                allowed: true,
                why: format!("network.unix lists {} ({what})", u.display()),
            };
        }
        let fs = self.filesystem.query(&real, Rights::READ);
        if fs.allowed && !fs.covers.is_empty() {
            return UnixAnswer {
                path: real,
                allowed: true,
                why: format!(
                    "it lies under the granted path {} ({}), which the sandbox's view contains",
                    fs.covers[0].path.display(),
                    super::provenance::join(&fs.covers[0].from, ", ")
                ),
            };
        }
        UnixAnswer {
            path: real,
            allowed: false,
            why: "the sandbox's root holds only the granted paths and the network.unix entries, and none of them contains this socket".into(),
        }
    }
}
