//! The one place errors are printed.

use std::error::Error;

use crate::escape;
use crate::profile::ProfileError;

/// Prints `error: …: cause: cause` on stderr (see [`error_text`]).
pub fn print_error(e: &(dyn Error + 'static)) {
    eprintln!("{}", error_text(e));
}

/// `mcpcell: error: MESSAGE: CAUSE: CAUSE`, every error of the chain in turn: each one says
/// only its own part and leaves its cause to `source()`, so none is repeated. Messages name
/// paths, hosts and config entries, so control characters in them are shown escaped, line
/// breaks included; only a profile's list of diagnostics (each one escaped on its own line)
/// keeps its line breaks.
fn error_text(e: &(dyn Error + 'static)) -> String {
    let chain = || std::iter::successors(Some(e), |&s| s.source());
    let msg = format!(
        "mcpcell: error: {}",
        chain()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(": ")
    );
    let multi_line = chain().any(|s| {
        matches!(
            s.downcast_ref::<ProfileError>(),
            Some(ProfileError::Invalid(_))
        )
    });
    if multi_line {
        escape::terminal_text(&msg).into_owned()
    } else {
        escape::terminal(&msg).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanError;
    use crate::profile::Origin;
    use crate::vars::VarError;

    #[test]
    fn every_cause_is_printed_once() {
        let e = PlanError::Var {
            origin: Origin::command_line("--x"),
            source: VarError::Unterminated,
        };
        assert_eq!(
            error_text(&e),
            "mcpcell: error: command line --x: unterminated variable reference: `${` without a closing `}`"
        );
        let e = PlanError::Cwd(std::io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(
            error_text(&e),
            "mcpcell: error: the current directory cannot be used: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let e = PlanError::AllowHost {
            entry: "x".into(),
            why: "`\u{1b}]0;x\u{7}` is not a valid host name\nmcpcell: forged".into(),
        };
        let text = error_text(&e);
        assert!(!text.contains(['\u{1b}', '\u{7}', '\n']), "{text}");
    }
}
