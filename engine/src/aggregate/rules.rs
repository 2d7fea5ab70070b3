//! The verdict tables: one per WAN ([`PATH_RULES`]) and one for the
//! summary ([`SUMMARY_RULES`]), each ordered, first match wins; the other
//! rules that match too are kept (`also`), so no cause is hidden.
//!
//! # Why this order (per WAN)
//! 1. `handshake`: on the WAN that carries the initial subflow, a
//!    connection that is not MPTCP (stripped MP_CAPABLE, dropped SYNs, a
//!    server without MPTCP) is the first thing to fix: nothing can join a
//!    connection that does not exist. Its verdict is check's own.
//! 2. `subflow_ok` and 3. `subflow_idle`: what the real connection did is
//!    the ground truth the user asks about, so it wins over anything the
//!    crafted probes suggest (a probe anomaly on a WAN whose subflow
//!    carried data stays in the evidence). Ok before idle: data both ways
//!    on any subflow of the WAN settles it. Idle needs a data phase that
//!    really pushed data, else an unused subflow proves nothing.
//! 4. `join_middlebox`, 5. `join_stripped`, 6. `unreachable`,
//!    7. `join_dropped`: the path, proven by the crafted MP_JOIN SYN and
//!    its plain control. A path that loses or alters the option stops the
//!    join whatever the configuration, so these come before the
//!    configuration rules (adding an endpoint would not help). A forged
//!    SYN/ACK is checked first because it is also a "SYN/ACK" that the
//!    stripping and dropping rules would misread; stripping before
//!    dropping because a stripped option still gets an answer; `unreachable`
//!    (the plain SYN lost too) before `join_dropped`, which needs the
//!    plain SYN answered to blame option 30.
//! 8. `no_endpoint`, 9. `local_limit`: this router's own configuration,
//!    read from its kernel: without a `subflow` endpoint, or with a subflow
//!    limit below what its endpoints ask for, the kernel never even tries
//!    this WAN. Before the server's refusal because they are on the machine
//!    the tool runs on, certain, and fixed there; the endpoint before the
//!    limit because a limit only matters for WANs that have one.
//! 10. `join_refused`: the server refuses (an MP_TCPRST reason to our SYN,
//!     its connection at its subflow limit, or joins to its initial address
//!     forbidden). A SYN-only probe cannot see a refusal at the third ACK,
//!     so this rule reads the server's limits, its connection's subflow
//!     count and counters rather than the probe alone; it comes after the
//!     local rules since a server limit only matters once this router tries.
//! 11. `inconclusive`: always matches, naming what is missing.
//!
//! # Why this order (summary)
//! 1. `handshake`: no MPTCP connection at all: its own verdict.
//! 2. `aggregation_ok`: every WAN carried data both ways.
//! 3. `aggregation_partial`: two or more did, not all.
//! 4. `aggregation_none`: at most one did while another WAN has a proven
//!    cause (traffic rides the primary path only: the symptom users report).
//! 5. `inconclusive`: WANs without a verdict either way.
use super::facts::{has_flag, AggregateInput, JoinAnswer, JoinResult, PlainAnswer, ServerSaw, Wan};
use super::mapping::{EndpointMatch, MappedSubflow};
use super::output::{human_bytes, tcp_state_name, PathCode, PathVerdict, SummaryCode};

/// What a matching rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: PathCode,
    pub summary: String,
    pub evidence: Vec<String>,
    pub fix: Option<String>,
    pub missing: Vec<String>,
}

impl Finding {
    fn new(code: PathCode, summary: String) -> Self {
        Finding {
            code,
            summary,
            evidence: Vec::new(),
            fix: None,
            missing: Vec::new(),
        }
    }
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }
}

/// Everything a WAN rule looks at.
pub struct PathCtx<'a> {
    pub input: &'a AggregateInput,
    pub wan: &'a Wan,
    pub subflows: &'a [MappedSubflow],
    pub endpoint: EndpointMatch<'a>,
    /// Joins this router's path manager asks for: WANs other than the
    /// initial one with a `subflow` endpoint.
    pub wanted_joins: usize,
}

impl PathCtx<'_> {
    fn name(&self) -> &str {
        &self.wan.interface
    }
    fn source(&self) -> String {
        self.wan
            .source
            .map_or_else(|| "ADDR".to_string(), |s| s.to_string())
    }
    fn mptcp(&self) -> bool {
        self.input.connection.as_ref().is_some_and(|c| c.mptcp)
    }
    fn established(&self) -> impl Iterator<Item = &MappedSubflow> {
        self.subflows.iter().filter(|s| s.established())
    }
    fn carried(&self) -> (u64, u64) {
        self.established()
            .map(MappedSubflow::carried)
            .fold((0, 0), |(a, b), (s, r)| (a + s, b + r))
    }
    fn join(&self) -> Option<JoinResult> {
        self.wan.join
    }
    /// This router's subflow limit: the connection's own (MPTCP_INFO),
    /// else the path manager's.
    fn local_limit(&self) -> Option<u32> {
        self.input
            .connection
            .as_ref()
            .and_then(|c| c.subflows_max)
            .map(u32::from)
            .or_else(|| self.input.local.limits.and_then(|l| l.subflows))
    }
    /// Joins the server would have to take: every WAN but the initial one.
    fn joins_needed(&self) -> usize {
        self.input.wans.len().saturating_sub(1).max(1)
    }
}

/// One rule of a table.
#[derive(Clone, Copy)]
pub struct PathRule {
    pub name: &'static str,
    pub code: PathCode,
    pub check: fn(&PathCtx<'_>) -> Option<Finding>,
}

/// The per-WAN table, in evaluation order (see the module documentation).
pub const PATH_RULES: [PathRule; 11] = [
    PathRule {
        name: "handshake",
        code: PathCode::Handshake,
        check: handshake,
    },
    PathRule {
        name: "subflow_ok",
        code: PathCode::SubflowOk,
        check: subflow_ok,
    },
    PathRule {
        name: "subflow_idle",
        code: PathCode::SubflowIdle,
        check: subflow_idle,
    },
    PathRule {
        name: "join_middlebox",
        code: PathCode::JoinMiddlebox,
        check: join_middlebox,
    },
    PathRule {
        name: "join_stripped",
        code: PathCode::JoinStripped,
        check: join_stripped,
    },
    PathRule {
        name: "unreachable",
        code: PathCode::Unreachable,
        check: unreachable,
    },
    PathRule {
        name: "join_dropped",
        code: PathCode::JoinDropped,
        check: join_dropped,
    },
    PathRule {
        name: "no_endpoint",
        code: PathCode::NoEndpoint,
        check: no_endpoint,
    },
    PathRule {
        name: "local_limit",
        code: PathCode::LocalLimit,
        check: local_limit,
    },
    PathRule {
        name: "join_refused",
        code: PathCode::JoinRefused,
        check: join_refused,
    },
    PathRule {
        name: "inconclusive",
        code: PathCode::Inconclusive,
        check: inconclusive,
    },
];

fn handshake(c: &PathCtx<'_>) -> Option<Finding> {
    if !c.wan.initial || c.mptcp() {
        return None;
    }
    let h = &c.input.handshake;
    let mut f = Finding::new(
        PathCode::Handshake,
        format!(
            "the MPTCP connection over {} fails its handshake ({}): {}",
            c.name(),
            h.verdict,
            h.summary
        ),
    );
    f.evidence = h.evidence.clone();
    f.fix = h.fix.clone();
    Some(f)
}

fn subflow_ok(c: &PathCtx<'_>) -> Option<Finding> {
    if !c.mptcp() || c.established().next().is_none() {
        return None;
    }
    let (sent, received) = c.carried();
    if sent == 0 || received == 0 {
        return None;
    }
    let n = c.established().count();
    let what = if c.established().any(|s| s.initial) {
        "carries the initial subflow".to_string()
    } else {
        format!("joined ({n} subflow{})", if n == 1 { "" } else { "s" })
    };
    Some(Finding::new(
        PathCode::SubflowOk,
        format!(
            "{} {what} and carried data both ways: {} sent, {} received",
            c.name(),
            human_bytes(sent),
            human_bytes(received)
        ),
    ))
}

fn subflow_idle(c: &PathCtx<'_>) -> Option<Finding> {
    let data = &c.input.data;
    if !c.mptcp() || c.established().next().is_none() || !data.ran || data.sent == 0 {
        return None;
    }
    let (sent, received) = c.carried();
    if sent > 0 && received > 0 {
        return None;
    }
    let mut f = Finding::new(
        PathCode::SubflowIdle,
        format!(
            "{} joined but carried {} sent and {} received while {} was pushed each way: \
             the scheduler kept it (nearly) idle",
            c.name(),
            human_bytes(sent),
            human_bytes(received),
            human_bytes(data.sent)
        ),
    );
    match c.endpoint {
        EndpointMatch::Exact(e) if has_flag(e, "backup") => {
            f = f
                .evidence(format!(
                    "its endpoint (id {}) is a backup: the scheduler uses it only when no \
                     other subflow is available",
                    e.id.map_or("?".into(), |i| i.to_string())
                ))
                .fix(format!(
                    "ip mptcp endpoint change id {} nobackup",
                    e.id.map_or("ID".into(), |i| i.to_string())
                ));
        }
        _ => {
            f = f.fix(
                "check the subflow's priority (a peer's MP_PRIO backup) and net.mptcp.scheduler; \
                 a longer --duration gives the scheduler more data to spread",
            );
        }
    }
    Some(f)
}

fn join_middlebox(c: &PathCtx<'_>) -> Option<Finding> {
    if c.join()?.answer != JoinAnswer::SynAckBadHmac {
        return None;
    }
    Some(
        Finding::new(
            PathCode::JoinMiddlebox,
            format!(
                "something on {}'s path answers MP_JOIN SYNs in the server's place: the \
                 SYN/ACK's HMAC does not verify against this connection's keys",
                c.name()
            ),
        )
        .fix(format!(
            "a box behind {} terminates TCP (a proxy or \"accelerator\" of the ISP or of its \
             modem): put the modem in bridge mode, or ask the ISP to leave TCP to {} alone",
            c.name(),
            c.input.address
        )),
    )
}

fn join_stripped(c: &PathCtx<'_>) -> Option<Finding> {
    let j = c.join()?;
    let answered_plain = j.answer == JoinAnswer::SynAckWithoutJoin;
    if !answered_plain && j.server_saw != ServerSaw::Stripped {
        return None;
    }
    let direction = match j.server_saw {
        ServerSaw::Stripped => "on the way to the server (upstream: its capture shows the SYN without MP_JOIN)",
        ServerSaw::Intact {
            syn_ack_join: Some(true),
        } => "on the way back (downstream: the server's SYN/ACK left with MP_JOIN and arrived without it)",
        _ => "on the path (the server's capture does not say which way)",
    };
    Some(
        Finding::new(
            PathCode::JoinStripped,
            format!(
                "MP_JOIN is removed over {} {direction}; a stripped join reaches the server as a \
                 plain SYN and this router resets it (RST reason 1), so {} never joins",
                c.name(),
                c.name()
            ),
        )
        .fix(format!(
            "something on {}'s path (the ISP, or its modem/router) strips TCP option 30: put \
             the modem in bridge mode or ask the ISP to pass option 30 (MP_JOIN)",
            c.name()
        )),
    )
}

fn unreachable(c: &PathCtx<'_>) -> Option<Finding> {
    let j = c.join()?;
    let plain = c.wan.plain?;
    if !j.answer.lost() || plain.answered() {
        return None;
    }
    Some(
        Finding::new(
            PathCode::Unreachable,
            format!(
                "nothing answers over {}, plain SYNs included: this WAN has no working path to {}",
                c.name(),
                c.input.address
            ),
        )
        .fix(format!(
            "check {}'s link and its default route (`ip route show table all dev {}`, \
             `ip rule`)",
            c.name(),
            c.name()
        )),
    )
}

fn join_dropped(c: &PathCtx<'_>) -> Option<Finding> {
    let j = c.join()?;
    if !j.answer.lost() || !c.wan.plain.is_some_and(PlainAnswer::answered) {
        return None;
    }
    let mut f = Finding::new(
        PathCode::JoinDropped,
        format!(
            "MP_JOIN SYNs over {} go unanswered while plain SYNs pass: something on the path \
             drops SYNs carrying option 30",
            c.name()
        ),
    )
    .fix(format!(
        "ask {}'s ISP (or check its modem/firewall) to pass TCP SYNs with option 30; \
         `iptables -L -v` on the router shows a local rule if there is one",
        c.name()
    ));
    for s in c.subflows.iter().filter(|s| s.state == Some(2)) {
        f = f.evidence(format!(
            "this router's own join from {} is stuck in SYN-SENT (the kernel retries it)",
            s.local.map_or_else(|| "?".into(), |a| a.to_string())
        ));
    }
    Some(f)
}

fn no_endpoint(c: &PathCtx<'_>) -> Option<Finding> {
    if c.wan.initial {
        return None;
    }
    let (name, src) = (c.name(), c.source());
    let add = format!("ip mptcp endpoint add {src} dev {name} subflow");
    let id = |e: &packet::echo::PmEndpoint| e.id.map_or("ID".into(), |i| i.to_string());
    let mut f = match c.endpoint {
        EndpointMatch::Exact(e) if has_flag(e, "subflow") => return None,
        EndpointMatch::Exact(e) => Finding::new(
            PathCode::NoEndpoint,
            format!(
                "{name}'s endpoint {src} (id {}) has flags [{}] but not `subflow`: this router \
                 never opens a subflow over {name}",
                id(e),
                e.flags.join(",")
            ),
        )
        .fix(format!("ip mptcp endpoint delete id {}; {add}", id(e))),
        EndpointMatch::Stale(e) => Finding::new(
            PathCode::NoEndpoint,
            format!(
                "the endpoint on {name} (id {}) still has {}, but {name} now has {src}: the \
                 kernel never joins from the address {name} really has",
                id(e),
                e.addr.as_deref().unwrap_or("?")
            ),
        )
        .fix(format!("ip mptcp endpoint delete id {}; {add}", id(e))),
        EndpointMatch::None => Finding::new(
            PathCode::NoEndpoint,
            format!(
                "no path-manager endpoint for {name}'s address {src}: this router's kernel never \
                 opens a subflow over {name}"
            ),
        )
        .fix(add),
    };
    if let Some(JoinResult {
        answer: JoinAnswer::SynAckValid { .. },
        ..
    }) = c.join()
    {
        f = f.evidence(format!(
            "a crafted MP_JOIN over {name} was accepted by the server (valid HMAC): the path \
             works once the endpoint exists"
        ));
    }
    Some(f)
}

fn local_limit(c: &PathCtx<'_>) -> Option<Finding> {
    if c.wan.initial || !matches!(c.endpoint, EndpointMatch::Exact(e) if has_flag(e, "subflow")) {
        return None;
    }
    let limit = c.local_limit()?;
    if limit as usize >= c.wanted_joins {
        return None;
    }
    let accepted = c
        .input
        .local
        .limits
        .and_then(|l| l.add_addr_accepted)
        .unwrap_or(1);
    Some(
        Finding::new(
            PathCode::LocalLimit,
            format!(
                "this router allows {limit} extra subflow(s) per connection while its endpoints \
                 ask for {}: {} gets none",
                c.wanted_joins,
                c.name()
            ),
        )
        .fix(format!(
            "on this router: ip mptcp limits set subflows {} add_addr_accepted {accepted}",
            c.wanted_joins.max(1)
        )),
    )
}

fn join_refused(c: &PathCtx<'_>) -> Option<Finding> {
    if c.wan.initial {
        return None;
    }
    let server = c.input.server.as_ref();
    let needed = c.joins_needed().max(2);
    let accepted = server
        .and_then(|s| s.limits)
        .and_then(|l| l.add_addr_accepted)
        .unwrap_or(8);
    let limit_fix = format!(
        "on the server: ip mptcp limits set subflows {needed} add_addr_accepted {accepted}"
    );
    let mut f = if let Some(JoinResult {
        answer: JoinAnswer::Reset { reason: Some(r) },
        ..
    }) = c.join()
    {
        let name = packet::mptcp::tcprst_reason_name(r).unwrap_or("unknown reason");
        let f = Finding::new(
            PathCode::JoinRefused,
            format!(
                "the server refuses MP_JOIN over {}: RST with MP_TCPRST reason {r} ({name})",
                c.name()
            ),
        );
        if r == 3 {
            f.fix(limit_fix.clone())
        } else {
            f.fix("read the server's MPTcpExt counters (MPJoin*) and `ip mptcp limits show` there")
        }
    } else if let Some((count, max)) = server
        .and_then(|s| s.connection)
        .and_then(|sc| Some((sc.subflows.unwrap_or(0), sc.subflows_max?)))
        .filter(|(count, max)| count >= max)
    {
        Finding::new(
            PathCode::JoinRefused,
            format!(
                "the server's side of the connection is at its subflow limit ({count} of {max} \
                 extra subflows): it accepts a join's SYN and refuses it at the third ACK \
                 (RST reason 3), so {} never joins",
                c.name()
            ),
        )
        .fix(limit_fix.clone())
    } else if let Some(l) = server
        // The connection's own limit, when the server gave it, is the truth
        // for this connection; the configured one only stands in for it.
        .filter(|s| s.connection.and_then(|sc| sc.subflows_max).is_none())
        .and_then(|s| s.limits)
        .and_then(|l| l.subflows)
        .filter(|&l| (l as usize) < c.joins_needed())
    {
        Finding::new(
            PathCode::JoinRefused,
            format!(
                "the server allows {l} extra subflow(s) per connection, fewer than the {} this \
                 router's WANs need",
                c.joins_needed()
            ),
        )
        .fix(limit_fix.clone())
    } else if let Some(s) = server.filter(|s| {
        s.allow_join_initial_addr_port == Some(false)
            && !s.endpoints.iter().any(|e| has_flag(e, "signal"))
    }) {
        let _ = s;
        Finding::new(
            PathCode::JoinRefused,
            format!(
                "the server forbids joins to its initial address and port \
                 (net.mptcp.allow_join_initial_addr_port=0) and announces no other address: {} \
                 has nowhere to join",
                c.name()
            ),
        )
        .fix("on the server: sysctl -w net.mptcp.allow_join_initial_addr_port=1, or add a signal endpoint (ip mptcp endpoint add ADDR dev IF signal)")
    } else {
        return None;
    };
    if let Some(JoinResult {
        answer: JoinAnswer::SynAckValid { .. },
        ..
    }) = c.join()
    {
        f = f.evidence(
            "the crafted MP_JOIN's SYN/ACK verified: the refusal comes at the third ACK, which a \
             probe never sends",
        );
    }
    if let Some(n) = server.and_then(|s| s.counters.get("MPJoinRejected")) {
        f = f.evidence(format!(
            "server counter MPJoinRejected = {n} (all connections)"
        ));
    }
    Some(f)
}

fn inconclusive(c: &PathCtx<'_>) -> Option<Finding> {
    let mut missing = Vec::new();
    let joined = c.established().next().is_some();
    if !c.mptcp() {
        missing.push(format!(
            "an MPTCP connection to join (the initial handshake: {})",
            c.input.handshake.verdict
        ));
    }
    if joined && !(c.input.data.ran && c.input.data.sent > 0) {
        missing.push(format!(
            "data pushed over the connection ({})",
            c.input.data.note.as_deref().unwrap_or("no data phase ran")
        ));
    }
    if c.join().is_none() && !c.wan.initial {
        missing.push(format!(
            "a crafted MP_JOIN over {} ({})",
            c.name(),
            c.wan
                .error
                .as_deref()
                .or(c.input.probes_skipped.as_deref())
                .unwrap_or("not sent")
        ));
    }
    if c.input.server.as_ref().is_none_or(|s| !s.speaks_aggregate) {
        missing.push(
            "the server's side of the subflows (it does not speak the aggregate exchange)".into(),
        );
    }
    let summary = if joined {
        format!(
            "{} joined, but whether it carries data is not known",
            c.name()
        )
    } else {
        format!("no subflow over {}, and no cause could be shown", c.name())
    };
    let mut f = Finding::new(PathCode::Inconclusive, summary);
    f.missing = missing;
    Some(f)
}

/// The evidence every WAN's verdict carries: its address, endpoint,
/// subflows and probes.
pub fn common_evidence(c: &PathCtx<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    let tables = if c.wan.tables.is_empty() {
        String::new()
    } else {
        format!(
            ", default route in table{} {}",
            if c.wan.tables.len() == 1 { "" } else { "s" },
            c.wan
                .tables
                .iter()
                .map(|t| if *t == 254 {
                    "main".to_string()
                } else {
                    t.to_string()
                })
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    lines.push(format!(
        "{}: source {}{tables}{}",
        c.name(),
        c.source(),
        if c.wan.initial {
            ", carries the initial subflow"
        } else {
            ""
        }
    ));
    match c.endpoint {
        EndpointMatch::Exact(e) => lines.push(format!(
            "endpoint id {} {} [{}]",
            e.id.map_or("?".into(), |i| i.to_string()),
            e.addr.as_deref().unwrap_or("?"),
            e.flags.join(",")
        )),
        EndpointMatch::Stale(e) => lines.push(format!(
            "endpoint id {} on this interface has the old address {}",
            e.id.map_or("?".into(), |i| i.to_string()),
            e.addr.as_deref().unwrap_or("?")
        )),
        EndpointMatch::None => lines.push("no endpoint for this address".into()),
    }
    for s in c.subflows {
        let (sent, received) = s.carried();
        let server = match (s.server_sent, s.server_received) {
            (Some(a), Some(b)) => format!(
                " (server: {} sent, {} received)",
                human_bytes(a),
                human_bytes(b)
            ),
            _ => String::new(),
        };
        lines.push(format!(
            "subflow {} -> {}{}: {}, {} sent, {} received{server}",
            s.local.map_or_else(|| "?".into(), |a| a.to_string()),
            s.remote.map_or_else(|| "?".into(), |a| a.to_string()),
            if s.initial { " (initial)" } else { "" },
            tcp_state_name(s.state),
            human_bytes(sent),
            human_bytes(received)
        ));
    }
    if let Some(j) = c.join() {
        let mut line = format!("crafted MP_JOIN SYN: {}", j.answer.describe());
        if let Some(saw) = j.server_saw.describe() {
            line.push_str("; ");
            line.push_str(saw);
        }
        lines.push(line);
    }
    if let Some(p) = c.wan.plain {
        lines.push(format!(
            "plain SYN: {}",
            match p {
                PlainAnswer::SynAck => "SYN/ACK",
                PlainAnswer::Reset => "RST",
                PlainAnswer::Icmp => "ICMP error",
                PlainAnswer::Silence => "no answer",
            }
        ));
    }
    if let Some(e) = &c.wan.error {
        lines.push(format!("not probed: {e}"));
    }
    lines
}

/// Everything a summary rule looks at.
pub struct SummaryCtx<'a> {
    pub input: &'a AggregateInput,
    pub paths: &'a [PathVerdict],
}

impl SummaryCtx<'_> {
    fn carrying(&self) -> Vec<&PathVerdict> {
        self.paths
            .iter()
            .filter(|p| p.verdict == PathCode::SubflowOk.as_str())
            .collect()
    }
    fn names(paths: &[&PathVerdict]) -> String {
        paths
            .iter()
            .map(|p| p.interface.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a summary rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryFinding {
    pub code: SummaryCode,
    /// The code as printed (the handshake's own for `Handshake`).
    pub verdict: String,
    pub summary: String,
}

/// One summary rule.
#[derive(Clone, Copy)]
pub struct SummaryRule {
    pub name: &'static str,
    pub check: fn(&SummaryCtx<'_>) -> Option<SummaryFinding>,
}

/// The summary table, in evaluation order (see the module documentation).
pub const SUMMARY_RULES: [SummaryRule; 5] = [
    SummaryRule {
        name: "handshake",
        check: summary_handshake,
    },
    SummaryRule {
        name: "aggregation_ok",
        check: aggregation_ok,
    },
    SummaryRule {
        name: "aggregation_partial",
        check: aggregation_partial,
    },
    SummaryRule {
        name: "aggregation_none",
        check: aggregation_none,
    },
    SummaryRule {
        name: "inconclusive",
        check: summary_inconclusive,
    },
];

fn summary_handshake(c: &SummaryCtx<'_>) -> Option<SummaryFinding> {
    if c.input.connection.as_ref().is_some_and(|k| k.mptcp) {
        return None;
    }
    let h = &c.input.handshake;
    Some(SummaryFinding {
        code: SummaryCode::Handshake,
        verdict: h.verdict.clone(),
        summary: format!(
            "the MPTCP connection to {} itself fails ({}): {}",
            c.input.target, h.verdict, h.summary
        ),
    })
}

fn aggregation_ok(c: &SummaryCtx<'_>) -> Option<SummaryFinding> {
    let carrying = c.carrying();
    if c.paths.is_empty() || carrying.len() != c.paths.len() {
        return None;
    }
    Some(SummaryFinding {
        code: SummaryCode::AggregationOk,
        verdict: SummaryCode::AggregationOk.as_str().into(),
        summary: format!(
            "every WAN carried data both ways ({}): traffic is aggregated",
            SummaryCtx::names(&carrying)
        ),
    })
}

fn failed(paths: &[PathVerdict]) -> Vec<&PathVerdict> {
    paths
        .iter()
        .filter(|p| {
            p.verdict != PathCode::SubflowOk.as_str()
                && p.verdict != PathCode::Inconclusive.as_str()
        })
        .collect()
}

fn describe_failed(paths: &[&PathVerdict]) -> String {
    paths
        .iter()
        .map(|p| format!("{}: {}", p.interface, p.verdict))
        .collect::<Vec<_>>()
        .join(", ")
}

fn aggregation_partial(c: &SummaryCtx<'_>) -> Option<SummaryFinding> {
    let carrying = c.carrying();
    if carrying.len() < 2 || carrying.len() == c.paths.len() {
        return None;
    }
    let others: Vec<&PathVerdict> = c
        .paths
        .iter()
        .filter(|p| p.verdict != PathCode::SubflowOk.as_str())
        .collect();
    Some(SummaryFinding {
        code: SummaryCode::AggregationPartial,
        verdict: SummaryCode::AggregationPartial.as_str().into(),
        summary: format!(
            "{} of {} WANs carried data ({}); not {}",
            carrying.len(),
            c.paths.len(),
            SummaryCtx::names(&carrying),
            describe_failed(&others)
        ),
    })
}

fn aggregation_none(c: &SummaryCtx<'_>) -> Option<SummaryFinding> {
    let carrying = c.carrying();
    let failed = failed(c.paths);
    if carrying.len() > 1 || failed.is_empty() {
        return None;
    }
    let only = match carrying.first() {
        Some(p) => format!("only {} carried data", p.interface),
        None => "no WAN carried data".to_string(),
    };
    Some(SummaryFinding {
        code: SummaryCode::AggregationNone,
        verdict: SummaryCode::AggregationNone.as_str().into(),
        summary: format!(
            "{only}: traffic is not aggregated ({})",
            describe_failed(&failed)
        ),
    })
}

fn summary_inconclusive(c: &SummaryCtx<'_>) -> Option<SummaryFinding> {
    Some(SummaryFinding {
        code: SummaryCode::Inconclusive,
        verdict: SummaryCode::Inconclusive.as_str().into(),
        summary: format!(
            "{} of {} WANs carried data; the others could not be judged (see missing)",
            c.carrying().len(),
            c.paths.len()
        ),
    })
}
