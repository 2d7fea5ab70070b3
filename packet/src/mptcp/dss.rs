//! DSS (subtype 2): data sequence signal - data ACK, mapping, DATA_FIN.
use super::{be16, be32, be64, put_header, MptcpError, SUBTYPE_DSS};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dss {
    /// Low nibble of the subtype byte (reserved).
    pub reserved: u8,
    /// The flags byte as on the wire, reserved bits included. On emit the A
    /// and M bits follow `data_ack` and `mapping`.
    pub flags: u8,
    /// Data ACK (a 4-byte one when the a bit is clear: then only the low 32
    /// bits are on the wire).
    pub data_ack: Option<u64>,
    pub mapping: Option<DssMapping>,
}

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

impl Dss {
    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        let len = option.len();
        let bad = |expected| MptcpError::BadLength {
            subtype: "DSS",
            len,
            expected,
        };
        if len < 4 {
            return Err(bad("at least 4"));
        }
        let flags = option[3];
        let ack_len = match (flags & flag::ACK != 0, flags & flag::ACK64 != 0) {
            (false, _) => 0,
            (true, false) => 4,
            (true, true) => 8,
        };
        let has_map = flags & flag::MAP != 0;
        let dsn_len = if flags & flag::DSN64 != 0 { 8 } else { 4 };
        let base = 4 + ack_len + if has_map { dsn_len + 6 } else { 0 };
        let checksum = if len == base {
            false
        } else if has_map && len == base + 2 {
            true
        } else {
            return Err(bad(expected_text(ack_len, has_map, dsn_len)));
        };
        let mut at = 4;
        let mut field = |width: usize| {
            let v = match width {
                2 => u64::from(be16(&option[at..])),
                4 => u64::from(be32(&option[at..])),
                _ => be64(&option[at..]),
            };
            at += width;
            v
        };
        let data_ack = (ack_len > 0).then(|| field(ack_len));
        let mapping = has_map.then(|| DssMapping {
            dsn: field(dsn_len),
            ssn: field(4) as u32,
            dll: field(2) as u16,
            checksum: checksum.then(|| field(2) as u16),
        });
        Ok(Dss {
            reserved: option[2] & 0x0f,
            flags,
            data_ack,
            mapping,
        })
    }

    fn ack_len(&self) -> usize {
        match self.data_ack {
            None => 0,
            Some(_) if self.flags & flag::ACK64 != 0 => 8,
            Some(_) => 4,
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
        4 + self.ack_len()
            + self.mapping.map_or(0, |m| {
                self.dsn_len() + 6 + if m.checksum.is_some() { 2 } else { 0 }
            })
    }

    /// The flags byte as emitted: A and M follow the fields.
    pub fn wire_flags(&self) -> u8 {
        let mut f = self.flags & !(flag::ACK | flag::MAP);
        if self.data_ack.is_some() {
            f |= flag::ACK;
        }
        if self.mapping.is_some() {
            f |= flag::MAP;
        }
        f
    }

    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, out.len());
        out[2] = (SUBTYPE_DSS << 4) | (self.reserved & 0x0f);
        out[3] = self.wire_flags();
        let mut at = 4;
        let mut put = |v: u64, width: usize| {
            out[at..at + width].copy_from_slice(&v.to_be_bytes()[8 - width..]);
            at += width;
        };
        if let Some(ack) = self.data_ack {
            put(ack, self.ack_len());
        }
        if let Some(m) = self.mapping {
            put(m.dsn, self.dsn_len());
            put(m.ssn.into(), 4);
            put(m.dll.into(), 2);
            if let Some(c) = m.checksum {
                put(c.into(), 2);
            }
        }
    }

    /// An empty DSS (4 bytes, no flags); add parts with the `with_` methods.
    pub fn new() -> Self {
        Dss {
            reserved: 0,
            flags: 0,
            data_ack: None,
            mapping: None,
        }
    }
    /// Adds a data ACK, 8 bytes wide when `wide` (a bit), else 4.
    pub fn with_ack(mut self, data_ack: u64, wide: bool) -> Self {
        self.data_ack = Some(data_ack);
        self.flags = (self.flags | flag::ACK) & !flag::ACK64;
        if wide {
            self.flags |= flag::ACK64;
        }
        self
    }
    /// Adds a mapping, its DSN 8 bytes wide when `wide` (m bit), else 4.
    pub fn with_mapping(mut self, mapping: DssMapping, wide: bool) -> Self {
        self.mapping = Some(mapping);
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
        if self.mapping.is_some() {
            self.dsn_len()
        } else {
            0
        }
    }
}

impl Default for Dss {
    fn default() -> Self {
        Self::new()
    }
}

fn expected_text(ack_len: usize, has_map: bool, dsn_len: usize) -> &'static str {
    match (ack_len, has_map, dsn_len) {
        (0, false, _) => "4 for these flags",
        (4, false, _) => "8 for these flags",
        (8, false, _) => "12 for these flags",
        (0, true, 4) => "14 or 16 for these flags",
        (0, true, _) => "18 or 20 for these flags",
        (4, true, 4) => "18 or 20 for these flags",
        (4, true, _) => "22 or 24 for these flags",
        (_, true, 4) => "22 or 24 for these flags",
        _ => "26 or 28 for these flags",
    }
}
