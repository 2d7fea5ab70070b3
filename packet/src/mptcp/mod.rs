//! Multipath TCP options (TCP option kind 30), RFC 8684 (v1) and RFC 6824 (v0).
//!
//! [`MptcpOption::parse`] decodes one option without allocating and never
//! fails: what it cannot decode, or what does not fit the TCP flags of its
//! segment, comes back as [`MptcpOption::Invalid`] with its bytes. Every bit
//! on the wire is kept (reserved bits included), so [`MptcpOption::emit`]
//! re-creates the parsed bytes exactly. One module per subtype family.
use crate::flags::TcpFlags;
use thiserror::Error;

mod addr;
mod capable;
mod display;
mod dss;
mod join;
mod simple;
mod validate;

pub use addr::{AddAddr, RemoveAddr, ADD_ADDR_ECHO};
pub use capable::flag as capable_flag;
pub use display::tcpdump_name;
pub use dss::flag as dss_flag;
pub use dss::{Dss, DssMapping};
pub use join::{JoinBody, MpJoin, JOIN_BACKUP};
pub use simple::{tcprst_reason_name, MpFail, MpFastclose, MpPrio, MpTcpRst, TCPRST_FLAGS};

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

/// TCP option kind of every MPTCP option.
pub const KIND_MPTCP: u8 = 30;

/// One MPTCP option. Every field that is on the wire is kept (reserved bits
/// included) so that `emit` re-creates the exact bytes that were parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MptcpOption<'a> {
    MpCapable(MpCapable),
    MpJoin(MpJoin),
    Dss(Dss),
    AddAddr(AddAddr),
    RemoveAddr(RemoveAddr<'a>),
    MpPrio(MpPrio),
    MpFail(MpFail),
    MpFastclose(MpFastclose),
    MpTcpRst(MpTcpRst),
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
/// `subtype` is the RFC name (`MP_CAPABLE`, `DSS`, ...); `len` the whole
/// option length, kind and length bytes included.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MptcpError {
    /// Shorter than the 3 bytes (kind, length, subtype) every MPTCP option has.
    #[error("MPTCP option of {len} bytes has no subtype byte")]
    NoSubtype { len: usize },
    /// The length is not one this subtype (with these header bits) can have.
    #[error("{subtype} option of invalid length {len} (expected {expected})")]
    BadLength {
        subtype: &'static str,
        len: usize,
        expected: &'static str,
    },
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

impl MptcpError {
    /// The RFC name of the subtype the error is about (`None` when the option
    /// is too short to have one).
    pub fn subtype(&self) -> Option<&'static str> {
        match self {
            MptcpError::NoSubtype { .. } => None,
            MptcpError::BadLength { subtype, .. } | MptcpError::FlagMismatch { subtype, .. } => {
                Some(subtype)
            }
        }
    }
}

/// RFC name of a subtype number, for error messages.
pub fn subtype_rfc_name(subtype: u8) -> &'static str {
    match subtype {
        SUBTYPE_MP_CAPABLE => "MP_CAPABLE",
        SUBTYPE_MP_JOIN => "MP_JOIN",
        SUBTYPE_DSS => "DSS",
        SUBTYPE_ADD_ADDR => "ADD_ADDR",
        SUBTYPE_REMOVE_ADDR => "REMOVE_ADDR",
        SUBTYPE_MP_PRIO => "MP_PRIO",
        SUBTYPE_MP_FAIL => "MP_FAIL",
        SUBTYPE_MP_FASTCLOSE => "MP_FASTCLOSE",
        SUBTYPE_MP_TCPRST => "MP_TCPRST",
        SUBTYPE_MP_EXPERIMENTAL => "MP_EXPERIMENTAL",
        _ => "unassigned MPTCP subtype",
    }
}

/// The JSON name of a subtype number (`unknown` for experimental/unassigned).
pub fn subtype_json_name(subtype: u8) -> &'static str {
    match subtype {
        SUBTYPE_MP_CAPABLE => "mp_capable",
        SUBTYPE_MP_JOIN => "mp_join",
        SUBTYPE_DSS => "dss",
        SUBTYPE_ADD_ADDR => "add_addr",
        SUBTYPE_REMOVE_ADDR => "remove_addr",
        SUBTYPE_MP_PRIO => "mp_prio",
        SUBTYPE_MP_FAIL => "mp_fail",
        SUBTYPE_MP_FASTCLOSE => "mp_fastclose",
        SUBTYPE_MP_TCPRST => "mp_tcprst",
        _ => "unknown",
    }
}

/// Big-endian readers over slices whose length the caller has checked.
pub(crate) fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
pub(crate) fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Writes the kind and length bytes of an option of `len` bytes.
pub(crate) fn put_header(buf: &mut [u8], len: usize) {
    buf[0] = KIND_MPTCP;
    buf[1] = u8::try_from(len).expect("MPTCP option longer than 255 bytes");
}

impl<'a> MptcpOption<'a> {
    /// Decodes one whole option (kind and length bytes included; the length
    /// byte is known to match `option.len()`). Never fails: what cannot be
    /// decoded, or does not fit the flags when `flags` is given, comes back as
    /// [`MptcpOption::Invalid`] with its bytes. Does not allocate.
    pub fn parse(option: &'a [u8], flags: Option<TcpFlags>) -> Self {
        let decoded = Self::parse_structure(option);
        let decoded = match decoded {
            Ok(o) => o,
            Err(error) => return MptcpOption::Invalid { error, raw: option },
        };
        match flags {
            Some(flags) => match validate::check(&decoded, flags) {
                Ok(()) => decoded,
                Err(error) => MptcpOption::Invalid { error, raw: option },
            },
            None => decoded,
        }
    }

    /// Structural decoding only (lengths and header bits), no flag checks.
    fn parse_structure(option: &'a [u8]) -> Result<Self, MptcpError> {
        if option.len() < 3 {
            return Err(MptcpError::NoSubtype { len: option.len() });
        }
        let subtype = option[2] >> 4;
        Ok(match subtype {
            SUBTYPE_MP_CAPABLE => MptcpOption::MpCapable(capable::parse(option)?),
            SUBTYPE_MP_JOIN => MptcpOption::MpJoin(MpJoin::parse(option)?),
            SUBTYPE_DSS => MptcpOption::Dss(Dss::parse(option)?),
            SUBTYPE_ADD_ADDR => MptcpOption::AddAddr(AddAddr::parse(option)?),
            SUBTYPE_REMOVE_ADDR => MptcpOption::RemoveAddr(RemoveAddr::parse(option)?),
            SUBTYPE_MP_PRIO => MptcpOption::MpPrio(MpPrio::parse(option)?),
            SUBTYPE_MP_FAIL => MptcpOption::MpFail(MpFail::parse(option)?),
            SUBTYPE_MP_FASTCLOSE => MptcpOption::MpFastclose(MpFastclose::parse(option)?),
            SUBTYPE_MP_TCPRST => MptcpOption::MpTcpRst(MpTcpRst::parse(option)?),
            _ => MptcpOption::Unknown {
                subtype,
                data: &option[2..],
            },
        })
    }

    /// The subtype number (for `Invalid`: the one in its subtype byte, if any).
    pub fn subtype(&self) -> Option<u8> {
        Some(match self {
            MptcpOption::MpCapable(_) => SUBTYPE_MP_CAPABLE,
            MptcpOption::MpJoin(_) => SUBTYPE_MP_JOIN,
            MptcpOption::Dss(_) => SUBTYPE_DSS,
            MptcpOption::AddAddr(_) => SUBTYPE_ADD_ADDR,
            MptcpOption::RemoveAddr(_) => SUBTYPE_REMOVE_ADDR,
            MptcpOption::MpPrio(_) => SUBTYPE_MP_PRIO,
            MptcpOption::MpFail(_) => SUBTYPE_MP_FAIL,
            MptcpOption::MpFastclose(_) => SUBTYPE_MP_FASTCLOSE,
            MptcpOption::MpTcpRst(_) => SUBTYPE_MP_TCPRST,
            MptcpOption::Unknown { subtype, .. } => *subtype,
            MptcpOption::Invalid { raw, .. } => return raw.get(2).map(|b| b >> 4),
        })
    }

    /// The JSON name of the subtype: `mp_capable`, `mp_join`, `dss`,
    /// `add_addr`, `remove_addr`, `mp_prio`, `mp_fail`, `mp_fastclose`,
    /// `mp_tcprst` or `unknown` (experimental, unassigned, or an invalid
    /// option too short to have a subtype).
    pub fn subtype_name(&self) -> &'static str {
        self.subtype().map_or("unknown", subtype_json_name)
    }

    /// Bytes the option takes on the wire, kind and length included.
    pub fn buffer_len(&self) -> usize {
        match self {
            MptcpOption::MpCapable(c) => capable::buffer_len(c),
            MptcpOption::MpJoin(j) => j.buffer_len(),
            MptcpOption::Dss(d) => d.buffer_len(),
            MptcpOption::AddAddr(a) => a.buffer_len(),
            MptcpOption::RemoveAddr(r) => r.buffer_len(),
            MptcpOption::MpPrio(p) => p.buffer_len(),
            MptcpOption::MpFail(_) | MptcpOption::MpFastclose(_) => 12,
            MptcpOption::MpTcpRst(_) => 4,
            MptcpOption::Unknown { data, .. } => 2 + data.len(),
            MptcpOption::Invalid { raw, .. } => raw.len(),
        }
    }

    /// Writes the option at the start of `buf`, returns its length. Nothing
    /// past that length is touched.
    ///
    /// # Panics
    /// When `buf` is shorter than [`Self::buffer_len`] (a caller bug, as in
    /// smoltcp's emit).
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let out = &mut buf[..len];
        match self {
            MptcpOption::MpCapable(c) => capable::emit(c, out),
            MptcpOption::MpJoin(j) => j.emit(out),
            MptcpOption::Dss(d) => d.emit(out),
            MptcpOption::AddAddr(a) => a.emit(out),
            MptcpOption::RemoveAddr(r) => r.emit(out),
            MptcpOption::MpPrio(p) => p.emit(out),
            MptcpOption::MpFail(f) => f.emit(out),
            MptcpOption::MpFastclose(f) => f.emit(out),
            MptcpOption::MpTcpRst(r) => r.emit(out),
            MptcpOption::Unknown { data, .. } => {
                put_header(out, len);
                out[2..].copy_from_slice(data);
            }
            MptcpOption::Invalid { raw, .. } => out.copy_from_slice(raw),
        }
        len
    }

    /// The emitted option as a vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; self.buffer_len()];
        self.emit(&mut out);
        out
    }

    /// Whether this option failed decoding or validation.
    pub fn is_invalid(&self) -> bool {
        matches!(self, MptcpOption::Invalid { .. })
    }
}
