//! Receiving the TCP segments and ICMP errors that answer raw probes, on
//! raw IP sockets (IPPROTO_TCP and IPPROTO_ICMP / IPPROTO_ICMPV6, one pair
//! per family), as whole IP packets with kernel timestamps.
//!
//! Why not one AF_PACKET socket, which sees both protocols and both
//! families with their headers? Closing an AF_PACKET socket waits for an
//! RCU grace period (`packet_release` calls `synchronize_net`): 11 to 16 ms
//! per close on the kernels measured, paid by every `check` and `trace`
//! at exit, ten times the round trip of a near server. Raw IP sockets
//! close at once.
//!
//! What a raw socket hands over differs by family, and is made the same:
//! - IPv4: the whole packet from its IP header on, as the filter sees it;
//! - IPv6: the payload only (TCP segment or ICMPv6 message), and so does
//!   the filter. The IPv6 header is rebuilt in front of it from ancillary
//!   data: source address (the sender's address), destination and
//!   interface (IPV6_PKTINFO), hop limit (IPV6_HOPLIMIT), traffic class and
//!   flow label (IPV6_FLOWINFO); the payload length is what was read and
//!   the next header the socket's protocol. Extension headers are not
//!   rebuilt (the kernel has consumed them): answers to our probes carry
//!   none.
//!
//! Raw sockets get only packets addressed to this host, never the copies
//! of its own outgoing packets (except over loopback, where they are
//! received too), and `SO_BINDTODEVICE` limits them to one interface.
use crate::bpf::Insn;
use nix::sys::socket::{recvmsg, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use socket2::{Domain, Protocol, SockFilter, Socket, Type};
use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of the IPv6 header put in front of an IPv6 payload.
pub const IPV6_HEADER_LEN: usize = 40;

/// What to open.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceiverOptions<'a> {
    /// Open the IPv4 sockets (TCP and ICMP).
    pub ipv4: bool,
    /// Open the IPv6 sockets (TCP and ICMPv6).
    pub ipv6: bool,
    /// Receive on this interface only (SO_BINDTODEVICE).
    pub device: Option<&'a str>,
    /// Filter of both IPv4 sockets; it sees the packet from its IPv4
    /// header on. Empty: no filter.
    pub ipv4_filter: &'a [Insn],
    /// Filter of the IPv6 TCP socket; it sees the TCP header at offset 0.
    pub tcp6_filter: &'a [Insn],
    /// Filter of the ICMPv6 socket; it sees the ICMPv6 header at offset 0.
    pub icmp6_filter: &'a [Insn],
    /// Receive buffer of each socket (SO_RCVBUF, as far as rmem_max
    /// allows). `None`: the system default.
    pub recv_buffer: Option<usize>,
}

/// One packet read into the caller's buffer, IP header first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDatagram {
    /// Bytes of the whole IP packet in the buffer (an IPv6 packet's
    /// rebuilt header included).
    pub len: usize,
    /// The interface it arrived on (0 when the kernel did not say).
    pub ifindex: u32,
    /// The kernel's receive time (SO_TIMESTAMPNS), when it gave one.
    pub timestamp: Option<SystemTime>,
}

#[derive(Debug)]
struct RawSocket {
    socket: Socket,
    ipv6: bool,
    /// The IPv6 next header of what it receives.
    protocol: u8,
}

/// The open raw sockets.
#[derive(Debug)]
pub struct RawReceiver {
    sockets: Vec<RawSocket>,
    /// The socket read first next time, so that a busy one does not
    /// starve the others.
    // Atomic rather than a Cell so the receiver can be shared with the
    // threads that wait on it (aggregate probes each WAN in its own).
    next: AtomicUsize,
}

/// Room for a timestamp, packet info, hop limit and flow info messages.
#[repr(C, align(8))]
struct ControlBuffer([u8; 256]);

fn context(what: &str) -> impl Fn(io::Error) -> io::Error + '_ {
    // The kind is kept: callers tell a missing privilege by it.
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn nix_context(what: &str) -> impl Fn(nix::errno::Errno) -> io::Error + '_ {
    move |e| context(what)(e.into())
}

fn open_one(
    ipv6: bool,
    protocol: i32,
    filter: &[Insn],
    options: &ReceiverOptions<'_>,
) -> io::Result<RawSocket> {
    let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::RAW, Some(Protocol::from(protocol)))
        .map_err(context(&format!("socket(SOCK_RAW, {protocol})")))?;
    // Filter first: nothing unfiltered is queued once it is attached
    // (what arrived before is drained below).
    if !filter.is_empty() {
        let program: Vec<SockFilter> = filter
            .iter()
            .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
            .collect();
        socket
            .attach_filter(&program)
            .map_err(context("SO_ATTACH_FILTER"))?;
    }
    if let Some(name) = options.device {
        socket
            .bind_device(Some(name.as_bytes()))
            .map_err(context(&format!("SO_BINDTODEVICE {name}")))?;
    }
    nix::sys::socket::setsockopt(&socket, sockopt::ReceiveTimestampns, &true)
        .map_err(nix_context("SO_TIMESTAMPNS"))?;
    if ipv6 {
        nix::sys::socket::setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)
            .map_err(nix_context("IPV6_RECVPKTINFO"))?;
        nix::sys::socket::setsockopt(&socket, sockopt::Ipv6RecvHopLimit, &true)
            .map_err(nix_context("IPV6_RECVHOPLIMIT"))?;
        // Traffic class and flow label (no typed wrapper for this one).
        crate::sockopt::set_int(&socket, libc::IPPROTO_IPV6, libc::IPV6_FLOWINFO, 1)
            .map_err(context("IPV6_FLOWINFO"))?;
    } else {
        nix::sys::socket::setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)
            .map_err(nix_context("IP_PKTINFO"))?;
    }
    if let Some(size) = options.recv_buffer {
        // Best effort: a smaller buffer only risks drops under a burst.
        let _ = socket.set_recv_buffer_size(size);
    }
    socket
        .set_nonblocking(true)
        .map_err(context("O_NONBLOCK"))?;
    let raw = RawSocket {
        socket,
        ipv6,
        protocol: u8::try_from(protocol).unwrap_or(0),
    };
    // Packets queued between socket() and the filter's attachment passed
    // no filter: drop them.
    let mut scratch = [0u8; 64];
    while let Ok(Some(_)) = raw.recv(&mut scratch) {}
    Ok(raw)
}

impl RawReceiver {
    /// Opens the sockets asked for, in the calling thread's network
    /// namespace. Needs CAP_NET_RAW (an error of kind `PermissionDenied`
    /// without it).
    pub fn open(options: &ReceiverOptions<'_>) -> io::Result<Self> {
        let mut sockets = Vec::new();
        if options.ipv4 {
            for protocol in [libc::IPPROTO_TCP, libc::IPPROTO_ICMP] {
                sockets.push(open_one(false, protocol, options.ipv4_filter, options)?);
            }
        }
        if options.ipv6 {
            sockets.push(open_one(
                true,
                libc::IPPROTO_TCP,
                options.tcp6_filter,
                options,
            )?);
            sockets.push(open_one(
                true,
                libc::IPPROTO_ICMPV6,
                options.icmp6_filter,
                options,
            )?);
        }
        Ok(RawReceiver {
            sockets,
            next: AtomicUsize::new(0),
        })
    }

    /// Reads one queued packet into `buf` without waiting; `None` when
    /// every queue is empty. An IPv6 packet needs [`IPV6_HEADER_LEN`]
    /// bytes of `buf` for its rebuilt header.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<RawDatagram>> {
        let n = self.sockets.len();
        for i in 0..n {
            let at = (self.next.load(Ordering::Relaxed) + i) % n;
            if let Some(d) = self.sockets[at].recv(buf)? {
                self.next.store((at + 1) % n, Ordering::Relaxed);
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// Waits until a packet is queued on one of the sockets or `timeout`
    /// passes: true when one may be read. A signal counts as "may be
    /// read", so that the caller reads (finding nothing) and waits again
    /// with the time it has left.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        use nix::poll::{ppoll, PollFd, PollFlags};
        let mut fds: Vec<PollFd<'_>> = self
            .sockets
            .iter()
            .map(|s| PollFd::new(s.socket.as_fd(), PollFlags::POLLIN))
            .collect();
        match ppoll(&mut fds, Some(timeout.into()), None) {
            Ok(n) => Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => Ok(true),
            Err(e) => Err(context("ppoll")(e.into())),
        }
    }

    /// The descriptors, for callers that poll them with others.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.sockets.iter().map(|s| s.socket.as_fd()).collect()
    }
}

impl RawSocket {
    fn recv(&self, buf: &mut [u8]) -> io::Result<Option<RawDatagram>> {
        let header = if self.ipv6 { IPV6_HEADER_LEN } else { 0 };
        let Some(payload) = buf.get_mut(header..) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "receive buffer shorter than an IPv6 header",
            ));
        };
        let mut control = ControlBuffer([0; 256]);
        let mut iov = [IoSliceMut::new(payload)];
        let msg = match recvmsg::<SockaddrStorage>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut control.0),
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(None),
            Err(e) => return Err(context("recvmsg(SOCK_RAW)")(e.into())),
        };
        let read = msg.bytes;
        let mut facts = Ancillary::default();
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                facts.take(cmsg);
            }
        }
        let source = msg
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in6())
            .map(|a| SocketAddrV6::from(*a));
        if self.ipv6 {
            let source = source.map_or(Ipv6Addr::UNSPECIFIED, |s| *s.ip());
            let head = Ipv6Head {
                flowinfo: facts.flowinfo,
                payload_len: read,
                next_header: self.protocol,
                hop_limit: facts.hop_limit,
                source,
                destination: facts.destination,
            };
            head.write(&mut buf[..IPV6_HEADER_LEN]);
        }
        Ok(Some(RawDatagram {
            len: header + read,
            ifindex: facts.ifindex,
            timestamp: facts.timestamp,
        }))
    }
}

/// What the ancillary messages of one packet said.
#[derive(Debug)]
struct Ancillary {
    timestamp: Option<SystemTime>,
    ifindex: u32,
    destination: Ipv6Addr,
    hop_limit: u8,
    /// Traffic class and flow label, as the low 28 bits of the header's
    /// first word.
    flowinfo: u32,
}

impl Default for Ancillary {
    fn default() -> Self {
        Ancillary {
            timestamp: None,
            ifindex: 0,
            destination: Ipv6Addr::UNSPECIFIED,
            hop_limit: 0,
            flowinfo: 0,
        }
    }
}

impl Ancillary {
    fn take(&mut self, cmsg: ControlMessageOwned) {
        match cmsg {
            ControlMessageOwned::ScmTimestampns(ts) => {
                // time_t and c_long are 32 bits wide on some targets.
                #[allow(clippy::useless_conversion)]
                let (secs, nanos): (i64, i64) = (ts.tv_sec().into(), ts.tv_nsec().into());
                self.timestamp = system_time(secs, nanos);
            }
            ControlMessageOwned::Ipv4PacketInfo(info) => {
                self.ifindex = u32::try_from(info.ipi_ifindex).unwrap_or(0);
            }
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                self.ifindex = info.ipi6_ifindex;
                self.destination = Ipv6Addr::from(info.ipi6_addr.s6_addr);
            }
            ControlMessageOwned::Ipv6HopLimit(h) => {
                self.hop_limit = u8::try_from(h).unwrap_or(u8::MAX);
            }
            ControlMessageOwned::Unknown(u)
                if u.cmsg_header.cmsg_level == libc::IPPROTO_IPV6
                    && u.cmsg_header.cmsg_type == libc::IPV6_FLOWINFO =>
            {
                if let Some(b) = u.data_bytes.get(..4) {
                    // Network order, version bits masked off by the kernel.
                    self.flowinfo = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x0fff_ffff;
                }
            }
            _ => {}
        }
    }
}

/// The fields of a rebuilt IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Head {
    /// Traffic class and flow label (low 28 bits).
    pub flowinfo: u32,
    pub payload_len: usize,
    pub next_header: u8,
    pub hop_limit: u8,
    pub source: Ipv6Addr,
    pub destination: Ipv6Addr,
}

impl Ipv6Head {
    /// Writes the 40-byte header (a payload over 65535 bytes gets 0, as a
    /// jumbogram's header has).
    pub fn write(&self, out: &mut [u8]) {
        let first = (6u32 << 28) | (self.flowinfo & 0x0fff_ffff);
        out[0..4].copy_from_slice(&first.to_be_bytes());
        let len = u16::try_from(self.payload_len).unwrap_or(0);
        out[4..6].copy_from_slice(&len.to_be_bytes());
        out[6] = self.next_header;
        out[7] = self.hop_limit;
        out[8..24].copy_from_slice(&self.source.octets());
        out[24..40].copy_from_slice(&self.destination.octets());
    }
}

/// `secs` and `nanos` since the epoch, when they make a time.
fn system_time(secs: i64, nanos: i64) -> Option<SystemTime> {
    let d = Duration::new(u64::try_from(secs).ok()?, u32::try_from(nanos).ok()?);
    UNIX_EPOCH.checked_add(d)
}

#[cfg(test)]
mod tests;
