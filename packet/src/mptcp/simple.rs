//! The small fixed-layout subtypes: MP_PRIO, MP_FAIL, MP_FASTCLOSE, MP_TCPRST.
use super::{
    be64, put_header, Expected, MptcpError, SUBTYPE_MP_FAIL, SUBTYPE_MP_FASTCLOSE, SUBTYPE_MP_PRIO,
    SUBTYPE_MP_TCPRST,
};

fn bad(subtype: u8, len: usize, expected: Expected) -> MptcpError {
    super::bad_length(subtype, len, expected)
}

/// MP_PRIO (subtype 5): 3 bytes (v1), or 4 with an address id (v0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpPrio {
    /// Low nibble of the subtype byte: B (0x01, backup), the rest reserved.
    pub flags: u8,
    pub addr_id: Option<u8>,
}

impl MpPrio {
    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        match option.len() {
            3 | 4 => Ok(MpPrio {
                flags: option[2] & 0x0f,
                addr_id: option.get(3).copied(),
            }),
            len => Err(bad(SUBTYPE_MP_PRIO, len, Expected::PrioLen)),
        }
    }
    pub fn new(backup: bool, addr_id: Option<u8>) -> Self {
        MpPrio {
            flags: u8::from(backup),
            addr_id,
        }
    }
    pub fn backup(&self) -> bool {
        self.flags & 0x01 != 0
    }
    pub fn buffer_len(&self) -> usize {
        3 + usize::from(self.addr_id.is_some())
    }
    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, out.len());
        out[2] = (SUBTYPE_MP_PRIO << 4) | (self.flags & 0x0f);
        if let Some(id) = self.addr_id {
            out[3] = id;
        }
    }
}

/// Splits the 12 reserved bits after the subtype nibble into their wire bytes.
fn put_reserved12(out: &mut [u8], subtype: u8, reserved: u16) {
    out[2] = (subtype << 4) | ((reserved >> 8) as u8 & 0x0f);
    out[3] = reserved as u8;
}
fn reserved12(option: &[u8]) -> u16 {
    (u16::from(option[2] & 0x0f) << 8) | u16::from(option[3])
}

/// MP_FAIL (subtype 6, 12 bytes): the DSN where the checksum failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpFail {
    /// The 12 reserved bits after the subtype.
    pub reserved: u16,
    pub dsn: u64,
}

impl MpFail {
    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        if option.len() != 12 {
            return Err(bad(SUBTYPE_MP_FAIL, option.len(), Expected::Len12));
        }
        Ok(MpFail {
            reserved: reserved12(option),
            dsn: be64(&option[4..12]),
        })
    }
    pub fn new(dsn: u64) -> Self {
        MpFail { reserved: 0, dsn }
    }
    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, 12);
        put_reserved12(out, SUBTYPE_MP_FAIL, self.reserved);
        out[4..12].copy_from_slice(&self.dsn.to_be_bytes());
    }
}

/// MP_FASTCLOSE (subtype 7, 12 bytes): the receiver's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpFastclose {
    /// The 12 reserved bits after the subtype.
    pub reserved: u16,
    pub receiver_key: u64,
}

impl MpFastclose {
    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        if option.len() != 12 {
            return Err(bad(SUBTYPE_MP_FASTCLOSE, option.len(), Expected::Len12));
        }
        Ok(MpFastclose {
            reserved: reserved12(option),
            receiver_key: be64(&option[4..12]),
        })
    }
    pub fn new(receiver_key: u64) -> Self {
        MpFastclose {
            reserved: 0,
            receiver_key,
        }
    }
    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, 12);
        put_reserved12(out, SUBTYPE_MP_FASTCLOSE, self.reserved);
        out[4..12].copy_from_slice(&self.receiver_key.to_be_bytes());
    }
}

/// MP_TCPRST (subtype 8, 4 bytes): why a subflow was reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpTcpRst {
    /// Low nibble of the subtype byte: U (0x8), V (0x4), W (0x2), T (0x1,
    /// transient).
    pub flags: u8,
    pub reason: u8,
}

/// MP_TCPRST flag bits and their letters, in tcpdump's order.
pub const TCPRST_FLAGS: [(u8, char); 4] = [(0x8, 'U'), (0x4, 'V'), (0x2, 'W'), (0x1, 'T')];

impl MpTcpRst {
    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        if option.len() != 4 {
            return Err(bad(SUBTYPE_MP_TCPRST, option.len(), Expected::Len4));
        }
        Ok(MpTcpRst {
            flags: option[2] & 0x0f,
            reason: option[3],
        })
    }
    pub fn new(flags: u8, reason: u8) -> Self {
        MpTcpRst {
            flags: flags & 0x0f,
            reason,
        }
    }
    /// The T bit: the error is transient.
    pub fn transient(&self) -> bool {
        self.flags & 0x1 != 0
    }
    /// RFC 8684's name of the reason code, as tcpdump prints it.
    pub fn reason_name(&self) -> Option<&'static str> {
        tcprst_reason_name(self.reason)
    }
    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, 4);
        out[2] = (SUBTYPE_MP_TCPRST << 4) | (self.flags & 0x0f);
        out[3] = self.reason;
    }
}

/// Names of the MP_TCPRST reason codes (RFC 8684 section 3.6).
pub fn tcprst_reason_name(reason: u8) -> Option<&'static str> {
    Some(match reason {
        0 => "Unspecified error",
        1 => "MPTCP-specific error",
        2 => "Lack of resources",
        3 => "Administratively prohibited",
        4 => "Too much outstanding data",
        5 => "Unacceptable performance",
        6 => "Middlebox interference",
        _ => return None,
    })
}
