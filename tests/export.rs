//! `mcpcell export seccomp`, loaded by a real OCI runtime (runc): a probe in the container is
//! refused what the profile denies, with the same answer it gets under `mcpcell run`, and
//! allowed the rest; the same container without the document lets each denied call through.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn runc() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("runc"))
            .find(|f| f.is_file())
    })
}

fn export(profile: &str) -> Value {
    let out = Command::new(mcpcell())
        .args(["export", "seccomp", "--profile", profile])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A bundle whose root holds only the static probe; as an ordinary user, a rootless one.
struct Bundle {
    dir: tempfile::TempDir,
    runc: PathBuf,
}

impl Bundle {
    fn new(runc: PathBuf) -> Bundle {
        let dir = scratch();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::copy(probe(), dir.path().join("rootfs/probe")).unwrap();
        let mut spec = Command::new(&runc);
        spec.arg("spec").current_dir(dir.path());
        if !is_root() {
            spec.arg("--rootless");
        }
        assert!(spec.status().unwrap().success());
        Bundle { dir, runc }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The probe's verdict line for `args`, under `seccomp` (or none).
    fn probe(&self, seccomp: Option<&Value>, args: &[&str]) -> String {
        static ID: AtomicUsize = AtomicUsize::new(0);
        let cfg = self.path().join("config.json");
        let mut c: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = std::iter::once("/probe")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .into();
        match seccomp {
            Some(s) => c["linux"]["seccomp"] = s.clone(),
            None => {
                c["linux"].as_object_mut().unwrap().remove("seccomp");
            }
        }
        std::fs::write(&cfg, serde_json::to_vec(&c).unwrap()).unwrap();
        let id = format!(
            "mcpcell-export-{}-{}",
            std::process::id(),
            ID.fetch_add(1, Ordering::Relaxed)
        );
        let mut cmd = Command::new(&self.runc);
        cmd.arg("--root")
            .arg(self.path().join("state"))
            .args(["run", "--bundle"])
            .arg(self.path())
            .arg(&id)
            .env("XDG_RUNTIME_DIR", self.path());
        let out = output_within(cmd, Duration::from_secs(30));
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

#[test]
fn runc_refuses_what_the_profile_denies_and_allows_the_rest() {
    let Some(runc) = runc() else {
        require(false, "runc (Debian package runc)");
        return;
    };
    let bundle = Bundle::new(runc);
    let doc = export("default");
    // Calls the default profile refuses by its syscall policy; each one works in the same
    // container without the document (the control).
    let denied: [&[&str]; 8] = [
        &["unshare-user"],
        &["clone-newuser"],
        &["io_uring"],
        &["personality"],
        &["keyctl"],
        &["socket", "40", "1", "0"], // vsock
        &["socket", "16", "3", "9"], // netlink audit
        &["socket", "1", "1", "0"],  // a Unix socket: network.unix is empty
    ];
    for args in denied {
        let bare = bundle.probe(None, args);
        assert!(
            bare.starts_with("OK"),
            "control: {args:?} fails in the container even without the document: {bare}"
        );
        let exported = bundle.probe(Some(&doc), args);
        assert_denied(&exported, &format!("{args:?} under the exported profile"));
        let sandboxed = probe_line(&["--profile", "default"], args);
        assert_eq!(
            exported, sandboxed,
            "{args:?}: the container answers differently from mcpcell run"
        );
    }
    // Allowed: what the profile lets through still works, including a netlink route socket
    // (libc and Node list interfaces with it) and internet sockets.
    let allowed: [&[&str]; 4] = [
        &["read", "/probe"],
        &["socket", "16", "3", "0"],
        &["socket", "2", "1", "0"],
        &["socket", "10", "2", "0"],
    ];
    for args in allowed {
        let line = bundle.probe(Some(&doc), args);
        assert!(
            line.starts_with("OK"),
            "{args:?} is refused under the exported profile: {line}"
        );
    }
}

#[test]
fn the_export_follows_the_profile_and_refuses_bad_input() {
    // A profile that lets io_uring through exports without it.
    let dir = scratch();
    let p = profile(
        dir.path(),
        "uring",
        "extends: [default]\nsyscalls:\n  allow: [io_uring_setup, io_uring_enter, io_uring_register]\n",
    );
    let names = |doc: &Value| -> Vec<String> {
        doc["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };
    assert!(names(&export("default")).contains(&"io_uring_setup".to_string()));
    assert!(!names(&export(p.to_str().unwrap())).contains(&"io_uring_setup".to_string()));
    // An unknown profile: an error naming it, nothing on stdout.
    let out = Command::new(mcpcell())
        .args(["export", "seccomp", "--profile", "no-such-profile"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-profile"));
}
