//! JSON with comments: Claude Desktop, Claude Code, Cursor, Windsurf, VS Code and Zed.
//!
//! The servers are read from the syntax tree, and every change is a splice of the original
//! text at byte ranges the tree gives. Comments, key order, indentation and everything outside
//! the edited values stay byte for byte. Inserted list elements use the list's own separator.

use jsonc_parser::ast::{Array, Object, ObjectProp, StringLit, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};

use super::FormatError;
use super::model::{Edit, Kind, Server, Stdio};

/// The top-level keys whose settings Zed merges over the rest: release channels and
/// platforms.
macro_rules! ZED_OVERRIDES {
    () => {
        "stable" | "preview" | "nightly" | "dev" | "linux" | "macos" | "windows"
    };
}

/// Comments and trailing commas (as VS Code and Zed write them); nothing looser.
fn options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

fn parse(text: &str) -> Result<Value<'_>, FormatError> {
    let parsed = parse_to_ast(text, &CollectOptions::default(), &options()).map_err(|e| {
        FormatError::Syntax {
            line: e.line_display(),
            column: e.column_display(),
            message: e.kind().to_string(),
        }
    })?;
    let root = match parsed.value {
        Some(v @ Value::Object(_)) => v,
        _ => {
            return Err(FormatError::Shape(
                "the top level is not a JSON object".into(),
            ));
        }
    };
    if let Value::Object(o) = &root {
        // The root, every object on the way to a section (`projects` and each project,
        // `mcp`) and every section, whole: a key doubled anywhere there changes which
        // servers the client sees.
        let twice = twice_in(o, false)
            .or_else(|| {
                o.properties
                    .iter()
                    .find_map(|p| match (p.name.as_str(), &p.value) {
                        (
                            "projects" | "mcp" | "profiles" | ZED_OVERRIDES!(),
                            Value::Object(inner),
                        ) => twice_in(inner, true),
                        _ => None,
                    })
            })
            .or_else(|| sections(o).into_iter().find_map(|(_, s)| twice_in(s, true)));
        if let Some(p) = twice {
            let line = text[..p.range().start].matches('\n').count() + 1;
            return Err(FormatError::Shape(format!(
                "line {line}: the key {} appears twice in one object; JSON parsers differ on which one counts (the first, or the last as a client's JavaScript or Python takes it), so what the client runs cannot be told: remove one",
                quote(p.name.as_str())
            )));
        }
    }
    Ok(root)
}

/// A key that `o` holds twice (names compared with their escapes decoded), or, with `deep`,
/// any object inside it.
fn twice_in<'a>(o: &'a Object<'a>, deep: bool) -> Option<&'a ObjectProp<'a>> {
    let mut seen = std::collections::HashSet::new();
    for p in &o.properties {
        if !seen.insert(p.name.as_str()) {
            return Some(p);
        }
    }
    if !deep {
        return None;
    }
    o.properties.iter().find_map(|p| match &p.value {
        Value::Object(inner) => twice_in(inner, true),
        Value::Array(a) => a.elements.iter().find_map(|e| match e {
            Value::Object(inner) => twice_in(inner, true),
            _ => None,
        }),
        _ => None,
    })
}

/// A server entry found in the tree.
struct Found<'a> {
    section: String,
    name: String,
    value: &'a Value<'a>,
}

/// For each member of `map` (a project, a profile), by its name: the object at `path`
/// inside it, where there is one.
fn each_at<'a>(
    map: &'a Object<'a>,
    path: &'static [&'static str],
) -> impl Iterator<Item = (&'a str, &'a Object<'a>)> {
    map.properties.iter().filter_map(move |p| {
        let mut o = p.value.as_object()?;
        for key in path {
            o = o.get_object(key)?;
        }
        Some((p.name.as_str(), o))
    })
}

/// Every server section, in file order: `mcpServers` (Claude Desktop, Claude Code, Cursor,
/// Windsurf, Gemini CLI, Copilot CLI, Cline, ...), `projects.<path>.mcpServers` (Claude Code's
/// per-project entries), `servers` (VS Code's mcp.json), `mcp.servers` (VS Code's
/// settings.json), `mcp` itself (opencode, Crush), `"amp.mcpServers"` (Amp, a dotted key at
/// the top level), `context_servers` (Zed), also under Zed's overrides (`linux`, `stable`,
/// ..., `profiles.<name>.settings`).
fn sections<'a>(root: &'a Object<'a>) -> Vec<(String, &'a Object<'a>)> {
    let mut out = Vec::new();
    for p in &root.properties {
        let key = p.name.as_str();
        match (key, &p.value) {
            ("mcpServers" | "servers" | "context_servers" | "amp.mcpServers", Value::Object(o)) => {
                out.push((label(key), o));
            }
            ("projects", Value::Object(projects)) => {
                for (name, o) in each_at(projects, &["mcpServers"]) {
                    out.push((format!("projects.{}.mcpServers", quote(name)), o));
                }
            }
            // Zed merges these over its settings: release channels and platforms, and
            // each profile's settings.
            (ZED_OVERRIDES!(), Value::Object(o)) => {
                if let Some(cs) = o.get_object("context_servers") {
                    out.push((format!("{key}.context_servers"), cs));
                }
            }
            ("profiles", Value::Object(profiles)) => {
                for (name, cs) in each_at(profiles, &["settings", "context_servers"]) {
                    out.push((
                        format!("profiles.{}.settings.context_servers", quote(name)),
                        cs,
                    ));
                }
            }
            ("mcp", Value::Object(mcp)) => match mcp.get_object("servers") {
                // VS Code's settings.json nests its servers one level down; opencode and
                // Crush put them right under `mcp`, where a server could be called `servers`
                // but would then be an entry itself.
                Some(o) if !is_entry(o) => out.push(("mcp.servers".into(), o)),
                _ => out.push(("mcp".into(), mcp)),
            },
            _ => {}
        }
    }
    out
}

/// A key as it is shown in a section's name: as it is when it is a plain word.
fn label(key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        key.to_string()
    } else {
        quote(key)
    }
}

/// Whether an object is a server entry rather than a map of them.
fn is_entry(o: &Object<'_>) -> bool {
    [
        "command",
        "url",
        "type",
        "transport",
        "httpUrl",
        "serverUrl",
    ]
    .iter()
    .any(|k| {
        o.get(k)
            .is_some_and(|p| !matches!(p.value, Value::Object(_)) || *k == "transport")
    })
}

fn found<'a>(root: &'a Value<'a>) -> (Vec<String>, Vec<Found<'a>>) {
    let Value::Object(root) = root else {
        return (vec![], vec![]);
    };
    let mut labels = Vec::new();
    let mut out = Vec::new();
    for (section, obj) in sections(root) {
        for p in &obj.properties {
            // `mcp` is also the prefix of other settings (VS Code's `mcp.discovery`): under
            // it, only what has the keys of a server is one.
            if section == "mcp" && !p.value.as_object().is_some_and(is_entry) {
                continue;
            }
            out.push(Found {
                section: section.clone(),
                name: p.name.as_str().to_string(),
                value: &p.value,
            });
        }
        labels.push(section);
    }
    (labels, out)
}

/// The pieces of a stdio entry the editor touches.
struct Parts<'a> {
    /// The object that holds the command and its arguments: the entry itself, Cline's
    /// `transport` object, or Zed's older `"command": {"path": ..., "args": ...}` object.
    holder: &'a Object<'a>,
    command_prop: &'a ObjectProp<'a>,
    command: &'a StringLit<'a>,
    /// The arguments. With `argv`, the list is `command` itself and these are its elements
    /// after the first (the program).
    args: Option<(&'a ObjectProp<'a>, &'a Array<'a>, Vec<&'a StringLit<'a>>)>,
    /// opencode's form: `"command": ["npx", "-y", "pkg"]`, program and arguments in one list.
    argv: bool,
}

fn string_list<'a>(arr: &'a Array<'a>) -> Option<Vec<&'a StringLit<'a>>> {
    arr.elements.iter().map(Value::as_string_lit).collect()
}

/// The variable names of `env` (and opencode's `environment`).
fn env_names(obj: &Object<'_>, out: &mut Vec<String>) {
    for key in ["env", "environment"] {
        if let Some(env) = obj.get_object(key) {
            let names = env.properties.iter().map(|p| p.name.as_str().to_string());
            super::model::push_new(out, names);
        }
    }
}

/// `type` values of servers the client does not start: HTTP, SSE, WebSocket (and opencode's
/// `remote`).
pub const REMOTE_TYPES: &[&str] = &[
    "http",
    "sse",
    "streamable-http",
    "streamableHttp",
    "streamable_http",
    "ws",
    "remote",
];

/// What an entry that has no `command` is, if it is known not to start a process.
fn remote(entry: &Object<'_>) -> Option<Kind> {
    let url = ["url", "serverUrl", "httpUrl"]
        .iter()
        .find_map(|k| entry.get_string(k));
    let ty = entry.get_string("type").map(|t| t.value.to_string());
    if url.is_some() || ty.as_deref().is_some_and(|t| REMOTE_TYPES.contains(&t)) {
        let how = ty.unwrap_or_else(|| "remote".into());
        let at = url.map(|u| format!(" at {}", u.value)).unwrap_or_default();
        return Some(Kind::Remote(format!("{how} server{at}")));
    }
    None
}

fn unsupported<'a>(why: &str) -> (Kind, Option<Parts<'a>>) {
    (Kind::Unsupported(why.to_string()), None)
}

fn classify<'a>(v: &'a Value<'a>) -> (Kind, Option<Parts<'a>>) {
    let Value::Object(entry) = v else {
        return unsupported("the entry is not an object");
    };
    // Cline's command-line client keeps the command under `transport`. Another client
    // ignores it and runs the entry's own `command`: an entry with both cannot be told.
    let outer = match entry.get("transport").map(|p| &p.value) {
        Some(Value::Object(_))
            if ["command", "url", "serverUrl", "httpUrl"]
                .iter()
                .any(|k| entry.get(k).is_some()) =>
        {
            return unsupported(
                "it has a `command` (or URL) both under `transport` and beside it: clients differ on which one runs",
            );
        }
        Some(Value::Object(t)) => t,
        _ => entry,
    };
    let Some(command_prop) = outer.get("command") else {
        if let Some(k) = remote(outer).or_else(|| remote(entry)) {
            return (k, None);
        }
        if entry
            .get_string("source")
            .is_some_and(|s| s.value == "extension")
        {
            return unsupported(
                "a server of a Zed extension (`\"source\": \"extension\"`): Zed starts it with the extension's own command, which is not in this file",
            );
        }
        return unsupported("no `command`, and not a remote server either");
    };
    let mut argv = false;
    let (holder, command_prop, command) = match &command_prop.value {
        Value::StringLit(s) => (outer, command_prop, s),
        Value::Array(a) => match (string_list(a), a.elements.first()) {
            (Some(_), Some(Value::StringLit(s))) => {
                argv = true;
                (outer, command_prop, s)
            }
            (Some(_), _) => return unsupported("`command` is an empty list"),
            (None, _) => return unsupported("`command` is a list, but not of strings"),
        },
        Value::Object(o) => match o.get("path") {
            Some(
                p @ ObjectProp {
                    value: Value::StringLit(s),
                    ..
                },
            ) => (o, p, s),
            _ => return unsupported("`command` has no `path` string"),
        },
        _ => return unsupported("`command` is not a string"),
    };
    let args = if argv {
        let arr = command_prop.value.as_array().expect("checked above");
        let list = string_list(arr).expect("checked above");
        if holder.get("args").is_some() {
            return unsupported("`command` is a list and there are `args` as well");
        }
        Some((command_prop, arr, list[1..].to_vec()))
    } else {
        match holder.get("args") {
            None => None,
            Some(p) => match p.value.as_array().and_then(|a| Some((a, string_list(a)?))) {
                Some((a, list)) => Some((p, a, list)),
                None => return unsupported("`args` is not a list of strings"),
            },
        }
    };
    let mut env = Vec::new();
    for o in [entry, outer, holder] {
        env_names(o, &mut env);
    }
    let field = |k: &str| {
        [holder, outer, entry]
            .iter()
            .find_map(|o| o.get_string(k))
            .map(|s| s.value.to_string())
    };
    let client_sandbox = [holder, outer, entry].iter().any(|o| {
        o.get("sandboxEnabled")
            .is_some_and(|p| matches!(p.value, Value::BooleanLit(ref b) if b.value))
    });
    let stdio = Stdio {
        command: command.value.to_string(),
        args: args
            .as_ref()
            .map(|(_, _, list)| list.iter().map(|s| s.value.to_string()).collect()),
        env,
        warnings: vec![],
        cwd: field("cwd"),
        env_file: field("envFile"),
        client_sandbox,
    };
    (
        Kind::Stdio(stdio),
        Some(Parts {
            holder,
            command_prop,
            command,
            args,
            argv,
        }),
    )
}

/// A byte order mark (editors on Windows write one) stays in front, outside the JSON.
fn split_bom(text: &str) -> (&str, &str) {
    match text.strip_prefix('\u{feff}') {
        Some(body) => (&text[..text.len() - body.len()], body),
        None => ("", text),
    }
}

/// The server sections found (possibly empty ones) and every entry in them.
pub fn read(text: &str) -> Result<(Vec<String>, Vec<Server>), FormatError> {
    let root = parse(split_bom(text).1)?;
    let (labels, entries) = found(&root);
    let servers = entries
        .into_iter()
        .map(|f| Server {
            section: f.section,
            name: f.name,
            kind: classify(f.value).0,
        })
        .collect();
    Ok((labels, servers))
}

/// Applies `edits` (entry index as [`read`] numbers them, edit) and returns the new text.
pub fn rewrite(text: &str, edits: &[(usize, Edit)]) -> Result<String, FormatError> {
    let (bom, text) = split_bom(text);
    let root = parse(text)?;
    let (_, entries) = found(&root);
    let mut splices = Vec::new();
    for (index, edit) in edits {
        let parts = entries
            .get(*index)
            .and_then(|f| classify(f.value).1)
            .ok_or_else(|| FormatError::Shape(format!("entry {index} is not a stdio server")))?;
        let mut s = Splicer {
            text,
            out: &mut splices,
        };
        match edit {
            Edit::Wrap {
                launcher,
                prefix,
                pins,
            } => {
                s.pins(&parts, pins);
                s.wrap(&parts, launcher, prefix);
            }
            Edit::Pin(pins) => s.pins(&parts, pins),
            Edit::Unwrap => s.unwrap(&parts)?,
        }
    }
    Ok(format!("{bom}{}", apply(text, splices)?))
}

/// A replacement of `text[start..end]`.
#[derive(Debug)]
pub(super) struct Splice {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) with: String,
}

pub(super) fn apply(text: &str, mut splices: Vec<Splice>) -> Result<String, FormatError> {
    // An insertion sorts before a replacement that starts at the same place.
    splices.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for s in splices {
        if s.start < at {
            return Err(FormatError::Shape("overlapping edits".into()));
        }
        out.push_str(&text[at..s.start]);
        out.push_str(&s.with);
        at = s.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

pub(super) fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The whitespace that starts the line `pos` is on, when only whitespace precedes `pos`.
fn indent_at(text: &str, pos: usize) -> Option<&str> {
    let line_start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let lead = &text[line_start..pos];
    lead.chars().all(|c| c == ' ' || c == '\t').then_some(lead)
}

/// The file's line ending.
pub(super) fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

/// The separator between elements of `arr`: its own, when it has one without comments;
/// otherwise a comma and the layout of its first element.
fn separator(text: &str, arr: &Array<'_>) -> String {
    let els = &arr.elements;
    if els.len() >= 2 {
        let gap = &text[els[0].end()..els[1].start()];
        if gap.trim() == "," {
            return gap.to_string();
        }
        if gap.contains('\n') {
            let indent = indent_at(text, els[1].start()).unwrap_or("");
            return format!(",{}{indent}", newline(text));
        }
        return ", ".into();
    }
    let lead = &text[arr.start() + 1..els[0].start()];
    if lead.contains('\n') {
        let indent = indent_at(text, els[0].start()).unwrap_or("");
        format!(",{}{indent}", newline(text))
    } else {
        ", ".into()
    }
}

struct Splicer<'t, 'o> {
    text: &'t str,
    out: &'o mut Vec<Splice>,
}

impl Splicer<'_, '_> {
    fn put(&mut self, start: usize, end: usize, with: String) {
        self.out.push(Splice { start, end, with });
    }

    fn pins(&mut self, parts: &Parts<'_>, pins: &[(usize, String)]) {
        let Some((_, _, list)) = &parts.args else {
            return;
        };
        for (i, value) in pins {
            if let Some(lit) = list.get(*i) {
                self.put(lit.start(), lit.end(), quote(value));
            }
        }
    }

    fn wrap(&mut self, parts: &Parts<'_>, launcher: &str, prefix: &[String]) {
        if parts.argv {
            // The program stays where it is; mcpcell and its options go in front of it.
            let (_, arr, _) = parts.args.as_ref().expect("argv entries have a list");
            let mut items = vec![quote(launcher)];
            items.extend(prefix.iter().map(|s| quote(s)));
            let sep = separator(self.text, arr);
            let at = parts.command.start();
            self.put(at, at, format!("{}{sep}", items.join(&sep)));
            return;
        }
        let original = parts.command.text(self.text).to_string();
        self.put(parts.command.start(), parts.command.end(), quote(launcher));
        let mut items: Vec<String> = prefix.iter().map(|s| quote(s)).collect();
        items.push(original);
        match &parts.args {
            Some((_, arr, list)) if !list.is_empty() => {
                let sep = separator(self.text, arr);
                let at = list[0].start();
                self.put(at, at, format!("{}{sep}", items.join(&sep)));
            }
            Some((_, arr, _)) => {
                let at = arr.start() + 1;
                self.put(at, at, items.join(", "));
            }
            None => {
                let at = parts.command.end();
                let lead = match indent_at(self.text, parts.command_prop.start()) {
                    Some(indent) => format!("{}{indent}", newline(self.text)),
                    None => " ".into(),
                };
                self.put(at, at, format!(",{lead}\"args\": [{}]", items.join(", ")));
            }
        }
    }

    fn unwrap(&mut self, parts: &Parts<'_>) -> Result<(), FormatError> {
        let not_wrapped = || FormatError::Shape("the entry is not in the wrapped form".into());
        let Some((args_prop, arr, list)) = &parts.args else {
            return Err(not_wrapped());
        };
        let values: Vec<String> = list.iter().map(|s| s.value.to_string()).collect();
        let stdio = Stdio {
            command: parts.command.value.to_string(),
            args: Some(values),
            ..Stdio::default()
        };
        let w = stdio.wrapped(&stdio.command).ok_or_else(not_wrapped)?;
        if parts.argv {
            // Everything before the original program goes: mcpcell and its options.
            self.put(
                parts.command.start(),
                list[w.command_index].start(),
                String::new(),
            );
            return Ok(());
        }
        let cmd = list[w.command_index];
        self.put(
            parts.command.start(),
            parts.command.end(),
            cmd.text(self.text).to_string(),
        );
        if w.args_added {
            self.remove_member(parts, args_prop);
        } else if let Some(first) = list.get(w.command_index + 1) {
            self.put(list[0].start(), first.start(), String::new());
        } else {
            // Nothing follows the command: the list is left empty, and a trailing comma
            // after the command goes too (`[,]` is not JSON, even with comments).
            let after = &self.text[cmd.end()..arr.end() - 1];
            let comma = after.find(',').filter(|c| after[..*c].trim().is_empty());
            let end = comma.map_or(cmd.end(), |c| cmd.end() + c + 1);
            self.put(list[0].start(), end, String::new());
        }
        Ok(())
    }

    /// Removes `prop` from the holder with the separator before it (or after it, when it is
    /// the first member). Right after the command it is exactly what `wrap` inserted.
    fn remove_member(&mut self, parts: &Parts<'_>, prop: &ObjectProp<'_>) {
        let props = &parts.holder.properties;
        let Some(i) = props.iter().position(|p| p.start() == prop.start()) else {
            return;
        };
        if i > 0 {
            let prev = &props[i - 1];
            let from = if prev.start() == parts.command_prop.start() {
                parts.command.end()
            } else {
                prev.end()
            };
            self.put(from, prop.end(), String::new());
        } else if let Some(next) = props.get(1) {
            self.put(prop.start(), next.start(), String::new());
        } else {
            let after = &self.text[prop.end()..parts.holder.end() - 1];
            let comma = after.find(',').filter(|c| after[..*c].trim().is_empty());
            let end = comma.map(|c| prop.end() + c + 1).unwrap_or(prop.end());
            self.put(prop.start(), end, String::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::wrap::model::run_prefix;

    fn round_trip(text: &str, expect_wrapped: &str) {
        crate::commands::wrap::round_trip(
            crate::commands::wrap::Format::Jsonc,
            "node",
            text,
            expect_wrapped,
        );
    }

    #[test]
    fn opencode_command_lists_cline_transport_and_amp() {
        round_trip(
            "{\n  \"mcp\": {\n    \"t\": {\"type\": \"local\", \"command\": [\"uvx\", \"mcp-server-time\"], \"environment\": {\"K\": \"v\"}},\n    \"r\": {\"type\": \"remote\", \"url\": \"https://x\"}\n  }\n}\n",
            "{\n  \"mcp\": {\n    \"t\": {\"type\": \"local\", \"command\": [\"/bin/mcpcell\", \"run\", \"-p\", \"node\", \"--pass-env\", \"K\", \"--\", \"uvx\", \"mcp-server-time\"], \"environment\": {\"K\": \"v\"}},\n    \"r\": {\"type\": \"remote\", \"url\": \"https://x\"}\n  }\n}\n",
        );
        round_trip(
            r#"{"mcpServers": {"time": {"transport": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"]}}}}"#,
            r#"{"mcpServers": {"time": {"transport": {"type": "stdio", "command": "/bin/mcpcell", "args": ["run", "-p", "node", "--pass-env", "K", "--", "uvx", "mcp-server-time"]}}}}"#,
        );
        round_trip(
            r#"{"amp.mcpServers": {"x": {"command": "srv"}}}"#,
            r#"{"amp.mcpServers": {"x": {"command": "/bin/mcpcell", "args": ["run", "--profile", "node", "--pass-env", "K", "--", "srv"]}}}"#,
        );
        let (labels, s) = read(r#"{"mcp": {"servers": {"a": {"command": "x"}}}}"#).unwrap();
        assert_eq!(labels, ["mcp.servers"]);
        assert_eq!(s[0].name, "a");
        let (labels, _) = read(r#"{"mcp": {"servers": {"command": "x"}}}"#).unwrap();
        assert_eq!(labels, ["mcp"]);
        let (_, s) =
            read(r#"{"mcp": {"discovery": {"enabled": true}, "x": {"type": "local"}}}"#).unwrap();
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(matches!(s[0].kind, Kind::Unsupported(_)));
        let (_, s) =
            read(r#"{"mcpServers": {"g": {"httpUrl": "https://x"}, "b": {"command": ["x", 1]}}}"#)
                .unwrap();
        assert!(matches!(s[0].kind, Kind::Remote(_)));
        assert!(matches!(s[1].kind, Kind::Unsupported(_)));
    }

    /// Entries a client and mcpcell could read differently: a key given twice (the first
    /// counts here, the last in JavaScript's and Python's JSON), spelt with escapes too; a
    /// command both under `transport` and beside it.
    #[test]
    fn entries_that_clients_read_differently_are_refused() {
        for text in [
            r#"{"mcpServers": {"a": {"command": "npx", "args": ["x"], "command": "/bin/sh"}}}"#,
            r#"{"mcpServers": {"a": {"command": "npx", "comm\u0061nd": "/bin/sh"}}}"#,
            r#"{"mcpServers": {"a": {"command": "npx"}}, "mcpServers": {"a": {"command": "sh"}}}"#,
            r#"{"mcpServers": {"a": {"command": "npx"}, "a": {"command": "sh"}}}"#,
            r#"{"mcpServers": {"a": {"command": "npx", "env": {"K": "1", "K": "2"}}}}"#,
            // On the way to a section: Claude Code's project, VS Code's settings.json.
            r#"{"projects": {"/p": {"mcpServers": {"a": {"command": "npx"}}, "mcpServers": {"a": {"command": "sh"}}}}}"#,
            r#"{"mcp": {"servers": {"a": {"command": "npx"}}, "servers": {"a": {"command": "sh"}}}}"#,
        ] {
            let err = read(text).unwrap_err().to_string();
            assert!(err.contains("appears twice"), "{text}: {err}");
        }
        // Outside the servers' sections, a doubled setting is the client's own business.
        assert!(read(r#"{"editor": {"x": 1, "x": 2}, "mcpServers": {}}"#).is_ok());
        let (_, s) = read(
            r#"{"mcpServers": {"a": {"transport": {"command": "npx"}, "command": "/bin/sh"}}}"#,
        )
        .unwrap();
        assert!(
            matches!(&s[0].kind, Kind::Unsupported(why) if why.contains("transport")),
            "{s:?}"
        );
    }

    #[test]
    fn inline_list() {
        round_trip(
            r#"{"mcpServers": {"a": {"command": "npx", "args": ["-y", "pkg"]}}}"#,
            r#"{"mcpServers": {"a": {"command": "/bin/mcpcell", "args": ["run", "-p", "node", "--pass-env", "K", "--", "npx", "-y", "pkg"]}}}"#,
        );
    }

    #[test]
    fn multi_line_list_with_comment() {
        round_trip(
            "{\n  \"servers\": {\n    \"a\": {\n      \"command\": \"node\", // the runtime\n      \"args\": [\n        // entry point\n        \"index.js\"\n      ]\n    }\n  }\n}\n",
            "{\n  \"servers\": {\n    \"a\": {\n      \"command\": \"/bin/mcpcell\", // the runtime\n      \"args\": [\n        // entry point\n        \"run\",\n        \"-p\",\n        \"node\",\n        \"--pass-env\",\n        \"K\",\n        \"--\",\n        \"node\",\n        \"index.js\"\n      ]\n    }\n  }\n}\n",
        );
    }

    #[test]
    fn a_trailing_comma_after_the_command_goes_with_it() {
        let text = r#"{"mcpServers": {"e": {"command": "/bin/mcpcell", "args": ["run", "-p", "x", "--", "srv",]}}}"#;
        assert_eq!(
            rewrite(text, &[(0, Edit::Unwrap)]).unwrap(),
            r#"{"mcpServers": {"e": {"command": "srv", "args": []}}}"#
        );
    }

    #[test]
    fn empty_and_missing_args() {
        round_trip(
            r#"{"mcpServers": {"a": {"command": "x", "args": []}}}"#,
            r#"{"mcpServers": {"a": {"command": "/bin/mcpcell", "args": ["run", "-p", "node", "--pass-env", "K", "--", "x"]}}}"#,
        );
        round_trip(
            "{\"mcpServers\": {\"a\": {\n  \"command\": \"x\",\n  \"env\": {}\n}}}",
            "{\"mcpServers\": {\"a\": {\n  \"command\": \"/bin/mcpcell\",\n  \"args\": [\"run\", \"--profile\", \"node\", \"--pass-env\", \"K\", \"--\", \"x\"],\n  \"env\": {}\n}}}",
        );
    }

    #[test]
    fn escapes_survive() {
        round_trip(
            r#"{"mcpServers": {"a": {"command": "n\u0070x", "args": ["a\/b"]}}}"#,
            r#"{"mcpServers": {"a": {"command": "/bin/mcpcell", "args": ["run", "-p", "node", "--pass-env", "K", "--", "n\u0070x", "a\/b"]}}}"#,
        );
    }

    #[test]
    fn byte_order_mark_stays() {
        round_trip(
            "\u{feff}{\"mcpServers\": {\"a\": {\"command\": \"x\", \"args\": [\"y\"]}}}",
            "\u{feff}{\"mcpServers\": {\"a\": {\"command\": \"/bin/mcpcell\", \"args\": [\"run\", \"-p\", \"node\", \"--pass-env\", \"K\", \"--\", \"x\", \"y\"]}}}",
        );
    }

    #[test]
    fn pins_beside_the_insertion() {
        let text = r#"{"mcpServers": {"t": {"command": "uvx", "args": ["mcp-server-time"]}}}"#;
        let edit = Edit::Wrap {
            launcher: "/bin/mcpcell".into(),
            prefix: run_prefix("python", &[], false),
            pins: vec![(0, "mcp-server-time==1.0".into())],
        };
        let wrapped = rewrite(text, &[(0, edit)]).unwrap();
        assert_eq!(
            wrapped,
            r#"{"mcpServers": {"t": {"command": "/bin/mcpcell", "args": ["run", "-p", "python", "--", "uvx", "mcp-server-time==1.0"]}}}"#
        );
        let repinned = rewrite(
            &wrapped,
            &[(0, Edit::Pin(vec![(5, "mcp-server-time==2.0".into())]))],
        )
        .unwrap();
        assert!(
            repinned.contains(r#""uvx", "mcp-server-time==2.0"]"#),
            "{repinned}"
        );
    }

    #[test]
    fn kinds() {
        let (labels, s) = read(
            r#"{"projects": {"/p": {"mcpServers": {"r": {"type": "http", "url": "https://x"}}}},
               "context_servers": {"e": {"source": "extension", "settings": {}},
                                   "z": {"command": {"path": "npx", "args": ["x"], "env": {"T": "1"}}}}}"#,
        )
        .unwrap();
        assert_eq!(labels, ["projects.\"/p\".mcpServers", "context_servers"]);
        assert_eq!(s[0].kind, Kind::Remote("http server at https://x".into()));
        assert!(matches!(s[1].kind, Kind::Unsupported(_)));
        let Kind::Stdio(z) = &s[2].kind else { panic!() };
        assert_eq!(z.command, "npx");
        assert_eq!(z.env, ["T"]);
    }

    /// Zed merges release-channel, platform and profile settings over the rest: their
    /// servers are what Zed runs there, and are read (and wrapped) as well.
    #[test]
    fn zeds_overrides_are_sections_too() {
        let (labels, s) = read(
            r#"{"context_servers": {"t": {"command": "mcpcell", "args": ["run", "--", "uvx", "t"]}},
               "linux": {"context_servers": {"t": {"command": "/bin/sh", "args": ["-c", "id"]}}},
               "stable": {"context_servers": {"u": {"command": "npx"}}},
               "profiles": {"p": {"settings": {"context_servers": {"v": {"command": "npx"}}}}}}"#,
        )
        .unwrap();
        assert_eq!(
            labels,
            [
                "context_servers",
                "linux.context_servers",
                "stable.context_servers",
                "profiles.\"p\".settings.context_servers"
            ]
        );
        let Kind::Stdio(sh) = &s[1].kind else {
            panic!("{s:?}")
        };
        assert_eq!(sh.command, "/bin/sh");
        assert_eq!(s.len(), 4);
        // A key doubled inside an override refuses the file, as in a section.
        let err = read(
            r#"{"linux": {"context_servers": {}, "context_servers": {"a": {"command": "sh"}}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("appears twice"), "{err}");
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = read("{\n  \"mcpServers\": {\n    \"a\": 1\n    \"b\": 2\n  }\n}").unwrap_err();
        assert!(
            matches!(
                e,
                FormatError::Syntax {
                    line: 3,
                    column: 11,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}
