//! The server's environment: only what the profile passes or sets, nothing else.

use std::collections::BTreeMap;
use std::ffi::OsString;

use serde::Serialize;

use super::Provenance;

#[derive(Debug, Clone, Serialize)]
pub struct EnvVar {
    pub name: String,
    /// `pass` or `set`, and the entry responsible.
    pub from: Provenance,
    #[serde(skip)]
    pub value: OsString,
}

/// `LC_*` matches by prefix; anything else matches exactly.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Builds the environment: host variables whose names match a pass pattern, then defaults
/// for names still missing, then the set values, which win. `pass` holds (pattern, where it
/// was written).
pub fn build(
    host: impl IntoIterator<Item = (OsString, OsString)>,
    pass: &[(String, Provenance)],
    defaults: Vec<(String, OsString, Provenance)>,
    set: Vec<(String, OsString, Provenance)>,
) -> Vec<EnvVar> {
    let mut out: BTreeMap<String, EnvVar> = BTreeMap::new();
    for (name, value) in host {
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some((pattern, from)) = pass.iter().find(|(p, _)| pattern_matches(p, name)) {
            out.insert(
                name.to_string(),
                EnvVar {
                    name: name.to_string(),
                    from: Provenance::via(format!("pass `{pattern}`"), from.clone()),
                    value,
                },
            );
        }
    }
    for (name, value, from) in defaults {
        out.entry(name.clone()).or_insert(EnvVar {
            name,
            from: Provenance::via("default", from),
            value,
        });
    }
    for (name, value, from) in set {
        out.insert(
            name.clone(),
            EnvVar {
                name,
                from: Provenance::via("set", from),
                value,
            },
        );
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_matching_names_and_sets_override() {
        let host = vec![
            ("PATH".into(), "/usr/bin".into()),
            ("LC_ALL".into(), "C".into()),
            ("LC_TIME".into(), "C".into()),
            ("SECRET_TOKEN".into(), "hunter2".into()),
            ("HOME".into(), "/home/u".into()),
        ];
        let pass = vec![
            ("PATH".to_string(), "p".into()),
            ("LC_*".to_string(), "p".into()),
            ("HOME".to_string(), "p".into()),
        ];
        let set = vec![("HOME".to_string(), OsString::from("/state"), "s".into())];
        let defaults = vec![
            ("PATH".to_string(), OsString::from("/default"), "d".into()),
            ("EXTRA".to_string(), OsString::from("x"), "d".into()),
        ];
        let env = build(host, &pass, defaults, set);
        let names: Vec<&str> = env.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["EXTRA", "HOME", "LC_ALL", "LC_TIME", "PATH"]);
        assert_eq!(
            env[4].value, "/usr/bin",
            "a default does not replace a passed value"
        );
        assert_eq!(env[1].value, "/state");
        assert_eq!(env[1].from.to_string(), "set (s)");
        assert_eq!(env[2].from.to_string(), "pass `LC_*` (p)");
    }
}
