//! DSS (subtype 2): data sequence signal - data ACK, mapping, DATA_FIN.
use super::{be16, be32, be64, put_header, Expected, MptcpError, SUBTYPE_DSS};
use std::fmt;

/// DSS flag bits (the flags byte; its top three bits are reserved).
pub mod flag {
    /// F: DATA_FIN.
    pub const DATA_FIN: u8 = 0x10;
    /// m: the DSN is 8 bytes (else 4).
    pub const DSN64: u8 = 0x08;
    /// M: a mapping (DSN, subflow sequence, data-level length) is present.
    pub const MAP: u8 = 0x04;
    /// a: the data ACK is 8 bytes (else 4).
    pub const ACK64: u8 = 0x02;
    /// A: a data ACK is present.
    pub const ACK: u8 = 0x01;
}

/// DSS. Which fields are present follows from `flags` (A, M) and their widths
/// from a and m; a checksum is present when the length says so.
///
/// Compact (27 bytes, no padding): the data ACK and the mapping are kept as
/// big-endian bytes and read by [`Dss::data_ack`] and [`Dss::mapping`], so
/// that a decoded [`crate::TcpOption`] fits in 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dss {
    /// Low nibble of the subtype byte (reserved).
    pub reserved: u8,
    /// The flags byte as on the wire, reserved bits included. On emit the A
    /// and M bits follow the data ACK and the mapping.
    pub flags: u8,
    /// Which parts are present ([`HAS_ACK`], [`HAS_MAP`], [`HAS_CHECKSUM`]).
    parts: u8,
    /// The data ACK as a u64 (a 4-byte one: only the low 32 bits are on the
    /// wire); zero when absent.
    data_ack: [u8; 8],
    /// The mapping's DSN (a u64), SSN, data-level length and checksum;
    /// zero when absent.
    dsn: [u8; 8],
    ssn: [u8; 4],
    dll: [u8; 2],
    checksum: [u8; 2],
}

const HAS_ACK: u8 = 0x1;
const HAS_MAP: u8 = 0x2;
const HAS_CHECKSUM: u8 = 0x4;

/// The mapping part of a DSS (present with the M bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DssMapping {
    /// Data sequence number (only the low 32 bits on the wire unless m).
    pub dsn: u64,
    /// Subflow sequence number, relative to the subflow's initial sequence.
    pub ssn: u32,
    /// Data-level length.
    pub dll: u16,
    /// DSS checksum, when checksums were negotiated.
    pub checksum: Option<u16>,
}

/// Where a DSS's fields go, from its flags byte.
struct Layout {
    ack_len: usize,
    has_map: bool,
    dsn_len: usize,
    /// The length without a checksum.
    base: usize,
}

impl Layout {
    #[inline]
    fn of(flags: u8) -> Self {
        let ack_len = match (flags & flag::ACK != 0, flags & flag::ACK64 != 0) {
            (false, _) => 0,
            (true, false) => 4,
            (true, true) => 8,
        };
        let has_map = flags & flag::MAP != 0;
        let dsn_len = if flags & flag::DSN64 != 0 { 8 } else { 4 };
        let base = 4 + ack_len + if has_map { dsn_len + 6 } else { 0 };
        Layout {
            ack_len,
            has_map,
            dsn_len,
            base,
        }
    }
}

/// A 4- or 8-byte big-endian field at `at` as the 8 bytes of its u64,
/// with fixed-size loads (a copy of variable length is a memcpy call, and
/// this is the decode loop).
fn wide(option: &[u8], at: usize, width: usize) -> [u8; 8] {
    if width == 8 {
        be64(&option[at..at + 8]).to_be_bytes()
    } else {
        u64::from(be32(&option[at..at + 4])).to_be_bytes()
    }
}

impl Dss {
    /// Whether the length of `option` fits its flags.
    #[inline]
    pub(super) fn check(option: &[u8]) -> Result<(), MptcpError> {
        let len = option.len();
        let bad = |expected| super::bad_length(SUBTYPE_DSS, len, expected);
        let Some(&flags) = option.get(3) else {
            return Err(bad(Expected::AtLeast4));
        };
        let l = Layout::of(flags);
        if len == l.base || (l.has_map && len == l.base + 2) {
            Ok(())
        } else {
            Err(bad(expected_text(l.ack_len, l.has_map, l.dsn_len)))
        }
    }

    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        Self::check(option)?;
        Ok(Self::read(option))
    }

    /// Decodes an option [`Self::check`] accepted (fields that do not fit
    /// read as absent). Built in place by the option walk.
    #[inline]
    pub(super) fn read(option: &[u8]) -> Self {
        let flags = option.get(3).copied().unwrap_or(0);
        let l = Layout::of(flags);
        let mut dss = Dss {
            reserved: option[2] & 0x0f,
            flags,
            ..Dss::new()
        };
        if option.len() < l.base {
            return dss;
        }
        let mut at = 4;
        if l.ack_len > 0 {
            dss.parts |= HAS_ACK;
            dss.data_ack = wide(option, at, l.ack_len);
            at += l.ack_len;
        }
        if l.has_map {
            dss.parts |= HAS_MAP;
            dss.dsn = wide(option, at, l.dsn_len);
            at += l.dsn_len;
            dss.ssn = be32(&option[at..at + 4]).to_be_bytes();
            dss.dll = be16(&option[at + 4..at + 6]).to_be_bytes();
            if option.len() == l.base + 2 {
                dss.parts |= HAS_CHECKSUM;
                dss.checksum = be16(&option[at + 6..at + 8]).to_be_bytes();
            }
        }
        dss
    }

    /// A DSS from its parts (`flags` as on the wire; A and M follow the
    /// parts on emit).
    pub fn from_parts(
        reserved: u8,
        flags: u8,
        data_ack: Option<u64>,
        mapping: Option<DssMapping>,
    ) -> Self {
        let mut dss = Dss {
            reserved,
            flags,
            ..Dss::new()
        };
        dss.set_ack(data_ack);
        dss.set_mapping(mapping);
        dss
    }

    fn set_ack(&mut self, data_ack: Option<u64>) {
        self.parts &= !HAS_ACK;
        self.data_ack = [0; 8];
        if let Some(ack) = data_ack {
            self.parts |= HAS_ACK;
            self.data_ack = ack.to_be_bytes();
        }
    }

    fn set_mapping(&mut self, mapping: Option<DssMapping>) {
        self.parts &= !(HAS_MAP | HAS_CHECKSUM);
        (self.dsn, self.ssn, self.dll, self.checksum) = ([0; 8], [0; 4], [0; 2], [0; 2]);
        if let Some(m) = mapping {
            self.parts |= HAS_MAP;
            self.dsn = m.dsn.to_be_bytes();
            self.ssn = m.ssn.to_be_bytes();
            self.dll = m.dll.to_be_bytes();
            if let Some(c) = m.checksum {
                self.parts |= HAS_CHECKSUM;
                self.checksum = c.to_be_bytes();
            }
        }
    }

    /// Data ACK (a 4-byte one when the a bit is clear: then only the low 32
    /// bits are on the wire).
    pub fn data_ack(&self) -> Option<u64> {
        (self.parts & HAS_ACK != 0).then(|| be64(&self.data_ack))
    }

    /// The mapping (with the M bit).
    pub fn mapping(&self) -> Option<DssMapping> {
        (self.parts & HAS_MAP != 0).then(|| DssMapping {
            dsn: be64(&self.dsn),
            ssn: be32(&self.ssn),
            dll: be16(&self.dll),
            checksum: (self.parts & HAS_CHECKSUM != 0).then(|| be16(&self.checksum)),
        })
    }

    fn ack_len(&self) -> usize {
        match self.parts & HAS_ACK {
            0 => 0,
            _ if self.flags & flag::ACK64 != 0 => 8,
            _ => 4,
        }
    }
    fn dsn_len(&self) -> usize {
        if self.flags & flag::DSN64 != 0 {
            8
        } else {
            4
        }
    }

    pub fn buffer_len(&self) -> usize {
        let map = if self.parts & HAS_MAP != 0 {
            self.dsn_len() + 6 + if self.parts & HAS_CHECKSUM != 0 { 2 } else { 0 }
        } else {
            0
        };
        4 + self.ack_len() + map
    }

    /// The flags byte as emitted: A and M follow the fields.
    pub fn wire_flags(&self) -> u8 {
        let mut f = self.flags & !(flag::ACK | flag::MAP);
        if self.parts & HAS_ACK != 0 {
            f |= flag::ACK;
        }
        if self.parts & HAS_MAP != 0 {
            f |= flag::MAP;
        }
        f
    }

    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, out.len());
        out[2] = (SUBTYPE_DSS << 4) | (self.reserved & 0x0f);
        out[3] = self.wire_flags();
        let mut at = 4;
        let mut put = |field: &[u8], width: usize| {
            out[at..at + width].copy_from_slice(&field[field.len() - width..]);
            at += width;
        };
        if self.parts & HAS_ACK != 0 {
            put(&self.data_ack, self.ack_len());
        }
        if self.parts & HAS_MAP != 0 {
            put(&self.dsn, self.dsn_len());
            put(&self.ssn, 4);
            put(&self.dll, 2);
            if self.parts & HAS_CHECKSUM != 0 {
                put(&self.checksum, 2);
            }
        }
    }

    /// An empty DSS (4 bytes, no flags); add parts with the `with_` methods.
    pub fn new() -> Self {
        Dss {
            reserved: 0,
            flags: 0,
            parts: 0,
            data_ack: [0; 8],
            dsn: [0; 8],
            ssn: [0; 4],
            dll: [0; 2],
            checksum: [0; 2],
        }
    }
    /// Adds a data ACK, 8 bytes wide when `wide` (a bit), else 4.
    pub fn with_ack(mut self, data_ack: u64, wide: bool) -> Self {
        self.set_ack(Some(data_ack));
        self.flags = (self.flags | flag::ACK) & !flag::ACK64;
        if wide {
            self.flags |= flag::ACK64;
        }
        self
    }
    /// Adds a mapping, its DSN 8 bytes wide when `wide` (m bit), else 4.
    pub fn with_mapping(mut self, mapping: DssMapping, wide: bool) -> Self {
        self.set_mapping(Some(mapping));
        self.flags = (self.flags | flag::MAP) & !flag::DSN64;
        if wide {
            self.flags |= flag::DSN64;
        }
        self
    }
    /// Sets the DATA_FIN bit.
    pub fn with_data_fin(mut self) -> Self {
        self.flags |= flag::DATA_FIN;
        self
    }
    pub fn data_fin(&self) -> bool {
        self.flags & flag::DATA_FIN != 0
    }
    /// Width of the data ACK on the wire (0 when absent).
    pub fn data_ack_len(&self) -> usize {
        self.ack_len()
    }
    /// Width of the DSN on the wire (0 when there is no mapping).
    pub fn dsn_len_on_wire(&self) -> usize {
        if self.parts & HAS_MAP != 0 {
            self.dsn_len()
        } else {
            0
        }
    }
}

/// As the fields read: the data ACK and mapping decoded.
impl fmt::Debug for Dss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dss")
            .field("reserved", &self.reserved)
            .field("flags", &self.flags)
            .field("data_ack", &self.data_ack())
            .field("mapping", &self.mapping())
            .finish()
    }
}

impl Default for Dss {
    fn default() -> Self {
        Self::new()
    }
}

fn expected_text(ack_len: usize, has_map: bool, dsn_len: usize) -> Expected {
    match (ack_len, has_map, dsn_len) {
        (0, false, _) => Expected::Dss4,
        (4, false, _) => Expected::Dss8,
        (8, false, _) => Expected::Dss12,
        (0, true, 4) => Expected::Dss14,
        (0, true, _) => Expected::Dss18,
        (4, true, 4) => Expected::Dss18,
        (4, true, _) => Expected::Dss22,
        (_, true, 4) => Expected::Dss22,
        _ => Expected::Dss26,
    }
}
