//! `mptcp-probe aggregate HOST [--port 6101] [-i IFACE]... [--duration S]`:
//! does every WAN of this router actually join the MPTCP connection and
//! carry data?
//!
//! 1. The WANs ([`wans`]): `-i`, or every interface with a default route in
//!    any routing table plus every `subflow` endpoint's device, each with
//!    the address its traffic leaves from.
//! 2. With CAP_NET_RAW, first a v1 MP_CAPABLE SYN and a plain SYN over the
//!    route this host picks for HOST (check's probes): a path that drops
//!    MP_CAPABLE SYNs gets no kernel MPTCP connection, since one would trip
//!    the kernel's blackhole detection.
//! 3. One kernel MPTCP connection to the echo server, made the way the
//!    router's own traffic is (its endpoints, limits, routing tables), its
//!    handshake captured ([`capture`]) for both keys; the echo report.
//! 4. On every WAN at once ([`probes`], one thread each): an MP_JOIN SYN
//!    with the server's token and a plain SYN, from the WAN's address
//!    through its interface, to HOST's port only; never a third ACK.
//! 5. Meanwhile the aggregate exchange ([`session`]): data both ways for
//!    `--duration`, then the server's view of its subflows and of the
//!    crafted SYNs; then this host's own subflows.
//! 6. All of it into `engine::aggregate`: one verdict per WAN and a summary
//!    ([`render`]). Exit 0 only for `aggregation_ok`, 1 otherwise, 2 on error.
//!
//! Time: `--duration` plus one `--timeout` at most, however many WANs (a
//! path that drops MP_CAPABLE SYNs costs the timeout instead, with no data
//! phase).
pub mod capture;
pub mod probes;
pub mod render;
pub mod session;
pub mod wans;

use crate::check::adapt::{self, LocalFacts, Observations};
use crate::check::kernel::{self, ConnectSpec, EchoStatus, KernelSession, SetupError};
use crate::check::probes::RawPath;
use crate::cli::GlobalArgs;
use crate::net::error::NetError;
use crate::net::pcap::PcapRecorder;
use crate::net::raw::Deadline;
use crate::net::resolve::FamilyPreference;
use crate::net::source::select_source;
use crate::output::{self, VerbError};
use capture::HandshakeCapture;
use engine::aggregate::join::{server_saw, WanProbes};
use engine::aggregate::keys::HandshakeKeys;
use engine::aggregate::mapping::{endpoint_for, EndpointMatch};
use engine::aggregate::{
    evaluate, validate, AggregateInput, AggregateVerdict, Connection, DataPhase, Handshake,
    JoinResult, KeyTokens, PathManager, ServerSaw, Wan,
};
use packet::echo::{AggregateRequest, JoinRef, FEATURE_AGGREGATE};
use packet::verdict::{ProbeAnswer, ProbeKind};
use probes::{Recorder, WanSockets};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;
use thiserror::Error;
use wans::WanPlan;

/// The longest `--duration` (the echo server grants at most its own limit).
pub const MAX_DURATION_SECS: f64 = 10.0;
/// Bytes asked for each way: enough to fill several subflows' windows on
/// every burst, bounded for a metered link.
pub const MAX_BYTES: u64 = 16 << 20;

#[derive(Debug, clap::Args)]
pub struct AggregateArgs {
    /// Host name or address of the echo server.
    pub host: String,
    /// Port of the echo server.
    #[arg(long, default_value_t = 6101)]
    pub port: u16,
    /// A WAN interface to test (repeatable). Default: every interface with
    /// a default route in any routing table, and every `subflow`
    /// endpoint's device.
    #[arg(short = 'i', long = "interface", value_delimiter = ',')]
    pub interfaces: Vec<String>,
    /// Seconds of data pushed both ways over the MPTCP connection.
    #[arg(long, default_value_t = 2.0)]
    pub duration: f64,
    /// Seconds to wait for the crafted probes' answers (and each echo
    /// exchange).
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// Use IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Write every crafted probe, its answers and the connection's
    /// handshake to this pcap file.
    #[arg(long = "write", value_name = "FILE.pcap")]
    pub write: Option<std::path::PathBuf>,
}

/// Why the verb could not run (exit 2).
#[derive(Debug, Error)]
pub enum AggregateError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Setup(#[from] SetupError),
}

impl VerbError for AggregateError {
    fn fix(&self) -> Option<String> {
        match self {
            AggregateError::Net(e) => e.fix(),
            AggregateError::Setup(SetupError::Device { .. }) => {
                Some("`ip link` lists this host's interfaces".into())
            }
            AggregateError::Setup(_) => None,
        }
    }
}

/// One finished run.
pub struct AggregateRun {
    pub input: AggregateInput,
    pub verdict: AggregateVerdict,
    pub port: u16,
    pub privilege_error: Option<String>,
    pub notes: Vec<String>,
}

fn secs(v: f64, max: f64) -> Duration {
    let v = if v.is_finite() {
        v.clamp(0.0, max)
    } else {
        0.0
    };
    Duration::from_secs_f64(v)
}

/// The raw sockets of a run, opened while CAP_NET_RAW is held.
struct Opened {
    initial: Option<RawPath>,
    capture: Option<HandshakeCapture>,
    wans: Vec<Option<WanSockets>>,
    /// Why no crafted probe can be sent (a missing privilege, with the fix).
    skipped: Option<String>,
}

fn open_raw(wans: &mut [WanPlan], dest: SocketAddr, initial_source: Option<IpAddr>) -> Opened {
    let mut o = Opened {
        initial: None,
        capture: None,
        wans: wans.iter().map(|_| None).collect(),
        skipped: None,
    };
    match RawPath::open(dest.ip(), initial_source, None) {
        Ok(p) => o.initial = Some(p),
        Err(e) => {
            o.skipped = Some(e.to_string());
            return o;
        }
    }
    match HandshakeCapture::open(dest) {
        Ok(c) => o.capture = Some(c),
        Err(e) => o.skipped = Some(format!("cannot capture the handshake: {e}")),
    }
    for (i, w) in wans.iter_mut().enumerate() {
        let Some(source) = w.source.filter(|_| w.error.is_none()) else {
            continue;
        };
        match WanSockets::open(&w.name, source, dest.ip()) {
            Ok(s) => o.wans[i] = Some(s),
            Err(e) => w.error = Some(format!("cannot send through {}: {e}", w.name)),
        }
    }
    o
}

/// Phase 1's answer: MP_CAPABLE SYNs lost while a plain SYN is answered.
fn drops_mp_capable(results: &[packet::verdict::ProbeResult]) -> bool {
    let answer = |k| results.iter().find(|r| r.kind == k).map(|r| &r.answer);
    matches!(answer(ProbeKind::V1), Some(ProbeAnswer::Silence))
        && answer(ProbeKind::Plain).is_some_and(ProbeAnswer::is_answer)
}

fn resolve(args: &AggregateArgs) -> Result<SocketAddr, NetError> {
    let preference = FamilyPreference::from_flags(args.ipv4, args.ipv6);
    crate::net::resolve::resolve(&args.host, preference).map(|ip| SocketAddr::new(ip, args.port))
}

/// Runs `aggregate` and returns what it found.
pub fn aggregate(args: &AggregateArgs) -> Result<AggregateRun, AggregateError> {
    let started = std::time::Instant::now();
    crate::net::privileges::lower_effective()?;
    let timeout = secs(args.timeout, 60.0).max(Duration::from_millis(50));
    let duration = secs(args.duration, MAX_DURATION_SECS);
    let dest = resolve(args)?;
    let target = format!("{}:{}", args.host, args.port);
    let readiness = host::read_readiness(&host::ReadinessOptions::default());
    let initial_source = select_source(dest.ip(), None, None).ok();
    let (mut plans, mut notes) = wans::discover(
        &args.interfaces,
        dest.ip(),
        &readiness.endpoints,
        initial_source,
    )?;
    let opened = open_raw(&mut plans, dest, initial_source);
    if opened.initial.is_some() {
        crate::net::privileges::drop_all()?;
    }
    let recorder: Option<Recorder> = match &args.write {
        Some(path) => Some(Mutex::new(PcapRecorder::create(path)?)),
        None => None,
    };
    // Phase 1: does the initial path take MP_CAPABLE at all?
    let mut phase1 = Vec::new();
    if let Some(path) = &opened.initial {
        let mut guard = recorder
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(|p| p.into_inner()));
        match path.run(dest, &Deadline::after(timeout), guard.as_deref_mut()) {
            Ok(r) => phase1 = r,
            Err(e) => notes.push(format!("the MP_CAPABLE probes failed: {e}")),
        }
    }
    let local = LocalFacts {
        mptcp_socket: None,
        readiness: readiness.clone(),
        user_version: None,
    };
    let mut observations = Observations {
        target: target.clone(),
        probes: phase1.clone(),
        ..Default::default()
    };
    let mut session: Option<KernelSession> = None;
    if drops_mp_capable(&phase1) {
        notes.push(
            "the initial path drops SYNs with MP_CAPABLE: no kernel MPTCP connection was opened \
             (it would trip this host's blackhole detection and disable MPTCP for a while)"
                .into(),
        );
    } else {
        let fallback = readiness
            .sysctls
            .get("syn_retrans_before_tcp_fallback")
            .and_then(|v| v.trim().parse().ok());
        let spec = ConnectSpec {
            dest,
            interface: None,
            source: opened.initial.as_ref().map(|p| p.source).or(initial_source),
            timeout,
            mptcp_connect_timeout: kernel::fallback_wait(fallback),
        };
        session = Some(kernel::connect(&spec, kernel::Purpose::MptcpEcho)?);
    }
    let mut local_facts = local;
    let mut keys: Option<HandshakeKeys> = None;
    if let Some(s) = session.as_mut() {
        local_facts.mptcp_socket = Some(s.mptcp_refused.is_none());
        notes.append(&mut s.notes);
        observations.kernel = Some(s.facts.clone());
        observations.report = s.report.clone();
        if let (Some(c), Some(l)) = (&opened.capture, s.local_addr) {
            let (found, packets) = c.keys(l, dest, Duration::from_millis(300));
            if let Some(r) = &recorder {
                let mut r = r.lock().unwrap_or_else(|p| p.into_inner());
                // The connection's own segments: the capture also saw the
                // MP_CAPABLE probes, which are recorded already.
                let own = |p: &[u8]| {
                    packet::ip::parse_ip_tcp(p)
                        .is_ok_and(|s| s.src_port == l.port() || s.dst_port == l.port())
                };
                for (at, p) in packets.iter().filter(|(_, p)| own(p)) {
                    let _ = r.record(*at, p);
                }
            }
            match found {
                Ok(k) => keys = Some(k),
                Err(e) => notes.push(format!("the connection's keys are unknown: {e}")),
            }
        }
        if s.echo == EchoStatus::Report && !phase1.is_empty() {
            let seqs: Vec<u32> = phase1.iter().map(|p| p.seq).collect();
            match s.query(&seqs, timeout) {
                Ok(a) => observations.answer = Some(a),
                Err(e) => notes.push(format!(
                    "the echo server did not answer the query for the MP_CAPABLE probes: {e}"
                )),
            }
        }
    }
    drop(opened.capture);
    let mut adapted = adapt::verdict_input(&local_facts, &observations);
    notes.append(&mut adapted.notes);
    let v = packet::verdict::evaluate(&adapted.input);
    let handshake = Handshake {
        verdict: v.code.as_str().to_string(),
        summary: v.summary.clone(),
        fix: v.fix.clone(),
        evidence: v.evidence.clone(),
    };
    let mptcp = session
        .as_ref()
        .is_some_and(|s| s.facts.is_mptcp == Some(true));
    let speaks_aggregate = session.as_ref().is_some_and(|s| {
        s.report
            .as_ref()
            .is_some_and(|r| r.features.iter().any(|f| f == FEATURE_AGGREGATE))
    });

    // Phase 2: the joins on every WAN, the data phase meanwhile.
    let mut probes_skipped = opened.skipped.clone();
    let privilege_error = opened.skipped.clone();
    let token = keys.map(|k| k.server_token());
    if probes_skipped.is_none() {
        if !mptcp {
            probes_skipped = Some("no MPTCP connection to join".into());
        } else if token.is_none() {
            probes_skipped = Some("the connection's keys could not be captured".into());
        }
    }
    let mut planned: Vec<Option<WanProbes>> = plans.iter().map(|_| None).collect();
    if let (Some(token), None) = (token, &probes_skipped) {
        for (i, ws) in opened.wans.iter().enumerate() {
            let Some(ws) = ws else { continue };
            let addr_id = match endpoint_for(&wan_facts(&plans[i]), &readiness.endpoints) {
                EndpointMatch::Exact(e) => e.id.unwrap_or(0),
                _ => 0,
            };
            match ws.plan(dest, token, addr_id) {
                Ok(p) => planned[i] = Some(p),
                Err(e) => plans[i].error = Some(e.to_string()),
            }
        }
    }
    let joins: Vec<JoinRef> = planned
        .iter()
        .flatten()
        .flat_map(|p| {
            p.keys.iter().map(|k| JoinRef {
                source: k.src.to_string(),
                seq: k.seq,
            })
        })
        .collect();
    let mut data = DataPhase::default();
    let mut result = None;
    let mut local_view = (Vec::new(), None, None);
    let finished: Vec<Option<Result<WanProbes, NetError>>> = std::thread::scope(|scope| {
        // One timeout from the start of the run, so that the whole run stays
        // within --duration + --timeout; but never less than half of it for
        // the probes themselves.
        let deadline = Deadline::after(
            (started + timeout)
                .saturating_duration_since(std::time::Instant::now())
                .max(timeout / 2),
        );
        let handles: Vec<_> = planned
            .into_iter()
            .zip(&opened.wans)
            .map(|(p, ws)| {
                let (p, ws) = (p?, ws.as_ref()?);
                let recorder = recorder.as_ref();
                Some(scope.spawn(move || ws.run(p, &deadline, recorder)))
            })
            .collect();
        if let Some(s) = session.as_mut().filter(|_| mptcp) {
            if let Some(conn) = s.conn_mut() {
                if speaks_aggregate {
                    let req = AggregateRequest::new(
                        u32::try_from(duration.as_millis()).unwrap_or(u32::MAX),
                        MAX_BYTES,
                        joins,
                    );
                    let ex = session::exchange(conn, &req, timeout);
                    data = DataPhase {
                        ran: ex.start.as_ref().is_some_and(|s| s.duration_ms > 0) && ex.sent > 0,
                        duration_ms: u32::try_from(ex.elapsed.as_millis()).unwrap_or(u32::MAX),
                        sent: ex.sent,
                        received: ex.received,
                        note: ex.start.as_ref().and_then(|s| s.note.clone()),
                    };
                    notes.extend(ex.problems);
                    result = ex.result;
                } else {
                    data.note = Some(
                        "the echo server predates the aggregate exchange (upgrade \
                         mptcp-probe-server): no data was pushed"
                            .into(),
                    );
                    // Let the kernel's joins complete before reading them.
                    std::thread::sleep(duration);
                }
                local_view = session::local_subflows(conn.raw_parts().0);
            }
        }
        handles
            .into_iter()
            .map(|h| {
                h.map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(NetError::io(
                            "probe thread",
                            std::io::Error::other("panicked"),
                        ))
                    })
                })
            })
            .collect()
    });
    if let Some(r) = recorder {
        let r = r.into_inner().unwrap_or_else(|p| p.into_inner());
        r.finish()?;
    }

    // Everything into the engine.
    let report = session.as_ref().and_then(|s| s.report.clone());
    let server = report
        .as_ref()
        .map(|r| validate::server_side(r, result.as_ref(), &mut notes));
    let observed = result.as_ref().map(|r| r.joins.as_slice());
    // Joins the server may have lost: its capture dropped packets, or its
    // store evicted some of the named SYNs.
    let lost = result
        .as_ref()
        .map_or(0, |r| r.capture_drops.saturating_add(r.displaced));
    let wans: Vec<Wan> = plans
        .iter()
        .zip(finished)
        .map(|(plan, done)| {
            let mut w = wan_facts(plan);
            match done {
                Some(Ok(p)) => {
                    if let Some(k) = &keys {
                        w.join = Some(JoinResult {
                            answer: p.join_answer(k),
                            server_saw: if speaks_aggregate {
                                server_saw(observed, lost, &p.keys[0], p.token, p.nonce)
                            } else {
                                ServerSaw::Unknown
                            },
                        });
                    }
                    w.plain = Some(p.plain_answer());
                }
                Some(Err(e)) => w.error = Some(format!("the crafted probes failed: {e}")),
                None => {}
            }
            w
        })
        .collect();
    let (subflows, subflow_source, info) = local_view;
    let connection = session.as_ref().and_then(|s| {
        Some(Connection {
            local: s.local_addr?,
            remote: dest,
            mptcp,
            token: info.and_then(|i| i.token),
            subflows_max: info.and_then(|i| i.subflows_max),
            info_subflows: info.and_then(|i| i.subflows),
            subflows,
            subflow_source,
            keys: keys.map(|k| KeyTokens {
                client: k.client_token(),
                server: k.server_token(),
            }),
        })
    });
    if let Some(s) = session.as_ref() {
        if let EchoStatus::NotEcho(why) | EchoStatus::ServerError { message: why, .. } = &s.echo {
            notes.push(format!("no echo server report: {why}"));
        }
    }
    let input = AggregateInput {
        target,
        address: dest.ip(),
        wans,
        local: PathManager {
            limits: readiness.limits,
            endpoints: readiness.endpoints.clone(),
        },
        handshake,
        connection,
        server,
        data,
        probes_skipped,
    };
    let verdict = evaluate(&input);
    notes.extend(verdict.notes.iter().cloned());
    Ok(AggregateRun {
        input,
        verdict,
        port: args.port,
        privilege_error,
        notes,
    })
}

/// A WAN as the engine takes it, before its probes' results.
fn wan_facts(plan: &WanPlan) -> Wan {
    Wan {
        interface: plan.name.clone(),
        ifindex: plan.ifindex,
        source: plan.source,
        initial: plan.initial,
        tables: plan.tables.clone(),
        join: None,
        plain: None,
        error: plan.error.clone(),
    }
}

pub fn run(args: &AggregateArgs, global: &GlobalArgs) -> ExitCode {
    match aggregate(args) {
        Ok(run) => {
            if let Some(why) = &run.privilege_error {
                eprintln!("mptcp-probe aggregate: no crafted MP_JOIN probes: {why}");
            }
            if global.json {
                for line in render::path_lines(&run) {
                    output::print_line(&line);
                }
                output::print_line(&render::summary_line(&run));
            } else {
                print!("{}", render::text(&run));
            }
            ExitCode::from(u8::try_from(run.verdict.summary.exit_code).unwrap_or(2))
        }
        Err(e) => output::fail("aggregate", global.json, &e),
    }
}
