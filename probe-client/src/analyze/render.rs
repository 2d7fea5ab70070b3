//! Output: tcpdump-like text lines, JSON lines, and handshake summaries.
use super::flows::{Answer, Handshake, KeyInfo, PairKey, Status};
use super::reader::Timestamp;
use super::verdict::Judgement;
use engine::analyze::runs::{CheckRun, Role};
use packet::ip::TcpSegment;
use packet::json::OptionListView;
use packet::mptcp::MpCapable;
use packet::text::{push_u64, push_u64_padded};
use packet::verdict::VerdictCode;
use packet::{OptionList, TcpFlags, TcpOption};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

/// `YYYY-MM-DD HH:MM:SS.uuuuuu` in UTC, as `TZ=GMT0 tcpdump -tttt` prints it.
#[cfg(test)]
pub fn format_ts(ts: Timestamp) -> String {
    String::from_utf8_lossy(&ts_text(ts)).into_owned()
}

/// [`format_ts`]'s 26 bytes, built without the formatting machinery (it
/// is on every packet line). Years past 9999 print modulo 10000.
fn ts_text(ts: Timestamp) -> [u8; 26] {
    let days = (ts.secs / 86_400) as i64;
    let rem = ts.secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut out = *b"0000-00-00 00:00:00.000000";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y.rem_euclid(10_000) as u64);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    put(20, 6, u64::from(ts.nanos / 1000) % 1_000_000);
    out
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (the era-based
/// method: 400-year eras of 146097 days, years starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// tcpdump's relative sequence numbers: the first segment with ACK of a
/// connection (normally the SYN/ACK), and every SYN with ACK, records both
/// initial sequence numbers and is printed absolute; later segments print
/// `seq - base`. Segments without ACK always print absolute.
///
/// Bounded: past [`RelativeSeq::MAX`] directions, the half used longest ago
/// is forgotten ([`RelativeSeq::take_forgotten`] says how many, for a note):
/// their later segments print absolute until a SYN/ACK comes again
/// (tcpdump remembers every connection).
#[derive(Debug, Default)]
pub struct RelativeSeq {
    /// Keyed by (sender, receiver): base of the sender's and the receiver's
    /// numbers, and when the entry was last used.
    bases: HashMap<PairKey, (u32, u32, u64)>,
    /// Calls so far (the clock of "last used").
    tick: u64,
    forgotten: usize,
}

impl RelativeSeq {
    /// Directions remembered at most (two per connection).
    pub const MAX: usize = 1 << 16;

    /// The (seq, ack) to print for a segment.
    pub fn apply(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
    ) -> (u32, u32) {
        if !flags.ack() {
            return (seq, ack);
        }
        self.tick += 1;
        let tick = self.tick;
        if !flags.syn() {
            if let Some((own, peer, used)) = self.bases.get_mut(&PairKey::new(src, dst)) {
                *used = tick;
                return (seq.wrapping_sub(*own), ack.wrapping_sub(*peer));
            }
        }
        let peer = ack.wrapping_sub(1);
        self.bases.insert(PairKey::new(src, dst), (seq, peer, tick));
        self.bases.insert(PairKey::new(dst, src), (peer, seq, tick));
        if self.bases.len() > Self::MAX {
            self.forget_oldest_half();
        }
        (seq, ack)
    }

    fn forget_oldest_half(&mut self) {
        let mut ticks: Vec<u64> = self.bases.values().map(|v| v.2).collect();
        let mid = ticks.len() / 2;
        let (_, &mut cut, _) = ticks.select_nth_unstable(mid);
        let before = self.bases.len();
        self.bases.retain(|_, v| v.2 > cut);
        self.forgotten += before - self.bases.len();
    }

    /// Directions forgotten since the last call.
    pub fn take_forgotten(&mut self) -> usize {
        std::mem::take(&mut self.forgotten)
    }
}

fn endpoint(addr: IpAddr, port: u16) -> String {
    format!("{addr}.{port}")
}

/// The decoded option area and whether it was cut.
pub struct DecodedOptions<'a> {
    pub list: OptionList<'a>,
    /// The header was cut inside the option area.
    pub cut: bool,
}

/// The text mode's per-packet state: relative sequence numbers, and the
/// one line buffer every packet line is built in (digits written by hand,
/// no formatter, no `String` per packet) before it goes to the output in
/// one copy.
#[derive(Debug, Default)]
pub struct PacketText {
    pub rel: RelativeSeq,
    line: Vec<u8>,
}

impl PacketText {
    /// Writes one tcpdump-like line for a segment, newline included.
    pub fn write<W: Write>(
        &mut self,
        out: &mut W,
        index: u64,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        opts: Option<&DecodedOptions<'_>>,
    ) -> io::Result<()> {
        self.line.clear();
        packet_line_body(&mut self.line, index, ts, seg, opts, &mut self.rel);
        self.line.push(b'\n');
        out.write_all(&self.line)
    }
}

fn push_addr(line: &mut Vec<u8>, addr: IpAddr, port: u16) {
    match addr {
        IpAddr::V4(a) => {
            for (i, octet) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    line.push(b'.');
                }
                push_u64(line, u64::from(octet));
            }
        }
        IpAddr::V6(a) => {
            let _ = write!(line, "{a}");
        }
    }
    line.push(b'.');
    push_u64(line, u64::from(port));
}

/// tcpdump's flag letters (`TcpFlags`'s `Display`).
fn push_flags(line: &mut Vec<u8>, flags: TcpFlags) {
    const LETTERS: [(u8, u8); 7] = [
        (TcpFlags::FIN, b'F'),
        (TcpFlags::SYN, b'S'),
        (TcpFlags::RST, b'R'),
        (TcpFlags::PSH, b'P'),
        (TcpFlags::URG, b'U'),
        (TcpFlags::CWR, b'W'),
        (TcpFlags::ECE, b'E'),
    ];
    let start = line.len();
    for (bit, letter) in LETTERS {
        if flags.has(bit) {
            line.push(letter);
        }
    }
    if flags.ack() {
        line.push(b'.');
    }
    if line.len() == start {
        line.extend_from_slice(b"none");
    }
}

fn packet_line_body(
    line: &mut Vec<u8>,
    index: u64,
    ts: Timestamp,
    seg: &TcpSegment<'_>,
    opts: Option<&DecodedOptions<'_>>,
    rel: &mut RelativeSeq,
) {
    push_u64_padded(line, index, 5);
    line.extend_from_slice(b"  ");
    line.extend_from_slice(&ts_text(ts));
    line.extend_from_slice(if seg.version() == 6 {
        b" IP6 "
    } else {
        b" IP "
    });
    push_addr(line, seg.src(), seg.src_port);
    line.extend_from_slice(b" > ");
    push_addr(line, seg.dst(), seg.dst_port);
    line.extend_from_slice(b": ");
    let (Some(flags), Some(ack), Some(window), Some(data_offset)) =
        (seg.flags, seg.ack, seg.window, seg.data_offset)
    else {
        line.extend_from_slice(b"[|tcp]");
        return;
    };
    let header_len = usize::from(data_offset) * 4;
    if header_len < 20 {
        let _ = write!(
            line,
            "Flags [{flags}], [bad hdr length {header_len} - too short, < 20]"
        );
        return;
    }
    let src = SocketAddr::new(seg.src(), seg.src_port);
    let dst = SocketAddr::new(seg.dst(), seg.dst_port);
    let (seq, ack) = rel.apply(src, dst, flags, seg.seq, ack);
    let payload_len = seg.payload_len.unwrap_or(seg.payload.len());
    line.extend_from_slice(b"Flags [");
    push_flags(line, flags);
    line.push(b']');
    if payload_len > 0 || flags.has(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST) {
        line.extend_from_slice(b", seq ");
        push_u64(line, u64::from(seq));
        if payload_len > 0 {
            line.push(b':');
            push_u64(line, u64::from(seq.wrapping_add(payload_len as u32)));
        }
    }
    if flags.ack() {
        line.extend_from_slice(b", ack ");
        push_u64(line, u64::from(ack));
    }
    line.extend_from_slice(b", win ");
    push_u64(line, u64::from(window));
    if flags.has(TcpFlags::URG) {
        line.extend_from_slice(b", urg ");
        push_u64(line, u64::from(seg.urgent.unwrap_or(0)));
    }
    if let Some(opts) = opts {
        line.extend_from_slice(b", options [");
        if opts.cut {
            // tcpdump prints the options it could read, then `[|tcp]`, and
            // stops there (no closing bracket, no length).
            let mut items = opts.list.tcpdump_items();
            if opts.list.error.is_some() {
                items.pop();
            }
            let _ = write!(line, "{} [|tcp]", items.join(","));
            return;
        }
        opts.list.write_tcpdump(line);
        line.push(b']');
        // After `[bad opt]` tcpdump closes the list and prints nothing more.
        let bad = opts.list.error.is_some()
            || opts
                .list
                .options
                .iter()
                .any(|o| o.ends_tcpdump_list() && !matches!(o, TcpOption::Eol));
        if bad {
            return;
        }
    }
    line.extend_from_slice(b", length ");
    push_u64(line, payload_len as u64);
}

/// A TCP packet line: the DESIGN schema object of one segment, serialized
/// straight from the decoded segment (the options by
/// [`packet::json::OptionListView`], the flags as their text).
#[derive(Serialize)]
pub struct PacketLine<'o, 'a> {
    /// 1-based frame number, counting every frame.
    pub index: u64,
    /// Seconds since the epoch.
    pub ts: f64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// tcpdump's letters (`S`, `S.`, `.`, `P.` ...).
    pub flags: FlagsText,
    pub options: OptionsJson<'o, 'a>,
}

/// TCP flags as tcpdump's letters, a JSON string.
pub struct FlagsText(pub TcpFlags);

impl Serialize for FlagsText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// The option list of a packet line (`[]` when the header has none).
pub struct OptionsJson<'o, 'a>(pub Option<&'o OptionList<'a>>);

impl Serialize for OptionsJson<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(list) => OptionListView(list).serialize(s),
            None => s.collect_seq(std::iter::empty::<()>()),
        }
    }
}

/// The packet line of one segment; `None` when the flags were not captured.
pub fn packet_json<'o, 'a>(
    index: u64,
    ts: Timestamp,
    seg: &TcpSegment<'_>,
    opts: Option<&'o DecodedOptions<'a>>,
) -> Option<PacketLine<'o, 'a>> {
    let flags = seg.flags?;
    Some(PacketLine {
        index,
        ts: ts.as_f64(),
        src: seg.src(),
        dst: seg.dst(),
        sport: seg.src_port,
        dport: seg.dst_port,
        flags: FlagsText(flags),
        options: OptionsJson(opts.map(|o| &o.list)),
    })
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
    fn timestamps_like_tcpdump_tttt() {
        // 2020-01-13 15:51:06.676845 UTC, from the tcpdump test suite's mptcp-v1 output.
        let ts = Timestamp {
            secs: 1_578_930_666,
            nanos: 676_845_000,
        };
        assert_eq!(format_ts(ts), "2020-01-13 15:51:06.676845");
        assert_eq!(
            format_ts(Timestamp::default()),
            "1970-01-01 00:00:00.000000"
        );
        // A leap day.
        assert_eq!(
            format_ts(Timestamp {
                secs: 951_782_400,
                nanos: 0
            }),
            "2000-02-29 00:00:00.000000"
        );
    }

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

    #[test]
    fn relative_sequence_numbers() {
        let c: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let s: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let mut rel = RelativeSeq::default();
        assert_eq!(rel.apply(c, s, TcpFlags(0x02), 100, 0), (100, 0));
        assert_eq!(rel.apply(s, c, TcpFlags(0x12), 5000, 101), (5000, 101));
        assert_eq!(rel.apply(c, s, TcpFlags(0x10), 101, 5001), (1, 1));
        assert_eq!(rel.apply(s, c, TcpFlags(0x18), 5001, 111), (1, 11));
    }
}
