//! The built-in profiles: the repository's `profiles/*.yaml`, compiled into the binary.

use std::sync::Arc;

use super::source::{Source, SourceKind};

macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        &[$((
            $name,
            include_str!(concat!("../../profiles/", $name, ".yaml")),
            include_str!(concat!(env!("OUT_DIR"), "/", $name, ".json")),
        )),*]
    };
}

/// Name, YAML text, and the same document as JSON (converted by build.rs, and parsed much
/// faster) of every built-in profile.
pub static BUILTINS: &[(&str, &str, &str)] = builtins![
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
    "context7",
    "tavily",
    "exa",
    "perplexity-ask",
    "slack",
    "firecrawl",
    "notion",
    "postgres",
    "desktop-commander",
    "redis",
    "figma",
    "aws-documentation",
    "puppeteer",
    "sentry",
    "chrome-devtools",
    "linear",
    "google-maps",
    "gitlab",
    "terraform",
    "docker",
    "prometheus",
    "grafana",
    "home-assistant",
    "atlassian",
    "obsidian",
];

pub fn get(name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, t, _)| *t)
}

/// The built-in profile `name` as JSON.
pub fn json(name: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|(n, ..)| *n == name).map(|(.., j)| *j)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(n, ..)| *n)
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
