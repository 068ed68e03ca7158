//! Profiles: YAML → [`RawProfile`] (serde, no logic) → [`Profile`] (lookup, `extends`
//! merged, validated). Nothing here looks at the running system beyond reading profile files;
//! variables and paths are resolved by the plan.

pub mod builtin;
mod lint;
pub mod location;
pub mod raw;
mod source;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;

pub use raw::{ArgsAccess, NetworkMode, OnViolation, PackageManager, RawProfile};
pub use source::{Entry, Origin, Source, SourceKind};

/// A profile with everything it extends merged in, in order: lists appended, scalars
/// overridden by later profiles.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The name of the profile that was asked for (file stem for a path).
    pub name: String,
    pub description: Option<String>,
    /// Every profile document that contributed, bases first, the requested one last.
    pub sources: Vec<Arc<Source>>,
    pub filesystem: Filesystem,
    pub network: Network,
    pub syscalls: Syscalls,
    pub env: Env,
    pub capabilities: Vec<Entry<String>>,
    pub limits: Limits,
}

#[derive(Debug, Clone, Default)]
pub struct Filesystem {
    pub read: Vec<Entry<String>>,
    pub write: Vec<Entry<String>>,
    pub exec: Vec<Entry<String>>,
    pub args: Option<Entry<ArgsAccess>>,
    pub programs: Vec<Entry<String>>,
    pub hide: Vec<Entry<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Network {
    pub mode: Option<Entry<NetworkMode>>,
    pub allow: Vec<Entry<String>>,
    pub connect: Vec<Entry<u16>>,
    pub bind: Vec<Entry<u16>>,
    pub unix: Vec<Entry<String>>,
    pub allow_private: Vec<Entry<String>>,
    pub hosts: BTreeMap<String, Entry<String>>,
}

impl Network {
    pub fn mode(&self) -> NetworkMode {
        self.mode.as_ref().map(|e| e.value).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Syscalls {
    pub deny: Vec<Entry<String>>,
    pub allow: Vec<Entry<String>>,
    pub on_violation: Option<Entry<OnViolation>>,
}

impl Syscalls {
    pub fn on_violation(&self) -> OnViolation {
        self.on_violation
            .as_ref()
            .map(|e| e.value)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Env {
    pub pass: Vec<Entry<String>>,
    pub set: BTreeMap<String, Entry<String>>,
    pub default: BTreeMap<String, Entry<String>>,
    pub package_settings: Vec<Entry<PackageManager>>,
}

#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub open_files: Option<Entry<u64>>,
    pub processes: Option<Entry<u64>>,
    pub core_dumps: Option<Entry<bool>>,
    pub file_size: Option<Entry<u64>>,
    pub tmp_size: Option<Entry<u64>>,
    pub memory: Option<Entry<u64>>,
    pub state_size: Option<Entry<u64>>,
}

/// A problem found in a profile, with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// `FILE:LINE:COLUMN`, or the profile label when there is no position.
    pub at: String,
    /// The key path, such as `filesystem.read[2]`.
    pub key: String,
    pub message: String,
    pub severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Diagnostic {
    pub fn error(origin: &Origin, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(origin, message, Severity::Error)
    }

    pub fn warning(origin: &Origin, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(origin, message, Severity::Warning)
    }

    fn at(origin: &Origin, message: impl Into<String>, severity: Severity) -> Diagnostic {
        Diagnostic {
            at: if origin.is_command_line() {
                "command line".into()
            } else {
                origin.position()
            },
            key: origin.key.clone(),
            message: message.into(),
            severity,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        // The key and the message quote what the file said, which may be a hostile file's
        // 40 KiB key: each long word is shown clipped.
        let clip = |s| crate::escape::clip_words(s, crate::escape::WORD_MAX);
        if self.key.is_empty() {
            write!(f, "{}: {sev}{}", self.at, clip(&self.message))
        } else {
            write!(
                f,
                "{}: {sev}{}: {}",
                self.at,
                clip(&self.key),
                clip(&self.message)
            )
        }
    }
}

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error("no profile named `{name}`{}; looked for {name}.yaml in {} and among the built-in profiles ({}); run `mcpcell profiles list` to see them", closest_name(name, searched), searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "), builtin::names().collect::<Vec<_>>().join(", "))]
    NotFound {
        name: String,
        searched: Vec<PathBuf>,
    },
    #[error("failed to read profile {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{at}: {}",
        crate::escape::clip_words(message, crate::escape::WORD_MAX)
    )]
    Syntax { at: String, message: String },
    #[error("profiles extend each other in a cycle: {}; remove one of these `extends` entries", chain.join(" -> "))]
    Cycle { chain: Vec<String> },
    #[error("{}", .0.iter().map(|d| crate::escape::terminal(&d.to_string()).into_owned()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    #[error(
        "`{name}` is not a valid profile name: a name uses letters, digits, `-`, `_` and `.`, with no `.` first or last (so never `.` or `..`); a path contains `/` or ends in `.yaml`"
    )]
    BadName { name: String },
    #[error("profile file {}: the file's name without `.yaml` is the profile's name, and `{}` is not one (a name never starts with `.`, and is never `.` or `..`); rename the file", path.display(), path.file_stem().unwrap_or_default().to_string_lossy())]
    BadFileName { path: PathBuf },
}

/// An error's text followed by its causes' (an unreadable file's `io::Error`).
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// ` (did you mean `NAME`?)` for the profile name closest to `name` among the built-in
/// ones and those in `dirs`, or nothing. Said only in an error, where listing the
/// directories again costs nothing that matters.
fn closest_name(name: &str, dirs: &[PathBuf]) -> String {
    let mut names: Vec<String> = builtin::names().map(str::to_string).collect();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else {
            continue;
        };
        names.extend(rd.flatten().filter_map(|e| {
            let p = e.path();
            let stem = p.file_stem()?.to_str()?;
            (p.extension().is_some_and(|x| x == "yaml") && valid_name(stem))
                .then(|| stem.to_string())
        }));
    }
    validate::closest(name, names.iter().map(String::as_str))
}

/// Finds profiles by name or path, in the order the SPEC fixes: the user's directory,
/// `/etc/mcpcell/profiles`, then the built-ins.
#[derive(Debug, Clone)]
pub struct Loader {
    dirs: Vec<PathBuf>,
}

/// A profile as `mcpcell profiles list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub name: String,
    pub location: String,
    pub description: Option<String>,
    /// Hidden by a profile of the same name earlier in the search order.
    pub shadowed: bool,
}

/// Whether `spec` names a file rather than a profile.
pub fn is_path(spec: &str) -> bool {
    spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Loader {
    /// The search directories from this process's environment.
    pub fn from_env() -> Loader {
        let mut dirs = Vec::new();
        let config = std::env::var("XDG_CONFIG_HOME")
            .ok()
            .filter(|v| v.starts_with('/'))
            .map(PathBuf::from)
            .or_else(|| {
                // The home directory as `${HOME}` finds it: the password database's when
                // HOME is unset, so that the user's profiles are the same ones.
                std::env::var("HOME")
                    .ok()
                    .filter(|v| v.starts_with('/'))
                    .or_else(crate::vars::passwd_home)
                    .map(|h| Path::new(&h).join(".config"))
            });
        if let Some(c) = config {
            dirs.push(c.join("mcpcell/profiles"));
        }
        dirs.push(PathBuf::from("/etc/mcpcell/profiles"));
        Loader { dirs }
    }

    pub fn with_dirs(dirs: Vec<PathBuf>) -> Loader {
        Loader { dirs }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Loads `spec` (a name or a path) with everything it extends, and validates it.
    /// Warnings are returned beside the profile; errors fail the load.
    pub fn load(&self, spec: &str) -> Result<(Profile, Vec<Diagnostic>), ProfileError> {
        let top = self.locate(spec, None)?;
        let mut profile = Profile {
            name: top.name.clone(),
            description: None,
            sources: Vec::new(),
            filesystem: Filesystem::default(),
            network: Network::default(),
            syscalls: Syscalls::default(),
            env: Env::default(),
            capabilities: Vec::new(),
            limits: Limits::default(),
        };
        let mut stack = Vec::new();
        let mut diags = Vec::new();
        self.merge(&top, &mut stack, &mut profile, &mut diags)?;
        let parent_missing = diags.iter().any(|d| d.key.starts_with("extends["));
        // With a parent missing, what the merge holds is not the profile: its whole-profile
        // warnings (a key ignored under the network mode a parent would have set) would
        // mislead; each entry's own errors still hold.
        diags.extend(
            validate::validate(&profile)
                .into_iter()
                .filter(|d| !parent_missing || d.severity == Severity::Error),
        );
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err(ProfileError::Invalid(diags));
        }
        Ok((profile, diags))
    }

    /// Finds one profile document. `from` is the document whose `extends` names it: relative
    /// paths are taken from its directory, and a name that is the document's own name is
    /// looked up after it, so that `~/.config/mcpcell/profiles/node.yaml` can extend the
    /// built-in `node`.
    fn locate(&self, spec: &str, from: Option<&Source>) -> Result<Arc<Source>, ProfileError> {
        if is_path(spec) {
            let mut path = PathBuf::from(spec);
            if path.is_relative() {
                if let Some(dir) = from.and_then(|f| f.file()).and_then(|f| f.parent()) {
                    path = dir.join(path);
                }
            }
            return read_file(&path);
        }
        if !valid_name(spec) {
            return Err(ProfileError::BadName {
                name: spec.to_string(),
            });
        }
        let mut candidates: Vec<SourceKind> = self
            .dirs
            .iter()
            .map(|d| d.join(format!("{spec}.yaml")))
            .filter(|p| p.is_file())
            .map(SourceKind::File)
            .collect();
        if builtin::get(spec).is_some() {
            candidates.push(SourceKind::Builtin);
        }
        if let Some(f) = from.filter(|f| f.name == spec) {
            let own = f.kind.clone();
            let canon = |k: &SourceKind| match k {
                SourceKind::File(p) => SourceKind::File(p.canonicalize().unwrap_or(p.clone())),
                SourceKind::Builtin => SourceKind::Builtin,
            };
            if let Some(pos) = candidates.iter().position(|c| canon(c) == own) {
                candidates.drain(..=pos);
            }
        }
        match candidates.into_iter().next() {
            Some(SourceKind::File(p)) => read_file(&p),
            Some(SourceKind::Builtin) => Ok(builtin::source(spec).expect("listed above")),
            None => Err(ProfileError::NotFound {
                name: spec.to_string(),
                searched: self.dirs.clone(),
            }),
        }
    }

    fn merge(
        &self,
        src: &Arc<Source>,
        stack: &mut Vec<String>,
        out: &mut Profile,
        diags: &mut Vec<Diagnostic>,
    ) -> Result<(), ProfileError> {
        let label = src.label();
        if stack.contains(&label) {
            let mut chain = stack.clone();
            chain.push(label);
            return Err(ProfileError::Cycle { chain });
        }
        if out.sources.iter().any(|s| s.label() == label) {
            // Reached twice through different `extends` paths: merged once, first place wins.
            return Ok(());
        }
        let raw = match parse(src) {
            Ok(raw) => raw,
            // Every broken key of the document, and what is left of it, merged as usual.
            Err(e @ ProfileError::Syntax { .. }) => match lint::recover(src) {
                Some((raw, found)) => {
                    diags.extend(found);
                    raw
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        stack.push(label);
        for (i, parent) in raw.extends.iter().flatten().enumerate() {
            let at = Origin::new(src, format!("extends[{i}]"));
            // A parent that cannot be found or read is one error among the document's
            // others, which are still checked: a typo in `extends` does not hide them.
            match self.locate(parent, Some(src)) {
                Ok(psrc) => self.merge(&psrc, stack, out, diags)?,
                Err(e) => diags.push(Diagnostic::error(&at, with_causes(&e))),
            }
        }
        stack.pop();
        apply(out, src, raw, diags);
        out.sources.push(Arc::clone(src));
        Ok(())
    }

    /// Every profile this loader can find, in search order.
    pub fn list(&self) -> Vec<Listed> {
        let mut out: Vec<Listed> = Vec::new();
        let mut push = |name: String, location: String, text: &str| {
            let shadowed = out.iter().any(|l| l.name == name);
            let description = (location::screen(text).is_none())
                .then(|| serde_yaml::from_str::<RawProfile>(text).ok())
                .flatten()
                .and_then(|r| r.description);
            out.push(Listed {
                name,
                location,
                description,
                shadowed,
            });
        };
        for dir in &self.dirs {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut files: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect();
            files.sort();
            for p in files {
                let Some(name) = p.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                if !valid_name(name) {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                push(name.to_string(), p.display().to_string(), &text);
            }
        }
        for name in builtin::names() {
            push(
                name.to_string(),
                "built-in".into(),
                builtin::get(name).unwrap_or_default(),
            );
        }
        out
    }

    /// The document `spec` names, without merging what it extends.
    pub fn source(&self, spec: &str) -> Result<Arc<Source>, ProfileError> {
        self.locate(spec, None)
    }
}

fn read_file(path: &Path) -> Result<Arc<Source>, ProfileError> {
    let read_err = |source: io::Error| ProfileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let canon = path.canonicalize().map_err(read_err)?;
    if canon.is_dir() {
        return Err(read_err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    // The file's name is the profile's name, and names the state directory: `...yaml` would
    // be the profile `..`. Other unusual names are made safe where they are used.
    let name = canon
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() || name.starts_with('.') {
        return Err(ProfileError::BadFileName { path: canon });
    }
    let text = crate::paths::read_regular(&canon, MAX_PROFILE_BYTES).map_err(read_err)?;
    Ok(Arc::new(Source::new(name, SourceKind::File(canon), text)))
}

/// The largest profile file read; anything bigger is not a profile.
const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// Parses a document. An empty document (or only comments) is an empty profile. A built-in
/// profile is read from its JSON form (the same document, converted at build time).
pub fn parse(src: &Source) -> Result<RawProfile, ProfileError> {
    if let Some(json) = (src.kind == SourceKind::Builtin)
        .then(|| builtin::json(&src.name))
        .flatten()
    {
        return serde_json::from_str::<RawProfile>(json).map_err(|e| ProfileError::Syntax {
            at: src.label(),
            message: e.to_string(),
        });
    }
    if src
        .text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Ok(RawProfile::default());
    }
    if let Some(((line, column), message)) = location::screen(&src.text) {
        let at = format!("{}:{line}:{column}", src.label());
        return Err(ProfileError::Syntax { at, message });
    }
    serde_yaml::from_str::<RawProfile>(&src.text).map_err(|e| syntax_error(src, &e))
}

fn syntax_error(src: &Source, e: &serde_yaml::Error) -> ProfileError {
    let mut message = e.to_string();
    let at = match e.location() {
        Some(l) => {
            // serde_yaml repeats the position in the message; it goes in front instead, and
            // a second position (where the broken construct began) is said as such.
            let own = format!(" at line {} column {}", l.line(), l.column());
            if let Some(i) = message.find(&own) {
                message.replace_range(i..i + own.len(), "");
            }
            if let Some(i) = message.rfind(" at line ") {
                message.replace_range(i..i + 3, " that started at");
            }
            // A tab where YAML wants indentation gives the scanner's bare "cannot start any
            // token".
            let line = src
                .text
                .lines()
                .nth(l.line().saturating_sub(1))
                .unwrap_or("");
            let indent = &line[..line.len() - line.trim_start().len()];
            if indent.contains('\t') || line.chars().nth(l.column().saturating_sub(1)) == Some('\t')
            {
                message.push_str(" (a tab: YAML indents with spaces, not tabs)");
            }
            // "filesystem: duplicate field `read`": at the second `read`, not the first.
            message
                .split_once("duplicate field `")
                .and_then(|(path, rest)| {
                    let field = rest.split('`').next()?;
                    let path = path.trim_end_matches(": ");
                    let key = match path.is_empty() {
                        true => field.to_string(),
                        false => format!("{path}.{field}"),
                    };
                    src.repeated_position(&key)
                })
                .unwrap_or_else(|| format!("{}:{}:{}", src.label(), l.line(), l.column()))
        }
        None => src.label(),
    };
    ProfileError::Syntax { at, message }
}

/// Adds one document's keys to the merged profile. Values whose range serde cannot check
/// with a precise position (ports, limits, sizes) are checked here.
fn apply(out: &mut Profile, src: &Arc<Source>, raw: RawProfile, diags: &mut Vec<Diagnostic>) {
    let o = |key: String| Origin::new(src, key);
    fn list<T: Clone>(
        dst: &mut Vec<Entry<T>>,
        items: Option<Vec<T>>,
        key: &str,
        o: &dyn Fn(String) -> Origin,
    ) {
        for (i, v) in items.into_iter().flatten().enumerate() {
            dst.push(Entry::new(v, o(format!("{key}[{i}]"))));
        }
    }
    fn scalar<T>(
        dst: &mut Option<Entry<T>>,
        v: Option<T>,
        key: &str,
        o: &dyn Fn(String) -> Origin,
    ) {
        if let Some(v) = v {
            *dst = Some(Entry::new(v, o(key.to_string())));
        }
    }
    if raw.description.is_some() {
        out.description = raw.description;
    }
    if let Some(fs) = raw.filesystem {
        list(&mut out.filesystem.read, fs.read, "filesystem.read", &o);
        list(&mut out.filesystem.write, fs.write, "filesystem.write", &o);
        list(&mut out.filesystem.exec, fs.exec, "filesystem.exec", &o);
        list(
            &mut out.filesystem.programs,
            fs.programs,
            "filesystem.programs",
            &o,
        );
        list(&mut out.filesystem.hide, fs.hide, "filesystem.hide", &o);
        scalar(&mut out.filesystem.args, fs.args, "filesystem.args", &o);
    }
    if let Some(n) = raw.network {
        scalar(&mut out.network.mode, n.mode, "network.mode", &o);
        list(&mut out.network.allow, n.allow, "network.allow", &o);
        for (key, items, dst) in [
            ("network.connect", n.connect, &mut out.network.connect),
            ("network.bind", n.bind, &mut out.network.bind),
        ] {
            for (i, v) in items.into_iter().flatten().enumerate() {
                let origin = o(format!("{key}[{i}]"));
                match u16::try_from(v) {
                    Ok(p) if p != 0 => dst.push(Entry::new(p, origin)),
                    _ => diags.push(Diagnostic::error(
                        &origin,
                        format!("port {v} is out of range: a TCP port is a number from 1 to 65535"),
                    )),
                }
            }
        }
        list(&mut out.network.unix, n.unix, "network.unix", &o);
        list(
            &mut out.network.allow_private,
            n.allow_private,
            "network.allow_private",
            &o,
        );
        for (k, v) in n.hosts.into_iter().flatten() {
            let origin = o(format!("network.hosts.{k}"));
            out.network
                .hosts
                .insert(k.to_ascii_lowercase(), Entry::new(v, origin));
        }
    }
    if let Some(s) = raw.syscalls {
        list(&mut out.syscalls.deny, s.deny, "syscalls.deny", &o);
        list(&mut out.syscalls.allow, s.allow, "syscalls.allow", &o);
        scalar(
            &mut out.syscalls.on_violation,
            s.on_violation,
            "syscalls.on_violation",
            &o,
        );
    }
    if let Some(e) = raw.env {
        list(&mut out.env.pass, e.pass, "env.pass", &o);
        list(
            &mut out.env.package_settings,
            e.package_settings,
            "env.package_settings",
            &o,
        );
        for (k, v) in e.set.into_iter().flatten() {
            let origin = o(format!("env.set.{k}"));
            out.env.set.insert(k, Entry::new(v, origin));
        }
        for (k, v) in e.default.into_iter().flatten() {
            let origin = o(format!("env.default.{k}"));
            out.env.default.insert(k, Entry::new(v, origin));
        }
    }
    if let Some(c) = raw.capabilities {
        list(&mut out.capabilities, c.keep, "capabilities.keep", &o);
    }
    if let Some(l) = raw.limits {
        let mut count = |dst: &mut Option<Entry<u64>>, v: Option<i64>, key: &str| {
            if let Some(v) = v {
                let origin = o(key.to_string());
                if v > 0 {
                    *dst = Some(Entry::new(v as u64, origin));
                } else {
                    diags.push(Diagnostic::error(
                        &origin,
                        format!("limit {v} must be a positive number"),
                    ));
                }
            }
        };
        count(
            &mut out.limits.open_files,
            l.open_files,
            "limits.open_files",
        );
        count(&mut out.limits.processes, l.processes, "limits.processes");
        let mut size = |dst: &mut Option<Entry<u64>>, v: Option<raw::SizeValue>, key: &str| {
            if let Some(v) = v {
                let origin = o(key.to_string());
                match v.bytes() {
                    Ok(b) => *dst = Some(Entry::new(b, origin)),
                    Err(msg) => diags.push(Diagnostic::error(&origin, msg)),
                }
            }
        };
        size(&mut out.limits.file_size, l.file_size, "limits.file_size");
        size(&mut out.limits.tmp_size, l.tmp_size, "limits.tmp_size");
        size(&mut out.limits.memory, l.memory, "limits.memory");
        size(
            &mut out.limits.state_size,
            l.state_size,
            "limits.state_size",
        );
        scalar(
            &mut out.limits.core_dumps,
            l.core_dumps,
            "limits.core_dumps",
            &o,
        );
    }
}

#[cfg(test)]
mod tests;
