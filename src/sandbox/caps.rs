//! Capabilities: every set emptied (bounding and ambient too) except what the profile keeps,
//! and the securebits locked.

use std::os::fd::RawFd;

use super::Step;
use super::prepare::Prepared;
use super::sys::{check, errno, fail};

const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Empties every capability set (bounding and ambient too), except what the profile keeps,
/// and locks the securebits so that uid 0 gains nothing at execve.
pub(super) fn drop_capabilities(p: &Prepared, status: RawFd) {
    let keep = p.caps_keep;
    let mut bits = SECBIT_NOROOT
        | SECBIT_NOROOT_LOCKED
        | SECBIT_NO_SETUID_FIXUP
        | SECBIT_NO_SETUID_FIXUP_LOCKED
        | SECBIT_KEEP_CAPS_LOCKED;
    if keep == 0 {
        bits |= SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    }
    // SAFETY: prctl and capset with integer arguments or pointers to valid local structs.
    unsafe {
        // Without CAP_SETPCAP (an ordinary user without a user namespace) the process has no
        // capabilities to lose; its bounding set stays, inert under no_new_privs.
        if p.can_setpcap {
            check(
                status,
                Step::Securebits,
                0,
                libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0) as libc::c_long,
            );
            for cap in 0..=p.cap_last_cap {
                if keep & (1u64 << cap) == 0
                    && libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) < 0
                    && errno() != libc::EINVAL
                {
                    fail(status, Step::Capabilities, cap, errno());
                }
            }
        }
        check(
            status,
            Step::AmbientClear,
            0,
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ) as libc::c_long,
        );
        let mut hdr = CapHeader {
            version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
            pid: 0,
        };
        let lo = keep as u32;
        let hi = (keep >> 32) as u32;
        let data = [
            CapData {
                effective: lo,
                permitted: lo,
                inheritable: lo,
            },
            CapData {
                effective: hi,
                permitted: hi,
                inheritable: hi,
            },
        ];
        check(
            status,
            Step::Capset,
            0,
            libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()),
        );
        for cap in 0..=p.cap_last_cap {
            if keep & (1u64 << cap) != 0 {
                check(
                    status,
                    Step::AmbientRaise,
                    cap,
                    libc::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE,
                        cap as libc::c_ulong,
                        0,
                        0,
                    ) as libc::c_long,
                );
            }
        }
    }
}
