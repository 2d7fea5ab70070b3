//! Trace output: tracebox's line format, our text lines, JSON objects.
use super::hops::{Hop, HopDetail, TraceState};
use super::TraceFormat;
use crate::net::matching::AnswerKind;
use packet::diff::HeaderDiff;
use packet::echo::HostReadiness;
use packet::icmp::{code_name, IcmpFamily, QuoteKind};
use packet::json::{option_list_json, OptionEntry};
use packet::tcp_opt::OptionList;
use packet::verdict::{
    HopOption, ProbeKind, QuoteKind as VerdictQuoteKind, Verdict, VersionSource,
};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;

fn ms(d: Duration) -> String {
    format!("{:.3}ms", d.as_secs_f64() * 1000.0)
}

/// The line before each interface's block when several are traced
/// (`-i A -i B`), so tracebox-format readers can tell the blocks apart.
pub fn interface_label(name: &str) -> String {
    format!("interface {name}:")
}

/// What one control flow's SYNs carried, in words.
fn flow_name(kind: ProbeKind) -> &'static str {
    match kind {
        ProbeKind::Plain => "plain SYN",
        ProbeKind::V1 => "MP_CAPABLE v1",
        ProbeKind::V0 => "MP_CAPABLE v0",
    }
}

/// One control flow on one line: each hop's responder, runs of silent
/// hops collapsed (`2..30 *`), and how the destination answered.
pub fn control_line(kind: ProbeKind, port: u16, state: Option<&TraceState>) -> String {
    let head = format!("{}, port {port}:", flow_name(kind));
    let Some(state) = state else {
        return format!("{head} not sent");
    };
    let hops = state.hops();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < hops.len() {
        let hop = &hops[i];
        let Some(addr) = hop.responder else {
            let mut j = i;
            while j + 1 < hops.len() && hops[j + 1].responder.is_none() {
                j += 1;
            }
            parts.push(if j == i {
                format!("{} *", hop.ttl)
            } else {
                format!("{}..{} *", hop.ttl, hops[j].ttl)
            });
            i = j + 1;
            continue;
        };
        let what = match &hop.detail {
            HopDetail::Destination {
                kind: answer,
                options,
                ..
            } => {
                let mpc = match packet::verdict::find_capable(options) {
                    Some(c) => format!(" with {}", c.describe()),
                    None if kind != ProbeKind::Plain => " without MP_CAPABLE".to_string(),
                    None => String::new(),
                };
                format!(" {}{mpc}", answer_name(*answer))
            }
            HopDetail::Quote {
                time_exceeded: false,
                icmp_type,
                code,
                ..
            } => {
                let family = if addr.is_ipv6() {
                    IcmpFamily::V6
                } else {
                    IcmpFamily::V4
                };
                format!(" ICMP {}", code_name(family, *icmp_type, *code))
            }
            _ => String::new(),
        };
        parts.push(format!("{} {addr}{what}", hop.ttl));
        i += 1;
    }
    format!("{head} {}", parts.join(" | "))
}

/// tracebox's header line.
pub fn tracebox_header(host: &str, addr: std::net::IpAddr, max_ttl: u8) -> String {
    format!("tracebox to {host} ({addr}): {max_ttl} hops max")
}

/// The line under tracebox's header: which WAN link and which MP_CAPABLE
/// version. Tools that show tracebox's raw lines (OpenMPTCProuter's
/// "MPTCP Support Check" page) then label each trace with its interface,
/// and a reader knows why a v0 probe (what tracebox itself sends) can lose
/// its option at a v1-only server on a path that works.
pub fn tracebox_note(
    interface: Option<&str>,
    source: std::net::IpAddr,
    version: u8,
    version_source: VersionSource,
) -> String {
    let via = match interface {
        Some(i) => format!("interface {i}"),
        None => "default route".to_string(),
    };
    let why = match version_source {
        VersionSource::User => "as given with --mptcp-version".to_string(),
        VersionSource::Kernel => "the version this host's kernel speaks".to_string(),
        VersionSource::Unknown => "this host's version is unknown".to_string(),
    };
    format!("# {via}, from {source}, MP_CAPABLE v{version} probes ({why})")
}

/// tracebox's hop line: `N: ADDR RTTms [PARTIAL] IP::TTL ... -TCPOptionMPTCPCapable`,
/// `N: *` for a silent hop. Differences are against the packet as sent.
pub fn tracebox_line(hop: &Hop) -> String {
    let Some(addr) = hop.responder else {
        return format!("{}: *", hop.ttl);
    };
    let mut line = format!("{}: {addr}", hop.ttl);
    if let Some(rtt) = hop.rtt {
        line.push(' ');
        line.push_str(&ms(rtt));
    }
    let diff = match &hop.detail {
        HopDetail::Quote { tracebox, .. } | HopDetail::Destination { tracebox, .. } => {
            tracebox.to_string()
        }
        HopDetail::Silent => String::new(),
    };
    if !diff.is_empty() {
        line.push(' ');
        line.push_str(&diff);
    }
    line
}

fn option_state(o: HopOption) -> &'static str {
    match o {
        HopOption::Present => "MP_CAPABLE present",
        HopOption::Absent => "MP_CAPABLE ABSENT",
        HopOption::Changed => "MP_CAPABLE CHANGED",
        HopOption::Unknown => "MP_CAPABLE not quoted",
    }
}

fn quote_name(q: QuoteKind) -> &'static str {
    match q {
        QuoteKind::Full | QuoteKind::FullHeader => "full quote",
        QuoteKind::Rfc792 => "partial quote (8 bytes)",
        QuoteKind::Truncated { .. } => "partial quote",
    }
}

fn answer_name(k: AnswerKind) -> &'static str {
    match k {
        AnswerKind::SynAck => "SYN/ACK",
        AnswerKind::Rst => "RST",
        AnswerKind::Other => "TCP answer",
    }
}

fn changes(path: &HeaderDiff) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("  changed: {path}")
    }
}

/// Our hop line: address, RTT, what the quote shows of MP_CAPABLE, and
/// what the path changed besides the TTL decrements.
pub fn text_line(hop: &Hop) -> String {
    let Some(addr) = hop.responder else {
        return format!("{:>3}  *", hop.ttl);
    };
    let rtt = hop.rtt.map(ms).unwrap_or_else(|| "?".into());
    match &hop.detail {
        HopDetail::Quote {
            icmp_type,
            code,
            time_exceeded,
            quote,
            path,
            mp_capable,
            translated,
            ..
        } => {
            let mut line = format!("{:>3}  {addr}  {rtt}  ", hop.ttl);
            if !time_exceeded {
                let family = if addr.is_ipv6() {
                    IcmpFamily::V6
                } else {
                    IcmpFamily::V4
                };
                line.push_str(&format!("ICMP {}, ", code_name(family, *icmp_type, *code)));
            }
            line.push_str(&format!(
                "{}, {}",
                quote_name(*quote),
                option_state(*mp_capable)
            ));
            if *translated {
                line.push_str(", quote translated (NAT)");
            }
            line.push_str(&changes(path));
            line
        }
        HopDetail::Destination {
            kind,
            options,
            tracebox,
        } => {
            let list = OptionList::parse(options, None);
            let mut line = format!(
                "{:>3}  {addr}  {rtt}  {} [{list}]",
                hop.ttl,
                answer_name(*kind)
            );
            if !tracebox.is_empty() {
                line.push_str(&format!("  {tracebox}"));
            }
            line
        }
        HopDetail::Silent => format!("{:>3}  {addr}", hop.ttl),
    }
}

/// Hop lines in TTL order: a hop is printed once it and every lower TTL
/// have answered (so a terminal shows hops as they come in), and the rest
/// when the trace is finished, silent hops as `*`.
#[derive(Debug, Clone)]
pub struct HopLines {
    format: TraceFormat,
    /// Next TTL to print (u16: the last TTL may be 255).
    next: u16,
}

impl HopLines {
    pub fn new(format: TraceFormat) -> Self {
        HopLines { format, next: 1 }
    }

    fn line(&self, hop: &Hop) -> String {
        match self.format {
            TraceFormat::Text => text_line(hop),
            TraceFormat::Tracebox => tracebox_line(hop),
        }
    }

    /// The lines that can be printed now; with `finished`, all the rest.
    pub fn ready(&mut self, state: &TraceState, finished: bool) -> Vec<String> {
        let last = u16::from(state.last_ttl());
        let mut out = Vec::new();
        while self.next <= last {
            let ttl = self.next as u8;
            if !finished && !state.answered(ttl) {
                break;
            }
            if finished
                && self.format == TraceFormat::Text
                && state.destination_ttl().is_none()
                && !(ttl..=state.last_ttl()).any(|t| state.answered(t))
            {
                // No destination answer: one line for the silent tail
                // (tracebox's format lists every TTL).
                out.push(format!("{ttl:>3}  * .. {last}: no answer"));
                self.next = last + 1;
                break;
            }
            out.push(self.line(&state.hop(ttl)));
            self.next += 1;
        }
        out
    }
}

/// One line of `trace --json` (see the module documentation of `trace`),
/// told apart by `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TraceLine<'a> {
    Hop(HopLine),
    Server(ServerLine<'a>),
    Verdict(VerdictLine<'a>),
}

/// A hop: which flow, TTL, who answered, and what its answer shows.
#[derive(Debug, Serialize)]
pub struct HopLine {
    /// What the flow's SYNs carried: `v1`, `v0` (MP_CAPABLE) or `plain`.
    /// The flow in the verdict line's `mptcp_version` is the traced one;
    /// the other two are its controls.
    pub flow: ProbeKind,
    pub ttl: u8,
    pub responder: Option<IpAddr>,
    pub rtt_ms: Option<f64>,
    #[serde(flatten)]
    pub detail: HopJson,
}

/// What a hop's answer was (`kind`) and what it shows.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HopJson {
    Silent,
    TimeExceeded(QuoteJson),
    IcmpError(QuoteJson),
    SynAck(DestinationJson),
    Rst(DestinationJson),
    Tcp(DestinationJson),
}

/// A router's ICMP error quoting our probe.
#[derive(Debug, Serialize)]
pub struct QuoteJson {
    pub icmp: IcmpJson,
    pub quote: VerdictQuoteKind,
    pub mp_capable: HopOption,
    /// The quoted source address or port is not ours (a NAT).
    pub translated: bool,
    /// tracebox's diff, against the packet as sent.
    pub tracebox: String,
    /// Against the packet as this hop should have received it.
    pub diff: HeaderDiff,
}

#[derive(Debug, Serialize)]
pub struct IcmpJson {
    #[serde(rename = "type")]
    pub icmp_type: u8,
    pub code: u8,
}

/// The destination's TCP answer.
#[derive(Debug, Serialize)]
pub struct DestinationJson {
    pub options: Vec<OptionEntry>,
    /// `present` or `absent`: whether the answer carries MP_CAPABLE.
    pub mp_capable: HopOption,
    /// The options we sent that the answer lacks, as tracebox names them.
    pub tracebox: String,
}

impl HopLine {
    pub fn new(flow: ProbeKind, hop: &Hop) -> Self {
        let detail = match &hop.detail {
            HopDetail::Silent => HopJson::Silent,
            HopDetail::Quote {
                icmp_type,
                code,
                time_exceeded,
                quote,
                tracebox,
                path,
                mp_capable,
                translated,
            } => {
                let q = QuoteJson {
                    icmp: IcmpJson {
                        icmp_type: *icmp_type,
                        code: *code,
                    },
                    quote: if quote.has_full_header() {
                        VerdictQuoteKind::Full
                    } else {
                        VerdictQuoteKind::Partial
                    },
                    mp_capable: *mp_capable,
                    translated: *translated,
                    tracebox: tracebox.to_string(),
                    diff: path.clone(),
                };
                if *time_exceeded {
                    HopJson::TimeExceeded(q)
                } else {
                    HopJson::IcmpError(q)
                }
            }
            HopDetail::Destination {
                kind,
                options,
                tracebox,
            } => {
                let d = DestinationJson {
                    options: option_list_json(&OptionList::parse(options, None)),
                    mp_capable: if packet::verdict::find_capable(options).is_some() {
                        HopOption::Present
                    } else {
                        HopOption::Absent
                    },
                    tracebox: tracebox.to_string(),
                };
                match kind {
                    AnswerKind::SynAck => HopJson::SynAck(d),
                    AnswerKind::Rst => HopJson::Rst(d),
                    AnswerKind::Other => HopJson::Tcp(d),
                }
            }
        };
        HopLine {
            flow,
            ttl: hop.ttl,
            responder: hop.responder,
            rtt_ms: hop.rtt.map(|d| d.as_micros() as f64 / 1000.0),
            detail,
        }
    }
}

/// The echo server's account of the probe that reached it.
#[derive(Debug, Serialize)]
pub struct ServerLine<'a> {
    /// An echo server answered with a report.
    pub reachable: bool,
    pub error: Option<&'a str>,
    /// It answered the query for the probes.
    pub queried: bool,
    /// Packets its capture dropped while the probes may have arrived
    /// (then a probe it did not see may still have arrived).
    pub capture_drops: u64,
    /// Probes it captured, then evicted from its store (then too a probe
    /// it did not see may have arrived).
    pub displaced: u64,
    /// The TTL of the probe it saw.
    pub ttl: Option<u8>,
    pub syn_seen: bool,
    /// tcpdump's text of the options as they arrived.
    pub options: Option<String>,
    /// Whether MP_CAPABLE arrived, in words.
    pub mp_capable: Option<String>,
    /// What the path changed besides the TTL.
    pub changes: Option<String>,
    pub readiness: Option<&'a HostReadiness>,
}

/// The verdict, with what was traced.
#[derive(Debug, Serialize)]
pub struct VerdictLine<'a> {
    #[serde(flatten)]
    pub verdict: &'a Verdict,
    pub target: &'a str,
    pub address: IpAddr,
    pub interface: Option<&'a str>,
    pub mptcp_version: u8,
    pub exit_code: i32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::diff::{Change, Difference};

    fn quote_hop(ttl: u8, tracebox: HeaderDiff, partial: bool) -> Hop {
        Hop {
            ttl,
            responder: Some("10.5.0.2".parse().unwrap()),
            rtt: Some(Duration::from_micros(1234)),
            detail: HopDetail::Quote {
                icmp_type: 11,
                code: 0,
                time_exceeded: true,
                quote: if partial {
                    QuoteKind::Rfc792
                } else {
                    QuoteKind::Full
                },
                path: HeaderDiff::default(),
                tracebox,
                mp_capable: HopOption::Absent,
                translated: false,
            },
        }
    }

    fn d(layer: &'static str, field: Option<&'static str>, change: Change) -> Difference {
        Difference {
            layer,
            field,
            change,
            sent: String::new(),
            seen: String::new(),
        }
    }

    #[test]
    fn tracebox_lines() {
        let diff = HeaderDiff {
            differences: vec![
                d("IP", Some("TTL"), Change::Modified),
                d("IP", Some("CheckSum"), Change::Modified),
                d("TCPOptionMPTCPCapable", None, Change::Removed),
            ],
            partial: false,
        };
        assert_eq!(
            tracebox_line(&quote_hop(2, diff, false)),
            "2: 10.5.0.2 1.234ms IP::TTL IP::CheckSum -TCPOptionMPTCPCapable"
        );
        let partial = HeaderDiff {
            differences: vec![],
            partial: true,
        };
        assert_eq!(
            tracebox_line(&quote_hop(3, partial, true)),
            "3: 10.5.0.2 1.234ms [PARTIAL]"
        );
        let silent = Hop {
            ttl: 4,
            responder: None,
            rtt: None,
            detail: HopDetail::Silent,
        };
        assert_eq!(tracebox_line(&silent), "4: *");
        assert_eq!(text_line(&silent), "  4  *");
        assert_eq!(
            tracebox_header("h", "10.2.0.2".parse().unwrap(), 30),
            "tracebox to h (10.2.0.2): 30 hops max"
        );
        let from = "10.1.0.1".parse().unwrap();
        assert_eq!(
            tracebox_note(Some("wan2"), from, 1, VersionSource::Kernel),
            "# interface wan2, from 10.1.0.1, MP_CAPABLE v1 probes \
             (the version this host's kernel speaks)"
        );
        assert_eq!(
            tracebox_note(None, from, 0, VersionSource::User),
            "# default route, from 10.1.0.1, MP_CAPABLE v0 probes (as given with --mptcp-version)"
        );
    }

    #[test]
    fn hop_lines_wait_for_lower_ttls() {
        use crate::net::matching::fixtures::frames;
        use crate::trace::hops::test_support::replay;
        let f = frames("ttl-stripped.client.pcap");
        let full = replay("ttl-stripped.client.pcap");
        let mut state = TraceState::new(full.probes.clone());
        let mut lines = HopLines::new(TraceFormat::Tracebox);
        let at = |i: usize| std::time::UNIX_EPOCH + f[i].0;
        // Router 2 answers first: nothing printable until router 1 has.
        state.absorb(&f[3].1, at(3));
        assert!(lines.ready(&state, false).is_empty());
        state.absorb(&f[1].1, at(1));
        let now = lines.ready(&state, false);
        assert_eq!(now.len(), 2);
        assert!(now[0].starts_with("1: 10.1.0.1"), "{now:?}");
        assert!(now[1].starts_with("2: 10.5.0.2"), "{now:?}");
        assert!(now[1].ends_with("-TCPOptionMPTCPCapable"), "{now:?}");
        state.absorb(&f[5].1, at(5));
        let last = lines.ready(&state, false);
        assert_eq!(last, vec!["3: 10.2.0.2 -TCPOptionMPTCPCapable".to_string()]);
        assert!(lines.ready(&state, true).is_empty(), "each hop once");
    }

    #[test]
    fn control_flows_fit_one_line_each() {
        use crate::net::matching::fixtures::frames;
        use crate::trace::hops::test_support::replay;
        let full = replay("ttl-stripped.client.pcap");
        assert_eq!(
            control_line(ProbeKind::Plain, 40001, Some(&full)),
            "plain SYN, port 40001: 1 10.1.0.1 | 2 10.5.0.2 | 3 10.2.0.2 SYN/ACK"
        );
        assert!(control_line(ProbeKind::V0, 40002, Some(&full))
            .ends_with("3 10.2.0.2 SYN/ACK without MP_CAPABLE"));
        // Only router 1 answered: the silent rest is one run.
        let f = frames("ttl-stripped.client.pcap");
        let mut state = TraceState::new(full.probes.clone());
        state.absorb(&f[1].1, std::time::UNIX_EPOCH + f[1].0);
        assert_eq!(
            control_line(ProbeKind::V1, 40003, Some(&state)),
            "MP_CAPABLE v1, port 40003: 1 10.1.0.1 | 2..3 *"
        );
        assert_eq!(
            control_line(ProbeKind::Plain, 40001, None),
            "plain SYN, port 40001: not sent"
        );
        assert_eq!(interface_label("wanb"), "interface wanb:");
    }

    #[test]
    fn finished_text_collapses_the_silent_tail() {
        use crate::net::matching::fixtures::frames;
        use crate::trace::hops::test_support::replay;
        let f = frames("ttl-stripped.client.pcap");
        let full = replay("ttl-stripped.client.pcap");
        let mut state = TraceState::new(full.probes.clone());
        state.absorb(&f[1].1, std::time::UNIX_EPOCH + f[1].0);
        let mut lines = HopLines::new(TraceFormat::Text);
        let out = lines.ready(&state, true);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].contains("10.1.0.1"));
        assert_eq!(out[1], "  2  * .. 3: no answer");
        let mut tb = HopLines::new(TraceFormat::Tracebox);
        let out = tb.ready(&state, true);
        assert_eq!(&out[1..], &["2: *".to_string(), "3: *".to_string()]);
    }

    #[test]
    fn text_and_json() {
        let hop = quote_hop(2, HeaderDiff::default(), false);
        let line = text_line(&hop);
        assert!(line.contains("MP_CAPABLE ABSENT"), "{line}");
        assert!(line.contains("full quote"), "{line}");
        let v = serde_json::to_value(TraceLine::Hop(HopLine::new(ProbeKind::V1, &hop))).unwrap();
        assert_eq!(v["mp_capable"], "absent");
        assert_eq!(v["quote"], "full");
        assert_eq!(v["ttl"], 2);
        assert_eq!(v["kind"], "time_exceeded");
    }

    /// The sorted keys of a serialized line.
    fn keys(line: &TraceLine<'_>) -> Vec<String> {
        let v = serde_json::to_value(line).unwrap();
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn hop_lines_have_the_documented_keys() {
        let quote = TraceLine::Hop(HopLine::new(
            ProbeKind::V1,
            &quote_hop(2, HeaderDiff::default(), false),
        ));
        assert_eq!(
            keys(&quote),
            [
                "diff",
                "flow",
                "icmp",
                "kind",
                "mp_capable",
                "quote",
                "responder",
                "rtt_ms",
                "tracebox",
                "translated",
                "ttl",
                "type"
            ]
        );
        let line = serde_json::to_string(&quote).unwrap();
        assert!(
            line.starts_with(r#"{"type":"hop","flow":"v1","ttl":2,"responder":"10.5.0.2","rtt_ms":1.234,"kind":"time_exceeded","icmp":{"type":11,"code":0}"#),
            "{line}"
        );
        let silent = TraceLine::Hop(HopLine::new(
            ProbeKind::Plain,
            &Hop {
                ttl: 4,
                responder: None,
                rtt: None,
                detail: HopDetail::Silent,
            },
        ));
        assert_eq!(
            serde_json::to_string(&silent).unwrap(),
            r#"{"type":"hop","flow":"plain","ttl":4,"responder":null,"rtt_ms":null,"kind":"silent"}"#
        );
        let destination = TraceLine::Hop(HopLine::new(
            ProbeKind::V1,
            &Hop {
                ttl: 3,
                responder: Some("10.2.0.2".parse().unwrap()),
                rtt: Some(Duration::from_micros(500)),
                detail: HopDetail::Destination {
                    kind: AnswerKind::SynAck,
                    options: vec![2, 4, 5, 0xb4],
                    tracebox: HeaderDiff::default(),
                },
            },
        ));
        assert_eq!(
            keys(&destination),
            [
                "flow",
                "kind",
                "mp_capable",
                "options",
                "responder",
                "rtt_ms",
                "tracebox",
                "ttl",
                "type"
            ]
        );
        let v = serde_json::to_value(&destination).unwrap();
        assert_eq!(v["kind"], "syn_ack");
        assert_eq!(v["mp_capable"], "absent");
        assert_eq!(v["options"][0]["name"], "mss");
    }

    #[test]
    fn server_and_verdict_lines_have_the_documented_keys() {
        let server = TraceLine::Server(ServerLine {
            reachable: false,
            error: Some("no echo server"),
            queried: false,
            capture_drops: 0,
            displaced: 0,
            ttl: None,
            syn_seen: false,
            options: None,
            mp_capable: None,
            changes: None,
            readiness: None,
        });
        assert_eq!(
            keys(&server),
            [
                "capture_drops",
                "changes",
                "displaced",
                "error",
                "mp_capable",
                "options",
                "queried",
                "reachable",
                "readiness",
                "syn_seen",
                "ttl",
                "type"
            ]
        );
        let verdict = packet::verdict::evaluate(&packet::verdict::VerdictInput::default());
        let line = TraceLine::Verdict(VerdictLine {
            verdict: &verdict,
            target: "h",
            address: "10.2.0.2".parse().unwrap(),
            interface: None,
            mptcp_version: 1,
            exit_code: verdict.exit_code(),
        });
        let mut want = vec![
            "address",
            "direction",
            "evidence",
            "exit_code",
            "interface",
            "middlebox",
            "mptcp_version",
            "rule",
            "summary",
            "target",
            "type",
            "verdict",
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
        assert!(serde_json::to_string(&line)
            .unwrap()
            .starts_with(r#"{"type":"verdict","verdict":"#));
    }
}
