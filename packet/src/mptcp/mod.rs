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
pub use capable::MpCapable;
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

/// Why an MPTCP option could not be decoded, or does not fit the TCP flags
/// of its segment. `subtype` is the subtype number (its RFC name in
/// messages, [`MptcpError::subtype`]); `len` the whole option length, kind
/// and length bytes included (an MPTCP option's length byte caps it at
/// 255); `expected` one of a fixed set of texts. Five bytes, so that a
/// decoded option that carries one stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MptcpError {
    /// Shorter than the 3 bytes (kind, length, subtype) every MPTCP option has.
    #[error("MPTCP option of {len} bytes has no subtype byte")]
    NoSubtype { len: u8 },
    /// The length is not one this subtype (with these header bits) can have.
    #[error("{} option of invalid length {len} (expected {expected})", subtype_rfc_name(*.subtype))]
    BadLength {
        subtype: u8,
        len: u8,
        expected: Expected,
    },
    /// Linux would ignore this option on a segment with these flags.
    #[error(
        "{} option of length {len} does not fit TCP flags [{flags}] (expected {expected})",
        subtype_rfc_name(*.subtype)
    )]
    FlagMismatch {
        subtype: u8,
        len: u8,
        flags: TcpFlags,
        expected: Expected,
    },
}

/// Defines [`Expected`]: one variant per text.
macro_rules! expected_texts {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// What an [`MptcpError`] expected instead, one of a fixed set of
        /// texts ([`Expected::as_str`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Expected {
            $($(#[$doc])* $name,)*
        }

        impl Expected {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Expected::$name => $text,)*
                }
            }
        }
    };
}

expected_texts! {
    CapableV0 = "12 or 20 for v0",
    CapableV1 = "4, 12, 20, 22 or 24",
    Join = "12, 16 or 24",
    AtLeast4 = "at least 4",
    Dss4 = "4 for these flags",
    Dss8 = "8 for these flags",
    Dss12 = "12 for these flags",
    Dss14 = "14 or 16 for these flags",
    Dss18 = "18 or 20 for these flags",
    Dss22 = "22 or 24 for these flags",
    Dss26 = "26 or 28 for these flags",
    AddAddrV0Ipv4 = "8 or 10 for v0 IPv4",
    AddAddrV0Ipv6 = "20 or 22 for v0 IPv6",
    AddAddrEcho = "8, 10, 20 or 22 for an echo",
    AddAddrV1 = "16, 18, 28 or 30 for v1",
    Longer = "longer",
    PrioLen = "3 or 4",
    Len12 = "12",
    Len4 = "4",
    CapableV0Syn = "12 on a v0 SYN",
    CapableV1Syn = "4 on a v1 SYN",
    CapableSyn = "4 or 12 on a SYN",
    CapableSynAck = "12 on a SYN/ACK",
    CapableV0Ack = "20 on a v0 ACK",
    CapableAck = "20, 22 or 24 on an ACK",
    JoinSyn = "12 on a SYN",
    JoinSynAck = "16 on a SYN/ACK",
    JoinAck = "24 on an ACK",
    NoDssOnSyn = "no DSS on a SYN",
    TcpRstOnRst = "MP_TCPRST only on a RST",
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An option length as an error carries it (an MPTCP option's length byte
/// caps it at 255; a longer slice handed to [`MptcpOption::parse`] says 255).
pub(crate) fn error_len(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

/// A [`MptcpError::BadLength`] of subtype `subtype`.
pub(crate) fn bad_length(subtype: u8, len: usize, expected: Expected) -> MptcpError {
    MptcpError::BadLength {
        subtype,
        len: error_len(len),
        expected,
    }
}

impl MptcpError {
    /// The RFC name of the subtype the error is about (`None` when the option
    /// is too short to have one).
    pub fn subtype(&self) -> Option<&'static str> {
        self.subtype_number().map(subtype_rfc_name)
    }

    /// The subtype number the error is about.
    pub fn subtype_number(&self) -> Option<u8> {
        match *self {
            MptcpError::NoSubtype { .. } => None,
            MptcpError::BadLength { subtype, .. } | MptcpError::FlagMismatch { subtype, .. } => {
                Some(subtype)
            }
        }
    }

    /// The whole option length the error is about.
    pub fn option_len(&self) -> usize {
        usize::from(match *self {
            MptcpError::NoSubtype { len }
            | MptcpError::BadLength { len, .. }
            | MptcpError::FlagMismatch { len, .. } => len,
        })
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
    #[inline(always)]
    pub fn parse(option: &'a [u8], flags: Option<TcpFlags>) -> Self {
        // Checked first and built after, so that the common subtypes are
        // built in place rather than moved out of a `Result` (a move of a
        // just-built option is a store-forwarding stall per option).
        if let Err(error) = Self::check(option, flags) {
            return MptcpOption::Invalid { error, raw: option };
        }
        let subtype = option[2] >> 4;
        match subtype {
            SUBTYPE_MP_CAPABLE => MptcpOption::MpCapable(capable::read(option)),
            SUBTYPE_MP_JOIN => MptcpOption::MpJoin(MpJoin::read(option)),
            SUBTYPE_DSS => MptcpOption::Dss(Dss::read(option)),
            _ => match Self::parse_rare(subtype, option) {
                Ok(o) => o,
                Err(error) => MptcpOption::Invalid { error, raw: option },
            },
        }
    }

    /// Whether `option` decodes: its structure (lengths and header bits),
    /// then, when `flags` are given, whether it fits the segment's flags.
    #[inline]
    fn check(option: &'a [u8], flags: Option<TcpFlags>) -> Result<(), MptcpError> {
        let Some(&subtype_byte) = option.get(2) else {
            return Err(MptcpError::NoSubtype {
                len: error_len(option.len()),
            });
        };
        match subtype_byte >> 4 {
            SUBTYPE_MP_CAPABLE => capable::check(option)?,
            SUBTYPE_MP_JOIN => MpJoin::check(option)?,
            SUBTYPE_DSS => Dss::check(option)?,
            subtype => Self::parse_rare(subtype, option).map(drop)?,
        }
        match flags {
            Some(flags) => validate::check(option, flags),
            None => Ok(()),
        }
    }

    /// Structural decoding of the less common subtypes.
    fn parse_rare(subtype: u8, option: &'a [u8]) -> Result<Self, MptcpError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;
    use std::net::IpAddr;

    #[test]
    fn decoded_options_stay_small() {
        assert!(size_of::<MptcpOption<'static>>() <= 32);
        assert!(size_of::<crate::TcpOption<'static>>() <= 32);
        assert!(size_of::<Result<crate::TcpOption<'static>, crate::OptionError>>() <= 32);
        assert!(size_of::<MptcpError>() <= 8);
    }

    #[test]
    fn mp_capable_fields_come_back_as_given() {
        let c = MpCapable::from_fields(1, 0x81, Some(7), Some(9), Some(100), Some(0xbeef)).unwrap();
        assert_eq!(
            (c.sender_key(), c.receiver_key(), c.data_len(), c.checksum()),
            (Some(7), Some(9), Some(100), Some(0xbeef))
        );
        assert_eq!(c.wire_len(), 24);
        assert_eq!(
            MpCapable::from_fields(1, 0, None, None, None, None),
            Some(MpCapable::v1_syn(0))
        );
        assert_eq!(MpCapable::v1_syn_ack(5, 1).wire_len(), 12);
        // A field without the ones before it has no wire form.
        assert_eq!(
            MpCapable::from_fields(1, 0, None, Some(9), None, None),
            None
        );
        assert_eq!(
            MpCapable::from_fields(1, 0, Some(1), Some(2), None, Some(3)),
            None
        );
        assert_eq!(
            format!("{:?}", MpCapable::v0_syn(0x10, 0x81)),
            "MpCapable { version: 0, flags: 129, sender_key: Some(16), receiver_key: None, data_len: None, checksum: None }"
        );
    }

    #[test]
    fn join_dss_and_add_addr_read_back_their_parts() {
        let body = JoinBody::SynAck {
            hmac: 0x0102_0304_0506_0708,
            nonce: 9,
        };
        let j = MpJoin::new(1, 4, body);
        assert_eq!((j.body(), j.buffer_len(), j.token()), (body, 16, None));
        assert_eq!(MpJoin::syn(false, 0, 0xabcd, 1).token(), Some(0xabcd));
        let mapping = DssMapping {
            dsn: u64::MAX,
            ssn: 3,
            dll: 4,
            checksum: Some(5),
        };
        let wide = dss::flag::ACK | dss::flag::ACK64 | dss::flag::MAP | dss::flag::DSN64;
        let d = Dss::from_parts(0, wide, Some(u64::MAX - 1), Some(mapping));
        assert_eq!(
            (d.data_ack(), d.mapping()),
            (Some(u64::MAX - 1), Some(mapping))
        );
        assert_eq!(d.buffer_len(), 28);
        assert_eq!(Dss::new().data_ack(), None);
        assert_eq!(Dss::new().mapping(), None);
        let addr: IpAddr = "2001:db8::1".parse().unwrap();
        let a = AddAddr::from_parts(0, 3, addr, Some(443), Some(42));
        assert_eq!(
            (a.addr, a.port(), a.hmac(), a.buffer_len()),
            (addr, Some(443), Some(42), 30)
        );
        let echo = AddAddr::v1_echo(3, addr, None);
        assert_eq!((echo.port(), echo.hmac()), (None, None));
        // Each round-trips through the wire.
        for o in [
            MptcpOption::MpJoin(j),
            MptcpOption::Dss(d),
            MptcpOption::AddAddr(a),
            MptcpOption::AddAddr(echo),
        ] {
            assert_eq!(MptcpOption::parse(&o.to_bytes(), None), o);
        }
    }

    #[test]
    fn error_texts_name_the_subtype_and_what_was_expected() {
        let e = bad_length(SUBTYPE_ADD_ADDR, 11, Expected::AddAddrV1);
        assert_eq!(
            e.to_string(),
            "ADD_ADDR option of invalid length 11 (expected 16, 18, 28 or 30 for v1)"
        );
        assert_eq!((e.subtype(), e.option_len()), (Some("ADD_ADDR"), 11));
        assert_eq!(
            bad_length(SUBTYPE_DSS, 300, Expected::AtLeast4).option_len(),
            255
        );
        assert_eq!(MptcpError::NoSubtype { len: 2 }.subtype(), None);
    }
}
