//! The kernel's `MPTcpExt` counters explained in words. They count since
//! boot (or since the network namespace was created), so they tell what
//! happened, not what happens now: `mptcp-probe check` is the live test.
use super::facts::DoctorFacts;
use super::finding::{Finding, Group, Status};
use packet::verdict::blackhole::reset_advice;
use std::collections::BTreeMap;

/// Counters printed with the summary, in this order, with their meaning.
pub const EXPLAINED: [(&str, &str); 18] = [
    (
        "MPCapableSYNTX",
        "outgoing connections that sent an MP_CAPABLE SYN (once per connection, retransmissions not counted)",
    ),
    (
        "MPCapableSYNACKRX",
        "SYN/ACKs received with MP_CAPABLE (outgoing connections the server accepted as MPTCP)",
    ),
    (
        "MPCapableFallbackSYNACK",
        "outgoing connections answered by a SYN/ACK without MP_CAPABLE (fell back to TCP)",
    ),
    (
        "MPCapableSYNTXDrop",
        "outgoing connections whose MP_CAPABLE SYNs went unanswered until the kernel retried without MP_CAPABLE",
    ),
    (
        "MPCapableSYNTXDisabled",
        "outgoing connections sent without MP_CAPABLE because blackhole detection disabled MPTCP",
    ),
    (
        "Blackhole",
        "times blackhole detection disabled MPTCP for outgoing connections",
    ),
    (
        "MPCapableSYNRX",
        "SYNs received with MP_CAPABLE (incoming MPTCP connections)",
    ),
    (
        "MPCapableACKRX",
        "third ACKs received with MP_CAPABLE (incoming connections completed as MPTCP)",
    ),
    (
        "MPCapableFallbackACK",
        "incoming connections whose third ACK lacked MP_CAPABLE (fell back to TCP)",
    ),
    (
        "MPJoinSynTx",
        "MP_JOIN SYNs sent (extra subflows this host opened)",
    ),
    (
        "MPJoinSynAckRx",
        "MP_JOIN SYN/ACKs received (extra subflows the peer accepted)",
    ),
    (
        "MPJoinSynRx",
        "MP_JOIN SYNs received (extra subflows the peer opened)",
    ),
    (
        "MPJoinAckRx",
        "MP_JOIN third ACKs received (incoming extra subflows completed)",
    ),
    (
        "MPJoinRejected",
        "MP_JOIN requests rejected (limits reached or unknown token)",
    ),
    (
        "MPJoinSynTxConnectErr",
        "extra subflows that could not even be started (connect error)",
    ),
    (
        "MPJoinSynTxBindErr",
        "extra subflows that could not bind their endpoint address",
    ),
    (
        "DSSCorruptionFallback",
        "connections that fell back to TCP because a middlebox changed the data stream",
    ),
    ("MPCurrEstab", "MPTCP connections established right now"),
];

fn get(c: &BTreeMap<String, u64>, name: &str) -> u64 {
    c.get(name).copied().unwrap_or(0)
}

/// Findings from the counters.
pub fn counter_findings(facts: &DoctorFacts) -> Vec<Finding> {
    let c = match &facts.counters {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            return vec![Finding::new(
                "counters",
                Group::Counters,
                Status::Unknown,
                "no MPTcpExt table in /proc/net/netstat (no MPTCP in this kernel)".into(),
            )]
        }
        Err(e) => {
            return vec![Finding::new(
                "counters",
                Group::Counters,
                Status::Unknown,
                format!("/proc/net/netstat could not be read: {e}"),
            )]
        }
    };
    let mut findings = vec![summary(c)];
    findings.extend(blackhole(facts, c));
    findings.extend(syn_drops(c));
    findings.extend(fallbacks(c));
    findings.extend(joins(c));
    if get(c, "DSSCorruptionFallback") + get(c, "DSSCorruptionReset") + get(c, "InfiniteMapTx") > 0
    {
        findings.push(
            Finding::new(
                "data_corruption",
                Group::Counters,
                Status::Warn,
                format!(
                    "DSSCorruptionFallback={}, DSSCorruptionReset={}, InfiniteMapTx={}: a middlebox changed the payload of MPTCP connections (data-sequence mismatch), which forces them back to single-path TCP or resets subflows",
                    get(c, "DSSCorruptionFallback"),
                    get(c, "DSSCorruptionReset"),
                    get(c, "InfiniteMapTx")
                ),
            )
            .fix("look for payload-rewriting middleboxes (ALGs, transparent proxies) on the paths; `mptcp-probe check HOST` per interface"),
        );
    }
    findings
}

fn summary(c: &BTreeMap<String, u64>) -> Finding {
    let details: Vec<String> = EXPLAINED
        .iter()
        .filter(|(name, _)| c.contains_key(*name))
        .map(|(name, meaning)| format!("{name} = {}: {meaning}", get(c, name)))
        .collect();
    Finding::new(
        "counters",
        Group::Counters,
        Status::Ok,
        format!(
            "{} outgoing connections tried MPTCP, {} were answered with MPTCP; {} incoming tried it, {} completed as MPTCP; {} MPTCP connections open now",
            get(c, "MPCapableSYNTX"),
            get(c, "MPCapableSYNACKRX"),
            get(c, "MPCapableSYNRX"),
            get(c, "MPCapableACKRX"),
            get(c, "MPCurrEstab"),
        ),
    )
    .details(details)
}

/// What the probe of a new connection says about the detection now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Now {
    /// A new connection goes out without MP_CAPABLE.
    Active,
    /// A new connection gets MP_CAPABLE again.
    Over,
    /// Not probed, or the probe failed.
    Unknown,
}

fn blackhole(facts: &DoctorFacts, c: &BTreeMap<String, u64>) -> Option<Finding> {
    let events = get(c, "Blackhole");
    let disabled = get(c, "MPCapableSYNTXDisabled");
    let now = match &facts.new_connection {
        Some(Ok(p)) if p.blackholed() => Now::Active,
        Some(Ok(_)) => Now::Over,
        _ => Now::Unknown,
    };
    if events == 0 && disabled == 0 && now != Now::Active {
        return None;
    }
    let timeout = facts
        .readiness
        .sysctls
        .get("blackhole_timeout")
        .map(String::as_str);
    // The one reset text, shared with `check`.
    let reset = reset_advice(timeout.and_then(|t| t.trim().parse().ok()));
    let period = match timeout {
        Some("0") => "net.mptcp.blackhole_timeout = 0 now, so detection is off and MPTCP is no longer disabled".to_string(),
        Some(t) => format!("for net.mptcp.blackhole_timeout = {t} s"),
        None => "for net.mptcp.blackhole_timeout seconds".to_string(),
    };
    let mut message = format!(
        "Blackhole = {events}, MPCapableSYNTXDisabled = {disabled}: SYNs with MP_CAPABLE were dropped on a path, so the kernel disabled MPTCP for new outgoing connections ({period}); meanwhile they silently go out as plain TCP and aggregation stops"
    );
    if disabled > 0 {
        message.push_str(&format!(
            "; {disabled} connections were already sent without MP_CAPABLE because of it"
        ));
    }
    let status = match (now, timeout) {
        (Now::Active, _) => {
            message.push_str(
                "; it is active NOW: a new connection probed just now (without sending anything) went without MP_CAPABLE, so this host's kernel does not use MPTCP for new connections",
            );
            Status::Problem
        }
        // Detection switched off: history only.
        (_, Some("0")) => Status::Ok,
        (Now::Over, _) => {
            message.push_str(
                "; the period is over: a new connection probed just now (without sending anything) gets MP_CAPABLE again",
            );
            Status::Ok
        }
        (Now::Unknown, _) => {
            // The kernel exposes no "disabled until" time: only the counters.
            message.push_str(
                "; whether the period is still running is unknown: MPCapableSYNTXDisabled growing between two runs of `mptcp-probe doctor` says it is",
            );
            Status::Warn
        }
    };
    let f = Finding::new("blackhole", Group::Counters, status, message);
    Some(if status == Status::Ok {
        f
    } else {
        f.fix(reset)
    })
}

fn syn_drops(c: &BTreeMap<String, u64>) -> Option<Finding> {
    let drops = get(c, "MPCapableSYNTXDrop");
    (drops > 0).then(|| {
        Finding::new(
            "syn_drops",
            Group::Counters,
            Status::Warn,
            format!(
                "MPCapableSYNTXDrop = {drops}: {drops} outgoing connections got no answer to their MP_CAPABLE SYNs until the kernel retried without the option (after net.mptcp.syn_retrans_before_tcp_fallback retransmissions) and went on as plain TCP: a firewall or middlebox on that path drops SYNs carrying MPTCP options"
            ),
        )
        .fix("find the dropping hop with `mptcp-probe trace HOST` and allow TCP option 30 there")
    })
}

fn fallbacks(c: &BTreeMap<String, u64>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let synack = get(c, "MPCapableFallbackSYNACK");
    if synack > 0 {
        findings.push(
            Finding::new(
                "fallback_syn_ack",
                Group::Counters,
                Status::Warn,
                format!(
                    "MPCapableFallbackSYNACK = {synack}: servers answered MP_CAPABLE SYNs without MPTCP, so those connections are plain TCP: the server does not do MPTCP (disabled, no MPTCP listener, or a v0-only kernel) or a middlebox removed the option"
                ),
            )
            .fix("`mptcp-probe check HOST` against the server you aggregate to tells which"),
        );
    }
    let ack = get(c, "MPCapableFallbackACK");
    if ack > 0 {
        findings.push(Finding::new(
            "fallback_ack",
            Group::Counters,
            Status::Warn,
            format!(
                "MPCapableFallbackACK = {ack}: incoming MPTCP connections fell back to TCP because the client's third ACK lacked MP_CAPABLE (a middlebox between client and this host, or a client that gave up MPTCP)"
            ),
        ));
    }
    findings
}

fn joins(c: &BTreeMap<String, u64>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let tx = get(c, "MPJoinSynTx");
    let answered = get(c, "MPJoinSynAckRx");
    if tx > 0 && answered == 0 {
        findings.push(
            Finding::new(
                "join_unanswered",
                Group::Counters,
                Status::Warn,
                format!("MPJoinSynTx = {tx}, MPJoinSynAckRx = 0: this host tried extra subflows and none was accepted: the peer's subflow limit is 0, or MP_JOIN SYNs are dropped on the extra paths"),
            )
            .fix("on the peer: ip mptcp limits set subflows N; check each extra WAN link with `mptcp-probe check -i IFACE HOST`"),
        );
    }
    let errors = get(c, "MPJoinSynTxConnectErr") + get(c, "MPJoinSynTxBindErr");
    if errors > 0 {
        findings.push(
            Finding::new(
                "join_errors",
                Group::Counters,
                Status::Warn,
                format!("MPJoinSynTxConnectErr = {}, MPJoinSynTxBindErr = {}: extra subflows could not be started from some endpoints (address gone, no route from that source)", get(c, "MPJoinSynTxConnectErr"), get(c, "MPJoinSynTxBindErr")),
            )
            .fix("check that each `subflow` endpoint address exists and has a route (policy routing per WAN: ip rule from ADDR table N)"),
        );
    }
    let rejected = get(c, "MPJoinRejected");
    if rejected > 0 {
        findings.push(Finding::new(
            "join_rejected",
            Group::Counters,
            Status::Warn,
            format!("MPJoinRejected = {rejected}: this host's path manager refused extra subflows from peers (for example its subflow limit was reached)"),
        )
        .fix("ip mptcp limits set subflows N (N at least the peers' extra paths)"));
    }
    findings
}
