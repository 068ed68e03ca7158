//! Where each MCP client keeps its server config on Linux: the user's files and the project's
//! (relative to the current directory), user ones first. The shapes the files come in are
//! read by the format modules; this table only says where to look, and what each client is
//! called on the command line and in messages.
//!
//! The locations are the ones each client's documentation gives (and, for the clients on
//! npm, the ones its own `mcp add` writes; see `integration/clients/`):
//!
//! | client | user files | project files |
//! | --- | --- | --- |
//! | Claude Code | `~/.claude.json` (`$CLAUDE_CONFIG_DIR/.claude.json`): `mcpServers`, `projects.<path>.mcpServers` | `.mcp.json` |
//! | Claude Desktop | `$XDG_CONFIG_HOME/Claude/claude_desktop_config.json` | |
//! | Cursor | `~/.cursor/mcp.json` | `.cursor/mcp.json` |
//! | Windsurf | `~/.codeium/windsurf/mcp_config.json` | |
//! | Windsurf for JetBrains | `~/.codeium/mcp_config.json` | |
//! | Devin Desktop | `$XDG_CONFIG_HOME/devin/mcp_config.json` | |
//! | VS Code, Insiders, Server | `Code/User/mcp.json` (`servers`), `settings.json` (`mcp.servers`) | `.vscode/mcp.json` |
//! | Cline (VS Code) / Cline CLI | `globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json`, `~/.cline/data/settings/cline_mcp_settings.json` | |
//! | Roo Code, Kilo Code | their `globalStorage/.../settings/mcp_settings.json` | `.roo/mcp.json`, `.kilocode/mcp.json` |
//! | Zed | `$XDG_CONFIG_HOME/zed/settings.json` (`context_servers`) | `.zed/settings.json` |
//! | Codex | `$CODEX_HOME/config.toml` (`[mcp_servers.NAME]`) | `.codex/config.toml` |
//! | Gemini CLI | `~/.gemini/settings.json` | `.gemini/settings.json` |
//! | Qwen Code | `~/.qwen/settings.json` | `.qwen/settings.json` |
//! | GitHub Copilot CLI | `$XDG_CONFIG_HOME/.copilot/mcp-config.json` (default `~/.copilot/`) | `.mcp.json`, `.github/mcp.json` |
//! | opencode | `$XDG_CONFIG_HOME/opencode/opencode.json[c]` (`mcp`, `command` a list) | `opencode.json[c]` |
//! | Crush | `$XDG_CONFIG_HOME/crush/crush.json` (`mcp`) | `crush.json`, `.crush.json` |
//! | Amp | `$XDG_CONFIG_HOME/amp/settings.json[c]` (`"amp.mcpServers"`) | `.amp/settings.json[c]` |
//! | Auggie | `~/.augment/settings.json` | |
//! | Kiro, Kiro CLI | `~/.kiro/settings/mcp.json`, agents `~/.kiro/agents/*.json` | `.kiro/settings/mcp.json`, `.kiro/agents/*.json` |
//! | Amazon Q CLI | `~/.aws/amazonq/mcp.json`, agents `~/.aws/amazonq/cli-agents/*.json` | `.amazonq/mcp.json`, `.amazonq/cli-agents/*.json` |
//! | LM Studio | `~/.lmstudio/mcp.json` | |
//! | JetBrains Junie | `~/.junie/mcp/mcp.json` | `.junie/mcp/mcp.json` |
//! | Warp | `~/.warp/.mcp.json` | |
//! | Trae | `$XDG_CONFIG_HOME/Trae/User/mcp.json` | `.trae/mcp.json` |
//! | Antigravity | `~/.gemini/antigravity/mcp_config.json` | |
//! | Continue | `~/.continue/config.yaml` (`mcpServers`, a list), `~/.continue/mcpServers/*` | `.continue/mcpServers/*.yaml`, `*.json` |
//! | Goose | `$XDG_CONFIG_HOME/goose/config.yaml` (`extensions`, `cmd`/`args`/`envs`) | |
//! | fast-agent | `$XDG_CONFIG_HOME/fast-agent/` (`mcp.servers`) | `.fast-agent/`, the project itself: `fastagent.config.yaml`, `fast-agent.config.yaml`, `fast-agent.yaml` and the secrets files merged over them (`fastagent.secrets.yaml`, `fast-agent.secrets.yaml`) |
//! | Mistral Vibe | `$VIBE_HOME/config.toml` (default `~/.vibe/`; `[[mcp_servers]]`) | `.vibe/config.toml` |

use std::path::{Path, PathBuf};

/// Every client `wrap --client` and `wrap --all` know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    ClaudeCode,
    ClaudeDesktop,
    Cursor,
    Windsurf,
    WindsurfJetbrains,
    Devin,
    Vscode,
    Cline,
    RooCode,
    KiloCode,
    Zed,
    Codex,
    Gemini,
    Qwen,
    Copilot,
    Opencode,
    Crush,
    Amp,
    Auggie,
    Kiro,
    AmazonQ,
    LmStudio,
    Junie,
    Warp,
    Trae,
    Antigravity,
    Continue,
    Goose,
    FastAgent,
    Vibe,
}

/// The command-line name, the name in messages, and other spellings people type.
const TABLE: &[(Client, &str, &str, &[&str])] = &[
    (Client::ClaudeCode, "claude-code", "Claude Code", &[]),
    (
        Client::ClaudeDesktop,
        "claude-desktop",
        "Claude Desktop",
        &[],
    ),
    (Client::Cursor, "cursor", "Cursor", &[]),
    (Client::Windsurf, "windsurf", "Windsurf", &["codeium"]),
    (
        Client::WindsurfJetbrains,
        "windsurf-jetbrains",
        "Windsurf for JetBrains",
        &[],
    ),
    (Client::Devin, "devin", "Devin Desktop", &["devin-desktop"]),
    (
        Client::Vscode,
        "vscode",
        "VS Code",
        &["code", "vs-code", "vscode-insiders"],
    ),
    (Client::Cline, "cline", "Cline", &["cline-cli"]),
    (Client::RooCode, "roo-code", "Roo Code", &["roo"]),
    (Client::KiloCode, "kilo-code", "Kilo Code", &["kilo"]),
    (Client::Zed, "zed", "Zed", &[]),
    (Client::Codex, "codex", "Codex", &[]),
    (Client::Gemini, "gemini", "Gemini CLI", &["gemini-cli"]),
    (Client::Qwen, "qwen", "Qwen Code", &["qwen-code"]),
    (
        Client::Copilot,
        "copilot",
        "GitHub Copilot CLI",
        &["copilot-cli", "github-copilot"],
    ),
    (Client::Opencode, "opencode", "opencode", &[]),
    (Client::Crush, "crush", "Crush", &[]),
    (Client::Amp, "amp", "Amp", &[]),
    (Client::Auggie, "auggie", "Auggie", &["augment"]),
    (Client::Kiro, "kiro", "Kiro", &["kiro-cli"]),
    (
        Client::AmazonQ,
        "amazon-q",
        "Amazon Q CLI",
        &["q", "amazonq"],
    ),
    (Client::LmStudio, "lm-studio", "LM Studio", &["lmstudio"]),
    (Client::Junie, "junie", "JetBrains Junie", &[]),
    (Client::Warp, "warp", "Warp", &[]),
    (Client::Trae, "trae", "Trae", &[]),
    (Client::Antigravity, "antigravity", "Antigravity", &[]),
    (Client::Continue, "continue", "Continue", &[]),
    (Client::Goose, "goose", "Goose", &[]),
    (
        Client::FastAgent,
        "fast-agent",
        "fast-agent",
        &["fastagent"],
    ),
    (Client::Vibe, "vibe", "Mistral Vibe", &["mistral-vibe"]),
];

/// Names that mean more than one client, and which ones.
const AMBIGUOUS: &[(&str, &[Client])] = &[
    ("claude", &[Client::ClaudeCode, Client::ClaudeDesktop]),
    ("windsurf-devin", &[Client::Windsurf, Client::Devin]),
    ("jetbrains", &[Client::Junie, Client::WindsurfJetbrains]),
];

impl Client {
    pub fn all() -> impl Iterator<Item = Client> {
        TABLE.iter().map(|(c, ..)| *c)
    }

    fn row(self) -> &'static (Client, &'static str, &'static str, &'static [&'static str]) {
        TABLE
            .iter()
            .find(|(c, ..)| *c == self)
            .expect("every client has a row")
    }

    /// The name in messages: `Claude Code`.
    pub fn name(self) -> &'static str {
        self.row().2
    }

    /// The name `--client` takes: `claude-code`.
    pub fn cli_name(self) -> &'static str {
        self.row().1
    }

    /// `--client VALUE`, with a suggestion when the value names no client or several.
    pub fn parse(value: &str) -> Result<Client, String> {
        let v = value.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        if let Some((c, ..)) = TABLE
            .iter()
            .find(|(_, cli, _, aliases)| *cli == v || aliases.contains(&v.as_str()))
        {
            return Ok(*c);
        }
        if let Some((_, which)) = AMBIGUOUS.iter().find(|(n, _)| *n == v) {
            let options: Vec<String> = which
                .iter()
                .map(|c| format!("`{}` ({})", c.cli_name(), c.name()))
                .collect();
            return Err(format!(
                "`{value}` could mean {}; say which (the command-line tool `claude` is Claude Code)",
                options.join(" or ")
            ));
        }
        let best = TABLE
            .iter()
            .map(|(_, cli, ..)| (strsim::jaro_winkler(cli, &v), *cli))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let hint = best
            .map(|(_, n)| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        let names: Vec<&str> = TABLE.iter().map(|(_, n, ..)| *n).collect();
        Err(format!(
            "no client is called `{value}`; {hint}the known clients are {}",
            names.join(", ")
        ))
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
            .filter(|v| v.starts_with('/'))
            .map(PathBuf::from)
    }

    /// The user-data directories of VS Code and its variants, where extensions keep their
    /// settings too.
    fn vscode_users(&self) -> Vec<PathBuf> {
        let config = self.config_home();
        vec![
            config.join("Code/User"),
            config.join("Code - Insiders/User"),
            config.join("VSCodium/User"),
            self.home.join(".vscode-server/data/User"),
            self.home.join(".vscode-server-insiders/data/User"),
        ]
    }

    fn extension_files(&self, extension: &str, file: &str) -> Vec<PathBuf> {
        self.vscode_users()
            .into_iter()
            .map(|u| {
                u.join("globalStorage")
                    .join(extension)
                    .join("settings")
                    .join(file)
            })
            .collect()
    }
}

/// The client's config files, user ones first; not all of them need exist. A directory of
/// config files (Continue's `.continue/mcpServers/`) is listed file by file.
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
        Client::WindsurfJetbrains => vec![home.join(".codeium/mcp_config.json")],
        Client::Devin => vec![config.join("devin/mcp_config.json")],
        Client::Vscode => {
            let mut out = Vec::new();
            for u in env.vscode_users() {
                out.push(u.join("mcp.json"));
                out.push(u.join("settings.json"));
            }
            out.push(cwd.join(".vscode/mcp.json"));
            out
        }
        Client::Cline => {
            let mut out = env.extension_files("saoudrizwan.claude-dev", "cline_mcp_settings.json");
            let cline_dir = env
                .dir_var("CLINE_DIR")
                .unwrap_or_else(|| home.join(".cline"));
            out.push(cline_dir.join("data/settings/cline_mcp_settings.json"));
            out
        }
        Client::RooCode => {
            let mut out = env.extension_files("rooveterinaryinc.roo-cline", "mcp_settings.json");
            out.push(cwd.join(".roo/mcp.json"));
            out
        }
        Client::KiloCode => {
            let mut out = env.extension_files("kilocode.kilo-code", "mcp_settings.json");
            out.push(cwd.join(".kilocode/mcp.json"));
            out
        }
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
        Client::Gemini => vec![
            home.join(".gemini/settings.json"),
            cwd.join(".gemini/settings.json"),
        ],
        Client::Qwen => vec![
            home.join(".qwen/settings.json"),
            cwd.join(".qwen/settings.json"),
        ],
        Client::Copilot => vec![
            env.dir_var("XDG_CONFIG_HOME")
                .map(|d| d.join(".copilot"))
                .unwrap_or_else(|| home.join(".copilot"))
                .join("mcp-config.json"),
            cwd.join(".mcp.json"),
            cwd.join(".github/mcp.json"),
        ],
        Client::Opencode => vec![
            config.join("opencode/opencode.json"),
            config.join("opencode/opencode.jsonc"),
            config.join("opencode/config.json"),
            cwd.join("opencode.json"),
            cwd.join("opencode.jsonc"),
        ],
        Client::Crush => vec![
            config.join("crush/crush.json"),
            cwd.join("crush.json"),
            cwd.join(".crush.json"),
        ],
        Client::Amp => vec![
            config.join("amp/settings.json"),
            config.join("amp/settings.jsonc"),
            cwd.join(".amp/settings.json"),
            cwd.join(".amp/settings.jsonc"),
        ],
        Client::Auggie => vec![home.join(".augment/settings.json")],
        Client::Kiro => {
            let mut out = vec![home.join(".kiro/settings/mcp.json")];
            out.extend(config_dir_files(&home.join(".kiro/agents")));
            out.push(cwd.join(".kiro/settings/mcp.json"));
            out.extend(config_dir_files(&cwd.join(".kiro/agents")));
            out
        }
        Client::AmazonQ => {
            let mut out = vec![home.join(".aws/amazonq/mcp.json")];
            out.extend(config_dir_files(&home.join(".aws/amazonq/cli-agents")));
            out.push(cwd.join(".amazonq/mcp.json"));
            out.extend(config_dir_files(&cwd.join(".amazonq/cli-agents")));
            out
        }
        Client::LmStudio => vec![home.join(".lmstudio/mcp.json")],
        Client::Junie => vec![
            home.join(".junie/mcp/mcp.json"),
            cwd.join(".junie/mcp/mcp.json"),
        ],
        Client::Warp => vec![home.join(".warp/.mcp.json")],
        Client::Trae => vec![
            config.join("Trae/User/mcp.json"),
            cwd.join(".trae/mcp.json"),
        ],
        Client::Antigravity => vec![home.join(".gemini/antigravity/mcp_config.json")],
        Client::Continue => {
            let mut out = vec![
                home.join(".continue/config.yaml"),
                home.join(".continue/config.json"),
            ];
            out.extend(config_dir_files(&home.join(".continue/mcpServers")));
            out.extend(config_dir_files(&cwd.join(".continue/mcpServers")));
            out
        }
        Client::Goose => vec![config.join("goose/config.yaml")],
        // fast-agent looks in the project's `.fast-agent/` first, then the project itself,
        // under three names, and merges a secrets file found beside a config over it (its
        // `mcp.servers` replace the config's): each is read.
        Client::FastAgent => {
            let mut out = Vec::new();
            for dir in [
                config.join("fast-agent"),
                cwd.join(".fast-agent"),
                cwd.to_path_buf(),
            ] {
                for name in [
                    "fastagent.config.yaml",
                    "fast-agent.config.yaml",
                    "fast-agent.yaml",
                    "fastagent.secrets.yaml",
                    "fast-agent.secrets.yaml",
                ] {
                    out.push(dir.join(name));
                }
            }
            out
        }
        Client::Vibe => vec![
            env.dir_var("VIBE_HOME")
                .unwrap_or_else(|| home.join(".vibe"))
                .join("config.toml"),
            cwd.join(".vibe/config.toml"),
        ],
    }
}

/// The YAML and JSON files of a directory of server files (Continue's `mcpServers/`, the
/// agent files of Kiro and Amazon Q), sorted; the pattern, for messages, when there are none.
fn config_dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    out.sort();
    if out.is_empty() {
        out.push(dir.join("*"));
    }
    out
}

/// The client whose file `path` is, when it is one of the known locations; several clients
/// share some files (`.mcp.json`), and the first in the table is named.
pub fn identify(path: &Path, env: &Env<'_>) -> Option<Client> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        env.cwd.join(path)
    };
    let abs = crate::paths::normalize(&abs);
    Client::all().find(|c| locations(*c, env).contains(&abs))
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
        assert_eq!(
            identify(Path::new("/home/u/.gemini/settings.json"), &env),
            Some(Client::Gemini)
        );
        assert_eq!(
            identify(Path::new(".cursor/mcp.json"), &env),
            Some(Client::Cursor)
        );
        assert_eq!(identify(Path::new("/elsewhere.json"), &env), None);
    }

    #[test]
    fn names_are_unique_and_ambiguity_is_explained() {
        let mut seen = std::collections::HashSet::new();
        for (c, cli, _, aliases) in TABLE {
            assert_eq!(Client::parse(cli), Ok(*c));
            for n in std::iter::once(cli).chain(aliases.iter()) {
                assert!(seen.insert(*n), "{n} twice");
            }
        }
        for (n, _) in AMBIGUOUS {
            assert!(!seen.contains(n), "{n} is both a name and ambiguous");
        }
        assert_eq!(Client::all().count(), TABLE.len());
        let e = Client::parse("claude").unwrap_err();
        assert!(e.contains("`claude-code` (Claude Code)"), "{e}");
        assert!(e.contains("`claude-desktop` (Claude Desktop)"), "{e}");
        let e = Client::parse("opencod").unwrap_err();
        assert!(e.contains("did you mean `opencode`"), "{e}");
        assert_eq!(Client::parse("Gemini_CLI"), Ok(Client::Gemini));
    }
}
