//! ADD_ADDR (subtype 3) and REMOVE_ADDR (subtype 4): address signalling.
use super::{be16, be64, put_header, MptcpError, SUBTYPE_ADD_ADDR, SUBTYPE_REMOVE_ADDR};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// ADD_ADDR. The low nibble of the subtype byte says which form this is:
/// 4 or 6 is RFC 6824's IPVer (v0, no HMAC); anything else is RFC 8684's
/// (v1: bit 0 is the echo bit E, the other three are reserved). A v1 option
/// carries an 8-byte HMAC exactly when it is not an echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddAddr {
    /// Low nibble of the subtype byte as on the wire.
    pub flags: u8,
    pub addr_id: u8,
    pub addr: IpAddr,
    pub port: Option<u16>,
    /// v1 only: rightmost 64 bits of the HMAC (absent on an echo and in v0).
    pub hmac: Option<u64>,
}

/// The E (echo) bit of a v1 ADD_ADDR.
pub const ADD_ADDR_ECHO: u8 = 0x01;

impl AddAddr {
    pub(super) fn parse(option: &[u8]) -> Result<Self, MptcpError> {
        let len = option.len();
        let flags = option[2] & 0x0f;
        let bad = |expected| MptcpError::BadLength {
            subtype: "ADD_ADDR",
            len,
            expected,
        };
        // (address length, port present, hmac present)
        let (addr_len, port, hmac) = match flags {
            4 => match len {
                8 => (4, false, false),
                10 => (4, true, false),
                _ => return Err(bad("8 or 10 for v0 IPv4")),
            },
            6 => match len {
                20 => (16, false, false),
                22 => (16, true, false),
                _ => return Err(bad("20 or 22 for v0 IPv6")),
            },
            f if f & ADD_ADDR_ECHO != 0 => match len {
                8 => (4, false, false),
                10 => (4, true, false),
                20 => (16, false, false),
                22 => (16, true, false),
                _ => return Err(bad("8, 10, 20 or 22 for an echo")),
            },
            _ => match len {
                16 => (4, false, true),
                18 => (4, true, true),
                28 => (16, false, true),
                30 => (16, true, true),
                _ => return Err(bad("16, 18, 28 or 30 for v1")),
            },
        };
        if option.len() < 4 + addr_len {
            return Err(bad("longer"));
        }
        let a = &option[4..4 + addr_len];
        let addr = if addr_len == 4 {
            IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
        } else {
            let mut b = [0u8; 16];
            b.copy_from_slice(a);
            IpAddr::V6(Ipv6Addr::from(b))
        };
        let mut at = 4 + addr_len;
        let port = port.then(|| {
            at += 2;
            be16(&option[at - 2..at])
        });
        let hmac = hmac.then(|| be64(&option[at..at + 8]));
        Ok(AddAddr {
            flags,
            addr_id: option[3],
            addr,
            port,
            hmac,
        })
    }

    pub fn buffer_len(&self) -> usize {
        4 + match self.addr {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 16,
        } + if self.port.is_some() { 2 } else { 0 }
            + if self.hmac.is_some() { 8 } else { 0 }
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
        if let Some(p) = self.port {
            out[at..at + 2].copy_from_slice(&p.to_be_bytes());
            at += 2;
        }
        if let Some(h) = self.hmac {
            out[at..at + 8].copy_from_slice(&h.to_be_bytes());
        }
    }

    /// v1 announcement, with its (rightmost-64-bit) HMAC.
    pub fn v1(addr_id: u8, addr: IpAddr, port: Option<u16>, hmac: u64) -> Self {
        AddAddr {
            flags: 0,
            addr_id,
            addr,
            port,
            hmac: Some(hmac),
        }
    }
    /// v1 echo of a received announcement (E bit, no HMAC).
    pub fn v1_echo(addr_id: u8, addr: IpAddr, port: Option<u16>) -> Self {
        AddAddr {
            flags: ADD_ADDR_ECHO,
            addr_id,
            addr,
            port,
            hmac: None,
        }
    }
    /// v0 announcement: IPVer follows the address family.
    pub fn v0(addr_id: u8, addr: IpAddr, port: Option<u16>) -> Self {
        AddAddr {
            flags: if addr.is_ipv4() { 4 } else { 6 },
            addr_id,
            addr,
            port,
            hmac: None,
        }
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
            return Err(MptcpError::BadLength {
                subtype: "REMOVE_ADDR",
                len: option.len(),
                expected: "at least 4",
            });
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
