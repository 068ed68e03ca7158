//! The working directory the client started mcpcell in. The server starts there (so that
//! relative paths mean what the client meant), but a directory is readable only when a
//! grant covers it: granting it by default would hand every server whatever directory its
//! client happens to run in (a project with its `.env`, or all of `$HOME`), and refusing to
//! start would break the many servers that never look at it. So mcpcell says so instead of
//! leaving the server to fail with a bare path.

use std::path::Path;

use super::fs::FsPlan;
use crate::escape;

/// The warning for a working directory no grant covers; `None` when one does, when it is
/// `/` (nothing is expected there), when it lies in the host's /tmp (the server starts in `/`
/// instead, and the plan says so), or while learning (files are observed, not restricted).
/// `home` is the user's home directory: a working directory that holds it (`$HOME` itself,
/// `/home`), or any top-level directory, is never offered as a grant, which would hand the
/// server every project's `.env`.
pub fn warning(
    cwd: &Path,
    real: Option<&Path>,
    fs: &FsPlan,
    observe: bool,
    home: Option<&Path>,
) -> Option<String> {
    let real = real?;
    if observe || real == Path::new("/") || fs.covers(real) || !fs.reachable_after_mounts(real) {
        return None;
    }
    let shown = escape::path(cwd);
    let word = escape::shell_word(cwd.as_os_str());
    let broad = real.components().count() <= 2
        || home.is_some_and(|h| h.starts_with(real) || h.starts_with(cwd));
    if broad {
        return Some(format!(
            "the working directory {shown} is not granted: the server starts there but cannot list or read it (nor relative paths under it); it holds your home directory or is a top-level directory, too much to grant a server: if it needs files, start it from its project's directory, or grant just the directories it needs"
        ));
    }
    Some(format!(
        "the working directory {shown} is not granted: the server starts there but cannot list or read it (nor relative paths under it); if it needs the directory, add --allow-read {word} (or --allow-write {word}), or start it from another directory"
    ))
}
