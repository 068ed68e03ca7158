//! The profile file as written: serde types with no logic beyond shape checks.
//!
//! Every struct denies unknown keys, so a typo (`filesystem.reed`) is an error with a line and
//! column instead of a silently ignored grant.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub description: Option<String>,
    pub extends: Option<Vec<String>>,
    pub filesystem: Option<RawFilesystem>,
    pub network: Option<RawNetwork>,
    pub syscalls: Option<RawSyscalls>,
    pub env: Option<RawEnv>,
    pub capabilities: Option<RawCapabilities>,
    pub limits: Option<RawLimits>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilesystem {
    pub read: Option<Vec<String>>,
    pub write: Option<Vec<String>>,
    pub exec: Option<Vec<String>>,
    pub args: Option<ArgsAccess>,
    pub programs: Option<Vec<String>>,
    pub hide: Option<Vec<String>>,
}

/// What `filesystem.args` grants to existing paths named on the server's command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ArgsAccess {
    #[default]
    None,
    Read,
    Write,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub mode: Option<NetworkMode>,
    pub allow: Option<Vec<String>>,
    pub connect: Option<Vec<Port>>,
    pub bind: Option<Vec<Port>>,
    pub unix: Option<Vec<String>>,
    pub allow_private: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A private network namespace with only loopback.
    #[default]
    None,
    /// The private namespace plus an egress proxy with a host allowlist.
    Proxy,
    /// The host's network, optionally narrowed by Landlock TCP port rules.
    Host,
}

/// A TCP port, 1 to 65535. Deserialized through `i64` so that a bad value gets our message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        match u16::try_from(v) {
            Ok(p) if p != 0 => Ok(Port(p)),
            _ => Err(serde::de::Error::custom(format!(
                "port {v} is out of range: a TCP port is a number from 1 to 65535"
            ))),
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSyscalls {
    pub deny: Option<Vec<String>>,
    pub allow: Option<Vec<String>>,
    pub on_violation: Option<OnViolation>,
}

/// What the seccomp filter does when a denied system call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnViolation {
    /// Fail the call with EPERM.
    #[default]
    Errno,
    /// Kill the whole process (SIGSYS).
    Kill,
    /// Allow the call and log it to the kernel audit log.
    Log,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnv {
    pub pass: Option<Vec<String>>,
    pub set: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapabilities {
    pub keep: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub open_files: Option<Limit>,
    pub processes: Option<Limit>,
    pub core_dumps: Option<bool>,
    pub file_size: Option<Size>,
    pub tmp_size: Option<Size>,
}

/// A count limit (open files, processes): a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Limit(pub u64);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d)?;
        if v <= 0 {
            return Err(serde::de::Error::custom(format!(
                "limit {v} must be a positive number"
            )));
        }
        Ok(Limit(v as u64))
    }
}

/// A size in bytes, written as a number or with a binary suffix (`64M`, `1G`, `512K`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Size(pub u64);

impl Size {
    pub fn parse(s: &str) -> Option<Size> {
        let s = s.trim();
        let (num, mult) = match s.char_indices().last()? {
            (i, 'K' | 'k') => (&s[..i], 1u64 << 10),
            (i, 'M' | 'm') => (&s[..i], 1u64 << 20),
            (i, 'G' | 'g') => (&s[..i], 1u64 << 30),
            (i, 'T' | 't') => (&s[..i], 1u64 << 40),
            _ => (s, 1),
        };
        let n: u64 = num.trim().parse().ok()?;
        n.checked_mul(mult).filter(|v| *v > 0).map(Size)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum NumOrStr {
            Num(i64),
            Str(String),
        }
        let bad = |what: String| {
            serde::de::Error::custom(format!(
                "size {what} is not valid: write a positive number of bytes, or one with a K, M, G or T suffix such as 64M"
            ))
        };
        match NumOrStr::deserialize(d)? {
            NumOrStr::Num(n) if n > 0 => Ok(Size(n as u64)),
            NumOrStr::Num(n) => Err(bad(n.to_string())),
            NumOrStr::Str(s) => Size::parse(&s).ok_or_else(|| bad(format!("{s:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(Size::parse("64M"), Some(Size(64 << 20)));
        assert_eq!(Size::parse("1g"), Some(Size(1 << 30)));
        assert_eq!(Size::parse("4096"), Some(Size(4096)));
        assert_eq!(Size::parse("0"), None);
        assert_eq!(Size::parse("M"), None);
        assert_eq!(Size::parse("12X"), None);
        assert_eq!(Size::parse("99999999999T"), None);
    }
}
