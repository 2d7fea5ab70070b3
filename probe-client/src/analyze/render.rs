//! Output: the handshake summaries and the JSON lines around the packet
//! lines (the packet lines themselves are `engine::analyze::line`).
use super::flows::{Answer, Handshake, KeyInfo, Status};
use super::verdict::Judgement;
use engine::analyze::runs::{CheckRun, Role};
use packet::mptcp::MpCapable;
use packet::verdict::VerdictCode;
use serde::Serialize;
use std::fmt::Write as _;
use std::net::IpAddr;

fn endpoint(addr: IpAddr, port: u16) -> String {
    format!("{addr}.{port}")
}

/// `{"note": {...}}`: a packet cut by the snapshot length, a file that
/// stops mid-record, an unsupported link type.
#[derive(Debug, Serialize)]
pub struct NoteLine<'a> {
    pub note: NoteJson<'a>,
}

#[derive(Debug, Serialize)]
pub struct NoteJson<'a> {
    pub frame: u64,
    /// Byte offset in the file.
    pub offset: Option<usize>,
    pub message: &'a str,
}

/// `{"capture": {...}}`, the last line.
#[derive(Debug, Serialize)]
pub struct CaptureLine<'a> {
    pub capture: CaptureJson<'a>,
}

#[derive(Debug, Serialize)]
pub struct CaptureJson<'a> {
    pub file: &'a str,
    /// `pcap` or `pcapng`.
    pub format: &'static str,
    pub frames: u64,
    pub tcp_packets: u64,
    /// Where the file stopped being readable, or null.
    pub stopped: Option<StoppedJson<'a>>,
    /// Handshakes with a verdict.
    pub judged: usize,
    /// Of those, the ones whose verdict is not `mptcp_ok`.
    pub not_ok: usize,
}

#[derive(Debug, Serialize)]
pub struct StoppedJson<'a> {
    pub frame: u64,
    pub offset: usize,
    pub reason: &'a str,
}

fn mpc_text(m: &MpCapable) -> String {
    let mut s = format!("v{} flags 0x{:02x}", m.version, m.flags);
    if let Some(k) = m.sender_key() {
        let _ = write!(s, " key 0x{k:016x}");
    }
    if let Some(k) = m.receiver_key() {
        let _ = write!(s, " peer key 0x{k:016x}");
    }
    s
}

fn answer_text(a: &Option<Answer>) -> String {
    match a {
        None => "not captured".to_string(),
        Some(a) => match &a.mp_capable {
            Some(m) => format!("frame {}: MP_CAPABLE {}", a.index, mpc_text(m)),
            None if a.join => format!("frame {}: MP_JOIN", a.index),
            None => format!("frame {}: no MP_CAPABLE", a.index),
        },
    }
}

fn key_text(k: &KeyInfo) -> String {
    format!(
        "key 0x{:016x} token 0x{:08x} idsn {}",
        k.key, k.token, k.idsn
    )
}

/// Which of `mptcp-probe check`'s handshakes this one is: its run's id and
/// its role there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRole {
    pub run: usize,
    pub role: Role,
}

/// The run role of every handshake (by index), from the capture's runs.
pub fn run_roles(runs: &[CheckRun], count: usize) -> Vec<Option<RunRole>> {
    let mut roles = vec![None; count];
    for r in runs {
        for m in &r.members {
            if let Some(slot) = roles.get_mut(m.index) {
                *slot = Some(RunRole {
                    run: r.id,
                    role: m.role,
                });
            }
        }
    }
    roles
}

/// The text summary of one handshake: a status line and indented details.
pub fn handshake_text(
    h: &Handshake,
    judgement: Option<&Judgement>,
    run: Option<RunRole>,
) -> String {
    let mut out = format!(
        "handshake #{} {} > {}: {}\n",
        h.id,
        endpoint(h.client.ip(), h.client.port()),
        endpoint(h.server.ip(), h.server.port()),
        h.status
    );
    let syns: Vec<String> = h
        .syns
        .iter()
        .map(|s| match (&s.mp_capable, &s.join) {
            (Some(m), _) => format!("frame {}: MP_CAPABLE {}", s.index, mpc_text(m)),
            (None, Some(j)) => match j.token {
                Some(t) => format!("frame {}: MP_JOIN token 0x{t:08x}", s.index),
                None => format!("frame {}: MP_JOIN", s.index),
            },
            (None, None) => format!("frame {}: no MP_CAPABLE", s.index),
        })
        .collect();
    if syns.is_empty() {
        out.push_str("  SYN       not captured\n");
    }
    for s in syns {
        let _ = writeln!(out, "  SYN       {s}");
    }
    if let Some(rst) = h.rst {
        let _ = writeln!(out, "  RST       frame {rst}");
    }
    let _ = writeln!(out, "  SYN/ACK   {}", answer_text(&h.syn_ack));
    if h.syn_ack.is_some() {
        let _ = writeln!(out, "  ACK       {}", answer_text(&h.third_ack));
    }
    if let Some(k) = &h.client_key {
        let _ = writeln!(out, "  client    {}", key_text(k));
    }
    if let Some(k) = &h.server_key {
        let _ = writeln!(out, "  server    {}", key_text(k));
    }
    for n in &h.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    if let Some(r) = run {
        let _ = writeln!(out, "  check     run #{}: {}", r.run, r.role.describe());
    }
    match judgement {
        Some(j) => {
            let v = &j.verdict;
            let with = j
                .run
                .map(|id| format!(", with the rest of check run #{id}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  verdict   {}: {} (judged from the {} side{with})",
                v.code.as_str(),
                v.summary,
                j.side.as_str()
            );
            if let Some(fix) = &v.fix {
                let _ = writeln!(out, "  fix:      {fix}");
            }
            for m in &v.missing {
                let _ = writeln!(out, "  unknown:  {m}");
            }
        }
        None => {
            let _ = writeln!(out, "  verdict   none (no MP_CAPABLE attempt to judge)");
        }
    }
    out
}

/// `{"handshake": {...}}`, one per handshake after the packets.
#[derive(Debug, Serialize)]
pub struct HandshakeLine<'a> {
    pub handshake: HandshakeJson<'a>,
}

#[derive(Debug, Serialize)]
pub struct HandshakeJson<'a> {
    pub id: usize,
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub server_port: u16,
    /// `mptcp_established`, `plain_tcp`, `fallback_syn_ack` ...
    pub status: &'static str,
    pub summary: String,
    pub mptcp: bool,
    pub version: Option<u8>,
    pub syns: Vec<SynJson>,
    pub syn_ack: Option<AnswerJson>,
    pub third_ack: Option<AnswerJson>,
    /// Frame of a RST refusing the SYN.
    pub rst: Option<u64>,
    /// The first RST after the SYN/ACK.
    pub reset: Option<ResetJson>,
    pub client_key: Option<KeyJson>,
    pub server_key: Option<KeyJson>,
    pub join: Option<JoinJson>,
    pub notes: &'a [String],
    /// One of `mptcp-probe check`'s handshakes: `{"id", "role"}` (`role`:
    /// `kernel`, `v1_probe`, `v0_probe`, `plain_probe`), else null.
    pub check_run: Option<CheckRunJson>,
    /// The verdict code; null when the handshake did not try MPTCP.
    pub verdict: Option<VerdictCode>,
    pub verdict_detail: Option<VerdictDetailJson<'a>>,
}

/// Which check run a handshake belongs to, and as what.
#[derive(Debug, Serialize)]
pub struct CheckRunJson {
    pub id: usize,
    pub role: &'static str,
}

/// An MP_CAPABLE option: keys as 16 hex digits.
#[derive(Debug, Serialize)]
pub struct MpCapableJson {
    pub version: u8,
    pub flags: u8,
    pub sender_key: Option<String>,
    pub receiver_key: Option<String>,
}

impl MpCapableJson {
    fn new(m: &MpCapable) -> Self {
        MpCapableJson {
            version: m.version,
            flags: m.flags,
            sender_key: m.sender_key().map(|k| format!("{k:016x}")),
            receiver_key: m.receiver_key().map(|k| format!("{k:016x}")),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SynJson {
    pub frame: u64,
    pub ts: f64,
    pub seq: u32,
    pub mp_capable: Option<MpCapableJson>,
    pub mp_join: Option<SynJoinJson>,
}

/// The MP_JOIN of a SYN: its token (8 hex digits).
#[derive(Debug, Serialize)]
pub struct SynJoinJson {
    pub token: Option<String>,
}

/// The SYN/ACK or third ACK.
#[derive(Debug, Serialize)]
pub struct AnswerJson {
    pub frame: u64,
    pub ts: f64,
    pub mp_capable: Option<MpCapableJson>,
    pub mp_join: bool,
}

impl AnswerJson {
    fn new(a: &Answer) -> Self {
        AnswerJson {
            frame: a.index,
            ts: a.ts,
            mp_capable: a.mp_capable.as_ref().map(MpCapableJson::new),
            mp_join: a.join,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ResetJson {
    pub frame: u64,
    pub by: ResetBy,
    pub tcprst_reason: Option<u8>,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetBy {
    Server,
    Client,
}

/// A key, its token (8 hex digits) and IDSN.
#[derive(Debug, Serialize)]
pub struct KeyJson {
    pub key: String,
    pub token: String,
    pub idsn: u64,
}

impl KeyJson {
    fn new(k: &KeyInfo) -> Self {
        KeyJson {
            key: format!("{:016x}", k.key),
            token: format!("{:08x}", k.token),
            idsn: k.idsn,
        }
    }
}

/// An MP_JOIN subflow: its token, the `id` of the connection whose key has
/// that token, whether it was answered and reset.
#[derive(Debug, Serialize)]
pub struct JoinJson {
    pub reset: bool,
    pub token: Option<String>,
    pub connection: Option<usize>,
    pub answered: bool,
}

#[derive(Debug, Serialize)]
pub struct VerdictDetailJson<'a> {
    pub summary: &'a str,
    /// The vantage point it was judged from.
    pub side: &'static str,
    pub rule: &'a str,
    pub evidence: &'a [String],
    pub fix: Option<&'a str>,
    pub missing: &'a [String],
}

/// The JSON summary line of one handshake.
pub fn handshake_json<'a>(
    h: &'a Handshake,
    judgement: Option<&'a Judgement>,
    run: Option<RunRole>,
) -> HandshakeLine<'a> {
    let version = match h.status {
        Status::MptcpEstablished { version } | Status::MptcpNegotiated { version } => Some(version),
        _ => None,
    };
    let join = match h.status {
        Status::JoinSubflow {
            token,
            connection,
            answered,
            reset,
        } => Some(JoinJson {
            reset,
            token: token.map(|t| format!("{t:08x}")),
            connection,
            answered,
        }),
        _ => None,
    };
    HandshakeLine {
        handshake: HandshakeJson {
            id: h.id,
            client: h.client.ip(),
            client_port: h.client.port(),
            server: h.server.ip(),
            server_port: h.server.port(),
            status: h.status.code(),
            summary: h.status.to_string(),
            mptcp: h.status.is_mptcp(),
            version,
            syns: h
                .syns
                .iter()
                .map(|s| SynJson {
                    frame: s.index,
                    ts: s.ts,
                    seq: s.seq,
                    mp_capable: s.mp_capable.as_ref().map(MpCapableJson::new),
                    mp_join: s.join.map(|j| SynJoinJson {
                        token: j.token.map(|t| format!("{t:08x}")),
                    }),
                })
                .collect(),
            syn_ack: h.syn_ack.as_ref().map(AnswerJson::new),
            third_ack: h.third_ack.as_ref().map(AnswerJson::new),
            rst: h.rst,
            reset: h.reset.map(|r| ResetJson {
                frame: r.index,
                by: if r.by_server {
                    ResetBy::Server
                } else {
                    ResetBy::Client
                },
                tcprst_reason: r.tcprst_reason,
            }),
            client_key: h.client_key.as_ref().map(KeyJson::new),
            server_key: h.server_key.as_ref().map(KeyJson::new),
            join,
            notes: &h.notes,
            check_run: run.map(|r| CheckRunJson {
                id: r.run,
                role: r.role.code(),
            }),
            verdict: judgement.map(|j| j.verdict.code),
            verdict_detail: judgement.map(|j| {
                let v = &j.verdict;
                VerdictDetailJson {
                    summary: &v.summary,
                    side: j.side.as_str(),
                    rule: &v.rule,
                    evidence: &v.evidence,
                    fix: v.fix.as_deref(),
                    missing: &v.missing,
                }
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_and_capture_lines_have_the_documented_shape() {
        let note = NoteLine {
            note: NoteJson {
                frame: 7,
                offset: None,
                message: "cut",
            },
        };
        assert_eq!(
            serde_json::to_string(&note).unwrap(),
            r#"{"note":{"frame":7,"offset":null,"message":"cut"}}"#
        );
        let capture = CaptureLine {
            capture: CaptureJson {
                file: "f.pcap",
                format: "pcap",
                frames: 3,
                tcp_packets: 2,
                stopped: Some(StoppedJson {
                    frame: 4,
                    offset: 100,
                    reason: "cut",
                }),
                judged: 1,
                not_ok: 0,
            },
        };
        assert_eq!(
            serde_json::to_string(&capture).unwrap(),
            r#"{"capture":{"file":"f.pcap","format":"pcap","frames":3,"tcp_packets":2,"stopped":{"frame":4,"offset":100,"reason":"cut"},"judged":1,"not_ok":0}}"#
        );
    }
}
