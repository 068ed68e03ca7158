//! The built-in profiles: the repository's `profiles/*.yaml`, compiled into the binary.

use std::sync::Arc;

use super::source::{Source, SourceKind};

macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../profiles/", $name, ".yaml")))),*]
    };
}

/// Name and YAML text of every built-in profile.
pub static BUILTINS: &[(&str, &str)] = builtins![
    // Bases.
    "default",
    "minimal",
    "node",
    "python",
    "npx",
    "uvx",
    // One per popular MCP server.
    "filesystem",
    "memory",
    "everything",
    "sequential-thinking",
    "github",
    "brave-search",
    "time",
    "git",
    "fetch",
    "sqlite",
    "playwright",
];

pub fn get(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(n, _)| *n)
}

pub fn source(name: &str) -> Option<Arc<Source>> {
    get(name).map(|text| {
        Arc::new(Source::new(
            name.to_string(),
            SourceKind::Builtin,
            text.to_string(),
        ))
    })
}
