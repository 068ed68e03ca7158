//! The sandbox's mount namespace: a root made only of the granted paths, private /tmp,
//! /dev/shm and /proc, `hide` masks, and the proxy's resolver files.
//!
//! Two views of the filesystem:
//!
//! - **granted view** (every launch but `learn`): a fresh tmpfs root holding only bind mounts
//!   of the granted paths (and the symbolic links that lead to them), assembled in a staging
//!   directory, made read-only, and entered with pivot_root. Paths outside the grants do not
//!   exist: their contents, names, sizes, times, modes, extended attributes and events are
//!   out of reach, and so are the host's Unix sockets. Each bind carries mount flags from its
//!   grant (`sources::attrs_for`): read-only grants are read-only for metadata too, and what the
//!   server may write it cannot map executable. A grant of `/` itself is bound as the root.
//! - **host view** (`learn`, which records what the server reaches for): the host's tree,
//!   with private mounts over /tmp, /dev/shm and /proc; Landlock decides what may be opened.
//!
//! The plan is data: [`Mounts::build`] computes, before fork, the ordered list of
//! [`MountOp`]s (as bubblewrap's setup operations), every path and string allocated;
//! `Mounts::apply` (in `mounts/apply.rs`) runs in the child and performs them with one loop,
//! reporting a failure with the index of the operation.

mod apply;
mod show;
mod sources;
/// The private `/tmp`'s and `/dev/shm`'s size in bytes per file they may hold.
const TMP_BYTES_PER_INODE: u64 = 8 << 10;

/// The fewest files a private `/tmp` may hold, however small.
const MIN_TMP_INODES: u64 = 1024;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{NulError, Step, cpath, cstr};
use crate::plan::fs::{FsPlan, Kind, Placement};
pub(crate) use apply::readonly_copy;
use sources::{Source, ancestors_below, bound_paths, links_on_the_way, pins_for, under};

/// Where the copies of the mounts of devices given as stdio are attached
/// ([`MountOp::AttachDeviceCopy`]): a device node every host has, in the host's tree.
pub const DEVICE_COPIES_AT: &CStr = c"/dev/null";

/// Where the granted view is assembled before pivot_root.
const STAGING: &str = "/tmp";

/// One operation of the mount plan, performed in order by the sandbox's child.
#[derive(Debug)]
pub enum MountOp {
    /// `mount --make-rprivate /`: nothing mounted in the sandbox reaches the host, and back.
    MakePrivate,
    /// Takes a detached copy of `source`'s mount (open_tree) into slot `tree`, checks that it
    /// is the file the plan opened (`source_fd`), and sets the mount flags `attrs` on it. Every
    /// copy is taken before anything is mounted over its source.
    Detach {
        source: CString,
        /// The source as the plan opened it (O_PATH): the copy taken by path must be this
        /// file, not whatever the path names by the time the child runs.
        source_fd: RawFd,
        /// `MOUNT_ATTR_*` flags: what the grant allows and no more (see `sources::attrs_for`).
        attrs: u64,
        tree: usize,
    },
    /// A tmpfs: the staging root ([`Step::MountRoot`]), the private /tmp or /dev/shm.
    Tmpfs {
        step: Step,
        target: CString,
        options: CString,
        flags: libc::c_ulong,
    },
    /// A directory (0755) unless one is there already.
    Mkdir { step: Step, path: CString },
    /// An empty file unless one is there already (the mount point of a file).
    CreateFile { step: Step, path: CString },
    /// Moves the detached copy in slot `tree` onto `target`.
    Attach { tree: usize, target: CString },
    /// A symbolic link on the way to a granted path (`/bin` → `usr/bin`).
    Symlink { link: CString, target: CString },
    /// Writes `content` to a new file at `staging`, binds it over `target` and unlinks
    /// `staging` (the proxy's resolv.conf and hosts).
    Replace {
        target: CString,
        staging: CString,
        content: CString,
    },
    /// The sandbox's own procfs, read-only.
    Proc { target: CString },
    /// A `hide` mask: an empty read-only tmpfs over a directory, /dev/null over a file.
    Hide { target: CString, kind: Kind },
    /// Binds a directory onto itself (with what is mounted beneath it): a mount point, which
    /// cannot be renamed or removed, on the way from a writable bind to a mount nested in it.
    Pin { target: CString },
    /// Makes the assembled root read-only: nothing in it (the skeleton directories, the
    /// links) may change.
    RemountReadOnly { target: CString },
    /// Moves a read-only copy of the mount of a device given as stdio, made by mcpcell
    /// before the clone (the supervisor's terminal module), over `target` in the host's tree,
    /// which the pivot then lets go of: the copy ends with the sandbox's mount namespace
    /// instead of costing a wait for an RCU grace period when its last descriptor closes.
    AttachDeviceCopy { fd: RawFd, target: CString },
    /// Makes `root` the root and lets go of the host's.
    Pivot { root: CString },
}

impl MountOp {
    /// The step a failure of this operation is reported as (a `Detach` whose flags cannot be
    /// set reports [`Step::MountAttrs`]).
    pub fn step(&self) -> Step {
        match self {
            MountOp::MakePrivate => Step::MountPrivate,
            MountOp::Detach { .. } | MountOp::Attach { .. } | MountOp::AttachDeviceCopy { .. } => {
                Step::BindIntoPrivate
            }
            MountOp::Tmpfs { step, .. }
            | MountOp::Mkdir { step, .. }
            | MountOp::CreateFile { step, .. } => *step,
            MountOp::Symlink { .. } => Step::Symlink,
            MountOp::Replace { .. } => Step::Resolver,
            MountOp::Proc { .. } => Step::MountProc,
            MountOp::Hide { .. } => Step::Hide,
            MountOp::Pin { .. } => Step::Pin,
            MountOp::RemountReadOnly { .. } => Step::ReadOnlyRoot,
            MountOp::Pivot { .. } => Step::PivotRoot,
        }
    }

    /// The path the operation works on, as mcpcell passes it to the system call.
    fn path(&self) -> Option<&CString> {
        match self {
            MountOp::MakePrivate | MountOp::Pivot { .. } => None,
            MountOp::Detach { source, .. } => Some(source),
            MountOp::Tmpfs { target, .. }
            | MountOp::Attach { target, .. }
            | MountOp::AttachDeviceCopy { target, .. }
            | MountOp::Replace { target, .. }
            | MountOp::Proc { target }
            | MountOp::Hide { target, .. }
            | MountOp::Pin { target }
            | MountOp::RemountReadOnly { target } => Some(target),
            MountOp::Mkdir { path, .. } | MountOp::CreateFile { path, .. } => Some(path),
            MountOp::Symlink { link, .. } => Some(link),
        }
    }
}

/// What the mount plan is built from: the parts of a `Plan` it reads.
pub struct Layout<'a> {
    pub fs: &'a FsPlan,
    /// The pathname Unix sockets the profile names (bound in the granted view).
    pub unix: &'a [PathBuf],
    /// The working directory: it exists in the granted view even where nothing is granted.
    pub cwd: &'a Path,
    /// Proxy mode: /etc/resolv.conf and /etc/hosts are replaced by mcpcell's.
    pub resolver: bool,
    /// Size limit of the private /tmp and /dev/shm, in bytes.
    pub tmp_size: Option<u64>,
    pub granted_view: bool,
    /// Read-only copies of the mounts of devices given as stdio (granted view only), each
    /// with a standard descriptor it is a copy for.
    pub device_copies: [Option<(RawFd, RawFd)>; 3],
}

/// The mount plan: the operations in order, and what the child needs to perform them.
pub struct Mounts {
    pub ops: Vec<MountOp>,
    /// The detached copies, one slot per `Detach`, filled in the child.
    trees: Vec<RawFd>,
    granted_view: bool,
    /// The files replaced by mcpcell's, as the sandbox sees them.
    resolver_files: Vec<PathBuf>,
    /// Descriptors opened here for binds that have no grant of their own (the listed Unix
    /// sockets); the grants' own stay with the plan.
    _sockets: Vec<OwnedFd>,
}

impl Mounts {
    /// The ordered mount plan for `layout`. Everything it needs is allocated here, before
    /// fork; the symbolic links on the way to the grants are read from the host now.
    pub fn build(layout: &Layout) -> Result<Mounts, NulError> {
        let granted_view = layout.granted_view;
        let prefix = PathBuf::from(if granted_view { STAGING } else { "/" });
        let fs = layout.fs;
        let (bound, sockets) = bound_paths(fs, layout.unix, granted_view);

        // The staging root's directories, and the links on the way to the grants.
        let mut skeleton: BTreeSet<PathBuf> = BTreeSet::new();
        let mut symlinks = Vec::new();
        let replaced: Vec<&str> = if layout.resolver {
            vec!["/etc/resolv.conf", "/etc/hosts"]
        } else {
            Vec::new()
        };
        if granted_view {
            for d in ["/tmp", "/dev", "/dev/shm", "/proc"] {
                skeleton.insert(under(&prefix, Path::new(d)));
            }
            for a in ancestors_below(&under(&prefix, layout.cwd), &prefix)
                .into_iter()
                .chain([under(&prefix, layout.cwd)])
            {
                skeleton.insert(a);
            }
            symlinks = links_on_the_way(fs, layout.unix, &bound, &replaced, &prefix, &mut skeleton);
        }
        // Binds and skeleton must not both create the same directory: the skeleton only
        // holds what no bind provides.
        for b in &bound {
            skeleton.retain(|s| !s.starts_with(under(&prefix, &b.0)));
        }

        // The replaced resolver files: (the path, create it first, what it holds).
        let mut replace = Vec::new();
        for (name, content) in replaced
            .iter()
            .zip([crate::proxy::RESOLV_CONF, crate::proxy::HOSTS])
        {
            let host = Path::new(name);
            let in_bind = bound
                .iter()
                .any(|(b, d, _, _)| (*d && host.starts_with(b)) || host == b);
            let create = if granted_view && !in_bind {
                for a in ancestors_below(&under(&prefix, host), &prefix) {
                    skeleton.insert(a);
                }
                true
            } else if host.exists() {
                false
            } else {
                // Nothing to cover, and creating it would touch the host: resolvers then use
                // 127.0.0.1, which is where the proxy's DNS responder listens anyway.
                continue;
            };
            replace.push((host, create, content));
        }
        let mut ops = vec![MountOp::MakePrivate];
        // Detached copies of every bound path, taken before anything is mounted over it.
        for (tree, (p, _, attrs, fd)) in bound.iter().enumerate() {
            ops.push(MountOp::Detach {
                source: cpath(p)?,
                source_fd: *fd,
                attrs: *attrs,
                tree,
            });
        }
        // The root first, then what lies outside the private mounts, the private mounts,
        // and what lies inside them: each mount goes on top of the one it lies in.
        let root_is_bind = granted_view && bound.first().is_some_and(|b| b.0 == Path::new("/"));
        if granted_view && !root_is_bind {
            ops.push(MountOp::Tmpfs {
                step: Step::MountRoot,
                target: cstr(STAGING)?,
                options: cstr("mode=0755")?,
                flags: libc::MS_NOSUID | libc::MS_NODEV,
            });
            for d in &skeleton {
                ops.push(MountOp::Mkdir {
                    step: Step::MountRoot,
                    path: cpath(d)?,
                });
            }
        }
        let in_private = |p: &Path| p.starts_with("/tmp") || p.starts_with("/dev/shm");
        // The directories on the way from a writable bind to a mount nested in it (a
        // read-only or exec grant, a mask, a listed socket) are pinned before it is mounted:
        // otherwise the server moves the nested mount away with its parent (`mv .git
        // .git.old`) and makes the protected path anew, writable, where it was.
        let mut pinned: BTreeSet<PathBuf> = BTreeSet::new();
        let mut pin = |ops: &mut Vec<MountOp>, p: &Path| -> Result<(), NulError> {
            if granted_view {
                for d in pins_for(&bound, p) {
                    if pinned.insert(d.clone()) {
                        ops.push(MountOp::Pin {
                            target: cpath(&under(&prefix, &d))?,
                        });
                    }
                }
            }
            Ok(())
        };
        for (tree, b) in bound.iter().enumerate() {
            if !in_private(&b.0) {
                pin(&mut ops, &b.0)?;
                attach(&mut ops, tree, b, &prefix, granted_view)?;
            }
        }
        let tmp_opts = |mode: &str| {
            let mut o = format!("mode={mode}");
            if let Some(size) = layout.tmp_size {
                // Files bound by number too: an empty file takes no block but an inode, about
                // 1 KiB of kernel memory outside any limit (the default is half the RAM's
                // pages). One per 8 KiB of the size.
                let inodes = (size / TMP_BYTES_PER_INODE).max(MIN_TMP_INODES);
                o.push_str(&format!(",size={size},nr_inodes={inodes}"));
            }
            cstr(&o)
        };
        // The private /tmp and /dev/shm are no-exec unless a grant inside them says exec.
        let private_flags = |root: &str| {
            let exec = fs.rules.iter().any(|r| {
                r.placement == Placement::Private && r.path.starts_with(root) && r.rights.exec
            });
            let base = libc::MS_NOSUID | libc::MS_NODEV;
            if exec { base } else { base | libc::MS_NOEXEC }
        };
        ops.push(MountOp::Tmpfs {
            step: Step::MountTmp,
            target: cpath(&under(&prefix, Path::new("/tmp")))?,
            options: tmp_opts("1777")?,
            flags: private_flags("/tmp"),
        });
        if Path::new("/dev/shm").is_dir() {
            ops.push(MountOp::Tmpfs {
                step: Step::MountShm,
                target: cpath(&under(&prefix, Path::new("/dev/shm")))?,
                options: tmp_opts("1777")?,
                flags: private_flags("/dev/shm"),
            });
        }
        for (tree, b) in bound.iter().enumerate() {
            if in_private(&b.0) {
                pin(&mut ops, &b.0)?;
                attach(&mut ops, tree, b, &prefix, granted_view)?;
            }
        }
        for (link, target) in &symlinks {
            ops.push(MountOp::Symlink {
                link: cpath(link)?,
                target: cpath(target)?,
            });
        }
        for (host, create, content) in &replace {
            let target = cpath(&under(&prefix, host))?;
            if *create {
                ops.push(MountOp::CreateFile {
                    step: Step::Resolver,
                    path: target.clone(),
                });
            }
            let name = host.file_name().unwrap_or_default().to_string_lossy();
            let staging = under(&prefix, Path::new(&format!("/tmp/.mcpcell-{name}")));
            ops.push(MountOp::Replace {
                target,
                staging: cpath(&staging)?,
                content: cstr(content)?,
            });
        }
        ops.push(MountOp::Proc {
            target: cpath(&under(&prefix, Path::new("/proc")))?,
        });
        for h in &fs.hide {
            pin(&mut ops, &h.path)?;
            ops.push(MountOp::Hide {
                target: cpath(&under(&prefix, &h.path))?,
                kind: h.kind,
            });
        }
        if granted_view {
            for (fd, of) in layout.device_copies.iter().flatten() {
                // At its own name where that is one of the skeleton's /dev entries, so that
                // the server's descriptor reads as `/dev/null`; else in the host's tree, which
                // the pivot lets go of. Landlock still decides whether the name may be opened.
                let target = match device_name(*of) {
                    Some(name)
                        if !root_is_bind
                            && skeleton.contains(&prefix.join("dev"))
                            && !fs
                                .hide
                                .iter()
                                .any(|h| Path::new("/dev").join(&name).starts_with(&h.path)) =>
                    {
                        let at = cpath(&prefix.join("dev").join(name))?;
                        ops.push(MountOp::CreateFile {
                            step: Step::BindIntoPrivate,
                            path: at.clone(),
                        });
                        at
                    }
                    _ => DEVICE_COPIES_AT.into(),
                };
                ops.push(MountOp::AttachDeviceCopy { fd: *fd, target });
            }
            if !root_is_bind {
                ops.push(MountOp::RemountReadOnly {
                    target: cstr(STAGING)?,
                });
            }
            ops.push(MountOp::Pivot {
                root: cstr(STAGING)?,
            });
        }
        drop_repeated_mkdirs(&mut ops);
        Ok(Mounts {
            ops,
            trees: vec![-1; bound.len()],
            granted_view,
            resolver_files: replace.iter().map(|(h, _, _)| h.to_path_buf()).collect(),
            _sockets: sockets,
        })
    }

    /// The files mcpcell writes over (the proxy's resolv.conf and hosts), as the sandbox
    /// sees them: they need Landlock rules of their own.
    pub fn resolver_files(&self) -> &[PathBuf] {
        &self.resolver_files
    }

    /// The path a failed operation worked on, as the sandbox would see it (the host path for
    /// a copy taken of it); `None` when the failure is not one of these operations'.
    pub fn describe(&self, step: Step, index: usize) -> Option<String> {
        let op = self.ops.get(index)?;
        let matches =
            op.step() == step || (step == Step::MountAttrs && matches!(op, MountOp::Detach { .. }));
        if !matches {
            return None;
        }
        let path = Path::new(std::ffi::OsStr::from_bytes(op.path()?.as_bytes()));
        let shown = match op {
            MountOp::Detach { .. } => path,
            _ if self.granted_view => match path.strip_prefix(STAGING) {
                Ok(inside) if inside.as_os_str().is_empty() => Path::new("/"),
                Ok(inside) => return Some(Path::new("/").join(inside).display().to_string()),
                Err(_) => path,
            },
            _ => path,
        };
        Some(shown.display().to_string())
    }
}

/// The name of the device that standard descriptor `fd` is, when that is `/dev/NAME` on the
/// host (`/dev/null`, not a node made elsewhere, nor one in a directory of /dev).
fn device_name(fd: RawFd) -> Option<std::ffi::OsString> {
    use std::os::unix::fs::MetadataExt;
    let p = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    if p.parent() != Some(Path::new("/dev")) {
        return None;
    }
    let by_name = std::fs::metadata(&p).ok()?;
    let held = nix::sys::stat::fstat(
        // SAFETY: a descriptor the caller holds open for the whole call.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
    )
    .ok()?;
    let same = (by_name.dev(), by_name.ino()) == (held.st_dev, held.st_ino);
    same.then(|| p.file_name().map(|n| n.to_os_string()))?
}

/// Drops each `Mkdir` of a directory an earlier operation already made and nothing has
/// mounted over since: each bind asks for all its parents, and a launch of `default` made
/// twenty calls that could only answer EEXIST. A mount on a path hides what was made beneath
/// it, so those are asked for again.
fn drop_repeated_mkdirs(ops: &mut Vec<MountOp>) {
    let mut made: BTreeSet<CString> = BTreeSet::new();
    ops.retain(|op| {
        let mounted_on = match op {
            MountOp::Mkdir { path, .. } => return made.insert(path.clone()),
            MountOp::Tmpfs { target, .. }
            | MountOp::Attach { target, .. }
            | MountOp::Proc { target }
            | MountOp::Hide { target, .. }
            | MountOp::Pin { target }
            | MountOp::Replace { target, .. }
            | MountOp::RemountReadOnly { target } => target,
            MountOp::Pivot { .. } => {
                made.clear();
                return true;
            }
            MountOp::MakePrivate
            | MountOp::Detach { .. }
            | MountOp::AttachDeviceCopy { .. }
            | MountOp::CreateFile { .. }
            | MountOp::Symlink { .. } => return true,
        };
        let under = |p: &CString| {
            let (p, t) = (p.as_bytes(), mounted_on.as_bytes());
            p.len() > t.len() && p.starts_with(t) && (t.ends_with(b"/") || p[t.len()] == b'/')
        };
        made.retain(|p| !under(p));
        true
    });
}

/// The operations that put bound path `b` (slot `tree`) in place: its mount point's parents,
/// the mount point, the move.
fn attach(
    ops: &mut Vec<MountOp>,
    tree: usize,
    b: &Source,
    prefix: &Path,
    granted_view: bool,
) -> Result<(), NulError> {
    let (p, dir, _, _) = b;
    let target = under(prefix, p);
    let parents = if granted_view {
        ancestors_below(&target, prefix)
    } else {
        // In the host view the parents are created inside the private /tmp or /dev/shm,
        // never in the host's own directories.
        let root = if p.starts_with("/dev/shm") {
            "/dev/shm"
        } else {
            "/tmp"
        };
        ancestors_below(&target, Path::new(root))
    };
    for parent in parents {
        ops.push(MountOp::Mkdir {
            step: Step::BindIntoPrivate,
            path: cpath(&parent)?,
        });
    }
    let target = cpath(&target)?;
    ops.push(if *dir {
        MountOp::Mkdir {
            step: Step::BindIntoPrivate,
            path: target.clone(),
        }
    } else {
        MountOp::CreateFile {
            step: Step::BindIntoPrivate,
            path: target.clone(),
        }
    });
    ops.push(MountOp::Attach { tree, target });
    Ok(())
}
