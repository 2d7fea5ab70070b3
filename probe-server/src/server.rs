//! The socket edge: listeners (MPTCP, else TCP), the capture thread, and one
//! tokio task per connection driving [`crate::protocol`].
//!
//! Everything runs on one current-thread runtime on purpose: sockets,
//! sysctl and netlink reads then all happen in the namespace of the thread
//! that called [`run`] (the namespace tests rely on it), and one thread is
//! plenty for a service that answers a few lines per connection.
use crate::capture::CaptureStats;
pub use crate::listen::{open, Opened};
use crate::protocol::{classify, Action, LineBuffer, Opening, Session};
use crate::report;
use crate::sockopt;
use crate::store::{FourTuple, Store, StoreLimits};
use packet::echo::{
    ErrorMessage, HostReadiness, ListenerState, OptionForm, ProbeAnswer, ProbeObservation,
    ServerMessage, ECHO_VERSION, MAX_LINE,
};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
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
    /// New connections per source address per minute.
    pub per_source_per_minute: u32,
    /// Close a connection silent for this long.
    pub idle_timeout: Duration,
    /// Close any connection after this long.
    pub connection_timeout: Duration,
    /// Longest a report waits for the capture thread to catch up.
    pub capture_wait: Duration,
    pub report_kernel: bool,
    pub max_queries: usize,
    /// Force TCP listeners (for tests of the fallback path).
    pub force_tcp: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ports: vec![6101],
            watch: Vec::new(),
            interface: None,
            store: StoreLimits {
                capacity: 8192,
                per_source: 64,
            },
            max_connections: 256,
            per_source_per_minute: 120,
            idle_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(30),
            capture_wait: Duration::from_secs(3),
            report_kernel: false,
            max_queries: 32,
            force_tcp: false,
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
    pub active: AtomicUsize,
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub listener: Mutex<ListenerState>,
    pub addresses: Mutex<Vec<SocketAddr>>,
}

struct Ctx {
    config: Config,
    shared: Arc<Shared>,
    capture_ok: bool,
    readiness: Mutex<Option<(Instant, HostReadiness)>>,
    rates: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    slots: Arc<tokio::sync::Semaphore>,
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

    /// Per-source connection rate: true when this connection may proceed.
    fn admit(&self, ip: IpAddr) -> bool {
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if rates.len() > 65536 {
            rates.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
            if rates.len() > 65536 {
                rates.clear();
            }
        }
        let entry = rates.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.config.per_source_per_minute
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
        slots: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
        config,
        shared: shared.clone(),
        capture_ok,
        readiness: Mutex::new(None),
        rates: Mutex::new(HashMap::new()),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for l in opened.listeners {
        let listener = TcpListener::from_std(l.socket)?;
        if let Ok(a) = listener.local_addr() {
            tracing::info!(check = "listen", addr = %a, mptcp = l.mptcp, "listening");
            shared
                .addresses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(a);
        }
        tasks.spawn_local(accept_loop(listener, l.mptcp, ctx.clone()));
    }
    shutdown.await;
    stop.store(true, Ordering::Relaxed);
    tasks.abort_all();
    if let Some(t) = capture_thread {
        let _ = t.join();
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, mptcp: bool, ctx: Arc<Ctx>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        // Reap finished connection tasks so the set stays small.
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(check = "accept", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer_ip = report::endpoint(peer).addr.parse().unwrap_or(peer.ip());
        if !ctx.admit(peer_ip) {
            ctx.shared.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::info!(check = "connection", %peer, outcome = "rate_limited");
            conns.spawn_local(refuse(
                stream,
                "rate_limited",
                "too many connections from this address; retry in a minute",
            ));
            continue;
        }
        let Ok(permit) = ctx.slots.clone().try_acquire_owned() else {
            ctx.shared.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::info!(check = "connection", %peer, outcome = "busy");
            conns.spawn_local(refuse(stream, "busy", "too many connections; retry later"));
            continue;
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
        conns.spawn_local(async move {
            ctx2.shared.active.fetch_add(1, Ordering::Relaxed);
            let limit = ctx2.config.connection_timeout;
            let _ = tokio::time::timeout(limit, handle(stream, peer, mptcp, &ctx2)).await;
            if let Some(t) = claimed {
                ctx2.shared
                    .store
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .release(&t);
            }
            ctx2.shared.active.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
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

/// Reads more bytes within the idle timeout; `Ok(0)` is end of stream.
async fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    idle: Duration,
) -> Result<usize, &'static str> {
    match tokio::time::timeout(idle, stream.read(buf)).await {
        Err(_) => Err("idle_timeout"),
        Ok(Err(_)) => Err("io"),
        Ok(Ok(n)) => Ok(n),
    }
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, listener_mptcp: bool, ctx: &Ctx) {
    let local = match stream.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let idle = ctx.config.idle_timeout;
    let mut lines = LineBuffer::new(MAX_LINE);
    let mut buf = [0u8; 2048];
    // Decide between HTTP and JSON lines from the first bytes.
    let opening = loop {
        match classify(lines.buffered()) {
            Opening::NeedMore => {}
            other => break other,
        }
        match read_some(&mut stream, &mut buf, idle).await {
            Ok(0) => return,
            Ok(n) => lines.push(&buf[..n]),
            Err("idle_timeout") => {
                let _ = stream
                    .write_all(
                        error_line(ErrorMessage::new("idle_timeout", "no request")).as_bytes(),
                    )
                    .await;
                return;
            }
            Err(_) => return,
        }
    };
    if opening == Opening::Http {
        return http(stream, peer, local, listener_mptcp, lines, ctx).await;
    }
    let mut session = Session::new(ctx.config.max_queries);
    loop {
        let line = match lines.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => match read_some(&mut stream, &mut buf, idle).await {
                Ok(0) => return,
                Ok(n) => {
                    lines.push(&buf[..n]);
                    continue;
                }
                Err("idle_timeout") => {
                    tracing::info!(check = "connection", %peer, outcome = "idle_timeout");
                    let _ = stream
                        .write_all(
                            error_line(ErrorMessage::new("idle_timeout", "idle for too long"))
                                .as_bytes(),
                        )
                        .await;
                    return;
                }
                Err(_) => return,
            },
            Err(_) => {
                tracing::info!(check = "connection", %peer, outcome = "line_too_long");
                let e = ErrorMessage::new(
                    "line_too_long",
                    format!("lines are limited to {MAX_LINE} bytes"),
                );
                let _ = stream.write_all(error_line(e).as_bytes()).await;
                return;
            }
        };
        let out = match session.on_line(&line) {
            Action::Ignore => continue,
            Action::Report => {
                let form = session.option_form;
                let r = build_report(&stream, peer, local, listener_mptcp, form, ctx).await;
                tracing::info!(
                    check = "report", %peer, mptcp = r.connection.mptcp,
                    syn_mp_capable = ?r.syn.as_ref().and_then(|s| s.mp_capable).map(|m| m.version),
                    "json report"
                );
                ServerMessage::Report(Box::new(r))
            }
            Action::Answer(seqs) => {
                wait_for_capture(ctx).await;
                let answer = answer(peer, &seqs, session.option_form, ctx);
                tracing::info!(check = "query", %peer, asked = seqs.len(), found = answer.observations.len());
                ServerMessage::Answer(answer)
            }
            Action::Fail(e) => {
                tracing::info!(check = "connection", %peer, outcome = %e.code);
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
) -> packet::echo::EchoReport {
    let t = tuple(peer, local);
    let mut warnings = Vec::new();
    let (mut syn, mut syn_ack) = (None, None);
    if ctx.capture_ok {
        // The capture thread may still be behind (a burst queued ahead of
        // this SYN): wait until it has read everything that arrived before
        // now, or found both segments, within the capture wait.
        let started = crate::capture::now_ns();
        let deadline = Instant::now() + ctx.config.capture_wait;
        loop {
            // Read before the lookup: if the thread had caught up by then,
            // a SYN the lookup misses was never captured.
            let caught_up = ctx.shared.capture.caught_up(started);
            {
                let store = ctx.shared.store.lock().unwrap_or_else(|p| p.into_inner());
                let claimed = store.claimed(&t);
                let s = claimed
                    .and_then(|c| c.syn.as_ref())
                    .or_else(|| store.syn_of(&t));
                let seq = s.map(|o| o.segment.seq);
                syn = s.map(|o| o.segment.summary(&o.iface, o.ts, form));
                syn_ack = claimed
                    .and_then(|c| c.syn_ack.as_ref())
                    .filter(|a| seq.is_none_or(|q| a.segment.ack == q.wrapping_add(1)))
                    .or_else(|| store.syn_ack_of(&t, seq))
                    .map(|o| o.segment.summary(&o.iface, o.ts, form));
            }
            if (syn.is_some() && syn_ack.is_some()) || caught_up || Instant::now() >= deadline {
                break;
            }
            ctx.shared.capture.wait_caught_up(started, deadline).await;
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
    let drops = ctx.shared.capture.kernel_drops.load(Ordering::Relaxed);
    if syn.is_none() && drops > 0 {
        warnings.push(format!(
            "the capture socket was overloaded ({drops} packets dropped since start): this SYN may be among them"
        ));
    }
    let state = sockopt::mptcp_state(stream);
    let readiness = ctx.readiness();
    report::build(
        peer,
        local,
        syn,
        syn_ack,
        state.mptcp,
        listener_mptcp,
        state.info_flags,
        readiness,
        warnings,
    )
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

fn answer(peer: SocketAddr, seqs: &[u32], form: OptionForm, ctx: &Ctx) -> ProbeAnswer {
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
    ProbeAnswer {
        version: ECHO_VERSION,
        observations,
    }
}

/// HTTP limit: request line and headers.
const MAX_HTTP_HEAD: usize = 8192;

async fn http(
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    listener_mptcp: bool,
    lines: LineBuffer,
    ctx: &Ctx,
) {
    let mut head = lines.buffered().to_vec();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_HTTP_HEAD {
            let _ = stream
                .write_all(
                    b"HTTP/1.0 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n",
                )
                .await;
            return;
        }
        match read_some(&mut stream, &mut buf, ctx.config.idle_timeout).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let is_head = head.starts_with(b"HEAD ");
    // The text report lists options from the raw headers: any form does.
    let r = build_report(&stream, peer, local, listener_mptcp, OptionForm::Json, ctx).await;
    tracing::info!(check = "report", %peer, mptcp = r.connection.mptcp,
        syn_mp_capable = ?r.syn.as_ref().and_then(|s| s.mp_capable).map(|m| m.version), "http report");
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
