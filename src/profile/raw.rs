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
    /// Write access to the directory of each file named (which need not exist yet): for
    /// servers that create files beside the one they are given, like SQLite's journal.
    #[serde(rename = "write-parent")]
    WriteParent,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub mode: Option<NetworkMode>,
    pub allow: Option<Vec<String>>,
    /// TCP ports; the range is checked by validation, which knows the line of each item.
    pub connect: Option<Vec<i64>>,
    pub bind: Option<Vec<i64>>,
    pub unix: Option<Vec<String>>,
    pub allow_private: Option<Vec<String>>,
    /// Proxy mode: the address to use for a name (`IP` or `IP:PORT`), like /etc/hosts for
    /// the proxy alone.
    pub hosts: Option<BTreeMap<String, String>>,
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
    /// Like `set`, but only when the variable is not passed from mcpjail's environment.
    pub default: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapabilities {
    pub keep: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub open_files: Option<i64>,
    pub processes: Option<i64>,
    pub core_dumps: Option<bool>,
    pub file_size: Option<SizeValue>,
    pub tmp_size: Option<SizeValue>,
}

/// A size as written: a number of bytes or a string with a suffix (`64M`); checked by
/// validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeValue {
    Bytes(i64),
    Text(String),
}

impl SizeValue {
    /// The size in bytes, or the message explaining why it is not one.
    pub fn bytes(&self) -> Result<u64, String> {
        let parsed = match self {
            SizeValue::Bytes(n) if *n > 0 => Some(*n as u64),
            SizeValue::Bytes(_) => None,
            SizeValue::Text(s) => parse_size(s),
        };
        parsed.ok_or_else(|| {
            let shown = match self {
                SizeValue::Bytes(n) => n.to_string(),
                SizeValue::Text(s) => format!("{s:?}"),
            };
            format!(
                "size {shown} is not valid: write a positive number of bytes, or one with a K, M, G or T suffix such as 64M"
            )
        })
    }
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SizeValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as 4096 or 64M")
            }
            fn visit_i64<E>(self, v: i64) -> Result<SizeValue, E> {
                Ok(SizeValue::Bytes(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<SizeValue, E> {
                Ok(SizeValue::Bytes(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E>(self, v: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `64M`-style sizes (binary multiples).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'K' | 'k') => (&s[..i], 1u64 << 10),
        (i, 'M' | 'm') => (&s[..i], 1u64 << 20),
        (i, 'G' | 'g') => (&s[..i], 1u64 << 30),
        (i, 'T' | 't') => (&s[..i], 1u64 << 40),
        _ => (s, 1),
    };
    let n: u64 = num.trim().parse().ok()?;
    n.checked_mul(mult).filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size("99999999999T"), None);
        assert_eq!(
            SizeValue::Bytes(-1).bytes().unwrap_err(),
            "size -1 is not valid: write a positive number of bytes, or one with a K, M, G or T suffix such as 64M"
        );
    }
}
