//! The one JSON form of a decoded TCP option: the per-option schema of
//! `analyze --json` (see DESIGN.md), of `trace --json`'s destination hop,
//! and of the echo report's segments (`packet::echo::ObservedSegment`).
//!
//! Every option is `{"kind", "len", "name", ...}` (`kind` is null for the
//! padding after an EOL). Fields by option:
//!
//! | name | fields |
//! | --- | --- |
//! | `eol`, `nop`, `sack_permitted` | none |
//! | `padding` | `hex` (the bytes after an EOL) |
//! | `mss` | `value` |
//! | `window_scale` | `shift` |
//! | `timestamps` | `tsval`, `tsecr` |
//! | `sack` | `blocks`: `[[left, right], ...]` |
//! | `md5` | `digest` (hex) |
//! | `fast_open` | `cookie` (hex, empty for a cookie request) |
//! | `unknown` | `hex` (the bytes after kind and length) |
//! | any known kind whose length does not fit | `error`, `hex` (the whole option) |
//! | `mptcp` | `mptcp`: `{"subtype", ...}` as below |
//!
//! MPTCP `subtype` and its fields (absent fields are left out):
//!
//! | subtype | fields |
//! | --- | --- |
//! | `mp_capable` | `version`, `flags` (the raw byte), `sender_key`, `receiver_key` (16 hex digits), `data_len`, `checksum` |
//! | `mp_join` | SYN: `backup`, `addr_id`, `token` (8 hex digits), `nonce` (8 hex digits); SYN/ACK: `backup`, `addr_id`, `hmac` (16 hex digits), `nonce`; ACK: `hmac` (40 hex digits) |
//! | `dss` | `flags` (raw byte), `data_fin`, `data_ack`, `data_ack_len` (4 or 8), `dsn`, `dsn_len` (4 or 8), `ssn`, `dll`, `checksum` |
//! | `add_addr` | `version` (0 or 1), `echo`, `addr_id`, `addr`, `port`, `hmac` (16 hex digits) |
//! | `remove_addr` | `addr_ids` |
//! | `mp_prio` | `backup`, `addr_id` |
//! | `mp_fail` | `dsn` |
//! | `mp_fastclose` | `receiver_key` (16 hex digits) |
//! | `mp_tcprst` | `flags` (the U/V/W/T nibble), `transient`, `reason` (code), `reason_name` |
//! | `unknown` | `subtype_number`; the option carries `hex` (bytes after kind and length) |
//!
//! An MPTCP option that fails decoding or validation by the TCP flags has
//! `mptcp: {"subtype"}` (the subtype its header names, or `unknown`) and, on
//! the option, `error` (the message) and `hex` (the whole raw option).
//!
//! A list ([`option_list_json`]) ends, after a framing error, with one
//! [`UnframedJson`] element `{"kind", "error", "offset", "hex"}` holding the
//! bytes that could not be framed.
//!
//! The types serialize and deserialize: the echo client reads the server's
//! lists with them (`packet::echo::EchoOption`). Every field past `kind`,
//! `len` and `name` is optional, so fields may be added; and
//! [`OptionEntry::wire_bytes`] gives an option's bytes where the entry holds
//! them (also for an object of the older echo summary form, whose `hex` is
//! always the whole option).
use crate::mptcp::{JoinBody, MptcpOption};
use crate::tcp_opt::{OptionList, TcpOption};
use serde::{Deserialize, Serialize};

mod view;
pub use view::{OptionListView, OptionView};

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// One TCP option: `kind`, `len`, `name`, and the fields of that option
/// (see the module documentation; absent fields are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionJson {
    /// The kind byte; `None` for the padding after an EOL.
    pub kind: Option<u8>,
    /// Bytes on the wire, kind and length included.
    pub len: usize,
    /// `eol`, `nop`, `mss`, `window_scale`, `sack_permitted`, `sack`,
    /// `timestamps`, `md5`, `fast_open`, `mptcp`, `padding`, `unknown`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsecr: Option<u32>,
    /// SACK blocks, `[left, right]` each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<[u32; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Boxed: most options are not MPTCP, and the object is large.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mptcp: Option<Box<MptcpJson>>,
    /// Why the option did not decode (a length that does not fit its
    /// kind, an MPTCP option Linux would reject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Raw bytes: after an EOL (`padding`), after kind and length
    /// (`unknown`, MPTCP `unknown`), the whole option (with `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

impl OptionJson {
    fn new(kind: Option<u8>, len: usize, name: &str) -> Self {
        OptionJson {
            kind,
            len,
            name: name.to_string(),
            value: None,
            shift: None,
            tsval: None,
            tsecr: None,
            blocks: None,
            digest: None,
            cookie: None,
            mptcp: None,
            error: None,
            hex: None,
        }
    }
}

/// The `mptcp` object of an MPTCP option: `subtype` and its fields (see
/// the module documentation; absent fields are left out).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MptcpJson {
    /// `mp_capable`, `mp_join`, `dss`, `add_addr`, `remove_addr`,
    /// `mp_prio`, `mp_fail`, `mp_fastclose`, `mp_tcprst`, `unknown`.
    pub subtype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u8>,
    /// The raw flags byte (MP_CAPABLE, DSS) or nibble (MP_TCPRST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_len: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr_id: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_fin: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_ack: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_ack_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dll: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub echo: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr_ids: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype_number: Option<u8>,
}

/// The bytes after a framing error: the offending option's kind, the
/// error, its offset in the option area, and everything from it on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnframedJson {
    pub kind: u8,
    pub error: String,
    pub offset: usize,
    pub hex: String,
}

/// One element of an option list: an option, or (last) the bytes that
/// could not be framed. Untagged: an element with `len` and `name` is an
/// option.
// Nearly every entry is an option: boxing it would cost an allocation per
// option to save space only on the rare unframed rest.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionEntry {
    Option(OptionJson),
    Unframed(UnframedJson),
}

impl OptionEntry {
    /// The option, unless this is the unframed rest.
    pub fn option(&self) -> Option<&OptionJson> {
        match self {
            OptionEntry::Option(o) => Some(o),
            OptionEntry::Unframed(_) => None,
        }
    }

    /// The kind byte (`None` for padding).
    pub fn kind(&self) -> Option<u8> {
        match self {
            OptionEntry::Option(o) => o.kind,
            OptionEntry::Unframed(u) => Some(u.kind),
        }
    }

    /// The entry's bytes on the wire, where it holds them: a `hex` of
    /// `len` bytes is the whole option (padding, an option with `error`,
    /// the unframed rest, and every option of the older echo form), one of
    /// `len - 2` bytes the part after kind and length (`unknown`); EOL and
    /// NOP are their kind. `None` for a decoded option (its bytes would
    /// have to be re-encoded from the fields).
    pub fn wire_bytes(&self) -> Option<Vec<u8>> {
        let o = match self {
            OptionEntry::Unframed(u) => return hex::decode(&u.hex).ok(),
            OptionEntry::Option(o) => o,
        };
        match (&o.hex, o.kind) {
            (Some(h), kind) => {
                let bytes = hex::decode(h).ok()?;
                if bytes.len() == o.len {
                    return Some(bytes);
                }
                let kind = kind?;
                let len = u8::try_from(o.len).ok()?;
                (bytes.len() + 2 == o.len).then(|| [vec![kind, len], bytes].concat())
            }
            (None, Some(kind @ (0 | 1))) if o.len == 1 => Some(vec![kind]),
            (None, _) => None,
        }
    }
}

/// The JSON object of one option.
pub fn option_json(opt: &TcpOption<'_>) -> OptionJson {
    let mut o = OptionJson::new(opt.kind(), opt.buffer_len(), "");
    let name = match opt {
        TcpOption::Eol => "eol",
        TcpOption::Padding(p) => {
            o.hex = Some(hex(p));
            "padding"
        }
        TcpOption::Nop => "nop",
        TcpOption::Mss(v) => {
            o.value = Some(*v);
            "mss"
        }
        TcpOption::WindowScale(v) => {
            o.shift = Some(*v);
            "window_scale"
        }
        TcpOption::SackPermitted => "sack_permitted",
        TcpOption::Sack(s) => {
            o.blocks = Some(s.blocks().map(|(l, r)| [l, r]).collect());
            "sack"
        }
        TcpOption::Timestamps { tsval, tsecr } => {
            o.tsval = Some(*tsval);
            o.tsecr = Some(*tsecr);
            "timestamps"
        }
        TcpOption::Md5(d) => {
            o.digest = Some(hex(d));
            "md5"
        }
        TcpOption::FastOpen(c) => {
            o.cookie = Some(hex(c));
            "fast_open"
        }
        TcpOption::Malformed { kind, data } => {
            o.error = Some(format!(
                "length {} does not fit option kind {kind}",
                data.len() + 2
            ));
            let mut raw = vec![*kind, (data.len() + 2) as u8];
            raw.extend_from_slice(data);
            o.hex = Some(hex(&raw));
            known_name(*kind)
        }
        TcpOption::Unknown { data, .. } => {
            o.hex = Some(hex(data));
            "unknown"
        }
        TcpOption::Mptcp(m) => {
            o.mptcp = Some(Box::new(mptcp_json(m, &mut o)));
            "mptcp"
        }
    };
    o.name = name.to_string();
    o
}

fn known_name(kind: u8) -> &'static str {
    match kind {
        2 => "mss",
        3 => "window_scale",
        4 => "sack_permitted",
        5 => "sack",
        8 => "timestamps",
        19 => "md5",
        34 => "fast_open",
        _ => "unknown",
    }
}

fn key(k: u64) -> String {
    format!("{k:016x}")
}

/// The `mptcp` object; `top` (the option) receives `error`/`hex`.
fn mptcp_json(m: &MptcpOption<'_>, top: &mut OptionJson) -> MptcpJson {
    let mut o = MptcpJson {
        subtype: m.subtype_name().to_string(),
        ..MptcpJson::default()
    };
    match m {
        MptcpOption::MpCapable(c) => {
            o.version = Some(c.version);
            o.flags = Some(c.flags);
            o.sender_key = c.sender_key().map(key);
            o.receiver_key = c.receiver_key().map(key);
            o.data_len = c.data_len();
            o.checksum = c.checksum();
        }
        MptcpOption::MpJoin(j) => match j.body() {
            JoinBody::Syn { token, nonce } => {
                o.backup = Some(j.backup());
                o.addr_id = Some(j.addr_id);
                o.token = Some(format!("{token:08x}"));
                o.nonce = Some(format!("{nonce:08x}"));
            }
            JoinBody::SynAck { hmac, nonce } => {
                o.backup = Some(j.backup());
                o.addr_id = Some(j.addr_id);
                o.hmac = Some(format!("{hmac:016x}"));
                o.nonce = Some(format!("{nonce:08x}"));
            }
            JoinBody::Ack { hmac } => o.hmac = Some(hex(&hmac)),
        },
        MptcpOption::Dss(d) => {
            o.flags = Some(d.wire_flags());
            o.data_fin = Some(d.data_fin());
            if let Some(a) = d.data_ack() {
                o.data_ack = Some(a);
                o.data_ack_len = Some(d.data_ack_len());
            }
            if let Some(map) = d.mapping() {
                o.dsn = Some(map.dsn);
                o.dsn_len = Some(d.dsn_len_on_wire());
                o.ssn = Some(map.ssn);
                o.dll = Some(map.dll);
                o.checksum = map.checksum;
            }
        }
        MptcpOption::AddAddr(a) => {
            o.version = Some(a.version());
            o.echo = Some(a.echo());
            o.addr_id = Some(a.addr_id);
            o.addr = Some(a.addr.to_string());
            o.port = a.port();
            o.hmac = a.hmac().map(|h| format!("{h:016x}"));
        }
        MptcpOption::RemoveAddr(r) => o.addr_ids = Some(r.addr_ids.to_vec()),
        MptcpOption::MpPrio(p) => {
            o.backup = Some(p.backup());
            o.addr_id = p.addr_id;
        }
        MptcpOption::MpFail(f) => o.dsn = Some(f.dsn),
        MptcpOption::MpFastclose(f) => o.receiver_key = Some(key(f.receiver_key)),
        MptcpOption::MpTcpRst(r) => {
            o.flags = Some(r.flags);
            o.transient = Some(r.transient());
            o.reason = Some(r.reason);
            o.reason_name = r.reason_name().map(str::to_string);
        }
        MptcpOption::Unknown { subtype, data } => {
            o.subtype_number = Some(*subtype);
            top.hex = Some(hex(data));
        }
        MptcpOption::Invalid { error, raw } => {
            top.error = Some(error.to_string());
            top.hex = Some(hex(raw));
        }
    }
    o
}

/// The JSON array of a whole option list, plus, after a framing error, one
/// last element `{"kind", "error", "offset", "hex"}` with the bytes that
/// could not be framed.
pub fn option_list_json(list: &OptionList<'_>) -> Vec<OptionEntry> {
    let mut items: Vec<OptionEntry> = list
        .options
        .iter()
        .map(|o| OptionEntry::Option(option_json(o)))
        .collect();
    if let Some(e) = &list.error {
        items.push(OptionEntry::Unframed(UnframedJson {
            kind: e.kind,
            error: e.to_string(),
            offset: e.offset as usize,
            hex: hex(list.rest),
        }));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TcpFlags;
    use serde_json::{json, Value};

    const SYN: Option<TcpFlags> = Some(TcpFlags(0x02));

    fn list(hex_text: &str) -> Vec<OptionEntry> {
        let area = hex::decode(hex_text).unwrap();
        option_list_json(&OptionList::parse(&area, SYN))
    }

    /// The keys of an object, sorted (`serde_json::Value` keeps no order).
    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn options_serialize_with_the_documented_fields() {
        // mss, sackOK, TS, nop, wscale, v1 MP_CAPABLE, an unknown kind.
        let items = list("020405b40402080a0000000100000000010303071e040101fe03aa");
        let v = serde_json::to_value(&items).unwrap();
        assert_eq!(
            v[0],
            json!({"kind": 2, "len": 4, "name": "mss", "value": 1460})
        );
        assert_eq!(keys(&v[1]), ["kind", "len", "name"]);
        assert_eq!(v[1]["name"], "sack_permitted");
        assert_eq!(keys(&v[2]), ["kind", "len", "name", "tsecr", "tsval"]);
        // On the wire the fields keep the documented order.
        assert_eq!(
            serde_json::to_string(&items[2]).unwrap(),
            r#"{"kind":8,"len":10,"name":"timestamps","tsval":1,"tsecr":0}"#
        );
        assert_eq!(
            v[4],
            json!({"kind": 3, "len": 3, "name": "window_scale", "shift": 7})
        );
        assert_eq!(
            v[5],
            json!({"kind": 30, "len": 4, "name": "mptcp",
                   "mptcp": {"subtype": "mp_capable", "version": 1, "flags": 1}})
        );
        assert_eq!(
            v[6],
            json!({"kind": 254, "len": 3, "name": "unknown", "hex": "aa"})
        );
    }

    #[test]
    fn eol_padding_and_unframed_rest() {
        let v = serde_json::to_value(list("0000aa")).unwrap();
        assert_eq!(v[0], json!({"kind": 0, "len": 1, "name": "eol"}));
        assert_eq!(
            v[1],
            json!({"kind": null, "len": 2, "name": "padding", "hex": "00aa"})
        );
        let v = serde_json::to_value(list("01021e0c01")).unwrap();
        assert_eq!(v[0]["name"], "nop");
        assert_eq!(keys(&v[1]), ["error", "hex", "kind", "offset"]);
        assert_eq!(v[1]["offset"], 1);
        assert_eq!(v[1]["hex"], "021e0c01");
    }

    #[test]
    fn invalid_mptcp_keeps_its_subtype_error_and_raw_bytes() {
        // A 12-byte MP_CAPABLE is valid on a SYN/ACK, not on a SYN.
        let v = serde_json::to_value(list("1e0c0101aabbccddeeff0011")).unwrap();
        assert_eq!(v[0]["mptcp"], json!({"subtype": "mp_capable"}), "{v}");
        assert!(v[0]["error"].is_string());
        assert_eq!(v[0]["hex"], "1e0c0101aabbccddeeff0011");
    }

    #[test]
    fn entries_round_trip_and_give_their_wire_bytes() {
        let area = "020405b40000aa";
        let items = list(area);
        let text = serde_json::to_string(&items).unwrap();
        let back: Vec<OptionEntry> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, items);
        assert_eq!(back[0].wire_bytes(), None, "mss is decoded, not raw");
        assert_eq!(back[1].wire_bytes(), Some(vec![0]));
        assert_eq!(back[2].wire_bytes(), Some(vec![0, 0xaa]));
        let unknown = &list("fe03aa")[0];
        assert_eq!(unknown.wire_bytes(), Some(vec![0xfe, 3, 0xaa]));
        let rest = &list("1e0c01")[0];
        assert!(matches!(rest, OptionEntry::Unframed(_)));
        assert_eq!(rest.wire_bytes(), Some(vec![0x1e, 0x0c, 0x01]));
    }

    #[test]
    fn the_older_echo_form_is_read() {
        // What servers sent before the unified form: `text`, and `hex` the
        // whole option.
        let old = r#"[{"kind":30,"len":4,"name":"mptcp","text":"mptcp 4 capable v1 flags [H]","hex":"1e040101"},
                      {"kind":3,"len":3,"name":"wscale","text":"wscale 7","hex":"030307"},
                      {"kind":30,"len":3,"name":"malformed","text":"bad","hex":"1e0981"}]"#;
        let items: Vec<OptionEntry> = serde_json::from_str(old).unwrap();
        assert_eq!(items[0].kind(), Some(30));
        assert_eq!(items[0].option().unwrap().name, "mptcp");
        assert_eq!(items[0].wire_bytes(), Some(vec![0x1e, 4, 1, 1]));
        assert_eq!(items[1].wire_bytes(), Some(vec![3, 3, 7]));
        assert_eq!(items[2].wire_bytes(), Some(vec![0x1e, 9, 0x81]));
    }
}
