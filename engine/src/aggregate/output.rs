//! What the aggregate engine decides: one verdict per WAN and a summary.
use super::mapping::MappedSubflow;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A WAN's verdict code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathCode {
    /// A subflow over this WAN joined and carried data both ways (the
    /// initial subflow, on the WAN that carries it).
    SubflowOk,
    /// Joined, but carried no data one way or both (backup, scheduler).
    SubflowIdle,
    /// A SYN/ACK with MP_JOIN whose HMAC does not verify: a middlebox
    /// answers joins in the server's place.
    JoinMiddlebox,
    /// MP_JOIN is removed on this WAN's path.
    JoinStripped,
    /// MP_JOIN SYNs are lost on this WAN while plain SYNs pass.
    JoinDropped,
    /// The server refuses joins (its limit, its RST reason, its sysctl).
    JoinRefused,
    /// No `subflow` endpoint for this WAN: the kernel never tries it.
    NoEndpoint,
    /// This router's subflow limit is below the joins its endpoints ask for.
    LocalLimit,
    /// Nothing answered on this WAN, plain SYNs included.
    Unreachable,
    /// The initial connection's own handshake verdict (check's codes).
    Handshake,
    /// Not enough evidence; `missing` says what.
    Inconclusive,
}

impl PathCode {
    /// The JSON code (`Handshake` is printed as the handshake's own code).
    pub fn as_str(self) -> &'static str {
        match self {
            PathCode::SubflowOk => "subflow_ok",
            PathCode::SubflowIdle => "subflow_idle",
            PathCode::JoinMiddlebox => "join_middlebox",
            PathCode::JoinStripped => "join_stripped",
            PathCode::JoinDropped => "join_dropped",
            PathCode::JoinRefused => "join_refused",
            PathCode::NoEndpoint => "no_endpoint",
            PathCode::LocalLimit => "local_limit",
            PathCode::Unreachable => "unreachable",
            PathCode::Handshake => "handshake",
            PathCode::Inconclusive => "inconclusive",
        }
    }
}

/// The summary's verdict code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryCode {
    /// Every WAN carried data.
    AggregationOk,
    /// At least two WANs carried data, not all.
    AggregationPartial,
    /// At most one WAN carried data while another failed.
    AggregationNone,
    /// The MPTCP connection itself failed: its handshake verdict.
    Handshake,
    Inconclusive,
}

impl SummaryCode {
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryCode::AggregationOk => "aggregation_ok",
            SummaryCode::AggregationPartial => "aggregation_partial",
            SummaryCode::AggregationNone => "aggregation_none",
            SummaryCode::Handshake => "handshake",
            SummaryCode::Inconclusive => "inconclusive",
        }
    }
}

/// One WAN's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathVerdict {
    pub interface: String,
    pub source: Option<IpAddr>,
    pub initial: bool,
    /// The code (`subflow_ok`, ..., or the handshake's code on the initial WAN).
    pub verdict: String,
    /// The rule that decided.
    pub rule: String,
    pub summary: String,
    pub evidence: Vec<String>,
    pub fix: Option<String>,
    /// Other rules that matched too (their codes), in table order.
    pub also: Vec<String>,
    pub missing: Vec<String>,
    /// Payload bytes over this WAN, this host's view.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub subflows: Vec<MappedSubflow>,
}

/// The summary over every WAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryVerdict {
    pub verdict: String,
    pub rule: String,
    pub summary: String,
    pub evidence: Vec<String>,
    /// Every WAN's fix, prefixed with its interface.
    pub fixes: Vec<String>,
    /// WANs probed, and how many carried data both ways.
    pub wans: usize,
    pub carrying: usize,
    /// 0 only for `aggregation_ok`.
    pub exit_code: i32,
}

/// Everything the engine decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateVerdict {
    pub paths: Vec<PathVerdict>,
    pub summary: SummaryVerdict,
    /// Subflows on no known WAN.
    pub unmapped: Vec<MappedSubflow>,
    /// What was left out of the verdict, and why.
    pub notes: Vec<String>,
}

/// A byte count for people: `0 B`, `950 B`, `1.6 MB` (decimal units).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `tcpi_state` in words.
pub fn tcp_state_name(state: Option<u8>) -> &'static str {
    match state {
        Some(1) => "established",
        Some(2) => "SYN-SENT",
        Some(3) => "SYN-RECV",
        Some(4) => "FIN-WAIT-1",
        Some(5) => "FIN-WAIT-2",
        Some(6) => "TIME-WAIT",
        Some(7) => "closed",
        Some(8) => "CLOSE-WAIT",
        Some(9) => "LAST-ACK",
        Some(10) => "listening",
        Some(11) => "closing",
        Some(_) => "unknown state",
        None => "state unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_606_194), "1.6 MB");
        assert_eq!(human_bytes(2_500_000_000), "2.5 GB");
        assert_eq!(human_bytes(u64::MAX), "18446744.1 TB");
    }
}
