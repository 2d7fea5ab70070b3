//! The TCP option area, decoded into a list in wire order.
//!
//! Unlike most decoders (smoltcp, etherparse) this one never drops, merges or
//! reorders anything and never stops at a kind it does not know: a middlebox
//! that rewrote one byte must show up in a diff, so every byte of the area is
//! kept and [`OptionList::emit`] re-creates the area byte for byte.
use crate::error::{OptionError, OptionErrorKind};
use crate::flags::TcpFlags;
use crate::mptcp::MptcpOption;
use std::fmt;

pub const KIND_EOL: u8 = 0;
pub const KIND_NOP: u8 = 1;
pub const KIND_MSS: u8 = 2;
pub const KIND_WSCALE: u8 = 3;
pub const KIND_SACK_PERMITTED: u8 = 4;
pub const KIND_SACK: u8 = 5;
pub const KIND_TIMESTAMPS: u8 = 8;
pub const KIND_MD5: u8 = 19;
pub const KIND_MPTCP: u8 = 30;
pub const KIND_FASTOPEN: u8 = 34;

/// One TCP option as it stood on the wire. Borrowed from the packet buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0).
    Eol,
    /// Bytes after an EOL up to the end of the area (normally zeros, but a
    /// middlebox may leave anything there, so they are kept).
    Padding(&'a [u8]),
    /// No-operation (kind 1).
    Nop,
    /// Maximum segment size (kind 2).
    Mss(u16),
    /// Window scale shift count (kind 3).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// SACK blocks (kind 5): the raw 8-byte left/right edge pairs.
    Sack(SackBlocks<'a>),
    /// Timestamps (kind 8).
    Timestamps { tsval: u32, tsecr: u32 },
    /// TCP MD5 signature (kind 19): the 16-byte digest.
    Md5(&'a [u8]),
    /// TCP Fast Open cookie (kind 34): empty for a cookie request.
    FastOpen(&'a [u8]),
    /// Multipath TCP (kind 30), decoded (or marked invalid) by [`crate::mptcp`].
    Mptcp(MptcpOption<'a>),
    /// A known kind whose length does not fit it (an MSS of length 3, say).
    /// Kept raw: `data` is everything after the kind and length bytes.
    Malformed { kind: u8, data: &'a [u8] },
    /// A kind this decoder does not know, kept raw (data after kind and length).
    Unknown { kind: u8, data: &'a [u8] },
}

// A decoded option is built and moved in every step of the option walk:
// kept at 32 bytes (the compact MPTCP subtypes make room for it), so that
// it travels in registers and half a cache line rather than 64 bytes of
// stores and reloads per option.
const _: () = assert!(std::mem::size_of::<TcpOption<'static>>() <= 32);

/// The payload of a SACK option: a whole number of 8-byte blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SackBlocks<'a>(&'a [u8]);

impl<'a> SackBlocks<'a> {
    /// `raw` must be a non-empty multiple of 8 bytes (checked by the parser).
    pub fn new(raw: &'a [u8]) -> Option<Self> {
        (!raw.is_empty() && raw.len() % 8 == 0).then_some(SackBlocks(raw))
    }
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
    /// `(left edge, right edge)` pairs in wire order.
    pub fn blocks(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.0
            .chunks_exact(8)
            .map(|b| (be32(&b[0..4]), be32(&b[4..8])))
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl<'a> TcpOption<'a> {
    /// The kind byte (`None` for the padding after an EOL, which has none).
    pub fn kind(&self) -> Option<u8> {
        Some(match self {
            TcpOption::Eol => KIND_EOL,
            TcpOption::Padding(_) => return None,
            TcpOption::Nop => KIND_NOP,
            TcpOption::Mss(_) => KIND_MSS,
            TcpOption::WindowScale(_) => KIND_WSCALE,
            TcpOption::SackPermitted => KIND_SACK_PERMITTED,
            TcpOption::Sack(_) => KIND_SACK,
            TcpOption::Timestamps { .. } => KIND_TIMESTAMPS,
            TcpOption::Md5(_) => KIND_MD5,
            TcpOption::FastOpen(_) => KIND_FASTOPEN,
            TcpOption::Mptcp(_) => KIND_MPTCP,
            TcpOption::Malformed { kind, .. } | TcpOption::Unknown { kind, .. } => *kind,
        })
    }

    /// Bytes this option takes on the wire, kind and length included.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::Eol | TcpOption::Nop => 1,
            TcpOption::Padding(p) => p.len(),
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(s) => 2 + s.0.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Md5(d) | TcpOption::FastOpen(d) => 2 + d.len(),
            TcpOption::Mptcp(m) => m.buffer_len(),
            TcpOption::Malformed { data, .. } | TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf` and returns its length.
    ///
    /// # Panics
    /// When `buf` is shorter than [`Self::buffer_len`] (a caller bug, as in
    /// smoltcp's emit), or when a raw payload is too long for a length byte.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let out = &mut buf[..len];
        let mut tlv = |kind: u8, body: &[u8]| {
            out[0] = kind;
            out[1] = u8::try_from(body.len() + 2).expect("TCP option longer than 255 bytes");
            out[2..].copy_from_slice(body);
        };
        match self {
            TcpOption::Eol => out[0] = KIND_EOL,
            TcpOption::Nop => out[0] = KIND_NOP,
            TcpOption::Padding(p) => out.copy_from_slice(p),
            TcpOption::Mss(v) => tlv(KIND_MSS, &v.to_be_bytes()),
            TcpOption::WindowScale(v) => tlv(KIND_WSCALE, &[*v]),
            TcpOption::SackPermitted => tlv(KIND_SACK_PERMITTED, &[]),
            TcpOption::Sack(s) => tlv(KIND_SACK, s.0),
            TcpOption::Timestamps { tsval, tsecr } => {
                let mut body = [0u8; 8];
                body[..4].copy_from_slice(&tsval.to_be_bytes());
                body[4..].copy_from_slice(&tsecr.to_be_bytes());
                tlv(KIND_TIMESTAMPS, &body)
            }
            TcpOption::Md5(d) => tlv(KIND_MD5, d),
            TcpOption::FastOpen(d) => tlv(KIND_FASTOPEN, d),
            TcpOption::Mptcp(m) => {
                m.emit(out);
            }
            TcpOption::Malformed { kind, data } | TcpOption::Unknown { kind, data } => {
                tlv(*kind, data)
            }
        }
        len
    }
}

/// Decodes one option whose kind/length framing is already known to be sound.
/// `option` is the whole option, kind and length bytes included.
// Inlined into the iterator so the common options are built in registers
// (a call returning the 64-byte option through memory cost a store-forwarding
// stall per option in the decode benchmark).
#[inline(always)]
fn decode_framed<'a>(option: &'a [u8], flags: Option<TcpFlags>) -> TcpOption<'a> {
    let kind = option[0];
    let data = &option[2..];
    let malformed = TcpOption::Malformed { kind, data };
    match kind {
        KIND_MSS if data.len() == 2 => TcpOption::Mss(be16(data)),
        KIND_WSCALE if data.len() == 1 => TcpOption::WindowScale(data[0]),
        KIND_SACK_PERMITTED if data.is_empty() => TcpOption::SackPermitted,
        KIND_SACK => SackBlocks::new(data).map_or(malformed, TcpOption::Sack),
        KIND_TIMESTAMPS if data.len() == 8 => TcpOption::Timestamps {
            tsval: be32(&data[..4]),
            tsecr: be32(&data[4..]),
        },
        KIND_MD5 if data.len() == 16 => TcpOption::Md5(data),
        KIND_FASTOPEN if data.len() <= 16 => TcpOption::FastOpen(data),
        KIND_MPTCP => TcpOption::Mptcp(MptcpOption::parse(option, flags)),
        KIND_MSS | KIND_WSCALE | KIND_SACK_PERMITTED | KIND_TIMESTAMPS | KIND_MD5
        | KIND_FASTOPEN => malformed,
        _ => TcpOption::Unknown { kind, data },
    }
}

/// Walks an option area without allocating: yields each option in wire
/// order; after a framing error it yields that error once and stops, and
/// [`OptionsIter::rest`] holds the bytes it could not frame.
#[derive(Debug, Clone)]
pub struct OptionsIter<'a> {
    area: &'a [u8],
    pos: usize,
    flags: Option<TcpFlags>,
    after_eol: bool,
    done: bool,
}

impl<'a> OptionsIter<'a> {
    /// `flags` are the TCP flags of the segment, used to validate MPTCP
    /// options the way Linux does; `None` decodes them without that check.
    pub fn new(area: &'a [u8], flags: Option<TcpFlags>) -> Self {
        OptionsIter {
            area,
            pos: 0,
            flags,
            after_eol: false,
            done: false,
        }
    }

    /// Offset of the next option from the start of the area.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The bytes not yet decoded (after an error: the part that could not be
    /// framed, starting at the offending kind byte).
    pub fn rest(&self) -> &'a [u8] {
        &self.area[self.pos..]
    }
}

impl<'a> Iterator for OptionsIter<'a> {
    type Item = Result<TcpOption<'a>, OptionError>;

    // Inlined into the caller's loop, so the decoded option is built where
    // it is used instead of returned through memory (always: with a second
    // caller in a crate, LLVM stopped inlining it and the walk took half as
    // long again).
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.area.len() {
            return None;
        }
        if self.after_eol {
            self.done = true;
            let padding = &self.area[self.pos..];
            self.pos = self.area.len();
            return Some(Ok(TcpOption::Padding(padding)));
        }
        let rest = &self.area[self.pos..];
        let kind = rest[0];
        match kind {
            KIND_EOL => {
                // Everything after an EOL is padding: yielded next, once.
                self.pos += 1;
                self.after_eol = true;
                Some(Ok(TcpOption::Eol))
            }
            KIND_NOP => {
                self.pos += 1;
                Some(Ok(TcpOption::Nop))
            }
            _ => {
                let error = |what| {
                    Some(Err(OptionError {
                        kind,
                        offset: u32::try_from(self.pos).unwrap_or(u32::MAX),
                        what,
                    }))
                };
                let past_end = |need: usize| OptionErrorKind::PastEnd {
                    have: u32::try_from(rest.len()).unwrap_or(u32::MAX),
                    need: need as u32,
                };
                let Some(&len) = rest.get(1) else {
                    self.done = true;
                    return error(past_end(2));
                };
                if len < 2 {
                    self.done = true;
                    return error(OptionErrorKind::LengthTooSmall { len });
                }
                if usize::from(len) > rest.len() {
                    self.done = true;
                    return error(past_end(usize::from(len)));
                }
                self.pos += usize::from(len);
                Some(Ok(decode_framed(&rest[..usize::from(len)], self.flags)))
            }
        }
    }
}

/// A whole option area: the options in wire order, and, when the walk hit a
/// framing error, that error and the raw bytes from the failing option on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptionList<'a> {
    pub options: Vec<TcpOption<'a>>,
    pub error: Option<OptionError>,
    /// Bytes from the offending option to the end of the area (empty when
    /// there was no error). Kept so that emit stays lossless.
    pub rest: &'a [u8],
}

impl<'a> OptionList<'a> {
    /// Decodes an option area. Never fails: a framing error is recorded in
    /// `error` and everything before it is still in `options`.
    pub fn parse(area: &'a [u8], flags: Option<TcpFlags>) -> Self {
        // Room for every option of a common area in one allocation (each
        // option takes at least a byte; SYNs carry about six), instead of
        // growing from empty: analyze decodes one list per packet.
        let mut list = OptionList {
            options: Vec::with_capacity(area.len().min(12)),
            ..OptionList::default()
        };
        let mut iter = OptionsIter::new(area, flags);
        while let Some(item) = iter.next() {
            match item {
                Ok(option) => list.options.push(option),
                Err(e) => {
                    list.error = Some(e);
                    list.rest = iter.rest();
                    break;
                }
            }
        }
        list
    }

    /// Bytes the area takes when emitted.
    pub fn buffer_len(&self) -> usize {
        self.options
            .iter()
            .map(TcpOption::buffer_len)
            .sum::<usize>()
            + self.rest.len()
    }

    /// Writes the area at the start of `buf`; returns its length.
    ///
    /// # Panics
    /// When `buf` is shorter than [`Self::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let mut at = 0;
        for option in &self.options {
            at += option.emit(&mut buf[at..]);
        }
        buf[at..at + self.rest.len()].copy_from_slice(self.rest);
        at + self.rest.len()
    }

    /// The emitted area as a vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; self.buffer_len()];
        self.emit(&mut out);
        out
    }

    /// The MPTCP options of the list, in wire order.
    pub fn mptcp(&self) -> impl Iterator<Item = &MptcpOption<'a>> {
        self.options.iter().filter_map(|o| match o {
            TcpOption::Mptcp(m) => Some(m),
            _ => None,
        })
    }
}

/// tcpdump's name for an option kind (`unknown-KIND` for kinds it has none for).
pub fn tcpdump_kind_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        0 => "eol",
        1 => "nop",
        2 => "mss",
        3 => "wscale",
        4 => "sackOK",
        5 => "sack",
        6 => "echo",
        7 => "echoreply",
        8 => "TS",
        11 => "cc",
        12 => "ccnew",
        13 => "",
        19 => "md5",
        20 => "scps",
        28 => "uto",
        29 => "tcp-ao",
        30 => "mptcp",
        34 => "tfo",
        254 => "exp",
        _ => return None,
    })
}

fn write_name(f: &mut fmt::Formatter<'_>, kind: u8) -> fmt::Result {
    match tcpdump_kind_name(kind) {
        Some(n) => f.write_str(n),
        None => write!(f, "unknown-{kind}"),
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    data.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// The kinds without a variant of their own that tcpdump decodes, and
/// whether `data` has the length tcpdump expects for them.
fn tcpdump_fixed_kind_ok(kind: u8, data: &[u8]) -> bool {
    match kind {
        6 | 7 | 11 | 12 | 13 => data.len() == 4,
        20 | 28 => data.len() == 2,
        29 => data.len() >= 2,
        254 => data.len() >= 2,
        _ => true,
    }
}

fn write_tfo_cookie(f: &mut fmt::Formatter<'_>, cookie: &[u8]) -> fmt::Result {
    if cookie.is_empty() {
        f.write_str(" cookiereq")
    } else if cookie.len() % 2 != 0 || cookie.len() < 4 || cookie.len() > 16 {
        f.write_str(" invalid")
    } else {
        f.write_str(" cookie ")?;
        write_hex(f, cookie)
    }
}

impl TcpOption<'_> {
    /// Whether tcpdump stops printing the option list after this option: an
    /// EOL, or an option it reports as `[bad opt]`.
    pub fn ends_tcpdump_list(&self) -> bool {
        match self {
            TcpOption::Eol | TcpOption::Malformed { .. } => true,
            TcpOption::Mptcp(m) => m.tcpdump_bad_opt(),
            TcpOption::Unknown { kind, data } => !tcpdump_fixed_kind_ok(*kind, data),
            _ => false,
        }
    }
}

/// The text tcpdump prints for the option inside `options [...]`: `mss 1460`,
/// `sackOK`, `TS val 1 ecr 2`, `nop`, `wscale 7`, `eol`, `sack 1 {l:r}`,
/// `mptcp 12 capable v1 flags [H] {0x..}`, `unknown-253 0xabcd`.
///
/// Differences from tcpdump, by design: SACK edges are printed as on the
/// wire (tcpdump makes them relative to the connection it tracked); a known
/// kind with a wrong length prints as `NAME[bad opt]` (tcpdump decodes it
/// anyway, reading into the next option); the padding after an EOL prints
/// nothing (tcpdump stops at the EOL). Alternate form (`{:#}`) adds the
/// reason after an invalid MPTCP option.
impl fmt::Display for TcpOption<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOption::Eol => f.write_str("eol"),
            TcpOption::Padding(_) => Ok(()),
            TcpOption::Nop => f.write_str("nop"),
            TcpOption::Mss(v) => write!(f, "mss {v}"),
            TcpOption::WindowScale(v) => write!(f, "wscale {v}"),
            TcpOption::SackPermitted => f.write_str("sackOK"),
            TcpOption::Sack(s) => {
                write!(f, "sack {} ", s.0.len() / 8)?;
                s.blocks().try_for_each(|(l, r)| write!(f, "{{{l}:{r}}}"))
            }
            TcpOption::Timestamps { tsval, tsecr } => write!(f, "TS val {tsval} ecr {tsecr}"),
            TcpOption::Md5(d) => {
                f.write_str("md5 shared secret not supplied with -M, can't check - ")?;
                write_hex(f, d)
            }
            TcpOption::FastOpen(c) => {
                f.write_str("tfo ")?;
                write_tfo_cookie(f, c)
            }
            TcpOption::Mptcp(m) => fmt::Display::fmt(m, f),
            TcpOption::Malformed { kind, .. } => {
                write_name(f, *kind)?;
                f.write_str("[bad opt]")
            }
            TcpOption::Unknown { kind, data } => {
                write_name(f, *kind)?;
                if !tcpdump_fixed_kind_ok(*kind, data) {
                    return f.write_str("[bad opt]");
                }
                match kind {
                    6 | 7 | 11 | 12 | 13 => write!(f, " {}", be32(data)),
                    20 => write!(f, " cap {:02x} id {}", data[0], data[1]),
                    28 => {
                        let v = be16(data);
                        let secs = if v & 1 != 0 {
                            (v >> 1) as u32 * 60
                        } else {
                            (v >> 1) as u32
                        };
                        write!(f, " {v:#x} {secs}")
                    }
                    29 => {
                        write!(f, " keyid {} rnextkeyid {}", data[0], data[1])?;
                        if data.len() > 2 {
                            f.write_str(" mac 0x")?;
                            write_hex(f, &data[2..])?;
                        }
                        Ok(())
                    }
                    254 => {
                        let magic = be16(data);
                        if magic == 0xf989 {
                            f.write_str("-tfo")?;
                            write_tfo_cookie(f, &data[2..])
                        } else {
                            write!(f, "-{magic:04x}")
                        }
                    }
                    _ => {
                        if !data.is_empty() {
                            f.write_str(" 0x")?;
                            write_hex(f, data)?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

/// The whole `options [...]` content as tcpdump prints it: options joined by
/// `,`, stopping after an EOL or a `[bad opt]`; a framing error prints
/// `[bad opt]` in place of the option it hit.
impl fmt::Display for OptionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for option in &self.options {
            if matches!(option, TcpOption::Padding(_)) {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            fmt::Display::fmt(option, f)?;
            if option.ends_tcpdump_list() {
                return Ok(());
            }
        }
        if self.error.is_some() {
            if !first {
                f.write_str(",")?;
            }
            f.write_str("[bad opt]")?;
        }
        Ok(())
    }
}

impl<'a> OptionList<'a> {
    /// tcpdump's text of each option, in order, as [`fmt::Display`] of the
    /// list joins them (padding skipped, stopping where tcpdump stops).
    pub fn tcpdump_items(&self) -> Vec<String> {
        let mut out = Vec::new();
        for option in &self.options {
            if matches!(option, TcpOption::Padding(_)) {
                continue;
            }
            out.push(option.to_string());
            if option.ends_tcpdump_list() {
                return out;
            }
        }
        if self.error.is_some() {
            out.push("[bad opt]".to_string());
        }
        out
    }
}
