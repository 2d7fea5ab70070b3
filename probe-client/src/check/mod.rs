//! `mptcp-probe check HOST [--port 6101] [--echo-port E] [--mptcp-version 0|1]`:
//! does MPTCP work end to end to HOST, and if not, why.
//!
//! Without privileges: one connection made by this host's kernel
//! (IPPROTO_MPTCP; plain TCP when the kernel refuses MPTCP, which is itself
//! the finding), the echo server's report on it, and the local socket's
//! `TCP_IS_MPTCP` and SYN retransmissions. With CAP_NET_RAW also crafted
//! SYNs (v1 MP_CAPABLE, v0 MP_CAPABLE, plain), one source port each,
//! matched to their answers and to the echo server's observations.
//! Everything observed goes through [`adapt`] into the verdict engine
//! (`packet::verdict`). `-i` is repeatable: one verdict per interface.
//!
//! Do no harm: the crafted probes go first. When they show MP_CAPABLE SYNs
//! in the kernel's version lost (or reset) while the plain SYN passes, the
//! kernel's MPTCP connection is not made ([`adapt::kernel_plan`]): its SYNs
//! would be lost too, and once its plain retry got through the kernel's
//! blackhole detection would turn MPTCP off for every new connection of
//! the host for `net.mptcp.blackhole_timeout` seconds. The echo server is
//! then asked over a plain TCP connection, as it is when the MPTCP
//! connection failed (no answer, an ICMP error, or an echo exchange that
//! failed on an MPTCP connection). The `MPTcpExt Blackhole` counter is read
//! before and after ([`blackhole`]); when it rose, the output says so
//! first, and the detection is reset where this process may write the
//! sysctl (uid 0), else the reset command is given.
//!
//! `--echo-port E`: the kernel connection (connect only, nothing sent) and
//! the probes go to `--port`, a real service the echo server on E watches
//! (`mptcp-probe-server --watch PORT`); the echo server is asked over a
//! plain TCP connection to E.
//!
//! Timing: `--timeout` bounds the wait for the crafted probes' answers and
//! each echo exchange as a whole (the report, the probes' account), however
//! the server sends its bytes; one path takes at most the connect, then
//! three times `--timeout`. The kernel connection's connect alone may wait
//! longer, up to `net.mptcp.syn_retrans_before_tcp_fallback` + 2 seconds
//! (4 s by default): only then has the kernel retried without MP_CAPABLE,
//! and that late plain connection is what tells a path that drops
//! MP_CAPABLE SYNs from a dead host when no crafted probe can be sent.
//! A path that works connects in one round trip and never waits.
//!
//! # Output
//! Text: warnings first, then the verdict code and its one-line summary,
//! the evidence, the hop range (if any), the fix, what is missing, notes,
//! then what the echo server saw: each SYN's options as sent and as they
//! arrived, and the SYN/ACK the server's host sent.
//!
//! `--format omr-status`: one line per interface, `MPTCP enabled`,
//! `MPTCP disabled` or nothing (see [`omr`]), for OpenMPTCProuter's
//! status page; default `--timeout` 1 s, and the kernel connection waits no
//! longer than that either.
//!
//! `--json`: one JSON object per line, one line per interface (one line when
//! no `-i` is given). Fields (stable; fields may be added, never renamed):
//! - `verdict`: the code (`mptcp_ok`, `stripped_upstream`,
//!   `stripped_downstream`, `option_modified`, `syn_dropped`,
//!   `echoing_middlebox`, `version_mismatch`, `server_mptcp_disabled`,
//!   `local_mptcp_disabled`, `unreachable`, `inconclusive`), or `error`
//!   when the check could not run on that path (see below);
//! - `summary` (one line), `evidence` (list of lines), `hop_range`
//!   (`{"last_with":{"ttl","addr"}|null,"first_without":{...}|null}`, only
//!   when located), `fix` (only when there is one), `missing` (list, only
//!   when not empty), `rule` (the engine rule that decided);
//! - `direction`: `upstream`, `downstream` or null (which way the
//!   handshake was lost, where the verdict is such a loss and the evidence
//!   tells); `middlebox`: `tcp_proxy`, `option_stripper`,
//!   `option_reflector`, `option_rewriter`, `option_dropper` or null (the
//!   kind of box blamed);
//! - `exit_code`: 0 (`mptcp_ok`), 1 (any other verdict), 2 (error);
//! - `target` (`HOST:PORT` as given), `address` (the resolved IP address),
//!   `port`, `interface` (string or null), `source` (the kernel
//!   connection's local address `IP:PORT`, or null);
//! - `privileged`: whether crafted probes were sent (CAP_NET_RAW);
//!   `privilege_error`: why not, or null;
//! - `echo`: `report` (an echo server answered), `not_connected`,
//!   `not_echo` (something else answered or nothing did) or
//!   `server_error`; `echo_detail`: why, or null; `echo_port`: the echo
//!   server's port; `echo_via`: `kernel_connection`, `plain_tcp` (the
//!   report came over a plain TCP connection) or null (no report);
//! - `kernel_skipped`: why the kernel's MPTCP connection was not made, or
//!   null;
//! - `warnings`: lines to read first (printed first in text): the kernel's
//!   blackhole detection tripped during the check, and whether it was
//!   reset; `blackhole`: `{"before","after","tripped","reset":
//!   {"result":"restored","value"}|{"result":"failed","error"}|null}` (the
//!   `MPTcpExt Blackhole` counter; null where unreadable);
//! - `notes`: list of lines: what was left out of the verdict and why
//!   (a kernel connection in another MPTCP version than `--mptcp-version`,
//!   or one whose SYN the kernel's blackhole detection sent without
//!   MP_CAPABLE), a local kernel that refused IPPROTO_MPTCP, an echo
//!   server that did not answer the probe query;
//! - `input`: the verdict engine's input (`packet::verdict::VerdictInput`:
//!   `target`, `local`, `kernel`, `probes`, `server`, `trace`; option areas
//!   as hex), so a run can be replayed through the engine;
//! - `report`: the echo server's report as received (the fields of the
//!   echo protocol's `report` message, `packet::echo::EchoReport`, without
//!   its `type`; each segment's `options` in the JSON form of `analyze`, or
//!   in the older `{"kind","len","name","text","hex"}` form when the server
//!   predates it), or null; `answer`: its answer about the crafted probes
//!   (`observations`), or null.
//!
//! A path the check could not run on (name not resolved, interface or
//! source address unusable, the echo server broke the protocol) still gets
//! its line: every verb's error object
//! `{"type":"error","error":"...","fix":"..."|null}` with, for this path,
//! `"verdict":"error"`, `"exit_code":2`, `target` and `interface` (the other
//! paths' lines follow as usual). An error that ends the whole verb (the
//! `--write` file) prints the error object alone.
//!
//! # Exit codes
//! 0 MPTCP works end to end (every interface), 1 it does not (on at least
//! one), 2 the check could not run (bad arguments, name not resolved,
//! interface or source address unusable) or the echo server broke the
//! echo protocol (an answer cut off, endless, malformed or not the one
//! asked for, or a report that is not evidence: see
//! [`engine::validate`]); that is not a verdict about MPTCP.
// The pure adapter lives in the engine; `check::adapt` stays its name here.
pub use engine::check as adapt;
pub mod blackhole;
pub mod error;
pub mod kernel;
pub mod omr;
pub mod probes;
pub mod render;

use crate::cli::{GlobalArgs, NetArgs};
use crate::echo_client::EchoError;
use crate::net::error::NetError;
use crate::net::pcap::PcapRecorder;
use crate::net::raw::Deadline;
use crate::net::resolve::FamilyPreference;
use crate::net::source::select_source;
use crate::output;
use adapt::{KernelPlan, LocalFacts, Observations};
use blackhole::{BlackholeState, BlackholeWatch};
use error::{CheckError, ProbesSkipped};
use kernel::{ConnectSpec, EchoStatus, Purpose};
use packet::verdict::ConnectOutcome;
use probes::RawPath;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Host name or address of the echo server (or of any TCP server):
    /// HOST, HOST:PORT or [IPV6]:PORT (a port here is used instead of
    /// --port; a different --port too is an error).
    pub host: String,
    /// Port to check: the echo server's, or with --echo-port the real
    /// service's (the tunnel's, say).
    #[arg(long, default_value_t = 6101)]
    pub port: u16,
    /// Port of the echo server when it is not --port: the kernel
    /// connection and the crafted probes go to --port, and the echo server
    /// on this port (started with `--watch PORT`) says what arrived there.
    #[arg(long = "echo-port")]
    pub echo_port: Option<u16>,
    /// MPTCP version this host (the router) speaks: 0 (out-of-tree -mptcp
    /// kernel) or 1 (upstream). Default: read from the local kernel.
    #[arg(long = "mptcp-version", value_parser = clap::value_parser!(u8).range(0..=1))]
    pub mptcp_version: Option<u8>,
    /// Output format (`--json` overrides it).
    #[arg(long, value_enum, default_value_t = omr::CheckFormat::Text)]
    pub format: omr::CheckFormat,
    #[command(flatten)]
    pub net: NetArgs,
}

/// One finished check (one interface).
pub struct CheckRun {
    pub target: String,
    /// The address and port probed (the service's with `--echo-port`).
    pub dest: SocketAddr,
    /// The echo server's port (`dest`'s unless `--echo-port`).
    pub echo_port: u16,
    pub interface: Option<String>,
    /// Why it was not made (the crafted probes showed it would do harm).
    pub kernel_skipped: Option<String>,
    /// How the echo exchange went, and over which connection a report came.
    pub echo: EchoStatus,
    pub echo_via: Option<EchoVia>,
    /// This host's end of the kernel connection (else of the echo
    /// connection).
    pub source: Option<SocketAddr>,
    pub observations: Observations,
    pub adapted: adapt::Adapted,
    pub verdict: packet::verdict::Verdict,
    /// Why the crafted probes did not run (the message carries the fix).
    pub privilege_error: Option<ProbesSkipped>,
    pub privileged: bool,
    /// The kernel's blackhole detection before and after the check.
    pub blackhole: BlackholeState,
    /// What the user must read first: harm this check did to the host.
    pub warnings: Vec<String>,
}

/// Which connection the echo server's report came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EchoVia {
    /// The kernel's MPTCP connection (the default).
    KernelConnection,
    /// A plain TCP connection: made instead of an MPTCP connection that
    /// would have done harm, after one that failed, or to `--echo-port`.
    PlainTcp,
}

/// Resolves HOST to one address of the wanted family (`-4`/`-6`, and the
/// family of `--source`).
pub fn resolve(host: &str, port: u16, net: &NetArgs) -> Result<SocketAddr, NetError> {
    let mut preference = FamilyPreference::from_flags(net.ipv4, net.ipv6);
    if preference == FamilyPreference::Any {
        if let Some(source) = net.source {
            preference = if source.is_ipv4() {
                FamilyPreference::V4
            } else {
                FamilyPreference::V6
            };
        }
    }
    crate::net::resolve::resolve(host, preference).map(|ip| SocketAddr::new(ip, port))
}

/// One path to check: where, through which interface, and the raw sockets
/// when they could be opened (or why not).
pub struct PathPlan {
    pub dest: SocketAddr,
    pub interface: Option<String>,
    /// The address every packet of this path leaves from (see
    /// `net::source::select_source`); `None` when none could be chosen
    /// (the kernel connection then tries without one and reports why).
    pub source: Option<IpAddr>,
    pub raw: Result<RawPath, ProbesSkipped>,
}

/// Runs the check on one path: the crafted probes first (when the raw
/// sockets opened), then the kernel's MPTCP connection unless the probes
/// show it would lose its SYNs (see [`adapt::kernel_plan`]), then the echo
/// server's account, over a plain TCP connection when the MPTCP one was
/// not made or failed, or when the echo server listens on `--echo-port`.
pub fn check_one<W: Write>(
    args: &CheckArgs,
    plan: PathPlan,
    recorder: Option<&mut PcapRecorder<W>>,
) -> Result<CheckRun, CheckError> {
    let PathPlan {
        dest,
        interface,
        source,
        raw,
    } = plan;
    let watch = BlackholeWatch::start();
    let readiness = host::read_readiness(&host::ReadinessOptions::default());
    let timeout = Duration::from_secs_f64(args.net.timeout.max(0.05));
    let fallback_retries = readiness
        .sysctls
        .get("syn_retrans_before_tcp_fallback")
        .and_then(|v| v.trim().parse().ok());
    // OpenMPTCProuter's status page cannot wait for the kernel's fallback:
    // there the crafted probes (it runs as root) tell a dropping path.
    let mptcp_connect_timeout = match args.format {
        omr::CheckFormat::OmrStatus => timeout,
        omr::CheckFormat::Text => kernel::fallback_wait(fallback_retries),
    };
    let echo_port = args.echo_port.unwrap_or(dest.port());
    let separate_echo = echo_port != dest.port();
    let spec = ConnectSpec {
        dest,
        interface: interface.clone(),
        mptcp_connect_timeout,
        // The crafted probes leave from the selected source: the kernel
        // connection must too, since the echo server shows a client only
        // the SYNs from the address its query comes from, and policy
        // routing (`ip rule from ADDR`) must send both the same way.
        source: raw
            .as_ref()
            .map(|r| r.source)
            .ok()
            .or(source)
            .or(args.net.source),
        timeout,
    };
    // Before our own connections can change it (the probe sends nothing).
    let blackhole = kernel::blackhole_probe();
    let echo_spec = ConnectSpec {
        dest: SocketAddr::new(dest.ip(), echo_port),
        ..spec.clone()
    };
    let mut local = LocalFacts {
        mptcp_socket: None,
        readiness,
        user_version: args.mptcp_version,
    };
    let target = crate::target::host_port(&args.host, args.port);

    // 1. The crafted probes, before anything of the kernel's.
    let mut probes = Vec::new();
    let mut privilege_error = None;
    let mut privileged = false;
    match raw {
        Ok(path) => match path.run(dest, &Deadline::after(timeout), recorder) {
            Ok(results) => {
                probes = results;
                privileged = true;
            }
            Err(e) => privilege_error = Some(ProbesSkipped::Failed(e)),
        },
        Err(why) => privilege_error = Some(why),
    }

    // 2. The kernel's MPTCP connection, unless the probes show it would
    // lose its SYNs and trip the blackhole detection.
    let mut notes = Vec::new();
    // A kernel that refuses MPTCP sockets connects with plain TCP, which
    // harms nothing (and is itself the finding).
    let refused = kernel::mptcp_socket_refused(dest);
    let plan = match refused {
        Some(_) => KernelPlan::Mptcp,
        None => adapt::kernel_plan(&probes, local.kernel_version()),
    };
    let (mut kernel_session, kernel_skipped) = match plan {
        KernelPlan::Mptcp => {
            let purpose = if separate_echo {
                Purpose::MptcpOnly
            } else {
                Purpose::MptcpEcho
            };
            let mut session = kernel::connect(&spec, purpose)?;
            if let Some(error) = session.broken.take() {
                return Err(NetError::EchoProtocol {
                    server: dest,
                    error: Box::new(error),
                }
                .into());
            }
            (Some(session), None)
        }
        KernelPlan::PlainInstead(why) => (None, Some(why)),
    };
    local.mptcp_socket = Some(match &kernel_session {
        Some(k) => k.mptcp_refused.is_none(),
        None => refused.is_none(),
    });
    if let Some(k) = kernel_session.as_mut() {
        notes.append(&mut k.notes);
    }
    notes.extend(kernel_skipped.iter().cloned());

    // 3. The echo server's account: over the kernel connection, else over
    // plain TCP.
    // OpenMPTCProuter's status page has about a second: after a kernel
    // connection that timed out, a plain retry over the same path would
    // double the wait for an account the probes already gave.
    let omr_timed_out = args.format == omr::CheckFormat::OmrStatus
        && kernel_session
            .as_ref()
            .is_some_and(|k| k.facts.outcome == ConnectOutcome::Timeout);
    let needs_plain = separate_echo
        || (!omr_timed_out
            && kernel_session
                .as_ref()
                .is_none_or(kernel::KernelSession::worth_a_plain_retry));
    let mut echo_session = if needs_plain {
        let mut session = kernel::connect(&echo_spec, Purpose::PlainEcho)?;
        if let Some(error) = session.broken.take() {
            return Err(NetError::EchoProtocol {
                server: echo_spec.dest,
                error: Box::new(error),
            }
            .into());
        }
        Some(session)
    } else {
        None
    };
    if let (Some(k), Some(e), false) = (&kernel_session, &echo_session, separate_echo) {
        if e.has_report() {
            notes.push(format!(
                "the MPTCP connection to the echo server failed ({}); the echo server was asked \
                 over plain TCP instead",
                failure(k)
            ));
        }
    }
    let via = match (&kernel_session, &echo_session) {
        (Some(k), _) if k.has_report() => Some(EchoVia::KernelConnection),
        (_, Some(e)) if e.has_report() => Some(EchoVia::PlainTcp),
        _ => None,
    };
    let echo = match (via, &kernel_session, &echo_session) {
        (Some(_), _, _) => EchoStatus::Report,
        (None, Some(k), _) if !separate_echo => k.echo.clone(),
        (None, _, Some(e)) => e.echo.clone(),
        _ => EchoStatus::NotConnected,
    };
    let kernel_facts = kernel_session.as_ref().map(|k| k.facts.clone());
    let mut asked = match via {
        Some(EchoVia::KernelConnection) => kernel_session.as_mut(),
        Some(EchoVia::PlainTcp) => echo_session.as_mut(),
        None => None,
    };
    let mut observations = Observations {
        target: target.clone(),
        kernel: kernel_facts,
        report: asked.as_ref().and_then(|s| s.report.clone()),
        probes,
        report_over_plain_tcp: via == Some(EchoVia::PlainTcp) && !separate_echo,
        watched_port: separate_echo.then_some(dest.port()),
        report_local: asked.as_ref().and_then(|s| s.local_addr),
        blackhole,
        ..Default::default()
    };
    if let (Some(session), false) = (asked.as_mut(), observations.probes.is_empty()) {
        match query_probes(session, &observations.probes, timeout) {
            Ok(answer) => {
                if separate_echo && answer.observations.is_empty() {
                    notes.push(format!(
                        "the echo server saw none of the crafted SYNs to port {}: is it started \
                         with `--watch {}`?",
                        dest.port(),
                        dest.port()
                    ));
                }
                for w in &answer.warnings {
                    notes.push(format!("echo server: {w}"));
                }
                observations.answer = Some(answer);
            }
            Err(EchoError::Protocol(error)) => {
                return Err(NetError::EchoProtocol {
                    server: SocketAddr::new(dest.ip(), echo_port),
                    error: Box::new(error),
                }
                .into())
            }
            Err(e) => notes.push(format!(
                "the echo server did not answer the query for the crafted probes: {e}"
            )),
        }
    }

    // 4. Do no harm: did the detection trip, and was it reset?
    let blackhole = watch.finish();
    let mut warnings: Vec<String> = blackhole.warning().into_iter().collect();
    if warnings.is_empty()
        && blackhole.after.is_none()
        && kernel_session.as_ref().is_some_and(|k| lost_syns(&k.facts))
    {
        warnings.push(blackhole::blind_warning());
    }

    let mut adapted = adapt::verdict_input(&local, &observations);
    adapted.notes.append(&mut notes);
    let mut verdict = packet::verdict::evaluate(&adapted.input);
    if let Some(report) = &observations.report {
        engine::listener::amend(&mut verdict, report);
    }
    adapted
        .notes
        .extend(adapt::v0_ignored_note(&adapted.input, &verdict));
    let source = kernel_session
        .as_ref()
        .and_then(|k| k.local_addr)
        .or_else(|| echo_session.as_ref().and_then(|e| e.local_addr));
    Ok(CheckRun {
        target,
        dest,
        echo_port,
        interface,
        kernel_skipped,
        echo,
        echo_via: via,
        source,
        observations,
        adapted,
        verdict,
        privilege_error,
        privileged,
        blackhole,
        warnings,
    })
}

/// How an MPTCP connection to the echo server failed, in words.
fn failure(k: &kernel::KernelSession) -> String {
    match &k.echo {
        EchoStatus::NotConnected => match k.facts.outcome {
            ConnectOutcome::Timeout => "no answer to its SYNs".into(),
            ConnectOutcome::Unreachable => "an ICMP error answered its SYNs".into(),
            ConnectOutcome::Refused => "refused".into(),
            ConnectOutcome::Connected => "not connected".into(),
        },
        EchoStatus::NotEcho(why) => format!("connected, then {why}"),
        EchoStatus::ServerError { code, .. } => format!("echo server error {code}"),
        EchoStatus::Report => "it did not".into(),
    }
}

/// The kernel connection lost SYNs (retransmitted them, or got nothing).
fn lost_syns(k: &adapt::KernelFacts) -> bool {
    k.mptcp_socket
        && (k.syn_retransmissions.unwrap_or(0) > 0 || k.outcome == ConnectOutcome::Timeout)
}

/// Asks the echo server how the crafted probes arrived. One query: the
/// server reads everything its capture socket holds before answering, and
/// the probes were answered (so captured) before the query was sent.
fn query_probes(
    session: &mut kernel::KernelSession,
    probes: &[packet::verdict::ProbeResult],
    timeout: Duration,
) -> Result<packet::echo::ProbeAnswer, EchoError> {
    let seqs: Vec<u32> = probes.iter().map(|p| p.seq).collect();
    session.query(&seqs, timeout)
}

/// Resolves and opens the raw sockets of every path first: CAP_NET_RAW is
/// needed only for that, and every capability is dropped right after.
fn plan_paths(args: &CheckArgs) -> Vec<(Option<String>, Result<PathPlan, CheckError>)> {
    let interfaces: Vec<Option<String>> = if args.net.interfaces.is_empty() {
        vec![None]
    } else {
        args.net.interfaces.iter().cloned().map(Some).collect()
    };
    let plans: Vec<_> = interfaces
        .into_iter()
        .map(|interface| {
            let plan = resolve(&args.host, args.port, &args.net)
                .map(|dest| {
                    let source =
                        select_source(dest.ip(), args.net.source, interface.as_deref()).ok();
                    let raw =
                        RawPath::open(dest.ip(), source.or(args.net.source), interface.as_deref())
                            .map_err(ProbesSkipped::opening);
                    PathPlan {
                        dest,
                        interface: interface.clone(),
                        source,
                        raw,
                    }
                })
                .map_err(CheckError::from);
            (interface, plan)
        })
        .collect();
    if plans
        .iter()
        .any(|(_, p)| p.as_ref().is_ok_and(|p| p.raw.is_ok()))
    {
        if let Err(e) = crate::net::privileges::drop_all() {
            eprintln!("mptcp-probe check: warning: could not drop privileges: {e}");
        }
    }
    plans
}

pub fn run(args: &CheckArgs, global: &GlobalArgs) -> ExitCode {
    let target = crate::target::host_port(&args.host, args.port);
    let plans = plan_paths(args);
    let mut recorder = match &args.net.write {
        Some(path) => match PcapRecorder::create(path) {
            Ok(r) => Some(r),
            Err(e) => return output::fail("check", global.json, &CheckError::from(e)),
        },
        None => None,
    };
    let mut worst = 0u8;
    let mut privilege_said = false;
    for (interface, plan) in plans {
        let result = plan.and_then(|plan| check_one(args, plan, recorder.as_mut()));
        let code = match result {
            Ok(run) => {
                // Once per run, however many interfaces: the fix is the same.
                if let (Some(why @ ProbesSkipped::NoPrivilege(_)), false) =
                    (&run.privilege_error, privilege_said)
                {
                    eprintln!("mptcp-probe check: {why}");
                    privilege_said = true;
                }
                if global.json {
                    output::print_line(&render::CheckLine::new(&run));
                } else if args.format == omr::CheckFormat::OmrStatus {
                    if let Some(line) = omr::status_line(run.verdict.code) {
                        println!("{line}");
                    }
                } else {
                    print!("{}", render::text(&run));
                }
                u8::try_from(run.verdict.exit_code()).unwrap_or(2)
            }
            Err(e) => {
                if global.json {
                    output::print_line(&render::CheckErrorLine::new(
                        &target,
                        interface.as_deref(),
                        &e,
                    ));
                }
                let on = interface.map_or(String::new(), |i| format!(" (interface {i})"));
                eprintln!(
                    "mptcp-probe check {target}{on}: {}",
                    crate::terminal::escape(&e.to_string())
                );
                2
            }
        };
        worst = worst.max(code);
    }
    if let Some(r) = recorder {
        if let Err(e) = r.finish() {
            return output::fail("check", global.json, &CheckError::from(e));
        }
    }
    ExitCode::from(worst)
}
