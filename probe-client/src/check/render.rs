//! `check`'s output: the text a router admin reads, and the JSON line
//! documented in the module above.
use super::blackhole::BlackholeState;
use super::error::CheckError;
use super::kernel::EchoStatus;
use super::{CheckRun, EchoVia};
use crate::output::{ErrorLine, ErrorTag};
use crate::terminal::escape;
use packet::echo::{EchoReport, ObservedSegment, ProbeAnswer as EchoProbeAnswer};
use packet::verdict::{OptionArea, ProbeAnswer, ProbeResult, Verdict, VerdictInput};
use packet::{OptionList, TcpFlags};
use serde::Serialize;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

const SYN: TcpFlags = TcpFlags(0x02);
const SYN_ACK: TcpFlags = TcpFlags(0x12);

/// tcpdump's text of an option area, e.g. `mss 1460,sackOK,...`.
pub fn options_text(area: &[u8], flags: TcpFlags) -> String {
    let list = OptionList::parse(area, Some(flags));
    let mut items: Vec<String> = list
        .options
        .iter()
        .map(ToString::to_string)
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(e) = &list.error {
        items.push(format!("[bad options: {e}]"));
    }
    if items.is_empty() {
        "no options".into()
    } else {
        items.join(",")
    }
}

/// `echo`: how the echo exchange went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EchoState {
    Report,
    NotConnected,
    NotEcho,
    ServerError,
}

fn echo_status(run: &CheckRun) -> (EchoState, Option<String>) {
    match &run.echo {
        EchoStatus::Report => (EchoState::Report, None),
        EchoStatus::NotConnected => (EchoState::NotConnected, None),
        EchoStatus::NotEcho(why) => (EchoState::NotEcho, Some(why.clone())),
        EchoStatus::ServerError { code, message } => {
            (EchoState::ServerError, Some(format!("{code}: {message}")))
        }
    }
}

/// The JSON line of one check (see the module documentation): the
/// verdict's fields, then what the check saw.
#[derive(Debug, Serialize)]
pub struct CheckLine<'a> {
    #[serde(flatten)]
    pub verdict: &'a Verdict,
    pub exit_code: i32,
    pub target: &'a str,
    pub address: IpAddr,
    pub port: u16,
    pub interface: Option<&'a str>,
    /// The kernel connection's local address.
    pub source: Option<SocketAddr>,
    pub privileged: bool,
    pub privilege_error: Option<String>,
    pub echo: EchoState,
    pub echo_detail: Option<String>,
    /// The echo server's port (`port` unless `--echo-port`).
    pub echo_port: u16,
    /// Which connection the report came over (null: none came).
    pub echo_via: Option<EchoVia>,
    /// Why the kernel's MPTCP connection was not made (null: it was).
    pub kernel_skipped: Option<&'a str>,
    /// What to read first: harm this check did to the host, and whether
    /// it was undone.
    pub warnings: &'a [String],
    /// The kernel's blackhole detection around the check.
    pub blackhole: &'a BlackholeState,
    pub notes: &'a [String],
    pub input: &'a VerdictInput,
    pub report: Option<&'a EchoReport>,
    pub answer: Option<&'a EchoProbeAnswer>,
}

impl<'a> CheckLine<'a> {
    pub fn new(run: &'a CheckRun) -> Self {
        let (echo, echo_detail) = echo_status(run);
        CheckLine {
            verdict: &run.verdict,
            exit_code: run.verdict.exit_code(),
            target: &run.target,
            address: run.dest.ip(),
            port: run.dest.port(),
            interface: run.interface.as_deref(),
            source: run.source,
            privileged: run.privileged,
            privilege_error: run.privilege_error.as_ref().map(ToString::to_string),
            echo,
            echo_detail,
            echo_port: run.echo_port,
            echo_via: run.echo_via,
            kernel_skipped: run.kernel_skipped.as_deref(),
            warnings: &run.warnings,
            blackhole: &run.blackhole,
            notes: &run.adapted.notes,
            input: &run.adapted.input,
            report: run.observations.report.as_ref(),
            answer: run.observations.answer.as_ref(),
        }
    }
}

/// The JSON line of a check that could not run on one path: the common
/// error object, plus `verdict: "error"`, the exit code and which path.
#[derive(Debug, Serialize)]
pub struct CheckErrorLine<'a> {
    #[serde(flatten)]
    pub error: ErrorLine,
    pub verdict: ErrorTag,
    pub exit_code: i32,
    pub target: &'a str,
    pub interface: Option<&'a str>,
}

impl<'a> CheckErrorLine<'a> {
    pub fn new(target: &'a str, interface: Option<&'a str>, error: &CheckError) -> Self {
        CheckErrorLine {
            error: ErrorLine::new(error),
            verdict: ErrorTag::Error,
            exit_code: 2,
            target,
            interface,
        }
    }
}

fn segment_area(seg: &ObservedSegment) -> Option<OptionArea> {
    super::adapt::option_area(seg)
}

fn answer_text(answer: &ProbeAnswer) -> String {
    match answer {
        ProbeAnswer::SynAck { options, header } => {
            let from = header.map_or(String::new(), |h| {
                format!(" (TTL {}, window {})", h.ttl, h.window)
            });
            format!(
                "SYN/ACK [{}]{from}",
                options_text(options.as_bytes(), SYN_ACK)
            )
        }
        ProbeAnswer::Rst => "RST".into(),
        ProbeAnswer::Icmp {
            from,
            icmp_type,
            code,
        } => format!("ICMP type {icmp_type} code {code} from {from}"),
        ProbeAnswer::Silence => "no answer".into(),
    }
}

fn probe_lines(out: &mut String, run: &CheckRun, p: &ProbeResult) {
    let _ = writeln!(out, "  {} (seq {}):", p.kind.label(), p.seq);
    let _ = writeln!(
        out,
        "    sent:        [{}]",
        options_text(p.sent.as_bytes(), SYN)
    );
    let seen = run
        .adapted
        .input
        .server
        .as_ref()
        .filter(|s| s.probes_queried)
        .map(|s| s.probes.iter().find(|o| o.seq == p.seq));
    match seen {
        Some(Some(o)) => {
            let _ = writeln!(
                out,
                "    arrived:     [{}]",
                options_text(o.syn.as_bytes(), SYN)
            );
            if let Some(sa) = &o.syn_ack_sent {
                let _ = writeln!(
                    out,
                    "    server sent: SYN/ACK [{}]",
                    options_text(sa.as_bytes(), SYN_ACK)
                );
            }
        }
        Some(None) => {
            let _ = writeln!(out, "    arrived:     not seen by the echo server");
        }
        None => {}
    }
    let _ = writeln!(out, "    answer:      {}", answer_text(&p.answer));
}

/// The text report of one check.
pub fn text(run: &CheckRun) -> String {
    let v = &run.verdict;
    let mut out = String::new();
    for w in &run.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let via = run
        .interface
        .as_ref()
        .map_or(String::new(), |i| format!(" via {i}"));
    let _ = writeln!(out, "{} ({}){via}: {}", run.target, run.dest.ip(), v.code);
    // Server text (and what the engine built from it) is escaped, so the
    // server cannot write to the terminal.
    let _ = writeln!(out, "  {}", escape(&v.summary));
    if let Some(range) = &v.hop_range {
        let _ = writeln!(out, "hop range: {range}");
    }
    if let Some(fix) = &v.fix {
        let _ = writeln!(out, "fix: {}", escape(fix));
    }
    if !v.evidence.is_empty() {
        let _ = writeln!(out, "evidence:");
        for line in &v.evidence {
            let _ = writeln!(out, "  - {}", escape(line));
        }
    }
    if !v.missing.is_empty() {
        let _ = writeln!(out, "missing:");
        for line in &v.missing {
            let _ = writeln!(out, "  - {}", escape(line));
        }
    }
    let mut notes: Vec<String> = run.adapted.notes.clone();
    match &run.echo {
        EchoStatus::NotEcho(why) => notes.push(format!(
            "no echo server at {}: {why}; judged from this host's side only (as tracebox would)",
            run.target
        )),
        EchoStatus::ServerError { code, message } => notes.push(format!(
            "the echo server answered with an error ({code}): {message}"
        )),
        _ => {}
    }
    // A missing privilege is said once per run, on stderr (`check::run`),
    // not again under every interface.
    if let Some(why) = run
        .privilege_error
        .as_ref()
        .filter(|w| !matches!(w, super::error::ProbesSkipped::NoPrivilege(_)))
    {
        notes.push(why.to_string());
    }
    for note in &notes {
        let _ = writeln!(out, "note: {}", escape(note));
    }
    if let Some(report) = &run.observations.report {
        let _ = writeln!(out, "echo server ({}):", escape(&report.local.to_string()));
        let which = match run.echo_via {
            Some(EchoVia::PlainTcp) => "plain TCP echo connection",
            _ => "kernel connection",
        };
        let _ = writeln!(
            out,
            "  {which} from {} (as the server saw it)",
            escape(&report.peer.to_string())
        );
        let _ = writeln!(
            out,
            "    sent:        [not captured on this host: the kernel chose the options]"
        );
        match report.syn.as_ref().and_then(segment_area) {
            Some(area) => {
                let _ = writeln!(
                    out,
                    "    arrived:     [{}]",
                    options_text(area.as_bytes(), SYN)
                );
            }
            None => {
                let _ = writeln!(out, "    arrived:     not captured by the server");
            }
        }
        if let Some(area) = report.syn_ack.as_ref().and_then(segment_area) {
            let _ = writeln!(
                out,
                "    server sent: SYN/ACK [{}]",
                options_text(area.as_bytes(), SYN_ACK)
            );
        }
        let _ = writeln!(
            out,
            "    connection:  {} on the server{}",
            if report.connection.mptcp {
                "MPTCP"
            } else {
                "plain TCP"
            },
            report
                .connection
                .fallback_reason
                .as_ref()
                .map_or(String::new(), |r| format!(" ({})", escape(r)))
        );
        for w in &report.warnings {
            let _ = writeln!(out, "  warning: {}", escape(w));
        }
    }
    if !run.observations.probes.is_empty() {
        let _ = writeln!(out, "crafted probes:");
        for p in &run.observations.probes {
            probe_lines(&mut out, run, p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_text_uses_tcpdump_names() {
        let area = hex::decode("020405b40402080a0000000100000000010303071e040101").unwrap();
        let t = options_text(&area, SYN);
        assert!(
            t.starts_with("mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7,"),
            "{t}"
        );
        assert!(t.contains("mptcp"), "{t}");
        assert_eq!(options_text(&[], SYN), "no options");
        // A cut option is named, not a panic.
        assert!(options_text(&area[..area.len() - 1], SYN).contains("bad options"));
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;
    use crate::net::error::NetError;
    use packet::verdict::{evaluate, VerdictCode};

    /// The sorted keys of a serialized line.
    fn keys(line: &impl Serialize) -> Vec<String> {
        let v = serde_json::to_value(line).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn check_line_has_the_documented_keys() {
        let input = VerdictInput::default();
        let verdict = evaluate(&input);
        let notes = vec!["a note".to_string()];
        let warnings = vec!["a warning".to_string()];
        let blackhole = BlackholeState {
            before: Some(0),
            after: Some(0),
            tripped: false,
            reset: None,
        };
        let line = CheckLine {
            verdict: &verdict,
            exit_code: verdict.exit_code(),
            target: "h:6101",
            address: "10.2.0.2".parse().unwrap(),
            port: 6101,
            interface: Some("wan0"),
            source: Some("10.1.0.1:40000".parse().unwrap()),
            privileged: false,
            privilege_error: Some("no CAP_NET_RAW".into()),
            echo: EchoState::NotEcho,
            echo_detail: Some("nothing answered".into()),
            echo_port: 6101,
            echo_via: None,
            kernel_skipped: None,
            warnings: &warnings,
            blackhole: &blackhole,
            notes: &notes,
            input: &input,
            report: None,
            answer: None,
        };
        let mut want = vec![
            "verdict",
            "summary",
            "evidence",
            "rule",
            "direction",
            "middlebox",
            "exit_code",
            "target",
            "address",
            "port",
            "interface",
            "source",
            "privileged",
            "privilege_error",
            "echo",
            "echo_detail",
            "echo_port",
            "echo_via",
            "kernel_skipped",
            "warnings",
            "blackhole",
            "notes",
            "input",
            "report",
            "answer",
        ];
        // Present only when there is one.
        if verdict.fix.is_some() {
            want.push("fix");
        }
        if !verdict.missing.is_empty() {
            want.push("missing");
        }
        want.sort_unstable();
        assert_eq!(keys(&line), want);
        let v = serde_json::to_value(&line).unwrap();
        assert_eq!(v["verdict"], VerdictCode::Inconclusive.as_str());
        assert_eq!(v["echo"], "not_echo");
        assert_eq!(v["address"], "10.2.0.2");
        assert_eq!(v["source"], "10.1.0.1:40000");
        assert!(serde_json::to_string(&line)
            .unwrap()
            .starts_with(r#"{"verdict":"#));
    }

    #[test]
    fn error_line_is_the_common_error_with_the_path() {
        let e = CheckError::from(NetError::Resolve {
            host: "h".into(),
            reason: "no IPv6 address (-6)".into(),
        });
        let line = CheckErrorLine::new("h:6101", None, &e);
        assert_eq!(
            serde_json::to_string(&line).unwrap(),
            r#"{"type":"error","error":"cannot resolve h: no IPv6 address (-6)","fix":null,"verdict":"error","exit_code":2,"target":"h:6101","interface":null}"#
        );
    }
}
