//! Raw sockets: send built IPv4/IPv6 packets, receive the TCP answers and
//! ICMP errors to them with kernel timestamps, under one deadline. The
//! system calls are netsys's; this is the client's use of them.
//!
//! Sending: [`netsys::raw_send`], raw IPPROTO_RAW sockets that send each
//! packet exactly as built through the normal route lookup, so `-i`
//! (SO_BINDTODEVICE) and policy routing apply: the sender is bound to the
//! probes' source address, which `ip rule from ADDR` matches.
//!
//! Receiving: [`netsys::raw_recv`], raw IPPROTO_TCP and IPPROTO_ICMP
//! (ICMPV6) sockets, rather than one AF_PACKET socket, because closing an
//! AF_PACKET socket waits for an RCU grace period (11 to 16 ms measured,
//! paid by every run at exit, far more than the round trip to a near
//! server) while a raw socket closes at once. netsys puts the IPv6 header
//! that an IPv6 raw socket strips back in front of each packet, so both
//! families reach [`super::matching`] and the pcap recorder as whole
//! packets. Classic BPF filters keep only ICMP/ICMPv6 errors and TCP
//! segments to our source ports in the kernel, so a busy router's other
//! traffic never reaches user space (a raw IPPROTO_TCP socket would get a
//! copy of every TCP segment the host receives). SO_TIMESTAMPNS gives each
//! packet the kernel's receive time, so an RTT does not include the time
//! this process took to get scheduled.
use super::error::NetError;
use super::filter::{answer_filter, icmp6_error_filter, tcp_segment_filter, SNAPLEN};
use super::privileges::with_net_raw;
use netsys::raw_recv::{RawReceiver, ReceiverOptions, IPV6_HEADER_LEN};
use netsys::raw_send::{RawSender, SendError, SenderOptions};
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

/// Room for a burst of answers while we are still sending.
const RECV_BUFFER: usize = 1 << 20;

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
    pub ifindex: u32,
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
    /// Bind the sender to this source address (the one the probes carry),
    /// so that policy routing (`ip rule from ADDR table N`) applies.
    pub source: Option<IpAddr>,
    /// Our TCP source ports: only TCP segments to these are received (ICMP
    /// and ICMPv6 always are). Empty: every TCP segment.
    pub ports: Vec<u16>,
}

/// The senders and the receiver, opened together while CAP_NET_RAW is
/// raised (see [`super::privileges::with_net_raw`]).
#[derive(Debug)]
pub struct RawSockets {
    send: RawSender,
    recv: RawReceiver,
}

/// Interface index of `name` (0 never: that would mean "every interface").
pub fn interface_index(name: &str) -> Result<u32, NetError> {
    netsys::iface::index_of(name).map_err(|source| NetError::Interface {
        name: name.to_string(),
        source,
    })
}

impl RawSockets {
    /// Opens the senders asked for and the receiver, raising CAP_NET_RAW
    /// for these calls only. Missing privilege: [`NetError::NoPrivilege`].
    pub fn open(options: &RawOptions) -> Result<Self, NetError> {
        let too_many = || {
            NetError::io(
                "receive filter",
                io::Error::other(format!("too many source ports ({})", options.ports.len())),
            )
        };
        let ipv4_filter = answer_filter(&options.ports).ok_or_else(too_many)?;
        let tcp6_filter = tcp_segment_filter(&options.ports).ok_or_else(too_many)?;
        let icmp6_filter = icmp6_error_filter();
        if let Some(name) = options.interface.as_deref() {
            // Said here, with its own message, rather than as a failed
            // SO_BINDTODEVICE.
            interface_index(name)?;
        }
        with_net_raw(|| {
            let send = RawSender::open(&SenderOptions {
                ipv4: options.ipv4,
                ipv6: options.ipv6,
                source: options.source,
                device: options.interface.as_deref(),
            })?;
            let recv = RawReceiver::open(&ReceiverOptions {
                ipv4: options.ipv4,
                ipv6: options.ipv6,
                device: options.interface.as_deref(),
                ipv4_filter: &ipv4_filter,
                tcp6_filter: &tcp6_filter,
                icmp6_filter: &icmp6_filter,
                recv_buffer: Some(RECV_BUFFER),
            })?;
            Ok(RawSockets { send, recv })
        })
    }

    /// Sends one whole IP packet (IPv4 or IPv6 by its version nibble) to
    /// the destination in its header. Returns the time taken just before
    /// the send: on veth paths the answer can be timestamped before
    /// `sendto` even returns, so a later reading could make an RTT
    /// negative; this one errs by the send call's duration at most.
    pub fn send(&self, packet: &[u8]) -> Result<SystemTime, NetError> {
        self.send.send(packet).map_err(|e| match e {
            SendError::Send {
                destination,
                source,
            } => NetError::io(format!("sendto {destination}"), source),
            other => NetError::io("send", io::Error::other(other.to_string())),
        })
    }

    /// The next packet for us, or `None` once the deadline has passed.
    pub fn recv_until(&self, deadline: &Deadline) -> Result<Option<Received>, NetError> {
        loop {
            let remaining = deadline.remaining();
            if remaining.is_zero() {
                return Ok(None);
            }
            let readable = self
                .recv
                .wait_readable(remaining)
                .map_err(|e| NetError::io("ppoll", e))?;
            if !readable {
                return Ok(None);
            }
            if let Some(r) = self.recv_one()? {
                return Ok(Some(r));
            }
        }
    }

    /// Reads one queued packet; `None` when nothing was queued after all.
    fn recv_one(&self) -> Result<Option<Received>, NetError> {
        let mut buf = vec![0u8; SNAPLEN + IPV6_HEADER_LEN];
        let Some(d) = self
            .recv
            .recv(&mut buf)
            .map_err(|e| NetError::io("recvmsg", e))?
        else {
            return Ok(None);
        };
        let received_at = SystemTime::now();
        buf.truncate(d.len);
        Ok(Some(Received {
            packet: buf,
            timestamp: d.timestamp.unwrap_or(received_at),
            kernel_timestamp: d.timestamp.is_some(),
            ifindex: d.ifindex,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    use std::net::SocketAddr;

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
            source: Some(dst),
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

    /// Closing an AF_PACKET socket waits for an RCU grace period; the
    /// receiver must not hold one.
    #[test]
    fn no_packet_socket_to_close() {
        if !has_net_raw() {
            eprintln!("skipping: no CAP_NET_RAW");
            return;
        }
        let sockets = RawSockets::open(&RawOptions {
            ipv4: true,
            ipv6: true,
            ports: vec![40000],
            ..Default::default()
        })
        .unwrap();
        let fds = sockets.recv.fds();
        assert_eq!(fds.len(), 4, "TCP and ICMP, both families");
        for fd in fds {
            let domain = socket2::SockRef::from(&fd).domain().unwrap();
            assert_ne!(domain, socket2::Domain::PACKET);
        }
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
