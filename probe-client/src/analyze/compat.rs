//! TEMPORARY bridge until branch `codec` lands `Display for TcpOption`,
//! `packet::json::option_json` and `packet::crypto`: minimal local versions
//! so analyze runs end to end meanwhile. Removed on merge.
use packet::mptcp::MptcpOption;
use packet::TcpOption;
use serde_json::{json, Value};

pub fn option_text(o: &TcpOption<'_>) -> String {
    match o {
        TcpOption::Eol => "eol".into(),
        TcpOption::Padding(_) => String::new(),
        TcpOption::Nop => "nop".into(),
        TcpOption::Mss(v) => format!("mss {v}"),
        TcpOption::WindowScale(v) => format!("wscale {v}"),
        TcpOption::SackPermitted => "sackOK".into(),
        TcpOption::Sack(s) => format!("sack {}", s.blocks().count()),
        TcpOption::Timestamps { tsval, tsecr } => format!("TS val {tsval} ecr {tsecr}"),
        TcpOption::Md5(_) => "md5".into(),
        TcpOption::FastOpen(_) => "tfo".into(),
        TcpOption::Mptcp(m) => match m {
            MptcpOption::MpCapable(c) => format!("mptcp capable v{}", c.version),
            _ => "mptcp".into(),
        },
        TcpOption::Malformed { kind, .. } | TcpOption::Unknown { kind, .. } => {
            format!("unknown-{kind}")
        }
    }
}

pub fn option_json(o: &TcpOption<'_>) -> Value {
    json!({"kind": o.kind(), "len": o.buffer_len(), "name": option_text(o)})
}

pub fn token_idsn(_version: u8, _key: u64) -> (u32, u64) {
    (0, 0)
}
