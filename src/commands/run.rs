//! `run`, `check` and `profiles`.

use std::error::Error;
use std::io::Write;

use tracing::{info, warn};

use crate::cli::{Format, ProfilesAction, RunArgs};
use crate::escape;
use crate::exit::print_error;
use crate::outfile::{OutFile, OutFileError};
use crate::plan::{self, Gap, report};
use crate::profile::{Loader, ProfileError, Severity};

/// Resolves `--log-file` (its directory must exist); on failure prints why and returns the
/// exit status.
pub fn log_target(s: &crate::cli::SuperviseArgs) -> Result<Option<OutFile>, i32> {
    let Some(path) = &s.log_file else {
        return Ok(None);
    };
    OutFile::new(path).map(Some).map_err(|e| {
        print_error(&LogFileError(e));
        125
    })
}

/// `--log-file` cannot be used: the cause says why.
#[derive(Debug, thiserror::Error)]
#[error("--log-file: the log file cannot be used (without --log-file, logs go to stderr)")]
struct LogFileError(#[source] OutFileError);

/// Refuses a log file the server could reach, then opens the log destination; on failure
/// prints why and returns the exit status.
pub fn init_logging(
    s: &crate::cli::SuperviseArgs,
    file: Option<&OutFile>,
    plan: &plan::Plan,
) -> Result<(), i32> {
    if let Some(f) = file {
        if let Err(e) = plan.refuse_output("--log-file", f) {
            print_error(&e);
            return Err(125);
        }
    }
    crate::logging::init(s.log_level, s.log_format, file).map_err(|e| {
        print_error(&LogFileError(e));
        125
    })
}

pub fn run(args: RunArgs) -> i32 {
    let log_file = match log_target(&args.supervise) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut req = args.sandbox.request(args.command.clone());
    // A dry run shows what would not be enforced instead of stopping at it.
    req.best_effort = args.supervise.best_effort || args.dry_run;
    req.dry_run = args.dry_run;
    let loader = Loader::from_env();
    let mut plan = match plan::build(&req, &loader) {
        Ok(p) => p,
        Err(e) => {
            print_error(&e);
            return e.exit_code();
        }
    };
    plan.best_effort = args.supervise.best_effort;
    if let Err(code) = init_logging(&args.supervise, log_file.as_ref(), &plan) {
        return code;
    }
    if plan.profile.inferred && !args.dry_run {
        // `chosen` quotes the command line, which a client config wrote.
        eprintln!(
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
    };
    match crate::supervise::launch(plan, args.supervise.stop_timeout(), plugins).map(|o| o.code) {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            e.exit_code()
        }
    }
}

fn dry_run(mut plan: plan::Plan, format: Format) -> i32 {
    // A launch would find out by trying; a dry run asks the kernel in a throwaway child.
    for probe in crate::kernel::probe_namespaces(plan.kernel.privileged) {
        if !probe.ok && plan.namespaces.kinds.contains(&probe.name) {
            plan.not_enforced.push(Gap {
                what: format!("the {} namespace", probe.name),
                why: format!(
                    "creating it failed here: {}",
                    probe.error.unwrap_or_default()
                ),
                fix: Some("see `mcpcell doctor`".into()),
            });
        }
    }
    let out = match format {
        Format::Text => escape::terminal_text(&report::text(&plan)).into_owned(),
        Format::Json => report::json(&plan) + "\n",
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    if plan.not_enforced.is_empty() || plan.best_effort {
        0
    } else {
        125
    }
}

/// A profile that cannot even be found or read as asked (not an error inside a file): a
/// usage error, 125 as in every command, where errors in a file are `check`'s answer, 1.
fn not_found(e: &ProfileError) -> bool {
    match e {
        ProfileError::NotFound { from, .. }
        | ProfileError::Read { from, .. }
        | ProfileError::BadName { from, .. }
        | ProfileError::BadFileName { from, .. } => from.is_none(),
        _ => false,
    }
}

pub fn check(specs: &[String]) -> i32 {
    let loader = Loader::from_env();
    let mut failed = false;
    let mut usage = false;
    let mut out = String::new();
    for spec in specs {
        match loader.load(spec) {
            Ok((profile, diags)) => {
                for d in &diags {
                    out.push_str(&format!("{}\n", escape::terminal(&d.to_string())));
                }
                out.push_str(&format!(
                    "{spec}: ok ({})\n",
                    profile
                        .sources
                        .iter()
                        .map(|s| s.label())
                        .collect::<Vec<_>>()
                        .join(" <- ")
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
                out.push_str(&format!(
                    "{spec}: {n} error{}\n",
                    if n == 1 { "" } else { "s" }
                ));
            }
            Err(e) => {
                failed = true;
                usage |= not_found(&e);
                out.push_str(&format!("{}\n", escape::terminal_text(&e.to_string())));
                let mut src = e.source();
                while let Some(s) = src {
                    let text = s.to_string();
                    out.push_str(&format!("  caused by: {}\n", escape::terminal(&text)));
                    src = s.source();
                }
                out.push_str(&format!("{spec}: 1 error\n"));
            }
        }
    }
    let out = escape::terminal_text(&out);
    let _ = std::io::stdout().write_all(out.as_bytes());
    match (usage, failed) {
        (true, _) => 125,
        (false, true) => 1,
        (false, false) => 0,
    }
}

pub fn profiles(action: Option<ProfilesAction>) -> i32 {
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
            let _ = std::io::stdout().write_all(out.as_bytes());
            0
        }
        ProfilesAction::Show { name } => match loader.source(&name) {
            Ok(src) => {
                let mut text = format!("# {}: {}\n", src.name, src.label());
                text.push_str(&escape::terminal_text(&src.text));
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                let _ = std::io::stdout().write_all(text.as_bytes());
                0
            }
            Err(e) => {
                print_error(&e);
                125
            }
        },
    }
}

/// The JSON Schema of the profile format, as the parser accepts it.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(crate::profile::RawProfile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

pub fn schema() -> i32 {
    let _ = std::io::stdout().write_all(schema_json().as_bytes());
    0
}
