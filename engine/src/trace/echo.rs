//! The echo server's account of a trace's probes (probe-server, echo
//! protocol v1), in the verdict engine's terms. The exchange itself runs
//! in the client; what it brought back is judged here.
use packet::echo::{EchoReport, ProbeObservation};
use packet::ip::parse_ip_tcp;
use packet::verdict::{OptionArea, ServerProbeSeen, ServerReport};

/// What the echo server said.
#[derive(Debug, Clone, Default)]
pub struct EchoOutcome {
    pub report: Option<EchoReport>,
    pub observations: Vec<ProbeObservation>,
    pub queried: bool,
    /// Packets the server's capture dropped while the probes may have
    /// arrived (its answer's `capture_drops`).
    pub capture_drops: u64,
    /// Asked SYNs the server captured and then evicted (its answer's
    /// `displaced`).
    pub displaced: u64,
    /// The answer's warnings (server text).
    pub warnings: Vec<String>,
    /// Why there is no (complete) account: no server, refused, timeout.
    pub error: Option<String>,
}

fn option_area(hex_text: &str) -> Option<OptionArea> {
    let bytes = hex::decode(hex_text).ok()?;
    let s = parse_ip_tcp(&bytes).ok()?;
    Some(OptionArea::new(s.options))
}

/// The observation of the SYN with sequence number `seq`, as raw bytes.
pub fn observed_syn(outcome: &EchoOutcome, seq: u32) -> Option<Vec<u8>> {
    let o = outcome.observations.iter().find(|o| o.syn.seq == seq)?;
    hex::decode(&o.syn.hex).ok()
}

/// The verdict engine's view of the server's account. The echo
/// connection itself is plain TCP (its job is to ask, not to test), so
/// its SYN and MPTCP state are left out: only the crafted probes and the
/// server host's readiness count.
pub fn server_report(outcome: &EchoOutcome) -> Option<ServerReport> {
    let report = outcome.report.as_ref()?;
    let probes = outcome
        .observations
        .iter()
        .filter_map(|o| {
            Some(ServerProbeSeen {
                seq: o.syn.seq,
                syn: option_area(&o.syn.hex)?,
                syn_ack_sent: o.syn_ack.as_ref().and_then(|s| option_area(&s.hex)),
            })
        })
        .collect();
    Some(ServerReport {
        syn_seen: None,
        syn_ack_sent: None,
        connection_mptcp: None,
        mptcp_enabled: report.readiness.mptcp_enabled,
        mptcp_version: report.readiness.versions.iter().copied().max(),
        mptcp_listener: Some(report.connection.listener_mptcp),
        probes,
        // Absence is evidence only when the server lost nothing.
        probes_queried: outcome.queried && outcome.capture_drops == 0 && outcome.displaced == 0,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::frames;
    use packet::echo::{ConnectionInfo, Endpoint, HostReadiness, ObservedSegment};

    /// A segment as the server lists it: only the fields read here matter.
    fn observed(bytes: &[u8], seq: u32) -> ObservedSegment {
        ObservedSegment {
            hex: hex::encode(bytes),
            iface: "s0".into(),
            ts: 0.0,
            src: String::new(),
            dst: String::new(),
            sport: 0,
            dport: 0,
            flags: "S".into(),
            seq,
            ack: 0,
            window: 0,
            ttl: 62,
            options: Vec::new(),
            mp_capable: None,
        }
    }

    fn report() -> EchoReport {
        let end = || Endpoint {
            addr: "10.2.0.2".into(),
            port: 6101,
        };
        EchoReport {
            version: 1,
            peer: end(),
            local: end(),
            syn: None,
            syn_ack: None,
            connection: ConnectionInfo {
                mptcp: false,
                listener_mptcp: true,
                fallback_reason: None,
                info_flags: None,
            },
            readiness: HostReadiness {
                mptcp_enabled: Some(true),
                versions: vec![0, 1],
                ..Default::default()
            },
            warnings: Vec::new(),
            features: Vec::new(),
        }
    }

    #[test]
    fn the_server_account_names_each_probe_by_seq() {
        // The capture's TTL 64 SYN and its SYN/ACK stand for what the
        // server saw of one probe; a second observation has broken hex.
        let f = frames("ttl-stripped.client.pcap");
        let (syn, syn_ack) = (&f[4].1, &f[5].1);
        let outcome = EchoOutcome {
            report: Some(report()),
            observations: vec![
                ProbeObservation {
                    syn: observed(syn, 7),
                    syn_ack: Some(observed(syn_ack, 0)),
                },
                ProbeObservation {
                    syn: ObservedSegment {
                        hex: "zz".into(),
                        ..observed(syn, 8)
                    },
                    syn_ack: None,
                },
            ],
            queried: true,
            ..Default::default()
        };
        assert_eq!(observed_syn(&outcome, 7).as_deref(), Some(&syn[..]));
        assert_eq!(observed_syn(&outcome, 8), None, "hex that does not decode");
        assert_eq!(observed_syn(&outcome, 9), None);
        let s = server_report(&outcome).unwrap();
        assert_eq!(s.probes.len(), 1, "the unreadable observation is left out");
        assert_eq!(s.probes[0].seq, 7);
        let sent = parse_ip_tcp(syn).unwrap();
        assert_eq!(s.probes[0].syn, OptionArea::new(sent.options));
        assert!(s.probes[0].syn_ack_sent.is_some());
        assert!(s.probes_queried);
        assert_eq!(s.mptcp_version, Some(1), "the highest version it speaks");
        assert_eq!(s.mptcp_listener, Some(true));
        assert_eq!((s.syn_seen, s.connection_mptcp), (None, None));
    }

    #[test]
    fn probes_missing_while_the_capture_dropped_are_not_evidence() {
        let outcome = EchoOutcome {
            report: Some(report()),
            queried: true,
            capture_drops: 12,
            ..Default::default()
        };
        let s = server_report(&outcome).unwrap();
        assert!(
            !s.probes_queried,
            "with drops, a probe absent from the answer may have arrived"
        );
        let evicted = EchoOutcome {
            capture_drops: 0,
            displaced: 1,
            ..outcome
        };
        assert!(!server_report(&evicted).unwrap().probes_queried);
    }

    #[test]
    fn no_report_no_account() {
        let outcome = EchoOutcome {
            error: Some("no echo server".into()),
            ..Default::default()
        };
        assert!(server_report(&outcome).is_none());
    }
}
