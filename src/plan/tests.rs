//! Profile text in, plan facts out: [`build`] for a kernel, a working directory and an
//! environment each test describes ([`Host`]). Every path lies in a temporary directory the
//! test creates; nothing here needs root or depends on what this machine's kernel can do.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::Resource;

use super::*;
use crate::cgroup::{MemoryHome, Missing};
use fs::{FsRule, GrantError, Kind, Rights, Unreachable};
use host::Probes;
use trust::{Overlap, TrustError};

/// A kernel with Landlock at `abi` and seccomp filters, for an ordinary user.
fn kernel(abi: i32) -> Kernel {
    Kernel {
        release: "6.12.0-test".into(),
        landlock_abi: abi,
        landlock_status: if abi > 0 {
            "available"
        } else {
            "not supported by this kernel (a test)"
        },
        seccomp_filter: true,
        euid: 1000,
        egid: 1000,
        privileged: false,
        setpcap: false,
        cap_last_cap: 40,
    }
}

/// No hard limit, no pids cgroup, no memory cgroup, no entry in the password database.
fn bare_probes() -> Probes {
    Probes {
        hard_limit: |_| u64::MAX,
        pids_cgroup: || false,
        memory_cgroup: |_| {
            Err(Missing {
                why: "no memory cgroup in this test".into(),
                fix: "none".into(),
            })
        },
        passwd_home: || None,
    }
}

/// A home, a working directory, a `bin` on PATH with an executable `server`, a state home and
/// a directory for profile files, all in one temporary directory.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    work: PathBuf,
    state: PathBuf,
    server: PathBuf,
    host: Host,
}

impl Fixture {
    /// A fixture outside the host's /tmp where there is such a place (see `in_private_tmp`
    /// for what changes below it): the suite's scratch directory when it names one, else
    /// /var/tmp, else the system's temporary directory.
    fn new() -> Fixture {
        let base = std::env::var_os("MCPCELL_TEST_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                let d = PathBuf::from("/var/tmp");
                nix::unistd::access(&d, nix::unistd::AccessFlags::W_OK)
                    .is_ok()
                    .then_some(d)
            })
            .unwrap_or_else(std::env::temp_dir);
        Fixture::in_dir(&base)
    }

    /// A fixture in the system's temporary directory, usually below the host's /tmp.
    fn in_system_tmp() -> Fixture {
        Fixture::in_dir(&std::env::temp_dir())
    }

    fn in_dir(base: &Path) -> Fixture {
        let tmp = tempfile::tempdir_in(base).unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("home");
        let work = root.join("work");
        let state = root.join("state");
        for d in [
            &home,
            &work,
            &state,
            &root.join("bin"),
            &root.join("profiles"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        let env: Vec<(OsString, OsString)> = [
            ("HOME", home.as_os_str()),
            ("XDG_STATE_HOME", state.as_os_str()),
            ("XDG_CONFIG_HOME", root.join("config").as_os_str()),
            ("PATH", root.join("bin").as_os_str()),
            ("LANG", "C.UTF-8".as_ref()),
            ("LC_TIME", "C".as_ref()),
            ("SECRET_TOKEN", "hunter2".as_ref()),
        ]
        .into_iter()
        .map(|(k, v)| (OsString::from(k), v.to_os_string()))
        .collect();
        let host = Host {
            kernel: kernel(7),
            cwd: work.clone(),
            env,
            probes: bare_probes(),
        };
        let mut f = Fixture {
            _tmp: tmp,
            server: PathBuf::new(),
            root,
            home,
            work,
            state,
            host,
        };
        // No `#!` line and no ELF header: nothing more to find for running it.
        f.server = f.exe("bin/server", "a server\n");
        f
    }

    /// Whether the fixture lies in the host's /tmp or /dev/shm, which the sandbox replaces
    /// with its own: there, only granted paths (bound into the private instance) are seen.
    fn in_private_tmp(&self) -> bool {
        fs::PRIVATE_TMP.iter().any(|t| self.root.starts_with(t))
    }

    /// Creates the directory `rel` (below the fixture's root).
    fn dir(&self, rel: &str) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Creates an executable file `rel` holding `text`.
    fn exe(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn set_env(&mut self, name: &str, value: impl Into<OsString>) {
        self.host.env.retain(|(k, _)| k != name);
        self.host.env.push((name.into(), value.into()));
    }

    /// Writes `yaml` as the profile file `profiles/p.yaml`.
    fn profile(&self, yaml: &str) -> PathBuf {
        let p = self.root.join("profiles/p.yaml");
        std::fs::write(&p, yaml).unwrap();
        p
    }

    /// A request to run `server` under `yaml`.
    fn request(&self, yaml: &str) -> Request {
        Request {
            profile: Some(self.profile(yaml).display().to_string()),
            command: vec![self.server.clone().into()],
            ..Request::default()
        }
    }

    fn build(&self, req: &Request) -> Result<Plan, PlanError> {
        let loader = Loader::with_dirs(vec![self.root.join("config/mcpcell/profiles")]);
        build(req, &loader, &self.host)
    }

    fn plan(&self, yaml: &str) -> Plan {
        self.build(&self.request(yaml)).unwrap()
    }

    fn error(&self, req: &Request) -> PlanError {
        match self.build(req) {
            Ok(_) => panic!("the plan was built"),
            Err(e) => e,
        }
    }
}

/// The rule for `path`, which must exist.
fn rule<'a>(plan: &'a Plan, path: &Path) -> &'a FsRule {
    plan.filesystem
        .rules
        .iter()
        .find(|r| r.path == path)
        .unwrap_or_else(|| panic!("no rule for {}: {:#?}", path.display(), plan.filesystem))
}

fn has_rule(plan: &Plan, path: &Path) -> bool {
    plan.filesystem.rules.iter().any(|r| r.path == path)
}

/// Whether `path` is granted or was skipped (it does not exist).
fn planned(plan: &Plan, path: &Path) -> bool {
    has_rule(plan, path) || plan.filesystem.skipped.iter().any(|s| s.path == path)
}

fn gaps(plan: &Plan) -> Vec<&str> {
    plan.not_enforced.iter().map(|g| g.what.as_str()).collect()
}

fn env_value<'a>(plan: &'a Plan, name: &str) -> Option<&'a OsString> {
    plan.env.iter().find(|v| v.name == name).map(|v| &v.value)
}

// --- grants ---------------------------------------------------------------------------------

#[test]
fn profile_grants_resolve_with_their_rights_and_where_they_are_written() {
    let f = Fixture::new();
    let data = f.dir("work/data");
    let notes = f.dir("home/notes");
    let tools = f.dir("tools");
    let plan = f.plan(&format!(
        "filesystem:\n  read: [\"${{CWD}}/data\"]\n  write: [\"~/notes\"]\n  exec: [{}]\n",
        tools.display()
    ));
    let profile_file = f.root.join("profiles/p.yaml");
    for (path, rights, key) in [
        (&data, Rights::READ, "filesystem.read[0]"),
        (&notes, Rights::WRITE, "filesystem.write[0]"),
        (&tools, Rights::EXEC, "filesystem.exec[0]"),
    ] {
        let r = rule(&plan, path);
        assert_eq!(r.rights, rights, "{}", path.display());
        assert_eq!(r.kind, Kind::Dir);
        assert_eq!(r.from.len(), 1);
        assert_eq!(r.from[0].key, key);
        assert_eq!(r.from[0].source.file(), Some(&profile_file));
    }
    assert!(plan.filesystem.skipped.is_empty());
}

#[test]
fn grants_of_one_file_under_two_names_merge_their_rights() {
    let f = Fixture::new();
    let data = f.dir("work/data");
    std::os::unix::fs::symlink(&data, f.root.join("work/link")).unwrap();
    let plan = f.plan("filesystem:\n  read: [\"${CWD}/link\"]\n  exec: [\"${CWD}/data/\"]\n");
    let r = rule(&plan, &data);
    assert_eq!(r.rights, Rights::READ.union(Rights::EXEC));
    assert_eq!(r.from.len(), 2);
    assert_eq!(
        plan.filesystem.rules.len(),
        2,
        "the data directory and the server"
    );
}

#[test]
fn a_missing_path_is_skipped_unless_it_is_marked_required() {
    let f = Fixture::new();
    let plan = f.plan("filesystem:\n  read: [\"${CWD}/missing\"]\n");
    assert_eq!(plan.filesystem.skipped.len(), 1);
    let s = &plan.filesystem.skipped[0];
    assert_eq!(s.path, f.work.join("missing"));
    assert_eq!(s.reason, "does not exist");
    assert_eq!(s.from.key, "filesystem.read[0]");

    let e = f.error(&f.request("filesystem:\n  read: [\"!${CWD}/missing\"]\n"));
    assert_eq!(e.exit_code(), 125);
    let PlanError::Grant(GrantError::Required { origin, path, why }) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(origin.key, "filesystem.read[0]");
    assert_eq!(path, &f.work.join("missing"));
    assert_eq!(*why, Unreachable::Missing);
    assert!(
        e.to_string().ends_with(&format!(
            ":2:10 (filesystem.read[0]): `{}` does not exist, and the profile marks it as required (a leading `!`)",
            f.work.join("missing").display()
        )),
        "{e}"
    );
}

#[test]
fn command_line_grants_start_at_the_working_directory_and_must_exist() {
    let f = Fixture::new();
    let data = f.dir("work/data");
    let out = f.dir("out");
    let mut req = f.request("{}\n");
    req.allow_read = vec![PathBuf::from("data")];
    req.allow_write = vec![out.clone()];
    let plan = f.build(&req).unwrap();
    let r = rule(&plan, &data);
    assert_eq!(r.rights, Rights::READ);
    assert!(r.from[0].is_command_line());
    assert_eq!(r.from[0].to_string(), "command line --allow-read data");
    assert_eq!(rule(&plan, &out).rights, Rights::WRITE);
    assert!(
        plan.explain_args[0].contains(&data.display().to_string()),
        "explain is given the absolute path: {:?}",
        plan.explain_args
    );

    req.allow_exec = vec![PathBuf::from("nowhere")];
    let e = f.error(&req);
    assert!(
        matches!(&e, PlanError::Grant(GrantError::Required { origin, .. }) if origin.is_command_line()),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "command line --allow-exec nowhere: `{}` does not exist: a path given with --allow-* must exist; create it first (mkdir -p {}), or leave the option out",
            f.work.join("nowhere").display(),
            f.work.join("nowhere").display()
        )
    );
}

#[test]
fn the_command_and_its_interpreter_are_granted_read_and_exec() {
    let f = Fixture::new();
    let interp = f.exe("lang/interp", "an interpreter\n");
    let script = f.exe("bin/tool", &format!("#!{} -x\nrun\n", interp.display()));
    let mut req = f.request("{}\n");
    req.command = vec!["tool".into(), "arg".into()];
    let plan = f.build(&req).unwrap();
    assert_eq!(plan.command.path, script);
    for (path, why) in [
        (&script, "the command".to_string()),
        (&interp, format!("#! interpreter of {}", script.display())),
    ] {
        let r = rule(&plan, path);
        assert_eq!(r.rights, Rights::EXEC);
        assert_eq!(r.kind, Kind::File);
        assert_eq!(
            r.from[0].to_string(),
            format!("command line (needed to run the command: {why})")
        );
    }
}

#[test]
fn a_command_is_found_on_the_hosts_path_or_refused_with_the_specs_status() {
    let f = Fixture::new();
    let mut req = f.request("{}\n");
    req.command = vec!["no-such-server".into()];
    let e = f.error(&req);
    assert!(matches!(
        e,
        PlanError::Command(CommandError::NotFound { .. })
    ));
    assert_eq!(e.exit_code(), 127);

    let not_exec = f.root.join("bin/data.txt");
    std::fs::write(&not_exec, "x").unwrap();
    req.command = vec![not_exec.into()];
    assert_eq!(f.error(&req).exit_code(), 126);

    req.command = Vec::new();
    let e = f.error(&req);
    assert!(matches!(e, PlanError::Command(CommandError::Empty)));
    assert_eq!(e.exit_code(), 125);
}

#[test]
fn explain_may_plan_without_a_command() {
    let f = Fixture::new();
    let mut req = f.request("{}\n");
    req.command = Vec::new();
    req.command_optional = true;
    let plan = f.build(&req).unwrap();
    assert!(plan.command.argv.is_empty());
    assert!(
        plan.filesystem.rules.is_empty(),
        "nothing is granted for a command"
    );
}

#[test]
fn args_write_grants_the_paths_named_in_the_arguments() {
    let f = Fixture::new();
    let a = f.dir("work/a");
    let b = f.dir("elsewhere/b");
    let mut req = f.request("filesystem:\n  args: write\n");
    req.command = vec![
        f.server.clone().into(),
        "a".into(),
        format!("--out={}", b.display()).into(),
        "not-there".into(),
    ];
    let plan = f.build(&req).unwrap();
    for p in [&a, &b] {
        let r = rule(&plan, p);
        assert_eq!(r.rights, Rights::WRITE);
        assert_eq!(r.from[0].key, "filesystem.args");
    }
    assert!(!has_rule(&plan, &f.work.join("not-there")));

    // `read` grants the same paths read-only; `none` grants nothing.
    req.profile = Some(
        f.profile("filesystem:\n  args: read\n")
            .display()
            .to_string(),
    );
    let plan = f.build(&req).unwrap();
    assert_eq!(rule(&plan, &a).rights, Rights::READ);
    req.profile = Some(
        f.profile("filesystem:\n  args: none\n")
            .display()
            .to_string(),
    );
    let plan = f.build(&req).unwrap();
    assert!(!has_rule(&plan, &a) && !has_rule(&plan, &b));
}

#[test]
fn args_write_parent_grants_the_directory_of_a_file_to_be_created() {
    let f = Fixture::new();
    let db_dir = f.dir("work/db");
    let mut req = f.request("filesystem:\n  args: write-parent\n");
    req.command = vec![
        f.server.clone().into(),
        "--database".into(),
        "db/new.sqlite".into(),
    ];
    let plan = f.build(&req).unwrap();
    assert_eq!(rule(&plan, &db_dir).rights, Rights::WRITE);
    assert!(!has_rule(&plan, &db_dir.join("new.sqlite")));
}

#[test]
fn an_argument_as_wide_as_home_or_root_is_not_granted() {
    let f = Fixture::new();
    let mut req = f.request("filesystem:\n  args: write\n");
    req.command = vec![f.server.clone().into(), f.root.clone().into(), "/".into()];
    let plan = f.build(&req).unwrap();
    assert!(!has_rule(&plan, &f.root));
    assert!(!has_rule(&plan, Path::new("/")));
    let refused: Vec<&String> = plan
        .warnings
        .iter()
        .filter(|w| w.contains("it is / or contains $HOME"))
        .collect();
    assert_eq!(refused.len(), 2, "{:?}", plan.warnings);
    assert!(refused[0].contains(&format!("not granting {}", f.root.display())));
}

#[test]
fn programs_grant_their_install_prefix_never_a_directory_holding_home() {
    let mut f = Fixture::new();
    f.exe("opt/node/bin/node", "node\n");
    let in_home = f.exe("home/tool", "tool\n");
    f.set_env(
        "PATH",
        format!(
            "{}:{}:{}",
            f.root.join("bin").display(),
            f.root.join("opt/node/bin").display(),
            f.home.display()
        ),
    );
    let plan = f.plan("filesystem:\n  programs: [node, tool, not-installed]\n");
    let r = rule(&plan, &f.root.join("opt/node"));
    assert_eq!(r.rights, Rights::EXEC);
    assert_eq!(r.from[0].key, "filesystem.programs[0]");
    // The tool lives directly in $HOME: only the file itself.
    assert!(!has_rule(&plan, &f.home));
    assert_eq!(rule(&plan, &in_home).kind, Kind::File);
    assert!(
        plan.notes.iter().any(|n| n.ends_with(&format!(
            "`tool` lives directly in {}; only the program file itself is granted",
            f.home.display()
        ))),
        "{:?}",
        plan.notes
    );
    assert!(
        plan.notes.iter().any(|n| n.ends_with(
            "(filesystem.programs[2]): program `not-installed` not found on PATH; skipped"
        )),
        "{:?}",
        plan.notes
    );
}

#[test]
fn home_comes_from_the_environment_else_the_password_database() {
    let mut f = Fixture::new();
    f.dir("home/notes");
    f.host.env.retain(|(k, _)| k != "HOME");
    f.host.probes.passwd_home = || None;
    let yaml = "filesystem:\n  read: [\"${HOME}/notes\"]\n";
    let e = f.error(&f.request(yaml));
    let PlanError::Var { origin, source } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(origin.key, "filesystem.read[0]");
    assert!(matches!(source, crate::vars::VarError::Unavailable { name, .. } if name == "HOME"));
    // The message names the entry; the cause is left to `source()`, not repeated.
    assert_eq!(e.to_string(), origin.to_string());
    assert!(std::error::Error::source(&e).is_some());

    // The password database's home: here an invented one, which does not exist.
    f.host.probes.passwd_home = || Some("/nonexistent-home".into());
    let plan = f.plan(yaml);
    assert!(planned(&plan, Path::new("/nonexistent-home/notes")));
    // A relative HOME is not a home.
    f.set_env("HOME", "relative");
    let plan = f.plan(yaml);
    assert!(planned(&plan, Path::new("/nonexistent-home/notes")));
    f.set_env("HOME", f.home.clone());
    let plan = f.plan(yaml);
    assert_eq!(rule(&plan, &f.home.join("notes")).rights, Rights::READ);
}

// --- hide -----------------------------------------------------------------------------------

#[test]
fn hide_masks_what_a_grant_would_show_and_skips_the_rest() {
    // Outside the host's /tmp, and below it.
    for f in [Fixture::new(), Fixture::in_system_tmp()] {
        let ssh = f.dir("home/.ssh");
        f.dir("work/.secrets");
        let plan = f.plan(
        "filesystem:\n  read: [\"${HOME}\"]\n  hide: [\"~/.ssh\", \"${CWD}/.secrets\", \"~/.aws\"]\n",
    );
        assert_eq!(plan.filesystem.hide.len(), 1);
        assert_eq!(plan.filesystem.hide[0].path, ssh);
        assert_eq!(plan.filesystem.hide[0].kind, Kind::Dir);
        assert_eq!(plan.filesystem.hide[0].from.key, "filesystem.hide[0]");
        let skipped: Vec<(&Path, &str)> = plan
            .filesystem
            .hide_skipped
            .iter()
            .map(|h| (h.path.as_path(), h.reason.as_str()))
            .collect();
        let ungranted = if f.in_private_tmp() {
            "inside a private mount already"
        } else {
            "no grant covers it, so it is denied anyway"
        };
        assert_eq!(
            skipped,
            [
                (f.work.join(".secrets").as_path(), ungranted),
                (f.home.join(".aws").as_path(), "does not exist"),
            ]
        );

        let e = f.error(&f.request("filesystem:\n  hide: [\"!~/.aws\"]\n"));
        assert!(
            matches!(&e, PlanError::Grant(GrantError::Required { origin, .. }) if origin.key == "filesystem.hide[0]"),
            "{e:?}"
        );
        assert!(
            e.to_string().ends_with(&format!(
                "(filesystem.hide[0]): `{}` does not exist, and the profile marks it as required (a leading `!`)",
                f.home.join(".aws").display()
            )),
            "{e}"
        );
    }
}

#[test]
fn observe_mode_applies_every_mask_and_shows_the_hosts_tree() {
    // Outside the host's /tmp, and below it.
    for f in [Fixture::new(), Fixture::in_system_tmp()] {
        f.dir("work/.secrets");
        let mut req = f.request("filesystem:\n  hide: [\"${CWD}/.secrets\"]\n");
        req.learn = true;
        let plan = f.build(&req).unwrap();
        // Below the host's /tmp nothing ungranted is seen at all, so there is nothing to mask.
        // Elsewhere, the profile's own mask and the profile file (the learned profile
        // extends it).
        let masked = 2 * usize::from(!f.in_private_tmp());
        assert_eq!(plan.filesystem.hide.len(), masked, "{:?}", plan.filesystem);
        assert!(
            f.in_private_tmp()
                || plan
                    .filesystem
                    .hide
                    .iter()
                    .any(|h| h.path.extension().is_some_and(|e| e == "yaml")),
            "{:?}",
            plan.filesystem.hide
        );
        assert!(!plan.granted_view);
        assert_eq!(plan.observed, seccomp::OBSERVED.to_vec());
        req.learn = false;
        let plan = f.build(&req).unwrap();
        assert!(plan.filesystem.hide.is_empty());
        assert!(plan.granted_view);
        assert!(plan.observed.is_empty());
    }
}

// --- what the server must not write -----------------------------------------------------------

#[test]
fn a_writable_grant_holding_the_profile_is_refused() {
    let f = Fixture::new();
    let e = f.error(&f.request(&format!(
        "filesystem:\n  write: [{}]\n",
        f.root.join("profiles").display()
    )));
    let PlanError::Trust(TrustError::Profile {
        profile,
        grant,
        from,
    }) = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(profile, &f.root.join("profiles/p.yaml"));
    assert_eq!(grant, &f.root.join("profiles"));
    assert_eq!(from[0].key, "filesystem.write[0]");
    assert!(
        e.to_string()
            .contains("a server could rewrite its own sandbox"),
        "{e}"
    );
}

#[test]
fn a_writable_grant_over_a_profile_search_directory_is_refused_even_before_it_exists() {
    let f = Fixture::new();
    let config = f.dir("config");
    let e = f.error(&f.request(&format!("filesystem:\n  write: [{}]\n", config.display())));
    let PlanError::Trust(TrustError::SearchDir {
        grant,
        how,
        dir,
        exists,
        ..
    }) = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (grant, *how, dir, *exists),
        (
            &config,
            Overlap::Contains,
            &config.join("mcpcell/profiles"),
            false
        )
    );
    let text = e.to_string();
    assert!(
        text.contains("contains the profile search directory")
            && text.contains("(which does not exist yet)"),
        "{text}"
    );
}

#[test]
fn a_writable_grant_over_other_servers_state_is_refused_but_its_own_is_not() {
    let f = Fixture::new();
    let e = f.error(&f.request(&format!("filesystem:\n  write: [{}]\n", f.state.display())));
    let PlanError::Trust(TrustError::OtherState { how, root, own, .. }) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (*how, root, own),
        (Overlap::Contains, &f.state.join("mcpcell"), &None)
    );
    assert!(
        e.to_string()
            .contains("where every server keeps its private state"),
        "{e}"
    );
    let plan = f.plan("filesystem:\n  write: [\"${STATE_DIR}\"]\n");
    let own = plan.state_dir.as_deref().unwrap();
    assert_eq!(rule(&plan, own).rights, Rights::WRITE);
}

// --- the state directory ----------------------------------------------------------------------

#[test]
fn the_state_directory_is_created_private_per_server_only_when_used() {
    let f = Fixture::new();
    let yaml = "filesystem:\n  write: [\"${STATE_DIR}/cache\"]\n  read: [\"${STATE_DIR}\"]\n";
    let plan = f.plan(yaml);
    let dir = plan.state_dir.clone().unwrap();
    assert_eq!(dir.parent().unwrap(), f.state.join("mcpcell/p"));
    assert!(plan.server_id.starts_with("server-"), "{}", plan.server_id);
    assert_eq!(dir.file_name().unwrap(), plan.server_id.as_str());
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(rule(&plan, &dir).rights, Rights::READ);
    // `cache` did not exist when the plan was made.
    assert_eq!(plan.filesystem.skipped[0].path, dir.join("cache"));

    // Another command line is another server.
    let mut req = f.request(yaml);
    req.command.push("--other".into());
    let other = f.build(&req).unwrap();
    assert_ne!(other.state_dir.unwrap(), dir);

    let plan = f.plan("filesystem:\n  read: [\"${HOME}\"]\n");
    assert_eq!(plan.state_dir, None);
}

#[test]
fn a_dry_run_shows_the_state_directory_without_creating_it() {
    let f = Fixture::new();
    let mut req = f.request("filesystem:\n  write: [\"${STATE_DIR}\"]\n");
    req.dry_run = true;
    let plan = f.build(&req).unwrap();
    let dir = plan.state_dir.clone().unwrap();
    assert!(!dir.exists());
    assert!(!f.state.join("mcpcell").exists());
    let r = rule(&plan, &dir);
    assert!(r.created_at_launch);
    assert_eq!(r.rights, Rights::WRITE);
}

#[test]
fn state_size_without_a_state_directory_is_a_warning() {
    let f = Fixture::new();
    let plan = f.plan("limits:\n  state_size: 10M\n");
    assert_eq!(plan.state_size, None);
    assert!(
        plan.warnings.iter().any(|w| w
            .ends_with("limits.state_size has no effect: the profile does not use ${STATE_DIR}")),
        "{:?}",
        plan.warnings
    );
    let plan = f.plan("filesystem:\n  write: [\"${STATE_DIR}\"]\nlimits:\n  state_size: 10M\n");
    assert_eq!(plan.state_size, Some(10 << 20));
}

// --- the working directory --------------------------------------------------------------------

#[test]
fn the_server_starts_in_the_working_directory_when_it_can_see_it() {
    // Outside the host's /tmp, and below it.
    for f in [Fixture::new(), Fixture::in_system_tmp()] {
        let granted = f.plan("filesystem:\n  read: [\"${CWD}\"]\n");
        assert_eq!(granted.cwd, f.work);
        // Not granted: still the same place, unless it lies in the host's /tmp, which the
        // sandbox replaces with its own.
        let plan = f.plan("{}\n");
        if f.in_private_tmp() {
            assert_eq!(plan.cwd, Path::new("/"));
            assert!(
                plan.warnings
                    .iter()
                    .any(|w| w.contains("is inside the private /tmp and not granted")),
                "{:?}",
                plan.warnings
            );
        } else {
            assert_eq!(plan.cwd, f.work);
        }
    }
}

// --- kernel facts and gaps --------------------------------------------------------------------

#[test]
fn without_landlock_the_plan_fails_closed_unless_gaps_are_collected() {
    let mut f = Fixture::new();
    f.host.kernel = kernel(0);
    let mut req = f.request("{}\n");
    let e = f.error(&req);
    let PlanError::NotEnforceable(g) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(g.len(), 1);
    assert!(g[0].what.starts_with("Landlock filesystem rules"));
    assert_eq!(
        g[0].why,
        "Landlock is not supported by this kernel (a test)"
    );
    assert!(e.to_string().contains("Run with --best-effort"), "{e}");

    // Shown, not started (`--dry-run`, `explain`): listed, and the launch is not told to go on.
    req.collect_gaps = true;
    let plan = f.build(&req).unwrap();
    assert_eq!(gaps(&plan).len(), 1);
    assert_eq!(plan.landlock.abi, 0);
    assert!(!plan.best_effort);
    // `--best-effort`: listed, and the launch goes on without them.
    req.collect_gaps = false;
    req.start_anyway = true;
    let plan = f.build(&req).unwrap();
    assert_eq!(gaps(&plan).len(), 1);
    assert!(plan.best_effort);
}

#[test]
fn each_landlock_abi_brings_its_own_gaps_and_scopes() {
    let mut f = Fixture::new();
    let mut req = f.request("{}\n");
    req.collect_gaps = true;
    f.host.kernel = kernel(2);
    let plan = f.build(&req).unwrap();
    assert_eq!(
        gaps(&plan),
        [
            "truncation limits (a readable file could be truncated)",
            "ioctl limits on device files"
        ]
    );
    assert!(plan.landlock.scopes.is_empty());
    f.host.kernel = kernel(4);
    assert_eq!(
        gaps(&f.build(&req).unwrap()),
        ["ioctl limits on device files"]
    );
    f.host.kernel = kernel(6);
    let plan = f.build(&req).unwrap();
    assert!(plan.not_enforced.is_empty());
    assert_eq!(plan.landlock.scopes, ["abstract-unix-socket", "signal"]);
    assert!(plan.landlock.handled.iter().any(|a| a == "IoctlDev"));
}

#[test]
fn every_missing_protection_is_listed_in_the_order_planned() {
    let mut f = Fixture::new();
    f.host.kernel = kernel(2);
    f.host.kernel.seccomp_filter = false;
    let req = f.request("network:\n  mode: host\n");
    let PlanError::NotEnforceable(listed) = f.error(&req) else {
        panic!("not refused")
    };
    let listed: Vec<&str> = listed.iter().map(|g| g.what.as_str()).collect();
    let mut collect = req.clone();
    collect.collect_gaps = true;
    let plan = f.build(&collect).unwrap();
    assert_eq!(gaps(&plan), listed);
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(listed[0].starts_with("TCP port restrictions in network mode host"));
    assert!(listed[1].starts_with("the seccomp filter"));
    assert!(listed[2].starts_with("truncation limits"));
    assert!(listed[3].starts_with("ioctl limits"));
}

#[test]
fn namespaces_follow_the_user_and_the_network_mode() {
    let mut f = Fixture::new();
    let plan = f.plan("{}\n");
    assert!(plan.namespaces.user);
    assert_eq!(
        plan.namespaces.kinds,
        ["user", "mount", "pid", "ipc", "uts", "cgroup", "network"]
    );
    assert_ne!(plan.namespaces.clone_flags & libc::CLONE_NEWUSER, 0);

    f.host.kernel.euid = 0;
    f.host.kernel.privileged = true;
    let plan = f.plan("network:\n  mode: host\n");
    assert!(!plan.namespaces.user);
    assert_eq!(
        plan.namespaces.kinds,
        ["mount", "pid", "ipc", "uts", "cgroup"]
    );
    assert_eq!(
        plan.namespaces.clone_flags & (libc::CLONE_NEWUSER | libc::CLONE_NEWNET),
        0
    );
}

// --- network modes ----------------------------------------------------------------------------

#[test]
fn network_none_denies_unix_sockets_unless_some_are_listed() {
    let f = Fixture::new();
    let plan = f.plan("network:\n  mode: none\n");
    assert_eq!(plan.network.mode, NetworkMode::None);
    assert!(plan.network.proxy.is_none());
    assert!(
        plan.seccomp
            .denied
            .iter()
            .any(|d| &*d.via == "network.unix is empty")
    );

    let plan = f.plan("network:\n  unix: [\"${HOME}/agent.sock\"]\n");
    assert_eq!(plan.network.unix, [f.home.join("agent.sock")]);
    assert!(
        !plan
            .seccomp
            .denied
            .iter()
            .any(|d| &*d.via == "network.unix is empty")
    );
    // Below Landlock ABI 9 a socket inside a granted directory is reachable as well.
    assert!(plan.notes.iter().any(|n| n.starts_with("network.unix:")));
}

/// A required socket (`!`, how the docker profile asks the user to name the daemon's) stops
/// the launch while it is missing, and is granted by way of a link to it once it is there.
#[test]
fn a_required_unix_socket_must_exist() {
    let f = Fixture::new();
    let yaml = "network:\n  unix: [\"!${HOME}/daemon.sock\"]\n";
    let e = f.error(&f.request(yaml));
    let PlanError::UnixRequired { origin, path } = &e else {
        panic!("{e}");
    };
    assert_eq!(path, &f.home.join("daemon.sock"));
    assert_eq!(origin.key, "network.unix[0]");
    assert!(e.to_string().contains("symbolic link to the socket"), "{e}");

    let daemon = f.dir("run").join("real.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&daemon).unwrap();
    std::os::unix::fs::symlink(&daemon, f.home.join("daemon.sock")).unwrap();
    let plan = f.plan(yaml);
    assert_eq!(plan.network.unix, [f.home.join("daemon.sock")]);
}

#[test]
fn network_host_narrows_ports_with_landlock_and_seccomp() {
    let f = Fixture::new();
    let plan = f.plan("network:\n  mode: host\n  connect: [443]\n");
    assert_eq!(plan.network.mode, NetworkMode::Host);
    assert_eq!(plan.network.connect, [443]);
    assert!(plan.network.bind.is_empty());
    assert!(plan.landlock.tcp_rules);
    let denied = |why: &str| {
        plan.seccomp
            .denied
            .iter()
            .filter(|d| matches!(&*d.from, Provenance::Text(t) if t.contains(why)))
            .map(|d| d.name)
            .collect::<Vec<_>>()
    };
    assert!(denied("nothing may listen").contains(&"listen"));
    assert_eq!(
        denied("bypass").len(),
        4,
        "UDP and the three Fast Open calls"
    );

    // Ports are kept only in host mode.
    let plan = f.plan("network:\n  mode: none\n  connect: [443]\n");
    assert!(plan.network.connect.is_empty());
    assert!(!plan.landlock.tcp_rules);
}

#[test]
fn network_proxy_builds_the_allowlist_and_points_the_environment_at_it() {
    let f = Fixture::new();
    let mut req = f.request(
        "network:\n  mode: proxy\n  allow: [example.com]\n  hosts: {internal.test: \"10.0.0.7:8080\"}\n",
    );
    // A host the profile has already is listed once.
    req.allow_host = vec!["api.example.org:8443".into(), "example.com".into()];
    let plan = f.build(&req).unwrap();
    let proxy = plan.network.proxy.as_ref().unwrap();
    let allow: Vec<String> = proxy.allow.iter().map(ToString::to_string).collect();
    assert_eq!(allow, ["example.com", "api.example.org:8443"]);
    assert_eq!(proxy.transparent_ports, [80, 443, 8443]);
    assert_eq!(proxy.hosts.len(), 1);
    assert!(!proxy.learn);
    let http = format!("http://127.0.0.1:{}", proxy.proxy_port);
    assert_eq!(env_value(&plan, "HTTPS_PROXY").unwrap(), http.as_str());
    assert_eq!(env_value(&plan, "http_proxy").unwrap(), http.as_str());
    let from = plan.env.iter().find(|v| v.name == "ALL_PROXY").unwrap();
    assert_eq!(from.from.to_string(), "set (network mode proxy)");
    assert!(plan.namespaces.kinds.contains(&"network"));

    req.learn = true;
    assert!(f.build(&req).unwrap().network.proxy.unwrap().learn);
}

/// An upstream proxy in mcpcell's environment is chained (credentials kept for the header
/// only), and in proxy mode neither a proxy variable nor any value holding its credentials is
/// passed in, whatever the pass list says; in mode none a passed variable is the user's
/// choice and stays.
#[test]
fn an_upstream_proxy_is_chained_and_never_passed_in() {
    let mut f = Fixture::new();
    let url = "http://corp:Pr0xy-pass@proxy.corp.example:3128";
    f.set_env("HTTPS_PROXY", url);
    f.set_env("npm_config_https_proxy", url);
    f.set_env("CORP_NOTE", format!("see {url}"));
    f.set_env("NOTE_PW", "Pr0xy-pass");
    f.set_env("NO_PROXY", "internal.example");
    let mut req = f.request("network:\n  mode: proxy\n  allow: [example.com]\n");
    req.pass_env = [
        "HTTPS_PROXY",
        "npm_config_*",
        "CORP_NOTE",
        "NOTE_PW",
        "NO_PROXY",
    ]
    .map(String::from)
    .to_vec();
    let plan = f.build(&req).unwrap();
    let chain = plan.network.proxy.as_ref().unwrap().chain.as_ref().unwrap();
    assert_eq!(
        chain.tunnel.as_ref().unwrap().to_string(),
        "http://***@proxy.corp.example:3128"
    );
    let http = format!(
        "http://127.0.0.1:{}",
        plan.network.proxy.as_ref().unwrap().proxy_port
    );
    assert_eq!(env_value(&plan, "HTTPS_PROXY").unwrap(), http.as_str());
    assert_eq!(env_value(&plan, "NO_PROXY").unwrap(), "localhost,127.0.0.1");
    for hidden in ["npm_config_https_proxy", "CORP_NOTE", "NOTE_PW"] {
        assert!(env_value(&plan, hidden).is_none(), "{hidden}");
    }
    assert!(
        plan.env
            .iter()
            .all(|v| !v.value.to_string_lossy().contains("Pr0xy-pass")),
        "{:?}",
        plan.env
    );
    // Control: in network mode none the same pass list passes them.
    let mut none = f.request("network:\n  mode: none\n");
    none.pass_env = req.pass_env.clone();
    let plan = f.build(&none).unwrap();
    assert_eq!(
        env_value(&plan, "CORP_NOTE").unwrap(),
        format!("see {url}").as_str()
    );
    assert_eq!(env_value(&plan, "HTTPS_PROXY").unwrap(), url);
    // An https:// upstream fails the plan, naming the variable and not its value.
    f.set_env("HTTPS_PROXY", "https://corp:Pr0xy-pass@proxy.corp.example");
    // (The profile file is written anew: the request above replaced it.)
    let e = f.error(&f.request("network:\n  mode: proxy\n  allow: [example.com]\n"));
    assert_eq!(e.exit_code(), 125);
    assert!(e.to_string().contains("`HTTPS_PROXY`"), "{e}");
    assert!(!e.to_string().contains("Pr0xy"), "{e}");
}

#[test]
fn allow_host_is_refused_outside_proxy_mode_and_when_malformed() {
    let f = Fixture::new();
    let mut req = f.request("network:\n  mode: none\n");
    req.allow_host = vec!["example.com".into()];
    let e = f.error(&req);
    assert!(matches!(
        e,
        PlanError::AllowHostOutsideProxy {
            mode: NetworkMode::None
        }
    ));
    assert_eq!(
        e.to_string(),
        "--allow-host only applies in network mode `proxy`, and this profile's mode is `none`: use a profile in mode proxy (`-p npx` or `-p uvx`, which also allow their registry), or one of your own that extends this one with `network: {mode: proxy}`"
    );
    let mut req = f.request("network:\n  mode: proxy\n");
    req.allow_host = vec!["bad host".into()];
    let e = f.error(&req);
    assert_eq!(e.exit_code(), 125);
    assert!(matches!(
        &e,
        PlanError::AllowHost(crate::hostspec::HostSpecError::HostName { entry, .. }) if entry == "bad host"
    ));
    assert!(e.to_string().starts_with("--allow-host `bad host`"), "{e}");
}

// --- environment ------------------------------------------------------------------------------

#[test]
fn only_passed_and_set_variables_reach_the_server() {
    let f = Fixture::new();
    let yaml = "env:\n  pass: [LANG, \"LC_*\"]\n  set: {CACHE: \"${HOME}/cache\"}\n  default: {LANG: C, EDITOR: ed}\n";
    let plan = f.plan(yaml);
    let names: Vec<&str> = plan.env.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["CACHE", "EDITOR", "LANG", "LC_TIME"]);
    assert_eq!(
        env_value(&plan, "LANG").unwrap(),
        "C.UTF-8",
        "passed beats default"
    );
    assert_eq!(
        env_value(&plan, "CACHE").unwrap(),
        f.home.join("cache").as_os_str()
    );
    let lc = plan.env.iter().find(|v| v.name == "LC_TIME").unwrap();
    assert!(
        lc.from.to_string().starts_with("pass `LC_*` ("),
        "{}",
        lc.from
    );

    let mut req = f.request(yaml);
    req.pass_env = vec!["SECRET_TOKEN".into()];
    req.set_env = vec![("LANG".into(), "de_DE.UTF-8".into())];
    let plan = f.build(&req).unwrap();
    assert_eq!(env_value(&plan, "SECRET_TOKEN").unwrap(), "hunter2");
    assert_eq!(env_value(&plan, "LANG").unwrap(), "de_DE.UTF-8", "set wins");

    req.pass_env = vec!["A=B".into()];
    let e = f.error(&req);
    assert!(matches!(&e, PlanError::PassEnv { name } if name == "A=B"));
    assert_eq!(
        e.to_string(),
        "--pass-env \"A=B\": give a variable name (or a prefix pattern such as LC_*)"
    );
}

// --- limits -----------------------------------------------------------------------------------

#[test]
fn limits_become_rlimits_capped_at_the_hard_limit() {
    let mut f = Fixture::new();
    f.host.probes.hard_limit = |r| {
        if r == Resource::RLIMIT_NOFILE {
            4096
        } else {
            u64::MAX
        }
    };
    let plan = f
        .plan("limits:\n  open_files: 100000\n  processes: 64\n  file_size: 1M\n  tmp_size: 64M\n");
    let limits: Vec<(&str, u64)> = plan.limits.iter().map(|l| (l.name, l.value)).collect();
    assert_eq!(
        limits,
        [
            ("open_files", 4096),
            ("processes", 64),
            ("file_size", 1 << 20),
            ("core_dumps", 0),
            ("pending_signals", crate::plan::PENDING_SIGNALS)
        ]
    );
    assert_eq!(plan.limits[0].resource, libc::RLIMIT_NOFILE);
    assert_eq!(plan.tmp_size, Some(64 << 20));
    // Capped to a lower value is stricter, not weaker: a note, not a warning.
    let capped = "limits.open_files = 100000 is above this process's hard limit 4096; 4096 applies";
    assert!(plan.notes.iter().any(|n| n == capped), "{:?}", plan.notes);
    assert!(!plan.warnings.iter().any(|w| w == capped));
    assert_eq!(plan.pids_cgroup, None, "an ordinary user has RLIMIT_NPROC");

    let plan = f.plan("limits:\n  core_dumps: true\n");
    let limits: Vec<&str> = plan.limits.iter().map(|l| l.name).collect();
    assert_eq!(limits, ["pending_signals"]);
    // Under a lower hard limit, that one applies.
    f.host.probes.hard_limit = |_| 100;
    let plan = f.plan("limits:\n  core_dumps: true\n");
    assert_eq!(plan.limits[0].value, 100);
}

#[test]
fn processes_for_root_need_a_pids_cgroup() {
    let mut f = Fixture::new();
    f.host.kernel.euid = 0;
    let mut req = f.request("limits:\n  processes: 64\n");
    let PlanError::NotEnforceable(g) = f.error(&req) else {
        panic!("not refused")
    };
    assert_eq!(g[0].what, "limits.processes for root");
    req.collect_gaps = true;
    assert_eq!(f.build(&req).unwrap().pids_cgroup, None);

    f.host.probes.pids_cgroup = || true;
    req.collect_gaps = false;
    let plan = f.build(&req).unwrap();
    assert_eq!(plan.pids_cgroup, Some(64));
    assert!(plan.not_enforced.is_empty());
}

#[test]
fn memory_is_a_cgroup_or_else_a_gap_with_a_per_process_fallback() {
    let mut f = Fixture::new();
    let mut req = f.request("limits:\n  memory: 512M\n");
    let PlanError::NotEnforceable(g) = f.error(&req) else {
        panic!("not refused")
    };
    assert_eq!(g[0].what, "limits.memory");
    assert!(g[0].why.contains("no memory cgroup in this test"));
    req.collect_gaps = true;
    let plan = f.build(&req).unwrap();
    let m = plan.memory.unwrap();
    assert_eq!((m.bytes, m.cgroup), (512 << 20, false));
    let data = plan.limits.last().unwrap();
    assert_eq!(
        (data.name, data.resource, data.value),
        ("memory_per_process", libc::RLIMIT_DATA, 512 << 20)
    );

    f.host.probes.memory_cgroup = |_| {
        Ok(MemoryHome {
            parent: PathBuf::from("cgroup/user"),
            v2: true,
            delegated: true,
        })
    };
    req.collect_gaps = false;
    let plan = f.build(&req).unwrap();
    let m = plan.memory.unwrap();
    assert!(m.cgroup);
    assert!(
        m.how
            .starts_with("a cgroup v2 memory cgroup under cgroup/user")
    );
    assert!(plan.limits.iter().all(|l| l.name != "memory_per_process"));
}

// --- the rest of the plan ---------------------------------------------------------------------

#[test]
fn syscall_allow_entries_lift_members_of_denied_groups() {
    let f = Fixture::new();
    let plan = f.plan("syscalls:\n  deny: [\"@debug\", reboot]\n  allow: [ptrace]\n");
    let denied: Vec<&str> = plan.seccomp.denied.iter().map(|d| d.name).collect();
    assert!(denied.contains(&"reboot"));
    assert!(denied.contains(&"perf_event_open"));
    assert!(!denied.contains(&"ptrace"));
    assert_eq!(plan.seccomp.lifted.len(), 1);
    assert_eq!(plan.seccomp.lifted[0].name, "ptrace");
    assert_eq!(plan.seccomp.lifted[0].via, "@debug");
    assert!(plan.seccomp.instructions > 0);
    assert_eq!(plan.seccomp.instructions, plan.seccomp.program.len());
}

#[test]
fn capabilities_are_kept_once_each() {
    let f = Fixture::new();
    let plan = f.plan("capabilities:\n  keep: [CAP_NET_BIND_SERVICE, CAP_NET_BIND_SERVICE]\n");
    assert_eq!(plan.capabilities.keep, ["CAP_NET_BIND_SERVICE"]);
    assert_eq!(plan.capabilities.mask, 1 << 10);
}

#[test]
fn without_a_profile_the_default_applies_and_says_why() {
    let f = Fixture::new();
    let mut req = f.request("{}\n");
    req.profile = None;
    req.dry_run = true;
    req.collect_gaps = true;
    let plan = f.build(&req).unwrap();
    assert_eq!(plan.profile.name, "default");
    assert!(!plan.profile.inferred);
    assert!(
        plan.profile.chosen.starts_with("no --profile given"),
        "{}",
        plan.profile.chosen
    );
    assert_eq!(plan.profile.sources, ["built-in:default"]);
    assert_eq!(plan.explain_args, ["-p default"]);
}
