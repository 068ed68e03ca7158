//! npm's settings: the builtin, global and user npmrc files and `npm_config_*`, later ones
//! winning, as npm itself layers them (the project's `.npmrc` is left out on purpose, see
//! the module above).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::ini::{self, Dialect};
use super::{Acc, CaSource, Host, origin};

/// The keys that only ever hold credentials or name files that do.
const SECRET_KEYS: &[&str] = &[
    "_auth",
    "_authtoken",
    "_password",
    "password",
    "username",
    "email",
    "certfile",
    "keyfile",
    "cert",
    "key",
    "otp",
];

/// The npmrc files npm reads, lowest precedence first, each with the program whose place
/// named it (where the PATH search found it), if one did.
fn files(host: &Host) -> Vec<(PathBuf, Option<PathBuf>)> {
    let mut out = Vec::new();
    // builtin: `npmrc` in npm's own package directory (bin/npm-cli.js → ..).
    let builtin = host
        .program("npm")
        .and_then(|(found, cli)| Some((cli.parent()?.parent()?.join("npmrc"), Some(found))));
    out.extend(builtin);
    // global: `$PREFIX/etc/npmrc`, the prefix being node's install prefix unless set.
    // Absolute only: a relative one would name the project's own `etc/npmrc`, which a
    // server that may write the project could have written.
    let prefix = host
        .var("PREFIX")
        .map(PathBuf::from)
        .or_else(|| env_key(host, "prefix").map(PathBuf::from))
        .filter(|p| p.is_absolute())
        .map(|p| (p, None));
    let global = env_key(host, "globalconfig")
        .map(PathBuf::from)
        .filter(|f| f.is_absolute())
        .map(|f| (f, None))
        .or_else(|| {
            let (prefix, by) = prefix.or_else(|| {
                let (found, node) = host.program("node")?;
                Some((node.parent()?.parent()?.to_path_buf(), Some(found)))
            })?;
            Some((prefix.join("etc/npmrc"), by))
        });
    out.extend(global);
    let user = env_key(host, "userconfig")
        .map(PathBuf::from)
        .filter(|f| f.is_absolute())
        .or_else(|| host.home().map(|h| h.join(".npmrc")));
    out.extend(user.map(|u| (u, None)));
    out
}

/// `npm_config_KEY` in mcpcell's environment, in any case, as npm reads it.
fn env_key(host: &Host, key: &str) -> Option<String> {
    host.env
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .find(|(k, _)| env_name_key(k).as_deref() == Some(key))
        .map(|(_, v)| v.clone())
}

/// The setting an `npm_config_*` variable names: after the prefix, `_` becomes `-` (except a
/// leading one) and the name is lowercased, unless it is a per-host `//...` key.
pub(super) fn env_name_key(name: &str) -> Option<String> {
    let prefix = "npm_config_";
    // `get`, not indexing: a name is any text, and a cut inside a character would panic.
    let head = name.get(..prefix.len())?;
    let rest = name.get(prefix.len()..).filter(|r| !r.is_empty())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    if rest.starts_with("//") {
        return Some(rest.to_string());
    }
    let mut out = String::new();
    for (i, c) in rest.chars().enumerate() {
        out.push(if c == '_' && i > 0 {
            '-'
        } else {
            c.to_ascii_lowercase()
        });
    }
    Some(out)
}

/// npm's `${VAR}` substitution in npmrc text; None when a variable is not set (npm refuses
/// such a file's value too).
fn env_replace(host: &Host, s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        let escaped = rest[..at].ends_with('\\');
        let end = rest[at..].find('}')? + at;
        if escaped {
            out.push_str(&rest[..at - 1]);
            out.push_str(&rest[at..=end]);
        } else {
            out.push_str(&rest[..at]);
            out.push_str(host.var(&rest[at + 2..end])?);
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A setting's value and where it was read.
struct Value {
    value: String,
    from: String,
}

fn is_scope_registry(key: &str) -> bool {
    key.strip_suffix(":registry")
        .and_then(|s| s.strip_prefix('@'))
        .is_some_and(|scope| {
            !scope.is_empty()
                && scope
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._~".contains(c))
        })
}

pub(super) fn read(host: &Host, acc: &mut Acc) {
    let mut conf: BTreeMap<String, Value> = BTreeMap::new();
    // `ca` may be a list (`ca[]=`); a later layer's list replaces an earlier one.
    let mut ca: Vec<Value> = Vec::new();
    for (file, by) in files(host) {
        let Ok(text) = super::pem::read_small(&file) else {
            continue;
        };
        acc.out.sources.push(file.clone());
        acc.out.sources.extend(by);
        let mut file_ca: Vec<Value> = Vec::new();
        for item in ini::parse(&text, Dialect::Npm) {
            let from = origin(&file, item.line, &item.key);
            let (Some(key), Some(value)) =
                (env_replace(host, &item.key), env_replace(host, &item.value))
            else {
                acc.note(format!("{from}: names an unset variable; not passed"));
                continue;
            };
            match key.strip_suffix("[]") {
                Some("ca") => file_ca.push(Value { value, from }),
                Some(_) => {}
                None if key == "ca" => file_ca = vec![Value { value, from }],
                None => {
                    conf.insert(key, Value { value, from });
                }
            }
        }
        if !file_ca.is_empty() {
            ca = file_ca;
        }
    }
    for (name, value) in host.env {
        let Some(key) = env_name_key(name).filter(|_| !value.is_empty()) else {
            continue;
        };
        let from = crate::escape::terminal(name).into_owned();
        if key == "ca" {
            ca = vec![Value {
                value: value.clone(),
                from,
            }];
        } else {
            conf.insert(
                key,
                Value {
                    value: value.clone(),
                    from,
                },
            );
        }
    }

    let mut secrets = Vec::new();
    let mut ca_sources: Vec<(CaSource, String)> = Vec::new();
    for (key, v) in &conf {
        let lower = key.to_ascii_lowercase();
        if key == "registry" || is_scope_registry(key) {
            if let Some(url) = acc.url(&v.value, &v.from) {
                acc.set(&format!("npm_config_{key}"), url, &v.from);
            }
        } else if key == "cafile" {
            match expand_home(host, &v.value) {
                Some(p) => ca_sources.push((CaSource::File(p), v.from.clone())),
                None => acc.note(format!(
                    "{}: a relative CA file path is not read; write an absolute one",
                    v.from
                )),
            }
        } else if key == "strict-ssl" {
            if matches!(v.value.as_str(), "true" | "false") {
                acc.set("npm_config_strict_ssl", v.value.as_str(), &v.from);
            }
        } else if matches!(
            key.as_str(),
            "proxy" | "https-proxy" | "http-proxy" | "noproxy"
        ) {
            acc.note(format!(
                "{}: not passed: the sandbox reaches the network only through mcpcell's egress proxy, which chains through the proxy that HTTPS_PROXY, HTTP_PROXY or ALL_PROXY names in mcpcell's own environment (set it there)",
                v.from
            ));
        } else if key.starts_with("//") || SECRET_KEYS.contains(&lower.as_str()) {
            secrets.push(crate::escape::terminal(key).into_owned());
        }
    }
    for v in ca {
        ca_sources.push((CaSource::Inline(v.value), v.from));
    }
    if !secrets.is_empty() {
        acc.note(format!(
            "npm: credentials are not passed into the sandbox: {}",
            secrets.join(", ")
        ));
    }
    acc.bundle("mcpcell-ca-npm.pem", "npm_config_cafile", ca_sources);
    if let Some(f) = host.var("NODE_EXTRA_CA_CERTS") {
        acc.bundle(
            "mcpcell-ca-node-extra.pem",
            "NODE_EXTRA_CA_CERTS",
            vec![(CaSource::File(f.into()), "NODE_EXTRA_CA_CERTS".into())],
        );
    }
}

/// An absolute path, or `~/...` under the home directory.
fn expand_home(host: &Host, p: &str) -> Option<PathBuf> {
    if let Some(rest) = p.strip_prefix("~/") {
        return host.home().map(|h| h.join(rest));
    }
    p.starts_with('/').then(|| PathBuf::from(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_map_to_keys_as_npm_does() {
        assert_eq!(
            env_name_key("npm_config_registry").as_deref(),
            Some("registry")
        );
        assert_eq!(
            env_name_key("NPM_CONFIG_STRICT_SSL").as_deref(),
            Some("strict-ssl")
        );
        assert_eq!(
            env_name_key("npm_config_@corp:registry").as_deref(),
            Some("@corp:registry")
        );
        assert_eq!(
            env_name_key("npm_config_//r.example/:_authToken").as_deref(),
            Some("//r.example/:_authToken")
        );
        assert_eq!(
            env_name_key("npm_config__authToken").as_deref(),
            Some("_authtoken")
        );
        assert_eq!(env_name_key("npm_config_"), None);
        assert_eq!(env_name_key("NODE_ENV"), None);
        assert_eq!(env_name_key("npm_confé_registry"), None);
        assert_eq!(env_name_key("npm_config_é").as_deref(), Some("é"));
    }

    #[test]
    fn scope_registry_keys() {
        assert!(is_scope_registry("@corp:registry"));
        assert!(!is_scope_registry("@:registry"));
        assert!(!is_scope_registry("@Corp\n:registry"));
        assert!(!is_scope_registry("corp:registry"));
    }
}
