//! The JSON of options serialized straight from the decoded options: the
//! same bytes as serializing [`super::option_json`] /
//! [`super::option_list_json`], without building an [`super::OptionJson`]
//! (its `String`s, its boxed `mptcp` object, its hex copies) per option.
//! For `analyze --json`, which writes one packet line per frame. The tests
//! compare both forms on every capture at hand and on arbitrary bytes.
use super::known_name;
use crate::mptcp::{JoinBody, MptcpOption};
use crate::tcp_opt::{OptionList, TcpOption};
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::Serialize;
use std::fmt::{self, Display, Formatter, Write as _};

/// A whole option list, as [`super::option_list_json`] serializes.
pub struct OptionListView<'o, 'a>(pub &'o OptionList<'a>);

/// One option, as [`super::option_json`] serializes.
pub struct OptionView<'o, 'a>(pub &'o TcpOption<'a>);

/// Bytes as lowercase hex digits (a JSON string).
struct Hex<'b>(&'b [u8]);

impl Display for Hex<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for &b in self.0 {
            f.write_char(char::from(DIGITS[usize::from(b >> 4)]))?;
            f.write_char(char::from(DIGITS[usize::from(b & 0x0f)]))?;
        }
        Ok(())
    }
}

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A number as `width` hex digits (keys, tokens, nonces, HMACs).
struct HexNum {
    value: u64,
    width: usize,
}

impl Serialize for HexNum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:0w$x}", self.value, w = self.width))
    }
}

fn key(k: u64) -> HexNum {
    HexNum {
        value: k,
        width: 16,
    }
}

fn hex32(v: u32) -> HexNum {
    HexNum {
        value: u64::from(v),
        width: 8,
    }
}

/// Any `Display` as a JSON string.
struct Text<T>(T);

impl<T: Display> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// SACK blocks as `[[left, right], ...]`.
struct Blocks<'b>(crate::tcp_opt::SackBlocks<'b>);

impl Serialize for Blocks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.as_bytes().len() / 8))?;
        for (l, r) in self.0.blocks() {
            seq.serialize_element(&[l, r])?;
        }
        seq.end()
    }
}

/// The raw bytes of an option with a length that does not fit its kind,
/// kind and length bytes included.
struct Malformed<'b> {
    kind: u8,
    data: &'b [u8],
}

impl Serialize for Malformed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!(
            "{:02x}{:02x}{}",
            self.kind,
            (self.data.len() + 2) as u8,
            Hex(self.data)
        ))
    }
}

impl Serialize for OptionListView<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let list = self.0;
        let extra = usize::from(list.error.is_some());
        let mut seq = s.serialize_seq(Some(list.options.len() + extra))?;
        for o in &list.options {
            seq.serialize_element(&OptionView(o))?;
        }
        if let Some(e) = &list.error {
            seq.serialize_element(&Unframed {
                kind: e.kind,
                error: Text(e),
                offset: e.offset as usize,
                hex: Hex(list.rest),
            })?;
        }
        seq.end()
    }
}

/// The bytes after a framing error (the fields of [`super::UnframedJson`]).
#[derive(Serialize)]
#[serde(bound(serialize = "E: Display"))]
struct Unframed<'b, E: Display> {
    kind: u8,
    error: Text<E>,
    offset: usize,
    hex: Hex<'b>,
}

impl Serialize for OptionView<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let opt = self.0;
        let mut o = s.serialize_struct("OptionJson", 5)?;
        o.serialize_field("kind", &opt.kind())?;
        o.serialize_field("len", &opt.buffer_len())?;
        match opt {
            TcpOption::Eol => o.serialize_field("name", "eol")?,
            TcpOption::Padding(p) => {
                o.serialize_field("name", "padding")?;
                o.serialize_field("hex", &Hex(p))?;
            }
            TcpOption::Nop => o.serialize_field("name", "nop")?,
            TcpOption::Mss(v) => {
                o.serialize_field("name", "mss")?;
                o.serialize_field("value", v)?;
            }
            TcpOption::WindowScale(v) => {
                o.serialize_field("name", "window_scale")?;
                o.serialize_field("shift", v)?;
            }
            TcpOption::SackPermitted => o.serialize_field("name", "sack_permitted")?,
            TcpOption::Sack(b) => {
                o.serialize_field("name", "sack")?;
                o.serialize_field("blocks", &Blocks(*b))?;
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                o.serialize_field("name", "timestamps")?;
                o.serialize_field("tsval", tsval)?;
                o.serialize_field("tsecr", tsecr)?;
            }
            TcpOption::Md5(d) => {
                o.serialize_field("name", "md5")?;
                o.serialize_field("digest", &Hex(d))?;
            }
            TcpOption::FastOpen(c) => {
                o.serialize_field("name", "fast_open")?;
                o.serialize_field("cookie", &Hex(c))?;
            }
            TcpOption::Malformed { kind, data } => {
                o.serialize_field("name", known_name(*kind))?;
                let error =
                    format_args!("length {} does not fit option kind {kind}", data.len() + 2);
                o.serialize_field("error", &Text(error))?;
                o.serialize_field("hex", &Malformed { kind: *kind, data })?;
            }
            TcpOption::Unknown { data, .. } => {
                o.serialize_field("name", "unknown")?;
                o.serialize_field("hex", &Hex(data))?;
            }
            TcpOption::Mptcp(m) => {
                o.serialize_field("name", "mptcp")?;
                o.serialize_field("mptcp", &MptcpView(m))?;
                match m {
                    MptcpOption::Unknown { data, .. } => o.serialize_field("hex", &Hex(data))?,
                    MptcpOption::Invalid { error, raw } => {
                        o.serialize_field("error", &Text(error))?;
                        o.serialize_field("hex", &Hex(raw))?;
                    }
                    _ => {}
                }
            }
        }
        o.end()
    }
}

/// The `mptcp` object of an MPTCP option (the fields of
/// [`super::MptcpJson`], in its order).
struct MptcpView<'o, 'a>(&'o MptcpOption<'a>);

impl Serialize for MptcpView<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut o = s.serialize_struct("MptcpJson", 4)?;
        o.serialize_field("subtype", m.subtype_name())?;
        match m {
            MptcpOption::MpCapable(c) => {
                o.serialize_field("version", &c.version)?;
                o.serialize_field("flags", &c.flags)?;
                if let Some(k) = c.sender_key() {
                    o.serialize_field("sender_key", &key(k))?;
                }
                if let Some(k) = c.receiver_key() {
                    o.serialize_field("receiver_key", &key(k))?;
                }
                if let Some(d) = c.data_len() {
                    o.serialize_field("data_len", &d)?;
                }
                if let Some(c) = c.checksum() {
                    o.serialize_field("checksum", &c)?;
                }
            }
            MptcpOption::MpJoin(j) => match j.body() {
                JoinBody::Syn { token, nonce } => {
                    o.serialize_field("backup", &j.backup())?;
                    o.serialize_field("addr_id", &j.addr_id)?;
                    o.serialize_field("token", &hex32(token))?;
                    o.serialize_field("nonce", &hex32(nonce))?;
                }
                JoinBody::SynAck { hmac, nonce } => {
                    o.serialize_field("backup", &j.backup())?;
                    o.serialize_field("addr_id", &j.addr_id)?;
                    o.serialize_field("nonce", &hex32(nonce))?;
                    o.serialize_field("hmac", &key(hmac))?;
                }
                JoinBody::Ack { hmac } => o.serialize_field("hmac", &Hex(&hmac))?,
            },
            MptcpOption::Dss(d) => {
                let mapping = d.mapping();
                o.serialize_field("flags", &d.wire_flags())?;
                // MptcpJson's order: the checksum comes right after flags.
                if let Some(c) = mapping.and_then(|m| m.checksum) {
                    o.serialize_field("checksum", &c)?;
                }
                o.serialize_field("data_fin", &d.data_fin())?;
                if let Some(a) = d.data_ack() {
                    o.serialize_field("data_ack", &a)?;
                    o.serialize_field("data_ack_len", &d.data_ack_len())?;
                }
                if let Some(map) = mapping {
                    o.serialize_field("dsn", &map.dsn)?;
                    o.serialize_field("dsn_len", &d.dsn_len_on_wire())?;
                    o.serialize_field("ssn", &map.ssn)?;
                    o.serialize_field("dll", &map.dll)?;
                }
            }
            MptcpOption::AddAddr(a) => {
                o.serialize_field("version", &a.version())?;
                o.serialize_field("addr_id", &a.addr_id)?;
                if let Some(h) = a.hmac() {
                    o.serialize_field("hmac", &key(h))?;
                }
                o.serialize_field("echo", &a.echo())?;
                o.serialize_field("addr", &Text(a.addr))?;
                if let Some(p) = a.port() {
                    o.serialize_field("port", &p)?;
                }
            }
            MptcpOption::RemoveAddr(r) => o.serialize_field("addr_ids", r.addr_ids)?,
            MptcpOption::MpPrio(p) => {
                o.serialize_field("backup", &p.backup())?;
                if let Some(id) = p.addr_id {
                    o.serialize_field("addr_id", &id)?;
                }
            }
            MptcpOption::MpFail(f) => o.serialize_field("dsn", &f.dsn)?,
            MptcpOption::MpFastclose(f) => {
                o.serialize_field("receiver_key", &key(f.receiver_key))?
            }
            MptcpOption::MpTcpRst(r) => {
                o.serialize_field("flags", &r.flags)?;
                o.serialize_field("transient", &r.transient())?;
                o.serialize_field("reason", &r.reason)?;
                if let Some(n) = r.reason_name() {
                    o.serialize_field("reason_name", n)?;
                }
            }
            MptcpOption::Unknown { subtype, .. } => {
                o.serialize_field("subtype_number", subtype)?;
            }
            MptcpOption::Invalid { .. } => {}
        }
        o.end()
    }
}
