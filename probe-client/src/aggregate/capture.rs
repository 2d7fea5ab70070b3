//! This host's own handshake with the echo server, captured (AF_PACKET,
//! both directions) to learn the connection's two keys: MPTCP v1 sends
//! them in clear in the SYN/ACK and the third ACK. The socket is opened
//! with the other raw sockets (CAP_NET_RAW), read right after the
//! connection opens, and closed before any data flows.
use crate::net::error::NetError;
use crate::net::privileges::with_net_raw;
use engine::aggregate::keys::{capture_keys, HandshakeKeys, KeyError};
use netsys::bpf::{Insn, Program, Target, ALU_AND_K, LDX_B_MSH, LD_B_ABS, LD_H_ABS, LD_H_IND};
use netsys::packet_socket::{PacketSocket, PacketSocketOptions};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Headers are all we need: IPv6 (40) + TCP with options (60) fit.
pub const SNAPLEN: u32 = 128;
/// At most this many packets are kept while looking for the keys.
const MAX_PACKETS: usize = 64;

/// Runs on the IP header: TCP segments from or to `port`, IPv4 and IPv6
/// (no IPv6 extension headers: the kernel's handshake has none), cut to
/// [`SNAPLEN`] bytes.
pub fn handshake_filter(port: u16) -> Option<Vec<Insn>> {
    use Target::Next;
    let mut p = Program::new();
    let [v6, accept, drop] = [(); 3].map(|_| p.label());
    let port = u32::from(port);
    p.op(LD_B_ABS, 0)
        .op(ALU_AND_K, 0xf0)
        .jeq(0x40, Next, v6)
        .op(LD_B_ABS, 9)
        .jeq(6, Next, drop)
        .op(LDX_B_MSH, 0)
        .op(LD_H_IND, 0) // source port
        .jeq(port, accept, Next)
        .op(LD_H_IND, 2) // destination port
        .jeq(port, accept, drop)
        .place(v6)
        .jeq(0x60, Next, drop)
        .op(LD_B_ABS, 6)
        .jeq(6, Next, drop)
        .op(LD_H_ABS, 40)
        .jeq(port, accept, Next)
        .op(LD_H_ABS, 42)
        .jeq(port, accept, drop)
        .place(accept)
        .ret(SNAPLEN)
        .place(drop)
        .ret(0);
    p.build().ok()
}

/// A captured packet and when it was seen.
pub type Captured = (std::time::SystemTime, Vec<u8>);

/// The open capture.
#[derive(Debug)]
pub struct HandshakeCapture {
    socket: PacketSocket,
}

impl HandshakeCapture {
    /// Opens the capture of segments from or to `server`'s port (needs
    /// CAP_NET_RAW: raised for this call only).
    pub fn open(server: SocketAddr) -> Result<Self, NetError> {
        let filter = handshake_filter(server.port())
            .ok_or_else(|| NetError::io("handshake filter", io::Error::other("cannot build")))?;
        with_net_raw(|| {
            PacketSocket::open(&PacketSocketOptions {
                filter: &filter,
                ifindex: None,
                // Our own third ACK is an outgoing packet: keep them.
                ignore_outgoing: false,
                recv_buffer: Some(256 * 1024),
                read_timeout: None,
            })
        })
        .map(|socket| HandshakeCapture { socket })
    }

    /// Reads what was captured until both keys of `local` - `remote` are
    /// known or `wait` passed; returns the keys (or why not) and the
    /// packets read, for `--write`.
    pub fn keys(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        wait: Duration,
    ) -> (Result<HandshakeKeys, KeyError>, Vec<Captured>) {
        let deadline = Instant::now() + wait;
        let mut packets: Vec<Captured> = Vec::new();
        let mut result = Err(KeyError::NoSynAck);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.socket.wait_readable(left) {
                Ok(true) => {}
                _ => break,
            }
            let mut buf = vec![0u8; SNAPLEN as usize];
            let Ok(Some(d)) = self.socket.recv(&mut buf) else {
                continue;
            };
            buf.truncate(d.len.min(buf.len()));
            if packets.len() < MAX_PACKETS {
                let at = d.timestamp.unwrap_or_else(std::time::SystemTime::now);
                packets.push((at, buf));
            }
            result = capture_keys(packets.iter().map(|(_, p)| p.as_slice()), local, remote);
            if result.is_ok() || packets.len() >= MAX_PACKETS {
                break;
            }
        }
        (result, packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsys::bpf::run;

    fn tcp4(sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p
    }

    fn tcp6(sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[6] = 6;
        p[40..42].copy_from_slice(&sport.to_be_bytes());
        p[42..44].copy_from_slice(&dport.to_be_bytes());
        p
    }

    #[test]
    fn keeps_both_directions_of_the_servers_port_only() {
        let f = handshake_filter(6101).unwrap();
        assert_eq!(run(&f, &tcp4(40000, 6101)), SNAPLEN);
        assert_eq!(run(&f, &tcp4(6101, 40000)), SNAPLEN);
        assert_eq!(run(&f, &tcp4(40000, 443)), 0);
        assert_eq!(run(&f, &tcp6(6101, 40000)), SNAPLEN);
        assert_eq!(run(&f, &tcp6(40000, 6101)), SNAPLEN);
        assert_eq!(run(&f, &tcp6(1, 2)), 0);
        let mut udp = tcp4(40000, 6101);
        udp[9] = 17;
        assert_eq!(run(&f, &udp), 0);
        // IPv4 options move the ports.
        let mut opts = vec![0u8; 44];
        opts[0] = 0x46;
        opts[9] = 6;
        opts[26..28].copy_from_slice(&6101u16.to_be_bytes());
        assert_eq!(run(&f, &opts), SNAPLEN);
    }
}
