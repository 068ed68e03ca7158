//! Which host paths the mount plan binds, and the symbolic links that lead to them: read from
//! the host before fork.

use std::collections::{BTreeSet, HashMap};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::plan::fs::{FsPlan, Kind, Placement, Rights};

// The mount_setattr(2) flags (linux/mount.h).
pub(super) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(super) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(super) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(super) const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// The mount flags of a bind for a grant with `rights`: read-only unless the grant says
/// write, no-exec where it says write but not exec, never setuid, and no device nodes except
/// where the granted path is a device itself. The kernel checks these on every route to a
/// file, including the ones Landlock does not see: metadata changes (chmod, chown, ACLs and
/// other extended attributes, times, inode flags) need a writable mount, and the dynamic
/// loader's `mmap(PROT_EXEC)` of a file needs an exec mount, so nothing the server can write
/// runs unless a grant says exec. A read-only grant stays mappable: the server cannot change
/// what is there, and libraries and native modules in it load (Landlock still decides what
/// may be `execve`d). A device node is always bound read-only: writing to it still reaches
/// the device (the mount's flag governs the inode, not the driver), but its mode, owner and
/// times cannot be changed.
pub fn attrs_for(rights: Rights, device: bool) -> u64 {
    let mut a = MOUNT_ATTR_NOSUID;
    if !device {
        a |= MOUNT_ATTR_NODEV;
    }
    if !rights.write || device {
        a |= MOUNT_ATTR_RDONLY;
    }
    if (rights.write || device) && !rights.exec {
        a |= MOUNT_ATTR_NOEXEC;
    }
    a
}

/// A host path to bind: the path, whether it is a directory, its mount flags, its descriptor.
pub(super) type Source = (PathBuf, bool, u64, RawFd);

/// `prefix` + an absolute path.
pub(super) fn under(prefix: &Path, p: &Path) -> PathBuf {
    prefix.join(p.strip_prefix("/").unwrap_or(p))
}

/// Every ancestor of `p` below `stop` (exclusive), outermost first.
pub(super) fn ancestors_below(p: &Path, stop: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = p
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(stop) && *a != stop)
        .map(Path::to_path_buf)
        .collect();
    v.reverse();
    v
}

/// The directories to pin on the way to `p`, a path mounted inside the granted view (a bound
/// path or a mask), outermost first: those below the innermost bound directory that holds
/// it, when that bind is writable. A writable directory's entries can be renamed, and a
/// mount goes with the directory it lies in; a mount point cannot be renamed or removed in
/// the namespace that has the mount (EBUSY).
pub(super) fn pins_for(bound: &[Source], p: &Path) -> Vec<PathBuf> {
    let enclosing = bound
        .iter()
        .filter(|(b, dir, _, _)| *dir && b != p && p.starts_with(b))
        .max_by_key(|(b, ..)| b.as_os_str().len());
    match enclosing {
        Some((b, _, attrs, _)) if attrs & MOUNT_ATTR_RDONLY == 0 => ancestors_below(p, b),
        _ => Vec::new(),
    }
}

/// Which host paths are bound: in the host view only those under /tmp and /dev/shm (the
/// private instances would hide them); in the granted view every granted path, and the Unix
/// sockets the profile names. Sorted, outermost first; a path inside a bound directory is
/// bound again only when its grant asks for other mount flags (a writable directory inside
/// a read-only one). Also returns the descriptors opened here (the sockets').
pub(super) fn bound_paths(
    fs: &FsPlan,
    unix: &[PathBuf],
    granted_view: bool,
) -> (Vec<Source>, Vec<OwnedFd>) {
    let source = |i: usize| -> Option<Source> {
        let r = &fs.rules[i];
        let fd = r.fd.as_ref()?.as_raw_fd();
        let mut attrs = attrs_for(r.rights, r.kind == Kind::File && is_device(&r.path));
        // What git runs, made read-only inside a writable grant, stays as unrunnable as the
        // writable grant around it made it: a hook that cannot be run is one git skips
        // (`access(X_OK)` answers no on a no-exec mount), where a mappable read-only one
        // would pass that test and fail at exec (Landlock), failing the commit.
        if r.mounted_noexec() {
            attrs |= MOUNT_ATTR_NOEXEC;
        }
        Some((r.path.clone(), r.kind == Kind::Dir, attrs, fd))
    };
    let mut sockets = Vec::new();
    let mut sources: Vec<Source> = if granted_view {
        let mut v: Vec<Source> = (0..fs.rules.len())
            .filter(|&i| fs.rules[i].placement != Placement::Private)
            .filter_map(source)
            .collect();
        for u in unix {
            if let Ok((fd, c)) = crate::plan::fs::open_real(u) {
                if !crate::plan::fs::PRIVATE_MOUNTS
                    .iter()
                    .any(|m| c.starts_with(m))
                {
                    // A socket, or a directory of sockets (a server's run directory, where
                    // the socket is made anew at each start): connect(2) works through a
                    // read-only mount, and Landlock still governs reading what else is there.
                    let dir = nix::sys::stat::fstat(&fd)
                        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
                    v.push((c, dir, attrs_for(Rights::READ, false), fd.as_raw_fd()));
                    sockets.push(fd);
                }
            }
        }
        v
    } else {
        fs.binds.iter().copied().filter_map(source).collect()
    };
    // Sorted, a directory comes before everything inside it, so binds are mounted
    // outermost first.
    sources.sort();
    sources.dedup();
    let mut bound: Vec<Source> = Vec::new();
    for (p, dir, attrs, fd) in sources {
        let enclosing = bound
            .iter()
            .rev()
            .find(|(b, bdir, _, _)| *bdir && p.starts_with(b));
        if enclosing.is_none_or(|e| e.2 != attrs) {
            bound.push((p, dir, attrs, fd));
        }
    }
    (bound, sockets)
}

fn is_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    // Device nodes live in /dev (devtmpfs). One granted elsewhere is bound like any file,
    // without device access: it fails closed, and no other grant pays for a stat.
    if !p.starts_with("/dev") {
        return false;
    }
    std::fs::metadata(p)
        .map(|m| m.file_type().is_char_device() || m.file_type().is_block_device())
        .unwrap_or(false)
}

/// The symbolic links on the way to each granted path as it was written (/bin → usr/bin,
/// /etc/localtime → ...), and to each listed Unix socket (/var/run/docker.sock, or a link
/// the user made to name a daemon's socket), where they do not fall inside a bind, as (link
/// in the staging root, its target); their parents join the `skeleton`.
pub(super) fn links_on_the_way(
    fs: &FsPlan,
    unix: &[PathBuf],
    bound: &[Source],
    replaced: &[&str],
    prefix: &Path,
    skeleton: &mut BTreeSet<PathBuf>,
) -> Vec<(PathBuf, PathBuf)> {
    let covered = |p: &Path| {
        bound
            .iter()
            .any(|(b, dir, _, _)| if *dir { p.starts_with(b) } else { p == b })
    };
    let mut symlinks = Vec::new();
    let mut seen = BTreeSet::new();
    // A path as written that is its own real path has no link on the way: only the
    // others are walked (most grants are written as they are).
    let linked = fs
        .rules
        .iter()
        .flat_map(|r| r.aliases.iter().filter(move |a| **a != r.path))
        // A socket is bound at its real path; a client told the path as written (its
        // DOCKER_HOST) finds it through the same links.
        .chain(unix.iter());
    // Each prefix is looked at once, however many grants pass through it.
    let mut link_of: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
    let mut real_of: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
    let mut real = |p: &Path| {
        real_of
            .entry(p.to_path_buf())
            .or_insert_with(|| crate::plan::fs::real_path(p).ok())
            .clone()
    };
    for written in linked {
        let mut acc = PathBuf::from("/");
        for c in written.components().skip(1) {
            acc.push(c);
            let target = link_of
                .entry(acc.clone())
                .or_insert_with(|| {
                    std::fs::symlink_metadata(&acc)
                        .ok()
                        .filter(|m| m.file_type().is_symlink())
                        .and_then(|_| std::fs::read_link(&acc).ok())
                })
                .clone();
            let Some(target) = target else {
                // Not a link (or missing: then neither is anything past it).
                continue;
            };
            let parent_real = acc.parent().and_then(&mut real).unwrap_or_default();
            let inside_bind = covered(&parent_real.join(acc.file_name().unwrap_or_default()))
                || bound
                    .iter()
                    .any(|(b, d, _, _)| *d && parent_real.starts_with(b));
            let is_replaced = replaced.iter().any(|r| Path::new(r) == acc);
            if !inside_bind && !is_replaced && seen.insert(acc.clone()) {
                let link = under(prefix, &acc);
                for a in ancestors_below(&link, prefix) {
                    skeleton.insert(a);
                }
                symlinks.push((link, target));
            }
            // Follow the link so that later components are looked up where it leads.
            match real(&acc) {
                Some(r) => acc = r,
                None => break,
            }
        }
    }
    symlinks
}
