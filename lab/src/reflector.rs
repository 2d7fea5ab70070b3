//! A middlebox that answers SYNs itself with a SYN/ACK echoing the SYN's
//! TCP options byte for byte (MP_CAPABLE included), with no MPTCP behind
//! it: what some transparent proxies and broken CPEs do.
//!
//! It runs as a thread inside the router's namespace rather than as a
//! separate binary: the end-to-end tests of another package cannot name a
//! binary of this one (the same reason the echo server runs in-process),
//! and a thread is stopped and joined by a guard, with no process to reap.
//!
//! On the wire: an AF_PACKET socket on the router's client-facing
//! interface sees every IPv4 TCP packet (AF_PACKET taps the frame before
//! the FORWARD chain, where the scenario's iptables rule drops the SYN so
//! it never reaches the server); a raw IPPROTO_RAW socket sends the
//! SYN/ACK, from the server's address to the client. IPv4 only. Both are
//! netsys's.
use crate::netns::Netns;
use netsys::bpf::{Insn, Program, Target, ALU_RSH_K, LD_B_ABS};
use netsys::packet_socket::{PacketSocket, PacketSocketOptions, PacketType};
use netsys::raw_send::{RawSender, SenderOptions};
use packet::build::ProbeBuilder;
use packet::ip::parse_ip_tcp;
use packet::{OptionList, TcpFlags};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// The interface facing the client in a router of the chain.
const CLIENT_SIDE: &str = "eth0";
/// The reflector's own initial sequence number (any value: no connection
/// follows).
const REFLECTOR_ISN: u32 = 0x5eed_0001;
/// How often the receive loop looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// A running reflector; stopped and joined on drop.
pub struct Reflector {
    stop: Arc<AtomicBool>,
    /// SYN/ACKs sent so far (for diagnostics and tests).
    pub reflected: Arc<AtomicUsize>,
    thread: Option<JoinHandle<io::Result<io::Result<()>>>>,
}

impl Reflector {
    /// Starts reflecting SYNs to `port` in `ns`; returns once both sockets
    /// are open (or why they could not be).
    pub fn start(ns: &Netns, port: u16) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let reflected = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        let (stop2, count) = (stop.clone(), reflected.clone());
        let thread = ns.spawn_thread(move || {
            let sockets = Sockets::open();
            let sockets = match sockets {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    return Err(e);
                }
            };
            sockets.serve(port, &stop2, &count)
        })?;
        let guard = Reflector {
            stop,
            reflected,
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(guard),
            Ok(Err(e)) => Err(io::Error::new(e.kind(), format!("reflector: {e}"))),
            Err(_) => Err(io::Error::other("reflector did not start within 10 s")),
        }
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Sockets {
    tap: PacketSocket,
    raw: RawSender,
}

/// IPv4 TCP packets only, whole; [`reflection`] picks the SYNs to the port.
fn ipv4_tcp() -> io::Result<Vec<Insn>> {
    let mut p = Program::new();
    let drop = p.label();
    p.op(LD_B_ABS, 0)
        .op(ALU_RSH_K, 4)
        .jeq(4, Target::Next, drop)
        .op(LD_B_ABS, 9)
        .jeq(6, Target::Next, drop)
        .ret(65535)
        .place(drop)
        .ret(0);
    p.build().map_err(io::Error::other)
}

impl Sockets {
    /// Opens the tap (bound to the client-facing interface, with a receive
    /// timeout so the stop flag is seen) and the raw sending socket, in
    /// the calling thread's namespace.
    fn open() -> io::Result<Self> {
        let filter = ipv4_tcp()?;
        let tap = PacketSocket::open(&PacketSocketOptions {
            filter: &filter,
            ifindex: Some(netsys::iface::index_of(CLIENT_SIDE)?),
            // Our own SYN/ACKs leave through the same interface.
            ignore_outgoing: true,
            recv_buffer: None,
            read_timeout: Some(POLL),
        })?;
        // Not bound to a source: the SYN/ACK carries the server's address,
        // which is not this router's.
        let raw = RawSender::open(&SenderOptions {
            ipv4: true,
            ..SenderOptions::default()
        })?;
        Ok(Sockets { tap, raw })
    }

    fn serve(&self, port: u16, stop: &AtomicBool, count: &AtomicUsize) -> io::Result<()> {
        let mut buf = vec![0u8; 65536];
        while !stop.load(Ordering::Relaxed) {
            let Some(d) = self.tap.recv_wait(&mut buf)? else {
                continue;
            };
            // Only frames arriving from the client's side (checked again
            // for kernels without PACKET_IGNORE_OUTGOING).
            if d.packet_type == PacketType::Outgoing {
                continue;
            }
            let Some((reply, _client)) = reflection(&buf[..d.len], port) else {
                continue;
            };
            if self.raw.send(&reply).is_ok() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// The SYN/ACK a reflecting box sends for `ip_packet` (and the client it
/// goes to), or `None` when the packet is not an IPv4 SYN to `port` whose
/// option area can be echoed byte for byte.
pub fn reflection(ip_packet: &[u8], port: u16) -> Option<(Vec<u8>, Ipv4Addr)> {
    let syn = parse_ip_tcp(ip_packet).ok()?;
    let flags = syn.flags?;
    if syn.dst_port != port || flags.0 & (TcpFlags::SYN | TcpFlags::ACK) != TcpFlags::SYN {
        return None;
    }
    let (IpAddr::V4(client), IpAddr::V4(server)) = (syn.src(), syn.dst()) else {
        return None;
    };
    // The SYN's whole option area must have been captured and parse into
    // options that emit to the same bytes; anything else is not echoed.
    if syn.tcp_missing != 0 {
        return None;
    }
    let list = OptionList::parse(syn.options, Some(flags));
    if list.error.is_some() || list.to_bytes() != syn.options {
        return None;
    }
    let mut reply = ProbeBuilder::new(server.into(), client.into(), syn.dst_port, syn.src_port)
        .seq(REFLECTOR_ISN)
        .flags(TcpFlags(TcpFlags::SYN | TcpFlags::ACK))
        .options(list.options);
    reply.ack = syn.seq.wrapping_add(1);
    reply.build().ok().map(|p| (p, client))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syn(options: &[u8]) -> Vec<u8> {
        let list = OptionList::parse(options, Some(TcpFlags(TcpFlags::SYN)));
        ProbeBuilder::new(
            Ipv4Addr::new(10, 1, 0, 1).into(),
            Ipv4Addr::new(10, 2, 0, 2).into(),
            40000,
            6101,
        )
        .seq(1000)
        .options(list.options)
        .build()
        .unwrap_or_default()
    }

    #[test]
    fn a_syn_comes_back_as_a_syn_ack_with_the_same_option_bytes() {
        // MSS, SACK permitted, v1 MP_CAPABLE without a key, NOP, WS.
        let area = [2, 4, 5, 0xb4, 4, 2, 30, 4, 0x01, 0x81, 1, 3, 3, 7, 0, 0];
        let Some((reply, client)) = reflection(&syn(&area), 6101) else {
            panic!("no reflection");
        };
        assert_eq!(client, Ipv4Addr::new(10, 1, 0, 1));
        let r = parse_ip_tcp(&reply).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.src(), IpAddr::from([10, 2, 0, 2]));
        assert_eq!(r.dst(), IpAddr::from([10, 1, 0, 1]));
        assert_eq!((r.src_port, r.dst_port), (6101, 40000));
        assert_eq!(r.ack, Some(1001));
        assert_eq!(r.flags, Some(TcpFlags(TcpFlags::SYN | TcpFlags::ACK)));
        assert_eq!(r.options, &area[..]);
        assert_eq!(r.tcp_checksum_ok(), Some(true));
    }

    #[test]
    fn only_syns_to_the_port_are_reflected() {
        assert!(reflection(&syn(&[]), 6102).is_none());
        let mut syn_ack = syn(&[]);
        syn_ack[20 + 13] |= TcpFlags::ACK;
        assert!(reflection(&syn_ack, 6101).is_none());
        assert!(reflection(&syn_ack[..30], 6101).is_none());
    }
}
