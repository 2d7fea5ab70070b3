//! Building the connection report, and its plain-text form for HTTP.
use packet::echo::{
    ConnectionInfo, EchoReport, Endpoint, HostReadiness, ListenerState, ObservedSegment,
    OptionSummary, RearmStatus, ECHO_VERSION,
};
use std::fmt::Write;
use std::net::SocketAddr;

/// Why this connection is plain TCP, from what the server saw. `None` when
/// it is MPTCP.
pub fn fallback_reason(
    mptcp: bool,
    listener_mptcp: bool,
    syn: Option<&ObservedSegment>,
    syn_ack: Option<&ObservedSegment>,
    readiness: &HostReadiness,
) -> Option<String> {
    if mptcp {
        return None;
    }
    if !listener_mptcp {
        return Some("this server listens with plain TCP sockets (MPTCP unavailable here)".into());
    }
    let Some(syn) = syn else {
        return Some("unknown: the SYN of this connection was not captured".into());
    };
    let Some(mpc) = syn.mp_capable else {
        let nops = syn
            .options
            .iter()
            .filter(|o| o.name() == Some("nop"))
            .count();
        let mut why = "the SYN arrived without MP_CAPABLE".to_string();
        if nops >= 4 {
            let _ = write!(
                why,
                " ({nops} NOPs in its options: an option may have been blanked on the path)"
            );
        }
        return Some(why);
    };
    if !readiness.versions.is_empty() && !readiness.versions.contains(&mpc.version) {
        return Some(format!(
            "the SYN carried MP_CAPABLE v{}, this kernel speaks only {:?}",
            mpc.version, readiness.versions
        ));
    }
    match syn_ack {
        Some(sa) if sa.mp_capable.is_none() => {
            Some("this host answered the MP_CAPABLE SYN without MP_CAPABLE".into())
        }
        Some(_) => Some(
            "fell back after the handshake (the third ACK or first data lost MPTCP options)".into(),
        ),
        None => Some("this host's SYN/ACK was not captured".into()),
    }
}

/// The listener line of the text report: a fallback, why, and what the
/// server does about it; `None` for MPTCP listeners that never fell back.
fn listener_text(l: &ListenerState) -> Option<String> {
    let rearm = l.rearm.as_ref();
    if l.mptcp {
        return rearm
            .filter(|r| r.status == RearmStatus::Rearmed)
            .map(|_| "server listener: MPTCP (re-armed after a TCP fallback)".to_string());
    }
    let why = l.fallback_reason.as_deref().unwrap_or("no reason known");
    let what = match rearm.map(|r| (r.status, r.interval_s, r.error.as_deref())) {
        Some((RearmStatus::Retrying, interval, _)) => format!(
            "; re-armed as MPTCP by itself within {} s once the kernel allows it",
            interval.unwrap_or(5)
        ),
        Some((RearmStatus::RestartNeeded, _, error)) => format!(
            "; cannot re-arm by itself{}: restart mptcp-probe-server once MPTCP is enabled",
            error.map(|e| format!(" ({e})")).unwrap_or_default()
        ),
        _ => String::new(),
    };
    Some(format!("server listener: TCP fallback: {why}{what}"))
}

/// The start of the warning for a connection whose SYN was captured but
/// evicted from the store before the connection was accepted (instead of
/// "not captured").
pub const SYN_DISPLACED: &str = "the SYN of this connection was captured, then displaced from the server's store by newer SYNs before the connection was accepted";

/// The report of one connection.
#[allow(clippy::too_many_arguments)]
pub fn build(
    peer: SocketAddr,
    local: SocketAddr,
    syn: Option<ObservedSegment>,
    syn_ack: Option<ObservedSegment>,
    mptcp: bool,
    listener_mptcp: bool,
    info_flags: Option<u32>,
    readiness: HostReadiness,
    mut warnings: Vec<String>,
) -> EchoReport {
    if syn.is_none() && !warnings.iter().any(|w| w.starts_with(SYN_DISPLACED)) {
        warnings.push("the SYN of this connection was not captured".into());
    }
    if syn_ack.is_none() {
        warnings.push("the SYN/ACK of this connection was not captured".into());
    }
    let reason = fallback_reason(
        mptcp,
        listener_mptcp,
        syn.as_ref(),
        syn_ack.as_ref(),
        &readiness,
    );
    EchoReport {
        version: ECHO_VERSION,
        peer: endpoint(peer),
        local: endpoint(local),
        syn,
        syn_ack,
        connection: ConnectionInfo {
            mptcp,
            listener_mptcp,
            fallback_reason: reason,
            info_flags,
        },
        readiness,
        warnings,
        features: vec![packet::echo::FEATURE_AGGREGATE.to_string()],
    }
}

/// Address without the IPv4-mapped IPv6 form.
pub fn endpoint(a: SocketAddr) -> Endpoint {
    let ip = match a.ip() {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    Endpoint {
        addr: ip.to_string(),
        port: a.port(),
    }
}

/// The text report's option lines, from the raw headers: the same
/// whichever form the segment's `options` are in.
fn option_lines(s: &ObservedSegment) -> Vec<OptionSummary> {
    hex::decode(&s.hex)
        .ok()
        .and_then(|b| crate::segment::parse(&b).ok())
        .map(|seg| crate::segment::summarize_options(seg.option_area(), seg.flags).0)
        .unwrap_or_default()
}

fn segment_text(out: &mut String, title: &str, seg: Option<&ObservedSegment>) {
    let Some(s) = seg else {
        let _ = writeln!(out, "{title}: not captured");
        return;
    };
    let _ = writeln!(
        out,
        "{title}: {}.{} > {}.{} Flags [{}], seq {}, win {}, ttl {}, on {}",
        s.src, s.sport, s.dst, s.dport, s.flags, s.seq, s.window, s.ttl, s.iface
    );
    match s.mp_capable {
        Some(m) => {
            let _ = writeln!(out, "  MP_CAPABLE: present, version {}", m.version);
        }
        None => {
            let _ = writeln!(out, "  MP_CAPABLE: absent");
        }
    }
    for o in option_lines(s) {
        let _ = writeln!(out, "  option {:<10} {:<40} [{}]", o.name, o.text, o.hex);
    }
    let _ = writeln!(out, "  raw headers: {}", s.hex);
}

/// The report as text, for `curl`.
pub fn text(r: &EchoReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "mptcp-probe-server report (protocol v{})", r.version);
    let _ = writeln!(out, "connection: {} -> {}", r.peer, r.local);
    let _ = writeln!(
        out,
        "this connection is {}",
        if r.connection.mptcp { "MPTCP" } else { "TCP" }
    );
    if let Some(reason) = &r.connection.fallback_reason {
        let _ = writeln!(out, "why TCP: {reason}");
    }
    segment_text(&mut out, "SYN as it arrived", r.syn.as_ref());
    segment_text(&mut out, "SYN/ACK this host sent", r.syn_ack.as_ref());
    let rd = &r.readiness;
    let enabled = match rd.mptcp_enabled {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "not in this kernel",
    };
    let _ = writeln!(
        out,
        "server MPTCP: {enabled} ({}), versions {:?}",
        rd.flavor, rd.versions
    );
    if let Some(l) = &rd.listener {
        if let Some(line) = listener_text(l) {
            let _ = writeln!(out, "{line}");
        }
    }
    if let Some(l) = rd.limits {
        let _ = writeln!(
            out,
            "limits: subflows {} add_addr_accepted {}",
            l.subflows.map_or("-".into(), |v| v.to_string()),
            l.add_addr_accepted.map_or("-".into(), |v| v.to_string())
        );
    }
    for e in &rd.endpoints {
        let _ = writeln!(
            out,
            "endpoint: {} id {} {}",
            e.addr.as_deref().unwrap_or("?"),
            e.id.map_or("?".into(), |v| v.to_string()),
            e.flags.join(" ")
        );
    }
    if let Some(k) = &rd.kernel_release {
        let _ = writeln!(out, "kernel: {k}");
    }
    for e in &rd.errors {
        let _ = writeln!(out, "readiness error: {e}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::tests::v4;
    use crate::segment::parse;

    fn readiness() -> HostReadiness {
        HostReadiness {
            mptcp_enabled: Some(true),
            flavor: packet::echo::Flavor::Upstream,
            versions: vec![1],
            ..Default::default()
        }
    }

    fn seg(opts: &[u8], flags: u8) -> ObservedSegment {
        parse(&v4(1, 6101, flags, opts)).unwrap().summary(
            "veth0",
            1.0,
            packet::echo::OptionForm::Json,
        )
    }

    #[test]
    fn reasons() {
        let r = readiness();
        let v1 = seg(&[30, 4, 0x01, 0x01], 0x02);
        let v0 = seg(&[30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8], 0x02);
        let stripped = seg(&[1, 1, 1, 1], 0x02);
        let synack_plain = seg(&[], 0x12);
        assert_eq!(fallback_reason(true, true, Some(&v1), None, &r), None);
        assert!(fallback_reason(false, false, Some(&v1), None, &r)
            .unwrap()
            .contains("plain TCP sockets"));
        assert!(fallback_reason(false, true, Some(&stripped), None, &r)
            .unwrap()
            .contains("4 NOPs"));
        assert!(fallback_reason(false, true, Some(&v0), None, &r)
            .unwrap()
            .contains("v0"));
        assert!(
            fallback_reason(false, true, Some(&v1), Some(&synack_plain), &r)
                .unwrap()
                .contains("without MP_CAPABLE")
        );
        assert!(fallback_reason(false, true, None, None, &r)
            .unwrap()
            .contains("not captured"));
    }

    #[test]
    fn text_names_the_outcome_and_each_option() {
        let rep = build(
            "10.0.0.1:40000".parse().unwrap(),
            "[::ffff:10.0.0.2]:6101".parse().unwrap(),
            Some(seg(&[2, 4, 5, 0xb4, 30, 4, 0x01, 0x01], 0x02)),
            None,
            true,
            true,
            Some(0),
            readiness(),
            vec![],
        );
        assert_eq!(rep.local.addr, "10.0.0.2");
        let t = text(&rep);
        assert!(t.contains("this connection is MPTCP"), "{t}");
        assert!(t.contains("MP_CAPABLE: present, version 1"), "{t}");
        assert!(t.contains("mss 1460"), "{t}");
        assert!(t.contains("SYN/ACK this host sent: not captured"), "{t}");
        assert_eq!(rep.warnings.len(), 1);
    }

    #[test]
    fn a_displaced_syn_is_not_called_not_captured() {
        let report = |warnings: Vec<String>| {
            build(
                "10.0.0.1:40000".parse().unwrap(),
                "10.0.0.2:6101".parse().unwrap(),
                None,
                Some(seg(&[2, 4, 5, 0xb4], 0x12)),
                false,
                true,
                Some(0),
                readiness(),
                warnings,
            )
        };
        let missing = report(vec![]);
        assert_eq!(
            missing.warnings,
            ["the SYN of this connection was not captured"]
        );
        let displaced = report(vec![format!("{SYN_DISPLACED} (a flood?)")]);
        assert_eq!(displaced.warnings.len(), 1, "{:?}", displaced.warnings);
        assert!(displaced.warnings[0].starts_with(SYN_DISPLACED));
    }

    #[test]
    fn the_listener_line_says_what_the_server_does_about_a_fallback() {
        use packet::echo::Rearm;
        let fallback = |status, error: Option<&str>| ListenerState {
            mptcp: false,
            fallback_reason: Some("the kernel refused an MPTCP socket".into()),
            rearm: Some(Rearm {
                status,
                interval_s: Some(5),
                error: error.map(str::to_string),
            }),
        };
        let t = listener_text(&fallback(RearmStatus::Retrying, None)).unwrap();
        assert!(t.contains("TCP fallback: the kernel refused"), "{t}");
        assert!(t.contains("within 5 s"), "{t}");
        let t = listener_text(&fallback(RearmStatus::RestartNeeded, Some("port 443"))).unwrap();
        assert!(t.contains("restart mptcp-probe-server"), "{t}");
        assert!(t.contains("port 443"), "{t}");
        let rearmed = ListenerState {
            mptcp: true,
            fallback_reason: None,
            rearm: Some(Rearm {
                status: RearmStatus::Rearmed,
                interval_s: Some(5),
                error: None,
            }),
        };
        assert!(listener_text(&rearmed).unwrap().contains("re-armed"));
        let never = ListenerState {
            mptcp: true,
            fallback_reason: None,
            rearm: None,
        };
        assert_eq!(listener_text(&never), None);
    }
}
