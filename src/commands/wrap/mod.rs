//! `mcpcell wrap` and `mcpcell unwrap`: put every stdio server of an MCP client's config under
//! mcpcell, and take it back out, in one safe command.
//!
//! The data path of one run: find the files ([`clients`]) → read each one's servers
//! ([`jsonc`] or [`toml`] → [`model::Server`]) → check the names and profiles the command line
//! gives → decide one [`model::Edit`] per entry ([`plan`]) → let the format's editor splice
//! the text → read the result back and check that it says what was meant → print a unified
//! diff, or with `--write` replace the file ([`write`]).

mod args;
mod audit;
pub mod clients;
mod decide;
mod fields;
mod jsonc;
pub mod model;
pub mod pin;
mod status;
mod toml;
mod write;
mod yaml;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use args::{StatusArgs, Target, UnwrapArgs, WrapArgs};
use clients::Client;
use model::{Edit, Server};

/// A problem with a config file's text, before the file's name is attached.
#[derive(Debug, Error)]
pub enum FormatError {
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Shape(String),
}

#[derive(Debug, Error)]
pub enum WrapError {
    #[error(transparent)]
    Output(#[from] crate::commands::OutputError),
    #[error("failed to read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: invalid {format}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Shape { path: PathBuf, message: String },
    #[error(
        "{}: no MCP server section found (looked for mcpServers, projects.*.mcpServers, servers, mcp, mcp.servers, \"amp.mcpServers\", context_servers, extensions, [mcp_servers] and [[mcp_servers]])",
        path.display()
    )]
    NoSection { path: PathBuf },
    #[error("no {client} config file found; looked for {}", searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NoClientConfig {
        client: String,
        searched: Vec<PathBuf>,
    },
    #[error("{what}: no server named `{name}` in {files}; the servers there are: {}", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    UnknownServer {
        what: String,
        name: String,
        files: String,
        known: Vec<String>,
    },
    #[error("--profile {server}={profile}: failed to find the profile")]
    Profile {
        server: String,
        profile: String,
        #[source]
        source: crate::profile::ProfileError,
    },
    #[error("--pin {0}")]
    Pin(String),
    #[error("{what} {name}: `{name}` is not among the servers given with --server")]
    NotSelected { what: &'static str, name: String },
    #[error("give a CONFIG file, --client NAME or --all{hint}")]
    NoTarget { hint: &'static str },
    #[error("failed to find mcpcell's own path; pass --mcpcell PATH")]
    Launcher(#[source] std::io::Error),
    #[error("--mcpcell {}: the path must be absolute", .0.display())]
    RelativeLauncher(PathBuf),
    #[error("{}: the rewritten config does not check out ({why}); nothing was written", path.display())]
    Verify { path: PathBuf, why: String },
    #[error(transparent)]
    Write(#[from] write::WriteError),
}

/// The syntaxes client configs come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonc,
    Toml,
    Yaml,
}

impl Format {
    fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => Format::Toml,
            Some("yaml" | "yml") => Format::Yaml,
            _ => Format::Jsonc,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Jsonc => "JSON",
            Format::Toml => "TOML",
            Format::Yaml => "YAML",
        }
    }

    fn read(self, text: &str) -> Result<(Vec<String>, Vec<Server>), FormatError> {
        match self {
            Format::Jsonc => jsonc::read(text),
            Format::Toml => toml::read(text),
            Format::Yaml => yaml::read(text),
        }
    }

    fn rewrite(self, text: &str, edits: &[(usize, Edit)]) -> Result<String, FormatError> {
        match self {
            Format::Jsonc => jsonc::rewrite(text, edits),
            Format::Toml => toml::rewrite(text, edits),
            Format::Yaml => yaml::rewrite(text, edits),
        }
    }
}

/// A config file as read.
pub(crate) struct Loaded {
    path: PathBuf,
    /// Whose file it is, when the path is one of a known client's.
    client: Option<Client>,
    format: Format,
    text: String,
    servers: Vec<Server>,
}

impl Loaded {
    /// `Claude Code: /home/u/.claude.json`, for messages (escaped for the terminal).
    fn title(&self) -> String {
        let path = crate::escape::path(&self.path);
        match self.client {
            Some(c) => format!("{}: {path}", c.name()),
            None => path.to_string(),
        }
    }
}

fn format_error(path: &Path, format: Format, e: FormatError) -> WrapError {
    match e {
        FormatError::Syntax {
            line,
            column,
            message,
        } => WrapError::Syntax {
            path: path.to_path_buf(),
            format: format.name(),
            line,
            column,
            message,
        },
        FormatError::Shape(message) => WrapError::Shape {
            path: path.to_path_buf(),
            message,
        },
    }
}

/// The largest client config read.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Reads one file; `None` when a file found through `--client` has no server section.
fn load(path: &Path, client: Option<Client>, required: bool) -> Result<Option<Loaded>, WrapError> {
    let format = Format::of(path);
    // A client's own file (`~/.claude.json` keeps its history too) runs to megabytes; a
    // device or a FIFO named as CONFIG is none.
    let text =
        crate::paths::read_regular(path, MAX_CONFIG_BYTES).map_err(|source| WrapError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    let (sections, servers) = format
        .read(&text)
        .map_err(|e| format_error(path, format, e))?;
    if sections.is_empty() {
        if required {
            return Err(WrapError::NoSection {
                path: path.to_path_buf(),
            });
        }
        return Ok(None);
    }
    Ok(Some(Loaded {
        path: path.to_path_buf(),
        client,
        format,
        text,
        servers,
    }))
}

/// The files to work on, and the files of `--all` that could not be read (each an error to
/// report; the others are still worked on).
struct Targets {
    loaded: Vec<Loaded>,
    failed: Vec<WrapError>,
}

fn home_and_cwd() -> (PathBuf, PathBuf) {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    (home, cwd)
}

/// `pins` are the `--pin` values: `wrap --pin FILE` reads FILE as a server name.
fn load_targets(target: &Target, pins: &[String]) -> Result<Targets, WrapError> {
    let (home, cwd) = home_and_cwd();
    let var = |n: &str| std::env::var(n).ok();
    let env = clients::Env {
        home: &home,
        cwd: &cwd,
        var: &var,
    };
    if let Some(path) = &target.config {
        let client = clients::identify(path, &env);
        return Ok(Targets {
            loaded: load(path, client, true)?.into_iter().collect(),
            failed: vec![],
        });
    }
    let chosen: Vec<Client> = match target.client {
        Some(c) => vec![c],
        None if target.all => Client::all().collect(),
        None => {
            let hint = if pins.iter().any(|p| !p.is_empty() && Path::new(p).is_file()) {
                "; --pin takes a server name, so put CONFIG before --pin"
            } else {
                ""
            };
            return Err(WrapError::NoTarget { hint });
        }
    };
    let mut out = Targets {
        loaded: vec![],
        failed: vec![],
    };
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut searched = Vec::new();
    for client in chosen {
        for path in clients::locations(client, &env) {
            searched.push(path.clone());
            if !path.is_file() {
                continue;
            }
            // Some files are read by more than one client (`.mcp.json`): once is enough.
            let real = path.canonicalize().unwrap_or_else(|_| path.clone());
            if seen.contains(&real) {
                continue;
            }
            seen.push(real);
            match load(&path, Some(client), false) {
                Ok(Some(l)) => out.loaded.push(l),
                Ok(None) => say!(
                    "mcpcell: {}: {}: no MCP servers configured there; skipped",
                    client.name(),
                    crate::escape::path(&path)
                ),
                Err(e) if target.all => out.failed.push(e),
                Err(e) => return Err(e),
            }
        }
    }
    if out.loaded.is_empty() && out.failed.is_empty() {
        // Two clients may share a file (Cursor's, a project's `.mcp.json`): named once.
        let mut seen = std::collections::HashSet::new();
        searched.retain(|p| seen.insert(p.clone()));
        return Err(WrapError::NoClientConfig {
            client: match target.client {
                Some(c) => c.name().to_string(),
                None => "MCP client".into(),
            },
            searched,
        });
    }
    Ok(out)
}

/// Names given on the command line must each name a server somewhere in the files.
fn check_names<'a>(
    loaded: &[Loaded],
    what: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), WrapError> {
    let known: std::collections::HashSet<&str> = loaded
        .iter()
        .flat_map(|l| l.servers.iter().map(|s| s.name.as_str()))
        .collect();
    for name in names {
        if !known.contains(name) {
            let files = loaded
                .iter()
                .map(|l| l.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(WrapError::UnknownServer {
                what: what.to_string(),
                name: name.to_string(),
                files,
                // In file order, each once: what the error lists.
                known: {
                    let mut names = Vec::new();
                    super::wrap::model::push_new(
                        &mut names,
                        loaded
                            .iter()
                            .flat_map(|l| l.servers.iter().map(|s| s.name.clone())),
                    );
                    names
                },
            });
        }
    }
    Ok(())
}

/// What one file's run decided, ready to print or write.
pub(crate) struct Outcome {
    loaded: Loaded,
    new: String,
    report: Vec<String>,
    warnings: Vec<String>,
    /// Entries that start a process mcpcell cannot wrap.
    unsandboxed: Vec<decide::Unsandboxed>,
}

fn diff(path: &Path, old: &str, new: &str) -> String {
    // The file's name is the project's (a cloned repository's): one line, escaped, since
    // the diff's own line breaks are kept when it is printed.
    let label = crate::escape::path(path);
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&label, &label)
        .to_string()
}

/// Prints every outcome and, with `--write`, writes the files that change. Server names,
/// commands and the config text are the config's: every line is escaped for the terminal.
/// Returns whether every server the files start is (or, with `--write`, now is) under
/// mcpcell: false when an entry cannot be wrapped.
fn finish(outcomes: Vec<Outcome>, write: bool, verb: &str) -> Result<bool, WrapError> {
    use crate::escape::{terminal, terminal_text};
    let mut warned = std::collections::HashSet::new();
    let mut all_sandboxed = true;
    for o in outcomes {
        let path = &o.loaded.path;
        let shown = crate::escape::path(path);
        let title = o.loaded.title();
        say!("mcpcell: {title}:");
        for line in &o.report {
            say!("  {}", terminal(line));
        }
        // One warning once, however many files or servers it comes up for.
        for w in &o.warnings {
            if warned.insert(w.clone()) {
                say!("mcpcell: warning: {}", terminal(w));
            }
        }
        for u in &o.unsandboxed {
            all_sandboxed = false;
            say!(
                "mcpcell: error: {title}: server `{}` cannot be wrapped: {}. It is NOT sandboxed: the client starts it without mcpcell. Rewrite the entry in a plain form (`command` and `args` strings) or remove it",
                terminal(&u.server),
                terminal(&u.why)
            );
        }
        let changed = o.new != o.loaded.text;
        if changed && !write {
            let d = diff(path, &o.loaded.text, &o.new);
            crate::commands::print(terminal_text(&d).as_bytes())?;
            // A config that is a link (a project's, say) is written where it leads.
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                say!(
                    "mcpcell: {shown} is a link: --write writes {}, where it leads",
                    crate::escape::path(&target)
                );
            }
        }
        if !changed {
            say!(
                "mcpcell: {}: nothing to {verb}{}",
                shown,
                if write {
                    "; the file is left as it is"
                } else {
                    ""
                }
            );
        } else if write {
            let w = write::replace(path, &o.loaded.text, &o.new, &write::backups_dir())?;
            let linked = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            let via = if linked {
                format!(
                    " (to {}, which it links to)",
                    crate::escape::path(&w.target)
                )
            } else {
                String::new()
            };
            say!(
                "mcpcell: {}: written{via}; the previous version is in {}",
                shown,
                crate::escape::path(&w.backup)
            );
        } else {
            say!(
                "mcpcell: {}: nothing written; run again with --write to apply this diff",
                shown
            );
        }
    }
    Ok(all_sandboxed)
}

/// 0 when every server could be wrapped (or unwrapped), 1 when one stays unsandboxed.
fn status_code(all_done: bool) -> i32 {
    if all_done { 0 } else { 1 }
}

/// `mcpcell wrap`; returns the exit status (a failure is a usage or internal error, 125).
pub fn wrap(args: WrapArgs) -> Result<i32, WrapError> {
    if args.check {
        // Like `status`: every client's files unless told which.
        let mut target = args.target.clone();
        target.all |= target.config.is_none() && target.client.is_none();
        return status::run(&target);
    }
    run_wrap(&args).map(status_code)
}

/// `mcpcell unwrap`; returns the exit status (a failure is a usage or internal error, 125).
pub fn unwrap(args: UnwrapArgs) -> Result<i32, WrapError> {
    run_unwrap(&args).map(status_code)
}

/// `mcpcell status`; returns the exit status: 1 when a file could not be read or a server a
/// client starts runs unsandboxed.
pub fn status(args: StatusArgs) -> Result<i32, WrapError> {
    let target = Target {
        all: args.config.is_none() && args.client.is_none(),
        config: args.config,
        client: args.client,
        servers: vec![],
        write: false,
    };
    status::run(&target)
}

fn launcher(given: Option<&Path>) -> Result<String, WrapError> {
    let path = match given {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => return Err(WrapError::RelativeLauncher(p.to_path_buf())),
        None => std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .map_err(WrapError::Launcher)?,
    };
    Ok(path.to_string_lossy().into_owned())
}

/// Reports the files `--all` could not read; false when there were any.
fn report_failed(failed: Vec<WrapError>) -> bool {
    let none = failed.is_empty();
    for e in failed {
        crate::exit::print_error(&e);
    }
    none
}

fn run_wrap(args: &WrapArgs) -> Result<bool, WrapError> {
    let launcher = launcher(args.launcher.as_deref())?;
    let Targets { loaded, failed } = load_targets(&args.target, &args.pins)?;
    let read_all = report_failed(failed);
    let names: Vec<&str> = loaded
        .iter()
        .flat_map(|l| l.servers.iter().map(|s| s.name.as_str()))
        .collect();
    let pins = decide::PinRequest::parse(&args.pins, &names)?;
    check_names(
        &loaded,
        "--server",
        args.target.servers.iter().map(String::as_str),
    )?;
    check_names(
        &loaded,
        "--profile",
        args.profiles.iter().map(|(s, _)| s.as_str()),
    )?;
    check_names(&loaded, "--pin", pins.named())?;
    let only = &args.target.servers;
    let outside = |name: &str| !only.is_empty() && !only.iter().any(|o| o == name);
    for (what, name) in args
        .profiles
        .iter()
        .map(|(s, _)| ("--profile", s.as_str()))
        .chain(pins.named().map(|s| ("--pin", s)))
    {
        if outside(name) {
            return Err(WrapError::NotSelected {
                what,
                name: name.to_string(),
            });
        }
    }
    let profiles = crate::profile::Loader::from_env();
    for (server, profile) in &args.profiles {
        profiles
            .source(profile)
            .map_err(|source| WrapError::Profile {
                server: server.clone(),
                profile: profile.clone(),
                source,
            })?;
    }
    let ctx = decide::Context {
        launcher: &launcher,
        only: &args.target.servers,
        profiles: &args.profiles,
        pins: &pins,
        loader: &profiles,
        caches: &pin::Caches::from_env(),
    };
    let outcomes = loaded
        .into_iter()
        .map(|l| decide::wrap_file(l, &ctx))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(finish(outcomes, args.target.write, "wrap")? && read_all)
}

fn run_unwrap(args: &UnwrapArgs) -> Result<bool, WrapError> {
    // A launcher that moved or was renamed is still recognised by its name `mcpcell`.
    let launcher = launcher(None).unwrap_or_else(|_| "mcpcell".into());
    let Targets { loaded, failed } = load_targets(&args.target, &[])?;
    let read_all = report_failed(failed);
    check_names(
        &loaded,
        "--server",
        args.target.servers.iter().map(String::as_str),
    )?;
    let outcomes = loaded
        .into_iter()
        .map(|l| decide::unwrap_file(l, &args.target.servers, &launcher))
        .collect::<Result<Vec<_>, _>>()?;
    finish(outcomes, args.target.write, "unwrap")?;
    Ok(read_all)
}

/// Round trips for the editors' unit tests: wrap every stdio entry, check the text, unwrap.
#[cfg(test)]
fn round_trip(format: Format, profile: &str, text: &str, expect_wrapped: &str) {
    let (_, servers) = format.read(text).unwrap();
    let edits: Vec<(usize, Edit)> = servers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.kind {
            model::Kind::Stdio(st) => Some((
                i,
                Edit::Wrap {
                    launcher: "/bin/mcpcell".into(),
                    prefix: model::run_prefix(profile, &["K".into()], st.args.is_none()),
                    pins: vec![],
                },
            )),
            _ => None,
        })
        .collect();
    let wrapped = format.rewrite(text, &edits).unwrap();
    assert_eq!(wrapped, expect_wrapped);
    let back: Vec<(usize, Edit)> = edits.iter().map(|(i, _)| (*i, Edit::Unwrap)).collect();
    assert_eq!(format.rewrite(&wrapped, &back).unwrap(), text);
}

/// Wraps every stdio entry of a config text as `wrap` would, reads the result back, unwraps
/// it again and checks that the original text comes back byte for byte. Panics on any
/// mismatch; a text that is not a config at all is fine. For the fuzzer and its corpus test.
#[doc(hidden)]
/// `format`: 0 JSON with comments, 1 TOML, anything else YAML.
pub fn check_round_trip(text: &str, format: u8) {
    let (format, path) = match format {
        0 => (Format::Jsonc, "mcp.json"),
        1 => (Format::Toml, "config.toml"),
        _ => (Format::Yaml, "config.yaml"),
    };
    let path = PathBuf::from(path);
    let Ok((sections, servers)) = format.read(text) else {
        return;
    };
    if sections.is_empty() {
        return;
    }
    let launcher = "/usr/local/bin/mcpcell";
    let already = servers
        .iter()
        .any(|s| matches!(&s.kind, model::Kind::Stdio(st) if st.wrapped(launcher).is_some()));
    let loader = crate::profile::Loader::with_dirs(Vec::new());
    let caches = pin::Caches {
        home: None,
        var: Box::new(|_| None),
    };
    let pins = decide::PinRequest::default();
    let ctx = decide::Context {
        launcher,
        only: &[],
        profiles: &[],
        pins: &pins,
        loader: &loader,
        caches: &caches,
    };
    let loaded = |text: String, servers| Loaded {
        path: path.clone(),
        client: None,
        format,
        text,
        servers,
    };
    let wrapped = match decide::wrap_file(loaded(text.to_string(), servers), &ctx) {
        Ok(o) => o.new,
        // Refusing the whole file, and saying why, is fine.
        Err(e) if e.to_string().contains(toml::MIXED_LINE_ENDS) => return,
        Err(e) => panic!("wrap failed on a config it could read: {e}"),
    };
    let (_, again) = format
        .read(&wrapped)
        .unwrap_or_else(|e| panic!("the wrapped text does not parse: {e}"));
    let back = match decide::unwrap_file(loaded(wrapped, again), &[], launcher) {
        Ok(o) => o.new,
        Err(e) if e.to_string().contains(toml::MIXED_LINE_ENDS) => return,
        Err(e) => panic!("unwrap failed on wrap's own output: {e}"),
    };
    if !already {
        assert_eq!(back, text, "unwrap did not restore the original text");
    }
}
