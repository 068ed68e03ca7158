//! Replacing a config file safely: the previous version kept as the one backup of that file
//! in mcpcell's state directory (`$XDG_STATE_HOME/mcpcell/.wrap-backups/`, 0700; each file
//! 0600, as configs hold tokens), the new text in a temporary file in the same directory
//! (same permissions and, where allowed, owner), `rename` over the original, and a re-read
//! that must give back exactly what was written. Backups do not pile up next to project
//! files: each write replaces the file's one backup.
//! A symbolic link is followed, so the file it points to is replaced and the link kept; past
//! that one resolution, no link is followed (the backup and temporary file are created
//! exclusively, by name in a directory opened without following links).

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::outfile::{OutFile, OutFileError, read_in, swap_in};

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

/// Where the backup of `target` (a canonical path) goes: its name and a digest of the whole
/// path, so that two `settings.json` of different clients never share one. The directory name
/// starts with a dot, which no profile name can, so no server's `${STATE_DIR}` is inside it.
fn backup_path(backups: &Path, target: &Path) -> PathBuf {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(target.as_os_str().as_encoded_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    backups.join(format!("{}.{hex}", name.trim_start_matches('.')))
}

/// `$XDG_STATE_HOME/mcpcell/.wrap-backups` (default `~/.local/state/...`), where the state
/// directories are: the state root as `crate::vars` resolves it for every launch.
pub fn backups_dir() -> PathBuf {
    crate::vars::Vars::from_env("wrap")
        .state_root()
        .unwrap_or_else(|_| PathBuf::from("/mcpcell"))
        .join(".wrap-backups")
}

/// Writes `data` as the backup at `backup` (0600), replacing an older one; neither a link
/// at that name nor on the way to it is followed.
fn write_backup(backup: &Path, data: &[u8]) -> Result<(), WriteError> {
    let wrap = |e| WriteError::Io {
        step: "write the backup",
        path: backup.to_path_buf(),
        source: io::Error::other(e),
    };
    OutFile::new_creating_dirs(backup, 0o700)
        .and_then(|f| f.replace(data, 0o600))
        .map_err(wrap)
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
pub fn replace(path: &Path, old: &str, new: &str, backups: &Path) -> Result<Written, WriteError> {
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
    let backup = backup_path(backups, &target);
    write_backup(&backup, old.as_bytes())?;

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
    fn keeps_mode_backs_up_once_and_follows_links() {
        let d = tempfile::tempdir().unwrap();
        let backups = d.path().join("state/mcpcell/.wrap-backups");
        let real = d.path().join("real.json");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = d.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();

        let w = replace(&link, "old", "new", &backups).unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(w.backup.starts_with(&backups), "{}", w.backup.display());
        assert_eq!(std::fs::read_to_string(&w.backup).unwrap(), "old");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&real), 0o640);
        assert_eq!(mode(&w.backup), 0o600);
        assert_eq!(mode(&backups), 0o700);

        // A second write replaces the one backup: nothing piles up, nothing beside the file.
        let w2 = replace(&link, "new", "newer", &backups).unwrap();
        assert_eq!(w.backup, w2.backup);
        assert_eq!(std::fs::read_to_string(&w2.backup).unwrap(), "new");
        assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1);
        let beside: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(beside.len(), 3, "{beside:?}");

        // Two files of the same name get two backups.
        let other = d.path().join("state/real.json");
        std::fs::write(&other, "o").unwrap();
        let w3 = replace(&other, "o", "p", &backups).unwrap();
        assert_ne!(w3.backup, w2.backup);

        // A file that changed underneath is left alone.
        assert!(matches!(
            replace(&real, "stale", "x", &backups),
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
        let backups = d.path().join("backups");
        std::fs::create_dir(&backups).unwrap();
        let outside = d.path().join("bashrc");
        std::fs::write(&outside, "untouched").unwrap();
        let cfg_dir = d.path().join("cfg");
        std::fs::create_dir(&cfg_dir).unwrap();
        let cfg = cfg_dir.join("config.json");
        std::fs::write(&cfg, "old").unwrap();
        // Links where the backup and the first temporary file would go.
        let backup = backup_path(&backups, &cfg.canonicalize().unwrap());
        std::os::unix::fs::symlink(&outside, &backup).unwrap();
        let tmp = format!(".config.json.mcpcell-{}-0.tmp", std::process::id());
        std::os::unix::fs::symlink(&outside, cfg_dir.join(&tmp)).unwrap();

        let w = replace(&cfg, "old", "new", &backups).unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched");
        assert_eq!(w.backup, backup);
        assert!(!std::fs::symlink_metadata(&backup).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&w.backup).unwrap(), "old");
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "new");
        // Weak setup: a write that follows the planted link lands outside.
        std::fs::write(cfg_dir.join(&tmp), "through").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "through");
    }
}
