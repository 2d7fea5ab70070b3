//! Both keys of an MPTCP v1 connection, from its own handshake as captured
//! on this host: the SYN/ACK carries the server's key, the third ACK (and
//! the first data segment, until acknowledged) carries both in clear
//! (RFC 8684 section 3.1). With them a crafted MP_JOIN SYN can name the
//! connection (the server's token) and the answer's HMAC can be checked.
use packet::crypto::{self, Version};
use packet::ip::parse_ip_tcp;
use packet::{MptcpOption, OptionList, TcpOption};
use std::net::SocketAddr;
use thiserror::Error;

/// The two keys of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeKeys {
    /// The key this host (the client, A) sent.
    pub client: u64,
    /// The server's (B's) key.
    pub server: u64,
}

impl HandshakeKeys {
    /// The token an MP_JOIN SYN to the server carries.
    pub fn server_token(&self) -> u32 {
        crypto::token(Version::V1, self.server)
    }
    /// This host's token (what its own `MPTCP_INFO` reports).
    pub fn client_token(&self) -> u32 {
        crypto::token(Version::V1, self.client)
    }
    /// The truncated HMAC the server's SYN/ACK to our MP_JOIN SYN must
    /// carry: HMAC(KeyB || KeyA, RB || RA), leftmost 64 bits.
    pub fn synack_hmac(&self, our_nonce: u32, their_nonce: u32) -> u64 {
        crypto::join_synack_hmac(
            Version::V1,
            self.client,
            self.server,
            our_nonce,
            their_nonce,
        )
    }
}

/// Why the keys could not be learned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("the connection's SYN/ACK with MP_CAPABLE was not captured")]
    NoSynAck,
    #[error("no segment of ours carrying both MP_CAPABLE keys was captured")]
    NoThirdAck,
    #[error("the handshake is MPTCP v{0}; MP_JOIN probes are built for v1")]
    NotV1(u8),
    #[error(
        "the server's key differs between its SYN/ACK ({syn_ack:#018x}) and our third ACK \
         ({ack:#018x}): something on the path rewrote it"
    )]
    Mismatch { syn_ack: u64, ack: u64 },
}

/// The MP_CAPABLE option of a segment, if any.
fn capable(options: &[u8], flags: Option<packet::TcpFlags>) -> Option<packet::mptcp::MpCapable> {
    OptionList::parse(options, flags)
        .options
        .into_iter()
        .find_map(|o| match o {
            TcpOption::Mptcp(MptcpOption::MpCapable(c)) => Some(c),
            _ => None,
        })
}

/// Finds both keys of the connection `local` - `remote` among captured
/// packets (whole IP packets, either direction, in any order; other
/// traffic is ignored).
pub fn capture_keys<'a>(
    packets: impl IntoIterator<Item = &'a [u8]>,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<HandshakeKeys, KeyError> {
    let mut from_syn_ack = None;
    let mut from_ack: Option<(u64, u64)> = None;
    for packet in packets {
        let Ok(s) = parse_ip_tcp(packet) else {
            continue;
        };
        let Some(flags) = s.flags else { continue };
        let from = SocketAddr::new(s.src(), s.src_port);
        let to = SocketAddr::new(s.dst(), s.dst_port);
        let Some(c) = capable(s.options, Some(flags)) else {
            continue;
        };
        if from == remote && to == local && flags.is_syn_ack() {
            if c.version != 1 {
                return Err(KeyError::NotV1(c.version));
            }
            from_syn_ack = from_syn_ack.or(c.sender_key());
        } else if from == local && to == remote && !flags.syn() && from_ack.is_none() {
            if let (Some(a), Some(b)) = (c.sender_key(), c.receiver_key()) {
                if c.version != 1 {
                    return Err(KeyError::NotV1(c.version));
                }
                from_ack = Some((a, b));
            }
        }
    }
    let (client, server) = from_ack.ok_or(if from_syn_ack.is_none() {
        KeyError::NoSynAck
    } else {
        KeyError::NoThirdAck
    })?;
    if let Some(k) = from_syn_ack {
        if k != server {
            return Err(KeyError::Mismatch {
                syn_ack: k,
                ack: server,
            });
        }
    }
    Ok(HandshakeKeys { client, server })
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::build::ProbeBuilder;
    use packet::mptcp::MpCapable;
    use packet::TcpFlags;

    const CLIENT_KEY: u64 = 0x1fdb_5df3_28bc_3def;
    const SERVER_KEY: u64 = 0x29a6_c869_81ad_933c;

    fn local() -> SocketAddr {
        "10.11.0.1:40000".parse().unwrap()
    }
    fn remote() -> SocketAddr {
        "10.99.0.2:6101".parse().unwrap()
    }

    fn segment(from: SocketAddr, to: SocketAddr, flags: u8, c: Option<MpCapable>) -> Vec<u8> {
        let options = c
            .map(|c| vec![TcpOption::Mptcp(MptcpOption::MpCapable(c))])
            .unwrap_or_default();
        ProbeBuilder::new(from.ip(), to.ip(), from.port(), to.port())
            .flags(TcpFlags(flags))
            .options(options)
            .build()
            .unwrap()
    }

    fn handshake() -> Vec<Vec<u8>> {
        vec![
            segment(local(), remote(), 0x02, Some(MpCapable::v1_syn(1))),
            segment(
                remote(),
                local(),
                0x12,
                Some(MpCapable::v1_syn_ack(SERVER_KEY, 1)),
            ),
            segment(
                local(),
                remote(),
                0x10,
                Some(MpCapable::v1_ack(CLIENT_KEY, SERVER_KEY, 1)),
            ),
        ]
    }

    #[test]
    fn both_keys_from_syn_ack_and_third_ack() {
        let pkts = handshake();
        let k = capture_keys(pkts.iter().map(Vec::as_slice), local(), remote()).unwrap();
        assert_eq!(
            k,
            HandshakeKeys {
                client: CLIENT_KEY,
                server: SERVER_KEY
            }
        );
        // Tokens as the peer capture mptcp-v1 shows them for these keys.
        assert_eq!(k.server_token(), crypto::token(Version::V1, SERVER_KEY));
        assert_ne!(k.server_token(), k.client_token());
    }

    #[test]
    fn other_connections_and_order_do_not_matter() {
        let mut pkts = handshake();
        pkts.reverse();
        let other: SocketAddr = "10.11.0.1:40001".parse().unwrap();
        pkts.insert(
            0,
            segment(other, remote(), 0x10, Some(MpCapable::v1_ack(1, 2, 1))),
        );
        let k = capture_keys(pkts.iter().map(Vec::as_slice), local(), remote()).unwrap();
        assert_eq!(k.client, CLIENT_KEY);
    }

    #[test]
    fn what_is_missing_or_wrong_is_named() {
        let pkts = handshake();
        assert_eq!(
            capture_keys([pkts[0].as_slice()], local(), remote()),
            Err(KeyError::NoSynAck)
        );
        assert_eq!(
            capture_keys([pkts[1].as_slice()], local(), remote()),
            Err(KeyError::NoThirdAck)
        );
        let rewritten = segment(remote(), local(), 0x12, Some(MpCapable::v1_syn_ack(7, 1)));
        assert!(matches!(
            capture_keys(
                [rewritten.as_slice(), pkts[2].as_slice()],
                local(),
                remote()
            ),
            Err(KeyError::Mismatch { syn_ack: 7, .. })
        ));
        let v0 = segment(
            remote(),
            local(),
            0x12,
            Some(MpCapable::v0_syn_ack(7, 0x81)),
        );
        assert_eq!(
            capture_keys([v0.as_slice()], local(), remote()),
            Err(KeyError::NotV1(0))
        );
        // The third ACK alone is enough.
        assert!(capture_keys([pkts[2].as_slice()], local(), remote()).is_ok());
        // Garbage is skipped.
        assert_eq!(
            capture_keys([&[0x45u8, 0][..]], local(), remote()),
            Err(KeyError::NoSynAck)
        );
    }
}
