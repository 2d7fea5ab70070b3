//! MP_CAPABLE (subtype 0): the handshake option carrying the keys.
use super::{be16, be64, put_header, MpCapable, MptcpError, SUBTYPE_MP_CAPABLE};

const NAME: &str = "MP_CAPABLE";

/// MP_CAPABLE flag bits (the flags byte).
pub mod flag {
    /// A: DSS checksums required.
    pub const A: u8 = 0x80;
    /// B: extensibility (must be 0 in v0/v1).
    pub const B: u8 = 0x40;
    /// C: do not open subflows to the source address (v1).
    pub const C: u8 = 0x20;
    /// H: HMAC-SHA1 (v0) / HMAC-SHA256 (v1).
    pub const H: u8 = 0x01;
}

pub(super) fn parse(option: &[u8]) -> Result<MpCapable, MptcpError> {
    let len = option.len();
    let version = option[2] & 0x0f;
    let allowed = if version == 0 {
        matches!(len, 12 | 20)
    } else {
        matches!(len, 4 | 12 | 20 | 22 | 24)
    };
    if !allowed {
        return Err(MptcpError::BadLength {
            subtype: NAME,
            len,
            expected: if version == 0 {
                "12 or 20 for v0"
            } else {
                "4, 12, 20, 22 or 24"
            },
        });
    }
    let field64 = |at: usize| (len >= at + 8).then(|| be64(&option[at..at + 8]));
    Ok(MpCapable {
        version,
        flags: option[3],
        sender_key: field64(4),
        receiver_key: field64(12),
        data_len: (len >= 22).then(|| be16(&option[20..22])),
        checksum: (len >= 24).then(|| be16(&option[22..24])),
    })
}

pub(super) fn buffer_len(c: &MpCapable) -> usize {
    4 + 8 * usize::from(c.sender_key.is_some())
        + 8 * usize::from(c.receiver_key.is_some())
        + 2 * usize::from(c.data_len.is_some())
        + 2 * usize::from(c.checksum.is_some())
}

/// Writes the present fields in wire order; `out` is exactly `buffer_len` long.
pub(super) fn emit(c: &MpCapable, out: &mut [u8]) {
    put_header(out, out.len());
    out[2] = (SUBTYPE_MP_CAPABLE << 4) | (c.version & 0x0f);
    out[3] = c.flags;
    let mut at = 4;
    for key in [c.sender_key, c.receiver_key].into_iter().flatten() {
        out[at..at + 8].copy_from_slice(&key.to_be_bytes());
        at += 8;
    }
    for v in [c.data_len, c.checksum].into_iter().flatten() {
        out[at..at + 2].copy_from_slice(&v.to_be_bytes());
        at += 2;
    }
}

impl MpCapable {
    /// v1 SYN (4 bytes): no key.
    pub fn v1_syn(flags: u8) -> Self {
        MpCapable {
            version: 1,
            flags,
            ..Default::default()
        }
    }
    /// v1 SYN/ACK (12 bytes): the listener's key.
    pub fn v1_syn_ack(key: u64, flags: u8) -> Self {
        MpCapable {
            version: 1,
            flags,
            sender_key: Some(key),
            ..Default::default()
        }
    }
    /// v1 third ACK (20 bytes): both keys, the ACK sender's first.
    pub fn v1_ack(sender_key: u64, receiver_key: u64, flags: u8) -> Self {
        MpCapable {
            version: 1,
            flags,
            sender_key: Some(sender_key),
            receiver_key: Some(receiver_key),
            ..Default::default()
        }
    }
    /// v1 ACK with data (22 bytes, or 24 with a DSS checksum).
    pub fn v1_ack_data(
        sender_key: u64,
        receiver_key: u64,
        flags: u8,
        data_len: u16,
        checksum: Option<u16>,
    ) -> Self {
        MpCapable {
            data_len: Some(data_len),
            checksum,
            ..Self::v1_ack(sender_key, receiver_key, flags)
        }
    }
    /// v0 SYN (12 bytes): the sender's key.
    pub fn v0_syn(key: u64, flags: u8) -> Self {
        MpCapable {
            version: 0,
            flags,
            sender_key: Some(key),
            ..Default::default()
        }
    }
    /// v0 SYN/ACK (12 bytes), same layout as the v0 SYN.
    pub fn v0_syn_ack(key: u64, flags: u8) -> Self {
        Self::v0_syn(key, flags)
    }
    /// v0 third ACK (20 bytes).
    pub fn v0_ack(sender_key: u64, receiver_key: u64, flags: u8) -> Self {
        MpCapable {
            version: 0,
            ..Self::v1_ack(sender_key, receiver_key, flags)
        }
    }
    /// Whether the A bit (DSS checksums required) is set.
    pub fn checksum_required(&self) -> bool {
        self.flags & flag::A != 0
    }
    /// Whether the version is one this codec knows (0 or 1).
    pub fn known_version(&self) -> bool {
        self.version <= 1
    }
    /// Option length on the wire.
    pub fn wire_len(&self) -> usize {
        buffer_len(self)
    }
}
