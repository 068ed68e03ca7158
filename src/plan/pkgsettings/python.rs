//! pip's settings (its pip.conf files and `PIP_*`) and uv's (its uv.toml files and `UV_*`).
//! A virtualenv's `pip.conf`, a project's `uv.toml` or `pyproject.toml` are not read (see
//! the module above).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::ini::{self, Dialect};
use super::{Acc, CaSource, Host, origin};

/// A setting's value and where it was read.
struct Value {
    value: String,
    from: String,
}

/// pip's configuration files, lowest precedence first (pip's `global`, `user`, then
/// `PIP_CONFIG_FILE`). `PIP_CONFIG_FILE=/dev/null` turns them all off, as in pip.
fn pip_files(host: &Host) -> Vec<PathBuf> {
    let explicit = host.var("PIP_CONFIG_FILE");
    if explicit == Some("/dev/null") {
        return Vec::new();
    }
    let mut out: Vec<PathBuf> = host
        .config_dirs()
        .into_iter()
        .rev()
        .map(|d| d.join("pip/pip.conf"))
        .collect();
    out.push(PathBuf::from("/etc/pip.conf"));
    if let Some(h) = host.home() {
        out.push(h.join(".pip/pip.conf"));
    }
    if let Some(c) = host.config_home() {
        out.push(c.join("pip/pip.conf"));
    }
    out.extend(explicit.map(PathBuf::from));
    out
}

pub(super) fn pip(host: &Host, acc: &mut Acc) {
    let mut conf: BTreeMap<String, Value> = BTreeMap::new();
    for file in pip_files(host) {
        let Ok(text) = super::pem::read_small(&file) else {
            continue;
        };
        acc.out.sources.push(file.clone());
        // `[global]` first, then the sections of the commands that download (`install`
        // wins, as `pip install` reads it).
        let items = ini::parse(&text, Dialect::ConfigParser);
        for section in ["global", "download", "install"] {
            for item in items.iter().filter(|i| i.section == section) {
                conf.insert(
                    item.key.to_ascii_lowercase().replace('_', "-"),
                    Value {
                        value: item.value.clone(),
                        from: origin(&file, item.line, &item.key),
                    },
                );
            }
        }
    }
    for (var, key) in [
        ("PIP_INDEX_URL", "index-url"),
        ("PIP_EXTRA_INDEX_URL", "extra-index-url"),
        ("PIP_TRUSTED_HOST", "trusted-host"),
        ("PIP_CERT", "cert"),
        ("PIP_PROXY", "proxy"),
        ("PIP_CLIENT_CERT", "client-cert"),
    ] {
        if let Some(v) = host.var(var) {
            conf.insert(
                key.to_string(),
                Value {
                    value: v.to_string(),
                    from: var.to_string(),
                },
            );
        }
    }
    if let Some(v) = conf.get("index-url") {
        if let Some(url) = acc.url(&v.value, &v.from) {
            acc.set("PIP_INDEX_URL", url, &v.from);
        }
    }
    if let Some(v) = conf.get("extra-index-url") {
        let urls: Vec<String> = v
            .value
            .split_whitespace()
            .filter_map(|u| acc.url(u, &v.from))
            .collect();
        if !urls.is_empty() {
            acc.set("PIP_EXTRA_INDEX_URL", urls.join(" "), &v.from);
        }
    }
    if let Some(v) = conf.get("trusted-host") {
        let hosts = valid_hosts(&v.value);
        if !hosts.is_empty() {
            acc.set("PIP_TRUSTED_HOST", hosts.join(" "), &v.from);
        }
    }
    if let Some(v) = conf.get("proxy") {
        acc.note(format!(
            "{}: not passed: the sandbox reaches the network only through mcpcell's egress proxy, which chains through the proxy that HTTPS_PROXY, HTTP_PROXY or ALL_PROXY names in mcpcell's own environment (set it there)",
            v.from
        ));
    }
    if let Some(v) = conf.get("client-cert") {
        acc.note(format!(
            "{}: a client certificate and key are credentials; not passed",
            v.from
        ));
    }
    if let Some(v) = conf.get("cert") {
        if v.value.starts_with('/') {
            let sources = vec![(CaSource::File(PathBuf::from(&v.value)), v.from.clone())];
            acc.bundle("mcpcell-ca-pip.pem", "PIP_CERT", sources);
        } else {
            acc.note(format!(
                "{}: a relative CA file path is not read; write an absolute one",
                v.from
            ));
        }
    }
    if let Some(f) = host.var("REQUESTS_CA_BUNDLE") {
        let sources = vec![(CaSource::File(f.into()), "REQUESTS_CA_BUNDLE".into())];
        acc.bundle("mcpcell-ca-requests.pem", "REQUESTS_CA_BUNDLE", sources);
    }
}

/// Host names (and `host:port`) in a whitespace-separated list; anything else is dropped.
fn valid_hosts(list: &str) -> Vec<String> {
    list.split_whitespace()
        .filter(|h| h.parse::<crate::hostspec::HostPattern>().is_ok() && !h.contains('*'))
        .map(str::to_string)
        .collect()
}

/// uv's configuration files, lowest precedence first: the system's, the user's, then
/// `UV_CONFIG_FILE`. `UV_NO_CONFIG` turns them off, as in uv.
fn uv_files(host: &Host) -> Vec<PathBuf> {
    if host.var("UV_NO_CONFIG").is_some() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let system = host
        .config_dirs()
        .into_iter()
        .map(|d| d.join("uv/uv.toml"))
        .chain([PathBuf::from("/etc/uv/uv.toml")])
        .find(|p| p.is_file());
    out.extend(system);
    if let Some(c) = host.config_home() {
        out.push(c.join("uv/uv.toml"));
    }
    out.extend(host.var("UV_CONFIG_FILE").map(PathBuf::from));
    out
}

/// One uv index: its name (for `tool.uv.sources`) and URL.
struct Index {
    name: Option<String>,
    url: String,
    default: bool,
}

pub(super) fn uv(host: &Host, acc: &mut Acc) {
    let mut strings: BTreeMap<&str, Value> = BTreeMap::new();
    let mut lists: BTreeMap<&str, (Vec<String>, String)> = BTreeMap::new();
    let mut indexes: Option<(Vec<Index>, String)> = None;
    let mut native_tls: Option<(bool, String)> = None;
    for file in uv_files(host) {
        let Ok(text) = super::pem::read_small(&file) else {
            continue;
        };
        acc.out.sources.push(file.clone());
        let shown = crate::escape::path(&file);
        let doc = match text.parse::<toml_edit::DocumentMut>() {
            Ok(d) => d,
            Err(_) => {
                acc.note(format!("{shown}: not valid TOML; not read"));
                continue;
            }
        };
        // Top level and `[pip]` (what `uv pip` reads); the top level wins.
        let tables: Vec<&toml_edit::Table> = [
            doc.get("pip").and_then(|t| t.as_table()),
            Some(doc.as_table()),
        ]
        .into_iter()
        .flatten()
        .collect();
        for t in tables {
            for key in ["index-url"] {
                if let Some(v) = t.get(key).and_then(|v| v.as_str()) {
                    strings.insert(
                        key,
                        Value {
                            value: v.to_string(),
                            from: format!("{shown} ({key})"),
                        },
                    );
                }
            }
            for key in ["extra-index-url", "allow-insecure-host"] {
                if let Some(a) = t.get(key).and_then(|v| v.as_array()) {
                    let items = a.iter().filter_map(|v| v.as_str()).map(str::to_string);
                    lists.insert(key, (items.collect(), format!("{shown} ({key})")));
                }
            }
            if let Some(b) = t.get("native-tls").and_then(|v| v.as_bool()) {
                native_tls = Some((b, format!("{shown} (native-tls)")));
            }
            if let Some(a) = t.get("index").and_then(|v| v.as_array_of_tables()) {
                let list = a
                    .iter()
                    .filter_map(|i| {
                        Some(Index {
                            url: i.get("url")?.as_str()?.to_string(),
                            name: i.get("name").and_then(|n| n.as_str()).map(str::to_string),
                            default: i.get("default").and_then(|d| d.as_bool()).unwrap_or(false),
                        })
                    })
                    .collect();
                indexes = Some((list, format!("{shown} ([[index]])")));
            }
        }
    }
    for (var, key) in [
        ("UV_INDEX_URL", "index-url"),
        ("UV_DEFAULT_INDEX", "index-url"),
    ] {
        if let Some(v) = host.var(var) {
            strings.insert(
                key,
                Value {
                    value: v.to_string(),
                    from: var.to_string(),
                },
            );
        }
    }
    for (var, key) in [
        ("UV_EXTRA_INDEX_URL", "extra-index-url"),
        ("UV_INSECURE_HOST", "allow-insecure-host"),
    ] {
        if let Some(v) = host.var(var) {
            let items = v.split_whitespace().map(str::to_string).collect();
            lists.insert(key, (items, var.to_string()));
        }
    }
    if let Some(v) = host.var("UV_INDEX") {
        let list = v
            .split_whitespace()
            .map(|e| match e.split_once('=') {
                Some((n, u)) if !n.contains(':') => Index {
                    name: Some(n.to_string()),
                    url: u.to_string(),
                    default: false,
                },
                _ => Index {
                    name: None,
                    url: e.to_string(),
                    default: false,
                },
            })
            .collect();
        indexes = Some((list, "UV_INDEX".into()));
    }
    if let Some(v) = host.var("UV_NATIVE_TLS") {
        native_tls = Some((
            matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"),
            "UV_NATIVE_TLS".into(),
        ));
    }

    if let Some(v) = strings.get("index-url") {
        if let Some(url) = acc.url(&v.value, &v.from) {
            acc.set("UV_DEFAULT_INDEX", url, &v.from);
        }
    }
    if let Some((items, from)) = lists.get("extra-index-url") {
        let urls: Vec<String> = items.iter().filter_map(|u| acc.url(u, from)).collect();
        if !urls.is_empty() {
            acc.set("UV_EXTRA_INDEX_URL", urls.join(" "), from);
        }
    }
    if let Some((items, from)) = lists.get("allow-insecure-host") {
        let hosts = valid_hosts(&items.join(" "));
        if !hosts.is_empty() {
            acc.set("UV_INSECURE_HOST", hosts.join(" "), from);
        }
    }
    if let Some((list, from)) = indexes {
        let mut entries = Vec::new();
        for i in list {
            let Some(url) = acc.url(&i.url, &from) else {
                continue;
            };
            if i.default {
                acc.set("UV_DEFAULT_INDEX", url, &from);
                continue;
            }
            let named = i.name.filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            });
            entries.push(match named {
                Some(n) => format!("{n}={url}"),
                None => url,
            });
        }
        if !entries.is_empty() {
            acc.set("UV_INDEX", entries.join(" "), &from);
        }
    }
    if let Some((true, from)) = native_tls {
        acc.set("UV_NATIVE_TLS", "true", &from);
    }
}
