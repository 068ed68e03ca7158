//! Path variables (`${HOME}`, `${STATE_DIR}`, ...) and their expansion.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Every variable a profile may use.
pub const KNOWN: &[&str] = &[
    "HOME",
    "CWD",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "PROFILE_DIR",
    "STATE_DIR",
];

/// The sandbox's temporary directory: a private tmpfs mounted over `/tmp`.
pub const SANDBOX_TMPDIR: &str = "/tmp";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum VarError {
    #[error("unknown variable ${{{name}}}; known variables are {}", known_list())]
    Unknown { name: String },
    #[error("unterminated variable reference: `${{` without a closing `}}`")]
    Unterminated,
    #[error("${{{name}}} cannot be used here: {why}")]
    Unavailable { name: String, why: String },
}

fn known_list() -> String {
    KNOWN
        .iter()
        .map(|k| format!("${{{k}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The variable names referenced by `s`, in order. `~` at the start counts as `HOME`.
pub fn names_in(s: &str) -> Result<Vec<&str>, VarError> {
    let mut names = Vec::new();
    if s == "~" || s.starts_with("~/") {
        names.push("HOME");
    }
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(VarError::Unterminated)?;
        let name = &after[..end];
        if !KNOWN.contains(&name) {
            return Err(VarError::Unknown {
                name: name.to_string(),
            });
        }
        names.push(name);
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// Values of the variables for one launch, taken from mcpcell's own environment.
#[derive(Debug, Clone)]
pub struct Vars {
    values: HashMap<&'static str, Result<String, String>>,
}

impl Vars {
    /// Reads the environment of this process. `state` is `${STATE_DIR}` below
    /// `$XDG_STATE_HOME/mcpcell` (`PROFILE/SERVER`, see `plan::state`): path components that
    /// never start with a dot, so it cannot leave that directory.
    pub fn from_env(state: &str) -> Vars {
        Vars::from_lookup(
            state,
            std::env::current_dir(),
            |k| std::env::var(k).ok(),
            passwd_home,
        )
    }

    /// The variables for working directory `cwd` and the environment `env` looks up;
    /// `passwd_home` is asked for the user's home directory only when HOME is not an
    /// absolute path.
    pub fn from_lookup(
        state: &str,
        cwd: std::io::Result<PathBuf>,
        env: impl Fn(&str) -> Option<String>,
        passwd_home: impl FnOnce() -> Option<String>,
    ) -> Vars {
        debug_assert!(
            state
                .split('/')
                .all(|c| !c.is_empty() && !c.starts_with('.'))
        );
        let mut values: HashMap<&'static str, Result<String, String>> = HashMap::new();
        let abs = |k: &str| env(k).filter(|v| v.starts_with('/'));
        let home = abs("HOME").or_else(passwd_home).ok_or_else(|| {
            "HOME is not set to an absolute path and the user has no home directory in the password database".to_string()
        });
        let under_home = |k: &str, rel: &str| -> Result<String, String> {
            match abs(k) {
                Some(v) => Ok(v),
                None => home
                    .clone()
                    .map(|h| format!("{}/{rel}", h.trim_end_matches('/'))),
            }
        };
        let cwd = cwd
            .map(|p| p.display().to_string())
            .map_err(|e| format!("the current directory cannot be read: {e}"));
        let state_home = under_home("XDG_STATE_HOME", ".local/state");
        values.insert("HOME", home.clone());
        values.insert("CWD", cwd);
        values.insert("TMPDIR", Ok(SANDBOX_TMPDIR.to_string()));
        values.insert("XDG_CONFIG_HOME", under_home("XDG_CONFIG_HOME", ".config"));
        values.insert("XDG_CACHE_HOME", under_home("XDG_CACHE_HOME", ".cache"));
        values.insert("XDG_DATA_HOME", under_home("XDG_DATA_HOME", ".local/share"));
        values.insert(
            "STATE_DIR",
            state_home
                .clone()
                .map(|s| format!("{}/mcpcell/{state}", s.trim_end_matches('/'))),
        );
        values.insert("XDG_STATE_HOME", state_home);
        Vars { values }
    }

    pub fn get(&self, name: &str) -> Result<&str, VarError> {
        match self.values.get(name) {
            Some(Ok(v)) => Ok(v),
            Some(Err(why)) => Err(VarError::Unavailable {
                name: name.to_string(),
                why: why.clone(),
            }),
            None => Err(VarError::Unknown {
                name: name.to_string(),
            }),
        }
    }

    pub fn state_dir(&self) -> Result<PathBuf, VarError> {
        self.get("STATE_DIR").map(PathBuf::from)
    }

    /// `$XDG_STATE_HOME/mcpcell`: every server's state directory lies below it.
    pub fn state_root(&self) -> Result<PathBuf, VarError> {
        self.get("XDG_STATE_HOME")
            .map(|s| Path::new(s).join("mcpcell"))
    }

    /// Expands every variable in `s`. `profile_dir` is the directory of the profile file the
    /// string comes from (`None` for built-in profiles and the command line).
    pub fn expand(&self, s: &str, profile_dir: Option<&Path>) -> Result<String, VarError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        if rest == "~" || rest.starts_with("~/") {
            out.push_str(self.get("HOME")?);
            rest = &rest[1..];
        }
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or(VarError::Unterminated)?;
            let name = &after[..end];
            if name == "PROFILE_DIR" {
                let dir = profile_dir.ok_or_else(|| VarError::Unavailable {
                    name: name.into(),
                    why: "only profile files have a directory; built-in profiles and command-line options do not".into(),
                })?;
                out.push_str(&dir.display().to_string());
            } else {
                out.push_str(self.get(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Every directory a launch of this user could take for `$XDG` (`XDG_CONFIG_HOME`,
/// `XDG_STATE_HOME`): the variable's value now, `rel` below `HOME`, and `rel` below the
/// home directory in the password database. What no server may write (the profile search
/// directory, the state directories) must be kept out of reach under all of them: a launch
/// with HOME unset, or with the variable pointing elsewhere, would otherwise let a server
/// write where the next ordinary launch looks. `homes` is [`homes`]' answer, asked once for
/// every such directory.
pub fn every_place(xdg: &str, rel: &str, homes: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let candidates = std::env::var(xdg)
        .ok()
        .filter(|v| v.starts_with('/'))
        .map(PathBuf::from)
        .into_iter()
        .chain(homes.iter().map(|h| h.join(rel)))
        .map(|p| crate::paths::normalize(&p));
    for p in candidates {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The home directories a launch of this user could take: `HOME` now (when absolute) and
/// the password database's (one read of `/etc/passwd`).
pub fn homes() -> Vec<PathBuf> {
    let abs = |v: Option<String>| v.filter(|v| v.starts_with('/')).map(PathBuf::from);
    let mut out: Vec<PathBuf> = Vec::new();
    for h in [abs(std::env::var("HOME").ok()), abs(passwd_home())]
        .into_iter()
        .flatten()
    {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// The home directory of this process's user in `/etc/passwd`, when it is absolute.
///
/// The file is read directly rather than through the C library's name service: mcpcell is a
/// static binary, and glibc's name service loads modules (`libnss_systemd.so`, sssd, LDAP)
/// with dlopen, which a static binary cannot do safely (it crashed). A user known only to
/// such a service has HOME set by their login anyway.
pub fn passwd_home() -> Option<String> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    home_in_passwd(&text, nix::unistd::getuid().as_raw())
}

/// The home directory field of the first entry for `uid` in passwd-format `text`.
fn home_in_passwd(text: &str, uid: u32) -> Option<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid))
        .map(|f| f[5].to_string())
        .filter(|d| d.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars::from_lookup(
            "fs/srv-0123",
            Ok(PathBuf::from("/w")),
            |k| match k {
                "HOME" => Some("/home/u".into()),
                "XDG_CONFIG_HOME" => Some("relative/ignored".into()),
                "XDG_STATE_HOME" => Some("/state".into()),
                _ => None,
            },
            || unreachable!("HOME is set"),
        )
    }

    #[test]
    fn the_home_comes_from_the_users_passwd_entry() {
        let passwd = "# comment\nroot:x:0:0:root:/root:/bin/bash\nbad line\nme:x:1000:1000:Me,,,:/home/me:/bin/sh\nrel:x:7:7::relative:/bin/sh\n";
        assert_eq!(home_in_passwd(passwd, 0).as_deref(), Some("/root"));
        assert_eq!(home_in_passwd(passwd, 1000).as_deref(), Some("/home/me"));
        assert_eq!(
            home_in_passwd(passwd, 7),
            None,
            "a relative home is no home"
        );
        assert_eq!(home_in_passwd(passwd, 4242), None);
    }

    #[test]
    fn expands_known_variables_and_tilde() {
        let v = vars();
        assert_eq!(v.expand("${HOME}/.ssh", None).unwrap(), "/home/u/.ssh");
        assert_eq!(v.expand("~/notes", None).unwrap(), "/home/u/notes");
        assert_eq!(v.expand("~", None).unwrap(), "/home/u");
        assert_eq!(v.expand("/a~b", None).unwrap(), "/a~b");
        assert_eq!(
            v.expand("${XDG_CONFIG_HOME}", None).unwrap(),
            "/home/u/.config"
        );
        assert_eq!(
            v.expand("${STATE_DIR}/npm", None).unwrap(),
            "/state/mcpcell/fs/srv-0123/npm"
        );
        assert_eq!(v.expand("${TMPDIR}", None).unwrap(), "/tmp");
        assert_eq!(
            v.expand("${PROFILE_DIR}/x", Some(Path::new("/etc/p")))
                .unwrap(),
            "/etc/p/x"
        );
        assert_eq!(v.expand("$HOME", None).unwrap(), "$HOME");
    }

    #[test]
    fn reports_unknown_and_unavailable_variables() {
        let v = vars();
        assert_eq!(
            v.expand("${HOEM}/x", None).unwrap_err().to_string(),
            "unknown variable ${HOEM}; known variables are ${HOME}, ${CWD}, ${TMPDIR}, ${XDG_CONFIG_HOME}, ${XDG_CACHE_HOME}, ${XDG_DATA_HOME}, ${XDG_STATE_HOME}, ${PROFILE_DIR}, ${STATE_DIR}"
        );
        assert_eq!(
            v.expand("${HOME", None).unwrap_err(),
            VarError::Unterminated
        );
        assert!(matches!(
            v.expand("${PROFILE_DIR}", None),
            Err(VarError::Unavailable { .. })
        ));
        assert_eq!(
            names_in("~/${STATE_DIR}").unwrap(),
            vec!["HOME", "STATE_DIR"]
        );
    }
}
