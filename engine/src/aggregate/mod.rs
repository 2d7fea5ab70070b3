//! `aggregate`'s engine: does every WAN of a router join the MPTCP
//! connection and carry data? Pure: the client feeds it what it observed
//! ([`AggregateInput`]), and a recorded run replays exactly.
//!
//! - [`keys`]: both keys of the connection from its own captured handshake
//!   (v1 sends them in clear), the server's token, the HMAC a genuine
//!   MP_JOIN SYN/ACK carries;
//! - [`join`]: the crafted MP_JOIN SYN and its plain control per WAN, the
//!   answers folded in and classified (HMAC verified), and how the
//!   server's capture saw the join arrive;
//! - [`mapping`]: each subflow (both ends' views) placed on its WAN, and
//!   each WAN's path-manager endpoint;
//! - [`validate`]: the echo server's numbers bounded and parsed before use;
//! - [`rules`]: the per-WAN and summary verdict tables, in an order their
//!   module documentation argues;
//! - [`evaluate`]: all of it, into one [`AggregateVerdict`].
pub mod facts;
pub mod join;
pub mod keys;
pub mod mapping;
pub mod output;
pub mod rules;
pub mod validate;

pub use facts::{
    AggregateInput, Connection, DataPhase, Handshake, JoinAnswer, JoinResult, KeyTokens,
    PathManager, PlainAnswer, ServerConnection, ServerSaw, ServerSide, SubflowRecord, Wan,
};
pub use output::{AggregateVerdict, PathCode, PathVerdict, SummaryCode, SummaryVerdict};

use mapping::{endpoint_for, map_subflows, EndpointMatch};
use output::human_bytes;
use rules::{common_evidence, Finding, PathCtx, SummaryCtx, PATH_RULES, SUMMARY_RULES};

/// Runs both tables over one run.
pub fn evaluate(input: &AggregateInput) -> AggregateVerdict {
    let mapping = map_subflows(input);
    let wanted_joins = input
        .wans
        .iter()
        .filter(|w| {
            !w.initial
                && matches!(endpoint_for(w, &input.local.endpoints),
                    EndpointMatch::Exact(e) if facts::has_flag(e, "subflow"))
        })
        .count();
    let mut paths = Vec::with_capacity(input.wans.len());
    for (i, wan) in input.wans.iter().enumerate() {
        let subflows = mapping.per_wan.get(i).map_or(&[][..], Vec::as_slice);
        let ctx = PathCtx {
            input,
            wan,
            subflows,
            endpoint: endpoint_for(wan, &input.local.endpoints),
            wanted_joins,
        };
        let mut matched = PATH_RULES
            .iter()
            .filter_map(|r| (r.check)(&ctx).map(|f| (r.name, f)));
        // The last rule always matches; the fallback keeps this total.
        let (rule, finding) = matched.next().unwrap_or((
            "inconclusive",
            Finding {
                code: PathCode::Inconclusive,
                summary: "no rule matched".into(),
                evidence: Vec::new(),
                fix: None,
                missing: vec!["no rule matched".into()],
            },
        ));
        let code_of = |f: &Finding| match f.code {
            PathCode::Handshake => input.handshake.verdict.clone(),
            c => c.as_str().to_string(),
        };
        let also = matched
            .filter(|(_, f)| f.code != PathCode::Inconclusive)
            .map(|(_, f)| code_of(&f))
            .collect();
        let (sent, received) = subflows
            .iter()
            .map(|s| s.carried())
            .fold((0, 0), |(a, b), (s, r)| (a + s, b + r));
        let mut evidence = common_evidence(&ctx);
        evidence.extend(finding.evidence.iter().cloned());
        paths.push(PathVerdict {
            interface: wan.interface.clone(),
            source: wan.source,
            initial: wan.initial,
            verdict: code_of(&finding),
            rule: rule.to_string(),
            summary: finding.summary,
            evidence,
            fix: finding.fix,
            also,
            missing: finding.missing,
            bytes_sent: sent,
            bytes_received: received,
            subflows: subflows.to_vec(),
        });
    }
    let summary = summarize(input, &paths);
    AggregateVerdict {
        paths,
        summary,
        unmapped: mapping.unmapped,
        notes: token_notes(input),
    }
}

fn summarize(input: &AggregateInput, paths: &[PathVerdict]) -> SummaryVerdict {
    let ctx = SummaryCtx { input, paths };
    let (rule, f) = SUMMARY_RULES
        .iter()
        .find_map(|r| (r.check)(&ctx).map(|f| (r.name, f)))
        .unwrap_or((
            "inconclusive",
            rules::SummaryFinding {
                code: SummaryCode::Inconclusive,
                verdict: SummaryCode::Inconclusive.as_str().into(),
                summary: "no rule matched".into(),
            },
        ));
    let mut fixes: Vec<String> = if f.code == SummaryCode::Handshake {
        input.handshake.fix.iter().cloned().collect()
    } else {
        Vec::new()
    };
    for p in paths {
        if let Some(fix) = &p.fix {
            let line = format!("{}: {fix}", p.interface);
            if !fixes.iter().any(|f| f.ends_with(fix.as_str())) {
                fixes.push(line);
            }
        }
    }
    let mut evidence = Vec::new();
    let d = &input.data;
    if d.ran {
        evidence.push(format!(
            "data phase: {} sent, {} received in {} ms",
            human_bytes(d.sent),
            human_bytes(d.received),
            d.duration_ms
        ));
    }
    if let Some(note) = &d.note {
        evidence.push(format!("data phase: {note}"));
    }
    if let Some(c) = &input.connection {
        evidence.push(format!(
            "connection {} -> {}: {}, {} subflow(s) listed{}",
            c.local,
            c.remote,
            if c.mptcp { "MPTCP" } else { "fell back to TCP" },
            c.subflows.len(),
            c.subflow_source
                .as_deref()
                .map_or_else(String::new, |s| format!(" ({s})"))
        ));
    }
    if let Some(why) = &input.probes_skipped {
        evidence.push(format!("no crafted MP_JOIN SYNs: {why}"));
    }
    let carrying = paths
        .iter()
        .filter(|p| p.verdict == PathCode::SubflowOk.as_str())
        .count();
    SummaryVerdict {
        verdict: f.verdict,
        rule: rule.to_string(),
        summary: f.summary,
        evidence,
        fixes,
        wans: paths.len(),
        carrying,
        exit_code: i32::from(f.code != SummaryCode::AggregationOk),
    }
}

/// The tokens of the captured keys against what both kernels report: a
/// difference means the keys (and so every HMAC check) are not this
/// connection's.
fn token_notes(input: &AggregateInput) -> Vec<String> {
    let mut notes = Vec::new();
    let Some(c) = &input.connection else {
        return notes;
    };
    let Some(k) = c.keys else {
        return notes;
    };
    if let Some(t) = c.token.filter(|t| *t != k.client) {
        notes.push(format!(
            "this host's token {t:08x} is not the captured key's {:08x}: the captured handshake \
             may not be this connection's",
            k.client
        ));
    }
    let server_token = input
        .server
        .as_ref()
        .and_then(|s| s.connection)
        .and_then(|s| s.token);
    if let Some(t) = server_token.filter(|t| *t != k.server) {
        notes.push(format!(
            "the server reports token {t:08x}, the captured server key gives {:08x}: a middlebox \
             may have rewritten the key",
            k.server
        ));
    }
    notes
}

#[cfg(test)]
mod replay;
#[cfg(test)]
mod tests;
