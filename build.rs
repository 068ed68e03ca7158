//! Converts the built-in profiles (`profiles/*.yaml`) to JSON once, at build time: a launch
//! with a built-in profile then deserializes it with serde_json, several times cheaper than
//! parsing YAML. The YAML text is still compiled in; it is what `profiles show` prints and
//! where line numbers come from.
//!
//! It also names the commit the binary is built from, for `--version`: from git in a
//! checkout, from the `.cargo_vcs_info.json` that `cargo package` writes in a packaged crate,
//! else none.
//!
//! And it lays out the binary for the launch (see `packaging/launch-order.txt`).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=profiles");
    let version = std::env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let long = match commit() {
        Some(c) => format!("{version} (commit {c})"),
        None => format!("{version} (commit unknown: not built from a git checkout)"),
    };
    println!("cargo::rustc-env=MCPCELL_VERSION={long}");
    launch_layout();
    packed_relocations();
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dir = Path::new("profiles");
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("profiles/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("a readable profile");
        let value: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json =
            serde_json::to_string(&value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 name");
        std::fs::write(Path::new(&out).join(format!("{name}.json")), json)
            .expect("OUT_DIR is writable");
    }
}

/// The functions a launch runs, placed together at the start of the code (lld's
/// `--symbol-ordering-file`): the kernel maps a binary's pages in 64 KiB blocks around each
/// one touched, and scattered over the 4 MB of code, the launch's ~900 functions made 3.5 MiB
/// of it resident in the launcher; together they make about 1.1 MiB
/// (`scripts/launch-order.sh` writes the list and checks it against the link map). Names the
/// binary no longer has are skipped, so a stale list costs memory, never correctness.
/// Only for the target whose linker is lld (rust-lld is Rust's default there).
fn launch_layout() {
    const ORDER: &str = "packaging/launch-order.txt";
    println!("cargo::rerun-if-changed={ORDER}");
    println!("cargo::rerun-if-env-changed=MCPCELL_NO_LAYOUT");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" || std::env::var_os("MCPCELL_NO_LAYOUT").is_some() {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let order = Path::new(&dir).join(ORDER);
    if !order.is_file() {
        return;
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for arg in [
        format!("--symbol-ordering-file={}", order.display()),
        "--no-warn-symbol-ordering".to_string(),
        // The link map, which names each function's place: what the script reads.
        format!("-Map={}", Path::new(&out).join("mcpcell.map").display()),
    ] {
        println!("cargo::rustc-link-arg-bin=mcpcell=-Wl,{arg}");
    }
}

/// The static binary relocates itself at start (static-pie): with `RELA` relocations that
/// is a 151 KB table read at every launch, all of it resident in the launcher's peak. Packed
/// (`DT_RELR`, `-z pack-relative-relocs`) it is about 2 KB: peak of a `default` launch
/// 2.50 -> 2.13 MiB (bench/ANALYSIS.md §1.11). glibc applies packed relocations from 2.36 on;
/// an older libc.a would leave them unapplied, so the build asks for them only with 2.36 or
/// later (`getconf GNU_LIBC_VERSION` of the building machine, whose libc.a is linked in).
fn packed_relocations() {
    println!("cargo::rerun-if-env-changed=MCPCELL_NO_RELR");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu"
        || target != host
        || std::env::var_os("MCPCELL_NO_RELR").is_some()
    {
        return;
    }
    let Some(version) = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
    else {
        return;
    };
    // "glibc 2.36"
    let mut parts = version
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (2, 36) {
        println!("cargo::rustc-link-arg-bin=mcpcell=-Wl,-z,pack-relative-relocs");
    }
}

/// Runs git in the crate's directory; `None` when git or the checkout is missing.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

/// The commit, abbreviated, with `-modified` when tracked files differ from it.
fn commit() -> Option<String> {
    println!("cargo::rerun-if-changed=.cargo_vcs_info.json");
    // Only a checkout whose top is this crate: a packaged crate unpacked inside another
    // checkout (`cargo package` verifies under target/package/) is not that checkout.
    let here = std::env::var("CARGO_MANIFEST_DIR").ok();
    let top = git(&["rev-parse", "--show-toplevel"]);
    let in_checkout = match (&here, &top) {
        (Some(h), Some(t)) => Path::new(h).canonicalize().ok() == Path::new(t).canonicalize().ok(),
        _ => false,
    };
    if let Some(head) = git(&["rev-parse", "--short=12", "HEAD"]).filter(|_| in_checkout) {
        // Rebuilt when HEAD moves (a commit, a checkout) or the index changes; the paths
        // come from git, as a worktree keeps them apart from the repository.
        for p in ["HEAD", "index", "packed-refs"] {
            if let Some(path) = git(&["rev-parse", "--git-path", p]) {
                println!("cargo::rerun-if-changed={path}");
            }
        }
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            if let Some(path) = git(&["rev-parse", "--git-path", &r]) {
                println!("cargo::rerun-if-changed={path}");
            }
        }
        let modified =
            git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        return Some(if modified {
            format!("{head}-modified")
        } else {
            head
        });
    }
    // A packaged crate (`cargo package`, crates.io) has no .git, but records the commit.
    let info = std::fs::read_to_string(".cargo_vcs_info.json").ok()?;
    let v: serde_json::Value = serde_json::from_str(&info).ok()?;
    let sha = v.get("git")?.get("sha1")?.as_str()?;
    Some(sha.chars().take(12).collect())
}
