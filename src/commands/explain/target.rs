//! What `mcpcell explain` is asked about: `PATH[:ACCESS]`, `unix:PATH`, `env:NAME`,
//! `bind:PORT`, a syscall, `@group` or `name(qualifier)`, else `HOST[:PORT]`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::hostspec::{parse_port, split_host_port};
use crate::plan::fs::Rights;

/// What the user asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Path(PathBuf, Rights),
    Unix(PathBuf),
    Host(String, u16),
    Bind(u16),
    Syscall(String),
    Env(String),
}

/// A target that is none of the forms above. Each message quotes the target as given.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    #[error("`{0}`: give a variable name after env:")]
    EnvName(String),
    #[error("`{0}`: give a TCP port number after bind:")]
    BindPort(String),
    #[error("`{0}`: missing `]`")]
    Unclosed(String),
    #[error("`{0}` is not HOST[:PORT]")]
    NotHostPort(String),
    #[error("`{0}`: the port must be a number from 1 to 65535")]
    Port(String),
    #[error("`{0}` is not a path, host, syscall or env:NAME")]
    Unknown(String),
}

fn rights_of(spec: &str) -> Option<Rights> {
    let mut r = Rights::default();
    for part in spec.split(['+', ',']) {
        match part {
            "read" | "r" => r.read = true,
            "write" | "w" => r = r.union(Rights::WRITE),
            "exec" | "x" | "execute" => r = r.union(Rights::EXEC),
            _ => return None,
        }
    }
    Some(r)
}

fn expand_home(p: &str, home: Option<&str>) -> PathBuf {
    match (p.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
            PathBuf::from(format!("{h}{rest}"))
        }
        _ => PathBuf::from(p),
    }
}

/// Parses a target: `PATH[:ACCESS]`, `unix:PATH`, `env:NAME`, `bind:PORT`, a syscall name,
/// `@group` or `name(qualifier)`, else `HOST[:PORT]`.
pub fn parse_target(s: &str, home: Option<&str>, cwd: &Path) -> Result<Target, TargetError> {
    let path = |p: &str| cwd.join(expand_home(p, home));
    if let Some(p) = s.strip_prefix("unix:") {
        return Ok(Target::Unix(path(p)));
    }
    if let Some(name) = s.strip_prefix("env:") {
        if name.is_empty() || name.contains('=') {
            return Err(TargetError::EnvName(s.to_string()));
        }
        return Ok(Target::Env(name.to_string()));
    }
    if let Some(port) = s.strip_prefix("bind:") {
        return port
            .parse()
            .map(Target::Bind)
            .map_err(|_| TargetError::BindPort(s.to_string()));
    }
    if let Some(name) = s.strip_prefix("syscall:") {
        return Ok(Target::Syscall(name.to_string()));
    }
    let looks_like_path = s.starts_with(['/', '~', '.']) || s.contains('/');
    if looks_like_path {
        if let Some((p, access)) = s.rsplit_once(':') {
            if let Some(r) = rights_of(access) {
                return Ok(Target::Path(path(p), r));
            }
        }
        return Ok(Target::Path(path(s), Rights::READ));
    }
    if s.starts_with('@')
        || crate::seccomp::syscall_number(s).is_some()
        || crate::seccomp::Qualified::from_name(s).is_some()
    {
        return Ok(Target::Syscall(s.to_string()));
    }
    let (host, port) = host_port(s)?;
    if host.is_empty() {
        return Err(TargetError::Unknown(s.to_string()));
    }
    Ok(Target::Host(host.to_string(), port.unwrap_or(443)))
}

/// `HOST[:PORT]`, `[IPv6][:PORT]`, or a bare IP address (an IPv6 one without a port).
fn host_port(s: &str) -> Result<(&str, Option<u16>), TargetError> {
    if s.parse::<IpAddr>().is_ok() {
        return Ok((s, None));
    }
    let split = split_host_port(s).ok_or_else(|| TargetError::Unclosed(s.to_string()))?;
    if !split.trailing.is_empty() {
        return Err(TargetError::NotHostPort(s.to_string()));
    }
    let port = match split.port {
        Some(p) => Some(parse_port(p).ok_or_else(|| TargetError::Port(s.to_string()))?),
        None => None,
    };
    Ok((split.host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let cwd = Path::new("/srv/project");
        let home = Some("/home/u");
        let p = |s| parse_target(s, home, cwd).unwrap();
        assert_eq!(
            p("~/.ssh/id_rsa"),
            Target::Path("/home/u/.ssh/id_rsa".into(), Rights::READ)
        );
        assert_eq!(
            p("notes/a.txt:write"),
            Target::Path("/srv/project/notes/a.txt".into(), Rights::WRITE)
        );
        assert_eq!(
            p("/usr/bin/node:exec"),
            Target::Path("/usr/bin/node".into(), Rights::EXEC)
        );
        assert_eq!(
            p("/odd:name"),
            Target::Path("/odd:name".into(), Rights::READ)
        );
        assert_eq!(
            p("api.github.com"),
            Target::Host("api.github.com".into(), 443)
        );
        assert_eq!(
            p("example.com:8080"),
            Target::Host("example.com".into(), 8080)
        );
        assert_eq!(p("[::1]:22"), Target::Host("::1".into(), 22));
        assert_eq!(p("[::1]"), Target::Host("::1".into(), 443));
        assert_eq!(p("::1"), Target::Host("::1".into(), 443));
        assert_eq!(p("127.0.0.1"), Target::Host("127.0.0.1".into(), 443));
        assert_eq!(p("ptrace"), Target::Syscall("ptrace".into()));
        assert_eq!(p("@mount"), Target::Syscall("@mount".into()));
        assert_eq!(
            p("clone(CLONE_NEW*)"),
            Target::Syscall("clone(CLONE_NEW*)".into())
        );
        assert_eq!(p("env:GITHUB_TOKEN"), Target::Env("GITHUB_TOKEN".into()));
        assert_eq!(p("unix:/run/x.sock"), Target::Unix("/run/x.sock".into()));
        assert_eq!(p("bind:8080"), Target::Bind(8080));
    }

    #[test]
    fn access_words_read_back() {
        for (spec, word, verb) in [
            ("read", "read", "read"),
            ("write", "write", "write"),
            ("exec", "exec", "execute"),
            ("read+write+exec", "write", "write"),
        ] {
            let r = rights_of(spec).unwrap();
            assert_eq!((r.word(), r.verb()), (word, verb), "{spec}");
            // The word is itself a suffix explain reads back.
            assert_eq!(rights_of(r.word()).unwrap().word(), word);
        }
    }

    #[test]
    fn refuses_what_is_no_target() {
        let cwd = Path::new("/srv/project");
        let e = |s| parse_target(s, None, cwd).unwrap_err();
        assert_eq!(e("host:port"), TargetError::Port("host:port".into()));
        assert_eq!(e("host:0"), TargetError::Port("host:0".into()));
        assert_eq!(e("[::1]:0"), TargetError::Port("[::1]:0".into()));
        assert_eq!(e("[::1]:"), TargetError::Port("[::1]:".into()));
        assert_eq!(e("[::1"), TargetError::Unclosed("[::1".into()));
        assert_eq!(e("[::1]x"), TargetError::NotHostPort("[::1]x".into()));
        assert_eq!(e(":443"), TargetError::Unknown(":443".into()));
        assert_eq!(e("[]:443"), TargetError::Unknown("[]:443".into()));
        assert_eq!(e("bind:x"), TargetError::BindPort("bind:x".into()));
        assert_eq!(e("env:"), TargetError::EnvName("env:".into()));
        assert_eq!(e("[::1]x").to_string(), "`[::1]x` is not HOST[:PORT]");
    }
}
