//! The syscall policy as an OCI runtime-spec `linux.seccomp` document (runc, crun, Docker's
//! and Podman's `--security-opt seccomp=`, Kubernetes `seccompProfile: Localhost`).
//!
//! The format is libseccomp's: a default action, and per syscall name a list of rules whose
//! argument comparisons are AND'ed, each argument compared at most once per rule (runtimes
//! split a rule that compares one argument twice into separate rules, which turns AND into
//! OR). Comparisons are on all 64 bits, while mcpcell's filter compares the low 32 bits the
//! kernel reads; so an equality becomes `(arg & 0xffffffff) == v`, and several "not equal"
//! conditions on one argument become the list of values that are denied. What the format
//! cannot say exactly is exported stricter, never weaker, and named in the notes.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use thiserror::Error;

use super::{Action, ArgCond, Cmp, Member, Qualified, qualified_conditions};

#[derive(Debug, Error)]
pub enum ExportError {
    #[error(
        "the policy observes syscalls (learn's observe mode), which an OCI seccomp profile cannot express"
    )]
    Observe,
    /// `--format bpf` with standard output on a terminal: the program is binary, and its
    /// bytes would reach the terminal as control sequences.
    #[error(
        "the bpf format is a binary program and standard output is a terminal: redirect it to a file, e.g. `mcpcell export seccomp --format bpf -p PROFILE > PROFILE.bpf`"
    )]
    BinaryToTerminal,
}

/// One argument comparison in the OCI format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OciCmp {
    Ne(u64),
    /// `arg & mask == value`; OCI writes the mask as `value` and the datum as `valueTwo`.
    MaskedEq {
        mask: u64,
        value: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OciArg {
    pub index: u8,
    pub cmp: OciCmp,
}

impl OciArg {
    /// Whether a call with these 64-bit arguments matches, as libseccomp compares.
    #[cfg(test)]
    pub fn matches(&self, args: &[u64; 6]) -> bool {
        let a = args[self.index as usize];
        match self.cmp {
            OciCmp::Ne(v) => a != v,
            OciCmp::MaskedEq { mask, value } => a & mask == value,
        }
    }

    fn json(&self) -> Value {
        let (op, value, two) = match self.cmp {
            OciCmp::Ne(v) => ("SCMP_CMP_NE", v, 0),
            OciCmp::MaskedEq { mask, value } => ("SCMP_CMP_MASKED_EQ", mask, value),
        };
        json!({ "index": self.index, "value": value, "valueTwo": two, "op": op })
    }
}

const LOW32: u64 = 0xffff_ffff;

/// The OCI rules (OR'ed; the arguments inside one rule AND'ed) that deny what
/// `conditions` deny, and whether they deny more (true: stricter than mcpcell's filter).
pub fn rules_for(conditions: &[Vec<ArgCond>]) -> (Vec<Vec<OciArg>>, bool) {
    let mut out = Vec::new();
    let mut stricter = false;
    for rule in conditions {
        let mut by_arg: BTreeMap<u8, Vec<Cmp>> = BTreeMap::new();
        for c in rule {
            by_arg.entry(c.arg).or_default().push(c.cmp);
        }
        // Per argument, the alternatives (OR'ed) that together match what its conditions
        // (AND'ed) match; the rule is then every combination of one alternative per argument.
        let mut product: Vec<Vec<OciArg>> = vec![Vec::new()];
        for (index, cmps) in by_arg {
            let alternatives = match alternatives(&cmps) {
                Some(a) => a,
                None => {
                    // Not expressible: deny whatever this argument is.
                    stricter = true;
                    continue;
                }
            };
            product = product
                .into_iter()
                .flat_map(|prefix| {
                    alternatives.iter().map(move |&cmp| {
                        let mut r = prefix.clone();
                        r.push(OciArg { index, cmp });
                        r
                    })
                })
                .collect();
        }
        out.extend(product);
    }
    (out, stricter)
}

/// Single 64-bit comparisons, any of which holds exactly when all of `cmps` hold on the
/// argument's low 32 bits (`Ne` alone is kept as a 64-bit `Ne`, which holds for every value
/// whose low 32 bits differ, and also for a few more: stricter, never weaker). None when no
/// such list exists in a usable size.
fn alternatives(cmps: &[Cmp]) -> Option<Vec<OciCmp>> {
    match cmps {
        [Cmp::Eq(v)] => Some(vec![OciCmp::MaskedEq {
            mask: LOW32,
            value: v & LOW32,
        }]),
        [Cmp::MaskedEq { mask, value }] => Some(vec![OciCmp::MaskedEq {
            mask: mask & LOW32,
            value: value & LOW32,
        }]),
        [Cmp::Ne(v)] => Some(vec![OciCmp::Ne(*v)]),
        // Values under one small mask other than some: each remaining value of the mask.
        masked @ [Cmp::MaskedNe { mask, .. }, ..]
            if *mask <= 0xff
                && masked
                    .iter()
                    .all(|c| matches!(c, Cmp::MaskedNe { mask: m, .. } if m == mask)) =>
        {
            let excluded: Vec<u64> = masked
                .iter()
                .filter_map(|c| match c {
                    Cmp::MaskedNe { value, .. } => Some(*value),
                    _ => None,
                })
                .collect();
            Some(
                (0..=*mask)
                    .filter(|v| v & !mask == 0 && !excluded.contains(v))
                    .map(|value| OciCmp::MaskedEq { mask: *mask, value })
                    .collect(),
            )
        }
        many => {
            // "None of these small values": any bit from 5 up set, or the low five bits one
            // of the other values below 32.
            let mut excluded = Vec::new();
            for c in many {
                match c {
                    Cmp::Ne(v) if *v < 32 => excluded.push(*v),
                    _ => return None,
                }
            }
            let mut alts: Vec<OciCmp> = (5..32)
                .map(|b| OciCmp::MaskedEq {
                    mask: 1 << b,
                    value: 1 << b,
                })
                .collect();
            alts.extend(
                (0..32)
                    .filter(|v| !excluded.contains(v))
                    .map(|v| OciCmp::MaskedEq {
                        mask: LOW32,
                        value: v,
                    }),
            );
            Some(alts)
        }
    }
}

fn action_json(a: Action) -> Result<(&'static str, Option<u32>), ExportError> {
    Ok(match a {
        Action::Errno(e) => ("SCMP_ACT_ERRNO", Some(e)),
        Action::Kill => ("SCMP_ACT_KILL_PROCESS", None),
        Action::Log => ("SCMP_ACT_LOG", None),
        Action::Notify => return Err(ExportError::Observe),
    })
}

/// The exported document and what a reader must know about it.
pub struct Export {
    pub document: Value,
    pub notes: Vec<String>,
}

/// The OCI `linux.seccomp` document for a deny list (as [`super::compile`] takes it).
pub fn export(denied: &[(Member, Action)]) -> Result<Export, ExportError> {
    let mut plain: BTreeMap<&'static str, Action> = BTreeMap::new();
    let mut qualified: Vec<(Qualified, Action)> = Vec::new();
    for &(m, a) in denied {
        action_json(a)?;
        match m {
            Member::Syscall(name) => {
                plain.insert(name, a);
            }
            Member::Qualified(q) => qualified.push((q, a)),
        }
    }
    let mut notes = Vec::new();
    let mut syscalls = Vec::new();
    // Unconditional denials, one entry per action.
    let mut by_action: BTreeMap<(&str, Option<u32>), Vec<&str>> = BTreeMap::new();
    for (name, a) in &plain {
        by_action.entry(action_json(*a)?).or_default().push(name);
    }
    for ((action, errno), names) in by_action {
        let mut e = json!({ "names": names, "action": action });
        if let Some(n) = errno {
            e["errnoRet"] = json!(n);
        }
        syscalls.push(e);
    }
    // Argument rules; a plain denial of the same syscall already covers them.
    for (q, a) in qualified {
        if plain.contains_key(q.syscall()) {
            continue;
        }
        let (action, errno) = action_json(a)?;
        let (rules, stricter) = rules_for(&qualified_conditions(q));
        if stricter {
            notes.push(format!(
                "{} ({}): exported stricter than mcpcell enforces it, because the format cannot compare one argument with several values in one rule",
                q.name(),
                q.syscall()
            ));
        }
        for args in rules {
            let mut e = json!({
                "names": [q.syscall()],
                "action": action,
                "args": args.iter().map(OciArg::json).collect::<Vec<_>>(),
            });
            if let Some(n) = errno {
                e["errnoRet"] = json!(n);
            }
            syscalls.push(e);
        }
    }
    notes.push("syscalls made through another ABI (i386 `int 0x80`, x32) are killed by the runtime, which only allows SCMP_ARCH_X86_64; mcpcell answers them ENOSYS".into());
    notes.push("a runtime whose libseccomp does not know a syscall name skips that entry without an error (runc, crun): use libseccomp 2.5.4 or later".into());
    notes.push("this is the syscall policy only: the profile's filesystem and network rules (Landlock), its namespaces and its environment need mcpcell inside the container".into());
    Ok(Export {
        document: json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": syscalls,
        }),
        notes,
    })
}
