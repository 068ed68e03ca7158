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
    match parsed.value {
        Some(v @ Value::Object(_)) => Ok(v),
        _ => Err(FormatError::Shape(
            "the top level is not a JSON object".into(),
        )),
    }
}

/// A server entry found in the tree.
struct Found<'a> {
    section: String,
    name: String,
    value: &'a Value<'a>,
}

/// Every server section, in file order: `mcpServers` (Claude Desktop, Claude Code, Cursor,
/// Windsurf), `projects.<path>.mcpServers` (Claude Code's per-project entries), `servers`
/// (VS Code's mcp.json), `mcp.servers` (VS Code's settings.json), `context_servers` (Zed).
fn sections<'a>(root: &'a Object<'a>) -> Vec<(String, &'a Object<'a>)> {
    let mut out = Vec::new();
    for p in &root.properties {
        let key = p.name.as_str();
        match (key, &p.value) {
            ("mcpServers" | "servers" | "context_servers", Value::Object(o)) => {
                out.push((key.to_string(), o));
            }
            ("projects", Value::Object(projects)) => {
                for project in &projects.properties {
                    if let Some(o) = project
                        .value
                        .as_object()
                        .and_then(|p| p.get_object("mcpServers"))
                    {
                        let label =
                            serde_json::to_string(project.name.as_str()).unwrap_or_default();
                        out.push((format!("projects.{label}.mcpServers"), o));
                    }
                }
            }
            ("mcp", Value::Object(mcp)) => {
                if let Some(o) = mcp.get_object("servers") {
                    out.push(("mcp.servers".into(), o));
                }
            }
            _ => {}
        }
    }
    out
}

fn found<'a>(root: &'a Value<'a>) -> (Vec<String>, Vec<Found<'a>>) {
    let Value::Object(root) = root else {
        return (vec![], vec![]);
    };
    let mut labels = Vec::new();
    let mut out = Vec::new();
    for (section, obj) in sections(root) {
        for p in &obj.properties {
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
    /// The object that holds the command and its arguments: the entry itself, or Zed's older
    /// `"command": {"path": ..., "args": ...}` object.
    holder: &'a Object<'a>,
    command_prop: &'a ObjectProp<'a>,
    command: &'a StringLit<'a>,
    args: Option<(&'a ObjectProp<'a>, &'a Array<'a>, Vec<&'a StringLit<'a>>)>,
}

fn string_list<'a>(arr: &'a Array<'a>) -> Option<Vec<&'a StringLit<'a>>> {
    arr.elements.iter().map(Value::as_string_lit).collect()
}

fn env_names(obj: &Object<'_>, out: &mut Vec<String>) {
    if let Some(env) = obj.get_object("env") {
        for p in &env.properties {
            let name = p.name.as_str().to_string();
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
}

const REMOTE_TYPES: &[&str] = &["http", "sse", "streamable-http", "streamableHttp", "ws"];

fn classify<'a>(v: &'a Value<'a>) -> (Kind, Option<Parts<'a>>) {
    let Value::Object(entry) = v else {
        return (Kind::Unsupported("the entry is not an object".into()), None);
    };
    let Some(command_prop) = entry.get("command") else {
        let url = entry
            .get_string("url")
            .or_else(|| entry.get_string("serverUrl"));
        let ty = entry.get_string("type").map(|t| t.value.to_string());
        if url.is_some() || ty.as_deref().is_some_and(|t| REMOTE_TYPES.contains(&t)) {
            let how = ty.unwrap_or_else(|| "remote".into());
            let at = url.map(|u| format!(" at {}", u.value)).unwrap_or_default();
            return (Kind::Remote(format!("{how} server{at}")), None);
        }
        return (
            Kind::Unsupported("no `command` (not a server the client starts)".into()),
            None,
        );
    };
    let (holder, command_prop, command) = match &command_prop.value {
        Value::StringLit(s) => (entry, command_prop, s),
        Value::Object(o) => match o.get("path") {
            Some(
                p @ ObjectProp {
                    value: Value::StringLit(s),
                    ..
                },
            ) => (o, p, s),
            _ => {
                return (
                    Kind::Unsupported("`command` has no `path` string".into()),
                    None,
                );
            }
        },
        _ => return (Kind::Unsupported("`command` is not a string".into()), None),
    };
    let args = match holder.get("args") {
        None => None,
        Some(p) => match p.value.as_array().and_then(|a| Some((a, string_list(a)?))) {
            Some((a, list)) => Some((p, a, list)),
            None => {
                return (
                    Kind::Unsupported("`args` is not a list of strings".into()),
                    None,
                );
            }
        },
    };
    let mut env = Vec::new();
    env_names(entry, &mut env);
    env_names(holder, &mut env);
    let mut warnings = Vec::new();
    if let Some(f) = entry.get_string("envFile") {
        warnings.push(format!(
            "it loads variables from the envFile `{}`, which mcpcell does not pass on; add their names to the profile's env.pass",
            f.value
        ));
    }
    let stdio = Stdio {
        command: command.value.to_string(),
        args: args
            .as_ref()
            .map(|(_, _, list)| list.iter().map(|s| s.value.to_string()).collect()),
        env,
        warnings,
    };
    (
        Kind::Stdio(stdio),
        Some(Parts {
            holder,
            command_prop,
            command,
            args,
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
struct Splice {
    start: usize,
    end: usize,
    with: String,
}

fn apply(text: &str, mut splices: Vec<Splice>) -> Result<String, FormatError> {
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

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The whitespace that starts the line `pos` is on, when only whitespace precedes `pos`.
fn indent_at(text: &str, pos: usize) -> Option<&str> {
    let line_start = text[..pos].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let lead = &text[line_start..pos];
    lead.chars().all(|c| c == ' ' || c == '\t').then_some(lead)
}

/// The file's line ending.
fn newline(text: &str) -> &'static str {
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
            env: vec![],
            warnings: vec![],
        };
        let w = stdio.wrapped(&stdio.command).ok_or_else(not_wrapped)?;
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
