//! `mcpcell explain`: does a profile let the server use this path, host, syscall or
//! variable, and which rule decides it. The answers come from the same plan `run` enforces:
//! [`target`] parses what is asked, [`verdict`] answers it, and this file renders the answers.

mod target;
mod verdict;

use std::ffi::OsString;

use serde::Serialize;
use thiserror::Error;

use crate::cli::{ExplainArgs, Format};
use crate::plan::{self, Plan, PlanError};
use crate::profile::Loader;

pub use target::{Target, TargetError, parse_target};
pub use verdict::{Verdict, VerdictError, verdict};

/// Why `mcpcell explain` could not answer.
#[derive(Debug, Error)]
pub enum ExplainError {
    #[error("the current directory cannot be used")]
    Cwd(#[source] std::io::Error),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Verdict(#[from] VerdictError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Output(#[from] crate::commands::OutputError),
}

impl ExplainError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ExplainError::Plan(e) => e.exit_code(),
            _ => 125,
        }
    }
}

fn render_text(plan: &Plan, verdicts: &[Verdict]) -> String {
    // Each value on one line, whatever it holds (a path, a link's target, a profile's
    // words): it cannot start a line of its own.
    let one = |s: &str| crate::escape::terminal(s).into_owned();
    let mut out = format!(
        "profile {} ({})\n",
        one(&plan.profile.name),
        one(&plan.profile.sources.join(" <- "))
    );
    for g in &plan.not_enforced {
        out.push_str(&format!(
            "note: not enforceable here, so `run` refuses to start without --best-effort: {}: {}\n",
            one(&g.what),
            one(&g.why)
        ));
    }
    for v in verdicts {
        out.push_str(&format!(
            "\n{} {}\n",
            if v.allowed { "ALLOWED" } else { "DENIED " },
            one(&v.target)
        ));
        for w in &v.why {
            out.push_str(&format!("  - {}\n", one(w)));
        }
        if let Some(f) = &v.fix {
            out.push_str(&format!("  to change it: {}\n", one(f)));
        }
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    profile: &'a str,
    sources: &'a [String],
    not_enforced: &'a [plan::Gap],
    verdicts: &'a [Verdict],
}

/// Answers every target; exits 1 when one of them is denied.
pub fn run(args: ExplainArgs) -> Result<i32, ExplainError> {
    let cwd = std::env::current_dir().map_err(ExplainError::Cwd)?;
    let home = std::env::var("HOME").ok();
    let mut targets = Vec::new();
    for t in &args.targets {
        targets.push((t.clone(), parse_target(t, home.as_deref(), &cwd)?));
    }
    let command: Vec<OsString> = args.command.clone();
    let mut req = args.sandbox.request(command);
    req.dry_run = true;
    req.collect_gaps = true;
    req.command_optional = true;
    let host = plan::Host::probe()?;
    let plan = plan::build(&req, &Loader::from_env(), &host)?;
    let mut verdicts = Vec::new();
    for (text, t) in &targets {
        verdicts.push(verdict(&plan, text, t)?);
    }
    let out = match args.format {
        Format::Text => crate::escape::terminal_text(&render_text(&plan, &verdicts)).into_owned(),
        Format::Json => {
            serde_json::to_string_pretty(&JsonReport {
                profile: &plan.profile.name,
                sources: &plan.profile.sources,
                not_enforced: &plan.not_enforced,
                verdicts: &verdicts,
            })
            .unwrap_or_default()
                + "\n"
        }
    };
    crate::commands::print(out.as_bytes())?;
    Ok(i32::from(verdicts.iter().any(|v| !v.allowed)))
}
