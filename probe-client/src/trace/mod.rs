//! `mptcp-probe trace HOST`: where on the path does MP_CAPABLE vanish?
//!
//! One SYN with MP_CAPABLE per TTL (1..=--max-ttl), all sent at once on one
//! constant flow; the routers' ICMP time exceeded quotes are diffed per
//! hop, the destination's answer ends the trace, and the echo server (when
//! one runs at HOST:PORT) says what arrived. The whole trace takes one
//! `--timeout` however many hops stay silent: it ends early once the
//! destination and every hop before it have answered. Each router sees one
//! expired probe per trace, so ICMP rate limits (per destination, about
//! one per second after a burst of 6 on Linux) do not thin the answers.
//!
//! # Output
//! - text: a header, one line per hop (`TTL ADDR RTT quote, MP_CAPABLE
//!   present|ABSENT|CHANGED|not quoted  changed: <diff>`; the diff is
//!   against the packet as that hop should have received it, so TTL
//!   decrements are not listed), the destination's answer with its options,
//!   the echo server's line, then the verdict with its evidence;
//! - `--format tracebox`: `tracebox to HOST (ADDR): N hops max`, then
//!   `N: ADDR RTTms [PARTIAL] <diff>` with the diff against the packet as
//!   sent (so `IP::TTL IP::CheckSum` from hop 2 on, as tracebox prints),
//!   `N: *` for a silent hop; the destination's line lists the options it
//!   did not echo (`-TCPOptionMPTCPCapable`); then the verdict as in text;
//!   under the header one `# interface IF|default route, from ADDR,
//!   MP_CAPABLE vN probes (why that version)` line, which tracebox has not;
//! - `--json`, one object per line:
//!   - `{"type":"hop","ttl","responder","rtt_ms","kind":"silent"}`;
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
//!   - on error (exit 2): `{"type":"error","error","fix"}`.
//!
//! Exit: 0 MPTCP works end to end, 1 it does not (any other verdict), 2 error
//! (no CAP_NET_RAW, bad interface, unresolvable host).
pub mod echo;
pub mod hops;
pub mod probes;
pub mod render;

use crate::cli::{GlobalArgs, NetArgs};
use crate::net::error::NetError;
use crate::net::pcap::PcapRecorder;
use crate::net::privileges::{drop_all, lower_effective, with_net_raw};
use crate::net::raw::{Deadline, RawOptions, RawSockets};
use crate::net::resolve::{resolve, FamilyPreference};
use crate::net::source::{reserve_port, select_source, ReservedPort};
use hops::{with_ttl, TraceState};
use packet::diff::diff;
use packet::ip::parse_ip_tcp;
use packet::tcp_opt::OptionList;
use packet::verdict::{evaluate, find_capable, LocalHost, Verdict, VerdictInput, VersionSource};
use probes::ProbePlan;
use serde_json::json;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

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
    /// Host name or address to trace to.
    pub host: String,
    /// Destination port.
    #[arg(long, default_value_t = 6101)]
    pub port: u16,
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
        Err(e) => {
            if global.json {
                let fix = e.is_privilege().then_some(crate::net::error::PRIVILEGE_FIX);
                emit!(
                    "{}",
                    json!({"type": "error", "error": e.to_string(), "fix": fix})
                );
            }
            eprintln!("mptcp-probe trace: {e}");
            ExitCode::from(2)
        }
    }
}

/// Everything opened while privileged, for one interface.
struct Setup {
    interface: Option<String>,
    source: IpAddr,
    port: ReservedPort,
    raw: RawSockets,
    /// The echo connection's socket, or why it could not be made.
    echo: Result<socket2::Socket, String>,
}

/// This host's MPTCP state from its sysctls: upstream kernels have
/// `net.mptcp.enabled` (and speak v1), out-of-tree ones
/// `net.mptcp.mptcp_enabled` and `mptcp_version`.
fn local_host(user_version: Option<u8>) -> LocalHost {
    let read = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/mptcp/{name}"))
            .ok()
            .and_then(|s| s.trim().parse::<u8>().ok())
    };
    let (enabled, kernel_version) = match read("enabled") {
        Some(e) => (Some(e != 0), Some(1)),
        None => (read("mptcp_enabled").map(|e| e != 0), read("mptcp_version")),
    };
    match user_version {
        Some(v) => LocalHost {
            mptcp_enabled: enabled,
            mptcp_version: Some(v),
            version_source: VersionSource::User,
        },
        None => LocalHost {
            mptcp_enabled: enabled,
            mptcp_version: kernel_version,
            version_source: if kernel_version.is_some() {
                VersionSource::Kernel
            } else {
                VersionSource::Unknown
            },
        },
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The kernel's CSPRNG; a failure (no /dev/urandom in a chroot) leaves
    // the clock's nanoseconds, which only need to differ between runs.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            .to_le_bytes();
        for (i, x) in b.iter_mut().enumerate() {
            *x = ns[i % ns.len()];
        }
    }
    b
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
        let port = reserve_port(source)?;
        let raw = RawSockets::open(&RawOptions {
            interface: interface.clone(),
            ipv4: destination.is_ipv4(),
            ipv6: destination.is_ipv6(),
            ports: vec![port.port],
        })?;
        // Without an echo socket the trace still runs (no final hop).
        let echo = match &interface {
            Some(name) => {
                with_net_raw(|| echo::echo_socket(source, Some(name))).map_err(|e| e.to_string())
            }
            None => echo::echo_socket(source, None).map_err(|e| e.to_string()),
        };
        setups.push(Setup {
            interface,
            source,
            port,
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
    for setup in setups {
        let verdict = trace_one(args, global, destination, setup, recorder.as_mut())?;
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
    mut recorder: Option<&mut PcapRecorder<BufWriter<File>>>,
) -> Result<Verdict, NetError> {
    let local = local_host(args.mptcp_version);
    let version = args
        .mptcp_version
        .or(local.mptcp_version)
        .unwrap_or(1)
        .min(1);
    let [s0, s1, s2, s3, i0, i1, f0, f1, f2, k0, k1, k2, k3, k4, k5, k6, k7] = random_bytes::<17>();
    let plan = ProbePlan {
        src: setup.source,
        dst: destination,
        src_port: setup.port.port,
        dst_port: args.port,
        max_ttl: args.max_ttl,
        mptcp_version: version,
        v0_key: u64::from_be_bytes([k0, k1, k2, k3, k4, k5, k6, k7]),
        base_seq: u32::from_be_bytes([s0, s1, s2, s3]),
        base_ip_id: u16::from_be_bytes([i0, i1]),
        flow_label: u32::from_be_bytes([0, f0, f1, f2]) & 0xf_ffff,
    };
    let probes = plan
        .build()
        .map_err(|e| NetError::io("building probes", std::io::Error::other(e)))?;
    let mut state = TraceState::new(probes);
    let deadline = Deadline::after_secs(args.net.timeout);
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
                "mptcp-probe trace to {} ({destination}) port {}{via}, from {}:{}, MP_CAPABLE v{version}, {} hops max",
                args.host, args.port, setup.source, setup.port.port, args.max_ttl
            ),
        }
    }

    let (seq_tx, seq_rx) = std::sync::mpsc::channel::<Vec<u32>>();
    let server = SocketAddr::new(destination, args.port);
    let echo_thread = match setup.echo {
        Ok(socket) => Ok(std::thread::spawn(move || {
            echo::run(socket, server, deadline, seq_rx)
        })),
        Err(e) => Err(e),
    };

    for i in 0..state.probes.len() {
        let at = setup.raw.send(&state.probes[i].packet)?;
        state.mark_sent(i, at);
        if let Some(r) = recorder.as_deref_mut() {
            r.record(at, &state.probes[i].packet)?;
        }
    }
    // Sequence numbers worth asking the echo server about: the probes that
    // could have reached it (from the destination's TTL up), the one that
    // the destination answered in front (the echo client checks that one).
    let seqs_from = |state: &TraceState| -> Vec<u32> {
        let from = state.destination_ttl().unwrap_or(1);
        let first = state.final_probe().map(|p| p.key.seq);
        first
            .into_iter()
            .chain(
                state
                    .probes
                    .iter()
                    .filter(|p| p.ttl >= from && Some(p.key.seq) != first)
                    .map(|p| p.key.seq),
            )
            .collect()
    };
    // Half the timeout: silent TTLs get their retry then, if the
    // destination has not answered before.
    let half_time = Deadline::after_secs(args.net.timeout / 2.0);
    let mut second_wave = false;
    loop {
        let until = if second_wave { &deadline } else { &half_time };
        let Some(r) = setup.raw.recv_until(until)? else {
            if second_wave || deadline.passed() {
                break;
            }
            second_wave = true;
            retry(&plan, &setup.raw, recorder.as_deref_mut(), &mut state, true)?;
            continue;
        };
        if let Some(rec) = recorder.as_deref_mut() {
            rec.record(r.timestamp, &r.packet)?;
        }
        if state.absorb(&r.packet, r.timestamp).is_none() {
            continue;
        }
        retry(
            &plan,
            &setup.raw,
            recorder.as_deref_mut(),
            &mut state,
            second_wave,
        )?;
        printer.flush(&state, false);
        if state.complete() {
            break;
        }
    }
    // Ask the echo server once the trace is over, so retries are included.
    let _ = seq_tx.send(seqs_from(&state));
    printer.flush(&state, true);
    let outcome = match echo_thread {
        Ok(t) => t.join().unwrap_or_default(),
        Err(e) => echo::EchoOutcome {
            error: Some(format!("no socket for the echo connection: {e}")),
            ..Default::default()
        },
    };

    let final_probe = state.final_probe().cloned();
    let arrived = final_probe
        .as_ref()
        .and_then(|p| echo::observed_syn(&outcome, p.key.seq).map(|b| (p.clone(), b)));
    if let Some(f) = format {
        if f == TraceFormat::Text {
            print_server_line(&outcome, arrived.as_ref(), server);
        }
    }

    let input = VerdictInput {
        target: args.host.clone(),
        local,
        kernel: None,
        probes: state.verdict_probe(version).into_iter().collect(),
        server: echo::server_report(&outcome),
        trace: Some(state.verdict_trace(version)),
    };
    let verdict = evaluate(&input);
    if global.json {
        for hop in state.hops() {
            emit!("{}", render::hop_json(&hop));
        }
        emit!("{}", server_json(&outcome, arrived.as_ref()));
        let mut v = serde_json::to_value(&verdict).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("type".into(), json!("verdict"));
            o.insert("target".into(), json!(args.host));
            o.insert("address".into(), json!(destination.to_string()));
            o.insert("interface".into(), json!(setup.interface));
            o.insert("mptcp_version".into(), json!(version));
            o.insert("exit_code".into(), json!(verdict.exit_code()));
        }
        emit!("{v}");
    } else {
        print_verdict(&verdict);
    }
    Ok(verdict)
}

/// Sends one retry for each TTL [`TraceState::retry_candidates`] names.
fn retry(
    plan: &ProbePlan,
    raw: &RawSockets,
    recorder: Option<&mut PcapRecorder<BufWriter<File>>>,
    state: &mut TraceState,
    second_wave: bool,
) -> Result<(), NetError> {
    let mut recorder = recorder;
    for ttl in state.retry_candidates(second_wave) {
        let probe = plan
            .probe(ttl, 1)
            .map_err(|e| NetError::io("building probes", std::io::Error::other(e)))?;
        let at = raw.send(&probe.packet)?;
        if let Some(rec) = recorder.as_deref_mut() {
            rec.record(at, &probe.packet)?;
        }
        let i = state.add_probe(probe);
        state.mark_sent(i, at);
    }
    Ok(())
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
            "echo server {server}: did not see the probe{}",
            outcome
                .error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
        (None, _) => emit!(
            "echo server: none ({})",
            outcome.error.as_deref().unwrap_or("no answer")
        ),
    }
}

fn server_json(
    outcome: &echo::EchoOutcome,
    arrived: Option<&(probes::TraceProbe, Vec<u8>)>,
) -> serde_json::Value {
    let cmp = arrived.and_then(server_comparison);
    json!({
        "type": "server",
        "reachable": outcome.report.is_some(),
        "error": outcome.error,
        "queried": outcome.queried,
        "ttl": arrived.map(|a| a.0.ttl),
        "syn_seen": cmp.is_some(),
        "options": cmp.as_ref().map(|c| c.0.clone()),
        "mp_capable": cmp.as_ref().map(|c| c.1.clone()),
        "changes": cmp.as_ref().map(|c| c.2.clone()),
        "readiness": outcome.report.as_ref().map(|r| &r.readiness),
    })
}

fn print_verdict(v: &Verdict) {
    emit!();
    emit!("verdict: {} - {}", v.code.as_str(), v.summary);
    if let Some(range) = &v.hop_range {
        emit!("  where: {range}");
    }
    for e in &v.evidence {
        emit!("  evidence: {e}");
    }
    for m in &v.missing {
        emit!("  missing: {m}");
    }
    if let Some(fix) = &v.fix {
        emit!("  fix: {fix}");
    }
}
