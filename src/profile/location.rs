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
        }
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

/// Where `text` nests collections deeper than [`MAX_NESTING`], with what to say, or its
/// syntax error when it has more than `MAX_NESTING` brackets and is not YAML: `None` when
/// it may go to serde_yaml.
///
/// serde_yaml's scanner (libyaml's) looks at every open `[` or `{` for each token it reads, so
/// its time grows with the square of the nesting: 20,000 levels took 1 s and 100,000 took 73 s
/// before it said a word, and a 1 MiB profile holds 500,000. yaml-rust2 stops at 255 levels
/// of its own; here it stops at `MAX_NESTING`, before serde_yaml is given the document. A
/// document with no more `[` and `{` than that cannot nest deeper in flow style, and block
/// style costs serde_yaml no more per level; those (every real profile) skip the walk.
pub fn too_deep(text: &str) -> Option<((usize, usize), String)> {
    let brackets = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if brackets <= MAX_NESTING {
        return None;
    }
    let message = || {
        format!(
            "lists and mappings nested more than {MAX_NESTING} deep; a profile needs a few levels"
        )
    };
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return None,
            Ok((Event::SequenceStart(..) | Event::MappingStart(..), mark)) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(((mark.line(), mark.col() + 1), message()));
                }
            }
            Ok((Event::SequenceEnd | Event::MappingEnd, _)) => depth = depth.saturating_sub(1),
            Ok(_) => {}
            // A document serde_yaml would read differently from yaml-rust2 must not reach
            // it with its nesting unchecked: the syntax error is said as yaml-rust2 found it.
            // Its scanner reads ahead of the events in flow style, and may stop at its own
            // limit (255 levels) first.
            Err(e) => {
                let at = (e.marker().line(), e.marker().col() + 1);
                return Some(match e.info().contains("recursion limit") {
                    true => (at, message()),
                    false => (at, e.info().to_string()),
                });
            }
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
}

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
        // yaml-rust2 columns are 0-based; editors and serde_yaml count from 1.
        let pos = (mark.line(), mark.col() + 1);
        match ev {
            Event::Scalar(ref value, ..) => {
                if let Some(Frame::Map { path, key: None }) = self.stack.last() {
                    self.keys.entry(join(path, value)).or_insert(pos);
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
        assert_eq!(too_deep(&deep(MAX_NESTING)), None);
        for n in [MAX_NESTING + 1, 100_000] {
            // Where it is said: the first level too deep, or (the scanner reading ahead in
            // flow style) yaml-rust2's own limit of 255.
            let ((line, column), message) = too_deep(&deep(n)).unwrap();
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
        let (_, message) = too_deep(&block).unwrap();
        assert!(message.contains("nested more than 128 deep"), "{message}");
        // Many brackets, shallow: walked, and fine.
        assert_eq!(too_deep(&"a: [[1], {b: 2}]\n".repeat(100)), None);
        // Many brackets and not YAML: said, never given to the deserializer unchecked.
        let broken = format!("{}b: [\n", "a: [1]\n".repeat(200));
        assert!(too_deep(&broken).is_some());
        // Few brackets: not even walked (a syntax error is serde_yaml's to report).
        assert_eq!(too_deep("a: [\n"), None);
    }

    #[test]
    fn broken_yaml_gives_an_empty_index() {
        let loc = Locations::index("a: [\n");
        assert_eq!(loc.find("a"), None);
    }
}
