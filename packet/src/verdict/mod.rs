//! The verdict engine: does MPTCP work end to end on this path, and if not,
//! which cause, with the evidence and, where a trace shows it, the hop.
//!
//! Pure: no sockets, no clocks. [`VerdictInput`] is an owned record of one
//! check (this host's readiness, the kernel connection, crafted probes and
//! their answers, the echo server's account, a trace) that serializes to
//! JSON, so a saved run replays through [`evaluate`] exactly.
//!
//! The decision is an ordered rule table ([`RULES`], first match wins); the
//! order and its reasons are documented in [`rules`].
pub mod blackhole;
pub mod capable;
pub mod facts;
pub mod input;
pub mod output;
pub mod rules;

pub use blackhole::Blackhole;
pub use capable::{find_capable, syn_fate, CapableSeen, SynFate};
pub use input::{
    hops_from_ttl, AnswerHeader, ConnectOutcome, HopOption, KernelConnection, LocalHost,
    OptionArea, ProbeAnswer, ProbeKind, ProbeResult, QuoteKind, ServerProbeSeen, ServerReport,
    Trace, TraceHop, Translation, VerdictInput, VersionSource,
};
pub use output::{Direction, HopRange, HopRef, MiddleboxKind, Verdict, VerdictCode};
pub use rules::{Finding, Rule, RULES};

use facts::Facts;

/// Runs the rule table over one check.
pub fn evaluate(input: &VerdictInput) -> Verdict {
    let facts = Facts::new(input);
    let (rule, finding) = RULES
        .iter()
        .find_map(|rule| (rule.check)(&facts).map(|finding| (rule, finding)))
        // The last rule (`inconclusive`) always matches; this is a fallback
        // that keeps the engine total even if the table is ever edited.
        .unwrap_or_else(|| {
            (
                &RULES[RULES.len() - 1],
                Finding {
                    code: VerdictCode::Inconclusive,
                    summary: VerdictCode::Inconclusive.meaning().to_string(),
                    evidence: Vec::new(),
                    hop_range: None,
                    fix: None,
                    missing: vec!["no rule matched".into()],
                    direction: None,
                    middlebox: None,
                },
            )
        });
    let mut evidence = common_evidence(&facts);
    evidence.extend(finding.evidence);
    let mut missing = finding.missing;
    missing.extend(lost_probes(input));
    Verdict {
        code: finding.code,
        summary: finding.summary,
        evidence,
        hop_range: finding.hop_range,
        fix: finding.fix,
        missing,
        rule: rule.name.to_string(),
        direction: finding.direction,
        middlebox: finding.middlebox,
    }
}

/// Crafted probes that all met silence while a connection this host's
/// kernel made to the same address got through (the kernel connection, or
/// the echo server's account, which comes over one) were lost on the way
/// out or back: a firewall on this host, or a route the crafted SYNs took
/// and the kernel's did not (a multi-WAN router's policy routing). No rule
/// decides from silence alone while the kernel got through, so the verdict
/// rests on the kernel's side; this says so instead of leaving the
/// contradiction unexplained.
fn lost_probes(input: &VerdictInput) -> Option<String> {
    let kernel_through = input
        .kernel
        .as_ref()
        .is_some_and(|k| k.outcome == ConnectOutcome::Connected)
        || input.server.is_some();
    let all_silent = !input.probes.is_empty()
        && input
            .probes
            .iter()
            .all(|p| p.answer == ProbeAnswer::Silence);
    (kernel_through && all_silent).then(|| {
        format!(
            "answers to the crafted probes: none of the {} crafted SYNs (not even the plain one) \
             got any answer, while this host's own connection to the same address got through; \
             they were lost on the way out or back (a firewall on this host, or a route the \
             crafted SYNs took that the kernel's did not), so the verdict rests on the kernel \
             connection and the echo server's account alone",
            input.probes.len()
        )
    })
}

/// What was sent, seen and answered, whatever the verdict.
fn common_evidence(f: &Facts<'_>) -> Vec<String> {
    let local = &f.input.local;
    let mut lines = Vec::new();
    let enabled = match local.mptcp_enabled {
        Some(true) => "MPTCP enabled",
        Some(false) => "MPTCP disabled",
        None => "MPTCP state not checked",
    };
    let version = match (local.mptcp_version, local.version_source) {
        (Some(v), VersionSource::User) => format!(", speaks v{v} (given by --mptcp-version)"),
        (Some(v), VersionSource::Kernel) => format!(", speaks v{v} (read from the kernel)"),
        (Some(v), VersionSource::Unknown) => format!(", speaks v{v}"),
        (None, _) => ", MPTCP version unknown".into(),
    };
    lines.push(format!("this host: {enabled}{version}"));
    if let Some(bh) = &local.blackhole {
        lines.push(bh.describe());
    }
    lines.extend(f.all().map(facts::Attempt::describe));
    if let Some(s) = &f.input.server {
        // Only what the server said: a field it left out (no kernel
        // connection was made, an older server) is not printed as a guess.
        let mut parts = Vec::new();
        if let Some(enabled) = s.mptcp_enabled {
            parts.push(format!("net.mptcp.enabled={}", u8::from(enabled)));
        }
        if let Some(v) = s.mptcp_version {
            parts.push(format!("version v{v}"));
        }
        // With --echo-port the listener and the connection are the echo
        // server's own, not the watched service's.
        let (listener_name, connection_name) = match (s.watched_port, s.plain_tcp_fallback) {
            (Some(_), _) => ("echo listener", "the echo connection"),
            (None, true) => ("listener", "the plain echo connection"),
            (None, false) => ("listener", "this connection"),
        };
        if let Some(listener) = s.mptcp_listener {
            parts.push(format!(
                "{listener_name} {}",
                if listener { "MPTCP" } else { "plain TCP" }
            ));
        }
        if let Some(port) = s.watched_port {
            parts.push(format!(
                "port {port} watched (another service listens there)"
            ));
        }
        if let Some(mptcp) = s.connection_mptcp {
            parts.push(format!(
                "{connection_name} {}",
                if mptcp { "MPTCP" } else { "plain TCP" }
            ));
        }
        if parts.is_empty() {
            parts.push("said nothing about its MPTCP state".into());
        }
        lines.push(format!("server: {}", parts.join(", ")));
    }
    if let Some(t) = &f.input.trace {
        let mut hops = t.hops.iter().peekable();
        while let Some(h) = hops.next() {
            if h.responder.is_none() {
                // A run of silent hops is one line, not one per TTL.
                let mut last = h.ttl;
                while let Some(next) = hops.next_if(|n| n.responder.is_none()) {
                    last = next.ttl;
                }
                lines.push(if last == h.ttl {
                    format!("trace hop {} *: no answer", h.ttl)
                } else {
                    format!("trace hops {}..{last} *: no answer", h.ttl)
                });
                continue;
            }
            let who = h.responder.map_or("*".to_string(), |a| a.to_string());
            let state = match (h.quote, h.mp_capable) {
                (_, HopOption::Present) => "MP_CAPABLE present",
                (_, HopOption::Absent) => "MP_CAPABLE absent",
                (_, HopOption::Changed) => "MP_CAPABLE changed",
                (QuoteKind::Partial, HopOption::Unknown) => "partial quote",
                (_, HopOption::Unknown) => "no quote",
            };
            lines.push(format!("trace hop {} {who}: {state}", h.ttl));
        }
    }
    lines
}
