//! The aggregate engine's input: everything one `aggregate` run observed,
//! as an owned, serializable record (`aggregate --json` prints it in its
//! summary line), so a run replays through [`super::evaluate`] exactly.
use packet::echo::{PmEndpoint, PmLimits};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

/// One run of `aggregate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateInput {
    /// `HOST:PORT` as given.
    pub target: String,
    /// The server address every probe and the connection went to.
    pub address: IpAddr,
    pub wans: Vec<Wan>,
    /// This router's path manager (`ip mptcp limits/endpoint show`).
    pub local: PathManager,
    /// The verdict of the initial connection's handshake (check's engine).
    pub handshake: Handshake,
    /// The kernel MPTCP connection, when one was opened.
    pub connection: Option<Connection>,
    /// The echo server's side, when it answered.
    pub server: Option<ServerSide>,
    pub data: DataPhase,
    /// Why no crafted MP_JOIN SYN was sent (no CAP_NET_RAW, no keys ...).
    pub probes_skipped: Option<String>,
}

/// One WAN link of the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wan {
    pub interface: String,
    pub ifindex: Option<u32>,
    /// The address its traffic leaves from.
    pub source: Option<IpAddr>,
    /// It carries the connection's initial subflow (the route this host
    /// picks for the server without any binding).
    pub initial: bool,
    /// Routing tables with a default route through it.
    #[serde(default)]
    pub tables: Vec<u32>,
    /// The crafted MP_JOIN SYN on this WAN (`None`: not sent).
    pub join: Option<JoinResult>,
    /// The plain SYN sent alongside as control (`None`: not sent).
    pub plain: Option<PlainAnswer>,
    /// Why this WAN could not be probed.
    pub error: Option<String>,
}

/// The path manager's limits and endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PathManager {
    pub limits: Option<PmLimits>,
    pub endpoints: Vec<PmEndpoint>,
}

/// The initial connection's verdict, from check's engine (its code:
/// `mptcp_ok`, `stripped_upstream`, `syn_dropped`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    pub verdict: String,
    pub summary: String,
    pub fix: Option<String>,
    #[serde(default)]
    pub evidence: Vec<String>,
}

/// The kernel MPTCP connection, seen from this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// `TCP_IS_MPTCP`: it did not fall back to TCP.
    pub mptcp: bool,
    /// This side's token (`MPTCP_INFO`).
    pub token: Option<u32>,
    /// This connection's subflow limit (`mptcpi_subflows_max`).
    pub subflows_max: Option<u8>,
    /// `mptcpi_subflows`: joins, those still in SYN-SENT included.
    pub info_subflows: Option<u8>,
    /// Every subflow after the data phase.
    pub subflows: Vec<SubflowRecord>,
    /// How they were read (`MPTCP_FULL_INFO` ...), `None`: they could not be.
    pub subflow_source: Option<String>,
    /// The tokens of the keys captured from the handshake.
    pub keys: Option<KeyTokens>,
}

/// Tokens computed from the captured keys, to check against what the two
/// kernels report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTokens {
    pub client: u32,
    pub server: u32,
}

/// One subflow, from either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubflowRecord {
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// `tcpi_state` (1 established, 2 SYN-SENT).
    pub state: Option<u8>,
    /// Payload sent and acknowledged.
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
}

/// The echo server's side, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerSide {
    /// It speaks the aggregate exchange (a result came).
    pub speaks_aggregate: bool,
    pub limits: Option<PmLimits>,
    pub endpoints: Vec<PmEndpoint>,
    /// `net.mptcp.allow_join_initial_addr_port`.
    pub allow_join_initial_addr_port: Option<bool>,
    pub connection: Option<ServerConnection>,
    pub subflows: Vec<SubflowRecord>,
    /// Its MPTcpExt join and reset counters (namespace totals).
    pub counters: BTreeMap<String, u64>,
}

/// The server's `MPTCP_INFO` of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConnection {
    pub mptcp: bool,
    pub token: Option<u32>,
    pub subflows: Option<u8>,
    pub subflows_max: Option<u8>,
}

/// The data pushed over the connection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DataPhase {
    /// Data was pushed both ways (the server granted a data phase).
    pub ran: bool,
    pub duration_ms: u32,
    /// Bytes this host sent and received in the data phase.
    pub sent: u64,
    pub received: u64,
    /// Why it did not run, or ran shorter.
    pub note: Option<String>,
}

/// What answered a crafted MP_JOIN SYN, and how the server saw it arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResult {
    pub answer: JoinAnswer,
    pub server_saw: ServerSaw,
}

/// The answer to a crafted MP_JOIN SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JoinAnswer {
    /// A SYN/ACK with MP_JOIN whose truncated HMAC verifies against the
    /// connection's keys and both nonces: the server itself answered.
    SynAckValid {
        backup: bool,
    },
    /// A SYN/ACK with MP_JOIN whose HMAC does not verify: not the server.
    SynAckBadHmac,
    /// A SYN/ACK without MP_JOIN: the option was removed on the way (or
    /// the server took it for a plain SYN).
    SynAckWithoutJoin,
    /// A RST, with the MP_TCPRST reason when it carried one.
    Reset {
        reason: Option<u8>,
    },
    /// An ICMP error quoting it.
    Icmp {
        from: IpAddr,
        icmp_type: u8,
        code: u8,
    },
    Silence,
}

/// How the server's capture saw a crafted MP_JOIN SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerSaw {
    /// It arrived with our MP_JOIN; `syn_ack_join`: whether the SYN/ACK
    /// the server sent carried MP_JOIN (`None`: not captured).
    Intact { syn_ack_join: Option<bool> },
    /// It arrived with an MP_JOIN of other values.
    Changed,
    /// It arrived without MP_JOIN.
    Stripped,
    /// The server did not see it.
    NotSeen,
    /// The server was not asked (or could not say).
    Unknown,
}

/// The answer to the plain control SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlainAnswer {
    SynAck,
    Reset,
    Icmp,
    Silence,
}

impl PlainAnswer {
    /// The server (or something in its place) answered.
    pub fn answered(self) -> bool {
        matches!(self, PlainAnswer::SynAck | PlainAnswer::Reset)
    }
}

impl JoinAnswer {
    /// Nothing but silence or an ICMP error came back.
    pub fn lost(self) -> bool {
        matches!(self, JoinAnswer::Silence | JoinAnswer::Icmp { .. })
    }

    /// In words, for evidence.
    pub fn describe(self) -> String {
        match self {
            JoinAnswer::SynAckValid { backup } => format!(
                "SYN/ACK with MP_JOIN and a valid HMAC{}",
                if backup { " (backup)" } else { "" }
            ),
            JoinAnswer::SynAckBadHmac => "SYN/ACK with MP_JOIN whose HMAC does not verify".into(),
            JoinAnswer::SynAckWithoutJoin => "SYN/ACK without MP_JOIN".into(),
            JoinAnswer::Reset { reason: Some(r) } => format!(
                "RST with MP_TCPRST reason {r} ({})",
                packet::mptcp::tcprst_reason_name(r).unwrap_or("unknown")
            ),
            JoinAnswer::Reset { reason: None } => "RST without MP_TCPRST".into(),
            JoinAnswer::Icmp {
                from,
                icmp_type,
                code,
            } => format!("ICMP type {icmp_type} code {code} from {from}"),
            JoinAnswer::Silence => "no answer".into(),
        }
    }
}

impl ServerSaw {
    /// In words, for evidence (`None` when there is nothing to say).
    pub fn describe(self) -> Option<&'static str> {
        Some(match self {
            ServerSaw::Intact {
                syn_ack_join: Some(true),
            } => "the server saw it arrive with MP_JOIN intact and answered with MP_JOIN",
            ServerSaw::Intact {
                syn_ack_join: Some(false),
            } => "the server saw it arrive with MP_JOIN intact and answered without MP_JOIN",
            ServerSaw::Intact { syn_ack_join: None } => {
                "the server saw it arrive with MP_JOIN intact"
            }
            ServerSaw::Changed => "the server saw it arrive with MP_JOIN changed",
            ServerSaw::Stripped => "the server saw it arrive without MP_JOIN",
            ServerSaw::NotSeen => "the server did not see it arrive",
            ServerSaw::Unknown => return None,
        })
    }
}

impl SubflowRecord {
    /// `tcpi_state` is ESTABLISHED.
    pub fn established(&self) -> bool {
        self.state == Some(1)
    }
}

/// Whether an endpoint has a flag (`subflow`, `signal`, `backup` ...).
pub fn has_flag(e: &PmEndpoint, flag: &str) -> bool {
    e.flags.iter().any(|f| f == flag)
}
