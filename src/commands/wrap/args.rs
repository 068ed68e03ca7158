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

/// Which config files: one path, or a client's user and project files.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("target").args(["config", "client"])))]
pub struct Target {
    /// The client config file (JSON, JSON with comments, or Codex's TOML)
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Find the config files of this client instead: its user file and the project's in the
    /// current directory
    #[arg(long, value_enum, value_name = "NAME")]
    pub client: Option<Client>,
    /// Only these servers (by their name in the config); may be repeated
    #[arg(long = "server", value_name = "NAME")]
    pub servers: Vec<String>,
    /// Write the change (keeping a backup beside the file) instead of printing a diff
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
}

#[derive(Debug, Clone, Args)]
pub struct UnwrapArgs {
    #[command(flatten)]
    pub target: Target,
}
