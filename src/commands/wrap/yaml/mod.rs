//! YAML: Continue (`mcpServers`, a list of servers with a `name`), Goose (`extensions`, with
//! `cmd`/`args`/`envs`) and fast-agent (`mcp.servers`).
//!
//! Like the JSON editor, this one splices the original text: yaml-rust2's event parser gives
//! where each node starts, the end of a one-line scalar is found from its style and then
//! checked by parsing that slice alone, which must give the same value. Comments, order,
//! quoting and layout outside the edited values stay byte for byte. What the editor cannot
//! place exactly (a command written over several lines, block scalars, anchors, aliases,
//! merge keys, tags) makes the entry one mcpcell cannot wrap, said as such.

mod splice;
#[cfg(test)]
mod tests;
mod tree;

use yaml_rust2::scanner::TScalarStyle;

use super::FormatError;
use super::jsonc::apply;
use super::model::{Edit, Kind, Server, Stdio};
use splice::Splicer;
use tree::{Node, parse, scalar_span};

/// A server entry found in the tree.
struct Found<'a> {
    section: String,
    name: String,
    entry: &'a Node,
}

/// Every server section: `mcpServers` as a map (Claude's shape) or a list of entries with a
/// `name` (Continue), `extensions` (Goose), `mcp.servers` (fast-agent).
fn found(root: &Node) -> (Vec<String>, Vec<Found<'_>>) {
    let mut sections: Vec<(String, &Node)> = Vec::new();
    if let Node::Map { entries, .. } = root {
        for (k, v) in entries {
            match (k.str(), v) {
                (
                    Some(key @ ("mcpServers" | "extensions")),
                    Node::Map { .. } | Node::Seq { .. },
                ) => {
                    sections.push((key.to_string(), v));
                }
                (Some("mcp"), Node::Map { .. }) => {
                    if let Some(s @ Node::Map { .. }) = v.get("servers") {
                        sections.push(("mcp.servers".into(), s));
                    }
                }
                _ => {}
            }
        }
    }
    let mut labels = Vec::new();
    let mut out = Vec::new();
    for (label, node) in sections {
        match node {
            Node::Map { entries, .. } => {
                for (k, entry) in entries {
                    let name = k.str().map(str::to_string).unwrap_or_else(|| "?".into());
                    out.push(Found {
                        section: label.clone(),
                        name,
                        entry,
                    });
                }
            }
            Node::Seq { items, .. } => {
                for (i, entry) in items.iter().enumerate() {
                    let name = entry
                        .get("name")
                        .and_then(Node::str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{label}[{i}]"));
                    out.push(Found {
                        section: label.clone(),
                        name,
                        entry,
                    });
                }
            }
            _ => {}
        }
        labels.push(label);
    }
    (labels, out)
}

/// Goose's extension types that run inside Goose, not as a process it starts.
const BUILT_IN: &[&str] = &["builtin", "platform", "frontend"];
const REMOTE: &[&str] = &[
    "sse",
    "http",
    "streamable_http",
    "streamable-http",
    "streamableHttp",
    "ws",
];

/// The pieces of a stdio entry the editor touches.
pub(super) struct Parts<'a> {
    entry: &'a Node,
    command_key: &'a Node,
    command: (usize, usize),
    args: Option<Args<'a>>,
}

pub(super) struct Args<'a> {
    key: &'a Node,
    node: &'a Node,
    flow: bool,
    /// Each item's byte range.
    items: Vec<(usize, usize)>,
}

fn unsupported<'a>(why: &str) -> (Kind, Option<Parts<'a>>) {
    (Kind::Unsupported(why.to_string()), None)
}

fn names(node: Option<&Node>, out: &mut Vec<String>) {
    match node {
        Some(Node::Map { entries, .. }) => {
            let keys = entries.iter().filter_map(|(k, _)| k.str());
            crate::commands::wrap::model::push_new(out, keys.map(str::to_string));
        }
        // Goose's `env_keys`: names whose values it takes from its own secret store.
        Some(Node::Seq { items, .. }) => {
            let names = items.iter().filter_map(Node::str).map(str::to_string);
            crate::commands::wrap::model::push_new(out, names);
        }
        _ => {}
    }
}

fn classify<'a>(text: &str, entry: &'a Node) -> (Kind, Option<Parts<'a>>) {
    if !matches!(entry, Node::Map { .. }) {
        return unsupported("the entry is not a mapping");
    }
    if matches!(entry, Node::Map { marked: true, .. }) {
        return unsupported(
            "the entry has a YAML anchor or tag: editing it would change other places too",
        );
    }
    if entry.key("<<").is_some() {
        return unsupported("the entry uses a YAML merge key (`<<`), which hides what it runs");
    }
    let ty = entry.get("type").and_then(Node::str).unwrap_or("");
    let transport = entry.get("transport").and_then(Node::str).unwrap_or("");
    // Goose chooses by `type` before it looks at `cmd`.
    if ty == "inline_python" {
        return unsupported(
            "an inline_python extension: Goose writes its `code` to a file and starts it with uvx and python, a process mcpcell cannot wrap",
        );
    }
    if BUILT_IN.contains(&ty) {
        return (
            Kind::Remote(format!("{ty} extension, part of the client")),
            None,
        );
    }
    // Goose runs `cmd`, the other clients `command`: an entry with both could run the one
    // mcpcell did not wrap.
    if entry.key("cmd").is_some() && entry.key("command").is_some() {
        return unsupported("it has both `cmd` and `command`: clients differ on which one runs");
    }
    let key = if entry.key("cmd").is_some() {
        "cmd"
    } else {
        "command"
    };
    let Some(command_key) = entry.key(key) else {
        let url = ["url", "uri"]
            .iter()
            .find_map(|k| entry.get(k).and_then(Node::str));
        if url.is_some() || REMOTE.contains(&ty) || REMOTE.contains(&transport) {
            let how = [ty, transport]
                .into_iter()
                .find(|t| !t.is_empty())
                .unwrap_or("remote");
            let at = url.map(|u| format!(" at {u}")).unwrap_or_default();
            return (Kind::Remote(format!("{how} server{at}")), None);
        }
        return unsupported("no `command`, and not a remote server either");
    };
    if entry.count(key) > 1 {
        return unsupported(&format!("`{key}` is given twice"));
    }
    let command_node = entry.get(key).expect("the key is there");
    let Some(command) = scalar_span(text, command_node) else {
        return unsupported(&format!(
            "`{key}` is not a plain one-line string (a list, a multi-line or block scalar, an anchor, alias or tag)"
        ));
    };
    let args = match (entry.key("args"), entry.get("args")) {
        (
            Some(key),
            Some(
                node @ Node::Seq {
                    items,
                    marked: false,
                    start,
                },
            ),
        ) => {
            if entry.count("args") > 1 {
                return unsupported("`args` is given twice");
            }
            let flow = text.as_bytes().get(*start) == Some(&b'[');
            let mut spans = Vec::new();
            for it in items {
                match scalar_span(text, it) {
                    Some(s) => spans.push(s),
                    None => {
                        return unsupported(
                            "`args` holds something other than one-line strings (a list, a block scalar, an anchor, alias or tag)",
                        );
                    }
                }
            }
            if !flow && spans.is_empty() {
                return unsupported("`args` is an empty block list");
            }
            Some(Args {
                key,
                node,
                flow,
                items: spans,
            })
        }
        (None, None) => None,
        (_, Some(Node::Scalar { value, .. })) if value.is_empty() => {
            return unsupported("`args` is empty (null)");
        }
        _ => return unsupported("`args` is not a plain list of strings"),
    };
    // A plain command moves into a flow list as it is; there `,` and brackets would end it.
    if let (
        Some(a),
        Node::Scalar {
            style: TScalarStyle::Plain,
            value,
            ..
        },
    ) = (&args, command_node)
    {
        if a.flow && value.contains([',', '[', ']', '{', '}']) {
            return unsupported(&format!(
                "`{key}` is an unquoted string with `,` or brackets, which cannot move into the `[...]` list of `args` as it is; put it in quotes"
            ));
        }
    }
    let mut env = Vec::new();
    names(entry.get("env"), &mut env);
    names(entry.get("envs"), &mut env);
    names(entry.get("env_keys"), &mut env);
    let value_of = |n: &Node| n.str().map(str::to_string);
    let stdio = Stdio {
        command: value_of(command_node).unwrap_or_default(),
        args: args.as_ref().map(|a| {
            a.items
                .iter()
                .zip(match a.node {
                    Node::Seq { items, .. } => items.iter(),
                    _ => [].iter(),
                })
                .map(|(_, n)| value_of(n).unwrap_or_default())
                .collect()
        }),
        env,
        cwd: entry.get("cwd").and_then(Node::str).map(str::to_string),
        env_file: entry.get("envFile").and_then(Node::str).map(str::to_string),
        ..Stdio::default()
    };
    (
        Kind::Stdio(stdio),
        Some(Parts {
            entry,
            command_key,
            command,
            args,
        }),
    )
}

/// The server sections found (possibly empty ones) and every entry in them.
pub fn read(text: &str) -> Result<(Vec<String>, Vec<Server>), FormatError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = parse(text)?;
    let (labels, entries) = found(&root);
    let servers = entries
        .into_iter()
        .map(|f| Server {
            section: f.section,
            name: f.name,
            kind: classify(text, f.entry).0,
        })
        .collect();
    Ok((labels, servers))
}

/// Applies `edits` (entry index as [`read`] numbers them, edit) and returns the new text.
pub fn rewrite(text: &str, edits: &[(usize, Edit)]) -> Result<String, FormatError> {
    // A byte order mark stays in front, outside the YAML.
    if let Some(body) = text.strip_prefix('\u{feff}') {
        return Ok(format!("\u{feff}{}", rewrite(body, edits)?));
    }
    let root = parse(text)?;
    let (_, entries) = found(&root);
    let mut splices = Vec::new();
    for (index, edit) in edits {
        let parts = entries
            .get(*index)
            .and_then(|f| classify(text, f.entry).1)
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
                s.wrap(&parts, launcher, prefix)?;
            }
            Edit::Pin(pins) => s.pins(&parts, pins),
            Edit::Unwrap => s.unwrap(&parts)?,
        }
    }
    apply(text, splices)
}
