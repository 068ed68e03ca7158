//! The certificates of CA files, kept between launches.
//!
//! A system bundle holds about 150 certificates; extracting them (see [`super::pem`]) was
//! two thirds of the instructions of a `-p node` launch wherever a setting names one (npm's
//! `cafile`, `SSL_CERT_FILE`), on every launch. The extracted text is kept in mcpcell's own
//! state root (`$XDG_STATE_HOME/mcpcell/.ca-cache`), which no sandbox is granted, under a
//! name derived from the file's path and from its identity as the open descriptor shows it
//! (device, inode, size, modification and change times): any change to the file, or a link
//! that now points elsewhere, misses the cache. An entry holds the certificates as
//! [`pem::certificates`] wrote them and a last line with their number, so that a hit is
//! taken whole: no split into blocks, no join, no count (about 0.5M instructions for a
//! system bundle).
//!
//! The directory is used only when it is a real directory of the user's, closed to others;
//! entries are opened without following links and must be the user's regular files. Without
//! a usable directory the certificates are extracted as before. Entries of an older version
//! of a file are removed when the new one is written, so the cache holds one entry per path.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::pem;

/// Where the extracted certificates are kept; `None`: nowhere, extract every time.
pub struct CaCache {
    dir: Option<PathBuf>,
}

impl CaCache {
    /// The cache under `state_root`, created when the state root exists.
    pub fn open(state_root: Option<&Path>) -> CaCache {
        let dir = state_root.and_then(|root| {
            let dir = root.join(".ca-cache");
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(_) => return None,
            }
            let m = std::fs::symlink_metadata(&dir).ok()?;
            let private = m.is_dir() && m.uid() == euid() && m.mode() & 0o077 == 0;
            private.then_some(dir)
        });
        CaCache { dir }
    }

    /// No cache: extract every time (dry runs, which write nothing).
    pub fn none() -> CaCache {
        CaCache { dir: None }
    }

    /// The certificates in the file at `path` (see [`pem::certificates`]).
    pub fn certificates(&self, path: &Path) -> io::Result<pem::Certs> {
        let (file, meta) = pem::open_small(path)?;
        let Some(dir) = &self.dir else {
            return Ok(pem::certificates(&pem::read_open(file, &meta)?));
        };
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        let path_key = h.finish();
        (
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        )
            .hash(&mut h);
        let name = format!("{path_key:016x}-{:016x}.certs", h.finish());
        // Taken as it was written: no split into blocks, no join again, no count.
        if let Some(certs) = read_entry(&dir.join(&name)).and_then(pem::Certs::from_entry) {
            return Ok(certs);
        }
        let certs = pem::certificates(&pem::read_open(file, &meta)?);
        // A cache that cannot be written costs the next launch the extraction, nothing more.
        let _ = write_entry(dir, &name, &format!("{path_key:016x}-"), &certs.to_entry());
        Ok(certs)
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// An entry's bytes, if it is the user's own regular file.
fn read_entry(path: &Path) -> Option<Vec<u8>> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let m = f.metadata().ok()?;
    if !m.is_file() || m.uid() != euid() {
        return None;
    }
    pem::read_sized(&f, m.len()).ok()
}

/// Writes `text` as `name` (through a temporary file and a rename), and removes the other
/// entries of the same path (`prefix`).
fn write_entry(dir: &Path, name: &str, prefix: &str, text: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let written = f.write_all(text).and_then(|()| {
        drop(f);
        std::fs::rename(&tmp, dir.join(name))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    for e in std::fs::read_dir(dir)?.flatten() {
        let n = e.file_name();
        let n = n.to_string_lossy();
        if n.starts_with(prefix) && n != name {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(n: usize) -> String {
        pem::tests::CERT.repeat(n)
    }

    #[test]
    fn a_changed_file_misses_and_an_unchanged_one_hits() {
        let root = tempfile::tempdir().unwrap();
        let ca = root.path().join("ca.pem");
        std::fs::write(&ca, bundle(2)).unwrap();
        let cache = CaCache::open(Some(root.path()));
        let first = cache.certificates(&ca).unwrap();
        assert_eq!(first.count, 2);
        let entries = || {
            std::fs::read_dir(root.path().join(".ca-cache"))
                .unwrap()
                .count()
        };
        assert_eq!(entries(), 1);
        // A hit is served from the entry: change the entry, not the file, and see it.
        let entry = std::fs::read_dir(root.path().join(".ca-cache"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let one = pem::Certs {
            pem: first.blocks().next().unwrap().to_vec(),
            count: 1,
        };
        std::fs::write(&entry, one.to_entry()).unwrap();
        assert_eq!(
            cache.certificates(&ca).unwrap().count,
            1,
            "not served from the cache"
        );
        // The file changes: a miss, the new content, and the old entry gone.
        std::fs::write(&ca, bundle(3)).unwrap();
        assert_eq!(cache.certificates(&ca).unwrap().count, 3);
        assert_eq!(entries(), 1);
    }

    #[test]
    fn an_entry_that_is_a_link_is_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let ca = root.path().join("ca.pem");
        std::fs::write(&ca, bundle(2)).unwrap();
        let cache = CaCache::open(Some(root.path()));
        cache.certificates(&ca).unwrap();
        let entry = std::fs::read_dir(root.path().join(".ca-cache"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let other = root.path().join("other.pem");
        std::fs::write(&other, bundle(5)).unwrap();
        std::fs::remove_file(&entry).unwrap();
        std::os::unix::fs::symlink(&other, &entry).unwrap();
        assert_eq!(cache.certificates(&ca).unwrap().count, 2);
    }

    #[test]
    fn a_directory_open_to_others_is_not_used() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(".ca-cache");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        assert!(CaCache::open(Some(root.path())).dir.is_none());
        let ca = root.path().join("ca.pem");
        std::fs::write(&ca, bundle(1)).unwrap();
        assert_eq!(
            CaCache::open(Some(root.path()))
                .certificates(&ca)
                .unwrap()
                .count,
            1
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
}
