//! `run`, `check` and `profiles`.

use tracing::{info, warn};

use crate::cli::{Format, ProfilesAction, RunArgs};
use crate::commands::Error;
use crate::escape;
use crate::exit;
use crate::outfile::{OutFile, OutFileError};
use crate::plan::{self, report};
use crate::plural::plural;
use crate::profile::{Loader, ProfileError, Severity};

/// Resolves `--log-file` (its directory must exist).
pub fn log_target(s: &crate::cli::SuperviseArgs) -> Result<Option<OutFile>, LogFileError> {
    let Some(path) = &s.log_file else {
        return Ok(None);
    };
    OutFile::new(path).map(Some).map_err(LogFileError)
}

/// `--log-file` cannot be used: the cause says why.
#[derive(Debug, thiserror::Error)]
#[error("--log-file: the log file cannot be used (without --log-file, logs go to stderr)")]
pub struct LogFileError(#[source] OutFileError);

/// Refuses a log file the server could reach, then opens the log destination.
pub fn init_logging(
    s: &crate::cli::SuperviseArgs,
    file: Option<&OutFile>,
    plan: &plan::Plan,
) -> Result<(), Error> {
    if let Some(f) = file {
        plan.refuse_output("--log-file", f)?;
    }
    crate::logging::init(s.log_level, s.log_format, file).map_err(LogFileError)?;
    Ok(())
}

pub fn run(args: RunArgs) -> Result<i32, Error> {
    // Grown while mcpcell shares its table with nothing: the process making the sandbox's
    // namespaces below, and the supervisor's relay and proxy threads, share it later, and a
    // table grown while shared costs a grace period.
    crate::fdtable::grow(libc::STDERR_FILENO);
    // The sandbox's namespaces are made on another CPU while this one plans:
    // from here with a built-in profile named on the command line (none has mode `host`),
    // otherwise once the plan has loaded the profile (`Request::netns_ahead`).
    let builtin = !args.dry_run
        && args
            .sandbox
            .profile
            .as_deref()
            .is_some_and(|p| crate::profile::builtin::get(p).is_some());
    let early = builtin.then(crate::netns::Ahead::start).flatten();
    let log_file = log_target(&args.supervise)?;
    let mut req = args.sandbox.request(args.command.clone());
    req.start_anyway = args.supervise.best_effort;
    // A dry run shows what would not be enforced instead of stopping at it.
    req.collect_gaps = args.dry_run;
    req.dry_run = args.dry_run;
    // Asked once: where the early start declined (one CPU, no maker), so would the plan's.
    req.netns_ahead = !builtin;
    let loader = Loader::from_env();
    let host = plan::Host::probe()?;
    // Paths resolved while planning are not looked up again to prepare the sandbox; the
    // launch forgets them once the server has started.
    let _memo = crate::paths::Memo::start();
    let mut plan = plan::build(&req, &loader, &host)?;
    init_logging(&args.supervise, log_file.as_ref(), &plan)?;
    if plan.profile.inferred && !args.dry_run {
        // `chosen` quotes the command line, which a client config wrote.
        say!(
            "mcpcell: using profile `{}` ({}); pass -p to choose another",
            plan.profile.name,
            escape::terminal(&plan.profile.chosen)
        );
    }
    if args.dry_run {
        return dry_run(plan, args.format);
    }
    for w in &plan.warnings {
        warn!(target: "mcpcell", "{w}");
    }
    for n in &plan.notes {
        info!(target: "mcpcell", "{n}");
    }
    for g in &plan.not_enforced {
        warn!(target: "mcpcell", "--best-effort: NOT enforced: {}: {}", g.what, g.why);
    }
    // The proxy's refusal lines name the explain command for this sandbox.
    if let Some(p) = plan.network.proxy.as_mut() {
        p.explain = plan.explain_args.join(" ");
    }
    let plugins = crate::supervise::Plugins {
        stderr: Some(Box::new(crate::commands::hints::Seen::default())),
        observe: None,
        netns: early.or(plan.netns_ahead.take()),
    };
    let outcome = crate::supervise::launch(plan, args.supervise.stop_timeout(), plugins)?;
    Ok(outcome.code)
}

fn dry_run(mut plan: plan::Plan, format: Format) -> Result<i32, Error> {
    // A launch would find out by trying; a dry run asks the kernel in a throwaway child.
    let refused: Vec<String> = crate::kernel::probe_namespaces(plan.kernel.privileged)
        .into_iter()
        .filter(|p| !p.ok && plan.namespaces.kinds.contains(&p.name))
        .map(|p| format!("{}: {}", p.name, p.error.unwrap_or_default()))
        .collect();
    let mut refused_outright = false;
    if !refused.is_empty() {
        // The launch would switch to the namespace-free tier: show it, and what it loses.
        let why = format!("namespaces cannot be used here: {}", refused.join("; "));
        let tier = plan::tier::namespace_free(&plan::tier::Facts::of(&plan), &why);
        refused_outright = tier.losses.iter().any(|l| !l.acceptable);
        plan.not_enforced.extend(tier.gaps());
        plan.tier = Some(tier);
    }
    let out = match format {
        Format::Text => escape::terminal_text(&report::text(&plan)).into_owned(),
        Format::Json => report::json(&plan) + "\n",
    };
    super::print(out.as_bytes())?;
    Ok(
        if !refused_outright && (plan.not_enforced.is_empty() || plan.best_effort) {
            0
        } else {
            125
        },
    )
}

/// A profile that cannot even be found or read as asked (not an error inside a file, where a
/// parent named by `extends` is one of the file's diagnostics): a usage error, 125 as in
/// every command, where errors in a file are `check`'s answer, 1.
fn not_found(e: &ProfileError) -> bool {
    match e {
        // A file that was read but is not text, or too long for a profile: an error in the
        // file.
        ProfileError::Read { source, .. } => source.kind() != std::io::ErrorKind::InvalidData,
        ProfileError::NotFound { .. }
        | ProfileError::BadName { .. }
        | ProfileError::BadFileName { .. } => true,
        _ => false,
    }
}

/// Validates each profile; exits 1 when one has an error, 125 when one cannot be found.
pub fn check(specs: &[String]) -> Result<i32, Error> {
    let loader = Loader::from_env();
    let mut failed = false;
    let mut usage = false;
    let mut out = String::new();
    for spec in specs {
        // The name as given, on one line whatever it holds.
        let name = escape::terminal(spec);
        match loader.load(spec) {
            Ok((profile, diags)) => {
                for d in &diags {
                    out.push_str(&format!("{}\n", escape::terminal(&d.to_string())));
                }
                out.push_str(&format!(
                    "{name}: ok ({})\n",
                    escape::terminal(
                        &profile
                            .sources
                            .iter()
                            .map(|s| s.label())
                            .collect::<Vec<_>>()
                            .join(" <- ")
                    )
                ));
            }
            Err(ProfileError::Invalid(diags)) => {
                failed = true;
                for d in &diags {
                    out.push_str(&format!("{}\n", escape::terminal(&d.to_string())));
                }
                let n = diags
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .count();
                out.push_str(&format!("{name}: {}\n", plural(n, "error")));
            }
            Err(e) => {
                failed = true;
                usage |= not_found(&e);
                out.push_str(&format!("{}\n", escape::terminal(&exit::chain(&e))));
                out.push_str(&format!("{name}: 1 error\n"));
            }
        }
    }
    let out = escape::terminal_text(&out);
    super::print(out.as_bytes())?;
    Ok(match (usage, failed) {
        (true, _) => 125,
        (false, true) => 1,
        (false, false) => 0,
    })
}

/// Lists the profiles, or shows one (a profile that cannot be found is a usage error, 125).
pub fn profiles(action: Option<ProfilesAction>) -> Result<i32, Error> {
    let loader = Loader::from_env();
    match action.unwrap_or(ProfilesAction::List) {
        ProfilesAction::List => {
            let mut out = String::new();
            let list = loader.list();
            let width = list.iter().map(|l| l.name.len()).max().unwrap_or(4).max(4);
            for l in list {
                let shadow = if l.shadowed {
                    " (shadowed by an earlier one)"
                } else {
                    ""
                };
                out.push_str(&format!("{:<width$}  {}{shadow}\n", l.name, l.location));
                if let Some(d) = l.description {
                    let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
                    let d = escape::terminal(&d);
                    out.push_str(&format!("{:<width$}    {d}\n", ""));
                }
            }
            super::print(out.as_bytes())?;
            Ok(0)
        }
        ProfilesAction::Show { name } => {
            let src = loader.source(&name)?;
            let mut text = format!("# {}: {}\n", src.name, src.label());
            text.push_str(&escape::terminal_text(&src.text));
            if !text.ends_with('\n') {
                text.push('\n');
            }
            super::print(text.as_bytes())?;
            Ok(0)
        }
    }
}

/// The JSON Schema of the profile format, as the parser accepts it.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(crate::profile::RawProfile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

pub fn schema() -> Result<i32, Error> {
    super::print(schema_json().as_bytes())?;
    Ok(0)
}
