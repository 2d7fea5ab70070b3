//! ADD_ADDR (subtype 3) and REMOVE_ADDR (subtype 4): address signalling.
use super::{be16, be64, put_header, Expected, MptcpError, SUBTYPE_ADD_ADDR, SUBTYPE_REMOVE_ADDR};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ADD_ADDR. The low nibble of the subtype byte says which form this is:
/// 4 or 6 is RFC 6824's IPVer (v0, no HMAC); anything else is RFC 8684's
/// (v1: bit 0 is the echo bit E, the other three are reserved). A v1 option
/// carries an 8-byte HMAC exactly when it is not an echo.
///
/// Compact (30 bytes, no padding): the port and HMAC are kept as their wire
/// bytes and read by [`AddAddr::port`] and [`AddAddr::hmac`], so that a
/// decoded [`crate::TcpOption`] fits in 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddAddr {
    /// Low nibble of the subtype byte as on the wire.
    pub flags: u8,
    pub addr_id: u8,
    pub addr: IpAddr,
    /// Which of port and HMAC are present ([`HAS_PORT`], [`HAS_HMAC`]).
    parts: u8,
    /// Zero when absent.
    port: [u8; 2],
    /// Zero when absent.
    hmac: [u8; 8],
}

const HAS_PORT: u8 = 0x1;
const HAS_HMAC: u8 = 0x2;

/// The E (echo) bit of a v1 ADD_ADDR.
pub const ADD_ADDR_ECHO: u8 = 0x01;

impl AddAddr {
    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        let len = option.len();
        let flags = option[2] & 0x0f;
        let bad = |expected| super::bad_length(SUBTYPE_ADD_ADDR, len, expected);
        // (address length, port present, hmac present)
        let (addr_len, port, hmac) = match flags {
            4 => match len {
                8 => (4, false, false),
                10 => (4, true, false),
                _ => return Err(bad(Expected::AddAddrV0Ipv4)),
            },
            6 => match len {
                20 => (16, false, false),
                22 => (16, true, false),
                _ => return Err(bad(Expected::AddAddrV0Ipv6)),
            },
            f if f & ADD_ADDR_ECHO != 0 => match len {
                8 => (4, false, false),
                10 => (4, true, false),
                20 => (16, false, false),
                22 => (16, true, false),
                _ => return Err(bad(Expected::AddAddrEcho)),
            },
            _ => match len {
                16 => (4, false, true),
                18 => (4, true, true),
                28 => (16, false, true),
                30 => (16, true, true),
                _ => return Err(bad(Expected::AddAddrV1)),
            },
        };
        if option.len() < 4 + addr_len {
            return Err(bad(Expected::Longer));
        }
        let a = &option[4..4 + addr_len];
        let addr = if addr_len == 4 {
            IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        } else {
            let mut b = [0u8; 16];
            b.copy_from_slice(a);
            IpAddr::V6(Ipv6Addr::from(b))
        };
        let mut out = AddAddr {
            flags,
            addr_id: option[3],
            addr,
            parts: 0,
            port: [0; 2],
            hmac: [0; 8],
        };
        let mut at = 4 + addr_len;
        if port {
            out.parts |= HAS_PORT;
            out.port = [option[at], option[at + 1]];
            at += 2;
        }
        if hmac {
            out.parts |= HAS_HMAC;
            out.hmac.copy_from_slice(&option[at..at + 8]);
        }
        Ok(out)
    }

    /// An ADD_ADDR from its fields (`flags` the low nibble of the subtype
    /// byte, which says the form).
    pub fn from_parts(
        flags: u8,
        addr_id: u8,
        addr: IpAddr,
        port: Option<u16>,
        hmac: Option<u64>,
    ) -> Self {
        AddAddr {
            flags,
            addr_id,
            addr,
            parts: if port.is_some() { HAS_PORT } else { 0 }
                | if hmac.is_some() { HAS_HMAC } else { 0 },
            port: port.unwrap_or(0).to_be_bytes(),
            hmac: hmac.unwrap_or(0).to_be_bytes(),
        }
    }

    pub fn port(&self) -> Option<u16> {
        (self.parts & HAS_PORT != 0).then(|| be16(&self.port))
    }

    /// v1 only: rightmost 64 bits of the HMAC (absent on an echo and in v0).
    pub fn hmac(&self) -> Option<u64> {
        (self.parts & HAS_HMAC != 0).then(|| be64(&self.hmac))
    }

    pub fn buffer_len(&self) -> usize {
        4 + match self.addr {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 16,
        } + if self.parts & HAS_PORT != 0 { 2 } else { 0 }
            + if self.parts & HAS_HMAC != 0 { 8 } else { 0 }
    }

    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, out.len());
        out[2] = (SUBTYPE_ADD_ADDR << 4) | (self.flags & 0x0f);
        out[3] = self.addr_id;
        let mut at = 4;
        match self.addr {
            IpAddr::V4(a) => {
                out[4..8].copy_from_slice(&a.octets());
                at += 4;
            }
            IpAddr::V6(a) => {
                out[4..20].copy_from_slice(&a.octets());
                at += 16;
            }
        }
        if self.parts & HAS_PORT != 0 {
            out[at..at + 2].copy_from_slice(&self.port);
            at += 2;
        }
        if self.parts & HAS_HMAC != 0 {
            out[at..at + 8].copy_from_slice(&self.hmac);
        }
    }

    /// v1 announcement, with its (rightmost-64-bit) HMAC.
    pub fn v1(addr_id: u8, addr: IpAddr, port: Option<u16>, hmac: u64) -> Self {
        Self::from_parts(0, addr_id, addr, port, Some(hmac))
    }
    /// v1 echo of a received announcement (E bit, no HMAC).
    pub fn v1_echo(addr_id: u8, addr: IpAddr, port: Option<u16>) -> Self {
        Self::from_parts(ADD_ADDR_ECHO, addr_id, addr, port, None)
    }
    /// v0 announcement: IPVer follows the address family.
    pub fn v0(addr_id: u8, addr: IpAddr, port: Option<u16>) -> Self {
        Self::from_parts(
            if addr.is_ipv4() { 4 } else { 6 },
            addr_id,
            addr,
            port,
            None,
        )
    }
    /// RFC 6824 form (IPVer nibble 4 or 6).
    pub fn is_v0(&self) -> bool {
        matches!(self.flags, 4 | 6)
    }
    /// MPTCP version of the form: 0 or 1.
    pub fn version(&self) -> u8 {
        if self.is_v0() {
            0
        } else {
            1
        }
    }
    /// The echo bit (v1 only).
    pub fn echo(&self) -> bool {
        !self.is_v0() && self.flags & ADD_ADDR_ECHO != 0
    }
}

/// As the fields read: port and HMAC decoded.
impl fmt::Debug for AddAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddAddr")
            .field("flags", &self.flags)
            .field("addr_id", &self.addr_id)
            .field("addr", &self.addr)
            .field("port", &self.port())
            .field("hmac", &self.hmac())
            .finish()
    }
}

/// REMOVE_ADDR: one or more address ids, borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoveAddr<'a> {
    /// Low nibble of the subtype byte (reserved).
    pub reserved: u8,
    /// The address ids, at least one.
    pub addr_ids: &'a [u8],
}

impl<'a> RemoveAddr<'a> {
    pub(super) fn parse(option: &'a [u8]) -> Result<Self, MptcpError> {
        if option.len() < 4 {
            return Err(super::bad_length(
                SUBTYPE_REMOVE_ADDR,
                option.len(),
                Expected::AtLeast4,
            ));
        }
        Ok(RemoveAddr {
            reserved: option[2] & 0x0f,
            addr_ids: &option[3..],
        })
    }
    /// `addr_ids` must not be empty for the option to be valid on the wire.
    pub fn new(addr_ids: &'a [u8]) -> Self {
        RemoveAddr {
            reserved: 0,
            addr_ids,
        }
    }
    pub fn buffer_len(&self) -> usize {
        3 + self.addr_ids.len()
    }
    pub(super) fn emit(&self, out: &mut [u8]) {
        put_header(out, out.len());
        out[2] = (SUBTYPE_REMOVE_ADDR << 4) | (self.reserved & 0x0f);
        out[3..].copy_from_slice(self.addr_ids);
    }
}
