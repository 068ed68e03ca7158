//! Where each MCP client keeps its server config on Linux: the user's file and the project's
//! (relative to the current directory).
//!
//! - Claude Desktop: `$XDG_CONFIG_HOME/Claude/claude_desktop_config.json`, key `mcpServers`.
//! - Claude Code: `~/.claude.json` (`$CLAUDE_CONFIG_DIR/.claude.json` when that is set) with
//!   user servers under `mcpServers` and per-project ones under `projects.<path>.mcpServers`;
//!   the project's `.mcp.json`.
//! - Cursor: `~/.cursor/mcp.json` and the project's `.cursor/mcp.json`, key `mcpServers`.
//! - Windsurf: `~/.codeium/windsurf/mcp_config.json`, key `mcpServers`.
//! - VS Code: the user profile's `mcp.json` (`$XDG_CONFIG_HOME/Code/User/`, also
//!   `Code - Insiders`), the older `mcp` key of its `settings.json`, and the project's
//!   `.vscode/mcp.json`; key `servers`, JSON with comments.
//! - Zed: `$XDG_CONFIG_HOME/zed/settings.json` and the project's `.zed/settings.json`, key
//!   `context_servers`, JSON with comments.
//! - Codex: `$CODEX_HOME/config.toml` (default `~/.codex/config.toml`) and the project's
//!   `.codex/config.toml`, tables `[mcp_servers.NAME]`.

use std::path::{Path, PathBuf};

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Client {
    #[value(name = "claude-desktop", alias = "claude")]
    ClaudeDesktop,
    #[value(name = "claude-code")]
    ClaudeCode,
    Cursor,
    Windsurf,
    #[value(name = "vscode", alias = "code", alias = "vs-code")]
    Vscode,
    Zed,
    Codex,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::ClaudeDesktop => "Claude Desktop",
            Client::ClaudeCode => "Claude Code",
            Client::Cursor => "Cursor",
            Client::Windsurf => "Windsurf",
            Client::Vscode => "VS Code",
            Client::Zed => "Zed",
            Client::Codex => "Codex",
        }
    }
}

/// What the locations depend on: the home and current directories and a few variables.
pub struct Env<'a> {
    pub home: &'a Path,
    pub cwd: &'a Path,
    pub var: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn config_home(&self) -> PathBuf {
        (self.var)("XDG_CONFIG_HOME")
            .filter(|v| v.starts_with('/'))
            .map(PathBuf::from)
            .unwrap_or_else(|| self.home.join(".config"))
    }

    fn dir_var(&self, name: &str) -> Option<PathBuf> {
        (self.var)(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }
}

/// The client's config files, user ones first; not all of them need exist.
pub fn locations(client: Client, env: &Env<'_>) -> Vec<PathBuf> {
    let home = env.home;
    let config = env.config_home();
    let cwd = env.cwd;
    match client {
        Client::ClaudeDesktop => vec![config.join("Claude/claude_desktop_config.json")],
        Client::ClaudeCode => vec![
            env.dir_var("CLAUDE_CONFIG_DIR")
                .map(|d| d.join(".claude.json"))
                .unwrap_or_else(|| home.join(".claude.json")),
            cwd.join(".mcp.json"),
        ],
        Client::Cursor => vec![home.join(".cursor/mcp.json"), cwd.join(".cursor/mcp.json")],
        Client::Windsurf => vec![home.join(".codeium/windsurf/mcp_config.json")],
        Client::Vscode => vec![
            config.join("Code/User/mcp.json"),
            config.join("Code/User/settings.json"),
            config.join("Code - Insiders/User/mcp.json"),
            config.join("Code - Insiders/User/settings.json"),
            cwd.join(".vscode/mcp.json"),
        ],
        Client::Zed => vec![
            config.join("zed/settings.json"),
            cwd.join(".zed/settings.json"),
        ],
        Client::Codex => vec![
            env.dir_var("CODEX_HOME")
                .unwrap_or_else(|| home.join(".codex"))
                .join("config.toml"),
            cwd.join(".codex/config.toml"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_variables() {
        let var = |n: &str| match n {
            "XDG_CONFIG_HOME" => Some("/x/cfg".to_string()),
            "CODEX_HOME" => Some("/x/codex".to_string()),
            _ => None,
        };
        let env = Env {
            home: Path::new("/home/u"),
            cwd: Path::new("/src/p"),
            var: &var,
        };
        assert_eq!(
            locations(Client::ClaudeDesktop, &env),
            [PathBuf::from("/x/cfg/Claude/claude_desktop_config.json")]
        );
        assert_eq!(
            locations(Client::Codex, &env),
            [
                PathBuf::from("/x/codex/config.toml"),
                PathBuf::from("/src/p/.codex/config.toml")
            ]
        );
        assert_eq!(
            locations(Client::ClaudeCode, &env)[0],
            PathBuf::from("/home/u/.claude.json")
        );
        let none = |_: &str| None;
        let env = Env {
            home: Path::new("/home/u"),
            cwd: Path::new("/src/p"),
            var: &none,
        };
        assert_eq!(
            locations(Client::Zed, &env)[0],
            PathBuf::from("/home/u/.config/zed/settings.json")
        );
    }
}
