//! Derived facts: the input reduced to "attempts" (one handshake that
//! carried MP_CAPABLE, or the plain control), each with what arrived at the
//! server and what came back. The rules read only these.
use super::capable::{find_capable, syn_fate, CapableSeen, SynFate};
use super::input::{
    hops_from_ttl, ConnectOutcome, HopOption, ProbeAnswer, ProbeKind, QuoteKind, VerdictInput,
};
use super::output::{HopRange, HopRef};

/// The server's account of the SYN of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// No echo server account for this attempt.
    NoAccount,
    /// The server was asked and did not see this SYN.
    NotSeen,
    Seen(SynFate),
}

/// What came back to the SYN of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A SYN/ACK (crafted probe): its MP_CAPABLE, if any.
    SynAck(Option<CapableSeen>),
    /// The kernel connection connected; `TCP_IS_MPTCP` if read.
    Connected(Option<bool>),
    Rst,
    /// An ICMP error, described.
    Icmp(String),
    Silence,
}

impl Reply {
    /// A handshake came back (SYN/ACK, or the kernel connected).
    pub fn handshake(&self) -> bool {
        matches!(self, Reply::SynAck(_) | Reply::Connected(_))
    }
    /// The destination answered (SYN/ACK, RST, or the kernel connected).
    pub fn answered(&self) -> bool {
        matches!(self, Reply::SynAck(_) | Reply::Connected(_) | Reply::Rst)
    }
    pub fn unanswered(&self) -> bool {
        matches!(self, Reply::Icmp(_) | Reply::Silence)
    }
    /// Answered by a handshake that did not negotiate MPTCP.
    pub fn without_mptcp(&self) -> bool {
        matches!(self, Reply::SynAck(None) | Reply::Connected(Some(false)))
    }
    pub fn describe(&self) -> String {
        match self {
            Reply::SynAck(Some(c)) => format!("SYN/ACK with {}", c.describe()),
            Reply::SynAck(None) => "SYN/ACK without MP_CAPABLE".into(),
            Reply::Connected(Some(true)) => "connected, TCP_IS_MPTCP=1".into(),
            Reply::Connected(Some(false)) => "connected, TCP_IS_MPTCP=0 (plain TCP)".into(),
            Reply::Connected(None) => "connected (TCP_IS_MPTCP not read)".into(),
            Reply::Rst => "RST".into(),
            Reply::Icmp(text) => text.clone(),
            Reply::Silence => "no answer".into(),
        }
    }
}

/// What the server says its host sent back on one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSent {
    Unknown,
    Capable(CapableSeen),
    NoCapable,
}

/// One handshake: the kernel connection or a crafted probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub label: &'static str,
    pub is_kernel: bool,
    /// MP_CAPABLE version carried (`None`: plain).
    pub version: Option<u8>,
    /// The MP_CAPABLE we sent, when the bytes are known.
    pub sent: Option<CapableSeen>,
    pub arrival: Arrival,
    pub reply: Reply,
    pub server_sent: ServerSent,
    pub syn_retransmissions: Option<u32>,
    /// The server's side of the kernel connection is MPTCP (kernel only).
    pub server_connection_mptcp: Option<bool>,
}

impl Attempt {
    /// A reflection: the SYN/ACK's MP_CAPABLE cannot come from an MPTCP
    /// listener. Returns why.
    pub fn reflection(&self) -> Option<String> {
        if self.reply == Reply::Connected(Some(true))
            && self.server_sent == ServerSent::NoCapable
            && self.server_connection_mptcp == Some(false)
        {
            return Some(format!(
                "the {} negotiated MPTCP, yet the server sent no MP_CAPABLE and its side is plain TCP: \
                 something on the path answered for it",
                self.label
            ));
        }
        let Reply::SynAck(Some(got)) = &self.reply else {
            return None;
        };
        if self.version.is_none() {
            return Some(format!(
                "the {} carried no MPTCP option, yet its SYN/ACK carries {}",
                self.label,
                got.describe()
            ));
        }
        if got.sender_key.is_none() {
            return Some(format!(
                "the SYN/ACK to the {} carries {} without a key: a listener always sends its key",
                self.label,
                got.describe()
            ));
        }
        if let Some(sent_key) = self.sent.as_ref().and_then(|s| s.sender_key) {
            if got.sender_key == Some(sent_key) {
                return Some(format!(
                    "the SYN/ACK to the {} carries our own random key 0x{sent_key:016x} back",
                    self.label
                ));
            }
        }
        if self.server_sent == ServerSent::NoCapable {
            return Some(format!(
                "the server sent its SYN/ACK to the {} without MP_CAPABLE, yet ours arrived with {}",
                self.label,
                got.describe()
            ));
        }
        None
    }

    /// MPTCP was negotiated on this attempt: the option arrived intact (or
    /// no server account says otherwise) and a real listener's MP_CAPABLE,
    /// in our version and with its own key, came back.
    pub fn works(&self) -> bool {
        let arrival_ok = matches!(
            self.arrival,
            Arrival::NoAccount | Arrival::Seen(SynFate::Intact(_))
        );
        let reply_ok = match &self.reply {
            Reply::SynAck(Some(c)) => {
                c.is_valid_syn_ack()
                    && Some(c.version) == self.version
                    && self.reflection().is_none()
            }
            Reply::Connected(Some(true)) => true,
            // An out-of-tree v0 host has no TCP_IS_MPTCP: the server's side
            // of the same connection tells.
            Reply::Connected(None) => self.server_connection_mptcp == Some(true),
            _ => false,
        };
        self.version.is_some() && arrival_ok && reply_ok
    }

    /// The option arrived (or, without an account, may have arrived) and the
    /// answer came without MPTCP.
    pub fn ignored(&self) -> bool {
        self.version.is_some()
            && matches!(
                self.arrival,
                Arrival::NoAccount | Arrival::Seen(SynFate::Intact(_))
            )
            && self.reply.handshake()
            && !matches!(self.server_sent, ServerSent::Capable(_))
            && (self.reply.without_mptcp()
                || self.server_sent == ServerSent::NoCapable
                || self.server_connection_mptcp == Some(false))
    }

    pub fn arrived_intact(&self) -> bool {
        matches!(self.arrival, Arrival::Seen(SynFate::Intact(_)))
    }

    /// The SYN arrived intact, the server answered with a real MP_CAPABLE
    /// SYN/ACK, and nothing came back: the answer was lost on the way back.
    pub fn answer_lost_downstream(&self) -> bool {
        self.arrived_intact()
            && matches!(&self.server_sent, ServerSent::Capable(c) if c.is_valid_syn_ack())
            && self.reply.unanswered()
    }

    /// Evidence line for this attempt.
    pub fn describe(&self) -> String {
        let sent = match (&self.sent, self.version) {
            (Some(c), _) => format!("sent {}", c.describe()),
            (None, Some(v)) => format!("sent MP_CAPABLE v{v}"),
            (None, None) => "sent no MPTCP option".into(),
        };
        let arrival = match &self.arrival {
            Arrival::NoAccount => String::new(),
            Arrival::NotSeen => "; server did not see it".into(),
            Arrival::Seen(SynFate::Intact(_)) => "; arrived intact".into(),
            Arrival::Seen(SynFate::Removed { nop_filled: true }) => {
                "; arrived without MP_CAPABLE (NOPs in its place)".into()
            }
            Arrival::Seen(SynFate::Removed { nop_filled: false }) => {
                "; arrived without MP_CAPABLE".into()
            }
            Arrival::Seen(SynFate::Modified {
                arrived, changes, ..
            }) => format!(
                "; arrived changed ({}): {}",
                changes.join(", "),
                arrived.describe()
            ),
            Arrival::Seen(SynFate::NotSent) => "; arrived".into(),
        };
        let server = match &self.server_sent {
            ServerSent::Unknown => String::new(),
            ServerSent::Capable(c) => format!("; server sent SYN/ACK with {}", c.describe()),
            ServerSent::NoCapable => "; server sent SYN/ACK without MP_CAPABLE".into(),
        };
        let retrans = match self.syn_retransmissions {
            Some(n) if n > 0 => format!("; {n} SYN retransmission(s)"),
            _ => String::new(),
        };
        format!(
            "{}: {sent}{arrival}{server}; got {}{retrans}",
            self.label,
            self.reply.describe()
        )
    }
}

/// Where a trace saw the option change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceFinding {
    pub probe: ProbeKind,
    /// The option vanished within this range.
    pub vanished: Option<HopRange>,
    /// The option was first seen changed within this range.
    pub changed: Option<HopRange>,
    /// Hops whose quote showed the options.
    pub informative_hops: usize,
    /// Where MP_CAPABLE SYNs were dropped while the plain control went on:
    /// after the last hop whose quote still held the option, at the first
    /// later hop that answered only the plain SYN (`None` there: the
    /// destination itself).
    pub dropped: Option<HopRange>,
}

/// Everything the rules look at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub input: &'a VerdictInput,
    pub target: String,
    pub local_version: Option<u8>,
    /// Attempts that carried MP_CAPABLE, kernel first.
    pub mptcp: Vec<Attempt>,
    /// Attempts without MPTCP: the plain probe, and the kernel connection
    /// when this host's kernel does not do MPTCP.
    pub plain: Vec<Attempt>,
    pub trace: Option<TraceFinding>,
    /// Signs of a box that terminates TCP on the path.
    pub proxy: ProxySigns,
}

/// Signs that a box on the path terminates TCP: it answers our SYNs itself
/// and opens its own connection to the server (a SYN proxy such as
/// iptables SYNPROXY, a transparent relay). Each sign is an evidence line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxySigns {
    /// Signs that prove it on their own.
    pub decisive: Vec<String>,
    /// Signs that fit it but have other explanations (a NAT, asymmetric
    /// routes, an odd stack).
    pub supporting: Vec<String>,
}

impl ProxySigns {
    pub fn found(&self) -> bool {
        !self.decisive.is_empty()
    }

    /// Every sign, decisive ones first.
    pub fn lines(&self) -> impl Iterator<Item = &String> {
        self.decisive.iter().chain(self.supporting.iter())
    }
}

impl<'a> Facts<'a> {
    pub fn new(input: &'a VerdictInput) -> Self {
        let target = if input.target.is_empty() {
            "the server".to_string()
        } else {
            input.target.clone()
        };
        let local_version = input.local.mptcp_version;
        let mut mptcp = Vec::new();
        let mut plain = Vec::new();
        if let Some(k) = kernel_attempt(input) {
            if k.version.is_some() {
                mptcp.push(k);
            } else {
                plain.push(k);
            }
        }
        for kind in [ProbeKind::V1, ProbeKind::V0, ProbeKind::Plain] {
            if let Some(a) = probe_attempt(input, kind) {
                if a.version.is_some() {
                    mptcp.push(a);
                } else {
                    plain.push(a);
                }
            }
        }
        plain.extend(plain_echo_attempt(input));
        let proxy = proxy_signs(input, &mptcp, &plain);
        Facts {
            input,
            target,
            local_version,
            mptcp,
            plain,
            trace: input.trace.as_ref().map(trace_finding),
            proxy,
        }
    }

    /// Attempts in the version this host speaks (all when it is unknown):
    /// the only ones whose fate decides whether this host gets MPTCP.
    pub fn relevant(&self) -> impl Iterator<Item = &Attempt> {
        let v = self.local_version;
        self.mptcp
            .iter()
            .filter(move |a| v.is_none() || a.version == v)
    }

    pub fn all(&self) -> impl Iterator<Item = &Attempt> {
        self.mptcp.iter().chain(self.plain.iter())
    }

    pub fn has_server(&self) -> bool {
        self.input.server.is_some()
    }

    /// A trace whose probe is relevant to this host's version.
    ///
    /// A trace of the other version counts too: boxes that remove kind 30
    /// do not look at its version, and the rules that read traces come
    /// after `mptcp_ok` and `version_mismatch`. A trace is only believed
    /// when the server's account does not contradict it (no attempt of this
    /// host's version arrived intact).
    pub fn relevant_trace(&self) -> Option<&TraceFinding> {
        if self.relevant().any(Attempt::arrived_intact) {
            return None;
        }
        self.trace
            .as_ref()
            .filter(|t| t.probe.mptcp_version().is_some())
    }
}

fn kernel_attempt(input: &VerdictInput) -> Option<super::facts::Attempt> {
    let k = input.kernel.as_ref()?;
    // The kernel's SYN carries MP_CAPABLE only when this host does MPTCP;
    // an upstream kernel (which opened an IPPROTO_MPTCP socket) speaks v1.
    let version = match input.local.mptcp_enabled {
        Some(false) => None,
        _ => Some(input.local.mptcp_version.unwrap_or(1)),
    };
    let sent = k.syn_sent.as_ref().and_then(|a| find_capable(a.as_bytes()));
    // A report fetched over another connection (a plain fallback, the
    // echo port of a watched service) says nothing about this one's SYN.
    let account = input
        .server
        .as_ref()
        .filter(|s| s.describes_kernel_connection());
    let (arrival, server_sent) = match account {
        Some(s) => (
            match &s.syn_seen {
                Some(area) => Arrival::Seen(syn_fate(
                    k.syn_sent.as_ref().map(|a| a.as_bytes()),
                    version,
                    area.as_bytes(),
                )),
                None => Arrival::NoAccount,
            },
            server_sent(s.syn_ack_sent.as_ref().map(|a| a.as_bytes())),
        ),
        None => (Arrival::NoAccount, ServerSent::Unknown),
    };
    let reply = match k.outcome {
        ConnectOutcome::Connected => Reply::Connected(k.is_mptcp),
        ConnectOutcome::Refused => Reply::Rst,
        ConnectOutcome::Timeout => Reply::Silence,
        ConnectOutcome::Unreachable => Reply::Icmp("ICMP unreachable".into()),
    };
    Some(Attempt {
        label: "kernel connection",
        is_kernel: true,
        version,
        sent,
        arrival,
        reply,
        server_sent,
        syn_retransmissions: k.syn_retransmissions,
        server_connection_mptcp: account.and_then(|s| s.connection_mptcp),
    })
}

/// The plain TCP connection a report was fetched over instead of the
/// kernel's MPTCP connection: that it connected makes it a plain control.
fn plain_echo_attempt(input: &VerdictInput) -> Option<Attempt> {
    let s = input.server.as_ref().filter(|s| s.plain_tcp_fallback)?;
    Some(Attempt {
        label: "plain echo connection",
        is_kernel: true,
        version: None,
        sent: None,
        arrival: Arrival::Seen(SynFate::NotSent),
        reply: Reply::Connected(Some(false)),
        server_sent: server_sent(s.syn_ack_sent.as_ref().map(|a| a.as_bytes())),
        syn_retransmissions: None,
        server_connection_mptcp: s.connection_mptcp,
    })
}

/// The TS echo of a SYN's option area (`None`: no timestamp option).
fn syn_ts_echo(area: &[u8]) -> Option<u32> {
    let list = crate::tcp_opt::OptionList::parse(area, None);
    list.options.iter().find_map(|o| match o {
        crate::TcpOption::Timestamps { tsecr, .. } => Some(*tsecr),
        _ => None,
    })
}

fn proxy_signs(input: &VerdictInput, mptcp: &[Attempt], plain: &[Attempt]) -> ProxySigns {
    let mut signs = ProxySigns::default();
    let Some(server) = input.server.as_ref() else {
        return signs;
    };
    // Every crafted SYN got a SYN/ACK, yet the server (asked) saw none of
    // them, while a connection of ours reached it. Not with a watched
    // port: an echo server that does not watch it sees no probe either.
    let probes: Vec<&Attempt> = mptcp
        .iter()
        .chain(plain.iter())
        .filter(|a| !a.is_kernel)
        .collect();
    if server.probes_queried
        && server.watched_port.is_none()
        && !probes.is_empty()
        && probes
            .iter()
            .all(|a| matches!(a.reply, Reply::SynAck(_)) && a.arrival == Arrival::NotSeen)
    {
        let which = match probes.len() {
            1 => "the crafted SYN never reached the server, yet it was".to_string(),
            n => format!("none of the {n} crafted SYNs reached the server, yet each was"),
        };
        signs.decisive.push(format!(
            "{which} answered with a SYN/ACK, while this host's connection to the echo server \
             reached it: something on the path answers SYNs in the server's name"
        ));
    }
    if let Some(ecr) = server
        .syn_seen
        .as_ref()
        .and_then(|a| syn_ts_echo(a.as_bytes()))
        .filter(|&e| e != 0)
    {
        signs.decisive.push(format!(
            "the SYN the server saw echoes a timestamp (TS ecr {ecr}): a SYN never does, so it was \
             built by a box that had already completed a handshake with this host"
        ));
    }
    let headers: Vec<_> = input
        .probes
        .iter()
        .filter_map(|p| p.answer.header())
        .collect();
    if !headers.is_empty() && headers.iter().all(|h| h.window == 0) {
        signs.supporting.push(
            "the SYN/ACKs advertised a window of 0, as SYN proxies (iptables SYNPROXY) do".into(),
        );
    }
    if let (Some(nearest), Some(ttl)) = (
        headers.iter().map(|h| hops_from_ttl(h.ttl)).min(),
        server.syn_seen_ttl,
    ) {
        let server_hops = hops_from_ttl(ttl);
        if nearest < server_hops {
            signs.supporting.push(format!(
                "the SYN/ACKs came from {nearest} hop(s) away, fewer than the {server_hops} the \
                 connection crossed to reach the server: something nearer answered"
            ));
        }
    }
    if let Some(t) = server.translated {
        signs.supporting.push(format!(
            "the server saw the connection come from {}, not from this host's {} (a NAT, or a \
             box that opens its own connection)",
            t.seen_from, t.sent_from
        ));
    }
    signs
}

fn server_sent(area: Option<&[u8]>) -> ServerSent {
    match area {
        None => ServerSent::Unknown,
        Some(a) => find_capable(a).map_or(ServerSent::NoCapable, ServerSent::Capable),
    }
}

fn probe_attempt(input: &VerdictInput, kind: ProbeKind) -> Option<Attempt> {
    let p = input.probes.iter().find(|p| p.kind == kind)?;
    let sent_bytes = p.sent.as_bytes();
    let sent = find_capable(sent_bytes);
    // What we sent decides the version, not the label we gave the probe.
    let version = sent.as_ref().map(|c| c.version);
    let (arrival, server_sent_state) = match &input.server {
        Some(s) if s.probes_queried => match s.probes.iter().find(|o| o.seq == p.seq) {
            Some(o) => (
                Arrival::Seen(syn_fate(Some(sent_bytes), version, o.syn.as_bytes())),
                server_sent(o.syn_ack_sent.as_ref().map(|a| a.as_bytes())),
            ),
            None => (Arrival::NotSeen, ServerSent::Unknown),
        },
        _ => (Arrival::NoAccount, ServerSent::Unknown),
    };
    let reply = match &p.answer {
        ProbeAnswer::SynAck { options, .. } => Reply::SynAck(find_capable(options.as_bytes())),
        ProbeAnswer::Rst => Reply::Rst,
        ProbeAnswer::Icmp {
            from,
            icmp_type,
            code,
        } => Reply::Icmp(format!("ICMP type {icmp_type} code {code} from {from}")),
        ProbeAnswer::Silence => Reply::Silence,
    };
    Some(Attempt {
        label: kind.label(),
        is_kernel: false,
        version,
        sent,
        arrival,
        reply,
        server_sent: server_sent_state,
        syn_retransmissions: None,
        server_connection_mptcp: None,
    })
}

/// Walks the hops in TTL order: the option vanished after the last hop that
/// quoted it and at the first later hop quoting it absent.
fn trace_finding(trace: &super::input::Trace) -> TraceFinding {
    let mut hops: Vec<_> = trace
        .hops
        .iter()
        .filter(|h| h.quote == QuoteKind::Full && h.mp_capable != HopOption::Unknown)
        .collect();
    hops.sort_by_key(|h| h.ttl);
    let hop_ref = |h: &super::input::TraceHop| HopRef {
        ttl: h.ttl,
        addr: h.responder,
    };
    let mut last_with = None;
    let mut vanished = None;
    let mut changed = None;
    for h in &hops {
        match h.mp_capable {
            HopOption::Present => last_with = Some(hop_ref(h)),
            HopOption::Absent if vanished.is_none() => {
                vanished = Some(HopRange {
                    last_with,
                    first_without: Some(hop_ref(h)),
                })
            }
            HopOption::Changed if changed.is_none() => {
                changed = Some(HopRange {
                    last_with,
                    first_without: Some(hop_ref(h)),
                })
            }
            _ => {}
        }
    }
    TraceFinding {
        probe: trace.probe,
        vanished,
        changed,
        informative_hops: hops.len(),
        dropped: dropped_range(trace),
    }
}

/// The hop range of a drop: the traced MP_CAPABLE flow against its plain
/// control. Only a trace of an MP_CAPABLE probe whose plain control got
/// further has one.
fn dropped_range(trace: &super::input::Trace) -> Option<HopRange> {
    trace.probe.mptcp_version()?;
    let plain = trace
        .controls
        .iter()
        .find(|c| c.probe == ProbeKind::Plain)?;
    let answered = |t: &super::input::Trace, ttl: u8| {
        t.hops.iter().any(|h| h.ttl == ttl && h.responder.is_some())
    };
    let last_with = trace
        .hops
        .iter()
        .filter(|h| h.mp_capable == HopOption::Present)
        .max_by_key(|h| h.ttl);
    let from = last_with.map_or(1, |h| h.ttl.saturating_add(1));
    let plain_end = plain.hops.iter().map(|h| h.ttl).max()?;
    let first = (from..=plain_end).find(|&t| answered(plain, t) && !answered(trace, t))?;
    // Every hop the plain SYN reached after it stayed silent for ours.
    if (first..=plain_end).any(|t| answered(trace, t)) {
        return None;
    }
    // The plain SYN's destination answers unquoted: the server (or what
    // answers for it) is then the first place ours did not reach.
    let is_destination = plain
        .hops
        .iter()
        .any(|h| h.ttl == first && h.quote == QuoteKind::None);
    Some(HopRange {
        last_with: last_with.map(|h| HopRef {
            ttl: h.ttl,
            addr: h.responder,
        }),
        first_without: (!is_destination).then(|| HopRef {
            ttl: first,
            addr: plain
                .hops
                .iter()
                .find(|h| h.ttl == first)
                .and_then(|h| h.responder),
        }),
    })
}
