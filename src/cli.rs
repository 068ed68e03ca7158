//! Command-line types (clap) and the dispatch to each command.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logging::{LogFormat, LogLevel};

/// The end of `--help` (the manual page has it as sections of its own).
const AFTER_LONG_HELP: &str = "\
Profiles: a NAME is looked up in $XDG_CONFIG_HOME/mcpcell/profiles/NAME.yaml (default \
~/.config/mcpcell/profiles), /etc/mcpcell/profiles/NAME.yaml, then the built-in set; an argument \
containing / or ending in .yaml is a path. `mcpcell profiles` lists them.

Exit status of run: the server's own status; 128+N when it died of signal N; 125 when mcpcell \
itself failed (bad profile, a restriction that cannot be applied); 126 when the command cannot \
be executed; 127 when it is not found. Other commands: 0 success, 1 a negative answer (check \
found errors, explain found a denial), 125 usage or internal errors.

Environment: in network mode proxy, and for `mcpcell proxy`, an upstream http:// proxy named in \
mcpcell's own environment is chained: CONNECT, SOCKS5 and transparent connections go through \
https_proxy/HTTPS_PROXY (else all_proxy/ALL_PROXY), plain http:// requests through \
http_proxy/HTTP_PROXY (else ALL_PROXY), as CONNECT host:port, after mcpcell's own allowlist; \
no_proxy/NO_PROXY names destinations reached directly. USER:PASSWORD@ in the URL becomes \
Proxy-Authorization and is never shown or passed into the sandbox. https:// and socks upstreams \
are refused.";

#[derive(Debug, Parser)]
#[command(
    name = "mcpcell",
    version = env!("MCPCELL_VERSION"),
    about = "Run MCP stdio servers in a sandbox: Landlock, seccomp, namespaces, no capabilities.",
    long_about = "Run MCP (Model Context Protocol) stdio servers in a sandbox described by a YAML profile.\n\nPut `mcpcell run --profile PROFILE` in front of a server's command, in a client's mcpServers config or by hand. stdin and stdout pass through untouched; mcpcell logs only to stderr.",
    after_long_help = AFTER_LONG_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Each command's arguments are defined only when it is the one run (`defer`): clap otherwise
/// builds every command's definition at every start, the largest block of memory a launch
/// allocates (bench/ANALYSIS.md §1.13). With `defer`, clap makes the doc comment of an
/// argument struct the `about` of every command that flattens it, so those structs
/// (`SandboxArgs`, `SuperviseArgs`, `wrap::args::{Target, StatusArgs}`) carry plain comments.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run a server in the sandbox: mcpcell run [--profile PROFILE] [OPTIONS] [--] COMMAND [ARGS...]
    Run(RunArgs),
    /// Run a server with file, exec and Unix-socket access observed instead of restricted,
    /// and write a profile that grants what it used
    Learn(LearnArgs),
    /// Say whether a profile lets the server use a path, host, syscall or variable, and which
    /// rule decides it
    Explain(ExplainArgs),
    /// Validate profiles; errors name the file, line and column
    Check {
        /// Profile names or paths
        #[arg(required = true, value_name = "PROFILE")]
        profiles: Vec<String>,
    },
    /// List the built-in and installed profiles, or show one
    Profiles {
        #[command(subcommand)]
        action: Option<ProfilesAction>,
    },
    /// Print the JSON Schema of the profile format (for editors)
    Schema,
    /// Show what this kernel and user can enforce, and what degrades
    Doctor {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Rewrite an MCP client config so every stdio server starts through mcpcell (prints a
    /// diff; --write applies it)
    Wrap(crate::commands::wrap::WrapArgs),
    /// Undo `wrap`: restore every wrapped server entry exactly as it was
    Unwrap(crate::commands::wrap::UnwrapArgs),
    /// Which servers of which MCP clients run under mcpcell, which do not, and why (exit 1 if
    /// any server a client starts runs unsandboxed)
    Status(crate::commands::wrap::StatusArgs),
    /// Run the egress proxy on its own (for a sidecar container, or any process that honours
    /// HTTP_PROXY/ALL_PROXY), with a profile's allowlist or --allow-host entries
    Proxy(ProxyArgs),
    /// Export a profile's policy in another tool's format (prints it on stdout)
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command into a directory
    Man {
        /// Write mcpcell.1 and mcpcell-COMMAND.1 for every command into DIR
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Set up the host for mcpcell (needs root)
    Setup {
        #[command(subcommand)]
        what: SetupWhat,
    },
}

#[derive(Debug, Subcommand)]
pub enum SetupWhat {
    /// Write and load /etc/apparmor.d/mcpcell, which grants this binary user namespaces where
    /// Ubuntu's AppArmor restriction (kernel.apparmor_restrict_unprivileged_userns=1) refuses them
    Apparmor(SetupApparmorArgs),
}

#[derive(Debug, Args)]
pub struct SetupApparmorArgs {
    /// Unload the profile and remove the file
    #[arg(long, conflicts_with = "print")]
    pub remove: bool,
    /// Print the profile on stdout instead of writing it (no root needed)
    #[arg(long)]
    pub print: bool,
    /// The binary the profile names (default: this mcpcell, links resolved)
    #[arg(long, value_name = "PATH")]
    pub binary: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// A profile whose network mode is `proxy`: its network.allow, allow_private and hosts
    #[arg(short = 'p', long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Allow HOST[:PORT] (`*.example.com` for subdomains; port 443 and 80 when omitted); may
    /// be repeated
    #[arg(long, value_name = "HOST[:PORT]")]
    pub allow_host: Vec<String>,
    /// Let allowed names resolve to addresses in this private range (CIDR); may be repeated
    #[arg(long, value_name = "CIDR")]
    pub allow_private: Vec<String>,
    /// Where the HTTP (CONNECT and http://) and SOCKS5 proxy listens; port 0 picks a free
    /// port, which is logged
    #[arg(long, value_name = "ADDRESS:PORT", default_value = "127.0.0.1:3128")]
    pub listen: std::net::SocketAddr,
    /// Also answer DNS queries (UDP) here: allowlisted names get their addresses, others
    /// NXDOMAIN
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub dns: Option<std::net::SocketAddr>,
    #[arg(long, value_enum, default_value_t = LogLevel::Info, value_name = "LEVEL")]
    pub log_level: LogLevel,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// The syscall policy as an OCI runtime-spec `linux.seccomp` document (runc, crun,
    /// Docker's and Podman's --security-opt seccomp=FILE, Kubernetes seccompProfile: Localhost),
    /// or as the compiled filter program (`--format bpf`, for bubblewrap's --seccomp FD)
    Seccomp(SeccompExportArgs),
    /// The filesystem and network rules in the Landlock maintainers' configuration format
    /// (landlockconfig JSON)
    Landlock(ExportArgs),
    /// A Pod (and its ConfigMap and NetworkPolicy) that runs the server under mcpcell, as
    /// multi-document YAML
    Kubernetes(KubeArgs),
}

#[derive(Debug, Args)]
pub struct KubeArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// The container image: it must hold mcpcell and the server
    #[arg(long, value_name = "IMAGE", default_value = "mcpcell-server:latest")]
    pub image: String,
    /// The Pod's name (a DNS label); the ConfigMap, Secret and NetworkPolicy names derive
    /// from it. Default: mcpcell- and the profile's name
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The server command, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// The server command, for profiles whose policy depends on it; it takes the rest of
    /// the line, so put it last
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct SeccompExportArgs {
    #[command(flatten)]
    pub export: ExportArgs,
    /// `oci`: a JSON document for OCI runtimes; `bpf`: the classic BPF program `run`
    /// attaches, as raw `struct sock_filter` records in this machine's byte order (what
    /// bubblewrap's `--seccomp FD` reads); binary, so never written to a terminal
    #[arg(long, value_enum, default_value_t = SeccompFormat::Oci)]
    pub format: SeccompFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum SeccompFormat {
    #[default]
    Oci,
    Bpf,
}

#[derive(Debug, Subcommand)]
pub enum ProfilesAction {
    /// List every profile, in lookup order
    List,
    /// Print a profile's YAML and where it comes from
    Show {
        /// A profile name or path
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

fn parse_set_env(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not NAME=VALUE"))?;
    let valid = !k.is_empty()
        && k.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("`{k}` is not a valid environment variable name"));
    }
    Ok((k.to_string(), v.to_string()))
}

// The profile and the command-line additions to it, shared by `run`, `learn` and `explain`.
// (Not a doc comment: see `Command`.)
#[derive(Debug, Args, Clone)]
pub struct SandboxArgs {
    /// Profile name (looked up in ~/.config/mcpcell/profiles, /etc/mcpcell/profiles, then the
    /// built-ins) or path to a YAML file. Default: inferred from the command, else `default`
    #[arg(short = 'p', long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// Also let the server read PATH (recursively); may be repeated
    #[arg(long = "allow-read", value_name = "PATH")]
    pub allow_read: Vec<PathBuf>,
    /// Also let the server read, create, modify and delete under PATH; may be repeated
    #[arg(long = "allow-write", value_name = "PATH")]
    pub allow_write: Vec<PathBuf>,
    /// Also let the server read and execute under PATH; may be repeated
    #[arg(long = "allow-exec", value_name = "PATH")]
    pub allow_exec: Vec<PathBuf>,
    /// Add a host to the egress proxy's allowlist (network mode proxy)
    #[arg(long = "allow-host", value_name = "HOST[:PORT]")]
    pub allow_host: Vec<String>,
    /// Pass this variable (or LC_*-style prefix) from mcpcell's environment; may be repeated
    #[arg(long = "pass-env", value_name = "NAME")]
    pub pass_env: Vec<String>,
    /// Set a variable in the server's environment; may be repeated
    #[arg(long = "set-env", value_name = "NAME=VALUE", value_parser = parse_set_env)]
    pub set_env: Vec<(String, String)>,
}

impl SandboxArgs {
    /// The plan request for `command` with these options.
    pub fn request(&self, command: Vec<OsString>) -> crate::plan::Request {
        crate::plan::Request {
            profile: self.profile.clone(),
            command,
            allow_read: self.allow_read.clone(),
            allow_write: self.allow_write.clone(),
            allow_exec: self.allow_exec.clone(),
            allow_host: self.allow_host.clone(),
            pass_env: self.pass_env.clone(),
            set_env: self.set_env.clone(),
            ..crate::plan::Request::default()
        }
    }
}

// How the server is supervised and logged, shared by `run` and `learn`.
// (Not a doc comment: see `Command`.)
#[derive(Debug, Args, Clone)]
pub struct SuperviseArgs {
    /// Log level (logs go to stderr or --log-file)
    #[arg(long, value_enum, default_value_t = LogLevel::Warn, value_name = "LEVEL")]
    pub log_level: LogLevel,
    /// Append logs to this file instead of stderr
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Log format: text, or one JSON object per event
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Start the server even if some restriction cannot be applied here, and say which
    #[arg(long)]
    pub best_effort: bool,
    /// Seconds a server has to exit after SIGTERM, SIGINT or SIGHUP before it is killed
    /// (at most 3600)
    #[arg(long, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(0..=MAX_STOP_TIMEOUT))]
    pub stop_timeout: u64,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub supervise: SuperviseArgs,
    /// Print what would be enforced and start nothing (exit 0 if it can be enforced here)
    #[arg(long)]
    pub dry_run: bool,
    /// Output format of --dry-run
    #[arg(long, value_enum, default_value_t = Format::Text, requires = "dry_run")]
    pub format: Format,
    /// The server command and its arguments. Everything from the first word that is not one
    /// of mcpcell's options on is the command (a `--` before it is accepted, not required)
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct LearnArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub supervise: SuperviseArgs,
    /// Where to write the learned profile. Default:
    /// ~/.config/mcpcell/profiles/learned-BASE.yaml, usable as `-p learned-BASE`
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The server command and its arguments. Everything from the first word that is not one
    /// of mcpcell's options on is the command (a `--` before it is accepted, not required)
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The server command, for profiles whose grants depend on it (filesystem.args, the
    /// command's own files); it takes the rest of the line, so put it last
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
    /// What to check: a path (optionally PATH:read, PATH:write or PATH:exec), HOST[:PORT],
    /// bind:PORT, unix:PATH, env:NAME, or a syscall name or @group
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
}

/// The longest grace period `--stop-timeout` takes: a server that ignores SIGTERM must not
/// outlive its client by more than an hour.
pub const MAX_STOP_TIMEOUT: u64 = 3600;

impl SuperviseArgs {
    pub fn stop_timeout(&self) -> Duration {
        Duration::from_secs(self.stop_timeout)
    }
}
