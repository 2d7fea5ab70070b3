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
//! # Output
//! Text: the verdict code and its one-line summary, the evidence, the hop
//! range (if any), the fix, what is missing, notes, then what the echo
//! server saw: each SYN's options as sent and as they arrived, and the
//! SYN/ACK the server's host sent.
//!
//! `--json`: one JSON object per line, one line per interface (one line when
//! no `-i` is given). Fields (stable; fields may be added, never renamed):
//! - `verdict`: the code (`mptcp_ok`, `stripped_upstream`,
//!   `stripped_downstream`, `option_modified`, `syn_dropped`,
//!   `echoing_middlebox`, `version_mismatch`, `server_mptcp_disabled`,
//!   `local_mptcp_disabled`, `unreachable`, `inconclusive`), or `error`
//!   when the check could not run (then `error` holds the message and the
//!   verdict fields below are absent);
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
//! - `notes`: list of lines (what was left out of the verdict and why);
//! - `input`: the verdict engine's input (`packet::verdict::VerdictInput`:
//!   `target`, `local`, `kernel`, `probes`, `server`, `trace`; option areas
//!   as hex), so a run can be replayed through the engine;
//! - `report`: the echo server's report as received (echo protocol v1), or
//!   null; `answer`: its answer about the crafted probes, or null.
//!
//! # Exit codes
//! 0 MPTCP works end to end (every interface), 1 it does not (on at least
//! one), 2 the check could not run (bad arguments, name not resolved,
//! interface or source address unusable).
pub mod adapt;
pub mod kernel;
pub mod render;
pub mod sockinfo;

use crate::cli::{GlobalArgs, NetArgs};
use adapt::{LocalFacts, Observations};
use kernel::{ConnectSpec, EchoStatus};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
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
    pub privilege_error: Option<String>,
    pub privileged: bool,
}

/// Resolves HOST to one address of the wanted family.
pub fn resolve(host: &str, port: u16, net: &NetArgs) -> Result<SocketAddr, String> {
    let wanted = |a: &SocketAddr| {
        (!net.ipv4 || a.is_ipv4())
            && (!net.ipv6 || a.is_ipv6())
            && net.source.is_none_or(|s| s.is_ipv4() == a.is_ipv4())
    };
    // A literal address is not looked up (and may carry brackets).
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        let a = SocketAddr::new(ip, port);
        return if wanted(&a) {
            Ok(a)
        } else {
            Err(format!("{host} is not of the requested address family"))
        };
    }
    let all: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    all.iter()
        .copied()
        .find(|a| wanted(a))
        .ok_or_else(|| format!("{host} has no address of the requested family"))
}

/// Runs the check on one path (one interface or none).
pub fn check_one(
    args: &CheckArgs,
    dest: SocketAddr,
    interface: Option<String>,
) -> Result<CheckRun, String> {
    let readiness = host::read_readiness(&host::ReadinessOptions::default());
    let timeout = Duration::from_secs_f64(args.net.timeout.max(0.05));
    let spec = ConnectSpec {
        dest,
        interface: interface.clone(),
        source: args.net.source,
        timeout,
    };
    let mut session = kernel::connect(&spec).map_err(|e| e.to_string())?;
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
    // The crafted probes (CAP_NET_RAW) are not part of this build yet.
    let privilege_error = Some(
        "crafted SYN probes are not available in this build: only the kernel connection ran"
            .to_string(),
    );
    let privileged = false;
    if privileged && session.echo == EchoStatus::Report && !observations.probes.is_empty() {
        let seqs: Vec<u32> = observations.probes.iter().map(|p| p.seq).collect();
        observations.answer = session.query(&seqs, timeout).ok();
    }
    let adapted = adapt::verdict_input(&local, &observations);
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

pub fn run(args: &CheckArgs, global: &GlobalArgs) -> ExitCode {
    let target = format!("{}:{}", args.host, args.port);
    let interfaces: Vec<Option<String>> = if args.net.interfaces.is_empty() {
        vec![None]
    } else {
        args.net.interfaces.iter().cloned().map(Some).collect()
    };
    let mut worst = 0u8;
    let mut privilege_said = false;
    for interface in interfaces {
        let result = resolve(&args.host, args.port, &args.net)
            .and_then(|dest| check_one(args, dest, interface.clone()));
        let code = match result {
            Ok(run) => {
                if let (Some(why), false) = (&run.privilege_error, privilege_said) {
                    eprintln!("mptcp-probe check: {why}");
                    privilege_said = true;
                }
                if global.json {
                    println!("{}", render::json_line(&run));
                } else {
                    print!("{}", render::text(&run));
                }
                u8::try_from(run.verdict.exit_code()).unwrap_or(2)
            }
            Err(e) => {
                if global.json {
                    println!("{}", render::error_json(&target, interface.as_deref(), &e));
                }
                let on = interface.map_or(String::new(), |i| format!(" (interface {i})"));
                eprintln!("mptcp-probe check {target}{on}: {e}");
                2
            }
        };
        worst = worst.max(code);
    }
    ExitCode::from(worst)
}
