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
    fn broken_yaml_gives_an_empty_index() {
        let loc = Locations::index("a: [\n");
        assert_eq!(loc.find("a"), None);
    }
}
