//! Programs looked up on a PATH while one plan is built: `filesystem.programs` and the
//! package settings both look for `node` and `npm` (-p node), and each is found once instead
//! of twice (a `statx` and an `access` per PATH entry tried, and the link resolution).

use std::cell::RefCell;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// A lookup: the name, the PATH and the directory relative entries start from.
type Key = (String, Option<OsString>, PathBuf);

/// A program found: where the PATH search found it, and the file that is, every link
/// resolved.
pub type Found = (PathBuf, PathBuf);

/// What one plan found, found or not.
#[derive(Debug, Default)]
pub struct Programs {
    found: RefCell<Vec<(Key, Option<Found>)>>,
}

impl Programs {
    /// `name` on `path_var` (relative entries from `cwd`): where it was found and its real
    /// path, every link resolved; `None` when it is not there.
    pub fn find(&self, name: &str, path_var: Option<&OsStr>, cwd: &Path) -> Option<Found> {
        let key = (
            name.to_string(),
            path_var.map(OsStr::to_os_string),
            cwd.to_path_buf(),
        );
        if let Some((_, found)) = self.found.borrow().iter().find(|(k, _)| *k == key) {
            return found.clone();
        }
        let found = which::which_in(name, path_var, cwd).ok().and_then(|found| {
            let real = crate::paths::real_path(&found).ok()?;
            Some((found, real))
        });
        self.found.borrow_mut().push((key, found.clone()));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn each_lookup_is_made_once_and_keyed_by_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).unwrap();
            let p = d.join("prog");
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let programs = Programs::default();
        let cwd = dir.path();
        let first = programs.find("prog", Some(a.as_os_str()), cwd);
        assert_eq!(first, Some((a.join("prog"), a.join("prog"))));
        // Gone since: the plan keeps what it found (one answer per plan).
        std::fs::remove_file(a.join("prog")).unwrap();
        assert_eq!(programs.find("prog", Some(a.as_os_str()), cwd), first);
        // Another PATH is another lookup.
        assert_eq!(
            programs.find("prog", Some(b.as_os_str()), cwd),
            Some((b.join("prog"), b.join("prog")))
        );
        assert_eq!(programs.find("missing", Some(b.as_os_str()), cwd), None);
        // A new plan looks again.
        assert_eq!(
            Programs::default().find("prog", Some(a.as_os_str()), cwd),
            None
        );
    }
}
