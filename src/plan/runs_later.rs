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

/// Why a place is listed that does not exist: an include git would read once it does.
const MISSING_INCLUDE: &str = "a file git's configuration includes, which does not exist yet";

/// The most of a git configuration file read for its includes.
const CONFIG_MAX: u64 = 1 << 20;

/// How deep git follows includes.
const MAX_INCLUDE_DEPTH: usize = 10;

/// The most files one configuration file's includes name, found or missing, all depths
/// together: a configuration of thousands of include lines would otherwise cost a launch a
/// lookup and a bind mount each.
const MAX_INCLUDES: usize = 64;

/// The most entries of a git directory looked at for the other names of one file.
const MAX_NAMES_LOOKED_AT: usize = 4096;

/// The most files looked at in one protected place for other names.
const MAX_FILES_LOOKED_AT: usize = 1024;

/// Whether git finds a repository in `dir` itself: a `.git` of any kind, or `dir` as a
/// bare repository.
pub fn holds_a_repository(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(".git")).is_ok() || is_git_dir(dir)
}

/// Whether `dir` is a git directory (`HEAD`, `objects`, `refs`).
fn is_git_dir(dir: &Path) -> bool {
    ["HEAD", "objects", "refs"]
        .iter()
        .all(|n| std::fs::symlink_metadata(dir.join(n)).is_ok())
}

/// Whether `dir` is a git directory as git takes one a `.git` file or a `commondir` names:
/// a repository's, or a worktree's (its `HEAD` and a `commondir`, no objects of its own).
fn is_any_git_dir(dir: &Path) -> bool {
    is_git_dir(dir)
        || ["HEAD", "commondir"]
            .iter()
            .all(|n| std::fs::symlink_metadata(dir.join(n)).is_ok())
}

/// The path a one-line file of git's names (`commondir`; a `.git` file's `gitdir: PATH`,
/// after `prefix`), relative to `base`, links resolved. Read as any file a server may have
/// written: a regular file, bounded, never a FIFO swapped in since an lstat.
fn named_by(file: &Path, prefix: &str, base: &Path) -> Option<PathBuf> {
    let text = crate::paths::read_regular(file, GIT_FILE_MAX).ok()?;
    let named = text.strip_prefix(prefix)?.trim();
    (!named.is_empty())
        .then(|| base.join(named))
        .and_then(|p| crate::paths::real_path(&p).ok())
}

/// The `(section, key, value)` entries of a git configuration file, read as git reads them:
/// `#` and `;` comments, `"` quoting, `\` escapes and line continuations, names compared
/// without case (section and key lowercased; a subsection is left out).
fn config_entries(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut chars = text.chars().peekable();
    fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars>) {
        for c in chars.by_ref() {
            if c == '\n' {
                break;
            }
        }
    }
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' | ';' => skip_line(&mut chars),
            '[' => {
                chars.next();
                section.clear();
                while let Some(c) = chars.next() {
                    match c {
                        ']' | '\n' => break,
                        // A subsection, quoted: skipped, escapes included.
                        '"' => {
                            while let Some(c) = chars.next() {
                                match c {
                                    '\\' => {
                                        chars.next();
                                    }
                                    '"' | '\n' => break,
                                    _ => {}
                                }
                            }
                        }
                        c if c.is_whitespace() => {}
                        c => section.push(c.to_ascii_lowercase()),
                    }
                }
            }
            _ => {
                let mut key = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        key.push(c.to_ascii_lowercase());
                        chars.next();
                    } else {
                        break;
                    }
                }
                if key.is_empty() {
                    skip_line(&mut chars);
                    continue;
                }
                while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                    chars.next();
                }
                if chars.peek() != Some(&'=') {
                    // A boolean written as its key alone.
                    out.push((section.clone(), key, "true".into()));
                    skip_line(&mut chars);
                    continue;
                }
                chars.next();
                out.push((section.clone(), key, config_value(&mut chars)));
            }
        }
    }
    out
}

/// One value, up to its line's end: quotes removed, escapes and continuations taken,
/// whitespace outside quotes trimmed at both ends, a comment outside quotes dropped.
fn config_value(chars: &mut std::iter::Peekable<std::str::Chars>) -> String {
    let mut value = String::new();
    let mut pending = String::new();
    let mut quoted = false;
    let mut started = false;
    let take = |value: &mut String, pending: &mut String, c: char| {
        value.push_str(pending);
        pending.clear();
        value.push(c);
    };
    while let Some(c) = chars.next() {
        match c {
            '\n' => break,
            '\\' => match chars.next() {
                Some('\n') => {}
                Some('n') => take(&mut value, &mut pending, '\n'),
                Some('t') => take(&mut value, &mut pending, '\t'),
                Some('b') => {
                    value.pop();
                }
                Some(o) => {
                    take(&mut value, &mut pending, o);
                    started = true;
                }
                None => break,
            },
            '"' => {
                value.push_str(&pending);
                pending.clear();
                quoted = !quoted;
                started = true;
            }
            '#' | ';' if !quoted => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                break;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    pending.push(c);
                }
            }
            c => {
                take(&mut value, &mut pending, c);
                started = true;
            }
        }
    }
    value
}

/// The most of an index read for its gitlinks.
const INDEX_MAX: u64 = 256 << 20;

/// The gitlinks (mode 160000: a submodule's place) of `git_dir`'s index, as paths relative
/// to the top of its working tree, those leaving it left out. The file is the server's to
/// write: every length is checked, and a malformed index gives what was read before the
/// fault. Versions 2 to 4, SHA-1 or SHA-256 object names.
pub fn gitlinks(git_dir: &Path) -> Vec<PathBuf> {
    let Ok(data) = crate::paths::read_regular_bytes(&git_dir.join("index"), INDEX_MAX) else {
        return Vec::new();
    };
    let sha256 = config_value_of(&git_dir.join("config"), "extensions", "objectformat")
        .is_some_and(|f| f.eq_ignore_ascii_case("sha256"));
    gitlinks_in(&data, if sha256 { 32 } else { 20 })
        .into_iter()
        .filter(|p| {
            p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .collect()
}

fn gitlinks_in(data: &[u8], hash: usize) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    let mut out = Vec::new();
    if data.get(..4) != Some(b"DIRC") {
        return out;
    }
    let (Some(version), Some(count)) = (be32(4), be32(8)) else {
        return out;
    };
    if !(2..=4).contains(&version) {
        return out;
    }
    let mut at = 12;
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let Some(mode) = be32(start + 24) else {
            break;
        };
        let flags_at = start + 40 + hash;
        let Some(flags) = data.get(flags_at..flags_at + 2) else {
            break;
        };
        let extended = version >= 3 && flags[0] & 0x40 != 0;
        let name_at = flags_at + 2 + if extended { 2 } else { 0 };
        let name: Vec<u8> = if version == 4 {
            // A varint of how much of the previous name to drop, then the rest.
            let mut strip: usize = 0;
            let mut i = name_at;
            loop {
                let Some(&b) = data.get(i) else {
                    return out;
                };
                i += 1;
                strip = match strip
                    .checked_mul(128)
                    .and_then(|v| v.checked_add(usize::from(b & 0x7f)))
                {
                    Some(v) => v,
                    None => return out,
                };
                if b & 0x80 == 0 {
                    break;
                }
                strip = match strip.checked_add(1) {
                    Some(v) => v,
                    None => return out,
                };
            }
            let Some(end) = data.get(i..).and_then(|r| r.iter().position(|&b| b == 0)) else {
                return out;
            };
            let Some(keep) = previous.len().checked_sub(strip) else {
                return out;
            };
            let mut n = previous[..keep].to_vec();
            n.extend_from_slice(&data[i..i + end]);
            at = i + end + 1;
            n
        } else {
            let Some(end) = data
                .get(name_at..)
                .and_then(|r| r.iter().position(|&b| b == 0))
            else {
                return out;
            };
            // Entries are padded with NULs to a multiple of eight bytes.
            at = start + ((name_at - start + end + 8) & !7);
            data[name_at..name_at + end].to_vec()
        };
        if mode & 0o170000 == 0o160000 {
            out.push(PathBuf::from(std::ffi::OsStr::from_bytes(&name)));
        }
        previous = name;
    }
    out
}

/// Why a submodule's missing `.git` is listed.
const SUBMODULE: &str =
    "git status goes into a submodule, and runs what the configuration of a repository there names";

/// The submodule directories `top/.gitmodules` names (`submodule.*.path`), inside `top`.
fn submodules_of(top: &Path) -> Vec<PathBuf> {
    let Ok(text) = crate::paths::read_regular(&top.join(".gitmodules"), CONFIG_MAX) else {
        return Vec::new();
    };
    config_entries(&text)
        .into_iter()
        .filter(|(s, k, _)| s == "submodule" && k == "path")
        .map(|(_, _, v)| PathBuf::from(v))
        .filter(|p| {
            !p.as_os_str().is_empty()
                && p.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .map(|p| top.join(p))
        .take(MAX_GIT_DIRS)
        .collect()
}

/// Why a hooks directory a configuration names is listed.
const HOOKS_PATH: &str = "git runs the hooks in the directory core.hooksPath names";

/// The configuration files git reads besides a repository's own: the user's
/// (`$GIT_CONFIG_GLOBAL`, or `~/.gitconfig` and `$XDG_CONFIG_HOME/git/config`) and the
/// system's (`$GIT_CONFIG_SYSTEM` or `/etc/gitconfig`).
fn global_configs() -> Vec<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut out = Vec::new();
    match var("GIT_CONFIG_GLOBAL") {
        Some(g) => out.push(g),
        None => {
            if let Some(home) = var("HOME") {
                out.push(home.join(".gitconfig"));
                out.push(
                    var("XDG_CONFIG_HOME")
                        .unwrap_or_else(|| home.join(".config"))
                        .join("git/config"),
                );
            }
        }
    }
    if std::env::var_os("GIT_CONFIG_NOSYSTEM").is_none() {
        out.push(var("GIT_CONFIG_SYSTEM").unwrap_or_else(|| PathBuf::from("/etc/gitconfig")));
    }
    out
}

/// The value of `section.key` a configuration file gives last, if any.
fn config_value_of(config: &Path, section: &str, key: &str) -> Option<String> {
    let text = crate::paths::read_regular(config, CONFIG_MAX).ok()?;
    config_entries(&text)
        .into_iter()
        .filter(|(s, k, v)| s == section && k == key && !v.is_empty())
        .map(|(_, _, v)| v)
        .next_back()
}

/// The top of the working tree git uses with `git_dir`: `core.worktree` (a submodule's),
/// the directory of a worktree's `.git` file (`gitdir`), the directory whose `.git` led
/// there (`found_in`), the parent of a `.git`; a bare repository's git directory itself.
pub fn top_of(git_dir: &Path, found_in: Option<&Path>) -> PathBuf {
    if let Some(w) = config_value_of(&git_dir.join("config"), "core", "worktree") {
        if let Ok(top) = crate::paths::real_path(&git_dir.join(w)) {
            return top;
        }
    }
    if let Some(top) = named_by(&git_dir.join("gitdir"), "", git_dir)
        .and_then(|f| f.parent().map(Path::to_path_buf))
    {
        return top;
    }
    if let Some(f) = found_in {
        return f.to_path_buf();
    }
    match git_dir.file_name() == Some(std::ffi::OsStr::new(".git")) {
        true => git_dir.parent().unwrap_or(git_dir).to_path_buf(),
        false => git_dir.to_path_buf(),
    }
}

/// Where a `core.hooksPath` value leads from the working tree `top`, as git finds it: `~/`
/// from HOME, a relative path from the top, `..` and links resolved where the path exists.
fn hooks_dir(value: &str, top: &Path) -> Option<PathBuf> {
    let p = match value.strip_prefix("~/") {
        Some(rest) => PathBuf::from(std::env::var_os("HOME")?).join(rest),
        None => top.join(value),
    };
    Some(crate::paths::real_path(&p).unwrap_or(p))
}

/// The files a git configuration file includes (`include.path`, `includeIf.*.path`), and
/// those they include (as git does, ten deep at most), as git reads them: relative to the
/// including file's directory, `~/` from HOME. Those that exist go to `found`, links
/// resolved; those that do not, to `missing`. It stops at `MAX_INCLUDES`.
fn includes_of(config: &Path, found: &mut Vec<PathBuf>, missing: &mut Vec<PathBuf>) {
    let mut todo = vec![(config.to_path_buf(), 0)];
    while let Some((file, depth)) = todo.pop() {
        let Ok(text) = crate::paths::read_regular(&file, CONFIG_MAX) else {
            continue;
        };
        let base = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        for (section, key, value) in config_entries(&text) {
            if !section.starts_with("include") || key != "path" || value.is_empty() {
                continue;
            }
            if found.len() + missing.len() >= MAX_INCLUDES {
                return;
            }
            let path = match value.strip_prefix("~/") {
                Some(rest) => match std::env::var_os("HOME") {
                    Some(h) => PathBuf::from(h).join(rest),
                    None => continue,
                },
                None => base.join(&value),
            };
            match crate::paths::real_path(&path) {
                Ok(real) if !found.contains(&real) => {
                    found.push(real.clone());
                    if depth < MAX_INCLUDE_DEPTH && real.is_file() {
                        todo.push((real, depth + 1));
                    }
                }
                Ok(_) => {}
                Err(_) => missing.push(path),
            }
        }
    }
}

/// What git runs from `git_dir` and the git directories it leads to (its common directory,
/// its worktrees' and submodules'), with why.
/// Each place comes with its scope: a grant for writing at the place, or beneath its git
/// directory, is the user's word that the server may change it.
type Place = (PathBuf, PathBuf, &'static str);

/// Returns the git directories it looked at.
fn places_of(git_dir: &Path, found_in: Option<&Path>, out: &mut Vec<Place>) -> Vec<PathBuf> {
    let mut todo = vec![git_dir.to_path_buf()];
    let mut done: Vec<PathBuf> = Vec::new();
    // `core.hooksPath` values, and the working trees they are found from: a relative value
    // in the common configuration leads to a directory in each worktree.
    // Each value with the git directory whose configuration gave it (none: the user's or
    // the system's, read in every repository); each top with its git directory and that
    // directory's common one (a worktree's).
    let mut hooks: Vec<(String, Option<PathBuf>)> = Vec::new();
    let mut tops: Vec<(PathBuf, PathBuf, Option<PathBuf>)> = Vec::new();
    while let Some(d) = todo.pop() {
        if done.contains(&d) {
            continue;
        }
        if done.len() >= MAX_GIT_DIRS {
            break;
        }
        done.push(d.clone());
        let top = top_of(&d, found_in.filter(|_| d == git_dir));
        tops.push((top, d.clone(), named_by(&d.join("commondir"), "", &d)));
        for (name, why) in IN_GIT_DIR {
            out.push((d.join(name), d.clone(), why));
        }
        // The repository's configuration, and the user's and the system's, which git reads
        // in every repository: what they include, and the hooks directory they name, may
        // lie in a writable grant.
        let configs = [d.join("config"), d.join("config.worktree")]
            .into_iter()
            .map(|c| (c, Some(d.clone())))
            .chain(global_configs().into_iter().map(|c| (c, None)));
        for (config, from) in configs {
            // Files only: an include naming a directory (`path = ..`) is no configuration
            // git reads, and granting it read-only would take the project from the server.
            let (mut found, mut missing) = (Vec::new(), Vec::new());
            includes_of(&config, &mut found, &mut missing);
            for m in missing {
                out.push((m.clone(), m, MISSING_INCLUDE));
            }
            let found: Vec<PathBuf> = found.into_iter().filter(|p| p.is_file()).collect();
            for file in std::iter::once(&config).chain(&found) {
                if let Some(v) = config_value_of(file, "core", "hookspath") {
                    let v = (v, from.clone());
                    if !hooks.contains(&v) {
                        hooks.push(v);
                    }
                }
            }
            for inc in found {
                out.push((
                    inc.clone(),
                    inc,
                    "git reads configuration from it (include.path), and runs the programs it names",
                ));
            }
        }
        // A worktree's: where its configuration and hooks are.
        if let Some(common) = named_by(&d.join("commondir"), "", &d).filter(|c| is_git_dir(c)) {
            todo.push(common);
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
    for (v, from) in &hooks {
        let applies = |(_, d, common): &&(PathBuf, PathBuf, Option<PathBuf>)| {
            from.as_ref()
                .is_none_or(|f| f == d || common.as_ref() == Some(f))
        };
        for (top, _, _) in tops.iter().filter(applies) {
            if let Some(h) = hooks_dir(v, top) {
                if !out.iter().any(|(p, _, _)| *p == h) {
                    out.push((h.clone(), h, HOOKS_PATH));
                }
            }
        }
    }
    done
}

/// The files beneath `place` (itself, or within a directory such as `hooks`) that have
/// other names: a hard link elsewhere in a writable grant would change one however it is
/// protected. Bounded: a directory of git's holds a few files.
fn with_other_names(place: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut todo = vec![(place.to_path_buf(), 0)];
    let mut looked = 0;
    let mut out = Vec::new();
    while let Some((p, depth)) = todo.pop() {
        looked += 1;
        if looked > MAX_FILES_LOOKED_AT {
            break;
        }
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_file() && m.nlink() > 1 {
            out.push(p.clone());
        }
        if m.is_dir() && depth < 4 {
            todo.extend(
                std::fs::read_dir(&p)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| (e.path(), depth + 1)),
            );
        }
    }
    out
}

/// Every name of `file` within the directory `scope` (git's objects left out), when they
/// are all of its names; None when some lie elsewhere, or `scope` is no directory, or the
/// search reaches its bound.
fn names_within(scope: &Path, file: &Path) -> Option<Vec<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(file).ok()?;
    if !std::fs::symlink_metadata(scope).ok()?.is_dir() {
        return None;
    }
    let (dev, ino) = (m.dev(), m.ino());
    let mut found = Vec::new();
    let mut todo = vec![scope.to_path_buf()];
    let mut looked = 0;
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).ok()?.flatten() {
            looked += 1;
            if looked > MAX_NAMES_LOOKED_AT {
                return None;
            }
            let Ok(em) = e.path().symlink_metadata() else {
                continue;
            };
            if em.is_dir() && e.file_name() != "objects" {
                todo.push(e.path());
            } else if em.is_file() && em.dev() == dev && em.ino() == ino {
                found.push(e.path());
            }
        }
    }
    (found.len() as u64 == m.nlink()).then_some(found)
}

/// The read-only grants for what git runs later beneath the writable directory grants
/// among `grants`, with warnings for the user. A protected file that has other names stops
/// the launch: a hard link elsewhere in the writable grant (planted on a launch where the
/// file was not protected) would still change it. `state_root` (every server's state)
/// holds no repository.
/// What [`protect`] found.
#[derive(Debug, Default)]
pub struct Protected {
    /// The read-only grants.
    pub grants: Vec<Grant>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
    /// The directories where git would look (a writable root, the working directory and
    /// those between) that held no `.git` at launch. A repository the server makes there
    /// is the server's, configuration and hooks included, and cannot be kept from it (no
    /// mount or Landlock rule can refuse one name in a writable directory): mcpcell tells
    /// of one when the server has exited.
    pub unrepositoried: Vec<PathBuf>,
    /// The git directories found, whose `HEAD` and state files a writable grant holds: what
    /// a shell prompt prints from them is checked when the server has exited.
    pub git_dirs: Vec<PathBuf>,
    /// What git would read or run, absent at launch, in a directory the server may write
    /// (a repository's `commondir`, a missing `hooks` directory or include), with why. A
    /// mount can only cover what exists: the supervisor watches these names while the
    /// server runs, and stops it if one appears.
    pub unmade: Vec<(PathBuf, &'static str)>,
}

pub fn protect(
    grants: &[Grant],
    cwd: &Path,
    state_root: Option<&Path>,
) -> Result<Protected, super::PlanError> {
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
        return Ok(Protected::default());
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
    let mut unrepositoried: Vec<PathBuf> = Vec::new();
    let mut git_dirs: Vec<PathBuf> = Vec::new();
    let mut unmade: Vec<(PathBuf, &'static str)> = Vec::new();
    for root in &writable {
        let mut dirs = vec![root.clone()];
        if let Some(c) = cwd.as_ref().filter(|c| c.starts_with(root)) {
            dirs.extend(
                c.ancestors()
                    .take_while(|a| *a != root.as_path())
                    .map(Path::to_path_buf),
            );
        }
        let mut places: Vec<Place> = Vec::new();
        // The submodules `.gitmodules` names there: a plain `git status` goes into each
        // (an uninitialised one of a clone too, once it holds a repository), and runs what
        // that repository's configuration names. Their `.git` is looked at as the
        // directories' own; one that does not exist yet is watched.
        let subs: Vec<PathBuf> = dirs.iter().flat_map(|d| submodules_of(d)).collect();
        for sub in &subs {
            let dot_git = sub.join(".git");
            if std::fs::symlink_metadata(&dot_git).is_err() {
                places.push((dot_git.clone(), dot_git, SUBMODULE));
            }
        }
        dirs.extend(subs);
        for dir in dirs {
            // Git tries `DIR/.git`, then DIR itself as a bare repository, at each level.
            if is_git_dir(&dir) {
                git_dirs.extend(places_of(&dir, None, &mut places));
            }
            let dot_git = dir.join(".git");
            let Ok(m) = std::fs::symlink_metadata(&dot_git) else {
                if !is_git_dir(&dir) && !unrepositoried.contains(&dir) {
                    unrepositoried.push(dir);
                }
                continue;
            };
            let git_dir = if m.is_file() {
                // A worktree's or a submodule's: `gitdir: PATH`, where git finds the rest.
                places.push((
                    dot_git.clone(),
                    dot_git.clone(),
                    "git takes its directory from it",
                ));
                named_by(&dot_git, "gitdir:", &dir)
            } else if m.is_dir() {
                // Git makes a `commondir` only in a worktree's directory, never in a
                // repository's own `.git`: there it sends git elsewhere for its
                // configuration and hooks, and was planted.
                let common = dot_git.join("commondir");
                if std::fs::symlink_metadata(&common).is_ok() {
                    warnings.push(format!(
                        "{} exists: git never makes one in a repository's own .git, and with it git takes its configuration and hooks from where it points; a server that could write the repository may have planted it. Look at it, and remove it, before you run git there",
                        crate::escape::path(&common)
                    ));
                }
                Some(dot_git.clone())
            } else {
                // A link, which git follows: what it leads to is protected where a
                // writable grant holds it.
                real(&dot_git)
            };
            if let Some(g) = git_dir.filter(|g| is_any_git_dir(g)) {
                git_dirs.extend(places_of(&g, Some(&dir), &mut places));
            }
        }
        for (p, scope, why) in places {
            // The place named, or a directory beneath its git directory (`.git/hooks`; the
            // git directory itself, granted on its own, is not such a word).
            let is_chosen = |p: &Path, scope: &Path| {
                named
                    .iter()
                    .any(|n| p.starts_with(n) && (n == p || (n != scope && n.starts_with(scope))))
            };
            let chosen = is_chosen(&p, &scope);
            // Absent (`commondir`, a `hooks` directory, an include): no mount or Landlock rule
            // keeps one name from being made in a writable directory. The supervisor watches
            // for it, where its directory really is, while the server runs, and stops the
            // server if it appears.
            if std::fs::symlink_metadata(&p).is_err() {
                // Its first missing component (an include's directory may be missing too):
                // what the server would have to make first.
                let mut first = p.as_path();
                while let Some(up) = first.parent() {
                    if std::fs::symlink_metadata(up).is_ok() {
                        break;
                    }
                    first = up;
                }
                let at = first
                    .parent()
                    .and_then(real)
                    .zip(first.file_name())
                    .map(|(d, n)| d.join(n))
                    .filter(|a| writable.iter().any(|w| a.starts_with(w) && a != w));
                if let Some(at) = at {
                    let scope = if scope == p {
                        at.clone()
                    } else {
                        scope.clone()
                    };
                    if !is_chosen(&at, &scope) && !unmade.iter().any(|(q, _)| *q == at) {
                        unmade.push((at, why));
                    }
                }
            }
            // An include that does not exist cannot be mounted read-only: told.
            if why == MISSING_INCLUDE {
                let inside = writable.iter().any(|w| p.starts_with(w));
                let msg = format!(
                    "git's configuration includes {}, which does not exist: the server may create it there, and git would read it as configuration (the programs it names run outside the sandbox); mcpcell stops the server if it does, but create it yourself (empty), or remove the include",
                    crate::escape::path(&p)
                );
                if inside && !warnings.contains(&msg) {
                    warnings.push(msg);
                }
                continue;
            }
            // Only within a writable grant (this one, or another: a git directory kept
            // apart), with no link on the way: a link could lead anywhere, and granting where
            // it leads would widen the launch.
            if seen.contains(&p) || real(&p).as_deref() != Some(p.as_path()) {
                continue;
            }
            let Some(holder) = writable
                .iter()
                .filter(|w| p.starts_with(w))
                .max_by_key(|w| w.as_os_str().len())
            else {
                continue;
            };
            if chosen {
                continue;
            }
            // A file with other names: those inside the same git directory are kept
            // read-only with it (a server could make them, to have every later launch
            // refused); one anywhere else stops the launch.
            let mut also = Vec::new();
            for linked in with_other_names(&p) {
                match names_within(&scope, &linked) {
                    Some(names) => also.extend(names.into_iter().filter(|n| !n.starts_with(&p))),
                    None => {
                        return Err(super::PlanError::SteeredSource {
                            what: "what git runs later,",
                            path: linked.clone(),
                            by: linked,
                            inside: holder.clone(),
                            place: super::steer::Place::Now,
                            why: "it has other names (hard links), and one of them elsewhere in the writable grant would let the server change it however it is protected. Look at the other names (find DIR -samefile FILE) and remove them",
                        });
                    }
                }
            }
            for n in also {
                if !seen.contains(&n) {
                    seen.push(n.clone());
                    out.push(Grant {
                        path: n,
                        rights: Rights::READ,
                        origin: Origin::command_line(&format!(
                            "{ORIGIN}another name of a file git runs or reads, outside the sandbox; a grant of its own for writing keeps it writable)"
                        )),
                        required: false,
                        evidence: Vec::new(),
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
    git_dirs.sort();
    git_dirs.dedup();
    git_dirs.retain(|g| writable.iter().any(|w| g.starts_with(w)));
    Ok(Protected {
        grants: out,
        warnings,
        unrepositoried,
        git_dirs,
        unmade,
    })
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
        let Protected {
            grants: got,
            warnings,
            git_dirs,
            ..
        } = protect(&grants, &sub, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        // Every git directory visited, a submodule's too (a prompt prints its HEAD).
        assert!(
            git_dirs.contains(&proj.join(".git/modules/lib")),
            "{git_dirs:?}"
        );
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
        let Protected {
            grants: got,
            warnings,
            ..
        } = protect(&grants, &sub, None).unwrap();
        assert!(
            warnings.iter().any(|w| w.contains("commondir exists")),
            "{warnings:?}"
        );
        assert!(got.iter().any(|g| g.path == proj.join(".git/commondir")));
        std::fs::remove_file(proj.join(".git/commondir")).unwrap();
        // Nothing writable, nothing to protect; a state directory holds no repository.
        assert!(protect(&grants[2..], &sub, None).unwrap().grants.is_empty());
        assert!(
            protect(&grants[..1], &sub, Some(&root))
                .unwrap()
                .grants
                .is_empty()
        );
        // A git directory granted on its own is protected at its root.
        let Protected { grants: got, .. } =
            protect(&[grant(&proj.join(".git"), Rights::WRITE)], &root, None).unwrap();
        assert!(got.iter().any(|g| g.path == proj.join(".git/hooks")));
        // A second name of a protected file stops the launch.
        std::fs::hard_link(proj.join(".git/config"), proj.join("notes")).unwrap();
        assert!(protect(&grants, &sub, None).is_err());
    }

    /// Git's own ways to a git directory: a worktree's `.git` file and its `commondir`, a
    /// `.git` that is a link, a git directory in another writable grant, a configuration
    /// file included from the working tree; and a hook with a second name.
    #[test]
    fn the_git_directory_is_found_the_way_git_finds_it() {
        let d = tempfile::Builder::new()
            .prefix("runs-later-")
            .tempdir()
            .unwrap();
        let root = crate::paths::real_path(d.path()).unwrap();
        let sorted = |g: Vec<Grant>| {
            let mut v: Vec<PathBuf> = g.into_iter().map(|g| g.path).collect();
            v.sort();
            v
        };
        // A linked worktree beside its repository, the working directory in the worktree.
        let proj = root.join("proj");
        let wt = root.join("proj-feature");
        git_dir(&proj.join(".git"));
        let wt_git = proj.join(".git/worktrees/proj-feature");
        std::fs::create_dir_all(&wt_git).unwrap();
        std::fs::write(wt_git.join("HEAD"), "ref: refs/heads/feature\n").unwrap();
        std::fs::write(wt_git.join("commondir"), "../..\n").unwrap();
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::write(wt.join(".git"), format!("gitdir: {}\n", wt_git.display())).unwrap();
        let Protected { grants: got, .. } =
            protect(&[grant(&root, Rights::WRITE)], &wt, None).unwrap();
        let got = sorted(got);
        for want in [
            ".git/config",
            ".git/hooks",
            ".git/worktrees/proj-feature/commondir",
        ] {
            assert!(got.contains(&proj.join(want)), "{want}: {got:?}");
        }
        assert!(got.contains(&wt.join(".git")), "{got:?}");

        // A `.git` that is a link to a git directory elsewhere in the grant.
        let linked = root.join("linked");
        std::fs::create_dir_all(&linked).unwrap();
        git_dir(&root.join("store/linked.git"));
        std::os::unix::fs::symlink("../store/linked.git", linked.join(".git")).unwrap();
        let Protected { grants: got, .. } = protect(
            &[
                grant(&linked, Rights::WRITE),
                grant(&root.join("store"), Rights::WRITE),
            ],
            &linked,
            None,
        )
        .unwrap();
        let got = sorted(got);
        assert!(
            got.contains(&root.join("store/linked.git/config")),
            "{got:?}"
        );
        // ... and where no writable grant holds it, nothing is granted for it.
        let Protected { grants: got, .. } =
            protect(&[grant(&linked, Rights::WRITE)], &linked, None).unwrap();
        assert!(got.is_empty(), "{got:?}");

        // `git init --separate-git-dir`: the `.git` file names a git directory in another
        // writable grant.
        let sep = root.join("sep");
        std::fs::create_dir_all(&sep).unwrap();
        git_dir(&root.join("gitdirs/sep"));
        std::fs::write(sep.join(".git"), "gitdir: ../gitdirs/sep\n").unwrap();
        let grants = [
            grant(&sep, Rights::WRITE),
            grant(&root.join("gitdirs"), Rights::WRITE),
        ];
        let got = sorted(protect(&grants, &sep, None).unwrap().grants);
        assert!(got.contains(&root.join("gitdirs/sep/config")), "{got:?}");
        assert!(got.contains(&root.join("gitdirs/sep/hooks")), "{got:?}");

        // A configuration file included from the working tree.
        std::fs::write(
            proj.join(".git/config"),
            "[core]\n\tbare = false\n[include]\n\tpath = ../shared.gitconfig\n[includeIf \"onbranch:main\"]\n  path = \"../branch.gitconfig\"\n",
        )
        .unwrap();
        std::fs::write(proj.join("shared.gitconfig"), "").unwrap();
        std::fs::write(proj.join("branch.gitconfig"), "").unwrap();
        // An include naming a directory (the project itself) is not followed.
        let mut config = std::fs::read_to_string(proj.join(".git/config")).unwrap();
        config.push_str("[include]\n\tpath = ..\n");
        std::fs::write(proj.join(".git/config"), config).unwrap();
        let got = sorted(
            protect(&[grant(&proj, Rights::WRITE)], &proj, None)
                .unwrap()
                .grants,
        );
        assert!(got.contains(&proj.join("shared.gitconfig")), "{got:?}");
        assert!(got.contains(&proj.join("branch.gitconfig")), "{got:?}");
        assert!(!got.contains(&proj), "{got:?}");
        // An include that does not exist yet, where the server may write: told.
        let mut config = std::fs::read_to_string(proj.join(".git/config")).unwrap();
        config.push_str("[include]\n\tpath = ../later.gitconfig\n");
        std::fs::write(proj.join(".git/config"), config).unwrap();
        let found = protect(&[grant(&proj, Rights::WRITE)], &proj, None).unwrap();
        assert!(
            found
                .warnings
                .iter()
                .any(|w| w.contains("later.gitconfig, which does not exist")),
            "{:?}",
            found.warnings
        );

        // A bare-shaped repository between the writable root and the working directory (git
        // tries DIR/.git, then DIR itself, at each level).
        let bare = root.join("barechain");
        git_dir(&bare);
        std::fs::create_dir_all(bare.join("sub")).unwrap();
        let found = protect(&[grant(&root, Rights::WRITE)], &bare.join("sub"), None).unwrap();
        assert!(found.grants.iter().any(|g| g.path == bare.join("config")));
        assert!(found.git_dirs.contains(&bare));
        assert!(!found.unrepositoried.contains(&bare));
        assert!(found.unrepositoried.contains(&bare.join("sub")));

        // A second name inside the same git directory (which a server could make, to have
        // every later launch refused) is kept read-only with it.
        let w = proj.join(".git/worktrees/w");
        std::fs::create_dir_all(&w).unwrap();
        std::fs::write(w.join("HEAD"), "ref: refs/heads/w\n").unwrap();
        std::fs::write(w.join("commondir"), "../..\n").unwrap();
        std::fs::hard_link(w.join("commondir"), w.join("other")).unwrap();
        let found = protect(&[grant(&proj, Rights::WRITE)], &proj, None).unwrap();
        assert!(found.grants.iter().any(|g| g.path == w.join("other")));
        std::fs::remove_dir_all(&w).unwrap();

        // A hook with a second name elsewhere in the grant stops the launch, naming it.
        std::fs::write(proj.join(".git/hooks/pre-commit"), "#!/bin/sh\n").unwrap();
        assert!(protect(&[grant(&proj, Rights::WRITE)], &proj, None).is_ok());
        std::fs::hard_link(proj.join(".git/hooks/pre-commit"), proj.join("notes.txt")).unwrap();
        match protect(&[grant(&proj, Rights::WRITE)], &proj, None) {
            Err(super::super::PlanError::SteeredSource { path, .. }) => {
                assert_eq!(path, proj.join(".git/hooks/pre-commit"))
            }
            other => panic!("{other:?}"),
        }
    }

    /// Git's configuration grammar, for the includes it names.
    #[test]
    fn includes_are_read_as_git_reads_them() {
        let text = "[core]\n\tfsmonitor = x ; not this\n[include]\n\tpath = ../a.gitconfig ; comment\n\tpath = ../b\\\n.gitconfig\n\tPATH = \"../\\\"c\\\".gitconfig\"\n[includeIf \"gitdir:~/x/\"] path = d.gitconfig # tail\n[other]\n\tpath = no\n";
        let paths: Vec<String> = config_entries(text)
            .into_iter()
            .filter(|(s, k, _)| s.starts_with("include") && k == "path")
            .map(|(_, _, v)| v)
            .collect();
        assert_eq!(
            paths,
            [
                "../a.gitconfig",
                "../b.gitconfig",
                "../\"c\".gitconfig",
                "d.gitconfig"
            ]
        );
        // Nested includes are followed; a missing one is listed.
        let d = tempfile::tempdir().unwrap();
        let root = crate::paths::real_path(d.path()).unwrap();
        std::fs::write(
            root.join("config"),
            "[include]\n\tpath = one\n\tpath = gone\n",
        )
        .unwrap();
        std::fs::write(root.join("one"), "[include]\n\tpath = two\n").unwrap();
        std::fs::write(root.join("two"), "").unwrap();
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        includes_of(&root.join("config"), &mut found, &mut missing);
        found.sort();
        assert_eq!(found, [root.join("one"), root.join("two")]);
        assert_eq!(missing, [root.join("gone")]);
    }

    #[test]
    fn gitlinks_are_read_from_every_index_version_and_a_broken_index_never_panics() {
        if which::which("git").is_err() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let top = crate::paths::real_path(d.path()).unwrap();
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .args(args)
                .current_dir(&top)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::create_dir_all(top.join("dir/deeper")).unwrap();
        std::fs::write(top.join("dir/deeper/a-file-with-a-longer-name.txt"), "a").unwrap();
        std::fs::write(top.join("b"), "b").unwrap();
        git(&["add", "."]);
        let oid = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
        git(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{oid},dir/sub"),
        ]);
        git(&[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{oid},zz/other"),
        ]);
        for version in ["2", "3", "4"] {
            git(&["update-index", "--index-version", version]);
            let want = [PathBuf::from("dir/sub"), PathBuf::from("zz/other")];
            assert_eq!(gitlinks(&top.join(".git")), want, "version {version}");
            let data = std::fs::read(top.join(".git/index")).unwrap();
            for cut in 0..data.len() {
                let got = gitlinks_in(&data[..cut], 20);
                assert!(got.len() <= 2, "version {version}, cut at {cut}");
            }
            let mut flipped = data.clone();
            for i in 12..flipped.len() {
                flipped[i] ^= 0xff;
                let _ = gitlinks_in(&flipped, 20);
                flipped[i] ^= 0xff;
            }
        }
    }

    #[test]
    fn submodule_paths_stay_inside_the_working_tree() {
        let d = tempfile::tempdir().unwrap();
        let top = crate::paths::real_path(d.path()).unwrap();
        std::fs::write(
            top.join(".gitmodules"),
            "[submodule \"a\"]\n\tpath = libs/a\n[submodule \"b\"]\n\tpath = ../../etc\n[submodule \"c\"]\n\tpath = /etc\n[submodule \"d\"]\n\tpath = x/../../y\n",
        )
        .unwrap();
        assert_eq!(submodules_of(&top), [top.join("libs/a")]);
    }

    #[test]
    fn a_configuration_of_thousands_of_includes_is_looked_at_only_so_far() {
        let d = tempfile::tempdir().unwrap();
        let root = crate::paths::real_path(d.path()).unwrap();
        let mut text = String::from("[include]\n");
        for i in 0..5000 {
            text.push_str(&format!("\tpath = gone{i}\n"));
        }
        std::fs::write(root.join("config"), text).unwrap();
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        includes_of(&root.join("config"), &mut found, &mut missing);
        assert!(found.is_empty());
        assert_eq!(missing.len(), MAX_INCLUDES);
        assert_eq!(missing[0], root.join("gone0"));
    }
}
