//! Supply-chain hygiene: which package an `npx`/`uvx`/`pipx run` server runs, whether it is
//! pinned to an exact version, and which version the local cache already resolved. Nothing
//! here touches the network: only the npm, uv and pipx caches on disk are read.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The package registry a runner installs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    Npm,
    PyPi,
}

/// The package a server's command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub registry: Registry,
    /// The runner, for messages: `npx`, `uvx`, `pipx run`, ...
    pub runner: String,
    /// Index of the argument that holds the spec.
    pub index: usize,
    /// What precedes the spec in that argument (`--package=`, `--from=`), kept when pinning.
    pub lead: String,
    /// The spec as written: `@scope/name@latest`, `name==1.0`, ...
    pub spec: String,
    pub name: String,
    pub version: Version,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    Exact(String),
    /// Not an exact version, and how it is written: `no version`, `@latest`, `^1.2`.
    Floating(String),
}

fn basename(a: &str) -> &str {
    a.rsplit('/').next().unwrap_or(a)
}

/// npx/npm exec/uvx/pipx options that take a value.
const VALUE_OPTIONS: &[&str] = &[
    "-c",
    "--call",
    "--cache",
    "--registry",
    "-w",
    "--workspace",
    "--with",
    "--with-editable",
    "--with-requirements",
    "--python",
    "--index",
    "--index-url",
    "--extra-index-url",
    "--pip-args",
    "--constraints",
];

/// The argument naming the package: `--package`/`--from`/`--spec` values, else the first
/// positional argument.
fn spec_arg(args: &[String], from: usize, named: &[&str]) -> Option<(usize, String)> {
    let mut i = from;
    while i < args.len() {
        let a = args[i].as_str();
        for n in named {
            let lead = format!("{n}=");
            if a.starts_with(&lead) {
                return Some((i, lead));
            }
            if a == *n {
                return args.get(i + 1).map(|_| (i + 1, String::new()));
            }
        }
        if a == "--" {
            return args.get(i + 1).map(|_| (i + 1, String::new()));
        }
        if a.starts_with('-') {
            i += if VALUE_OPTIONS.contains(&a) { 2 } else { 1 };
            continue;
        }
        return Some((i, String::new()));
    }
    None
}

/// Recognises `npx`, `npm exec`, `uvx`, `uv tool run` and `pipx run`.
pub fn find(command: &str, args: &[String]) -> Option<Package> {
    let cmd = basename(command);
    let sub = args.first().map(String::as_str);
    let (registry, runner, found) = match cmd {
        "npx" => (
            Registry::Npm,
            "npx".to_string(),
            spec_arg(args, 0, &["-p", "--package"]),
        ),
        "npm" if matches!(sub, Some("exec" | "x")) => (
            Registry::Npm,
            format!("npm {}", args[0]),
            spec_arg(args, 1, &["-p", "--package"]),
        ),
        "uvx" => (Registry::PyPi, "uvx".into(), spec_arg(args, 0, &["--from"])),
        "uv" if sub == Some("tool") && args.get(1).map(String::as_str) == Some("run") => (
            Registry::PyPi,
            "uv tool run".into(),
            spec_arg(args, 2, &["--from"]),
        ),
        "pipx" if sub == Some("run") => (
            Registry::PyPi,
            "pipx run".into(),
            spec_arg(args, 1, &["--spec"]),
        ),
        _ => return None,
    };
    let (index, lead) = found?;
    let spec = args[index][lead.len()..].to_string();
    let (name, version) = match registry {
        Registry::Npm => npm_spec(&spec)?,
        Registry::PyPi => pypi_spec(&spec)?,
    };
    Some(Package {
        registry,
        runner,
        index,
        lead,
        spec,
        name,
        version,
    })
}

fn exact_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// `@scope/name@version` → name and version; `None` for paths, URLs, git and GitHub specs.
fn npm_spec(spec: &str) -> Option<(String, Version)> {
    if spec.is_empty() || spec.starts_with(['.', '/', '~']) || spec.contains(':') {
        return None;
    }
    let start = usize::from(spec.starts_with('@'));
    let (name, version) = match spec[start..].find('@') {
        Some(i) => (&spec[..start + i], Some(&spec[start + i + 1..])),
        None => (spec, None),
    };
    // `user/repo` is GitHub shorthand, not a registry package.
    if start == 0 && name.contains('/') {
        return None;
    }
    let version = match version {
        None => Version::Floating("no version".into()),
        Some(v) if exact_semver(v) => Version::Exact(v.to_string()),
        Some(v) => Version::Floating(format!("@{v}")),
    };
    Some((name.to_string(), version))
}

/// `name[extra]==1.0`, `name@1.0`, `name>=1` → name and version; `None` for paths and URLs.
fn pypi_spec(spec: &str) -> Option<(String, Version)> {
    if spec.is_empty() || spec.starts_with(['.', '/', '~']) || spec.contains(['/', ':']) {
        return None;
    }
    let end = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(spec.len());
    let name = &spec[..end];
    let mut rest = &spec[end..];
    if rest.starts_with('[') {
        rest = &rest[rest.find(']').map_or(rest.len(), |i| i + 1)..];
    }
    let rest = rest.trim();
    let exact = |v: &str| {
        !v.is_empty()
            && v.starts_with(|c: char| c.is_ascii_digit())
            && !v.contains(['*', ',', ' ', '<', '>', '=', '!', '~'])
    };
    let version = if let Some(v) = rest.strip_prefix("===").or_else(|| rest.strip_prefix("==")) {
        if exact(v) {
            Version::Exact(v.to_string())
        } else {
            Version::Floating(rest.to_string())
        }
    } else if let Some(v) = rest.strip_prefix('@') {
        if exact(v) {
            Version::Exact(v.to_string())
        } else {
            Version::Floating(rest.to_string())
        }
    } else if rest.is_empty() {
        Version::Floating("no version".into())
    } else {
        Version::Floating(rest.to_string())
    };
    Some((name.to_string(), version))
}

impl Package {
    /// The argument with the package pinned to `version`, written the way the runner reads it.
    pub fn pinned_arg(&self, version: &str) -> String {
        let spec = match self.registry {
            Registry::Npm => format!("{}@{version}", self.name),
            Registry::PyPi => {
                let extras = self
                    .spec
                    .get(self.name.len()..)
                    .filter(|r| r.starts_with('['))
                    .and_then(|r| r.find(']').map(|i| &r[..=i]))
                    .unwrap_or("");
                let uses_at = self.spec[self.name.len()..].trim_start().starts_with('@');
                if uses_at && extras.is_empty() {
                    format!("{}@{version}", self.name)
                } else {
                    format!("{}{extras}=={version}", self.name)
                }
            }
        };
        format!("{}{spec}", self.lead)
    }

    /// Whether `version` is an exact version this registry understands.
    pub fn valid_version(&self, version: &str) -> bool {
        match self.registry {
            Registry::Npm => exact_semver(version),
            Registry::PyPi => pypi_spec(&format!("x=={version}"))
                .is_some_and(|(_, v)| matches!(v, Version::Exact(_))),
        }
    }
}

/// Looks up an environment variable.
pub type Lookup = Box<dyn Fn(&str) -> Option<String>>;

/// Where the caches are: `HOME` and the variables npm, uv, pipx and XDG read.
pub struct Caches {
    pub home: Option<PathBuf>,
    pub var: Lookup,
}

impl Caches {
    pub fn from_env() -> Caches {
        Caches {
            home: std::env::var_os("HOME").map(PathBuf::from),
            var: Box::new(|n| std::env::var(n).ok().filter(|v| !v.is_empty())),
        }
    }

    fn dir(&self, var: &str, xdg: &str, xdg_default: &str, rest: &str) -> Option<PathBuf> {
        if let Some(v) = (self.var)(var) {
            return Some(PathBuf::from(v));
        }
        let base = (self.var)(xdg)
            .map(PathBuf::from)
            .or_else(|| self.home.as_ref().map(|h| h.join(xdg_default)))?;
        Some(base.join(rest))
    }

    /// The directories searched for `pkg`, for messages.
    pub fn searched(&self, registry: Registry) -> Vec<PathBuf> {
        match registry {
            Registry::Npm => (self.var)("npm_config_cache")
                .map(PathBuf::from)
                .or_else(|| self.home.as_ref().map(|h| h.join(".npm")))
                .map(|d| vec![d.join("_npx")])
                .unwrap_or_default(),
            Registry::PyPi => {
                let mut v = Vec::new();
                v.extend(self.dir("UV_CACHE_DIR", "XDG_CACHE_HOME", ".cache", "uv"));
                v.extend(self.dir("UV_TOOL_DIR", "XDG_DATA_HOME", ".local/share", "uv/tools"));
                v.extend(self.dir("PIPX_HOME", "XDG_DATA_HOME", ".local/share", "pipx"));
                v.extend(self.home.as_ref().map(|h| h.join(".local/pipx")));
                v
            }
        }
    }

    /// The version of `pkg` the local cache holds, most recently installed first, and where.
    pub fn cached_version(&self, pkg: &Package) -> Option<(String, PathBuf)> {
        let mut found: Vec<(SystemTime, String, PathBuf)> = Vec::new();
        for root in self.searched(pkg.registry) {
            match pkg.registry {
                Registry::Npm => npx_installs(&root, &pkg.name, &mut found),
                Registry::PyPi => dist_infos(&root, &pkg.name, &mut found),
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
        found.into_iter().next().map(|(_, v, p)| (v, p))
    }
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn children(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// `_npx/<hash>/node_modules/<name>/package.json`.
fn npx_installs(npx: &Path, name: &str, out: &mut Vec<(SystemTime, String, PathBuf)>) {
    for install in children(npx) {
        let manifest = install.join("node_modules").join(name).join("package.json");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("version")?.as_str().map(str::to_string));
        if let Some(v) = version.filter(|v| exact_semver(v)) {
            out.push((mtime(&manifest), v, manifest));
        }
    }
}

/// Wheel-style name: lower case, runs of `-_.` as `_`.
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `<name>-<version>.dist-info` directories in the site-packages of environments under `root`:
/// uv's cache (`archive-v*/<id>/`, `environments-v*/<id>/`), uv tools (`<tool>/`) and pipx
/// (`venvs/<name>/`, `.cache/<id>/`), each with `lib/python*/site-packages/` or flat.
fn dist_infos(root: &Path, name: &str, out: &mut Vec<(SystemTime, String, PathBuf)>) {
    let want = normalize(name);
    let mut envs: Vec<PathBuf> = Vec::new();
    for sub in children(root) {
        let file = sub.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if file.starts_with("archive-v")
            || file.starts_with("environments-v")
            || file == "venvs"
            || file == ".cache"
        {
            envs.extend(children(&sub));
        } else {
            envs.push(sub);
        }
    }
    for env in envs {
        let mut sites = vec![env.clone()];
        for lib in ["lib", "lib64"] {
            for py in children(&env.join(lib)) {
                sites.push(py.join("site-packages"));
            }
        }
        for site in sites {
            for d in children(&site) {
                let Some(file) = d.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let Some((dist, version)) = file
                    .strip_suffix(".dist-info")
                    .and_then(|s| s.rsplit_once('-'))
                else {
                    continue;
                };
                if normalize(dist) == want {
                    out.push((mtime(&d), version.to_string(), d.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn version(cmd: &str, a: &str) -> Option<(String, Version)> {
        find(cmd, &args(a)).map(|p| (p.name, p.version))
    }

    #[test]
    fn npm_specs() {
        let floating = |s: &str| Version::Floating(s.into());
        assert_eq!(
            version("npx", "-y @modelcontextprotocol/server-memory"),
            Some((
                "@modelcontextprotocol/server-memory".into(),
                floating("no version")
            ))
        );
        assert_eq!(
            version("/usr/bin/npx", "--yes @playwright/mcp@latest --headless"),
            Some(("@playwright/mcp".into(), floating("@latest")))
        );
        assert_eq!(
            version("npx", "pkg@^1.2"),
            Some(("pkg".into(), floating("@^1.2")))
        );
        assert_eq!(
            version("npx", "-y pkg@1.2.3-beta.1"),
            Some(("pkg".into(), Version::Exact("1.2.3-beta.1".into())))
        );
        assert_eq!(version("npx", "github:user/repo"), None);
        assert_eq!(version("npx", "user/repo"), None);
        assert_eq!(version("npx", "./local"), None);
        let p = find("npx", &args("--package=pkg@2 cmd")).unwrap();
        assert_eq!((p.index, p.lead.as_str()), (0, "--package="));
        assert_eq!(p.pinned_arg("2.0.1"), "--package=pkg@2.0.1");
        assert_eq!(find("npm", &args("exec -y -- pkg x")).unwrap().index, 3);
    }

    #[test]
    fn python_specs() {
        assert_eq!(
            version("uvx", "mcp-server-time --local-timezone=UTC"),
            Some((
                "mcp-server-time".into(),
                Version::Floating("no version".into())
            ))
        );
        assert_eq!(
            version("uvx", "mcp-server-fetch==2025.4.7"),
            Some(("mcp-server-fetch".into(), Version::Exact("2025.4.7".into())))
        );
        assert_eq!(
            version("uvx", "--from mcp-server-git>=1 mcp-server-git"),
            Some(("mcp-server-git".into(), Version::Floating(">=1".into())))
        );
        assert_eq!(
            version("pipx", "run mcp-server-time@latest"),
            Some((
                "mcp-server-time".into(),
                Version::Floating("@latest".into())
            ))
        );
        assert_eq!(version("uv", "tool run --from git+https://x/y z"), None);
        let p = find("uvx", &args("pkg[cli]")).unwrap();
        assert_eq!(p.pinned_arg("1.0"), "pkg[cli]==1.0");
        let p = find("uvx", &args("pkg@latest")).unwrap();
        assert_eq!(p.pinned_arg("1.0"), "pkg@1.0");
        assert!(p.valid_version("2025.4.7"));
        assert!(!p.valid_version(">=1"));
        assert_eq!(find("node", &args("x.js")), None);
    }

    #[test]
    fn reads_versions_from_the_caches() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().to_path_buf();
        let npx = home.join(".npm/_npx/abc123/node_modules/@scope/srv");
        std::fs::create_dir_all(&npx).unwrap();
        std::fs::write(
            npx.join("package.json"),
            r#"{"name":"@scope/srv","version":"1.4.2"}"#,
        )
        .unwrap();
        let uv = home.join(".cache/uv/archive-v0/Xy12/lib/python3.12/site-packages/mcp_server_time-2025.9.1.dist-info");
        std::fs::create_dir_all(&uv).unwrap();
        let caches = Caches {
            home: Some(home.clone()),
            var: Box::new(|_| None),
        };
        let p = find("npx", &args("-y @scope/srv")).unwrap();
        assert_eq!(caches.cached_version(&p).unwrap().0, "1.4.2");
        let p = find("uvx", &args("mcp-server-time")).unwrap();
        assert_eq!(caches.cached_version(&p).unwrap().0, "2025.9.1");
        let p = find("uvx", &args("mcp-server-git")).unwrap();
        assert_eq!(caches.cached_version(&p), None);
    }
}
