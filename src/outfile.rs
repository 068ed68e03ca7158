//! Files mcpcell writes: the `--log-file`, learned profiles, and the backups and temporary
//! files of `wrap --write`. A sandboxed server may be able to write near them (or another
//! server may), so no link it plants may redirect them: the directory is resolved once, then
//! opened with `openat2(RESOLVE_NO_SYMLINKS)` (a link that appeared since is refused), and
//! the file inside it is opened with `O_NOFOLLOW`, created with `O_EXCL`, or renamed into
//! place by name relative to that directory. An existing file must be a regular file with a
//! single name: a hard link to a file elsewhere would redirect the write as surely as a
//! symbolic link.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, open, openat, openat2, renameat};
use nix::sys::stat::Mode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OutFileError {
    #[error("{} names no file; give a file path such as /var/log/mcpcell.log", path.display())]
    NoName { path: PathBuf },
    #[error("failed to {step} {}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is a symbolic link; mcpcell does not write through links, as one may have been planted to redirect the write: give the path of the file itself",
        path.display()
    )]
    Link { path: PathBuf },
    #[error(
        "{} passes through the symbolic link {}; mcpcell writes its own files only by their real path, so that no link can redirect them: give {} instead",
        path.display(),
        link.display(),
        real.display()
    )]
    LinkOnTheWay {
        path: PathBuf,
        link: PathBuf,
        real: PathBuf,
    },
    #[error(
        "the directory {} was replaced by a symbolic link after it was resolved; nothing was written",
        path.display()
    )]
    Moved { path: PathBuf },
    #[error("{} is not a regular file", path.display())]
    NotRegular { path: PathBuf },
    #[error(
        "{} has {links} names (hard links); mcpcell writes only to a file with one name, as another name may lie outside this directory: remove it and let mcpcell create it",
        path.display()
    )]
    HardLinks { path: PathBuf, links: u64 },
    #[error(
        "{} does not read back as written (something else replaced it meanwhile); write it again",
        path.display()
    )]
    Verify { path: PathBuf },
}

fn io_err<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> OutFileError + 'a {
    move |e| OutFileError::Io {
        step,
        path: path.to_path_buf(),
        source: io::Error::from(e),
    }
}

/// A file mcpcell is about to write: its directory with every link resolved now, and its
/// name in that directory.
#[derive(Debug, Clone)]
pub struct OutFile {
    /// The path as given, made absolute and with `.` and `..` taken out.
    written: PathBuf,
    /// The canonical directory.
    dir: PathBuf,
    name: OsString,
}

impl OutFile {
    /// Resolves `path` (relative to the current directory). Its directory must exist, and no
    /// component of it may be a symbolic link: a link a server planted on the way would send
    /// the write wherever it points, and mcpcell cannot tell such a link from the user's own.
    pub fn new(path: &Path) -> Result<OutFile, OutFileError> {
        let abs = std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf());
        // Lexically: with no link on the way (checked next), `..` means what it says.
        let written = crate::paths::normalize(&abs);
        let name = match written.components().next_back() {
            Some(Component::Normal(n)) => n.to_os_string(),
            _ => {
                return Err(OutFileError::NoName {
                    path: path.to_path_buf(),
                });
            }
        };
        let parent = written.parent().unwrap_or(Path::new("/")).to_path_buf();
        let dir = crate::paths::real_path(&parent).map_err(|source| OutFileError::Io {
            step: "resolve the directory of",
            path: written.clone(),
            source,
        })?;
        if dir != parent {
            let link = parent
                .ancestors()
                .filter(|a| std::fs::symlink_metadata(a).is_ok_and(|m| m.is_symlink()))
                .last()
                .unwrap_or(&parent)
                .to_path_buf();
            return Err(OutFileError::LinkOnTheWay {
                path: written,
                link,
                real: dir.join(&name),
            });
        }
        Ok(OutFile { written, dir, name })
    }

    /// Like [`OutFile::new`], creating the missing directories first (mode `dir_mode`).
    pub fn new_creating_dirs(path: &Path, dir_mode: u32) -> Result<OutFile, OutFileError> {
        use std::os::unix::fs::DirBuilderExt;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(dir_mode)
                .create(dir)
                .map_err(|source| OutFileError::Io {
                    step: "create the directory",
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        OutFile::new(path)
    }

    /// Where the file is: the canonical directory and the name.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The path as it was given (absolute, normalised).
    pub fn written(&self) -> &Path {
        &self.written
    }

    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// Opens the directory, refusing a link anywhere on its (canonical) path.
    pub fn open_dir(&self) -> Result<OwnedFd, OutFileError> {
        open_dir_no_links(&self.dir)
    }

    /// Opens the file for appending, creating it (0600) if missing. Used for the log.
    pub fn append(&self) -> Result<File, OutFileError> {
        let dir = self.open_dir()?;
        let path = self.path();
        let flags = OFlag::O_WRONLY
            | OFlag::O_APPEND
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NOCTTY
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC;
        let fd = openat(
            &dir,
            self.name.as_os_str(),
            flags,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| match e {
            Errno::ELOOP => OutFileError::Link { path: path.clone() },
            // O_NONBLOCK on a FIFO without a reader.
            Errno::ENXIO => OutFileError::NotRegular { path: path.clone() },
            e => io_err("open", &path)(e),
        })?;
        check_single_regular(fd.as_fd(), &path, true)?;
        Ok(File::from(fd))
    }

    /// Replaces the file with `data` (mode `mode`): a new file created exclusively beside it,
    /// synced, then renamed over it, and read back by name. A link at the file's name is
    /// replaced, not followed.
    pub fn replace(&self, data: &[u8], mode: u32) -> Result<(), OutFileError> {
        let dir = self.open_dir()?;
        let path = self.path();
        swap_in(dir.as_fd(), &self.dir, &self.name, data, mode, None)?;
        let (back, _) = read_in(dir.as_fd(), &self.name, &path)?;
        if back != data {
            return Err(OutFileError::Verify { path });
        }
        Ok(())
    }
}

/// Reads `name` in `dir`, not through a link, with its metadata; it must be a regular file.
pub fn read_in(
    dir: BorrowedFd,
    name: &OsStr,
    path: &Path,
) -> Result<(Vec<u8>, Metadata), OutFileError> {
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err("read", path))?;
    let mut f = File::from(fd);
    let meta = f.metadata().map_err(std_io_err("inspect", path))?;
    if !meta.is_file() {
        return Err(OutFileError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let mut data = Vec::new();
    f.read_to_end(&mut data).map_err(std_io_err("read", path))?;
    Ok((data, meta))
}

/// Fills a file just created with `data`, gives it `mode` and, when allowed, `owner`, and
/// syncs it.
pub fn fill(
    mut f: File,
    path: &Path,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), OutFileError> {
    f.write_all(data).map_err(std_io_err("write", path))?;
    nix::sys::stat::fchmod(&f, Mode::from_bits_truncate(mode & 0o7777))
        .map_err(io_err("set the permissions of", path))?;
    if let Some((uid, gid)) = owner {
        // Only root may give a file away; an ordinary user's files are theirs already.
        let _ = std::os::unix::fs::fchown(&f, Some(uid), Some(gid));
    }
    f.sync_all().map_err(std_io_err("sync", path))
}

/// Writes `data` to a new temporary file in `dir` (see [`fill`]) and renames it over `name`;
/// the temporary file is removed if anything fails.
pub fn swap_in(
    dir: BorrowedFd,
    dir_path: &Path,
    name: &OsStr,
    data: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), OutFileError> {
    let (tmp, f) = create_temp_in(dir, name, dir_path)?;
    let result = fill(f, &dir_path.join(&tmp), data, mode, owner).and_then(|()| {
        renameat(dir, tmp.as_os_str(), dir, name).map_err(io_err("replace", &dir_path.join(name)))
    });
    if result.is_err() {
        let _ = remove_in(dir, &tmp);
    }
    result
}

fn std_io_err<'a>(
    step: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> OutFileError + 'a {
    move |source| OutFileError::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// Opens the directory `dir` (O_PATH), refusing a symbolic link on the way. Without
/// `openat2` (before Linux 5.6, or refused by a container's seccomp filter) the directory is
/// opened normally and must turn out to be `dir` itself.
pub fn open_dir_no_links(dir: &Path) -> Result<OwnedFd, OutFileError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(AT_FDCWD, dir, how) {
        Ok(fd) => Ok(fd),
        Err(Errno::ELOOP | Errno::EXDEV) => Err(OutFileError::Moved {
            path: dir.to_path_buf(),
        }),
        Err(Errno::ENOSYS | Errno::EPERM | Errno::EAGAIN) => {
            let fd = open(dir, flags, Mode::empty()).map_err(io_err("open", dir))?;
            let named = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            if named.as_deref().ok() != Some(dir) {
                return Err(OutFileError::Moved {
                    path: dir.to_path_buf(),
                });
            }
            Ok(fd)
        }
        Err(e) => Err(io_err("open", dir)(e)),
    }
}

/// Creates `name` in `dir` exclusively (never through a link), mode 0600, for writing.
pub fn create_new_in(dir: BorrowedFd, name: &OsStr) -> Result<File, Errno> {
    let flags = OFlag::O_WRONLY
        | OFlag::O_CREAT
        | OFlag::O_EXCL
        | OFlag::O_NOFOLLOW
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::from_bits_truncate(0o600)).map(File::from)
}

/// Creates `.NAME.mcpcell-PID-N.tmp` in `dir`, the first N that is free.
pub fn create_temp_in(
    dir: BorrowedFd,
    name: &OsStr,
    dir_path: &Path,
) -> Result<(OsString, File), OutFileError> {
    let pid = std::process::id();
    for n in 0..100 {
        let mut tmp = OsString::from(".");
        tmp.push(name);
        tmp.push(format!(".mcpcell-{pid}-{n}.tmp"));
        match create_new_in(dir, &tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(io_err("create a temporary file in", dir_path)(e)),
        }
    }
    Err(io_err("create a temporary file in", dir_path)(
        Errno::EEXIST,
    ))
}

/// Removes `name` from `dir` (never a directory, never through a link).
pub fn remove_in(dir: BorrowedFd, name: &OsStr) -> Result<(), Errno> {
    nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
}

/// A file mcpcell opened to write must be a regular file with one name, or, with `devices`,
/// a character device (`/dev/null`, a terminal): a sandboxed server cannot make one.
fn check_single_regular(fd: BorrowedFd, path: &Path, devices: bool) -> Result<(), OutFileError> {
    let st = nix::sys::stat::fstat(fd).map_err(io_err("inspect", path))?;
    if devices && st.st_mode & libc::S_IFMT == libc::S_IFCHR {
        return Ok(());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(OutFileError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    if st.st_nlink > 1 {
        return Err(OutFileError::HardLinks {
            path: path.to_path_buf(),
            links: st.st_nlink,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_but_never_through_a_link() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::write(&outside, "untouched\n").unwrap();
        let log = d.path().join("log");

        let mut f = OutFile::new(&log).unwrap().append().unwrap();
        f.write_all(b"one\n").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\n");

        std::fs::remove_file(&log).unwrap();
        std::os::unix::fs::symlink(&outside, &log).unwrap();
        let err = OutFile::new(&log).unwrap().append().unwrap_err();
        assert!(matches!(err, OutFileError::Link { .. }), "{err}");

        std::fs::remove_file(&log).unwrap();
        std::fs::hard_link(&outside, &log).unwrap();
        let err = OutFile::new(&log).unwrap().append().unwrap_err();
        assert!(matches!(err, OutFileError::HardLinks { .. }), "{err}");

        let mut s = String::new();
        File::open(&outside)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "untouched\n");
    }

    #[test]
    fn a_character_device_is_a_log_file() {
        let mut f = OutFile::new(Path::new("/dev/null"))
            .unwrap()
            .append()
            .unwrap();
        f.write_all(b"discarded\n").unwrap();
    }

    #[test]
    fn a_directory_swapped_for_a_link_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let out = OutFile::new(&sub.join("file")).unwrap();
        std::fs::remove_dir(&sub).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &sub).unwrap();
        assert!(matches!(out.append(), Err(OutFileError::Moved { .. })));
        assert!(matches!(
            out.replace(b"x", 0o644),
            Err(OutFileError::Moved { .. })
        ));
        assert!(!elsewhere.join("file").exists());
    }

    #[test]
    fn a_link_on_the_way_is_refused_up_front() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = OutFile::new(&link.join("log")).unwrap_err();
        assert!(
            matches!(&err, OutFileError::LinkOnTheWay { link: l, .. } if *l == link),
            "{err}"
        );
        assert!(OutFile::new(&real.join("log")).is_ok());
    }

    #[test]
    fn replace_swaps_a_planted_link_instead_of_following_it() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::write(&outside, "untouched").unwrap();
        let target = d.path().join("profile.yaml");
        std::os::unix::fs::symlink(&outside, &target).unwrap();
        OutFile::new(&target)
            .unwrap()
            .replace(b"new", 0o600)
            .unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let leftovers = std::fs::read_dir(d.path()).unwrap().count();
        assert_eq!(leftovers, 2);
    }

    #[test]
    fn read_in_takes_only_a_regular_file_by_its_own_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("real"), "data").unwrap();
        std::os::unix::fs::symlink(d.path().join("real"), d.path().join("link")).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let dir = open_dir_no_links(d.path()).unwrap();
        let read = |name: &str| read_in(dir.as_fd(), OsStr::new(name), &d.path().join(name));
        assert_eq!(read("real").unwrap().0, b"data");
        // Weak setup: the link does lead to the data when followed.
        assert_eq!(std::fs::read(d.path().join("link")).unwrap(), b"data");
        assert!(matches!(
            read("link"),
            Err(OutFileError::Io { step: "read", .. })
        ));
        assert!(matches!(read("sub"), Err(OutFileError::NotRegular { .. })));
    }
}
