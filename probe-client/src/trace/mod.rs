//! `mptcp-probe trace HOST`: where on the path does MP_CAPABLE vanish?
//!
//! One SYN with MP_CAPABLE per TTL (1..=--max-ttl), all sent at once on one
//! constant flow; the routers' ICMP time exceeded quotes are diffed per
//! hop, the destination's answer ends the trace, and the echo server (when
//! one runs at HOST:PORT) says what arrived. Two control flows go with it,
//! each on its own source port: a plain SYN per TTL and the other MPTCP
//! version's MP_CAPABLE per TTL (see `engine::trace::flows` for when they
//! leave), so a path that drops MP_CAPABLE SYNs is `syn_dropped` with its
//! hop range and a v0/v1 mismatch is `version_mismatch`. The whole trace
//! takes one `--timeout` however many hops stay silent: it ends early once
//! every flow's destination and every hop before it have answered. Each
//! router sees one expired probe per flow; a TTL still silent once the
//! destination has answered is retried about a second into the trace, when
//! a router's ICMP rate limit (per destination, about one error per second
//! after a burst of 6 on Linux) has a token again, so back-to-back traces
//! keep every hop that answers.
//!
//! # Output
//! - text: a header, one line per hop (`TTL ADDR RTT quote, MP_CAPABLE
//!   present|ABSENT|CHANGED|not quoted  changed: <diff>`; the diff is
//!   against the packet as that hop should have received it, so TTL
//!   decrements are not listed), the destination's answer with its options,
//!   the echo server's line, one line per control flow (`plain SYN, port
//!   P: 1 ADDR | 2..30 *` ...), then the verdict with its evidence;
//! - `--format tracebox`: `tracebox to HOST (ADDR): N hops max` (preceded
//!   by `interface IF:` when several `-i` are traced), then
//!   `N: ADDR RTTms [PARTIAL] <diff>` with the diff against the packet as
//!   sent (so `IP::TTL IP::CheckSum` from hop 2 on, as tracebox prints),
//!   `N: *` for a silent hop; the destination's line lists the options it
//!   did not echo (`-TCPOptionMPTCPCapable`); then the verdict as in text;
//!   under the header one `# interface IF|default route, from ADDR,
//!   MP_CAPABLE vN probes (why that version)` line, which tracebox has not;
//! - `--json`, one object per line (hop lines carry `flow`: `v1`, `v0` or
//!   `plain`, the traced flow's lines first, then the controls'):
//!   - `{"type":"hop","flow","ttl","responder","rtt_ms","kind":"silent"}`;
//!   - `{"type":"hop",...,"kind":"time_exceeded"|"icmp_error","icmp":{"type","code"},
//!     "quote":"full"|"partial","mp_capable":"present"|"absent"|"changed"|"unknown",
//!     "translated","tracebox":"<tracebox diff text>","diff":{"differences":[{"name",
//!     "change","sent","seen"}],"partial"}}` (`diff` is the TTL-adjusted one);
//!   - `{"type":"hop",...,"kind":"syn_ack"|"rst"|"tcp","options":[analyze's option
//!     objects],"mp_capable":"present"|"absent","tracebox":"-TCPOptionMPTCPCapable"}`
//!     for the destination (its answer's MP_CAPABLE);
//!   - `{"type":"server","reachable","error","queried","ttl","syn_seen","options",
//!     "mp_capable","changes","readiness"}` (the echo server's account);
//!   - `{"type":"verdict","verdict","summary","evidence","hop_range":{"last_with":
//!     {"ttl","addr"},"first_without":...},"fix","missing","rule","target","address",
//!     "interface","mptcp_version","exit_code"}`;
//!   - on error (exit 2): `{"type":"error","error","fix"}` (every verb's
//!     error object; `fix` null when there is none to give).
//!
//! Exit: 0 MPTCP works end to end, 1 it does not (any other verdict), 2 error
//! (no CAP_NET_RAW, bad interface, unresolvable host, an echo server that
//! broke the echo protocol).
pub mod echo;
pub mod local;
pub mod render;
// The trace's plan and hop state live in the engine; these names stay.
pub use engine::trace::{plan as probes, state as hops};

use crate::cli::{GlobalArgs, NetArgs};
use crate::net::error::NetError;
use crate::net::pcap::PcapRecorder;
use crate::net::privileges::{drop_all, lower_effective, with_net_raw};
use crate::net::raw::{Deadline, RawOptions, RawSockets};
use crate::net::resolve::{resolve, FamilyPreference};
use crate::net::source::{reserve_port, select_source, ReservedPort};
use crate::output;
use crate::terminal::escape;
use engine::trace::driver::TraceConfig;
use engine::trace::echo::{observed_syn, server_report};
use engine::trace::flows::TraceFlows;
use hops::{probe_kind, with_ttl, TraceState};
use packet::diff::diff;
use packet::ip::parse_ip_tcp;
use packet::tcp_opt::OptionList;
use packet::verdict::{evaluate, find_capable, ProbeKind, Verdict, VerdictInput};
use probes::ProbePlan;
use render::TraceLine;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Instant;

/// `println!` that ignores a closed stdout (`| head`): the trace still
/// ends with its verdict's exit code instead of a panic.
macro_rules! emit {
    () => {{
        let _ = writeln!(std::io::stdout().lock());
    }};
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TraceFormat {
    /// One line per hop with what the path changed besides the TTL.
    Text,
    /// tracebox's own line format (`N: ADDR RTTms IP::TTL ... -TCPOptionMPTCPCapable`).
    Tracebox,
}

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// Host name or address to trace to: HOST, HOST:PORT or [IPV6]:PORT
    /// (a port here is used instead of --port; a different --port too is
    /// an error).
    pub host: String,
    /// Destination port.
    #[arg(long, default_value_t = 6101)]
    pub port: u16,
    /// Port of the echo server when it is not --port (it must `--watch`
    /// --port): it is asked what arrived on --port.
    #[arg(long = "echo-port")]
    pub echo_port: Option<u16>,
    /// Highest TTL (hop limit) probed.
    #[arg(short = 'm', long, default_value_t = 30, value_parser = clap::value_parser!(u8).range(1..))]
    pub max_ttl: u8,
    /// Output format (`--json` overrides it).
    #[arg(long, value_enum, default_value_t = TraceFormat::Text)]
    pub format: TraceFormat,
    /// MP_CAPABLE version of the probes: 1 (RFC 8684, upstream kernels) or
    /// 0 (RFC 6824, out-of-tree kernels, what tracebox sends). Default:
    /// this host's kernel's version, else 1.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub mptcp_version: Option<u8>,
    #[command(flatten)]
    pub net: NetArgs,
}

pub fn run(args: &TraceArgs, global: &GlobalArgs) -> ExitCode {
    match run_all(args, global) {
        Ok(code) => code,
        Err(e) => output::fail("trace", global.json, &e),
    }
}

/// Everything opened while privileged, for one interface.
struct Setup {
    interface: Option<String>,
    source: IpAddr,
    /// The traced flow's source port, then one for each control flow.
    ports: [ReservedPort; 3],
    raw: RawSockets,
    /// The echo connection's socket, or why it could not be made.
    echo: Result<socket2::Socket, NetError>,
}

fn run_all(args: &TraceArgs, global: &GlobalArgs) -> Result<ExitCode, NetError> {
    // Nothing runs with a capability until the raw sockets are opened.
    lower_effective()?;
    let preference = FamilyPreference::from_flags(args.net.ipv4, args.net.ipv6);
    let destination = resolve(&args.host, preference)?;
    let interfaces: Vec<Option<String>> = if args.net.interfaces.is_empty() {
        vec![None]
    } else {
        args.net.interfaces.iter().cloned().map(Some).collect()
    };
    let mut setups = Vec::new();
    for interface in interfaces {
        let source = select_source(destination, args.net.source, interface.as_deref())?;
        let ports = [
            reserve_port(source)?,
            reserve_port(source)?,
            reserve_port(source)?,
        ];
        let raw = RawSockets::open(&RawOptions {
            interface: interface.clone(),
            ipv4: destination.is_ipv4(),
            ipv6: destination.is_ipv6(),
            source: Some(source),
            ports: ports.iter().map(|p| p.port).collect(),
        })?;
        // Without an echo socket the trace still runs (no final hop).
        let echo = match &interface {
            Some(name) => with_net_raw(|| echo::echo_socket(source, Some(name))),
            None => echo::echo_socket(source, None).map_err(|e| NetError::io("opening it", e)),
        };
        setups.push(Setup {
            interface,
            source,
            ports,
            raw,
            echo,
        });
    }
    // Every raw socket is open: nothing needs a privilege any more.
    drop_all()?;
    let mut recorder = match &args.net.write {
        Some(path) => Some(PcapRecorder::create(path)?),
        None => None,
    };
    let mut exit = 0;
    // With several interfaces each block says which one it is.
    let labelled = setups.len() > 1;
    for setup in setups {
        let verdict = trace_one(
            args,
            global,
            destination,
            setup,
            labelled,
            recorder.as_mut(),
        )?;
        exit = exit.max(verdict.exit_code());
    }
    if let Some(r) = recorder {
        r.finish()?;
    }
    Ok(ExitCode::from(exit as u8))
}

/// Prints hops in TTL order as soon as every lower TTL is known (on a
/// terminal), or all at the end.
struct Printer {
    lines: Option<render::HopLines>,
    streaming: bool,
}

impl Printer {
    fn flush(&mut self, state: &TraceState, finished: bool) {
        if !self.streaming && !finished {
            return;
        }
        let Some(lines) = self.lines.as_mut() else {
            return;
        };
        let mut out = std::io::stdout().lock();
        for line in lines.ready(state, finished) {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }
}

fn trace_one(
    args: &TraceArgs,
    global: &GlobalArgs,
    destination: IpAddr,
    setup: Setup,
    labelled: bool,
    mut recorder: Option<&mut PcapRecorder<BufWriter<File>>>,
) -> Result<Verdict, NetError> {
    let local = local::local_host(args.mptcp_version);
    let version = args
        .mptcp_version
        .or(local.mptcp_version)
        .unwrap_or(1)
        .min(1);
    let traced_kind = probe_kind(version);
    let other_kind = probe_kind(1 - version);
    // The traced flow, then its controls: plain SYNs, and the other
    // version's MP_CAPABLE, each on its own source port.
    let kinds = [traced_kind, ProbeKind::Plain, other_kind];
    let mut plans = Vec::new();
    for (kind, port) in kinds.into_iter().zip(&setup.ports) {
        let [s0, s1, s2, s3, i0, i1, f0, f1, f2, k0, k1, k2, k3, k4, k5, k6, k7] =
            netsys::random::array::<17>().map_err(|e| NetError::io("getrandom", e))?;
        plans.push(ProbePlan {
            src: setup.source,
            dst: destination,
            src_port: port.port,
            dst_port: args.port,
            max_ttl: args.max_ttl,
            kind,
            v0_key: u64::from_be_bytes([k0, k1, k2, k3, k4, k5, k6, k7]),
            base_seq: u32::from_be_bytes([s0, s1, s2, s3]),
            base_ip_id: u16::from_be_bytes([i0, i1]),
            flow_label: u32::from_be_bytes([0, f0, f1, f2]) & 0xf_ffff,
        });
    }
    let traced = plans.remove(0);
    let deadline = Deadline::after_secs(args.net.timeout);
    let build_error = |e| NetError::io("building probes", std::io::Error::other(e));
    let mut flows = TraceFlows::new(traced, plans, TraceConfig::new(deadline.remaining()))
        .map_err(build_error)?;
    // Trace time starts with the deadline the echo exchange also keeps.
    let start = Instant::now();
    let format = (!global.json).then_some(args.format);
    let mut printer = Printer {
        lines: format.map(render::HopLines::new),
        streaming: std::io::stdout().is_terminal(),
    };
    if let Some(f) = format {
        let via = setup
            .interface
            .as_deref()
            .map(|i| format!(" via {i}"))
            .unwrap_or_default();
        match f {
            TraceFormat::Tracebox => {
                if let Some(name) = setup.interface.as_deref().filter(|_| labelled) {
                    emit!("{}", render::interface_label(name));
                }
                emit!("{}", render::tracebox_header(&args.host, destination, args.max_ttl));
                emit!(
                    "{}",
                    render::tracebox_note(
                        setup.interface.as_deref(),
                        setup.source,
                        version,
                        local.version_source
                    )
                );
            }
            TraceFormat::Text => emit!(
                "mptcp-probe trace to {} ({destination}) port {}{via}, from {}, MP_CAPABLE v{version}, {} hops max",
                args.host, args.port, SocketAddr::new(setup.source, setup.ports[0].port), args.max_ttl
            ),
        }
    }

    let (seq_tx, seq_rx) = std::sync::mpsc::channel::<Vec<u32>>();
    let server = SocketAddr::new(destination, args.echo_port.unwrap_or(args.port));
    let echo_thread = match setup.echo {
        Ok(socket) => Ok(std::thread::spawn(move || {
            echo::run(socket, server, deadline, seq_rx)
        })),
        Err(e) => Err(e),
    };

    // The flows say what to send and how long to wait; the loop does the
    // I/O and tells them the time.
    loop {
        for p in flows.poll_transmit(start.elapsed()).map_err(build_error)? {
            let Some(packet) = flows.probe(p).map(|probe| probe.packet.clone()) else {
                continue;
            };
            let at = setup.raw.send(&packet)?;
            if let Some(r) = recorder.as_deref_mut() {
                r.record(at, &packet)?;
            }
            flows.on_sent(p, at);
        }
        let Some(wake) = flows.poll_timeout() else {
            break;
        };
        let until = Deadline::after(wake.saturating_sub(start.elapsed()));
        if let Some(r) = setup.raw.recv_until(&until)? {
            if let Some(rec) = recorder.as_deref_mut() {
                rec.record(r.timestamp, &r.packet)?;
            }
            if flows.handle_packet(&r.packet, r.timestamp).is_some() {
                printer.flush(flows.traced(), false);
            }
        }
        if until.passed() {
            flows.handle_timeout(start.elapsed());
        }
    }
    // Ask the echo server once the trace is over, so retries and the
    // controls are included.
    let _ = seq_tx.send(flows.query_seqs());
    printer.flush(flows.traced(), true);
    let outcome = match echo_thread {
        Ok(t) => t
            .join()
            .unwrap_or_else(|_| Ok(echo::EchoOutcome::default()))
            .map_err(|error| NetError::EchoProtocol {
                server,
                error: Box::new(error),
            })?,
        Err(e) => echo::EchoOutcome {
            error: Some(format!("no socket for the echo connection: {e}")),
            ..Default::default()
        },
    };

    let state = flows.traced();
    let final_probe = state.final_probe().cloned();
    let arrived = final_probe
        .as_ref()
        .and_then(|p| observed_syn(&outcome, p.key.seq).map(|b| (p.clone(), b)));
    if format == Some(TraceFormat::Text) {
        print_server_line(&outcome, arrived.as_ref(), server);
        emit!("control flows (own source ports, sent once the traced flow is complete, else at half the timeout):");
        for (kind, port, hops) in flows.flows().skip(1) {
            emit!("  {}", render::control_line(kind, port, hops));
        }
    }

    let (probes, trace) = flows.verdict_parts();
    let input = VerdictInput {
        target: args.host.clone(),
        local,
        kernel: None,
        probes,
        server: server_report(&outcome).map(|mut s| {
            // Another port's echo server speaks for --port only through
            // its capture of the probes.
            s.watched_port = args
                .echo_port
                .filter(|&e| e != args.port)
                .map(|_| args.port);
            s
        }),
        trace: Some(trace),
    };
    let mut verdict = evaluate(&input);
    if let Some(report) = &outcome.report {
        engine::listener::amend(&mut verdict, report);
    }
    if global.json {
        for (kind, _, hops) in flows.flows() {
            for hop in hops.map(TraceState::hops).unwrap_or_default() {
                output::print_line(&TraceLine::Hop(render::HopLine::new(kind, &hop)));
            }
        }
        output::print_line(&TraceLine::Server(server_line(&outcome, arrived.as_ref())));
        output::print_line(&TraceLine::Verdict(render::VerdictLine {
            verdict: &verdict,
            target: &args.host,
            address: destination,
            interface: setup.interface.as_deref(),
            mptcp_version: version,
            exit_code: verdict.exit_code(),
        }));
    } else {
        print_verdict(&verdict);
    }
    Ok(verdict)
}

/// The echo server's account of the probe that reached it, compared with
/// what we sent (at the TTL it arrived with).
fn server_comparison(arrived: &(probes::TraceProbe, Vec<u8>)) -> Option<(String, String, String)> {
    let (probe, bytes) = arrived;
    let seen = parse_ip_tcp(bytes).ok()?;
    let expected_bytes = with_ttl(&probe.packet, seen.ttl());
    let expected = parse_ip_tcp(&expected_bytes).ok()?;
    let changes = diff(&expected, &seen).to_string();
    let options = OptionList::parse(seen.options, seen.flags).to_string();
    let capable = match find_capable(seen.options) {
        Some(c) => format!("{} arrived", c.describe()),
        None => "MP_CAPABLE did NOT arrive".to_string(),
    };
    Some((options, capable, changes))
}

fn print_server_line(
    outcome: &echo::EchoOutcome,
    arrived: Option<&(probes::TraceProbe, Vec<u8>)>,
    server: SocketAddr,
) {
    match (&outcome.report, arrived.and_then(server_comparison)) {
        (Some(_), Some((options, capable, changes))) => {
            let ttl = arrived.map_or(0, |a| a.0.ttl);
            let mut line =
                format!("echo server {server}: SYN of hop {ttl} arrived [{options}], {capable}");
            if !changes.is_empty() {
                line.push_str(&format!("  changed: {changes}"));
            }
            emit!("{line}");
        }
        (Some(_), None) => emit!(
            "echo server {server}: did not see the probe{}{}",
            outcome
                .error
                .as_ref()
                .map(|e| format!(" ({})", escape(e)))
                .unwrap_or_default(),
            outcome
                .warnings
                .iter()
                .map(|w| format!("; {}", escape(w)))
                .collect::<String>()
        ),
        (None, _) => emit!(
            "echo server: none ({})",
            escape(outcome.error.as_deref().unwrap_or("no answer"))
        ),
    }
}

fn server_line<'a>(
    outcome: &'a echo::EchoOutcome,
    arrived: Option<&(probes::TraceProbe, Vec<u8>)>,
) -> render::ServerLine<'a> {
    let cmp = arrived.and_then(server_comparison);
    let syn_seen = cmp.is_some();
    let (options, mp_capable, changes) = match cmp {
        Some((o, m, c)) => (Some(o), Some(m), Some(c)),
        None => (None, None, None),
    };
    render::ServerLine {
        reachable: outcome.report.is_some(),
        error: outcome.error.as_deref(),
        queried: outcome.queried,
        capture_drops: outcome.capture_drops,
        displaced: outcome.displaced,
        ttl: arrived.map(|a| a.0.ttl),
        syn_seen,
        options,
        mp_capable,
        changes,
        readiness: outcome.report.as_ref().map(|r| &r.readiness),
    }
}

fn print_verdict(v: &Verdict) {
    emit!();
    // The verdict may quote the echo server: escaped, like its errors.
    emit!("verdict: {} - {}", v.code.as_str(), escape(&v.summary));
    if let Some(range) = &v.hop_range {
        emit!("  where: {range}");
    }
    for e in &v.evidence {
        emit!("  evidence: {}", escape(e));
    }
    for m in &v.missing {
        emit!("  missing: {}", escape(m));
    }
    if let Some(fix) = &v.fix {
        emit!("  fix: {}", escape(fix));
    }
}
