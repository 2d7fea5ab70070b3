//! The rule table: ordered, first match wins. Each rule is a small function
//! from [`Facts`] to an optional [`Finding`].
//!
//! # Why this order
//! 1. `local_mptcp_disabled`: a fact about this host read from its own
//!    kernel, not inferred from the network, and it blocks aggregation
//!    whatever the path does. It must also come before the path rules: a
//!    kernel without MPTCP sends no MP_CAPABLE, so its connection would
//!    otherwise look stripped. (Crafted probes still run and their findings
//!    stay in the evidence.) The kernel's blackhole detection counts too
//!    (it sends new connections without MP_CAPABLE), except when the
//!    crafted probes show the path failing: that failure tripped it, and
//!    the path rule names the cause to remove first.
//! 2. `unreachable`: with no handshake at all (silence, ICMP errors, RSTs)
//!    nothing about MPTCP can be judged. It yields to an echo server
//!    report (which proves the path works) and leaves a RST to an MPTCP
//!    SYN while a plain SYN is accepted to `syn_dropped`.
//! 3. `echoing_middlebox`: a reflected MP_CAPABLE is not the server's, so
//!    every later rule that reads the SYN/ACK (ok, mismatch, stripping)
//!    would be misled by it; and a reflected v0 option is a well formed
//!    12-byte MP_CAPABLE that `mptcp_ok` alone would accept.
//! 4. `version_mismatch`: before `mptcp_ok` (a working v1 probe proves
//!    nothing for a v0 router) and before `server_mptcp_disabled` (both see
//!    "arrived intact, answered without MPTCP"; only the other version
//!    working, or the server's own version, tells them apart).
//! 5. `mptcp_ok`: strict and conjunctive (intact arrival, a listener's key
//!    in our version, no reflection, no defect on another attempt of our
//!    version), so it is safe before the defect rules; it comes before them
//!    so that a defect seen only by a probe in the version this host does
//!    not speak (v0 ignored by a v1-only server) does not mask a working
//!    path. Such findings stay in the evidence.
//! 6. `syn_dropped`: before `stripped_upstream` because the kernel retries a
//!    lost MP_CAPABLE SYN without the option, which then arrives at the
//!    server looking stripped; the retransmission count tells the truth.
//!    It also covers the loss on the way back: when the server saw our SYN
//!    intact and answered with MP_CAPABLE while nothing came back, the
//!    server's account proves the direction (`downstream`) without any
//!    control, and `stripped_downstream` (an answer that lacks the option)
//!    can never match an answer that never came. A plain TCP connection
//!    to the echo server (made instead of the MPTCP one) is a control too.
//! 7. `stripped_upstream`, 8. `stripped_downstream`, 9. `option_modified`:
//!    path defects proven by the server's account (or a trace). Removal is
//!    checked before rewriting: a box that removes the option on one
//!    attempt and rewrites it on another is first of all a remover.
//!    `stripped_upstream` names a TCP-terminating box (SYN proxy,
//!    transparent relay) when its signs are decisive (crafted SYNs answered
//!    yet never seen by the server while our connection reached it; a SYN
//!    at the server echoing a timestamp): such a box's own connection
//!    reaches the server without MP_CAPABLE, which is exactly what this
//!    rule reads, so the signs change the name of the box and the fix,
//!    not the verdict, and they need no rule of their own.
//! 10. `server_mptcp_disabled`: only once the path is cleared (the option
//!     arrived intact) is the server's own refusal the cause.
//! 11. `inconclusive`: always matches, naming the missing evidence.
//!
//! Each finding also says which way the handshake was lost (`direction`,
//! where the evidence tells) and what kind of box is to blame
//! (`middlebox`); both stay empty for verdicts about a host.
use super::capable::{find_capable, SynFate};
use super::facts::{Arrival, Attempt, Facts, Reply, ServerSent};
use super::output::{Direction, HopRange, MiddleboxKind, VerdictCode};

/// What a matching rule decided (evidence common to every verdict is added
/// by the engine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: VerdictCode,
    pub summary: String,
    pub evidence: Vec<String>,
    pub hop_range: Option<HopRange>,
    pub fix: Option<String>,
    pub missing: Vec<String>,
    /// Which way the handshake was lost, when the evidence tells.
    pub direction: Option<Direction>,
    /// The kind of box blamed.
    pub middlebox: Option<MiddleboxKind>,
}

impl Finding {
    fn new(code: VerdictCode, summary: String) -> Self {
        Finding {
            code,
            summary,
            evidence: Vec::new(),
            hop_range: None,
            fix: None,
            missing: Vec::new(),
            direction: None,
            middlebox: None,
        }
    }
    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
    fn blames(mut self, middlebox: MiddleboxKind, direction: Option<Direction>) -> Self {
        self.middlebox = Some(middlebox);
        self.direction = direction;
        self
    }
}

/// One rule of the table.
#[derive(Clone, Copy)]
pub struct Rule {
    pub name: &'static str,
    pub code: VerdictCode,
    pub check: fn(&Facts<'_>) -> Option<Finding>,
}

/// The rule table, in evaluation order (see the module documentation).
pub const RULES: [Rule; 11] = [
    Rule {
        name: "local_mptcp_disabled",
        code: VerdictCode::LocalMptcpDisabled,
        check: local_mptcp_disabled,
    },
    Rule {
        name: "unreachable",
        code: VerdictCode::Unreachable,
        check: unreachable,
    },
    Rule {
        name: "echoing_middlebox",
        code: VerdictCode::EchoingMiddlebox,
        check: echoing_middlebox,
    },
    Rule {
        name: "version_mismatch",
        code: VerdictCode::VersionMismatch,
        check: version_mismatch,
    },
    Rule {
        name: "mptcp_ok",
        code: VerdictCode::MptcpOk,
        check: mptcp_ok,
    },
    Rule {
        name: "syn_dropped",
        code: VerdictCode::SynDropped,
        check: syn_dropped,
    },
    Rule {
        name: "stripped_upstream",
        code: VerdictCode::StrippedUpstream,
        check: stripped_upstream,
    },
    Rule {
        name: "stripped_downstream",
        code: VerdictCode::StrippedDownstream,
        check: stripped_downstream,
    },
    Rule {
        name: "option_modified",
        code: VerdictCode::OptionModified,
        check: option_modified,
    },
    Rule {
        name: "server_mptcp_disabled",
        code: VerdictCode::ServerMptcpDisabled,
        check: server_mptcp_disabled,
    },
    Rule {
        name: "inconclusive",
        code: VerdictCode::Inconclusive,
        check: inconclusive,
    },
];

const STRIP_FIX: &str = "a middlebox (often the ISP's CPE or carrier-grade NAT) removes TCP option 30: \
     try another destination port, ask the ISP, or carry this link's traffic in a tunnel (e.g. UDP/WireGuard)";

const DROP_FIX: &str = "a middlebox (often the ISP's CPE or a firewall) drops SYNs carrying TCP option 30: \
     try another destination port, ask the ISP, or carry this link's traffic in a tunnel (e.g. UDP/WireGuard)";

const DROP_BACK_FIX: &str = "a middlebox (often a firewall or the ISP's CPE) drops the server's SYN/ACKs \
     carrying TCP option 30 on their way back: try another port, ask the ISP or the hosting provider, \
     or carry this link's traffic in a tunnel (e.g. UDP/WireGuard)";

const PROXY_FIX: &str = "a box on the path terminates TCP (a SYN proxy such as DDoS protection, or a \
     transparent proxy) and opens its own connection to the server, so no MPTCP option can pass it: \
     have this port or the server exempted from it (ask the provider), try another port, or carry \
     the traffic in a tunnel (e.g. UDP/WireGuard)";

/// This host's kernel does not use MPTCP for new connections: it cannot
/// make them (`LocalHost::mptcp_enabled == Some(false)`), or its blackhole
/// detection keeps MP_CAPABLE out of them (`LocalHost::blackhole`).
fn local_mptcp_disabled(f: &Facts<'_>) -> Option<Finding> {
    if f.input.local.mptcp_enabled == Some(false) {
        let summary =
            "MPTCP is disabled on this host: its kernel cannot make MPTCP connections".to_string();
        return Some(Finding::new(VerdictCode::LocalMptcpDisabled, summary).fix(
            "enable it: `sysctl -w net.mptcp.enabled=1` on an upstream kernel (5.6+), \
             `sysctl -w net.mptcp.mptcp_enabled=1` on an out-of-tree -mptcp kernel",
        ));
    }
    local_blackhole(f)
}

/// The blackhole detection is active. When the crafted probes (which the
/// detection does not touch) show the path itself failing, that failure is
/// the cause (it is what trips the detection): the path rules name it and
/// the detection stays in the common evidence. Otherwise the host is the
/// cause: whatever the path does, this host's connections get no MPTCP.
fn local_blackhole(f: &Facts<'_>) -> Option<Finding> {
    let bh = f.input.local.blackhole.as_ref()?;
    let probes: Vec<&Attempt> = f.relevant().filter(|a| !a.is_kernel).collect();
    let working = probes.iter().find(|a| a.works());
    if !probes.is_empty() && working.is_none() {
        return None;
    }
    let period = match bh.timeout {
        Some(t) => format!("net.mptcp.blackhole_timeout = {t} s, longer after repeats"),
        None => "net.mptcp.blackhole_timeout seconds, longer after repeats".into(),
    };
    let summary = format!(
        "this host's kernel does not use MPTCP for new connections: its blackhole detection \
         turned MPTCP off after earlier MP_CAPABLE SYNs were lost ({period}), so every new \
         connection, to {} too, goes out as plain TCP",
        f.target
    );
    let mut finding = Finding::new(VerdictCode::LocalMptcpDisabled, summary)
        .fix(super::blackhole::reset_advice(bh.timeout));
    let kernel_syn = f.input.server.as_ref().and_then(|s| s.syn_seen.as_ref());
    if kernel_syn.is_some_and(|syn| find_capable(syn.as_bytes()).is_none()) {
        finding.evidence.push(
            "the server saw this host's kernel connection's SYN without MP_CAPABLE: the \
             kernel did not offer MPTCP"
                .into(),
        );
    }
    match working {
        Some(a) => finding.evidence.push(format!(
            "the {} (crafted, untouched by the detection) {}: the path itself carries MPTCP",
            a.label,
            if a.arrived_intact() {
                "arrived intact and was answered with MP_CAPABLE"
            } else {
                "was answered with MP_CAPABLE"
            }
        )),
        None => finding.missing.push(
            "crafted probes (CAP_NET_RAW) to show whether the path itself carries MPTCP".into(),
        ),
    }
    Some(finding)
}

/// No handshake anywhere (every SYN met silence, an ICMP error or a RST)
/// and no echo server account.
fn unreachable(f: &Facts<'_>) -> Option<Finding> {
    if f.has_server() || f.all().next().is_none() || f.all().any(|a| a.reply.handshake()) {
        return None;
    }
    let icmp: Vec<String> = f
        .all()
        .filter_map(|a| match &a.reply {
            Reply::Icmp(text) => Some(format!("{} ({})", a.label, text)),
            _ => None,
        })
        .collect();
    let refused = f.all().filter(|a| a.reply == Reply::Rst).count();
    let summary = if refused > 0 {
        format!(
            "{} refuses connections on this port (RST): nothing listens there",
            f.target
        )
    } else if icmp.is_empty() {
        format!("{} is unreachable: no SYN was answered", f.target)
    } else {
        format!(
            "{} is unreachable: SYNs were answered only by ICMP errors",
            f.target
        )
    };
    let mut finding = Finding::new(VerdictCode::Unreachable, summary).fix(
        "check the address and port, that the echo server (or service) listens there, and firewalls on the way",
    );
    finding.evidence = icmp;
    if f.plain.is_empty() && refused == 0 {
        finding.missing.push(
            "a plain SYN as control: only SYNs with MP_CAPABLE were sent, so dropping them cannot be told from a dead host"
                .into(),
        );
    }
    Some(finding)
}

/// Some SYN/ACK carries an MP_CAPABLE no listener would send: on the plain
/// probe, without a key, with our own v0 key, or one the server says it did
/// not send (or the kernel negotiated MPTCP while the server's side is TCP).
fn echoing_middlebox(f: &Facts<'_>) -> Option<Finding> {
    let why = f.all().find_map(Attempt::reflection)?;
    let summary = format!(
        "a middlebox on the path to {} reflects MP_CAPABLE: the SYN/ACK's option is not the server's",
        f.target
    );
    let mut finding = Finding::new(VerdictCode::EchoingMiddlebox, summary)
        .fix(
            "a box on the path answers or rewrites handshakes (transparent proxy, broken option \
         handling); MPTCP cannot work through it: try another port, or a tunnel",
        )
        .blames(MiddleboxKind::OptionReflector, None);
    finding.evidence.push(why);
    Some(finding)
}

/// This host's version was ignored (arrived intact or unknown, answered
/// without MPTCP) while the other version negotiated, or the server reports
/// it speaks the other version.
fn version_mismatch(f: &Facts<'_>) -> Option<Finding> {
    let local = f.local_version?;
    let ignored = f
        .mptcp
        .iter()
        .find(|a| a.version == Some(local) && a.ignored())?;
    let other_works = f
        .mptcp
        .iter()
        .find(|a| a.version.is_some() && a.version != Some(local) && a.works());
    let server = f.input.server.as_ref();
    let server_version = server
        .filter(|s| s.mptcp_enabled != Some(false))
        .and_then(|s| s.mptcp_version)
        .filter(|&v| v != local);
    let remote = match (other_works, server_version) {
        (Some(a), _) => a.version?,
        (None, Some(v)) => v,
        (None, None) => return None,
    };
    let summary = format!(
        "MPTCP version mismatch: this host speaks v{local}, {} speaks only v{remote} and ignored our v{local} MP_CAPABLE",
        f.target
    );
    let mut finding = Finding::new(VerdictCode::VersionMismatch, summary);
    finding.evidence.push(format!(
        "{} in v{local} was answered without MPTCP{}",
        ignored.label,
        match other_works {
            Some(a) => format!(", the {} in v{remote} negotiated MPTCP", a.label),
            None => format!(", the server reports it speaks v{remote}"),
        }
    ));
    finding.fix = Some(if local == 0 {
        "this router runs an out-of-tree -mptcp kernel (5.4) speaking MPTCP v0 \
         (`sysctl net.mptcp.mptcp_version`); upstream kernels speak only v1: set \
         `sysctl -w net.mptcp.mptcp_version=1` on the router, or upgrade the router kernel"
            .into()
    } else {
        "the server runs an out-of-tree -mptcp kernel speaking v0: set \
         `sysctl -w net.mptcp.mptcp_version=1` there, or move it to an upstream kernel (5.6+)"
            .into()
    });
    Some(finding)
}

fn is_defect(a: &Attempt) -> bool {
    matches!(
        a.arrival,
        Arrival::Seen(SynFate::Removed { .. } | SynFate::Modified { .. })
    )
}

/// An attempt in this host's version negotiated MPTCP (see
/// [`Attempt::works`]) and no attempt in this version shows a path defect.
fn mptcp_ok(f: &Facts<'_>) -> Option<Finding> {
    let working = f.relevant().find(|a| a.works())?;
    if f.relevant().any(is_defect) {
        return None;
    }
    let version = working.version?;
    let how = if working.is_kernel {
        "this host's kernel connection negotiated MPTCP".to_string()
    } else {
        format!(
            "the {} was answered with the server's own v{version} key",
            working.label
        )
    };
    let confirmed = if working.arrived_intact() {
        format!(", and the server saw our v{version} MP_CAPABLE arrive intact")
    } else {
        String::new()
    };
    let summary = format!(
        "MPTCP v{version} works end to end to {}: {how}{confirmed}",
        f.target
    );
    let mut finding = Finding::new(VerdictCode::MptcpOk, summary);
    if !working.arrived_intact() {
        finding.missing.push(
            "the echo server's account: that the option arrived unchanged is not confirmed".into(),
        );
    }
    // What this host speaks is only said when known (a capture may not
    // show it).
    let speaks = if f.local_version.is_some() {
        format!("expected, this host speaks v{version}")
    } else {
        format!("expected if this host speaks v{version}")
    };
    for other in f.mptcp.iter().filter(|a| a.version != Some(version)) {
        if other.ignored() {
            finding.evidence.push(format!(
                "{} in v{} was ignored: {speaks}",
                other.label,
                other.version.unwrap_or_default()
            ));
        }
    }
    Some(finding)
}

/// The kernel needed 2+ SYN retransmissions and fell back to TCP; or the
/// server saw our SYN intact and answered with MP_CAPABLE while nothing
/// came back (downstream); or MPTCP SYNs met silence/ICMP (or a RST while
/// the plain SYN got a SYN/ACK) while a plain control was answered.
fn syn_dropped(f: &Facts<'_>) -> Option<Finding> {
    // The kernel's own fallback: its SYNs with MP_CAPABLE were lost and a
    // retry without the option got through.
    if let Some(k) = f.relevant().find(|a| {
        a.is_kernel
            && a.syn_retransmissions.unwrap_or(0) >= 2
            && matches!(a.reply, Reply::Connected(Some(false)))
            && !matches!(a.arrival, Arrival::Seen(SynFate::Intact(_)))
    }) {
        let summary = format!(
            "SYNs with MP_CAPABLE to {} are dropped: the kernel got through only after retrying without the option",
            f.target
        );
        let mut finding = Finding::new(VerdictCode::SynDropped, summary)
            .fix(DROP_FIX)
            .blames(MiddleboxKind::OptionDropper, None);
        finding.evidence.push(format!(
            "kernel connection needed {} SYN retransmissions and fell back to TCP",
            k.syn_retransmissions.unwrap_or(0)
        ));
        return Some(finding);
    }
    let control = f.plain.iter().find(|a| a.reply.answered());
    // The server's own account proves the loss on the way back.
    if let Some(a) = f.relevant().find(|a| a.answer_lost_downstream()) {
        let summary = format!(
            "SYN/ACKs with MP_CAPABLE from {} are dropped on the way back: our SYN arrived intact \
             and the server answered with MP_CAPABLE, but its SYN/ACK never reached this host",
            f.target
        );
        let mut finding = Finding::new(VerdictCode::SynDropped, summary)
            .fix(DROP_BACK_FIX)
            .blames(MiddleboxKind::OptionDropper, Some(Direction::Downstream));
        let sent = match &a.server_sent {
            ServerSent::Capable(c) => c.describe(),
            _ => "MP_CAPABLE".into(),
        };
        finding.evidence.push(format!(
            "the {} arrived at the server intact and the server answered with a SYN/ACK carrying \
             {sent}; this host got {}",
            a.label,
            a.reply.describe()
        ));
        if let Some(c) = control {
            finding.evidence.push(format!(
                "the control, the {}, got {}",
                c.label,
                c.reply.describe()
            ));
        }
        finding
            .missing
            .push("the hop: a trace only sees the forward path".into());
        return Some(finding);
    }
    let control = control?;
    // Silence or an ICMP error; or a RST where the plain SYN got a SYN/ACK
    // (a box rejecting MPTCP SYNs).
    let dropped: Vec<&Attempt> = f
        .relevant()
        .filter(|a| {
            a.reply.unanswered()
                || (!a.is_kernel && a.reply == Reply::Rst && control.reply.handshake())
        })
        .collect();
    if dropped.is_empty() {
        return None;
    }
    let labels: Vec<&str> = dropped.iter().map(|a| a.label).collect();
    let upstream = dropped.iter().any(|a| a.arrival == Arrival::NotSeen);
    let summary = if upstream {
        format!(
            "SYNs with MP_CAPABLE to {} are dropped on the way to the server (it never saw them), \
             while a plain SYN is answered",
            f.target
        )
    } else {
        format!(
            "SYNs with MP_CAPABLE to {} are dropped on the path, or the server's answers to them \
             on the way back, while a plain SYN is answered",
            f.target
        )
    };
    let direction = upstream.then_some(Direction::Upstream);
    let mut finding = Finding::new(VerdictCode::SynDropped, summary)
        .fix(DROP_FIX)
        .blames(MiddleboxKind::OptionDropper, direction);
    locate_drop(f, &mut finding);
    finding.evidence.push(format!(
        "{} unanswered; the control, the {}, got {}",
        labels.join(", "),
        control.label,
        control.reply.describe()
    ));
    if upstream {
        finding
            .evidence
            .push("the echo server did not see the MPTCP SYNs arrive".into());
    } else {
        finding.missing.push(
            "the echo server's account of crafted SYNs (needs CAP_NET_RAW), to tell a SYN lost on \
             the way there from a SYN/ACK lost on the way back"
                .into(),
        );
    }
    Some(finding)
}

/// A trace with a plain control names where MP_CAPABLE SYNs were dropped.
fn locate_drop(f: &Facts<'_>, finding: &mut Finding) {
    let Some(range) = f.relevant_trace().and_then(|t| t.dropped) else {
        return;
    };
    finding.summary.push_str(&format!(" (dropped {range})"));
    let last = range
        .last_with
        .map_or_else(|| "this host".to_string(), |h| h.to_string());
    finding.evidence.push(format!(
        "the trace's MP_CAPABLE SYNs got no answer beyond {last} while its plain control SYNs \
         went on; {last} is the likely culprit (a router quotes a TTL-expired SYN before it \
         filters)"
    ));
    finding.hop_range = Some(range);
}

/// The server saw our SYN without MP_CAPABLE (removed or NOP-filled), or a
/// trace saw it vanish at a hop (and the server does not contradict it).
fn stripped_upstream(f: &Facts<'_>) -> Option<Finding> {
    let by_server = f
        .relevant()
        .find(|a| matches!(a.arrival, Arrival::Seen(SynFate::Removed { .. })));
    let by_trace = f.relevant_trace().and_then(|t| t.vanished);
    if f.proxy.found() {
        return Some(tcp_proxy(f, by_server, by_trace));
    }
    if by_server.is_none() && by_trace.is_none() {
        return None;
    }
    let range = by_trace.or_else(|| {
        // The server saw it removed, the trace saw it at every hop: it went
        // missing after the last hop that quoted it.
        f.relevant_trace()
            .filter(|t| t.informative_hops > 0)
            .map(|_| last_present_range(f))
    });
    let place = match &range {
        Some(r) => format!(" {r}"),
        None => String::new(),
    };
    let summary = format!(
        "a middlebox on the way to {} removes the MP_CAPABLE option{place}",
        f.target
    );
    let mut finding = Finding::new(VerdictCode::StrippedUpstream, summary)
        .fix(STRIP_FIX)
        .blames(MiddleboxKind::OptionStripper, Some(Direction::Upstream));
    finding.hop_range = range;
    if let Some(HopRange {
        last_with: Some(last),
        ..
    }) = range
    {
        // A Linux router answers TTL expiry before its FORWARD chain runs,
        // so the stripping router's own quote still shows the option.
        finding.evidence.push(format!(
            "{last} is the likely culprit: a router quotes a TTL-expired SYN before it strips options"
        ));
    }
    if let Some(a) = by_server {
        let how = match a.arrival {
            Arrival::Seen(SynFate::Removed { nop_filled: true }) => {
                "replaced by NOPs (as iptables TCPOPTSTRIP does)"
            }
            _ => "removed",
        };
        finding.evidence.push(format!(
            "the server saw the {}'s SYN with MP_CAPABLE {how}",
            a.label
        ));
    } else {
        finding
            .missing
            .push("the echo server's account (the trace alone located the removal)".into());
    }
    if range.is_none() {
        finding
            .missing
            .push("a trace (`mptcp-probe trace`) to name the hop".into());
    }
    Some(finding)
}

/// A box terminates TCP: our SYNs never reach the server, its own
/// connection arrives there without MP_CAPABLE.
fn tcp_proxy(f: &Facts<'_>, by_server: Option<&Attempt>, by_trace: Option<HopRange>) -> Finding {
    // A trace whose quotes all still held the option puts the proxy after
    // the last hop that quoted it.
    let by_trace = by_trace.or_else(|| {
        f.relevant_trace()
            .filter(|t| t.informative_hops > 0)
            .map(|_| last_present_range(f))
    });
    let place = by_trace.map_or(String::new(), |r| format!(" {r}"));
    let summary = format!(
        "a TCP proxy on the way to {}{place} (a SYN proxy or a transparent relay) answers SYNs \
         itself and opens its own connection to the server, without MP_CAPABLE",
        f.target
    );
    let mut finding = Finding::new(VerdictCode::StrippedUpstream, summary)
        .fix(PROXY_FIX)
        .blames(MiddleboxKind::TcpProxy, Some(Direction::Upstream));
    finding.hop_range = by_trace;
    if let Some(HopRange {
        last_with: Some(last),
        ..
    }) = by_trace
    {
        finding.evidence.push(format!(
            "{last} is the likely proxy: a router quotes a TTL-expired SYN before it forwards \
             (or answers) it"
        ));
    }
    finding.evidence.extend(f.proxy.lines().cloned());
    if let Some(a) = by_server {
        finding.evidence.push(format!(
            "the server saw the {}'s SYN without MP_CAPABLE: the proxy's own SYN",
            a.label
        ));
    }
    if f.input.trace.is_none() {
        finding
            .missing
            .push("a trace (`mptcp-probe trace`) to name the hop".into());
    }
    finding
}

/// Range after the last hop that quoted the option, up to the server.
fn last_present_range(f: &Facts<'_>) -> HopRange {
    let last = f.input.trace.as_ref().and_then(|t| {
        t.hops
            .iter()
            .filter(|h| h.mp_capable == super::input::HopOption::Present)
            .max_by_key(|h| h.ttl)
            .map(|h| super::output::HopRef {
                ttl: h.ttl,
                addr: h.responder,
            })
    });
    HopRange {
        last_with: last,
        first_without: None,
    }
}

/// The option arrived intact, the server sent a valid MP_CAPABLE SYN/ACK,
/// and this host received the SYN/ACK without it.
fn stripped_downstream(f: &Facts<'_>) -> Option<Finding> {
    let a = f.relevant().find(|a| {
        a.arrived_intact()
            && matches!(&a.server_sent, ServerSent::Capable(c) if c.is_valid_syn_ack())
            && a.reply.without_mptcp()
    })?;
    let summary = format!(
        "{} answers with MP_CAPABLE but a middlebox removes it on the way back to this host",
        f.target
    );
    let mut finding = Finding::new(VerdictCode::StrippedDownstream, summary)
        .fix(STRIP_FIX)
        .blames(MiddleboxKind::OptionStripper, Some(Direction::Downstream));
    finding.evidence.push(format!(
        "the server sent MP_CAPABLE in its SYN/ACK to the {}; this host got {}",
        a.label,
        a.reply.describe()
    ));
    finding
        .missing
        .push("the hop: a trace only sees the forward path".into());
    Some(finding)
}

/// The server saw our MP_CAPABLE changed (version, length, flags, key,
/// bytes), or a trace saw it change at a hop.
fn option_modified(f: &Facts<'_>) -> Option<Finding> {
    let by_server = f.relevant().find_map(|a| match &a.arrival {
        Arrival::Seen(SynFate::Modified {
            sent,
            arrived,
            changes,
        }) => Some((a, sent.clone(), arrived.clone(), changes.clone())),
        _ => None,
    });
    let by_trace = f.relevant_trace().and_then(|t| t.changed);
    if by_server.is_none() && by_trace.is_none() {
        return None;
    }
    let place = by_trace.map_or(String::new(), |r| format!(" {r}"));
    let summary = format!(
        "a middlebox on the way to {} rewrites the MP_CAPABLE option{place}",
        f.target
    );
    let mut finding = Finding::new(VerdictCode::OptionModified, summary)
        .fix(
            "a middlebox normalises TCP options it does not understand: try another port, or a tunnel",
        )
        .blames(MiddleboxKind::OptionRewriter, Some(Direction::Upstream));
    finding.hop_range = by_trace;
    if let Some((a, sent, arrived, changes)) = by_server {
        finding.evidence.push(format!(
            "the {}'s MP_CAPABLE changed on the way ({}): sent {}, arrived {}",
            a.label,
            changes.join(", "),
            sent.map_or_else(|| "?".to_string(), |s| hex::encode(s.raw)),
            hex::encode(&arrived.raw)
        ));
    }
    Some(finding)
}

/// The option arrived intact and the server answered without MPTCP (or,
/// without an arrival record, the server says it has MPTCP off or a TCP
/// listener and our connection did not get MPTCP).
fn server_mptcp_disabled(f: &Facts<'_>) -> Option<Finding> {
    let server = f.input.server.as_ref()?;
    // With --echo-port the listener the server reports is the echo
    // server's own, not the watched service's.
    let watched = server.watched_port;
    let listener_said_no = watched.is_none() && server.mptcp_listener == Some(false);
    let said_no = server.mptcp_enabled == Some(false) || listener_said_no;
    // The option arrived intact and the server answered without MPTCP; or,
    // without an arrival record, the server's own word that it does not do
    // MPTCP, when our connection did not get it either.
    let attempt = f
        .relevant()
        .find(|a| a.arrived_intact() && a.ignored())
        .or_else(|| {
            f.relevant()
                .find(|a| said_no && a.arrival == Arrival::NoAccount && a.ignored())
        })?;
    let service = watched.filter(|_| server.mptcp_enabled != Some(false));
    let reason = if server.mptcp_enabled == Some(false) {
        "MPTCP is disabled in its kernel (net.mptcp.enabled=0)".to_string()
    } else if let Some(port) = service {
        format!("the service on port {port} does not listen with MPTCP")
    } else if listener_said_no {
        "the port is served by a plain TCP listener".to_string()
    } else {
        "its kernel answered without MP_CAPABLE".to_string()
    };
    let summary = format!(
        "the MP_CAPABLE option reaches {} intact, but the server does not do MPTCP: {reason}",
        f.target
    );
    let fix = match service {
        Some(port) => format!(
            "the service on port {port} does not listen with MPTCP: start it with mptcpize \
             (`mptcpize run <service>`) or open its listening socket with IPPROTO_MPTCP"
        ),
        None => "on the VPS: `sysctl -w net.mptcp.enabled=1`, and serve the port with an MPTCP \
                 listener (`mptcpize run <server>` or the application's MPTCP socket)"
            .to_string(),
    };
    let mut finding = Finding::new(VerdictCode::ServerMptcpDisabled, summary).fix(fix);
    finding.evidence.push(format!(
        "{}: the server answered without MPTCP",
        attempt.label
    ));
    Some(finding)
}

/// Always matches: says what evidence is missing.
fn inconclusive(f: &Facts<'_>) -> Option<Finding> {
    let mut missing = Vec::new();
    let no_answer_has_options = f.relevant().any(|a| matches!(a.reply, Reply::SynAck(None)));
    if !f.has_server() {
        missing.push(
            "the echo server's account of what arrived (run mptcp-probe-server on the server): \
             without it a SYN/ACK without MP_CAPABLE cannot tell a path that removes the option \
             from a server without MPTCP"
                .to_string(),
        );
    }
    if f.relevant_trace().is_none() && no_answer_has_options {
        missing
            .push("a trace (`mptcp-probe trace`) showing at which hop the option vanishes".into());
    }
    if let Some(server) = &f.input.server {
        if f.relevant()
            .any(|a| a.is_kernel && a.arrival == Arrival::NoAccount)
        {
            missing.push(
                "the echo server's capture of this connection's SYN (its report has none)".into(),
            );
        }
        if !server.probes_queried && !f.input.probes.is_empty() {
            missing.push(
                "the echo server's observations of the crafted probes (not asked for)".into(),
            );
        }
    }
    if f.input.probes.is_empty() {
        missing.push(
            "crafted probes (need CAP_NET_RAW: `setcap cap_net_raw+ep mptcp-probe` or sudo)".into(),
        );
    } else if f.plain.iter().all(|a| a.is_kernel) && f.relevant().any(|a| a.reply.unanswered()) {
        missing.push("a plain SYN as control, to tell dropped MPTCP SYNs from a dead host".into());
    }
    if f.local_version.is_none() {
        missing.push("the MPTCP version this host speaks (`--mptcp-version`)".into());
    }
    if f.mptcp.is_empty() && f.plain.is_empty() {
        missing.push("any handshake at all: neither a kernel connection nor probes ran".into());
    }
    if missing.is_empty() {
        missing.push("a decisive answer: the observations contradict each other".into());
    }
    let summary = if !f.has_server() && no_answer_has_options {
        format!(
            "inconclusive: {} answered without MP_CAPABLE; without the echo server or a trace, \
             a path that removes the option looks the same as a server without MPTCP",
            f.target
        )
    } else {
        format!(
            "inconclusive: not enough evidence to tell whether MPTCP works to {}",
            f.target
        )
    };
    let mut finding = Finding::new(VerdictCode::Inconclusive, summary);
    finding.missing = missing;
    Some(finding)
}
