//! Syscalls the filter may let through that the kernel still refuses without a capability:
//! the sandbox drops every capability `capabilities.keep` does not name.

/// Each syscall with the capability it needs.
const NEEDS_CAPABILITY: &[(&str, &str)] = &[
    ("mount", "CAP_SYS_ADMIN"),
    ("umount2", "CAP_SYS_ADMIN"),
    ("pivot_root", "CAP_SYS_ADMIN"),
    ("swapon", "CAP_SYS_ADMIN"),
    ("swapoff", "CAP_SYS_ADMIN"),
    ("sethostname", "CAP_SYS_ADMIN"),
    ("setdomainname", "CAP_SYS_ADMIN"),
    ("chroot", "CAP_SYS_CHROOT"),
    ("reboot", "CAP_SYS_BOOT"),
    ("kexec_load", "CAP_SYS_BOOT"),
    ("init_module", "CAP_SYS_MODULE"),
    ("finit_module", "CAP_SYS_MODULE"),
    ("delete_module", "CAP_SYS_MODULE"),
    ("settimeofday", "CAP_SYS_TIME"),
    ("clock_settime", "CAP_SYS_TIME"),
    ("adjtimex", "CAP_SYS_TIME"),
    ("acct", "CAP_SYS_PACCT"),
    ("iopl", "CAP_SYS_RAWIO"),
    ("ioperm", "CAP_SYS_RAWIO"),
];

/// The capability (`CAP_…`) the syscall `name` needs besides passing the filter, if any.
pub fn needed_by(name: &str) -> Option<&'static str> {
    NEEDS_CAPABILITY
        .iter()
        .find(|(s, _)| *s == name)
        .map(|(_, cap)| *cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_a_syscall_and_a_capability() {
        for (name, cap) in NEEDS_CAPABILITY {
            assert!(super::super::syscall_number(name).is_some(), "{name}");
            assert!(crate::profile::validate::capability(cap).is_some(), "{cap}");
        }
        assert_eq!(needed_by("mount"), Some("CAP_SYS_ADMIN"));
        assert_eq!(needed_by("read"), None);
    }
}
