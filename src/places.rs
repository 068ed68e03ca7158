//! Places whose contents matter beyond the sandbox: files that hold secrets, and places
//! whose contents run outside any sandbox later (a shell startup file, a directory on the
//! PATH, git's hooks and configuration). `learn` never grants them, `wrap` and `status` name
//! an entry that does, and a plan never grants them implicitly (`filesystem.args`).

use std::path::{Path, PathBuf};

/// Files and directories that hold credentials, relative to `$HOME`.
pub const HOME_SECRETS: &[(&str, &str)] = &[
    (".ssh", "SSH keys"),
    (".gnupg", "GnuPG keys"),
    (".aws", "AWS credentials"),
    (".azure", "Azure credentials"),
    (".kube", "Kubernetes credentials"),
    (".docker/config.json", "Docker registry credentials"),
    (".config/gcloud", "Google Cloud credentials"),
    (".config/gh", "GitHub CLI token"),
    (".config/hub", "GitHub token"),
    (".config/op", "1Password CLI"),
    (".config/mcpcell", "mcpcell's own profiles"),
    (".netrc", "login credentials"),
    (".npmrc", "npm registry token"),
    (".pypirc", "PyPI token"),
    (".git-credentials", "git credentials"),
    (".password-store", "pass password store"),
    (".local/share/keyrings", "desktop keyring"),
    (".pgpass", "PostgreSQL passwords"),
    (".my.cnf", "MySQL credentials"),
    (".vault-token", "Vault token"),
    (".terraform.d/credentials.tfrc.json", "Terraform token"),
    (".cargo/credentials.toml", "crates.io token"),
    (".cargo/credentials", "crates.io token"),
    (".mozilla", "browser profile"),
    (".config/google-chrome", "browser profile"),
    (".config/chromium", "browser profile"),
];

/// Places in HOME whose contents run outside any sandbox later (a new shell, the next
/// login, a program found on the PATH): a write there outlives the server. Read, they are
/// ordinary files.
pub const HOME_PERSISTENCE: &[(&str, &str)] = &[
    (".bashrc", "a shell startup file"),
    (".bash_profile", "a shell startup file"),
    (".bash_login", "a shell startup file"),
    (".bash_logout", "a shell startup file"),
    (".profile", "a shell startup file"),
    (".zshrc", "a shell startup file"),
    (".zshenv", "a shell startup file"),
    (".zprofile", "a shell startup file"),
    (".zlogin", "a shell startup file"),
    (".config/fish", "a shell startup file"),
    (".pam_environment", "the login environment"),
    (".config/environment.d", "the login environment"),
    (".xprofile", "a session startup file"),
    (".xinitrc", "a session startup file"),
    (".config/autostart", "desktop autostart entries"),
    (".config/systemd", "systemd user units"),
    (".local/bin", "programs on the PATH"),
    ("bin", "programs on the PATH"),
    (".cargo/bin", "programs on the PATH"),
    (
        ".gitconfig",
        "git's own configuration (the programs it names run at every git command)",
    ),
    (
        ".config/git",
        "git's own configuration (the programs it names run at every git command)",
    ),
    (
        ".claude.json",
        "an MCP client's configuration (the servers it starts)",
    ),
    (
        ".claude",
        "an MCP client's settings (its hooks and the servers it starts)",
    ),
    (
        ".cursor",
        "an MCP client's configuration (the servers it starts)",
    ),
    (
        ".config/Claude",
        "an MCP client's configuration (the servers it starts)",
    ),
    (
        ".codeium",
        "an MCP client's configuration (the servers it starts)",
    ),
    (
        ".gemini",
        "an MCP client's configuration (the servers it starts)",
    ),
    (
        ".continue",
        "an MCP client's configuration (the servers it starts)",
    ),
    (
        ".config/opencode",
        "an MCP client's configuration (the servers it starts)",
    ),
    (
        ".config/goose",
        "an MCP client's configuration (the servers it starts)",
    ),
    (
        ".config/zed",
        "an editor's settings (the servers and tasks it starts)",
    ),
    (
        ".config/Code",
        "an editor's settings (the servers and tasks it starts)",
    ),
    (".vscode", "an editor's extensions (code it runs)"),
];

/// Why writing `path` would outlive the server, if it would: a place in HOME that runs at
/// a later shell, login or command, or a git repository's hooks or configuration (git runs
/// the hooks, and the programs its configuration names: `core.hooksPath`, `core.fsmonitor`,
/// `core.pager`, filters, aliases, outside the sandbox; a submodule's and a worktree's too).
pub fn persistence_kind(path: &Path, home: Option<&Path>) -> Option<&'static str> {
    if let Some(rel) = home.and_then(|h| path.strip_prefix(h).ok()) {
        if let Some((_, why)) = HOME_PERSISTENCE.iter().find(|(s, _)| rel.starts_with(s)) {
            return Some(why);
        }
    }
    let parts: Vec<&std::ffi::OsStr> = path.components().map(|c| c.as_os_str()).collect();
    let git = parts.iter().position(|c| *c == ".git")?;
    let rest = &parts[git + 1..];
    // `.git/modules/NAME/...` is a submodule's own repository, `.git/worktrees/NAME/` a
    // worktree's files.
    let nested = matches!(rest.first(), Some(c) if *c == "modules" || *c == "worktrees");
    let hooks = rest.first().is_some_and(|c| *c == "hooks")
        || (nested && rest.iter().any(|c| *c == "hooks"));
    let config = rest == ["config"]
        || (nested
            && rest
                .last()
                .is_some_and(|c| *c == "config" || *c == "config.worktree"));
    if hooks {
        Some("git hooks (git runs them outside the sandbox)")
    } else if config {
        Some(
            "a git repository's configuration (it names programs git runs outside the sandbox: core.hooksPath, core.fsmonitor, filters)",
        )
    } else {
        None
    }
}

/// A place in HOME that runs outside later or holds secrets, at or beneath `dir`, with what
/// it is: a write grant of `dir` reaches it.
pub fn home_place_beneath(dir: &Path, home: Option<&Path>) -> Option<(PathBuf, &'static str)> {
    let h = home?;
    HOME_PERSISTENCE
        .iter()
        .chain(HOME_SECRETS)
        .map(|(rel, why)| (h.join(rel), *why))
        .find(|(p, _)| p.starts_with(dir))
}

/// Why `path` looks like a secret, if it does.
pub fn secret_kind(path: &Path, home: Option<&Path>) -> Option<&'static str> {
    if let Some(rel) = home.and_then(|h| path.strip_prefix(h).ok()) {
        if let Some((_, why)) = HOME_SECRETS.iter().find(|(s, _)| rel.starts_with(s)) {
            return Some(why);
        }
    }
    if path.starts_with("/etc/shadow") || path.starts_with("/etc/gshadow") {
        return Some("system password hashes");
    }
    if path.starts_with("/etc/ssh") && path.to_string_lossy().contains("_key") {
        return Some("SSH host keys");
    }
    let name = path.file_name()?.to_string_lossy();
    let name = name.as_ref();
    let dotenv = name == ".env" || (name.starts_with(".env.") && !name.ends_with(".example"));
    if dotenv {
        return Some("a .env file");
    }
    if name.starts_with("id_rsa")
        || name.starts_with("id_ed25519")
        || name.starts_with("id_ecdsa")
        || name.starts_with("id_dsa")
    {
        return Some("an SSH key");
    }
    let s = path.to_string_lossy();
    if s.contains("/gnupg/S.gpg-agent") || name.starts_with("S.gpg-agent") {
        return Some("the GnuPG agent socket");
    }
    if (s.starts_with("/tmp/ssh-") && name.starts_with("agent.")) || name == "ssh-agent.socket" {
        return Some("an SSH agent socket");
    }
    if let Ok(sock) = std::env::var("SSH_AUTH_SOCK") {
        if !sock.is_empty() && path == Path::new(&sock) {
            return Some("the SSH agent socket");
        }
    }
    if s.contains("/keyring/") || name == "keyring" {
        return Some("a keyring");
    }
    if name == "bus" && s.starts_with("/run/user/") || s == "/run/dbus/system_bus_socket" {
        return Some("a D-Bus bus (it reaches every desktop service)");
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    if matches!(ext.as_deref(), Some("pem" | "key" | "p12" | "pfx" | "kdbx")) {
        return Some("a key or certificate store");
    }
    None
}

/// Why granting write access to `p` gives away more than a server's work, if it does: a
/// place whose contents run outside the sandbox later, a file of secrets, or a directory
/// holding one of those in HOME.
pub fn write_concern(p: &Path, home: Option<&Path>) -> Option<String> {
    persistence_kind(p, home)
        .map(|k| format!("{k}: what the server writes there runs outside the sandbox later"))
        .or_else(|| {
            secret_kind(p, home).map(|k| format!("{k}: the server may read and replace them"))
        })
        .or_else(|| {
            home_place_beneath(p, home)
                .map(|(place, k)| format!("it holds {} ({k})", place.display()))
        })
}
