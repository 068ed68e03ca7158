//! The server command: found with `which` before the sandbox exists, and the files its
//! execution needs (`#!` interpreter, ELF loader) so they can be granted automatically.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use super::fs::real_path;
use super::steer::Evidence;

#[derive(Debug, Error)]
pub enum CommandError {
    #[error("command `{command}` not found{}", match path { Some(p) => format!(" in PATH ({p})"), None => " (PATH is not set)".to_string() })]
    NotFound {
        command: String,
        path: Option<String>,
    },
    #[error("`{}` does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("`{}` cannot be executed: {why}", path.display())]
    NotExecutable { path: PathBuf, why: String },
    #[error(
        "no command given: put the server's command after mcpcell's options, as in `mcpcell run npx -y @modelcontextprotocol/server-memory`"
    )]
    Empty,
}

impl CommandError {
    /// The exit status the SPEC gives this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandError::NotFound { .. } | CommandError::Missing { .. } => 127,
            CommandError::NotExecutable { .. } => 126,
            CommandError::Empty => 125,
        }
    }
}

/// A file granted read and execute because running the command needs it.
#[derive(Debug, Clone, Serialize)]
pub struct Needed {
    pub path: PathBuf,
    pub why: String,
    /// What the path was learnt from: the file whose `#!` line or ELF header names it, the
    /// file whose directories hold it (see [`super::steer`]).
    #[serde(skip)]
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Command {
    /// The path handed to execve.
    pub path: PathBuf,
    /// argv, with argv[0] as the user wrote it.
    pub argv: Vec<OsString>,
    /// The command file and what its execution loads: `#!` interpreters, ELF loaders.
    pub needed: Vec<Needed>,
    /// For interpreter commands (`node server.js`), the script argument.
    pub script: Option<PathBuf>,
    /// Directories the command's code lives in, granted read-only: the `node_modules` tree
    /// of a script, the Python virtual environment of an interpreter or script.
    pub trees: Vec<Needed>,
}

impl Command {
    /// No command: what `explain` plans with when it is given none.
    pub fn none() -> Command {
        Command {
            path: PathBuf::new(),
            argv: Vec::new(),
            needed: Vec::new(),
            script: None,
            trees: Vec::new(),
        }
    }
}

/// The files executing `file` also executes: its `#!` interpreter (and that one's), its ELF
/// loader. Used by `learn` for programs the server ran.
pub fn loaders_of(file: &Path) -> Vec<PathBuf> {
    let mut needed = Vec::new();
    let path = std::env::var_os("PATH");
    add_loaders(file, path.as_deref(), Path::new("/"), &mut needed, &[], 0);
    needed.into_iter().map(|n| n.path).collect()
}

/// Resolves `argv[0]`: a path if it contains `/`, else a search of `path_var`.
/// `sandbox_path` is the PATH the server will see, used for `#!/usr/bin/env NAME`.
pub fn resolve(
    argv: &[OsString],
    cwd: &Path,
    path_var: Option<&OsStr>,
    sandbox_path: Option<&OsStr>,
) -> Result<Command, CommandError> {
    let first = argv.first().ok_or(CommandError::Empty)?;
    // A command named by its path was chosen by the user; one found on the PATH was chosen
    // by whoever may write the directory it was found in (a server may have planted it
    // there for a later launch, of itself or of another server: `steer`).
    let (path, evidence) = if first.as_bytes().contains(&b'/') {
        let p = cwd.join(first);
        if std::fs::symlink_metadata(&p).is_err() {
            return Err(CommandError::Missing { path: p });
        }
        (p, Vec::new())
    } else {
        let found = search(first, path_var, cwd).ok_or_else(|| CommandError::NotFound {
            command: first.to_string_lossy().into_owned(),
            path: path_var.map(|p| p.to_string_lossy().into_owned()),
        })?;
        (found.clone(), vec![Evidence::Runs(found)])
    };
    check_executable(&path)?;
    let mut needed = vec![Needed {
        path: path.clone(),
        why: "the command".into(),
        evidence,
    }];
    add_loaders(&path, sandbox_path, cwd, &mut needed, &[], 0);
    let script = script_argument(&path, &argv[1..], cwd);
    let trees = code_trees(&path, &needed, script.as_deref());
    Ok(Command {
        path,
        argv: argv.to_vec(),
        needed,
        script,
        trees,
    })
}

/// The prefix of the Python installation a virtual environment was made from, and its
/// `home` as written (the links on its way chose the prefix too).
fn venv_base(venv: &Path) -> Option<(PathBuf, PathBuf)> {
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    let written = cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "home").then(|| PathBuf::from(v.trim()))
    })?;
    let home = real_path(&written).ok()?;
    let prefix = if home.file_name().is_some_and(|n| n == "bin") {
        home.parent()?.to_path_buf()
    } else {
        home
    };
    // Never something as wide as `/` or `/usr`: those come from the profile, if at all.
    (prefix.components().count() > 2).then_some((prefix, written))
}

/// The package trees the command runs from: the nearest `node_modules` directory above the
/// script or command (a Node server needs its dependencies), and the root of a Python
/// virtual environment (the directory with `pyvenv.cfg`) holding the command, its
/// interpreter or the script.
fn code_trees(path: &Path, needed: &[Needed], script: Option<&Path>) -> Vec<Needed> {
    let mut out: Vec<Needed> = Vec::new();
    let mut add = |dir: PathBuf, why: String, evidence: Vec<Evidence>| {
        if !out.iter().any(|n| dir.starts_with(&n.path)) {
            out.retain(|n| !n.path.starts_with(&dir));
            out.push(Needed {
                path: dir,
                why,
                evidence,
            });
        }
    };
    let files = script
        .into_iter()
        .chain(std::iter::once(path))
        .map(|f| (f, &[][..]))
        .chain(needed.iter().map(|n| (n.path.as_path(), &n.evidence[..])));
    let mut seen: Vec<&Path> = Vec::new();
    // Directories already walked through: everything above them was looked at then.
    let mut walked: Vec<PathBuf> = Vec::new();
    for (f, learnt) in files {
        if seen.contains(&f) {
            continue;
        }
        seen.push(f);
        // The directories found are those of the file the links on the way lead to.
        let via = |more: Option<PathBuf>| {
            let mut e = learnt.to_vec();
            e.push(Evidence::Via(f.to_path_buf()));
            e.extend(more.map(Evidence::Content));
            e
        };
        let real = real_path(f).unwrap_or_else(|_| f.to_path_buf());
        let candidates = if real == f {
            vec![real]
        } else {
            vec![f.to_path_buf(), real]
        };
        for candidate in candidates {
            for dir in candidate.ancestors().skip(1) {
                if walked.iter().any(|w| w == dir) {
                    break;
                }
                walked.push(dir.to_path_buf());
                if dir.file_name().is_some_and(|n| n == "node_modules") {
                    add(
                        dir.to_path_buf(),
                        format!("the node_modules tree of {}", f.display()),
                        via(None),
                    );
                    break;
                }
                let cfg = dir.join("pyvenv.cfg");
                if cfg.is_file() {
                    add(
                        dir.to_path_buf(),
                        format!("the Python environment of {}", f.display()),
                        via(Some(cfg.clone())),
                    );
                    // The environment runs on a base installation, whose standard library
                    // it needs: `home = /prefix/bin` in pyvenv.cfg.
                    if let Some((base, home)) = venv_base(dir) {
                        let mut evidence = via(Some(cfg));
                        evidence.push(Evidence::Via(home));
                        add(
                            base,
                            format!("the Python installation {} is built on", dir.display()),
                            evidence,
                        );
                    }
                    break;
                }
            }
        }
    }
    // A script outside any package tree: the file itself (what it imports is the profile's
    // business, or `learn`'s).
    if let Some(s) = script {
        let real = real_path(s).unwrap_or_else(|_| s.to_path_buf());
        if !out
            .iter()
            .any(|n| s.starts_with(&n.path) || real.starts_with(&n.path))
        {
            out.push(Needed {
                path: real,
                why: "the script the interpreter runs".into(),
                evidence: vec![Evidence::Via(s.to_path_buf())],
            });
        }
    }
    out
}

fn search(name: &OsStr, path_var: Option<&OsStr>, cwd: &Path) -> Option<PathBuf> {
    which::which_in(name, path_var, cwd).ok()
}

fn check_executable(path: &Path) -> Result<(), CommandError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            // A dangling symlink exists but cannot be run.
            CommandError::NotExecutable {
                path: path.to_path_buf(),
                why: "it is a symbolic link to a file that does not exist".into(),
            }
        } else {
            CommandError::NotExecutable {
                path: path.to_path_buf(),
                why: e.to_string(),
            }
        }
    })?;
    if meta.is_dir() {
        return Err(CommandError::NotExecutable {
            path: path.to_path_buf(),
            why: "it is a directory".into(),
        });
    }
    if !meta.is_file() {
        return Err(CommandError::NotExecutable {
            path: path.to_path_buf(),
            why: "it is not a regular file (a FIFO, socket or device)".into(),
        });
    }
    if nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_err() {
        return Err(CommandError::NotExecutable {
            path: path.to_path_buf(),
            why: "it is not executable by this user (check its mode, or run it through its interpreter)".into(),
        });
    }
    Ok(())
}

/// Adds the `#!` interpreter or the ELF loader of `file`, recursively (a script whose
/// interpreter is itself a script, `#!/usr/bin/env node`, ...), up to a small depth.
/// `learnt` is what `file` itself was learnt from.
fn add_loaders(
    file: &Path,
    sandbox_path: Option<&OsStr>,
    cwd: &Path,
    out: &mut Vec<Needed>,
    learnt: &[Evidence],
    depth: u8,
) {
    if depth > 4 {
        return;
    }
    let Some(mut f) = open_regular(file) else {
        return;
    };
    let mut head = [0u8; 256];
    let n = read_up_to(&mut f, &mut head);
    let head = &head[..n];
    // What `file` names was read from it; and what it names is run: whoever may write
    // that file chose the code (a venv's `python` a server replaced, named by the `#!` of a
    // script outside its reach; what `env` found on the PATH), as for a command found on
    // a PATH (`resolve`).
    let mut evidence = learnt.to_vec();
    evidence.push(Evidence::Content(file.to_path_buf()));
    let evidence = &evidence;
    // `runs`: the file is run by this path (an interpreter, `env`'s target), not only
    // loaded from it (an ELF loader).
    let push = |path: PathBuf, why: String, runs: bool, out: &mut Vec<Needed>| -> bool {
        if out.iter().any(|x| x.path == path) {
            return false;
        }
        let mut chosen = evidence.clone();
        chosen.push(if runs {
            Evidence::Runs(path.clone())
        } else {
            Evidence::Content(path.clone())
        });
        out.push(Needed {
            path,
            why,
            evidence: chosen,
        });
        true
    };
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        let (interp, arg) = match line.split_once([' ', '\t']) {
            Some((i, a)) => (i, a.trim()),
            None => (line, ""),
        };
        if interp.is_empty() {
            return;
        }
        let interp = PathBuf::from(interp);
        if push(
            interp.clone(),
            format!("#! interpreter of {}", file.display()),
            true,
            out,
        ) {
            add_loaders(&interp, sandbox_path, cwd, out, evidence, depth + 1);
        }
        if interp.file_name() == Some(OsStr::new("env")) {
            if let Some(name) = env_program(arg) {
                if let Some(found) = search(OsStr::new(name), sandbox_path, cwd) {
                    if push(
                        found.clone(),
                        format!("`{name}` run by `#!{}` in {}", line, file.display()),
                        true,
                        out,
                    ) {
                        add_loaders(&found, sandbox_path, cwd, out, evidence, depth + 1);
                    }
                }
            }
        }
    } else if head.starts_with(b"\x7fELF") {
        if let Some(loader) = elf_interpreter(&f) {
            if push(
                loader.clone(),
                format!("ELF loader of {}", file.display()),
                false,
                out,
            ) {
                add_loaders(&loader, sandbox_path, cwd, out, evidence, depth + 1);
            }
        }
    }
}

/// Opens `path` for reading if it is a regular file. Never blocks: a FIFO named in a `#!`
/// line (or swapped in after the check) must not hang the launch.
fn open_regular(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    f.metadata().ok()?.is_file().then_some(f)
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// The program `env` runs for a `#!/usr/bin/env [-S] [-opts] [VAR=val] NAME ...` line.
fn env_program(arg: &str) -> Option<&str> {
    let mut words = arg.split_whitespace();
    // `-Spython3`, `--split-string=python3 -u`: the split string starts inside the word.
    let mut glued: Option<&str> = None;
    loop {
        let w = match glued.take() {
            Some(g) => g,
            None => words.next()?,
        };
        // Options whose value is the next word: GNU's unset, chdir and argv0, BSD's
        // search path.
        if matches!(
            w,
            "-u" | "-C" | "-a" | "-P" | "--unset" | "--chdir" | "--argv0"
        ) {
            words.next()?;
            continue;
        }
        if let Some(rest) = w
            .strip_prefix("--split-string=")
            .or_else(|| w.strip_prefix("-S").filter(|r| !r.is_empty()))
        {
            glued = Some(rest);
            continue;
        }
        if w == "-S" || w.starts_with('-') || w.contains('=') {
            // `-S` splits the rest into words; other options and assignments are skipped.
            continue;
        }
        // `-S` takes quotes away: `'python3'` runs python3.
        return Some(w.trim_matches(['\'', '"']));
    }
}

/// The PT_INTERP of an ELF file: the dynamic loader the kernel opens to run it.
fn elf_interpreter(f: &File) -> Option<PathBuf> {
    use goblin::container::Ctx;
    use goblin::elf::Elf;
    use goblin::elf::program_header::{PT_INTERP, ProgramHeader};

    let mut buf = vec![0u8; 16 * 1024];
    let n = f.read_at(&mut buf, 0).ok()?;
    buf.truncate(n);
    let header = Elf::parse_header(&buf).ok()?;
    let ctx = Ctx::new(header.container().ok()?, header.endianness().ok()?);
    let phoff = header.e_phoff as usize;
    let phnum = header.e_phnum as usize;
    let need = phoff.checked_add(phnum.checked_mul(header.e_phentsize as usize)?)?;
    if need > buf.len() {
        buf.resize(need.min(1 << 20), 0);
        let n = f.read_at(&mut buf, 0).ok()?;
        buf.truncate(n);
    }
    let phdrs = ProgramHeader::parse(&buf, phoff, phnum, ctx).ok()?;
    let interp = phdrs.iter().find(|p| p.p_type == PT_INTERP)?;
    let len = (interp.p_filesz as usize).min(4096);
    let mut name = vec![0u8; len];
    f.read_exact_at(&mut name, interp.p_offset).ok()?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    let path = PathBuf::from(OsStr::from_bytes(&name[..end]));
    path.is_absolute().then_some(path)
}

const INTERPRETERS: &[&str] = &[
    "node", "nodejs", "bun", "deno", "python", "python3", "pypy3", "ruby", "perl", "php", "sh",
    "bash", "dash", "zsh",
];

fn is_interpreter(p: &Path) -> bool {
    let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    INTERPRETERS.contains(&name)
        || name
            .strip_prefix("python3.")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit()))
}

/// The script an interpreter command runs (`node dist/index.js`), so that `filesystem.args`
/// does not turn the server's own code into a writable grant.
/// Only when the command itself is the interpreter: a `#!` script run directly is its own
/// script, and its arguments are just arguments.
fn script_argument(path: &Path, args: &[OsString], cwd: &Path) -> Option<PathBuf> {
    let interp = is_interpreter(path) || real_path(path).is_ok_and(|p| is_interpreter(&p));
    if !interp {
        return None;
    }
    let first = args.iter().find(|a| !a.as_bytes().starts_with(b"-"))?;
    let p = cwd.join(first);
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn finds_commands_and_their_loaders() {
        let path = std::env::var_os("PATH");
        let c = resolve(
            &os(&["true"]),
            Path::new("/"),
            path.as_deref(),
            path.as_deref(),
        )
        .unwrap();
        assert!(c.path.is_absolute());
        assert!(
            c.needed.iter().any(|n| n.why.starts_with("ELF loader")),
            "{:?}",
            c.needed
        );
    }

    #[test]
    fn scripts_bring_their_interpreter() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("tool");
        std::fs::write(&script, "#!/usr/bin/env -S sh -e\necho hi\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::var_os("PATH");
        let c = resolve(
            &os(&["./tool"]),
            dir.path(),
            path.as_deref(),
            path.as_deref(),
        )
        .unwrap();
        let names: Vec<String> = c
            .needed
            .iter()
            .map(|n| n.path.display().to_string())
            .collect();
        assert!(names.contains(&"/usr/bin/env".to_string()), "{names:?}");
        assert!(names.iter().any(|n| n.ends_with("/sh")), "{names:?}");
    }

    #[test]
    fn exit_codes_follow_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let e = resolve(
            &os(&["no-such-command-xyz"]),
            dir.path(),
            Some(OsStr::new("/nonexistent")),
            None,
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 127);
        assert_eq!(
            e.to_string(),
            "command `no-such-command-xyz` not found in PATH (/nonexistent)"
        );
        let e = resolve(&os(&["./"]), dir.path(), None, None).unwrap_err();
        assert_eq!(e.exit_code(), 126);
        let file = dir.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = resolve(&os(&["./plain"]), dir.path(), None, None).unwrap_err();
        assert_eq!(e.exit_code(), 126);
        std::os::unix::fs::symlink("/nonexistent/target", dir.path().join("dangling")).unwrap();
        let e = resolve(&os(&["./dangling"]), dir.path(), None, None).unwrap_err();
        assert_eq!(e.exit_code(), 126);
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // A FIFO is refused before anything reads it (reading would wait for a writer).
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap();
        let e = resolve(&os(&["./fifo"]), dir.path(), None, None).unwrap_err();
        assert_eq!(e.exit_code(), 126);
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // So is a script whose `#!` interpreter is one: it is simply not a loader.
        let script = dir.path().join("script");
        std::fs::write(&script, format!("#!{}\n", fifo.display())).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let c = resolve(&os(&["./script"]), dir.path(), None, None).unwrap();
        assert_eq!(c.needed.len(), 2);
    }

    #[test]
    fn code_trees_of_node_and_python_servers() {
        let d = tempfile::tempdir().unwrap();
        let nm = d.path().join("app/node_modules");
        let script = nm.join("@scope/server/dist/index.js");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(&script, "").unwrap();
        let venv = d.path().join("venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        let tool = venv.join("bin/tool");
        std::fs::write(&tool, "").unwrap();
        let trees = code_trees(&tool, &[], Some(&script));
        let dirs: Vec<&Path> = trees.iter().map(|t| t.path.as_path()).collect();
        assert_eq!(dirs, [nm.as_path(), venv.as_path()]);
        assert!(code_trees(Path::new("/usr/bin/true"), &[], None).is_empty());
        let lone = d.path().join("server.js");
        std::fs::write(&lone, "").unwrap();
        let trees = code_trees(Path::new("/usr/bin/node"), &[], Some(&lone));
        assert_eq!(trees.len(), 1);
        assert_eq!(trees[0].path, lone.canonicalize().unwrap());
    }

    #[test]
    fn env_lines() {
        assert_eq!(env_program("node"), Some("node"));
        assert_eq!(
            env_program("-S node --max-old-space-size=100"),
            Some("node")
        );
        assert_eq!(env_program("-i FOO=1 python3"), Some("python3"));
        assert_eq!(env_program("-S -u FOO tool --x"), Some("tool"));
        assert_eq!(env_program("-C /srv --unset HOME node"), Some("node"));
        assert_eq!(env_program("--unset=HOME node"), Some("node"));
        assert_eq!(env_program(""), None);
        assert_eq!(env_program("-Spython3"), Some("python3"));
        assert_eq!(env_program("--split-string=python3 -u"), Some("python3"));
        assert_eq!(env_program("-S 'python3' -u"), Some("python3"));
        assert_eq!(env_program("-S-u FOO node"), Some("node"));
    }
}
