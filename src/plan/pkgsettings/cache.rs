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
//! A certificate directory (OpenSSL's `SSL_CERT_DIR`, about 150 files and as many hashed
//! links on a Debian system) is one entry, named from the directory's path and from the
//! identity of every file in it as `stat` shows it: a file added, removed, replaced or
//! changed in place misses the cache. Reading and extracting each file on every launch was
//! 29 million instructions (7–12 ms) of a `-p python` launch wherever `SSL_CERT_DIR` is set.
//!
//! The directory is used only when it is a real directory of the user's, closed to others;
//! entries are opened without following links and must be the user's regular files. Without
//! a usable directory the certificates are extracted as before. Entries of an older version
//! of a file are removed when the new one is written, so the cache holds one entry per path.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
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
    pub fn certificates(&self, path: &Path) -> io::Result<Found> {
        let (file, meta) = pem::open_small(path)?;
        let Some(dir) = &self.dir else {
            return Ok(Found::Certs(
                pem::certificates(&pem::read_open(file, &meta)?),
                None,
            ));
        };
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        let path_key = h.finish();
        identity(&meta).hash(&mut h);
        let name = format!("{path_key:016x}-{:016x}.certs", h.finish());
        // Taken as it was written, and not even read yet: no split into blocks, no join
        // again, no count.
        if let Some(entry) = Entry::open(&dir.join(&name)) {
            return Ok(Found::Entry(entry));
        }
        let certs = pem::certificates(&pem::read_open(file, &meta)?);
        // A cache that cannot be written costs the next launch the extraction, nothing more.
        let _ = write_entry(dir, &name, &format!("{path_key:016x}-"), &certs.to_entry());
        Ok(Found::Certs(certs, Some(name)))
    }

    /// The certificates of the files in the directory `dir` (`SSL_CERT_DIR`): each file once
    /// however many names it has (`NAME.pem` and OpenSSL's `HASH.0` links to it), in name
    /// order, and each certificate once. Files that cannot be read are skipped, as before.
    pub fn dir_certificates(&self, dir: &Path) -> Found {
        let Some(cache) = &self.dir else {
            return Found::Certs(extract_all(&dir_files(dir)), None);
        };
        let mut h = DefaultHasher::new();
        ("directory", dir).hash(&mut h);
        let path_key = h.finish();
        let key = dir_identity(dir);
        let files = match key {
            Some(key) => {
                key.hash(&mut h);
                None
            }
            // More names than are read, or a listing that failed: the identity of the files
            // that are read.
            None => {
                let files = dir_files(dir);
                for (f, m) in &files {
                    (f.file_name(), identity(m)).hash(&mut h);
                }
                Some(files)
            }
        };
        let name = format!("{path_key:016x}-{:016x}.certs", h.finish());
        if let Some(entry) = Entry::open(&cache.join(&name)) {
            return Found::Entry(entry);
        }
        let certs = extract_all(&files.unwrap_or_else(|| dir_files(dir)));
        // Changed while it was read: what was read is not kept under a key that says
        // otherwise (a file added and removed again would then be served from the cache).
        if key.is_some() && dir_identity(dir) != key {
            return Found::Certs(certs, None);
        }
        let _ = write_entry(
            cache,
            &name,
            &format!("{path_key:016x}-"),
            &certs.to_entry(),
        );
        Found::Certs(certs, Some(name))
    }

    /// The entry that holds the merge of the sources whose entries are named `parts` (one
    /// bundle made of several CA files or directories), and the name it has or would have.
    /// The parts' names carry their sources' identities, so a change to any source misses.
    pub fn merged(&self, bundle: &str, parts: &[&str]) -> (Option<Entry>, Option<String>) {
        let Some(dir) = &self.dir else {
            return (None, None);
        };
        let mut h = DefaultHasher::new();
        ("merged", bundle).hash(&mut h);
        let path_key = h.finish();
        parts.hash(&mut h);
        let name = format!("{path_key:016x}-{:016x}.certs", h.finish());
        (Entry::open(&dir.join(&name)), Some(name))
    }

    /// Keeps the `count` certificates of `pem` as the entry `name` that [`CaCache::merged`]
    /// gave (older merges of the same bundle are removed).
    pub fn keep_merged(&self, name: &str, pem: &[u8], count: usize) {
        if let Some(dir) = &self.dir {
            let prefix = &name[..name.find('-').map_or(0, |i| i + 1)];
            let _ = write_entry(dir, name, prefix, &pem::entry(pem, count));
        }
    }
}

/// The most files of a certificate directory that are read (a system one has ~300 names).
const MAX_DIR_FILES: usize = 4096;

/// The regular files of `dir`, each once (by device and inode), in name order, with what
/// `stat` shows of them (links followed, as OpenSSL follows them).
fn dir_files(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    // Sorted by the names' bytes, as `ls` in the C locale: comparing whole paths component
    // by component cost more than reading the cached entry.
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    names.sort_unstable();
    let mut seen = HashSet::new();
    names
        .into_iter()
        .take(MAX_DIR_FILES)
        .filter_map(|n| {
            let f = dir.join(n);
            let m = std::fs::metadata(&f).ok()?;
            (m.is_file() && seen.insert((m.dev(), m.ino()))).then_some((f, m))
        })
        .collect()
}

/// What tells one version of the directory `dir` from another, when it has at most
/// [`MAX_DIR_FILES`] names and can be listed without an error: every name that is a regular file (links followed) with that
/// file's identity. Each name's part is hashed on its own and the parts are added, so the
/// listing's order does not matter: no sort, no joined paths, and each `stat` is made
/// relative to the directory. For the 292 names of a Debian system's /etc/ssl/certs a
/// `-p python` launch's package settings took 1.09M instructions with them and 0.26M without
/// (bench/ANALYSIS.md §1.19).
fn dir_identity(dir: &Path) -> Option<u64> {
    use nix::fcntl::{AtFlags, OFlag};
    use nix::sys::stat::{Mode, SFlag, fstatat};
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut d = nix::dir::Dir::open(dir, flags, Mode::empty()).ok()?;
    // SAFETY: `d` owns the descriptor and outlives every use of this borrow below.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(std::os::fd::AsRawFd::as_raw_fd(&d)) };
    let mut sum = 0u64;
    let mut names = 0;
    for e in d.iter() {
        // An error ends the listing: another read could fail again, and again (a stale
        // network mount).
        let e = e.ok()?;
        let name = e.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        names += 1;
        if names > MAX_DIR_FILES {
            return None;
        }
        let Ok(st) = fstatat(fd, name, AtFlags::empty()) else {
            continue;
        };
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            continue;
        }
        // The name, then its file's identity as one block: two writes to the hasher, not
        // nine (a name cannot hold the NUL that ends it, and the identity's length is fixed).
        let mut id = [0u8; 56];
        let fields = [
            st.st_dev,
            st.st_ino,
            st.st_size as u64,
            st.st_mtime as u64,
            st.st_mtime_nsec as u64,
            st.st_ctime as u64,
            st.st_ctime_nsec as u64,
        ];
        for (chunk, f) in id.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&f.to_ne_bytes());
        }
        let mut h = DefaultHasher::new();
        h.write(name.to_bytes_with_nul());
        h.write(&id);
        sum = sum.wrapping_add(h.finish());
    }
    Some(sum)
}

/// The certificates of `files`, each certificate once, in order.
fn extract_all(files: &[(PathBuf, std::fs::Metadata)]) -> pem::Certs {
    let mut seen = HashSet::new();
    let mut out = pem::Certs::default();
    for (f, _) in files {
        let text = pem::read_small(f).unwrap_or_default();
        for c in pem::certificates(&text).blocks() {
            if seen.insert(c.to_vec()) {
                out.pem.extend_from_slice(c);
                out.count += 1;
            }
        }
    }
    out
}

/// What tells one version of a file from another: device, inode, size, modification and
/// change times (a rewrite in place changes the change time even when it keeps the mtime).
fn identity(m: &std::fs::Metadata) -> (u64, u64, u64, i64, i64, i64, i64) {
    (
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// What [`CaCache::certificates`] found.
pub enum Found {
    /// Extracted from the file, and the name of the entry they are now kept in.
    Certs(pem::Certs, Option<String>),
    /// Kept from an earlier launch.
    Entry(Entry),
}

impl Found {
    /// How many certificates were found.
    pub fn count(&self) -> usize {
        match self {
            Found::Certs(c, _) => c.count,
            Found::Entry(e) => e.count,
        }
    }

    /// The name of the cache entry that holds them, if they are kept.
    pub fn key(&self) -> Option<&str> {
        match self {
            Found::Certs(_, key) => key.as_deref(),
            Found::Entry(e) => Some(&e.name),
        }
    }

    /// The certificates, read from the entry if they are in one.
    pub fn into_certs(self) -> io::Result<pem::Certs> {
        match self {
            Found::Certs(c, _) => Ok(c),
            Found::Entry(e) => Ok(pem::Certs {
                pem: e.read()?,
                count: e.count,
            }),
        }
    }
}

/// A cache entry, open: its blocks are its first `len` bytes. Read only when they are
/// needed: a launch whose state directory already holds the same bundle only compares the
/// two files 32 KiB at a time (see [`super::install`]), where a whole copy of a system
/// bundle in fresh memory cost about 54 page faults and an unmap.
#[derive(Debug)]
pub struct Entry {
    file: std::fs::File,
    len: u64,
    pub count: usize,
    /// Its file name in the cache.
    name: String,
}

impl Entry {
    /// The entry at `path`, if it is the user's own regular file and ends as an entry does.
    fn open(path: &Path) -> Option<Entry> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
            .ok()?;
        let m = file.metadata().ok()?;
        if !m.is_file() || m.uid() != euid() {
            return None;
        }
        // The last `END` line and the number after it.
        let mut tail = [0u8; 64];
        let tail_len = m.len().min(tail.len() as u64);
        let tail = &mut tail[..tail_len as usize];
        file.read_exact_at(tail, m.len() - tail_len).ok()?;
        let (at, count) = pem::entry_end(tail)?;
        Some(Entry {
            file,
            len: m.len() - tail_len + at as u64,
            count,
            name: path.file_name()?.to_str()?.to_string(),
        })
    }

    /// The length of the blocks.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The blocks, from the start whatever was read before.
    pub fn reader(&self) -> impl Read + '_ {
        ReadAt {
            file: &self.file,
            at: 0,
            left: self.len,
        }
    }

    /// The blocks, whole (an entry cut short since it was opened is an error).
    pub fn read(&self) -> io::Result<Vec<u8>> {
        let mut out = vec![0; self.len as usize];
        self.reader().read_exact(&mut out)?;
        Ok(out)
    }
}

/// The `left` bytes of `file` from `at`, read with `pread`.
struct ReadAt<'a> {
    file: &'a std::fs::File,
    at: u64,
    left: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.left.min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
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
pub(super) mod tests {
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
        let count = |f: Found| f.into_certs().unwrap().count;
        let first = cache.certificates(&ca).unwrap().into_certs().unwrap();
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
            count(cache.certificates(&ca).unwrap()),
            1,
            "not served from the cache"
        );
        // The file changes: a miss, the new content, and the old entry gone.
        std::fs::write(&ca, bundle(3)).unwrap();
        assert_eq!(count(cache.certificates(&ca).unwrap()), 3);
        assert_eq!(entries(), 1);
    }

    #[test]
    fn a_hit_is_left_in_its_entry_and_read_whole() {
        let root = tempfile::tempdir().unwrap();
        let ca = root.path().join("ca.pem");
        std::fs::write(&ca, bundle(3)).unwrap();
        let cache = CaCache::open(Some(root.path()));
        assert!(matches!(cache.certificates(&ca).unwrap(), Found::Certs(..)));
        let Found::Entry(e) = cache.certificates(&ca).unwrap() else {
            panic!("not a hit");
        };
        assert_eq!((e.count, e.len()), (3, bundle(3).len() as u64));
        // Read twice, from the start each time, and only the blocks.
        assert_eq!(e.read().unwrap(), bundle(3).as_bytes());
        let mut again = Vec::new();
        e.reader().read_to_end(&mut again).unwrap();
        assert_eq!(again, bundle(3).as_bytes());
        // Cut short under the open entry: an error, not a short bundle.
        let entry = std::fs::read_dir(root.path().join(".ca-cache"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&entry)
            .unwrap()
            .set_len(100)
            .unwrap();
        assert!(e.read().is_err());
    }

    #[test]
    fn a_directory_with_more_names_than_are_read_is_still_kept_and_checked() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("many");
        std::fs::create_dir(&dir).unwrap();
        for i in 0..=MAX_DIR_FILES {
            std::fs::write(dir.join(format!("n{i:05}")), "").unwrap();
        }
        // The first name in order, so among the names read.
        std::fs::write(dir.join("a.pem"), pem::tests::CERT).unwrap();
        let cache = CaCache::open(Some(root.path()));
        let text = |f: Found| String::from_utf8(f.into_certs().unwrap().pem).unwrap();
        assert_eq!(text(cache.dir_certificates(&dir)), pem::tests::CERT);
        assert!(matches!(cache.dir_certificates(&dir), Found::Entry(_)));
        append(&dir.join("a.pem"), OTHER);
        let both = format!("{}{OTHER}", pem::tests::CERT);
        assert_eq!(text(cache.dir_certificates(&dir)), both);
    }

    // A second real certificate (openssl req -x509 -newkey ec ... -subj /CN=u).
    pub const OTHER: &str = "-----BEGIN CERTIFICATE-----
MIIBbTCCAROgAwIBAgIUZ4Q8QtuRNa4G85AP6CYUpuC/ZCEwCgYIKoZIzj0EAwIw
DDEKMAgGA1UEAwwBdTAeFw0yNjEyMDIxMzAxMzBaFw0zNjExMjkxMzAxMzBaMAwx
CjAIBgNVBAMMAXUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQn3ZEngF8qRueT
vc/GCxGmBV4PAg4T7LgAzFFHyoZXp97BvHn0LGr44e3iY7j06Wj7VnLqsAEzeXvl
tXi/Dktuo1MwUTAdBgNVHQ4EFgQUW+aGBZNcQHhleoaPv6ZzeDi5LnwwHwYDVR0j
BBgwFoAUW+aGBZNcQHhleoaPv6ZzeDi5LnwwDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNIADBFAiAwNyRimYVqjsqYCTDLDikgmZxyHNt7GHaYb2zuYXbefgIh
AONvnzEn/jKOSo2f9tTlZU9qhDAo/hgvdCsYq8c0BaDG
-----END CERTIFICATE-----
";

    /// Writes `text` at the end of the file at `path`: a change in place.
    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    /// A certificate directory as Debian's: files, OpenSSL's hashed links to them, a bundle
    /// that repeats them, and a file that holds no certificate.
    fn cert_dir(root: &Path) -> PathBuf {
        let dir = root.join("certs");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("t.pem"), pem::tests::CERT).unwrap();
        std::os::unix::fs::symlink("t.pem", dir.join("1a2b3c4d.0")).unwrap();
        std::fs::write(dir.join("bundle.crt"), pem::tests::CERT).unwrap();
        std::fs::write(dir.join("README"), "not a certificate\n").unwrap();
        dir
    }

    #[test]
    fn a_certificate_directory_is_one_entry_and_any_change_misses() {
        let root = tempfile::tempdir().unwrap();
        let dir = cert_dir(root.path());
        let cache = CaCache::open(Some(root.path()));
        let text = |f: Found| String::from_utf8(f.into_certs().unwrap().pem).unwrap();
        let both = format!("{}{OTHER}", pem::tests::CERT);
        // Each certificate once, however many names and files hold it.
        assert_eq!(text(cache.dir_certificates(&dir)), pem::tests::CERT);
        let entries = || -> Vec<PathBuf> {
            std::fs::read_dir(root.path().join(".ca-cache"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        };
        assert_eq!(entries().len(), 1);
        // A hit is served from the entry: change the entry, not the directory, and see it.
        let other = pem::Certs {
            pem: OTHER.as_bytes().to_vec(),
            count: 1,
        };
        std::fs::write(&entries()[0], other.to_entry()).unwrap();
        assert_eq!(
            text(cache.dir_certificates(&dir)),
            OTHER,
            "not served from the cache"
        );
        // A file changed in place (same name, same inode): a miss, and the new content.
        append(&dir.join("bundle.crt"), OTHER);
        assert_eq!(text(cache.dir_certificates(&dir)), both);
        assert_eq!(entries().len(), 1, "the older entry is removed");
        // A file removed: its certificates go.
        std::fs::remove_file(dir.join("bundle.crt")).unwrap();
        assert_eq!(text(cache.dir_certificates(&dir)), pem::tests::CERT);
        // A file added: its certificates come.
        std::fs::write(dir.join("u.pem"), OTHER).unwrap();
        assert_eq!(text(cache.dir_certificates(&dir)), both);
        // Without a cache, the same answer.
        assert_eq!(text(CaCache::none().dir_certificates(&dir)), both);
        // A link to a file outside the directory, whose file then changes in place: the
        // link's target is what counts (links are followed, as OpenSSL follows them).
        std::fs::remove_file(dir.join("u.pem")).unwrap();
        let outside = root.path().join("outside.pem");
        std::fs::write(&outside, OTHER).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("5e6f7a8b.0")).unwrap();
        assert_eq!(text(cache.dir_certificates(&dir)), both);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&outside)
            .unwrap()
            .write_all(pem::tests::CERT.as_bytes())
            .unwrap();
        assert_eq!(text(cache.dir_certificates(&dir)), pem::tests::CERT);
        assert_eq!(
            CaCache::none()
                .dir_certificates(&root.path().join("none"))
                .count(),
            0
        );
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
        assert_eq!(
            cache.certificates(&ca).unwrap().into_certs().unwrap().count,
            2
        );
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
                .into_certs()
                .unwrap()
                .count,
            1
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
}
