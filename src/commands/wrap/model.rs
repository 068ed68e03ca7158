//! The format-independent view of a client config: its server entries, and the wrapped form
//! of a stdio entry.
//!
//! A wrapped entry is the original one with `command` replaced by mcpcell's absolute path and
//! `run -p PROFILE [--pass-env NAME]... -- ORIGINAL-COMMAND` put in front of the original
//! `args`. Everything `unwrap` needs is in the entry itself: the original command is the
//! element after `--`, the original arguments follow it. An entry that had no `args` at all
//! gets one, and its profile option is spelled `--profile` instead of `-p`; that spelling is
//! how `unwrap` knows to remove the key again rather than leave an empty list.

use std::path::Path;

/// One server entry of a client config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Where the entry lives, for messages: `mcpServers`, `projects."/p".mcpServers`, ...
    pub section: String,
    pub name: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A server the client starts as a process.
    Stdio(Stdio),
    /// A server the client does not start as a process (reached over HTTP or SSE, or built
    /// into the client), and what it is: nothing to sandbox here.
    Remote(String),
    /// An entry that may start a process but that mcpcell cannot wrap, and why. Never passed
    /// over quietly: the server runs unsandboxed, and `wrap` says so as an error.
    Unsupported(String),
}

/// A stdio server: the process the client starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stdio {
    pub command: String,
    /// `None` when the entry has no `args` key.
    pub args: Option<Vec<String>>,
    /// Variables the client sets for the server (`env` keys, Codex's `env_vars`), in order.
    pub env: Vec<String>,
    /// What the wrapped server will not get from the client, to warn about.
    pub warnings: Vec<String>,
    /// The directory the client starts the server in (`cwd`), if the entry names one.
    pub cwd: Option<String>,
    /// A file the client loads variables from for the server (`envFile`).
    pub env_file: Option<String>,
    /// The client runs the server in a sandbox of its own (VS Code's `sandboxEnabled`).
    pub client_sandbox: bool,
}

/// A stdio entry already in the wrapped form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    /// The profile given with `-p`/`--profile`, if any.
    pub profile: Option<String>,
    /// The original command: the element after `--`.
    pub command: String,
    /// Its index in the entry's `args`.
    pub command_index: usize,
    /// The original arguments.
    pub args: Vec<String>,
    /// The entry had no `args` before it was wrapped.
    pub args_added: bool,
    /// The `mcpcell run` arguments before `--`.
    pub options: Vec<String>,
    /// The command follows `--`: nothing the client puts in its place is read as an option.
    pub guarded: bool,
}

impl Wrapped {
    /// The words `mcpcell run` reads as its own, or might: the options, and the command
    /// itself where no `--` comes before it (a word the client expands, such as
    /// `${X:---allow-write=/}`, may turn into options).
    pub fn audited(&self) -> Vec<String> {
        let mut v = self.options.clone();
        if !self.guarded {
            v.push(self.command.clone());
        }
        v
    }
}

/// A change to one entry, computed by the planner and carried out by the format's editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Put a plain stdio entry in the wrapped form: the launcher for `command`, the `run`
    /// arguments to insert in front of the original command, and package pins as (index in
    /// the original `args`, new value).
    Wrap {
        launcher: String,
        prefix: Vec<String>,
        pins: Vec<(usize, String)>,
    },
    /// Restore a wrapped entry.
    Unwrap,
    /// Pin packages of an entry that stays as it is: (index in `args`, new value).
    Pin(Vec<(usize, String)>),
}

/// `mcpcell run` options that take a value, so a value is never mistaken for `--`.
pub(crate) const RUN_VALUE_OPTIONS: &[&str] = &[
    "-p",
    "--profile",
    "--allow-read",
    "--allow-write",
    "--allow-exec",
    "--allow-host",
    "--pass-env",
    "--set-env",
    "--format",
    "--log-level",
    "--log-file",
    "--log-format",
    "--stop-timeout",
];

/// Whether `command` launches mcpcell: a file named `mcpcell`, wherever it lives, or the
/// launcher this run writes.
pub fn is_launcher(command: &str, launcher: &str) -> bool {
    command == launcher
        || Path::new(command)
            .file_name()
            .is_some_and(|n| n == "mcpcell")
}

/// Whether `command`, which [`is_launcher`] takes for mcpcell, is this mcpcell: the same file
/// as the one running, or as `launcher`. A program merely named `mcpcell` (one a cloned
/// project ships beside its client config, say) sandboxes nothing; the answer says what it is.
/// A bare name is looked up on this PATH; a relative path is refused: the client resolves it
/// from a working directory this process does not know.
pub fn genuine(command: &str, launcher: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let found = if !command.contains('/') {
        which::which(command).map_err(|_| format!("`{command}` is not found on this PATH"))?
    } else if Path::new(command).is_absolute() {
        Path::new(command).to_path_buf()
    } else {
        return Err(format!(
            "`{command}` is a relative path, which the client resolves from its own working directory: which program that is cannot be told"
        ));
    };
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let Some(it) = id(&found) else {
        return Err(format!("{} does not exist", found.display()));
    };
    let this = [Path::new("/proc/self/exe"), Path::new(launcher)];
    if this.iter().any(|p| id(p) == Some(it)) {
        return Ok(());
    }
    Err(format!(
        "{} is named mcpcell but is not this mcpcell ({launcher}); if it is another copy of mcpcell, ask that copy, else `mcpcell wrap --write` points the entry at this one",
        found.display()
    ))
}

impl Stdio {
    /// The variables the client sets for the server: its `env` block and, where it can be
    /// read, its env file.
    pub fn own_env(&self) -> Vec<String> {
        let mut env = self.env.clone();
        if let Some(file) = &self.env_file {
            let names = super::fields::env_file_names(file, self.cwd.as_deref());
            push_new(&mut env, names.unwrap_or_default());
        }
        env
    }

    /// The wrapped form's parts, when this entry runs `mcpcell run ... -- COMMAND`.
    pub fn wrapped(&self, launcher: &str) -> Option<Wrapped> {
        if !is_launcher(&self.command, launcher) {
            return None;
        }
        let args = self.args.as_deref()?;
        if args.first().map(String::as_str) != Some("run") {
            return None;
        }
        let mut profile = None;
        let mut long_profile = false;
        let mut i = 1;
        while i < args.len() {
            let a = args[i].as_str();
            // The command follows `--`, or is the first word that is no option (as `run`
            // reads it: the README's entries have no `--`).
            let at = match a {
                "--" => Some(i + 1),
                _ if !a.starts_with('-') => Some(i),
                _ => None,
            };
            if let Some(at) = at {
                let command = args.get(at)?.clone();
                let rest = args[at + 1..].to_vec();
                return Some(Wrapped {
                    profile,
                    command,
                    command_index: at,
                    args_added: long_profile && rest.is_empty(),
                    args: rest,
                    options: args[1..i].to_vec(),
                    guarded: at == i + 1,
                });
            }
            if let Some(v) = a.strip_prefix("--profile=") {
                profile = Some(v.to_string());
            } else if a == "-p" || a == "--profile" {
                profile = args.get(i + 1).cloned();
                long_profile = a == "--profile";
            }
            i += if RUN_VALUE_OPTIONS.contains(&a) { 2 } else { 1 };
        }
        None
    }

    /// The command and arguments of the server itself, wrapped or not.
    pub fn inner(&self, launcher: &str) -> (String, Vec<String>) {
        match self.wrapped(launcher) {
            Some(w) => (w.command, w.args),
            None => (self.command.clone(), self.args.clone().unwrap_or_default()),
        }
    }
}

/// A valid environment variable name, as `--pass-env` expects it.
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `mcpcell run` arguments that go in front of the original command (which follows them).
pub fn run_prefix(profile: &str, pass_env: &[String], args_absent: bool) -> Vec<String> {
    let mut out = vec![
        "run".to_string(),
        if args_absent { "--profile" } else { "-p" }.to_string(),
        profile.to_string(),
    ];
    for name in pass_env {
        out.push("--pass-env".into());
        out.push(name.clone());
    }
    out.push("--".into());
    out
}

/// Appends the names of `more` that `list` does not hold yet, in order (a set, not a scan
/// of the list per name: a config may hold tens of thousands).
pub fn push_new(list: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    let mut seen: std::collections::HashSet<String> = list.iter().cloned().collect();
    for n in more {
        if seen.insert(n.clone()) {
            list.push(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio(command: &str, args: Option<&[&str]>) -> Stdio {
        Stdio {
            command: command.into(),
            args: args.map(|a| a.iter().map(|s| s.to_string()).collect()),
            ..Stdio::default()
        }
    }

    #[test]
    fn recognises_the_wrapped_form() {
        let s = stdio(
            "/opt/bin/mcpcell",
            Some(&[
                "run",
                "-p",
                "node",
                "--pass-env",
                "TOKEN",
                "--",
                "npx",
                "-y",
                "pkg",
            ]),
        );
        let w = s.wrapped("/usr/local/bin/mcpcell").unwrap();
        assert_eq!(w.profile.as_deref(), Some("node"));
        assert_eq!(w.command, "npx");
        assert_eq!(w.command_index, 6);
        assert_eq!(w.args, ["-y", "pkg"]);
        assert!(!w.args_added);
        assert_eq!(s.inner("x").0, "npx");
    }

    #[test]
    fn long_profile_spelling_marks_added_args() {
        let s = stdio(
            "/bin/mcpcell",
            Some(&["run", "--profile", "default", "--", "server"]),
        );
        assert!(s.wrapped("/bin/mcpcell").unwrap().args_added);
        // With original arguments after the command the key existed anyway.
        let s = stdio(
            "/bin/mcpcell",
            Some(&["run", "--profile", "default", "--", "server", "x"]),
        );
        assert!(!s.wrapped("/bin/mcpcell").unwrap().args_added);
    }

    #[test]
    fn the_command_may_come_without_a_separator() {
        let s = stdio(
            "/x/mcpcell",
            Some(&[
                "run",
                "--profile",
                "memory",
                "--allow-host",
                "a.example",
                "npx",
                "-y",
                "pkg",
            ]),
        );
        let w = s.wrapped("/x/mcpcell").unwrap();
        assert_eq!((w.command.as_str(), w.command_index), ("npx", 5));
        assert_eq!(w.args, ["-y", "pkg"]);
        assert_eq!(
            w.options,
            ["--profile", "memory", "--allow-host", "a.example"]
        );
        assert_eq!(w.profile.as_deref(), Some("memory"));
    }

    /// Every `run` option that takes a value is in the list, so that its value is never
    /// read as the command.
    #[test]
    fn the_value_options_are_runs_own() {
        use clap::CommandFactory;
        let mut cli = crate::cli::Cli::command();
        cli.build();
        let run = cli.find_subcommand("run").unwrap();
        let mut takes: Vec<String> = Vec::new();
        for a in run.get_arguments() {
            if a.is_positional() || !a.get_action().takes_values() {
                continue;
            }
            takes.extend(a.get_long().map(|l| format!("--{l}")));
            takes.extend(a.get_short().map(|c| format!("-{c}")));
        }
        takes.sort();
        let mut listed: Vec<String> = RUN_VALUE_OPTIONS.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(takes, listed);
    }

    #[test]
    fn option_values_are_not_separators() {
        let s = stdio("/x/mcpcell", Some(&["run", "--set-env", "--", "--", "cmd"]));
        let w = s.wrapped("/x/mcpcell").unwrap();
        assert_eq!(w.command, "cmd");
    }

    #[test]
    fn plain_entries_are_not_wrapped() {
        assert!(
            stdio("npx", Some(&["run", "--", "x"]))
                .wrapped("/b/mcpcell")
                .is_none()
        );
        assert!(stdio("/b/mcpcell", None).wrapped("/b/mcpcell").is_none());
        assert!(
            stdio("/b/mcpcell", Some(&["run", "-p", "x"]))
                .wrapped("/b/mcpcell")
                .is_none()
        );
        assert!(
            stdio("/b/mcpcell-dev", Some(&["run", "--", "x"]))
                .wrapped("/b/mcpcell-dev")
                .is_some()
        );
    }

    #[test]
    fn prefix_and_names() {
        assert_eq!(
            run_prefix("node", &["A".into()], false),
            ["run", "-p", "node", "--pass-env", "A", "--"]
        );
        assert_eq!(run_prefix("x", &[], true), ["run", "--profile", "x", "--"]);
        assert!(valid_env_name("GITHUB_TOKEN"));
        assert!(!valid_env_name("1X"));
        assert!(!valid_env_name("A-B"));
    }
}
