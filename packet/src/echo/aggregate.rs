//! The `aggregate` exchange of the echo protocol: data pushed both ways
//! over the client's MPTCP connection for a bounded time, then the
//! server's account of that connection (its token, subflows and bytes per
//! subflow, its MPTcpExt join counters) and of the client's crafted
//! MP_JOIN SYNs.
//!
//! | direction | `type`             | body                |
//! |-----------|--------------------|---------------------|
//! | client    | `aggregate`        | [`AggregateRequest`] |
//! | server    | `aggregate_start`  | [`AggregateStart`]  |
//! | both      | data phase (below) |                     |
//! | server    | `aggregate_result` | [`AggregateResult`] |
//!
//! Only after a report whose `features` lists [`FEATURE_AGGREGATE`]: an
//! older server answers the request with `invalid_json` and closes.
//!
//! The data phase is not JSON: after `aggregate_start`, each side sends at
//! most `max_bytes` bytes, none of them a newline (both send zero bytes),
//! then one `\n`. The bytes go out in [`DataPlan`] bursts, so that the
//! kernel's scheduler spreads them over every subflow, and stop early when
//! `max_bytes` is reached. The server then sends `aggregate_result`.
//! A server that will not push data (rate limit, busy) grants a
//! `duration_ms` and `max_bytes` of 0 with a `note`: both sides then send
//! the `\n` alone, and the result still comes.
use super::{ProbeObservation, ECHO_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The report's `features` entry of a server that speaks this exchange.
pub const FEATURE_AGGREGATE: &str = "aggregate";
/// The longest data phase a request may ask for.
pub const MAX_AGGREGATE_DURATION_MS: u32 = 10_000;
/// At most this many crafted MP_JOIN SYNs named in one request.
pub const MAX_AGGREGATE_JOINS: usize = 16;
/// At most this many subflows in a result.
pub const MAX_REPORTED_SUBFLOWS: usize = 32;
/// Time between two bursts of the data phase.
pub const BURST_INTERVAL: Duration = Duration::from_millis(100);

/// The client's request: push data for `duration_ms`, at most `max_bytes`
/// each way, then report on the connection and on the crafted MP_JOIN
/// SYNs in `joins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateRequest {
    pub version: u32,
    pub duration_ms: u32,
    pub max_bytes: u64,
    /// The crafted MP_JOIN SYNs (and their plain controls) the client sent
    /// from its other addresses: the server reports those it captured,
    /// only when source address and sequence number both match, and only
    /// SYNs that arrived after this connection was accepted.
    #[serde(default)]
    pub joins: Vec<JoinRef>,
}

/// One crafted SYN the client asks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRef {
    /// The address it was sent from.
    pub source: String,
    pub seq: u32,
}

/// The server's grant: the data phase it will run (zero: none, `note`
/// says why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateStart {
    pub version: u32,
    pub duration_ms: u32,
    pub max_bytes: u64,
    #[serde(default)]
    pub note: Option<String>,
}

/// The server's account after the data phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateResult {
    pub version: u32,
    /// Data-phase bytes the server received and sent (newline excluded).
    pub received: u64,
    pub sent: u64,
    /// The server's side of the MPTCP connection (`MPTCP_INFO`).
    pub connection: AggregateConnection,
    /// Its subflows, as its kernel lists them.
    #[serde(default)]
    pub subflows: Vec<SubflowReport>,
    /// `MPTCP_FULL_INFO` or `MPTCP_SUBFLOW_ADDRS+MPTCP_TCPINFO`; `None`
    /// when neither could be read.
    #[serde(default)]
    pub subflow_source: Option<String>,
    /// The MPTcpExt join counters of the server's namespace (`MPJoin*`,
    /// `MPRst*`), read now: namespace-wide totals, not this connection's.
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    /// The crafted SYNs of the request as they arrived, each with the
    /// SYN/ACK this host answered.
    #[serde(default)]
    pub joins: Vec<ProbeObservation>,
    /// Packets the server's capture dropped from shortly before the
    /// accept to the result: a crafted SYN missing from `joins` may be
    /// among them (left out of the line when 0).
    #[serde(default, skip_serializing_if = "super::is_zero")]
    pub capture_drops: u64,
    /// Of the request's crafted SYNs, how many the server captured and
    /// then evicted from its store before the result (left out when 0).
    #[serde(default, skip_serializing_if = "super::is_zero")]
    pub displaced: u64,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// One side's `MPTCP_INFO` of the connection, as far as read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AggregateConnection {
    /// The connection is MPTCP on this side (did not fall back).
    pub mptcp: bool,
    pub token: Option<u32>,
    /// Subflows besides the initial one (joins in SYN-SENT included).
    pub subflows: Option<u8>,
    /// This connection's subflow limit.
    pub subflows_max: Option<u8>,
    /// Every subflow, the initial one included (6.8+).
    #[serde(default)]
    pub subflows_total: Option<u8>,
    #[serde(default)]
    pub add_addr_signal: Option<u8>,
    #[serde(default)]
    pub add_addr_accepted: Option<u8>,
    #[serde(default)]
    pub flags: Option<u32>,
    #[serde(default)]
    pub bytes_sent: Option<u64>,
    #[serde(default)]
    pub bytes_received: Option<u64>,
}

/// One subflow: addresses (`IP:PORT`, IPv6 in brackets), TCP state
/// (`tcpi_state`: 1 established, 2 SYN-SENT ...) and payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubflowReport {
    #[serde(default)]
    pub id: Option<u32>,
    pub local: Option<String>,
    pub remote: Option<String>,
    pub state: Option<u8>,
    /// Sent and acknowledged by the peer.
    pub bytes_acked: Option<u64>,
    pub bytes_received: Option<u64>,
    #[serde(default)]
    pub bytes_sent: Option<u64>,
}

impl AggregateRequest {
    pub fn new(duration_ms: u32, max_bytes: u64, joins: Vec<JoinRef>) -> Self {
        AggregateRequest {
            version: ECHO_VERSION,
            duration_ms,
            max_bytes,
            joins,
        }
    }
}

/// How one side spreads its data-phase bytes: `bursts` bursts of
/// `burst_bytes`, one every [`BURST_INTERVAL`], the first at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPlan {
    pub bursts: u32,
    pub burst_bytes: u64,
}

impl DataPlan {
    /// The plan for a granted duration and byte budget. A burst is large
    /// enough to fill one subflow's congestion window many times over
    /// (the scheduler then moves on to the next subflow) and the bursts
    /// last the whole duration, so subflows that join late still get data.
    pub fn new(duration_ms: u32, max_bytes: u64) -> Self {
        if duration_ms == 0 || max_bytes == 0 {
            return DataPlan {
                bursts: 0,
                burst_bytes: 0,
            };
        }
        let interval = BURST_INTERVAL.as_millis() as u32;
        let bursts = duration_ms.div_ceil(interval).max(1);
        DataPlan {
            bursts,
            burst_bytes: max_bytes / u64::from(bursts),
        }
    }

    /// When burst `i` is due, from the start of the data phase.
    pub fn due(&self, i: u32) -> Duration {
        BURST_INTERVAL * i
    }

    /// Bytes the plan sends in all.
    pub fn total(&self) -> u64 {
        self.burst_bytes * u64::from(self.bursts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ClientMessage, ServerMessage};
    use super::*;

    #[test]
    fn messages_carry_their_documented_type_tags() {
        let req = ClientMessage::Aggregate(AggregateRequest::new(
            2000,
            1 << 20,
            vec![JoinRef {
                source: "10.12.0.1".into(),
                seq: 7,
            }],
        ));
        let line = serde_json::to_string(&req).unwrap();
        assert!(
            line.starts_with(r#"{"type":"aggregate","version":1,"duration_ms":2000"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<ClientMessage>(&line).unwrap(), req);
        // joins may be left out.
        let bare: ClientMessage = serde_json::from_str(
            r#"{"type":"aggregate","version":1,"duration_ms":1,"max_bytes":2}"#,
        )
        .unwrap();
        assert!(matches!(bare, ClientMessage::Aggregate(r) if r.joins.is_empty()));
        let start = ServerMessage::AggregateStart(AggregateStart {
            version: 1,
            duration_ms: 0,
            max_bytes: 0,
            note: Some("rate limited".into()),
        });
        let v = serde_json::to_value(&start).unwrap();
        assert_eq!(v["type"], "aggregate_start");
        let result = ServerMessage::AggregateResult(Box::new(AggregateResult {
            version: 1,
            received: 5,
            sent: 6,
            connection: AggregateConnection {
                mptcp: true,
                token: Some(0xdead_beef),
                ..Default::default()
            },
            subflows: vec![SubflowReport {
                local: Some("10.99.0.2:6101".into()),
                remote: Some("10.12.0.1:40353".into()),
                state: Some(1),
                ..Default::default()
            }],
            subflow_source: Some("MPTCP_FULL_INFO".into()),
            counters: [("MPJoinRejected".to_string(), 1)].into(),
            joins: vec![],
            capture_drops: 0,
            displaced: 0,
            warnings: vec![],
        }));
        let line = serde_json::to_string(&result).unwrap();
        assert!(line.starts_with(r#"{"type":"aggregate_result""#), "{line}");
        assert_eq!(
            serde_json::from_str::<ServerMessage>(&line).unwrap(),
            result
        );
    }

    #[test]
    fn the_data_plan_spreads_the_budget_over_the_duration() {
        let p = DataPlan::new(2000, 20 << 20);
        assert_eq!(p.bursts, 20);
        assert_eq!(p.burst_bytes, 1 << 20);
        assert_eq!(p.due(19), Duration::from_millis(1900));
        assert!(p.total() <= 20 << 20);
        assert_eq!(DataPlan::new(50, 1000).bursts, 1);
        assert_eq!(DataPlan::new(0, 1000).total(), 0);
        assert_eq!(DataPlan::new(1000, 0).bursts, 0);
    }
}
