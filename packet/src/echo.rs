//! The echo protocol between `mptcp-probe` and `mptcp-probe-server`.
//!
//! JSON lines over one TCP (or MPTCP) connection; the client speaks first.
//! Every message carries `"version"` ([`ECHO_VERSION`]) and `"type"`:
//!
//! | direction | `type`   | body                |
//! |-----------|----------|---------------------|
//! | client    | `hello`  | [`Hello`]           |
//! | server    | `report` | [`EchoReport`]      |
//! | client    | `query`  | [`ProbeQuery`]      |
//! | server    | `answer` | [`ProbeAnswer`]     |
//! | server    | `error`  | [`ErrorMessage`]    |
//!
//! Fields are only ever added (older readers ignore unknown fields, and
//! optional fields default), so `version` changes only when a field changes
//! meaning. These types are the wire contract: the client reads them without
//! depending on the server or the host crate.
//!
//! A segment's `options` come in one of two forms ([`OptionForm`]): the
//! JSON form of `analyze` for a hello with `"option_form":"json"`, else the
//! older summary form, which is all older clients read. A server that
//! predates `option_form` ignores it and sends the summary form; this
//! crate's readers take either ([`EchoOption`]).
use crate::json::OptionEntry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod aggregate;
pub use aggregate::{
    AggregateConnection, AggregateRequest, AggregateResult, AggregateStart, DataPlan, JoinRef,
    SubflowReport, FEATURE_AGGREGATE,
};

/// The protocol version this crate speaks.
pub const ECHO_VERSION: u32 = 1;
/// The server closes a connection whose line grows beyond this many bytes.
pub const MAX_LINE: usize = 4096;
/// At most this many sequence numbers in one [`ProbeQuery`].
pub const MAX_QUERY_SEQS: usize = 64;

/// Everything a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Hello(Hello),
    Query(ProbeQuery),
    Aggregate(AggregateRequest),
}

/// Everything the server may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Report(Box<EchoReport>),
    Answer(ProbeAnswer),
    Error(ErrorMessage),
    AggregateStart(AggregateStart),
    AggregateResult(Box<AggregateResult>),
}

/// The client's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    /// Free text naming the client, e.g. `mptcp-probe/0.1.0`.
    #[serde(default)]
    pub client: String,
    /// How the client wants each segment's options listed. Older clients
    /// do not send it and get [`OptionForm::Summary`], the only form they
    /// read; older servers ignore it and send that form.
    #[serde(default)]
    pub option_form: OptionForm,
}

impl Hello {
    /// This crate's hello: its version, and options in the JSON form.
    pub fn new(client: impl Into<String>) -> Self {
        Hello {
            version: ECHO_VERSION,
            client: client.into(),
            option_form: OptionForm::Json,
        }
    }
}

/// How a server lists the options of an [`ObservedSegment`] (the hello's
/// `option_form`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionForm {
    /// The one JSON form of an option, as `analyze --json` prints it
    /// ([`crate::json`]).
    Json,
    /// [`OptionSummary`] per option: `{"kind", "len", "name", "text",
    /// "hex"}`, what every server sent before the JSON form existed. Also
    /// what a hello naming a form this server does not know gets.
    #[default]
    #[serde(other)]
    Summary,
}

/// The server's account of the connection that carried the hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EchoReport {
    pub version: u32,
    /// The client's address and port as the server saw them (after any NAT).
    pub peer: Endpoint,
    /// The server's address and port of this connection.
    pub local: Endpoint,
    /// The SYN of this connection as it arrived (`None`: not captured, see
    /// `warnings`).
    pub syn: Option<ObservedSegment>,
    /// The SYN/ACK this host sent for it.
    pub syn_ack: Option<ObservedSegment>,
    /// The server side of this connection.
    pub connection: ConnectionInfo,
    /// The server host's MPTCP readiness.
    pub readiness: HostReadiness,
    /// Anything that makes this report less complete than it could be.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Exchanges this server speaks beyond hello and query
    /// ([`FEATURE_AGGREGATE`]); empty from older servers.
    #[serde(default)]
    pub features: Vec<String>,
}

/// An address and a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub addr: String,
    pub port: u16,
}

/// `ADDR:PORT`, an IPv6 address in brackets (`[fd00:2::2]:6101`), as
/// everywhere an address and a port are printed together.
impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.addr.contains(':') {
            write!(f, "[{}]:{}", self.addr, self.port)
        } else {
            write!(f, "{}:{}", self.addr, self.port)
        }
    }
}

/// One captured SYN or SYN/ACK: its raw headers and what they say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedSegment {
    /// IP and TCP headers (options included, payload excluded) as captured,
    /// in hex. Outgoing segments may show a checksum not yet filled in by
    /// offload.
    pub hex: String,
    /// Interface it was captured on.
    pub iface: String,
    /// Capture time, seconds since the epoch.
    pub ts: f64,
    pub src: String,
    pub dst: String,
    pub sport: u16,
    pub dport: u16,
    /// tcpdump's letters, e.g. `S`, `S.`.
    pub flags: String,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The options in wire order, in the form the hello asked for.
    pub options: Vec<EchoOption>,
    /// The MP_CAPABLE option, when one was present.
    pub mp_capable: Option<MpCapableSummary>,
}

/// One option of an [`ObservedSegment`], in either [`OptionForm`]. Reading
/// tells the forms apart: only the summary has `text`.
// A segment's options are all of one form; boxing the larger one would
// cost an allocation per option for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EchoOption {
    Summary(OptionSummary),
    Json(OptionEntry),
}

impl EchoOption {
    /// The kind byte (`None` for the padding after an end-of-list).
    pub fn kind(&self) -> Option<u8> {
        match self {
            EchoOption::Summary(o) => o.kind,
            EchoOption::Json(e) => e.kind(),
        }
    }

    /// The option's name (`nop`, `mptcp` ... as the form names it; the
    /// JSON form's unframed rest has none).
    pub fn name(&self) -> Option<&str> {
        match self {
            EchoOption::Summary(o) => Some(&o.name),
            EchoOption::Json(e) => e.option().map(|o| o.name.as_str()),
        }
    }

    /// The option's bytes on the wire, where the entry holds them (always
    /// in the summary form; see [`OptionEntry::wire_bytes`] for the other).
    pub fn wire_bytes(&self) -> Option<Vec<u8>> {
        match self {
            EchoOption::Summary(o) => hex::decode(&o.hex).ok(),
            EchoOption::Json(e) => e.wire_bytes(),
        }
    }
}

/// One TCP option in the [`OptionForm::Summary`] form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionSummary {
    /// Kind byte (`None` for the padding after an end-of-list).
    pub kind: Option<u8>,
    /// Bytes on the wire, kind and length included.
    pub len: usize,
    /// Short name, e.g. `mss`, `nop`, `mptcp`, `wscale`, `sackOK`, `TS`,
    /// `malformed`.
    pub name: String,
    /// tcpdump-style text of the option.
    pub text: String,
    /// The option's raw bytes in hex.
    pub hex: String,
}

/// The MP_CAPABLE option of a captured segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpCapableSummary {
    /// 0 (RFC 6824) or 1 (RFC 8684).
    pub version: u8,
    /// The flags byte as on the wire.
    pub flags: u8,
    /// Option length in bytes.
    pub len: usize,
}

/// Whether the accepted connection is really MPTCP on the server side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    /// The kernel says the accepted socket is MPTCP (not fallen back).
    pub mptcp: bool,
    /// The listening socket is an MPTCP socket (false: TCP fallback listener).
    pub listener_mptcp: bool,
    /// Why this connection is plain TCP, as far as the server can tell.
    pub fallback_reason: Option<String>,
    /// `mptcpi_flags` from MPTCP_INFO when the kernel gave it.
    pub info_flags: Option<u32>,
}

/// The MPTCP readiness of a host: what an admin would check by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HostReadiness {
    /// `net.mptcp.enabled` (or the out-of-tree `net.mptcp.mptcp_enabled`);
    /// `None` when neither exists (no MPTCP in this kernel).
    pub mptcp_enabled: Option<bool>,
    /// Which kernel flavour the sysctls point to.
    pub flavor: Flavor,
    /// MPTCP versions the kernel speaks (upstream: `[1]`).
    pub versions: Vec<u8>,
    /// Every `net.mptcp.*` sysctl, name without the prefix, value as read.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// Path-manager limits (as `ip mptcp limits show`).
    pub limits: Option<PmLimits>,
    /// Path-manager endpoints (as `ip mptcp endpoint show`).
    #[serde(default)]
    pub endpoints: Vec<PmEndpoint>,
    /// Kernel release, only when the host chose to publish it.
    pub kernel_release: Option<String>,
    /// Whether this server listens with MPTCP sockets, and why not.
    pub listener: Option<ListenerState>,
    /// Checks that could not be made, and why.
    #[serde(default)]
    pub errors: Vec<String>,
}

/// Which MPTCP implementation a host's sysctls belong to (JSON: `upstream`,
/// `out_of_tree`, `none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// Upstream Linux (5.6+): `net.mptcp.enabled`, speaks v1 only.
    Upstream,
    /// The out-of-tree multipath-tcp.org kernel: `net.mptcp.mptcp_enabled`,
    /// `net.mptcp.mptcp_version`.
    OutOfTree,
    /// No MPTCP sysctls: no MPTCP in this kernel.
    #[default]
    None,
    /// A value this version does not know (a newer server's): read as
    /// neither flavour rather than rejecting the whole report. Never
    /// produced here.
    #[serde(other)]
    Unknown,
}

impl Flavor {
    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Upstream => "upstream",
            Flavor::OutOfTree => "out_of_tree",
            Flavor::None => "none",
            Flavor::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// MPTCP path-manager limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmLimits {
    pub subflows: Option<u32>,
    pub add_addr_accepted: Option<u32>,
}

/// One MPTCP path-manager endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PmEndpoint {
    pub id: Option<u8>,
    pub addr: Option<String>,
    pub port: Option<u16>,
    /// `signal`, `subflow`, `backup`, `fullmesh`, `implicit`, ... or
    /// `0x...` for bits this code does not name.
    #[serde(default)]
    pub flags: Vec<String>,
    pub ifindex: Option<i32>,
}

/// The server's listening sockets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerState {
    pub mptcp: bool,
    /// Why the server fell back to TCP listeners.
    pub fallback_reason: Option<String>,
    /// What the server does about a fallback: re-open its listeners as
    /// MPTCP once the kernel allows it. `None` from a server that never
    /// fell back, and from servers before this field (which never re-arm).
    #[serde(default)]
    pub rearm: Option<Rearm>,
}

/// The re-arming of fallback TCP listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rearm {
    pub status: RearmStatus,
    /// Seconds between two attempts (`retrying`), or the attempt that
    /// succeeded was at most this long after MPTCP became available.
    pub interval_s: Option<u64>,
    /// Why the last attempt failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// Where the re-arming stands (JSON: `retrying`, `restart_needed`, `off`,
/// `rearmed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RearmStatus {
    /// The server tries MPTCP listeners again every `interval_s` seconds
    /// and switches by itself once the kernel allows MPTCP sockets.
    Retrying,
    /// It cannot re-open its listeners as MPTCP by itself (`error` says
    /// why): restart mptcp-probe-server once MPTCP is enabled.
    RestartNeeded,
    /// TCP listeners were asked for (`--tcp`): it does not re-arm.
    Off,
    /// It listened with TCP at first and re-armed: MPTCP listeners now.
    Rearmed,
    /// A value this version does not know (a newer server's).
    #[serde(other)]
    Unknown,
}

impl RearmStatus {
    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            RearmStatus::Retrying => "retrying",
            RearmStatus::RestartNeeded => "restart_needed",
            RearmStatus::Off => "off",
            RearmStatus::Rearmed => "rearmed",
            RearmStatus::Unknown => "unknown",
        }
    }
}

/// A request for the observations of crafted SYNs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeQuery {
    pub version: u32,
    /// The sequence numbers the client chose for its crafted SYNs.
    pub seqs: Vec<u32>,
}

/// The SYNs from the querying address that carried the asked sequence
/// numbers, each with the SYN/ACK this host answered, when it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeAnswer {
    pub version: u32,
    pub observations: Vec<ProbeObservation>,
    /// Packets the server's capture dropped (its ring or queue was full)
    /// while the asked probes may have arrived: a probe absent from
    /// `observations` may be among them, so its absence is no evidence
    /// that it never arrived. 0 (and absent from the line) when none
    /// were, and from servers older than this field.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub capture_drops: u64,
    /// Of the asked SYNs, how many the server captured and then evicted
    /// from its store (newer SYNs from the same address took their
    /// place): they are missing from `observations` though they arrived.
    /// 0 (and absent) when none, and from older servers.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub displaced: u64,
    /// What the server wants the client to know (server text: escaped
    /// before it reaches a terminal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One crafted SYN as it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeObservation {
    pub syn: ObservedSegment,
    pub syn_ack: Option<ObservedSegment>,
}

/// An error; the server closes the connection after sending one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub version: u32,
    /// Stable machine-readable code: `line_too_long`, `invalid_json`,
    /// `unexpected_message`, `unsupported_version`, `idle_timeout`,
    /// `too_many_seqs`, `busy`.
    pub code: String,
    pub message: String,
}

impl ErrorMessage {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorMessage {
            version: ECHO_VERSION,
            code: code.to_string(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_print_ipv6_in_brackets() {
        let v4 = Endpoint {
            addr: "10.1.0.1".into(),
            port: 40000,
        };
        let v6 = Endpoint {
            addr: "fd00:1::1".into(),
            port: 40000,
        };
        assert_eq!(v4.to_string(), "10.1.0.1:40000");
        assert_eq!(v6.to_string(), "[fd00:1::1]:40000");
    }

    #[test]
    fn hello_round_trips_with_type_tag() {
        let line = r#"{"type":"hello","version":1,"client":"x"}"#;
        let msg: ClientMessage = serde_json::from_str(line).unwrap();
        assert_eq!(
            msg,
            ClientMessage::Hello(Hello {
                version: 1,
                client: "x".into(),
                option_form: OptionForm::Summary,
            })
        );
        let back = serde_json::to_string(&msg).unwrap();
        assert!(back.starts_with(r#"{"type":"hello","version":1"#), "{back}");
    }

    #[test]
    fn query_and_error_serialize_as_documented() {
        let q: ClientMessage =
            serde_json::from_str(r#"{"type":"query","version":1,"seqs":[1,4294967295]}"#).unwrap();
        assert_eq!(
            q,
            ClientMessage::Query(ProbeQuery {
                version: 1,
                seqs: vec![1, u32::MAX]
            })
        );
        let e = ServerMessage::Error(ErrorMessage::new("invalid_json", "bad"));
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "invalid_json");
        assert_eq!(v["version"], 1);
    }

    fn segment() -> ObservedSegment {
        ObservedSegment {
            hex: "4500".into(),
            iface: "eth0".into(),
            ts: 1.5,
            src: "10.0.0.1".into(),
            dst: "10.0.0.2".into(),
            sport: 1,
            dport: 6101,
            flags: "S".into(),
            seq: 7,
            ack: 0,
            window: 100,
            ttl: 64,
            options: crate::json::option_list_json(&crate::OptionList::parse(
                &[0x1e, 4, 1, 1],
                Some(crate::TcpFlags(0x02)),
            ))
            .into_iter()
            .map(EchoOption::Json)
            .collect(),
            mp_capable: Some(MpCapableSummary {
                version: 1,
                flags: 1,
                len: 4,
            }),
        }
    }

    #[test]
    fn full_report_round_trips() {
        let report = ServerMessage::Report(Box::new(EchoReport {
            version: ECHO_VERSION,
            peer: Endpoint {
                addr: "10.0.0.1".into(),
                port: 1,
            },
            local: Endpoint {
                addr: "10.0.0.2".into(),
                port: 6101,
            },
            syn: Some(segment()),
            syn_ack: None,
            connection: ConnectionInfo {
                mptcp: false,
                listener_mptcp: true,
                fallback_reason: Some("x".into()),
                info_flags: Some(2),
            },
            readiness: HostReadiness {
                mptcp_enabled: Some(true),
                flavor: Flavor::Upstream,
                versions: vec![1],
                sysctls: [("enabled".to_string(), "1".to_string())].into(),
                limits: Some(PmLimits {
                    subflows: Some(2),
                    add_addr_accepted: None,
                }),
                endpoints: vec![PmEndpoint {
                    id: Some(1),
                    addr: Some("10.0.0.2".into()),
                    port: None,
                    flags: vec!["signal".into()],
                    ifindex: Some(2),
                }],
                kernel_release: None,
                listener: Some(ListenerState {
                    mptcp: false,
                    fallback_reason: Some("refused".into()),
                    rearm: Some(Rearm {
                        status: RearmStatus::Retrying,
                        interval_s: Some(5),
                        error: None,
                    }),
                }),
                errors: vec![],
            },
            warnings: vec!["w".into()],
            features: vec![FEATURE_AGGREGATE.into()],
        }));
        let line = serde_json::to_string(&report).unwrap();
        assert!(
            line.starts_with(r#"{"type":"report","version":1"#),
            "{line}"
        );
        let back: ServerMessage = serde_json::from_str(&line).unwrap();
        assert_eq!(back, report);
        let answer = ServerMessage::Answer(ProbeAnswer {
            version: ECHO_VERSION,
            observations: vec![ProbeObservation {
                syn: segment(),
                syn_ack: None,
            }],
            capture_drops: 0,
            displaced: 0,
            warnings: Vec::new(),
        });
        let line = serde_json::to_string(&answer).unwrap();
        // Without drops the line is what servers before `capture_drops`
        // sent, and such a line reads back with 0 drops.
        assert!(
            !line.contains("capture_drops")
                && !line.contains("displaced")
                && !line.contains("warnings"),
            "{line}"
        );
        let back: ServerMessage =
            serde_json::from_str(&serde_json::to_string(&answer).unwrap()).unwrap();
        assert_eq!(back, answer);
    }

    #[test]
    fn flavor_round_trips_as_its_documented_strings() {
        for (flavor, text) in [
            (Flavor::Upstream, "\"upstream\""),
            (Flavor::OutOfTree, "\"out_of_tree\""),
            (Flavor::None, "\"none\""),
        ] {
            assert_eq!(serde_json::to_string(&flavor).unwrap(), text);
            assert_eq!(serde_json::from_str::<Flavor>(text).unwrap(), flavor);
            assert_eq!(format!("\"{flavor}\""), text);
        }
        // A flavour a newer server may name does not make the report unreadable.
        assert_eq!(
            serde_json::from_str::<Flavor>("\"some_fork\"").unwrap(),
            Flavor::Unknown
        );
    }

    #[test]
    fn listener_state_reads_older_servers_and_documented_rearm_strings() {
        let old: ListenerState =
            serde_json::from_str(r#"{"mptcp":false,"fallback_reason":"x"}"#).unwrap();
        assert_eq!(old.rearm, None, "servers before re-arming never re-arm");
        for (status, text) in [
            (RearmStatus::Retrying, "retrying"),
            (RearmStatus::RestartNeeded, "restart_needed"),
            (RearmStatus::Off, "off"),
            (RearmStatus::Rearmed, "rearmed"),
        ] {
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(status.as_str(), text);
        }
        let future: Rearm =
            serde_json::from_str(r#"{"status":"paused","interval_s":null}"#).unwrap();
        assert_eq!(future.status, RearmStatus::Unknown);
        assert_eq!(future.error, None);
    }

    #[test]
    fn hello_asks_for_the_json_form_and_older_hellos_get_the_summary() {
        let line = serde_json::to_string(&ClientMessage::Hello(Hello::new("t"))).unwrap();
        assert!(line.contains(r#""option_form":"json""#), "{line}");
        let old: Hello = serde_json::from_str(r#"{"version":1}"#).unwrap();
        assert_eq!(old.option_form, OptionForm::Summary);
        let future: Hello = serde_json::from_str(r#"{"version":1,"option_form":"cbor"}"#).unwrap();
        assert_eq!(future.option_form, OptionForm::Summary);
    }

    #[test]
    fn segment_options_read_in_either_form() {
        let v = serde_json::to_value(segment()).unwrap();
        assert_eq!(
            v["options"][0],
            serde_json::json!({"kind": 30, "len": 4, "name": "mptcp",
                "mptcp": {"subtype": "mp_capable", "version": 1, "flags": 1}})
        );
        let json: ObservedSegment = serde_json::from_value(v.clone()).unwrap();
        assert!(matches!(json.options[0], EchoOption::Json(_)));
        assert_eq!(json.options[0].name(), Some("mptcp"));
        assert_eq!(json.options[0].kind(), Some(30));
        let mut old = v;
        old["options"] = serde_json::json!([{"kind": 30, "len": 4, "name": "mptcp",
            "text": "mptcp 4 capable v1 flags [H]", "hex": "1e040101"}]);
        let seg: ObservedSegment = serde_json::from_value(old).unwrap();
        assert!(matches!(seg.options[0], EchoOption::Summary(_)));
        assert_eq!(seg.options[0].wire_bytes(), Some(vec![0x1e, 4, 1, 1]));
    }

    #[test]
    fn unknown_type_is_rejected() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"nope","version":1}"#).is_err());
    }
}
