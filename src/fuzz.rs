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
/// the format: odd for TOML (Codex, Mistral Vibe), even with bit 1 set for YAML (Continue,
/// Goose, fast-agent), otherwise JSON with comments (everyone else).
pub fn wrap(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = match first & 3 {
        1 | 3 => 1,
        2 => 2,
        _ => 0,
    };
    crate::commands::wrap::check_round_trip(text, format);
}

/// A server's stderr → the hints mcpcell takes from it, line by line while the server runs
/// and at its exit, judged against the built-in `default` profile's plan for `/bin/true`.
/// The server writes what it likes there, and a panic would abort mcpcell with its
/// sandbox: any panic is a bug.
pub fn stderr(data: &[u8]) {
    thread_local! {
        static PLAN: Option<plan::Plan> = {
            let req = Request {
                profile: Some("default".into()),
                command: vec![OsString::from("/bin/true")],
                dry_run: true,
                ..Request::default()
            };
            plan::Host::probe()
                .ok()
                .and_then(|host| plan::build(&req, &Loader::with_dirs(Vec::new()), &host).ok())
        };
    }
    let text = String::from_utf8_lossy(data);
    PLAN.with(|p| {
        let Some(plan) = p else {
            return;
        };
        let mut seen = crate::commands::hints::Seen::default();
        for line in text.split('\n') {
            seen.line(line);
            let _ = seen.live(plan, std::time::Instant::now());
        }
        let _ = seen.report(plan, 1);
        let _ = seen.report(plan, 0);
    });
}
