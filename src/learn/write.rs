//! The learned profile as YAML: `extends` the base, adds only what was used, says what used
//! each grant, and lists secrets as comments, never as grants.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::record::{Learned, Need};

/// What goes into the learned profile besides the file grants.
pub struct Context<'a> {
    /// The base as `extends` names it: a profile name or an absolute path.
    pub extends: &'a str,
    pub base_name: &'a str,
    /// The command that was observed.
    pub command: &'a [std::ffi::OsString],
    /// Variable → value, for writing paths with `${HOME}`-style variables.
    pub vars: Vec<(&'static str, PathBuf)>,
    /// Hosts to add to `network.allow` (entry, attempts).
    pub hosts: Vec<(String, u64)>,
    /// Destinations the proxy refused even in observe mode (host:port, attempts, why).
    pub refused: Vec<(String, u64, String)>,
    /// The base's network mode allows no host names (none or host).
    pub network_mode: &'a str,
}

/// A YAML scalar for `s`, quoted when YAML needs it.
fn scalar(s: &str) -> String {
    serde_yaml::to_string(s)
        .map(|y| y.trim_end().to_string())
        .unwrap_or_else(|_| format!("{s:?}"))
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

fn comment_line(s: &str) -> String {
    s.replace('\n', " ")
}

fn list(out: &mut String, key: &str, needs: &[Need], vars: &[(&'static str, PathBuf)]) {
    if needs.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {key}:");
    for n in needs {
        let _ = writeln!(out, "    # {}", comment_line(&n.describe()));
        let _ = writeln!(out, "    - {}", scalar(&with_vars(&n.path, vars)));
    }
}

/// `argv` as a shell would need it typed.
pub fn shell_words(argv: &[std::ffi::OsString]) -> String {
    argv.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
            {
                s.into_owned()
            } else {
                format!("'{}'", s.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn render(l: &Learned, cx: &Context) -> String {
    let mut out = String::new();
    let cmd = comment_line(&shell_words(cx.command));
    let _ = writeln!(out, "# Learned by `mcpcell learn` from a run of:");
    let _ = writeln!(out, "#   {cmd}");
    let _ = writeln!(
        out,
        "# It grants what the server used in that run beyond `{}`. Review every entry before",
        cx.base_name
    );
    let _ = writeln!(
        out,
        "# relying on it; `mcpcell explain -p THIS_FILE PATH` says what decides any access."
    );
    let files = l.read.len() + l.write.len() + l.exec.len();
    let description = format!(
        "The `{}` profile plus what `{}` used while it was observed: {} filesystem grant{}, {} Unix socket{}, {} host{}.",
        cx.base_name,
        cmd,
        files,
        if files == 1 { "" } else { "s" },
        l.unix.len(),
        if l.unix.len() == 1 { "" } else { "s" },
        cx.hosts.len(),
        if cx.hosts.len() == 1 { "" } else { "s" },
    );
    let _ = writeln!(out, "description: {}", scalar(&description));
    let _ = writeln!(out, "extends: [{}]", scalar(cx.extends));
    if files > 0 {
        let _ = writeln!(out, "filesystem:");
        list(&mut out, "read", &l.read, &cx.vars);
        list(&mut out, "write", &l.write, &cx.vars);
        list(&mut out, "exec", &l.exec, &cx.vars);
        if !l.hide.is_empty() {
            let _ = writeln!(out, "  hide:");
            for s in &l.hide {
                let _ = writeln!(
                    out,
                    "    # {} inside a granted directory: the server sees an empty stand-in",
                    s.why
                );
                let _ = writeln!(out, "    - {}", scalar(&with_vars(&s.need.path, &cx.vars)));
            }
        }
    }
    if !cx.hosts.is_empty() || !l.unix.is_empty() {
        let _ = writeln!(out, "network:");
        if !cx.hosts.is_empty() {
            let _ = writeln!(out, "  allow:");
            for (h, n) in &cx.hosts {
                let _ = writeln!(
                    out,
                    "    # {n} connection{} through the proxy",
                    if *n == 1 { "" } else { "s" }
                );
                let _ = writeln!(out, "    - {}", scalar(h));
            }
        }
        list(&mut out, "unix", &l.unix, &cx.vars);
    }
    if !cx.refused.is_empty() {
        let _ = writeln!(
            out,
            "# The proxy refused these even while learning (add them yourself only if needed):"
        );
        for (d, n, why) in &cx.refused {
            let _ = writeln!(out, "#   {d}: {n}× ({})", comment_line(why));
        }
    }
    if !l.ip_attempts.is_empty() {
        let _ = writeln!(
            out,
            "# The server tried to reach these addresses; network mode {} gives it no route. To",
            cx.network_mode
        );
        let _ = writeln!(
            out,
            "# learn the host names it needs, learn again with a base in network mode proxy:"
        );
        for (a, by) in &l.ip_attempts {
            let _ = writeln!(out, "#   {a} ({by})");
        }
    }
    if !l.secrets.is_empty() {
        let _ = writeln!(
            out,
            "# WARNING: the server tried to use these secrets and too-wide directories while it was"
        );
        let _ = writeln!(
            out,
            "# observed. They are NOT granted (secrets inside a granted directory are masked by the hide entries above)."
        );
        let _ = writeln!(
            out,
            "# Merge an entry into the lists above only if you are sure the server needs it."
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
                "#     - {}    # {}; {}",
                scalar(&with_vars(&s.need.path, &cx.vars)),
                s.why,
                comment_line(&s.need.describe())
            ));
        }
        let mut section = "";
        for ((top, key), lines) in groups {
            if top != section {
                let _ = writeln!(out, "# {top}:");
                section = top;
            }
            let _ = writeln!(out, "#   {key}:");
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
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
        assert_eq!(scalar("/srv/plain"), "/srv/plain");
        assert_ne!(scalar("/srv/a: b"), "/srv/a: b");
        assert_ne!(scalar("*.example.com"), "*.example.com");
    }
}
