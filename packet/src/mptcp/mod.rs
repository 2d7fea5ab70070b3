//! Multipath TCP options (TCP option kind 30), RFC 8684 (v1) and RFC 6824 (v0).
//!
//! SKELETON: the codec helper completes parse/emit for every subtype, the
//! remaining subtype structs, validation against the TCP flags, and builders.
//! `MpCapable` and the variant names of `MptcpOption` are the contract other
//! modules (diff, analyze, verdict) already use: keep them.
use crate::flags::TcpFlags;
use thiserror::Error;

pub const SUBTYPE_MP_CAPABLE: u8 = 0x0;
pub const SUBTYPE_MP_JOIN: u8 = 0x1;
pub const SUBTYPE_DSS: u8 = 0x2;
pub const SUBTYPE_ADD_ADDR: u8 = 0x3;
pub const SUBTYPE_REMOVE_ADDR: u8 = 0x4;
pub const SUBTYPE_MP_PRIO: u8 = 0x5;
pub const SUBTYPE_MP_FAIL: u8 = 0x6;
pub const SUBTYPE_MP_FASTCLOSE: u8 = 0x7;
pub const SUBTYPE_MP_TCPRST: u8 = 0x8;
pub const SUBTYPE_MP_EXPERIMENTAL: u8 = 0xf;

/// One MPTCP option. Every field that is on the wire is kept (reserved bits
/// included) so that `emit` re-creates the exact bytes that were parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MptcpOption<'a> {
    MpCapable(MpCapable),
    /// Placeholder payloads until the codec lands: raw bytes after kind/len.
    MpJoin(&'a [u8]),
    Dss(&'a [u8]),
    AddAddr(&'a [u8]),
    RemoveAddr(&'a [u8]),
    MpPrio(&'a [u8]),
    MpFail(&'a [u8]),
    MpFastclose(&'a [u8]),
    MpTcpRst(&'a [u8]),
    /// MP_EXPERIMENTAL and unassigned subtypes, kept raw: `data` is everything
    /// after the kind and length bytes (the subtype byte included).
    Unknown {
        subtype: u8,
        data: &'a [u8],
    },
    /// An option that failed decoding or validation: why, and the whole raw
    /// option (kind and length bytes included).
    Invalid {
        error: MptcpError,
        raw: &'a [u8],
    },
}

/// MP_CAPABLE (subtype 0). Which of the optional fields are present follows
/// from the option length: 4 (v1 SYN), 12 (v0 SYN, SYN/ACK), 20 (third ACK),
/// 22 (v1 ACK with data-level length), 24 (the same with a DSS checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MpCapable {
    /// Low nibble of the subtype byte: 0 (RFC 6824) or 1 (RFC 8684).
    pub version: u8,
    /// The flags byte as on the wire: A (0x80, checksum required), B (0x40,
    /// extensibility), C (0x20, no more subflows to this address), D..G,
    /// H (0x01, HMAC-SHA1/SHA256).
    pub flags: u8,
    /// The sender's key (SYN in v0, SYN/ACK, third ACK).
    pub sender_key: Option<u64>,
    /// The receiver's key (third ACK: the key of the SYN/ACK's sender).
    pub receiver_key: Option<u64>,
    /// Data-level length of the first data segment (v1, 22/24 bytes).
    pub data_len: Option<u16>,
    /// DSS checksum of that data (v1, 24 bytes).
    pub checksum: Option<u16>,
}

/// Why an MPTCP option could not be decoded, or does not fit its segment.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MptcpError {
    /// Shorter than the 3 bytes (kind, length, subtype) every MPTCP option has.
    #[error("MPTCP option of {len} bytes has no subtype byte")]
    NoSubtype { len: usize },
    /// The length is not one this subtype can have.
    #[error("{subtype} option of invalid length {len}")]
    BadLength { subtype: &'static str, len: usize },
    /// Linux would ignore this option on a segment with these flags.
    #[error(
        "{subtype} option of length {len} does not fit TCP flags [{flags}] (expected {expected})"
    )]
    FlagMismatch {
        subtype: &'static str,
        len: usize,
        flags: TcpFlags,
        expected: &'static str,
    },
}

impl<'a> MptcpOption<'a> {
    /// Decodes one whole option (kind and length bytes included; the length
    /// byte is known to match `option.len()`). Never fails: what cannot be
    /// decoded, or does not fit the flags when `flags` is given, comes back as
    /// [`MptcpOption::Invalid`] with its bytes.
    pub fn parse(option: &'a [u8], _flags: Option<TcpFlags>) -> Self {
        if option.len() < 3 {
            return MptcpOption::Invalid {
                error: MptcpError::NoSubtype { len: option.len() },
                raw: option,
            };
        }
        MptcpOption::Unknown {
            subtype: option[2] >> 4,
            data: &option[2..],
        }
    }

    /// Bytes the option takes on the wire, kind and length included.
    pub fn buffer_len(&self) -> usize {
        match self {
            MptcpOption::Unknown { data, .. } => 2 + data.len(),
            MptcpOption::Invalid { raw, .. } => raw.len(),
            _ => unimplemented!("codec helper"),
        }
    }

    /// Writes the option at the start of `buf`, returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        match self {
            MptcpOption::Unknown { data, .. } => {
                buf[0] = 30;
                buf[1] = (2 + data.len()) as u8;
                buf[2..2 + data.len()].copy_from_slice(data);
                2 + data.len()
            }
            MptcpOption::Invalid { raw, .. } => {
                buf[..raw.len()].copy_from_slice(raw);
                raw.len()
            }
            _ => unimplemented!("codec helper"),
        }
    }
}
