//! The socket edge: listeners (MPTCP, else TCP), the capture thread, and one
//! tokio task per connection driving [`crate::protocol`].
//!
//! Everything runs on one current-thread runtime on purpose: sockets,
//! sysctl and netlink reads then all happen in the namespace of the thread
//! that called [`run`] (the namespace tests rely on it), and one thread is
//! plenty for a service that answers a few lines per connection.
use crate::admission::{Admission, AdmissionLimits, Decision, Refusal, SourceKey};
use crate::capture::CaptureStats;
use crate::connlog::{ConnLog, ConnLogLimits, Outcome};
pub use crate::listen::{open, Opened};
use crate::logfields;
use crate::protocol::{classify, Action, LineBuffer, Opening, Session};
use crate::rearm::ListenerSlot;
use crate::report;
use crate::sockopt;
use crate::store::{FourTuple, Store, StoreLimits};
use packet::echo::{
    ErrorMessage, HostReadiness, ListenerState, OptionForm, ProbeAnswer, ProbeObservation,
    RearmStatus, ServerMessage, ECHO_VERSION, MAX_LINE,
};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Server settings (the command line maps onto this).
#[derive(Debug, Clone)]
pub struct Config {
    /// Ports to listen on (and capture).
    pub ports: Vec<u16>,
    /// Ports only captured.
    pub watch: Vec<u16>,
    /// Capture on this interface only.
    pub interface: Option<String>,
    pub store: StoreLimits,
    pub max_connections: usize,
    /// New connections per source per minute.
    pub per_source_per_minute: u32,
    /// Connections served at once per source.
    pub max_per_source: usize,
    /// IPv4 addresses sharing this many leading bits are one source.
    pub source_prefix_v4: u8,
    /// IPv6 addresses sharing this many leading bits are one source.
    pub source_prefix_v6: u8,
    /// Close a connection without a complete hello (or HTTP request head)
    /// this long after its accept, however many bytes it trickles.
    pub hello_timeout: Duration,
    /// Close a connection whose last complete line is this old.
    pub idle_timeout: Duration,
    /// Close any connection after this long.
    pub connection_timeout: Duration,
    /// Connections not served are logged as per-source summaries this often.
    pub log_interval: Duration,
    /// Longest a report waits for the capture thread to catch up.
    pub capture_wait: Duration,
    /// Bytes of the capture's receive ring (0: a plain socket, as before
    /// the ring; see [`crate::capture`]).
    pub capture_ring: usize,
    pub report_kernel: bool,
    pub max_queries: usize,
    /// Force TCP listeners (for tests of the fallback path).
    pub force_tcp: bool,
    /// Bounds of the aggregate exchange's data phase.
    pub aggregate: crate::aggregate::AggregateLimits,
    /// How often listeners that fell back to TCP try MPTCP again (zero:
    /// never); see [`crate::rearm`].
    pub rearm_interval: Duration,
}

impl Config {
    /// The admission limits these settings describe.
    pub fn admission(&self) -> AdmissionLimits {
        AdmissionLimits {
            max_connections: self.max_connections,
            per_source: self.max_per_source,
            per_source_per_minute: self.per_source_per_minute,
            v4_prefix: self.source_prefix_v4,
            v6_prefix: self.source_prefix_v6,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ports: vec![6101],
            watch: Vec::new(),
            interface: None,
            store: StoreLimits {
                capacity: 8192,
                // A trace's three flows of up to 30 TTLs each, and the
                // SYN/ACKs they draw, must fit (see engine::trace::flows).
                per_source: 256,
            },
            max_connections: 256,
            per_source_per_minute: 120,
            max_per_source: 16,
            source_prefix_v4: 32,
            source_prefix_v6: 64,
            hello_timeout: Duration::from_secs(3),
            idle_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(30),
            log_interval: Duration::from_secs(10),
            capture_wait: Duration::from_secs(3),
            capture_ring: crate::capture::DEFAULT_RING,
            report_kernel: false,
            max_queries: 32,
            force_tcp: false,
            aggregate: crate::aggregate::AggregateLimits::default(),
            rearm_interval: crate::rearm::DEFAULT_INTERVAL,
        }
    }
}

/// State shared between the tasks, the capture thread and observers.
#[derive(Debug)]
pub struct Shared {
    /// Segments on the listen ports: the connections' own SYNs (claimed at
    /// accept) and crafted probes sent to those ports.
    pub store: Arc<Mutex<Store>>,
    /// Segments on the watched ports, in a ring of their own so that busy
    /// or flooded watched ports never evict a listen port's SYN.
    pub watched: Arc<Mutex<Store>>,
    pub capture: Arc<CaptureStats>,
    pub capture_error: Mutex<Option<String>>,
    /// Connections being served.
    pub active: AtomicUsize,
    pub accepted: AtomicU64,
    /// Connections refused at accept (busy, rate limited).
    pub rejected: AtomicU64,
    /// Connections closed to make room for a less represented source.
    pub evicted: AtomicU64,
    pub listener: Mutex<ListenerState>,
    pub addresses: Mutex<Vec<SocketAddr>>,
}

struct Ctx {
    config: Config,
    shared: Arc<Shared>,
    capture_ok: bool,
    readiness: Mutex<Option<(Instant, HostReadiness)>>,
    /// Live connections; each handle closes its connection when evicted.
    admission: Mutex<Admission<tokio::sync::oneshot::Sender<()>>>,
    connlog: Mutex<ConnLog>,
    aggregate: crate::aggregate::Gate,
}

/// One admitted connection.
struct Conn {
    id: u64,
    source: SourceKey,
    accepted_at: Instant,
    /// The accept, on the capture's clock: this connection's SYN/ACK was
    /// sent before it.
    accept_ns: u64,
}

impl Ctx {
    /// Readiness, re-read at most once a second (a connection flood must
    /// not turn into a netlink flood).
    fn readiness(&self) -> HostReadiness {
        let mut cache = self.readiness.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, r)) = cache.as_ref() {
            if at.elapsed() < Duration::from_secs(1) {
                return r.clone();
            }
        }
        let mut r = host::read_readiness(&host::ReadinessOptions {
            kernel_release: self.config.report_kernel,
        });
        r.listener = Some(
            self.shared
                .listener
                .lock()
                .map(|l| l.clone())
                .unwrap_or_else(|p| p.into_inner().clone()),
        );
        *cache = Some((Instant::now(), r.clone()));
        r
    }

    fn admission(&self) -> std::sync::MutexGuard<'_, Admission<tokio::sync::oneshot::Sender<()>>> {
        self.admission.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection that was not served, for the next summary.
    fn note(&self, source: SourceKey, outcome: Outcome) {
        self.connlog
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(source, outcome);
    }

    /// Connection `conn` completed a line: it is not idle.
    fn progress(&self, conn: &Conn) {
        self.admission().progress(conn.id, Instant::now());
    }

    /// Writes the summaries of connections not served since the last call.
    fn flush_connlog(&self) {
        let (summaries, interval) = {
            let mut log = self.connlog.lock().unwrap_or_else(|p| p.into_inner());
            (log.flush(), log.limits().interval)
        };
        for s in summaries {
            let source = s
                .source
                .map_or_else(|| "others".to_string(), |k| k.to_string());
            let c = &s.counts;
            tracing::info!(
                check = "connections", source = %source, sources = s.sources,
                not_served = c.total(), busy = c.get(Outcome::Busy),
                source_busy = c.get(Outcome::SourceBusy),
                rate_limited = c.get(Outcome::RateLimited), evicted = c.get(Outcome::Evicted),
                hello_timeout = c.get(Outcome::HelloTimeout),
                idle_timeout = c.get(Outcome::IdleTimeout),
                protocol_error = c.get(Outcome::ProtocolError),
                interval_s = interval.as_secs_f64(), "connections not served"
            );
        }
    }
}

/// Serves until `shutdown` completes. Must run on a current-thread runtime
/// in the thread that called [`open`].
pub async fn serve(
    opened: Opened,
    config: Config,
    shared: Arc<Shared>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let capture_ok = opened.capture.is_ok();
    let capture_thread = match opened.capture {
        Ok(c) => {
            let stores = crate::capture::Stores {
                listen: shared.store.clone(),
                watched: shared.watched.clone(),
                listen_ports: config.ports.clone(),
            };
            let (stats, stop) = (shared.capture.clone(), stop.clone());
            Some(std::thread::spawn(move || c.run(stores, stats, stop)))
        }
        Err(e) => {
            *shared
                .capture_error
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            None
        }
    };
    *shared.listener.lock().unwrap_or_else(|p| p.into_inner()) = opened.listener_state.clone();
    let ctx = Arc::new(Ctx {
        admission: Mutex::new(Admission::new(config.admission())),
        connlog: Mutex::new(ConnLog::new(ConnLogLimits {
            interval: config.log_interval,
            ..ConnLogLimits::default()
        })),
        aggregate: crate::aggregate::Gate::new(config.aggregate),
        config,
        shared: shared.clone(),
        capture_ok,
        readiness: Mutex::new(None),
    });
    let mut tasks = tokio::task::JoinSet::new();
    let mut slots = Vec::new();
    let log_ctx = ctx.clone();
    tasks.spawn_local(async move {
        let mut tick =
            tokio::time::interval(log_ctx.config.log_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            log_ctx.flush_connlog();
        }
    });
    for l in opened.listeners {
        let slot = Rc::new(ListenerSlot::new(
            TcpListener::from_std(l.socket)?,
            l.mptcp,
        )?);
        let a = slot.addr();
        tracing::info!(check = "listen", addr = %a, mptcp = l.mptcp, "listening");
        shared
            .addresses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(a);
        tasks.spawn_local(accept_loop(slot.clone(), ctx.clone()));
        slots.push(slot);
    }
    let retrying = opened
        .listener_state
        .rearm
        .as_ref()
        .is_some_and(|r| r.status == RearmStatus::Retrying);
    if retrying && !ctx.config.rearm_interval.is_zero() {
        let interval = ctx.config.rearm_interval;
        tasks.spawn_local(crate::rearm::supervise(slots, shared.clone(), interval));
    }
    shutdown.await;
    stop.store(true, Ordering::Relaxed);
    tasks.abort_all();
    ctx.flush_connlog();
    if let Some(t) = capture_thread {
        let _ = t.join();
        let c = &shared.capture;
        // The capture's totals, for operators and the attack benchmark.
        tracing::info!(
            check = "capture",
            packets = c.packets.load(Ordering::Relaxed),
            kernel_drops = c.kernel_drops.load(Ordering::Relaxed),
            ring_freezes = c.ring_freezes.load(Ordering::Relaxed),
            ring_bytes = c.ring_bytes.load(Ordering::Relaxed),
            "capture stopped"
        );
    }
    Ok(())
}

async fn accept_loop(listener: Rc<ListenerSlot>, ctx: Arc<Ctx>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        // Reap finished connection tasks so the set stays small.
        while conns.try_join_next().is_some() {}
        let (stream, peer, mptcp) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(check = "accept", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let accepted_at = Instant::now();
        let accept_ns = crate::capture::now_ns();
        let (close, closed) = tokio::sync::oneshot::channel();
        let (source, decision) = {
            let mut admission = ctx.admission();
            let source = admission.source_of(remote_ip(peer));
            let decision = admission.admit(remote_ip(peer), accepted_at, close);
            ctx.shared
                .active
                .store(admission.active(), Ordering::Relaxed);
            (source, decision)
        };
        let id = match decision {
            Decision::Refuse(why) => {
                ctx.shared.rejected.fetch_add(1, Ordering::Relaxed);
                let (outcome, code, message) = match why {
                    Refusal::RateLimited => (
                        Outcome::RateLimited,
                        "rate_limited",
                        "too many connections from this source; retry in a minute",
                    ),
                    Refusal::SourceBusy => (
                        Outcome::SourceBusy,
                        "busy",
                        "too many connections from this source at once; retry later",
                    ),
                    Refusal::Busy => (Outcome::Busy, "busy", "too many connections; retry later"),
                };
                ctx.note(source, outcome);
                conns.spawn_local(refuse(stream, code, message));
                continue;
            }
            Decision::Admit { id, evicted } => {
                if let Some(evicted) = evicted {
                    let _ = evicted.send(());
                }
                id
            }
        };
        ctx.shared.accepted.fetch_add(1, Ordering::Relaxed);
        // Claim this connection's SYN at once: a flood filling the ring
        // between now and the hello cannot evict it any more.
        let claimed = stream
            .local_addr()
            .ok()
            .map(|local| tuple(peer, local))
            .filter(|t| {
                ctx.capture_ok
                    && ctx
                        .shared
                        .store
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .claim(*t)
            });
        let ctx2 = ctx.clone();
        let conn = Conn {
            id,
            source,
            accepted_at,
            accept_ns,
        };
        conns.spawn_local(async move {
            let mut stream = stream;
            let limit = ctx2.config.connection_timeout;
            let evicted = tokio::select! {
                _ = tokio::time::timeout(limit, handle(&mut stream, peer, mptcp, &ctx2, &conn)) => false,
                Ok(()) = closed => true,
            };
            if evicted {
                ctx2.shared.evicted.fetch_add(1, Ordering::Relaxed);
                ctx2.note(conn.source, Outcome::Evicted);
                let e = ErrorMessage::new(
                    "busy",
                    "closed to make room: this source holds the most connections; retry later",
                );
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    stream.write_all(error_line(e).as_bytes()),
                )
                .await;
            }
            if let Some(t) = claimed {
                ctx2.shared
                    .store
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .release(&t);
            }
            let mut admission = ctx2.admission();
            admission.release(conn.id);
            ctx2.shared.active.store(admission.active(), Ordering::Relaxed);
        });
    }
}

async fn refuse(mut stream: TcpStream, code: &str, message: &str) {
    let line = error_line(ErrorMessage::new(code, message));
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
}

fn error_line(e: ErrorMessage) -> String {
    let mut s = serde_json::to_string(&ServerMessage::Error(e)).unwrap_or_default();
    s.push('\n');
    s
}

/// Why a read ended without bytes.
enum ReadEnd {
    /// The deadline passed.
    Deadline,
    Io,
}

/// Reads more bytes until `deadline`; `Ok(0)` is end of stream.
async fn read_until(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, ReadEnd> {
    match tokio::time::timeout_at(deadline.into(), stream.read(buf)).await {
        Err(_) => Err(ReadEnd::Deadline),
        Ok(Err(_)) => Err(ReadEnd::Io),
        Ok(Ok(n)) => Ok(n),
    }
}

/// The deadlines of a connection: the hello deadline runs from the accept
/// and the idle one from the last complete line; bytes alone reset neither,
/// so trickling one byte at a time holds no connection open.
struct Deadlines {
    hello_timeout: Duration,
    hello: Instant,
    idle: Duration,
    last_line: Instant,
    greeted: bool,
}

impl Deadlines {
    fn new(conn: &Conn, config: &Config) -> Self {
        Deadlines {
            hello_timeout: config.hello_timeout,
            hello: conn.accepted_at + config.hello_timeout,
            idle: config.idle_timeout,
            last_line: conn.accepted_at,
            greeted: false,
        }
    }

    fn next(&self) -> Instant {
        let idle = self.last_line + self.idle;
        if self.greeted {
            idle
        } else {
            idle.min(self.hello)
        }
    }

    /// The outcome and error of a passed deadline.
    fn expired(&self) -> (Outcome, ErrorMessage) {
        if !self.greeted && self.hello <= self.last_line + self.idle {
            let message = format!("no hello within {} s", self.hello_timeout.as_secs_f64());
            (
                Outcome::HelloTimeout,
                ErrorMessage::new("idle_timeout", message),
            )
        } else if self.greeted {
            (
                Outcome::IdleTimeout,
                ErrorMessage::new("idle_timeout", "idle for too long"),
            )
        } else {
            (
                Outcome::IdleTimeout,
                ErrorMessage::new("idle_timeout", "no request"),
            )
        }
    }
}

async fn handle(
    stream: &mut TcpStream,
    peer: SocketAddr,
    listener_mptcp: bool,
    ctx: &Ctx,
    conn: &Conn,
) {
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let mut deadlines = Deadlines::new(conn, &ctx.config);
    // The aggregate exchange keeps the plain idle timeout and the accept
    // time on the capture's clock.
    let idle = ctx.config.idle_timeout;
    let accepted_at = conn.accept_ns as f64 / 1e9;
    let mut lines = LineBuffer::new(MAX_LINE);
    let mut buf = [0u8; 2048];
    // Decide between HTTP and JSON lines from the first bytes.
    let opening = loop {
        match classify(lines.buffered()) {
            Opening::NeedMore => {}
            other => break other,
        }
        match read_until(stream, &mut buf, deadlines.next()).await {
            Ok(0) => return,
            Ok(n) => lines.push(&buf[..n]),
            Err(ReadEnd::Deadline) => {
                let (outcome, e) = deadlines.expired();
                ctx.note(conn.source, outcome);
                let _ = stream.write_all(error_line(e).as_bytes()).await;
                return;
            }
            Err(ReadEnd::Io) => return,
        }
    };
    if opening == Opening::Http {
        return http(
            stream,
            peer,
            local,
            listener_mptcp,
            lines,
            deadlines,
            ctx,
            conn,
        )
        .await;
    }
    let mut session = Session::new(ctx.config.max_queries);
    loop {
        let line = match lines.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => match read_until(stream, &mut buf, deadlines.next()).await {
                Ok(0) => return,
                Ok(n) => {
                    lines.push(&buf[..n]);
                    continue;
                }
                Err(ReadEnd::Deadline) => {
                    let (outcome, e) = deadlines.expired();
                    ctx.note(conn.source, outcome);
                    let _ = stream.write_all(error_line(e).as_bytes()).await;
                    return;
                }
                Err(ReadEnd::Io) => return,
            },
            Err(_) => {
                ctx.note(conn.source, Outcome::ProtocolError);
                let e = ErrorMessage::new(
                    "line_too_long",
                    format!("lines are limited to {MAX_LINE} bytes"),
                );
                let _ = stream.write_all(error_line(e).as_bytes()).await;
                return;
            }
        };
        let out = match session.on_line(&line) {
            // Empty lines are no progress: they would keep a connection
            // alive as well as trickled bytes.
            Action::Ignore => continue,
            Action::Report => {
                deadlines.greeted = true;
                deadlines.last_line = Instant::now();
                ctx.progress(conn);
                let form = session.option_form;
                let r = build_report(stream, peer, local, listener_mptcp, form, ctx, conn).await;
                tracing::info!(
                    check = "report", %peer, mptcp = r.connection.mptcp,
                    syn_mp_capable = %logfields::syn_mp_capable(r.syn.as_ref()),
                    "json report"
                );
                ServerMessage::Report(Box::new(r))
            }
            Action::Answer(seqs) => {
                deadlines.last_line = Instant::now();
                ctx.progress(conn);
                wait_for_capture(ctx).await;
                let answer = answer(peer, &seqs, session.option_form, ctx, conn);
                tracing::info!(check = "query", %peer, asked = seqs.len(), found = answer.observations.len());
                ServerMessage::Answer(answer)
            }
            Action::Aggregate(req) => {
                // The request is a complete line; the data phase that
                // follows completes none, so it reports its own progress.
                deadlines.last_line = Instant::now();
                ctx.progress(conn);
                let progress = || ctx.progress(conn);
                let env = crate::aggregate::Env {
                    shared: &ctx.shared,
                    gate: &ctx.aggregate,
                    capture_ok: ctx.capture_ok,
                    capture_wait: ctx.config.capture_wait,
                    idle,
                    form: session.option_form,
                    accepted_at,
                    progress: &progress,
                };
                match crate::aggregate::run(stream, &mut lines, &req, peer, &env).await {
                    Ok(r) => {
                        tracing::info!(check = "aggregate", %peer, sent = r.sent, received = r.received,
                            subflows = r.subflows.len(), joins = r.joins.len());
                        ServerMessage::AggregateResult(Box::new(r))
                    }
                    Err((code, message)) => {
                        tracing::info!(check = "aggregate", %peer, outcome = code);
                        let _ = stream
                            .write_all(error_line(ErrorMessage::new(code, message)).as_bytes())
                            .await;
                        return;
                    }
                }
            }
            Action::Fail(e) => {
                ctx.note(conn.source, Outcome::ProtocolError);
                let _ = stream.write_all(error_line(e).as_bytes()).await;
                return;
            }
        };
        let mut text = serde_json::to_string(&out).unwrap_or_default();
        text.push('\n');
        if stream.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn remote_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn tuple(peer: SocketAddr, local: SocketAddr) -> FourTuple {
    FourTuple {
        remote: remote_ip(peer),
        remote_port: peer.port(),
        local: remote_ip(local),
        local_port: local.port(),
    }
}

async fn build_report(
    stream: &TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    listener_mptcp: bool,
    form: OptionForm,
    ctx: &Ctx,
    conn: &Conn,
) -> packet::echo::EchoReport {
    let t = tuple(peer, local);
    let mut warnings = Vec::new();
    let (mut syn, mut syn_ack) = (None, None);
    if ctx.capture_ok {
        // This connection's SYN/ACK left before its accept. Until the
        // capture thread has read everything up to the accept, the newest
        // pair on this 4-tuple may be an older one (a probe sent from the
        // same port a moment earlier): wait, within the capture wait.
        // Wakes the capture thread and waits for its progress, never a
        // fixed sleep.
        let deadline = Instant::now() + ctx.config.capture_wait;
        let caught_up = ctx
            .shared
            .capture
            .wait_caught_up(conn.accept_ns, deadline)
            .await;
        let bound;
        {
            let store = ctx.shared.store.lock().unwrap_or_else(|p| p.into_inner());
            match store.claimed(&t) {
                Some(c) => {
                    bound = c.is_bound();
                    syn = c.syn.clone();
                    syn_ack = c.syn_ack.clone();
                }
                None => {
                    let pair = store.pair_of(&t);
                    bound = pair.syn.is_some() && pair.syn_ack.is_some();
                    syn = pair.syn.cloned();
                    syn_ack = pair.syn_ack.cloned();
                }
            }
            if syn.is_none() && store.was_displaced(&t) {
                warnings.push(format!(
                    "{} (more SYNs from this address than the {} per address it keeps, or than its {} in all: a flood in this address's name?)",
                    crate::report::SYN_DISPLACED,
                    store.limits().per_source,
                    store.limits().capacity
                ));
            }
        }
        if !caught_up {
            warnings.push(format!(
                "the capture was more than {:.1} s behind: the SYN shown may belong to an earlier connection from the same address and port",
                ctx.config.capture_wait.as_secs_f64()
            ));
        }
        if syn.is_some() && !bound {
            warnings.push(
                "the SYN shown is the first one seen from this address and port; this host's answer to it was not captured to confirm it".into(),
            );
        }
    } else if let Some(e) = ctx
        .shared
        .capture_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        warnings.push(format!("capture unavailable on this server: {e}"));
    }
    let (_, dropped) = capture_drops(
        &ctx.shared.capture,
        conn.accept_ns,
        SYN_LOOKBACK_NS,
        "report",
        "the SYN shown may be missing or may not be this connection's",
    );
    if let Some(w) = dropped {
        warnings.push(w);
    }
    let state = sockopt::mptcp_state(stream);
    let readiness = ctx.readiness();
    report::build(
        peer,
        local,
        syn.map(|o| o.segment.summary(&o.iface, o.ts, form)),
        syn_ack.map(|o| o.segment.summary(&o.iface, o.ts, form)),
        state.mptcp,
        listener_mptcp,
        state.info_flags,
        readiness,
        warnings,
    )
}

/// How far before its accept a connection's SYN may have come: drops
/// counted from then on are this connection's concern.
const SYN_LOOKBACK_NS: u64 = 1_000_000_000;
/// How far before its accept a connection's crafted probes may have come
/// (a client sends them first, within its timeout; 30 s is more than any
/// verb's).
const PROBE_LOOKBACK_NS: u64 = 30_000_000_000;

/// Packets the kernel dropped from the capture (its ring or queue was
/// full) between `lookback_ns` before this connection's accept and now,
/// and the warning that says so in a `message` ("report", "answer"),
/// followed by what the drops may have cost it (`consequence`).
fn capture_drops(
    capture: &CaptureStats,
    accept_ns: u64,
    lookback_ns: u64,
    message: &str,
    consequence: &str,
) -> (u64, Option<String>) {
    let dropped = capture.drops_since(accept_ns.saturating_sub(lookback_ns));
    let warning = (dropped > 0).then(|| {
        let total = capture.kernel_drops.load(Ordering::Relaxed);
        format!(
            "the capture dropped {dropped} packets between {} s before this connection was accepted and this {message} ({total} since the server started; its buffer was full): {consequence}",
            lookback_ns / 1_000_000_000
        )
    });
    (dropped, warning)
}

/// Waits (at most the capture wait) until the capture thread has read
/// everything that reached its socket before now. A client queries right
/// after its crafted probes were answered, so their SYNs and this host's
/// SYN/ACKs are already queued on the capture socket; without the wait a
/// query could overtake them and be answered "not seen". The capture
/// thread is woken to drain its queue, so this takes the time to read
/// what is queued, not a read timeout.
async fn wait_for_capture(ctx: &Ctx) {
    if !ctx.capture_ok {
        return;
    }
    let started = crate::capture::now_ns();
    let deadline = Instant::now() + ctx.config.capture_wait;
    ctx.shared.capture.wait_caught_up(started, deadline).await;
}

/// At most this many observations per answer.
const MAX_ANSWER: usize = 256;

fn answer(peer: SocketAddr, seqs: &[u32], form: OptionForm, ctx: &Ctx, conn: &Conn) -> ProbeAnswer {
    let remote = remote_ip(peer);
    let mut observations = Vec::new();
    for store in [&ctx.shared.store, &ctx.shared.watched] {
        let store = store.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_ANSWER.saturating_sub(observations.len());
        for o in store.probes_of(remote, seqs, room) {
            let t = FourTuple {
                remote,
                remote_port: o.segment.sport,
                local: o.segment.dst,
                local_port: o.segment.dport,
            };
            observations.push(ProbeObservation {
                syn: o.segment.summary(&o.iface, o.ts, form),
                syn_ack: store
                    .syn_ack_of(&t, Some(o.segment.seq))
                    .map(|a| a.segment.summary(&a.iface, a.ts, form)),
            });
        }
    }
    // Oldest first across both stores.
    observations.sort_by(|a, b| a.syn.ts.total_cmp(&b.syn.ts));
    // A client's crafted probes leave before its echo connection (within
    // its timeout): drops from well before the accept on concern them.
    let (dropped, warning) = capture_drops(
        &ctx.shared.capture,
        conn.accept_ns,
        PROBE_LOOKBACK_NS,
        "answer",
        "a probe missing here may be among them",
    );
    let mut warnings: Vec<String> = warning.into_iter().collect();
    let displaced = displaced_missing(ctx, remote, seqs, &observations);
    if displaced > 0 {
        warnings.push(format!(
            "{displaced} of the asked SYNs arrived but were evicted from this server's store by newer SYNs from this address before the query (a flood in its name?): their absence here is no evidence"
        ));
    }
    ProbeAnswer {
        version: ECHO_VERSION,
        observations,
        capture_drops: dropped,
        displaced,
        warnings,
    }
}

/// How many of `seqs` from `remote`, missing from `found`, the stores
/// captured and then evicted.
fn displaced_missing(ctx: &Ctx, remote: IpAddr, seqs: &[u32], found: &[ProbeObservation]) -> u64 {
    let missing: Vec<u32> = seqs
        .iter()
        .copied()
        .filter(|s| !found.iter().any(|o| o.syn.seq == *s))
        .collect();
    if missing.is_empty() {
        return 0;
    }
    let evicted: usize = [&ctx.shared.store, &ctx.shared.watched]
        .iter()
        .map(|s| {
            s.lock()
                .unwrap_or_else(|p| p.into_inner())
                .displaced_of(remote, &missing)
        })
        .sum();
    evicted.min(missing.len()) as u64
}

/// HTTP limit: request line and headers.
const MAX_HTTP_HEAD: usize = 8192;

#[allow(clippy::too_many_arguments)]
async fn http(
    stream: &mut TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    listener_mptcp: bool,
    lines: LineBuffer,
    deadlines: Deadlines,
    ctx: &Ctx,
    conn: &Conn,
) {
    let mut head = lines.buffered().to_vec();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_HTTP_HEAD {
            ctx.note(conn.source, Outcome::ProtocolError);
            let _ = stream
                .write_all(
                    b"HTTP/1.0 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
        // The request head counts as the hello: its deadline applies.
        match read_until(stream, &mut buf, deadlines.next()).await {
            Ok(0) | Err(ReadEnd::Io) => return,
            Err(ReadEnd::Deadline) => {
                ctx.note(conn.source, deadlines.expired().0);
                return;
            }
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    ctx.progress(conn);
    let is_head = head.starts_with(b"HEAD ");
    // The text report lists options from the raw headers: any form does.
    let r = build_report(
        stream,
        peer,
        local,
        listener_mptcp,
        OptionForm::Json,
        ctx,
        conn,
    )
    .await;
    tracing::info!(check = "report", %peer, mptcp = r.connection.mptcp,
        syn_mp_capable = %logfields::syn_mp_capable(r.syn.as_ref()), "http report");
    let body = report::text(&r);
    let mut resp = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !is_head {
        resp.push_str(&body);
    }
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Opens everything, drops privileges to `user` (when given), and serves on
/// a current-thread runtime in the calling thread until `shutdown`.
/// `on_ready` gets the shared state once the server accepts connections.
///
/// Capabilities are per thread, so the drop comes before any thread
/// starts: the runtime and the capture thread are created after it (and
/// inherit the dropped state). The caller must not have started threads
/// of its own either.
pub fn run<F, S>(config: Config, user: Option<&str>, shutdown: S, on_ready: F) -> io::Result<()>
where
    F: FnOnce(Arc<Shared>),
    S: Future<Output = ()>,
{
    let opened = open(&config)?;
    if let Some(user) = user {
        let dropped = crate::privdrop::drop_privileges(user).map_err(io::Error::other)?;
        tracing::info!(
            check = "privileges",
            uid = dropped.uid,
            gid = dropped.gid,
            switched_user = dropped.switched_user,
            bounding_cleared = dropped.bounding_cleared,
            "dropped every capability (verified)"
        );
    }
    let shared = Arc::new(Shared {
        store: Arc::new(Mutex::new(Store::new(config.store))),
        watched: Arc::new(Mutex::new(Store::new(config.store))),
        capture: Arc::new(CaptureStats::default()),
        capture_error: Mutex::new(None),
        active: AtomicUsize::new(0),
        accepted: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        evicted: AtomicU64::new(0),
        listener: Mutex::new(opened.listener_state.clone()),
        addresses: Mutex::new(Vec::new()),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let ready_shared = shared.clone();
    local.block_on(&rt, async move {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::task::spawn_local(async move {
            let r = serve(opened, config, ready_shared, async {
                let _ = rx.await;
            })
            .await;
            r
        });
        // Let serve register its listeners before reporting ready.
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        on_ready(shared);
        shutdown.await;
        let _ = tx.send(());
        serving.await.unwrap_or(Ok(()))
    })
}
