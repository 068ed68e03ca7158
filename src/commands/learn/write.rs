//! The learned profile as YAML: `extends` the base, adds only what was used, says what used
//! each grant, and lists secrets as comments, never as grants.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::record::{Learned, Need};
use crate::escape::shell_words;
use crate::escape::{yaml_block_scalar, yaml_comment, yaml_scalar};
use crate::plural::plural;

/// What goes into the learned profile besides the file grants.
pub struct Context<'a> {
    /// The base as `extends` names it: a profile name or an absolute path.
    pub extends: &'a str,
    pub base_name: &'a str,
    /// The command that was observed.
    pub command: &'a [std::ffi::OsString],
    /// mcpcell's name for the server (its state directory's).
    pub server: &'a str,
    /// Variable → value, for writing paths with `${HOME}`-style variables.
    pub vars: Vec<(&'static str, PathBuf)>,
    /// Hosts to add to `network.allow` (entry, attempts).
    pub hosts: Vec<(String, u64)>,
    /// Destinations the proxy refused even in observe mode (host:port, attempts, why).
    pub refused: Vec<(String, u64, String)>,
    /// The base's network mode allows no host names (none or host).
    pub network_mode: &'a str,
}

/// The learned profile as written did not read back as what was meant.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("failed to read back the learned profile as YAML")]
    Parse(#[source] serde_yaml::Error),
    #[error(
        "the learned profile does not read back as what was meant to be written (a bug in mcpcell, or a name it cannot escape); nothing was written"
    )]
    Mismatch,
}

/// `path` with the longest matching variable prefix replaced.
pub fn with_vars(path: &Path, vars: &[(&'static str, PathBuf)]) -> String {
    let best = vars
        .iter()
        .filter(|(_, v)| v.components().count() > 1 && path.starts_with(v))
        .max_by_key(|(_, v)| v.components().count());
    match best {
        Some((name, v)) => {
            let rest = path.strip_prefix(v).unwrap_or(Path::new(""));
            if rest.as_os_str().is_empty() {
                format!("${{{name}}}")
            } else {
                format!("${{{name}}}/{}", rest.display())
            }
        }
        None => path.display().to_string(),
    }
}

/// The text and, beside it, the document it must read back as. Every scalar goes through
/// [`yaml_scalar`] and every comment through [`yaml_comment`]: whatever a process name, a
/// path or a host holds, it stays inside its own scalar or comment line.
struct Doc {
    text: String,
    want: Mapping,
}

impl Doc {
    fn comment(&mut self, indent: &str, s: &str) {
        let _ = writeln!(self.text, "{indent}# {}", yaml_comment(s));
    }

    fn scalar(&mut self, key: &str, value: &str) {
        let _ = writeln!(self.text, "{key}: {}", yaml_block_scalar(value));
        self.want.insert(key.into(), value.into());
    }

    /// `section.key` as a block list, each item after its comment.
    fn list(&mut self, section: &str, key: &str, items: Vec<(String, String)>) {
        if items.is_empty() {
            return;
        }
        let _ = writeln!(self.text, "  {key}:");
        let mut values = Vec::new();
        for (comment, value) in items {
            self.comment("    ", &comment);
            let _ = writeln!(self.text, "    - {}", yaml_block_scalar(&value));
            values.push(Value::String(value));
        }
        let entry = self
            .want
            .entry(section.into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Value::Mapping(m) = entry {
            m.insert(key.into(), Value::Sequence(values));
        }
    }

    /// The text, once it has been parsed again and found to say exactly what was meant.
    fn finish(self) -> Result<String, WriteError> {
        let got: Value = serde_yaml::from_str(&self.text).map_err(WriteError::Parse)?;
        if got != Value::Mapping(self.want) {
            return Err(WriteError::Mismatch);
        }
        Ok(self.text)
    }
}

fn needs(l: &[Need], vars: &[(&'static str, PathBuf)]) -> Vec<(String, String)> {
    l.iter()
        .map(|n| (n.describe(), with_vars(&n.path, vars)))
        .collect()
}

const LEARNED_FROM: &str = "Learned by `mcpcell learn` from a run of:";

/// The header line that names the command a profile was learned from, as written.
fn command_line(command: &[std::ffi::OsString]) -> String {
    format!("# {}", yaml_comment(&format!("  {}", shell_words(command))))
}

const SERVER: &str = "# Server: ";

/// The command a learned profile's `text` names in its header, if it names one, and
/// whether it is the server `server` (mcpcell's name for it: the resolved command and its
/// arguments, as `${STATE_DIR}` is named; the same words in another project are another
/// server): (named, same).
pub fn learned_from(text: &str, server: &str) -> Option<(String, bool)> {
    let mut lines = text.lines();
    lines.find(|l| l.strip_prefix("# ") == Some(LEARNED_FROM))?;
    let named = lines.next()?.trim_start_matches('#').trim().to_string();
    let same = lines.next()?.strip_prefix(SERVER) == Some(server);
    Some((named, same))
}

pub fn render(l: &Learned, cx: &Context) -> Result<String, WriteError> {
    let mut d = Doc {
        text: String::new(),
        want: Mapping::new(),
    };
    let cmd = shell_words(cx.command);
    d.comment("", LEARNED_FROM);
    let _ = writeln!(d.text, "{}", command_line(cx.command));
    let _ = writeln!(d.text, "{SERVER}{}", yaml_comment(cx.server));
    d.comment(
        "",
        &format!(
            "It grants what the server used in that run beyond `{}`. Review every entry before",
            cx.base_name
        ),
    );
    d.comment(
        "",
        "relying on it; `mcpcell explain -p THIS_FILE PATH` says what decides any access.",
    );
    let files = l.read.len() + l.write.len() + l.exec.len();
    let description = format!(
        "The `{}` profile plus what `{}` used while it was observed: {}, {}, {}.",
        cx.base_name,
        cmd,
        plural(files, "filesystem grant"),
        plural(l.unix.len(), "Unix socket"),
        plural(cx.hosts.len(), "host"),
    );
    d.scalar("description", &description);
    let _ = writeln!(d.text, "extends: [{}]", yaml_scalar(cx.extends));
    d.want.insert(
        "extends".into(),
        Value::Sequence(vec![Value::String(cx.extends.to_string())]),
    );
    if files > 0 {
        let _ = writeln!(d.text, "filesystem:");
        d.list("filesystem", "read", needs(&l.read, &cx.vars));
        d.list("filesystem", "write", needs(&l.write, &cx.vars));
        d.list("filesystem", "exec", needs(&l.exec, &cx.vars));
        let hide = l
            .hide
            .iter()
            .map(|s| {
                (
                    format!(
                        "{} inside a granted directory: the server sees an empty stand-in",
                        s.why
                    ),
                    with_vars(&s.need.path, &cx.vars),
                )
            })
            .collect();
        d.list("filesystem", "hide", hide);
    }
    if !cx.hosts.is_empty() || !l.unix.is_empty() {
        let _ = writeln!(d.text, "network:");
        let hosts = cx
            .hosts
            .iter()
            .map(|(h, n)| {
                (
                    format!("{} through the proxy", plural(*n, "connection")),
                    h.clone(),
                )
            })
            .collect();
        d.list("network", "allow", hosts);
        d.list("network", "unix", needs(&l.unix, &cx.vars));
    }
    if !cx.refused.is_empty() {
        d.comment(
            "",
            "The proxy refused these even while learning (add them yourself only if needed):",
        );
        for (dest, n, why) in &cx.refused {
            d.comment("", &format!("  {dest}: {n}× ({why})"));
        }
    }
    if !l.ip_attempts.is_empty() {
        d.comment(
            "",
            &format!(
                "The server tried to reach these addresses; network mode {} gives it no route. To",
                cx.network_mode
            ),
        );
        d.comment(
            "",
            "learn the host names it needs, learn again with a base in network mode proxy:",
        );
        for (a, by) in &l.ip_attempts {
            d.comment("", &format!("  {a} ({by})"));
        }
    }
    if !l.secrets.is_empty() {
        d.comment(
            "",
            "WARNING: the server tried to use these secrets and too-wide directories while it was",
        );
        d.comment(
            "",
            "observed. They are NOT granted (secrets inside a granted directory are masked by the hide entries above).",
        );
        d.comment(
            "",
            "Merge an entry into the lists above only if you are sure the server needs it.",
        );
        let mut groups: std::collections::BTreeMap<(&str, &str), Vec<String>> =
            std::collections::BTreeMap::new();
        for s in &l.secrets {
            let socket = s.why.contains("socket") || s.why.contains("D-Bus");
            let key = if socket {
                ("network", "unix")
            } else if s.need.rights.write {
                ("filesystem", "write")
            } else if s.need.rights.exec {
                ("filesystem", "exec")
            } else {
                ("filesystem", "read")
            };
            groups.entry(key).or_default().push(format!(
                "    - {}    # {}; {}",
                yaml_block_scalar(&with_vars(&s.need.path, &cx.vars)),
                s.why,
                s.need.describe()
            ));
        }
        let mut section = "";
        for ((top, key), lines) in groups {
            if top != section {
                d.comment("", &format!("{top}:"));
                section = top;
            }
            d.comment("", &format!("  {key}:"));
            for line in lines {
                d.comment("", &line);
            }
        }
    }
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_replace_the_longest_prefix() {
        let vars = vec![
            ("HOME", PathBuf::from("/home/u")),
            ("CWD", PathBuf::from("/home/u/work")),
            ("STATE_DIR", PathBuf::from("/home/u/.local/state/mcpcell/x")),
        ];
        assert_eq!(
            with_vars(Path::new("/home/u/work/data"), &vars),
            "${CWD}/data"
        );
        assert_eq!(
            with_vars(Path::new("/home/u/notes"), &vars),
            "${HOME}/notes"
        );
        assert_eq!(
            with_vars(Path::new("/home/u/.local/state/mcpcell/x"), &vars),
            "${STATE_DIR}"
        );
        assert_eq!(with_vars(Path::new("/srv/x"), &vars), "/srv/x");
        assert_eq!(with_vars(Path::new("/home/uu"), &vars), "/home/uu");
    }

    #[test]
    fn scalars_are_quoted_when_needed() {
        assert_eq!(yaml_scalar("/srv/plain"), "/srv/plain");
        assert_ne!(yaml_scalar("/srv/a: b"), "/srv/a: b");
        assert_ne!(yaml_scalar("*.example.com"), "*.example.com");
    }

    /// Process names, hosts and refusal reasons come from the sandbox: whatever they hold,
    /// the profile reads back as exactly the grants that were meant, and nothing else.
    #[test]
    fn hostile_names_cannot_add_keys_or_grants() {
        use crate::plan::fs::Rights;
        use std::collections::BTreeMap;
        let hostile = [
            "x\nfilesystem:\n  read: [/]\n#",
            "x\rnetwork:\r  mode: host\r#",
            "x\u{85}network: {mode: host}",
            "x\u{2028}extends: [default]",
            "a: b # \"q\" 'q' \\ \x1b]52;c;aGk=\x07",
        ];
        let need = |p: &str, by: &str| Need {
            path: PathBuf::from(p),
            rights: Rights::READ,
            by: BTreeMap::from([(format!("{by} (openat)"), 1)]),
            paths: 1,
        };
        for h in hostile {
            let mut l = Learned {
                read: vec![need("/srv/data", h), need(&format!("/srv/{h}"), h)],
                ..Learned::default()
            };
            l.ip_attempts
                .insert("10.0.0.1:443".parse().unwrap(), format!("{h} (connect)"));
            let argv = vec![std::ffi::OsString::from(h)];
            let cx = Context {
                extends: "node",
                base_name: "node",
                command: &argv,
                server: h,
                vars: vec![],
                hosts: vec![(format!("{h}.example.com"), 1)],
                refused: vec![(h.to_string(), 2, h.to_string())],
                network_mode: "proxy",
            };
            let text = render(&l, &cx).unwrap_or_else(|e| panic!("{h:?}: {e}"));
            let v: Value = serde_yaml::from_str(&text).unwrap();
            let keys: Vec<&str> = v
                .as_mapping()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap())
                .collect();
            assert_eq!(
                keys,
                ["description", "extends", "filesystem", "network"],
                "{text}"
            );
            let read: Vec<&str> = v["filesystem"]["read"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            assert_eq!(read, ["/srv/data", format!("/srv/{h}").as_str()], "{text}");
            assert_eq!(v["network"].as_mapping().unwrap().len(), 1, "{text}");
            assert!(v["network"].get("mode").is_none(), "{text}");
            assert_eq!(v["extends"][0].as_str(), Some("node"), "{text}");
            // Every line is a comment, a key or a list item of one line: no raw control
            // characters reach the file.
            assert!(
                !text
                    .chars()
                    .any(|c| crate::escape::is_special(c) && c != '\n'),
                "{text:?}"
            );
        }
    }
}
