//! The one place errors are printed.

use std::error::Error;

use crate::escape;
use crate::plan::PlanError;
use crate::profile::ProfileError;

/// The error and each of its causes, in turn. Each error says only its own part and leaves
/// its cause to `source()` (none repeats its cause in its message), so every one is shown.
fn parts<'a>(e: &'a (dyn Error + 'static)) -> Vec<(&'a (dyn Error + 'static), String)> {
    std::iter::successors(Some(e), |&s| s.source())
        .map(|s| (s, s.to_string()))
        .collect()
}

/// `message: cause: cause`, unescaped: for callers that escape the whole text themselves.
pub fn chain(e: &(dyn Error + 'static)) -> String {
    parts(e)
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Text whose line breaks are kept: a profile's list of diagnostics (one per line, each
/// escaped on its own), and the list of what the namespace-free tier cannot keep (mcpcell's
/// own words, one loss per line).
fn keeps_line_breaks(e: &(dyn Error + 'static)) -> bool {
    if matches!(
        e.downcast_ref::<crate::supervise::LaunchError>(),
        Some(crate::supervise::LaunchError::Tier(_))
    ) || matches!(
        e.downcast_ref::<PlanError>(),
        Some(PlanError::NotEnforceable(_))
    ) {
        return true;
    }
    let profile = e.downcast_ref::<ProfileError>().or_else(|| {
        // `PlanError::Profile` is transparent: its chain starts below the `ProfileError`.
        match e.downcast_ref::<PlanError>() {
            Some(PlanError::Profile(p)) => Some(p),
            _ => None,
        }
    });
    matches!(profile, Some(ProfileError::Invalid(_)))
}

/// Prints `mcpcell: error: …: cause: cause` on stderr. Messages name paths, hosts and config
/// entries, so control characters in them are shown escaped, line breaks included; only a
/// profile's list of diagnostics (each one escaped on its own line) keeps its line breaks,
/// and only within that list.
pub fn print_error(e: &(dyn Error + 'static)) {
    say!("{}", render(e));
}

fn render(e: &(dyn Error + 'static)) -> String {
    let shown: Vec<String> = parts(e)
        .into_iter()
        .map(|(s, text)| {
            if keeps_line_breaks(s) {
                escape::terminal_text(&text).into_owned()
            } else {
                escape::terminal(&text).into_owned()
            }
        })
        .collect();
    format!("mcpcell: error: {}", shown.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message that quotes a config file, above a profile's diagnostics.
    #[derive(Debug, thiserror::Error)]
    #[error("--profile {0}: failed to find the profile")]
    struct Outer(String, #[source] ProfileError);

    fn invalid_profile() -> ProfileError {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("bad.yaml");
        std::fs::write(&p, "syscalls:\n  deny: [\"a\\nb\", ptrce]\n").unwrap();
        crate::profile::Loader::from_env()
            .load(p.to_str().unwrap())
            .map(|_| ())
            .expect_err("an invalid profile")
    }

    #[test]
    fn a_list_of_gaps_keeps_one_line_a_gap() {
        let gap = |what: &str, fix: Option<&str>| crate::plan::Gap {
            what: what.into(),
            why: "not here".into(),
            fix: fix.map(String::from),
        };
        let e = PlanError::NotEnforceable(vec![
            gap("limits.memory", Some("mount /srv/a\nmcpcell: forged")),
            gap("limits.processes", None),
        ]);
        let shown = render(&e);
        // The heading, a line a gap, the way out: the line break in a gap is shown escaped.
        assert_eq!(shown.lines().count(), 4, "{shown}");
        assert!(
            shown.contains("\n  - limits.memory: not here (mount /srv/a\\x0amcpcell: forged)\n"),
            "{shown}"
        );
        assert!(!shown.contains("\\x0a  - "), "{shown}");
    }

    #[test]
    fn only_a_diagnostic_list_keeps_its_line_breaks() {
        let inner = invalid_profile();
        assert!(matches!(inner, ProfileError::Invalid(ref d) if d.len() == 2));
        let shown = render(&inner);
        assert_eq!(shown.lines().count(), 2, "{shown}");
        assert!(shown.contains(r"a\x0ab"), "{shown}");

        let e = Outer("srv\nmcpcell: error: forged=bad".into(), inner);
        // The raw chain carries the config's line break ...
        assert!(chain(&e).contains("srv\nmcpcell: error: forged"));
        // ... which is shown escaped; the diagnostics below keep one line each.
        let shown = render(&e);
        assert!(shown.starts_with(r"mcpcell: error: --profile srv\x0amcpcell: error: forged=bad: failed to find the profile: "), "{shown}");
        assert_eq!(shown.lines().count(), 2, "{shown}");
        assert!(
            !shown
                .lines()
                .any(|l| l.starts_with("mcpcell: error: forged"))
        );
    }

    #[test]
    fn every_cause_is_shown_once() {
        let e = PlanError::Var {
            origin: crate::profile::Origin::command_line("--x"),
            source: crate::vars::VarError::Unterminated,
        };
        assert_eq!(
            render(&e),
            "mcpcell: error: command line --x: unterminated variable reference: `${` without a closing `}`"
        );
        let e = PlanError::Cwd(std::io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(
            chain(&e),
            "the current directory cannot be used: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let e = PlanError::AllowHost(crate::hostspec::HostSpecError::HostName {
            entry: "\u{1b}]0;x\u{7}".into(),
            host: "x\nmcpcell: forged".into(),
        });
        let text = render(&e);
        assert!(!text.contains(['\u{1b}', '\u{7}', '\n']), "{text}");
    }
}
