//! Trace output: tracebox's line format, our text lines, JSON objects.
use super::hops::{Hop, HopDetail, TraceState};
use super::TraceFormat;
use crate::net::matching::AnswerKind;
use packet::diff::HeaderDiff;
use packet::icmp::{code_name, IcmpFamily, QuoteKind};
use packet::json::option_list_json;
use packet::tcp_opt::OptionList;
use packet::verdict::{HopOption, VersionSource};
use serde_json::{json, Value};
use std::time::Duration;

fn ms(d: Duration) -> String {
    format!("{:.3}ms", d.as_secs_f64() * 1000.0)
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

/// One JSON object per hop.
pub fn hop_json(hop: &Hop) -> Value {
    let mut v = json!({
        "type": "hop",
        "ttl": hop.ttl,
        "responder": hop.responder.map(|a| a.to_string()),
        "rtt_ms": hop.rtt.map(|d| d.as_micros() as f64 / 1000.0),
    });
    let extra = match &hop.detail {
        HopDetail::Silent => json!({"kind": "silent"}),
        HopDetail::Quote {
            icmp_type,
            code,
            time_exceeded,
            quote,
            tracebox,
            path,
            mp_capable,
            translated,
        } => json!({
            "kind": if *time_exceeded { "time_exceeded" } else { "icmp_error" },
            "icmp": {"type": icmp_type, "code": code},
            "quote": if quote.has_full_header() { "full" } else { "partial" },
            "mp_capable": mp_capable,
            "translated": translated,
            "tracebox": tracebox.to_string(),
            "diff": path,
        }),
        HopDetail::Destination {
            kind,
            options,
            tracebox,
        } => json!({
            "kind": match kind {
                AnswerKind::SynAck => "syn_ack",
                AnswerKind::Rst => "rst",
                AnswerKind::Other => "tcp",
            },
            "options": option_list_json(&OptionList::parse(options, None)),
            "mp_capable": if packet::verdict::find_capable(options).is_some() {
                "present"
            } else {
                "absent"
            },
            "tracebox": tracebox.to_string(),
        }),
    };
    if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
        a.extend(b);
    }
    v
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
        let v = hop_json(&hop);
        assert_eq!(v["mp_capable"], "absent");
        assert_eq!(v["quote"], "full");
        assert_eq!(v["ttl"], 2);
        assert_eq!(v["kind"], "time_exceeded");
    }
}
