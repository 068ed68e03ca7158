//! The profile file as written: serde types with no logic beyond shape checks.
//!
//! Every struct denies unknown keys, so a typo (`filesystem.reed`) is an error with a line and
//! column instead of a silently ignored grant.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// An mcpcell profile: what one MCP server may do.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mcpcell profile")]
pub struct RawProfile {
    /// What the profile is for, and what it grants and why.
    pub description: Option<String>,
    /// Profiles merged before this one, in order (names or paths): lists append, scalars
    /// override.
    pub extends: Option<Vec<String>>,
    pub filesystem: Option<RawFilesystem>,
    pub network: Option<RawNetwork>,
    pub syscalls: Option<RawSyscalls>,
    pub env: Option<RawEnv>,
    pub capabilities: Option<RawCapabilities>,
    pub limits: Option<RawLimits>,
}

/// Paths are absolute or start with a variable: ${HOME}, ${CWD}, ${TMPDIR}, ${XDG_CONFIG_HOME},
/// ${XDG_CACHE_HOME}, ${XDG_DATA_HOME}, ${XDG_STATE_HOME}, ${PROFILE_DIR}, ${STATE_DIR}. A
/// missing path is skipped; a leading `!` requires it.
#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFilesystem {
    /// Read files and list directories, recursively.
    pub read: Option<Vec<String>>,
    /// Read, create, modify and delete, recursively.
    pub write: Option<Vec<String>>,
    /// Execute (and read), recursively.
    pub exec: Option<Vec<String>>,
    /// What to grant to existing paths named in the server's arguments.
    pub args: Option<ArgsAccess>,
    /// Programs found on PATH: their install prefix becomes readable and executable.
    pub programs: Option<Vec<String>>,
    /// Paths made invisible even where a parent directory is granted.
    pub hide: Option<Vec<String>>,
}

/// What `filesystem.args` grants to existing paths named on the server's command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, JsonSchema)]
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

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub mode: Option<NetworkMode>,
    /// Proxy mode: hosts the server may reach (`example.com`, `*.example.com` for subdomains
    /// only, an IP literal; optionally `:PORT`, else 443 and 80).
    pub allow: Option<Vec<String>>,
    /// Host mode: TCP ports the server may connect to (empty: any). The range is checked by
    /// validation, which knows the line of each item.
    #[schemars(inner(range(min = 1, max = 65535)))]
    pub connect: Option<Vec<i64>>,
    /// Host mode: TCP ports the server may listen on (empty: none).
    #[schemars(inner(range(min = 1, max = 65535)))]
    pub bind: Option<Vec<i64>>,
    /// Pathname Unix sockets the server may connect to (`/tmp` for its own). When any is
    /// listed, the sandbox's root holds only the granted paths.
    pub unix: Option<Vec<String>>,
    /// Proxy mode: private, loopback or link-local ranges (CIDR) an allowed name may resolve to.
    pub allow_private: Option<Vec<String>>,
    /// Proxy mode: the address to use for a name (`IP` or `IP:PORT`), like /etc/hosts for
    /// the proxy alone.
    pub hosts: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, JsonSchema)]
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

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSyscalls {
    /// Groups (`@default`, `@mount`, ...), syscall names, or argument rules such as
    /// `ioctl(TIOCSTI)`.
    pub deny: Option<Vec<String>>,
    /// Exceptions to `deny`.
    pub allow: Option<Vec<String>>,
    pub on_violation: Option<OnViolation>,
}

/// What the seccomp filter does when a denied system call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default, JsonSchema)]
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

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEnv {
    /// Variables passed from mcpcell's environment (`LC_*` matches a prefix); everything else
    /// is removed.
    pub pass: Option<Vec<String>>,
    /// Variables set for the server (values may use the path variables).
    pub set: Option<BTreeMap<String, String>>,
    /// Like `set`, but only when the variable is not passed from mcpcell's environment.
    pub default: Option<BTreeMap<String, String>>,
    /// Package managers whose user and system settings are read outside the sandbox and
    /// passed in without their secrets: registries and indexes (their hosts join the proxy
    /// allowlist), CA certificates (copied into `${STATE_DIR}`), TLS switches.
    pub package_settings: Option<Vec<PackageManager>>,
}

/// A package manager whose settings `env.package_settings` carries into the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// npm and npx: the builtin, global and user npmrc, `npm_config_*`, NODE_EXTRA_CA_CERTS.
    Npm,
    /// pip: its pip.conf files, `PIP_*`, REQUESTS_CA_BUNDLE, SSL_CERT_FILE/SSL_CERT_DIR.
    Pip,
    /// uv and uvx: its uv.toml files, `UV_*`, SSL_CERT_FILE/SSL_CERT_DIR.
    Uv,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCapabilities {
    /// Capabilities the server keeps (`CAP_NET_BIND_SERVICE`); all others are dropped.
    pub keep: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Open file descriptors (RLIMIT_NOFILE).
    #[schemars(range(min = 1))]
    pub open_files: Option<i64>,
    /// Processes and threads of the sandbox (RLIMIT_NPROC; a pids cgroup for root).
    #[schemars(range(min = 1))]
    pub processes: Option<i64>,
    /// Whether the server may write core dumps.
    pub core_dumps: Option<bool>,
    /// Largest file the server may write (bytes, or `64M`, `1G`).
    pub file_size: Option<SizeValue>,
    /// Size of the private /tmp and /dev/shm (bytes, or `64M`, `1G`).
    pub tmp_size: Option<SizeValue>,
    /// Resident memory of the whole sandbox (bytes, or `512M`, `2G`): a memory cgroup.
    pub memory: Option<SizeValue>,
    /// Disk space of `${STATE_DIR}` (bytes, or `512M`, `2G`), measured by mcpcell while the
    /// server runs; every entry counts at least 4 KiB. Over it, the server is stopped.
    pub state_size: Option<SizeValue>,
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

impl JsonSchema for SizeValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size: a number of bytes, or a number with a K, M, G or T suffix",
            "oneOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^\\s*[0-9]+\\s*[KkMmGgTt]?\\s*$"}
            ]
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
