//! The YAML document as a tree of nodes with byte offsets, built from yaml-rust2's events,
//! and the exact byte range of a one-line scalar.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::super::FormatError;

/// A node of the document, with byte offsets into the text.
#[derive(Debug)]
pub(super) enum Node {
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
    pub(super) fn start(&self) -> usize {
        match self {
            Node::Scalar { start, .. } | Node::Seq { start, .. } | Node::Map { start, .. } => {
                *start
            }
            Node::Alias | Node::Pending => 0,
        }
    }

    pub(super) fn str(&self) -> Option<&str> {
        match self {
            Node::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The key node of `key` in a map.
    pub(super) fn key(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map { entries, .. } => entries
                .iter()
                .find(|(k, _)| k.str() == Some(key))
                .map(|(k, _)| k),
            _ => None,
        }
    }

    pub(super) fn count(&self, key: &str) -> usize {
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

/// YAML's printable characters (1.2, §5.1): tab, line breaks, and everything visible. A NUL
/// ends yaml-rust2's input early, where a client's parser would go on reading: mcpcell and
/// the client must never see two different documents, so any other character is refused.
/// So are NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR: YAML 1.1's parsers (PyYAML, libyaml
/// under serde_yaml) break lines there, 1.2's do not, so a comment to mcpcell could be a
/// key to the client.
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r')
        || ('\u{20}'..='\u{7e}').contains(&c)
        || (('\u{a0}'..='\u{d7ff}').contains(&c) && !matches!(c, '\u{2028}' | '\u{2029}'))
        || ('\u{e000}'..='\u{fffd}').contains(&c)
        || c >= '\u{10000}'
}

/// The first mapping key given twice anywhere in `n` (its node). Parsers differ on which of
/// the two counts (PyYAML the last, others refuse): what the client runs could then differ
/// from what mcpcell reads.
fn twice(n: &Node) -> Option<&Node> {
    match n {
        Node::Map { entries, .. } => {
            let mut seen = std::collections::HashSet::new();
            for (k, _) in entries {
                if k.str().is_some_and(|key| !seen.insert(key)) {
                    return Some(k);
                }
            }
            entries.iter().find_map(|(_, v)| twice(v))
        }
        Node::Seq { items, .. } => items.iter().find_map(twice),
        _ => None,
    }
}

pub(super) fn parse(text: &str) -> Result<Node, FormatError> {
    if let Some((at, c)) = text.char_indices().find(|(_, c)| !printable(*c)) {
        let before = &text[..at];
        return Err(FormatError::Syntax {
            line: before.matches('\n').count() + 1,
            column: before.rsplit('\n').next().unwrap_or("").chars().count() + 1,
            message: format!("the character U+{:04X} is not allowed in YAML", c as u32),
        });
    }
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
    if let Some(k) = b.root.as_ref().and_then(twice) {
        let before = &text[..k.start().min(text.len())];
        return Err(FormatError::Shape(format!(
            "line {}: the key `{}` appears twice in one mapping; YAML parsers differ on which one counts, so what the client runs cannot be told: remove one",
            before.matches('\n').count() + 1,
            k.str().unwrap_or_default().escape_debug()
        )));
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

/// A scalar's byte range, when it sits on one line in a form the editor can move.
pub(super) fn scalar_span(text: &str, n: &Node) -> Option<(usize, usize)> {
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
            if line.ends_with(':') {
                end = end.min(line.len() - 1);
            }
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
