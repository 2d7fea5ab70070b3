//! What the verdict engine is told: a plain, owned, serde-serializable record
//! of one check, so a run can be saved as JSON and replayed exactly.
//!
//! Everything here is an observation, never a conclusion: option areas are
//! kept as the bytes that were on the wire (hex in JSON), and the engine
//! decodes them itself. The client and the echo server adapt their real
//! observations into these types.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;

/// The bytes of a TCP option area (everything after the 20-byte fixed TCP
/// header), exactly as seen. Serialized as a lowercase hex string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct OptionArea(pub Vec<u8>);

impl OptionArea {
    pub fn new(bytes: &[u8]) -> Self {
        OptionArea(bytes.to_vec())
    }
    /// Decodes a hex string (as written in fixtures and saved runs).
    pub fn from_hex(hex_text: &str) -> Result<Self, hex::FromHexError> {
        hex::decode(hex_text.trim()).map(OptionArea)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Debug for OptionArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OptionArea({})", self.to_hex())
    }
}

impl Serialize for OptionArea {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for OptionArea {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        OptionArea::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Everything known about one check of one path (client to HOST:PORT).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VerdictInput {
    /// Destination as the user named it (for summaries only).
    #[serde(default)]
    pub target: String,
    pub local: LocalHost,
    /// The unprivileged kernel connection to the echo server, if one was tried.
    #[serde(default)]
    pub kernel: Option<KernelConnection>,
    /// Crafted SYNs (needs CAP_NET_RAW): at most one per [`ProbeKind`] is
    /// used (the first).
    #[serde(default)]
    pub probes: Vec<ProbeResult>,
    /// The echo server's account, when an echo server answered.
    #[serde(default)]
    pub server: Option<ServerReport>,
    /// A per-TTL trace of one probe, when one was run.
    #[serde(default)]
    pub trace: Option<Trace>,
}

/// This host's own MPTCP readiness.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LocalHost {
    /// Whether this host can make MPTCP connections: on an upstream kernel,
    /// whether `socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)` opens (and
    /// `net.mptcp.enabled=1`); on an out-of-tree v0 kernel, which has no
    /// IPPROTO_MPTCP, whether `net.mptcp.mptcp_enabled` is on. `None`: not
    /// checked.
    pub mptcp_enabled: Option<bool>,
    /// MPTCP version this host (the router) speaks: 0 (out-of-tree v0
    /// kernel) or 1 (upstream). `None`: unknown.
    pub mptcp_version: Option<u8>,
    /// Where `mptcp_version` came from.
    #[serde(default)]
    pub version_source: VersionSource,
    /// The kernel's blackhole detection, when it was seen keeping
    /// MP_CAPABLE out of new connections (`None`: not seen active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blackhole: Option<super::blackhole::Blackhole>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// Given with `--mptcp-version`.
    User,
    /// Read from this host's kernel.
    Kernel,
    #[default]
    Unknown,
}

/// How the kernel connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectOutcome {
    Connected,
    /// A RST answered the SYN (nothing listens on the port).
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// An ICMP error (host or network unreachable, prohibited).
    Unreachable,
}

/// The unprivileged connection made by this host's kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelConnection {
    pub outcome: ConnectOutcome,
    /// `TCP_IS_MPTCP` on the connected socket (`None`: not read, or the
    /// socket is not an upstream MPTCP socket).
    pub is_mptcp: Option<bool>,
    /// The SYN's option area as this host sent it, when a local capture saw
    /// it (lets a NOP-filled option be told from a removed one).
    #[serde(default)]
    pub syn_sent: Option<OptionArea>,
    /// SYN retransmissions before the connection was answered (from
    /// `TCP_INFO`). The kernel drops MP_CAPABLE from its SYN after
    /// `net.mptcp.syn_retrans_before_tcp_fallback` (2) losses, so an option
    /// missing at the server may be this fallback rather than stripping.
    #[serde(default)]
    pub syn_retransmissions: Option<u32>,
}

/// Which crafted probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// MP_CAPABLE v1 (RFC 8684), 4 bytes, no key.
    V1,
    /// MP_CAPABLE v0 (RFC 6824), 12 bytes, a random 64-bit key per probe.
    V0,
    /// No MPTCP option: the control.
    Plain,
}

impl ProbeKind {
    /// The MP_CAPABLE version this probe carries (`None` for the control).
    pub fn mptcp_version(self) -> Option<u8> {
        match self {
            ProbeKind::V1 => Some(1),
            ProbeKind::V0 => Some(0),
            ProbeKind::Plain => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::V1 => "v1 probe",
            ProbeKind::V0 => "v0 probe",
            ProbeKind::Plain => "plain probe",
        }
    }
}

/// One crafted SYN and what came back to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub kind: ProbeKind,
    /// Our initial sequence number (the echo server matches by it).
    pub seq: u32,
    /// The SYN's option area as sent (our v0 key is inside it).
    pub sent: OptionArea,
    pub answer: ProbeAnswer,
}

/// What answered a crafted SYN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ProbeAnswer {
    SynAck {
        options: OptionArea,
        /// The SYN/ACK's TTL and window, when recorded: they tell a box
        /// that answers for the server (nearer, window 0) from the server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<AnswerHeader>,
    },
    Rst,
    Icmp {
        from: IpAddr,
        icmp_type: u8,
        code: u8,
    },
    Silence,
}

impl ProbeAnswer {
    /// A SYN/ACK whose option area is `area` (raw bytes after the fixed
    /// TCP header).
    pub fn from_syn_ack_options(area: &[u8]) -> Self {
        ProbeAnswer::SynAck {
            options: OptionArea::new(area),
            header: None,
        }
    }

    /// A SYN/ACK with its option area and the header fields that tell who
    /// sent it.
    pub fn from_syn_ack(area: &[u8], header: AnswerHeader) -> Self {
        ProbeAnswer::SynAck {
            options: OptionArea::new(area),
            header: Some(header),
        }
    }

    /// The recorded header fields of a SYN/ACK answer.
    pub fn header(&self) -> Option<AnswerHeader> {
        match self {
            ProbeAnswer::SynAck { header, .. } => *header,
            _ => None,
        }
    }

    /// Whether the destination itself answered (SYN/ACK or RST).
    pub fn is_answer(&self) -> bool {
        matches!(self, ProbeAnswer::SynAck { .. } | ProbeAnswer::Rst)
    }
}

/// IP and TCP header fields of a SYN/ACK as it reached this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerHeader {
    /// IPv4 TTL or IPv6 hop limit on arrival.
    pub ttl: u8,
    /// The TCP window it advertised.
    pub window: u16,
}

/// Hops a packet crossed, from the TTL it arrived with: the distance to the
/// nearest initial TTL at or above it (64, 128 or 255, what hosts use).
pub fn hops_from_ttl(ttl: u8) -> u8 {
    let initial = match ttl {
        0..=64 => 64,
        65..=128 => 128,
        _ => 255,
    };
    initial - ttl
}

/// The echo server saw our connection come from another address than the
/// one this host sent it from (a NAT, or a box that opens its own
/// connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translation {
    /// This host's address on the connection.
    pub sent_from: IpAddr,
    /// The client address the server saw.
    pub seen_from: IpAddr,
}

/// The echo server's account of this client's connections.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerReport {
    /// The kernel connection's SYN as it arrived (`None`: not captured).
    pub syn_seen: Option<OptionArea>,
    /// The SYN/ACK the server host sent on that connection (`None`: not
    /// captured).
    pub syn_ack_sent: Option<OptionArea>,
    /// `TCP_IS_MPTCP` of the accepted connection on the server.
    pub connection_mptcp: Option<bool>,
    /// The server's `net.mptcp.enabled` (or out-of-tree `mptcp_enabled`).
    pub mptcp_enabled: Option<bool>,
    /// MPTCP version the server's kernel speaks.
    pub mptcp_version: Option<u8>,
    /// Whether the port is served by an MPTCP listener (`false`: it fell
    /// back to a TCP listener, or another service owns the port).
    pub mptcp_listener: Option<bool>,
    /// The crafted probes as they arrived, by our sequence number. A probe
    /// asked about and absent here was not seen by the server.
    #[serde(default)]
    pub probes: Vec<ServerProbeSeen>,
    /// Whether the client asked for probe observations (without this, an
    /// absent probe means "not asked", not "not seen").
    #[serde(default)]
    pub probes_queried: bool,
    /// The report came over a plain TCP connection made instead of (or
    /// after) the kernel's MPTCP connection: `syn_seen`, `syn_ack_sent`
    /// and `connection_mptcp` describe that plain connection, not the
    /// kernel connection, and that it connected is itself a plain control.
    #[serde(default)]
    pub plain_tcp_fallback: bool,
    /// The port the probes and the kernel connection went to, when it is
    /// not the echo server's own (`check --echo-port`): a service the
    /// server only watches, so the report's connection fields and
    /// `mptcp_listener` are about the echo port, not this one.
    #[serde(default)]
    pub watched_port: Option<u16>,
    /// TTL (hop limit) with which the SYN of the report's connection
    /// arrived at the server.
    #[serde(default)]
    pub syn_seen_ttl: Option<u8>,
    /// Set when the server saw that connection come from another address.
    #[serde(default)]
    pub translated: Option<Translation>,
}

impl ServerReport {
    /// Whether the report's connection fields (`syn_seen`, `syn_ack_sent`,
    /// `connection_mptcp`) describe the kernel connection.
    pub fn describes_kernel_connection(&self) -> bool {
        !self.plain_tcp_fallback && self.watched_port.is_none()
    }
}

/// One crafted SYN as the echo server captured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerProbeSeen {
    pub seq: u32,
    pub syn: OptionArea,
    /// The SYN/ACK the server host answered it with, if captured.
    #[serde(default)]
    pub syn_ack_sent: Option<OptionArea>,
}

/// A TTL-limited trace of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Which probe was traced.
    pub probe: ProbeKind,
    pub hops: Vec<TraceHop>,
    /// Control flows traced alongside on their own source ports (a plain
    /// SYN and the other MPTCP version per TTL), each with every hop up to
    /// and including the one that answered as the destination (`quote`
    /// `none` there). Their final probes go in as [`ProbeResult`]s; the
    /// hops tell where an MP_CAPABLE SYN was dropped while a plain one
    /// went on.
    #[serde(default)]
    pub controls: Vec<Trace>,
}

/// What one TTL showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceHop {
    pub ttl: u8,
    /// Who sent the ICMP time exceeded (`None`: silent hop).
    pub responder: Option<IpAddr>,
    /// Whether the quote held the whole TCP header (options included) or
    /// only RFC 792's 8 bytes.
    pub quote: QuoteKind,
    /// MP_CAPABLE in the quoted header, compared with what we sent.
    pub mp_capable: HopOption,
    #[serde(default)]
    pub rtt_us: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuoteKind {
    Full,
    Partial,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HopOption {
    /// Quoted, identical to what we sent.
    Present,
    /// Quoted header has no MP_CAPABLE (removed or NOP-filled).
    Absent,
    /// Quoted MP_CAPABLE differs from what we sent.
    Changed,
    /// The quote does not reach the options (partial quote, silent hop).
    Unknown,
}
