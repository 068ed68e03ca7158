//! Post-fork system-call helpers: a failure is written to the parent as a [`Failure`] record
//! and ends the child. No allocation, no logging.

use std::ffi::CStr;
use std::os::fd::RawFd;

use super::{Failure, Step};

pub(super) fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Reports a failed step to the parent and exits.
pub(super) fn fail(status: RawFd, step: Step, index: u32, err: i32) -> ! {
    let rec = Failure::encode(step, index, err);
    // SAFETY: writes a 12-byte stack buffer to a pipe (atomic below PIPE_BUF); _exit never
    // returns and runs no destructors or atexit handlers.
    unsafe {
        libc::write(status, rec.as_ptr().cast(), rec.len());
        libc::_exit(if step == Step::Exec { 127 } else { 125 });
    }
}

/// Runs `f` (a libc call returning -1 on error) and fails `step` if it does.
pub(super) fn check(status: RawFd, step: Step, index: u32, r: libc::c_long) {
    if r < 0 {
        fail(status, step, index, errno());
    }
}

/// The errno inside a crate error (Landlock), found along its `source()` chain.
pub(super) fn errno_of(e: &(dyn std::error::Error + 'static)) -> i32 {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if let Some(n) = io.raw_os_error() {
                return n;
            }
        }
        cur = c.source();
    }
    libc::EINVAL
}

pub(super) fn write_file(status: RawFd, step: Step, path: &CStr, data: &[u8]) {
    // SAFETY: path is NUL-terminated; data is a valid buffer; the fd is closed on every path.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            fail(status, step, 0, errno());
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        let e = errno();
        libc::close(fd);
        if n < 0 || n as usize != data.len() {
            fail(status, step, 0, if n < 0 { e } else { libc::EIO });
        }
    }
}

#[allow(clippy::too_many_arguments)] // mirrors mount(2), plus the step to report
pub(super) fn mount(
    status: RawFd,
    step: Step,
    index: u32,
    source: &CStr,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) {
    // SAFETY: every pointer is a NUL-terminated string or null, as mount(2) accepts.
    let r = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.map_or(std::ptr::null(), |f| f.as_ptr()),
            flags,
            data.map_or(std::ptr::null(), |d| d.as_ptr().cast()),
        )
    };
    check(status, step, index, r as libc::c_long);
}
