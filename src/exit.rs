//! The one place errors are printed.

use std::error::Error;

use crate::escape;
use crate::profile::ProfileError;

/// Prints `error: …: cause: cause` on stderr. Messages name paths, hosts and config entries,
/// so control characters in them are shown escaped, line breaks included; only a profile's
/// list of diagnostics (each one escaped on its own line) and the list of what the
/// namespace-free tier cannot keep (mcpcell's own text) keep their line breaks.
pub fn print_error(e: &(dyn Error + 'static)) {
    let mut msg = format!("mcpcell: error: {e}");
    let mut multi_line = false;
    let mut src: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(s) = src {
        multi_line |= matches!(
            s.downcast_ref::<ProfileError>(),
            Some(ProfileError::Invalid(_))
        ) || matches!(
            s.downcast_ref::<crate::supervise::LaunchError>(),
            Some(crate::supervise::LaunchError::Tier(_))
        );
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(&format!(": {text}"));
        }
        src = s.source();
    }
    let shown = if multi_line {
        escape::terminal_text(&msg)
    } else {
        escape::terminal(&msg)
    };
    eprintln!("{shown}");
}
