//! Replacing a config file safely: a backup beside it that is never overwritten, the new text
//! in a temporary file in the same directory (same permissions and, where allowed, owner),
//! `rename` over the original, and a re-read that must give back exactly what was written.
//! A symbolic link is followed, so the file it points to is replaced and the link kept.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

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
}

fn io_err<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WriteError + 'a {
    move |source| WriteError::Io {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// The first of `FILE.mcpcell.bak`, `FILE.mcpcell.bak.1`, ... that does not exist.
fn backup_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = target.parent().unwrap_or(Path::new("."));
    (0..)
        .map(|i| {
            if i == 0 {
                dir.join(format!("{name}.mcpcell.bak"))
            } else {
                dir.join(format!("{name}.mcpcell.bak.{i}"))
            }
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .expect("an unused name")
}

/// Creates `path` exclusively with `data`, the mode and, when allowed, the owner of `like`.
fn create_like(path: &Path, data: &[u8], like: &std::fs::Metadata) -> Result<(), WriteError> {
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("create", path))?;
    let result = (|| {
        f.write_all(data).map_err(io_err("write", path))?;
        f.set_permissions(std::fs::Permissions::from_mode(like.mode() & 0o7777))
            .map_err(io_err("set the permissions of", path))?;
        // Only root may give a file away; an ordinary user's files are theirs already.
        let _ = std::os::unix::fs::fchown(&f, Some(like.uid()), Some(like.gid()));
        f.sync_all().map_err(io_err("sync", path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Where the config was backed up and written.
#[derive(Debug)]
pub struct Written {
    pub target: PathBuf,
    pub backup: PathBuf,
}

/// Replaces the file at `path`, which must still hold `old`, with `new`.
pub fn replace(path: &Path, old: &str, new: &str) -> Result<Written, WriteError> {
    let target = path.canonicalize().map_err(io_err("resolve", path))?;
    let meta = std::fs::metadata(&target).map_err(io_err("inspect", &target))?;
    let current = std::fs::read(&target).map_err(io_err("read", &target))?;
    if current != old.as_bytes() {
        return Err(WriteError::Changed { path: target });
    }
    let dir = target.parent().unwrap_or(Path::new("/"));
    let backup = backup_path(&target);
    create_like(&backup, old.as_bytes(), &meta)?;

    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mcpcell-{}.tmp", std::process::id()));
    create_like(&tmp, new.as_bytes(), &meta)?;
    if let Err(e) = std::fs::rename(&tmp, &target) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err("replace", &target)(e));
    }
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }

    let back = std::fs::read(&target).map_err(io_err("read back", &target))?;
    if back != new.as_bytes() {
        restore(&target, &backup, &meta);
        return Err(WriteError::Verify {
            path: target,
            backup,
        });
    }
    Ok(Written { target, backup })
}

/// Puts the backup's bytes back in place, as atomically as the write itself.
fn restore(target: &Path, backup: &Path, meta: &std::fs::Metadata) {
    let Ok(data) = std::fs::read(backup) else {
        return;
    };
    let tmp = target.with_extension("mcpcell-restore.tmp");
    if create_like(&tmp, &data, meta).is_ok() && std::fs::rename(&tmp, target).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
