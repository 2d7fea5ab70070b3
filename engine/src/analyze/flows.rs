//! Groups decoded TCP packets into handshakes and says, per handshake, what
//! happened to MPTCP. Pure: it sees only [`PacketFacts`], never bytes.
//!
//! A handshake is keyed by its 4-tuple and starts with a SYN; repeated SYNs
//! of the same 4-tuple and initial sequence number before any SYN/ACK are
//! retransmissions. The SYN/ACK, a RST from the server, and the client's
//! first ACK after the SYN/ACK (the "third ACK") complete it.
use packet::crypto;
use packet::mptcp::MpCapable;
use packet::TcpFlags;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;

pub use super::status::{Reflection, Status};

/// What the handshake analysis needs from one decoded TCP packet.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketFacts {
    pub index: u64,
    pub ts: f64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    /// The first MP_CAPABLE option of the segment that decoded fine.
    pub mp_capable: Option<MpCapable>,
    /// The segment carries an MP_JOIN option: the token it names (only the
    /// SYN form has one).
    pub mp_join: Option<JoinFacts>,
    /// Reason code of an MP_TCPRST option on the segment.
    pub tcprst_reason: Option<u8>,
    /// TCP payload bytes (as the IP length announces them).
    pub payload_len: usize,
    /// The segment carries at least one MPTCP option that decoded fine.
    pub any_mptcp: bool,
    /// Longest run of consecutive NOPs in the option area.
    pub nop_run: usize,
    /// The option area's bytes, kept for SYNs and SYN/ACKs only (the
    /// verdict engine reads handshake options as they were on the wire).
    pub options: Vec<u8>,
    /// IPv4 TTL or IPv6 hop limit as captured (tells which end the
    /// capture was made on).
    pub ttl: u8,
    /// The snapshot length cut the TCP header inside its option area: an
    /// option missing from `options` may have been on the wire.
    pub options_cut: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinFacts {
    pub token: Option<u32>,
}

/// One SYN sent for a handshake (the first, or a retransmission).
#[derive(Debug, Clone, PartialEq)]
pub struct SynAttempt {
    pub index: u64,
    pub ts: f64,
    pub seq: u32,
    pub mp_capable: Option<MpCapable>,
    pub join: Option<JoinFacts>,
    pub nop_run: usize,
    pub options: Vec<u8>,
    pub ttl: u8,
    /// Its options were cut by the snapshot length.
    pub options_cut: bool,
}

/// A segment answering or completing the handshake.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub index: u64,
    pub ts: f64,
    pub mp_capable: Option<MpCapable>,
    pub join: bool,
    /// Option area (SYN/ACK only; empty for the third ACK).
    pub options: Vec<u8>,
    pub ttl: u8,
    /// Its options were cut by the snapshot length.
    pub options_cut: bool,
}

/// The first segment with payload one side sent after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstData {
    pub index: u64,
    /// It carried an MPTCP option (DSS or MP_CAPABLE with data).
    pub mptcp: bool,
}

/// A RST after the SYN/ACK: the connection or subflow was torn down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reset {
    pub index: u64,
    pub by_server: bool,
    /// MP_TCPRST reason code, when the RST carried one.
    pub tcprst_reason: Option<u8>,
}

/// A key and what RFC 6824 / RFC 8684 derive from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    pub key: u64,
    pub token: u32,
    pub idsn: u64,
}

impl KeyInfo {
    /// `version` selects the hash: 0 SHA-1 (RFC 6824), 1 SHA-256 (RFC 8684);
    /// `None` for a version no RFC defines.
    pub fn derive(version: u8, key: u64) -> Option<Self> {
        let v = crypto::Version::from_wire(version)?;
        Some(KeyInfo {
            key,
            token: crypto::token(v, key),
            idsn: crypto::idsn(v, key),
        })
    }
}

/// Everything known about one handshake.
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// 1-based, in the order the handshakes start in the capture.
    pub id: usize,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// The first SYN and its retransmissions, in capture order.
    pub syns: Vec<SynAttempt>,
    pub syn_ack: Option<Answer>,
    /// Frame of a RST answering the SYN.
    pub rst: Option<u64>,
    pub third_ack: Option<Answer>,
    /// The first RST after the SYN/ACK.
    pub reset: Option<Reset>,
    /// The first data segment of the client and of the server.
    pub client_data: Option<FirstData>,
    pub server_data: Option<FirstData>,
    pub client_key: Option<KeyInfo>,
    pub server_key: Option<KeyInfo>,
    pub status: Status,
    /// Further observations, one sentence each.
    pub notes: Vec<String>,
}

impl Handshake {
    fn new(id: usize, client: SocketAddr, server: SocketAddr) -> Self {
        Handshake {
            id,
            client,
            server,
            syns: Vec::new(),
            syn_ack: None,
            rst: None,
            third_ack: None,
            reset: None,
            client_data: None,
            server_data: None,
            client_key: None,
            server_key: None,
            status: Status::NoAnswer,
            notes: Vec::new(),
        }
    }

    fn join_token(&self) -> Option<Option<u32>> {
        self.syns.iter().find_map(|s| s.join.map(|j| j.token))
    }
}

/// How much a [`FlowTracker`] keeps before it summarises handshakes early.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowLimits {
    /// Handshakes tracked at once; past it, those idle longest are
    /// summarised (a quarter of them at a time).
    pub max_live: usize,
    /// A handshake whose connection sent nothing for this long (capture
    /// time, seconds) is summarised.
    pub idle_secs: f64,
}

impl FlowLimits {
    /// Everything kept to the end (a capture held in memory anyway).
    pub const UNBOUNDED: FlowLimits = FlowLimits {
        max_live: usize::MAX,
        idle_secs: f64::INFINITY,
    };
    /// For a capture read as a stream: about 10 MB of handshakes at most,
    /// and a connection quiet for two minutes is done with its handshake.
    pub const STREAMING: FlowLimits = FlowLimits {
        max_live: 16_384,
        idle_secs: 120.0,
    };
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits::UNBOUNDED
    }
}

/// Tokens kept to tie MP_JOIN subflows to connections summarised before
/// them (a connection's one or two keys each).
const MAX_TOKENS: usize = 65_536;

pub use packet::ip::PairKey;

/// Which end of a handshake sent a segment.
#[derive(Debug, Clone, Copy)]
enum Sender {
    Client,
    Server,
}

/// A handshake being tracked, and when its connection last sent anything.
#[derive(Debug)]
struct Live {
    h: Handshake,
    last_ts: f64,
}

/// Collects handshakes from packets fed in capture order. Within its
/// [`FlowLimits`], handshakes idle for long (or idle longest, past the
/// count) are summarised early, with a note saying so, and handed over by
/// [`FlowTracker::take_summarised`]; the rest at [`FlowTracker::finish`].
#[derive(Debug, Default)]
pub struct FlowTracker {
    /// By id (1-based, in the order the handshakes start in the capture).
    live: BTreeMap<usize, Live>,
    /// (client, server) -> id of the latest handshake of that pair.
    latest: HashMap<PairKey, usize>,
    next_id: usize,
    limits: FlowLimits,
    /// Capture time of the last idle sweep.
    swept_at: Option<f64>,
    /// Summarised early, not taken yet.
    summarised: Vec<Handshake>,
    /// Tokens of the keys of connections summarised early (the first
    /// connection with a token keeps it), for later MP_JOIN subflows.
    tokens: HashMap<u32, usize>,
}

impl FlowTracker {
    /// Keeps every handshake to the end ([`FlowLimits::UNBOUNDED`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps at most what `limits` allow.
    pub fn with_limits(limits: FlowLimits) -> Self {
        FlowTracker {
            limits,
            ..Self::default()
        }
    }

    /// Handshakes tracked now.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// The handshakes summarised early since the last call, in id order,
    /// each with a note that says why.
    pub fn take_summarised(&mut self) -> Vec<Handshake> {
        std::mem::take(&mut self.summarised)
    }

    /// The handshake `id`, now seeing a packet at `ts`.
    fn touch(&mut self, id: usize, ts: f64) -> Option<&mut Handshake> {
        let live = self.live.get_mut(&id)?;
        live.last_ts = ts;
        Some(&mut live.h)
    }

    fn start(&mut self, h: Handshake, key: PairKey, ts: f64) {
        self.latest.insert(key, h.id);
        self.live.insert(h.id, Live { h, last_ts: ts });
    }

    fn new_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// Summarises what the limits say must go, at capture time `now`.
    fn sweep(&mut self, now: f64) {
        let limits = self.limits;
        if limits.idle_secs.is_finite() && now.is_finite() {
            let due = self
                .swept_at
                .is_none_or(|at| now - at >= limits.idle_secs / 4.0 || now < at);
            if due {
                self.swept_at = Some(now);
                let idle: Vec<usize> = self
                    .live
                    .iter()
                    .filter(|(_, l)| now - l.last_ts > limits.idle_secs)
                    .map(|(&id, _)| id)
                    .collect();
                let note = format!(
                    "summarised early: no packet of this connection for {} s of capture time (later packets of it are not part of this summary)",
                    limits.idle_secs
                );
                self.summarise_early(&idle, &note);
            }
        }
        if self.live.len() > limits.max_live {
            let mut by_age: Vec<(f64, usize)> =
                self.live.iter().map(|(&id, l)| (l.last_ts, id)).collect();
            let keep = limits.max_live - limits.max_live / 4;
            let go = by_age.len() - keep;
            by_age.select_nth_unstable_by(go - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut ids: Vec<usize> = by_age[..go].iter().map(|&(_, id)| id).collect();
            ids.sort_unstable();
            let note = format!(
                "summarised early: more than {} connections were open at once and this one had been idle longest (later packets of it are not part of this summary)",
                limits.max_live
            );
            self.summarise_early(&ids, &note);
        }
    }

    /// Takes the handshakes `ids` out, summarised, with `note`.
    fn summarise_early(&mut self, ids: &[usize], note: &str) {
        if ids.is_empty() {
            return;
        }
        let mut batch = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(Live { mut h, .. }) = self.live.remove(id) {
                let key = PairKey::new(h.client, h.server);
                if self.latest.get(&key) == Some(id) {
                    self.latest.remove(&key);
                }
                summarize(&mut h);
                h.notes.push(note.to_string());
                batch.push(h);
            }
        }
        link_joins_with(&mut batch, &mut self.tokens);
        self.summarised.append(&mut batch);
    }

    pub fn push(&mut self, p: &PacketFacts) {
        let flags = p.flags;
        if flags.is_syn_only() {
            self.push_syn(p);
        } else if flags.is_syn_ack() {
            self.push_syn_ack(p);
        } else if flags.rst() {
            self.push_rst(p);
        } else if flags.ack() {
            self.push_ack(p);
        }
        if self.limits != FlowLimits::UNBOUNDED {
            self.sweep(p.ts);
        }
    }

    /// The handshake a segment after the SYN belongs to, and whether the
    /// server sent it: looked up first as sent by `first` (an ACK is most
    /// often the client's third ACK or data, a RST before any SYN/ACK the
    /// server's refusal), then as sent by the other side. When both
    /// directions are tracked (two handshakes between the same endpoints,
    /// one each way), the preferred side wins.
    fn handshake_of(&self, p: &PacketFacts, first: Sender) -> Option<(usize, bool)> {
        let as_client = || {
            self.latest
                .get(&PairKey::new(p.src, p.dst))
                .map(|&i| (i, false))
        };
        let as_server = || {
            self.latest
                .get(&PairKey::new(p.dst, p.src))
                .map(|&i| (i, true))
        };
        match first {
            Sender::Client => as_client().or_else(as_server),
            Sender::Server => as_server().or_else(as_client),
        }
    }

    /// The third ACK, and the first data segment of each side.
    fn push_ack(&mut self, p: &PacketFacts) {
        let Some((i, by_server)) = self.handshake_of(p, Sender::Client) else {
            return;
        };
        let Some(h) = self.touch(i, p.ts) else {
            return;
        };
        if h.syn_ack.is_none() {
            return;
        }
        if !by_server && h.third_ack.is_none() {
            h.third_ack = Some(Answer {
                index: p.index,
                ts: p.ts,
                mp_capable: p.mp_capable,
                join: p.mp_join.is_some(),
                options: Vec::new(),
                ttl: p.ttl,
                options_cut: p.options_cut,
            });
        }
        if p.payload_len > 0 {
            let first = if by_server {
                &mut h.server_data
            } else {
                &mut h.client_data
            };
            first.get_or_insert(FirstData {
                index: p.index,
                mptcp: p.any_mptcp,
            });
        }
    }

    fn push_syn(&mut self, p: &PacketFacts) {
        let attempt = SynAttempt {
            index: p.index,
            ts: p.ts,
            seq: p.seq,
            mp_capable: p.mp_capable,
            join: p.mp_join,
            nop_run: p.nop_run,
            options: p.options.clone(),
            ttl: p.ttl,
            options_cut: p.options_cut,
        };
        let key = PairKey::new(p.src, p.dst);
        if let Some(&i) = self.latest.get(&key) {
            if let Some(h) = self.touch(i, p.ts) {
                let same_isn = h.syns.first().is_some_and(|s| s.seq == p.seq);
                // Same ISN, or still unanswered (Linux keeps the ISN on
                // retries, but a capture may miss the first SYN): a
                // retransmission.
                if same_isn || (h.syn_ack.is_none() && h.rst.is_none() && !h.syns.is_empty()) {
                    h.syns.push(attempt);
                    return;
                }
            }
        }
        let id = self.new_id();
        let mut h = Handshake::new(id, p.src, p.dst);
        h.syns.push(attempt);
        self.start(h, key, p.ts);
    }

    /// A RST from the server before any SYN/ACK refuses the SYN; any RST
    /// after the SYN/ACK resets the connection or subflow.
    fn push_rst(&mut self, p: &PacketFacts) {
        let Some((i, by_server)) = self.handshake_of(p, Sender::Server) else {
            return;
        };
        let Some(h) = self.touch(i, p.ts) else {
            return;
        };
        if h.syn_ack.is_none() {
            if by_server && h.rst.is_none() {
                h.rst = Some(p.index);
            }
        } else if h.reset.is_none() {
            h.reset = Some(Reset {
                index: p.index,
                by_server,
                tcprst_reason: p.tcprst_reason,
            });
        }
    }

    fn push_syn_ack(&mut self, p: &PacketFacts) {
        let key = PairKey::new(p.dst, p.src);
        let answer = Answer {
            index: p.index,
            ts: p.ts,
            mp_capable: p.mp_capable,
            join: p.mp_join.is_some(),
            options: p.options.clone(),
            ttl: p.ttl,
            options_cut: p.options_cut,
        };
        match self.latest.get(&key).copied() {
            Some(i) => {
                let Some(h) = self.touch(i, p.ts) else {
                    return;
                };
                match &h.syn_ack {
                    None => h.syn_ack = Some(answer),
                    Some(first) => {
                        let note = format!(
                            "SYN/ACK retransmitted (frame {}, first in frame {})",
                            p.index, first.index
                        );
                        h.notes.push(note);
                    }
                }
            }
            None => {
                let id = self.new_id();
                let mut h = Handshake::new(id, p.dst, p.src);
                h.syn_ack = Some(answer);
                self.start(h, key, p.ts);
            }
        }
    }

    /// Derives keys, statuses and MP_JOIN links of the handshakes still
    /// tracked (all of them, without limits), in id order; consumes the
    /// tracker. Handshakes summarised early and not taken are left out.
    pub fn finish(mut self) -> Vec<Handshake> {
        let mut handshakes: Vec<Handshake> = std::mem::take(&mut self.live)
            .into_values()
            .map(|l| l.h)
            .collect();
        for h in &mut handshakes {
            summarize(h);
        }
        link_joins_with(&mut handshakes, &mut self.tokens);
        handshakes
    }
}

/// Fills keys, status and notes of one handshake from its segments.
fn summarize(h: &mut Handshake) {
    let syn_mpc = h.syns.iter().find_map(|s| s.mp_capable);
    // The SYN/ACK answers the last SYN sent before it.
    let answered_syn = match &h.syn_ack {
        Some(sa) => h.syns.iter().rev().find(|s| s.index < sa.index),
        None => h.syns.last(),
    };
    let answered_mpc = answered_syn.and_then(|s| s.mp_capable);
    let synack_mpc = h.syn_ack.as_ref().and_then(|a| a.mp_capable);
    let ack_mpc = h.third_ack.as_ref().and_then(|a| a.mp_capable);

    retransmission_notes(h);

    // Keys: v0 SYN carries the client key, v1 only the third ACK does.
    let version = syn_mpc.or(synack_mpc).map_or(1, |m| m.version);
    let client_key = syn_mpc
        .and_then(|m| m.sender_key())
        .or(ack_mpc.and_then(|m| m.sender_key()));
    let server_key = synack_mpc
        .and_then(|m| m.sender_key())
        .or(ack_mpc.and_then(|m| m.receiver_key()));
    h.client_key = client_key.and_then(|k| KeyInfo::derive(version, k));
    h.server_key = server_key.and_then(|k| KeyInfo::derive(version, k));
    key_consistency_notes(h, syn_mpc, synack_mpc, ack_mpc);

    if let Some(reset) = h.reset {
        let by = if reset.by_server { "server" } else { "client" };
        let mut note = format!("reset by the {by} in frame {}", reset.index);
        if let Some(reason) = reset.tcprst_reason {
            let name = packet::mptcp::tcprst_reason_name(reason).unwrap_or("unknown reason");
            let _ = write!(note, " (MP_TCPRST reason {reason}: {name})");
        }
        h.notes.push(note);
    }
    if let Some(token) = h.join_token() {
        h.status = Status::JoinSubflow {
            token,
            connection: None,
            answered: h.syn_ack.as_ref().is_some_and(|a| a.join),
            reset: h.reset.is_some(),
        };
        return;
    }
    // A cut option area proves nothing about what it did not show.
    let syn_cut = h
        .syns
        .iter()
        .any(|s| s.options_cut && s.mp_capable.is_none());
    let syn_ack_cut = syn_mpc.is_some()
        && h.syn_ack
            .as_ref()
            .is_some_and(|a| a.options_cut && a.mp_capable.is_none());
    h.status = if h.syns.is_empty() {
        Status::SynNotCaptured
    } else if syn_cut || syn_ack_cut {
        Status::OptionsNotCaptured { syn: syn_cut }
    } else if h.syn_ack.is_none() {
        if h.rst.is_some() {
            Status::Refused
        } else {
            Status::NoAnswer
        }
    } else if syn_mpc.is_none() {
        stripped_syn_note(h);
        if synack_mpc.is_some() {
            h.notes.push(
                "the SYN/ACK carries MP_CAPABLE although no SYN offered it (added on the path?)"
                    .to_string(),
            );
        }
        Status::PlainTcp
    } else if answered_mpc.is_none() {
        Status::FallbackRetransmit
    } else if let Some(sa) = synack_mpc {
        let offered = answered_mpc.map_or(sa.version, |m| m.version);
        let repeated = syn_mpc.and_then(|m| m.sender_key()).is_some()
            && syn_mpc.and_then(|m| m.sender_key()) == sa.sender_key();
        if repeated {
            Status::Reflected(Reflection::KeyRepeated)
        } else if sa.version == 1 && offered == 1 && sa.sender_key().is_none() {
            Status::Reflected(Reflection::V1WithoutKey)
        } else if sa.version != offered {
            Status::VersionMismatch {
                offered,
                answered: sa.version,
            }
        } else if h.third_ack.is_none() {
            Status::MptcpNegotiated {
                version: sa.version,
            }
        } else if ack_mpc.is_none() {
            Status::FallbackThirdAck
        } else if let Some(d) = first_plain_data(h) {
            d
        } else {
            Status::MptcpEstablished {
                version: sa.version,
            }
        }
    } else {
        if syn_mpc.is_some_and(|m| m.version == 0) {
            h.notes.push(
                "the SYN offers only MPTCP v0, which upstream Linux (5.6+) ignores".to_string(),
            );
        }
        Status::FallbackSynAck
    };
}

/// The fallback status when a side's first data carries no MPTCP option
/// (the earlier of the two when both do).
fn first_plain_data(h: &Handshake) -> Option<Status> {
    let client = h.client_data.filter(|d| !d.mptcp).map(|d| (d.index, false));
    let server = h.server_data.filter(|d| !d.mptcp).map(|d| (d.index, true));
    let (frame, by_server) = match (client, server) {
        (Some(c), Some(s)) => c.min(s),
        (c, s) => c.or(s)?,
    };
    Some(Status::FallbackData { frame, by_server })
}

/// Linux, Windows and macOS never put more than two NOPs in a row in a SYN;
/// iptables TCPOPTSTRIP overwrites a removed option with NOPs (four for a
/// v1 MP_CAPABLE), so a longer run is where an option used to be.
pub const STRIPPED_NOP_RUN: usize = 4;

fn stripped_syn_note(h: &mut Handshake) {
    if let Some(s) = h.syns.iter().find(|s| s.nop_run >= STRIPPED_NOP_RUN) {
        let note = format!(
            "the SYN (frame {}) has {} NOPs in a row: an option (MP_CAPABLE?) was probably stripped on the path",
            s.index, s.nop_run
        );
        h.notes.push(note);
    }
}

fn retransmission_notes(h: &mut Handshake) {
    if h.syns.len() < 2 {
        return;
    }
    let frames: Vec<String> = h.syns[1..].iter().map(|s| s.index.to_string()).collect();
    h.notes.push(format!(
        "SYN retransmitted {} time(s) (frames {})",
        h.syns.len() - 1,
        frames.join(", ")
    ));
    let first_plain = h.syns.iter().position(|s| s.mp_capable.is_none());
    if let Some(p) = first_plain {
        if p > 0 && h.syns[..p].iter().all(|s| s.mp_capable.is_some()) {
            h.notes.push(format!(
                "after {p} unanswered MP_CAPABLE SYN(s) the SYN was retried without MP_CAPABLE (frame {})",
                h.syns[p].index
            ));
        }
    }
}

fn key_consistency_notes(
    h: &mut Handshake,
    syn: Option<MpCapable>,
    synack: Option<MpCapable>,
    ack: Option<MpCapable>,
) {
    let Some(ack) = ack else { return };
    if let (Some(s), Some(a)) = (syn.and_then(|m| m.sender_key()), ack.sender_key()) {
        if s != a {
            h.notes.push(format!(
                "third ACK's sender key 0x{a:016x} differs from the SYN's 0x{s:016x}"
            ));
        }
    }
    if let (Some(s), Some(a)) = (synack.and_then(|m| m.sender_key()), ack.receiver_key()) {
        if s != a {
            h.notes.push(format!(
                "third ACK's receiver key 0x{a:016x} differs from the SYN/ACK's 0x{s:016x}"
            ));
        }
    }
}

/// Ties each MP_JOIN handshake to the handshake whose key has its token.
/// The token names the key of the receiver of the MP_JOIN SYN, which is
/// the server or the client of the first subflow. `tokens` holds those of
/// connections summarised before (the first connection with a token keeps
/// it); the batch's own are added to it.
fn link_joins_with(handshakes: &mut [Handshake], tokens: &mut HashMap<u32, usize>) {
    for h in handshakes.iter() {
        if matches!(h.status, Status::JoinSubflow { .. }) {
            continue;
        }
        for key in [h.client_key, h.server_key].into_iter().flatten() {
            if tokens.len() < MAX_TOKENS || tokens.contains_key(&key.token) {
                tokens.entry(key.token).or_insert(h.id);
            }
        }
    }
    for h in handshakes.iter_mut() {
        if let Status::JoinSubflow {
            token: Some(token),
            connection,
            ..
        } = &mut h.status
        {
            *connection = tokens.get(token).copied();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN: TcpFlags = TcpFlags(0x02);
    const SYN_ACK: TcpFlags = TcpFlags(0x12);
    const ACK: TcpFlags = TcpFlags(0x10);
    const RST_ACK: TcpFlags = TcpFlags(0x14);
    const KEY_A: u64 = 0x1fdb_5df3_28bc_3def;
    const KEY_B: u64 = 0x29a6_c869_81ad_933c;

    fn client() -> SocketAddr {
        "10.0.1.1:33306".parse().unwrap()
    }
    fn server() -> SocketAddr {
        "10.0.2.1:10004".parse().unwrap()
    }

    fn mpc(version: u8, sender: Option<u64>, receiver: Option<u64>) -> Option<MpCapable> {
        MpCapable::from_fields(version, 0x01, sender, receiver, None, None)
    }

    struct Feed {
        tracker: FlowTracker,
        index: u64,
    }

    impl Feed {
        fn new() -> Self {
            Feed {
                tracker: FlowTracker::new(),
                index: 0,
            }
        }
        fn push(
            &mut self,
            from_client: bool,
            flags: TcpFlags,
            seq: u32,
            mp_capable: Option<MpCapable>,
        ) -> &mut Self {
            self.push_join(from_client, flags, seq, mp_capable, None)
        }
        fn push_join(
            &mut self,
            from_client: bool,
            flags: TcpFlags,
            seq: u32,
            mp_capable: Option<MpCapable>,
            mp_join: Option<JoinFacts>,
        ) -> &mut Self {
            self.index += 1;
            let (src, dst) = if from_client {
                (client(), server())
            } else {
                (server(), client())
            };
            self.tracker.push(&PacketFacts {
                index: self.index,
                ts: self.index as f64,
                src,
                dst,
                flags,
                seq,
                ack: 0,
                mp_capable,
                mp_join,
                tcprst_reason: None,
                payload_len: 0,
                any_mptcp: mp_capable.is_some() || mp_join.is_some(),
                nop_run: 0,
                options: Vec::new(),
                ttl: 64,
                options_cut: false,
            });
            self
        }
        fn finish(self) -> Vec<Handshake> {
            self.tracker.finish()
        }
    }

    fn one(feed: Feed) -> Handshake {
        let mut all = feed.finish();
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    #[test]
    fn v1_established_with_keys_from_synack_and_third_ack() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(1, None, None))
            .push(false, SYN_ACK, 900, mpc(1, Some(KEY_B), None))
            .push(true, ACK, 101, mpc(1, Some(KEY_A), Some(KEY_B)));
        let h = one(f);
        assert_eq!(h.status, Status::MptcpEstablished { version: 1 });
        assert_eq!(h.status.to_string(), "MPTCP v1 established");
        assert_eq!(h.client_key, KeyInfo::derive(1, KEY_A));
        assert_eq!(h.server_key, KeyInfo::derive(1, KEY_B));
        assert_eq!(h.third_ack.as_ref().map(|a| a.index), Some(3));
        assert!(h.notes.is_empty(), "{:?}", h.notes);
    }

    #[test]
    fn v0_keys_come_from_syn_and_synack() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(0, Some(KEY_A), None)).push(
            false,
            SYN_ACK,
            900,
            mpc(0, Some(KEY_B), None),
        );
        let h = one(f);
        assert_eq!(h.status, Status::MptcpNegotiated { version: 0 });
        assert_eq!(h.client_key.map(|k| k.key), Some(KEY_A));
        assert_eq!(h.client_key, KeyInfo::derive(0, KEY_A));
        assert_eq!(h.server_key.map(|k| k.key), Some(KEY_B));
    }

    #[test]
    fn v0_synack_repeating_the_syn_key_is_reflection() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(0, Some(KEY_A), None))
            .push(false, SYN_ACK, 900, mpc(0, Some(KEY_A), None))
            .push(true, ACK, 101, mpc(0, Some(KEY_A), Some(KEY_A)));
        let h = one(f);
        assert_eq!(h.status, Status::Reflected(Reflection::KeyRepeated));
        assert_eq!(h.status.code(), "option_reflected");
    }

    #[test]
    fn v1_synack_without_key_is_reflection() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(1, None, None))
            .push(false, SYN_ACK, 900, mpc(1, None, None));
        assert_eq!(one(f).status, Status::Reflected(Reflection::V1WithoutKey));
    }

    #[test]
    fn synack_without_mp_capable_is_fallback() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(1, None, None))
            .push(false, SYN_ACK, 900, None)
            .push(true, ACK, 101, None);
        let h = one(f);
        assert_eq!(h.status, Status::FallbackSynAck);
        assert_eq!(
            h.status.to_string(),
            "fell back to TCP: SYN/ACK carries no MP_CAPABLE"
        );
        assert!(h.notes.is_empty());
    }

    #[test]
    fn v0_syn_ignored_by_upstream_kernel_says_so() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(0, Some(KEY_A), None))
            .push(false, SYN_ACK, 900, None);
        let h = one(f);
        assert_eq!(h.status, Status::FallbackSynAck);
        assert!(
            h.notes.iter().any(|n| n.contains("only MPTCP v0")),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn syn_retried_without_mp_capable_after_drops() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(1, None, None))
            .push(true, SYN, 100, mpc(1, None, None))
            .push(true, SYN, 100, None)
            .push(false, SYN_ACK, 900, None)
            .push(true, ACK, 101, None);
        let h = one(f);
        assert_eq!(h.syns.len(), 3);
        assert_eq!(h.status, Status::FallbackRetransmit);
        assert!(
            h.notes
                .iter()
                .any(|n| n.contains("retransmitted 2 time(s) (frames 2, 3)")),
            "{:?}",
            h.notes
        );
        assert!(
            h.notes
                .iter()
                .any(|n| n.contains("after 2 unanswered MP_CAPABLE SYN(s)")),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn plain_syn_is_plain_tcp() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, None).push(false, SYN_ACK, 900, None);
        assert_eq!(one(f).status, Status::PlainTcp);
    }

    #[test]
    fn mp_capable_only_in_synack_is_noted() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, None)
            .push(false, SYN_ACK, 900, mpc(1, Some(KEY_B), None));
        let h = one(f);
        assert_eq!(h.status, Status::PlainTcp);
        assert!(
            h.notes.iter().any(|n| n.contains("no SYN offered it")),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn reset_after_join_is_reported() {
        let mut f = Feed::new();
        f.push_join(true, SYN, 100, None, Some(JoinFacts { token: Some(7) }))
            .push_join(false, SYN_ACK, 900, None, Some(JoinFacts { token: None }))
            .push_join(true, ACK, 101, None, Some(JoinFacts { token: None }));
        f.index += 1;
        f.tracker.push(&PacketFacts {
            index: f.index,
            ts: 0.0,
            src: server(),
            dst: client(),
            flags: TcpFlags(0x04),
            seq: 901,
            ack: 0,
            mp_capable: None,
            mp_join: None,
            tcprst_reason: Some(3),
            payload_len: 0,
            any_mptcp: true,
            nop_run: 0,
            options: Vec::new(),
            ttl: 64,
            options_cut: false,
        });
        let h = one(f);
        assert_eq!(
            h.reset,
            Some(Reset {
                index: 4,
                by_server: true,
                tcprst_reason: Some(3)
            })
        );
        assert!(
            h.status.to_string().ends_with(", then reset"),
            "{}",
            h.status
        );
        assert!(
            h.notes
                .iter()
                .any(|n| n.contains("reset by the server in frame 4 (MP_TCPRST reason 3")),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn data_without_dss_after_mptcp_handshake_is_fallback() {
        let data = |index, src, dst, mptcp| PacketFacts {
            index,
            ts: 0.0,
            src,
            dst,
            flags: TcpFlags(0x18),
            seq: 101,
            ack: 901,
            mp_capable: None,
            mp_join: None,
            tcprst_reason: None,
            payload_len: 5,
            any_mptcp: mptcp,
            nop_run: 2,
            options: Vec::new(),
            ttl: 64,
            options_cut: false,
        };
        let handshake = || {
            let mut f = Feed::new();
            f.push(true, SYN, 100, mpc(1, None, None))
                .push(false, SYN_ACK, 900, mpc(1, Some(KEY_B), None))
                .push(true, ACK, 101, mpc(1, Some(KEY_A), Some(KEY_B)));
            f
        };
        let mut f = handshake();
        f.tracker.push(&data(4, client(), server(), true));
        f.tracker.push(&data(5, server(), client(), false));
        f.tracker.push(&data(6, client(), server(), false));
        let h = one(f);
        assert_eq!(
            h.status,
            Status::FallbackData {
                frame: 5,
                by_server: true
            }
        );
        assert_eq!(h.status.code(), "fallback_data");
        assert!(h
            .status
            .to_string()
            .contains("the server's first data (frame 5)"));

        let mut f = handshake();
        f.tracker.push(&data(4, client(), server(), true));
        f.tracker.push(&data(5, server(), client(), true));
        f.tracker.push(&data(6, client(), server(), false));
        assert_eq!(one(f).status, Status::MptcpEstablished { version: 1 });
    }

    #[test]
    fn nop_run_in_plain_syn_is_noted() {
        let mut f = Feed::new();
        f.index += 1;
        f.tracker.push(&PacketFacts {
            index: 1,
            ts: 0.0,
            src: client(),
            dst: server(),
            flags: SYN,
            seq: 100,
            ack: 0,
            mp_capable: None,
            mp_join: None,
            tcprst_reason: None,
            payload_len: 0,
            any_mptcp: false,
            nop_run: 4,
            options: Vec::new(),
            ttl: 64,
            options_cut: false,
        });
        f.push(false, SYN_ACK, 900, None);
        let h = one(f);
        assert_eq!(h.status, Status::PlainTcp);
        assert!(
            h.notes.iter().any(|n| n.contains("4 NOPs in a row")),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn rst_and_silence() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(1, None, None))
            .push(false, RST_ACK, 0, None);
        let h = one(f);
        assert_eq!(h.status, Status::Refused);
        assert_eq!(h.rst, Some(2));
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(1, None, None));
        assert_eq!(one(f).status, Status::NoAnswer);
    }

    #[test]
    fn third_ack_without_mp_capable() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(1, None, None))
            .push(false, SYN_ACK, 900, mpc(1, Some(KEY_B), None))
            .push(true, ACK, 101, None);
        assert_eq!(one(f).status, Status::FallbackThirdAck);
    }

    #[test]
    fn version_mismatch() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, mpc(1, None, None)).push(
            false,
            SYN_ACK,
            900,
            mpc(0, Some(KEY_B), None),
        );
        assert_eq!(
            one(f).status,
            Status::VersionMismatch {
                offered: 1,
                answered: 0
            }
        );
    }

    #[test]
    fn new_isn_after_answered_handshake_starts_a_new_one() {
        let mut f = Feed::new();
        f.push(true, SYN, 100, None)
            .push(false, SYN_ACK, 900, None)
            .push(true, SYN, 5000, mpc(1, None, None))
            .push(false, SYN_ACK, 7000, mpc(1, Some(KEY_B), None));
        let all = f.finish();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].status, Status::PlainTcp);
        assert_eq!(all[1].id, 2);
        assert_eq!(all[1].status, Status::MptcpNegotiated { version: 1 });
    }

    #[test]
    fn synack_without_syn() {
        let mut f = Feed::new();
        f.push(false, SYN_ACK, 900, mpc(1, Some(KEY_B), None));
        let h = one(f);
        assert_eq!(h.status, Status::SynNotCaptured);
        assert_eq!(h.client, client());
    }

    #[test]
    fn join_is_tied_to_its_connection_by_token() {
        let mut tracker = FlowTracker::new();
        let c: SocketAddr = "10.0.1.1:40000".parse().unwrap();
        let c2: SocketAddr = "10.0.3.1:40001".parse().unwrap();
        let s: SocketAddr = "10.0.2.1:10004".parse().unwrap();
        let facts = |index, src, dst, flags, mp_capable, mp_join| PacketFacts {
            index,
            ts: 0.0,
            src,
            dst,
            flags,
            seq: 1,
            ack: 0,
            mp_capable,
            mp_join,
            tcprst_reason: None,
            payload_len: 0,
            any_mptcp: false,
            nop_run: 0,
            options: Vec::new(),
            ttl: 64,
            options_cut: false,
        };
        let server_token = KeyInfo::derive(1, KEY_B).unwrap().token;
        let join = |token| Some(JoinFacts { token: Some(token) });
        tracker.push(&facts(1, c, s, SYN, mpc(1, None, None), None));
        tracker.push(&facts(2, s, c, SYN_ACK, mpc(1, Some(KEY_B), None), None));
        tracker.push(&facts(3, c, s, ACK, mpc(1, Some(KEY_A), Some(KEY_B)), None));
        tracker.push(&facts(4, c2, s, SYN, None, join(server_token)));
        tracker.push(&facts(
            5,
            s,
            c2,
            SYN_ACK,
            None,
            Some(JoinFacts { token: None }),
        ));
        tracker.push(&facts(6, c2, s, SYN, None, join(server_token ^ 1)));
        let all = tracker.finish();
        assert_eq!(all.len(), 2, "{all:#?}");
        assert_eq!(
            all[1].status,
            Status::JoinSubflow {
                token: Some(server_token),
                connection: Some(1),
                answered: true,
                reset: false
            }
        );
        assert_eq!(all[1].status.to_string(), "MP_JOIN subflow of handshake #1");
        assert!(all[1].status.is_mptcp());
    }
}

#[cfg(test)]
mod limits_tests {
    use super::*;

    const SYN: TcpFlags = TcpFlags(0x02);
    const SYN_ACK: TcpFlags = TcpFlags(0x12);
    const ACK: TcpFlags = TcpFlags(0x10);
    const KEY_A: u64 = 0x1fdb_5df3_28bc_3def;
    const KEY_B: u64 = 0x29a6_c869_81ad_933c;

    fn addr(host: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, host], port))
    }

    fn facts(
        index: u64,
        ts: f64,
        src: SocketAddr,
        dst: SocketAddr,
        flags: TcpFlags,
    ) -> PacketFacts {
        PacketFacts {
            index,
            ts,
            src,
            dst,
            flags,
            seq: 1000,
            ack: 0,
            mp_capable: None,
            mp_join: None,
            tcprst_reason: None,
            payload_len: 0,
            any_mptcp: false,
            nop_run: 0,
            options: Vec::new(),
            options_cut: false,
            ttl: 64,
        }
    }

    /// A whole handshake of client port `port` at capture time `ts`.
    fn handshake(t: &mut FlowTracker, index: &mut u64, port: u16, ts: f64) {
        let (c, s) = (addr(1, port), addr(2, 80));
        for (from_client, flags) in [(true, SYN), (false, SYN_ACK), (true, ACK)] {
            *index += 1;
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            t.push(&facts(*index, ts, src, dst, flags));
        }
    }

    fn early(h: &Handshake) -> bool {
        h.notes.iter().any(|n| n.starts_with("summarised early"))
    }

    #[test]
    fn without_limits_nothing_is_summarised_early() {
        let mut t = FlowTracker::new();
        let mut i = 0;
        for port in 0..100 {
            handshake(&mut t, &mut i, 1000 + port, f64::from(port) * 1000.0);
        }
        assert!(t.take_summarised().is_empty());
        let all = t.finish();
        assert_eq!(all.len(), 100);
        assert!(all.iter().all(|h| !early(h)));
    }

    #[test]
    fn an_idle_connection_is_summarised_with_a_note() {
        let mut t = FlowTracker::with_limits(FlowLimits {
            max_live: 100,
            idle_secs: 60.0,
        });
        let mut i = 0;
        handshake(&mut t, &mut i, 1000, 0.0);
        handshake(&mut t, &mut i, 1001, 30.0);
        assert!(t.take_summarised().is_empty(), "not idle yet");
        handshake(&mut t, &mut i, 1002, 90.0);
        let gone = t.take_summarised();
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].id, gone[0].client.port()), (1, 1000));
        assert_eq!(gone[0].status, Status::PlainTcp, "summarised like the rest");
        assert!(early(&gone[0]), "{:?}", gone[0].notes);
        let rest = t.finish();
        assert_eq!(rest.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2, 3]);
        assert!(rest.iter().all(|h| !early(h)));
    }

    #[test]
    fn past_the_count_the_longest_idle_go_first() {
        let mut t = FlowTracker::with_limits(FlowLimits {
            max_live: 8,
            idle_secs: f64::INFINITY,
        });
        let mut i = 0;
        for port in 0..8 {
            handshake(&mut t, &mut i, 1000 + port, f64::from(port));
        }
        // The first connection talks again: the second is idle longest.
        i += 1;
        t.push(&facts(i, 10.0, addr(1, 1000), addr(2, 80), ACK));
        assert!(t.take_summarised().is_empty());
        handshake(&mut t, &mut i, 2000, 11.0);
        let gone = t.take_summarised();
        assert_eq!(gone.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert!(gone.iter().all(early));
        assert_eq!(t.live(), 6);
        // A packet of a summarised connection is not tied to anything.
        i += 1;
        t.push(&facts(i, 12.0, addr(1, 1001), addr(2, 80), ACK));
        assert_eq!(t.finish().len(), 6);
    }

    #[test]
    fn a_later_join_still_finds_a_connection_summarised_early() {
        let mut t = FlowTracker::with_limits(FlowLimits {
            max_live: 100,
            idle_secs: 60.0,
        });
        let (c, s) = (addr(1, 1000), addr(2, 80));
        let mut p = facts(1, 0.0, c, s, SYN);
        p.mp_capable = Some(MpCapable::v1_syn(1));
        t.push(&p);
        let mut p = facts(2, 0.0, s, c, SYN_ACK);
        p.mp_capable = Some(MpCapable::v1_syn_ack(KEY_B, 1));
        t.push(&p);
        let mut p = facts(3, 0.0, c, s, ACK);
        p.mp_capable = Some(MpCapable::v1_ack(KEY_A, KEY_B, 1));
        t.push(&p);
        // The server's token: what a join from the client names.
        let token = KeyInfo::derive(1, KEY_B).unwrap().token;
        let mut p = facts(4, 100.0, addr(1, 1001), s, SYN);
        p.mp_join = Some(JoinFacts { token: Some(token) });
        t.push(&p);
        let gone = t.take_summarised();
        assert_eq!(gone.len(), 1, "the first connection, idle");
        let rest = t.finish();
        assert!(matches!(
            rest[0].status,
            Status::JoinSubflow {
                connection: Some(1),
                ..
            }
        ));
    }
}
