//! The `aggregate` exchange, server side (the protocol is documented in
//! `packet::echo::aggregate` and probe-server/README.md): grant a bounded
//! data phase, push and count bytes both ways over the client's MPTCP
//! connection, then report this side of the connection (MPTCP_INFO, every
//! subflow with its bytes, the MPTcpExt join counters) and how the
//! client's crafted MP_JOIN SYNs arrived.
//!
//! Bounds, so that the exchange cannot be turned into a traffic
//! generator: each direction at most [`AggregateLimits::max_bytes`] in at
//! most [`AggregateLimits::max_duration`]; at most
//! [`AggregateLimits::max_concurrent`] data phases at a time and
//! [`AggregateLimits::per_source_per_minute`] per client address (the rest
//! get a grant of zero with a note, and still their result). Memory per
//! aggregate connection: one 16 KiB read buffer, the shared zero block it
//! writes from, and a result of at most 32 subflows and 16 observed SYNs
//! (about 40 KiB with its JSON line): under 64 KiB.
use crate::protocol::LineBuffer;
use crate::server::Shared;
use crate::store::FourTuple;
use netsys::sockopt::{self, MptcpInfo, MptcpSubflows};
use packet::echo::aggregate::{MAX_AGGREGATE_JOINS, MAX_REPORTED_SUBFLOWS};
use packet::echo::{
    AggregateConnection, AggregateRequest, AggregateResult, AggregateStart, DataPlan, OptionForm,
    ProbeObservation, SubflowReport, ECHO_VERSION,
};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one client may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateLimits {
    /// Longest data phase.
    pub max_duration: Duration,
    /// Bytes per direction per connection.
    pub max_bytes: u64,
    /// Data phases running at once, server-wide.
    pub max_concurrent: usize,
    /// Data phases per client address per minute.
    pub per_source_per_minute: u32,
}

impl Default for AggregateLimits {
    fn default() -> Self {
        AggregateLimits {
            max_duration: Duration::from_secs(5),
            max_bytes: 16 << 20,
            max_concurrent: 4,
            per_source_per_minute: 10,
        }
    }
}

/// Server-wide admission of data phases.
#[derive(Debug)]
pub struct Gate {
    limits: AggregateLimits,
    active: AtomicUsize,
    sources: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// A data phase in progress; ends on drop.
#[derive(Debug)]
pub struct Running<'a>(&'a Gate);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Gate {
    pub fn new(limits: AggregateLimits) -> Self {
        Gate {
            limits,
            active: AtomicUsize::new(0),
            sources: Mutex::new(HashMap::new()),
        }
    }

    pub fn limits(&self) -> AggregateLimits {
        self.limits
    }

    /// Admits one data phase from `ip`, or says why not.
    pub fn admit(&self, ip: IpAddr) -> Result<Running<'_>, String> {
        {
            let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if sources.len() > 4096 {
                sources.retain(|_, (t, _)| now.duration_since(*t) < Duration::from_secs(60));
            }
            let entry = sources.entry(ip).or_insert((now, 0));
            if now.duration_since(entry.0) >= Duration::from_secs(60) {
                *entry = (now, 0);
            }
            if entry.1 >= self.limits.per_source_per_minute {
                return Err(format!(
                    "rate limited: at most {} aggregate data phases per address per minute",
                    self.limits.per_source_per_minute
                ));
            }
            entry.1 += 1;
        }
        let before = self.active.fetch_add(1, Ordering::Relaxed);
        let running = Running(self);
        if before >= self.limits.max_concurrent {
            return Err(format!(
                "busy: {} aggregate data phases already running",
                self.limits.max_concurrent
            ));
        }
        Ok(running)
    }
}

/// The grant for a request: the asked duration and bytes, cut to the
/// limits; zero with the refusal as note when not admitted.
pub fn grant(
    req: &AggregateRequest,
    limits: &AggregateLimits,
    refused: Option<String>,
) -> AggregateStart {
    if let Some(why) = refused {
        return AggregateStart {
            version: ECHO_VERSION,
            duration_ms: 0,
            max_bytes: 0,
            note: Some(why),
        };
    }
    if limits.max_bytes == 0 || limits.max_duration.is_zero() {
        return AggregateStart {
            version: ECHO_VERSION,
            duration_ms: 0,
            max_bytes: 0,
            note: Some("this server pushes no data (--aggregate-max-bytes 0)".into()),
        };
    }
    let max_ms = u32::try_from(limits.max_duration.as_millis()).unwrap_or(u32::MAX);
    AggregateStart {
        version: ECHO_VERSION,
        duration_ms: req.duration_ms.min(max_ms),
        max_bytes: req.max_bytes.min(limits.max_bytes),
        note: None,
    }
}

/// This side's `MPTCP_INFO`, as reported.
pub fn connection_of(mptcp: bool, info: Option<&MptcpInfo>) -> AggregateConnection {
    let Some(i) = info else {
        return AggregateConnection {
            mptcp,
            ..Default::default()
        };
    };
    AggregateConnection {
        mptcp,
        token: i.token,
        subflows: i.subflows,
        subflows_max: i.subflows_max,
        subflows_total: i.subflows_total,
        add_addr_signal: i.add_addr_signal,
        add_addr_accepted: i.add_addr_accepted,
        flags: i.flags,
        bytes_sent: i.bytes_sent,
        bytes_received: i.bytes_received,
    }
}

/// Every subflow, as reported (at most [`MAX_REPORTED_SUBFLOWS`]).
pub fn subflow_reports(s: &MptcpSubflows) -> Vec<SubflowReport> {
    s.subflows
        .iter()
        .take(MAX_REPORTED_SUBFLOWS)
        .map(|f| SubflowReport {
            id: f.id,
            local: f.local.map(|a| a.to_string()),
            remote: f.remote.map(|a| a.to_string()),
            state: f.tcp.and_then(|t| t.state),
            bytes_acked: f.tcp.and_then(|t| t.bytes_acked),
            bytes_received: f.tcp.and_then(|t| t.bytes_received),
            bytes_sent: f.tcp.and_then(|t| t.bytes_sent),
        })
        .collect()
}

/// The MPTcpExt counters about joins and resets, the ones that tell
/// whether this host refused joins (`MPJoinRejected`, 6.16+), found no
/// token, or failed an HMAC.
pub fn join_counters(all: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    all.iter()
        .filter(|(k, _)| k.starts_with("MPJoin") || k.starts_with("MPRst"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Where the exchange runs: the server's shared state and settings.
pub struct Env<'a> {
    pub shared: &'a Shared,
    pub gate: &'a Gate,
    pub capture_ok: bool,
    pub capture_wait: Duration,
    pub idle: Duration,
    pub form: OptionForm,
    /// When this connection was accepted (seconds since the epoch): only
    /// SYNs captured after it are reported.
    pub accepted_at: f64,
    /// Tells the admission that this connection is moving (its data
    /// phase completes no line, and a connection without a complete line
    /// for long is the first a full server evicts).
    pub progress: &'a (dyn Fn() + Sync),
}

/// How often a data phase that receives bytes reports progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The block every data-phase write sends from.
static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

/// Why the exchange stopped early (an `error` code).
pub type Failure = (&'static str, String);

/// Runs the whole exchange on `stream`, after the request line: the grant,
/// the data phase, the result. `lines` holds what the client sent after
/// the request, and gets back what follows the data phase.
pub async fn run(
    stream: &mut TcpStream,
    lines: &mut LineBuffer,
    req: &AggregateRequest,
    peer: SocketAddr,
    env: &Env<'_>,
) -> Result<AggregateResult, Failure> {
    let admitted = env.gate.admit(unmapped(peer.ip()));
    let start = grant(req, &env.gate.limits(), admitted.as_ref().err().cloned());
    let mut line =
        serde_json::to_string(&packet::echo::ServerMessage::AggregateStart(start.clone()))
            .unwrap_or_default();
    line.push('\n');
    write(stream, line.as_bytes(), env.idle).await?;
    let plan = DataPlan::new(start.duration_ms, start.max_bytes);
    let leftover = lines.take();
    let (sent, received, rest) = data_phase(
        stream,
        leftover,
        plan,
        start.max_bytes,
        env.idle,
        env.progress,
    )
    .await?;
    drop(admitted);
    lines.push(&rest);
    wait_for_capture(env).await;
    Ok(result(stream, req, sent, received, env))
}

/// A v4-mapped IPv6 address (a dual-stack listener's view of an IPv4
/// client) as the IPv4 address it is.
fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

async fn write(stream: &mut TcpStream, bytes: &[u8], idle: Duration) -> Result<(), Failure> {
    match tokio::time::timeout(idle, stream.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(("io", e.to_string())),
        Err(_) => Err(("idle_timeout", "the client stopped reading".into())),
    }
}

/// Both directions at once: this side's bursts then `\n`, and the
/// client's bytes counted up to its `\n`. Returns (sent, received, the
/// bytes after the client's newline).
async fn data_phase(
    stream: &mut TcpStream,
    leftover: Vec<u8>,
    plan: DataPlan,
    max_bytes: u64,
    idle: Duration,
    progress: &(dyn Fn() + Sync),
) -> Result<(u64, u64, Vec<u8>), Failure> {
    let (mut rd, mut wr) = stream.split();
    let send = async {
        let started = tokio::time::Instant::now();
        let mut sent = 0u64;
        for i in 0..plan.bursts {
            tokio::time::sleep_until(started + plan.due(i)).await;
            let mut left = plan.burst_bytes;
            while left > 0 {
                let n = usize::try_from(left)
                    .unwrap_or(ZEROS.len())
                    .min(ZEROS.len());
                match tokio::time::timeout(idle, wr.write_all(&ZEROS[..n])).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(("io", e.to_string())),
                    Err(_) => return Err(("idle_timeout", "the client stopped reading".into())),
                }
                left -= n as u64;
                sent += n as u64;
            }
        }
        match tokio::time::timeout(idle, wr.write_all(b"\n")).await {
            Ok(Ok(())) => Ok(sent),
            Ok(Err(e)) => Err(("io", e.to_string())),
            Err(_) => Err(("idle_timeout", "the client stopped reading".into())),
        }
    };
    let recv = async {
        let mut received = 0u64;
        let mut chunk = leftover;
        let mut buf = vec![0u8; 16 * 1024];
        let mut reported: Option<tokio::time::Instant> = None;
        loop {
            if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
                received += i as u64;
                if received > max_bytes {
                    break Err(too_much(max_bytes));
                }
                break Ok((received, chunk[i + 1..].to_vec()));
            }
            received += chunk.len() as u64;
            if received > max_bytes {
                break Err(too_much(max_bytes));
            }
            let n = match tokio::time::timeout(idle, rd.read(&mut buf)).await {
                Ok(Ok(0)) => {
                    break Err(("closed", "the client closed during the data phase".into()))
                }
                Ok(Ok(n)) => n,
                Ok(Err(e)) => break Err(("io", e.to_string())),
                Err(_) => break Err(("idle_timeout", "no data from the client".into())),
            };
            if reported.is_none_or(|at| at.elapsed() >= PROGRESS_EVERY) {
                progress();
                reported = Some(tokio::time::Instant::now());
            }
            chunk = buf[..n].to_vec();
        }
    };
    let (sent, received) = tokio::join!(send, recv);
    let sent = sent?;
    let (received, rest) = received?;
    Ok((sent, received, rest))
}

fn too_much(max: u64) -> Failure {
    (
        "too_much_data",
        format!("the data phase is limited to {max} bytes per direction"),
    )
}

/// Waits (at most the capture wait) until the capture thread has read
/// everything that arrived before now, so that the crafted SYNs sent
/// before the request are in the store.
async fn wait_for_capture(env: &Env<'_>) {
    if !env.capture_ok {
        return;
    }
    let started = crate::capture::now_ns();
    let deadline = Instant::now() + env.capture_wait;
    // The report's wait: wakes the capture thread instead of polling.
    env.shared.capture.wait_caught_up(started, deadline).await;
}

/// The crafted SYNs of the request, as captured: source and sequence
/// number must both match, and only SYNs that arrived on this
/// connection's watch are shown.
fn observed_joins(req: &AggregateRequest, env: &Env<'_>) -> Vec<ProbeObservation> {
    let store = env.shared.store.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = Vec::new();
    for j in req.joins.iter().take(MAX_AGGREGATE_JOINS) {
        let Ok(source) = j.source.parse::<IpAddr>() else {
            continue;
        };
        for o in store.probes_of(source, &[j.seq], 1) {
            if o.ts < env.accepted_at {
                continue;
            }
            let t = FourTuple {
                remote: source,
                remote_port: o.segment.sport,
                local: o.segment.dst,
                local_port: o.segment.dport,
            };
            out.push(ProbeObservation {
                syn: o.segment.summary(&o.iface, o.ts, env.form),
                syn_ack: store
                    .syn_ack_of(&t, Some(o.segment.seq))
                    .map(|a| a.segment.summary(&a.iface, a.ts, env.form)),
            });
        }
    }
    out
}

fn result(
    stream: &TcpStream,
    req: &AggregateRequest,
    sent: u64,
    received: u64,
    env: &Env<'_>,
) -> AggregateResult {
    let mut warnings = Vec::new();
    let mptcp = sockopt::tcp_is_mptcp(stream).unwrap_or(false);
    let (subflows, source, info) = match sockopt::mptcp_subflows(stream) {
        Ok(s) => {
            let info = s.info.or_else(|| sockopt::mptcp_info(stream).ok());
            (
                subflow_reports(&s),
                Some(s.source.as_str().to_string()),
                info,
            )
        }
        Err(e) => {
            if mptcp {
                warnings.push(format!("cannot list the subflows: {e}"));
            }
            (Vec::new(), None, sockopt::mptcp_info(stream).ok())
        }
    };
    // The crafted MP_JOIN SYNs leave after the accept: drops from a
    // second before it on may have taken some.
    let since_ns = ((env.accepted_at - 1.0).max(0.0) * 1e9) as u64;
    let capture_drops = env.shared.capture.drops_since(since_ns);
    if capture_drops > 0 {
        warnings.push(format!(
            "the capture dropped {capture_drops} packets during this exchange (its buffer was full): a crafted SYN missing from `joins` may be among them"
        ));
    }
    let counters = match host::read_mptcp_counters() {
        Ok(all) => join_counters(&all),
        Err(e) => {
            warnings.push(format!("MPTcpExt counters: {e}"));
            BTreeMap::new()
        }
    };
    let joins = observed_joins(req, env);
    let displaced = displaced_joins(req, &joins, env);
    if displaced > 0 {
        warnings.push(format!(
            "{displaced} of the named SYNs arrived but were evicted from this server's store by newer SYNs from their address before the result: their absence from `joins` is no evidence"
        ));
    }
    AggregateResult {
        version: ECHO_VERSION,
        received,
        sent,
        connection: connection_of(mptcp, info.as_ref()),
        subflows,
        subflow_source: source,
        counters,
        joins,
        capture_drops,
        displaced,
        warnings,
    }
}

/// How many of the request's SYNs, missing from `found`, the store
/// captured and then evicted.
fn displaced_joins(req: &AggregateRequest, found: &[ProbeObservation], env: &Env<'_>) -> u64 {
    let store = env.shared.store.lock().unwrap_or_else(|p| p.into_inner());
    req.joins
        .iter()
        .take(MAX_AGGREGATE_JOINS)
        .filter(|j| {
            !found
                .iter()
                .any(|o| o.syn.seq == j.seq && o.syn.src == j.source)
        })
        .filter_map(|j| Some((j.source.parse::<IpAddr>().ok()?, j.seq)))
        .filter(|(source, seq)| store.displaced_of(*source, &[*seq]) > 0)
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(duration_ms: u32, max_bytes: u64) -> AggregateRequest {
        AggregateRequest::new(duration_ms, max_bytes, vec![])
    }

    #[test]
    fn grants_are_cut_to_the_limits() {
        let limits = AggregateLimits::default();
        let g = grant(&req(60_000, u64::MAX), &limits, None);
        assert_eq!(g.duration_ms, 5_000);
        assert_eq!(g.max_bytes, 16 << 20);
        let g = grant(&req(500, 1000), &limits, None);
        assert_eq!((g.duration_ms, g.max_bytes, g.note), (500, 1000, None));
        let off = AggregateLimits {
            max_bytes: 0,
            ..limits
        };
        assert!(grant(&req(500, 1000), &off, None).note.is_some());
        let g = grant(&req(500, 1000), &limits, Some("busy".into()));
        assert_eq!((g.duration_ms, g.max_bytes), (0, 0));
        assert_eq!(g.note.as_deref(), Some("busy"));
    }

    #[test]
    fn the_gate_limits_per_source_and_at_once() {
        let gate = Gate::new(AggregateLimits {
            max_concurrent: 2,
            per_source_per_minute: 3,
            ..Default::default()
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = gate.admit(a).unwrap();
        let second = gate.admit(b).unwrap();
        assert!(gate.admit(b).unwrap_err().starts_with("busy"));
        drop(first);
        drop(second);
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        for _ in 0..3 {
            drop(gate.admit(c).unwrap());
        }
        assert!(gate.admit(c).unwrap_err().starts_with("rate limited"));
    }

    #[test]
    fn subflows_and_info_are_reported_as_read() {
        let info = MptcpInfo::decode(&{
            let mut b = vec![0u8; 96];
            b[0] = 1;
            b[3] = 8;
            b[12..16].copy_from_slice(&7u32.to_ne_bytes());
            b
        });
        let c = connection_of(true, Some(&info));
        assert_eq!(
            (c.token, c.subflows, c.subflows_max),
            (Some(7), Some(1), Some(8))
        );
        assert_eq!(connection_of(false, None), AggregateConnection::default());
        let s = MptcpSubflows {
            source: sockopt::SubflowSource::FullInfo,
            info: None,
            total: 1,
            subflows: vec![sockopt::Subflow {
                id: Some(1),
                local: Some("10.99.0.2:6101".parse().unwrap()),
                remote: Some("10.12.0.1:4000".parse().unwrap()),
                tcp: Some(sockopt::TcpInfo {
                    state: Some(1),
                    bytes_acked: Some(10),
                    bytes_received: Some(20),
                    ..Default::default()
                }),
            }],
        };
        let r = subflow_reports(&s);
        assert_eq!(r[0].remote.as_deref(), Some("10.12.0.1:4000"));
        assert_eq!(
            (r[0].state, r[0].bytes_acked, r[0].bytes_received),
            (Some(1), Some(10), Some(20))
        );
    }

    /// A loopback connection: (the server's end, the client's end).
    async fn pair() -> (TcpStream, std::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let c = std::thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
        let (s, _) = l.accept().await.unwrap();
        (s, c.join().unwrap())
    }

    #[tokio::test]
    async fn the_data_phase_counts_both_ways_and_keeps_what_follows() {
        use std::io::{Read, Write};
        let (mut s, mut c) = pair().await;
        c.write_all(&[0u8; 5000]).unwrap();
        c.write_all(b"\n{\"next\"").unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            while !got.ends_with(b"\n") {
                let n = c.read(&mut b).unwrap();
                got.extend_from_slice(&b[..n]);
            }
            got.len()
        });
        let plan = DataPlan::new(200, 3000);
        let moved = std::sync::atomic::AtomicU32::new(0);
        let progress = || {
            moved.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        };
        let (sent, received, rest) = data_phase(
            &mut s,
            b"\0\0".to_vec(),
            plan,
            10_000,
            Duration::from_secs(5),
            &progress,
        )
        .await
        .unwrap();
        assert_eq!((sent, received), (3000, 5002));
        // Bytes came in: the admission heard that the connection moves.
        assert!(moved.load(std::sync::atomic::Ordering::Relaxed) >= 1);
        assert_eq!(rest, b"{\"next\"");
        assert_eq!(reader.join().unwrap(), 3001);
    }

    #[tokio::test]
    async fn a_client_pushing_more_than_granted_is_stopped() {
        use std::io::Write;
        let (mut s, mut c) = pair().await;
        c.write_all(&[0u8; 100]).unwrap();
        let r = data_phase(
            &mut s,
            Vec::new(),
            DataPlan::new(0, 0),
            10,
            Duration::from_secs(5),
            &|| {},
        )
        .await;
        assert_eq!(r.unwrap_err().0, "too_much_data");
        drop(c);
    }

    #[test]
    fn only_join_and_reset_counters_are_reported() {
        let all: BTreeMap<String, u64> = [
            ("MPJoinRejected", 2),
            ("MPJoinSynRx", 3),
            ("MPRstTx", 1),
            ("MPCapableSYNRX", 9),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let j = join_counters(&all);
        assert_eq!(j.len(), 3);
        assert!(!j.contains_key("MPCapableSYNRX"));
    }
}
