//! Why did the server fail? When mcpcell's stderr is not a terminal, the server's stderr
//! passes through mcpcell (byte for byte), which watches it for the ways servers report a
//! denial: `EACCES: permission denied, open '/x'` (Node), `PermissionError: [Errno 13]
//! Permission denied: '/x'` (Python), `cat: /x: Permission denied` (C tools), name lookups
//! that fail (`getaddrinfo ENOTFOUND host`). Each path or host the profile does not allow
//! is reported once with the `mcpcell explain` command that shows the rule: while the server
//! runs (at most [`LIVE_PER_WINDOW`] hints per [`WINDOW`]; the rest wait for a later line),
//! and, if the server then exits with an error, whatever was not told yet. A death by SIGSYS
//! is reported as a seccomp kill. In network mode `proxy` the proxy itself logs every
//! refused destination, so a failed lookup is not told twice while the server runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::commands::explain::{Target, verdict};
use crate::escape;
use crate::plan::Plan;
use crate::plan::fs::Rights;

/// What the server's stderr said it was refused.
#[derive(Debug, Default)]
pub struct Seen {
    /// Paths with the access the message suggests.
    pub paths: BTreeSet<(PathBuf, Access)>,
    pub hosts: BTreeSet<String>,
    /// `Operation not permitted` / EPERM with no path: a syscall or capability.
    pub eperm: bool,
    /// What was judged while the server ran (told, or found allowed): not judged again.
    judged_paths: BTreeSet<(PathBuf, Access)>,
    judged_hosts: BTreeSet<String>,
    /// Paths already told about (once per path, whatever the access).
    told: BTreeSet<PathBuf>,
    /// Something was seen since the last live judgement.
    fresh: bool,
    /// The current window of live hints: when it started, and how many it has shown.
    window: Option<(Instant, usize)>,
}

/// Live hints are bounded: a server that reports one refused path after another cannot
/// flood the client's log. Those over the bound wait for a later window (or the exit).
pub const LIVE_PER_WINDOW: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// The message does not say: read is checked, then write.
    Unknown,
    Write,
    Exec,
}

const DENIED: [&str; 4] = [
    "permission denied",
    "operation not permitted",
    "eacces",
    "eperm",
];

/// How the sandbox's view reports what is outside the grants: it is not there, or it is
/// read-only.
const MISSING: [&str; 2] = ["no such file or directory", "enoent"];
const READ_ONLY: [&str; 2] = ["read-only file system", "erofs"];

/// Node's `syscall` word before the path: `open`, `mkdir`, `spawn`, ...
fn access_of(word: &str) -> Access {
    match word {
        "mkdir" | "rmdir" | "unlink" | "rename" | "copyfile" | "symlink" | "link" | "utime"
        | "chmod" | "chown" | "write" | "truncate" | "mkdtemp" | "cp" | "rm" => Access::Write,
        "spawn" | "execve" | "exec" | "uv_spawn" => Access::Exec,
        _ => Access::Unknown,
    }
}

/// The strings in `line` between single quotes, then those between double quotes.
fn quoted(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for q in ['\'', '"'] {
        let mut rest = line;
        while let Some(start) = rest.find(q) {
            let after = &rest[start + 1..];
            let Some(end) = after.find(q) else { break };
            out.push(&after[..end]);
            rest = &after[end + 1..];
        }
    }
    out
}

/// Absolute paths in `line`: quoted (`'/x'`, `"/x"`) or bare tokens that start with `/`.
fn paths_in(line: &str) -> Vec<String> {
    let mut out: Vec<String> = quoted(line)
        .into_iter()
        .filter(|s| s.starts_with('/') && !s.contains('\n'))
        .map(String::from)
        .collect();
    if out.is_empty() {
        for tok in line.split_whitespace() {
            let t = tok.trim_matches(|c: char| matches!(c, ':' | ',' | ';' | '(' | ')' | '`'));
            if t.starts_with('/') && t.len() > 1 {
                out.push(t.to_string());
            }
        }
        // `/bin/sh: 1: cannot create /x: ...` or `/usr/bin/env: ‘tool’: No such file or
        // directory`: the first path names the program, when more follows it than the error
        // (`/x: Permission denied` names the path refused).
        let first = line.split_whitespace().next().unwrap_or_default();
        let program_first = first.starts_with('/')
            && first.ends_with(':')
            && out
                .first()
                .is_some_and(|p| first.trim_end_matches(':') == p);
        if program_first && (out.len() > 1 || line.split(": ").count() > 2) {
            out.remove(0);
        }
    }
    out
}

/// Quoted relative paths in `line` (`'out.txt'`, `"data/x.db"`): one word with a `.` or a
/// `/` in it (not Node's `code: 'EROFS'`), no URL.
fn relative_paths_in(line: &str) -> Vec<String> {
    quoted(line)
        .into_iter()
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 255
                && !s.starts_with('/')
                && !s.contains("://")
                && s.contains(['.', '/'])
                && !s.starts_with('-')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        })
        .map(String::from)
        .collect()
}

fn host_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let i = line.find(marker)?;
    let rest = line[i + marker.len()..].trim_start_matches([' ', ':', '\'', '"']);
    let h: &str = rest
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .next()?;
    (h.contains('.') && h.len() > 3).then_some(h)
}

impl Seen {
    /// Takes one line of the server's stderr.
    pub fn line(&mut self, line: &str) {
        let lower = line.to_ascii_lowercase();
        for marker in [
            "ENOTFOUND",
            "EAI_AGAIN",
            "Could not resolve host",
            "Failed to resolve",
            "getaddrinfo failed for",
        ] {
            if let Some(h) = host_after(line, marker) {
                // Bounded, like the paths: the server decides how much it prints.
                if self.hosts.len() < 64 {
                    self.fresh |= self.hosts.insert(h.to_string());
                }
            }
        }
        let missing = MISSING.iter().any(|d| lower.contains(d));
        let read_only = READ_ONLY.iter().any(|d| lower.contains(d));
        if !missing && !read_only && !DENIED.iter().any(|d| lower.contains(d)) {
            return;
        }
        // Node: "EACCES: permission denied, open '/x'".
        let node_word = [
            "denied, ",
            "not permitted, ",
            "directory, ",
            "file system, ",
        ]
        .iter()
        .find_map(|m| line.split_once(m))
        .and_then(|(_, rest)| rest.split_whitespace().next());
        let access = node_word.map(access_of).unwrap_or_else(|| {
            if read_only || lower.contains("cannot create") || lower.contains("cannot remove") {
                Access::Write
            } else {
                Access::Unknown
            }
        });
        let mut paths = paths_in(line);
        if paths.is_empty() {
            // `EROFS: read-only file system, open 'out.txt'`: a path relative to the
            // server's working directory, judged there (see `path_hint`).
            paths = relative_paths_in(line);
        }
        if missing {
            // Missing in the sandbox: a hint only for what exists outside it (a server
            // probing for optional files is no news).
            paths.retain(|p| std::fs::symlink_metadata(p).is_ok());
        }
        if paths.is_empty() && (lower.contains("not permitted") || lower.contains("eperm")) {
            self.eperm = true;
        }
        for p in paths {
            if self.paths.len() < 64 {
                self.fresh |= self.paths.insert((PathBuf::from(p), access));
            }
        }
    }

    /// The hints for a server that exited with `code`: one line each, without the prefix;
    /// what was told while it ran is not repeated. A server that exited 0 gets only what
    /// the live bound held back: its EPERMs were its own business.
    pub fn report(&self, plan: &Plan, code: i32) -> Vec<String> {
        let mut out = Vec::new();
        if code == 0 && !self.fresh {
            return out;
        }
        let spec = plan.explain_args.join(" ");
        if code == 128 + libc::SIGSYS {
            out.push(format!(
                "the server was killed by the seccomp filter (syscalls.on_violation: kill): it made a system call profile `{}` denies. To see which, set on_violation to errno (the call then fails with EPERM) or log (the kernel logs it as type=1326), or list the denied calls with `mcpcell run {spec} --dry-run -- ...`",
                plan.profile.name
            ));
        }
        let mut told = self.told.clone();
        for (path, access) in self.paths.difference(&self.judged_paths) {
            out.extend(path_hint(plan, &spec, path, *access, &mut told));
        }
        for h in self.hosts.difference(&self.judged_hosts) {
            out.extend(host_hint(plan, &spec, h));
        }
        if out.is_empty() && self.eperm && code != 0 {
            out.push(format!(
                "an operation failed with EPERM: a system call profile `{}` denies, or a capability the sandbox drops; `mcpcell run {spec} --dry-run -- ...` lists the denied calls, and `mcpcell explain {spec} SYSCALL` explains one",
                plan.profile.name
            ));
        }
        out
    }

    /// The hints for what the server reported since the last call, while it runs: each
    /// path and host once, at most [`LIVE_PER_WINDOW`] per [`WINDOW`].
    pub fn live(&mut self, plan: &Plan, now: Instant) -> Vec<String> {
        if !self.fresh {
            return Vec::new();
        }
        let (start, shown) = match self.window {
            Some((start, shown)) if now.duration_since(start) < WINDOW => (start, shown),
            _ => (now, 0),
        };
        let mut budget = LIVE_PER_WINDOW - shown.min(LIVE_PER_WINDOW);
        let spec = plan.explain_args.join(" ");
        let mut out = Vec::new();
        let pending: Vec<(PathBuf, Access)> =
            self.paths.difference(&self.judged_paths).cloned().collect();
        let mut held = false;
        for (path, access) in pending {
            if budget == 0 {
                held = true;
                break;
            }
            let hint = path_hint(plan, &spec, &path, access, &mut self.told);
            self.judged_paths.insert((path, access));
            if let Some(h) = hint {
                budget -= 1;
                out.push(h);
            }
        }
        let pending: Vec<String> = self.hosts.difference(&self.judged_hosts).cloned().collect();
        for h in pending {
            // The proxy logs each refused destination itself.
            if plan.network.proxy.is_some() {
                self.judged_hosts.insert(h);
                continue;
            }
            if budget == 0 {
                held = true;
                break;
            }
            let hint = host_hint(plan, &spec, &h);
            self.judged_hosts.insert(h);
            if let Some(hint) = hint {
                budget -= 1;
                out.push(hint);
            }
        }
        self.fresh = held;
        self.window = Some((start, LIVE_PER_WINDOW - budget));
        out
    }
}

/// The hint for a path the server reported refused, if the profile indeed refuses it (and
/// the path was not told about yet).
fn path_hint(
    plan: &Plan,
    spec: &str,
    path: &Path,
    access: Access,
    told: &mut BTreeSet<PathBuf>,
) -> Option<String> {
    // A relative path is the server's working directory's (where it started: `cd` inside
    // is not followed).
    let joined;
    let path = if path.is_relative() {
        joined = crate::paths::normalize(&plan.cwd.join(path));
        joined.as_path()
    } else {
        path
    };
    if told.contains(path) {
        return None;
    }
    let wants: &[Rights] = match access {
        Access::Unknown => &[Rights::READ, Rights::WRITE],
        Access::Write => &[Rights::WRITE],
        Access::Exec => &[Rights::EXEC],
    };
    for &want in wants {
        let v = match verdict(plan, "", &Target::Path(path.to_path_buf(), want)) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v.allowed {
            continue;
        }
        let suffix = match want.word() {
            "read" => String::new(),
            w => format!(":{w}"),
        };
        told.insert(path.to_path_buf());
        // The path is the server's text: escaped for the terminal in the sentence, quoted
        // for the shell in the command to paste.
        let mut target = path.to_path_buf().into_os_string();
        target.push(suffix);
        return Some(format!(
            "the profile does not let the server {} {}; check with: mcpcell explain {spec} {}",
            want.verb(),
            escape::path(path),
            escape::shell_word(&target)
        ));
    }
    None
}

/// The hint for a host the server failed to reach, if the profile indeed refuses it.
fn host_hint(plan: &Plan, spec: &str, h: &str) -> Option<String> {
    let v = verdict(plan, h, &Target::Host(h.to_string(), 443)).ok()?;
    (!v.allowed).then(|| {
        format!(
            "the profile does not let the server reach {}; check with: mcpcell explain {spec} {}",
            escape::terminal(h),
            escape::shell_operand(h.as_ref())
        )
    })
}

impl crate::supervise::StderrWatch for Seen {
    fn line(&mut self, line: &str) {
        Seen::line(self, line)
    }
    fn report(&self, plan: &Plan, code: i32) -> Vec<String> {
        Seen::report(self, plan, code)
    }
    fn live(&mut self, plan: &Plan) -> Vec<String> {
        Seen::live(self, plan, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(lines: &[&str]) -> Seen {
        let mut s = Seen::default();
        for l in lines {
            s.line(l);
        }
        s
    }

    #[test]
    fn missing_and_read_only_paths_are_denials_of_the_view() {
        let s = seen(&[
            "Error: ENOENT: no such file or directory, open '/etc/passwd'",
            "FileNotFoundError: [Errno 2] No such file or directory: '/no/such/optional.conf'",
            "OSError: [Errno 30] Read-only file system: '/usr/lib/x'",
            "Error: EROFS: read-only file system, mkdir '/srv/ro'",
        ]);
        let paths: Vec<_> = s
            .paths
            .iter()
            .map(|(p, a)| (p.to_str().unwrap(), *a))
            .collect();
        // A path missing on the host too is no denial.
        assert_eq!(
            paths,
            [
                ("/etc/passwd", Access::Unknown),
                ("/srv/ro", Access::Write),
                ("/usr/lib/x", Access::Write)
            ]
        );
    }

    #[test]
    fn reads_the_usual_denial_messages() {
        let s = seen(&[
            "Error: EACCES: permission denied, open '/home/u/notes/a.txt'",
            "Error: EACCES: permission denied, mkdir '/srv/out'",
            "PermissionError: [Errno 13] Permission denied: '/etc/app.conf'",
            "cat: /root/.ssh/id_rsa: Permission denied",
            "sh: 1: cannot create /var/log/x.log: Permission denied",
            "getaddrinfo ENOTFOUND api.example.com",
            "curl: (6) Could not resolve host: other.example.org",
            "some harmless line about /usr/lib",
        ]);
        let paths: Vec<(String, Access)> = s
            .paths
            .iter()
            .map(|(p, a)| (p.display().to_string(), *a))
            .collect();
        assert!(paths.contains(&("/home/u/notes/a.txt".into(), Access::Unknown)));
        assert!(paths.contains(&("/srv/out".into(), Access::Write)));
        assert!(paths.contains(&("/etc/app.conf".into(), Access::Unknown)));
        assert!(paths.contains(&("/root/.ssh/id_rsa".into(), Access::Unknown)));
        assert!(paths.contains(&("/var/log/x.log".into(), Access::Write)));
        assert!(!paths.iter().any(|(p, _)| p == "/usr/lib"));
        assert!(s.hosts.contains("api.example.com"));
        // Relative paths, quoted, with a `.` or `/`: Node's `code: 'EROFS'` is none.
        let r = seen(&[
            "Error: EROFS: read-only file system, open 'out.txt'",
            "  code: 'EROFS',",
            "OSError: [Errno 30] Read-only file system: 'data/o2.db'",
        ]);
        let rel: Vec<String> = r
            .paths
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        assert_eq!(rel, ["data/o2.db", "out.txt"]);
        assert!(s.hosts.contains("other.example.org"));
        assert!(!s.eperm);
        assert!(seen(&["unshare: unshare failed: Operation not permitted"]).eperm);
    }

    #[test]
    fn a_program_named_first_is_not_the_path_refused() {
        // env's own message for a program it did not find: /usr/bin/env exists on the host
        // and is no file the server was refused.
        let s = seen(&["/usr/bin/env: ‘tool’: No such file or directory"]);
        assert!(s.paths.is_empty(), "{:?}", s.paths);
        // A path first with nothing but the error after it is the path refused.
        let s = seen(&["/etc/shadow: Permission denied"]);
        let paths: Vec<_> = s.paths.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(paths, [PathBuf::from("/etc/shadow")]);
        // A first word that is no path kept (`/` alone) names no program to take out.
        let s = seen(&[
            "/: x: Permission denied",
            "/: cannot open /etc/shadow: EACCES",
        ]);
        let paths: Vec<_> = s.paths.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(paths, [PathBuf::from("/etc/shadow")]);
    }
}
