//! `mcpcell setup apparmor`'s profile, checked by AppArmor's own parser in parse-only mode
//! (`apparmor_parser -Q -K`, Debian's `apparmor` package): it parses to exactly one profile,
//! `mcpcell`, for the binary's path; a path that could carry AppArmor syntax is refused, and
//! the same path pasted in unescaped is shown to add a profile of its own (the control).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn parser() -> Option<PathBuf> {
    ["/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// `setup apparmor --print --binary BIN`: (exit status, stdout, stderr).
fn print(bin: &str) -> (i32, String, String) {
    let out = Command::new(mcpcell())
        .args(["setup", "apparmor", "--print", "--binary", bin])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Where the parser predates AppArmor 4.0 (Debian 12 ships 3.0), it knows neither
/// `abi/4.0` nor the `userns` rule: those two lines are checked by hand and the rest by the
/// parser. Returns the text to parse.
fn for_this_parser(text: &str) -> String {
    if Path::new("/etc/apparmor.d/abi/4.0").exists() {
        return text.to_string();
    }
    eprintln!(
        "NOTE: apparmor_parser here predates AppArmor 4.0 (no abi/4.0, no `userns` rule): \
         checking those two lines by hand, the rest with the parser"
    );
    assert!(text.contains("\nabi <abi/4.0>,\n"), "{text}");
    assert!(text.contains("\n  userns,\n"), "{text}");
    let t = text
        .replace("abi <abi/4.0>,", "abi <abi/3.0>,")
        .replace("\n  userns,\n", "\n");
    assert_eq!(t.lines().count() + 1, text.lines().count());
    t
}

/// The profile names the parser reads from `text` (parse only: nothing is loaded).
fn parsed_names(parser: &Path, text: &str) -> Result<Vec<String>, String> {
    let dir = scratch();
    let file = dir.path().join("mcpcell");
    write(&file, text);
    let out = Command::new(parser)
        .args(["-Q", "-K", "-N"])
        .arg(&file)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

#[test]
fn the_profile_parses_to_one_profile_for_the_binary() {
    let Some(parser) = parser() else {
        require(false, "apparmor_parser (Debian package apparmor)");
        return;
    };
    if !apparmor_enabled() {
        eprintln!(
            "NOTE: AppArmor is not enabled in this kernel: the profile is parsed, not loaded"
        );
    }
    // The binary's own real path (the default), and a path with a space, which needs the quotes.
    let own = std::fs::canonicalize(mcpcell()).unwrap();
    for bin in [own.to_str().unwrap(), "/opt/my tools/mcpcell-1.0+x86_64"] {
        let (code, text, err) = print(bin);
        assert_eq!(code, 0, "{err}");
        assert!(
            text.contains(&format!("profile mcpcell \"{bin}\" flags=(unconfined) {{")),
            "{text}"
        );
        assert!(text.contains("include if exists <local/mcpcell>"), "{text}");
        let names = parsed_names(&parser, &for_this_parser(&text)).unwrap();
        assert_eq!(names, ["mcpcell"], "{text}");
    }
    // Without --binary, the profile names this binary, links resolved.
    let out = Command::new(mcpcell())
        .args(["setup", "apparmor", "--print"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("\"{}\"", own.display())), "{text}");
}

#[test]
fn a_path_that_could_carry_apparmor_syntax_is_refused() {
    let hostile = [
        "/tmp/x\" flags=(complain) {\n}\nprofile evil \"/bin/sh",
        "/opt/*/mcpcell",
        "/opt/mcp?cell",
        "/opt/[a]/mcpcell",
        "/opt/{a,b}/mcpcell",
        "/opt/@{HOME}/mcpcell",
        "/opt/a\\x22b/mcpcell",
        "/opt/a^b",
        "/opt/a#b",
        "relative/mcpcell",
        "/opt/../bin/sh",
    ];
    for bin in hostile {
        let (code, out, err) = print(bin);
        assert_eq!(code, 125, "{bin:?} was accepted:\n{out}");
        assert!(out.is_empty(), "{bin:?}: {out}");
        assert!(err.contains("cannot name this path safely"), "{err}");
        assert!(
            !err.contains('\n') || err.trim_end().lines().count() == 1,
            "{err}"
        );
    }
    // Not root: the profile is not written, and the error says how.
    if !is_root() {
        let out = Command::new(mcpcell())
            .args(["setup", "apparmor"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert!(String::from_utf8_lossy(&out.stderr).contains("sudo mcpcell setup apparmor"));
    }
    // The control: the first path pasted into the profile unescaped makes a second profile,
    // `evil`, so the check above refuses a real injection.
    let Some(parser) = parser() else {
        require(false, "apparmor_parser (Debian package apparmor)");
        return;
    };
    let (_, plain, _) = print("/opt/PLACEHOLDER");
    let naive = plain.replace("/opt/PLACEHOLDER", hostile[0]);
    let names = parsed_names(&parser, &for_this_parser(&naive)).unwrap();
    assert!(names.iter().any(|n| n == "evil"), "{names:?}");
}

/// The profile grants user namespaces to whatever program is at its path: `setup apparmor`
/// refuses a binary another user could replace (here: in a directory every user may write),
/// before it writes anything.
#[test]
fn a_binary_another_user_could_replace_gets_no_profile() {
    if !is_root() {
        eprintln!("NOTE: writing the profile needs root; the refusal is checked as root");
        return;
    }
    let dir = scratch();
    let open = dir.path().join("shared");
    std::fs::create_dir(&open).unwrap();
    let bin = open.join("mcpcell");
    std::fs::copy(mcpcell(), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let profile = Path::new("/etc/apparmor.d/mcpcell");
    let before = std::fs::read(profile).ok();
    let real = std::fs::canonicalize(&bin).unwrap();
    let out = Command::new(&real)
        .args(["setup", "apparmor"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("is writable by every user"), "{err}");
    assert!(err.contains("none was written"), "{err}");
    assert_eq!(
        std::fs::read(profile).ok(),
        before,
        "the profile file changed"
    );
}
