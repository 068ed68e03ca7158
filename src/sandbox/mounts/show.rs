//! The mount plan as text, one line per operation (`attach #2 /tmp/usr`): for tests and
//! messages.

use std::ffi::CString;
use std::fmt;

use super::MountOp;
use super::sources::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
use crate::plan::fs::Kind;

impl fmt::Display for MountOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            MountOp::MakePrivate => write!(f, "make-private /"),
            MountOp::Detach {
                source,
                attrs,
                tree,
                ..
            } => write!(f, "detach #{tree} {} {}", s(source), attr_names(*attrs)),
            MountOp::Tmpfs {
                target,
                options,
                flags,
                ..
            } => write!(
                f,
                "tmpfs {} {} {}",
                s(target),
                s(options),
                flag_names(*flags)
            ),
            MountOp::Mkdir { path, .. } => write!(f, "mkdir {}", s(path)),
            MountOp::CreateFile { path, .. } => write!(f, "create {}", s(path)),
            MountOp::Attach { tree, target } => write!(f, "attach #{tree} {}", s(target)),
            MountOp::Symlink { link, target } => write!(f, "symlink {} -> {}", s(link), s(target)),
            MountOp::Replace {
                target, staging, ..
            } => write!(f, "replace {} via {}", s(target), s(staging)),
            MountOp::Proc { target } => write!(f, "proc {}", s(target)),
            MountOp::Hide { target, kind } => {
                let k = if *kind == Kind::Dir { "dir" } else { "file" };
                write!(f, "hide-{k} {}", s(target))
            }
            MountOp::Pin { target } => write!(f, "pin {}", s(target)),
            MountOp::RemountReadOnly { target } => write!(f, "remount-ro {}", s(target)),
            MountOp::AttachDeviceCopy { target, .. } => {
                write!(f, "attach stdio device {}", s(target))
            }
            MountOp::Pivot { root } => write!(f, "pivot {}", s(root)),
        }
    }
}

fn attr_names(attrs: u64) -> String {
    let names: Vec<&str> = [
        (MOUNT_ATTR_RDONLY, "ro"),
        (MOUNT_ATTR_NOSUID, "nosuid"),
        (MOUNT_ATTR_NODEV, "nodev"),
        (MOUNT_ATTR_NOEXEC, "noexec"),
    ]
    .iter()
    .filter(|(bit, _)| attrs & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    names.join(",")
}

fn flag_names(flags: libc::c_ulong) -> String {
    let names: Vec<&str> = [
        (libc::MS_RDONLY, "ro"),
        (libc::MS_NOSUID, "nosuid"),
        (libc::MS_NODEV, "nodev"),
        (libc::MS_NOEXEC, "noexec"),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    names.join(",")
}
