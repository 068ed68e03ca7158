//! `export`: a profile's policy in another tool's format.

mod landlock;

use crate::cli::{ExportArgs, ExportWhat};
use crate::escape;
use crate::exit::print_error;
use crate::plan;
use crate::profile::Loader;
use crate::seccomp::{Member, Qualified, oci};

pub fn run(what: ExportWhat) -> i32 {
    match what {
        ExportWhat::Seccomp(args) => seccomp(&args),
        ExportWhat::Landlock(args) => landlock(&args),
    }
}

/// Plans the profile as `run --dry-run` would (a command is optional), without starting
/// anything.
fn plan_for(args: &ExportArgs) -> Result<plan::Plan, plan::PlanError> {
    let mut req = args.sandbox.request(args.command.clone());
    req.dry_run = true;
    req.best_effort = true;
    req.no_command = true;
    plan::build(&req, &Loader::from_env())
}

fn seccomp(args: &ExportArgs) -> i32 {
    let plan = match plan_for(args) {
        Ok(p) => p,
        Err(e) => {
            print_error(&e);
            return e.exit_code();
        }
    };
    let denied: Vec<(Member, crate::seccomp::Action)> = plan
        .seccomp
        .denied
        .iter()
        .map(|d| {
            let m = Qualified::from_name(d.name)
                .map(Member::Qualified)
                .unwrap_or(Member::Syscall(d.name));
            (m, d.action)
        })
        .collect();
    let export = match oci::export(&denied) {
        Ok(e) => e,
        Err(e) => {
            print_error(&e);
            return 125;
        }
    };
    for n in &export.notes {
        eprintln!("mcpcell: note: {}", escape::terminal(n));
    }
    let text = serde_json::to_string_pretty(&export.document).unwrap_or_default();
    println!("{text}");
    0
}

fn landlock(args: &ExportArgs) -> i32 {
    let plan = match plan_for(args) {
        Ok(p) => p,
        Err(e) => {
            print_error(&e);
            return e.exit_code();
        }
    };
    let (doc, notes) = landlock::document(&plan);
    for n in &notes {
        eprintln!("mcpcell: note: {}", escape::terminal(n));
    }
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    0
}
