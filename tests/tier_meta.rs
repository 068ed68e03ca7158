//! The namespace-free tier's metadata changes (`crate::netguard::meta`): mode and times of
//! files beneath a write grant change as usual (package managers need it), and every other
//! file's stay as they were, by path, by a read-only descriptor, or through a hard link into
//! the write grant. Each change is tried from inside and judged from outside; each refusal is
//! shown to be seen on a weak setup (the same probe bare under the same harness, or the same
//! file under a write grant).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(60);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `mcpcell run --best-effort OPTS -- COMMAND...` as in a container: (exit code, stdout,
/// stderr).
fn in_tier(opts: &[&str], command: &[&str]) -> (i32, String, String) {
    let mut all = vec!["--best-effort"];
    all.extend_from_slice(opts);
    all.push("--");
    all.extend_from_slice(command);
    let out = output_within(in_container(run_cmd(&all)), T);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout).trim_end().to_string(),
        text(&out.stderr),
    )
}

/// The probe in the tier.
fn tier_probe(opts: &[&str], args: &[&str]) -> String {
    let p = probe();
    let mut command = vec![p.to_str().unwrap()];
    command.extend_from_slice(args);
    let (code, out, err) = in_tier(opts, &command);
    assert!(code == 0 || code == 1, "mcpcell exited {code}: {err}");
    out
}

/// The probe bare under the same harness: the weak setup every check must see through.
fn bare_probe(args: &[&str]) -> String {
    let mut c = Command::new(nouserns());
    c.arg(probe()).args(args).stdin(Stdio::null());
    text(&output_within(c, T).stdout).trim_end().to_string()
}

/// The tier runs here, with a seccomp filter that can notify mcpcell.
fn tier_here() -> bool {
    let out = output_within(
        in_container(run_cmd(&[
            "--best-effort",
            "--dry-run",
            "--format",
            "json",
            "--",
            "/bin/true",
        ])),
        T,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    require(
        v["plan"]["tier"]["name"] == "namespace-free" && landlock_abi() >= 1,
        "the namespace-free tier under tests/nouserns (Landlock and seccomp)",
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn mtime(p: &Path) -> i64 {
    std::fs::metadata(p).unwrap().mtime()
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// A scratch tree: `w/` (to be granted write) with `own`, `ro/` (granted read) with `file`,
/// and `outside/secret` (granted nothing), every directory open to the sandbox's user.
struct Tree {
    _dir: tempfile::TempDir,
    w: PathBuf,
    ro: PathBuf,
    outside: PathBuf,
}

fn tree() -> Tree {
    let dir = scratch();
    set_mode(dir.path(), 0o755);
    let mk = |name: &str, file: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).unwrap();
        set_mode(&d, 0o755);
        let f = d.join(file);
        write(&f, "data\n");
        set_mode(&f, 0o644);
        d
    };
    Tree {
        w: mk("w", "own"),
        ro: mk("ro", "file"),
        outside: mk("outside", "secret"),
        _dir: dir,
    }
}

impl Tree {
    fn grants(&self) -> Vec<String> {
        vec![
            "--allow-write".into(),
            self.w.to_str().unwrap().into(),
            "--allow-read".into(),
            self.ro.to_str().unwrap().into(),
        ]
    }
}

fn opts(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn mode_and_times_change_beneath_a_write_grant() {
    if !tier_here() {
        return;
    }
    let t = tree();
    let g = t.grants();
    let own = t.w.join("own");
    let own_s = own.to_str().unwrap();
    assert_eq!(
        tier_probe(&opts(&g), &["chmod", own_s, "600"]),
        "OK chmodded"
    );
    assert_eq!(mode(&own), 0o600);
    assert_eq!(
        tier_probe(&opts(&g), &["fchmod", own_s, "640"]),
        "OK fchmodded"
    );
    assert_eq!(mode(&own), 0o640);
    // Through /proc/self/fd/N of an O_PATH descriptor, as glibc does: the caller's own.
    assert_eq!(
        tier_probe(&opts(&g), &["chmod-procfd", own_s, "604"]),
        "OK chmodded"
    );
    assert_eq!(mode(&own), 0o604);
    assert_eq!(tier_probe(&opts(&g), &["utimes", own_s]), "OK set times");
    assert_eq!(mtime(&own), 1);
    // A directory of the grant, and the grant itself.
    assert_eq!(
        tier_probe(&opts(&g), &["chmod", t.w.to_str().unwrap(), "750"]),
        "OK chmodded"
    );
    assert_eq!(mode(&t.w), 0o750);
}

#[test]
fn node_copy_file_sets_the_mode_of_its_copy() {
    if !tier_here() || !require(Path::new("/usr/bin/node").exists(), "node") {
        return;
    }
    let t = tree();
    let mut g = t.grants();
    let script = t.ro.join("copy.js");
    write(
        &script,
        "const fs = require('fs');\nconst [src, dst] = process.argv.slice(2);\nfs.copyFileSync(src, dst);\nfs.chmodSync(dst, 0o600);\nconst fd = fs.openSync(dst, 'r');\nfs.fchmodSync(fd, 0o640);\nfs.futimesSync(fd, 1000, 2000);\nconsole.log('copied');\n",
    );
    set_mode(&script, 0o644);
    g.extend(["-p".into(), "node".into()]);
    let src = t.w.join("own");
    let dst = t.w.join("copy");
    let (code, out, err) = in_tier(
        &opts(&g),
        &[
            "node",
            script.to_str().unwrap(),
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ],
    );
    assert_eq!((code, out.as_str()), (0, "copied"), "{err}");
    assert_eq!(mode(&dst), 0o640);
    assert_eq!(mtime(&dst), 2000);
}

#[test]
fn metadata_outside_the_write_grants_stays_unchanged() {
    if !tier_here() {
        return;
    }
    let t = tree();
    let g = t.grants();
    let file = t.ro.join("file");
    let f = file.to_str().unwrap();
    let before = mtime(&file);
    for args in [
        vec!["chmod", f, "666"],
        vec!["fchmod", f, "666"],
        vec!["chmod-procfd", f, "666"],
        vec!["utimes", f],
    ] {
        assert_denied(
            &tier_probe(&opts(&g), &args),
            &format!("{args:?} on a read grant"),
        );
        assert_eq!(mode(&file), 0o644, "{args:?}");
        assert_eq!(mtime(&file), before, "{args:?}");
    }
    // A file of no grant, by path.
    let secret = t.outside.join("secret");
    assert_denied(
        &tier_probe(&opts(&g), &["chmod", secret.to_str().unwrap(), "666"]),
        "chmod outside every grant",
    );
    assert_eq!(mode(&secret), 0o644);

    // Weak setups: bare, the same calls change the file; under a write grant on its
    // directory, the same launch changes it too. So the checks above see a change.
    assert_eq!(bare_probe(&["fchmod", f, "666"]), "OK fchmodded");
    assert_eq!(mode(&file), 0o666);
    set_mode(&file, 0o644);
    let mut wide = g.clone();
    wide.extend(["--allow-write".into(), t.ro.to_str().unwrap().into()]);
    assert_eq!(
        tier_probe(&opts(&wide), &["fchmod", f, "600"]),
        "OK fchmodded"
    );
    assert_eq!(mode(&file), 0o600);
}

/// A file granted read-only inside a write grant keeps its mode and times as it keeps its
/// contents: the innermost grant decides.
#[test]
fn a_read_only_grant_inside_a_write_grant_keeps_its_metadata() {
    if !tier_here() {
        return;
    }
    let t = tree();
    let inner = t.w.join("own");
    let i = inner.to_str().unwrap();
    let mut g = t.grants();
    g.extend(["--allow-read".into(), i.into()]);
    let before = mtime(&inner);
    for args in [
        vec!["chmod", i, "666"],
        vec!["fchmod", i, "666"],
        vec!["chmod-procfd", i, "666"],
        vec!["utimes", i],
    ] {
        assert_denied(
            &tier_probe(&opts(&g), &args),
            &format!("{args:?} on a read grant inside a write grant"),
        );
        assert_eq!(mode(&inner), 0o644, "{args:?}");
        assert_eq!(mtime(&inner), before, "{args:?}");
    }
    // The rest of the write grant is the server's: its mode changes.
    let w = t.w.to_str().unwrap();
    assert_eq!(tier_probe(&opts(&g), &["chmod", w, "750"]), "OK chmodded");
    assert_eq!(mode(&t.w), 0o750);
    // Weak setup: without the inner grant the same launch changes the file.
    assert_eq!(
        tier_probe(&opts(&t.grants()), &["chmod", i, "600"]),
        "OK chmodded"
    );
    assert_eq!(mode(&inner), 0o600);
}

#[test]
fn a_hard_link_into_the_write_grant_changes_nothing_outside() {
    if !tier_here() {
        return;
    }
    let t = tree();
    let g = t.grants();
    let secret = t.outside.join("secret");
    let link = t.w.join("link");
    std::fs::hard_link(&secret, &link).unwrap();
    let l = link.to_str().unwrap();
    let before = mtime(&secret);
    for args in [
        vec!["chmod", l, "666"],
        vec!["fchmod", l, "666"],
        vec!["utimes", l],
    ] {
        assert_denied(
            &tier_probe(&opts(&g), &args),
            &format!("{args:?} through a hard link"),
        );
        assert_eq!(mode(&secret), 0o644, "{args:?}");
        assert_eq!(mtime(&secret), before, "{args:?}");
    }
    // Weak setup: bare, the link reaches the file outside.
    assert_eq!(bare_probe(&["chmod", l, "666"]), "OK chmodded");
    assert_eq!(mode(&secret), 0o666);
}

#[test]
fn a_symlink_flipped_during_the_call_changes_nothing_outside() {
    if !tier_here() {
        return;
    }
    let t = tree();
    let g = t.grants();
    let own = t.w.join("own");
    let secret = t.outside.join("secret");
    let link = t.w.join("flip");
    let (l, o, s) = (
        link.to_str().unwrap(),
        own.to_str().unwrap(),
        secret.to_str().unwrap(),
    );
    // The server's own process flips the link between its file and the secret while it
    // calls chmod on the link: a check of the path followed by the kernel's own lookup would
    // let some calls through to the secret. mcpcell changes the inode it checked.
    let out = tier_probe(&opts(&g), &["chmod-flip", l, o, s, "2000"]);
    let changed: u32 = out
        .strip_prefix("OK ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(changed > 0, "no call reached the server's own file: {out}");
    assert_eq!(mode(&own), 0o666);
    assert_eq!(mode(&secret), 0o644, "a flipped link reached the secret");
    // Weak setup: bare, the same race reaches the secret.
    std::fs::remove_file(&link).unwrap();
    assert!(bare_probe(&["chmod-flip", l, o, s, "100000"]).starts_with("OK "));
    assert_eq!(mode(&secret), 0o666);
}

#[test]
fn setuid_and_setgid_modes_stay_refused_in_the_write_grant() {
    if !tier_here() {
        return;
    }
    let t = tree();
    let g = t.grants();
    let own = t.w.join("own");
    let o = own.to_str().unwrap();
    for m in ["4755", "2755", "6755"] {
        assert_denied(
            &tier_probe(&opts(&g), &["chmod", o, m]),
            &format!("chmod {m}"),
        );
        assert_denied(
            &tier_probe(&opts(&g), &["fchmod", o, m]),
            &format!("fchmod {m}"),
        );
        assert_eq!(mode(&own), 0o644, "{m}");
    }
    // Weak setup: bare, the bit is set.
    assert_eq!(bare_probe(&["chmod", o, "4755"]), "OK chmodded");
    assert_eq!(mode(&own), 0o4755);
}

#[test]
fn npm_installs_a_package_in_the_tier() {
    if !tier_here() || !require(Path::new("/usr/bin/npm").exists(), "npm") {
        return;
    }
    let t = tree();
    // A package with an executable bin: npm sets its mode when it links it.
    let pkg = t.ro.join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    set_mode(&pkg, 0o755);
    write(
        &pkg.join("package.json"),
        r#"{"name":"mcpcell-tier-demo","version":"1.0.0","bin":{"mcpcell-tier-demo":"cli.js"}}"#,
    );
    write(
        &pkg.join("cli.js"),
        "#!/usr/bin/env node\nconsole.log('demo ran');\n",
    );
    let packed = Command::new("npm")
        .args(["pack", "--silent", "--pack-destination"])
        .arg(&t.ro)
        .current_dir(&pkg)
        .env("npm_config_cache", t.w.join(".npm-host"))
        .output()
        .unwrap();
    assert!(packed.status.success(), "{}", text(&packed.stderr));
    let tgz = t.ro.join("mcpcell-tier-demo-1.0.0.tgz");
    set_mode(&tgz, 0o644);
    let prefix = t.w.join("prefix");
    let prefix_var = format!("npm_config_prefix={}", prefix.display());
    let g = t.grants();
    let mut o = opts(&g);
    o.extend(["-p", "node", "--set-env", &prefix_var]);
    let (code, out, err) = in_tier(&o, &["npm", "install", "-g", tgz.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let cli = prefix.join("lib/node_modules/mcpcell-tier-demo/cli.js");
    assert_eq!(mode(&cli) & 0o111, 0o111, "npm made its bin executable");
}

#[test]
fn uv_runs_a_tool_from_a_local_wheel_in_the_tier() {
    let uv = venv().join("bin/uv");
    if !tier_here() || !require(uv.exists(), "uv (the integration dependencies)") {
        return;
    }
    let t = tree();
    // A wheel of one module and one console script, built here.
    let wheel = t.ro.join("mcpcell_tier_demo-1.0-py3-none-any.whl");
    let built = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\nw = zipfile.ZipFile(sys.argv[1], 'w')\nd = 'mcpcell_tier_demo-1.0.dist-info/'\nw.writestr('mcpcell_tier_demo.py', 'def main():\\n    print(\"demo ran\")\\n')\nw.writestr(d + 'METADATA', 'Metadata-Version: 2.1\\nName: mcpcell-tier-demo\\nVersion: 1.0\\n')\nw.writestr(d + 'WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\nw.writestr(d + 'entry_points.txt', '[console_scripts]\\nmcpcell-tier-demo = mcpcell_tier_demo:main\\n')\nw.writestr(d + 'RECORD', '')\nw.close()\n",
        )
        .arg(&wheel)
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", text(&built.stderr));
    set_mode(&wheel, 0o644);
    let g = t.grants();
    let mut o = opts(&g);
    o.extend(["-p", "python"]);
    let (code, out, err) = in_tier(
        &o,
        &[
            uv.to_str().unwrap(),
            "tool",
            "run",
            "--offline",
            "--from",
            wheel.to_str().unwrap(),
            "mcpcell-tier-demo",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "demo ran"), "{err}");
}

/// A device node under a write grant (`/dev/null` in every profile) is written, never
/// re-moded: its mode, owner and times are the host's. The node here is made under the
/// write grant so that nothing of the host's is at stake; the control is the same calls on
/// a regular file beside it, which change.
#[test]
fn a_device_under_a_write_grant_keeps_its_mode_and_times() {
    if !is_root() || !tier_here() {
        return;
    }
    let t = tree();
    let g = t.grants();
    let dev = t.w.join("null");
    let c = std::ffi::CString::new(dev.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; makedev(1, 3) is the null device.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod: {}", std::io::Error::last_os_error());
    set_mode(&dev, 0o666);
    let d = dev.to_str().unwrap();
    let before = mtime(&dev);
    for args in [
        vec!["chmod", d, "600"],
        vec!["fchmod", d, "600"],
        vec!["utimes", d],
    ] {
        assert_denied(
            &tier_probe(&opts(&g), &args),
            &format!("{args:?} on a device"),
        );
        assert_eq!(mode(&dev), 0o666, "{args:?}");
        assert_eq!(mtime(&dev), before, "{args:?}");
    }
    // The device still works as one: written, it takes the bytes.
    let wrote = tier_probe(&opts(&g), &["write", d, "x"]);
    assert!(wrote.starts_with("OK"), "a write to the device: {wrote}");
    let own = t.w.join("own");
    assert_eq!(
        tier_probe(&opts(&g), &["chmod", own.to_str().unwrap(), "600"]),
        "OK chmodded"
    );
    assert_eq!(mode(&own), 0o600);
}

/// An inode's flags as the host sees them (`lsattr`), or `None` where the filesystem has none.
fn inode_flags(p: &Path) -> Option<i32> {
    let f = std::fs::File::open(p).unwrap();
    let mut flags: i32 = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int through the pointer.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0x8008_6601u64 as _,
            &mut flags,
        )
    };
    (rc == 0).then_some(flags)
}

/// Inode flags (`chattr`) are metadata too, and a descriptor opened for reading is enough
/// for the file's owner to change them: in the tier, whose read grants are no read-only
/// mounts, they stay as they were, on a read grant and under a write grant alike. The control
/// is the same probe bare, which changes them.
#[test]
fn inode_flags_stay_unchanged() {
    if !tier_here() {
        return;
    }
    let t = tree();
    let g = t.grants();
    let (file, own) = (t.ro.join("file"), t.w.join("own"));
    let Some(before) = inode_flags(&file) else {
        require(
            false,
            "a filesystem with inode flags (ext4, xfs, btrfs) under the scratch directory",
        );
        return;
    };
    // By descriptor (the ioctls) and by path (file_setattr, Linux 6.17), on a read grant, a
    // write grant and a file of no grant.
    let secret = t.outside.join("secret");
    for how in ["setflags", "fileattr"] {
        for p in [&file, &own, &secret] {
            let out = tier_probe(&opts(&g), &[how, p.to_str().unwrap()]);
            assert_denied(&out, &format!("{how} of {}", p.display()));
            assert_eq!(inode_flags(p), Some(before), "{how} {}", p.display());
        }
    }
    assert_eq!(
        bare_probe(&["setflags", file.to_str().unwrap()]),
        "OK flags set"
    );
    assert_ne!(inode_flags(&file), Some(before));
    let bare = bare_probe(&["fileattr", secret.to_str().unwrap()]);
    if bare.starts_with("ERR ENOSYS") {
        require(false, "file_setattr (Linux 6.17)");
    } else {
        assert_eq!(bare, "OK attributes set");
        assert_ne!(inode_flags(&secret), Some(before));
    }
}
