//! The parent–child channel for descriptors: the sandbox sends its proxy listeners and its
//! observe-mode listener to mcpcell over a socketpair (SCM_RIGHTS).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The sandbox's ends of the pipes and socketpairs to mcpcell, created before the plan is
/// prepared (mcpcell keeps the other ends and owns both until the clone).
#[derive(Debug, Clone, Copy, Default)]
pub struct Channels {
    /// The pipe ends the server gets as stdin, stdout and stderr where mcpcell relays them
    /// (a terminal, or stderr watched for denials); `None` passes mcpcell's own through.
    pub stdio: [Option<RawFd>; 3],
    /// Read-only copies of the mounts of devices given as stdio, each with a standard
    /// descriptor it is a copy for, to attach before the pivot
    /// (`mounts::MountOp::AttachDeviceCopy`).
    pub device_copies: [Option<(RawFd, RawFd)>; 3],
    /// Proxy mode: the socketpair end the proxy's listeners travel over.
    pub proxy: Option<RawFd>,
    /// Observe mode: the socketpair end the seccomp listener travels over.
    pub observe: Option<RawFd>,
}

/// A socketpair for descriptors: (mcpcell's end, the sandbox's end).
pub(crate) fn pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// Sends descriptors to mcpcell over a channel ([`receive_fds`] takes them).
pub(super) fn send_fds(channel: RawFd, tag: &[u8], fds: &[RawFd]) -> nix::Result<usize> {
    use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
    let iov = [std::io::IoSlice::new(tag)];
    sendmsg::<()>(
        channel,
        &iov,
        &[ControlMessage::ScmRights(fds)],
        MsgFlags::empty(),
        None,
    )
}

/// Receives the descriptors the sandbox sends over `channel` ([`send_fds`]), at most 64;
/// `None` at EOF or on error.
pub(crate) fn receive_fds(channel: &OwnedFd) -> Option<Vec<OwnedFd>> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 64]);
    let msg = recvmsg::<()>(
        channel.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    let mut fds = Vec::new();
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(v) = c {
            fds.extend(v);
        }
    }
    // SAFETY: the descriptors were just received and are owned by nobody else.
    Some(
        fds.into_iter()
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
            .collect(),
    )
}
