//! Runs the verdict engine (`packet::verdict`) on each handshake of a
//! capture: an adapter that builds a [`VerdictInput`] from what one capture
//! point saw, as `check` builds it from live observations.
//!
//! A capture shows one vantage point. Made on the client, it shows the SYN
//! as sent and the SYN/ACK as received (the kernel connection's view);
//! made on the server, it shows the SYN as it arrived and the SYN/ACK as
//! sent (the echo server's view). Which one is told by `--side`, or guessed
//! from the TTLs: a packet captured where it was sent still carries an
//! initial TTL (64, 128, 255; 32 for old stacks), one that crossed a router
//! does not. On a direct link (both initial) both views are the same
//! packets, so both are filled.
//!
//! A handshake the client ends with a RST right after the SYN/ACK, without
//! a third ACK, is a crafted SYN from a raw socket (no socket owns the port,
//! so the client's kernel resets it): it is given to the engine as a probe
//! (`ProbeResult`), every other handshake as the kernel connection. Seen
//! from the server, a probe's SYN is taken as sent as it arrived (a capture
//! there cannot tell a rewrite on the path from the sender's choice; a
//! removed option still shows, as NOPs, and is judged as a connection).
//!
//! Evidence across handshakes: a server that answered any handshake of the
//! capture with a keyed MP_CAPABLE speaks that version; this fills the
//! server's version in the report (alone, without its account of the SYN,
//! in a client-side capture), which is what tells a version mismatch from a
//! server without MPTCP. Its sysctls are not in the capture and are never
//! claimed.
//!
//! `mptcp-probe check`'s own handshakes (its crafted probes and its kernel
//! connection, see [`super::runs`]) are judged together, as check judges
//! them, and each of them gets that run's verdict: its v0 probe is not
//! "this host speaking v0", and its plain probe is the control. A capture
//! made on the server shows what arrived and what the server sent, never
//! what came back to the client: there the kernel connection (whose third
//! ACK tells what the client got) speaks for the run.
//!
//! A handshake whose SYN (or SYN/ACK) lost its options to the snapshot
//! length is `inconclusive` (rule `options_not_captured`): an option the
//! capture cut is not an option the packet lacked.
use super::flows::{Handshake, Status, SynAttempt, STRIPPED_NOP_RUN};
use super::runs::{find_runs, CheckRun, Role};
use packet::verdict::{
    evaluate, ConnectOutcome, KernelConnection, LocalHost, OptionArea, ProbeAnswer, ProbeKind,
    ProbeResult, ServerProbeSeen, ServerReport, Verdict, VerdictCode, VerdictInput, VersionSource,
};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Where the capture was made, relative to one handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// On the host that sent the SYN.
    Client,
    /// On the host that answered it.
    Server,
    /// Both ends see the same packets (no router between them): SYN and
    /// SYN/ACK both carry an initial TTL.
    Direct,
    /// Guess per handshake from the TTLs (the default).
    Auto,
}

impl Side {
    pub const ALL: [Side; 4] = [Side::Client, Side::Server, Side::Direct, Side::Auto];

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
            Side::Direct => "direct",
            Side::Auto => "auto",
        }
    }

    /// What the side means, in one line (the command line's help).
    pub fn description(self) -> &'static str {
        match self {
            Side::Client => "On the host that sent the SYN",
            Side::Server => "On the host that answered it",
            Side::Direct => {
                "Both ends see the same packets (no router between them): SYN and SYN/ACK \
                 both carry an initial TTL"
            }
            Side::Auto => "Guess per handshake from the TTLs (the default)",
        }
    }
}

/// A side name that is none of [`Side::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capture side {0:?} (client, server, direct or auto)")]
pub struct UnknownSide(pub String);

impl std::str::FromStr for Side {
    type Err = UnknownSide;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Side::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownSide(name.to_string()))
    }
}

/// A handshake's verdict and the view it was judged from.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub side: Side,
    pub verdict: Verdict,
    /// The check run (its `id`) it was judged with, when it is one of
    /// check's handshakes.
    pub run: Option<usize>,
}

impl Judgement {
    pub fn ok(&self) -> bool {
        self.verdict.code == VerdictCode::MptcpOk
    }
}

fn is_initial_ttl(ttl: u8) -> bool {
    matches!(ttl, 32 | 64 | 128 | 255)
}

/// The capture side guessed from the TTLs of the SYN and the SYN/ACK.
pub fn guess_side(h: &Handshake) -> Side {
    let syn = h.syns.first().map(|s| is_initial_ttl(s.ttl));
    let syn_ack = h.syn_ack.as_ref().map(|a| is_initial_ttl(a.ttl));
    match (syn, syn_ack) {
        (Some(true), Some(true)) => Side::Direct,
        (Some(false), Some(true)) => Side::Server,
        (None, Some(true)) => Side::Server,
        // The SYN as sent; a capture in the middle of the path, which sees
        // the SYN before the server does (the client's view is the nearer
        // one); or an unanswered SYN, which TTL alone cannot place (a
        // TTL-limited probe as sent has no initial TTL either).
        _ => Side::Client,
    }
}

/// Whether the handshake tried MPTCP: a SYN carries MP_CAPABLE, or (seen
/// downstream of a stripping box) a run of NOPs where an option used to
/// be. MP_JOIN subflows and plain TCP handshakes are not judged.
pub fn attempts_mptcp(h: &Handshake) -> bool {
    h.syns.iter().all(|s| s.join.is_none())
        && h.syns
            .iter()
            .any(|s| s.mp_capable.is_some() || s.nop_run >= STRIPPED_NOP_RUN)
}

/// MPTCP versions each server answered with a keyed MP_CAPABLE somewhere
/// in the capture. A SYN/ACK whose key is the one its own SYN carried (a
/// v0 SYN echoed by a reflecting middlebox, seen in the lab's reflect-r2)
/// proves nothing about the server and is left out.
pub fn server_versions(handshakes: &[Handshake]) -> HashMap<SocketAddr, u8> {
    let mut versions = HashMap::new();
    add_server_versions(&mut versions, handshakes);
    versions
}

/// [`server_versions`] of more handshakes, added to `versions` (later
/// handshakes win, as within one call).
pub fn add_server_versions(versions: &mut HashMap<SocketAddr, u8>, handshakes: &[Handshake]) {
    for h in handshakes {
        if let Some(m) = h.syn_ack.as_ref().and_then(|a| a.mp_capable) {
            let reflected = h
                .syns
                .iter()
                .any(|s| s.mp_capable.and_then(|c| c.sender_key()) == m.sender_key());
            if m.sender_key().is_some() && !reflected {
                versions.insert(h.server, m.version);
            }
        }
    }
}

/// A crafted SYN: answered, then reset by the client without a third ACK.
fn is_crafted(h: &Handshake) -> bool {
    h.syn_ack.is_some() && h.third_ack.is_none() && h.reset.is_some_and(|r| !r.by_server)
}

fn answered_syn(h: &Handshake) -> Option<&SynAttempt> {
    match &h.syn_ack {
        Some(sa) => h.syns.iter().rev().find(|s| s.index < sa.index),
        None => h.syns.last(),
    }
}

/// Builds the engine's input for one handshake seen from `side`;
/// `server_version` is what the capture shows the server speaks.
pub fn verdict_input(h: &Handshake, side: Side, server_version: Option<u8>) -> VerdictInput {
    let version = h.syns.iter().find_map(|s| s.mp_capable.map(|m| m.version));
    let client_view = matches!(side, Side::Client | Side::Direct);
    let server_view = matches!(side, Side::Server | Side::Direct);
    let mut input = VerdictInput {
        target: format!("{}", h.server),
        ..Default::default()
    };
    let mut server = ServerReport {
        mptcp_version: server_version,
        ..Default::default()
    };
    let crafted = is_crafted(h) && (client_view || version.is_some());
    if crafted {
        // A raw-socket probe says nothing about this host's kernel, but
        // its sender spoke the version it put in the SYN.
        input.local = LocalHost {
            mptcp_enabled: None,
            mptcp_version: version,
            version_source: VersionSource::Unknown,
            blackhole: None,
        };
        let syn = answered_syn(h).or(h.syns.first());
        let sent = syn.map(|s| OptionArea::new(&s.options)).unwrap_or_default();
        let kind = match version {
            Some(0) => ProbeKind::V0,
            Some(_) => ProbeKind::V1,
            None => ProbeKind::Plain,
        };
        let seq = syn.map_or(0, |s| s.seq);
        let syn_ack = h.syn_ack.as_ref().map(|a| OptionArea::new(&a.options));
        input.probes.push(ProbeResult {
            kind,
            seq,
            sent: sent.clone(),
            answer: match &syn_ack {
                Some(options) => ProbeAnswer::SynAck {
                    options: options.clone(),
                    header: None,
                },
                None => ProbeAnswer::Silence,
            },
        });
        if server_view {
            server.probes.push(ServerProbeSeen {
                seq,
                syn: sent,
                syn_ack_sent: syn_ack,
            });
            server.probes_queried = true;
            input.server = Some(server);
        } else if server_version.is_some() {
            // What the capture shows the server speaks, without its account
            // of this SYN.
            input.server = Some(server);
        }
        return input;
    }
    // On the client, a SYN with MP_CAPABLE proves this host does MPTCP;
    // on the server, the SYN may have lost its option on the way.
    input.local = LocalHost {
        mptcp_enabled: if client_view {
            Some(version.is_some())
        } else {
            None
        },
        mptcp_version: version,
        version_source: VersionSource::Unknown,
        blackhole: None,
    };
    input.kernel = Some(kernel_connection(h, client_view));
    if server_view {
        server_account(h, &mut server);
        input.server = Some(server);
    } else if server_version.is_some() {
        input.server = Some(server);
    }
    input
}

/// TCP_IS_MPTCP as the capture shows it: 1 when the third ACK carries
/// MP_CAPABLE; a SYN/ACK without it settles plain TCP already.
fn is_mptcp(h: &Handshake) -> Option<bool> {
    match (&h.syn_ack, &h.third_ack) {
        (Some(sa), _) if sa.mp_capable.is_none() => Some(false),
        (Some(_), Some(ack)) => Some(ack.mp_capable.is_some()),
        _ => None,
    }
}

/// A handshake as the kernel connection (its SYN as sent only in the
/// client's view).
fn kernel_connection(h: &Handshake, client_view: bool) -> KernelConnection {
    let outcome = if h.syn_ack.is_some() {
        ConnectOutcome::Connected
    } else if h.rst.is_some() {
        ConnectOutcome::Refused
    } else {
        ConnectOutcome::Timeout
    };
    KernelConnection {
        outcome,
        is_mptcp: is_mptcp(h),
        syn_sent: h
            .syns
            .first()
            .filter(|_| client_view)
            .map(|s| OptionArea::new(&s.options)),
        syn_retransmissions: client_view
            .then(|| u32::try_from(h.syns.len().saturating_sub(1)).unwrap_or(u32::MAX)),
    }
}

/// The server's account of a connection, from a capture made there.
fn server_account(h: &Handshake, server: &mut ServerReport) {
    // The SYN the SYN/ACK answered: the one the server accepted.
    server.syn_seen = answered_syn(h).map(|s| OptionArea::new(&s.options));
    server.syn_ack_sent = h.syn_ack.as_ref().map(|a| OptionArea::new(&a.options));
    server.connection_mptcp = is_mptcp(h);
}

/// The side of a run: the kernel connection's, else its first answered
/// member's.
fn run_side(run: &CheckRun, handshakes: &[Handshake]) -> Side {
    let kernel = run.member(Role::Kernel).map(|i| &handshakes[i]);
    let answered = run
        .members
        .iter()
        .map(|m| &handshakes[m.index])
        .find(|h| h.syn_ack.is_some());
    kernel.or(answered).map_or(Side::Client, guess_side)
}

/// The engine's input for a whole check run seen from the client (or on a
/// direct link): the kernel connection, the three probes, and in the
/// direct view the server's account too.
pub fn run_input(
    run: &CheckRun,
    handshakes: &[Handshake],
    side: Side,
    server_version: Option<u8>,
) -> VerdictInput {
    let server_view = side == Side::Direct;
    let kernel = run.member(Role::Kernel).map(|i| &handshakes[i]);
    // What the kernel's own SYN offered is the version this host speaks.
    let version = kernel
        .and_then(|h| h.syns.first())
        .and_then(|s| s.mp_capable)
        .map(|m| m.version);
    let mut input = VerdictInput {
        target: run.server.to_string(),
        local: LocalHost {
            mptcp_enabled: version.map(|_| true),
            mptcp_version: version,
            version_source: VersionSource::Unknown,
            // A capture cannot show the detection's state.
            blackhole: None,
        },
        ..Default::default()
    };
    let mut server = ServerReport {
        mptcp_version: server_version,
        ..Default::default()
    };
    if let Some(h) = kernel {
        input.kernel = Some(kernel_connection(h, true));
        if server_view {
            server_account(h, &mut server);
        }
    }
    for m in &run.members {
        let Role::Probe(kind) = m.role else { continue };
        let h = &handshakes[m.index];
        let Some(syn) = h.syns.first() else { continue };
        let sent = OptionArea::new(&syn.options);
        let syn_ack = h.syn_ack.as_ref().map(|a| OptionArea::new(&a.options));
        input.probes.push(ProbeResult {
            kind,
            seq: syn.seq,
            sent: sent.clone(),
            answer: match &syn_ack {
                Some(options) => ProbeAnswer::SynAck {
                    options: options.clone(),
                    header: None,
                },
                None => ProbeAnswer::Silence,
            },
        });
        if server_view {
            server.probes.push(ServerProbeSeen {
                seq: syn.seq,
                syn: sent,
                syn_ack_sent: syn_ack,
            });
            server.probes_queried = true;
        }
    }
    if server_view || server_version.is_some() {
        input.server = Some(server);
    }
    input
}

/// A run's verdict: judged whole from the client's side (or a direct
/// link); from the server's side, its kernel connection's (else its v1
/// probe's) verdict.
fn judge_run(
    run: &CheckRun,
    handshakes: &[Handshake],
    side: Side,
    versions: &HashMap<SocketAddr, u8>,
) -> Option<Judgement> {
    let side = match side {
        Side::Auto => run_side(run, handshakes),
        other => other,
    };
    let server_version = versions.get(&run.server).copied();
    let mut verdict = if side == Side::Server {
        let h = run
            .member(Role::Kernel)
            .or_else(|| run.member(Role::Probe(ProbeKind::V1)))
            .map(|i| &handshakes[i])?;
        evaluate(&verdict_input(h, side, server_version))
    } else {
        evaluate(&run_input(run, handshakes, side, server_version))
    };
    if run.member(Role::Kernel).is_none() && side != Side::Server {
        verdict.missing.push(
            "the MPTCP version this host speaks: the capture holds check's crafted probes but \
             none of this host's own connections (a v0 router is a version mismatch against a \
             v1 server whatever the probes show)"
                .into(),
        );
    }
    Some(Judgement {
        side,
        verdict: for_capture(verdict),
        run: Some(run.id),
    })
}

/// What the engine asks for, in a capture's terms: a capture cannot be
/// rerun with a privilege or an option, only made again.
fn for_capture(mut verdict: Verdict) -> Verdict {
    for m in &mut verdict.missing {
        if m.contains("CAP_NET_RAW") {
            *m = "crafted probes: the capture holds none (`mptcp-probe check` sends them, with \
                  CAP_NET_RAW)"
                .into();
        } else if m.contains("`--mptcp-version`") {
            *m = "the MPTCP version this host speaks: not in the capture".into();
        }
    }
    verdict
}

/// The verdict on a handshake whose options the snapshot length cut.
fn options_not_captured(h: &Handshake, syn: bool) -> Verdict {
    let what = if syn { "SYN" } else { "SYN/ACK" };
    // The engine's own `inconclusive`, told why.
    let mut v = evaluate(&VerdictInput {
        target: h.server.to_string(),
        ..Default::default()
    });
    v.code = VerdictCode::Inconclusive;
    v.summary = format!(
        "options not captured: the capture's snapshot length cut the {what}'s TCP options, so \
         whether MPTCP was offered{} is unknown",
        if syn { "" } else { " and answered" }
    );
    v.evidence = vec![format!(
        "the {what} was captured only in part (see the note on its frame)"
    )];
    v.missing = vec![format!("the {what}'s TCP options")];
    v.fix = Some(
        "capture whole packets: `tcpdump -s 0` (or a snapshot length of at least 128 bytes)".into(),
    );
    v.rule = "options_not_captured".into();
    v
}

/// The verdict of each handshake (in order), `None` for those that did not
/// try MPTCP; check's handshakes get their run's verdict.
pub fn judge_all(handshakes: &[Handshake], side: Side) -> Vec<Option<Judgement>> {
    judge_with(handshakes, side, &server_versions(handshakes))
}

/// [`judge_all`] with the server versions gathered elsewhere (a capture
/// read as a stream judges its handshakes in batches).
pub fn judge_with(
    handshakes: &[Handshake],
    side: Side,
    versions: &HashMap<SocketAddr, u8>,
) -> Vec<Option<Judgement>> {
    let mut judged: Vec<Option<Judgement>> = handshakes
        .iter()
        .map(|h| {
            let side = match side {
                Side::Auto => guess_side(h),
                other => other,
            };
            if let Status::OptionsNotCaptured { syn } = h.status {
                return Some(Judgement {
                    side,
                    verdict: options_not_captured(h, syn),
                    run: None,
                });
            }
            if !attempts_mptcp(h) {
                return None;
            }
            let input = verdict_input(h, side, versions.get(&h.server).copied());
            Some(Judgement {
                side,
                verdict: for_capture(evaluate(&input)),
                run: None,
            })
        })
        .collect();
    for run in find_runs(handshakes) {
        let Some(j) = judge_run(&run, handshakes, side, versions) else {
            continue;
        };
        for m in &run.members {
            // The plain probe tried no MPTCP: it stays unjudged.
            if let Some(slot) = judged.get_mut(m.index).filter(|s| s.is_some()) {
                *slot = Some(j.clone());
            }
        }
    }
    judged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::flows::{FlowTracker, PacketFacts};
    use packet::mptcp::MpCapable;
    use packet::TcpFlags;

    const SYN: TcpFlags = TcpFlags(0x02);
    const SYN_ACK: TcpFlags = TcpFlags(0x12);

    fn packet(
        index: u64,
        from_client: bool,
        flags: TcpFlags,
        ttl: u8,
        nop_run: usize,
    ) -> PacketFacts {
        let c: SocketAddr = "10.1.0.2:40000".parse().unwrap();
        let s: SocketAddr = "10.2.0.2:6101".parse().unwrap();
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        PacketFacts {
            index,
            ts: index as f64,
            src,
            dst,
            flags,
            seq: 1,
            ack: 0,
            mp_capable: None,
            mp_join: None,
            tcprst_reason: None,
            payload_len: 0,
            any_mptcp: false,
            nop_run,
            options: Vec::new(),
            ttl,
            options_cut: false,
        }
    }

    fn handshake(syn_ttl: u8, syn_ack_ttl: Option<u8>, nop_run: usize) -> Handshake {
        let mut t = FlowTracker::new();
        t.push(&packet(1, true, SYN, syn_ttl, nop_run));
        if let Some(ttl) = syn_ack_ttl {
            t.push(&packet(2, false, SYN_ACK, ttl, 0));
        }
        t.finish().remove(0)
    }

    #[test]
    fn sides_parse_from_their_names() {
        for side in Side::ALL {
            assert_eq!(side.as_str().parse::<Side>(), Ok(side));
            assert!(!side.description().is_empty());
        }
        assert_eq!("middle".parse::<Side>(), Err(UnknownSide("middle".into())));
    }

    #[test]
    fn side_from_ttls() {
        assert_eq!(guess_side(&handshake(64, Some(63), 0)), Side::Client);
        assert_eq!(guess_side(&handshake(63, Some(64), 0)), Side::Server);
        assert_eq!(guess_side(&handshake(64, Some(64), 0)), Side::Direct);
        assert_eq!(guess_side(&handshake(128, Some(255), 0)), Side::Direct);
        // On a router in the middle both have lost hops: the client's view.
        assert_eq!(guess_side(&handshake(62, Some(61), 0)), Side::Client);
        // Unanswered: TTL alone cannot place it (a TTL-limited probe).
        assert_eq!(guess_side(&handshake(3, None, 0)), Side::Client);
    }

    #[test]
    fn only_mp_capable_or_nop_filled_syns_are_judged() {
        assert!(!attempts_mptcp(&handshake(64, Some(64), 0)));
        assert!(!attempts_mptcp(&handshake(64, Some(64), 2)));
        let stripped = handshake(63, Some(64), 4);
        assert!(attempts_mptcp(&stripped));
        let judged = judge_all(&[stripped], Side::Auto);
        assert_eq!(judged[0].as_ref().unwrap().side, Side::Server);
        let mut with_mpc = handshake(64, Some(63), 0);
        with_mpc.syns[0].mp_capable = Some(MpCapable::v1_syn(0x01));
        assert!(attempts_mptcp(&with_mpc));
    }

    #[test]
    fn a_reflected_key_says_nothing_about_the_server() {
        let v0 = |key| MpCapable::v0_syn(key, 0x81);
        let mut h = handshake(64, Some(63), 0);
        h.syns[0].mp_capable = Some(v0(0x1234));
        let answered = |h: &Handshake, key| {
            let mut h = h.clone();
            if let Some(a) = h.syn_ack.as_mut() {
                a.mp_capable = Some(v0(key));
            }
            h
        };
        let server: SocketAddr = "10.2.0.2:6101".parse().unwrap();
        assert_eq!(server_versions(&[answered(&h, 0x1234)]).get(&server), None);
        assert_eq!(
            server_versions(&[answered(&h, 0x5678)]).get(&server),
            Some(&0)
        );
    }

    #[test]
    fn direct_view_fills_both_accounts() {
        let h = handshake(64, Some(64), 4);
        let input = verdict_input(&h, Side::Direct, None);
        assert!(input.kernel.as_ref().unwrap().syn_sent.is_some());
        assert!(input.server.as_ref().unwrap().syn_seen.is_some());
        let client = verdict_input(&h, Side::Client, None);
        assert!(client.server.is_none());
        let server = verdict_input(&h, Side::Server, Some(1));
        assert_eq!(server.kernel.as_ref().unwrap().syn_sent, None);
        assert_eq!(server.server.as_ref().unwrap().mptcp_version, Some(1));
    }
}
