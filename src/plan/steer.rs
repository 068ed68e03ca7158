//! Grants a server could have chosen for itself (promise 8: a server cannot loosen its own
//! cage). A plan follows symbolic links to the files they name, and reads files to learn what
//! running the command needs (`#!` lines, ELF loaders, `pyvenv.cfg`, what a PATH search
//! finds). A link or a file inside a path the server may write could have been planted by an
//! earlier run of the server, to have the next launch grant what it names: a secret outside
//! every grant. So a grant reached through such a link, or named by such a file, is kept only
//! when it reaches nothing new: its file lies inside what the server may write, or a grant
//! that nothing of the server's chose covers it with the same rights. Otherwise it is left
//! out, with a warning on every run (a grant that is required is an error).
//!
//! Where a server may have planted things: this plan's writable grants on host files, and the
//! root of every server's state directory (another server's state is another server's to
//! plant in).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::fs::{Grant, Rights, is_private, real_path};
use super::query::normalize;
use crate::paths::{resolve_kept, walk};

/// What a grant's path was learnt from, beside the path itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Evidence {
    /// The path was found by resolving this one (a command's file, a script): the links on
    /// the way chose it.
    Via(PathBuf),
    /// The path was read from this file (a `#!` line, an ELF loader, `pyvenv.cfg`) or found
    /// as this file on a PATH: whoever may write the file chose it.
    Content(PathBuf),
    /// As `Content`, and the program is run by this very path (the command found on a PATH,
    /// a `#!` interpreter, `env`'s target). A program may take its settings and code from
    /// where it is run: Python run as a virtual environment's `bin/python3` reads that
    /// environment's `pyvenv.cfg` and packages, whatever the link leads to. So where the
    /// path lies counts, not only the file it reaches (see [`sift`]).
    Runs(PathBuf),
}

/// How the server could have chosen a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Through a link it may have planted.
    Link,
    /// By a file it may have written, which names the path.
    Named,
    /// The links on the way changed while mcpcell looked at them.
    Changed,
    /// A program run by a path that lies where it may write, or through a link it may
    /// have planted, even one to a file granted anyway.
    Runs,
}

/// Why a path counts as a place where links and files may have been planted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// This launch lets the server write it, or it holds every server's state directory.
    Now,
    /// An earlier launch let a server write it ([`super::written`]).
    Earlier,
}

impl Place {
    /// Completes "… lies inside PATH, ".
    pub fn phrase(self) -> &'static str {
        match self {
            Place::Now => "where the server may write",
            Place::Earlier => "where an earlier launch let a server write",
        }
    }
}

/// A grant left out because the server could have chosen it.
#[derive(Debug)]
pub struct Steered {
    pub grant: Grant,
    /// The file the grant reaches.
    pub real: PathBuf,
    /// What the server may have planted: the link or the file (the grant's path, when its
    /// links changed).
    pub by: PathBuf,
    pub how: How,
    /// The writable path (or the state directories' root) that holds `by`.
    pub inside: PathBuf,
    pub place: Place,
}

impl Steered {
    fn new(grant: Grant, real: PathBuf, why: Why) -> Steered {
        Steered {
            grant,
            real,
            by: why.by,
            how: why.how,
            inside: why.inside,
            place: why.place,
        }
    }

    /// Why the grant is left out, for a warning or a skipped entry.
    pub fn reason(&self) -> String {
        let (by, inside, real, place) = (
            self.by.display(),
            self.inside.display(),
            self.real.display(),
            self.place.phrase(),
        );
        match self.how {
            How::Link => format!(
                "reached through the link {by}, which lies inside {inside}, {place}: a server could have planted it to reach {real}"
            ),
            // A program found on a PATH: the file is its own evidence.
            How::Named if self.by == self.real => format!(
                "a file inside {inside}, {place}: a server could have put it there to have it run"
            ),
            How::Named => format!(
                "named by {by}, which lies inside {inside}, {place}: a server could have written it to reach {real}"
            ),
            How::Changed => format!(
                "reached through links that changed while mcpcell resolved them (it reached {real}, then {inside}): a server may be swapping them"
            ),
            // The file itself lies there.
            How::Runs if self.by == self.real => format!(
                "a file inside {inside}, {place}: a server could have put it there to have it run"
            ),
            How::Runs if self.by == self.grant.path => format!(
                "run by a path inside {inside}, {place}: a server could have put it there, and a program may take its settings and code from where it is run (a Python environment's packages)"
            ),
            How::Runs => format!(
                "run through {by}, which lies inside {inside}, {place}: a server could have planted it, and a program may take its settings and code from where it is run (a Python environment's packages), whatever file it leads to"
            ),
        }
    }

    /// What to grant instead: what was reached, by its own path, and the option that does.
    pub fn instead(&self) -> String {
        if self.how == How::Runs {
            // The file it leads to may be granted already: what counts is the path.
            return format!(
                "name the program by its own path, or let it run from there (--allow-exec {})",
                crate::escape::shell_word(self.grant.path.as_os_str())
            );
        }
        format!(
            "grant {} by its own path (--allow-{} {})",
            self.real.display(),
            self.grant.rights.word(),
            crate::escape::shell_word(self.real.as_os_str())
        )
    }

    /// The warning every run shows.
    pub fn warning(&self) -> String {
        format!(
            "{}: not granting {} ({}): it is {}. If you trust it, {}",
            self.grant.origin,
            self.grant.path.display(),
            self.grant.rights.label(),
            self.reason(),
            self.instead()
        )
    }
}

/// What of the server's may have chosen a grant.
struct Why {
    /// The planting place.
    inside: PathBuf,
    /// What was planted there.
    by: PathBuf,
    how: How,
    place: Place,
}

/// Where the server may have planted links and files.
struct Writable {
    /// Every writable grant on host files, by real path, the root of every server's state
    /// directory, and what earlier launches let a server write.
    planted: Vec<(PathBuf, Place)>,
    /// The writable grants that nothing of the server's chose, by real path: what it may
    /// write for certain.
    writes: Vec<PathBuf>,
}

/// A grant's path and real path are the same (no link on the way) and it was learnt from
/// nothing: nothing of the server's chose it.
fn plain(g: &Grant, real: &Path) -> bool {
    g.evidence.is_empty() && (g.path == real || real == normalize(&g.path))
}

impl Writable {
    fn new(grants: &[Grant], state_root: Option<&Path>, earlier: &[PathBuf]) -> Writable {
        let writable: Vec<(&Grant, PathBuf)> = grants
            .iter()
            .filter(|g| g.rights.write && !is_private(&g.path))
            .filter_map(|g| Some((g, resolve_kept(&g.path).ok()?)))
            .filter(|(_, p)| !is_private(p))
            .collect();
        let mut w = Writable {
            planted: writable
                .iter()
                .map(|(_, p)| (p.clone(), Place::Now))
                .collect(),
            writes: Vec::new(),
        };
        w.planted.extend(
            state_root.map(|r| (real_path(r).unwrap_or_else(|_| normalize(r)), Place::Now)),
        );
        // Recorded by real path: compared as they are, with no system call. After this
        // launch's own places, which `holding` names first.
        w.planted
            .extend(earlier.iter().map(|p| (p.clone(), Place::Earlier)));
        // A writable grant reached through a planted link is no evidence of what the
        // server may write: it is judged like any other grant.
        w.writes = writable
            .into_iter()
            .filter(|(g, real)| plain(g, real) || w.steered(g, real).is_none())
            .map(|(_, p)| p)
            .collect();
        w
    }

    /// The planting place that holds `path` (real), if any: one where the server may
    /// write now before one an earlier launch recorded (`planted` lists those first).
    fn holding(&self, path: &Path) -> Option<(&Path, Place)> {
        self.planted
            .iter()
            .find(|(p, _)| within(path, p))
            .map(|(p, place)| (p.as_path(), *place))
    }

    /// The first link that resolving `path` follows from inside a planting place, and
    /// where the walk ended.
    fn planted_link(&self, path: &Path) -> (Option<(PathBuf, PathBuf, Place)>, PathBuf) {
        let (links, end) = walk(path);
        let hit = links.into_iter().find_map(|l| {
            self.holding(&l)
                .map(|(w, place)| (w.to_path_buf(), l, place))
        });
        (hit, end)
    }

    /// What of the server's may have chosen `g`, whose path resolved to `real`: (planting
    /// place, what was planted, how).
    fn steered(&self, g: &Grant, real: &Path) -> Option<Why> {
        let link = |(inside, by, place)| Why {
            inside,
            by,
            how: How::Link,
            place,
        };
        let changed = |inside, by| Why {
            inside,
            by,
            how: How::Changed,
            place: Place::Now,
        };
        let (hit, end) = self.planted_link(&g.path);
        if let Some(h) = hit {
            return Some(link(h));
        }
        // The walk must reach what the plan resolved and will open (the memo's answer): a
        // link swapped in between could otherwise pass the walk and be opened.
        if end != real {
            return Some(changed(end, g.path.clone()));
        }
        for e in &g.evidence {
            let (p, content) = match e {
                Evidence::Via(p) => (p, false),
                Evidence::Content(p) | Evidence::Runs(p) => (p, true),
            };
            let (hit, end) = self.planted_link(p);
            if let Some(h) = hit {
                return Some(link(h));
            }
            // What the plan learnt from `p` was learnt where it resolved then.
            if real_path(p).is_ok_and(|r| r != end) {
                return Some(changed(end, p.clone()));
            }
            if content {
                if let Some((w, place)) = self.holding(&end) {
                    // The file that lies there: where `p` leads (a PATH entry's link into
                    // a project names the project's file).
                    return Some(Why {
                        inside: w.to_path_buf(),
                        by: end,
                        how: How::Named,
                        place,
                    });
                }
            }
        }
        None
    }

    /// Where the server may have chosen the path a program is run by: a link on its way
    /// that lies in a planting place, or the place that holds where it ends.
    fn run_by(&self, path: &Path) -> Option<Why> {
        let (hit, end) = self.planted_link(path);
        let (inside, by, place) = match hit {
            Some(h) => h,
            None => {
                let (w, place) = self.holding(&end)?;
                (w.to_path_buf(), end, place)
            }
        };
        Some(Why {
            inside,
            by,
            how: How::Runs,
            place,
        })
    }
}

/// Whether `path` is `base` or lies under it, both real paths (absolute, no `.`, `..` or
/// doubled `/`): compared as bytes, not component by component.
fn within(path: &Path, base: &Path) -> bool {
    let (p, b) = (path.as_os_str().as_bytes(), base.as_os_str().as_bytes());
    p.starts_with(b) && (p.len() == b.len() || b.ends_with(b"/") || p[b.len()] == b'/')
}

fn covers(by: &[(PathBuf, Rights)], path: &Path, rights: Rights) -> bool {
    by.iter()
        .any(|(p, r)| within(path, p) && r.union(rights) == *r)
}

/// A file mcpcell read its settings from (or a program whose place named one) that the
/// server could have written or chosen by a link.
#[derive(Debug)]
pub struct SteeredSource {
    pub file: PathBuf,
    /// The link, or the file itself.
    pub by: PathBuf,
    pub inside: PathBuf,
    pub place: Place,
}

/// What [`sift`] found.
pub struct Sifted {
    pub kept: Vec<Grant>,
    pub steered: Vec<Steered>,
    /// The first settings file the server could have chosen.
    pub source: Option<SteeredSource>,
    /// The first `network.unix` path the server could have redirected.
    pub socket: Option<SteeredSource>,
    /// The sandbox's PATH directories (by index) that lie where a server may have planted
    /// programs, or are reached through a link planted there: left out of the PATH inside.
    pub path: Vec<(usize, SteeredSource)>,
}

/// Splits `grants` into those kept and those the server could have chosen that reach
/// something new. `state_root` is where every server's state directory lies, `earlier` what
/// earlier launches let a server write ([`super::written`]). Also the first
/// of `sources` (files mcpcell read settings from) that the server could have chosen, and
/// the first of `sockets` (`network.unix`) reached through a link it could have planted to
/// a socket outside what it may write.
pub fn sift(
    grants: Vec<Grant>,
    state_root: Option<&Path>,
    earlier: &[PathBuf],
    sources: &[PathBuf],
    sockets: &[PathBuf],
    path_dirs: &[PathBuf],
) -> Sifted {
    let writable = Writable::new(&grants, state_root, earlier);
    // Places the user (a profile, an option) lets programs run from, as written: a program
    // run by a path under one of them was chosen there.
    let runnable: Vec<PathBuf> = grants
        .iter()
        .filter(|g| g.rights.exec && g.evidence.is_empty() && !is_private(&g.path))
        .map(|g| normalize(&g.path))
        .collect();
    // A program the server runs by name (`env` in a `#!` line, a shell, a subprocess) is
    // looked up on the PATH inside, at that moment: no check beforehand can say what a
    // directory a server may write will hold then. Such directories are left out, unless
    // the user lets programs run from there.
    let path = path_dirs
        .iter()
        .enumerate()
        // Kept where the user lets programs run from the directory, or from a file in it
        // (`--allow-exec .venv/bin/python3`: that environment, on purpose).
        .filter(|(_, d)| {
            let d = normalize(d);
            !runnable
                .iter()
                .any(|r| within(&d, r) || r.parent() == Some(d.as_path()))
        })
        .filter_map(|(i, d)| {
            let why = writable.run_by(d)?;
            Some((
                i,
                SteeredSource {
                    file: d.clone(),
                    by: why.by,
                    inside: why.inside,
                    place: why.place,
                },
            ))
        })
        .collect();
    // A socket named by a path the server could have redirected with a link, to a socket
    // outside what it may write (a root daemon's, say).
    // The real path is remembered, so the sandbox's set-up opens that one, with no link.
    let socket = sockets.iter().find_map(|f| {
        let (hit, end) = writable.planted_link(f);
        let (inside, by, place) = hit?;
        let real = real_path(f).ok();
        let stays = real
            .as_ref()
            .is_some_and(|r| *r == end && writable.writes.iter().any(|w| within(r, w)));
        (!stays).then(|| SteeredSource {
            file: f.clone(),
            by,
            inside,
            place,
        })
    });
    let source = sources.iter().find_map(|f| {
        let (hit, end) = writable.planted_link(f);
        let (inside, by, place) = match hit {
            Some(h) => h,
            None => {
                let (w, place) = writable.holding(&end)?;
                (w.to_path_buf(), f.clone(), place)
            }
        };
        Some(SteeredSource {
            file: f.clone(),
            by,
            inside,
            place,
        })
    });
    // Plain grants (most of a profile's) need no further look, nor does what they cover.
    let mut clean: Vec<(PathBuf, Rights)> = Vec::new();
    let mut rest: Vec<(Grant, PathBuf)> = Vec::new();
    let mut kept: Vec<Grant> = Vec::with_capacity(grants.len());
    for g in grants {
        // The sandbox's own mounts are no host file.
        if is_private(&g.path) {
            kept.push(g);
            continue;
        }
        // Kept open for `fs::build`, which then grants the very file looked at here.
        let Ok(real) = resolve_kept(&g.path) else {
            // Unreachable: `fs::build` skips it, or refuses a required one.
            kept.push(g);
            continue;
        };
        if plain(&g, &real) {
            clean.push((real, g.rights));
            kept.push(g);
        } else {
            rest.push((g, real));
        }
    }
    let mut doubtful: Vec<(Grant, PathBuf, Why)> = Vec::new();
    let mut steered = Vec::new();
    for (mut g, real) in rest {
        // A program run by a path the server could have chosen: no grant makes that path
        // safe to run by, and leaving the grant out would not stop the run where another
        // grant reaches its file. So the launch stops.
        let runs = g
            .evidence
            .iter()
            .any(|e| matches!(e, Evidence::Runs(p) if *p == g.path));
        let chosen = || runnable.iter().any(|r| within(&normalize(&g.path), r));
        if let Some(why) = runs.then(|| writable.run_by(&g.path)).flatten()
            && !chosen()
        {
            g.required = true;
            steered.push(Steered::new(g, real, why));
            continue;
        }
        // Inside what the server may write anyway; never to execute what it wrote.
        let inside = !g.rights.exec && writable.writes.iter().any(|w| within(&real, w));
        if inside || covers(&clean, &real, g.rights) {
            kept.push(g);
            continue;
        }
        match writable.steered(&g, &real) {
            None => {
                clean.push((real, g.rights));
                kept.push(g);
            }
            Some(why) => doubtful.push((g, real, why)),
        }
    }
    for (g, real, why) in doubtful {
        if covers(&clean, &real, g.rights) {
            kept.push(g);
        } else {
            steered.push(Steered::new(g, real, why));
        }
    }
    Sifted {
        kept,
        steered,
        source,
        socket,
        path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Origin;
    use std::os::unix::fs::symlink;

    fn grant(p: &Path, rights: Rights, evidence: Vec<Evidence>) -> Grant {
        Grant {
            path: p.to_path_buf(),
            rights,
            origin: Origin::command_line("test"),
            required: false,
            evidence,
        }
    }

    #[test]
    fn the_suggested_option_is_one_shell_word() {
        // The target's name is the server's to choose: a user pasting the suggestion must
        // get exactly that path, and no command.
        let real = PathBuf::from("/srv/a b; rm -rf ~ $(id)");
        let s = Steered {
            grant: grant(Path::new("/w/docs"), Rights::READ, vec![]),
            real: real.clone(),
            by: PathBuf::from("/w/docs"),
            how: How::Link,
            inside: PathBuf::from("/w"),
            place: Place::Now,
        };
        let w = s.warning();
        assert!(
            w.ends_with("(--allow-read '/srv/a b; rm -rf ~ $(id)')"),
            "{w}"
        );
    }

    struct Setup {
        _d: tempfile::TempDir,
        root: PathBuf,
    }

    /// `work` the server may write, `secret/key` outside it, `usr/bin/tool` covered by a
    /// plain grant.
    fn setup() -> Setup {
        let d = tempfile::tempdir().unwrap();
        let root = real_path(d.path()).unwrap();
        for dir in ["work", "secret", "usr/bin", "state/other"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("secret/key"), "k").unwrap();
        std::fs::write(root.join("usr/bin/tool"), "").unwrap();
        Setup { _d: d, root }
    }

    fn names(kept: &[Grant]) -> Vec<PathBuf> {
        kept.iter().map(|g| g.path.clone()).collect()
    }

    #[test]
    fn a_place_an_earlier_launch_let_a_server_write_counts_as_planted() {
        let s = setup();
        let r = &s.root;
        symlink(r.join("secret/key"), r.join("work/docs")).unwrap();
        let grants = || vec![grant(&r.join("work/docs"), Rights::READ, vec![])];
        // This launch writes nothing: only the record tells.
        assert_eq!(sift(grants(), None, &[], &[], &[], &[]).steered.len(), 0);
        let Sifted { steered, .. } = sift(grants(), None, &[r.join("work")], &[], &[], &[]);
        assert_eq!(steered.len(), 1);
        assert_eq!(steered[0].place, Place::Earlier);
        assert!(
            steered[0]
                .reason()
                .contains("where an earlier launch let a server write"),
            "{}",
            steered[0].reason()
        );
        // Where this launch writes too, the message says so.
        let mut both = grants();
        both.push(grant(&r.join("work"), Rights::WRITE, vec![]));
        let Sifted { steered, .. } = sift(both, None, &[r.join("work")], &[], &[], &[]);
        assert_eq!(steered[0].place, Place::Now);
    }

    #[test]
    fn a_link_planted_where_the_server_writes_grants_nothing_new() {
        let s = setup();
        let r = &s.root;
        symlink(r.join("secret/key"), r.join("work/docs")).unwrap();
        symlink(r.join("usr/bin/tool"), r.join("work/python")).unwrap();
        symlink(r.join("work/inner"), r.join("work/self")).unwrap();
        std::fs::write(r.join("work/inner"), "").unwrap();
        let grants = vec![
            grant(&r.join("work"), Rights::WRITE, vec![]),
            grant(&r.join("usr"), Rights::EXEC, vec![]),
            // To a secret: left out.
            grant(&r.join("work/docs"), Rights::READ, vec![]),
            // To what a plain grant covers with the same rights: kept.
            grant(&r.join("work/python"), Rights::EXEC, vec![]),
            // To a file inside the writable grant: kept to read, not to execute (what the
            // server wrote stays unexecutable).
            grant(&r.join("work/self"), Rights::READ, vec![]),
            grant(&r.join("work/self"), Rights::EXEC, vec![]),
        ];
        let Sifted { kept, steered, .. } = sift(grants, None, &[], &[], &[], &[]);
        assert_eq!(
            names(&kept),
            [
                r.join("work"),
                r.join("usr"),
                r.join("work/python"),
                r.join("work/self")
            ]
        );
        assert_eq!(kept[3].rights, Rights::READ);
        assert_eq!(steered.len(), 2);
        assert_eq!(steered[0].real, r.join("secret/key"));
        assert_eq!(steered[0].by, r.join("work/docs"));
        assert_eq!(steered[0].how, How::Link);
        assert!(steered[0].warning().contains("--allow-read"));
        assert_eq!(steered[1].real, r.join("work/inner"));
        assert!(steered[1].warning().contains("--allow-exec"));
        // The check detects nothing where the server writes nothing.
        let grants = vec![grant(&r.join("work/docs"), Rights::READ, vec![])];
        let Sifted { kept, steered, .. } = sift(grants, None, &[], &[], &[], &[]);
        assert_eq!((kept.len(), steered.len()), (1, 0));
    }

    #[test]
    fn a_path_read_from_a_file_the_server_may_write_grants_nothing_new() {
        let s = setup();
        let r = &s.root;
        std::fs::write(r.join("work/pyvenv.cfg"), "home = x").unwrap();
        let cfg = Evidence::Content(r.join("work/pyvenv.cfg"));
        let grants = vec![
            grant(&r.join("work"), Rights::WRITE, vec![]),
            grant(&r.join("usr"), Rights::EXEC, vec![]),
            grant(&r.join("secret"), Rights::READ, vec![cfg.clone()]),
            grant(&r.join("usr/bin"), Rights::READ, vec![cfg.clone()]),
            grant(&r.join("work"), Rights::READ, vec![cfg.clone()]),
        ];
        let Sifted { kept, steered, .. } = sift(grants, None, &[], &[], &[], &[]);
        assert_eq!(kept.len(), 4);
        assert_eq!(steered.len(), 1);
        assert_eq!(steered[0].grant.path, r.join("secret"));
        assert_eq!(steered[0].how, How::Named);
        // Read from a file outside every writable path: kept.
        std::fs::write(r.join("usr/pyvenv.cfg"), "home = x").unwrap();
        let grants = vec![
            grant(&r.join("work"), Rights::WRITE, vec![]),
            grant(
                &r.join("secret"),
                Rights::READ,
                vec![Evidence::Content(r.join("usr/pyvenv.cfg"))],
            ),
        ];
        assert_eq!(sift(grants, None, &[], &[], &[], &[]).steered.len(), 0);
    }

    #[test]
    fn within_compares_whole_components() {
        let w = |a: &str, b: &str| within(Path::new(a), Path::new(b));
        assert!(w("/a/b", "/a/b") && w("/a/b/c", "/a/b") && w("/a", "/"));
        assert!(!w("/a/bc", "/a/b") && !w("/a", "/a/b") && !w("/b", "/a"));
    }

    #[test]
    fn a_writable_grant_through_a_planted_link_vouches_for_nothing() {
        let s = setup();
        let r = &s.root;
        symlink(r.join("secret"), r.join("work/out")).unwrap();
        let grants = vec![
            grant(&r.join("work"), Rights::WRITE, vec![]),
            // Its own real path would otherwise make it "inside what the server may write".
            grant(&r.join("work/out"), Rights::WRITE, vec![]),
        ];
        let Sifted { kept, steered, .. } = sift(grants, None, &[], &[], &[], &[]);
        assert_eq!(names(&kept), [r.join("work")]);
        assert_eq!(steered[0].real, r.join("secret"));
    }

    #[test]
    fn a_link_swapped_after_the_plan_resolved_it_is_left_out() {
        let s = setup();
        let r = &s.root;
        let link = r.join("work/python");
        symlink(r.join("secret/key"), &link).unwrap();
        let _memo = crate::paths::Memo::start();
        // The plan resolved the link (and will open what it reached) ...
        assert_eq!(real_path(&link).unwrap(), r.join("secret/key"));
        // ... and the link was swapped for one to a covered file before the check.
        std::fs::remove_file(&link).unwrap();
        symlink(r.join("usr/bin/tool"), &link).unwrap();
        let grants = vec![
            grant(&r.join("usr"), Rights::READ, vec![]),
            grant(&link, Rights::READ, vec![]),
        ];
        // No writable grant: the walk finds no planted link, but not what was resolved.
        let Sifted { kept, steered, .. } = sift(grants, None, &[], &[], &[], &[]);
        assert_eq!(names(&kept), [r.join("usr")]);
        assert_eq!(steered[0].how, How::Changed);
        assert_eq!(steered[0].real, r.join("secret/key"));
    }

    #[test]
    fn an_exec_grant_is_not_covered_by_a_read_grant_and_state_directories_count() {
        let s = setup();
        let r = &s.root;
        symlink(r.join("secret/key"), r.join("state/other/run")).unwrap();
        let grants = vec![
            grant(&r.join("secret"), Rights::READ, vec![]),
            grant(&r.join("state/other/run"), Rights::EXEC, vec![]),
        ];
        // No writable grant, but the link lies among the servers' state directories.
        let Sifted { kept, steered, .. } = sift(grants, Some(&r.join("state")), &[], &[], &[], &[]);
        assert_eq!(names(&kept), [r.join("secret")]);
        assert_eq!(steered[0].inside, r.join("state"));
        // Without the state root, nothing of a server's chose it.
        let grants = vec![grant(&r.join("state/other/run"), Rights::EXEC, vec![])];
        assert_eq!(sift(grants, None, &[], &[], &[], &[]).steered.len(), 0);
    }
}
