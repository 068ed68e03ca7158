//! The relay of the server's stderr to mcpcell's, started when the server first writes there.
//!
//! A thread of its own relays it, so that a client that stops reading mcpcell's stderr never
//! holds up the supervisor (signals passed on, the stop timeout). A second thread in the
//! launcher is not free, though: creating it, its exit, and from then on the other CPU's
//! share of every unmap (a launch of `/bin/true` cost ~0.27 ms more with one, bench/ANALYSIS.md
//! §1.16). So the supervisor watches the pipe while nobody reads it and starts the thread
//! when there is something to read; a server that never writes to stderr costs no thread,
//! and what a server wrote just before it ended is relayed by the supervisor once the
//! sandbox is gone.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::warn;

use super::StderrWatch;
use super::terminal;

/// How long the supervisor waits before it tries again to start a relay thread that could not
/// be started (the system out of threads or memory); the server's writes wait in the pipe.
const RETRY: Duration = Duration::from_millis(100);

type Watch = Option<Box<dyn StderrWatch>>;

/// The read end of the server's stderr pipe and what becomes of it.
pub struct StderrRelay {
    /// The pipe and the watcher, until the thread takes them (shared with the thread's
    /// closure, so that a thread that could not be started leaves them here).
    waiting: Arc<Mutex<Option<(OwnedFd, Watch)>>>,
    to_terminal: bool,
    thread: Option<JoinHandle<Watch>>,
    /// Nothing will come: every writer has closed the pipe and it is empty.
    ended: bool,
    /// A thread that could not be started is tried again from then on.
    retry_at: Option<Instant>,
}

impl StderrRelay {
    pub fn new(from: OwnedFd, to_terminal: bool, watch: Watch) -> StderrRelay {
        StderrRelay {
            waiting: Arc::new(Mutex::new(Some((from, watch)))),
            to_terminal,
            thread: None,
            ended: false,
            retry_at: None,
        }
    }

    /// The pipe to watch for the server's first words: none once the thread reads it,
    /// once it has ended, or while a failed start waits for its retry.
    pub fn watched(&self, now: Instant) -> Option<RawFd> {
        if self.thread.is_some() || self.ended || self.retry_at.is_some_and(|t| t > now) {
            return None;
        }
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.as_ref().map(|(fd, _)| fd.as_raw_fd())
    }

    /// When a failed start is to be tried again (none once started or ended).
    pub fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    /// The watched pipe is ready (`revents` from poll): data starts the thread; a pipe whose
    /// writers are all gone and that holds nothing is not watched again.
    pub fn ready(&mut self, revents: libc::c_short) {
        if revents & libc::POLLIN != 0 {
            self.start();
        } else if revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            self.ended = true;
            self.retry_at = None;
        }
    }

    /// Starts the thread now (also when the supervisor cannot watch the pipe).
    pub fn start(&mut self) {
        if self.thread.is_some() {
            return;
        }
        let slot = Arc::clone(&self.waiting);
        let to_terminal = self.to_terminal;
        let started = std::thread::Builder::new()
            .name("stderr".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let taken = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                taken.and_then(|(from, watch)| relay(from, to_terminal, watch))
            });
        match started {
            Ok(t) => {
                self.thread = Some(t);
                self.retry_at = None;
            }
            Err(e) => {
                if self.retry_at.is_none() {
                    warn!(target: "mcpcell", "could not start the thread that relays the server's stderr ({e}); trying again every {} ms, the server's writes wait meanwhile", RETRY.as_millis());
                }
                self.retry_at = Some(Instant::now() + RETRY);
            }
        }
    }

    /// Once the sandbox has ended: the rest of the server's stderr, relayed by the thread or
    /// here, and the watcher it fed.
    pub fn finish(self) -> Watch {
        if let Some(t) = self.thread {
            return t.join().ok().flatten();
        }
        let taken = self
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        taken.and_then(|(from, watch)| relay(from, self.to_terminal, watch))
    }
}

fn relay(from: OwnedFd, to_terminal: bool, mut watch: Watch) -> Watch {
    terminal::relay_stderr(from, to_terminal, &mut |line| {
        if let Some(w) = watch.as_mut() {
            w.line(line);
        }
    });
    watch
}
