//! Moving bytes between the sandbox's connection and the real host, zero-copy with
//! splice(2) through a pipe, one thread per direction.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;

const CHUNK: usize = 1 << 16;

/// Relays until both directions are closed. Half-closes are passed on.
pub fn relay(client: TcpStream, upstream: TcpStream) {
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back = std::thread::Builder::new()
        .name("mcpjail-relay".into())
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
        Ok((r, w)) => splice_loop(from, to, r.as_raw_fd(), w.as_raw_fd()),
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
fn splice_loop(from: &TcpStream, to: &TcpStream, pr: i32, pw: i32) -> bool {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_MORE;
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
    let mut buf = vec![0u8; CHUNK];
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

    #[test]
    fn relays_both_ways_with_half_close() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut v = Vec::new();
            s.read_to_end(&mut v).unwrap();
            v.reverse();
            s.write_all(&v).unwrap();
        });
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let front_addr = front.local_addr().unwrap();
        std::thread::spawn(move || {
            let (c, _) = front.accept().unwrap();
            relay(c, TcpStream::connect(echo_addr).unwrap());
        });
        let mut c = TcpStream::connect(front_addr).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        c.write_all(&data).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        let mut want = data;
        want.reverse();
        assert_eq!(back, want);
    }
}
