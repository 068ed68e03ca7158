//! Moving bytes between the sandbox's connection and the real host, zero-copy with
//! splice(2) through a pipe, one thread per direction.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How much one splice may move, and the pipe's size: larger chunks mean fewer syscalls and
/// wake-ups per byte (1 MiB against the default 64 KiB: a tunnel moves ~15% more per second).
const CHUNK: usize = 1 << 20;
/// The buffer when splice cannot be used.
const COPY_BUF: usize = 1 << 16;
/// Pipes grown to [`CHUNK`] at once. A pipe's pages are kernel memory charged to mcpcell,
/// outside the sandbox's cgroup, and a sandbox that stops reading fills them: past this, pipes
/// keep the default 64 KiB (at most 64 MiB plus 64 KiB per other direction relayed).
const BIG_PIPES: usize = 64;
static BIG_PIPES_USED: AtomicUsize = AtomicUsize::new(0);

/// A pipe grown to [`CHUNK`]; given back when dropped.
struct BigPipe;

impl BigPipe {
    fn take() -> Option<BigPipe> {
        BIG_PIPES_USED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < BIG_PIPES).then_some(n + 1)
            })
            .ok()
            .map(|_| BigPipe)
    }
}

impl Drop for BigPipe {
    fn drop(&mut self) {
        BIG_PIPES_USED.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Relays until both directions are closed. Half-closes are passed on.
pub fn relay(client: TcpStream, upstream: TcpStream) {
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back = std::thread::Builder::new()
        .name("mcpcell-relay".into())
        .stack_size(64 * 1024)
        .spawn(move || pump(&u2, &c2));
    pump(&client, &upstream);
    if let Ok(t) = back {
        let _ = t.join();
    }
}

/// Copies `from` to `to` until EOF, then shuts down `to`'s write side.
fn pump(from: &TcpStream, to: &TcpStream) {
    let ok = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok((r, w)) => {
            // Beyond the per-user pipe limit this fails, and the pipe keeps its 64 KiB.
            let big = BigPipe::take();
            if big.is_some() {
                let _ = nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(CHUNK as i32));
            }
            let ok = splice_loop(from, to, r.as_raw_fd(), w.as_raw_fd());
            drop((r, w, big));
            ok
        }
        Err(_) => false,
    };
    if !ok {
        // splice refused these sockets (or failed): copy through a buffer instead.
        if copy_loop(from, to).is_err() {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Returns false when splice is not usable at all (nothing moved yet).
///
/// Never SPLICE_F_MORE: it tells TCP that more data follows, so the socket holds back a
/// partial segment, and a request that waits for its answer (a TLS handshake, an HTTP
/// request through the transparent path) would sit there until TCP's 200 ms cork timer.
fn splice_loop(from: &TcpStream, to: &TcpStream, pr: i32, pw: i32) -> bool {
    let flags = libc::SPLICE_F_MOVE;
    let mut moved_any = false;
    loop {
        // SAFETY: splice between valid descriptors with null offsets (sockets and pipes).
        let n = unsafe {
            libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                pw,
                std::ptr::null_mut(),
                CHUNK,
                flags,
            )
        };
        if n == 0 {
            return true;
        }
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EINVAL) if !moved_any => return false,
                _ => {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    return true;
                }
            }
        }
        moved_any = true;
        let mut left = n as usize;
        while left > 0 {
            // SAFETY: as above.
            let m = unsafe {
                libc::splice(
                    pr,
                    std::ptr::null_mut(),
                    to.as_raw_fd(),
                    std::ptr::null_mut(),
                    left,
                    flags,
                )
            };
            if m < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            if m <= 0 {
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
                return true;
            }
            left -= m as usize;
        }
    }
}

fn copy_loop(mut from: &TcpStream, mut to: &TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A connection to a server that runs `serve` on its one connection, through the relay.
    fn through_relay(serve: impl FnOnce(TcpStream) + Send + 'static) -> TcpStream {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        std::thread::spawn(move || serve(server.accept().unwrap().0));
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let front_addr = front.local_addr().unwrap();
        std::thread::spawn(move || {
            let (c, _) = front.accept().unwrap();
            relay(c, TcpStream::connect(server_addr).unwrap());
        });
        TcpStream::connect(front_addr).unwrap()
    }

    #[test]
    fn relays_both_ways_with_half_close() {
        let mut c = through_relay(|mut s| {
            let mut v = Vec::new();
            s.read_to_end(&mut v).unwrap();
            v.reverse();
            s.write_all(&v).unwrap();
        });
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        let mut want = data;
        want.reverse();
        assert_eq!(back, want);
    }

    /// A request that waits for its answer goes through at once: nothing holds back the last
    /// partial segment (with SPLICE_F_MORE, each round trip took TCP's 200 ms cork timer).
    #[test]
    fn small_messages_are_not_held_back() {
        let mut c = through_relay(|mut s| {
            let mut b = [0u8; 64];
            while let Ok(n @ 1..) = s.read(&mut b) {
                s.write_all(&b[..n]).unwrap();
            }
        });
        let mut slow = Vec::new();
        for i in 0..10u8 {
            let start = std::time::Instant::now();
            c.write_all(&[i; 5]).unwrap();
            let mut b = [0u8; 5];
            c.read_exact(&mut b).unwrap();
            assert_eq!(b, [i; 5]);
            let took = start.elapsed();
            if took >= std::time::Duration::from_millis(150) {
                slow.push(took);
            }
        }
        // A round trip takes well under a millisecond here; a held-back segment makes every
        // one wait ~200 ms. A loaded machine may stall a few, not most.
        assert!(slow.len() < 6, "{slow:?}");
    }
}
