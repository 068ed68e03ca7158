//! YAML → profile: lookup, `extends`, merging, and every kind of bad input, with the exact
//! message a user sees.

use std::error::Error;
use std::path::{Path, PathBuf};

use super::*;

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.tmp.path().canonicalize().unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn loader(&self) -> Loader {
        Loader::with_dirs(vec![self.path().join("user"), self.path().join("etc")])
    }

    /// The error text of loading `text` as a profile file, with the file path replaced by
    /// `P` so that expectations do not depend on the temporary directory.
    fn error_of(&self, text: &str) -> String {
        let f = self.write("p.yaml", text);
        let err = self.loader().load(&f).unwrap_err().to_string();
        err.replace(&f, "P")
    }
}

#[test]
fn malformed_yaml() {
    let d = Dir::new();
    assert_eq!(
        d.error_of("filesystem:\n  read: [/usr\n"),
        "P:3:1: did not find expected ',' or ']', while parsing a flow sequence that started at line 2 column 9"
    );
    // A tab for indentation is named as such (and no message says so for spaces).
    assert_eq!(
        d.error_of("filesystem:\n\tread: [/usr]\n"),
        "P:2:1: found character that cannot start any token, while scanning for the next token (a tab: YAML indents with spaces, not tabs)"
    );
    // A key given twice is pointed at where it is given again.
    assert_eq!(
        d.error_of("filesystem:\n  read: [/a]\n  read: [/b]\n"),
        "P:3:3: filesystem: duplicate field `read`"
    );
    assert_eq!(
        d.error_of("network:\n  mode: none\nnetwork:\n  mode: host\n"),
        "P:3:1: duplicate field `network`"
    );
    // One item where a list is wanted: offered as a list.
    assert_eq!(
        d.error_of("extends: node\n"),
        "P:1:10: extends: invalid type: string \"node\", expected a sequence (a list: [node])"
    );
}

#[test]
fn unknown_keys() {
    let d = Dir::new();
    assert_eq!(
        d.error_of("filesystem:\n  reed: [/usr]\n"),
        "P:2:3: filesystem.reed: unknown field `reed` (did you mean `read`?), expected one of `read`, `write`, `exec`, `args`, `programs`, `hide`"
    );
    assert_eq!(
        d.error_of("netwrok:\n  mode: none\n"),
        "P:1:1: netwrok: unknown field `netwrok` (did you mean `network`?), expected one of `description`, `extends`, `filesystem`, `network`, `syscalls`, `env`, `capabilities`, `limits`"
    );
}

#[test]
fn wrong_types() {
    let d = Dir::new();
    assert_eq!(
        d.error_of("limits:\n  open_files: lots\n"),
        "P:2:15: limits.open_files: invalid type: string \"lots\", expected i64"
    );
    assert_eq!(
        d.error_of("filesystem:\n  read: /usr\n"),
        "P:2:9: filesystem.read: invalid type: string \"/usr\", expected a sequence (a list: [/usr])"
    );
    assert_eq!(
        d.error_of("network:\n  mode: open\n"),
        "P:2:9: network.mode: unknown variant `open`, expected one of `none`, `proxy`, `host`"
    );
    assert_eq!(
        d.error_of("limits:\n  processes: 0\n"),
        "P:2:14: limits.processes: limit 0 must be a positive number"
    );
    assert_eq!(
        d.error_of("limits:\n  tmp_size: 12X\n"),
        "P:2:13: limits.tmp_size: size \"12X\" is not valid: write a positive number of bytes, or one with a K, M, G or T suffix such as 64M"
    );
    assert_eq!(
        d.error_of("limits:\n  memory: -1\n"),
        "P:2:11: limits.memory: size -1 is not valid: write a positive number of bytes, or one with a K, M, G or T suffix such as 64M"
    );
    assert_eq!(
        d.error_of("limits:\n  state_size: lots\n"),
        "P:2:15: limits.state_size: size \"lots\" is not valid: write a positive number of bytes, or one with a K, M, G or T suffix such as 64M"
    );
}

#[test]
fn bad_ports() {
    let d = Dir::new();
    assert_eq!(
        d.error_of("network:\n  mode: host\n  connect: [443, 70000]\n"),
        "P:3:18: network.connect[1]: port 70000 is out of range: a TCP port is a number from 1 to 65535"
    );
    assert_eq!(
        d.error_of("network:\n  mode: host\n  bind: [0]\n"),
        "P:3:10: network.bind[0]: port 0 is out of range: a TCP port is a number from 1 to 65535"
    );
}

#[test]
fn extends_cycles() {
    let d = Dir::new();
    let a = d.write("a.yaml", "extends: [b.yaml]\n");
    d.write("b.yaml", "extends: [c.yaml]\n");
    d.write("c.yaml", "extends: [a.yaml]\n");
    let err = d.loader().load(&a).unwrap_err().to_string();
    let dir = d.path().display().to_string();
    assert_eq!(
        err.replace(&dir, "D"),
        "profiles extend each other in a cycle: D/a.yaml -> D/b.yaml -> D/c.yaml -> D/a.yaml; remove one of these `extends` entries"
    );
    let own = d.write("self.yaml", "extends: [self.yaml]\n");
    let err = d.loader().load(&own).unwrap_err().to_string();
    assert!(
        err.starts_with("profiles extend each other in a cycle"),
        "{err}"
    );
}

#[test]
fn extends_an_unknown_profile() {
    let d = Dir::new();
    let err = d.error_of("extends: [nodejs]\n");
    let dir = d.path().display().to_string();
    assert_eq!(
        err.replace(&dir, "D"),
        format!(
            "P:1:11: extends[0]: no profile named `nodejs` (did you mean `node`?); looked for nodejs.yaml in D/user, D/etc and among the built-in profiles ({}); run `mcpcell profiles list` to see them",
            builtin::names().collect::<Vec<_>>().join(", ")
        )
    );
    assert_eq!(
        d.error_of("extends: [\"no/such/file.yaml\"]\n")
            .replace(&d.path().display().to_string(), "D"),
        "P:1:11: extends[0]: failed to read profile D/no/such/file.yaml: No such file or directory (os error 2)"
    );
    assert_eq!(
        d.error_of("extends: [\"bad name\"]\n"),
        "P:1:11: extends[0]: `bad name` is not a valid profile name: a name uses letters, digits, `-`, `_` and `.`, with no `.` first or last (so never `.` or `..`); a path contains `/` or ends in `.yaml`"
    );
}

#[test]
fn a_missing_parent_does_not_hide_the_documents_other_errors() {
    let d = Dir::new();
    let err = d.error_of(
        "extends: [nod]\nfilesystem:\n  read: [/usr]\n  bogus: 1\nnetwork:\n  mode: nonee\n  allow: [example.com]\nsyscalls:\n  deny: [ptrce]\n",
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        err.contains("P:1:11: extends[0]: no profile named `nod` (did you mean `node`?)"),
        "{err}"
    );
    assert!(
        err.contains("P:4:3: filesystem.bogus: unknown field `bogus`"),
        "{err}"
    );
    assert!(
        err.contains("P:6:9: network.mode: unknown variant `nonee`"),
        "{err}"
    );
    assert!(
        err.contains("P:9:10: syscalls.deny[0]: unknown syscall `ptrce`"),
        "{err}"
    );
    // Without the parent, the merge is not the profile: no warning about keys that a
    // parent's network mode would have made meaningful.
    assert!(!err.contains("only applies"), "{err}");
    // The same document with the parent's name right: the parent is found and merged.
    let err = d.error_of("extends: [node]\nsyscalls:\n  deny: [ptrce]\n");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn unknown_variables_syscalls_and_groups() {
    let d = Dir::new();
    assert_eq!(
        d.error_of("filesystem:\n  read: [\"${HOEM}/notes\"]\n"),
        "P:2:10: filesystem.read[0]: unknown variable ${HOEM}; known variables are ${HOME}, ${CWD}, ${TMPDIR}, ${XDG_CONFIG_HOME}, ${XDG_CACHE_HOME}, ${XDG_DATA_HOME}, ${XDG_STATE_HOME}, ${PROFILE_DIR}, ${STATE_DIR}"
    );
    assert_eq!(
        d.error_of("syscalls:\n  deny: [ptrce]\n"),
        "P:2:10: syscalls.deny[0]: unknown syscall `ptrce` on x86_64 (did you mean `ptrace`?)"
    );
    let err = d.error_of("syscalls:\n  deny: [\"@mounts\"]\n");
    assert!(
        err.starts_with("P:2:10: syscalls.deny[0]: unknown syscall group `@mounts` (did you mean `@mount`?); groups are @default, @aio,"),
        "{err}"
    );
    let err = d.error_of("syscalls:\n  allow: [\"ioctl(TIOCSTY)\"]\n");
    assert!(
        err.starts_with("P:2:11: syscalls.allow[0]: unknown argument rule `ioctl(TIOCSTY)` (did you mean `ioctl(TIOCSTI)`?)"),
        "{err}"
    );
}

#[test]
fn several_errors_are_reported_together() {
    let d = Dir::new();
    let err = d.error_of(
        "filesystem:\n  read: [relative/path]\n  programs: [\"./node\"]\ncapabilities:\n  keep: [CAP_FLY]\nenv:\n  pass: [\"BAD-NAME\"]\nnetwork:\n  mode: proxy\n  allow: [\"exa*mple.com\"]\n  allow_private: [\"10.0.0.0/33\"]\n",
    );
    assert_eq!(
        err,
        "P:2:10: filesystem.read[0]: `relative/path` is a relative path; profile paths must be absolute: start it with /, ${HOME}/ or ${CWD}/\n\
P:3:14: filesystem.programs[0]: `./node` is not a program: give a name found on PATH, such as node, or an absolute path\n\
P:7:10: env.pass[0]: `BAD-NAME` is not a variable name or pattern: use letters, digits and `_`, optionally ending in `*` (as in LC_*)\n\
P:5:10: capabilities.keep[0]: unknown capability `CAP_FLY`; write a name such as CAP_NET_BIND_SERVICE (see capabilities(7))\n\
P:10:11: network.allow[0]: `exa*mple.com`: a wildcard may only stand first, as in *.example.com (which matches the subdomains, not example.com itself)\n\
P:11:19: network.allow_private[0]: `10.0.0.0/33`: the prefix length must be a number from 0 to 32"
    );
}

#[test]
fn warnings_do_not_fail_the_load() {
    let d = Dir::new();
    let f = d.write(
        "w.yaml",
        "network:\n  mode: none\n  connect: [443]\nsyscalls:\n  allow: [ptrace]\n",
    );
    let (_, diags) = d.loader().load(&f).unwrap();
    let text: Vec<String> = diags
        .iter()
        .map(|d| d.to_string().replace(&f, "P"))
        .collect();
    assert_eq!(
        text,
        [
            "P:5:11: warning: syscalls.allow[0]: `ptrace` is not denied by syscalls.deny, so allowing it changes nothing",
            "P:3:13: warning: network.connect[0]: network.connect only applies when network.mode is host; with mode none it is ignored",
        ]
    );
}

#[test]
fn lists_append_and_scalars_override_in_extends_order() {
    let d = Dir::new();
    d.write("base.yaml", "description: base\nfilesystem:\n  read: [/a]\nnetwork:\n  mode: host\nlimits:\n  open_files: 10\nenv:\n  set: {A: base, B: base}\n");
    d.write(
        "mid.yaml",
        "extends: [base.yaml]\nfilesystem:\n  read: [/b]\nlimits:\n  open_files: 20\n",
    );
    let top = d.write(
        "top.yaml",
        "extends: [mid.yaml, base.yaml]\ndescription: top\nfilesystem:\n  read: [/c]\nnetwork:\n  mode: none\nenv:\n  set: {B: top}\n",
    );
    let (p, _) = d.loader().load(&top).unwrap();
    let reads: Vec<&str> = p.filesystem.read.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(reads, ["/a", "/b", "/c"]);
    assert_eq!(p.description.as_deref(), Some("top"));
    assert_eq!(p.network.mode(), NetworkMode::None);
    assert_eq!(p.limits.open_files.as_ref().unwrap().value, 20);
    assert_eq!(p.env.set["A"].value, "base");
    assert_eq!(p.env.set["B"].value, "top");
    assert_eq!(
        p.sources.len(),
        3,
        "base is merged once though it is reached twice"
    );
    // Each entry knows where it was written.
    assert_eq!(
        p.filesystem.read[1].origin.position(),
        format!("{}/mid.yaml:3:10", d.path().display())
    );
}

#[test]
fn lookup_order_user_then_etc_then_builtin() {
    let d = Dir::new();
    d.write("etc/node.yaml", "description: from etc\nextends: [node]\n");
    let (p, _) = d.loader().load("node").unwrap();
    assert_eq!(p.description.as_deref(), Some("from etc"));
    // It extends the built-in node (not itself), which extends default.
    let labels: Vec<String> = p.sources.iter().map(|s| s.label()).collect();
    assert_eq!(
        labels,
        [
            "built-in:default",
            "built-in:node",
            &format!("{}/etc/node.yaml", d.path().display())
        ]
    );
    d.write(
        "user/node.yaml",
        "description: from user\nextends: [node]\n",
    );
    let (p, _) = d.loader().load("node").unwrap();
    assert_eq!(p.description.as_deref(), Some("from user"));
    assert_eq!(p.sources.len(), 4, "user extends etc extends built-in");
    let list = d.loader().list();
    let nodes: Vec<(&str, bool)> = list
        .iter()
        .filter(|l| l.name == "node")
        .map(|l| (l.location.as_str(), l.shadowed))
        .collect();
    assert_eq!(nodes.len(), 3);
    assert!(!nodes[0].1 && nodes[1].1 && nodes[2].1);
}

#[test]
fn empty_and_comment_only_files_are_empty_profiles() {
    let d = Dir::new();
    let f = d.write("empty.yaml", "# nothing yet\n\n");
    let (p, _) = d.loader().load(&f).unwrap();
    assert!(p.filesystem.read.is_empty());
    assert_eq!(p.name, "empty");
}

#[test]
fn every_builtin_profile_loads_cleanly() {
    let loader = Loader::with_dirs(vec![]);
    for name in builtin::names() {
        let (_, diags) = loader
            .load(name)
            .unwrap_or_else(|e| panic!("built-in {name}: {e}"));
        assert!(diags.is_empty(), "built-in {name}: {diags:?}");
    }
}

/// `mcpcell run -p BUILTIN` starts making the sandbox's network namespace before the profile
/// is loaded (`crate::netns`), which is wasted work for mode `host`.
#[test]
fn no_builtin_profile_uses_the_hosts_network() {
    let loader = Loader::with_dirs(vec![]);
    for name in builtin::names() {
        let (p, _) = loader.load(name).unwrap();
        assert_ne!(
            p.network.mode(),
            crate::profile::NetworkMode::Host,
            "built-in {name}: `run` starts its network namespace before loading it (commands/run.rs)"
        );
    }
}

#[test]
fn every_profile_file_in_the_repository_is_built_in() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let name = p.file_stem().unwrap().to_str().unwrap();
            assert!(
                builtin::get(name).is_some(),
                "profiles/{name}.yaml is not listed in builtin.rs"
            );
        }
    }
}

#[test]
fn builtins_read_from_json_as_from_yaml() {
    for name in builtin::names() {
        let from_yaml: RawProfile = serde_yaml::from_str(builtin::get(name).unwrap()).unwrap();
        let src = builtin::source(name).unwrap();
        assert_eq!(
            format!("{:?}", parse(&src).unwrap()),
            format!("{from_yaml:?}"),
            "built-in profile `{name}`"
        );
    }
}

#[test]
fn only_regular_files_of_sane_size_are_read() {
    let d = Dir::new();
    let fifo = d.path().join("fifo.yaml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    for (spec, why) in [
        (fifo.display().to_string(), "not a regular file"),
        ("/dev/null".to_string(), "not a regular file"),
    ] {
        let e = d.loader().load(&spec).unwrap_err();
        let text = format!(
            "{e}: {}",
            e.source().map(|s| s.to_string()).unwrap_or_default()
        );
        assert!(text.contains(why), "{spec}: {text}");
    }
    // Reached through `extends` as well: a diagnostic at the entry, with the cause.
    let f = d.write("zero.yaml", "extends: [/dev/zero]\n");
    let e = d.loader().load(&f).unwrap_err().to_string();
    assert!(
        e.contains("extends[0]: failed to read profile /dev/zero: not a regular file"),
        "{e}"
    );
    let f = d.write("big.yaml", &"# padding\n".repeat(200_000));
    let e = d.loader().load(&f).unwrap_err();
    assert!(
        e.source()
            .unwrap()
            .to_string()
            .contains("2000000 bytes; at most 1048576 are read"),
        "{e}"
    );
}

#[test]
fn names_that_walk_out_are_refused() {
    let d = Dir::new();
    let loader = Loader::with_dirs(vec![d.path()]);
    for name in ["..", ".", "...", ".hidden", "a.", "a/..", "../x"] {
        d.write("...yaml", "description: planted\n");
        let err = loader.load(name).unwrap_err().to_string();
        assert!(
            err.contains("not a valid profile name") || err.contains("failed to read profile"),
            "{name}: {err}"
        );
    }
    let err = loader
        .load(&d.path().join("...yaml").display().to_string())
        .unwrap_err()
        .to_string();
    assert!(err.contains("`..` is not one"), "{err}");
}
