//! The sandbox's mount namespace: a root made only of the granted paths, private /tmp,
//! /dev/shm and /proc, `hide` masks, and the proxy's resolver files.
//!
//! Two views of the filesystem:
//!
//! - **granted view** (every launch but `learn`): a fresh tmpfs root holding only bind mounts
//!   of the granted paths (and the symbolic links that lead to them), entered with
//!   pivot_root and then made read-only. Paths outside the grants do not exist: their
//!   contents, names, sizes, times, modes, extended attributes and events are out of reach,
//!   and so are the host's Unix sockets. Each bind carries mount flags from its grant
//!   ([`attrs_for`]): read-only grants are read-only for metadata too, and what the server
//!   may write it cannot map executable. A grant of `/` itself is bound as the root.
//! - **host view** (`learn`, which records what the server reaches for): the host's tree,
//!   with private mounts over /tmp, /dev/shm and /proc; Landlock decides what may be opened.
//!
//! [`Mounts::plan`] computes every path before fork; [`Mounts::apply`] runs in the child.

use std::collections::{BTreeSet, HashMap};
use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use super::prepare::PrepareError;
use super::sys::{check, errno, fail, mount};
use super::{Step, cpath, cstr};
use crate::plan::Plan;
use crate::plan::fs::{Kind, Placement, Rights};

/// Where the granted view is assembled before pivot_root.
const STAGING: &str = "/tmp";

/// A host path bind-mounted into the sandbox's tree.
pub struct Bind {
    /// The host path (the source), for messages.
    pub source: CString,
    /// The source as the plan opened it (O_PATH): the copy taken by path must be this file,
    /// not whatever the path names by the time the child runs.
    pub source_fd: RawFd,
    /// Where it is mounted (with the staging prefix in the granted view).
    pub target: CString,
    pub dir: bool,
    /// Directories to create before mounting, outermost first.
    pub parents: Vec<CString>,
    /// `MOUNT_ATTR_*` flags set on the detached copy before it is moved into place: what
    /// the grant allows and no more (see [`attrs_for`]).
    pub attrs: u64,
    /// Set in the child: a detached copy of the source's mount, taken before anything
    /// covers it.
    pub tree_fd: RawFd,
    /// Mounted after the private /tmp and /dev/shm, which it lies in (or they would cover it).
    pub in_private: bool,
}

/// A file mcpcell writes and binds over a path (the proxy's resolv.conf and hosts).
pub struct Replace {
    pub target: CString,
    /// Create an empty file at `target` first (it does not exist in the granted view).
    pub create: bool,
    pub staging: CString,
    pub content: CString,
}

pub struct Mounts {
    /// The granted view's staging root; `None` for the host view.
    root: Option<CString>,
    /// `/` itself is granted: its bind (the first in `binds`) is the root, instead of a
    /// tmpfs of mcpcell's making.
    root_is_bind: bool,
    /// Directories to create in the staging root, outermost first.
    skeleton: Vec<CString>,
    pub binds: Vec<Bind>,
    /// (link, target) pairs recreated in the staging root.
    symlinks: Vec<(CString, CString)>,
    /// The private /tmp and /dev/shm: target, tmpfs options, mount flags.
    tmp: Option<(CString, CString, libc::c_ulong)>,
    shm: Option<(CString, CString, libc::c_ulong)>,
    proc: CString,
    pub replace: Vec<Replace>,
    pub hides: Vec<(CString, Kind)>,
    /// Descriptors opened here for binds that have no grant of their own (the listed Unix
    /// sockets); the grants' own stay with the plan.
    _sockets: Vec<std::os::fd::OwnedFd>,
}

// The mount_setattr(2) flags (linux/mount.h).
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

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

/// `prefix` + an absolute path.
fn under(prefix: &Path, p: &Path) -> PathBuf {
    prefix.join(p.strip_prefix("/").unwrap_or(p))
}

/// Every ancestor of `p` below `stop` (exclusive), outermost first.
fn ancestors_below(p: &Path, stop: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = p
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(stop) && *a != stop)
        .map(Path::to_path_buf)
        .collect();
    v.reverse();
    v
}

impl Mounts {
    pub fn plan(plan: &Plan, granted_view: bool) -> Result<Mounts, PrepareError> {
        let tmp_opts = |mode: &str| -> Result<CString, PrepareError> {
            let mut o = format!("mode={mode}");
            if let Some(size) = plan.tmp_size {
                o.push_str(&format!(",size={size}"));
            }
            cstr(&o)
        };
        let prefix = PathBuf::from(if granted_view { STAGING } else { "/" });
        let fs = &plan.filesystem;

        // Which host paths are bound: in the host view only those under /tmp and /dev/shm
        // (the private instances would hide them); in the granted view every granted path,
        // and the Unix sockets the profile names.
        let mut sockets = Vec::new();
        let mut sources: Vec<(PathBuf, bool, u64, RawFd)> = if granted_view {
            let mut v: Vec<(PathBuf, bool, u64, RawFd)> = fs
                .rules
                .iter()
                .filter(|r| r.placement != Placement::Private)
                .filter_map(|r| {
                    let fd = r.fd.as_ref()?.as_raw_fd();
                    let attrs = attrs_for(r.rights, r.kind == Kind::File && is_device(&r.path));
                    Some((r.path.clone(), r.kind == Kind::Dir, attrs, fd))
                })
                .collect();
            for u in &plan.network.unix {
                if let Ok((fd, c)) = crate::plan::fs::open_real(u) {
                    if !crate::plan::fs::PRIVATE_MOUNTS
                        .iter()
                        .any(|m| c.starts_with(m))
                    {
                        // A socket: connect(2) works through a read-only mount.
                        v.push((c, false, attrs_for(Rights::READ, false), fd.as_raw_fd()));
                        sockets.push(fd);
                    }
                }
            }
            v
        } else {
            fs.binds
                .iter()
                .filter_map(|&i| {
                    let r = &fs.rules[i];
                    let fd = r.fd.as_ref()?.as_raw_fd();
                    let attrs = attrs_for(r.rights, r.kind == Kind::File && is_device(&r.path));
                    Some((r.path.clone(), r.kind == Kind::Dir, attrs, fd))
                })
                .collect()
        };
        // Sorted, a directory comes before everything inside it, so binds are mounted
        // outermost first. A path inside a bound directory is bound again only when its
        // grant asks for other mount flags (a writable directory inside a read-only one).
        sources.sort();
        sources.dedup();
        let mut bound: Vec<(PathBuf, bool, u64, RawFd)> = Vec::new();
        for (p, dir, attrs, fd) in sources {
            let enclosing = bound
                .iter()
                .rev()
                .find(|(b, bdir, _, _)| *bdir && p.starts_with(b));
            if enclosing.is_none_or(|e| e.2 != attrs) {
                bound.push((p, dir, attrs, fd));
            }
        }
        let covered = |p: &Path| {
            bound
                .iter()
                .any(|(b, dir, _, _)| if *dir { p.starts_with(b) } else { p == b })
        };

        let mut skeleton: BTreeSet<PathBuf> = BTreeSet::new();
        let mut binds = Vec::new();
        for (p, dir, attrs, fd) in &bound {
            let target = under(&prefix, p);
            let parents = if granted_view {
                ancestors_below(&target, &prefix)
            } else {
                // In the host view the parents are created inside the private /tmp or
                // /dev/shm, never in the host's own directories.
                let root = if p.starts_with("/dev/shm") {
                    "/dev/shm"
                } else {
                    "/tmp"
                };
                ancestors_below(&target, Path::new(root))
            };
            binds.push(Bind {
                source: cpath(p)?,
                source_fd: *fd,
                target: cpath(&target)?,
                dir: *dir,
                parents: parents.iter().map(|a| cpath(a)).collect::<Result<_, _>>()?,
                attrs: *attrs,
                tree_fd: -1,
                in_private: p.starts_with("/tmp") || p.starts_with("/dev/shm"),
            });
        }

        let mut symlinks = Vec::new();
        let mut replace = Vec::new();
        let replaced: Vec<&str> = if plan.network.proxy.is_some() {
            vec!["/etc/resolv.conf", "/etc/hosts"]
        } else {
            Vec::new()
        };
        if granted_view {
            for d in ["/tmp", "/dev", "/dev/shm", "/proc"] {
                skeleton.insert(under(&prefix, Path::new(d)));
            }
            for a in ancestors_below(&under(&prefix, &plan.cwd), &prefix)
                .into_iter()
                .chain([under(&prefix, &plan.cwd)])
            {
                skeleton.insert(a);
            }
            // The symbolic links on the way to each granted path as it was written (/bin →
            // usr/bin, /etc/localtime → ...), where they do not fall inside a bind.
            let mut seen = BTreeSet::new();
            // A path as written that is its own real path has no link on the way: only the
            // others are walked (most grants are written as they are).
            let linked = fs
                .rules
                .iter()
                .flat_map(|r| r.aliases.iter().filter(move |a| **a != r.path));
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
                    let inside_bind =
                        covered(&parent_real.join(acc.file_name().unwrap_or_default()))
                            || bound
                                .iter()
                                .any(|(b, d, _, _)| *d && parent_real.starts_with(b));
                    let is_replaced = replaced.iter().any(|r| Path::new(r) == acc);
                    if !inside_bind && !is_replaced && seen.insert(acc.clone()) {
                        let link = under(&prefix, &acc);
                        for a in ancestors_below(&link, &prefix) {
                            skeleton.insert(a);
                        }
                        symlinks.push((cpath(&link)?, cpath(&target)?));
                    }
                    // Follow the link so that later components are looked up where it leads.
                    match real(&acc) {
                        Some(r) => acc = r,
                        None => break,
                    }
                }
            }
        }
        // Binds and skeleton must not both create the same directory: the skeleton only
        // holds what no bind provides.
        for b in &bound {
            skeleton.retain(|s| !s.starts_with(under(&prefix, &b.0)));
        }

        for (name, content) in replaced
            .iter()
            .zip([crate::proxy::RESOLV_CONF, crate::proxy::HOSTS])
        {
            let host = Path::new(name);
            let target = under(&prefix, host);
            let in_bind = bound
                .iter()
                .any(|(b, d, _, _)| (*d && host.starts_with(b)) || host == b);
            let create = if granted_view && !in_bind {
                for a in ancestors_below(&target, &prefix) {
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
            let staging = under(
                &prefix,
                Path::new(&format!(
                    "/tmp/.mcpcell-{}",
                    host.file_name().unwrap_or_default().to_string_lossy()
                )),
            );
            replace.push(Replace {
                target: cpath(&target)?,
                create,
                staging: cpath(&staging)?,
                content: cstr(content)?,
            });
        }

        // The private /tmp and /dev/shm are no-exec unless a grant inside them says exec.
        let private_flags = |root: &str| {
            let exec = fs.rules.iter().any(|r| {
                r.placement == Placement::Private && r.path.starts_with(root) && r.rights.exec
            });
            let base = libc::MS_NOSUID | libc::MS_NODEV;
            if exec { base } else { base | libc::MS_NOEXEC }
        };

        Ok(Mounts {
            root: granted_view.then(|| cstr(STAGING)).transpose()?,
            root_is_bind: granted_view && bound.first().is_some_and(|b| b.0 == Path::new("/")),
            skeleton: skeleton
                .iter()
                .map(|p| cpath(p))
                .collect::<Result<_, _>>()?,
            binds,
            symlinks,
            tmp: Some((
                cpath(&under(&prefix, Path::new("/tmp")))?,
                tmp_opts("1777")?,
                private_flags("/tmp"),
            )),
            shm: Path::new("/dev/shm")
                .is_dir()
                .then(|| {
                    Ok::<_, PrepareError>((
                        cpath(&under(&prefix, Path::new("/dev/shm")))?,
                        tmp_opts("1777")?,
                        private_flags("/dev/shm"),
                    ))
                })
                .transpose()?,
            proc: cpath(&under(&prefix, Path::new("/proc")))?,
            replace,
            _sockets: sockets,
            hides: fs
                .hide
                .iter()
                .map(|h| Ok((cpath(&h.path)?, h.kind)))
                .collect::<Result<_, PrepareError>>()?,
        })
    }

    /// Sets up the mount namespace. Runs in the child, before Landlock.
    pub fn apply(&mut self, status: RawFd) {
        mount(
            status,
            Step::MountPrivate,
            0,
            c"none",
            c"/",
            None,
            libc::MS_REC | libc::MS_PRIVATE,
            None,
        );
        // Detached copies of every bound path, taken before anything is mounted over it.
        for (i, b) in self.binds.iter_mut().enumerate() {
            // SAFETY: open_tree with a NUL-terminated path and integer flags.
            let fd = unsafe {
                libc::syscall(
                    libc::SYS_open_tree,
                    libc::AT_FDCWD,
                    b.source.as_ptr(),
                    (libc::OPEN_TREE_CLONE
                        | libc::OPEN_TREE_CLOEXEC
                        | libc::AT_RECURSIVE as u32
                        | libc::AT_SYMLINK_NOFOLLOW as u32) as libc::c_uint,
                )
            };
            check(status, Step::BindIntoPrivate, i as u32, fd);
            b.tree_fd = fd as RawFd;
            // The plan's descriptor belongs to the parent's mount namespace, which cannot be
            // cloned from here, so the copy is taken by path: it must be the file the plan
            // opened (and Landlock's rule names), not one swapped in since.
            if !same_file(b.tree_fd, b.source_fd) {
                fail(status, Step::BindIntoPrivate, i as u32, libc::ESTALE);
            }
            let attr = MountAttr {
                attr_set: b.attrs,
                attr_clr: 0,
                propagation: 0,
                userns_fd: 0,
            };
            // SAFETY: mount_setattr on our own detached tree, with a valid mount_attr of the
            // size passed and an empty NUL-terminated path.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_mount_setattr,
                    b.tree_fd,
                    c"".as_ptr(),
                    (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
                    &attr as *const MountAttr,
                    std::mem::size_of::<MountAttr>(),
                )
            };
            check(status, Step::MountAttrs, i as u32, r);
        }
        // The root first, then what lies outside the private mounts, the private mounts,
        // and what lies inside them: each mount goes on top of the one it lies in.
        let first = match &self.root {
            Some(_) if self.root_is_bind => {
                move_bind(status, 0, &self.binds[0]);
                1
            }
            Some(root) => {
                mount(
                    status,
                    Step::MountRoot,
                    0,
                    c"tmpfs",
                    root,
                    Some(c"tmpfs"),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    Some(c"mode=0755"),
                );
                for (i, d) in self.skeleton.iter().enumerate() {
                    mkdir(status, Step::MountRoot, i as u32, d);
                }
                0
            }
            None => 0,
        };
        for (i, b) in self.binds.iter().enumerate().skip(first) {
            if !b.in_private {
                move_bind(status, i, b);
            }
        }
        if let Some((target, opts, flags)) = &self.tmp {
            mount(
                status,
                Step::MountTmp,
                0,
                c"tmpfs",
                target,
                Some(c"tmpfs"),
                *flags,
                Some(opts),
            );
        }
        if let Some((target, opts, flags)) = &self.shm {
            mount(
                status,
                Step::MountShm,
                0,
                c"tmpfs",
                target,
                Some(c"tmpfs"),
                *flags,
                Some(opts),
            );
        }
        for (i, b) in self.binds.iter().enumerate().skip(first) {
            if b.in_private {
                move_bind(status, i, b);
            }
        }
        for (i, (link, target)) in self.symlinks.iter().enumerate() {
            // SAFETY: two NUL-terminated paths.
            if unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) } < 0
                && errno() != libc::EEXIST
            {
                fail(status, Step::MountRoot, 1000 + i as u32, errno());
            }
        }
        for (i, r) in self.replace.iter().enumerate() {
            if r.create {
                create_file(status, Step::Resolver, i as u32, &r.target);
            }
            // SAFETY: NUL-terminated path and a valid buffer; the fd is closed on every path.
            unsafe {
                let fd = libc::open(
                    r.staging.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0 {
                    fail(status, Step::Resolver, i as u32, errno());
                }
                let bytes = r.content.as_bytes();
                let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
                libc::close(fd);
                if n < 0 {
                    fail(status, Step::Resolver, i as u32, errno());
                }
            }
            mount(
                status,
                Step::Resolver,
                i as u32,
                &r.staging,
                &r.target,
                None,
                libc::MS_BIND,
                None,
            );
            // SAFETY: NUL-terminated path; the bind mount keeps the file alive.
            unsafe { libc::unlink(r.staging.as_ptr()) };
        }
        mount(
            status,
            Step::MountProc,
            0,
            c"proc",
            &self.proc,
            Some(c"proc"),
            // Read-only: the server of a root launch runs as uid 0, and procfs keeps one
            // mode for a kernel-wide file (/proc/version, /proc/slabinfo) in every instance,
            // and many sysctls check only the uid. Its own /proc/self files are for reading.
            libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            None,
        );
        if let Some(root) = &self.root {
            pivot(status, root);
        }
        for (i, (path, kind)) in self.hides.iter().enumerate() {
            match kind {
                Kind::Dir => mount(
                    status,
                    Step::Hide,
                    i as u32,
                    c"tmpfs",
                    path,
                    Some(c"tmpfs"),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(c"size=4k,nr_inodes=2,mode=0555"),
                ),
                Kind::File => mount(
                    status,
                    Step::Hide,
                    i as u32,
                    c"/dev/null",
                    path,
                    None,
                    libc::MS_BIND,
                    None,
                ),
            }
        }
        if self.root.is_some() && !self.root_is_bind {
            // The root is a tmpfs of mcpcell's making: once assembled, nothing in it (the
            // skeleton directories, the links) may change.
            mount(
                status,
                Step::ReadOnlyRoot,
                0,
                c"none",
                c"/",
                None,
                libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV,
                None,
            );
        }
    }
}

/// Whether two descriptors refer to the same file.
fn same_file(a: RawFd, b: RawFd) -> bool {
    // SAFETY: fstat into zeroed stat buffers of the right type.
    unsafe {
        let mut x: libc::stat = std::mem::zeroed();
        let mut y: libc::stat = std::mem::zeroed();
        libc::fstat(a, &mut x) == 0
            && libc::fstat(b, &mut y) == 0
            && x.st_dev == y.st_dev
            && x.st_ino == y.st_ino
    }
}

/// Creates the mount point of `b` where needed and moves its detached tree there.
fn move_bind(status: RawFd, i: usize, b: &Bind) {
    let i = i as u32;
    for parent in &b.parents {
        mkdir(status, Step::BindIntoPrivate, i, parent);
    }
    if b.dir {
        mkdir(status, Step::BindIntoPrivate, i, &b.target);
    } else {
        create_file(status, Step::BindIntoPrivate, i, &b.target);
    }
    // SAFETY: move_mount of our detached tree onto a NUL-terminated path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            b.tree_fd,
            c"".as_ptr(),
            libc::AT_FDCWD,
            b.target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    check(status, Step::BindIntoPrivate, i, r);
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(b.tree_fd) };
}

fn mkdir(status: RawFd, step: Step, index: u32, path: &CString) {
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mkdir(path.as_ptr(), 0o755) } < 0 && errno() != libc::EEXIST {
        fail(status, step, index, errno());
    }
}

fn create_file(status: RawFd, step: Step, index: u32, path: &CString) {
    // SAFETY: a NUL-terminated path; the descriptors are closed at once.
    unsafe {
        // Already there (a file inside a read-only bind, bound again with other flags):
        // opening it for writing would fail on the read-only mount.
        let existing = libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
        if existing >= 0 {
            libc::close(existing);
            return;
        }
        let fd = libc::open(
            path.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        );
        if fd < 0 {
            fail(status, step, index, errno());
        }
        libc::close(fd);
    }
}

/// Makes the staging root the root, and lets go of the host's. `pivot_root(".", ".")`
/// stacks the old root on top of the new one, where a lazy unmount takes it away: no
/// directory for the old root is needed, so a read-only root (a bind of `/`) works too.
fn pivot(status: RawFd, root: &CString) {
    // SAFETY: NUL-terminated paths; chdir, pivot_root and umount2 take nothing else.
    unsafe {
        check(
            status,
            Step::PivotRoot,
            0,
            libc::chdir(root.as_ptr()) as libc::c_long,
        );
        check(
            status,
            Step::PivotRoot,
            1,
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()),
        );
        check(
            status,
            Step::PivotRoot,
            2,
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as libc::c_long,
        );
        check(
            status,
            Step::PivotRoot,
            3,
            libc::chdir(c"/".as_ptr()) as libc::c_long,
        );
    }
}
