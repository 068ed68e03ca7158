//! The commands: one front-end per subcommand, above the launch pipeline. Each takes its
//! clap arguments from [`crate::cli`] and returns its exit status or an [`Error`], which
//! [`crate::app`] prints once, through [`crate::exit`]; the pipeline below (`profile`,
//! `plan`, `sandbox`, `supervise`) never imports from here.

pub(crate) mod doctor;
pub(crate) mod explain;
pub(crate) mod export;
pub(crate) mod hints;
pub(crate) mod learn;
pub(crate) mod manual;
pub(crate) mod proxy;
pub(crate) mod run;
pub(crate) mod setup;
pub(crate) mod wrap;

use thiserror::Error;

use crate::plan::PlanError;
use crate::profile::ProfileError;
use crate::supervise::LaunchError;

/// Why a command stopped. Each variant knows the exit status it ends the command with.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// `profiles show` of a profile that cannot be found or read.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error(transparent)]
    LogFile(#[from] run::LogFileError),
    #[error(transparent)]
    Explain(#[from] explain::ExplainError),
    #[error(transparent)]
    Learn(#[from] learn::LearnError),
    #[error(transparent)]
    Wrap(#[from] wrap::WrapError),
    #[error(transparent)]
    Export(#[from] crate::seccomp::oci::ExportError),
    #[error(transparent)]
    Proxy(#[from] proxy::ProxyError),
    #[error(transparent)]
    Manual(#[from] manual::ManualError),
    #[error(transparent)]
    Setup(#[from] setup::SetupError),
    #[error(transparent)]
    Kube(#[from] export::KubeError),
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// A command's output (a schema, an export, a report) could not be written whole.
#[derive(Debug, thiserror::Error)]
#[error("could not write the output")]
pub struct OutputError(#[source] std::io::Error);

/// Writes a command's output to stdout. A reader that went away (`| head`) ends it quietly,
/// as for any Unix tool; any other failure (a full disk, a closed descriptor) is an error, so
/// that a truncated export or schema is never taken for a whole one.
pub fn print(bytes: &[u8]) -> Result<(), OutputError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(OutputError(e)),
        _ => Ok(()),
    }
}

impl Error {
    /// The exit status of the command that failed with this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Plan(e) => e.exit_code(),
            Error::Launch(e) => e.exit_code(),
            Error::Explain(e) => e.exit_code(),
            // A profile that cannot be found or read, a config file wrap cannot use: usage
            // errors, 125 as in every command (1 is for negative answers).
            Error::Profile(_)
            | Error::Wrap(_)
            | Error::LogFile(_)
            | Error::Learn(_)
            | Error::Export(_)
            | Error::Proxy(_)
            | Error::Manual(_)
            | Error::Setup(_)
            | Error::Kube(_)
            | Error::Output(_) => 125,
        }
    }

    /// The error to print: the wrapped one itself, so that the printer sees its type (a
    /// transparent wrapper would show only its causes).
    pub fn inner(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            Error::Plan(e) => e,
            Error::Launch(e) => e,
            Error::Profile(e) => e,
            Error::LogFile(e) => e,
            Error::Explain(explain::ExplainError::Plan(e)) => e,
            Error::Explain(e) => e,
            Error::Learn(e) => e,
            Error::Wrap(e) => e,
            Error::Export(e) => e,
            Error::Proxy(proxy::ProxyError::Plan(e)) => e,
            Error::Proxy(e) => e,
            Error::Manual(e) => e,
            Error::Setup(e) => e,
            Error::Kube(e) => e,
            Error::Output(e) => e,
        }
    }
}
