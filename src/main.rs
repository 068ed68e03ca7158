//! mcpcell's entry point, without Rust's runtime set-up.
//!
//! Rust's own `main` runs a set-up first that mcpcell pays at every launch and does not need:
//! for the main thread's stack-overflow message it reads and parses `/proc/self/maps`
//! (glibc's `pthread_getattr_np`, with `sscanf`), maps an alternate signal stack and installs
//! two signal handlers: 15 system calls and ~0.15 ms of every launch (bench/ANALYSIS.md §1.20).
//! A stack overflow would still end mcpcell (SIGSEGV), only without that message; the
//! parsers mcpcell gives a profile or a message stop at 128 levels of nesting
//! (`profile::location::screen` checks a profile's before serde_yaml reads it).
//!
//! The two parts of that set-up mcpcell relies on are done here, as Rust does them:
//! - A standard stream that was closed when mcpcell started is opened on `/dev/null`, so that
//!   no file mcpcell opens later takes its number: the server is given mcpcell's standard
//!   streams, and mcpcell's messages go to fd 2. So is one that is a path-only descriptor
//!   (`O_PATH`), through which nothing can be read or written (and which Rust's set-up
//!   took for a closed one and aborted on).
//! - `SIGPIPE` is ignored: a client that closes mcpcell's stderr or stdout makes a write fail
//!   with `EPIPE` instead of killing mcpcell, and with it the sandbox. The server gets the
//!   default disposition back before it is executed (`sandbox::child`).
//!
//! Arguments and the environment are unchanged: std reads them from glibc's start-up
//! (`.init_array`), not from this function's parameters.
#![no_main]

use std::os::raw::{c_char, c_int};

#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    standard_streams();
    // SAFETY: one thread exists; SIG_IGN has no handler to be safe in.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    std::process::exit(mcpcell::app::main())
}

/// Opens `/dev/null` on each of fds 0–2 that is closed or path-only. One `poll` answers for
/// all three (`POLLNVAL` for a closed or path-only one); where `poll` itself fails, `fcntl`
/// asks each.
fn standard_streams() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd; a timeout of 0 does not block.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } != -1;
    for p in fds {
        let closed = if polled {
            p.revents & libc::POLLNVAL != 0
        } else {
            // SAFETY: F_GETFD on any number is harmless.
            let flags = unsafe { libc::fcntl(p.fd, libc::F_GETFD) };
            flags == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
        };
        if !closed {
            continue;
        }
        // SAFETY: F_GETFL on any number is harmless.
        let flags = unsafe { libc::fcntl(p.fd, libc::F_GETFL) };
        if flags != -1 && flags & libc::O_PATH != 0 {
            // SAFETY: a constant NUL-terminated path; dup2 onto an open number, then the
            // temporary descriptor closed.
            unsafe {
                let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
                if null < 0 || libc::dup2(null, p.fd) != p.fd {
                    std::process::abort();
                }
                libc::close(null);
            }
            continue;
        }
        // The lowest free number is the closed one: 0, 1 and 2 are opened in order.
        // SAFETY: a constant NUL-terminated path.
        if unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } != p.fd {
            // Without it a later file would take this number and receive what mcpcell or
            // the server writes to a standard stream; Rust's runtime aborts here too.
            std::process::abort();
        }
    }
}
