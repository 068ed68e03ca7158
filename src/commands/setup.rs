//! `mcpcell setup apparmor`: Ubuntu (23.10 and later) lets a program create user namespaces
//! with capabilities only when an AppArmor profile grants it `userns` (the sysctl
//! `kernel.apparmor_restrict_unprivileged_userns`). This writes such a profile for the
//! installed binary, as Ubuntu itself ships for bubblewrap, loads it, and removes it again;
//! `doctor` reports the restriction and whether the profile is loaded.

use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

use crate::cli::SetupApparmorArgs;

/// Where the profile goes; `local/mcpcell` may add rules of the administrator's own.
const PROFILE_FILE: &str = "/etc/apparmor.d/mcpcell";
const RESTRICT_SYSCTL: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
const LOADED_PROFILES: &str = "/sys/kernel/security/apparmor/profiles";
/// The profile's name, as `aa-status` and the loaded-profile list show it.
const PROFILE_NAME: &str = "mcpcell";

#[derive(Debug, Error)]
pub enum SetupError {
    #[error(transparent)]
    Output(#[from] super::OutputError),
    #[error(
        "writing {PROFILE_FILE} needs root: run `sudo mcpcell setup apparmor{}` (or --print to see the profile)",
        if *.0 { " --remove" } else { "" }
    )]
    NotRoot(bool),
    #[error("cannot find the path of the mcpcell binary: {0}")]
    OwnPath(std::io::Error),
    #[error(
        "{path}: {why}; an AppArmor profile cannot name this path safely, so none was written. Install mcpcell under a plain path (for example /usr/local/bin/mcpcell) and run setup again"
    )]
    Path { path: String, why: String },
    #[error(
        "{path}: {why}, so the profile would grant user namespaces to whatever program is put there; none was written. Install mcpcell where only root can change it (`sudo install -m 755 {bin} /usr/local/bin/`) and run `sudo /usr/local/bin/mcpcell setup apparmor`"
    )]
    Replaceable {
        path: String,
        why: String,
        bin: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("apparmor_parser {args} failed ({status}): {stderr}")]
    Parser {
        args: String,
        status: String,
        stderr: String,
    },
}

/// The profile text for the binary at `bin` (an absolute, already resolved path).
///
/// The path goes into a quoted AppArmor string. Inside quotes AppArmor still reads `\` escapes,
/// glob characters (`* ? [ ] { } ^`, a path with them would attach the grant to other
/// programs) and `@{...}` variables, and a `"` or a line break would end the string and let the
/// rest of the path add rules. So the path may hold only characters that mean nothing there;
/// anything else is refused rather than escaped.
pub fn profile_text(bin: &str) -> Result<String, SetupError> {
    let refuse = |why: String| SetupError::Path {
        path: crate::escape::terminal(bin).into_owned(),
        why,
    };
    if !bin.starts_with('/') {
        return Err(refuse("not an absolute path".into()));
    }
    if let Some(c) = bin
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/._-+~,=: ".contains(*c)))
    {
        return Err(refuse(format!(
            "it holds {}, which AppArmor's profile syntax would read as more than a path (only letters, digits, space and / . _ - + ~ , = : are accepted)",
            crate::escape::terminal(&format!("{c:?}"))
        )));
    }
    if bin.contains("//") || bin.split('/').any(|s| s == "." || s == "..") {
        return Err(refuse("it is not a canonical path".into()));
    }
    Ok(format!(
        "# Written by `mcpcell setup apparmor`: lets mcpcell create user namespaces with\n\
         # capabilities where kernel.apparmor_restrict_unprivileged_userns=1 (Ubuntu 23.10 and\n\
         # later), as Ubuntu's own profile does for bubblewrap. mcpcell stays unconfined otherwise.\n\
         # Remove it with `sudo mcpcell setup apparmor --remove`.\n\
         abi <abi/4.0>,\n\
         include <tunables/global>\n\
         \n\
         profile {PROFILE_NAME} \"{bin}\" flags=(unconfined) {{\n\
         \x20 userns,\n\
         \n\
         \x20 # Site-specific additions and overrides.\n\
         \x20 include if exists <local/{PROFILE_NAME}>\n\
         }}\n"
    ))
}

/// The grant follows the path, not the file: whoever can put another program at `bin` gets
/// user namespaces with capabilities for it (Ubuntu's restriction undone). So the file and
/// every directory on its way must be root's, not writable by any other user (a group write
/// by group 0 is root's; a sticky directory keeps others from renaming root's entries), and
/// none may be a link (the profile attaches to the real path, which a link could change).
fn only_root_can_replace(bin: &Path) -> Result<(), SetupError> {
    use std::os::unix::fs::MetadataExt;
    let show = |p: &Path| crate::escape::terminal(&p.to_string_lossy()).into_owned();
    let refuse = |p: &Path, why: String| SetupError::Replaceable {
        path: show(p),
        why,
        bin: show(bin),
    };
    let mut here = PathBuf::from("/");
    let mut parts = bin.components().skip(1).peekable();
    loop {
        let meta = std::fs::symlink_metadata(&here).map_err(|source| SetupError::Io {
            path: show(&here),
            source,
        })?;
        let last = parts.peek().is_none();
        let ft = meta.file_type();
        if ft.is_symlink() {
            return Err(refuse(
                &here,
                "is a symbolic link (name the real path)".into(),
            ));
        }
        if last && !ft.is_file() {
            return Err(refuse(&here, "is not a regular file".into()));
        }
        if meta.uid() != 0 {
            return Err(refuse(
                &here,
                format!(
                    "belongs to uid {}, who could replace the binary",
                    meta.uid()
                ),
            ));
        }
        let mode = meta.mode();
        let sticky = ft.is_dir() && mode & 0o1000 != 0;
        if mode & 0o002 != 0 && !sticky {
            return Err(refuse(&here, "is writable by every user".into()));
        }
        if has_acl(&here) {
            return Err(refuse(
                &here,
                "has an access control list (`getfacl` shows it), whose entries may let other users write it".into(),
            ));
        }
        if mode & 0o020 != 0 && meta.gid() != 0 && !sticky {
            return Err(refuse(
                &here,
                format!("is writable by group {}", meta.gid()),
            ));
        }
        match parts.next() {
            Some(c) => here.push(c),
            None => return Ok(()),
        }
    }
}

/// Whether `p` has an extended access ACL (a minimal one is the mode bits alone, with no
/// attribute): named users and groups in it may write where the mode says they may not.
fn has_acl(p: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: NUL-terminated path and name; a null buffer of size 0 asks for the size only.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            c"system.posix_acl_access".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    n > 0
}

/// The real path of this binary (links resolved), as AppArmor attaches profiles by it.
fn own_path() -> Result<String, SetupError> {
    let exe = std::env::current_exe().map_err(SetupError::OwnPath)?;
    let real = std::fs::canonicalize(&exe).map_err(SetupError::OwnPath)?;
    real.into_os_string()
        .into_string()
        .map_err(|p| SetupError::Path {
            path: crate::escape::terminal(&p.to_string_lossy()).into_owned(),
            why: "it is not valid UTF-8".into(),
        })
}

fn apparmor_parser() -> Option<PathBuf> {
    ["/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn parser(args: &[&str]) -> Result<(), SetupError> {
    let Some(bin) = apparmor_parser() else {
        return Ok(());
    };
    let out = Command::new(&bin)
        .args(args)
        .output()
        .map_err(|source| SetupError::Io {
            path: bin.display().to_string(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(SetupError::Parser {
        args: args.join(" "),
        status: out.status.to_string(),
        stderr: crate::escape::terminal(String::from_utf8_lossy(&out.stderr).trim()).into_owned(),
    })
}

/// Says what it did on stderr; only `--print` writes to stdout.
pub fn apparmor(args: SetupApparmorArgs) -> Result<i32, SetupError> {
    let bin = match &args.binary {
        Some(b) => b.to_string_lossy().into_owned(),
        None => own_path()?,
    };
    if args.print {
        let text = profile_text(&bin)?;
        super::print(text.as_bytes())?;
        return Ok(0);
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(SetupError::NotRoot(args.remove));
    }
    let file = Path::new(PROFILE_FILE);
    if args.remove {
        if file.exists() {
            if loaded() == Some(true) {
                parser(&["-R", PROFILE_FILE])?;
            }
            std::fs::remove_file(file).map_err(|source| SetupError::Io {
                path: PROFILE_FILE.into(),
                source,
            })?;
            say!("mcpcell: removed {PROFILE_FILE} and unloaded its profile");
        } else {
            say!("mcpcell: {PROFILE_FILE} does not exist; nothing to remove");
        }
        return Ok(0);
    }
    let text = profile_text(&bin)?;
    only_root_can_replace(Path::new(&bin))?;
    std::fs::write(file, text).map_err(|source| SetupError::Io {
        path: PROFILE_FILE.into(),
        source,
    })?;
    say!(
        "mcpcell: wrote {PROFILE_FILE}: user namespaces for {}",
        crate::escape::terminal(&bin)
    );
    if apparmor_parser().is_none() {
        say!(
            "mcpcell: apparmor_parser is not installed, so the profile is not loaded; it loads at the next boot, or now with `sudo apparmor_parser -r {PROFILE_FILE}`"
        );
    } else if enabled() {
        parser(&["-r", PROFILE_FILE])?;
        say!("mcpcell: loaded it (apparmor_parser -r); `mcpcell doctor` shows it");
    } else {
        say!("mcpcell: AppArmor is not enabled in this kernel, so the profile is not loaded");
    }
    say!(
        "mcpcell: to undo: sudo mcpcell setup apparmor --remove. If mcpcell moves, run setup again: the profile names this path"
    );
    Ok(0)
}

fn enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Whether the `mcpcell` profile is loaded; None where the list cannot be read (not root).
fn loaded() -> Option<bool> {
    let list = std::fs::read_to_string(LOADED_PROFILES).ok()?;
    Some(
        list.lines()
            .any(|l| l.split(" (").next() == Some(PROFILE_NAME)),
    )
}

/// `doctor`'s line about Ubuntu's restriction, where the kernel has it.
pub fn apparmor_status() -> Option<String> {
    let restricted = std::fs::read_to_string(RESTRICT_SYSCTL).ok()?.trim() == "1";
    if !restricted {
        return Some(
            "kernel.apparmor_restrict_unprivileged_userns=0: AppArmor does not restrict user namespaces here".into(),
        );
    }
    Some(match loaded() {
        Some(true) => "kernel.apparmor_restrict_unprivileged_userns=1, and the `mcpcell` AppArmor profile is loaded: it grants mcpcell user namespaces (if it names this binary's path; `mcpcell setup apparmor --print` shows what it would write)".into(),
        Some(false) => "kernel.apparmor_restrict_unprivileged_userns=1 and no `mcpcell` AppArmor profile is loaded: user namespaces come without capabilities, so launches use the namespace-free tier. To use full namespaces: `sudo mcpcell setup apparmor` (undo: `sudo mcpcell setup apparmor --remove`)".into(),
        None => "kernel.apparmor_restrict_unprivileged_userns=1 (whether a `mcpcell` profile is loaded cannot be read by this user; `sudo aa-status` shows it): without one, user namespaces come without capabilities and launches use the namespace-free tier. To use full namespaces: `sudo mcpcell setup apparmor` (undo: --remove)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn refused(p: &Path) -> String {
        match only_root_can_replace(p) {
            Err(SetupError::Replaceable { why, .. }) => why,
            other => panic!("{}: {other:?}", p.display()),
        }
    }

    #[test]
    fn a_binary_only_root_can_replace_is_accepted_and_others_are_refused() {
        // A system binary: root's all the way (the check passes where it should).
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        only_root_can_replace(&sh).unwrap();
        // A link on the way (/bin/sh is one on every system with /bin merged into /usr).
        if sh != Path::new("/bin/sh") {
            assert!(refused(Path::new("/bin/sh")).contains("symbolic link"));
        }
        let dir = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(dir.path()).unwrap();
        let bin = dir.join("mcpcell");
        std::fs::write(&bin, b"").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        if !nix::unistd::geteuid().is_root() {
            // The file is this user's: any program of theirs could replace it.
            assert!(refused(&bin).contains("belongs to uid"));
            return;
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        only_root_can_replace(&bin).unwrap();
        // A directory every user may write (not sticky): the binary can be renamed away.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(refused(&bin).contains("writable by every user"));
        // Sticky: others cannot rename root's entry.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        only_root_can_replace(&bin).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        nix::unistd::chown(&dir, None, Some(nix::unistd::Gid::from_raw(1001))).unwrap();
        assert!(refused(&bin).contains("writable by group 1001"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o757)).unwrap();
        assert!(refused(&bin).contains("writable by every user"));
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        nix::unistd::chown(&bin, Some(nix::unistd::Uid::from_raw(1001)), None).unwrap();
        assert!(refused(&bin).contains("belongs to uid 1001"));
        // Not a file.
        assert!(refused(&dir).contains("not a regular file"));
        // An ACL that names another user (where `setfacl` is installed).
        nix::unistd::chown(&bin, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
        only_root_can_replace(&bin).unwrap();
        let acl = std::process::Command::new("setfacl")
            .args(["-m", "u:1001:rwx"])
            .arg(&bin)
            .status();
        if acl.is_ok_and(|s| s.success()) {
            assert!(refused(&bin).contains("access control list"));
        } else {
            eprintln!("NOTE: setfacl is not installed or the filesystem has no ACLs: not checked");
        }
    }
}
