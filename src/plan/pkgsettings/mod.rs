//! `env.package_settings`: the user's and the system's package-manager settings, made to work
//! inside the sandbox without their secrets.
//!
//! The node and python bases move npm's prefix, uv's and pip's directories into the state
//! directory and keep `~/.npmrc` and `~/.config` out of reach, so npm, pip and uv inside no
//! longer see the settings that make them work on a company network: a private CA, a
//! registry or index mirror. mcpcell reads those settings here, outside the sandbox, the way
//! each tool would (npm: builtin, global and user npmrc and `npm_config_*`; pip: its pip.conf
//! files and `PIP_*`; uv: its uv.toml files and `UV_*`), and passes in only safe keys, as
//! variables:
//! - registries and indexes, with any `user:password@` and query removed; their hosts join
//!   the egress proxy's allowlist (still refused when they resolve to a private address,
//!   unless `network.allow_private` covers it);
//! - CA certificates, copied into the state directory ([`install`]) rather than granted: a
//!   setting may name any file, and only what parses as a certificate is copied;
//! - switches that carry no secret (`strict-ssl`, `native-tls`, trusted and insecure hosts).
//!
//! Tokens, passwords, client certificates and keys, and per-host settings (`//host/:...`)
//! are never passed; the dry-run names them, without their values. Project files (a
//! `.npmrc`, `uv.toml` or `pyproject.toml` in the working directory, a virtualenv's
//! `pip.conf`) are not read: a server that may write its workspace could otherwise choose
//! its own next allowlist.

mod cache;
mod ini;
mod npm;
mod pem;
mod python;
mod url;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::hostspec::HostPattern;
pub use crate::profile::PackageManager;
use cache::CaCache;

/// What the settings add to a plan.
#[derive(Debug, Default, Serialize)]
pub struct PkgSettings {
    /// The package managers whose settings were read.
    pub managers: Vec<PackageManager>,
    /// Variables for the server: name, value, where the setting was read.
    #[serde(skip)]
    pub env: Vec<(String, OsString, String)>,
    /// Registry and index hosts for the proxy's allowlist, with where each was read.
    pub hosts: Vec<(HostPattern, String)>,
    /// CA certificates to write into the state directory.
    pub bundles: Vec<Bundle>,
    /// What was read and not passed, and why; shown by `--dry-run`.
    pub notes: Vec<String>,
    /// The settings files read, and the programs whose place named some of them: none may
    /// be one the server could have written (checked with the grants, `plan::steer`).
    #[serde(skip)]
    pub sources: Vec<PathBuf>,
}

impl PkgSettings {
    pub fn is_empty(&self) -> bool {
        self.managers.is_empty()
    }
}

/// The settings of the package managers `profile` names, read from mcpcell's environment
/// and the files it names; the CA bundles are written unless this is a dry run.
pub fn for_profile(
    profile: &crate::profile::Profile,
    vars: &crate::vars::Vars,
    cwd: &Path,
    state_dir: Option<&Path>,
    dry_run: bool,
    programs: &crate::plan::programs::Programs,
) -> std::io::Result<PkgSettings> {
    let mut managers: Vec<PackageManager> = Vec::new();
    for e in &profile.env.package_settings {
        if !managers.contains(&e.value) {
            managers.push(e.value);
        }
    }
    if managers.is_empty() {
        return Ok(PkgSettings::default());
    }
    let mut env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    // Clients that start servers with a minimal environment may leave HOME out: the home
    // directory is then the password database's, as for the profile's own `${HOME}`.
    for name in ["HOME", "XDG_CONFIG_HOME"] {
        if let Ok(v) = vars.get(name) {
            env.insert(name.to_string(), v.to_string());
        }
    }
    let cache = match vars.state_root() {
        Ok(root) if !dry_run => CaCache::open(Some(&root)),
        _ => CaCache::none(),
    };
    let host = Host {
        env: &env,
        cwd,
        programs,
    };
    let settings = read_cached(&managers, &host, state_dir, &cache);
    match state_dir {
        Some(dir) if !dry_run => install(&settings, dir)?,
        _ => {}
    }
    Ok(settings)
}

/// A file of CA certificates copied from the files and values the settings name.
#[derive(Debug, Serialize)]
pub struct Bundle {
    /// Its name in the state directory.
    pub file: &'static str,
    pub certificates: usize,
    /// Where they were read.
    pub from: Vec<String>,
    /// The blocks, ASCII; empty when they are `cached`.
    #[serde(skip)]
    pub pem: Vec<u8>,
    /// The cache entry that holds the blocks, when a single CA file's certificates were kept
    /// from an earlier launch: read only if the state directory's copy differs.
    #[serde(skip)]
    pub cached: Option<cache::Entry>,
    /// The one CA file it was copied from, when it has no other source: another variable
    /// that names the same file is pointed at this copy instead of getting one of its own.
    #[serde(skip)]
    source: Option<PathBuf>,
}

/// mcpcell's own environment and the paths it derives, as the readers need them.
pub struct Host<'a> {
    pub env: &'a BTreeMap<String, String>,
    pub cwd: &'a Path,
    /// Programs the plan has looked up already.
    pub programs: &'a crate::plan::programs::Programs,
}

impl Host<'_> {
    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// `$XDG_CONFIG_HOME`, else `~/.config`.
    fn config_home(&self) -> Option<PathBuf> {
        match self.var("XDG_CONFIG_HOME") {
            Some(d) if d.starts_with('/') => Some(PathBuf::from(d)),
            _ => self.home().map(|h| h.join(".config")),
        }
    }

    /// `$XDG_CONFIG_DIRS`, else `/etc/xdg`.
    fn config_dirs(&self) -> Vec<PathBuf> {
        self.var("XDG_CONFIG_DIRS")
            .unwrap_or("/etc/xdg")
            .split(':')
            .filter(|d| d.starts_with('/'))
            .map(PathBuf::from)
            .collect()
    }

    /// A program found on mcpcell's PATH, with links resolved (one `openat2` for a path
    /// without links, where `canonicalize` reads each component as a link), as
    /// `filesystem.programs` finds it.
    /// Also where the PATH search found it (its place may name a settings file).
    fn program(&self, name: &str) -> Option<crate::plan::programs::Found> {
        let path = self.var("PATH")?;
        self.programs
            .find(name, Some(std::ffi::OsStr::new(path)), self.cwd)
    }
}

/// A source of certificates: a file a setting names, or PEM text written in the setting.
enum CaSource {
    File(PathBuf),
    /// As written in a setting (npm's `ca`, with `\n` for line breaks).
    Inline(String),
    /// Certificates already found (a certificate directory's), with the directory.
    Found(cache::Found, PathBuf),
}

/// Collects what the readers find. Bundles are named for the state directory that will
/// hold them; without one, no certificate can be passed.
struct Acc<'a> {
    state_dir: Option<&'a Path>,
    cache: &'a CaCache,
    out: PkgSettings,
}

impl Acc<'_> {
    fn set(&mut self, var: &str, value: impl Into<OsString>, from: &str) {
        self.out.env.retain(|(n, _, _)| n != var);
        self.out
            .env
            .push((var.to_string(), value.into(), from.to_string()));
    }

    fn note(&mut self, note: String) {
        if !self.out.notes.contains(&note) {
            self.out.notes.push(note);
        }
    }

    /// A registry or index URL: cleaned, its host allowlisted. None when it is not a URL
    /// mcpcell can pass.
    fn url(&mut self, raw: &str, from: &str) -> Option<String> {
        match url::clean(raw) {
            Ok(c) => {
                if c.had_secret {
                    self.note(format!(
                        "{from}: credentials or a query removed from the URL; a registry that needs them cannot be used from the sandbox"
                    ));
                }
                if !self.out.hosts.iter().any(|(h, _)| *h == c.host) {
                    self.out.hosts.push((c.host, from.to_string()));
                }
                Some(c.url)
            }
            Err(why) => {
                self.note(format!(
                    "{from}: not passed: {}",
                    crate::escape::terminal(&why)
                ));
                None
            }
        }
    }

    /// The certificates of `sources` as `file` in the state directory, and `var` naming it.
    fn bundle(&mut self, file: &'static str, var: &str, sources: Vec<(CaSource, String)>) {
        if sources.is_empty() {
            return;
        }
        let single = match &sources[..] {
            [(CaSource::File(p), _)] => Some(p.clone()),
            _ => None,
        };
        if let (Some(p), Some(dir)) = (&single, self.state_dir) {
            // The same file already copied for another variable (npm's `cafile` and
            // NODE_EXTRA_CA_CERTS both naming the system bundle, as company set-ups do): one
            // copy, named by both, instead of a second lookup, read and compare at every
            // launch.
            if let Some(b) = self
                .out
                .bundles
                .iter_mut()
                .find(|b| b.source.as_ref() == Some(p))
            {
                let origin = &sources[0].1;
                if !b.from.contains(origin) {
                    b.from.push(origin.clone());
                }
                let path = dir.join(b.file);
                let origin = origin.clone();
                self.set(var, path, &origin);
                return;
            }
        }
        let mut pem = Vec::new();
        let mut cached = None;
        let mut seen = std::collections::HashSet::new();
        let mut count = 0;
        let mut from = Vec::new();
        let several = sources.len() > 1;
        // Several sources, each in the cache and each with certificates: their merge is kept
        // too, named after theirs (SSL_CERT_FILE and SSL_CERT_DIR: merging them, each
        // certificate hashed to drop the duplicates, was the larger part of a `-p python`
        // launch's own work).
        let mut merged_name = None;
        let sources: Vec<_> = sources
            .into_iter()
            .map(|(source, origin)| match source {
                CaSource::File(p) => (self.cache.certificates(&p), Some(p), origin),
                CaSource::Found(f, p) => (Ok(f), Some(p), origin),
                CaSource::Inline(t) => (
                    Ok(cache::Found::Certs(
                        pem::certificates(&t.replace("\\n", "\n")),
                        None,
                    )),
                    None,
                    origin,
                ),
            })
            .collect();
        if several {
            let parts: Option<Vec<&str>> = sources
                .iter()
                .map(|(found, _, _)| match found {
                    Ok(f) if f.count() > 0 => f.key(),
                    _ => None,
                })
                .collect();
            if let Some(parts) = parts {
                let (entry, name) = self.cache.merged(file, &parts);
                if let Some(e) = entry.filter(|e| e.count > 0) {
                    for (_, _, origin) in sources {
                        if !from.contains(&origin) {
                            from.push(origin);
                        }
                    }
                    return self.add_bundle(file, var, e.count, from, (Vec::new(), Some(e)), None);
                }
                merged_name = name;
            }
        }
        for (found, path, origin) in sources {
            let certs = match found {
                // One source, kept from an earlier launch: left in its entry.
                Ok(cache::Found::Entry(e)) if !several && e.count > 0 => {
                    count = e.count;
                    cached = Some(e);
                    from.push(origin);
                    continue;
                }
                found => found.and_then(cache::Found::into_certs),
            };
            let certs = match certs {
                Ok(c) => c,
                Err(e) => {
                    // A merge that lacks a source is not kept.
                    merged_name = None;
                    let path = path.as_deref().map(crate::escape::path).unwrap_or_default();
                    self.note(format!(
                        "{origin}: CA file {path} not read ({e}); not passed"
                    ));
                    continue;
                }
            };
            if certs.count == 0 {
                merged_name = None;
                self.note(format!(
                    "{origin}: holds no PEM certificate; nothing of it is passed"
                ));
                continue;
            }
            if !several {
                // One source is taken as it is: its text becomes the bundle, uncopied.
                count = certs.count;
                pem = certs.pem;
            } else {
                // Duplicates come from overlapping sources.
                for c in certs.blocks() {
                    if seen.insert(c.to_vec()) {
                        pem.extend_from_slice(c);
                        count += 1;
                    }
                }
            }
            if !from.contains(&origin) {
                from.push(origin);
            }
        }
        if let Some(name) = merged_name.filter(|_| count > 0) {
            // Every source read: the next launch takes the merge as it is.
            self.cache.keep_merged(&name, &pem, count);
        }
        self.add_bundle(file, var, count, from, (pem, cached), single);
    }

    /// The bundle `file` of `count` certificates (`pem`, or in the `cached` entry), with
    /// `var` naming it; `source` is the one CA file it was copied from.
    fn add_bundle(
        &mut self,
        file: &'static str,
        var: &str,
        count: usize,
        from: Vec<String>,
        (pem, cached): (Vec<u8>, Option<cache::Entry>),
        source: Option<PathBuf>,
    ) {
        if count == 0 {
            return;
        }
        let Some(dir) = self.state_dir else {
            self.note(format!(
                "{}: the profile has no ${{STATE_DIR}} to copy the CA certificates into; {var} is not passed",
                from.join(", ")
            ));
            return;
        };
        self.set(var, dir.join(file), &from.join(", "));
        self.out.bundles.retain(|b| b.file != file);
        self.out.bundles.push(Bundle {
            file,
            certificates: count,
            from,
            pem,
            cached,
            source,
        });
    }
}

/// Reads the settings of `managers` (outside the sandbox). `state_dir` is where the CA
/// bundles will be written by [`install`].
#[cfg(test)]
pub fn read(managers: &[PackageManager], host: &Host, state_dir: Option<&Path>) -> PkgSettings {
    read_cached(managers, host, state_dir, &CaCache::none())
}

/// [`read`], with the certificates of CA files taken from `cache` where it has them.
fn read_cached(
    managers: &[PackageManager],
    host: &Host,
    state_dir: Option<&Path>,
    cache: &CaCache,
) -> PkgSettings {
    let mut acc = Acc {
        state_dir,
        cache,
        out: PkgSettings {
            managers: managers.to_vec(),
            ..PkgSettings::default()
        },
    };
    let mut ssl = false;
    for m in managers {
        match m {
            PackageManager::Npm => npm::read(host, &mut acc),
            PackageManager::Pip => {
                python::pip(host, &mut acc);
                ssl = true;
            }
            PackageManager::Uv => {
                python::uv(host, &mut acc);
                ssl = true;
            }
        }
    }
    if ssl {
        ssl_env(host, &mut acc);
    }
    acc.out
}

/// OpenSSL's and rustls' `SSL_CERT_FILE` and `SSL_CERT_DIR` (uv, Python's `ssl`): both
/// become one copied file, since a directory of hashed links cannot be copied as it is.
fn ssl_env(host: &Host, acc: &mut Acc) {
    let mut sources = Vec::new();
    if let Some(f) = host.var("SSL_CERT_FILE") {
        sources.push((CaSource::File(f.into()), "SSL_CERT_FILE".to_string()));
    }
    if let Some(d) = host.var("SSL_CERT_DIR") {
        // Only the files that hold certificates: a certificate directory holds other things
        // too, which are not worth a note each.
        for dir in d.split(':').filter(|d| d.starts_with('/')) {
            let found = acc.cache.dir_certificates(Path::new(dir));
            if found.count() > 0 {
                let from = format!("SSL_CERT_DIR {}", crate::escape::path(Path::new(dir)));
                sources.push((CaSource::Found(found, dir.into()), from));
            }
        }
    }
    acc.bundle("mcpcell-ca-ssl.pem", "SSL_CERT_FILE", sources);
}

/// Writes the CA bundles into `state_dir`. The server may write there too, so nothing that
/// is already there is followed: each file is created anew under a temporary name without
/// following links, then renamed over the old one.
pub fn install(s: &PkgSettings, state_dir: &Path) -> std::io::Result<()> {
    use nix::fcntl::{OFlag, open, openat, renameat};
    use nix::sys::stat::Mode;
    use nix::unistd::{UnlinkatFlags, unlinkat};
    if s.bundles.is_empty() {
        return Ok(());
    }
    let dir = open(
        state_dir,
        OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
        Mode::empty(),
    )?;
    for b in &s.bundles {
        let same = match &b.cached {
            Some(e) => holds(&dir, b.file, &mut e.reader(), e.len()),
            None => holds(&dir, b.file, &mut &b.pem[..], b.pem.len() as u64),
        };
        if same {
            // Already there, byte for byte: a rename over it would only cost a flush (ext4
            // writes a file renamed over another out at once: ~20 ms for a system bundle).
            continue;
        }
        let pem = match &b.cached {
            Some(e) => std::borrow::Cow::Owned(e.read()?),
            None => std::borrow::Cow::Borrowed(&b.pem[..]),
        };
        let tmp = format!(".{}.tmp", b.file);
        match unlinkat(&dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(e.into()),
        }
        let fd = openat(
            &dir,
            tmp.as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )?;
        std::io::Write::write_all(&mut std::fs::File::from(fd), &pem)?;
        renameat(&dir, tmp.as_str(), &dir, b.file)?;
    }
    Ok(())
}

/// Whether `name` in `dir` is a regular file that holds exactly the `len` bytes of `want`.
/// Opened without following a link and only read: whatever the server left there, nothing
/// is written through it, and anything but the same bytes is replaced. Compared a piece at
/// a time: whole copies of a system bundle (220 KB) in fresh memory cost page faults and an
/// unmap at every launch.
fn holds(dir: &std::os::fd::OwnedFd, name: &str, want: &mut dyn std::io::Read, len: u64) -> bool {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    use std::io::Read;
    let Ok(fd) = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let mut f = std::fs::File::from(fd);
    match f.metadata() {
        Ok(m) if m.is_file() && m.len() == len => {}
        _ => return false,
    }
    // Two pieces of 32 KiB: a system bundle in 7 reads of each file.
    let mut buf = vec![0u8; 64 << 10];
    let (have, expected) = buf.split_at_mut(32 << 10);
    let mut left = len;
    loop {
        // One byte more than is left: a file that grew since its size was read differs.
        let ask = (left + 1).min(have.len() as u64) as usize;
        let n = match f.read(&mut have[..ask]) {
            Ok(0) => return left == 0,
            Ok(n) if n as u64 <= left => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => return false,
        };
        if want.read_exact(&mut expected[..n]).is_err() || have[..n] != expected[..n] {
            return false;
        }
        left -= n as u64;
    }
}

/// Where a setting was read: `FILE:LINE (KEY)`, shown escaped.
fn origin(file: &Path, line: usize, key: &str) -> String {
    format!(
        "{}:{line} ({})",
        crate::escape::path(file),
        crate::escape::terminal(key)
    )
}

/// Whether the variable `name`, set for mcpcell itself, is one the package settings read:
/// npm's `npm_config_*` in any case and `PREFIX` (where its global npmrc is), pip's `PIP_*`,
/// uv's `UV_*` and the CA variables. Each can choose a registry (whose host joins the
/// allowlist) or the CAs a server's package manager trusts. (A variable an npmrc names as
/// `${VAR}` does too; which ones depends on the user's files.)
pub fn reads_variable(name: &str) -> bool {
    npm::env_name_key(name).is_some()
        || name == "PREFIX"
        || name.starts_with("PIP_")
        || name.starts_with("UV_")
        || matches!(
            name,
            "SSL_CERT_FILE" | "SSL_CERT_DIR" | "REQUESTS_CA_BUNDLE" | "NODE_EXTRA_CA_CERTS"
        )
}

#[cfg(test)]
mod tests;
