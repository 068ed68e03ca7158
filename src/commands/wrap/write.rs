//! Replacing a config file safely: a backup beside it that is never overwritten, the new text
//! in a temporary file in the same directory (same permissions and, where allowed, owner),
//! `rename` over the original, and a re-read that must give back exactly what was written.
//! A symbolic link is followed, so the file it points to is replaced and the link kept; past
//! that one resolution, no link is followed (the backup and temporary file are created
//! exclusively, by name in a directory opened without following links).

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::outfile::{OutFile, OutFileError, create_new_in, fill, read_in, remove_in, swap_in};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum WriteError {
    #[error("failed to {step} {}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} changed since it was read; nothing was written, run the command again",
        path.display()
    )]
    Changed { path: PathBuf },
    #[error(
        "{} does not read back as written; the original is restored from {}",
        path.display(),
        backup.display()
    )]
    Verify { path: PathBuf, backup: PathBuf },
    #[error(transparent)]
    File(#[from] OutFileError),
}

fn io_err<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WriteError + 'a {
    move |source| WriteError::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

fn errno_err<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> WriteError + 'a {
    move |e| io_err(step, path)(io::Error::from(e))
}

/// Creates the first of `FILE.mcpcell.bak`, `FILE.mcpcell.bak.1`, ... that does not exist
/// (exclusively: a name taken meanwhile, or a planted link, moves on to the next).
fn create_backup(
    dir: BorrowedFd,
    dir_path: &Path,
    name: &OsStr,
) -> Result<(OsString, File), WriteError> {
    for i in 0..10_000 {
        let mut b = name.to_os_string();
        b.push(if i == 0 {
            ".mcpcell.bak".to_string()
        } else {
            format!(".mcpcell.bak.{i}")
        });
        match create_new_in(dir, &b) {
            Ok(f) => return Ok((b, f)),
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(errno_err("create", &dir_path.join(&b))(e)),
        }
    }
    Err(errno_err("create a backup in", dir_path)(Errno::EEXIST))
}

/// The mode and owner of `like`, for a file that takes its place.
fn mode_owner(like: &Metadata) -> (u32, Option<(u32, u32)>) {
    (like.mode() & 0o7777, Some((like.uid(), like.gid())))
}

/// Where the config was backed up and written.
#[derive(Debug)]
pub struct Written {
    pub target: PathBuf,
    pub backup: PathBuf,
}

/// Replaces the file at `path`, which must still hold `old`, with `new`. A link at `path` is
/// followed once, here, to the file it names; from then on everything happens by name in
/// that file's directory, opened without following links (see [`crate::outfile`]), so a
/// link planted meanwhile is neither followed nor written through.
pub fn replace(path: &Path, old: &str, new: &str) -> Result<Written, WriteError> {
    let target = path.canonicalize().map_err(io_err("resolve", path))?;
    let out = OutFile::new(&target).map_err(|e| WriteError::Io {
        step: "resolve",
        path: target.clone(),
        source: io::Error::other(e),
    })?;
    let target = out.path();
    let dir_path = target.parent().unwrap_or(Path::new("/")).to_path_buf();
    let dir = out.open_dir().map_err(|e| WriteError::Io {
        step: "open the directory of",
        path: target.clone(),
        source: io::Error::other(e),
    })?;
    let name = out.name();
    let (current, meta) = read_in(dir.as_fd(), name, &target)?;
    let (mode, owner) = mode_owner(&meta);
    if current != old.as_bytes() {
        return Err(WriteError::Changed { path: target });
    }
    let (backup_name, f) = create_backup(dir.as_fd(), &dir_path, name)?;
    let backup = dir_path.join(&backup_name);
    if let Err(e) = fill(f, &backup, old.as_bytes(), mode, owner) {
        let _ = remove_in(dir.as_fd(), &backup_name);
        return Err(e.into());
    }

    swap_in(dir.as_fd(), &dir_path, name, new.as_bytes(), mode, owner)?;
    if let Ok(d) = File::open(&dir_path) {
        let _ = d.sync_all();
    }

    let (back, _) = read_in(dir.as_fd(), name, &target)?;
    if back != new.as_bytes() {
        // Puts the backup's bytes back in place, as atomically as the write itself.
        let _ = swap_in(dir.as_fd(), &dir_path, name, old.as_bytes(), mode, owner);
        return Err(WriteError::Verify {
            path: target,
            backup,
        });
    }
    Ok(Written { target, backup })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keeps_mode_backs_up_and_follows_links() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real.json");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = d.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();

        let w = replace(&link, "old", "new").unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&w.backup).unwrap(), "old");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&real), 0o640);
        assert_eq!(mode(&w.backup), 0o640);

        // A second write keeps the first backup.
        let w2 = replace(&link, "new", "newer").unwrap();
        assert_ne!(w.backup, w2.backup);
        assert_eq!(std::fs::read_to_string(&w.backup).unwrap(), "old");

        // A file that changed underneath is left alone.
        assert!(matches!(
            replace(&real, "stale", "x"),
            Err(WriteError::Changed { .. })
        ));
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "newer");
        let leftovers = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn planted_links_at_the_backup_and_temporary_names_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("bashrc");
        std::fs::write(&outside, "untouched").unwrap();
        let cfg_dir = d.path().join("cfg");
        std::fs::create_dir(&cfg_dir).unwrap();
        let cfg = cfg_dir.join("config.json");
        std::fs::write(&cfg, "old").unwrap();
        // Links where the backup and the first temporary file would go.
        std::os::unix::fs::symlink(&outside, cfg_dir.join("config.json.mcpcell.bak")).unwrap();
        let tmp = format!(".config.json.mcpcell-{}-0.tmp", std::process::id());
        std::os::unix::fs::symlink(&outside, cfg_dir.join(&tmp)).unwrap();

        let w = replace(&cfg, "old", "new").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
        assert_eq!(w.backup, cfg_dir.join("config.json.mcpcell.bak.1"));
        assert_eq!(std::fs::read_to_string(&w.backup).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "new");
        // Weak setup: a write that follows the planted link lands outside.
        std::fs::write(cfg_dir.join(&tmp), "through").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "through");
    }
}
