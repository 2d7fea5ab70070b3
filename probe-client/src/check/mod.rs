//! `mptcp-probe check HOST [--port 6101] [--mptcp-version 0|1]`: does MPTCP
//! work end to end to HOST, and if not, why.
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
//! Text: the verdict code and its one-line summary, the evidence, the hop
//! range (if any), the fix, what is missing, notes, then what the echo
//! server saw: each SYN's options as sent and as they arrived, and the
//! SYN/ACK the server's host sent.
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
//! - `exit_code`: 0 (`mptcp_ok`), 1 (any other verdict), 2 (error);
//! - `target` (`HOST:PORT` as given), `address` (the resolved IP address),
//!   `port`, `interface` (string or null), `source` (the kernel
//!   connection's local address `IP:PORT`, or null);
//! - `privileged`: whether crafted probes were sent (CAP_NET_RAW);
//!   `privilege_error`: why not, or null;
//! - `echo`: `report` (an echo server answered), `not_connected`,
//!   `not_echo` (something else answered or nothing did) or
//!   `server_error`; `echo_detail`: why, or null;
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
use crate::output;
use adapt::{LocalFacts, Observations};
use error::{CheckError, ProbesSkipped};
use kernel::{ConnectSpec, EchoStatus};
use probes::RawPath;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Host name or address of the echo server (or of any TCP server).
    pub host: String,
    /// Port of the echo server.
    #[arg(long, default_value_t = 6101)]
    pub port: u16,
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
    pub dest: SocketAddr,
    pub interface: Option<String>,
    pub session: kernel::KernelSession,
    pub observations: Observations,
    pub adapted: adapt::Adapted,
    pub verdict: packet::verdict::Verdict,
    /// Why the crafted probes did not run (the message carries the fix).
    pub privilege_error: Option<ProbesSkipped>,
    pub privileged: bool,
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
    pub raw: Result<RawPath, ProbesSkipped>,
}

/// Runs the check on one path.
pub fn check_one<W: Write>(
    args: &CheckArgs,
    plan: PathPlan,
    recorder: Option<&mut PcapRecorder<W>>,
) -> Result<CheckRun, CheckError> {
    let PathPlan {
        dest,
        interface,
        raw,
    } = plan;
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
    let spec = ConnectSpec {
        dest,
        interface: interface.clone(),
        mptcp_connect_timeout,
        // The crafted probes leave from the selected source: the kernel
        // connection must too, since the echo server shows a client only
        // the SYNs from the address its query comes from.
        source: raw.as_ref().map(|r| r.source).ok().or(args.net.source),
        timeout,
    };
    let mut session = kernel::connect(&spec)?;
    if let Some(error) = session.broken.take() {
        return Err(NetError::EchoProtocol {
            server: dest,
            error: Box::new(error),
        }
        .into());
    }
    let local = LocalFacts {
        mptcp_socket: Some(session.mptcp_refused.is_none()),
        readiness,
        user_version: args.mptcp_version,
    };
    let target = format!("{}:{}", args.host, args.port);
    let mut observations = Observations {
        target: target.clone(),
        kernel: Some(session.facts.clone()),
        report: session.report.clone(),
        ..Default::default()
    };
    let mut privilege_error = None;
    let mut privileged = false;
    match raw {
        Ok(path) => match path.run(dest, &Deadline::after(timeout), recorder) {
            Ok(results) => {
                observations.probes = results;
                privileged = true;
            }
            Err(e) => privilege_error = Some(ProbesSkipped::Failed(e)),
        },
        Err(why) => privilege_error = Some(why),
    }
    if session.echo == EchoStatus::Report && !observations.probes.is_empty() {
        match query_probes(&mut session, &observations.probes, timeout) {
            Ok(answer) => observations.answer = Some(answer),
            Err(EchoError::Protocol(error)) => {
                return Err(NetError::EchoProtocol {
                    server: dest,
                    error: Box::new(error),
                }
                .into())
            }
            Err(e) => session.notes.push(format!(
                "the echo server did not answer the query for the crafted probes: {e}"
            )),
        }
    }
    let mut adapted = adapt::verdict_input(&local, &observations);
    adapted.notes.append(&mut session.notes);
    let verdict = packet::verdict::evaluate(&adapted.input);
    Ok(CheckRun {
        target,
        dest,
        interface,
        session,
        observations,
        adapted,
        verdict,
        privilege_error,
        privileged,
    })
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
                    let raw = RawPath::open(dest.ip(), args.net.source, interface.as_deref())
                        .map_err(ProbesSkipped::opening);
                    PathPlan {
                        dest,
                        interface: interface.clone(),
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
    let target = format!("{}:{}", args.host, args.port);
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
                if let (Some(why), false) = (&run.privilege_error, privilege_said) {
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
