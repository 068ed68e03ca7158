//! Paths as the kernel resolves them: `.`/`..` folding, and opening a path to learn the
//! file it reaches (every symbolic link resolved).

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::Mode;

/// The text of the regular file at `path`, at most `max` bytes: a FIFO would wait forever
/// (opened without blocking, it is refused), a device (`/dev/zero`, `/dev/stdin`: the MCP
/// client's bytes) is no file of settings, and a larger file is none either. The error
/// says which, for a message that names the file.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_regular_bytes(path, max)?).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// The bytes of the regular file at `path`, at most `max`, refused as [`read_regular`]
/// refuses them.
pub fn read_regular_bytes(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket or device)",
        ));
    }
    let too_big = |n: u64| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{n} bytes; at most {max} are read"),
        )
    };
    if meta.len() > max {
        return Err(too_big(meta.len()));
    }
    let mut data = Vec::new();
    f.take(max + 1).read_to_end(&mut data)?;
    if data.len() as u64 > max {
        return Err(too_big(data.len() as u64));
    }
    Ok(data)
}

/// `path` with `.` and `..` removed without looking at the filesystem.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The path an open descriptor refers to, as the kernel names it.
fn fd_path(fd: &impl AsRawFd) -> std::io::Result<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens `path` (O_PATH) and names the file it reaches, with every symbolic link resolved,
/// as `canonicalize` would, but without its readlink for each component. An absolute path
/// with no symbolic link in it is opened with `openat2(RESOLVE_NO_SYMLINKS)` and is its own
/// name once `.` and `..` are taken out; otherwise the kernel names the open file in
/// /proc/self/fd (a readlink there costs a few microseconds, so only paths with links pay it).
pub fn open_real(path: &Path) -> Result<(OwnedFd, PathBuf), Errno> {
    // Opened already by `resolve_kept`: that descriptor, the file the plan resolved (or
    // the failure it met).
    // A kept failure stays until `drop_kept`: a second open of the path meets it too.
    if let Some(kept) = KEPT.with_borrow_mut(|k| match k.get(path) {
        Some(Err(e)) => Some(Err(*e)),
        Some(Ok(_)) => k.remove(path),
        None => None,
    }) {
        return kept;
    }
    // Known already (a memo lives): the real path is opened, and it must have no link left
    // in it, as a real path has none. What the plan checked is what it opens: a link that
    // appeared on the way since (one a server swapped in, say) is not followed but reported
    // as ESTALE, and anything else that changed as what the open met.
    if let Some(real) = MEMO.with_borrow(|m| m.as_ref().and_then(|m| m.get(path).cloned())) {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
        return match openat2(AT_FDCWD, &real, how) {
            Ok(fd) => Ok((fd, real)),
            Err(Errno::ELOOP) => Err(Errno::ESTALE),
            // No openat2 here (before Linux 5.6, or refused by a container's filter): the
            // remembered path is opened without it, and must still name itself.
            Err(Errno::ENOSYS | Errno::EPERM) => match open_real_uncached(&real)? {
                (fd, again) if again == real => Ok((fd, real)),
                _ => Err(Errno::ESTALE),
            },
            Err(e) => Err(e),
        };
    }
    let (fd, real) = open_real_uncached(path)?;
    MEMO.with_borrow_mut(|m| {
        if let Some(m) = m {
            m.insert(path.to_path_buf(), real.clone());
        }
    });
    Ok((fd, real))
}

fn open_real_uncached(path: &Path) -> Result<(OwnedFd, PathBuf), Errno> {
    let flags = OFlag::O_PATH | OFlag::O_CLOEXEC;
    if path.is_absolute() {
        let how = OpenHow::new()
            .flags(flags)
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
        match openat2(AT_FDCWD, path, how) {
            Ok(fd) => return Ok((fd, normalize(path))),
            // Missing, or not searchable: an ordinary open says the same.
            Err(e @ (Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES)) => return Err(e),
            // ELOOP: a link on the way. ENOSYS, EPERM: no openat2 here (before Linux 5.6, or
            // refused by a container's seccomp filter). EAGAIN: a rename raced the lookup.
            Err(_) => {}
        }
    }
    let fd = open(path, flags, Mode::empty())?;
    match fd_path(&fd) {
        // Not `/x (deleted)`: removed since it was opened, or a name that ends like that.
        Ok(p) if p.is_absolute() && !p.as_os_str().as_encoded_bytes().ends_with(b" (deleted)") => {
            Ok((fd, p))
        }
        _ => match path.canonicalize() {
            Ok(p) => Ok((fd, p)),
            Err(e) => Err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
        },
    }
}

/// `path` with every symbolic link resolved, like `canonicalize` (see [`open_real`]); from
/// memory while a [`Memo`] lives and it was resolved before.
pub fn real_path(path: &Path) -> std::io::Result<PathBuf> {
    if let Some(p) = MEMO.with_borrow(|m| m.as_ref().and_then(|m| m.get(path).cloned())) {
        return Ok(p);
    }
    open_real(path)
        .map(|(_, p)| p)
        .map_err(std::io::Error::from)
}

/// Resolves `path` one component at a time: where each symbolic link it follows lies (the
/// link itself, named by its real directory), in the order they are met, and the path it
/// reaches. The walk stops at a missing component (the rest is appended as written) and
/// after 40 links, as the kernel does. A relative `path` starts at the working directory.
pub fn walk(path: &Path) -> (Vec<PathBuf>, PathBuf) {
    let mut links = Vec::new();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    let start = if path.is_absolute() {
        path.to_path_buf()
    } else {
        match std::env::current_dir() {
            Ok(d) => d.join(path),
            Err(_) => return (links, path.to_path_buf()),
        }
    };
    push_components(&start, &mut rest);
    let mut cur = PathBuf::from("/");
    while let Some(c) = rest.pop() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&c);
        let Ok(meta) = std::fs::symlink_metadata(&next) else {
            rest.push(c);
            break;
        };
        if !meta.file_type().is_symlink() {
            cur = next;
            continue;
        }
        let target = match std::fs::read_link(&next) {
            Ok(t) if links.len() < 40 => t,
            _ => {
                rest.push(c);
                break;
            }
        };
        links.push(next);
        if target.is_absolute() {
            cur = PathBuf::from("/");
        }
        push_components(&target, &mut rest);
    }
    cur.extend(rest.into_iter().rev());
    (links, cur)
}

/// Pushes `path`'s components (`.` left out, `..` kept) onto `stack`, last first, so that
/// popping yields them in order.
fn push_components(path: &Path, stack: &mut Vec<std::ffi::OsString>) {
    let parts: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

/// [`real_path`], keeping the descriptor it opened (or the failure it met) for the next
/// [`open_real`] of `path` (until [`drop_kept`]): a plan that looks at a path and then opens
/// it opens it once, and gets the very file it looked at.
pub fn resolve_kept(path: &Path) -> std::io::Result<PathBuf> {
    if let Some(p) = MEMO.with_borrow(|m| m.as_ref().and_then(|m| m.get(path).cloned())) {
        return Ok(p);
    }
    let opened = open_real(path);
    let real = opened
        .as_ref()
        .map(|(_, p)| p.clone())
        .map_err(|e| (*e).into());
    KEPT.with_borrow_mut(|k| k.insert(path.to_path_buf(), opened));
    real
}

/// What opening a path gave: the descriptor and the real path, or the failure.
type Opened = Result<(OwnedFd, PathBuf), Errno>;

/// Closes the descriptors [`resolve_kept`] kept that no [`open_real`] took.
pub fn drop_kept() {
    KEPT.with_borrow_mut(HashMap::clear);
}

thread_local! {
    static MEMO: RefCell<Option<HashMap<PathBuf, PathBuf>>> = const { RefCell::new(None) };
    static KEPT: RefCell<HashMap<PathBuf, Opened>> = RefCell::new(HashMap::new());
}

/// While it lives, [`real_path`] answers a path that was resolved before (by it or by
/// [`open_real`]) from memory. A launch resolves the command, its interpreter, the programs
/// a profile names and the links on the way to the grants several times over (an `openat2`,
/// an `openat`, a readlink in /proc and a close each time a link is on the way), all within
/// a millisecond or two; one answer per path also keeps those uses agreeing with each other.
/// Only answers are kept, never failures; [`open_real`], which hands out the descriptor that
/// is granted or mounted, opens a remembered real path with no link allowed in it, so what it
/// hands out is always what the plan resolved (and checked), or nothing. A launch ends it with [`forget`] once
/// the server has started: nothing that runs for the server's lifetime answers from memory.
pub struct Memo(bool);

impl Memo {
    /// Starts remembering on this thread, unless a memo already does (the outer one ends it).
    pub fn start() -> Memo {
        Memo(MEMO.with_borrow_mut(|m| {
            let outer = m.is_none();
            if outer {
                *m = Some(HashMap::new());
            }
            outer
        }))
    }
}

impl Drop for Memo {
    fn drop(&mut self) {
        if self.0 {
            forget();
        }
    }
}

/// Ends the memo of this thread, whoever started it (and closes what was kept).
pub fn forget() {
    MEMO.set(None);
    drop_kept();
}

/// Closes what [`resolve_kept`] kept when dropped: on every way out of a plan.
pub struct Kept;

impl Drop for Kept {
    fn drop(&mut self) {
        drop_kept();
    }
}

/// The regular files at or beneath `p` that have other names (hard links), with their
/// metadata: `p` itself when it is such a file, else a walk of at most `max` entries (links
/// not followed). A file hidden or kept read-only by its name stays reachable by another.
pub fn linked_files(p: &Path, max: usize) -> Vec<(PathBuf, std::fs::Metadata)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut todo = vec![p.to_path_buf()];
    let mut looked = 0;
    while let Some(at) = todo.pop() {
        looked += 1;
        if looked > max {
            break;
        }
        let Ok(m) = std::fs::symlink_metadata(&at) else {
            continue;
        };
        if m.is_file() && m.nlink() > 1 {
            out.push((at, m));
        } else if m.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&at) {
                todo.extend(rd.flatten().map(|e| e.path()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_links_a_resolution_follows_are_named_where_they_lie() {
        let d = tempfile::tempdir().unwrap();
        let root = real_path(d.path()).unwrap();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::fs::write(root.join("real/sub/f"), "").unwrap();
        std::os::unix::fs::symlink("real", root.join("top")).unwrap();
        std::os::unix::fs::symlink(root.join("top/sub/f"), root.join("real/abs")).unwrap();
        std::os::unix::fs::symlink("../real/sub", root.join("real/rel")).unwrap();
        let f = root.join("real/sub/f");
        // No link: nothing.
        assert_eq!(walk(&f), (vec![], f.clone()));
        // A link on the way, and one at the end whose target goes through the first again.
        assert_eq!(
            walk(&root.join("top/abs")),
            (
                vec![root.join("top"), root.join("real/abs"), root.join("top")],
                f.clone()
            )
        );
        // `..` in a target is taken from the link's real directory.
        assert_eq!(
            walk(&root.join("top/rel/f")),
            (vec![root.join("top"), root.join("real/rel")], f.clone())
        );
        // A missing component ends the walk; a loop ends after 40 links.
        assert_eq!(
            walk(&root.join("top/missing/x")),
            (vec![root.join("top")], root.join("real/missing/x"))
        );
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(walk(&root.join("loop")).0.len(), 40);
    }

    /// A directory holding directories `a` and `b` and a link `l` to `a`.
    fn two_dirs_and_a_link() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = real_path(d.path()).unwrap();
        let (a, b, link) = (root.join("a"), root.join("b"), root.join("l"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::os::unix::fs::symlink("a", &link).unwrap();
        (d, root, a, b, link)
    }

    #[test]
    fn a_kept_resolution_is_the_file_the_next_open_gets() {
        let (_d, root, a, b, link) = two_dirs_and_a_link();
        let _memo = Memo::start();
        assert_eq!(resolve_kept(&link).unwrap(), a);
        // Swapped after the look: the open still gets what was looked at, once.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("b", &link).unwrap();
        let (fd, p) = open_real(&link).unwrap();
        assert_eq!((fd_path(&fd).unwrap(), p), (a.clone(), a.clone()));
        assert!(KEPT.with_borrow(HashMap::is_empty));
        // A failure is kept too, and handed out once.
        let missing = root.join("missing");
        assert!(resolve_kept(&missing).is_err());
        std::fs::create_dir(&missing).unwrap();
        assert_eq!(open_real(&missing).unwrap_err(), Errno::ENOENT);
        assert_eq!(open_real(&missing).unwrap_err(), Errno::ENOENT);
        resolve_kept(&b).unwrap();
        drop(Kept);
        assert_eq!(open_real(&missing).unwrap().1, missing);
        assert!(KEPT.with_borrow(HashMap::is_empty));
    }

    #[test]
    fn a_memo_answers_what_it_resolved_until_it_ends() {
        let (_d, root, a, b, link) = two_dirs_and_a_link();
        let missing = root.join("later");
        {
            let _memo = Memo::start();
            assert_eq!(real_path(&link).unwrap(), a);
            assert!(real_path(&missing).is_err());
            std::fs::remove_file(&link).unwrap();
            std::os::unix::fs::symlink("b", &link).unwrap();
            std::fs::create_dir(&missing).unwrap();
            // One answer per path for the memo's life; a failure is not remembered.
            assert_eq!(real_path(&link).unwrap(), a);
            assert_eq!(real_path(&missing).unwrap(), missing);
            // A nested memo leaves the outer one in charge.
            drop(Memo::start());
            assert_eq!(real_path(&link).unwrap(), a);
            // open_real opens the remembered path while it has no link in it...
            assert_eq!(open_real(&link).unwrap().1, a);
            // ...and opens nothing once it has one (it would not be what the plan checked).
            std::fs::remove_dir(&a).unwrap();
            std::os::unix::fs::symlink("b", &a).unwrap();
            assert_eq!(open_real(&link).unwrap_err(), Errno::ESTALE);
            std::fs::remove_file(&a).unwrap();
            assert_eq!(open_real(&link).unwrap_err(), Errno::ENOENT);
        }
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("later", &link).unwrap();
        assert_eq!(real_path(&link).unwrap(), missing);
        let _memo = Memo::start();
        assert_eq!(real_path(&link).unwrap(), missing);
        forget();
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("b", &link).unwrap();
        assert_eq!(real_path(&link).unwrap(), b);
    }
}
