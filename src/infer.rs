//! Choosing a built-in profile from the server's command line.
//!
//! `mcpcell run -- npx -y @modelcontextprotocol/server-filesystem ~/notes` should pick the
//! `filesystem` profile without `-p`. The package is found the way a person would read the
//! command: the package `npx`/`uvx`/`pipx run` runs, a `node_modules/<package>/` or
//! `site-packages/<module>/` path a `node`/`python` command runs, `python -m <module>`, or the
//! name of an installed server binary.

use std::ffi::OsString;
use std::path::Path;

use serde::Serialize;

/// A known MCP server: its profile, and the names it goes by.
struct Known {
    profile: &'static str,
    /// npm or PyPI package names.
    packages: &'static [&'static str],
    /// Executable names it installs, and Python module names.
    programs: &'static [&'static str],
}

static KNOWN: &[Known] = &[
    Known {
        profile: "filesystem",
        packages: &["@modelcontextprotocol/server-filesystem"],
        programs: &["mcp-server-filesystem"],
    },
    Known {
        profile: "memory",
        packages: &["@modelcontextprotocol/server-memory"],
        programs: &["mcp-server-memory"],
    },
    Known {
        profile: "everything",
        packages: &["@modelcontextprotocol/server-everything"],
        programs: &["mcp-server-everything"],
    },
    Known {
        profile: "sequential-thinking",
        packages: &["@modelcontextprotocol/server-sequential-thinking"],
        programs: &["mcp-server-sequential-thinking"],
    },
    Known {
        profile: "github",
        packages: &["@modelcontextprotocol/server-github"],
        programs: &["mcp-server-github"],
    },
    Known {
        profile: "brave-search",
        packages: &["@modelcontextprotocol/server-brave-search"],
        programs: &["mcp-server-brave-search"],
    },
    Known {
        profile: "puppeteer",
        packages: &["@modelcontextprotocol/server-puppeteer"],
        programs: &["mcp-server-puppeteer"],
    },
    Known {
        profile: "playwright",
        packages: &["@playwright/mcp"],
        programs: &["mcp-server-playwright"],
    },
    Known {
        profile: "time",
        packages: &["mcp-server-time"],
        programs: &["mcp-server-time", "mcp_server_time"],
    },
    Known {
        profile: "git",
        packages: &["mcp-server-git"],
        programs: &["mcp-server-git", "mcp_server_git"],
    },
    Known {
        profile: "fetch",
        packages: &["mcp-server-fetch"],
        programs: &["mcp-server-fetch", "mcp_server_fetch"],
    },
    Known {
        profile: "sqlite",
        packages: &["mcp-server-sqlite"],
        programs: &["mcp-server-sqlite", "mcp_server_sqlite"],
    },
];

/// The result of inference: which profile, for which package, and how it was recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inferred {
    pub profile: &'static str,
    pub package: String,
    pub how: String,
}

/// `@scope/name@1.2.3` → `@scope/name`; `name==1.0`, `name@1.0`, `name[extra]` → `name`.
pub fn package_name(spec: &str) -> &str {
    let spec = spec.trim();
    let cut = |s: &str, from: usize| -> usize {
        s[from..]
            .find(['@', '=', '<', '>', '~', '!', '[', ' ', ';'])
            .map(|i| i + from)
            .unwrap_or(s.len())
    };
    let start = usize::from(spec.starts_with('@'));
    let end = cut(spec, start);
    &spec[..end]
}

fn basename(a: &str) -> &str {
    a.rsplit('/').next().unwrap_or(a)
}

fn known_package(name: &str) -> Option<&'static Known> {
    let n = name.to_ascii_lowercase().replace('_', "-");
    KNOWN.iter().find(|k| k.packages.iter().any(|p| *p == n))
}

fn known_program(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.programs.contains(&name))
}

/// Options of npx/npm exec/uvx/pipx that take a value (so the value is not the package).
const VALUE_OPTIONS: &[&str] = &[
    "-p",
    "--package",
    "--from",
    "--with",
    "--python",
    "-c",
    "--call",
    "--cache",
    "--registry",
    "--spec",
    "--index-url",
    "--index",
    "--extra-index-url",
    "--pip-args",
    "-w",
    "--workspace",
];

/// The first positional argument after the runner, skipping options and their values;
/// `--package X`/`--from X` name the package directly.
fn runner_package(args: &[&str]) -> Option<String> {
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if let Some(v) = a
            .strip_prefix("--package=")
            .or_else(|| a.strip_prefix("--from="))
        {
            return Some(v.to_string());
        }
        if matches!(a, "-p" | "--package" | "--from") {
            return args.get(i + 1).map(|s| s.to_string());
        }
        if a == "--" {
            return args.get(i + 1).map(|s| s.to_string());
        }
        if a.starts_with('-') {
            i += if VALUE_OPTIONS.contains(&a) { 2 } else { 1 };
            continue;
        }
        return Some(a.to_string());
    }
    None
}

/// A package named inside a path: `.../node_modules/@scope/name/...` or
/// `.../site-packages/module/...`.
fn package_in_path(p: &str) -> Option<String> {
    let parts: Vec<&str> = p.split('/').collect();
    for (i, part) in parts.iter().enumerate().rev() {
        if *part == "node_modules" {
            let first = parts.get(i + 1)?;
            return Some(if first.starts_with('@') {
                format!("{first}/{}", parts.get(i + 2)?)
            } else {
                first.to_string()
            });
        }
        if *part == "site-packages" || *part == "dist-packages" {
            return parts.get(i + 1).map(|m| m.to_string());
        }
    }
    None
}

/// Recognises the MCP server a command runs.
pub fn infer(argv: &[OsString]) -> Option<Inferred> {
    let args: Vec<&str> = argv.iter().filter_map(|a| a.to_str()).collect();
    let (first, rest) = args.split_first()?;
    let cmd = basename(first);
    let found = |package: String, how: String| -> Option<Inferred> {
        let k = known_package(package_name(&package))
            .or_else(|| known_program(package_name(&package)))?;
        Some(Inferred {
            profile: k.profile,
            package: k.packages[0].to_string(),
            how,
        })
    };
    match cmd {
        "npx" | "bunx" | "pnpx" | "uvx" => {
            let pkg = runner_package(rest)?;
            found(pkg.clone(), format!("the package `{cmd}` runs"))
        }
        "npm" | "pnpm" if matches!(rest.first(), Some(&"exec") | Some(&"x") | Some(&"dlx")) => {
            let pkg = runner_package(&rest[1..])?;
            found(pkg, format!("the package `{cmd} {}` runs", rest[0]))
        }
        "uv" if rest.len() >= 2 && rest[0] == "tool" && rest[1] == "run" => {
            let pkg = runner_package(&rest[2..])?;
            found(pkg, "the package `uv tool run` runs".into())
        }
        "pipx" if rest.first() == Some(&"run") => {
            let pkg = runner_package(&rest[1..])?;
            found(pkg, "the package `pipx run` runs".into())
        }
        c if c.starts_with("node") || c == "bun" || c == "deno" || c.starts_with("python") => {
            if let Some(i) = rest.iter().position(|a| *a == "-m") {
                let module = rest.get(i + 1)?;
                let k = known_program(module)?;
                return Some(Inferred {
                    profile: k.profile,
                    package: k.packages[0].to_string(),
                    how: format!("the module `{cmd} -m {module}` runs"),
                });
            }
            let script = rest.iter().find(|a| !a.starts_with('-'))?;
            if let Some(pkg) = package_in_path(script) {
                return found(pkg, format!("the script `{script}` belongs to it"));
            }
            let name = Path::new(script).file_stem()?.to_str()?;
            let k = known_program(name)?;
            Some(Inferred {
                profile: k.profile,
                package: k.packages[0].to_string(),
                how: format!("the script `{script}` is its entry point"),
            })
        }
        _ => {
            if let Some(k) = known_program(cmd) {
                return Some(Inferred {
                    profile: k.profile,
                    package: k.packages[0].to_string(),
                    how: format!("`{cmd}` is its executable"),
                });
            }
            let pkg = package_in_path(first)?;
            found(pkg, format!("`{first}` belongs to it"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inf(cmd: &str) -> Option<(&'static str, String)> {
        let argv: Vec<OsString> = cmd.split_whitespace().map(OsString::from).collect();
        infer(&argv).map(|i| (i.profile, i.package))
    }

    #[test]
    fn package_runners() {
        let fs = Some((
            "filesystem",
            "@modelcontextprotocol/server-filesystem".to_string(),
        ));
        assert_eq!(
            inf("npx -y @modelcontextprotocol/server-filesystem /home/u/notes"),
            fs
        );
        assert_eq!(
            inf("/usr/bin/npx --yes @modelcontextprotocol/server-filesystem@2025.1.1 ."),
            fs
        );
        assert_eq!(
            inf("npx -p @modelcontextprotocol/server-filesystem mcp-server-filesystem ."),
            fs
        );
        assert_eq!(
            inf("npm exec --yes -- @modelcontextprotocol/server-filesystem ."),
            fs
        );
        assert_eq!(
            inf("uvx mcp-server-git --repository ."),
            Some(("git", "mcp-server-git".into()))
        );
        assert_eq!(
            inf("uvx mcp-server-fetch==2025.4.7"),
            Some(("fetch", "mcp-server-fetch".into()))
        );
        assert_eq!(
            inf("uvx --from mcp-server-time mcp-server-time"),
            Some(("time", "mcp-server-time".into()))
        );
        assert_eq!(
            inf("uv tool run mcp-server-sqlite --db-path x.db"),
            Some(("sqlite", "mcp-server-sqlite".into()))
        );
        assert_eq!(
            inf("pipx run mcp-server-time"),
            Some(("time", "mcp-server-time".into()))
        );
        assert_eq!(
            inf("npx -y @playwright/mcp@latest"),
            Some(("playwright", "@playwright/mcp".into()))
        );
        assert_eq!(inf("npx -y some-other-server"), None);
    }

    #[test]
    fn interpreters_and_installed_binaries() {
        assert_eq!(
            inf("node /opt/mcp/node_modules/@modelcontextprotocol/server-memory/dist/index.js"),
            Some(("memory", "@modelcontextprotocol/server-memory".into()))
        );
        assert_eq!(
            inf("python3 -m mcp_server_git --repository /src"),
            Some(("git", "mcp-server-git".into()))
        );
        assert_eq!(
            inf(
                "/home/u/.venv/bin/python /home/u/.venv/lib/python3.11/site-packages/mcp_server_time/__main__.py"
            ),
            Some(("time", "mcp-server-time".into()))
        );
        assert_eq!(
            inf("/home/u/.local/bin/mcp-server-fetch"),
            Some(("fetch", "mcp-server-fetch".into()))
        );
        assert_eq!(
            inf("mcp-server-filesystem /data"),
            Some((
                "filesystem",
                "@modelcontextprotocol/server-filesystem".into()
            ))
        );
        assert_eq!(inf("node server.js"), None);
        assert_eq!(inf("/bin/true"), None);
    }

    #[test]
    fn package_specs() {
        assert_eq!(package_name("@scope/pkg@1.2.3"), "@scope/pkg");
        assert_eq!(package_name("pkg==1.0"), "pkg");
        assert_eq!(package_name("pkg[extra]>=2"), "pkg");
        assert_eq!(package_name("pkg@latest"), "pkg");
    }
}
