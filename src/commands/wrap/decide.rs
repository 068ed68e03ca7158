//! Deciding what happens to each entry of one file, carrying it out through the format's
//! editor, and checking the result: the rewritten text is read back, and every entry must
//! say exactly what was meant (wrapped around the same command and arguments, or restored to
//! them) while every other entry reads as before.

use std::collections::BTreeMap;
use std::ffi::OsString;

use super::model::{Edit, Kind, Server, Stdio, run_prefix, valid_env_name};
use super::pin::{self, Caches, Package, Version};
use super::{Loaded, Outcome, WrapError, format_error};
use crate::infer::Recognition;
use crate::plan::{Request, choose_profile};
use crate::profile::Loader;

/// `--pin` as given: every unpinned package, or named servers with or without a version.
#[derive(Debug, Default)]
pub struct PinRequest {
    all: bool,
    named: BTreeMap<String, Option<String>>,
}

impl PinRequest {
    /// `names` are the servers of the files wrapped: a value that is one of them names that
    /// server (a config may name a server `memory=9.9.9`), unless it also reads as another
    /// one's `SERVER=VERSION`, which is refused as ambiguous.
    pub fn parse(values: &[String], names: &[&str]) -> Result<PinRequest, WrapError> {
        let mut out = PinRequest::default();
        for v in values {
            let exact = names.contains(&v.as_str());
            match v.split_once('=') {
                _ if v.is_empty() => out.all = true,
                Some((server, _)) if exact && names.contains(&server) => {
                    return Err(WrapError::Pin(format!(
                        "{}: names the server `{v}`, and also `{server}` at a version; rename one of them in the config",
                        crate::escape::shell_word(std::ffi::OsStr::new(v))
                    )));
                }
                _ if exact => {
                    out.named.insert(v.clone(), None);
                }
                // `memory=9.9.9=1.0.0`: the name that holds `=`, at a version.
                _ if v.rsplit_once('=').is_some_and(|(s, ver)| {
                    names.contains(&s) && !ver.is_empty() && s.contains('=')
                }) =>
                {
                    let (server, version) = v.rsplit_once('=').unwrap_or_default();
                    out.named
                        .insert(server.to_string(), Some(version.to_string()));
                }
                Some((server, version)) if !server.is_empty() && !version.is_empty() => {
                    out.named
                        .insert(server.to_string(), Some(version.to_string()));
                }
                Some(_) => return Err(WrapError::Pin(format!("{v}: expected SERVER=VERSION"))),
                None => {
                    out.named.insert(v.clone(), None);
                }
            }
        }
        Ok(out)
    }

    pub fn named(&self) -> impl Iterator<Item = &str> {
        self.named.keys().map(String::as_str)
    }
}

/// Everything the wrap decisions depend on besides the file.
pub struct Context<'a> {
    pub launcher: &'a str,
    pub only: &'a [String],
    pub profiles: &'a [(String, String)],
    pub pins: &'a PinRequest,
    pub loader: &'a Loader,
    pub caches: &'a Caches,
}

fn selected(only: &[String], s: &Server) -> bool {
    only.is_empty() || only.contains(&s.name)
}

/// Whether the file's servers are in more than one section.
fn sections_differ(l: &Loaded) -> bool {
    l.servers.iter().any(|o| o.section != l.servers[0].section)
}

/// `NAME` padded, with the section when the file has more than one (`many`).
fn label(many: bool, s: &Server) -> String {
    if many {
        format!("{} ({})", s.name, s.section)
    } else {
        s.name.clone()
    }
}

/// The pin to apply to the package a server runs, or the warning about it.
fn pin_decision(
    name: &str,
    pkg: &Package,
    ctx: &Context<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<String>, WrapError> {
    let floating = matches!(pkg.version, Version::Floating(_));
    let target = match ctx.pins.named.get(name) {
        Some(Some(v)) if !pkg.valid_version(v) => {
            return Err(WrapError::Pin(format!(
                "{name}={v}: `{v}` is not an exact version of {}",
                pkg.name
            )));
        }
        Some(Some(v)) => Some(v.clone()),
        Some(None) => match ctx.caches.cached_version(pkg) {
            Some((v, _)) => Some(v),
            None => return Err(WrapError::Pin(not_cached(name, pkg, ctx))),
        },
        None if ctx.pins.all && floating => match ctx.caches.cached_version(pkg) {
            Some((v, _)) => Some(v),
            None => {
                warnings.push(not_cached(name, pkg, ctx));
                return Ok(None);
            }
        },
        None => None,
    };
    if let Some(v) = target {
        return Ok((pkg.version != Version::Exact(v.clone())).then_some(v));
    }
    if let Version::Floating(how) = &pkg.version {
        let cached = ctx
            .caches
            .cached_version(pkg)
            .map(|(v, _)| format!(" (the local cache has {v})"))
            .unwrap_or_default();
        warnings.push(format!(
            "`{name}` runs {} through {} without an exact version ({how}): each start may run whatever the registry serves then; pin it with --pin{}{cached} or --pin{}",
            pkg.name,
            pkg.runner,
            pin_arg(name, ""),
            pin_arg(name, "=VERSION")
        ));
    }
    Ok(None)
}

fn not_cached(name: &str, pkg: &Package, ctx: &Context<'_>) -> String {
    let looked = ctx
        .caches
        .searched(pkg.registry)
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    // mcpcell's state directories hold what servers ran under it, but the servers write
    // them: a version found there would be one a server chose.
    let word = crate::escape::shell_word(std::ffi::OsStr::new(&pkg.name));
    let newest = match pkg.registry {
        super::pin::Registry::Npm => format!("npm view {word} version"),
        super::pin::Registry::PyPi => format!("pip index versions {word}"),
    };
    format!(
        "{name}: no version of {} in the local cache (looked in {looked}; not in mcpcell's state directories, which the servers write); give one with --pin{} (`{newest}` names the newest)",
        pkg.name,
        pin_arg(name, "=VERSION")
    )
}

/// `--pin`'s argument for the server `name` (the config's text) as a word to paste into a
/// shell: a name like `x; touch f #` stays one argument, and one that starts with `-` is
/// joined to the option (`--pin=-x`), which would otherwise read it as an option.
fn pin_arg(name: &str, suffix: &str) -> String {
    let word = crate::escape::shell_word(std::ffi::OsStr::new(&format!("{name}{suffix}")));
    match name.starts_with('-') {
        true => format!("={word}"),
        false => format!(" {word}"),
    }
}

fn with_pins(args: &[String], pins: &[(usize, String)]) -> Vec<String> {
    let mut out = args.to_vec();
    for (i, v) in pins {
        out[*i] = v.clone();
    }
    out
}

/// The wrap decisions for one file.
pub fn wrap_file(l: Loaded, ctx: &Context<'_>) -> Result<Outcome, WrapError> {
    let mut edits = Vec::new();
    let mut expect: BTreeMap<usize, (String, Vec<String>)> = BTreeMap::new();
    let mut report = Vec::new();
    let mut warnings = Vec::new();
    let mut unsandboxed = Vec::new();
    let many = sections_differ(&l);
    for (i, s) in l.servers.iter().enumerate() {
        if !selected(ctx.only, s) {
            continue;
        }
        let who = label(many, s);
        if ctx.pins.named.contains_key(&s.name) && !matches!(s.kind, Kind::Stdio(_)) {
            return Err(WrapError::Pin(format!(
                "{}: `{}` is not a server the client starts; there is nothing to pin",
                s.name, s.name
            )));
        }
        let st = match &s.kind {
            Kind::Remote(how) => {
                report.push(format!("{who}: skipped, remote ({how})"));
                continue;
            }
            Kind::Unsupported(why) => {
                report.push(format!("{who}: CANNOT BE WRAPPED: {why}"));
                unsandboxed.push(Unsandboxed {
                    server: who.clone(),
                    why: why.clone(),
                });
                continue;
            }
            Kind::Stdio(st) => st,
        };
        let (command, args) = st.inner(ctx.launcher);
        let mut pins = Vec::new();
        match pin::find(&command, &args) {
            Some(pkg) => {
                if let Some(v) = pin_decision(&s.name, &pkg, ctx, &mut warnings)? {
                    report.push(format!("{who}: pins {} to {v}", pkg.name));
                    pins.push((pkg.index, pkg.pinned_arg(&v)));
                }
            }
            None if ctx.pins.named.contains_key(&s.name) => {
                return Err(WrapError::Pin(format!(
                    "{}: `{}` does not run a package through npx, uvx or pipx; there is nothing to pin",
                    s.name, s.name
                )));
            }
            None => {}
        }
        let inner_args = with_pins(&args, &pins);
        if let Some(why) = super::status::impostor(&st.command, ctx.launcher) {
            // Wrapping it again would sandbox that program too, but what it is and which
            // of its arguments run the server is not for wrap to guess.
            report.push(format!(
                "{who}: NOT sandboxed, left as it is: {why}; review it"
            ));
            warnings.push(format!("`{}`: {why}", s.name));
            continue;
        }
        if let Some(w) = st.wrapped(ctx.launcher) {
            let profile = w.profile.clone().unwrap_or_else(|| "default".into());
            let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
            let weak =
                super::audit::weakenings(&w.audited(), ctx.loader, home.as_deref(), &st.own_env());
            if weak.is_empty() {
                report.push(format!("{who}: already wrapped (profile `{profile}`)"));
            } else {
                report.push(format!(
                    "{who}: already wrapped (profile `{profile}`), but WEAKENED: {}",
                    weak.join("; ")
                ));
                warnings.push(format!(
                    "`{}` is wrapped in a way that weakens the sandbox ({}); review the entry, or unwrap it and wrap it again",
                    s.name,
                    weak.join("; ")
                ));
            }
            if st.client_sandbox {
                warnings.push(nested_sandbox(&s.name));
            }
            if let Some((_, p)) = ctx.profiles.iter().find(|(n, _)| *n == s.name) {
                if *p != profile {
                    warnings.push(format!(
                        "`{}` is already wrapped with profile `{profile}`, not `{p}`; unwrap it first to change the profile",
                        s.name
                    ));
                }
            }
            if !pins.is_empty() {
                let offset = w.command_index + 1;
                let shifted = pins.iter().map(|(j, v)| (j + offset, v.clone())).collect();
                edits.push((i, Edit::Pin(shifted)));
                expect.insert(i, (command, inner_args));
            }
            continue;
        }
        if super::model::is_launcher(&st.command, ctx.launcher) {
            // mcpcell, but not in the form wrap writes (no `run ... --`): what it runs and
            // with which options is not for wrap to guess, nor to wrap a second time.
            report.push(format!(
                "{who}: runs mcpcell, but not as `run [OPTIONS] -- COMMAND`; left as it is: review it"
            ));
            warnings.push(format!(
                "`{}` runs mcpcell in a form wrap does not recognise ({}); check its options by hand",
                s.name,
                st.args.as_deref().unwrap_or_default().join(" ")
            ));
            continue;
        }
        for w in &st.warnings {
            warnings.push(format!("`{}`: {w}", s.name));
        }
        let (profile, why) = profile_for(s, &command, &args, ctx);
        let mut pass = Vec::new();
        let mut options = Vec::new();
        let mut env = st.env.clone();
        if let Some(file) = &st.env_file {
            match super::fields::env_file_names(file, st.cwd.as_deref()) {
                Ok(names) => {
                    for n in names {
                        if !env.contains(&n) {
                            env.push(n);
                        }
                    }
                }
                Err(why) => warnings.push(format!(
                    "`{}` loads variables from the envFile `{file}`, which {why}; mcpcell passes on only the variables it knows by name: add theirs with --pass-env in the entry, or to the profile's env.pass",
                    s.name
                )),
            }
        }
        if let Some(cwd) = &st.cwd {
            let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
            match super::fields::cwd_grant(cwd, home.as_deref()) {
                Ok(()) => {
                    options.push("--allow-read".to_string());
                    options.push(cwd.clone());
                }
                Err(why) => warnings.push(format!(
                    "`{}` runs in `{cwd}` (its cwd), which mcpcell does not grant: {why}; the profile alone decides what it may read there",
                    s.name
                )),
            }
        }
        if st.client_sandbox {
            warnings.push(nested_sandbox(&s.name));
        }
        for name in &env {
            if valid_env_name(name) {
                // The client sets the entry's env for the command it starts: mcpcell, now.
                if let Some(why) = super::audit::sets_for_mcpcell(name) {
                    warnings.push(format!(
                        "`{}`: {why} (wrap --check calls the entry WEAKENED): set it in the profile's env.set instead, or take it out of the entry",
                        s.name
                    ));
                }
                pass.push(name.clone());
            } else {
                warnings.push(format!(
                    "`{}`: `{name}` in its env block is not a variable name mcpcell can pass; it is left out",
                    s.name
                ));
            }
        }
        let passes = if pass.is_empty() {
            String::new()
        } else {
            format!("; passes {}", pass.join(", "))
        };
        let grants = match st.cwd.as_deref() {
            Some(cwd) if !options.is_empty() => format!("; may read its cwd {cwd}"),
            _ => String::new(),
        };
        report.push(format!(
            "{who}: wrap with profile `{profile}` ({why}){passes}{grants}"
        ));
        let mut prefix = run_prefix(&profile, &pass, st.args.is_none());
        let end = prefix.len() - 1;
        prefix.splice(end..end, options);
        edits.push((
            i,
            Edit::Wrap {
                launcher: ctx.launcher.to_string(),
                prefix,
                pins,
            },
        ));
        expect.insert(i, (command, inner_args));
    }
    let new = rewrite_checked(&l, &edits, |i, before, after| {
        let Kind::Stdio(after) = &after.kind else {
            return Err("not a stdio server".into());
        };
        let Some(want) = expect.get(&i) else {
            return Ok(before == after);
        };
        let ok = after.wrapped(ctx.launcher).is_some() && after.inner(ctx.launcher) == *want;
        Ok(ok)
    })?;
    Ok(Outcome {
        loaded: l,
        new,
        report,
        warnings,
        unsandboxed,
    })
}

/// An entry mcpcell cannot wrap: its label and why. Its server runs without mcpcell.
#[derive(Debug, Clone)]
pub struct Unsandboxed {
    pub server: String,
    pub why: String,
}

fn nested_sandbox(name: &str) -> String {
    format!(
        "`{name}` has \"sandboxEnabled\": true: VS Code runs it in a sandbox of its own, inside which mcpcell cannot create the namespaces it needs and refuses to start the server; set \"sandboxEnabled\": false for this entry (mcpcell is its sandbox)"
    )
}

fn profile_for(s: &Server, command: &str, args: &[String], ctx: &Context<'_>) -> (String, String) {
    let given = ctx
        .profiles
        .iter()
        .find(|(n, _)| *n == s.name)
        .map(|(_, p)| p.clone());
    let mut argv = vec![OsString::from(command)];
    argv.extend(args.iter().map(OsString::from));
    let recognised = crate::infer::recognise(&argv);
    let req = Request {
        profile: given.clone(),
        command: argv,
        ..Request::default()
    };
    let (profile, why, inferred) = choose_profile(&req, ctx.loader);
    let why = match recognised {
        _ if given.is_some() || inferred => why,
        Recognition::Doubtful { .. } => why,
        Recognition::Known(i) => format!(
            "{} recognised, but there is no `{}` profile; the default applies",
            i.package, i.profile
        ),
        Recognition::Unknown => "no known MCP server recognised in the command".into(),
    };
    (profile, why)
}

/// The unwrap decisions for one file.
pub fn unwrap_file(l: Loaded, only: &[String], launcher: &str) -> Result<Outcome, WrapError> {
    let mut edits = Vec::new();
    let mut expect: BTreeMap<usize, (String, Vec<String>)> = BTreeMap::new();
    let mut report = Vec::new();
    let many = sections_differ(&l);
    for (i, s) in l.servers.iter().enumerate() {
        if !selected(only, s) {
            continue;
        }
        let who = label(many, s);
        match &s.kind {
            Kind::Stdio(st) => match st.wrapped(launcher) {
                Some(w) => {
                    report.push(format!("{who}: unwrap (runs {} again)", w.command));
                    edits.push((i, Edit::Unwrap));
                    expect.insert(i, (w.command, w.args));
                }
                None => report.push(format!("{who}: not wrapped")),
            },
            Kind::Remote(how) => report.push(format!("{who}: skipped, remote ({how})")),
            Kind::Unsupported(why) => {
                report.push(format!("{who}: not wrapped, and cannot be: {why}"))
            }
        }
    }
    let new = rewrite_checked(&l, &edits, |i, before, after| {
        let Kind::Stdio(after) = &after.kind else {
            return Err("not a stdio server".into());
        };
        Ok(match expect.get(&i) {
            Some(want) => {
                after.wrapped(launcher).is_none()
                    && (
                        after.command.clone(),
                        after.args.clone().unwrap_or_default(),
                    ) == *want
            }
            None => before == after,
        })
    })?;
    Ok(Outcome {
        loaded: l,
        new,
        report,
        warnings: vec![],
        unsandboxed: vec![],
    })
}

/// Rewrites the text and reads it back: the same entries, in the same order, each edited one
/// as `check` wants it and every other one unchanged.
fn rewrite_checked(
    l: &Loaded,
    edits: &[(usize, Edit)],
    check: impl Fn(usize, &Stdio, &Server) -> Result<bool, String>,
) -> Result<String, WrapError> {
    if edits.is_empty() {
        return Ok(l.text.clone());
    }
    let new = l
        .format
        .rewrite(&l.text, edits)
        .map_err(|e| format_error(&l.path, l.format, e))?;
    let verify = |why: String| WrapError::Verify {
        path: l.path.clone(),
        why,
    };
    let (_, after) = l
        .format
        .read(&new)
        .map_err(|e| verify(format!("it no longer parses: {e}")))?;
    if after.len() != l.servers.len() {
        return Err(verify("the number of servers changed".into()));
    }
    for (i, (b, a)) in l.servers.iter().zip(&after).enumerate() {
        if b.name != a.name || b.section != a.section {
            return Err(verify(format!("entry `{}` moved", b.name)));
        }
        let ok = match &b.kind {
            Kind::Stdio(before) => {
                check(i, before, a).map_err(|w| verify(format!("`{}`: {w}", b.name)))?
            }
            _ => b == a,
        };
        if !ok {
            return Err(verify(format!("`{}` does not read as intended", b.name)));
        }
    }
    Ok(new)
}
