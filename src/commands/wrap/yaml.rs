//! YAML: Continue (`mcpServers`, a list of servers with a `name`), Goose (`extensions`, with
//! `cmd`/`args`/`envs`) and fast-agent (`mcp.servers`).
//!
//! Like the JSON editor, this one splices the original text: yaml-rust2's event parser gives
//! where each node starts, the end of a one-line scalar is found from its style and then
//! checked by parsing that slice alone, which must give the same value. Comments, order,
//! quoting and layout outside the edited values stay byte for byte. What the editor cannot
//! place exactly (a command written over several lines, block scalars, anchors, aliases,
//! merge keys, tags) makes the entry one mcpcell cannot wrap, said as such.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::FormatError;
use super::jsonc::{Splice, apply, newline, quote};
use super::model::{Edit, Kind, Server, Stdio};

/// A node of the document, with byte offsets into the text.
#[derive(Debug)]
enum Node {
    Scalar {
        value: String,
        style: TScalarStyle,
        start: usize,
        /// Anchor or tag on it: editing it could change another place.
        marked: bool,
        /// Inside a flow collection (`[...]`, `{...}`), where `,` and brackets end it.
        in_flow: bool,
    },
    Seq {
        start: usize,
        items: Vec<Node>,
        marked: bool,
    },
    Map {
        start: usize,
        entries: Vec<(Node, Node)>,
        marked: bool,
    },
    Alias,
    /// A map key's value not seen yet.
    Pending,
}

impl Node {
    fn start(&self) -> usize {
        match self {
            Node::Scalar { start, .. } | Node::Seq { start, .. } | Node::Map { start, .. } => {
                *start
            }
            Node::Alias | Node::Pending => 0,
        }
    }

    fn str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of `key` in a map.
    fn key(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.str() == Some(key))
                .map(|(k, _)| k),
            _ => None,
        }
    }

    fn count(&self, key: &str) -> usize {
        match self {
            Node::Map { entries, .. } => {
                entries.iter().filter(|(k, _)| k.str() == Some(key)).count()
            }
            _ => 0,
        }
    }
}

/// Builds the tree from parser events.
struct Builder<'t> {
    text: &'t str,
    /// Byte offset of each character (markers count characters).
    offsets: Vec<usize>,
    stack: Vec<Node>,
    root: Option<Node>,
    documents: usize,
}

impl Builder<'_> {
    fn text_at(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    fn byte(&self, m: Marker) -> usize {
        self.offsets.get(m.index()).copied().unwrap_or(usize::MAX)
    }

    fn push_value(&mut self, node: Node) {
        match self.stack.last_mut() {
            Some(Node::Seq { items, .. }) => items.push(node),
            // Keys and values alternate: a key waits with a placeholder for its value.
            Some(Node::Map { entries, .. }) => match entries.last_mut() {
                Some((_, slot)) if is_pending(slot) => *slot = node,
                _ => entries.push((node, pending())),
            },
            _ => self.root = Some(node),
        }
    }
}

fn pending() -> Node {
    Node::Pending
}

fn is_pending(n: &Node) -> bool {
    matches!(n, Node::Pending)
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = self.byte(mark);
        match ev {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(value, style, anchor, tag) => {
                let in_flow = self
                    .stack
                    .iter()
                    .any(|n| matches!(self.text_at(n.start()), Some(b'[' | b'{')));
                self.push_value(Node::Scalar {
                    value,
                    style,
                    start: at,
                    marked: anchor != 0 || tag.is_some(),
                    in_flow,
                })
            }
            Event::SequenceStart(anchor, tag) => self.stack.push(Node::Seq {
                start: at,
                items: Vec::new(),
                marked: anchor != 0 || tag.is_some(),
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Node::Map {
                start: at,
                entries: Vec::new(),
                marked: anchor != 0 || tag.is_some(),
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(n) = self.stack.pop() {
                    self.push_value(n);
                }
            }
            Event::Alias(_) => self.push_value(Node::Alias),
            _ => {}
        }
    }
}

fn parse(text: &str) -> Result<Node, FormatError> {
    let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    offsets.push(text.len());
    let mut b = Builder {
        text,
        offsets,
        stack: Vec::new(),
        root: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, true).map_err(|e| FormatError::Syntax {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_string(),
    })?;
    if b.documents > 1 {
        return Err(FormatError::Shape(
            "the file holds more than one YAML document".into(),
        ));
    }
    match b.root {
        Some(n @ Node::Map { .. }) => Ok(n),
        None => Ok(Node::Map {
            start: 0,
            entries: vec![],
            marked: false,
        }),
        Some(_) => Err(FormatError::Shape(
            "the top level is not a YAML mapping".into(),
        )),
    }
}

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
const BUILT_IN: &[&str] = &["builtin", "platform", "frontend", "inline_python"];
const REMOTE: &[&str] = &[
    "sse",
    "http",
    "streamable_http",
    "streamable-http",
    "streamableHttp",
    "ws",
];

/// A scalar's byte range, when it sits on one line in a form the editor can move.
fn scalar_span(text: &str, n: &Node) -> Option<(usize, usize)> {
    let Node::Scalar {
        value,
        style,
        start,
        marked: false,
        in_flow,
    } = n
    else {
        return None;
    };
    let start = *start;
    let rest = text.get(start..)?;
    let line = &rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())];
    let len = match style {
        TScalarStyle::DoubleQuoted => {
            let mut chars = line.char_indices().skip(1);
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    _ => {}
                }
            }
            end?
        }
        TScalarStyle::SingleQuoted => {
            let b = line.as_bytes();
            let mut i = 1;
            loop {
                match b.get(i)? {
                    b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
                    b'\'' => break i + 1,
                    _ => i += 1,
                }
            }
        }
        TScalarStyle::Plain => {
            // At most the rest of the line, up to a comment or a flow indicator; the value
            // check below rejects any cut that is not the scalar's own end.
            let mut end = line.len();
            if let Some(c) = line.find(" #") {
                end = end.min(c);
            }
            let stops: &[&str] = if *in_flow {
                &[",", "]", "}", ": "]
            } else {
                &[": "]
            };
            for stop in stops {
                if let Some(c) = line.find(stop) {
                    end = end.min(c);
                }
            }
            line[..end].trim_end().len()
        }
        _ => return None,
    };
    let slice = &text[start..start + len];
    (single_scalar(slice).as_deref() == Some(value.as_str())).then_some((start, start + len))
}

/// The value of a text that is one scalar and nothing else.
fn single_scalar(text: &str) -> Option<String> {
    struct One(Vec<Event>);
    impl MarkedEventReceiver for One {
        fn on_event(&mut self, ev: Event, _: Marker) {
            self.0.push(ev);
        }
    }
    let mut one = One(Vec::new());
    Parser::new_from_str(text).load(&mut one, false).ok()?;
    let scalars: Vec<&Event> = one
        .0
        .iter()
        .filter(|e| {
            !matches!(
                e,
                Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd
            )
        })
        .collect();
    match scalars.as_slice() {
        [Event::Scalar(v, ..)] => Some(v.clone()),
        _ => None,
    }
}

/// The pieces of a stdio entry the editor touches.
struct Parts<'a> {
    entry: &'a Node,
    command_key: &'a Node,
    command: (usize, usize),
    args: Option<Args<'a>>,
}

struct Args<'a> {
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
            for (k, _) in entries {
                if let Some(n) = k.str().filter(|n| !out.iter().any(|o| o == n)) {
                    out.push(n.to_string());
                }
            }
        }
        // Goose's `env_keys`: names whose values it takes from its own secret store.
        Some(Node::Seq { items, .. }) => {
            for n in items.iter().filter_map(Node::str) {
                if !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
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
    let key = if entry.key("cmd").is_some() {
        "cmd"
    } else {
        "command"
    };
    let Some(command_key) = entry.key(key) else {
        if BUILT_IN.contains(&ty) {
            return (
                Kind::Remote(format!("{ty} extension, part of the client")),
                None,
            );
        }
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

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

fn line_end(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    pos + rest.find(['\r', '\n']).unwrap_or(rest.len())
}

/// The `-` of a block list item starting at `item`, and the indentation before it.
fn dash(text: &str, item: usize) -> Option<(usize, &str)> {
    let before = text[..item].trim_end_matches(' ');
    let d = before.len().checked_sub(1)?;
    if text.as_bytes()[d] != b'-' {
        return None;
    }
    let ls = line_start(text, d);
    let indent = &text[ls..d];
    indent.bytes().all(|b| b == b' ').then_some((d, indent))
}

/// The position just after the `]` that closes a flow list whose last content ends at `from`.
fn flow_close(text: &str, from: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\r' | b'\n' | b',' => i += 1,
            b'#' => i = line_end(text, i),
            b']' => return Some(i + 1),
            _ => return None,
        }
    }
    None
}

struct Splicer<'t, 'o> {
    text: &'t str,
    out: &'o mut Vec<Splice>,
}

fn cannot(what: &str) -> FormatError {
    FormatError::Shape(format!(
        "the entry's layout cannot be edited exactly: {what}"
    ))
}

impl Splicer<'_, '_> {
    fn put(&mut self, start: usize, end: usize, with: String) {
        self.out.push(Splice { start, end, with });
    }

    fn pins(&mut self, parts: &Parts<'_>, pins: &[(usize, String)]) {
        let Some(a) = &parts.args else { return };
        for (i, value) in pins {
            if let Some((s, e)) = a.items.get(*i) {
                self.put(*s, *e, quote(value));
            }
        }
    }

    fn wrap(
        &mut self,
        parts: &Parts<'_>,
        launcher: &str,
        prefix: &[String],
    ) -> Result<(), FormatError> {
        let text = self.text;
        let (cs, ce) = parts.command;
        let original = text[cs..ce].to_string();
        self.put(cs, ce, quote(launcher));
        let mut items: Vec<String> = prefix.iter().map(|s| quote(s)).collect();
        items.push(original);
        let nl = newline(text);
        match &parts.args {
            Some(a) if a.flow && !a.items.is_empty() => {
                let gap = a
                    .items
                    .get(1)
                    .map(|(s, _)| &text[a.items[0].1..*s])
                    .filter(|g| g.trim() == "," && !g.contains(['\n', '\r']));
                let sep = gap.unwrap_or(", ").to_string();
                let at = a.items[0].0;
                self.put(at, at, format!("{}{sep}", items.join(&sep)));
            }
            Some(a) if a.flow => {
                let at = a.node.start() + 1;
                self.put(at, at, items.join(", "));
            }
            Some(a) => {
                let (d, indent) = dash(text, a.items[0].0)
                    .ok_or_else(|| cannot("a list item not on a line of its own"))?;
                let lines: String = items.iter().map(|i| format!("- {i}{nl}{indent}")).collect();
                self.put(d, d, lines);
            }
            None => {
                let ks = parts.command_key.start();
                let flow_map = text.as_bytes().get(parts.entry.start()) == Some(&b'{');
                if flow_map {
                    self.put(ce, ce, format!(", args: [{}]", items.join(", ")));
                } else {
                    let ls = line_start(text, ks);
                    if !text[ls..ks].bytes().all(|b| b == b' ' || b == b'-') {
                        return Err(cannot("the command's key does not start its line"));
                    }
                    let after = text[ce..line_end(text, ce)].trim_start();
                    if !(after.is_empty() || after.starts_with('#')) {
                        return Err(cannot("something follows the command on its line"));
                    }
                    let indent = " ".repeat(ks - ls);
                    let at = line_end(text, ce);
                    self.put(at, at, format!("{nl}{indent}args: [{}]", items.join(", ")));
                }
            }
        }
        Ok(())
    }

    fn unwrap(&mut self, parts: &Parts<'_>) -> Result<(), FormatError> {
        let text = self.text;
        let not_wrapped = || FormatError::Shape("the entry is not in the wrapped form".into());
        let Some(a) = &parts.args else {
            return Err(not_wrapped());
        };
        let Node::Seq { items, .. } = a.node else {
            return Err(not_wrapped());
        };
        let stdio = Stdio {
            command: text[parts.command.0..parts.command.1].to_string(),
            args: Some(
                items
                    .iter()
                    .map(|n| n.str().unwrap_or("").to_string())
                    .collect(),
            ),
            ..Stdio::default()
        };
        let command = parts
            .entry
            .get(if parts.entry.key("cmd").is_some() {
                "cmd"
            } else {
                "command"
            })
            .and_then(Node::str)
            .unwrap_or("");
        let stdio = Stdio {
            command: command.to_string(),
            ..stdio
        };
        let w = stdio.wrapped(command).ok_or_else(not_wrapped)?;
        let (os, oe) = a.items[w.command_index];
        self.put(parts.command.0, parts.command.1, text[os..oe].to_string());
        let first = a.items[0].0;
        if w.args_added {
            let close =
                flow_close(text, oe).ok_or_else(|| cannot("`args` is not a one-line list"))?;
            let ks = a.key.start();
            let flow_map = text.as_bytes().get(parts.entry.start()) == Some(&b'{');
            if flow_map {
                let gap = &text[parts.command.1..ks];
                if gap.trim() != "," {
                    return Err(cannot("`args` does not follow the command"));
                }
                self.put(parts.command.1, close, String::new());
            } else {
                let ls = line_start(text, ks);
                let nl = newline(text);
                if !text[ls..ks].bytes().all(|b| b == b' ')
                    || ls < nl.len()
                    || &text[ls - nl.len()..ls] != nl
                {
                    return Err(cannot("`args` does not start its line"));
                }
                self.put(ls - nl.len(), close, String::new());
            }
        } else if let Some((next, _)) = a.items.get(w.command_index + 1) {
            if a.flow {
                self.put(first, *next, String::new());
            } else {
                let (d0, _) = dash(text, first)
                    .ok_or_else(|| cannot("a list item not on a line of its own"))?;
                let (dn, _) = dash(text, *next)
                    .ok_or_else(|| cannot("a list item not on a line of its own"))?;
                self.put(d0, dn, String::new());
            }
        } else if a.flow {
            // Nothing follows the command: the list is left empty, a trailing comma too.
            let after = &text[oe..];
            let comma = after.find(',').filter(|c| after[..*c].trim().is_empty());
            let end = comma.map_or(oe, |c| oe + c + 1);
            self.put(first, end, String::new());
        } else {
            return Err(cannot("a block list would be left empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str, expect_wrapped: &str) {
        crate::commands::wrap::round_trip(
            crate::commands::wrap::Format::Yaml,
            "node",
            text,
            expect_wrapped,
        );
    }

    #[test]
    fn continue_list_block_args() {
        round_trip(
            "name: my\nversion: 0.0.1\nschema: v1\nmcpServers:\n  - name: fs # files\n    command: npx\n    args:\n      - -y\n      - \"@modelcontextprotocol/server-filesystem\"\n    env:\n      K: v\n",
            "name: my\nversion: 0.0.1\nschema: v1\nmcpServers:\n  - name: fs # files\n    command: \"/bin/mcpcell\"\n    args:\n      - \"run\"\n      - \"-p\"\n      - \"node\"\n      - \"--pass-env\"\n      - \"K\"\n      - \"--\"\n      - npx\n      - -y\n      - \"@modelcontextprotocol/server-filesystem\"\n    env:\n      K: v\n",
        );
        let (_, s) = read("mcpServers:\n  - name: fs\n    command: npx\n").unwrap();
        assert_eq!(s[0].name, "fs");
    }

    #[test]
    fn goose_extensions_flow_args_and_builtins() {
        let text = "extensions:\n  developer:\n    enabled: true\n    type: builtin\n    name: developer\n  github:\n    args: ['-y', '@modelcontextprotocol/server-github']\n    cmd: npx\n    enabled: true\n    envs: {}\n    type: stdio\n";
        let (_, s) = read(text).unwrap();
        assert!(matches!(s[0].kind, Kind::Remote(_)), "{s:?}");
        round_trip(
            text,
            "extensions:\n  developer:\n    enabled: true\n    type: builtin\n    name: developer\n  github:\n    args: [\"run\", \"-p\", \"node\", \"--pass-env\", \"K\", \"--\", npx, '-y', '@modelcontextprotocol/server-github']\n    cmd: \"/bin/mcpcell\"\n    enabled: true\n    envs: {}\n    type: stdio\n",
        );
    }

    #[test]
    fn fast_agent_missing_and_empty_args() {
        round_trip(
            "mcp:\n  servers:\n    time:\n      command: 'uvx' # runner\n      transport: stdio\n    e:\n      command: srv\n      args: []\n",
            "mcp:\n  servers:\n    time:\n      command: \"/bin/mcpcell\" # runner\n      args: [\"run\", \"--profile\", \"node\", \"--pass-env\", \"K\", \"--\", 'uvx']\n      transport: stdio\n    e:\n      command: \"/bin/mcpcell\"\n      args: [\"run\", \"-p\", \"node\", \"--pass-env\", \"K\", \"--\", srv]\n",
        );
        round_trip(
            "mcpServers: {a: {command: srv}}",
            "mcpServers: {a: {command: \"/bin/mcpcell\", args: [\"run\", \"--profile\", \"node\", \"--pass-env\", \"K\", \"--\", srv]}}",
        );
    }

    #[test]
    fn what_cannot_be_edited_exactly_is_said() {
        for (text, needle) in [
            ("mcpServers:\n  a:\n    command: >\n      npx\n", "one-line"),
            (
                "c: &common [x]\nmcpServers:\n  a:\n    command: npx\n    args: *common\n",
                "plain list",
            ),
            (
                "b: &base {command: x}\nmcpServers:\n  a:\n    <<: *base\n",
                "merge key",
            ),
            ("mcpServers:\n  a: &a\n    command: x\n", "anchor"),
            ("mcpServers:\n  a:\n    command: &c x\n", "one-line"),
            ("mcpServers:\n  a:\n    command: !!str npx\n", "one-line"),
            ("mcpServers:\n  a:\n    command: [npx]\n", "one-line"),
            (
                "mcpServers:\n  a:\n    command: x\n    command: y\n",
                "twice",
            ),
        ] {
            let (_, s) = read(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            match &s[0].kind {
                Kind::Unsupported(why) => assert!(why.contains(needle), "{text}: {why}"),
                k => panic!("{text}: {k:?}"),
            }
        }
        assert!(matches!(
            read("a: [").unwrap_err(),
            FormatError::Syntax { .. }
        ));
        assert!(read("- 1\n").is_err());
    }

    #[test]
    fn commas_brackets_and_byte_order_marks() {
        round_trip(
            "\u{feff}mcpServers:\n  a:\n    command: a,b\n    args:\n      - x,y\n",
            "\u{feff}mcpServers:\n  a:\n    command: \"/bin/mcpcell\"\n    args:\n      - \"run\"\n      - \"-p\"\n      - \"node\"\n      - \"--pass-env\"\n      - \"K\"\n      - \"--\"\n      - a,b\n      - x,y\n",
        );
        let (_, s) = read("mcpServers:\n  a:\n    command: a,b\n    args: [x]\n").unwrap();
        match &s[0].kind {
            Kind::Unsupported(why) => assert!(why.contains("put it in quotes"), "{why}"),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn multibyte_text_before_the_entry() {
        round_trip(
            "# größe ✓\nmcpServers:\n  - name: \"ü\"\n    command: \"nöde\"\n    args: [\"x\"]\n",
            "# größe ✓\nmcpServers:\n  - name: \"ü\"\n    command: \"/bin/mcpcell\"\n    args: [\"run\", \"-p\", \"node\", \"--pass-env\", \"K\", \"--\", \"nöde\", \"x\"]\n",
        );
    }
}

#[cfg(test)]
mod mutations {
    /// A small deterministic fuzzer beside the real one (`fuzz/`): the golden YAML configs with
    /// bytes inserted, deleted and swapped must wrap and unwrap back to themselves, or be
    /// refused; never panic or come back changed.
    #[test]
    fn mutated_configs_round_trip_or_are_refused() {
        let seeds = [
            include_str!("../../../tests/golden/wrap/continue/config.yaml"),
            include_str!("../../../tests/golden/wrap/goose/config.yaml"),
            include_str!("../../../tests/golden/wrap/fast-agent/fastagent.config.yaml"),
            "mcpServers: {a: {command: srv}, b: {command: 'x y', args: [\"1\", '2']}}\n",
        ];
        let pieces = [
            " ",
            "\n",
            "\t",
            "#",
            "-",
            ":",
            ",",
            "[",
            "]",
            "{",
            "}",
            "'",
            "\"",
            "&a ",
            "*a",
            "|",
            ">",
            "!!str ",
            "\r\n",
            "ü",
            "args: []",
            "\n  args:\n  - x",
            "command: c",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for seed in seeds {
            for _ in 0..250 {
                let mut text = seed.to_string();
                for _ in 0..1 + next(3) {
                    let mut at = next(text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    match next(3) {
                        0 => text.insert_str(at, pieces[next(pieces.len())]),
                        1 => {
                            let mut end = (at + 1 + next(4)).min(text.len());
                            while !text.is_char_boundary(end) {
                                end += 1;
                            }
                            text.replace_range(at..end, "");
                        }
                        _ => {
                            let p = pieces[next(pieces.len())];
                            let mut end = (at + p.len()).min(text.len());
                            while !text.is_char_boundary(end) {
                                end += 1;
                            }
                            text.replace_range(at..end, p);
                        }
                    }
                }
                crate::commands::wrap::check_round_trip(&text, 2);
            }
        }
    }
}
