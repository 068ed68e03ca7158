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

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
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
    /// Disconnected when the thread has relayed everything and ended.
    done: Option<Receiver<()>>,
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
            done: None,
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

    /// Whether the thread runs (or ran).
    pub fn started(&self) -> bool {
        self.thread.is_some()
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
        let (ending, done) = std::sync::mpsc::channel::<()>();
        let started = std::thread::Builder::new()
            .name("stderr".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let _ending = ending;
                let taken = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                taken.and_then(|(from, watch)| relay(from, to_terminal, watch))
            });
        match started {
            Ok(t) => {
                self.thread = Some(t);
                self.done = Some(done);
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
    /// here, the watcher it fed, and whether all of it was relayed (false: the thread was
    /// still waiting for the pipe's end after `limit`, and the watcher is not returned).
    ///
    /// The pipe ends when its last writer goes, with the sandbox. A process the server
    /// started may outlive the sandbox where nothing kills it (the namespace-free tier below
    /// Landlock ABI 6, see `crate::plan::tier`) and hold the pipe: the thread's relay is
    /// waited for at most `limit`, and the supervisor's own relays what the pipe holds and
    /// stops there (the pipe is read without blocking: the sandbox's writes are all in it).
    pub fn finish(self, limit: Duration) -> (Watch, bool) {
        if let (Some(t), Some(done)) = (self.thread, self.done) {
            return match done.recv_timeout(limit) {
                Err(RecvTimeoutError::Timeout) => (None, false),
                _ => (t.join().ok().flatten(), true),
            };
        }
        let taken = self
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some((from, watch)) = taken else {
            return (None, true);
        };
        let nonblocking = nix::fcntl::fcntl(from.as_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map(nix::fcntl::OFlag::from_bits_retain)
            .and_then(|fl| {
                nix::fcntl::fcntl(
                    from.as_fd(),
                    nix::fcntl::FcntlArg::F_SETFL(fl | nix::fcntl::OFlag::O_NONBLOCK),
                )
            })
            .is_ok();
        (relay(from, self.to_terminal, watch), nonblocking)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipe's write end kept, as a process the server started and nothing killed keeps
    /// it: the relay is not waited for beyond the limit, whether its thread runs or not.
    #[test]
    fn a_writer_left_behind_does_not_hold_the_relay_beyond_its_limit() {
        let within = |relay: StderrRelay, limit: Duration| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || tx.send(relay.finish(limit).1));
            rx.recv_timeout(Duration::from_secs(10))
                .expect("the relay's end was waited for beyond its limit")
        };
        // The thread, blocked on the pipe: cut short at the limit.
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut relay = StderrRelay::new(r, false, None);
        relay.start();
        let started = Instant::now();
        assert!(!within(relay, Duration::from_millis(200)));
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(w);
        // No thread: the supervisor relays what the pipe holds and stops there.
        let (r, w) = nix::unistd::pipe().unwrap();
        assert!(within(
            StderrRelay::new(r, false, None),
            Duration::from_secs(60)
        ));
        drop(w);
        // The last writer gone: the thread ends and all of it was relayed.
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut relay = StderrRelay::new(r, false, None);
        relay.start();
        drop(w);
        assert!(within(relay, Duration::from_secs(5)));
    }
}
