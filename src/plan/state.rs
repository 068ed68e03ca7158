//! `${STATE_DIR}`: one private directory per server, `$XDG_STATE_HOME/mcpcell/PROFILE/SERVER`.
//!
//! Two servers never share it, even under the same profile: what one writes there (a `.pth`
//! file in a Python user base, an `npmrc` with `node-options`) the other would run with its
//! own grants. SERVER is a readable slug of the command and a hash of the resolved command
//! path and its arguments, so the same server finds its caches again on the next run and any
//! other command gets a directory of its own. No part of the path comes from anything that
//! could leave its parent: each component is reduced to letters, digits, `-`, `_` and `.`,
//! and never starts with a dot. Each component is created 0700 and opened without following
//! links, and one that exists must be a directory of this user that no one else may write.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, mkdirat};
use sha2::{Digest, Sha256};

/// `s` as one path component: only letters, digits, `-`, `_`, `.`; never empty, never
/// starting with a dot (so never `.` or `..`), at most `max` bytes.
pub fn component(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// The last path component of `s`, for a readable slug (`@scope/pkg@1.2` → `pkg@1.2`).
fn base_name(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    s.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// An argument as the server will see it: a relative path that exists (a link counts, even
/// a dangling one) is made absolute, so that `node server.js` in two projects is two
/// servers. Made absolute by its name, `.` and `..` folded, never by following its links: a
/// server that may write its project could otherwise swap `notes` for a link to
/// `../other/notes` and take the other project's server's state directory on its next
/// launch, with what that server's launches run from there (a `.pth`, an npmrc).
fn canonical_arg(arg: &OsStr, cwd: &Path) -> OsString {
    let bytes = arg.as_bytes();
    if bytes.is_empty() || bytes.starts_with(b"/") || bytes.starts_with(b"-") {
        return arg.to_os_string();
    }
    let p = cwd.join(arg);
    if std::fs::symlink_metadata(&p).is_ok() {
        crate::paths::normalize(&p).into_os_string()
    } else {
        arg.to_os_string()
    }
}

/// The command as it will run: found on the host's PATH, with every link resolved.
fn canonical_command(first: &OsStr, cwd: &Path, path_var: Option<&OsStr>) -> OsString {
    let found = if first.as_bytes().contains(&b'/') {
        Some(cwd.join(first))
    } else {
        which::which_in(first, path_var, cwd).ok()
    };
    found
        .and_then(|p| super::fs::real_path(&p).ok())
        .map(PathBuf::into_os_string)
        .unwrap_or_else(|| first.to_os_string())
}

/// The server's identity: `SLUG-HASH`, HASH the first 64 bits of the SHA-256 of the
/// canonical command and arguments.
pub fn server_id(argv: &[OsString], cwd: &Path, path_var: Option<&OsStr>) -> String {
    let Some(first) = argv.first() else {
        return "no-command".into();
    };
    let mut h = Sha256::new();
    let mut feed = |part: &OsStr| {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    };
    feed(&canonical_command(first, cwd, path_var));
    for a in &argv[1..] {
        feed(&canonical_arg(a, cwd));
    }
    let digest = h.finalize();
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let mut slug = base_name(first);
    if let Some(arg) = argv[1..]
        .iter()
        .find(|a| !a.as_bytes().starts_with(b"-") && !a.is_empty())
    {
        slug.push('-');
        slug.push_str(&base_name(arg));
    }
    format!("{}-{hash}", component(&slug, 40))
}

/// Why the state directory could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("failed to create {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is a symbolic link or not a directory; mcpcell keeps server state only in real directories: remove it",
        path.display()
    )]
    NotDir { path: PathBuf },
    #[error(
        "{} belongs to uid {uid}, not to this user ({me}); someone else could have put files there: remove it",
        path.display()
    )]
    Owner { path: PathBuf, uid: u32, me: u32 },
    #[error(
        "{} can be written by other users (mode {mode:o}); someone else could have put files there: remove it or chmod 700 it",
        path.display()
    )]
    Mode { path: PathBuf, mode: u32 },
}

/// Creates (or checks) `state_home/rel[0]/rel[1]/...`: `state_home` itself may be a link
/// (it is the user's setting), nothing below it may be.
pub fn prepare(state_home: &Path, rel: &[&str]) -> Result<PathBuf, StateError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: Errno| StateError::Io {
            path,
            source: e.into(),
        }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_home)
        .map_err(|source| StateError::Io {
            path: state_home.to_path_buf(),
            source,
        })?;
    let (mut fd, mut path): (OwnedFd, PathBuf) =
        super::fs::open_real(state_home).map_err(io(state_home))?;
    let me = nix::unistd::geteuid().as_raw();
    for name in rel {
        path.push(name);
        match mkdirat(&fd, *name, Mode::from_bits_truncate(0o700)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let next = openat(&fd, *name, flags, Mode::empty()).map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => StateError::NotDir { path: path.clone() },
            e => io(&path)(e),
        })?;
        let st = nix::sys::stat::fstat(next.as_fd()).map_err(io(&path))?;
        if st.st_uid != me {
            return Err(StateError::Owner {
                path,
                uid: st.st_uid,
                me,
            });
        }
        let mode = st.st_mode & 0o7777;
        if mode & 0o022 != 0 {
            return Err(StateError::Mode { path, mode });
        }
        if mode & 0o077 != 0 {
            // Readable by others: this user's own directory, made private.
            let f = File::from(next.try_clone().map_err(|e| StateError::Io {
                path: path.clone(),
                source: e,
            })?);
            nix::sys::stat::fchmod(&f, Mode::from_bits_truncate(0o700)).map_err(io(&path))?;
        }
        fd = next;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_never_leave_their_parent() {
        for (given, want) in [
            ("..", "_.."),
            (".", "_."),
            ("", "_"),
            ("a/../b", "a_.._b"),
            ("my\nprofile file", "my_profile_file"),
            ("node", "node"),
        ] {
            assert_eq!(component(given, 40), want);
        }
    }

    #[test]
    fn servers_differ_by_command_and_arguments() {
        let cwd = Path::new("/");
        let a: Vec<OsString> = ["/bin/sh", "-c", "a"].iter().map(Into::into).collect();
        let b: Vec<OsString> = ["/bin/sh", "-c", "b"].iter().map(Into::into).collect();
        let ida = server_id(&a, cwd, None);
        assert_eq!(ida, server_id(&a, cwd, None));
        assert_ne!(ida, server_id(&b, cwd, None));
        assert!(ida.starts_with("sh-a-"), "{ida}");
        // Argument boundaries count: ["ab"] is not ["a", "b"].
        let c: Vec<OsString> = ["/bin/sh", "ab"].iter().map(Into::into).collect();
        let d: Vec<OsString> = ["/bin/sh", "a", "b"].iter().map(Into::into).collect();
        assert_ne!(server_id(&c, cwd, None), server_id(&d, cwd, None));
    }

    #[test]
    fn a_relative_argument_is_named_by_its_project_not_where_its_links_lead() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let (a, b) = (root.join("a"), root.join("b"));
        for p in [&a, &b] {
            std::fs::create_dir(p).unwrap();
            std::fs::write(p.join("notes"), "").unwrap();
        }
        let argv: Vec<OsString> = ["/bin/sh", "srv", "notes"].iter().map(Into::into).collect();
        let (ida, idb) = (server_id(&argv, &a, None), server_id(&argv, &b, None));
        assert_ne!(ida, idb, "two projects, two servers");
        // A's server swaps its notes for a link to B's: still A's server.
        std::fs::remove_file(a.join("notes")).unwrap();
        std::os::unix::fs::symlink("../b/notes", a.join("notes")).unwrap();
        assert_eq!(server_id(&argv, &a, None), ida);
        // Dangling, too.
        std::fs::remove_file(a.join("notes")).unwrap();
        std::os::unix::fs::symlink("../b/gone", a.join("notes")).unwrap();
        assert_eq!(server_id(&argv, &a, None), ida);
        // `.` and `..` are folded: the same file named two ways is one server.
        let dotted: Vec<OsString> = ["/bin/sh", "srv", "../b/./notes"]
            .iter()
            .map(Into::into)
            .collect();
        assert_eq!(server_id(&dotted, &a, None), idb);
    }

    #[test]
    fn links_and_foreign_modes_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("state");
        let made = prepare(&home, &["mcpcell", "p", "s"]).unwrap();
        assert!(made.is_dir());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A link in place of a component.
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, home.join("mcpcell/q")).unwrap();
        assert!(matches!(
            prepare(&home, &["mcpcell", "q", "s"]),
            Err(StateError::NotDir { .. })
        ));
        assert!(!elsewhere.join("s").exists());
        // Writable by others.
        std::fs::set_permissions(
            home.join("mcpcell/p"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        assert!(matches!(
            prepare(&home, &["mcpcell", "p", "s"]),
            Err(StateError::Mode { .. })
        ));
    }
}
