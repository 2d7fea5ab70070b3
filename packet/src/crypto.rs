//! MPTCP's cryptographic helpers: token and initial data sequence number
//! from a key, MP_JOIN and ADD_ADDR HMACs, and the DSS checksum.
//!
//! v0 (RFC 6824) uses SHA-1 / HMAC-SHA1, v1 (RFC 8684) SHA-256 / HMAC-SHA256.
//! Keys and nonces enter the hashes in network byte order.
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Which MPTCP version's hash to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 6824: SHA-1.
    V0,
    /// RFC 8684: SHA-256.
    V1,
}

impl Version {
    /// From the version nibble of MP_CAPABLE (`None` for unknown versions).
    pub fn from_wire(version: u8) -> Option<Self> {
        match version {
            0 => Some(Version::V0),
            1 => Some(Version::V1),
            _ => None,
        }
    }
}

/// SHA-1 (v0) or SHA-256 (v1) of the key, as 20 or 32 bytes.
fn key_digest(version: Version, key: u64) -> ([u8; 32], usize) {
    let mut out = [0u8; 32];
    match version {
        Version::V0 => {
            out[..20].copy_from_slice(&Sha1::digest(key.to_be_bytes()));
            (out, 20)
        }
        Version::V1 => {
            out.copy_from_slice(&Sha256::digest(key.to_be_bytes()));
            (out, 32)
        }
    }
}

/// The connection token a host's key stands for: the most significant 32
/// bits of the key's hash. An MP_JOIN SYN carries the token of the key of
/// the host it is sent to.
pub fn token(version: Version, key: u64) -> u32 {
    let (d, _) = key_digest(version, key);
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The initial data sequence number: the least significant 64 bits of the
/// key's hash. The first data byte of that host has DSN `idsn + 1`.
pub fn idsn(version: Version, key: u64) -> u64 {
    let (d, n) = key_digest(version, key);
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[n - 8..n]);
    u64::from_be_bytes(b)
}

/// HMAC over `msg` keyed with `key1 || key2`: 20 bytes for v0 (HMAC-SHA1),
/// 32 for v1 (HMAC-SHA256); the length in use is returned with it.
fn hmac_keys(version: Version, key1: u64, key2: u64, msg: &[u8]) -> ([u8; 32], usize) {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&key1.to_be_bytes());
    key[8..].copy_from_slice(&key2.to_be_bytes());
    let mut out = [0u8; 32];
    match version {
        Version::V0 => {
            let mut m = <Hmac<Sha1> as Mac>::new_from_slice(&key).expect("HMAC takes any key");
            m.update(msg);
            out[..20].copy_from_slice(&m.finalize().into_bytes());
            (out, 20)
        }
        Version::V1 => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key");
            m.update(msg);
            out.copy_from_slice(&m.finalize().into_bytes());
            (out, 32)
        }
    }
}

/// The MP_JOIN HMAC computed by the host whose key is `key_own` with nonce
/// `nonce_own`: HMAC(key = own key || peer key, msg = own nonce || peer
/// nonce), first 160 bits (all of HMAC-SHA1 in v0, the leftmost 160 bits of
/// HMAC-SHA256 in v1).
pub fn join_hmac(
    version: Version,
    key_own: u64,
    key_peer: u64,
    nonce_own: u32,
    nonce_peer: u32,
) -> [u8; 20] {
    let mut msg = [0u8; 8];
    msg[..4].copy_from_slice(&nonce_own.to_be_bytes());
    msg[4..].copy_from_slice(&nonce_peer.to_be_bytes());
    let (d, _) = hmac_keys(version, key_own, key_peer, &msg);
    let mut out = [0u8; 20];
    out.copy_from_slice(&d[..20]);
    out
}

/// What the SYN/ACK of an MP_JOIN carries: the leftmost 64 bits of
/// HMAC(KeyB || KeyA, RB || RA), where A opened the subflow (sent the SYN
/// with nonce `nonce_a`) and B answers it.
pub fn join_synack_hmac(
    version: Version,
    key_a: u64,
    key_b: u64,
    nonce_a: u32,
    nonce_b: u32,
) -> u64 {
    let h = join_hmac(version, key_b, key_a, nonce_b, nonce_a);
    u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
}

/// What the third ACK of an MP_JOIN carries: 160 bits of
/// HMAC(KeyA || KeyB, RA || RB).
pub fn join_ack_hmac(
    version: Version,
    key_a: u64,
    key_b: u64,
    nonce_a: u32,
    nonce_b: u32,
) -> [u8; 20] {
    join_hmac(version, key_a, key_b, nonce_a, nonce_b)
}

/// The full v1 ADD_ADDR HMAC-SHA256 (32 bytes), keyed with the announcing
/// host's key then the peer's. The message is the address id, the address
/// and the port in network order - the port is always included, as zero when
/// the option carries none: that is what Linux sends and checks (and what the
/// peer captures show).
pub fn add_addr_hmac_full(
    key_sender: u64,
    key_receiver: u64,
    addr_id: u8,
    addr: IpAddr,
    port: Option<u16>,
) -> [u8; 32] {
    let mut msg = [0u8; 19];
    msg[0] = addr_id;
    let end = match addr {
        IpAddr::V4(a) => {
            msg[1..5].copy_from_slice(&a.octets());
            5
        }
        IpAddr::V6(a) => {
            msg[1..17].copy_from_slice(&a.octets());
            17
        }
    };
    msg[end..end + 2].copy_from_slice(&port.unwrap_or(0).to_be_bytes());
    hmac_keys(Version::V1, key_sender, key_receiver, &msg[..end + 2]).0
}

/// The 64-bit HMAC a v1 ADD_ADDR carries: the rightmost 64 bits of
/// [`add_addr_hmac_full`] (RFC 8684 section 3.4.1, and Linux).
pub fn add_addr_hmac(
    key_sender: u64,
    key_receiver: u64,
    addr_id: u8,
    addr: IpAddr,
    port: Option<u16>,
) -> u64 {
    let d = add_addr_hmac_full(key_sender, key_receiver, addr_id, addr, port);
    u64::from_be_bytes([d[24], d[25], d[26], d[27], d[28], d[29], d[30], d[31]])
}

/// Ones'-complement sum of `data` (odd trailing byte padded with zero) added
/// to `sum`, not yet folded.
fn ones_sum(mut sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The DSS checksum of a mapping: ones' complement of the ones'-complement
/// sum over the pseudo-header (64-bit DSN, 32-bit subflow sequence number,
/// 16-bit data-level length, 16 zero bits) and the payload it maps. `dsn`
/// must be the full 64-bit DSN even when the option carries 32 bits.
pub fn dss_checksum(dsn: u64, ssn: u32, dll: u16, payload: &[u8]) -> u16 {
    let mut header = [0u8; 16];
    header[..8].copy_from_slice(&dsn.to_be_bytes());
    header[8..12].copy_from_slice(&ssn.to_be_bytes());
    header[12..14].copy_from_slice(&dll.to_be_bytes());
    !fold(ones_sum(ones_sum(0, &header), payload))
}

/// Whether `checksum` is the right DSS checksum for this mapping and payload.
pub fn dss_checksum_ok(dsn: u64, ssn: u32, dll: u16, payload: &[u8], checksum: u16) -> bool {
    let c = dss_checksum(dsn, ssn, dll, payload);
    // 0x0000 and 0xffff are the same value in ones' complement.
    c == checksum || (c == 0 && checksum == 0xffff) || (c == 0xffff && checksum == 0)
}

/// Widens a 32-bit DSN (or data ACK) to 64 bits: the value with these low 32
/// bits nearest to `reference` (typically the IDSN of the sender).
pub fn widen_dsn(low32: u32, reference: u64) -> u64 {
    let base = (reference & !0xffff_ffff) | u64::from(low32);
    let candidates = [base.wrapping_sub(1 << 32), base, base.wrapping_add(1 << 32)];
    let dist = |v: u64| v.wrapping_sub(reference).min(reference.wrapping_sub(v));
    candidates
        .into_iter()
        .min_by_key(|&v| dist(v))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values below are facts read from the peer captures (tcpdump's text of
    // mptcp-v0 frames 1-10 and mptcp-v1 frames 2-9), so these tests run
    // without the capture files.
    const V0_KEY_A: u64 = 0x9c9eabd1e46a33b2; // client, MP_CAPABLE SYN
    const V0_KEY_B: u64 = 0x967d2770b6960552; // server, MP_CAPABLE SYN/ACK
    const V0_NONCE_A: u32 = 0x1b665a18; // MP_JOIN SYN
    const V0_NONCE_B: u32 = 0x33abe9d5; // MP_JOIN SYN/ACK

    #[test]
    fn v0_join_token_and_hmacs_from_capture() {
        assert_eq!(token(Version::V0, V0_KEY_B), 0xe47f0142);
        assert_eq!(
            join_synack_hmac(Version::V0, V0_KEY_A, V0_KEY_B, V0_NONCE_A, V0_NONCE_B),
            0x5ab680c7884af03d
        );
        assert_eq!(
            hex::encode(join_ack_hmac(
                Version::V0,
                V0_KEY_A,
                V0_KEY_B,
                V0_NONCE_A,
                V0_NONCE_B
            )),
            "cb7b87f5e5f0502f43b535fb70ef6607df2e6c7a"
        );
    }

    #[test]
    fn v0_first_dsn_is_idsn_plus_one() {
        // mptcp-v0 frame 4: the server's first mapping, 32-bit DSN 3518592144.
        assert_eq!(
            idsn(Version::V0, V0_KEY_B).wrapping_add(1) as u32,
            3518592144
        );
        // frame 6: the client's first mapping, DSN 3576348362.
        assert_eq!(
            idsn(Version::V0, V0_KEY_A).wrapping_add(1) as u32,
            3576348362
        );
    }

    #[test]
    fn v1_first_dsn_is_idsn_plus_one() {
        // mptcp-v1 frame 7: the server's first mapping.
        assert_eq!(
            idsn(Version::V1, 0x29a6c86981ad933c).wrapping_add(1),
            11713449205243392242
        );
        // frame 9: the client's first DSS mapping follows the 8192 bytes
        // sent with its 22-byte MP_CAPABLE (which map to IDSN + 1).
        assert_eq!(
            idsn(Version::V1, 0x1fdb5df328bc3def).wrapping_add(1 + 8192),
            14413541604287238222
        );
        assert_ne!(token(Version::V1, V0_KEY_B), token(Version::V0, V0_KEY_B));
    }

    #[test]
    fn checksum_of_zero_payload_is_complement_of_header_sum() {
        // Pseudo-header 0..0 1 | 0 0 0 2 | 0 3 | 0 0: sum 6, complement 0xfff9.
        assert_eq!(dss_checksum(1, 2, 3, &[]), 0xfff9);
        assert!(dss_checksum_ok(1, 2, 3, &[], 0xfff9));
        assert!(!dss_checksum_ok(1, 2, 3, &[], 0xfff8));
        // Odd payload: the last byte is the high half of a word.
        assert_eq!(dss_checksum(0, 0, 0, &[0x01]), !0x0100);
    }

    #[test]
    fn widening_picks_the_nearest() {
        assert_eq!(widen_dsn(5, 0x1_0000_0003), 0x1_0000_0005);
        assert_eq!(widen_dsn(0xffff_fffe, 0x1_0000_0003), 0x0_ffff_fffe);
        assert_eq!(widen_dsn(2, 0x1_ffff_fff0), 0x2_0000_0002);
    }
}
