//! Entry fields besides the command that change what the server needs from its sandbox: the
//! directory the client starts it in (`cwd`) and the file it loads variables from
//! (`envFile`). Both come from the config, so both are checked before they become `run`
//! options.

use std::path::{Path, PathBuf};

/// An envFile larger than this is not a list of variables.
const MAX_ENV_FILE: u64 = 1 << 20;

/// Whether the entry's `cwd` may be granted for reading, and if not, why: the path as
/// written, and where it leads when a link lies on its way (a cloned project may ship
/// `up -> ..` or `data -> ~/.mozilla` and name it as an entry's `cwd`).
pub fn cwd_grant(cwd: &str, home: Option<&Path>) -> Result<(), String> {
    judge_cwd(cwd, home)?;
    if let Ok(real) = crate::paths::real_path(Path::new(cwd)) {
        if real != Path::new(cwd) {
            judge_cwd(&real.to_string_lossy(), home).map_err(|why| {
                format!(
                    "it leads to {} through a link, and {why}",
                    crate::escape::path(&real)
                )
            })?;
        }
    }
    Ok(())
}

fn judge_cwd(cwd: &str, home: Option<&Path>) -> Result<(), String> {
    if cwd.contains("${") {
        return Err("it names a client variable, which mcpcell cannot resolve".into());
    }
    if let Some(why) = super::audit::too_wide(cwd, home) {
        return Err(format!("{why} is more than a server should read"));
    }
    // Keys and tokens live in dot directories (~/.kube, ~/.docker, ~/.netrc, ...): a config
    // from a cloned project must not turn its `cwd` into a read grant of one.
    if std::path::Path::new(cwd)
        .components()
        .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    {
        return Err("it is or lies in a hidden directory, where secrets are kept".into());
    }
    Ok(())
}

/// The variable names an envFile sets (`NAME=value`, `export NAME=value`; comments and blank
/// lines skipped). Relative paths are taken from the entry's `cwd`, else the current
/// directory. The values are never read into anything mcpcell writes.
pub fn env_file_names(file: &str, cwd: Option<&str>) -> Result<Vec<String>, String> {
    if file.contains("${") {
        return Err("names a client variable mcpcell cannot resolve".into());
    }
    let path = match cwd {
        Some(c) if !Path::new(file).is_absolute() && Path::new(c).is_absolute() => {
            Path::new(c).join(file)
        }
        _ => PathBuf::from(file),
    };
    // Not blocking on a FIFO, not reading a device: only a regular file is a list of names.
    let text = crate::paths::read_regular(&path, MAX_ENV_FILE)
        .map_err(|e| format!("cannot be read here ({e})"))?;
    // Every line is a variable, a comment or blank, or the file is not a list of variables:
    // the names go into the config mcpcell writes, and a key file's lines (base64 with
    // `=` padding) would pass for names.
    let mut names = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let name = line.split_once('=').map(|(n, _)| n.trim());
        let Some((name, value)) = name
            .filter(|n| super::model::valid_env_name(n))
            .zip(line.split_once('=').map(|(_, v)| v.trim_start()))
        else {
            return Err(format!(
                "is not a list of variables (line {} is not NAME=value)",
                i + 1
            ));
        };
        // A quoted value may go on over more lines, up to its closing quote.
        if let Some(q) = value.chars().next().filter(|c| *c == '"' || *c == '\'') {
            if !value[1..].contains(q) && !lines.any(|(_, more)| more.contains(q)) {
                return Err(format!(
                    "is not a list of variables (the value on line {} has no closing quote)",
                    i + 1
                ));
            }
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_names_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(".env"),
            "# secrets\nTOKEN=abc\nexport REGION = eu\n\nKEY=\"-----BEGIN\nabc=\n-----END\"\nTOKEN=again\n",
        )
        .unwrap();
        let dir = d.path().to_str().unwrap();
        assert_eq!(
            env_file_names(".env", Some(dir)).unwrap(),
            ["TOKEN", "REGION", "KEY"]
        );
        // A file that is not a list of variables gives no names at all: a private key's
        // base64 lines would read as names (`QyNTUxOQAAACB=`).
        for (text, line) in [
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA==\n",
                "line 1",
            ),
            (
                "A=1\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n",
                "line 2",
            ),
            ("A=1\nbad-name=1\n", "line 2"),
            ("A=\"never closed\nB=2\n", "line 1"),
        ] {
            std::fs::write(d.path().join("k"), text).unwrap();
            let err = env_file_names("k", Some(dir)).unwrap_err();
            assert!(err.contains(line), "{text:?}: {err}");
        }
        assert!(env_file_names("${workspaceFolder}/.env", None).is_err());
        assert!(env_file_names("/nonexistent/.env", None).is_err());
        // A FIFO would block wrap forever; a device is no list of names.
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(env_file_names(fifo.to_str().unwrap(), None).is_err());
        assert!(env_file_names("/dev/zero", None).is_err());
    }

    #[test]
    fn cwd_grants() {
        let home = Some(Path::new("/home/u"));
        assert!(cwd_grant("/home/u/src/project", home).is_ok());
        assert!(cwd_grant("/home/u", home).is_err());
        assert!(cwd_grant("/", home).is_err());
        assert!(cwd_grant("relative/dir", home).is_err());
        assert!(cwd_grant("${workspaceFolder}", home).is_err());
        assert!(cwd_grant("/home/u/.ssh", home).is_err());
        assert!(cwd_grant("/home/u/.kube/x", home).is_err());
        assert!(cwd_grant("/srv/repo/.git", home).is_err());
        // Where a link on the way leads is judged too.
        let d = tempfile::Builder::new().prefix("wrap-").tempdir().unwrap();
        let home = d.path().join("home");
        std::fs::create_dir_all(home.join("proj")).unwrap();
        std::fs::create_dir_all(home.join(".mozilla")).unwrap();
        std::os::unix::fs::symlink("..", home.join("proj/up")).unwrap();
        std::os::unix::fs::symlink("../.mozilla", home.join("proj/data")).unwrap();
        std::os::unix::fs::symlink(".", home.join("proj/same")).unwrap();
        let h = Some(home.as_path());
        let at = |rel: &str| home.join(rel).to_string_lossy().into_owned();
        assert!(cwd_grant(&at("proj"), h).is_ok());
        assert!(cwd_grant(&at("proj/same"), h).is_ok());
        for link in ["proj/up", "proj/data"] {
            let err = cwd_grant(&at(link), h).unwrap_err();
            assert!(err.starts_with("it leads to "), "{link}: {err}");
        }
    }
}
