//! `aggregate`'s output: text for a person (one line per WAN with the
//! bytes it carried, then the summary and the fixes), or with `--json` one
//! `{"type":"path",...}` line per WAN and a last `{"type":"summary",...}`.
use super::AggregateRun;
use engine::aggregate::mapping::MappedSubflow;
use engine::aggregate::output::human_bytes;
use engine::aggregate::{AggregateInput, JoinResult, PathVerdict, PlainAnswer};
use serde::Serialize;
use std::fmt::Write;
use std::net::IpAddr;

/// The `type` of a line.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineType {
    Path,
    Summary,
}

/// One WAN.
#[derive(Debug, Serialize)]
pub struct PathLine<'a> {
    #[serde(rename = "type")]
    pub line_type: LineType,
    pub interface: &'a str,
    pub source: Option<IpAddr>,
    /// It carries the initial subflow.
    pub initial: bool,
    pub verdict: &'a str,
    pub summary: &'a str,
    pub evidence: &'a [String],
    pub fix: Option<&'a str>,
    /// Other causes that matched too (their codes).
    pub also: &'a [String],
    pub missing: &'a [String],
    pub rule: &'a str,
    /// Payload bytes over this WAN during the run, this host's view.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub subflows: &'a [MappedSubflow],
    /// The crafted MP_JOIN SYN: its answer and how the server saw it.
    pub join: Option<JoinResult>,
    /// The plain control SYN's answer.
    pub plain: Option<PlainAnswer>,
    pub tables: &'a [u32],
    pub target: &'a str,
}

/// The summary, with everything the run observed (`input`, which replays
/// through the engine).
#[derive(Debug, Serialize)]
pub struct SummaryLine<'a> {
    #[serde(rename = "type")]
    pub line_type: LineType,
    /// `aggregation_ok`, `aggregation_partial`, `aggregation_none`,
    /// `inconclusive`, or the handshake's own code.
    pub verdict: &'a str,
    pub summary: &'a str,
    pub evidence: &'a [String],
    pub fixes: &'a [String],
    pub rule: &'a str,
    pub wans: usize,
    pub carrying: usize,
    pub exit_code: i32,
    pub target: &'a str,
    pub address: IpAddr,
    pub port: u16,
    /// The handshake's verdict (check's code) on the initial WAN.
    pub handshake: &'a str,
    /// Whether crafted probes were sent (CAP_NET_RAW), and why not.
    pub privileged: bool,
    pub privilege_error: Option<&'a str>,
    pub notes: &'a [String],
    pub unmapped: &'a [MappedSubflow],
    pub input: &'a AggregateInput,
}

pub fn path_lines(run: &AggregateRun) -> Vec<PathLine<'_>> {
    run.verdict
        .paths
        .iter()
        .zip(&run.input.wans)
        .map(|(p, w)| PathLine {
            line_type: LineType::Path,
            interface: &p.interface,
            source: p.source,
            initial: p.initial,
            verdict: &p.verdict,
            summary: &p.summary,
            evidence: &p.evidence,
            fix: p.fix.as_deref(),
            also: &p.also,
            missing: &p.missing,
            rule: &p.rule,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            subflows: &p.subflows,
            join: w.join,
            plain: w.plain,
            tables: &w.tables,
            target: &run.input.target,
        })
        .collect()
}

pub fn summary_line(run: &AggregateRun) -> SummaryLine<'_> {
    let s = &run.verdict.summary;
    SummaryLine {
        line_type: LineType::Summary,
        verdict: &s.verdict,
        summary: &s.summary,
        evidence: &s.evidence,
        fixes: &s.fixes,
        rule: &s.rule,
        wans: s.wans,
        carrying: s.carrying,
        exit_code: s.exit_code,
        target: &run.input.target,
        address: run.input.address,
        port: run.port,
        handshake: &run.input.handshake.verdict,
        privileged: run.input.probes_skipped.is_none(),
        privilege_error: run.privilege_error.as_deref(),
        notes: &run.notes,
        unmapped: &run.verdict.unmapped,
        input: &run.input,
    }
}

fn path_text(out: &mut String, p: &PathVerdict, width: usize) {
    let role = if p.initial { "  (initial subflow)" } else { "" };
    let _ = writeln!(
        out,
        "  {:<width$}  {:<15}  {:<16}  {:>9} sent  {:>9} received{role}",
        p.interface,
        p.source.map_or_else(|| "-".into(), |s| s.to_string()),
        p.verdict,
        human_bytes(p.bytes_sent),
        human_bytes(p.bytes_received),
    );
    let pad = " ".repeat(width + 4);
    let _ = writeln!(out, "{pad}{}", p.summary);
    for e in &p.evidence {
        let _ = writeln!(out, "{pad}- {e}");
    }
    if !p.also.is_empty() {
        let _ = writeln!(out, "{pad}also: {}", p.also.join(", "));
    }
    for m in &p.missing {
        let _ = writeln!(out, "{pad}missing: {m}");
    }
}

/// The text form, with every line escaped for the terminal (server text
/// reaches it through the evidence, the notes and the subflow lists).
pub fn text(run: &AggregateRun) -> String {
    crate::terminal::escape_lines(&text_unescaped(run))
}

fn text_unescaped(run: &AggregateRun) -> String {
    let mut out = String::new();
    let v = &run.verdict;
    let _ = writeln!(
        out,
        "aggregate to {} ({}), {} WAN{}:",
        run.input.target,
        run.input.address,
        v.paths.len(),
        if v.paths.len() == 1 { "" } else { "s" }
    );
    let width = v.paths.iter().map(|p| p.interface.len()).max().unwrap_or(4);
    for p in &v.paths {
        path_text(&mut out, p, width);
    }
    let s = &v.summary;
    let _ = writeln!(out, "summary: {} - {}", s.verdict, s.summary);
    for e in &s.evidence {
        let _ = writeln!(out, "  - {e}");
    }
    if !s.fixes.is_empty() {
        let _ = writeln!(out, "fixes:");
        for f in &s.fixes {
            let _ = writeln!(out, "  {f}");
        }
    }
    for n in &run.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab's recorded clean run, with a hostile server's text in its
    /// evidence and notes: the text form shows it escaped, on its lines.
    #[test]
    fn server_text_in_the_text_form_is_escaped() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../pcap-fixtures/lab-agg-clean.aggregate.json"
        );
        let summary: serde_json::Value = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["type"] == "summary")
            .unwrap();
        let input: AggregateInput = serde_json::from_value(summary["input"].clone()).unwrap();
        let mut verdict = engine::aggregate::evaluate(&input);
        verdict
            .summary
            .evidence
            .push("\x1b[2J\rverdict: forged".into());
        let run = AggregateRun {
            input,
            verdict,
            port: 6101,
            privilege_error: None,
            notes: vec!["echo server: \x1b]0;title\x07".into()],
        };
        let out = text(&run);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out}");
        assert!(out.contains("\\x1b[2J\\rverdict: forged"), "{out}");
        assert!(
            out.contains("note: echo server: \\x1b]0;title\\x07"),
            "{out}"
        );
        assert!(out.lines().count() > 3);
    }
}
