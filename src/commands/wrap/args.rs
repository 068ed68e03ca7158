//! Command-line types of `wrap` and `unwrap` (clap only).

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use super::clients::Client;

fn parse_server_profile(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((server, profile)) if !server.is_empty() && !profile.is_empty() => {
            Ok((server.to_string(), profile.to_string()))
        }
        _ => Err(format!("`{s}` is not SERVER=PROFILE")),
    }
}

// Which config files: one path, or a client's user and project files.
// (Not a doc comment: see `cli::Command`.)
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("target").args(["config", "client", "all"])))]
pub struct Target {
    /// The client config file (JSON, JSON with comments, YAML, or TOML)
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Find the config files of this client instead: its user files and the project's in the
    /// current directory. Names: claude-code, claude-desktop, cursor, vscode, windsurf,
    /// windsurf-jetbrains, devin, cline, roo-code, kilo-code, zed, codex, gemini, qwen,
    /// copilot, opencode, crush, amp, auggie, kiro, amazon-q, lm-studio, junie, warp, trae,
    /// antigravity, continue, goose, fast-agent, vibe
    #[arg(long, value_name = "NAME", value_parser = Client::parse)]
    pub client: Option<Client>,
    /// Every known client's config files that exist, the user's and the current project's
    #[arg(long)]
    pub all: bool,
    /// Only these servers (by their name in the config); may be repeated
    #[arg(long = "server", value_name = "NAME")]
    pub servers: Vec<String>,
    /// Write the change instead of printing a diff (the previous version of each file is
    /// kept in mcpcell's state directory)
    #[arg(long)]
    pub write: bool,
}

#[derive(Debug, Clone, Args)]
pub struct WrapArgs {
    #[command(flatten)]
    pub target: Target,
    /// Use this profile for this server instead of the inferred one; may be repeated
    #[arg(long = "profile", short = 'p', value_name = "SERVER=PROFILE", value_parser = parse_server_profile)]
    pub profiles: Vec<(String, String)>,
    /// Pin npx/uvx/pipx packages to an exact version: alone, every unpinned one to the version
    /// in the local cache; SERVER for one server; SERVER=VERSION to give the version. May be
    /// repeated
    #[arg(long = "pin", value_name = "SERVER[=VERSION]", num_args = 0..=1, default_missing_value = "")]
    pub pins: Vec<String>,
    /// The mcpcell path to write into the config (default: this executable's absolute path)
    #[arg(long = "mcpcell", value_name = "PATH")]
    pub launcher: Option<PathBuf>,
    /// Change nothing: say which servers are sandboxed and which are not, and why; exit 1 if
    /// any server the client starts runs without mcpcell (the same as `mcpcell status`)
    #[arg(long, conflicts_with_all = ["write", "pins", "profiles"])]
    pub check: bool,
}

// `mcpcell status`: `wrap --check`, for every known client unless told otherwise.
// (Not a doc comment: see `cli::Command`.)
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("target").args(["config", "client"])))]
pub struct StatusArgs {
    /// One client config file instead of every known one
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Only this client's config files
    #[arg(long, value_name = "NAME", value_parser = Client::parse)]
    pub client: Option<Client>,
}

#[derive(Debug, Clone, Args)]
pub struct UnwrapArgs {
    #[command(flatten)]
    pub target: Target,
}
