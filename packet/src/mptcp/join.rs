//! MP_JOIN (subtype 1): adds a subflow. Three forms by length: SYN (12),
//! SYN/ACK (16), third ACK (24).
use super::{be32, be64, put_header, MptcpError, SUBTYPE_MP_JOIN};

/// MP_JOIN. `flags` and `addr_id` keep the raw header bits of every form: in
/// the third ACK they are reserved, but kept so emit is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpJoin {
    /// Low nibble of the subtype byte: B (0x01, backup) on SYN and SYN/ACK,
    /// the other bits reserved.
    pub flags: u8,
    /// Address id (SYN, SYN/ACK); the reserved byte in the third ACK.
    pub addr_id: u8,
    pub body: JoinBody,
}

/// The form-specific part of an MP_JOIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinBody {
    /// SYN (12 bytes): the receiver's token and the sender's random nonce.
    Syn { token: u32, nonce: u32 },
    /// SYN/ACK (16 bytes): truncated (leftmost 64 bits) HMAC and nonce.
    SynAck { hmac: u64, nonce: u32 },
    /// Third ACK (24 bytes): 160-bit HMAC.
    Ack { hmac: [u8; 20] },
}

/// The B bit.
pub const JOIN_BACKUP: u8 = 0x01;

impl MpJoin {
    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        let flags = option[2] & 0x0f;
        let body = match option.len() {
            12 => JoinBody::Syn {
                token: be32(&option[4..8]),
                nonce: be32(&option[8..12]),
            },
            16 => JoinBody::SynAck {
                hmac: be64(&option[4..12]),
                nonce: be32(&option[12..16]),
            },
            24 => {
                let mut hmac = [0u8; 20];
                hmac.copy_from_slice(&option[4..24]);
                JoinBody::Ack { hmac }
            }
            len => {
                return Err(MptcpError::BadLength {
                    subtype: "MP_JOIN",
                    len,
                    expected: "12, 16 or 24",
                })
            }
        };
        Ok(MpJoin {
            flags,
            addr_id: option[3],
            body,
        })
    }

    pub fn buffer_len(&self) -> usize {
        match self.body {
            JoinBody::Syn { .. } => 12,
            JoinBody::SynAck { .. } => 16,
            JoinBody::Ack { .. } => 24,
        }
    }

    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, out.len());
        out[2] = (SUBTYPE_MP_JOIN << 4) | (self.flags & 0x0f);
        out[3] = self.addr_id;
        match self.body {
            JoinBody::Syn { token, nonce } => {
                out[4..8].copy_from_slice(&token.to_be_bytes());
                out[8..12].copy_from_slice(&nonce.to_be_bytes());
            }
            JoinBody::SynAck { hmac, nonce } => {
                out[4..12].copy_from_slice(&hmac.to_be_bytes());
                out[12..16].copy_from_slice(&nonce.to_be_bytes());
            }
            JoinBody::Ack { hmac } => out[4..24].copy_from_slice(&hmac),
        }
    }

    /// SYN form: `token` of the receiver's key, the sender's `nonce`.
    pub fn syn(backup: bool, addr_id: u8, token: u32, nonce: u32) -> Self {
        MpJoin {
            flags: u8::from(backup),
            addr_id,
            body: JoinBody::Syn { token, nonce },
        }
    }
    /// SYN/ACK form: leftmost 64 bits of the HMAC and the sender's nonce.
    pub fn syn_ack(backup: bool, addr_id: u8, hmac: u64, nonce: u32) -> Self {
        MpJoin {
            flags: u8::from(backup),
            addr_id,
            body: JoinBody::SynAck { hmac, nonce },
        }
    }
    /// Third-ACK form: the 160-bit HMAC (reserved bits zero).
    pub fn ack(hmac: [u8; 20]) -> Self {
        MpJoin {
            flags: 0,
            addr_id: 0,
            body: JoinBody::Ack { hmac },
        }
    }
    /// The B bit (meaningful on SYN and SYN/ACK only).
    pub fn backup(&self) -> bool {
        self.flags & JOIN_BACKUP != 0
    }
    /// Whether this is the third-ACK form (whose header bits are reserved).
    pub fn is_ack(&self) -> bool {
        matches!(self.body, JoinBody::Ack { .. })
    }
}
