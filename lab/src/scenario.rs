//! The scenarios: each cause of a failed MPTCP check, what is switched on
//! to reproduce it, and what the tool must say about it. The single source
//! of truth for the lab command, the end-to-end tests and the fixtures.
use super::middlebox::Middlebox;
use super::topology::Router;

/// Which address family the client probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// How the namespaces are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// client - r1 - r2 - server.
    Chain,
    /// An OpenMPTCProuter router with two WANs (see [`crate::two_wan`]):
    /// the client runs on the router; wanA (the primary WAN, the only
    /// default route in the main table) reaches the server through its own
    /// ISP and stays clean; wanB is the path under test, client - r1 - r2 -
    /// server, where the scenario's middleboxes sit. Each WAN's default
    /// route is in its own table, reached by `ip rule from WAN_ADDR`, and
    /// with `oif_rules` also by `ip rule oif WAN`. The scenario's `check`,
    /// `trace` and `hop_range` are what wanB must give, probed with `-i
    /// wanB` and with `--source WANB_ADDR` alike; wanA must give
    /// `mptcp_ok`.
    TwoWan { oif_rules: bool },
}

/// A verdict code and the exit code that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub verdict: &'static str,
    pub exit: i32,
}

/// Where `trace` places the loss of MP_CAPABLE: the last hop (TTL) whose
/// quote still carried it and the first hop whose quote did not (`None`
/// when no router quote lacks it: the server's echo is the first place it
/// was missing). For dropped SYNs, the first hop that answered only the
/// plain control SYN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HopRange {
    pub last_with: u8,
    pub first_without: Option<u8>,
}

impl std::fmt::Display for HopRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.first_without {
            Some(t) => write!(f, "hop {}..{t}", self.last_with),
            None => write!(f, "hop {}..server", self.last_with),
        }
    }
}

/// One reproducible cause.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Short name, used for namespaces, fixture files and test names.
    pub name: &'static str,
    /// The cause that is switched on, in words.
    pub cause: &'static str,
    pub family: Family,
    /// Middlebox behaviour installed before the server starts.
    pub middleboxes: &'static [Middlebox],
    /// Extra arguments for both `check` and `trace` (e.g. the router's
    /// MPTCP version).
    pub client_args: &'static [&'static str],
    /// What `check` must conclude.
    pub check: Expect,
    /// What `trace` must conclude.
    pub trace: Expect,
    /// The hop range `trace` must name (`None`: it names none).
    pub hop_range: Option<HopRange>,
    /// Verdicts `analyze` must give for the handshakes of the recorded
    /// client-side / server-side captures of `check`, in order. What one
    /// side alone can honestly conclude is not always the cause: see
    /// pcap-fixtures/README.md.
    pub replay_client: &'static [Option<&'static str>],
    pub replay_server: &'static [Option<&'static str>],
    /// The namespaces' layout. Captures are recorded (and replayed) for the
    /// chain only: on the two-WAN router one capture would mix both WANs'
    /// handshakes and the subflows the router's endpoints open.
    pub layout: Layout,
}

const OK: Expect = Expect {
    verdict: "mptcp_ok",
    exit: 0,
};

const fn fails(verdict: &'static str) -> Expect {
    Expect { verdict, exit: 1 }
}

// What `analyze` says about the four handshakes of a recorded `check`
// (in order: the kernel's own MPTCP connection, then the crafted v1, v0
// and plain SYNs). `analyze` recognises them as one check run and judges
// them together, as check does: each gets the run's verdict. The plain SYN
// offers no MPTCP, so nothing is judged on it.
// Captures recorded since issue 9 (the scenarios after `reflect-r2`) hold
// the crafted SYNs first: `check` now sends them before anything of the
// kernel's, and makes its kernel connection only when they show it does
// no harm (else a plain echo connection comes last).

/// A clean path from either side. The crafted v0 SYN, ignored by the
/// v1-only server, is check's own probe, not this host speaking v0.
const OK_SET: &[Option<&str>] = &[Some("mptcp_ok"), Some("mptcp_ok"), Some("mptcp_ok"), None];
/// An MP_CAPABLE SYN answered by a plain SYN/ACK: from the client's side
/// alone, stripping on the way and a server without MPTCP look the same.
const CLIENT_CANNOT_TELL: &[Option<&str>] = &[
    Some("inconclusive"),
    Some("inconclusive"),
    Some("inconclusive"),
    None,
];
/// The server's capture shows NOPs where MP_CAPABLE was (and a SYN that
/// lost its option cannot be told a v1 from a v0 probe: each handshake is
/// judged alone).
const STRIPPED_SEEN_BY_SERVER: &[Option<&str>] = &[
    Some("stripped_upstream"),
    Some("stripped_upstream"),
    Some("stripped_upstream"),
    None,
];

/// Every scenario the lab reproduces.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "clean",
        cause: "nothing: a clean path",
        family: Family::V4,
        middleboxes: &[],
        client_args: &[],
        check: OK,
        trace: OK,
        hop_range: None,
        replay_client: OK_SET,
        replay_server: OK_SET,
        layout: Layout::Chain,
    },
    Scenario {
        name: "clean-v6",
        cause: "nothing: a clean IPv6 path",
        family: Family::V6,
        middleboxes: &[],
        client_args: &[],
        check: OK,
        trace: OK,
        hop_range: None,
        replay_client: OK_SET,
        replay_server: OK_SET,
        layout: Layout::Chain,
    },
    Scenario {
        name: "strip-up-r1",
        cause: "r1 strips MP_CAPABLE from forwarded SYNs",
        family: Family::V4,
        middleboxes: &[Middlebox::StripUpstream(Router::R1)],
        client_args: &[],
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        hop_range: Some(HopRange {
            last_with: 1,
            first_without: Some(2),
        }),
        replay_client: CLIENT_CANNOT_TELL,
        replay_server: STRIPPED_SEEN_BY_SERVER,
        layout: Layout::Chain,
    },
    Scenario {
        name: "strip-up-r2",
        cause: "r2 strips MP_CAPABLE from forwarded SYNs",
        family: Family::V4,
        middleboxes: &[Middlebox::StripUpstream(Router::R2)],
        client_args: &[],
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        hop_range: Some(HopRange {
            last_with: 2,
            first_without: None,
        }),
        replay_client: CLIENT_CANNOT_TELL,
        replay_server: STRIPPED_SEEN_BY_SERVER,
        layout: Layout::Chain,
    },
    Scenario {
        name: "strip-up-r1-v6",
        cause: "r1 strips MP_CAPABLE from forwarded IPv6 SYNs",
        family: Family::V6,
        middleboxes: &[Middlebox::StripUpstream(Router::R1)],
        client_args: &[],
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        hop_range: Some(HopRange {
            last_with: 1,
            first_without: Some(2),
        }),
        replay_client: CLIENT_CANNOT_TELL,
        replay_server: STRIPPED_SEEN_BY_SERVER,
        layout: Layout::Chain,
    },
    Scenario {
        name: "strip-down-r1",
        cause: "r1 strips MP_CAPABLE from the server's SYN/ACKs",
        family: Family::V4,
        middleboxes: &[Middlebox::StripDownstream(Router::R1)],
        client_args: &[],
        check: fails("stripped_downstream"),
        trace: fails("stripped_downstream"),
        hop_range: None,
        replay_client: CLIENT_CANNOT_TELL,
        // The kernel connection's third ACK shows the client never got the
        // server's MP_CAPABLE; it speaks for the run (a server-side capture
        // cannot show what the probes' SYN/ACKs looked like on arrival).
        replay_server: &[
            Some("stripped_downstream"),
            Some("stripped_downstream"),
            Some("stripped_downstream"),
            None,
        ],
        layout: Layout::Chain,
    },
    Scenario {
        name: "drop-r1",
        cause: "r1 drops SYNs carrying option 30",
        family: Family::V4,
        middleboxes: &[Middlebox::DropOption30(Router::R1)],
        client_args: &[],
        check: fails("syn_dropped"),
        // Trace on a dropping path: r1 quotes our MP_CAPABLE SYN (TTL
        // expiry comes before its FORWARD chain) and drops it when
        // forwarding; the plain control SYNs, on their own flow, go on to
        // r2 and the server.
        trace: fails("syn_dropped"),
        hop_range: Some(HopRange {
            last_with: 1,
            first_without: Some(2),
        }),
        // The kernel's retries without MP_CAPABLE and the unanswered
        // probes next to the answered plain one.
        replay_client: &[
            Some("syn_dropped"),
            Some("syn_dropped"),
            Some("syn_dropped"),
            None,
        ],
        replay_server: &[None, None],
        layout: Layout::Chain,
    },
    Scenario {
        name: "nat-r1",
        cause: "r1 masquerades (NAT), nothing else",
        family: Family::V4,
        middleboxes: &[Middlebox::Masquerade(Router::R1)],
        client_args: &[],
        check: OK,
        trace: OK,
        hop_range: None,
        replay_client: OK_SET,
        replay_server: OK_SET,
        layout: Layout::Chain,
    },
    Scenario {
        name: "nat-r1-strip-r2",
        cause: "r1 masquerades (NAT), r2 behind it strips MP_CAPABLE from SYNs",
        family: Family::V4,
        middleboxes: &[
            Middlebox::Masquerade(Router::R1),
            Middlebox::StripUpstream(Router::R2),
        ],
        client_args: &[],
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        hop_range: Some(HopRange {
            last_with: 2,
            first_without: None,
        }),
        replay_client: CLIENT_CANNOT_TELL,
        replay_server: STRIPPED_SEEN_BY_SERVER,
        layout: Layout::Chain,
    },
    Scenario {
        name: "silent-r2",
        cause: "r2 sends no ICMP time exceeded (a silent hop)",
        family: Family::V4,
        middleboxes: &[Middlebox::SilentHop(Router::R2)],
        client_args: &[],
        check: OK,
        trace: OK,
        hop_range: None,
        replay_client: OK_SET,
        replay_server: OK_SET,
        layout: Layout::Chain,
    },
    Scenario {
        name: "server-disabled",
        cause: "the server has net.mptcp.enabled=0",
        family: Family::V4,
        middleboxes: &[Middlebox::ServerMptcpDisabled],
        client_args: &[],
        check: fails("server_mptcp_disabled"),
        trace: fails("server_mptcp_disabled"),
        hop_range: None,
        replay_client: CLIENT_CANNOT_TELL,
        replay_server: &[
            Some("server_mptcp_disabled"),
            Some("server_mptcp_disabled"),
            Some("server_mptcp_disabled"),
            None,
        ],
        layout: Layout::Chain,
    },
    Scenario {
        name: "v0-router",
        cause: "a v0 (out-of-tree 5.4) router against this v1-only server",
        family: Family::V4,
        middleboxes: &[],
        client_args: &["--mptcp-version", "0"],
        check: fails("version_mismatch"),
        trace: fails("version_mismatch"),
        hop_range: None,
        replay_client: OK_SET,
        replay_server: OK_SET,
        layout: Layout::Chain,
    },
    Scenario {
        name: "reflect-r2",
        cause: "r2 answers SYNs itself with a SYN/ACK echoing their options (no MPTCP behind it)",
        family: Family::V4,
        middleboxes: &[Middlebox::Reflect(Router::R2)],
        client_args: &[],
        check: fails("echoing_middlebox"),
        trace: fails("echoing_middlebox"),
        hop_range: None,
        // The crafted probes' SYN/ACKs show the reflection (the keyless
        // MP_CAPABLE of the kernel connection's SYN/ACK is not part of what
        // the engine is given about a kernel connection); judged as one run.
        replay_client: &[
            Some("echoing_middlebox"),
            Some("echoing_middlebox"),
            Some("echoing_middlebox"),
            None,
        ],
        // No SYN reaches the server: its capture holds only the client's
        // ACK and RSTs for connections it never saw.
        replay_server: &[],
        layout: Layout::Chain,
    },
    Scenario {
        name: "blackhole",
        cause: "this host's blackhole detection is active (tripped through r1, whose drop is gone again): a clean path, a kernel that sends new connections without MP_CAPABLE",
        family: Family::V4,
        middleboxes: &[Middlebox::TrippedBlackhole(Router::R1)],
        client_args: &[],
        check: fails("local_mptcp_disabled"),
        trace: fails("local_mptcp_disabled"),
        hop_range: None,
        // The kernel's own SYN offers no MPTCP (nothing to judge); the
        // crafted probes show the clean path.
        replay_client: &[None, Some("mptcp_ok"), Some("mptcp_ok"), None],
        replay_server: &[None, Some("mptcp_ok"), Some("mptcp_ok"), None],
        layout: Layout::Chain,
    },
    Scenario {
        name: "omr-from",
        cause: "OMR router, WAN tables reached by `ip rule from` only; wanB's ISP (r1) strips MP_CAPABLE",
        family: Family::V4,
        middleboxes: &[Middlebox::StripUpstream(Router::R1)],
        client_args: &[],
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        hop_range: Some(HopRange {
            last_with: 1,
            first_without: Some(2),
        }),
        replay_client: &[],
        replay_server: &[],
        layout: Layout::TwoWan { oif_rules: false },
    },
    Scenario {
        name: "omr-oif",
        cause: "OMR router, WAN tables reached by `ip rule from` and `ip rule oif`; wanB's ISP (r1) strips MP_CAPABLE",
        family: Family::V4,
        middleboxes: &[Middlebox::StripUpstream(Router::R1)],
        client_args: &[],
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        hop_range: Some(HopRange {
            last_with: 1,
            first_without: Some(2),
        }),
        replay_client: &[],
        replay_server: &[],
        layout: Layout::TwoWan { oif_rules: true },
    },
    Scenario {
        name: "omr-from-v6",
        cause: "OMR router over IPv6, WAN tables reached by `ip -6 rule from` only; wanB's ISP (r1) strips MP_CAPABLE",
        family: Family::V6,
        middleboxes: &[Middlebox::StripUpstream(Router::R1)],
        client_args: &[],
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        hop_range: Some(HopRange {
            last_with: 1,
            first_without: Some(2),
        }),
        replay_client: &[],
        replay_server: &[],
        layout: Layout::TwoWan { oif_rules: false },
    },
    Scenario {
        name: "omr-oif-v6",
        cause: "OMR router over IPv6, WAN tables reached by `ip -6 rule from` and `oif`; wanB's ISP (r1) strips MP_CAPABLE",
        family: Family::V6,
        middleboxes: &[Middlebox::StripUpstream(Router::R1)],
        client_args: &[],
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        hop_range: Some(HopRange {
            last_with: 1,
            first_without: Some(2),
        }),
        replay_client: &[],
        replay_server: &[],
        layout: Layout::TwoWan { oif_rules: true },
    },
    Scenario {
        name: "syn-ack-drop-r1",
        cause:
            "r1 drops the server's SYN/ACKs carrying option 30 (the answer is lost, not the SYN)",
        family: Family::V4,
        layout: Layout::Chain,
        middleboxes: &[Middlebox::DropSynAckOption30(Router::R1)],
        client_args: &[],
        // The server's account names the direction: our SYN arrived
        // intact, its MP_CAPABLE SYN/ACK never came back. The probes show
        // the loss first, so no kernel MPTCP connection is made.
        check: fails("syn_dropped"),
        trace: fails("syn_dropped"),
        hop_range: None,
        // Neither side alone sees the loss: the client's capture has the
        // v1 SYN unanswered (and the v0 one answered without MPTCP by this
        // v1-only server), the server's an MPTCP answer whose third ACK
        // never came. Then the plain probe and the plain echo connection.
        // analyze reads the three crafted SYNs as one check run, as check
        // does: the v1 SYN lost while the plain one passed is a drop.
        replay_client: &[Some("syn_dropped"), Some("syn_dropped"), None, None],
        replay_server: &[Some("inconclusive"), Some("inconclusive"), None, None],
    },
    Scenario {
        name: "synproxy-r2",
        cause: "r2 runs iptables SYNPROXY (DDoS protection in front of the server): it answers \
                SYNs itself and opens its own connection",
        family: Family::V4,
        layout: Layout::Chain,
        middleboxes: &[Middlebox::SynProxy(Router::R2)],
        client_args: &[],
        // With `middlebox: tcp_proxy`: the crafted SYNs were answered but
        // never reached the server, the SYN it saw echoes a timestamp.
        check: fails("stripped_upstream"),
        trace: fails("stripped_upstream"),
        // Every router quote still holds the option; the proxy answers
        // in the server's name right after the last.
        hop_range: Some(HopRange {
            last_with: 2,
            first_without: None,
        }),
        // The client's capture: SYN/ACKs without MP_CAPABLE, which one
        // side alone cannot blame (the probes, then the kernel
        // connection); the server's: only the proxy's own plain SYN.
        replay_client: &[
            Some("inconclusive"),
            Some("inconclusive"),
            None,
            Some("inconclusive"),
        ],
        replay_server: &[None],
    },
    Scenario {
        name: "plain-service",
        cause: "the real service (port 65101) listens with plain TCP; the echo server watches it",
        family: Family::V4,
        layout: Layout::Chain,
        middleboxes: &[Middlebox::PlainTcpService],
        client_args: &["--port", "65101", "--echo-port", "6101"],
        check: fails("server_mptcp_disabled"),
        trace: fails("server_mptcp_disabled"),
        hop_range: None,
        // The probes, the kernel connection to 65101, then the plain echo
        // connection to 6101.
        replay_client: &[
            Some("inconclusive"),
            Some("inconclusive"),
            None,
            Some("inconclusive"),
            None,
        ],
        replay_server: &[
            Some("server_mptcp_disabled"),
            Some("server_mptcp_disabled"),
            None,
            Some("server_mptcp_disabled"),
            None,
        ],
    },
];

/// The scenario named `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_exit_codes_follow_the_verdicts() {
        for (i, s) in SCENARIOS.iter().enumerate() {
            assert!(
                SCENARIOS[i + 1..].iter().all(|t| t.name != s.name),
                "{} twice",
                s.name
            );
            for e in [s.check, s.trace] {
                assert_eq!(e.exit, i32::from(e.verdict != "mptcp_ok"), "{}", s.name);
            }
            // A hop range only where trace blames a stripping or a
            // dropping middlebox, and always for a stripping one. A drop
            // may have none: when the server's SYN/ACK is what is lost,
            // every hop saw our SYN.
            if s.hop_range.is_some() {
                assert!(
                    matches!(s.trace.verdict, "stripped_upstream" | "syn_dropped"),
                    "{}",
                    s.name
                );
            }
            if s.trace.verdict == "stripped_upstream" {
                assert!(s.hop_range.is_some(), "{}", s.name);
            }
            assert_eq!(find(s.name).map(|f| f.name), Some(s.name));
        }
    }

    #[test]
    fn every_cause_of_the_issue_is_covered() {
        use super::super::middlebox::Middlebox as M;
        let has = |f: &dyn Fn(&Scenario) -> bool| SCENARIOS.iter().any(f);
        assert!(has(
            &|s| s.middleboxes.is_empty() && s.client_args.is_empty()
        ));
        assert!(has(&|s| s.middleboxes == [M::StripUpstream(Router::R1)]));
        assert!(has(&|s| s.middleboxes == [M::StripUpstream(Router::R2)]));
        assert!(has(&|s| s.middleboxes == [M::StripDownstream(Router::R1)]));
        assert!(has(&|s| s.middleboxes == [M::DropOption30(Router::R1)]));
        // Trace on a dropping path, placed by its plain control.
        assert!(has(&|s| s.middleboxes == [M::DropOption30(Router::R1)]
            && s.trace.verdict == "syn_dropped"
            && s.hop_range.is_some()));
        assert!(has(&|s| s.middleboxes == [M::Masquerade(Router::R1)]));
        assert!(has(
            &|s| s.middleboxes == [M::Masquerade(Router::R1), M::StripUpstream(Router::R2)]
        ));
        assert!(has(&|s| s.middleboxes == [M::SilentHop(Router::R2)]));
        assert!(has(&|s| s.middleboxes == [M::ServerMptcpDisabled]));
        assert!(has(&|s| s.middleboxes == [M::Reflect(Router::R2)]));
        assert!(has(
            &|s| s.middleboxes == [M::DropSynAckOption30(Router::R1)]
        ));
        assert!(has(&|s| s.middleboxes == [M::SynProxy(Router::R2)]));
        assert!(has(
            &|s| s.middleboxes == [M::PlainTcpService] && s.client_args.contains(&"--echo-port")
        ));
        assert!(has(&|s| s.client_args == ["--mptcp-version", "0"]));
        assert!(has(&|s| s.family == Family::V6));
        assert!(has(&|s| s.middleboxes == [M::TrippedBlackhole(Router::R1)]));
        // Issue 9: OpenMPTCProuter's policy-routed two-WAN router, with
        // and without `oif` rules, in both families.
        for oif_rules in [false, true] {
            for family in [Family::V4, Family::V6] {
                assert!(has(&|s| s.layout == Layout::TwoWan { oif_rules }
                    && s.family == family
                    && s.check.verdict == "stripped_upstream"));
            }
        }
    }
}
