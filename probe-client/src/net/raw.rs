//! Raw sockets: send built IPv4/IPv6 packets, receive the TCP answers and
//! ICMP errors to them with kernel timestamps, under one deadline.
//!
//! Sending: `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)` (IP_HDRINCL implied)
//! and `socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)`, which since Linux 4.5
//! implies IPV6_HDRINCL as well: the packet leaves exactly as built (the
//! IPv4 kernel fills in only the total length and header checksum, which
//! we set right anyway, and an IP ID of 0, which we never use). Both go
//! through the normal route lookup, so `-i` (SO_BINDTODEVICE) and policy
//! routing apply; AF_PACKET would need a neighbour (ARP/ND) lookup of our
//! own, which the routed raw sockets make unnecessary.
//!
//! Receiving: one AF_PACKET `SOCK_DGRAM` socket rather than three raw
//! sockets (TCP, ICMP, ICMPv6), because
//! - it shows IPv6 packets with their IPv6 header (an IPv6 raw socket
//!   strips it, and the hop limit and addresses would have to be
//!   reassembled from ancillary data), so both families reach
//!   [`super::matching`] and the pcap recorder as the same whole packets;
//! - a classic BPF filter keeps only ICMP/ICMPv6 and TCP segments to our
//!   source ports in the kernel, so a busy router's other traffic never
//!   reaches user space (a raw IPPROTO_TCP socket gets a copy of every TCP
//!   segment the host receives);
//! - one file descriptor means one `ppoll` and one deadline.
//!
//! Our own outgoing packets are ignored (PACKET_IGNORE_OUTGOING, and the
//! packet type is checked again in user space for older kernels).
//! SO_TIMESTAMPNS gives each packet the kernel's receive time, so an RTT
//! does not include the time this process took to get scheduled.
use super::error::NetError;
use super::privileges::with_net_raw;
use socket2::{Domain, Protocol, SockAddr, SockFilter, Socket, Type};
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ETH_P_ALL: u16 = 0x0003;
const PACKET_HOST: u8 = 0;
const PACKET_OUTGOING: u8 = 4;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// Largest packet we keep (BPF return value and buffer size).
const SNAPLEN: usize = 65535;

/// One time limit for a whole receive loop, however many packets arrive.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Deadline(Instant::now() + timeout)
    }
    /// From `--timeout` seconds (negative or NaN counts as zero).
    pub fn after_secs(secs: f64) -> Self {
        let secs = if secs.is_finite() && secs > 0.0 {
            secs
        } else {
            0.0
        };
        Self::after(Duration::from_secs_f64(secs.min(86_400.0)))
    }
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }
    pub fn passed(&self) -> bool {
        self.remaining().is_zero()
    }
}

/// A packet received for us: the whole IP packet, IP header first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub packet: Vec<u8>,
    /// Kernel receive time (SO_TIMESTAMPNS), or the time `recvmsg`
    /// returned when the kernel gave none (`kernel_timestamp` false).
    pub timestamp: SystemTime,
    pub kernel_timestamp: bool,
    /// Interface the packet arrived on.
    pub ifindex: i32,
}

/// What to open.
#[derive(Debug, Clone, Default)]
pub struct RawOptions {
    /// `-i`: send through and receive on this interface only.
    pub interface: Option<String>,
    /// Open the IPv4 sender.
    pub ipv4: bool,
    /// Open the IPv6 sender.
    pub ipv6: bool,
    /// Our TCP source ports: only TCP segments to these are received (ICMP
    /// and ICMPv6 always are). Empty: every TCP segment.
    pub ports: Vec<u16>,
}

/// The senders and the receiver, opened together while CAP_NET_RAW is
/// raised (see [`super::privileges::with_net_raw`]).
#[derive(Debug)]
pub struct RawSockets {
    send_v4: Option<Socket>,
    send_v6: Option<Socket>,
    recv: Socket,
}

fn os(what: &str, rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(())
}

fn setsockopt_int(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> libc::c_int {
    // SAFETY: a c_int option value that lives through the call.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    }
}

/// Interface index of `name` (0 never: that would mean "every interface").
pub fn interface_index(name: &str) -> Result<i32, NetError> {
    let c = std::ffi::CString::new(name).map_err(|_| NetError::Interface {
        name: name.to_string(),
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    // SAFETY: a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(NetError::Interface {
            name: name.to_string(),
            source: io::Error::last_os_error(),
        });
    }
    Ok(index as i32)
}

/// A classic BPF instruction whose jumps name labels, resolved by
/// [`assemble`] (hand-counted jump offsets are where filters go wrong).
#[derive(Debug, Clone, Copy)]
enum Insn {
    /// Any non-jump instruction.
    Op(u16, u32),
    /// `jeq #k, then, else`.
    JumpEq(u32, Label, Label),
    /// Marks the position of a label.
    At(Label),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Next,
    Tcp4,
    Icmp4,
    V6,
    Tcp6,
    Icmp6,
    Accept,
    Drop,
}

fn assemble(program: &[Insn]) -> Vec<SockFilter> {
    const JEQ_K: u16 = 0x15;
    let mut positions = Vec::new();
    let mut pc = 0usize;
    for insn in program {
        match insn {
            Insn::At(label) => positions.push((*label, pc)),
            _ => pc += 1,
        }
    }
    let target = |label: Label, pc: usize| -> u8 {
        if label == Label::Next {
            return 0;
        }
        let at = positions
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, p)| *p)
            .unwrap_or(pc + 1);
        // Every jump in the program is forward and short.
        u8::try_from(at.saturating_sub(pc + 1)).unwrap_or(0)
    };
    let mut out = Vec::with_capacity(pc);
    for insn in program {
        match *insn {
            Insn::Op(code, k) => out.push(SockFilter::new(code, 0, 0, k)),
            Insn::JumpEq(k, then, otherwise) => {
                let pc = out.len();
                out.push(SockFilter::new(
                    JEQ_K,
                    target(then, pc),
                    target(otherwise, pc),
                    k,
                ));
            }
            Insn::At(_) => {}
        }
    }
    out
}

/// Classic BPF, run on the IP header (an AF_PACKET SOCK_DGRAM socket's
/// filter sees the packet from its network header): accept the ICMP and
/// ICMPv6 errors that can quote a probe (destination unreachable, time
/// exceeded, parameter problem, and ICMPv6 packet too big) and TCP
/// segments to one of `ports` (every TCP segment when `ports` is empty).
/// IPv6 extension headers before TCP or ICMPv6 are not followed: our
/// probes and their answers carry none.
pub fn answer_filter(ports: &[u16]) -> Vec<SockFilter> {
    use Insn::{At, JumpEq, Op};
    use Label::*;
    // Opcodes (linux/filter.h): LD|B|ABS, ALU|AND|K, LDX|B|MSH, LD|H|IND,
    // LD|B|IND, LD|H|ABS, RET|K.
    const LDB_ABS: u16 = 0x30;
    const AND_K: u16 = 0x54;
    const LDX_MSH: u16 = 0xb1;
    const LDH_IND: u16 = 0x48;
    const LDB_IND: u16 = 0x50;
    const LDH_ABS: u16 = 0x28;
    const RET_K: u16 = 0x06;
    let port_checks = |p: &mut Vec<Insn>| {
        if ports.is_empty() {
            p.push(JumpEq(0, Accept, Accept));
        }
        for (i, &port) in ports.iter().enumerate() {
            let miss = if i + 1 == ports.len() { Drop } else { Next };
            p.push(JumpEq(u32::from(port), Accept, miss));
        }
    };
    let mut p = vec![
        Op(LDB_ABS, 0), // version nibble
        Op(AND_K, 0xf0),
        JumpEq(0x40, Next, V6),
        Op(LDB_ABS, 9), // IPv4 protocol
        JumpEq(1, Icmp4, Next),
        JumpEq(6, Tcp4, Drop),
        At(Tcp4),
        Op(LDX_MSH, 0), // X = IPv4 header length
        Op(LDH_IND, 2), // TCP destination port
    ];
    port_checks(&mut p);
    p.extend([
        At(Icmp4),
        Op(LDX_MSH, 0),
        Op(LDB_IND, 0), // ICMP type
        JumpEq(3, Accept, Next),
        JumpEq(11, Accept, Next),
        JumpEq(12, Accept, Drop),
        At(V6),
        JumpEq(0x60, Next, Drop),
        Op(LDB_ABS, 6), // next header
        JumpEq(58, Icmp6, Next),
        JumpEq(6, Tcp6, Drop),
        At(Tcp6),
        Op(LDH_ABS, 40 + 2),
    ]);
    port_checks(&mut p);
    p.extend([
        At(Icmp6),
        Op(LDB_ABS, 40), // ICMPv6 type: errors are 1 to 4
        JumpEq(1, Accept, Next),
        JumpEq(2, Accept, Next),
        JumpEq(3, Accept, Next),
        JumpEq(4, Accept, Drop),
        At(Accept),
        Op(RET_K, SNAPLEN as u32),
        At(Drop),
        Op(RET_K, 0),
    ]);
    assemble(&p)
}

fn open_sender(domain: Domain, interface: Option<&str>) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))?;
    if domain == Domain::IPV4 {
        socket.set_header_included_v4(true)?;
    }
    if let Some(name) = interface {
        socket.bind_device(Some(name.as_bytes()))?;
    }
    Ok(socket)
}

fn open_receiver(ifindex: i32, ports: &[u16]) -> io::Result<Socket> {
    // Protocol 0: the socket receives nothing until bound below, so no
    // unfiltered packet queues up before the filter is attached.
    let socket = Socket::new(Domain::PACKET, Type::DGRAM, None)?;
    socket.attach_filter(&answer_filter(ports))?;
    let fd = socket.as_raw_fd();
    // Older kernels lack it; the packet type is checked in recv too.
    let _ = setsockopt_int(fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
    os(
        "SO_TIMESTAMPNS",
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1),
    )?;
    // Room for a burst of answers while we are still sending.
    let _ = socket.set_recv_buffer_size(1 << 20);
    // SAFETY: sockaddr_ll is plain data; zeroed is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: a sockaddr_ll of the right size that outlives the call.
    let rc = unsafe {
        libc::bind(
            fd,
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    os("bind(AF_PACKET)", rc)?;
    Ok(socket)
}

fn destination_of(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let b: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        6 => {
            let b: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

impl RawSockets {
    /// Opens the senders asked for and the receiver, raising CAP_NET_RAW
    /// for these calls only. Missing privilege: [`NetError::NoPrivilege`].
    pub fn open(options: &RawOptions) -> Result<Self, NetError> {
        let ifindex = match &options.interface {
            Some(name) => interface_index(name)?,
            None => 0,
        };
        let interface = options.interface.as_deref();
        with_net_raw(|| {
            let send_v4 = options
                .ipv4
                .then(|| open_sender(Domain::IPV4, interface))
                .transpose()?;
            let send_v6 = options
                .ipv6
                .then(|| open_sender(Domain::IPV6, interface))
                .transpose()?;
            let recv = open_receiver(ifindex, &options.ports)?;
            Ok(RawSockets {
                send_v4,
                send_v6,
                recv,
            })
        })
    }

    /// Sends one whole IP packet (IPv4 or IPv6 by its version nibble) to
    /// the destination in its header. Returns the time taken just before
    /// the send: on veth paths the answer can be timestamped before
    /// `sendto` even returns, so a later reading could make an RTT
    /// negative; this one errs by the send call's duration at most.
    pub fn send(&self, packet: &[u8]) -> Result<SystemTime, NetError> {
        let dst = destination_of(packet)
            .ok_or_else(|| NetError::io("send", io::Error::other("not an IP packet")))?;
        let socket = match dst {
            IpAddr::V4(_) => self.send_v4.as_ref(),
            IpAddr::V6(_) => self.send_v6.as_ref(),
        }
        .ok_or_else(|| {
            NetError::io(
                "send",
                io::Error::other(format!("no raw socket opened for {dst}'s family")),
            )
        })?;
        let at = SystemTime::now();
        socket
            .send_to(packet, &SockAddr::from(SocketAddr::new(dst, 0)))
            .map_err(|e| NetError::io(format!("sendto {dst}"), e))?;
        Ok(at)
    }

    /// The next packet for us, or `None` once the deadline has passed.
    pub fn recv_until(&self, deadline: &Deadline) -> Result<Option<Received>, NetError> {
        loop {
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Ok(None);
            }
            if !self.wait_readable(remaining)? {
                return Ok(None);
            }
            if let Some(r) = self.recv_one()? {
                return Ok(Some(r));
            }
        }
    }

    fn wait_readable(&self, timeout: Duration) -> Result<bool, NetError> {
        let mut pfd = libc::pollfd {
            fd: self.recv.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: one pollfd and a timespec that outlive the call; no
        // signal mask.
        let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                // A signal: let the caller try a read and poll again with
                // the time still left.
                return Ok(true);
            }
            return Err(NetError::io("ppoll", e));
        }
        Ok(rc > 0)
    }

    /// Reads one queued packet; `None` for one that is not for us
    /// (outgoing, another host's) or when nothing was queued after all.
    fn recv_one(&self) -> Result<Option<Received>, NetError> {
        let mut buf = vec![0u8; SNAPLEN];
        // u64 alignment suits cmsghdr; room for a timespec message.
        let mut control = [0u64; 16];
        let mut from = MaybeUninit::<libc::sockaddr_ll>::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; zeroed is a valid value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = from.as_mut_ptr() as *mut libc::c_void;
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = size_of::<[u64; 16]>() as _;
        // SAFETY: every pointer in msg refers to a live buffer of the
        // length given.
        let n = unsafe { libc::recvmsg(self.recv.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(NetError::io("recvmsg(AF_PACKET)", e)),
            };
        }
        let received_at = SystemTime::now();
        // SAFETY: the kernel filled in the sockaddr_ll (zeroed before).
        let from = unsafe { from.assume_init() };
        if from.sll_pkttype != PACKET_HOST || from.sll_pkttype == PACKET_OUTGOING {
            return Ok(None);
        }
        let mut timestamp = None;
        // SAFETY: CMSG_* walk the control buffer the kernel filled, within
        // msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                    timestamp =
                        Some(UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        buf.truncate(n as usize);
        Ok(Some(Received {
            packet: buf,
            timestamp: timestamp.unwrap_or(received_at),
            kernel_timestamp: timestamp.is_some(),
            ifindex: from.sll_ifindex,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic-BPF interpreter for the few opcodes [`answer_filter`]
    /// uses, so the jump arithmetic is checked against real packets
    /// without privileges.
    fn run(filter: &[SockFilter], pkt: &[u8]) -> u32 {
        // SockFilter's fields are private: read them through its C layout.
        let raw: Vec<(u16, u8, u8, u32)> = filter
            .iter()
            .map(|f| {
                // SAFETY: SockFilter is repr(transparent) over sock_filter
                // (u16, u8, u8, u32), 8 bytes.
                let bytes: [u8; 8] = unsafe { std::mem::transmute_copy(f) };
                (
                    u16::from_ne_bytes([bytes[0], bytes[1]]),
                    bytes[2],
                    bytes[3],
                    u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
                )
            })
            .collect();
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let byte = |at: usize| pkt.get(at).copied();
        loop {
            let (code, jt, jf, k) = raw[pc];
            pc += 1;
            match code {
                0x30 => match byte(k as usize) {
                    Some(b) => a = b.into(),
                    None => return 0,
                },
                0x54 => a &= k,
                0x15 => pc += usize::from(if a == k { jt } else { jf }),
                0x50 => match byte(k as usize + x as usize) {
                    Some(b) => a = b.into(),
                    None => return 0,
                },
                0xb1 => match byte(k as usize) {
                    Some(b) => x = u32::from(b & 0xf) * 4,
                    None => return 0,
                },
                0x48 | 0x28 => {
                    let at = k as usize + if code == 0x48 { x as usize } else { 0 };
                    match (byte(at), byte(at + 1)) {
                        (Some(h), Some(l)) => a = u32::from(u16::from_be_bytes([h, l])),
                        _ => return 0,
                    }
                }
                0x06 => return k,
                other => panic!("opcode {other:#x} not in the interpreter"),
            }
        }
    }

    fn tcp4(dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    }

    fn tcp6(dport: u16, next: u8) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[6] = next;
        p[42..44].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn filter_keeps_icmp_and_our_ports() {
        for ports in [vec![40000u16], vec![40000, 40001, 40002]] {
            let f = answer_filter(&ports);
            for &port in &ports {
                assert_ne!(run(&f, &tcp4(port)), 0);
                assert_ne!(run(&f, &tcp6(port, 6)), 0);
            }
            assert_eq!(run(&f, &tcp4(22)), 0);
            assert_eq!(run(&f, &tcp6(22, 6)), 0);
            for (icmp_type, wanted) in [(3u8, true), (11, true), (12, true), (0, false), (8, false)]
            {
                let mut icmp = tcp4(0);
                icmp[9] = 1;
                icmp[20] = icmp_type;
                assert_eq!(run(&f, &icmp) != 0, wanted, "ICMP type {icmp_type}");
            }
            for (icmp_type, wanted) in [
                (1u8, true),
                (2, true),
                (3, true),
                (4, true),
                (128, false),
                (135, false),
            ] {
                let mut icmp6 = tcp6(0, 58);
                icmp6[40] = icmp_type;
                assert_eq!(run(&f, &icmp6) != 0, wanted, "ICMPv6 type {icmp_type}");
            }
            assert_eq!(run(&f, &tcp6(40000, 17)), 0, "UDP");
            let mut udp = tcp4(40000);
            udp[9] = 17;
            assert_eq!(run(&f, &udp), 0);
            // IPv4 with options: the port moves with the IHL.
            let mut opts = vec![0u8; 44];
            opts[0] = 0x46;
            opts[9] = 6;
            opts[26..28].copy_from_slice(&ports[0].to_be_bytes());
            assert_ne!(run(&f, &opts), 0);
            assert_eq!(run(&f, &[0x20, 0, 0]), 0, "neither version");
        }
        let all = answer_filter(&[]);
        assert_ne!(run(&all, &tcp4(22)), 0);
        assert_ne!(run(&all, &tcp6(22, 6)), 0);
    }

    #[test]
    fn filter_accepts_real_fixture_packets() {
        let mut seen = 0;
        for (_, ip) in crate::net::matching::fixtures::frames("ttl-stripped.client.pcap") {
            let ip = &ip[..];
            if ip[9] == 1 {
                // The ICMP errors for our client port.
                assert_ne!(run(&answer_filter(&[55348]), ip), 0);
                seen += 1;
            } else if ip[9] == 6 {
                let dport = u16::from_be_bytes([ip[22], ip[23]]);
                let want = run(&answer_filter(&[55356]), ip) != 0;
                assert_eq!(want, dport == 55356);
            }
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn deadline_counts_down() {
        let d = Deadline::after_secs(0.0);
        assert!(d.passed());
        let d = Deadline::after_secs(f64::NAN);
        assert!(d.passed());
        let d = Deadline::after_secs(10.0);
        assert!(!d.passed());
        assert!(d.remaining() <= Duration::from_secs(10));
    }
}

#[cfg(test)]
mod live {
    //! Loopback only: a crafted SYN to a local listener, its SYN/ACK
    //! received and matched. Needs CAP_NET_RAW; skips without it.
    use super::*;
    use crate::net::matching::{match_packet, AnswerKind, Match, SentProbe};
    use crate::net::privileges::has_net_raw;
    use crate::net::source::reserve_port;
    use packet::build::ProbeBuilder;
    use packet::mptcp::MpCapable;
    use packet::{MptcpOption, TcpOption};

    fn syn_ack_over_loopback(dst: IpAddr) {
        if !has_net_raw() {
            eprintln!("skipping: no CAP_NET_RAW");
            return;
        }
        let listener = std::net::TcpListener::bind(SocketAddr::new(dst, 0)).unwrap();
        let dport = listener.local_addr().unwrap().port();
        let sport = reserve_port(dst).unwrap();
        let sockets = RawSockets::open(&RawOptions {
            interface: None,
            ipv4: dst.is_ipv4(),
            ipv6: dst.is_ipv6(),
            ports: vec![sport.port],
        })
        .unwrap();
        let mut b = ProbeBuilder::new(dst, dst, sport.port, dport).seq(0x1234_5678);
        b.ip_id = 4242;
        b.options = vec![TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable::v1_syn(
            0x01,
        )))];
        let pkt = b.build().unwrap();
        let probes = [SentProbe::from_packet(&pkt).unwrap()];
        let sent_at = sockets.send(&pkt).unwrap();
        let deadline = Deadline::after_secs(2.0);
        while let Some(r) = sockets.recv_until(&deadline).unwrap() {
            if let Some(Match::Answer { probe, kind, .. }) = match_packet(&probes, &r.packet) {
                assert_eq!((probe, kind), (0, AnswerKind::SynAck));
                assert!(r.kernel_timestamp);
                assert!(r.timestamp >= sent_at, "RTT never negative");
                return;
            }
        }
        panic!("no SYN/ACK from {dst} within 2 s");
    }

    #[test]
    fn v4_loopback() {
        syn_ack_over_loopback("127.0.0.1".parse().unwrap());
    }

    #[test]
    fn v6_loopback() {
        syn_ack_over_loopback("::1".parse().unwrap());
    }
}
