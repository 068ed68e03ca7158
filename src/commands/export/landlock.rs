//! The filesystem and network rules in the Landlock maintainers' configuration format
//! (landlock-lsm/landlockconfig, JSON): one ruleset, `pathBeneath` entries grouped by the
//! rights they grant, `netPort` entries for host mode's TCP rules. Rights are listed by
//! name, not as `abi.*` sets, so that the document means the same on every kernel (a loader
//! drops what an older kernel lacks, best effort).

use std::collections::BTreeMap;

use landlock::{ABI, Access, AccessFs, BitFlags};
use serde_json::{Value, json};

use crate::plan::Plan;
use crate::plan::fs::{Kind, Placement};
use crate::profile::NetworkMode;

/// The name landlockconfig gives an access right; None for one its format does not have.
fn name(a: AccessFs) -> Option<&'static str> {
    Some(match a {
        AccessFs::Execute => "execute",
        AccessFs::WriteFile => "write_file",
        AccessFs::ReadFile => "read_file",
        AccessFs::ReadDir => "read_dir",
        AccessFs::RemoveDir => "remove_dir",
        AccessFs::RemoveFile => "remove_file",
        AccessFs::MakeChar => "make_char",
        AccessFs::MakeDir => "make_dir",
        AccessFs::MakeReg => "make_reg",
        AccessFs::MakeSock => "make_sock",
        AccessFs::MakeFifo => "make_fifo",
        AccessFs::MakeBlock => "make_block",
        AccessFs::MakeSym => "make_sym",
        AccessFs::Refer => "refer",
        AccessFs::Truncate => "truncate",
        AccessFs::IoctlDev => "ioctl_dev",
        _ => return None,
    })
}

fn names(access: BitFlags<AccessFs>) -> Vec<&'static str> {
    access.iter().filter_map(name).collect()
}

/// The document, and what it cannot carry.
pub fn document(plan: &Plan) -> (Value, Vec<String>) {
    let abi = ABI::from(plan.landlock.abi);
    let mut notes = Vec::new();
    let mut ruleset = json!({ "handledAccessFs": names(AccessFs::from_all(abi)) });
    let tcp = plan.network.mode == NetworkMode::Host && plan.landlock.tcp_rules;
    if tcp {
        let mut net = vec!["bind_tcp"];
        if !plan.network.connect.is_empty() {
            net.push("connect_tcp");
        }
        ruleset["handledAccessNet"] = json!(net);
    }
    if plan.landlock.abi >= 6 {
        ruleset["scoped"] = json!(["abstract_unix_socket", "signal"]);
    }
    // Paths grouped by the rights they get, in the plan's order.
    let mut groups: BTreeMap<Vec<&'static str>, Vec<String>> = BTreeMap::new();
    let mut private = Vec::new();
    for r in &plan.filesystem.rules {
        if r.placement == Placement::Private {
            private.push(r.path.display().to_string());
        }
        let access = r.rights.access(abi, r.kind == Kind::Dir);
        groups
            .entry(names(access))
            .or_default()
            .push(r.path.display().to_string());
    }
    let path_beneath: Vec<Value> = groups
        .into_iter()
        .map(|(access, parent)| json!({ "allowedAccess": access, "parent": parent }))
        .collect();
    let mut doc = json!({
        "abi": plan.landlock.abi,
        "ruleset": [ruleset],
        "pathBeneath": path_beneath,
    });
    if tcp {
        let mut ports = Vec::new();
        if !plan.network.bind.is_empty() {
            ports.push(json!({ "allowedAccess": ["bind_tcp"], "port": plan.network.bind }));
        }
        if !plan.network.connect.is_empty() {
            ports.push(json!({ "allowedAccess": ["connect_tcp"], "port": plan.network.connect }));
        }
        if !ports.is_empty() {
            doc["netPort"] = json!(ports);
        }
    }
    if !private.is_empty() {
        notes.push(format!(
            "{} are private to the sandbox under mcpcell (its own tmpfs and procfs); in a container they are the container's own: give it an empty /tmp",
            private.join(", ")
        ));
    }
    if !plan.filesystem.hide.is_empty() {
        let hidden: Vec<String> = plan
            .filesystem
            .hide
            .iter()
            .map(|h| h.path.display().to_string())
            .collect();
        notes.push(format!(
            "NOT CARRIED: `hide` ({}) masks paths inside granted directories with mounts; this format has no way to say it, so under this document those paths are reachable",
            hidden.join(", ")
        ));
    }
    if !plan.network.unix.is_empty() {
        notes.push("NOT CARRIED: network.unix (connecting to named Unix sockets, Landlock ABI 9's resolve_unix) has no name in this format".into());
    }
    match plan.network.mode {
        NetworkMode::Host if !plan.network.connect.is_empty() => notes.push("NOT CARRIED: with a `connect` list, `run` also refuses UDP sockets and TCP Fast Open (which connect past Landlock's TCP rule) with seccomp; this format holds TCP ports only: pair it with `mcpcell export seccomp`".into()),
        NetworkMode::Host => {}
        NetworkMode::None => notes.push("network mode `none` is a network namespace (or, without one, a seccomp rule): this format carries no network rule for it".into()),
        NetworkMode::Proxy => notes.push("network mode `proxy` is enforced by mcpcell's egress proxy outside the sandbox: this format carries no network rule for it (see `mcpcell proxy`)".into()),
    }
    (doc, notes)
}
