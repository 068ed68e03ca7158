//! Line and column of every key path in a YAML document.
//!
//! serde_yaml reports positions only for its own errors. Checks that run after deserialization
//! (an unknown syscall in `syscalls.deny[3]`, say) use this index to point at the same line.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Maps `filesystem.read[2]`-style key paths to the 1-based line and column of their value.
#[derive(Debug, Default, Clone)]
pub struct Locations {
    positions: HashMap<String, (usize, usize)>,
    /// Where each mapping key itself is written (for an error about the key, not its value).
    keys: HashMap<String, (usize, usize)>,
    /// Where a key is written a second time in its mapping (serde_yaml's "duplicate field"
    /// points at the mapping, or at the first).
    repeated: HashMap<String, (usize, usize)>,
}

impl Locations {
    /// Indexes `text`. A document that does not parse yields an empty index: serde_yaml
    /// reports the syntax error itself, with its position.
    pub fn index(text: &str) -> Locations {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Locations::default();
        }
        Locations {
            positions: builder.positions,
            keys: builder.keys,
            repeated: builder.repeated,
        }
    }

    /// Where the key path `key` is written a second time, if it is.
    pub fn repeated(&self, key: &str) -> Option<(usize, usize)> {
        self.repeated.get(key).copied()
    }

    /// The position of the key `key` itself, else as [`Locations::find`].
    pub fn find_key(&self, key: &str) -> Option<(usize, usize)> {
        self.keys.get(key).copied().or_else(|| self.find(key))
    }

    /// The position of `key`, or of its nearest ancestor that has one.
    pub fn find(&self, key: &str) -> Option<(usize, usize)> {
        let mut k = key;
        loop {
            if let Some(p) = self.positions.get(k) {
                return Some(*p);
            }
            let cut = k.rfind(['.', '['])?;
            k = &k[..cut];
        }
    }
}

/// The deepest nesting of collections a profile may have: the deserializer stops at 128
/// levels too, and no profile needs more than a handful.
pub const MAX_NESTING: usize = 128;

/// What aliases may expand a profile to, counted as the bytes of its scalars and one for
/// each node: as much as a profile file may hold (`MAX_PROFILE_BYTES`).
pub const MAX_EXPANDED: usize = 1 << 20;

/// What refuses a profile's text before serde_yaml reads it: where, and what to say. `None`
/// when it may go to serde_yaml.
///
/// - A character YAML 1.1 reads as a line break and YAML 1.2, editors and `cat` do not (NEL,
///   U+2028, U+2029), or a byte order mark past the start. serde_yaml (libyaml) is YAML 1.1:
///   `read: [/tmp] # a comment<NEL>  write: [/opt]` shows as one commented line and grants
///   /opt for writing. It would also hide the document's shape from the walk below.
/// - Collections nested more than [`MAX_NESTING`] deep. serde_yaml's scanner looks at every
///   open `[` or `{` for each token it reads, so its time grows with the square of the
///   nesting: 20,000 levels took 1 s and 100,000 took 73 s before it said a word, and a 1 MiB
///   profile holds 500,000. (yaml-rust2 stops at 255 levels of its own.)
/// - Aliases that expand the document past [`MAX_EXPANDED`]: `[&s <100 KiB>, *s, *s, ...]`
///   in a 117 KB file made serde_yaml build 503 MB, and more ran mcpcell out of memory.
///
/// The walk (yaml-rust2's events) runs only for a document with more than `MAX_NESTING` `[`
/// and `{` or with an `&` (an alias needs an anchor): no other can nest deeper in flow style,
/// block style costs serde_yaml no more per level, and every real profile skips it.
pub fn screen(text: &str) -> Option<((usize, usize), String)> {
    let (mut line, mut column) = (1, 1);
    for (i, c) in text.char_indices() {
        if matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') || (c == '\u{feff}' && i > 0) {
            let message = format!(
                "the character U+{:04X}, which some YAML parsers (mcpcell's among them) read as \
                 a line break and editors show as none: what follows it would be read as a \
                 line of its own; remove it",
                c as u32
            );
            return Some(((line, column), message));
        }
        if c == '\n' {
            (line, column) = (line + 1, 1);
        } else {
            column += 1;
        }
    }
    let brackets = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if brackets <= MAX_NESTING && !text.contains('&') {
        return None;
    }
    let deep = || {
        format!(
            "lists and mappings nested more than {MAX_NESTING} deep; a profile needs a few levels"
        )
    };
    let at = |mark: Marker| (mark.line(), mark.col() + 1);
    let mut parser = Parser::new_from_str(text);
    // The open collections: their anchor (0: none) and their size so far.
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut anchored: HashMap<usize, usize> = HashMap::new();
    let mut expanded = 0usize;
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            // A document serde_yaml would read differently from yaml-rust2 must not reach it
            // unchecked: the syntax error is said as yaml-rust2 found it. Its scanner reads
            // ahead of the events in flow style, and may stop at its own limit first.
            Err(e) => {
                let what = match e.info().contains("recursion limit") {
                    true => deep(),
                    false => e.info().to_string(),
                };
                return Some((at(*e.marker()), what));
            }
        };
        let size = match event {
            Event::StreamEnd => return None,
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() == MAX_NESTING {
                    return Some((at(mark), deep()));
                }
                // Its own node; its size goes to its parent when it ends.
                open.push((anchor, 1));
                expanded += 1;
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, size)) = open.pop() {
                    if anchor != 0 {
                        anchored.insert(anchor, size);
                    }
                    if let Some(parent) = open.last_mut() {
                        parent.1 = parent.1.saturating_add(size);
                    }
                }
                continue;
            }
            Event::Scalar(ref value, _, anchor, _) => {
                if anchor != 0 {
                    anchored.insert(anchor, value.len() + 1);
                }
                value.len() + 1
            }
            Event::Alias(anchor) => anchored.get(&anchor).copied().unwrap_or(1),
            _ => continue,
        };
        if let Some(parent) = open.last_mut() {
            parent.1 = parent.1.saturating_add(size);
        }
        expanded = expanded.saturating_add(size);
        if expanded > MAX_EXPANDED {
            let message = format!(
                "its aliases (`*name`) expand it past {} KiB; write the values out, or share \
                 them with `extends`",
                MAX_EXPANDED / 1024
            );
            return Some((at(mark), message));
        }
    }
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, next: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: HashMap<String, (usize, usize)>,
    keys: HashMap<String, (usize, usize)>,
    repeated: HashMap<String, (usize, usize)>,
    /// Bytes of paths built so far. Each node's path holds its parents' keys: a 120 KB
    /// profile of 20,000 items under a 40 KiB key made 889 MB of them. Past
    /// [`PATH_BUDGET`] the index stops growing; a later node's position is its nearest
    /// indexed ancestor's (no profile worth reading comes near it).
    spent: usize,
}

/// What the paths of one document's index may take, in bytes.
const PATH_BUDGET: usize = 8 << 20;

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// Works out the path of the node that starts at this event, or `None` when the event is
    /// a mapping key (which only names the next value).
    fn node_path(&mut self, scalar: Option<&str>) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    *key = Some(scalar.unwrap_or("?").to_string());
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.spent > PATH_BUDGET {
            return;
        }
        if let Some(Frame::Map { path, .. } | Frame::Seq { path, .. }) = self.stack.last() {
            self.spent += path.len();
        }
        // yaml-rust2 columns are 0-based; editors and serde_yaml count from 1.
        let pos = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(ref value, ..) => {
                if let Some(Frame::Map { path, key: None }) = self.stack.last() {
                    match self.keys.entry(join(path, value)) {
                        std::collections::hash_map::Entry::Occupied(e) => {
                            self.repeated.entry(e.key().clone()).or_insert(pos);
                        }
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(pos);
                        }
                    }
                }
                if let Some(p) = self.node_path(Some(value)) {
                    self.positions.entry(p).or_insert(pos);
                }
            }
            Event::Alias(_) => {
                if let Some(p) = self.node_path(Some("*")) {
                    self.positions.entry(p).or_insert(pos);
                }
            }
            Event::SequenceStart(..) => {
                let path = self.node_path(None).unwrap_or_default();
                self.positions.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingStart(..) => {
                let path = self.node_path(None).unwrap_or_default();
                self.positions.entry(path.clone()).or_insert(pos);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_keys_and_list_items() {
        let text = "description: x\nfilesystem:\n  read:\n    - /usr\n    - /etc\n  write: [/tmp, /var]\nsyscalls:\n  deny: ['@default', ptrace]\n";
        let loc = Locations::index(text);
        assert_eq!(loc.find("description"), Some((1, 14)));
        assert_eq!(loc.find("filesystem.read[0]"), Some((4, 7)));
        assert_eq!(loc.find("filesystem.read[1]"), Some((5, 7)));
        assert_eq!(loc.find("filesystem.write[1]"), Some((6, 17)));
        assert_eq!(loc.find("syscalls.deny[1]"), Some((8, 22)));
        // A key that is not there falls back to its parent.
        assert_eq!(loc.find("filesystem.read[7]"), Some((4, 5)));
    }

    #[test]
    fn nesting_is_bounded_before_the_deserializer_sees_it() {
        let deep = |n: usize| format!("description: {}{}\n", "[".repeat(n), "]".repeat(n));
        assert_eq!(screen(&deep(MAX_NESTING)), None);
        for n in [MAX_NESTING + 1, 100_000] {
            // Where it is said: the first level too deep, or (the scanner reading ahead in
            // flow style) yaml-rust2's own limit of 255.
            let ((line, column), message) = screen(&deep(n)).unwrap();
            assert_eq!(line, 1);
            assert!((13 + MAX_NESTING..=14 + 255).contains(&column), "{column}");
            assert!(message.contains("nested more than 128 deep"), "{message}");
        }
        // Block style too.
        let block = format!(
            "description:\n  {}x\n{}",
            "- ".repeat(200),
            "[]\n".repeat(200)
        );
        let (_, message) = screen(&block).unwrap();
        assert!(message.contains("nested more than 128 deep"), "{message}");
        // Many brackets, shallow: walked, and fine.
        assert_eq!(screen(&"a: [[1], {b: 2}]\n".repeat(100)), None);
        // Many brackets and not YAML: said, never given to the deserializer unchecked.
        let broken = format!("{}b: [\n", "a: [1]\n".repeat(200));
        assert!(screen(&broken).is_some());
        // Few brackets: not even walked (a syntax error is serde_yaml's to report).
        assert_eq!(screen("a: [\n"), None);
    }

    #[test]
    fn a_line_break_only_yaml_1_1_sees_is_refused_where_it_is() {
        for c in ['\u{85}', '\u{2028}', '\u{2029}'] {
            let text = format!("description: x\nread: [/tmp] # a comment{c}  write: [/opt]\n");
            let ((line, column), message) = screen(&text).unwrap();
            assert_eq!((line, column), (2, 25), "{c:?}");
            assert!(
                message.contains(&format!("U+{:04X}", c as u32)),
                "{message}"
            );
        }
        assert!(screen("\u{feff}description: x\n").is_none());
        assert!(screen("description: x\u{feff}\n").is_some());
        assert!(screen("description: \"a\u{0085}b\"\n").is_some());
    }

    #[test]
    fn aliases_are_refused_past_what_a_file_may_hold_once_expanded() {
        // Shared a few times: fine.
        let few = "filesystem:\n  read: &r [/usr, /etc]\n  write: *r\n";
        assert_eq!(screen(few), None);
        // 100 KiB shared 5000 times: refused at once, where it passes the limit.
        let big = format!(
            "filesystem:\n  read: [&s {}, {}]\n",
            "a".repeat(100 * 1024),
            vec!["*s"; 5000].join(", ")
        );
        let started = std::time::Instant::now();
        let ((line, _), message) = screen(&big).unwrap();
        assert_eq!(line, 2);
        assert!(message.contains("expand it past 1024 KiB"), "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Nested: each level doubles.
        let mut nested = String::from("a0: &a0 [x, x]\n");
        for i in 1..40 {
            nested += &format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1);
        }
        let (_, message) = screen(&nested).unwrap();
        assert!(message.contains("expand it past"), "{message}");
    }

    #[test]
    fn the_index_stops_growing_past_its_budget() {
        // 20,000 items under a 40 KiB key: each item's path holds the key.
        let text = format!(
            "? {}\n: [{}]\nlast: 1\n",
            "k".repeat(40 * 1024),
            vec!["x"; 20_000].join(", ")
        );
        let started = std::time::Instant::now();
        let loc = Locations::index(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let stored: usize = loc
            .positions
            .keys()
            .chain(loc.keys.keys())
            .map(String::len)
            .sum();
        assert!(stored < 2 * PATH_BUDGET, "{stored} bytes of paths");
        // What comes before the budget is spent is indexed as before.
        assert_eq!(
            Locations::index("a:\n  b: [1, 2]\n").find("a.b[1]"),
            Some((2, 10))
        );
    }

    #[test]
    fn broken_yaml_gives_an_empty_index() {
        let loc = Locations::index("a: [\n");
        assert_eq!(loc.find("a"), None);
    }
}
