//! The sandbox's mount namespace: private /tmp, /dev/shm and /proc, `hide` masks, the proxy's
//! resolver files, and, when a profile lets the server use Unix sockets, a root made only of
//! the granted paths.
//!
//! Two views of the filesystem:
//!
//! - **host view** (the default): the host's tree, with private mounts over /tmp, /dev/shm
//!   and /proc; Landlock decides what may be opened.
//! - **granted view**: a fresh tmpfs root holding only bind mounts of the granted paths (and
//!   the symbolic links that lead to them), entered with pivot_root. Paths outside the grants
//!   do not exist, so neither do the host's Unix sockets (Landlock cannot refuse a connect to
//!   a pathname socket before ABI 9).
//!
//! [`Mounts::plan`] computes every path before fork; [`Mounts::apply`] runs in the child.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::Step;
use super::child::{check, errno, fail, mount};
use super::prepare::PrepareError;
use crate::plan::Plan;
use crate::plan::fs::{Kind, Placement};

/// Where the granted view is assembled before pivot_root.
const STAGING: &str = "/tmp";

/// A host path bind-mounted into the sandbox's tree.
pub struct Bind {
    /// The host path (the source).
    pub source: CString,
    /// Where it is mounted (with the staging prefix in the granted view).
    pub target: CString,
    pub dir: bool,
    /// Directories to create before mounting, outermost first.
    pub parents: Vec<CString>,
    /// Set in the child: a detached copy of the source's mount, taken before anything
    /// covers it.
    pub tree_fd: RawFd,
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
    /// Directories to create in the staging root, outermost first.
    skeleton: Vec<CString>,
    pub binds: Vec<Bind>,
    /// (link, target) pairs recreated in the staging root.
    symlinks: Vec<(CString, CString)>,
    tmp: Option<(CString, CString)>,
    shm: Option<(CString, CString)>,
    proc: CString,
    pub replace: Vec<Replace>,
    pub hides: Vec<(CString, Kind)>,
}

fn cpath(p: &Path) -> Result<CString, PrepareError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| PrepareError::Nul(p.display().to_string()))
}

fn cstr(s: &str) -> Result<CString, PrepareError> {
    CString::new(s).map_err(|_| PrepareError::Nul(s.to_string()))
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
        let mut sources: Vec<(PathBuf, bool)> = if granted_view {
            let mut v: Vec<(PathBuf, bool)> = fs
                .rules
                .iter()
                .filter(|r| r.fd.is_some() && r.placement != Placement::Private)
                .map(|r| (r.path.clone(), r.kind == Kind::Dir))
                .collect();
            for u in &plan.network.unix {
                if let Ok(c) = u.canonicalize() {
                    if !crate::plan::fs::PRIVATE_MOUNTS
                        .iter()
                        .any(|m| c.starts_with(m))
                    {
                        v.push((c, false));
                    }
                }
            }
            v
        } else {
            fs.binds
                .iter()
                .map(|&i| (fs.rules[i].path.clone(), fs.rules[i].kind == Kind::Dir))
                .collect()
        };
        sources.sort();
        sources.dedup();
        let mut bound: Vec<(PathBuf, bool)> = Vec::new();
        for (p, dir) in sources {
            if !bound.iter().any(|(b, bdir)| *bdir && p.starts_with(b)) {
                bound.push((p, dir));
            }
        }
        let covered = |p: &Path| {
            bound
                .iter()
                .any(|(b, dir)| if *dir { p.starts_with(b) } else { p == b })
        };

        let mut skeleton: BTreeSet<PathBuf> = BTreeSet::new();
        let mut binds = Vec::new();
        for (p, dir) in &bound {
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
                target: cpath(&target)?,
                dir: *dir,
                parents: parents.iter().map(|a| cpath(a)).collect::<Result<_, _>>()?,
                tree_fd: -1,
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
            for d in ["/tmp", "/dev", "/dev/shm", "/proc", "/.oldroot"] {
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
            for written in fs.rules.iter().flat_map(|r| r.aliases.iter()) {
                let mut acc = PathBuf::from("/");
                for c in written.components().skip(1) {
                    acc.push(c);
                    let Ok(meta) = std::fs::symlink_metadata(&acc) else {
                        break;
                    };
                    if !meta.file_type().is_symlink() {
                        continue;
                    }
                    let parent_real = acc
                        .parent()
                        .and_then(|p| p.canonicalize().ok())
                        .unwrap_or_default();
                    let inside_bind =
                        covered(&parent_real.join(acc.file_name().unwrap_or_default()))
                            || bound.iter().any(|(b, d)| *d && parent_real.starts_with(b));
                    let is_replaced = replaced.iter().any(|r| Path::new(r) == acc);
                    if !inside_bind && !is_replaced && seen.insert(acc.clone()) {
                        if let Ok(target) = std::fs::read_link(&acc) {
                            let link = under(&prefix, &acc);
                            for a in ancestors_below(&link, &prefix) {
                                skeleton.insert(a);
                            }
                            symlinks.push((cpath(&link)?, cpath(&target)?));
                        }
                    }
                    // Follow the link so that later components are looked up where it leads.
                    match acc.canonicalize() {
                        Ok(real) => acc = real,
                        Err(_) => break,
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
                .any(|(b, d)| (*d && host.starts_with(b)) || host == b);
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

        Ok(Mounts {
            root: granted_view.then(|| cstr(STAGING)).transpose()?,
            skeleton: skeleton
                .iter()
                .map(|p| cpath(p))
                .collect::<Result<_, _>>()?,
            binds,
            symlinks,
            tmp: Some((
                cpath(&under(&prefix, Path::new("/tmp")))?,
                tmp_opts("1777")?,
            )),
            shm: Path::new("/dev/shm")
                .is_dir()
                .then(|| {
                    Ok::<_, PrepareError>((
                        cpath(&under(&prefix, Path::new("/dev/shm")))?,
                        tmp_opts("1777")?,
                    ))
                })
                .transpose()?,
            proc: cpath(&under(&prefix, Path::new("/proc")))?,
            replace,
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
                    (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as u32)
                        as libc::c_uint,
                )
            };
            check(status, Step::BindIntoPrivate, i as u32, fd);
            b.tree_fd = fd as RawFd;
        }
        let tmpfs_flags = libc::MS_NOSUID | libc::MS_NODEV;
        if let Some(root) = &self.root {
            mount(
                status,
                Step::MountRoot,
                0,
                c"tmpfs",
                root,
                Some(c"tmpfs"),
                tmpfs_flags,
                Some(c"mode=0755"),
            );
            for (i, d) in self.skeleton.iter().enumerate() {
                mkdir(status, Step::MountRoot, i as u32, d);
            }
        }
        if let Some((target, opts)) = &self.tmp {
            mount(
                status,
                Step::MountTmp,
                0,
                c"tmpfs",
                target,
                Some(c"tmpfs"),
                tmpfs_flags,
                Some(opts),
            );
        }
        if let Some((target, opts)) = &self.shm {
            mount(
                status,
                Step::MountShm,
                0,
                c"tmpfs",
                target,
                Some(c"tmpfs"),
                tmpfs_flags,
                Some(opts),
            );
        }
        for (i, b) in self.binds.iter().enumerate() {
            for parent in &b.parents {
                mkdir(status, Step::BindIntoPrivate, i as u32, parent);
            }
            if b.dir {
                mkdir(status, Step::BindIntoPrivate, i as u32, &b.target);
            } else {
                create_file(status, Step::BindIntoPrivate, i as u32, &b.target);
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
            check(status, Step::BindIntoPrivate, i as u32, r);
            // SAFETY: closing our own descriptor.
            unsafe { libc::close(b.tree_fd) };
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
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
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
    }
}

fn mkdir(status: RawFd, step: Step, index: u32, path: &CString) {
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mkdir(path.as_ptr(), 0o755) } < 0 && errno() != libc::EEXIST {
        fail(status, step, index, errno());
    }
}

fn create_file(status: RawFd, step: Step, index: u32, path: &CString) {
    // SAFETY: a NUL-terminated path; the descriptor is closed at once.
    unsafe {
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

/// Makes the staging root the root, and lets go of the host's.
fn pivot(status: RawFd, root: &CString) {
    let mut old = root.as_bytes().to_vec();
    old.extend_from_slice(b"/.oldroot\0");
    // SAFETY: NUL-terminated paths; pivot_root, chdir, umount2 and rmdir take nothing else.
    unsafe {
        check(
            status,
            Step::PivotRoot,
            0,
            libc::syscall(libc::SYS_pivot_root, root.as_ptr(), old.as_ptr()),
        );
        check(
            status,
            Step::PivotRoot,
            1,
            libc::chdir(c"/".as_ptr()) as libc::c_long,
        );
        check(
            status,
            Step::PivotRoot,
            2,
            libc::umount2(c"/.oldroot".as_ptr(), libc::MNT_DETACH) as libc::c_long,
        );
        libc::rmdir(c"/.oldroot".as_ptr());
    }
}
