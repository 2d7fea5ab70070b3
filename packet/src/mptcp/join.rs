//! MP_JOIN (subtype 1): adds a subflow. Three forms by length: SYN (12),
//! SYN/ACK (16), third ACK (24).
use super::{be32, be64, put_header, Expected, MptcpError, SUBTYPE_MP_JOIN};
use std::fmt;

/// MP_JOIN. `flags` and `addr_id` keep the raw header bits of every form: in
/// the third ACK they are reserved, but kept so emit is exact.
///
/// Compact (23 bytes, no padding): the form-specific part is kept as its
/// wire bytes and read by [`MpJoin::body`], so that a decoded
/// [`crate::TcpOption`] fits in 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MpJoin {
    /// Low nibble of the subtype byte: B (0x01, backup) on SYN and SYN/ACK,
    /// the other bits reserved.
    pub flags: u8,
    /// Address id (SYN, SYN/ACK); the reserved byte in the third ACK.
    pub addr_id: u8,
    form: Form,
    /// The bytes after the address id, as on the wire (zero past the form).
    body: [u8; 20],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Form {
    Syn = 12,
    SynAck = 16,
    Ack = 24,
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
    /// Whether `option` has a length MP_JOIN can have.
    #[inline]
    pub(super) fn check(option: &[u8]) -> Result<(), MptcpError> {
        match option.len() {
            12 | 16 | 24 => Ok(()),
            len => Err(super::bad_length(SUBTYPE_MP_JOIN, len, Expected::Join)),
        }
    }

    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        Self::check(option)?;
        Ok(Self::read(option))
    }

    /// Decodes an option [`Self::check`] accepted (anything else reads as
    /// an empty SYN form). Built in place by the option walk.
    #[inline]
    pub(super) fn read(option: &[u8]) -> Self {
        // Fixed-size copies per form (a copy of variable length is a
        // memcpy call, and this is the decode loop).
        let mut body = [0u8; 20];
        let form = match (option.get(4..12), option.get(4..16), option.get(4..24)) {
            (_, _, Some(b)) if option.len() == 24 => {
                body.copy_from_slice(b);
                Form::Ack
            }
            (_, Some(b), _) if option.len() == 16 => {
                body[..12].copy_from_slice(b);
                Form::SynAck
            }
            (Some(b), _, _) => {
                body[..8].copy_from_slice(b);
                Form::Syn
            }
            _ => Form::Syn,
        };
        MpJoin {
            flags: option[2] & 0x0f,
            addr_id: option.get(3).copied().unwrap_or(0),
            form,
            body,
        }
    }

    /// An MP_JOIN of the form `body` has.
    pub fn new(flags: u8, addr_id: u8, body: JoinBody) -> Self {
        let mut raw = [0u8; 20];
        let form = match body {
            JoinBody::Syn { token, nonce } => {
                raw[0..4].copy_from_slice(&token.to_be_bytes());
                raw[4..8].copy_from_slice(&nonce.to_be_bytes());
                Form::Syn
            }
            JoinBody::SynAck { hmac, nonce } => {
                raw[0..8].copy_from_slice(&hmac.to_be_bytes());
                raw[8..12].copy_from_slice(&nonce.to_be_bytes());
                Form::SynAck
            }
            JoinBody::Ack { hmac } => {
                raw = hmac;
                Form::Ack
            }
        };
        MpJoin {
            flags,
            addr_id,
            form,
            body: raw,
        }
    }

    /// The form-specific part, decoded.
    pub fn body(&self) -> JoinBody {
        let b = &self.body;
        match self.form {
            Form::Syn => JoinBody::Syn {
                token: be32(&b[0..4]),
                nonce: be32(&b[4..8]),
            },
            Form::SynAck => JoinBody::SynAck {
                hmac: be64(&b[0..8]),
                nonce: be32(&b[8..12]),
            },
            Form::Ack => JoinBody::Ack { hmac: *b },
        }
    }

    /// The token of the SYN form.
    pub fn token(&self) -> Option<u32> {
        (self.form == Form::Syn).then(|| be32(&self.body[0..4]))
    }

    pub fn buffer_len(&self) -> usize {
        self.form as usize
    }

    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, out.len());
        out[2] = (SUBTYPE_MP_JOIN << 4) | (self.flags & 0x0f);
        out[3] = self.addr_id;
        let n = out.len() - 4;
        out[4..].copy_from_slice(&self.body[..n]);
    }

    /// SYN form: `token` of the receiver's key, the sender's `nonce`.
    pub fn syn(backup: bool, addr_id: u8, token: u32, nonce: u32) -> Self {
        Self::new(u8::from(backup), addr_id, JoinBody::Syn { token, nonce })
    }
    /// SYN/ACK form: leftmost 64 bits of the HMAC and the sender's nonce.
    pub fn syn_ack(backup: bool, addr_id: u8, hmac: u64, nonce: u32) -> Self {
        Self::new(u8::from(backup), addr_id, JoinBody::SynAck { hmac, nonce })
    }
    /// Third-ACK form: the 160-bit HMAC (reserved bits zero).
    pub fn ack(hmac: [u8; 20]) -> Self {
        Self::new(0, 0, JoinBody::Ack { hmac })
    }
    /// The B bit (meaningful on SYN and SYN/ACK only).
    pub fn backup(&self) -> bool {
        self.flags & JOIN_BACKUP != 0
    }
    /// Whether this is the third-ACK form (whose header bits are reserved).
    pub fn is_ack(&self) -> bool {
        self.form == Form::Ack
    }
}

/// As the fields read: the body decoded.
impl fmt::Debug for MpJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpJoin")
            .field("flags", &self.flags)
            .field("addr_id", &self.addr_id)
            .field("body", &self.body())
            .finish()
    }
}
