//! The mount plan, built from grants on temporary directories (no root needed): the exact
//! operations of the host view and the granted view, and the rules every plan keeps.

use std::path::{Path, PathBuf};

use super::sources::{
    MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY, attrs_for,
};
use super::*;
use crate::plan::fs::{self, Grant, Rights};
use crate::profile::Origin;

/// A directory outside /tmp (whose host paths the granted view binds like any other), by
/// its real path.
fn outside_tmp() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::Builder::new()
        .prefix("mcpcell-mounts-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let real = fs::real_path(d.path()).unwrap();
    (d, real)
}

fn grant(p: &Path, rights: Rights) -> Grant {
    Grant {
        path: p.to_path_buf(),
        rights,
        origin: Origin::command_line("--allow-read"),
        required: true,
        evidence: Vec::new(),
    }
}

const RWX: Rights = Rights {
    read: true,
    write: true,
    exec: true,
};

fn fs_plan(grants: Vec<Grant>, hides: &[&Path]) -> FsPlan {
    let mut plan = fs::build(grants, None).unwrap_or_else(|e| panic!("{e}"));
    let hides = hides
        .iter()
        .map(|h| (h.to_path_buf(), Origin::command_line("hide"), true))
        .collect();
    plan.add_hides(hides, false)
        .unwrap_or_else(|e| panic!("{e}"));
    plan
}

fn build(fs: &FsPlan, unix: &[PathBuf], cwd: &Path, granted_view: bool) -> Mounts {
    Mounts::build(&Layout {
        fs,
        unix,
        cwd,
        resolver: true,
        tmp_size: Some(1 << 20),
        granted_view,
        device_copies: [None; 3],
    })
    .unwrap()
}

fn shown(m: &Mounts) -> Vec<String> {
    m.ops.iter().map(|op| op.to_string()).collect()
}

fn path_of(op: &MountOp) -> Option<PathBuf> {
    op.path()
        .map(|c| PathBuf::from(std::ffi::OsStr::from_bytes(c.as_bytes())))
}

/// Fails with `msg` (and the plan) unless `cond`.
macro_rules! ensure {
    ($cond:expr, $text:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!("{}:\n{}", format!($($msg)+), $text));
        }
    };
}

/// The rules every plan keeps: propagation cut first, every copy taken before anything is
/// mounted, no mount covering what an earlier operation made or mounted, every path made
/// where its parent already is, masks after binds, and in the granted view the pivot last.
fn rules(ops: &[MountOp], granted_view: bool) -> Result<(), String> {
    let text = ops
        .iter()
        .map(|o| o.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    ensure!(
        matches!(ops[0], MountOp::MakePrivate),
        text,
        "not made private first"
    );
    let first_mount = ops
        .iter()
        .position(|o| matches!(o, MountOp::Tmpfs { .. } | MountOp::Attach { .. }))
        .unwrap_or(ops.len());
    let late_detach = ops[first_mount..]
        .iter()
        .any(|o| matches!(o, MountOp::Detach { .. }));
    ensure!(!late_detach, text, "a copy is taken after a mount");

    let mounts = |o: &MountOp| {
        matches!(
            o,
            MountOp::Tmpfs { .. }
                | MountOp::Attach { .. }
                | MountOp::AttachDeviceCopy { .. }
                | MountOp::Replace { .. }
                | MountOp::Proc { .. }
                | MountOp::Hide { .. }
                | MountOp::Pin { .. }
        )
    };
    for (j, later) in ops.iter().enumerate().filter(|(_, o)| mounts(o)) {
        let covering = path_of(later).unwrap();
        for earlier in &ops[..j] {
            if matches!(earlier, MountOp::Detach { .. }) {
                continue;
            }
            if let Some(p) = path_of(earlier) {
                let covered = p != covering && p.starts_with(&covering);
                ensure!(!covered, text, "`{later}` covers the earlier `{earlier}`");
            }
        }
    }

    // In the granted view every path is mcpcell's making: a mount point must have been made
    // (or lie in a tree mounted before), and so must the parent of what is made.
    let root = Path::new(if granted_view { STAGING } else { "/" });
    let mut made: Vec<PathBuf> = vec![root.to_path_buf()];
    let mut trees: Vec<PathBuf> = Vec::new();
    for op in ops {
        let Some(p) = path_of(op) else { continue };
        if matches!(op, MountOp::Detach { .. } | MountOp::RemountReadOnly { .. }) {
            continue;
        }
        // A copy of a stdio device's mount goes to a name the plan made, or into the host's
        // tree, which the pivot lets go of; only in the granted view.
        if matches!(op, MountOp::AttachDeviceCopy { .. }) {
            ensure!(granted_view, text, "`{op}` in the host view");
            if !p.starts_with(root) {
                continue;
            }
        }
        let p = PathBuf::from(p.to_string_lossy().trim_end_matches('/'));
        let exists =
            |p: &Path| made.iter().any(|m| m == p) || trees.iter().any(|t| p.starts_with(t));
        if granted_view && p != root {
            if mounts(op) {
                ensure!(exists(&p), text, "`{op}` before its mount point exists");
            } else {
                let parent = p.parent().unwrap();
                ensure!(exists(parent), text, "`{op}` before its parent exists");
            }
        }
        made.push(p.clone());
        // A tmpfs comes empty; a host tree and procfs come with what is in them.
        if matches!(
            op,
            MountOp::Attach { .. } | MountOp::Proc { .. } | MountOp::Pin { .. }
        ) {
            trees.push(p);
        }
    }

    let last_attach = ops
        .iter()
        .rposition(|o| matches!(o, MountOp::Attach { .. }));
    let first_hide = ops.iter().position(|o| matches!(o, MountOp::Hide { .. }));
    if let (Some(a), Some(h)) = (last_attach, first_hide) {
        ensure!(a < h, text, "a mask before a bind");
    }
    let pivots: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i], MountOp::Pivot { .. }))
        .collect();
    if granted_view {
        ensure!(pivots == [ops.len() - 1], text, "the pivot is not last");
    } else {
        ensure!(pivots.is_empty(), text, "the host view pivots");
    }
    Ok(())
}

fn check_rules(m: &Mounts, granted_view: bool) {
    assert_eq!(
        m.ops
            .iter()
            .filter(|o| matches!(o, MountOp::Detach { .. }))
            .count(),
        m.trees.len()
    );
    if let Err(e) = rules(&m.ops, granted_view) {
        panic!("{e}");
    }
}

fn shm(prefix: &str) -> Vec<String> {
    if Path::new("/dev/shm").is_dir() {
        vec![format!(
            "tmpfs {prefix}/dev/shm mode=1777,size=1048576,nr_inodes=1024 nosuid,nodev,noexec"
        )]
    } else {
        Vec::new()
    }
}

/// `replace` of a resolver file that the host has, in the host view.
fn host_replace(name: &str) -> Vec<String> {
    if Path::new("/etc").join(name).exists() {
        vec![format!("replace /etc/{name} via /tmp/.mcpcell-{name}")]
    } else {
        Vec::new()
    }
}

#[test]
fn host_view() {
    // learn: the host's tree; only what lies under /tmp is bound (into the private /tmp),
    // outermost only; masks go on the host paths.
    let t = tempfile::tempdir_in("/tmp").unwrap();
    let t = fs::real_path(t.path()).unwrap();
    std::fs::create_dir(t.join("sub")).unwrap();
    let (_v, v) = outside_tmp();
    std::fs::write(v.join("secret"), "x").unwrap();
    let plan = fs_plan(
        vec![
            grant(&t, Rights::WRITE),
            grant(&t.join("sub"), Rights::READ),
            grant(&v, Rights::READ),
        ],
        &[&v.join("secret")],
    );
    let m = build(&plan, &[], &v, false);
    let t = t.display();
    let v = v.display();
    let mut want = vec![
        "make-private /".to_string(),
        format!("detach #0 {t} nosuid,nodev,noexec"),
        "tmpfs /tmp mode=1777,size=1048576,nr_inodes=1024 nosuid,nodev,noexec".into(),
    ];
    want.extend(shm(""));
    want.extend([format!("mkdir {t}"), format!("attach #0 {t}")]);
    want.extend(host_replace("resolv.conf"));
    want.extend(host_replace("hosts"));
    want.extend(["proc /proc".into(), format!("hide-file {v}/secret")]);
    assert_eq!(shown(&m), want);
    check_rules(&m, false);
    assert_eq!(
        m.resolver_files().len(),
        want.iter().filter(|o| o.starts_with("replace")).count()
    );
}

#[test]
fn granted_view() {
    // Every other launch: a tmpfs root of the granted paths only, with flags from the grants.
    let (_v, v) = outside_tmp();
    for d in ["ro/rw", "ro/same", "ro/secret", "x", "wx", "cwd"] {
        std::fs::create_dir_all(v.join(d)).unwrap();
    }
    std::fs::write(v.join("ro/key"), "x").unwrap();
    std::os::unix::fs::symlink("ro", v.join("link")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(v.join("sock")).unwrap();
    let plan = fs_plan(
        vec![
            grant(&v.join("ro"), Rights::READ),
            // The same directory through a link: the link is recreated.
            grant(&v.join("link"), Rights::READ),
            // Inside a read-only bind: bound again for other flags, not for the same.
            grant(&v.join("ro/rw"), Rights::WRITE),
            grant(&v.join("ro/same"), Rights::READ),
            grant(&v.join("x"), Rights::EXEC),
            grant(&v.join("wx"), RWX),
            // A device keeps its device access, read-only and no-exec.
            grant(Path::new("/dev/null"), Rights::WRITE),
        ],
        &[&v.join("ro/secret"), &v.join("ro/key")],
    );
    let cwd = v.join("cwd");
    let m = build(&plan, &[v.join("sock")], &cwd, true);
    let s = v.display();
    // The staging root's directories: the private mounts', the working directory's, the
    // link's and the resolver files' parents.
    let mut skeleton: Vec<PathBuf> = ["/tmp", "/dev", "/dev/shm", "/proc", "/etc"]
        .iter()
        .map(PathBuf::from)
        .chain(
            cwd.ancestors()
                .take_while(|a| *a != Path::new("/"))
                .map(Path::to_path_buf),
        )
        .collect();
    skeleton.sort();
    let mut want = vec![
        "make-private /".to_string(),
        "detach #0 /dev/null ro,nosuid,noexec".into(),
        format!("detach #1 {s}/ro ro,nosuid,nodev"),
        format!("detach #2 {s}/ro/rw nosuid,nodev,noexec"),
        format!("detach #3 {s}/sock ro,nosuid,nodev"),
        format!("detach #4 {s}/wx nosuid,nodev"),
        format!("detach #5 {s}/x ro,nosuid,nodev"),
        "tmpfs /tmp mode=0755 nosuid,nodev".into(),
    ];
    want.extend(
        skeleton
            .iter()
            .map(|d| format!("mkdir /tmp{}", d.display())),
    );
    // Each bind's mount point, after those of its parents not made already.
    let mut made: std::collections::BTreeSet<String> = skeleton
        .iter()
        .map(|d| format!("mkdir /tmp{}", d.display()))
        .collect();
    for (tree, target, file) in [
        (0, PathBuf::from("/dev/null"), true),
        (1, v.join("ro"), false),
        (2, v.join("ro/rw"), false),
        (3, v.join("sock"), true),
        (4, v.join("wx"), false),
        (5, v.join("x"), false),
    ] {
        let parents: Vec<String> = target
            .ancestors()
            .skip(1)
            .take_while(|a| *a != Path::new("/"))
            .map(|a| format!("mkdir /tmp{}", a.display()))
            .collect();
        for p in parents.into_iter().rev() {
            if made.insert(p.clone()) {
                want.push(p);
            }
        }
        let kind = if file { "create" } else { "mkdir" };
        made.insert(format!("{kind} /tmp{}", target.display()));
        want.push(format!("{kind} /tmp{}", target.display()));
        want.push(format!("attach #{tree} /tmp{}", target.display()));
    }
    want.push("tmpfs /tmp/tmp mode=1777,size=1048576,nr_inodes=1024 nosuid,nodev,noexec".into());
    want.extend(shm("/tmp"));
    want.extend([
        format!("symlink /tmp{s}/link -> ro"),
        "create /tmp/etc/resolv.conf".into(),
        "replace /tmp/etc/resolv.conf via /tmp/tmp/.mcpcell-resolv.conf".into(),
        "create /tmp/etc/hosts".into(),
        "replace /tmp/etc/hosts via /tmp/tmp/.mcpcell-hosts".into(),
        "proc /tmp/proc".into(),
        format!("hide-dir /tmp{s}/ro/secret"),
        format!("hide-file /tmp{s}/ro/key"),
        "remount-ro /tmp".into(),
        "pivot /tmp".into(),
    ]);
    assert_eq!(shown(&m), want);
    check_rules(&m, true);
    assert_eq!(
        m.resolver_files(),
        [
            PathBuf::from("/etc/resolv.conf"),
            PathBuf::from("/etc/hosts")
        ]
    );
}

#[test]
fn the_way_to_a_mount_inside_a_writable_bind_is_pinned() {
    let (_v, v) = outside_tmp();
    for d in ["w/a/b/ro", "w/c/d/secret", "w/e", "ro/f/rw/g/ro2", "w/h/i"] {
        std::fs::create_dir_all(v.join(d)).unwrap();
    }
    let plan = fs_plan(
        vec![
            grant(&v.join("w"), Rights::WRITE),
            grant(&v.join("w/a/b/ro"), Rights::READ),
            // The same flags as the writable bind: not bound again, nothing to pin.
            grant(&v.join("w/e"), Rights::WRITE),
            // Inside a read-only bind nothing can be renamed: pinned only below the
            // writable bind nested in it.
            grant(&v.join("ro"), Rights::READ),
            grant(&v.join("ro/f/rw"), Rights::WRITE),
            grant(&v.join("ro/f/rw/g/ro2"), Rights::READ),
            // A file directly inside the writable bind: no directory on its way to pin.
            grant(&v.join("w/h"), Rights::READ),
        ],
        &[&v.join("w/c/d/secret"), &v.join("w/a/b/ro")],
    );
    let m = build(&plan, &[], &v, true);
    let s = v.display();
    let pins: Vec<String> = shown(&m)
        .into_iter()
        .filter(|o| o.starts_with("pin "))
        .collect();
    assert_eq!(
        pins,
        [
            format!("pin /tmp{s}/ro/f/rw/g"),
            format!("pin /tmp{s}/w/a"),
            format!("pin /tmp{s}/w/a/b"),
            format!("pin /tmp{s}/w/c"),
            format!("pin /tmp{s}/w/c/d"),
        ]
    );
    // Each pin after the bind it lies in, before what is mounted beneath it.
    let ops = shown(&m);
    let at = |line: &str| ops.iter().position(|o| o == line).unwrap();
    assert!(at(&format!("pin /tmp{s}/w/a/b")) < at(&format!("mkdir /tmp{s}/w/a/b/ro")));
    assert!(at(&format!("pin /tmp{s}/w/c/d")) < at(&format!("hide-dir /tmp{s}/w/c/d/secret")));
    check_rules(&m, true);
    // The host view (learn) binds nothing but what lies in /tmp: nothing to pin.
    let m = build(&plan, &[], &v, false);
    assert!(!shown(&m).iter().any(|o| o.starts_with("pin ")));
}

#[test]
fn a_grant_of_the_root_is_the_root() {
    // `/` granted: its bind is the root (no tmpfs of mcpcell's, nothing to remount), and a
    // writable directory inside it is bound again.
    let (_v, v) = outside_tmp();
    std::fs::create_dir(v.join("rw")).unwrap();
    let plan = fs_plan(
        vec![
            grant(Path::new("/"), Rights::EXEC),
            grant(&v.join("rw"), Rights::WRITE),
        ],
        &[],
    );
    let m = build(&plan, &[], &v, true);
    let ops = shown(&m);
    let s = v.display();
    assert_eq!(
        ops[..5],
        [
            "make-private /".to_string(),
            "detach #0 / ro,nosuid,nodev".into(),
            format!("detach #1 {s}/rw nosuid,nodev,noexec"),
            "mkdir /tmp/".into(),
            "attach #0 /tmp/".into(),
        ]
    );
    assert!(ops.contains(&format!("attach #1 /tmp{s}/rw")));
    assert!(!ops.iter().any(|o| o.starts_with("remount-ro")));
    assert!(!ops.iter().any(|o| o == "tmpfs /tmp mode=0755 nosuid,nodev"));
    // The resolver files are the host's, covered where they are.
    assert!(!ops.iter().any(|o| o.starts_with("create /tmp/etc")));
    assert_eq!(ops.last().unwrap(), "pivot /tmp");
    check_rules(&m, true);
}

#[test]
fn private_mounts_take_exec_from_their_grants() {
    // The private /tmp is no-exec unless a grant inside it says exec.
    let fs = fs_plan(vec![grant(Path::new("/tmp"), RWX)], &[]);
    let m = build(&fs, &[], Path::new("/"), true);
    assert!(
        shown(&m).contains(
            &"tmpfs /tmp/tmp mode=1777,size=1048576,nr_inodes=1024 nosuid,nodev".to_string()
        ),
        "{:#?}",
        shown(&m)
    );
    check_rules(&m, true);
}

#[test]
fn mount_flags_follow_the_grant() {
    const RO: u64 = MOUNT_ATTR_RDONLY;
    const NOSUID: u64 = MOUNT_ATTR_NOSUID;
    const NODEV: u64 = MOUNT_ATTR_NODEV;
    const NOEXEC: u64 = MOUNT_ATTR_NOEXEC;
    let wx = RWX;
    for (rights, device, want) in [
        (Rights::READ, false, RO | NOSUID | NODEV),
        (Rights::EXEC, false, RO | NOSUID | NODEV),
        (Rights::WRITE, false, NOSUID | NODEV | NOEXEC),
        (wx, false, NOSUID | NODEV),
        (Rights::READ, true, RO | NOSUID | NOEXEC),
        (Rights::WRITE, true, RO | NOSUID | NOEXEC),
        (wx, true, RO | NOSUID),
    ] {
        assert_eq!(
            attrs_for(rights, device),
            want,
            "{} device={device}",
            rights.label()
        );
    }
}

#[test]
fn a_failure_names_the_path_inside() {
    let (_v, v) = outside_tmp();
    std::fs::create_dir(v.join("secret")).unwrap();
    let fs = fs_plan(vec![grant(&v, Rights::READ)], &[&v.join("secret")]);
    let m = build(&fs, &[], &v, true);
    let index = |want: &str| shown(&m).iter().position(|o| o.starts_with(want)).unwrap();
    let s = v.display().to_string();
    // The copy names the host path; a mount point, the path as the sandbox sees it.
    let detach = index("detach #0");
    assert_eq!(m.describe(Step::BindIntoPrivate, detach), Some(s.clone()));
    assert_eq!(m.describe(Step::MountAttrs, detach), Some(s.clone()));
    assert_eq!(
        m.describe(Step::BindIntoPrivate, index("attach #0")),
        Some(s.clone())
    );
    assert_eq!(
        m.describe(Step::Hide, index("hide-dir")),
        Some(format!("{s}/secret"))
    );
    assert_eq!(
        m.describe(Step::MountTmp, index("tmpfs /tmp/tmp")),
        Some("/tmp".into())
    );
    assert_eq!(
        m.describe(Step::MountRoot, index("tmpfs /tmp ")),
        Some("/".into())
    );
    // A record that does not match its operation names nothing.
    assert_eq!(m.describe(Step::Hide, detach), None);
    assert_eq!(m.describe(Step::Hide, m.ops.len()), None);
}

#[test]
fn the_rules_catch_a_wrong_order() {
    // The checks above would see each of these mistakes.
    let (_v, v) = outside_tmp();
    std::fs::create_dir_all(v.join("a/b")).unwrap();
    std::fs::create_dir(v.join("a/c")).unwrap();
    let fs = fs_plan(
        vec![
            grant(&v.join("a"), Rights::READ),
            grant(&v.join("a/b"), RWX),
        ],
        &[&v.join("a/c")],
    );
    let at = |m: &Mounts, want: &str| shown(m).iter().position(|o| o.starts_with(want)).unwrap();
    let fresh = || build(&fs, &[], &v, true);
    assert_eq!(rules(&fresh().ops, true), Ok(()));
    let s = v.display();
    type Mistake<'a> = Box<dyn Fn(&mut Mounts) + 'a>;
    let broken: [(&str, Mistake); 6] = [
        (
            "the pivot is not last",
            Box::new(|m| {
                let n = m.ops.len();
                m.ops.swap(n - 1, n - 2);
            }),
        ),
        (
            "a mask before a bind",
            Box::new(|m| {
                let (h, a) = (at(m, "hide-dir"), at(m, "attach #1"));
                let hide = m.ops.remove(h);
                m.ops.insert(a, hide);
            }),
        ),
        (
            "a copy is taken after a mount",
            Box::new(|m| {
                let d = m.ops.remove(at(m, "detach #1"));
                m.ops.insert(at(m, "tmpfs /tmp ") + 1, d);
            }),
        ),
        (
            "covers the earlier",
            Box::new(|m| {
                let root = m.ops.remove(at(m, "tmpfs /tmp "));
                m.ops.insert(at(m, "attach #0"), root);
            }),
        ),
        (
            "before its mount point exists",
            Box::new(move |m| {
                let mp = m.ops.remove(at(m, &format!("mkdir /tmp{s}/a")));
                m.ops.insert(at(m, "attach #1"), mp);
            }),
        ),
        ("not made private first", Box::new(|m| m.ops.swap(0, 1))),
    ];
    for (want, break_it) in broken {
        let mut m = fresh();
        break_it(&mut m);
        let e = rules(&m.ops, true).expect_err(want);
        assert!(e.contains(want), "{want}: {e}");
    }
}

/// A directory made once is not asked for again, unless a mount on it or above it has hidden
/// it since.
#[test]
fn a_directory_is_made_once_until_a_mount_hides_it() {
    let mkdir = |p: &str| MountOp::Mkdir {
        step: Step::MountRoot,
        path: cstr(p).unwrap(),
    };
    let mut ops = vec![
        mkdir("/tmp/a"),
        mkdir("/tmp/a/b"),
        mkdir("/tmp/a"),
        mkdir("/tmp/ab"),
        MountOp::Tmpfs {
            step: Step::MountTmp,
            target: cstr("/tmp/a").unwrap(),
            options: cstr("mode=1777").unwrap(),
            flags: 0,
        },
        // The mount point itself is still a directory; what was beneath it is gone.
        mkdir("/tmp/a"),
        mkdir("/tmp/a/b"),
        mkdir("/tmp/ab"),
    ];
    super::drop_repeated_mkdirs(&mut ops);
    let left: Vec<String> = ops
        .iter()
        .map(|op| match op {
            MountOp::Mkdir { path, .. } => path.to_string_lossy().into_owned(),
            other => format!("{:?}", other.step()),
        })
        .collect();
    assert_eq!(
        left,
        ["/tmp/a", "/tmp/a/b", "/tmp/ab", "MountTmp", "/tmp/a/b"]
    );
}

#[test]
fn the_copies_of_stdio_devices_go_to_dev_or_where_the_pivot_lets_go() {
    // A read-only copy of a device's mount (stdio given as /dev/null, as root) goes to the
    // device's name in the sandbox's /dev, or, for a node elsewhere, over the host tree's
    // /dev/null just before the pivot, which lets go of that tree; never in the host view
    // (learn relays such devices instead).
    use std::os::fd::AsRawFd;
    let (_v, v) = outside_tmp();
    let elsewhere = v.join("node");
    std::fs::write(&elsewhere, b"").unwrap();
    let null = std::fs::File::open("/dev/null").unwrap();
    let other = std::fs::File::open(&elsewhere).unwrap();
    let copies = [
        Some((41, null.as_raw_fd())),
        None,
        Some((42, other.as_raw_fd())),
    ];
    let build = |plan: &FsPlan, granted_view| {
        Mounts::build(&Layout {
            fs: plan,
            unix: &[],
            cwd: &v,
            resolver: false,
            tmp_size: None,
            granted_view,
            device_copies: copies,
        })
        .unwrap()
    };
    let plan = fs_plan(vec![grant(&v, Rights::READ)], &[]);
    let m = build(&plan, true);
    let ops = shown(&m);
    assert_eq!(
        ops[ops.len() - 5..],
        [
            "create /tmp/dev/null",
            "attach stdio device /tmp/dev/null",
            "attach stdio device /dev/null",
            "remount-ro /tmp",
            "pivot /tmp"
        ]
    );
    let fds: Vec<RawFd> = m
        .ops
        .iter()
        .filter_map(|op| match op {
            MountOp::AttachDeviceCopy { fd, .. } => Some(*fd),
            _ => None,
        })
        .collect();
    assert_eq!(fds, [41, 42]);
    check_rules(&m, true);
    // /dev granted whole (a bind, not the skeleton's): the host tree's /dev/null it is.
    let dev = fs_plan(
        vec![
            grant(&v, Rights::READ),
            grant(Path::new("/dev"), Rights::READ),
        ],
        &[],
    );
    let ops = shown(&build(&dev, true));
    assert_eq!(
        ops.iter()
            .filter(|o| *o == "attach stdio device /dev/null")
            .count(),
        2,
        "{ops:?}"
    );
    check_rules(&build(&dev, true), true);
    let host = shown(&build(&plan, false));
    assert!(!host.iter().any(|o| o.contains("stdio device")), "{host:?}");
}
