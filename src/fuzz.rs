//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpus
//! (`tests/fuzz_corpus.rs`): each takes arbitrary bytes and panics only on a bug.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::plan::{self, Request};
use crate::profile::Loader;

/// A scratch directory of this process for the profile under test.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("mcpcell-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    })
}

/// Profile text → parse, merge what it extends, validate, and plan a dry run of `/bin/true`
/// under it, as `mcpcell run --dry-run -p FILE -- true` does. Errors are expected; a panic,
/// a hang or a crash is a bug.
pub fn profile(data: &[u8]) {
    profile_at(&scratch().join("fuzzed.yaml"), data);
}

/// [`profile`], with the profile written to `path`.
pub fn profile_at(path: &Path, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    std::fs::write(path, text).expect("write the profile");
    let loader = Loader::with_dirs(Vec::new());
    let req = Request {
        profile: Some(path.to_string_lossy().into_owned()),
        command: vec![OsString::from("/bin/true")],
        collect_gaps: true,
        dry_run: true,
        ..Request::default()
    };
    let Ok(host) = plan::Host::probe() else {
        return;
    };
    if let Ok(p) = plan::build(&req, &loader, &host) {
        let _ = plan::report::text(&p);
        let _ = plan::report::json(&p);
    }
}

/// Client config text → wrap every server, read back, unwrap, compare. The first byte picks
/// the format: odd for TOML (Codex), even for JSON with comments (everyone else).
pub fn wrap(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    crate::commands::wrap::check_round_trip(text, first & 1 == 1);
}
