//! What this kernel and this user can enforce.
//!
//! The cheap facts (Landlock ABI, seccomp, our own capabilities) are read on every launch. The
//! namespace probes fork a child and are used only by `doctor` and `--dry-run`: a real launch
//! simply tries, and reports what failed.

use std::io;

use serde::Serialize;

/// Facts read on every launch.
#[derive(Debug, Clone, Serialize)]
pub struct Kernel {
    pub release: String,
    /// 0 when Landlock is not available.
    pub landlock_abi: i32,
    /// Why Landlock is unavailable, when it is.
    pub landlock_status: &'static str,
    pub seccomp_filter: bool,
    pub euid: u32,
    pub egid: u32,
    /// Whether this process can create namespaces without a user namespace (root with
    /// CAP_SYS_ADMIN in the initial user namespace).
    pub privileged: bool,
    /// Whether this process holds CAP_SETPCAP, so it can empty its bounding set without a user
    /// namespace: root, also root in a container that has no CAP_SYS_ADMIN.
    pub setpcap: bool,
    /// Highest capability number the kernel knows.
    pub cap_last_cap: u32,
}

impl Kernel {
    pub fn probe() -> Kernel {
        let (landlock_abi, landlock_status) = landlock_abi();
        let euid = nix::unistd::geteuid().as_raw();
        let caps = effective_caps();
        let has = |cap: u32| caps & (1u64 << cap) != 0;
        Kernel {
            release: nix::sys::utsname::uname()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            landlock_abi,
            landlock_status,
            seccomp_filter: seccomp_filter_available(),
            euid,
            egid: nix::unistd::getegid().as_raw(),
            privileged: privileged_as(euid, caps),
            setpcap: has(8), /* CAP_SETPCAP */
            cap_last_cap: cap_last_cap(),
        }
    }
}

const CAP_SYS_ADMIN: u32 = 21;

/// Whether this process makes a sandbox's namespaces without a user namespace: euid 0 with
/// `CAP_SYS_ADMIN` in effect ([`Kernel::privileged`], which the plan goes by). Root without
/// it (a container's root) is sandboxed as an ordinary user is.
#[inline]
pub fn privileged() -> bool {
    privileged_as(nix::unistd::geteuid().as_raw(), effective_caps())
}

/// The test of [`privileged`] for an effective uid and capability mask.
#[inline(always)]
fn privileged_as(euid: u32, caps: u64) -> bool {
    euid == 0 && caps & (1u64 << CAP_SYS_ADMIN) != 0
}

fn landlock_abi() -> (i32, &'static str) {
    // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the VERSION flag only
    // returns the ABI version; it reads no memory.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    if v > 0 {
        return (v as i32, "available");
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EOPNOTSUPP) => (
            0,
            "built into the kernel but not enabled at boot (add landlock to the lsm= kernel parameter)",
        ),
        Some(libc::ENOSYS) => (
            0,
            "not supported by this kernel (Linux 5.13 or later with CONFIG_SECURITY_LANDLOCK)",
        ),
        _ => (
            0,
            "refused by the kernel or a seccomp filter around mcpcell",
        ),
    }
}

fn seccomp_filter_available() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointer arguments.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if mode < 0 {
        return false;
    }
    // Installing a filter with a null program fails with EFAULT exactly when filters are
    // supported (the check systemd uses); EINVAL means they are not.
    // SAFETY: the kernel rejects the null pointer before reading anything.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            std::ptr::null::<u8>(),
            0,
            0,
        )
    };
    r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// This process's effective capabilities, as a mask (capget: one system call, where reading
/// `/proc/self/status` has the kernel format every line of it).
// Inlined: the launch calls it twice (`privileged`, `Kernel::probe`), and a function of its
// own would sit outside the launch layout.
#[inline(always)]
fn effective_caps() -> u64 {
    // _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget writes two Data structs for version 3, the array's size; pid 0 is this
    // thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        // Refused (a container's seccomp policy may): the kernel's own line says the same.
        return status_caps().unwrap_or(0);
    }
    u64::from(data[0].effective) | (u64::from(data[1].effective) << 32)
}

/// The effective capabilities as `/proc/self/status` shows them (its `CapEff` line).
fn status_caps() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let v = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(v.trim(), 16).ok()
}

fn cap_last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The result of trying one namespace kind in a throwaway child.
#[derive(Debug, Clone, Serialize)]
pub struct NsProbe {
    pub name: &'static str,
    pub ok: bool,
    pub error: Option<String>,
}

/// Tries to create each namespace mcpcell uses, the way a launch would (inside a new user
/// namespace when this process is not privileged). Forks; used by `doctor` and `--dry-run`.
pub fn probe_namespaces(privileged: bool) -> Vec<NsProbe> {
    let kinds: &[(&'static str, libc::c_int)] = &[
        ("user", libc::CLONE_NEWUSER),
        ("mount", libc::CLONE_NEWNS),
        ("pid", libc::CLONE_NEWPID),
        ("network", libc::CLONE_NEWNET),
        ("ipc", libc::CLONE_NEWIPC),
        ("uts", libc::CLONE_NEWUTS),
        ("cgroup", libc::CLONE_NEWCGROUP),
    ];
    kinds
        .iter()
        .map(|&(name, flag)| {
            let flags = if privileged {
                flag
            } else {
                flag | libc::CLONE_NEWUSER
            };
            let (ok, error) = match try_unshare(flags) {
                Ok(()) => (true, None),
                Err(e) => (false, Some(e.to_string())),
            };
            NsProbe { name, ok, error }
        })
        .collect()
}

/// Forks a child that calls unshare(flags) and reports the errno through its exit status.
fn try_unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: the child only calls async-signal-safe functions (unshare, _exit) before exiting.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => {
            // SAFETY: unshare and mount take NUL-terminated literals or nulls; _exit never
            // returns.
            unsafe {
                let mut r = libc::unshare(flags);
                // A mount namespace is of use only if mounts can be made in it: where a user
                // namespace is created without capabilities (Ubuntu's AppArmor restriction),
                // the launch's first mount is refused, and so is this one.
                if r == 0 && flags & libc::CLONE_NEWNS != 0 {
                    r = libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    );
                }
                // A PID namespace is of use only with a /proc of its own, and a fresh /proc can
                // be mounted only where the host's is fully visible: inside a container (masked
                // /proc paths) the launch's /proc mount is refused, and so is this one, made by
                // the namespace's first process in a private mount namespace of its own.
                if r == 0 && flags & libc::CLONE_NEWPID != 0 && mount_fresh_proc() != 0 {
                    // Told apart from unshare's own errno by the high bit.
                    libc::_exit(PROC_MOUNT_FAILED | (*libc::__errno_location() & 0x7f));
                }
                let code = if r == 0 { 0 } else { *libc::__errno_location() };
                libc::_exit(code & 0xff);
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            match nix::sys::wait::waitpid(child, None).map_err(io::Error::from)? {
                nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
                nix::sys::wait::WaitStatus::Exited(_, e) if e & PROC_MOUNT_FAILED != 0 => {
                    Err(io::Error::other(format!(
                        "created, but a fresh /proc cannot be mounted in it ({}): the host's /proc is not fully visible here, as inside most containers",
                        io::Error::from_raw_os_error(e & 0x7f)
                    )))
                }
                nix::sys::wait::WaitStatus::Exited(_, e) => Err(io::Error::from_raw_os_error(e)),
                other => Err(io::Error::other(format!(
                    "probe child ended with {other:?}"
                ))),
            }
        }
    }
}

/// The probe child's exit status when the PID namespace was made but /proc could not be mounted.
const PROC_MOUNT_FAILED: i32 = 0x80;

/// In a child (the first process of the new PID namespace): a private mount namespace, then
/// proc mounted over /proc. Returns 0, or -1 with errno set as the failing call left it.
///
/// # Safety
/// Only for the forked probe child: it forks again and calls only async-signal-safe functions.
unsafe fn mount_fresh_proc() -> libc::c_int {
    // SAFETY: fork, unshare, mount, waitpid and _exit with literals, nulls or a local status;
    // the grandchild exits without returning.
    unsafe {
        let pid = libc::fork();
        if pid < 0 {
            return -1;
        }
        if pid == 0 {
            let mut r = 0;
            if libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    c"proc".as_ptr(),
                    c"/proc".as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ) != 0
            {
                r = *libc::__errno_location();
            }
            libc::_exit(r & 0xff);
        }
        let mut status = 0;
        if libc::waitpid(pid, &mut status, 0) < 0 {
            return -1;
        }
        match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
            (true, 0) => 0,
            (true, e) => {
                *libc::__errno_location() = e;
                -1
            }
            _ => {
                *libc::__errno_location() = libc::ECHILD;
                -1
            }
        }
    }
}

/// Whether the running kernel's release is at least `major.minor`.
pub fn release_at_least(major: u32, minor: u32) -> bool {
    let Ok(u) = nix::sys::utsname::uname() else {
        return false;
    };
    parse_release(&u.release().to_string_lossy()) >= Some((major, minor))
}

/// `6.18.44-fc` → (6, 18).
fn parse_release(r: &str) -> Option<(u32, u32)> {
    let mut it = r.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod release_tests {
    #[test]
    fn parses_releases() {
        assert_eq!(super::parse_release("6.18.44-fc-v509"), Some((6, 18)));
        assert_eq!(super::parse_release("5.4.0"), Some((5, 4)));
        assert_eq!(super::parse_release("x"), None);
        assert!(super::parse_release("5.10.1") >= Some((5, 5)));
    }
}

#[cfg(test)]
mod tests {
    /// capget's effective set is the kernel's CapEff line, for root and for an ordinary user.
    #[test]
    fn effective_caps_match_proc_status() {
        let proc_mask = super::status_caps().expect("a CapEff line");
        assert_eq!(super::effective_caps(), proc_mask);
    }
}
