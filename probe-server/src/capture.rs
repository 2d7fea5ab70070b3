//! The AF_PACKET capture: opened with CAP_NET_RAW before the privilege
//! drop, filtered in the kernel by [`crate::bpf::syn_filter`], read by one
//! thread that feeds the store. By default it is a memory-mapped TPACKET_V3
//! ring ([`netsys::packet_ring`], `--capture-ring-mib`): the packaged unit
//! holds CAP_NET_RAW only, so a plain socket's receive buffer cannot be
//! raised beyond `net.core.rmem_max`, and a SYN flood overflowed it. With
//! `--capture-ring-mib 0`, or when the kernel refuses the ring, the plain
//! socket is read instead (a warning says so at startup).
//!
//! When is the capture caught up to time `t`, that is, has every packet
//! that passed the filter before `t` been read (or dropped, and counted)?
//! The thread publishes such times ([`CaptureStats::processed_until_ns`])
//! and sleeps in `poll` on its socket and on a [`Wake`]; a report that
//! needs the capture ([`CaptureStats::wait_caught_up`]) wakes it and waits
//! for the next publication, never for a fixed timeout.
//!
//! - Plain socket: the thread drains the socket until the queue is empty
//!   (EAGAIN); everything that reached it before the drain started has
//!   then been read, so it publishes the time the drain started.
//! - Ring: an empty queue proves nothing, because the kernel hands a block
//!   over only when it is full or its retire timer fires, so packets can
//!   sit in the block being filled. The thread counts instead. It reads
//!   the clock (`before`), then PACKET_STATISTICS: the kernel counts every
//!   packet written into the ring (`tp_packets`, incremented under the
//!   queue lock as the packet takes its place in the ring) and every drop,
//!   so `delivered` (packets minus drops, summed over reads since the
//!   counters reset on each read) is how many packets the ring received up
//!   to a moment after `before`. Blocks come back in ring order and each
//!   block says how many packets it holds, so once the thread has read
//!   that many packets from blocks, every packet that passed the filter
//!   before `before` has been read or was dropped: it publishes `before`.
//!   This holds whatever the timer does; the retire timeout
//!   ([`RETIRE_TIMEOUT_MS`]) only bounds how long that takes (about 1 ms
//!   on Linux 6.18, one timer tick on kernels with a jiffies timer).
use crate::bpf;
use crate::segment;
use crate::store::{Observation, Store};
use netsys::packet_ring::{PacketRing, PacketRingOptions, RingSize};
use netsys::packet_socket::{PacketSocket, PacketSocketOptions, PacketType};
use netsys::wake::{readable, Wake};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the capture thread looks at its stop flag (a wake or a
/// packet ends its sleep earlier).
const STOP_CHECK: Duration = Duration::from_millis(200);
/// A burst must queue rather than drop.
const RECV_BUFFER: usize = 16 << 20;
/// Under sustained load the queue may never empty: the kernel's drop
/// counter is read every this many packets as well.
const DROPS_EVERY: u64 = 4096;
/// The ring's block retire timeout: the longest a captured packet waits in
/// a block that is not full (the kernel rounds it up to its timer's
/// resolution).
pub const RETIRE_TIMEOUT_MS: u32 = 1;
/// The default ring size.
pub const DEFAULT_RING: usize = 16 << 20;
/// Catch-up points kept while the ring reader waits for blocks (a newer
/// point replaces the newest kept one beyond this: publication is only
/// later, never wrong).
const MAX_PENDING: usize = 64;
/// Drops are kept per interval of this many ns (see [`DropLog`]).
const DROP_BUCKET_NS: u64 = 10_000_000;
/// Intervals of drops kept: one minute, longer than any connection lives.
const DROP_BUCKETS: usize = 6000;

/// Where captured segments go: listen-port traffic and watched-port
/// traffic in separate stores.
pub struct Stores {
    pub listen: Arc<Mutex<Store>>,
    pub watched: Arc<Mutex<Store>>,
    pub listen_ports: Vec<u16>,
}

impl Stores {
    /// The store for a segment: by the server-side port (destination of a
    /// SYN, source of a SYN/ACK).
    fn for_port(&self, port: u16) -> &Mutex<Store> {
        if self.listen_ports.contains(&port) {
            &self.listen
        } else {
            &self.watched
        }
    }
}

/// What the capture reads: the ring, or the plain socket.
enum Source {
    Ring(PacketRing),
    Socket(PacketSocket),
}

/// An open, filtered capture and the flag that wakes its reader.
pub struct Capture {
    source: Source,
    wake: Arc<Wake>,
}

/// Kernel drops by the time the capture thread counted them, in intervals
/// of [`DROP_BUCKET_NS`]: a report asks how many were counted since a
/// time. A drop is counted after it happened, never before, so the answer
/// includes every drop since that time (and may include a few from up to
/// one interval and one read of the counters earlier): a report can warn
/// too much, never too little.
#[derive(Debug, Default)]
pub struct DropLog {
    /// Drops counted before the oldest interval kept.
    base: u64,
    /// (end of interval in ns, drops counted up to its end), oldest first.
    intervals: VecDeque<(u64, u64)>,
    total: u64,
}

impl DropLog {
    /// Counts `n` drops read at `at_ns`.
    pub fn record(&mut self, at_ns: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.total += n;
        let end = (at_ns / DROP_BUCKET_NS + 1) * DROP_BUCKET_NS;
        match self.intervals.back_mut() {
            Some(last) if last.0 >= end => last.1 = self.total,
            _ => self.intervals.push_back((end, self.total)),
        }
        while self.intervals.len() > DROP_BUCKETS {
            if let Some((_, c)) = self.intervals.pop_front() {
                self.base = c;
            }
        }
    }

    /// Drops counted at or after `t_ns` (give or take one interval).
    pub fn since(&self, t_ns: u64) -> u64 {
        let before = self
            .intervals
            .iter()
            .rev()
            .find(|(end, _)| *end <= t_ns)
            .map_or(self.base, |(_, c)| *c);
        self.total - before
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

/// Counters of the capture thread.
#[derive(Debug, Default)]
pub struct CaptureStats {
    pub packets: AtomicU64,
    pub unparsable: AtomicU64,
    pub ignored_direction: AtomicU64,
    /// Every packet that reached the socket before this time (ns since the
    /// epoch) has been read: a report waits for this to pass its own start
    /// before concluding that a SYN was not captured.
    pub processed_until_ns: AtomicU64,
    /// Packets the kernel dropped because the socket's queue or ring was
    /// full (PACKET_STATISTICS), since start.
    pub kernel_drops: AtomicU64,
    /// Times the ring froze: every block was waiting to be read.
    pub ring_freezes: AtomicU64,
    /// Ring size in bytes; 0 when the plain socket is read.
    pub ring_bytes: AtomicU64,
    /// The same drops, by when they were counted.
    drops: Mutex<DropLog>,
    /// Notified each time `processed_until_ns` is published.
    progress: tokio::sync::Notify,
    /// Wakes the capture thread (set when it starts).
    waker: OnceLock<Arc<Wake>>,
}

/// Adds the plain socket's drop count since the last call (the kernel
/// resets it on each read) to `stats`.
fn collect_drops(socket: &PacketSocket, stats: &CaptureStats) {
    if let Ok(st) = socket.statistics() {
        stats.count_drops(u64::from(st.drops), 0);
    }
}

/// Nanoseconds since the epoch, the clock `processed_until_ns` is kept in.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl CaptureStats {
    /// Counts drops and ring freezes just read from the kernel.
    fn count_drops(&self, drops: u64, freezes: u64) {
        self.ring_freezes.fetch_add(freezes, Ordering::Relaxed);
        if drops == 0 {
            return;
        }
        self.kernel_drops.fetch_add(drops, Ordering::Relaxed);
        self.drops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now_ns(), drops);
    }

    /// Kernel drops counted at or after `t_ns` (see [`DropLog::since`]).
    pub fn drops_since(&self, t_ns: u64) -> u64 {
        self.drops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .since(t_ns)
    }

    /// True when every packet that arrived before `t_ns` has been read.
    pub fn caught_up(&self, t_ns: u64) -> bool {
        self.processed_until_ns.load(Ordering::Acquire) >= t_ns
    }

    /// Records that every packet queued before `t_ns` has been read, and
    /// tells the waiters.
    fn publish(&self, t_ns: u64) {
        self.processed_until_ns.fetch_max(t_ns, Ordering::AcqRel);
        self.progress.notify_waiters();
    }

    /// Asks the capture thread to drain its socket now (nothing when no
    /// capture thread runs).
    pub fn wake(&self) {
        if let Some(w) = self.waker.get() {
            w.wake();
        }
    }

    /// Waits until every packet that reached the capture socket before
    /// `t_ns` has been read, or until `deadline`: wakes the capture thread
    /// and waits for it to report an empty queue (about the time to read
    /// what is queued). True when caught up.
    pub async fn wait_caught_up(&self, t_ns: u64, deadline: Instant) -> bool {
        loop {
            // Registered before the check, so a publication between the
            // check and the wait is not missed.
            let progress = self.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if self.caught_up(t_ns) {
                return true;
            }
            self.wake();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, progress).await.is_err() {
                return self.caught_up(t_ns);
            }
        }
    }
}

impl Capture {
    /// Opens the capture in the calling thread's network namespace, on all
    /// interfaces or one (`interface` by index): a ring of `ring_bytes`
    /// (rounded down to whole blocks), or the plain socket when it is 0 or
    /// the kernel refuses the ring (logged).
    pub fn open(ports: &[u16], interface: Option<u32>, ring_bytes: usize) -> io::Result<Self> {
        Self::open_with(ports, interface, ring_bytes, RETIRE_TIMEOUT_MS)
    }

    /// [`Capture::open`] with another retire timeout (tests of the
    /// catch-up rule make it long).
    fn open_with(
        ports: &[u16],
        interface: Option<u32>,
        ring_bytes: usize,
        retire_timeout_ms: u32,
    ) -> io::Result<Self> {
        let prog = bpf::syn_filter(ports).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("between 1 and {} ports can be captured", bpf::MAX_PORTS),
            )
        })?;
        let needs_net_raw = |e: io::Error| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                io::Error::new(e.kind(), format!("{e} (needs CAP_NET_RAW)"))
            } else {
                e
            }
        };
        if ring_bytes > 0 {
            let ring = RingSize::from_total(ring_bytes)
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "capture ring too small")
                })
                .and_then(|size| {
                    PacketRing::open(&PacketRingOptions {
                        filter: &prog,
                        ifindex: interface,
                        // The SYN/ACKs this host sends: keep them.
                        ignore_outgoing: false,
                        size,
                        retire_timeout_ms,
                    })
                });
            match ring {
                Ok(ring) => {
                    return Ok(Capture {
                        source: Source::Ring(ring),
                        wake: Arc::new(Wake::new()?),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Err(needs_net_raw(e))
                }
                Err(e) => tracing::warn!(
                    check = "capture", error = %e, ring_bytes,
                    "the kernel refused the capture ring; reading a plain socket instead (drops likely under floods)"
                ),
            }
        }
        let socket = PacketSocket::open(&PacketSocketOptions {
            filter: &prog,
            ifindex: interface,
            // The SYN/ACKs this host sends are outgoing packets: keep them.
            ignore_outgoing: false,
            // Beyond net.core.rmem_max only with CAP_NET_ADMIN (started as
            // root), else what rmem_max allows.
            recv_buffer: Some(RECV_BUFFER),
            // Read without waiting; the thread sleeps in poll instead.
            read_timeout: None,
        })
        .map_err(needs_net_raw)?;
        Ok(Capture {
            source: Source::Socket(socket),
            wake: Arc::new(Wake::new()?),
        })
    }

    /// The ring's size in bytes; `None` when the plain socket is read.
    pub fn ring_bytes(&self) -> Option<usize> {
        match &self.source {
            Source::Ring(r) => Some(r.size().total()),
            Source::Socket(_) => None,
        }
    }

    /// Reads packets into the store until `stop` is set (checked at least
    /// every 200 ms), publishing catch-up times (see the module
    /// documentation), sleeping until a packet or a wake.
    pub fn run(self, stores: Stores, stats: Arc<CaptureStats>, stop: Arc<AtomicBool>) {
        let _ = stats.waker.set(self.wake.clone());
        let mut filer = Filer {
            stores: &stores,
            stats: &stats,
            names: HashMap::new(),
        };
        match self.source {
            Source::Ring(mut ring) => {
                stats
                    .ring_bytes
                    .store(ring.size().total() as u64, Ordering::Relaxed);
                run_ring(&mut ring, &self.wake, &mut filer, &stop);
            }
            Source::Socket(socket) => run_socket(&socket, &self.wake, &mut filer, &stop),
        }
    }
}

/// A catch-up point of the ring reader: once `target` packets have been
/// read from blocks, everything that passed the filter before `before`
/// has been read.
struct Pending {
    before: u64,
    target: u64,
}

/// The ring reader (see the module documentation for the catch-up rule).
fn run_ring(ring: &mut PacketRing, wake: &Wake, filer: &mut Filer<'_>, stop: &AtomicBool) {
    let stats = filer.stats;
    // Packets written into the ring since it opened, as of the last
    // statistics read; and packets read from blocks.
    let (mut delivered, mut read) = (0u64, 0u64);
    let mut pending: VecDeque<Pending> = VecDeque::new();
    while !stop.load(Ordering::Relaxed) {
        // Cleared first: a wake from now on makes the next poll return.
        wake.clear();
        // The clock before the counters: every packet that passed the
        // filter before `before` is in this read's count.
        let before = now_ns();
        match ring.statistics() {
            Ok(st) => {
                delivered += u64::from(st.delivered());
                stats.count_drops(u64::from(st.drops), u64::from(st.freezes));
            }
            Err(e) => {
                tracing::error!(check = "capture", error = %e, "capture statistics failed; capture stopped");
                return;
            }
        }
        if pending.len() >= MAX_PENDING {
            pending.pop_back();
        }
        pending.push_back(Pending {
            before,
            target: delivered,
        });
        while let Some(block) = ring.next_block() {
            // The kernel's count, not the frames walked: a frame the walk
            // refused still counts as read, or catch-up would never come.
            read += u64::from(block.packet_count());
            for frame in block.frames() {
                let packet = Packet {
                    bytes: frame.bytes,
                    outgoing: frame.packet_type == PacketType::Outgoing,
                    ifindex: frame.ifindex,
                    timestamp: frame.timestamp,
                };
                stats.packets.fetch_add(1, Ordering::Relaxed);
                if filer.file(packet).is_err() {
                    return;
                }
            }
        }
        let mut published = None;
        while pending.front().is_some_and(|p| read >= p.target) {
            published = pending.pop_front().map(|p| p.before);
        }
        if let Some(t) = published {
            stats.publish(t);
        }
        let fds = [ring.as_fd(), wake.as_fd()];
        if let Err(e) = readable(fds, Some(STOP_CHECK)) {
            tracing::error!(check = "capture", error = %e, "capture poll failed; capture stopped");
            return;
        }
    }
}

/// The plain-socket reader: drains, publishes the drain's start once the
/// queue is empty, sleeps.
fn run_socket(socket: &PacketSocket, wake: &Wake, filer: &mut Filer<'_>, stop: &AtomicBool) {
    let stats = filer.stats;
    let mut buf = vec![0u8; bpf::SNAPLEN as usize];
    while !stop.load(Ordering::Relaxed) {
        // Cleared before the drain: a wake that comes during the drain
        // makes the next poll return at once.
        wake.clear();
        // Time first, then the drain: when the queue is empty,
        // everything that arrived before `before` has been read.
        let before = now_ns();
        if drain(socket, &mut buf, filer).is_err() {
            return;
        }
        stats.publish(before);
        // The queue is empty: a cheap moment to count drops.
        collect_drops(socket, stats);
        let fds = [socket.as_fd(), wake.as_fd()];
        if let Err(e) = readable(fds, Some(STOP_CHECK)) {
            tracing::error!(check = "capture", error = %e, "capture poll failed; capture stopped");
            return;
        }
    }
}

/// One captured packet, from either source.
struct Packet<'b> {
    /// From the IP header on.
    bytes: &'b [u8],
    outgoing: bool,
    ifindex: u32,
    timestamp: Option<SystemTime>,
}

/// Files captured packets in their stores.
struct Filer<'a> {
    stores: &'a Stores,
    stats: &'a CaptureStats,
    /// Interface names by index (bounded: cleared past 4096).
    names: HashMap<u32, Arc<str>>,
}

/// The capture failed (logged); the capture stops.
struct Failed;

/// Reads every queued packet of the plain socket into the stores, until
/// the queue is empty.
fn drain(socket: &PacketSocket, buf: &mut [u8], filer: &mut Filer<'_>) -> Result<(), Failed> {
    loop {
        let r = match socket.recv(buf) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::error!(check = "capture", error = %e, "capture socket failed; capture stopped");
                return Err(Failed);
            }
        };
        let stats = filer.stats;
        if stats.packets.fetch_add(1, Ordering::Relaxed) % DROPS_EVERY == DROPS_EVERY - 1 {
            collect_drops(socket, stats);
        }
        let n = r.len.min(buf.len());
        filer.file(Packet {
            bytes: &buf[..n],
            outgoing: r.packet_type == PacketType::Outgoing,
            ifindex: r.ifindex,
            timestamp: r.timestamp,
        })?;
    }
}

impl Filer<'_> {
    /// Parses one packet and files it in its store.
    fn file(&mut self, p: Packet<'_>) -> Result<(), Failed> {
        let stats = self.stats;
        let ts = seconds(p.timestamp.unwrap_or_else(SystemTime::now));
        let Ok(seg) = segment::parse(p.bytes) else {
            stats.unparsable.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let outgoing = p.outgoing;
        // Received SYNs and sent SYN/ACKs only (on loopback each packet
        // shows up in both directions).
        if outgoing != seg.flags.ack() {
            stats.ignored_direction.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let iface = self
            .names
            .entry(p.ifindex)
            .or_insert_with(|| match netsys::iface::name_of(p.ifindex) {
                Ok(name) => Arc::from(name.as_str()),
                Err(_) => Arc::from(format!("if{}", p.ifindex).as_str()),
            })
            .clone();
        if self.names.len() > 4096 {
            self.names.clear();
        }
        let port = if outgoing { seg.sport } else { seg.dport };
        let store = self.stores.for_port(port);
        let obs = Observation {
            segment: seg,
            iface,
            ts,
            outgoing,
        };
        match store.lock() {
            Ok(mut s) => {
                s.insert(obs);
                Ok(())
            }
            Err(_) => Err(Failed),
        }
    }
}

/// Seconds since the epoch, as observations keep them.
fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FourTuple, StoreLimits};
    use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A stand-in for the capture thread that never wakes on its own: it
    /// publishes only when woken, so a waiter that did not wake it would
    /// wait until its deadline.
    #[test]
    fn a_waiter_wakes_the_capture_thread_and_is_told_when_it_caught_up() {
        let stats = Arc::new(CaptureStats::default());
        let wake = Arc::new(Wake::new().unwrap());
        stats.waker.set(wake.clone()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stats, stop) = (stats.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    readable([wake.as_fd()], None).unwrap();
                    wake.clear();
                    stats.publish(now_ns());
                }
            })
        };
        let t = now_ns();
        assert!(!stats.caught_up(t));
        let deadline = Instant::now() + Duration::from_secs(30);
        let caught_up = runtime().block_on(stats.wait_caught_up(t, deadline));
        assert!(caught_up, "caught up on the wake, not at the deadline");
        assert!(Instant::now() < deadline);
        stop.store(true, Ordering::Relaxed);
        stats.wake();
        thread.join().unwrap();
    }

    #[test]
    fn without_a_capture_thread_the_wait_ends_at_the_deadline() {
        let stats = CaptureStats::default();
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(!runtime().block_on(stats.wait_caught_up(now_ns(), deadline)));
    }

    /// Runs the real capture on loopback (`ring_bytes` 0: the plain
    /// socket) and checks that a SYN and SYN/ACK sent before `t` are in
    /// the store once the wait for `t` says caught up; returns how long
    /// the wait took. `None` without CAP_NET_RAW (skipped).
    fn syn_stored_once_caught_up(ring_bytes: usize, retire_ms: u32) -> Option<Duration> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let capture = match Capture::open_with(&[port], None, ring_bytes, retire_ms) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("skipping: {e}");
                return None;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(capture.ring_bytes().is_some(), ring_bytes > 0);
        let limits = StoreLimits {
            capacity: 64,
            per_source: 64,
        };
        let stores = Stores {
            listen: Arc::new(Mutex::new(Store::new(limits))),
            watched: Arc::new(Mutex::new(Store::new(limits))),
            listen_ports: vec![port],
        };
        let store = stores.listen.clone();
        let stats = Arc::new(CaptureStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stats, stop) = (stats.clone(), stop.clone());
            std::thread::spawn(move || capture.run(stores, stats, stop))
        };
        // The capture thread is idle and caught up before the SYN.
        let deadline = Instant::now() + Duration::from_secs(30);
        assert!(runtime().block_on(stats.wait_caught_up(now_ns(), deadline)));
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        let t = now_ns();
        let started = Instant::now();
        assert!(runtime().block_on(stats.wait_caught_up(t, deadline)));
        let waited = started.elapsed();
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let tuple = FourTuple {
            remote: peer.ip(),
            remote_port: peer.port(),
            local: local.ip(),
            local_port: port,
        };
        {
            let s = store.lock().unwrap();
            assert!(s.syn_of(&tuple).is_some(), "the SYN was read");
            assert!(s.syn_ack_of(&tuple, None).is_some(), "and the SYN/ACK");
        }
        drop(client);
        stop.store(true, Ordering::Relaxed);
        stats.wake();
        thread.join().unwrap();
        Some(waited)
    }

    #[test]
    fn a_syn_on_loopback_is_stored_once_caught_up_plain_socket() {
        syn_stored_once_caught_up(0, RETIRE_TIMEOUT_MS);
    }

    #[test]
    fn a_syn_on_loopback_is_stored_once_caught_up_ring() {
        if let Some(waited) = syn_stored_once_caught_up(DEFAULT_RING, RETIRE_TIMEOUT_MS) {
            // About the retire timeout, far from the 3 s capture wait.
            assert!(waited < Duration::from_millis(500), "{waited:?}");
        }
    }

    /// The catch-up rule does not lean on the retire timer being quick:
    /// with a 300 ms timer the SYN sits in a block the kernel has not
    /// handed over, no block is ready, and yet the wait for `t` ends only
    /// once the SYN was read (an "empty queue means caught up" rule would
    /// say caught up at once, without the SYN).
    #[test]
    fn with_a_slow_retire_timer_caught_up_still_means_read() {
        if let Some(waited) = syn_stored_once_caught_up(1 << 20, 300) {
            assert!(waited >= Duration::from_millis(100), "{waited:?}");
        }
    }

    #[test]
    fn drops_are_counted_since_a_time_never_less() {
        let ms = 1_000_000u64;
        let mut log = DropLog::default();
        assert_eq!(log.since(0), 0);
        log.record(1000 * ms, 5);
        log.record(1003 * ms, 2);
        log.record(2000 * ms, 7);
        assert_eq!(log.total(), 14);
        assert_eq!(log.since(0), 14);
        // Counted in the same 10 ms interval as the time asked: included.
        assert_eq!(log.since(1005 * ms), 14);
        assert_eq!(log.since(1010 * ms), 7);
        assert_eq!(log.since(2000 * ms), 7);
        assert_eq!(log.since(2010 * ms), 0);
        log.record(3000 * ms, 0);
        assert_eq!(log.since(2010 * ms), 0, "zero drops are no entry");
        // Bounded: the oldest intervals fold into the base.
        for i in 0..(DROP_BUCKETS as u64 + 10) {
            log.record((4000 + 10 * i) * ms, 1);
        }
        assert!(log.intervals.len() <= DROP_BUCKETS);
        assert_eq!(log.total(), 14 + DROP_BUCKETS as u64 + 10);
        assert_eq!(log.since(u64::MAX), 0);
    }
}
