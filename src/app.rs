//! The entry point: parse the command line, run the command, print its error once.

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands;
use crate::exit;

/// Parses the command line and runs the command; returns the process exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version asked for: success. Anything else, a missing subcommand
            // included, is a usage error: 125, as in every command.
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Learn(args) => commands::learn::run(args),
        Command::Explain(args) => commands::explain::run(args).map_err(Into::into),
        Command::Check { profiles } => commands::run::check(&profiles),
        Command::Profiles { action } => commands::run::profiles(action),
        Command::Doctor { format } => commands::doctor::run(format),
        Command::Schema => commands::run::schema(),
        Command::Wrap(args) => commands::wrap::wrap(args).map_err(Into::into),
        Command::Unwrap(args) => commands::wrap::unwrap(args).map_err(Into::into),
        Command::Status(args) => commands::wrap::status(args).map_err(Into::into),
        Command::Export { what } => commands::export::run(what),
        Command::Proxy(args) => commands::proxy::run(args).map_err(Into::into),
        Command::Completions { shell } => commands::manual::completions(shell),
        Command::Man { dir } => commands::manual::man(dir.as_deref()),
        Command::Setup {
            what: crate::cli::SetupWhat::Apparmor(args),
        } => commands::setup::apparmor(args).map_err(Into::into),
    };
    result.unwrap_or_else(|e| {
        exit::print_error(e.inner());
        e.exit_code()
    })
}
