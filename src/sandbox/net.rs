//! The sandbox's network set-up, after the namespaces exist: loopback up, and in proxy mode
//! every route pointed at loopback and the proxy's listeners created and handed to mcpcell.

use std::os::fd::RawFd;

use super::Step;
use super::channel::send_fds;
use super::sys::{errno, fail};

pub(super) fn loopback_up(status: RawFd) {
    if let Err((call, e)) = crate::netns::loopback_up() {
        fail(status, Step::Loopback, call, e);
    }
}

/// `ip route add local 0.0.0.0/0 dev lo table local`: every IPv4 address is local inside the
/// sandbox, so a connection to any address reaches the proxy's transparent listeners (and
/// nothing else: there is no other route).
pub(super) fn route_everything_to_loopback(status: RawFd) {
    #[repr(C)]
    struct Req {
        nh: libc::nlmsghdr,
        rt: RtMsg,
        attr: libc::nlattr,
        oif: u32,
    }
    #[repr(C)]
    struct RtMsg {
        family: u8,
        dst_len: u8,
        src_len: u8,
        tos: u8,
        table: u8,
        protocol: u8,
        scope: u8,
        kind: u8,
        flags: u32,
    }
    const RTM_NEWROUTE: u16 = 24;
    const RT_TABLE_LOCAL: u8 = 255;
    const RTPROT_BOOT: u8 = 3;
    const RT_SCOPE_HOST: u8 = 254;
    const RTN_LOCAL: u8 = 2;
    const RTA_OIF: u16 = 4;
    let req = Req {
        nh: libc::nlmsghdr {
            nlmsg_len: std::mem::size_of::<Req>() as u32,
            nlmsg_type: RTM_NEWROUTE,
            nlmsg_flags: (libc::NLM_F_REQUEST
                | libc::NLM_F_ACK
                | libc::NLM_F_CREATE
                | libc::NLM_F_EXCL) as u16,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        },
        rt: RtMsg {
            family: libc::AF_INET as u8,
            dst_len: 0,
            src_len: 0,
            tos: 0,
            table: RT_TABLE_LOCAL,
            protocol: RTPROT_BOOT,
            scope: RT_SCOPE_HOST,
            kind: RTN_LOCAL,
            flags: 0,
        },
        attr: libc::nlattr {
            nla_len: (std::mem::size_of::<libc::nlattr>() + 4) as u16,
            nla_type: RTA_OIF,
        },
        oif: 1, // loopback is always interface 1 in a new network namespace
    };
    // SAFETY: a netlink socket; sendto/recv with a valid request struct and reply buffer.
    unsafe {
        let s = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        );
        if s < 0 {
            fail(status, Step::Route, 0, errno());
        }
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let sent = libc::sendto(
            s,
            (&req as *const Req).cast(),
            std::mem::size_of::<Req>(),
            0,
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        );
        if sent < 0 {
            fail(status, Step::Route, 0, errno());
        }
        let mut reply = [0u8; 256];
        let n = libc::recv(s, reply.as_mut_ptr().cast(), reply.len(), 0);
        libc::close(s);
        let hdr = std::mem::size_of::<libc::nlmsghdr>();
        if n < (hdr + 4) as isize {
            fail(status, Step::Route, 0, libc::EIO);
        }
        // An ACK is an NLMSG_ERROR message whose error field is 0.
        let err = i32::from_ne_bytes([reply[hdr], reply[hdr + 1], reply[hdr + 2], reply[hdr + 3]]);
        if err != 0 {
            fail(status, Step::Route, 0, -err);
        }
    }
}

/// Connections the kernel queues on a proxy listener before mcpcell accepts them.
const BACKLOG: libc::c_int = 1024;

/// A listening socket inside the sandbox's network namespace, for mcpcell to serve.
fn listen(status: RawFd, index: u32, udp: bool, addr: u32, port: u16) -> RawFd {
    // SAFETY: socket/setsockopt/bind/listen on a fresh descriptor with a valid sockaddr_in.
    unsafe {
        let kind = if udp {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_STREAM
        };
        let s = libc::socket(libc::AF_INET, kind | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            fail(status, Step::ProxySockets, index, errno());
        }
        let one: libc::c_int = 1;
        libc::setsockopt(
            s,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            4,
        );
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: addr.to_be(),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(s, (&sa as *const libc::sockaddr_in).cast(), len) < 0 {
            fail(status, Step::ProxySockets, index, errno());
        }
        // A burst of connections (a server fetching in parallel) waits in the queue instead of
        // having its SYNs dropped and retried a second later; past the proxy's own bound they
        // are taken and closed at once, so the queue never holds more than a burst.
        if !udp && libc::listen(s, BACKLOG) < 0 {
            fail(status, Step::ProxySockets, index, errno());
        }
        s
    }
}

/// Creates the proxy's listeners and hands them to mcpcell; the sandbox keeps no copy.
pub(super) fn proxy_sockets(px: &super::prepare::ProxySockets, status: RawFd) {
    const LOCALHOST: u32 = 0x7F00_0001;
    let mut fds = vec![
        listen(status, 0, false, LOCALHOST, px.proxy_port),
        listen(status, 1, true, LOCALHOST, 53),
    ];
    for (i, &port) in px.transparent_ports.iter().enumerate() {
        fds.push(listen(status, 2 + i as u32, false, 0, port));
    }
    if let Err(e) = send_fds(px.channel, b"L", &fds) {
        fail(status, Step::ProxyChannel, 0, e as i32);
    }
    for fd in fds {
        // SAFETY: closing descriptors this function created.
        unsafe { libc::close(fd) };
    }
    // SAFETY: the channel is ours and no longer needed.
    unsafe { libc::close(px.channel) };
}
