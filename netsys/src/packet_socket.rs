//! An AF_PACKET `SOCK_DGRAM` capture socket with a classic BPF filter and
//! kernel receive timestamps: the client's answer receiver, the server's
//! SYN capture and the lab reflector's tap.
//!
//! `SOCK_DGRAM` gives each packet from its network header on, IPv4 and
//! IPv6 alike, so filters and parsers see whole IP packets, whatever the
//! link layer. The socket is created with protocol 0, which receives
//! nothing; the filter is attached and only then is the socket bound with
//! ETH_P_ALL, so no unfiltered packet ever reaches its queue.
//!
//! Our own outgoing packets show up too (with [`PacketType::Outgoing`]),
//! unless [`PacketSocketOptions::ignore_outgoing`] asks the kernel
//! (PACKET_IGNORE_OUTGOING, Linux 4.20+) to leave them out: the client
//! does not want its probes back, the server wants the SYN/ACKs its
//! kernel sent.
use crate::bpf::Insn;
use nix::sys::socket::{recvmsg, sockopt, ControlMessageOwned, LinkAddr, MsgFlags};
use socket2::{Domain, SockFilter, Socket, Type};
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What to open.
#[derive(Debug, Clone, Copy)]
pub struct PacketSocketOptions<'a> {
    /// Attached before the socket is bound (see the module documentation).
    pub filter: &'a [Insn],
    /// Receive on this interface only; `None`: every interface of the
    /// namespace.
    pub ifindex: Option<u32>,
    /// Leave this host's outgoing packets out, in the kernel where it can
    /// (callers that mind check [`Datagram::packet_type`] as well: older
    /// kernels lack the option).
    pub ignore_outgoing: bool,
    /// Receive buffer in bytes, beyond `net.core.rmem_max` when the process
    /// holds CAP_NET_ADMIN (SO_RCVBUFFORCE), else as far as rmem_max
    /// allows (SO_RCVBUF). `None`: the system default.
    pub recv_buffer: Option<usize>,
    /// How long [`PacketSocket::recv_wait`] blocks; `None`: until a packet.
    pub read_timeout: Option<Duration>,
}

/// Where a received packet was going (`sll_pkttype`, linux/if_packet.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// To this host.
    Host,
    Broadcast,
    Multicast,
    /// To another host (seen in promiscuous mode).
    OtherHost,
    /// Sent by this host.
    Outgoing,
    Other(u8),
}

impl PacketType {
    pub fn from_raw(pkttype: u8) -> Self {
        match pkttype {
            libc::PACKET_HOST => PacketType::Host,
            libc::PACKET_BROADCAST => PacketType::Broadcast,
            libc::PACKET_MULTICAST => PacketType::Multicast,
            libc::PACKET_OTHERHOST => PacketType::OtherHost,
            libc::PACKET_OUTGOING => PacketType::Outgoing,
            other => PacketType::Other(other),
        }
    }
}

/// One packet read into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram {
    /// Bytes written to the buffer (at most its length and the filter's
    /// accepted length).
    pub len: usize,
    pub packet_type: PacketType,
    /// The interface it was received on or sent through.
    pub ifindex: u32,
    /// The kernel's receive time (SO_TIMESTAMPNS), when it gave one.
    pub timestamp: Option<SystemTime>,
}

/// The kernel's counters since the previous read (PACKET_STATISTICS resets
/// them on each read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statistics {
    /// Packets that passed the filter.
    pub packets: u32,
    /// Of those, dropped because the receive queue was full.
    pub drops: u32,
}

/// An open, filtered, bound capture socket.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
}

/// Room for one SCM_TIMESTAMPNS message (a timespec of 16 bytes at most,
/// after a header of 16), aligned as `cmsghdr` needs.
#[repr(C, align(8))]
struct ControlBuffer([u8; 64]);

pub(crate) fn context(what: &str) -> impl Fn(io::Error) -> io::Error + '_ {
    // The kind is kept: callers tell a missing privilege by it.
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

pub(crate) fn bind_all_protocols(fd: RawFd, ifindex: u32) -> io::Result<()> {
    let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
    // SAFETY: sockaddr_ll is plain old data, for which all zeroes is a
    // valid value (and the unused fields must be zero).
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::sa_family_t::try_from(libc::AF_PACKET).map_err(invalid)?;
    sll.sll_protocol = u16::try_from(libc::ETH_P_ALL).map_err(invalid)?.to_be();
    sll.sll_ifindex = libc::c_int::try_from(ifindex).map_err(invalid)?;
    let len =
        libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_ll>()).map_err(invalid)?;
    // SAFETY: `sll` is a live sockaddr_ll of `len` bytes, read by the kernel
    // during the call only.
    let rc = unsafe { libc::bind(fd, (&sll as *const libc::sockaddr_ll).cast(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attaches a classic BPF program (before the bind: see the module
/// documentation).
pub(crate) fn attach_filter(socket: &Socket, program: &[Insn]) -> io::Result<()> {
    let filter: Vec<SockFilter> = program
        .iter()
        .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
        .collect();
    socket
        .attach_filter(&filter)
        .map_err(context("SO_ATTACH_FILTER"))
}

impl PacketSocket {
    /// Opens the socket in the calling thread's network namespace. Needs
    /// CAP_NET_RAW (an error of kind `PermissionDenied` without it).
    pub fn open(options: &PacketSocketOptions<'_>) -> io::Result<Self> {
        // Protocol 0: nothing is queued before the bind below.
        let socket =
            Socket::new(Domain::PACKET, Type::DGRAM, None).map_err(context("socket(AF_PACKET)"))?;
        attach_filter(&socket, options.filter)?;
        let fd = socket.as_raw_fd();
        if options.ignore_outgoing {
            // Linux 4.20+; older kernels deliver them and the caller checks
            // the packet type.
            let _ =
                crate::sockopt::set_int(&socket, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1);
        }
        nix::sys::socket::setsockopt(&socket, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| context("SO_TIMESTAMPNS")(e.into()))?;
        if let Some(size) = options.recv_buffer {
            // Best effort: a smaller buffer only means drops under bursts,
            // which PACKET_STATISTICS counts.
            if nix::sys::socket::setsockopt(&socket, sockopt::RcvBufForce, &size).is_err() {
                let _ = socket.set_recv_buffer_size(size);
            }
        }
        if options.read_timeout.is_some() {
            socket
                .set_read_timeout(options.read_timeout)
                .map_err(context("SO_RCVTIMEO"))?;
        }
        bind_all_protocols(fd, options.ifindex.unwrap_or(0)).map_err(context("bind(AF_PACKET)"))?;
        Ok(PacketSocket { socket })
    }

    /// Reads one queued packet into `buf` without waiting; `None` when the
    /// queue is empty (or a signal interrupted the call).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        self.recv_with(buf, MsgFlags::MSG_DONTWAIT)
    }

    /// Reads one packet into `buf`, waiting up to the read timeout; `None`
    /// when none came (or a signal interrupted the wait).
    pub fn recv_wait(&self, buf: &mut [u8]) -> io::Result<Option<Datagram>> {
        self.recv_with(buf, MsgFlags::empty())
    }

    fn recv_with(&self, buf: &mut [u8], flags: MsgFlags) -> io::Result<Option<Datagram>> {
        let mut control = ControlBuffer([0; 64]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<LinkAddr>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut control.0),
            flags,
        ) {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return Ok(None),
            Err(e) => return Err(context("recvmsg(AF_PACKET)")(e.into())),
        };
        let mut timestamp = None;
        // A truncated control buffer (it cannot be, for one timestamp)
        // only costs the kernel time.
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                if let ControlMessageOwned::ScmTimestampns(ts) = cmsg {
                    // time_t and c_long are 32 bits wide on some targets.
                    #[allow(clippy::useless_conversion)]
                    let (secs, nanos) = (ts.tv_sec().into(), ts.tv_nsec().into());
                    timestamp = system_time(secs, nanos);
                }
            }
        }
        let (packet_type, ifindex) = match msg.address {
            Some(addr) => (
                PacketType::from_raw(addr.pkttype()),
                u32::try_from(addr.ifindex()).unwrap_or(0),
            ),
            None => (PacketType::Other(u8::MAX), 0),
        };
        Ok(Some(Datagram {
            len: msg.bytes,
            packet_type,
            ifindex,
            timestamp,
        }))
    }

    /// Waits until a packet is queued or `timeout` passes: true when one
    /// may be read. A signal counts as "may be read", so that the caller
    /// reads (finding nothing) and waits again with the time it has left.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        use nix::poll::{ppoll, PollFd, PollFlags};
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match ppoll(&mut fds, Some(timeout.into()), None) {
            Ok(n) => Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => Ok(true),
            Err(e) => Err(context("ppoll")(e.into())),
        }
    }

    /// The kernel's counters since the previous call.
    pub fn statistics(&self) -> io::Result<Statistics> {
        // struct tpacket_stats: two native-endian u32, packets then drops.
        let mut raw = [0u8; 8];
        let n = crate::sockopt::getsockopt_bytes(
            &self.socket,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut raw,
        )
        .map_err(context("PACKET_STATISTICS"))?;
        let word = |at: usize| raw.get(at..at + 4).and_then(|b| b.try_into().ok());
        match (n, word(0), word(4)) {
            (8, Some(packets), Some(drops)) => Ok(Statistics {
                packets: u32::from_ne_bytes(packets),
                drops: u32::from_ne_bytes(drops),
            }),
            _ => Err(context("PACKET_STATISTICS")(io::Error::other(format!(
                "the kernel returned {n} bytes, expected 8"
            )))),
        }
    }

    /// The name of interface `ifindex` (in the calling thread's namespace,
    /// which for a capture thread is the socket's).
    pub fn interface_name(&self, ifindex: u32) -> io::Result<String> {
        crate::iface::name_of(ifindex)
    }
}

/// `secs` and `nanos` since the epoch, when they make a time.
pub(crate) fn system_time(secs: i64, nanos: i64) -> Option<SystemTime> {
    let d = Duration::new(u64::try_from(secs).ok()?, u32::try_from(nanos).ok()?);
    UNIX_EPOCH.checked_add(d)
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
mod tests;
