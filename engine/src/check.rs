//! Adapters: what `check` observed (the kernel connection, the echo server's
//! report and answer, the crafted probes) turned into the verdict engine's
//! [`VerdictInput`]. Pure: no sockets, so every case is a unit test on the
//! echo server's JSON bytes.
use packet::echo::{EchoReport, Flavor, HostReadiness, ObservedSegment, ProbeAnswer as EchoAnswer};
use packet::ip::parse_ip_tcp;
use packet::verdict::blackhole::{reset_advice, Blackhole};
use packet::verdict::{
    ConnectOutcome, KernelConnection, LocalHost, OptionArea, ProbeAnswer, ProbeKind, ProbeResult,
    ServerProbeSeen, ServerReport, Translation, Verdict, VerdictInput, VersionSource,
};
use std::net::{IpAddr, SocketAddr};

/// This host's MPTCP state as `check` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFacts {
    /// Whether `socket(..., IPPROTO_MPTCP)` opened (`None`: not tried).
    pub mptcp_socket: Option<bool>,
    /// The host's own readiness (sysctls).
    pub readiness: HostReadiness,
    /// `--mptcp-version`, when given.
    pub user_version: Option<u8>,
}

impl LocalFacts {
    /// The version this host's kernel speaks: v1 on an upstream kernel
    /// (which is the only kind with IPPROTO_MPTCP), else the out-of-tree
    /// `net.mptcp.mptcp_version`.
    pub fn kernel_version(&self) -> Option<u8> {
        match self.readiness.flavor {
            Flavor::Upstream => Some(1),
            Flavor::OutOfTree => self.readiness.versions.first().copied(),
            _ if self.mptcp_socket == Some(true) => Some(1),
            _ => None,
        }
    }

    /// [`LocalHost`] for the engine.
    pub fn local_host(&self) -> LocalHost {
        let enabled = match (self.readiness.flavor, self.mptcp_socket) {
            // Out-of-tree kernels have no IPPROTO_MPTCP: their sysctl tells.
            (Flavor::OutOfTree, _) => self.readiness.mptcp_enabled,
            (_, Some(opened)) => Some(opened),
            (_, None) => self.readiness.mptcp_enabled,
        };
        let (version, source) = match (self.user_version, self.kernel_version()) {
            (Some(v), _) => (Some(v), VersionSource::User),
            (None, Some(v)) => (Some(v), VersionSource::Kernel),
            (None, None) => (None, VersionSource::Unknown),
        };
        LocalHost {
            mptcp_enabled: enabled,
            mptcp_version: version,
            version_source: source,
            blackhole: None,
        }
    }
}

/// What the kernel connection gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFacts {
    pub outcome: ConnectOutcome,
    /// The socket was an IPPROTO_MPTCP socket (false: plain TCP, because the
    /// kernel refused MPTCP).
    pub mptcp_socket: bool,
    pub is_mptcp: Option<bool>,
    pub syn_retransmissions: Option<u32>,
    /// How the namespace's MPTCP counters moved during the connect.
    pub counters: CounterDelta,
}

/// The `MPTcpExt` counters (`/proc/net/netstat`) that tell what the kernel
/// did with the connection's SYN, as moved during the connect, and the
/// `Blackhole` total. Namespace-wide: another connection opened at the
/// same moment moves them too, so they only ever add a caveat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterDelta {
    /// `MPCapableSYNTX`: SYNs sent with MP_CAPABLE.
    pub syn_tx: Option<u64>,
    /// `MPCapableSYNTXDisabled`: SYNs sent without MP_CAPABLE because the
    /// blackhole detection disabled MPTCP for outgoing connections.
    pub syn_tx_disabled: Option<u64>,
    /// `MPCapableSYNTXDrop`: MP_CAPABLE SYNs retransmitted (lost).
    pub syn_tx_drop: Option<u64>,
    /// `Blackhole` after the connect (a total, not a delta).
    pub blackhole_total: Option<u64>,
}

impl CounterDelta {
    /// The movement between two readings (`None` fields where either
    /// reading lacks the counter).
    pub fn between(
        before: Option<&std::collections::BTreeMap<String, u64>>,
        after: Option<&std::collections::BTreeMap<String, u64>>,
    ) -> Self {
        let delta = |name: &str| {
            let b = before?.get(name)?;
            let a = after?.get(name)?;
            Some(a.saturating_sub(*b))
        };
        CounterDelta {
            syn_tx: delta("MPCapableSYNTX"),
            syn_tx_disabled: delta("MPCapableSYNTXDisabled"),
            syn_tx_drop: delta("MPCapableSYNTXDrop"),
            blackhole_total: after.and_then(|a| a.get("Blackhole").copied()),
        }
    }

    /// The kernel sent this connection's SYN without MP_CAPABLE because
    /// its blackhole detection has MPTCP disabled for outgoing connections.
    pub fn blackholed(&self) -> bool {
        self.syn_tx_disabled.is_some_and(|n| n > 0) && self.syn_tx == Some(0)
    }
}

/// What to say when the blackhole detection kept MP_CAPABLE out of the
/// kernel connection's SYN (the reset advice is the one `doctor` gives).
pub fn blackhole_note(c: &CounterDelta, timeout: Option<u64>) -> String {
    format!(
        "this host's kernel sent its SYN without MP_CAPABLE: after earlier MP_CAPABLE SYNs were \
         lost, its blackhole detection disabled MPTCP for new outgoing connections \
         (MPTcpExt MPCapableSYNTXDisabled rose, Blackhole={}), which silently stops \
         aggregation; the kernel connection is not counted for the verdict. To re-enable MPTCP \
         now: {}",
        c.blackhole_total
            .map_or_else(|| "?".to_string(), |n| n.to_string()),
        reset_advice(timeout)
    )
}

/// The blackhole detection as `check` found it before its own connection:
/// a new outgoing connection probed without sending anything
/// (`host::new_connection`), and the `MPTcpExt` totals then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlackholeFacts {
    /// The probe's connection went without MP_CAPABLE because of it.
    pub active: bool,
    /// `MPTcpExt Blackhole` (total).
    pub events: Option<u64>,
    /// `MPTcpExt MPCapableSYNTXDisabled` (total).
    pub syn_tx_disabled: Option<u64>,
}

/// Everything observed for one path.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub target: String,
    pub kernel: Option<KernelFacts>,
    /// The echo server's report on the kernel connection (or, see
    /// `report_over_plain_tcp` and `watched_port`, on another one).
    pub report: Option<EchoReport>,
    pub probes: Vec<ProbeResult>,
    /// The echo server's answer to the query for the probes' sequence
    /// numbers (`None`: not asked, or no answer).
    pub answer: Option<EchoAnswer>,
    /// The report came over a plain TCP connection made instead of (or
    /// after) the kernel's MPTCP connection.
    pub report_over_plain_tcp: bool,
    /// `--port` when the echo server listens on another port
    /// (`--echo-port`): the service port it only watches.
    pub watched_port: Option<u16>,
    /// This host's end of the connection the report came over.
    pub report_local: Option<SocketAddr>,
    /// The blackhole detection, probed before the kernel connection
    /// (`None`: not probed).
    pub blackhole: Option<BlackholeFacts>,
}

/// Whether this host's kernel may make its MPTCP connection, judged from
/// the crafted probes sent before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelPlan {
    /// Nothing says it would hurt (or no probe could tell).
    Mptcp,
    /// The probes show MP_CAPABLE SYNs in the kernel's version lost (or
    /// reset) while a plain SYN passes: an MPTCP connection would lose its
    /// SYNs too, and once its plain retry got through the kernel's
    /// blackhole detection would turn MPTCP off for every new connection
    /// of this host. Why, in words.
    PlainInstead(String),
}

/// Decides [`KernelPlan`] from the crafted probes (in the order sent) and
/// the MPTCP version the kernel's own SYN carries (v1 when unknown).
pub fn kernel_plan(probes: &[ProbeResult], kernel_version: Option<u8>) -> KernelPlan {
    let version = kernel_version.unwrap_or(1);
    let plain_passes = probes
        .iter()
        .any(|p| p.kind == ProbeKind::Plain && matches!(p.answer, ProbeAnswer::SynAck { .. }));
    let lost = probes.iter().find(|p| {
        p.kind.mptcp_version() == Some(version)
            && matches!(
                p.answer,
                ProbeAnswer::Silence | ProbeAnswer::Icmp { .. } | ProbeAnswer::Rst
            )
    });
    match (plain_passes, lost) {
        (true, Some(p)) => {
            let got = match p.answer {
                ProbeAnswer::Rst => "was reset",
                ProbeAnswer::Icmp { .. } => "met an ICMP error",
                _ => "got no answer",
            };
            KernelPlan::PlainInstead(format!(
                "the crafted {} {got} while the plain SYN was answered, so this host's kernel \
                 made no MPTCP connection: it would have lost its SYNs too and tripped the \
                 kernel's blackhole detection (MPTCP off for every new connection for \
                 net.mptcp.blackhole_timeout seconds); the echo server was asked over plain TCP \
                 instead",
                p.kind.label()
            ))
        }
        _ => KernelPlan::Mptcp,
    }
}

/// The engine's input, and notes on what the adapter left out and why.
#[derive(Debug, Clone)]
pub struct Adapted {
    pub input: VerdictInput,
    pub notes: Vec<String>,
}

/// Builds the engine's input.
pub fn verdict_input(local: &LocalFacts, obs: &Observations) -> Adapted {
    let mut local_host = local.local_host();
    let mut notes = Vec::new();
    let timeout = local
        .readiness
        .sysctls
        .get("blackhole_timeout")
        .and_then(|t| t.trim().parse::<u64>().ok());
    local_host.blackhole = blackhole_state(obs, timeout);
    let kernel = obs.kernel.as_ref().and_then(|k| {
        // The engine reads the kernel connection as spoken in this host's
        // version. When --mptcp-version names another version than the
        // one the local kernel used, a successful connection says nothing
        // about that version: leave it out (a failed one still shows the
        // path is down, whatever the version).
        let spoke = if k.mptcp_socket {
            local.kernel_version()
        } else {
            None
        };
        if k.mptcp_socket && k.counters.blackholed() && k.is_mptcp != Some(true) {
            notes.push(blackhole_note(&k.counters, timeout));
            return None;
        }
        if let (Some(spoke), Some(wanted)) = (spoke, local_host.mptcp_version) {
            if spoke != wanted && k.outcome == ConnectOutcome::Connected {
                notes.push(format!(
                    "the kernel connection spoke MPTCP v{spoke}, not the v{wanted} given by \
                     --mptcp-version: it is not counted for the verdict"
                ));
                return None;
            }
        }
        // Out-of-tree kernels have no TCP_IS_MPTCP: their option 43 is
        // MPTCP_SCHEDULER, whose value means nothing here. The server's
        // side of the connection tells instead.
        let is_mptcp = if local.readiness.flavor == Flavor::OutOfTree {
            None
        } else {
            k.is_mptcp
        };
        Some(KernelConnection {
            outcome: k.outcome,
            is_mptcp,
            syn_sent: None,
            syn_retransmissions: k.syn_retransmissions,
        })
    });
    let server = obs.report.as_ref().map(|r| {
        let mut s = server_report(r, obs.answer.as_ref());
        s.plain_tcp_fallback = obs.report_over_plain_tcp;
        s.watched_port = obs.watched_port;
        s.translated = translation(r, obs.report_local);
        s
    });
    let input = VerdictInput {
        target: obs.target.clone(),
        local: local_host,
        kernel,
        probes: obs.probes.clone(),
        server,
        trace: None,
    };
    Adapted { input, notes }
}

/// The server saw the report's connection come from another address than
/// this host's end of it.
fn translation(report: &EchoReport, local: Option<SocketAddr>) -> Option<Translation> {
    let sent_from = local?.ip();
    let seen_from: IpAddr = report.peer.addr.parse().ok()?;
    (canonical(seen_from) != canonical(sent_from)).then_some(Translation {
        sent_from,
        seen_from,
    })
}

/// An IPv4-mapped IPv6 address as the IPv4 address it stands for.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// The detection, when the probe before the kernel connection or the
/// kernel connection itself saw it keep MP_CAPABLE out of a new connection.
fn blackhole_state(obs: &Observations, timeout: Option<u64>) -> Option<Blackhole> {
    let probed = obs.blackhole.filter(|b| b.active);
    let by_kernel = obs
        .kernel
        .as_ref()
        .filter(|k| k.mptcp_socket && k.counters.blackholed() && k.is_mptcp != Some(true));
    if probed.is_none() && by_kernel.is_none() {
        return None;
    }
    Some(Blackhole {
        events: probed
            .and_then(|b| b.events)
            .or_else(|| by_kernel.and_then(|k| k.counters.blackhole_total)),
        syn_tx_disabled: probed.and_then(|b| b.syn_tx_disabled),
        timeout,
    })
}

/// Explains the seed's line: a v1 host's crafted v0 probe answered
/// without MP_CAPABLE by a v1-only server is exactly what OpenMPTCProuter's
/// "MPTCP support check" (tracebox with a v0 MP_CAPABLE) prints as
/// `-TCPOptionMPTCPCapable`. Said in those words, with whether v1 works on
/// this path, so a user who came with that line learns what it means in
/// one read. `None` when the v0 probe was not simply ignored (stripped,
/// dropped, reflected) or this host does not speak v1.
pub fn v0_ignored_note(input: &VerdictInput, verdict: &Verdict) -> Option<String> {
    use packet::verdict::{find_capable, ProbeAnswer, ProbeKind, VerdictCode};
    if input.local.mptcp_version != Some(1) {
        return None;
    }
    let v0 = input.probes.iter().find(|p| p.kind == ProbeKind::V0)?;
    let ProbeAnswer::SynAck { options, .. } = &v0.answer else {
        return None;
    };
    if find_capable(options.as_bytes()).is_some() {
        return None;
    }
    if let Some(server) = &input.server {
        // A v1-only server with MPTCP on, and (when it was asked) our v0
        // option arrived there intact: ignored, not stripped.
        if server.mptcp_enabled == Some(false) || server.mptcp_version.is_some_and(|v| v != 1) {
            return None;
        }
        if server.probes_queried {
            let arrived = server.probes.iter().find(|o| o.seq == v0.seq)?;
            let sent = find_capable(v0.sent.as_bytes())?;
            let seen = find_capable(arrived.syn.as_bytes())?;
            if seen.raw != sent.raw {
                return None;
            }
        }
    }
    let v1 = if verdict.code == VerdictCode::MptcpOk {
        "v1 works on this path"
    } else {
        "here v1 does not work either: see the verdict"
    };
    Some(format!(
        "the v0 probe was answered without MP_CAPABLE: this is the `-TCPOptionMPTCPCapable` line \
         of OpenMPTCProuter's MPTCP support check, because OMR's check sends MPTCP v0, and an \
         upstream kernel (5.6 or newer, such as Debian 12's 6.1) speaks only v1 and ignores a v0 \
         MP_CAPABLE. This is not a failure if v1 works: {v1}"
    ))
}

/// The echo server's account, in the engine's terms.
pub fn server_report(report: &EchoReport, answer: Option<&EchoAnswer>) -> ServerReport {
    let readiness = &report.readiness;
    let version = match readiness.versions.as_slice() {
        [only] => Some(*only),
        _ => None,
    };
    ServerReport {
        syn_seen: report.syn.as_ref().and_then(option_area),
        syn_ack_sent: report.syn_ack.as_ref().and_then(option_area),
        connection_mptcp: Some(report.connection.mptcp),
        mptcp_enabled: readiness.mptcp_enabled,
        mptcp_version: version,
        mptcp_listener: Some(report.connection.listener_mptcp),
        probes: answer
            .map(|a| {
                a.observations
                    .iter()
                    .filter_map(|o| {
                        Some(ServerProbeSeen {
                            seq: o.syn.seq,
                            syn: option_area(&o.syn)?,
                            syn_ack_sent: o.syn_ack.as_ref().and_then(option_area),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        // A probe absent from an answer is evidence that it never arrived
        // only when the server lost none: its capture dropped nothing
        // meanwhile and its store evicted none of the asked SYNs.
        probes_queried: answer.is_some_and(|a| a.capture_drops == 0 && a.displaced == 0),
        syn_seen_ttl: report.syn.as_ref().map(|s| s.ttl),
        ..Default::default()
    }
}

/// The TCP option area of a captured segment: from its raw headers, or,
/// when those do not parse, from the per-option hex the server listed.
/// A SYN without options gives an empty area (not `None`).
pub fn option_area(seg: &ObservedSegment) -> Option<OptionArea> {
    if let Ok(bytes) = hex::decode(&seg.hex) {
        if let Ok(parsed) = parse_ip_tcp(&bytes) {
            if parsed.tcp_missing == 0 {
                return Some(OptionArea::new(parsed.options));
            }
        }
    }
    let mut area = Vec::new();
    for option in &seg.options {
        area.extend(option.wire_bytes()?);
    }
    Some(OptionArea(area))
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::echo::ServerMessage;
    use packet::verdict::{evaluate, ProbeAnswer, ProbeKind, VerdictCode};

    /// IPv4 + TCP headers of a SYN from 10.1.0.1:40000 to 10.2.0.2:6101
    /// with the given option area (checksums are not checked by the parser).
    fn syn_hex(options: &str, flags: u8) -> String {
        let opt = hex::decode(options).unwrap();
        let tcp_len = 20 + opt.len();
        let total = 20 + tcp_len;
        let mut b = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
            10,
            1,
            0,
            1,
            10,
            2,
            0,
            2,
        ];
        b.extend_from_slice(&40000u16.to_be_bytes());
        b.extend_from_slice(&6101u16.to_be_bytes());
        b.extend_from_slice(&1000u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.push(((tcp_len / 4) as u8) << 4);
        b.push(flags);
        b.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 0]);
        b.extend_from_slice(&opt);
        hex::encode(b)
    }

    fn segment_json(options: &str, flags: u8, seq: u32) -> String {
        format!(
            r#"{{"hex":"{}","iface":"eth0","ts":1.0,"src":"10.1.0.1","dst":"10.2.0.2",
            "sport":40000,"dport":6101,"flags":"S","seq":{seq},"ack":0,"window":64240,"ttl":63,
            "options":[],"mp_capable":null}}"#,
            syn_hex(options, flags)
        )
    }

    const V1_SYN: &str = "020405b40402080a0000000100000000010303071e040101";
    const STRIPPED_SYN: &str = "020405b40402080a00000001000000000103030701010101";
    const V1_SYN_ACK: &str = "020405b40402080a0000000200000001010303071e0c010129a6c86981ad933c";
    const PLAIN_SYN_ACK: &str = "020405b40402080a000000020000000101030307";

    fn report_json(
        syn: Option<&str>,
        syn_ack: Option<&str>,
        conn_mptcp: bool,
        enabled: bool,
    ) -> String {
        let seg = |o: Option<&str>, f| o.map_or("null".to_string(), |o| segment_json(o, f, 1000));
        format!(
            r#"{{"type":"report","version":1,
            "peer":{{"addr":"10.1.0.1","port":40000}},"local":{{"addr":"10.2.0.2","port":6101}},
            "syn":{},"syn_ack":{},
            "connection":{{"mptcp":{conn_mptcp},"listener_mptcp":{enabled},"fallback_reason":null,"info_flags":null}},
            "readiness":{{"mptcp_enabled":{enabled},"flavor":"upstream","versions":[1],"sysctls":{{}},
              "limits":null,"endpoints":[],"kernel_release":null,"listener":null,"errors":[]}},
            "warnings":[]}}"#,
            seg(syn, 0x02),
            seg(syn_ack, 0x12)
        )
    }

    fn parse_report(json: &str) -> EchoReport {
        match serde_json::from_str::<ServerMessage>(json).unwrap() {
            ServerMessage::Report(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    fn v1_local(user_version: Option<u8>) -> LocalFacts {
        LocalFacts {
            mptcp_socket: Some(true),
            readiness: HostReadiness {
                mptcp_enabled: Some(true),
                flavor: Flavor::Upstream,
                versions: vec![1],
                ..Default::default()
            },
            user_version,
        }
    }

    fn kernel(is_mptcp: bool) -> KernelFacts {
        KernelFacts {
            outcome: ConnectOutcome::Connected,
            mptcp_socket: true,
            is_mptcp: Some(is_mptcp),
            syn_retransmissions: Some(0),
            counters: CounterDelta::default(),
        }
    }

    fn verdict(local: &LocalFacts, obs: &Observations) -> VerdictCode {
        evaluate(&verdict_input(local, obs).input).code
    }

    #[test]
    fn out_of_tree_v0_host_is_judged_by_the_server_side() {
        let local = LocalFacts {
            mptcp_socket: Some(false),
            readiness: HostReadiness {
                mptcp_enabled: Some(true),
                flavor: Flavor::OutOfTree,
                versions: vec![0],
                ..Default::default()
            },
            user_version: None,
        };
        assert_eq!(local.local_host().mptcp_enabled, Some(true));
        assert_eq!(local.local_host().mptcp_version, Some(0));
        // A v0 SYN arriving at a v1-only server, answered without MPTCP;
        // whatever option 43 read on the out-of-tree kernel is ignored.
        let obs = Observations {
            target: "t".into(),
            kernel: Some(KernelFacts {
                mptcp_socket: false,
                is_mptcp: Some(true),
                ..kernel(true)
            }),
            report: Some(parse_report(&report_json(
                Some(V0_SYN),
                Some(PLAIN_SYN_ACK),
                false,
                true,
            ))),
            ..Default::default()
        };
        let adapted = verdict_input(&local, &obs);
        assert_eq!(adapted.input.kernel.as_ref().unwrap().is_mptcp, None);
        let v = evaluate(&adapted.input);
        assert_eq!(v.code, VerdictCode::VersionMismatch, "{v:#?}");
    }

    #[test]
    fn counters_tell_a_blackholed_syn() {
        let map = |pairs: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let before = map(&[
            ("MPCapableSYNTX", 5),
            ("MPCapableSYNTXDisabled", 0),
            ("Blackhole", 1),
        ]);
        let disabled = map(&[
            ("MPCapableSYNTX", 5),
            ("MPCapableSYNTXDisabled", 1),
            ("Blackhole", 1),
        ]);
        let offered = map(&[
            ("MPCapableSYNTX", 6),
            ("MPCapableSYNTXDisabled", 0),
            ("Blackhole", 1),
        ]);
        let d = CounterDelta::between(Some(&before), Some(&disabled));
        assert!(d.blackholed());
        assert_eq!(d.blackhole_total, Some(1));
        assert!(!CounterDelta::between(Some(&before), Some(&offered)).blackholed());
        assert!(!CounterDelta::between(None, Some(&disabled)).blackholed());

        // Blackholed, the kernel connection looks stripped (no option at
        // the server); left out, the crafted probes decide.
        let obs = Observations {
            target: "t".into(),
            kernel: Some(KernelFacts {
                counters: d,
                ..kernel(false)
            }),
            report: Some(parse_report(&report_json(
                Some("020405b40402080a000000010000000001030307"),
                Some(PLAIN_SYN_ACK),
                false,
                true,
            ))),
            ..Default::default()
        };
        let adapted = verdict_input(&v1_local(None), &obs);
        assert!(adapted.input.kernel.is_none());
        assert!(adapted.notes[0].contains("blackhole_timeout"));
        // The engine is told, and gives the one reset advice.
        let bh = adapted.input.local.blackhole.as_ref().unwrap();
        assert_eq!(bh.events, Some(1));
        assert!(adapted.notes[0].contains(&reset_advice(None)));
        assert_eq!(
            evaluate(&adapted.input).code,
            VerdictCode::LocalMptcpDisabled,
            "no crafted probe shows the path failing: the host is the cause"
        );
        let with_kernel = Observations {
            kernel: Some(kernel(false)),
            ..obs
        };
        assert_eq!(
            verdict(&v1_local(None), &with_kernel),
            VerdictCode::StrippedUpstream,
            "what the blackhole would have looked like"
        );
    }

    #[test]
    fn the_probe_before_the_connection_tells_an_active_blackhole() {
        let mut local = v1_local(None);
        local
            .readiness
            .sysctls
            .insert("blackhole_timeout".into(), "600".into());
        let obs = Observations {
            target: "t".into(),
            blackhole: Some(BlackholeFacts {
                active: true,
                events: Some(2),
                syn_tx_disabled: Some(5),
            }),
            ..Default::default()
        };
        let input = verdict_input(&local, &obs).input;
        assert_eq!(
            input.local.blackhole,
            Some(Blackhole {
                events: Some(2),
                syn_tx_disabled: Some(5),
                timeout: Some(600),
            })
        );
        let v = evaluate(&input);
        assert_eq!(v.code, VerdictCode::LocalMptcpDisabled);
        assert_eq!(v.fix.as_deref(), Some(reset_advice(Some(600)).as_str()));
        // Probed and not active: nothing is said.
        let quiet = Observations {
            blackhole: Some(BlackholeFacts::default()),
            ..obs
        };
        assert_eq!(verdict_input(&local, &quiet).input.local.blackhole, None);
    }

    #[test]
    fn option_area_comes_from_the_raw_headers() {
        let seg: ObservedSegment = serde_json::from_str(&segment_json(V1_SYN, 0x02, 7)).unwrap();
        assert_eq!(option_area(&seg).unwrap().to_hex(), V1_SYN);
        let bare: ObservedSegment = serde_json::from_str(&segment_json("", 0x02, 7)).unwrap();
        assert_eq!(option_area(&bare), Some(OptionArea(vec![])));
    }

    #[test]
    fn option_area_falls_back_to_the_option_list() {
        let mut seg: ObservedSegment =
            serde_json::from_str(&segment_json(V1_SYN, 0x02, 7)).unwrap();
        seg.hex = "zz".into();
        // The per-option hex of the summary form (what older servers send).
        seg.options = serde_json::from_str(
            r#"[{"kind":30,"len":4,"name":"mptcp","text":"","hex":"1e040101"}]"#,
        )
        .unwrap();
        assert_eq!(option_area(&seg).unwrap().to_hex(), "1e040101");
        seg.options =
            serde_json::from_str(r#"[{"kind":30,"len":4,"name":"mptcp","text":"","hex":"1e0"}]"#)
                .unwrap();
        assert_eq!(option_area(&seg), None);
    }

    #[test]
    fn every_truncated_header_hex_gives_an_area_or_none_never_a_panic() {
        let full = syn_hex(V1_SYN, 0x02);
        for end in 0..full.len() {
            let mut seg: ObservedSegment =
                serde_json::from_str(&segment_json(V1_SYN, 0x02, 7)).unwrap();
            seg.hex = full[..end].to_string();
            let _ = option_area(&seg);
        }
    }

    #[test]
    fn clean_path_is_ok() {
        let obs = Observations {
            target: "10.2.0.2:6101".into(),
            kernel: Some(kernel(true)),
            report: Some(parse_report(&report_json(
                Some(V1_SYN),
                Some(V1_SYN_ACK),
                true,
                true,
            ))),
            ..Default::default()
        };
        assert_eq!(verdict(&v1_local(None), &obs), VerdictCode::MptcpOk);
    }

    #[test]
    fn nops_at_the_server_are_stripping() {
        let obs = Observations {
            target: "t".into(),
            kernel: Some(kernel(false)),
            report: Some(parse_report(&report_json(
                Some(STRIPPED_SYN),
                Some(PLAIN_SYN_ACK),
                false,
                true,
            ))),
            ..Default::default()
        };
        assert_eq!(
            verdict(&v1_local(None), &obs),
            VerdictCode::StrippedUpstream
        );
    }

    #[test]
    fn intact_arrival_and_plain_answer_is_server_disabled() {
        let obs = Observations {
            target: "t".into(),
            kernel: Some(kernel(false)),
            report: Some(parse_report(&report_json(
                Some(V1_SYN),
                Some(PLAIN_SYN_ACK),
                false,
                false,
            ))),
            ..Default::default()
        };
        let adapted = verdict_input(&v1_local(None), &obs);
        let server = adapted.input.server.as_ref().unwrap();
        assert_eq!(server.mptcp_enabled, Some(false));
        assert_eq!(server.mptcp_listener, Some(false));
        assert!(!server.probes_queried);
        assert_eq!(
            evaluate(&adapted.input).code,
            VerdictCode::ServerMptcpDisabled
        );
    }

    #[test]
    fn uncaptured_syn_is_none_not_empty() {
        let report = parse_report(&report_json(None, None, true, true));
        let s = server_report(&report, None);
        assert_eq!(s.syn_seen, None);
        assert_eq!(s.syn_ack_sent, None);
    }

    #[test]
    fn refused_socket_means_local_disabled() {
        let local = LocalFacts {
            mptcp_socket: Some(false),
            readiness: HostReadiness {
                mptcp_enabled: Some(false),
                flavor: Flavor::Upstream,
                versions: vec![1],
                ..Default::default()
            },
            user_version: None,
        };
        let obs = Observations {
            target: "t".into(),
            kernel: Some(KernelFacts {
                mptcp_socket: false,
                ..kernel(false)
            }),
            report: Some(parse_report(&report_json(
                Some("020405b4"),
                Some(PLAIN_SYN_ACK),
                false,
                true,
            ))),
            ..Default::default()
        };
        assert_eq!(verdict(&local, &obs), VerdictCode::LocalMptcpDisabled);
    }

    #[test]
    fn no_echo_server_is_inconclusive_and_says_so() {
        let obs = Observations {
            target: "t".into(),
            kernel: Some(kernel(false)),
            ..Default::default()
        };
        let v = evaluate(&verdict_input(&v1_local(None), &obs).input);
        assert_eq!(v.code, VerdictCode::Inconclusive);
        assert!(
            v.missing.iter().any(|m| m.contains("echo server")),
            "{v:#?}"
        );
    }

    #[test]
    fn refused_connection_is_unreachable() {
        let obs = Observations {
            target: "t".into(),
            kernel: Some(KernelFacts {
                outcome: ConnectOutcome::Refused,
                is_mptcp: None,
                syn_retransmissions: None,
                mptcp_socket: true,
                counters: CounterDelta::default(),
            }),
            ..Default::default()
        };
        assert_eq!(verdict(&v1_local(None), &obs), VerdictCode::Unreachable);
    }

    #[test]
    fn kernel_connection_in_another_version_is_left_out() {
        let obs = Observations {
            target: "t".into(),
            kernel: Some(kernel(true)),
            report: Some(parse_report(&report_json(
                Some(V1_SYN),
                Some(V1_SYN_ACK),
                true,
                true,
            ))),
            ..Default::default()
        };
        let adapted = verdict_input(&v1_local(Some(0)), &obs);
        assert!(adapted.input.kernel.is_none());
        assert_eq!(adapted.notes.len(), 1);
        // Without crafted probes nothing speaks v0: the engine cannot judge.
        assert_eq!(evaluate(&adapted.input).code, VerdictCode::Inconclusive);
    }

    /// The echo server's answer for the crafted probes, as JSON bytes.
    fn answer_json(observations: &[(u32, &str, Option<&str>)]) -> EchoAnswer {
        let obs: Vec<String> = observations
            .iter()
            .map(|(seq, syn, syn_ack)| {
                format!(
                    r#"{{"syn":{},"syn_ack":{}}}"#,
                    segment_json(syn, 0x02, *seq),
                    syn_ack.map_or("null".into(), |s| segment_json(s, 0x12, 0))
                )
            })
            .collect();
        let line = format!(
            r#"{{"type":"answer","version":1,"observations":[{}]}}"#,
            obs.join(",")
        );
        match serde_json::from_str::<ServerMessage>(&line).unwrap() {
            ServerMessage::Answer(a) => a,
            other => panic!("{other:?}"),
        }
    }

    /// A stripping path where every crafted probe was answered, but the
    /// server's answer holds none of them. With no capture drops that is
    /// the decisive sign of a proxy answering SYNs in the server's name;
    /// while the server's capture dropped packets it is no evidence, and
    /// no proxy is named.
    #[test]
    fn probes_missing_from_an_answer_while_the_capture_dropped_are_no_evidence() {
        let answered = |kind, seq, sent| {
            probe(
                kind,
                seq,
                sent,
                ProbeAnswer::from_syn_ack_options(&hex::decode(PLAIN_SYN_ACK).unwrap()),
            )
        };
        // V1_SYN with its MP_CAPABLE turned into NOPs (TCPOPTSTRIP).
        const STRIPPED_SYN: &str = "020405b40402080a00000001000000000103030701010101";
        let with_drops = |capture_drops| Observations {
            target: "t".into(),
            kernel: Some(kernel(false)),
            report: Some(parse_report(&report_json(
                Some(STRIPPED_SYN),
                Some(PLAIN_SYN_ACK),
                false,
                true,
            ))),
            probes: vec![
                answered(ProbeKind::V1, 11, V1_SYN),
                answered(ProbeKind::Plain, 33, PLAIN_SYN_ACK),
            ],
            answer: Some(EchoAnswer {
                capture_drops,
                warnings: vec!["the capture dropped packets".into()],
                ..answer_json(&[])
            }),
            ..Default::default()
        };
        let clean = verdict_input(&v1_local(None), &with_drops(0));
        assert!(clean.input.server.as_ref().unwrap().probes_queried);
        let v = evaluate(&clean.input);
        assert_eq!(v.code, VerdictCode::StrippedUpstream, "{v:#?}");
        assert_eq!(
            v.middlebox,
            Some(packet::verdict::MiddleboxKind::TcpProxy),
            "{v:#?}"
        );
        let dropped = verdict_input(&v1_local(None), &with_drops(40));
        assert!(!dropped.input.server.as_ref().unwrap().probes_queried);
        let v = evaluate(&dropped.input);
        assert_eq!(v.code, VerdictCode::StrippedUpstream, "{v:#?}");
        assert_ne!(
            v.middlebox,
            Some(packet::verdict::MiddleboxKind::TcpProxy),
            "{v:#?}"
        );
        // The same when the server's store evicted the asked SYNs.
        let mut evicted = with_drops(0);
        if let Some(a) = evicted.answer.as_mut() {
            a.displaced = 2;
        }
        let evicted = verdict_input(&v1_local(None), &evicted);
        assert!(!evicted.input.server.as_ref().unwrap().probes_queried);
    }

    const V0_SYN: &str = "020405b40402080a0000000100000000010303071e0c0081a5a5a5a5a5a5a5a5";

    fn probe(kind: ProbeKind, seq: u32, sent: &str, answer: ProbeAnswer) -> ProbeResult {
        ProbeResult {
            kind,
            seq,
            sent: OptionArea::from_hex(sent).unwrap(),
            answer,
        }
    }

    #[test]
    fn v0_router_against_v1_server_is_version_mismatch() {
        let obs = Observations {
            target: "t".into(),
            kernel: Some(kernel(true)),
            report: Some(parse_report(&report_json(
                Some(V1_SYN),
                Some(V1_SYN_ACK),
                true,
                true,
            ))),
            probes: vec![
                probe(
                    ProbeKind::V1,
                    11,
                    V1_SYN,
                    ProbeAnswer::from_syn_ack_options(&hex::decode(V1_SYN_ACK).unwrap()),
                ),
                probe(
                    ProbeKind::V0,
                    22,
                    V0_SYN,
                    ProbeAnswer::from_syn_ack_options(&hex::decode(PLAIN_SYN_ACK).unwrap()),
                ),
                probe(
                    ProbeKind::Plain,
                    33,
                    PLAIN_SYN_ACK,
                    ProbeAnswer::from_syn_ack_options(&hex::decode(PLAIN_SYN_ACK).unwrap()),
                ),
            ],
            answer: Some(answer_json(&[
                (11, V1_SYN, Some(V1_SYN_ACK)),
                (22, V0_SYN, Some(PLAIN_SYN_ACK)),
                (33, PLAIN_SYN_ACK, Some(PLAIN_SYN_ACK)),
            ])),
            ..Default::default()
        };
        let adapted = verdict_input(&v1_local(Some(0)), &obs);
        let server = adapted.input.server.as_ref().unwrap();
        assert!(server.probes_queried);
        assert_eq!(server.probes.len(), 3);
        let v = evaluate(&adapted.input);
        assert_eq!(v.code, VerdictCode::VersionMismatch, "{v:#?}");
        // The same observations for a v1 router: it works.
        assert_eq!(verdict(&v1_local(None), &obs), VerdictCode::MptcpOk);
        // No seed-line note for a v0 router: its mismatch is the cause.
        assert_eq!(v0_ignored_note(&adapted.input, &v), None);
        // For the v1 router the ignored v0 probe is explained, in words.
        let input = verdict_input(&v1_local(None), &obs).input;
        let note = v0_ignored_note(&input, &evaluate(&input)).unwrap();
        for words in [
            "-TCPOptionMPTCPCapable",
            "OMR's check sends MPTCP v0",
            "an upstream kernel",
            "ignores a v0 MP_CAPABLE",
            "This is not a failure if v1 works: v1 works on this path",
        ] {
            assert!(note.contains(words), "{words}: {note}");
        }
    }

    #[test]
    fn probe_asked_and_unseen_is_not_seen() {
        // The v1 probe met silence and the server, asked, never saw it;
        // the plain probe was answered: MP_CAPABLE SYNs are dropped.
        let obs = Observations {
            target: "t".into(),
            report: Some(parse_report(&report_json(None, None, false, true))),
            probes: vec![
                probe(ProbeKind::V1, 11, V1_SYN, ProbeAnswer::Silence),
                probe(
                    ProbeKind::Plain,
                    33,
                    PLAIN_SYN_ACK,
                    ProbeAnswer::from_syn_ack_options(&hex::decode(PLAIN_SYN_ACK).unwrap()),
                ),
            ],
            answer: Some(answer_json(&[(33, PLAIN_SYN_ACK, Some(PLAIN_SYN_ACK))])),
            ..Default::default()
        };
        assert_eq!(verdict(&v1_local(None), &obs), VerdictCode::SynDropped);
    }

    fn probes(v1: ProbeAnswer, plain: ProbeAnswer) -> Vec<ProbeResult> {
        vec![
            probe(ProbeKind::V1, 11, V1_SYN, v1),
            probe(ProbeKind::V0, 22, V0_SYN, ProbeAnswer::Silence),
            probe(ProbeKind::Plain, 33, PLAIN_SYN_ACK, plain),
        ]
    }

    fn plain_answer() -> ProbeAnswer {
        ProbeAnswer::from_syn_ack_options(&hex::decode(PLAIN_SYN_ACK).unwrap())
    }

    #[test]
    fn no_kernel_mptcp_connection_where_the_probes_show_it_would_lose_its_syns() {
        // Silence, an ICMP error or a RST for the v1 probe while the plain
        // one is answered: the kernel connection would lose its SYNs.
        let icmp = ProbeAnswer::Icmp {
            from: "10.1.0.254".parse().unwrap(),
            icmp_type: 3,
            code: 13,
        };
        for (answer, words) in [
            (ProbeAnswer::Silence, "got no answer"),
            (icmp, "met an ICMP error"),
            (ProbeAnswer::Rst, "was reset"),
        ] {
            match kernel_plan(&probes(answer, plain_answer()), Some(1)) {
                KernelPlan::PlainInstead(why) => {
                    assert!(why.contains(words), "{why}");
                    assert!(why.contains("blackhole"), "{why}");
                    assert!(why.starts_with("the crafted v1 probe"), "{why}");
                }
                other => panic!("{other:?}"),
            }
        }
        // A dead host (the plain SYN unanswered too), a working v1 probe,
        // no probes at all: the kernel connection is made.
        assert_eq!(
            kernel_plan(&probes(ProbeAnswer::Silence, ProbeAnswer::Silence), Some(1)),
            KernelPlan::Mptcp
        );
        assert_eq!(
            kernel_plan(&probes(plain_answer(), plain_answer()), Some(1)),
            KernelPlan::Mptcp
        );
        assert_eq!(kernel_plan(&[], Some(1)), KernelPlan::Mptcp);
        // The v0 probe is what a v0 kernel's SYN would meet.
        assert!(matches!(
            kernel_plan(&probes(plain_answer(), plain_answer()), Some(0)),
            KernelPlan::PlainInstead(why) if why.starts_with("the crafted v0 probe")
        ));
    }

    #[test]
    fn a_report_over_plain_tcp_or_from_a_watched_port_is_marked() {
        let report = parse_report(&report_json(
            Some(PLAIN_SYN_ACK),
            Some(PLAIN_SYN_ACK),
            false,
            true,
        ));
        let obs = Observations {
            target: "t".into(),
            report: Some(report.clone()),
            report_over_plain_tcp: true,
            report_local: Some("10.1.0.1:40000".parse().unwrap()),
            ..Default::default()
        };
        let server = verdict_input(&v1_local(None), &obs).input.server.unwrap();
        assert!(server.plain_tcp_fallback);
        assert_eq!(server.watched_port, None);
        assert_eq!(server.syn_seen_ttl, Some(63));
        assert_eq!(server.translated, None, "same address: no translation");
        let watched = Observations {
            report_over_plain_tcp: false,
            watched_port: Some(65101),
            report_local: Some("10.9.0.9:40000".parse().unwrap()),
            ..obs
        };
        let server = verdict_input(&v1_local(None), &watched)
            .input
            .server
            .unwrap();
        assert!(!server.describes_kernel_connection());
        assert_eq!(
            server.translated,
            Some(Translation {
                sent_from: "10.9.0.9".parse().unwrap(),
                seen_from: "10.1.0.1".parse().unwrap(),
            })
        );
    }

    #[test]
    fn a_mapped_address_is_not_a_translation() {
        let mut report = parse_report(&report_json(None, None, true, true));
        report.peer.addr = "::ffff:10.1.0.1".into();
        assert_eq!(
            translation(&report, Some("10.1.0.1:1".parse().unwrap())),
            None
        );
        assert_eq!(translation(&report, None), None);
    }
}
