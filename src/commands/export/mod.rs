//! `export`: a profile's policy in another tool's format.

mod kubernetes;
mod landlock;

pub use kubernetes::KubeError;

use crate::cli::{ExportArgs, ExportWhat, KubeArgs, SeccompExportArgs, SeccompFormat};
use crate::commands::Error;
use crate::escape;
use crate::plan;
use crate::profile::Loader;
use crate::seccomp::{Member, Qualified, oci};

/// Prints the document on stdout, what it cannot carry on stderr.
pub fn run(what: ExportWhat) -> Result<i32, Error> {
    match what {
        ExportWhat::Seccomp(args) => seccomp(&args),
        ExportWhat::Landlock(args) => landlock(&args),
        ExportWhat::Kubernetes(args) => kube(&args),
    }
}

/// Plans the profile as `run --dry-run` would (a command is optional), without starting
/// anything.
fn plan_for(args: &ExportArgs) -> Result<plan::Plan, plan::PlanError> {
    let mut req = args.sandbox.request(args.command.clone());
    req.dry_run = true;
    req.collect_gaps = true;
    req.command_optional = true;
    plan::build(&req, &Loader::from_env(), &plan::Host::probe()?)
}

fn seccomp(args: &SeccompExportArgs) -> Result<i32, Error> {
    if args.format == SeccompFormat::Bpf
        && crate::supervise::terminal::is_terminal(std::io::stdout())
    {
        return Err(oci::ExportError::BinaryToTerminal.into());
    }
    let plan = plan_for(&args.export)?;
    if args.format == SeccompFormat::Bpf {
        return seccomp_bpf(&plan);
    }
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
    let export = oci::export(&denied)?;
    for n in &export.notes {
        say!("mcpcell: note: {}", escape::terminal(n));
    }
    let text = serde_json::to_string_pretty(&export.document).unwrap_or_default();
    super::print(format!("{text}\n").as_bytes())?;
    Ok(0)
}

/// The program `run` attaches in a namespaced sandbox (the namespace-free tier adds rules
/// that need mcpcell's supervisor), as the kernel takes it: 8-byte `struct sock_filter`
/// records (code, jt, jf, k) in native byte order.
fn seccomp_bpf(plan: &plan::Plan) -> Result<i32, Error> {
    if !plan.observed.is_empty() {
        return Err(oci::ExportError::Observe.into());
    }
    let mut bytes = Vec::with_capacity(plan.seccomp.program.len() * 8);
    for ins in &plan.seccomp.program {
        bytes.extend_from_slice(&ins.code.to_ne_bytes());
        bytes.extend([ins.jt, ins.jf]);
        bytes.extend_from_slice(&ins.k.to_ne_bytes());
    }
    super::print(&bytes)?;
    Ok(0)
}

fn landlock(args: &ExportArgs) -> Result<i32, Error> {
    let plan = plan_for(args)?;
    let (doc, notes) = landlock::document(&plan);
    for n in &notes {
        say!("mcpcell: note: {}", escape::terminal(n));
    }
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    super::print(format!("{text}\n").as_bytes())?;
    Ok(0)
}

fn kube(args: &KubeArgs) -> Result<i32, Error> {
    let command = args
        .command
        .iter()
        .map(|a| {
            a.to_str()
                .map(str::to_string)
                .ok_or_else(|| KubeError::NotUtf8(a.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let profile = match &args.sandbox.profile {
        Some(p) => p.clone(),
        None => return Err(KubeError::NoProfile.into()),
    };
    let (profile, diags) = Loader::from_env()
        .load(&profile)
        .map_err(plan::PlanError::from)?;
    for d in &diags {
        say!("mcpcell: {}", escape::terminal(&d.to_string()));
    }
    let paths = |v: &[std::path::PathBuf]| v.iter().map(|p| p.display().to_string()).collect();
    let spec = kubernetes::Spec {
        profile: &profile,
        name: args.name.clone(),
        image: args.image.clone(),
        command,
        allow_read: paths(&args.sandbox.allow_read),
        allow_write: paths(&args.sandbox.allow_write),
        allow_exec: paths(&args.sandbox.allow_exec),
        allow_host: args.sandbox.allow_host.clone(),
        pass_env: args.sandbox.pass_env.clone(),
    };
    let out = kubernetes::build(&spec)?;
    for n in &out.notes {
        say!("mcpcell: note: {}", escape::terminal(n));
    }
    super::print(kubernetes::render(&out.objects)?.as_bytes())?;
    Ok(0)
}
