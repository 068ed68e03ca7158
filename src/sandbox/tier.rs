//! The namespace-free tier's mechanisms (see `crate::plan::tier` for what each keeps):
//! before fork, `hide` as Landlock rules and the private temporary directory; after it, the
//! init's hold on the whole tree (a subreaper that kills its Landlock domain) and the
//! server's nested domain.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use landlock::{ABI, AccessFs, BitFlags};

use super::prepare::PrepareError;
use crate::plan::fs::Rights;

/// The Landlock rules that grant `dir` (a granted directory, `rights`) except the hidden
/// paths below it: every entry of `dir` gets the grant, but an entry on the way to a hidden
/// path gets no rule and is descended into, and a hidden entry gets nothing. Symbolic links
/// get no rule: their targets are granted only where a grant covers them, as in the
/// namespace tier. Entries are opened without following links, relative to their directory.
pub fn rules_around(
    dir_fd: BorrowedFd<'_>,
    dir: &Path,
    rights: Rights,
    hidden: &[PathBuf],
    abi: ABI,
) -> Result<Vec<(OwnedFd, BitFlags<AccessFs>)>, PrepareError> {
    let mut out = Vec::new();
    // A Landlock rule is the inode's, under every name: another name of a hidden file (a
    // hard link beside it) is left out too, or its rule would open the hidden one.
    // A hidden directory's files with other names too (bounded).
    let inodes: Vec<(u64, u64)> = hidden
        .iter()
        .flat_map(|h| crate::paths::linked_files(h, crate::plan::fs::MAX_LINKED_LOOKED_AT))
        .map(|(_, m)| (m.dev(), m.ino()))
        .collect();
    walk(dir_fd, dir, rights, (hidden, &inodes), abi, &mut out)?;
    Ok(out)
}

fn walk(
    fd: BorrowedFd<'_>,
    dir: &Path,
    rights: Rights,
    (hidden, inodes): (&[PathBuf], &[(u64, u64)]),
    abi: ABI,
    out: &mut Vec<(OwnedFd, BitFlags<AccessFs>)>,
) -> Result<(), PrepareError> {
    // Listed through /proc/self/fd: the directory we opened, whatever its path names now.
    let listing = Path::new("/proc/self/fd").join(fd.as_raw_fd().to_string());
    let entries = std::fs::read_dir(&listing).map_err(PrepareError::Hide)?;
    for e in entries {
        let e = e.map_err(PrepareError::Hide)?;
        let name = e.file_name();
        let path = dir.join(&name);
        if hidden.contains(&path) {
            continue;
        }
        let Ok(ty) = e.file_type() else { continue };
        if ty.is_symlink() {
            continue;
        }
        let Ok(child) = open_nofollow(fd, &name) else {
            // Gone since the listing: nothing to grant.
            continue;
        };
        if ty.is_dir() && hidden.iter().any(|h| h.starts_with(&path)) {
            walk(child.as_fd(), &path, rights, (hidden, inodes), abi, out)?;
        } else if !ty.is_dir()
            && nix::sys::stat::fstat(child.as_fd())
                .is_ok_and(|st| inodes.contains(&(st.st_dev, st.st_ino)))
        {
            continue;
        } else {
            out.push((child, rights.access(abi, ty.is_dir())));
        }
    }
    Ok(())
}

/// `name` in `at`, as an O_PATH descriptor of the entry itself (a link is not followed).
fn open_nofollow(at: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<OwnedFd> {
    let c = std::ffi::CString::new(name.as_bytes()).map_err(std::io::Error::other)?;
    let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat with a valid directory descriptor and a NUL-terminated name.
    let fd = unsafe { libc::openat(at.as_raw_fd(), c.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by openat and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The sandbox's private temporary directory: created 0700 in the host's temporary
/// directory, granted read+write, named by TMPDIR, removed when mcpcell is done with it.
pub struct PrivateTmp {
    path: PathBuf,
}

impl PrivateTmp {
    pub fn create() -> std::io::Result<PrivateTmp> {
        let mut template = crate::plan::tier::host_temp_dir()
            .join("mcpcell-tmp-XXXXXX")
            .into_os_string()
            .into_vec();
        template.push(0);
        // SAFETY: mkdtemp rewrites the NUL-terminated template in place; it creates the
        // directory with mode 0700.
        let r = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
        if r.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        template.pop();
        Ok(PrivateTmp {
            path: PathBuf::from(std::ffi::OsString::from_vec(template)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateTmp {
    fn drop(&mut self) {
        // remove_dir_all does not follow links the server may have planted.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---- after fork: no allocation ----

/// `struct landlock_ruleset_attr` as of ABI 6.
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

const LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1;
const LANDLOCK_SCOPE_SIGNAL: u64 = 2;

/// `struct landlock_path_beneath_attr` (packed, as the kernel declares it).
#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

const LANDLOCK_ACCESS_FS_REFER: u64 = 1 << 13;
const LANDLOCK_RULE_PATH_BENEATH: u32 = 1;

/// A ruleset that scopes signals and abstract Unix sockets: the server enters it as a
/// domain nested in the init's, so that it cannot signal the init while the init can still
/// kill it. It restricts no file access, but it must handle `REFER` and grant it on `/`: a
/// layer that does not handle `REFER` refuses every rename and link across directories
/// (EXDEV), which broke uv's cache (it renames a temporary directory into place). The
/// init's domain below still decides every reparenting by its own grants. Returns the
/// descriptor, or -1 with errno set.
pub fn server_domain_ruleset() -> RawFd {
    let attr = RulesetAttr {
        handled_access_fs: LANDLOCK_ACCESS_FS_REFER,
        handled_access_net: 0,
        scoped: LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL,
    };
    // SAFETY: a valid attribute struct and its size; the kernel copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    } as RawFd;
    if fd < 0 {
        return -1;
    }
    // SAFETY: a NUL-terminated path; O_PATH opens are not checked by Landlock.
    let root = unsafe { libc::open(c"/".as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if root < 0 {
        // SAFETY: closing the ruleset this function created.
        unsafe { libc::close(fd) };
        return -1;
    }
    let rule = PathBeneathAttr {
        allowed_access: LANDLOCK_ACCESS_FS_REFER,
        parent_fd: root,
    };
    // SAFETY: a valid rule struct for LANDLOCK_RULE_PATH_BENEATH; the kernel copies it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_add_rule,
            fd,
            LANDLOCK_RULE_PATH_BENEATH,
            &rule as *const PathBeneathAttr,
            0u32,
        )
    };
    // SAFETY: the rule holds its own reference to `/`.
    unsafe { libc::close(root) };
    if r < 0 {
        let e = super::sys::errno();
        // SAFETY: closing the ruleset this function created; errno is restored below.
        unsafe {
            libc::close(fd);
            *libc::__errno_location() = e;
        }
        return -1;
    }
    fd
}

/// Enters the server's nested domain (no_new_privs is already set). Returns 0 or -1.
pub fn enter_server_domain(fd: RawFd) -> libc::c_long {
    // SAFETY: landlock_restrict_self on a ruleset descriptor; no pointers.
    let r = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) };
    // SAFETY: the descriptor is not needed after this.
    unsafe { libc::close(fd) };
    r
}

/// Whether this process's signals are scoped to its Landlock domain: mcpcell, its parent,
/// lies outside it and must be out of reach. Checked before the init relies on `kill(-1)`.
pub fn signals_scoped() -> bool {
    // SAFETY: kill with signal 0 only checks permission.
    let r = unsafe { libc::kill(libc::getppid(), 0) };
    r < 0 && super::sys::errno() == libc::EPERM
}

/// Kills every process of the init's Landlock domain and the domains nested in it: with
/// signals scoped, `kill(-1)` reaches nothing else. A fork racing with it fails, because
/// its parent already has SIGKILL pending when it would add the child. The init then reaps
/// what it killed (orphans come to it, a subreaper), so that no zombie is left for the
/// host's init; it gives up after about a second (a process stuck in the kernel).
pub fn kill_tree() {
    for _ in 0..100 {
        // SAFETY: kill and waitpid take no pointers but the status, a valid local.
        unsafe {
            libc::kill(-1, libc::SIGKILL);
            loop {
                let mut st = 0;
                let r = libc::waitpid(-1, &mut st, libc::WNOHANG);
                if r > 0 {
                    continue;
                }
                if r < 0 && super::sys::errno() == libc::ECHILD {
                    return;
                }
                break;
            }
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 10_000_000,
            };
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
    }
}
