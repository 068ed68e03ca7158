//! Where servers were let write on earlier launches (promise 8: a server cannot loosen its
//! own cage, or another's). A link or a file a server planted while it could write a
//! directory stays there after that launch: a later launch that only reads that directory
//! (the same server with narrower options, or another server) must still not follow it to a
//! secret. So every launch records the host paths it lets its server write, and every launch
//! counts what is recorded as places where links and files may have been planted
//! ([`super::steer`]).
//!
//! The record is `$XDG_STATE_HOME/mcpcell/.written`, real paths separated by NUL bytes (a
//! path may hold a line break). It lies in the state directories' root, which no server may
//! write ([`super::trust`] refuses a writable grant that reaches it), under a name no state
//! directory can have (they never start with a dot). It only grows; deleting it forgets
//! what servers could have planted.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The record's name inside the state directories' root.
pub const NAME: &str = ".written";

/// The most of the record that is read: tens of thousands of paths.
pub const MAX: u64 = 4 << 20;

/// The record inside `state_root`.
pub fn file(state_root: &Path) -> PathBuf {
    state_root.join(NAME)
}

/// The paths recorded under `state_root`, and whether that was the whole record (false
/// past [`MAX`]). A record that does not exist holds nothing; one that cannot be read is an
/// error for the caller to show (the launch goes on: what is recorded only ever narrows it).
pub fn read(state_root: &Path) -> std::io::Result<(Vec<PathBuf>, bool)> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(file(state_root));
    let mut f = match f {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), true)),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    Read::by_ref(&mut f).take(MAX + 1).read_to_end(&mut bytes)?;
    let whole = bytes.len() as u64 <= MAX;
    bytes.truncate(MAX as usize);
    Ok((parse(&bytes), whole))
}

/// The absolute paths in `bytes`, NUL-separated; anything else (an empty or relative entry)
/// is skipped.
fn parse(bytes: &[u8]) -> Vec<PathBuf> {
    bytes
        .split(|&b| b == 0)
        .filter(|p| p.starts_with(b"/"))
        .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p)))
        .collect()
}

/// Of `paths`, those that no entry of `recorded` holds (at or above them), each once.
pub fn unrecorded<'a>(paths: &[&'a Path], recorded: &[PathBuf]) -> Vec<&'a Path> {
    let mut out: Vec<&Path> = Vec::new();
    for p in paths {
        if !recorded.iter().any(|r| p.starts_with(r)) && !out.iter().any(|o| p.starts_with(o)) {
            out.push(p);
        }
    }
    out
}

/// Adds `paths` to the record under `state_root` (which must exist), in one write: two
/// launches appending at once never interleave their entries.
pub fn append(state_root: &Path, paths: &[&Path]) -> std::io::Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let mut buf = Vec::new();
    for p in paths {
        buf.extend_from_slice(p.as_os_str().as_bytes());
        buf.push(0);
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(file(state_root))?
        .write_all(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_whole_paths_and_a_line_break_is_part_of_one() {
        let d = tempfile::tempdir().unwrap();
        assert!(read(d.path()).unwrap().0.is_empty());
        let a = d.path().join("proj");
        let b = d.path().join("x\ny");
        append(d.path(), &[&a, &b]).unwrap();
        append(d.path(), &[]).unwrap();
        append(d.path(), &[Path::new("/srv/data")]).unwrap();
        assert_eq!(
            read(d.path()).unwrap(),
            (vec![a, b, PathBuf::from("/srv/data")], true)
        );
        assert_eq!(parse(b"relative\0\0/a\0"), [PathBuf::from("/a")]);
    }

    #[test]
    fn a_record_past_its_limit_says_so() {
        let d = tempfile::tempdir().unwrap();
        let entry = b"/srv/a-project-of-some-length\0";
        let n = MAX as usize / entry.len();
        std::fs::write(file(d.path()), entry.repeat(n)).unwrap();
        assert!(read(d.path()).unwrap().1);
        append(d.path(), &[Path::new("/srv/over")]).unwrap();
        let (paths, whole) = read(d.path()).unwrap();
        assert!(!whole);
        assert!(!paths.contains(&PathBuf::from("/srv/over")));
    }

    #[test]
    fn what_a_recorded_path_holds_is_not_recorded_again() {
        let recorded = [PathBuf::from("/srv/proj")];
        let got = unrecorded(
            &[
                Path::new("/srv/proj/data"),
                Path::new("/srv/projx"),
                Path::new("/srv/projx/sub"),
                Path::new("/srv/proj"),
            ],
            &recorded,
        );
        assert_eq!(got, [Path::new("/srv/projx")]);
    }

    #[test]
    fn a_link_in_place_of_the_record_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, b"/etc\0").unwrap();
        std::os::unix::fs::symlink(&target, file(d.path())).unwrap();
        assert!(read(d.path()).is_err());
        assert!(append(d.path(), &[Path::new("/srv")]).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"/etc\0");
    }
}
