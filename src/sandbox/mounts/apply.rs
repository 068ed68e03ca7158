//! Post-fork: performs the mount plan, one operation after the other. No allocation: every
//! path and string was made by `Mounts::build`. A failure is reported with the step of the
//! operation and its index in the plan.

use std::ffi::CStr;
use std::os::fd::RawFd;

use super::sources::{MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use super::{MountOp, Mounts};
use crate::plan::fs::Kind;
use crate::sandbox::Step;
use crate::sandbox::sys::{check, errno, fail, mount};

impl Mounts {
    /// Sets up the mount namespace. Runs in the child, before Landlock.
    pub fn apply(&mut self, status: RawFd) {
        for (i, op) in self.ops.iter().enumerate() {
            let i = i as u32;
            match op {
                MountOp::MakePrivate => mount(
                    status,
                    Step::MountPrivate,
                    i,
                    c"none",
                    c"/",
                    None,
                    libc::MS_REC | libc::MS_PRIVATE,
                    None,
                ),
                MountOp::Detach {
                    source,
                    source_fd,
                    attrs,
                    tree,
                } => self.trees[*tree] = detach(status, i, source, *source_fd, *attrs),
                MountOp::Tmpfs {
                    step,
                    target,
                    options,
                    flags,
                } => mount(
                    status,
                    *step,
                    i,
                    c"tmpfs",
                    target,
                    Some(c"tmpfs"),
                    *flags,
                    Some(options),
                ),
                MountOp::Mkdir { step, path } => mkdir(status, *step, i, path),
                MountOp::CreateFile { step, path } => create_file(status, *step, i, path),
                MountOp::AttachDeviceCopy { fd, target } => {
                    check(status, Step::BindIntoPrivate, i, move_mount(*fd, target));
                    // SAFETY: closing our own descriptor (mcpcell holds its own).
                    unsafe { libc::close(*fd) };
                }
                MountOp::Attach { tree, target } => {
                    let tree = self.trees[*tree];
                    check(status, Step::BindIntoPrivate, i, move_mount(tree, target));
                    // SAFETY: closing our own descriptor.
                    unsafe { libc::close(tree) };
                }
                MountOp::Symlink { link, target } => {
                    // SAFETY: two NUL-terminated paths.
                    if unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) } < 0
                        && errno() != libc::EEXIST
                    {
                        fail(status, Step::Symlink, i, errno());
                    }
                }
                MountOp::Replace {
                    target,
                    staging,
                    content,
                } => replace(status, i, target, staging, content),
                MountOp::Proc { target } => mount(
                    status,
                    Step::MountProc,
                    i,
                    c"proc",
                    target,
                    Some(c"proc"),
                    // Read-only: the server of a root launch runs as uid 0, and procfs keeps
                    // one mode for a kernel-wide file (/proc/version, /proc/slabinfo) in
                    // every instance, and many sysctls check only the uid. Its own
                    // /proc/self files are for reading.
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    None,
                ),
                MountOp::Hide {
                    target,
                    kind: Kind::Dir,
                } => mount(
                    status,
                    Step::Hide,
                    i,
                    c"tmpfs",
                    target,
                    Some(c"tmpfs"),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(c"size=4k,nr_inodes=2,mode=0555"),
                ),
                MountOp::Hide {
                    target,
                    kind: Kind::File,
                } => hide_file(status, i, target),
                MountOp::Pin { target } => mount(
                    status,
                    Step::Pin,
                    i,
                    target,
                    target,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                ),
                MountOp::RemountReadOnly { target } => mount(
                    status,
                    Step::ReadOnlyRoot,
                    i,
                    c"none",
                    target,
                    None,
                    libc::MS_REMOUNT
                        | libc::MS_BIND
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | libc::MS_NODEV,
                    None,
                ),
                MountOp::Pivot { root } => pivot(status, i, root),
            }
        }
    }
}

/// Covers the file `target` with a read-only copy of `/dev/null`'s mount: it reads as empty,
/// and nothing about it can change. A plain bind would be writable, and `/dev/null` is the
/// host's node, owned by root: root's server could change its mode or times through the
/// mask (`chmod` of a hidden `.npmrc`), for every process on the host. One `mount_setattr`
/// instead of a remount, which in a user namespace must repeat every locked flag (atime
/// ones included) of the host's /dev.
fn hide_file(status: RawFd, i: u32, target: &CStr) {
    let fd = match readonly_copy(libc::AT_FDCWD, c"/dev/null", 0) {
        Ok(fd) => fd,
        Err(e) => fail(status, Step::Hide, i, e),
    };
    check(status, Step::Hide, i, move_mount(fd, target));
    // SAFETY: closing our own descriptor; the copy is attached and stays.
    unsafe { libc::close(fd) };
}

/// A detached copy of the mount of `path` (from `dirfd`; `c""` with `AT_EMPTY_PATH` in `at`
/// for the file `dirfd` itself), read-only, without setuid and exec, and private: nothing
/// about the file can change through it (mode, owner, times, extended attributes: `EROFS`),
/// while a device in it still reads and writes, and no mount event reaches it from the
/// mount it was copied from (a shared /dev, as systemd makes it). Its descriptor, or the
/// errno. No allocation: the sandbox's child uses it after fork, mcpcell before.
pub(crate) fn readonly_copy(dirfd: RawFd, path: &CStr, at: libc::c_uint) -> Result<RawFd, i32> {
    // SAFETY: open_tree with a NUL-terminated path and integer flags.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dirfd,
            path.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | at,
        )
    };
    if fd < 0 {
        return Err(errno());
    }
    let fd = fd as RawFd;
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
    if set_attrs(fd, attrs, libc::MS_PRIVATE, 0) < 0 {
        let e = errno();
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    Ok(fd)
}

/// Moves the detached tree `tree` onto `target`.
fn move_mount(tree: RawFd, target: &CStr) -> libc::c_long {
    // SAFETY: move_mount of a detached tree onto a NUL-terminated path.
    unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    }
}

/// A detached copy of `source`'s mount with the mount flags `attrs`, checked to be the file
/// the plan opened as `source_fd`.
fn detach(status: RawFd, i: u32, source: &CStr, source_fd: RawFd, attrs: u64) -> RawFd {
    // SAFETY: open_tree with a NUL-terminated path and integer flags.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            source.as_ptr(),
            (libc::OPEN_TREE_CLONE
                | libc::OPEN_TREE_CLOEXEC
                | libc::AT_RECURSIVE as u32
                | libc::AT_SYMLINK_NOFOLLOW as u32) as libc::c_uint,
        )
    };
    check(status, Step::BindIntoPrivate, i, fd);
    let fd = fd as RawFd;
    // The plan's descriptor belongs to the parent's mount namespace, which cannot be cloned
    // from here, so the copy is taken by path: it must be the file the plan opened (and
    // Landlock's rule names), not one swapped in since.
    if !same_file(fd, source_fd) {
        fail(status, Step::BindIntoPrivate, i, libc::ESTALE);
    }
    check(
        status,
        Step::MountAttrs,
        i,
        set_attrs(fd, attrs, 0, libc::AT_RECURSIVE),
    );
    fd
}

/// Sets the mount flags `attrs` and the propagation `propagation` (`MS_PRIVATE`, or 0 to
/// leave it) on the detached tree `fd` (`flags`: `AT_RECURSIVE` for its submounts too).
fn set_attrs(fd: RawFd, attrs: u64, propagation: u64, flags: libc::c_int) -> libc::c_long {
    let attr = libc::mount_attr {
        attr_set: attrs,
        attr_clr: 0,
        propagation,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr on our own detached tree, with a valid mount_attr of the size
    // passed and an empty NUL-terminated path.
    unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | flags) as libc::c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
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

/// Writes `content` to a new file at `staging`, binds it over `target`, unlinks `staging`.
fn replace(status: RawFd, i: u32, target: &CStr, staging: &CStr, content: &CStr) {
    // SAFETY: NUL-terminated path and a valid buffer; the fd is closed on every path.
    unsafe {
        let fd = libc::open(
            staging.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
            0o644,
        );
        if fd < 0 {
            fail(status, Step::Resolver, i, errno());
        }
        let bytes = content.to_bytes();
        let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        libc::close(fd);
        if n < 0 {
            fail(status, Step::Resolver, i, errno());
        }
    }
    mount(
        status,
        Step::Resolver,
        i,
        staging,
        target,
        None,
        libc::MS_BIND,
        None,
    );
    // SAFETY: NUL-terminated path; the bind mount keeps the file alive.
    unsafe { libc::unlink(staging.as_ptr()) };
}

fn mkdir(status: RawFd, step: Step, index: u32, path: &CStr) {
    // SAFETY: a NUL-terminated path.
    if unsafe { libc::mkdir(path.as_ptr(), 0o755) } < 0 && errno() != libc::EEXIST {
        fail(status, step, index, errno());
    }
}

fn create_file(status: RawFd, step: Step, index: u32, path: &CStr) {
    // One call, no descriptor: mknod of a regular file needs no privilege. A path already
    // there is kept whatever it is (a file inside a read-only bind, bound again with other
    // flags): the kernel answers EEXIST before it looks at the mount's read-only flag.
    // SAFETY: a NUL-terminated path.
    let r = unsafe { libc::mknodat(libc::AT_FDCWD, path.as_ptr(), libc::S_IFREG | 0o644, 0) };
    if r < 0 && errno() != libc::EEXIST {
        fail(status, step, index, errno());
    }
}

/// Makes the staging root the root, and lets go of the host's. `pivot_root(".", ".")`
/// stacks the old root on top of the new one, where a lazy unmount takes it away: no
/// directory for the old root is needed, so a read-only root (a bind of `/`) works too, and
/// no path is built here.
fn pivot(status: RawFd, i: u32, root: &CStr) {
    // SAFETY: NUL-terminated paths; chdir, pivot_root and umount2 take nothing else.
    unsafe {
        check(
            status,
            Step::PivotRoot,
            i,
            libc::chdir(root.as_ptr()) as libc::c_long,
        );
        check(
            status,
            Step::PivotRoot,
            i,
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()),
        );
        check(
            status,
            Step::PivotRoot,
            i,
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH) as libc::c_long,
        );
        check(
            status,
            Step::PivotRoot,
            i,
            libc::chdir(c"/".as_ptr()) as libc::c_long,
        );
    }
}
