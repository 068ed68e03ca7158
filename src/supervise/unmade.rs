//! What git would read or run that did not exist at launch, in a directory the server may
//! write ([`crate::plan::runs_later::Protected::unmade`]): a repository's `commondir` (with
//! it git takes its configuration and hooks from wherever it points), a missing `hooks`
//! directory, an include its configuration names. A read-only mount covers only what
//! exists, and no mount or Landlock rule refuses one name in a writable directory, so the
//! supervisor watches these names (inotify, set up before the server starts) and, when one
//! appears, stops the sandbox and moves the planted entry aside, where git never reads it.
//!
//! Between the entry's appearance and its move there is a window of microseconds in which a
//! git run by the user would read it; the server gets no second try.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{error, warn};

/// A watched directory: its descriptor (the directory itself, even if renamed) and the
/// names in it that must not appear, with why.
struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    names: Vec<(OsString, &'static str)>,
}

/// The watches, set up before the server starts.
pub struct Prepared {
    inotify: Option<OwnedFd>,
    /// Where inotify refused a directory: how often (ms) every directory is looked at
    /// instead; -1 when inotify watches them all.
    every_ms: i32,
    dirs: Vec<Dir>,
}

/// How often the directories are looked at where inotify is refused.
const POLL_MS: i32 = 20;

/// The running watch.
pub struct Watch {
    shared: Arc<Shared>,
}

struct Shared {
    prepared: Prepared,
    stop: AtomicBool,
    /// Held while entries are looked at and moved: the thread and the last look never act
    /// on one entry at once.
    acting: Mutex<Reported>,
}

/// What has been told of and is not to be told again: directories moved, entries that could
/// not be moved. An entry moved aside and made again is told of again.
#[derive(Default)]
struct Reported(Vec<PathBuf>);

/// What the planted entry is moved to: beside it, under a name git never reads.
const ASIDE: &str = ".planted-by-server";

/// Watches the parent directories of `places`. None when there is nothing to watch. Where
/// the kernel refuses an inotify watch (the user's instances or watches used up, perhaps by
/// another sandbox), the directories are looked at every [`POLL_MS`] instead, and told.
pub fn prepare(places: &[(PathBuf, &'static str)]) -> Option<Prepared> {
    if places.is_empty() {
        return None;
    }
    let refused = |what: &str, e: std::io::Error| {
        warn!(
            target: "mcpcell",
            "cannot watch {what} with inotify ({e}; fs.inotify.max_user_instances and max_user_watches bound them): looking every {POLL_MS} ms instead"
        );
    };
    // SAFETY: inotify_init1 takes flags and returns a new descriptor or -1.
    let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    // SAFETY: a descriptor inotify_init1 just returned, owned by nobody else.
    let inotify = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw) });
    let mut every_ms = -1;
    if inotify.is_none() {
        let all: Vec<String> = places.iter().map(|(p, _)| crate::escape::path(p)).collect();
        refused(&all.join(", "), std::io::Error::last_os_error());
        every_ms = POLL_MS;
    }
    let mut dirs: Vec<Dir> = Vec::new();
    for (place, why) in places {
        let (Some(parent), Some(name)) = (place.parent(), place.file_name()) else {
            continue;
        };
        if let Some(d) = dirs.iter_mut().find(|d| d.path == parent) {
            if !exists_at(&d.fd, name) {
                d.names.push((name.to_os_string(), why));
            }
            continue;
        }
        let Ok(c) = CString::new(parent.as_os_str().as_bytes()) else {
            continue;
        };
        // SAFETY: open with a NUL-terminated path and flags; -1 or a new descriptor.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            continue;
        }
        // SAFETY: a descriptor open just returned, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Made since it was planned, before the server starts: not the server's.
        if exists_at(&fd, name) {
            continue;
        }
        if let Some(i) = &inotify {
            let mask = libc::IN_CREATE
                | libc::IN_MOVED_TO
                | libc::IN_MOVE_SELF
                | libc::IN_DELETE_SELF
                | libc::IN_ONLYDIR
                | libc::IN_DONT_FOLLOW;
            // SAFETY: a valid inotify descriptor and a NUL-terminated path.
            if unsafe { libc::inotify_add_watch(i.as_raw_fd(), c.as_ptr(), mask) } < 0 {
                refused(&crate::escape::path(place), std::io::Error::last_os_error());
                every_ms = POLL_MS;
            }
        }
        dirs.push(Dir {
            fd,
            path: parent.to_path_buf(),
            names: vec![(name.to_os_string(), why)],
        });
    }
    (!dirs.is_empty()).then_some(Prepared {
        inotify,
        every_ms,
        dirs,
    })
}

impl Prepared {
    /// Starts watching for the sandbox `pid`.
    pub fn start(self, pid: libc::pid_t) -> Watch {
        let shared = Arc::new(Shared {
            prepared: self,
            stop: AtomicBool::new(false),
            acting: Mutex::new(Reported::default()),
        });
        let pidfd = crate::statesize::pidfd(pid);
        let inner = Arc::clone(&shared);
        // Without the thread, the last look at the end still moves what was made.
        let _ = std::thread::Builder::new()
            .name("unmade".into())
            .stack_size(64 * 1024)
            .spawn(move || inner.run(pidfd.as_ref(), pid));
        Watch { shared }
    }

    /// Every watched entry that now exists, and every watched directory no longer where it
    /// was.
    fn made(&self) -> Vec<Made<'_>> {
        let mut out = Vec::new();
        for d in &self.dirs {
            // A directory moved or removed (a git directory cannot be: its read-only mounts
            // hold it; an include's directory can): what now stands at its path is unknown.
            let same = std::fs::symlink_metadata(&d.path)
                .ok()
                .zip(fstat(&d.fd))
                .is_some_and(|(m, (dev, ino))| {
                    std::os::unix::fs::MetadataExt::dev(&m) == dev
                        && std::os::unix::fs::MetadataExt::ino(&m) == ino
                });
            if !same {
                out.push(Made::Moved(d));
            }
            for (name, why) in &d.names {
                if exists_at(&d.fd, name) {
                    out.push(Made::Entry(d, name, why));
                }
            }
        }
        out
    }
}

impl Shared {
    fn run(&self, pidfd: Option<&OwnedFd>, pid: libc::pid_t) {
        let mut buf = [0u8; 4096];
        // Every entry is checked at each wake-up, not only the events' names: a queue that
        // overflowed, or an event for a name given twice, misses nothing. After a stop the
        // watch goes on: in the namespace-free tier a process the server started may still
        // run until the supervisor ends it.
        while !self.stop.load(Ordering::Relaxed) {
            self.act(|| crate::statesize::kill(pidfd, pid));
            let mut p = libc::pollfd {
                fd: self.prepared.inotify.as_ref().map_or(-1, |i| i.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd (a negative descriptor is skipped); with inotify watching
            // every directory no timeout: nothing to do until one changes.
            unsafe { libc::poll(&mut p, 1, self.prepared.every_ms) };
            // Drained; what the events said is checked above.
            // SAFETY: reading into a buffer of its own length.
            while p.fd >= 0 && unsafe { libc::read(p.fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {
            }
        }
    }

    /// Moves aside and tells of what was made, after calling `stop` once if anything was.
    fn act(&self, stop: impl FnOnce()) {
        let Ok(mut reported) = self.acting.lock() else {
            return;
        };
        let made: Vec<Made<'_>> = self
            .prepared
            .made()
            .into_iter()
            .filter(|m| !reported.0.contains(&m.path()))
            .collect();
        if made.is_empty() {
            return;
        }
        stop();
        for m in made {
            if !m.report() {
                reported.0.push(m.path());
            }
        }
    }
}

impl Watch {
    /// Once the sandbox's processes are gone: the last look, for what was made after the
    /// thread's last one.
    pub fn finish(self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.act(|| {});
        if let Some(i) = &self.shared.prepared.inotify {
            close_after_exit(i.as_raw_fd());
        }
    }
}

/// The last close of an inotify descriptor with watches waits for a grace period
/// (fsnotify_destroy_group: 8 to 15 ms here), which at mcpcell's exit the client would
/// wait for. A child holds the descriptor instead, and closes it when mcpcell has exited
/// (killed by the parent-death signal): mcpcell's own close is then not the last one. The
/// child shares mcpcell's memory (no page tables copied, no copy-on-write faults after)
/// and has a descriptor table of its own, holding only this descriptor.
fn close_after_exit(fd: i32) {
    const STACK: usize = 16 * 1024;
    // Left to the child: mcpcell is about to exit, and the memory lives until the child
    // has exited too.
    let stack = Box::leak(vec![0u8; STACK].into_boxed_slice());
    // SAFETY: a zeroed sigset is valid for sigfillset to fill.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid set pointer.
    unsafe { libc::sigfillset(&mut all) };
    let args = Box::leak(Box::new(Holder {
        fd,
        // SAFETY: getpid has no arguments.
        parent: unsafe { libc::getpid() },
        all,
    }));
    // SAFETY: clone with a stack of its own (its top, 16-byte aligned) and CLONE_VM: the
    // child runs `hold`, which makes only system calls.
    unsafe {
        let top = stack.as_mut_ptr().add(STACK) as usize & !15;
        libc::clone(
            hold,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::SIGCHLD,
            (args as *mut Holder).cast(),
        );
    }
}

struct Holder {
    fd: i32,
    parent: libc::pid_t,
    /// Every signal, blocked in the child: a handler mcpcell installed must never run on
    /// its memory from another process. SIGKILL, which cannot be blocked, ends it.
    all: libc::sigset_t,
}

extern "C" fn hold(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the Holder close_after_exit leaked for this child; plain system calls.
    unsafe {
        let h = &*arg.cast::<Holder>();
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &h.all as *const libc::sigset_t,
            std::ptr::null_mut::<libc::sigset_t>(),
            8,
        );
        if h.fd > 0 {
            libc::syscall(libc::SYS_close_range, 0, h.fd - 1, 0);
        }
        libc::syscall(libc::SYS_close_range, h.fd + 1, u32::MAX, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != h.parent {
            libc::syscall(libc::SYS_exit, 0);
        }
        loop {
            libc::pause();
        }
    }
}

enum Made<'a> {
    Entry(&'a Dir, &'a OsStr, &'static str),
    Moved(&'a Dir),
}

impl Made<'_> {
    fn path(&self) -> PathBuf {
        match self {
            Made::Entry(d, name, _) => d.path.join(name),
            Made::Moved(d) => d.path.clone(),
        }
    }

    /// Tells of it, moving an entry aside; whether it was moved.
    fn report(&self) -> bool {
        match self {
            Made::Entry(d, name, why) => {
                let path = d.path.join(name);
                let moved = move_aside(&d.fd, name);
                let then = match &moved {
                    Some(aside) => format!(
                        "moved it to {}, where git does not read it: look at it, then remove it",
                        crate::escape::path(&d.path.join(aside))
                    ),
                    None => "it could not be moved: remove it before you run git there".into(),
                };
                error!(
                    target: "mcpcell",
                    event = "unmade",
                    "stopping the server: it made {}, which did not exist at launch ({why}: what it names would run outside the sandbox); {then}",
                    crate::escape::path(&path)
                );
                moved.is_some()
            }
            Made::Moved(d) => {
                let names: Vec<String> = d
                    .names
                    .iter()
                    .map(|(n, _)| crate::escape::path(&d.path.join(n)))
                    .collect();
                // What stands there now is the server's (a directory swapped in, a link):
                // moved aside, so that git finds nothing at the names.
                let then = match move_aside_at(&d.path) {
                    Some(a) => format!(
                        "what stood there is moved to {}: look at it, and for the directory that was there, before you run git",
                        crate::escape::path(&a)
                    ),
                    None => "look at what stands there now before you run git".into(),
                };
                error!(
                    target: "mcpcell",
                    event = "unmade",
                    "stopping the server: it moved or removed {}, where git would read {} once it exists; {then}",
                    crate::escape::path(&d.path),
                    names.join(", ")
                );
                false
            }
        }
    }
}

fn fstat(fd: &OwnedFd) -> Option<(u64, u64)> {
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor (O_PATH is accepted by fstat) and an out-parameter.
    (unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

fn exists_at(dir: &OwnedFd, name: &OsStr) -> bool {
    let Ok(c) = CString::new(name.as_bytes()) else {
        return false;
    };
    // SAFETY: a zeroed stat is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a directory descriptor, a NUL-terminated name and an out-parameter.
    unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            c.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        ) == 0
    }
}

/// Renames `name` in `dir` to a name of its own beside it, never over an existing entry:
/// `NAME.planted-by-server`, or with a random suffix where that is taken (the server may
/// have made the names it could guess).
fn move_aside(dir: &OwnedFd, name: &OsStr) -> Option<OsString> {
    let from = CString::new(name.as_bytes()).ok()?;
    for n in 0..64 {
        let mut aside = name.to_os_string();
        aside.push(ASIDE);
        if n > 0 {
            aside.push(format!(".{:016x}", random()));
        }
        let to = CString::new(aside.as_bytes()).ok()?;
        // SAFETY: renameat2 on one directory descriptor with NUL-terminated names.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                dir.as_raw_fd(),
                from.as_ptr(),
                dir.as_raw_fd(),
                to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            return Some(aside);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
            return None;
        }
    }
    None
}

/// Moves aside whatever now stands at `path`. Its directories are reached with no link
/// followed: the server, which could make one of them a link to any directory of the
/// user's, would otherwise have mcpcell rename an entry there.
fn move_aside_at(path: &std::path::Path) -> Option<PathBuf> {
    use nix::fcntl::{AT_FDCWD, OFlag, OpenHow, ResolveFlag, openat2};
    let (parent, name) = (path.parent()?, path.file_name()?);
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    let fd = openat2(AT_FDCWD, parent, how).ok()?;
    if !exists_at(&fd, name) {
        return None;
    }
    move_aside(&fd, name).map(|a| parent.join(a))
}

fn random() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom into a buffer of its own length.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    u64::from_ne_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_made_is_found_and_moved_aside() {
        let d = tempfile::tempdir().unwrap();
        let root = crate::paths::real_path(d.path()).unwrap();
        let git = root.join(".git");
        std::fs::create_dir(&git).unwrap();
        let w = prepare(&[(git.join("commondir"), "why")]).unwrap();
        assert!(w.made().is_empty());
        std::fs::write(git.join("commondir.planted-by-server"), "").unwrap();
        std::fs::write(git.join("commondir"), "/elsewhere\n").unwrap();
        let [Made::Entry(dir, name, _)] = w.made()[..] else {
            panic!("not found");
        };
        let aside = move_aside(&dir.fd, name).unwrap();
        let aside = aside.to_str().unwrap();
        assert!(aside.starts_with("commondir.planted-by-server."), "{aside}");
        assert!(!git.join("commondir").exists());
        assert_eq!(
            std::fs::read_to_string(git.join(aside)).unwrap(),
            "/elsewhere\n"
        );
        // The directory moved away is told of too.
        std::fs::rename(&git, root.join("g")).unwrap();
        assert!(matches!(w.made()[..], [Made::Moved(_)]));
    }
}
