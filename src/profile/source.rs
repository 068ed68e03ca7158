//! Where a profile came from, and how to point at a line inside it.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use super::location::Locations;

/// One profile document: a file, or a built-in compiled into the binary.
#[derive(Debug)]
pub struct Source {
    /// The profile's name: the built-in name or the file stem.
    pub name: String,
    pub kind: SourceKind,
    pub text: String,
    /// Line and column of each key, indexed the first time a position is asked for (an error
    /// or a report): a launch that shows none never parses the text a second time.
    locations: OnceLock<Locations>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    Builtin,
    /// A profile file, by its canonical path.
    File(PathBuf),
}

impl Source {
    pub fn new(name: String, kind: SourceKind, text: String) -> Source {
        Source {
            name,
            kind,
            text,
            locations: OnceLock::new(),
        }
    }

    /// A short label: the file path, or `built-in:NAME`.
    pub fn label(&self) -> String {
        match &self.kind {
            SourceKind::Builtin => format!("built-in:{}", self.name),
            SourceKind::File(p) => p.display().to_string(),
        }
    }

    pub fn file(&self) -> Option<&PathBuf> {
        match &self.kind {
            SourceKind::File(p) => Some(p),
            SourceKind::Builtin => None,
        }
    }

    fn locations(&self) -> &Locations {
        self.locations.get_or_init(|| Locations::index(&self.text))
    }

    /// `FILE:LINE:COLUMN` where the key path `key` is written a second time, if it is.
    pub fn repeated_position(&self, key: &str) -> Option<String> {
        let (line, col) = self.locations().repeated(key)?;
        Some(format!("{}:{line}:{col}", self.label()))
    }

    /// `FILE:LINE:COLUMN` for a key path, or just the label when the key has no position.
    /// `FILE:LINE:COLUMN` of the key `key` itself (not its value), or the label.
    pub fn key_position(&self, key: &str) -> String {
        match self.locations().find_key(key) {
            Some((line, col)) => format!("{}:{line}:{col}", self.label()),
            None => self.label(),
        }
    }

    pub fn position(&self, key: &str) -> String {
        match self.locations().find(key) {
            Some((line, col)) => format!("{}:{line}:{col}", self.label()),
            None => self.label(),
        }
    }
}

/// Which profile, and which key in it, an entry comes from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub source: Arc<Source>,
    pub key: String,
}

impl Origin {
    pub fn new(source: &Arc<Source>, key: impl Into<String>) -> Origin {
        Origin {
            source: Arc::clone(source),
            key: key.into(),
        }
    }

    /// An origin for things given on the command line rather than in a profile.
    pub fn command_line(option: &str) -> Origin {
        Origin {
            source: Arc::new(Source::new(
                "command line".into(),
                SourceKind::Builtin,
                String::new(),
            )),
            key: option.to_string(),
        }
    }

    pub fn is_command_line(&self) -> bool {
        self.source.name == "command line" && self.source.kind == SourceKind::Builtin
    }

    pub fn position(&self) -> String {
        self.source.position(&self.key)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_command_line() {
            write!(f, "command line {}", self.key)
        } else {
            write!(f, "{} ({})", self.position(), self.key)
        }
    }
}

/// Serialized as displayed, for `--dry-run --format json`.
impl serde::Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Entry<T> {
    pub fn new(value: T, origin: Origin) -> Entry<T> {
        Entry { value, origin }
    }
}
