//! What the verdict engine answers: one code, a line a user understands,
//! the evidence, and where there is one, the hop range and the fix.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The verdict codes of DESIGN.md (JSON field `verdict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictCode {
    MptcpOk,
    StrippedUpstream,
    StrippedDownstream,
    OptionModified,
    SynDropped,
    EchoingMiddlebox,
    VersionMismatch,
    ServerMptcpDisabled,
    LocalMptcpDisabled,
    Unreachable,
    Inconclusive,
}

impl VerdictCode {
    pub const ALL: [VerdictCode; 11] = [
        VerdictCode::MptcpOk,
        VerdictCode::StrippedUpstream,
        VerdictCode::StrippedDownstream,
        VerdictCode::OptionModified,
        VerdictCode::SynDropped,
        VerdictCode::EchoingMiddlebox,
        VerdictCode::VersionMismatch,
        VerdictCode::ServerMptcpDisabled,
        VerdictCode::LocalMptcpDisabled,
        VerdictCode::Unreachable,
        VerdictCode::Inconclusive,
    ];

    /// The code as in JSON and DESIGN.md.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictCode::MptcpOk => "mptcp_ok",
            VerdictCode::StrippedUpstream => "stripped_upstream",
            VerdictCode::StrippedDownstream => "stripped_downstream",
            VerdictCode::OptionModified => "option_modified",
            VerdictCode::SynDropped => "syn_dropped",
            VerdictCode::EchoingMiddlebox => "echoing_middlebox",
            VerdictCode::VersionMismatch => "version_mismatch",
            VerdictCode::ServerMptcpDisabled => "server_mptcp_disabled",
            VerdictCode::LocalMptcpDisabled => "local_mptcp_disabled",
            VerdictCode::Unreachable => "unreachable",
            VerdictCode::Inconclusive => "inconclusive",
        }
    }

    /// The generic one-line meaning of the code (rules write a more precise
    /// summary; this is the fallback and the legend).
    pub fn meaning(self) -> &'static str {
        match self {
            VerdictCode::MptcpOk => "MPTCP works end to end on this path",
            VerdictCode::StrippedUpstream => {
                "a middlebox between this host and the server removes the MP_CAPABLE option"
            }
            VerdictCode::StrippedDownstream => {
                "the server answers with MP_CAPABLE but a middlebox removes it on the way back"
            }
            VerdictCode::OptionModified => "a middlebox rewrites the MP_CAPABLE option",
            VerdictCode::SynDropped => "SYNs carrying MP_CAPABLE are dropped on this path",
            VerdictCode::EchoingMiddlebox => {
                "a middlebox reflects MP_CAPABLE without any MPTCP behind it"
            }
            VerdictCode::VersionMismatch => {
                "this host and the server speak different MPTCP versions"
            }
            VerdictCode::ServerMptcpDisabled => "the server does not do MPTCP on this port",
            VerdictCode::LocalMptcpDisabled => {
                "this host's kernel does not use MPTCP for new connections (disabled, \
                 refused, or its blackhole detection is active)"
            }
            VerdictCode::Unreachable => "nothing answers on this path",
            VerdictCode::Inconclusive => "not enough evidence to tell",
        }
    }
}

impl fmt::Display for VerdictCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way the MP_CAPABLE handshake was lost: on the way to the server
/// (our SYN) or on the way back (the server's SYN/ACK). JSON field
/// `direction`: `"upstream"`, `"downstream"`, or null when the verdict is
/// not about a loss on the path or the evidence cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Upstream,
    Downstream,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        }
    }
}

/// The kind of middlebox a verdict blames. JSON field `middlebox`, null
/// when the verdict blames none (a host, the server, or nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MiddleboxKind {
    /// Terminates TCP: answers our SYN itself and opens its own connection
    /// to the server (a SYN proxy such as iptables SYNPROXY, a transparent
    /// relay), so no option of ours reaches the server.
    TcpProxy,
    /// Removes (or NOP-fills) MP_CAPABLE and forwards the segment.
    OptionStripper,
    /// Answers or rewrites handshakes with an MP_CAPABLE no MPTCP host sent.
    OptionReflector,
    /// Rewrites the MP_CAPABLE option (version, length, flags, key).
    OptionRewriter,
    /// Drops segments that carry MP_CAPABLE.
    OptionDropper,
}

impl MiddleboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MiddleboxKind::TcpProxy => "tcp_proxy",
            MiddleboxKind::OptionStripper => "option_stripper",
            MiddleboxKind::OptionReflector => "option_reflector",
            MiddleboxKind::OptionRewriter => "option_rewriter",
            MiddleboxKind::OptionDropper => "option_dropper",
        }
    }
}

/// A hop of a trace, as named in a hop range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopRef {
    pub ttl: u8,
    pub addr: Option<IpAddr>,
}

impl fmt::Display for HopRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            Some(a) => write!(f, "hop {} ({a})", self.ttl),
            None => write!(f, "hop {}", self.ttl),
        }
    }
}

/// Where the option vanished: after `last_with` (`None`: this host, nothing
/// before it showed the option) and at or before `first_without` (`None`:
/// no hop showed it missing, only the server did). With Linux routers the
/// culprit is usually `last_with` itself: a router answers TTL expiry before
/// its FORWARD chain strips, so its own quote still shows the option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopRange {
    pub last_with: Option<HopRef>,
    pub first_without: Option<HopRef>,
}

impl HopRange {
    /// `(last ttl with, first ttl without)`, 0 for this host and `None` for
    /// the server.
    pub fn ttls(&self) -> (u8, Option<u8>) {
        (
            self.last_with.map_or(0, |h| h.ttl),
            self.first_without.map(|h| h.ttl),
        )
    }
}

impl fmt::Display for HopRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before = self
            .last_with
            .map_or_else(|| "this host".to_string(), |h| h.to_string());
        let after = self
            .first_without
            .map_or_else(|| "the server".to_string(), |h| h.to_string());
        write!(f, "between {before} and {after}")
    }
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    #[serde(rename = "verdict")]
    pub code: VerdictCode,
    /// One line a user understands.
    pub summary: String,
    /// Short factual lines: what was sent, seen, answered.
    pub evidence: Vec<String>,
    /// For stripping and rewriting located by a trace.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hop_range: Option<HopRange>,
    /// What to do about it, where there is something to do.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fix: Option<String>,
    /// What evidence was missing (for `inconclusive`, and caveats otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub missing: Vec<String>,
    /// Name of the rule that decided (see [`crate::verdict::RULES`]).
    pub rule: String,
    /// Which way the handshake was lost, where the verdict is such a loss
    /// and the evidence tells (always serialized, null otherwise).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// The kind of middlebox blamed, if any (always serialized).
    #[serde(default)]
    pub middlebox: Option<MiddleboxKind>,
}

impl Verdict {
    /// Process exit code: 0 when MPTCP works end to end, 1 for every other
    /// verdict (2 is for errors, decided outside the engine).
    pub fn exit_code(&self) -> i32 {
        match self.code {
            VerdictCode::MptcpOk => 0,
            _ => 1,
        }
    }
}
