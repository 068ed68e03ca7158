//! Replays the fuzz targets' corpus and every crash they ever found (`fuzz/corpus`,
//! `fuzz/regressions`) through the same entry points, with the stable toolchain: what the
//! fuzzer learned, CI keeps checking.

use std::path::Path;

fn inputs(target: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        let Ok(rd) = std::fs::read_dir(root.join(kind).join(target)) else {
            continue;
        };
        out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
    }
    out.sort();
    out
}

fn replay(target: &str, run: impl Fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no corpus for the {target} target");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        // A panic names the input it came from.
        let name = f.display().to_string();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&data)));
        assert!(result.is_ok(), "{name} fails");
    }
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn profile_corpus_and_regressions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fuzzed.yaml");
    replay("profile", |d| mcpcell::fuzz::profile_at(&path, d));
}

#[test]
fn wrap_corpus_and_regressions() {
    replay("wrap", mcpcell::fuzz::wrap);
}

#[test]
fn stderr_corpus_and_regressions() {
    replay("stderr", mcpcell::fuzz::stderr);
}
