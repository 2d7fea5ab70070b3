//! tcpdump's text for MPTCP options (its current development branch), as it
//! appears inside `options [...]`: `mptcp 12 capable v1 flags [H] {0x..}`.
use super::simple::{tcprst_reason_name, TCPRST_FLAGS};
use super::{
    AddAddr, Dss, JoinBody, MpCapable, MpJoin, MptcpError, MptcpOption, SUBTYPE_MP_CAPABLE,
};
use std::fmt::{self, Display, Formatter, Write};

/// tcpdump's short names, by subtype number (`unknown` past MP_TCPRST).
pub fn tcpdump_name(subtype: u8) -> &'static str {
    match subtype {
        0 => "capable",
        1 => "join",
        2 => "dss",
        3 => "add-addr",
        4 => "rem-addr",
        5 => "prio",
        6 => "fail",
        7 => "fast-close",
        8 => "tcprst",
        _ => "unknown",
    }
}

/// Letters of the set bits, or `none` (tcpdump's `bittok2str_nosep`).
fn letters(f: &mut Formatter<'_>, byte: u8, table: &[(u8, char)]) -> fmt::Result {
    let mut any = false;
    for &(bit, c) in table {
        if byte & bit != 0 {
            f.write_char(c)?;
            any = true;
        }
    }
    if !any {
        f.write_str("none")?;
    }
    Ok(())
}

const CAPABLE_FLAGS: [(u8, char); 8] = [
    (0x80, 'A'),
    (0x40, 'B'),
    (0x20, 'C'),
    (0x10, 'D'),
    (0x08, 'E'),
    (0x04, 'F'),
    (0x02, 'G'),
    (0x01, 'H'),
];

fn capable(f: &mut Formatter<'_>, c: &MpCapable) -> fmt::Result {
    if c.version > 1 {
        return write!(f, " Unknown Version ({})", c.version);
    }
    write!(f, " v{} flags [", c.version)?;
    letters(f, c.flags, &CAPABLE_FLAGS)?;
    f.write_char(']')?;
    let csum = c.checksum_required();
    if csum {
        f.write_str(" csum")?;
    }
    let len = c.wire_len();
    if let Some(key) = c.sender_key() {
        write!(f, " {{{key:#x}")?;
        if let Some(key) = c.receiver_key() {
            write!(f, ",{key:#x}")?;
        }
        // tcpdump shows the data-level length of a 22-byte option only when
        // checksums are off (22 bytes with A set is a malformed 24).
        if let Some(dl) = c.data_len().filter(|_| (len == 22 && !csum) || len == 24) {
            write!(f, ",data_len={dl}")?;
        }
        f.write_char('}')?;
    }
    Ok(())
}

fn join(f: &mut Formatter<'_>, j: &MpJoin) -> fmt::Result {
    if !j.is_ack() {
        if j.backup() {
            f.write_str(" backup")?;
        }
        write!(f, " id {}", j.addr_id)?;
    }
    match j.body() {
        JoinBody::Syn { token, nonce } => write!(f, " token {token:#x} nonce {nonce:#x}"),
        JoinBody::SynAck { hmac, nonce } => write!(f, " hmac {hmac:#x} nonce {nonce:#x}"),
        JoinBody::Ack { hmac } => {
            f.write_str(" hmac 0x")?;
            hmac.iter().try_for_each(|b| write!(f, "{b:02x}"))
        }
    }
}

fn dss(f: &mut Formatter<'_>, d: &Dss) -> fmt::Result {
    if d.data_fin() {
        f.write_str(" fin")?;
    }
    if let Some(ack) = d.data_ack() {
        write!(f, " ack {ack}")?;
    }
    if let Some(m) = d.mapping() {
        write!(f, " seq {} subseq {} len {}", m.dsn, m.ssn, m.dll)?;
        if let Some(c) = m.checksum {
            write!(f, " csum {c:#x}")?;
        }
    }
    Ok(())
}

fn add_addr(f: &mut Formatter<'_>, a: &AddAddr) -> fmt::Result {
    let form = match a.flags {
        6 => "v0-ip6",
        4 => "v0-ip4",
        1 => "v1-echo",
        0 => "v1",
        _ => "[bad version/echo]",
    };
    write!(f, " {form} id {} {}", a.addr_id, a.addr)?;
    if let Some(p) = a.port() {
        write!(f, ":{p}")?;
    }
    if let Some(h) = a.hmac() {
        write!(f, " hmac {h:#x}")?;
    }
    Ok(())
}

/// An MP_CAPABLE that Linux rejects for its segment's flags but tcpdump
/// still decodes: tcpdump checks only "4 or 12 bytes with SYN set" or "20
/// or 22 bytes on an ACK", so a 4-byte (keyless) option on a SYN/ACK, as a
/// middlebox reflecting a v1 SYN sends, prints as `mptcp 4 capable v1 ...`.
fn tcpdump_decodes_anyway(error: &MptcpError, raw: &[u8]) -> Option<MpCapable> {
    let MptcpError::FlagMismatch {
        subtype: SUBTYPE_MP_CAPABLE,
        len,
        flags,
        ..
    } = *error
    else {
        return None;
    };
    let len = usize::from(len);
    let accepted = (matches!(len, 4 | 12) && flags.syn())
        || (matches!(len, 20 | 22) && flags.ack() && !flags.syn());
    if !accepted || raw.len() != len {
        return None;
    }
    super::capable::parse(raw).ok().filter(|c| c.version <= 1)
}

impl MptcpOption<'_> {
    /// Whether tcpdump prints this option as `[bad opt]` (and stops the
    /// option list there): invalid, and not one it decodes anyway.
    pub fn tcpdump_bad_opt(&self) -> bool {
        match self {
            MptcpOption::Invalid { error, raw } => tcpdump_decodes_anyway(error, raw).is_none(),
            _ => false,
        }
    }
}

/// `mptcp LEN NAME ...` exactly as tcpdump prints it. An invalid option
/// prints as tcpdump does (`mptcp 3 dss[bad opt]`); the alternate form
/// (`{:#}`) appends the reason: `mptcp 3 dss[bad opt] (DSS option of ...)`.
impl Display for MptcpOption<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let len = self.buffer_len();
        if let MptcpOption::Invalid { error, raw } = self {
            if let Some(c) = tcpdump_decodes_anyway(error, raw) {
                write!(f, "mptcp {len} {}", tcpdump_name(SUBTYPE_MP_CAPABLE))?;
                capable(f, &c)?;
                if f.alternate() {
                    write!(f, " ({error})")?;
                }
                return Ok(());
            }
            f.write_str("mptcp")?;
            if let Some(&sub) = raw.get(2) {
                write!(f, " {len} {}", tcpdump_name(sub >> 4))?;
            }
            f.write_str("[bad opt]")?;
            if f.alternate() {
                write!(f, " ({error})")?;
            }
            return Ok(());
        }
        let name = tcpdump_name(self.subtype().unwrap_or(0xf));
        write!(f, "mptcp {len} {name}")?;
        match self {
            MptcpOption::MpCapable(c) => capable(f, c),
            MptcpOption::MpJoin(j) => join(f, j),
            MptcpOption::Dss(d) => dss(f, d),
            MptcpOption::AddAddr(a) => add_addr(f, a),
            MptcpOption::RemoveAddr(r) => {
                f.write_str(" id")?;
                r.addr_ids.iter().try_for_each(|id| write!(f, " {id}"))
            }
            MptcpOption::MpPrio(p) => {
                f.write_str(if p.backup() { " backup" } else { " non-backup" })?;
                match p.addr_id {
                    Some(id) => write!(f, " id {id}"),
                    None => Ok(()),
                }
            }
            MptcpOption::MpFail(m) => write!(f, " seq {}", m.dsn),
            MptcpOption::MpFastclose(m) => write!(f, " key {:#x}", m.receiver_key),
            MptcpOption::MpTcpRst(r) => {
                f.write_str(" flags [")?;
                letters(f, r.flags, &TCPRST_FLAGS)?;
                f.write_str("] reason ")?;
                match tcprst_reason_name(r.reason) {
                    Some(n) => f.write_str(n),
                    None => write!(f, "unknown ({:#04x})", r.reason),
                }
            }
            MptcpOption::Unknown { .. } => Ok(()),
            MptcpOption::Invalid { .. } => Ok(()),
        }
    }
}
