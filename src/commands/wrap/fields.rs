//! Entry fields besides the command that change what the server needs from its sandbox: the
//! directory the client starts it in (`cwd`) and the file it loads variables from
//! (`envFile`). Both come from the config, so both are checked before they become `run`
//! options.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// An envFile larger than this is not a list of variables.
const MAX_ENV_FILE: u64 = 1 << 20;

/// Whether the entry's `cwd` may be granted for reading, and if not, why.
pub fn cwd_grant(cwd: &str, home: Option<&Path>) -> Result<(), String> {
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
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&path)
        .map_err(|e| format!("cannot be read here ({e})"))?;
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return Err("is not a regular file".into());
    }
    let mut text = String::new();
    f.take(MAX_ENV_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot be read here ({e})"))?;
    if text.len() as u64 > MAX_ENV_FILE {
        return Err("is larger than 1 MiB".into());
    }
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if super::model::valid_env_name(name) && !names.iter().any(|n| n == name) {
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
            "# secrets\nTOKEN=abc\nexport REGION = eu\n\nbad-name=1\nTOKEN=again\nno equals\n",
        )
        .unwrap();
        let dir = d.path().to_str().unwrap();
        assert_eq!(
            env_file_names(".env", Some(dir)).unwrap(),
            ["TOKEN", "REGION"]
        );
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
    }
}
