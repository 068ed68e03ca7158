//! Files that other programs run later, outside any sandbox, made read-only for the server
//! where a writable grant holds them. A server that may write a project could otherwise
//! leave code for the user's own tools: a git hook or `core.hooksPath` (git runs it at the
//! next commit), an MCP client's project config (the client starts what it names, without
//! mcpcell, at its next start), an editor's tasks or an agent's hooks. These files are in
//! the project, not outside the workspace, so the grant alone does not keep them out.
//!
//! Each one that exists at launch, at the root of a writable directory grant or in the
//! working directory (and the directories between the two), is granted read-only: a
//! read-only mount inside the writable one, which the server cannot move away (the
//! directories on the way are pinned), and in the namespace-free tier the writable grant is
//! granted around it. A grant that names the file itself, or a directory between it and
//! the writable root, is the user's word that the server may change it: then it stays
//! writable.

use std::path::{Path, PathBuf};

use super::fs::{Grant, Rights, is_private};
use crate::profile::Origin;

/// How the origin of each grant made here starts (the key of a command-line origin).
pub const ORIGIN: &str = "(read-only inside a writable grant: ";

/// Whether every grant of `r` was made here: no grant of the user's asked for it.
pub fn only_protected(r: &super::fs::FsRule) -> bool {
    !r.from.is_empty()
        && r.from
            .iter()
            .all(|o| o.is_command_line() && o.key.starts_with(ORIGIN))
}

/// The files and directories, relative to a project's root, with what runs them.
pub const PLACES: &[(&str, &str)] = &[
    (".git/hooks", "git runs its hooks"),
    (
        ".git/config",
        "git runs the programs it names (core.hooksPath, core.fsmonitor, filters)",
    ),
    (".mcp.json", "Claude Code and Copilot CLI start its servers"),
    (".github/mcp.json", "Copilot CLI starts its servers"),
    (
        ".vscode",
        "VS Code runs its tasks and starts its MCP servers",
    ),
    (".claude", "Claude Code runs its hooks"),
    (".cursor", "Cursor starts its MCP servers"),
    (".gemini", "Gemini CLI starts its MCP servers"),
    (".qwen", "Qwen Code starts its MCP servers"),
    (".codex", "Codex starts its MCP servers"),
    (".zed", "Zed starts its context servers"),
    (".roo", "Roo Code starts its MCP servers"),
    (".kilocode", "Kilo Code starts its MCP servers"),
    (".kiro", "Kiro starts its MCP servers"),
    (".amazonq", "Amazon Q starts its MCP servers"),
    (".amp", "Amp starts its MCP servers"),
    (".junie", "Junie starts its MCP servers"),
    (".trae", "Trae starts its MCP servers"),
    (".continue", "Continue starts its MCP servers"),
    (".vibe", "Mistral Vibe starts its MCP servers"),
    (".fast-agent", "fast-agent starts its MCP servers"),
    ("fastagent.config.yaml", "fast-agent starts its MCP servers"),
    (
        "fast-agent.config.yaml",
        "fast-agent starts its MCP servers",
    ),
    ("fast-agent.yaml", "fast-agent starts its MCP servers"),
    ("opencode.json", "opencode starts its MCP servers"),
    ("opencode.jsonc", "opencode starts its MCP servers"),
    ("crush.json", "Crush starts its MCP servers"),
    (".crush.json", "Crush starts its MCP servers"),
    (".idea", "JetBrains IDEs run its run configurations"),
];

/// The read-only grants for the places of [`PLACES`] that exist beneath the writable
/// directory grants among `grants`: at each one's root, and in `cwd` and the directories
/// between it and that root. `state_root` (every server's state) holds no project.
pub fn protect(grants: &[Grant], cwd: &Path, state_root: Option<&Path>) -> Vec<Grant> {
    let real = |p: &Path| crate::paths::real_path(p).ok();
    let state_root = state_root.and_then(real);
    let writable: Vec<PathBuf> = grants
        .iter()
        .filter(|g| g.rights.write && !is_private(&g.path))
        .filter_map(|g| real(&g.path))
        .filter(|p| !is_private(p) && p.is_dir())
        .filter(|p| !state_root.as_ref().is_some_and(|s| p.starts_with(s)))
        .collect();
    if writable.is_empty() {
        return Vec::new();
    }
    // What the user granted for writing by name: a place at or beneath one of these, below
    // a writable root, stays writable.
    let named: Vec<PathBuf> = grants
        .iter()
        .filter(|g| g.rights.write)
        .filter_map(|g| real(&g.path))
        .collect();
    let cwd = real(cwd);
    let mut out: Vec<Grant> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for root in &writable {
        let mut dirs = vec![root.clone()];
        if let Some(c) = cwd.as_ref().filter(|c| c.starts_with(root)) {
            dirs.extend(
                c.ancestors()
                    .take_while(|a| *a != root.as_path())
                    .map(Path::to_path_buf),
            );
        }
        for dir in dirs {
            for (rel, why) in PLACES {
                let p = dir.join(rel);
                // Most projects have few of these: one lstat of the first name says so.
                let first = rel.split('/').next().unwrap_or(rel);
                if seen.contains(&p) || std::fs::symlink_metadata(dir.join(first)).is_err() {
                    continue;
                }
                // Only the place itself, with no link on its way from `dir`: a link there
                // could lead anywhere, and granting where it leads would widen the launch.
                if real(&p).as_deref() != Some(p.as_path()) {
                    continue;
                }
                let chosen = named
                    .iter()
                    .any(|n| n != root && p.starts_with(n) && n.starts_with(root));
                if chosen {
                    continue;
                }
                seen.push(p.clone());
                out.push(Grant {
                    path: p,
                    rights: Rights::READ,
                    origin: Origin::command_line(&format!("{ORIGIN}{why}, outside the sandbox)")),
                    required: false,
                    evidence: Vec::new(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(p: &Path, rights: Rights) -> Grant {
        Grant {
            path: p.to_path_buf(),
            rights,
            origin: Origin::command_line("--allow-write"),
            required: true,
            evidence: Vec::new(),
        }
    }

    #[test]
    fn places_beneath_writable_roots_and_the_working_directory() {
        let d = tempfile::Builder::new()
            .prefix("runs-later-")
            .tempdir()
            .unwrap();
        let root = crate::paths::real_path(d.path()).unwrap();
        let proj = root.join("proj");
        let sub = proj.join("pkg/sub");
        for dir in [".git/hooks", ".vscode", ".idea", "pkg/.claude", "pkg/sub"] {
            std::fs::create_dir_all(proj.join(dir)).unwrap();
        }
        std::fs::write(proj.join(".git/config"), "").unwrap();
        std::fs::write(proj.join(".mcp.json"), "{}").unwrap();
        // A link in a place's stead is not followed.
        std::os::unix::fs::symlink("/etc", proj.join(".cursor")).unwrap();
        let grants = vec![
            grant(&proj, Rights::WRITE),
            // Named for writing: it stays writable.
            grant(&proj.join(".idea"), Rights::WRITE),
            grant(Path::new("/usr"), Rights::READ),
        ];
        let got: Vec<PathBuf> = protect(&grants, &sub, None)
            .into_iter()
            .map(|g| {
                assert_eq!(g.rights, Rights::READ);
                g.path
            })
            .collect();
        let want: Vec<PathBuf> = [
            ".git/hooks",
            ".git/config",
            ".mcp.json",
            ".vscode",
            "pkg/.claude",
        ]
        .iter()
        .map(|r| proj.join(r))
        .collect();
        assert_eq!(got, want);
        // Nothing writable, nothing to protect; a state directory holds no project.
        assert!(protect(&grants[2..], &sub, None).is_empty());
        assert!(protect(&grants[..1], &sub, Some(&root)).is_empty());
    }
}
