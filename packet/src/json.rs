//! JSON form of a decoded TCP option, the per-option schema of
//! `analyze --json` (see DESIGN.md).
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
use crate::mptcp::{JoinBody, MptcpOption};
use crate::tcp_opt::TcpOption;
use serde_json::{json, Map, Value};

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The JSON object of one option.
pub fn option_json(opt: &TcpOption<'_>) -> Value {
    let mut o = Map::new();
    o.insert("kind".into(), opt.kind().map_or(Value::Null, Value::from));
    o.insert("len".into(), opt.buffer_len().into());
    let name = match opt {
        TcpOption::Eol => "eol",
        TcpOption::Padding(p) => {
            o.insert("hex".into(), hex(p).into());
            "padding"
        }
        TcpOption::Nop => "nop",
        TcpOption::Mss(v) => {
            o.insert("value".into(), (*v).into());
            "mss"
        }
        TcpOption::WindowScale(v) => {
            o.insert("shift".into(), (*v).into());
            "window_scale"
        }
        TcpOption::SackPermitted => "sack_permitted",
        TcpOption::Sack(s) => {
            let blocks: Vec<Value> = s.blocks().map(|(l, r)| json!([l, r])).collect();
            o.insert("blocks".into(), blocks.into());
            "sack"
        }
        TcpOption::Timestamps { tsval, tsecr } => {
            o.insert("tsval".into(), (*tsval).into());
            o.insert("tsecr".into(), (*tsecr).into());
            "timestamps"
        }
        TcpOption::Md5(d) => {
            o.insert("digest".into(), hex(d).into());
            "md5"
        }
        TcpOption::FastOpen(c) => {
            o.insert("cookie".into(), hex(c).into());
            "fast_open"
        }
        TcpOption::Malformed { kind, data } => {
            o.insert(
                "error".into(),
                format!("length {} does not fit option kind {kind}", data.len() + 2).into(),
            );
            let mut raw = vec![*kind, (data.len() + 2) as u8];
            raw.extend_from_slice(data);
            o.insert("hex".into(), hex(&raw).into());
            known_name(*kind)
        }
        TcpOption::Unknown { data, .. } => {
            o.insert("hex".into(), hex(data).into());
            "unknown"
        }
        TcpOption::Mptcp(m) => {
            let inner = mptcp_json(m, &mut o);
            o.insert("mptcp".into(), inner);
            "mptcp"
        }
    };
    o.insert("name".into(), name.into());
    Value::Object(o)
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

fn key(k: u64) -> Value {
    format!("{k:016x}").into()
}

/// The `mptcp` object; `top` (the option's object) receives `error`/`hex`.
fn mptcp_json(m: &MptcpOption<'_>, top: &mut Map<String, Value>) -> Value {
    let mut o = Map::new();
    o.insert("subtype".into(), m.subtype_name().into());
    let mut put = |k: &str, v: Value| {
        o.insert(k.into(), v);
    };
    match m {
        MptcpOption::MpCapable(c) => {
            put("version", c.version.into());
            put("flags", c.flags.into());
            if let Some(k) = c.sender_key {
                put("sender_key", key(k));
            }
            if let Some(k) = c.receiver_key {
                put("receiver_key", key(k));
            }
            if let Some(v) = c.data_len {
                put("data_len", v.into());
            }
            if let Some(v) = c.checksum {
                put("checksum", v.into());
            }
        }
        MptcpOption::MpJoin(j) => match j.body {
            JoinBody::Syn { token, nonce } => {
                put("backup", j.backup().into());
                put("addr_id", j.addr_id.into());
                put("token", format!("{token:08x}").into());
                put("nonce", format!("{nonce:08x}").into());
            }
            JoinBody::SynAck { hmac, nonce } => {
                put("backup", j.backup().into());
                put("addr_id", j.addr_id.into());
                put("hmac", format!("{hmac:016x}").into());
                put("nonce", format!("{nonce:08x}").into());
            }
            JoinBody::Ack { hmac } => put("hmac", hex(&hmac).into()),
        },
        MptcpOption::Dss(d) => {
            put("flags", d.wire_flags().into());
            put("data_fin", d.data_fin().into());
            if let Some(a) = d.data_ack {
                put("data_ack", a.into());
                put("data_ack_len", d.data_ack_len().into());
            }
            if let Some(map) = d.mapping {
                put("dsn", map.dsn.into());
                put("dsn_len", d.dsn_len_on_wire().into());
                put("ssn", map.ssn.into());
                put("dll", map.dll.into());
                if let Some(c) = map.checksum {
                    put("checksum", c.into());
                }
            }
        }
        MptcpOption::AddAddr(a) => {
            put("version", a.version().into());
            put("echo", a.echo().into());
            put("addr_id", a.addr_id.into());
            put("addr", a.addr.to_string().into());
            if let Some(p) = a.port {
                put("port", p.into());
            }
            if let Some(h) = a.hmac {
                put("hmac", format!("{h:016x}").into());
            }
        }
        MptcpOption::RemoveAddr(r) => put("addr_ids", r.addr_ids.to_vec().into()),
        MptcpOption::MpPrio(p) => {
            put("backup", p.backup().into());
            if let Some(id) = p.addr_id {
                put("addr_id", id.into());
            }
        }
        MptcpOption::MpFail(f) => put("dsn", f.dsn.into()),
        MptcpOption::MpFastclose(f) => put("receiver_key", key(f.receiver_key)),
        MptcpOption::MpTcpRst(r) => {
            put("flags", r.flags.into());
            put("transient", r.transient().into());
            put("reason", r.reason.into());
            if let Some(n) = r.reason_name() {
                put("reason_name", n.into());
            }
        }
        MptcpOption::Unknown { subtype, data } => {
            put("subtype_number", (*subtype).into());
            top.insert("hex".into(), hex(data).into());
        }
        MptcpOption::Invalid { error, raw } => {
            top.insert("error".into(), error.to_string().into());
            top.insert("hex".into(), hex(raw).into());
        }
    }
    Value::Object(o)
}

/// The JSON array of a whole option list, plus, after a framing error, one
/// last element `{"error", "offset", "hex"}` with the bytes that could not
/// be framed.
pub fn option_list_json(list: &crate::tcp_opt::OptionList<'_>) -> Value {
    let mut items: Vec<Value> = list.options.iter().map(option_json).collect();
    if let Some(e) = &list.error {
        items.push(json!({
            "kind": e.kind,
            "error": e.to_string(),
            "offset": e.offset,
            "hex": hex(list.rest),
        }));
    }
    Value::Array(items)
}
