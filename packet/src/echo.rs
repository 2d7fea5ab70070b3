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
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
}

/// Everything the server may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Report(Box<EchoReport>),
    Answer(ProbeAnswer),
    Error(ErrorMessage),
}

/// The client's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    /// Free text naming the client, e.g. `mptcp-probe/0.1.0`.
    #[serde(default)]
    pub client: String,
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
}

/// An address and a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub addr: String,
    pub port: u16,
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
    /// The options in wire order.
    pub options: Vec<OptionSummary>,
    /// The MP_CAPABLE option, when one was present.
    pub mp_capable: Option<MpCapableSummary>,
}

/// One TCP option as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionSummary {
    /// Kind byte (`None` for the padding after an end-of-list).
    pub kind: Option<u8>,
    /// Bytes on the wire, kind and length included.
    pub len: usize,
    /// Human name, e.g. `mss`, `nop`, `mptcp`.
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
    /// Which kernel flavour the sysctls point to: `upstream`,
    /// `out_of_tree` or `none`.
    pub flavor: String,
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
    fn hello_round_trips_with_type_tag() {
        let line = r#"{"type":"hello","version":1,"client":"x"}"#;
        let msg: ClientMessage = serde_json::from_str(line).unwrap();
        assert_eq!(
            msg,
            ClientMessage::Hello(Hello {
                version: 1,
                client: "x".into()
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
            options: vec![OptionSummary {
                kind: Some(30),
                len: 4,
                name: "mptcp".into(),
                text: "mptcp 4 capable v1 flags [H]".into(),
                hex: "1e040101".into(),
            }],
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
                flavor: "upstream".into(),
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
                    mptcp: true,
                    fallback_reason: None,
                }),
                errors: vec![],
            },
            warnings: vec!["w".into()],
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
        });
        let back: ServerMessage =
            serde_json::from_str(&serde_json::to_string(&answer).unwrap()).unwrap();
        assert_eq!(back, answer);
    }

    #[test]
    fn unknown_type_is_rejected() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"nope","version":1}"#).is_err());
    }
}
