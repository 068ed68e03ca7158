//! Where a plan item comes from, kept as it is and formatted only when shown (`--dry-run`,
//! `explain`, an error). Formatting a profile entry's position parses that profile's text for
//! line numbers, which a launch that shows nothing never needs.

use std::fmt;

use crate::profile::Origin;

#[derive(Debug, Clone)]
pub enum Provenance {
    /// A profile entry, or a command-line option.
    Entry(Origin),
    /// Words, such as `--pass-env` or `network mode proxy`.
    Text(String),
    /// How an entry applies, then the entry: `pass \`LC_*\` (FROM)`.
    Via(String, Box<Provenance>),
}

impl Provenance {
    pub fn via(how: impl Into<String>, from: Provenance) -> Provenance {
        Provenance::Via(how.into(), Box::new(from))
    }
}

impl From<Origin> for Provenance {
    fn from(o: Origin) -> Provenance {
        Provenance::Entry(o)
    }
}

impl From<&str> for Provenance {
    fn from(t: &str) -> Provenance {
        Provenance::Text(t.to_string())
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Entry(o) => o.fmt(f),
            Provenance::Text(t) => f.write_str(t),
            Provenance::Via(how, from) => write!(f, "{how} ({from})"),
        }
    }
}

/// Serialized as displayed.
impl serde::Serialize for Provenance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `A, B, C`.
pub fn join<T: fmt::Display>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}
