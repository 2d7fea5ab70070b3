//! The AF_PACKET capture socket: opened with CAP_NET_RAW before the
//! privilege drop, filtered in the kernel by [`crate::bpf::syn_filter`],
//! read by one thread that feeds the store.
//!
//! When is the capture caught up? The thread drains its socket until the
//! queue is empty (EAGAIN); everything that reached the socket before the
//! drain started has then been read, so it publishes that time
//! ([`CaptureStats::processed_until_ns`]) and sleeps in `poll` on the
//! socket and on a [`Wake`]. A report that needs the capture
//! ([`CaptureStats::wait_caught_up`]) wakes it and waits for the next
//! publication: it waits only for packets that can still be queued, never
//! for a read timeout to run out.
use crate::bpf;
use crate::segment;
use crate::store::{Observation, Store};
use netsys::packet_socket::{PacketSocket, PacketSocketOptions, PacketType};
use netsys::wake::{readable, Wake};
use std::collections::HashMap;
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

/// An open, filtered capture socket and the flag that wakes its reader.
pub struct Capture {
    socket: PacketSocket,
    wake: Arc<Wake>,
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
    /// Packets the kernel dropped because the socket's queue was full
    /// (PACKET_STATISTICS), since start.
    pub kernel_drops: AtomicU64,
    /// Notified each time `processed_until_ns` is published.
    progress: tokio::sync::Notify,
    /// Wakes the capture thread (set when it starts).
    waker: OnceLock<Arc<Wake>>,
}

/// Adds the kernel's drop count since the last call (the kernel resets it
/// on each read) to `stats`.
fn collect_drops(socket: &PacketSocket, stats: &CaptureStats) {
    if let Ok(st) = socket.statistics() {
        if st.drops > 0 {
            stats
                .kernel_drops
                .fetch_add(u64::from(st.drops), Ordering::Relaxed);
        }
    }
}

/// Nanoseconds since the epoch, the clock `processed_until_ns` is kept in.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl CaptureStats {
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
    /// Opens the socket in the calling thread's network namespace, on all
    /// interfaces or one (`interface` by index).
    pub fn open(ports: &[u16], interface: Option<u32>) -> io::Result<Self> {
        let prog = bpf::syn_filter(ports).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("between 1 and {} ports can be captured", bpf::MAX_PORTS),
            )
        })?;
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
        .map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                io::Error::new(e.kind(), format!("{e} (needs CAP_NET_RAW)"))
            } else {
                e
            }
        })?;
        Ok(Capture {
            socket,
            wake: Arc::new(Wake::new()?),
        })
    }

    /// Reads packets into the store until `stop` is set (checked at least
    /// every 200 ms): drains the socket, publishes the time the drain
    /// started once the queue is empty, sleeps until a packet or a wake.
    pub fn run(self, stores: Stores, stats: Arc<CaptureStats>, stop: Arc<AtomicBool>) {
        let _ = stats.waker.set(self.wake.clone());
        let mut reader = Reader {
            socket: &self.socket,
            stores: &stores,
            stats: &stats,
            buf: vec![0u8; bpf::SNAPLEN as usize],
            names: HashMap::new(),
        };
        while !stop.load(Ordering::Relaxed) {
            // Cleared before the drain: a wake that comes during the drain
            // makes the next poll return at once.
            self.wake.clear();
            // Time first, then the drain: when the queue is empty,
            // everything that arrived before `before` has been read.
            let before = now_ns();
            if reader.drain().is_err() {
                return;
            }
            stats.publish(before);
            // The queue is empty: a cheap moment to count drops.
            collect_drops(&self.socket, &stats);
            let fds = [self.socket.as_fd(), self.wake.as_fd()];
            if let Err(e) = readable(fds, Some(STOP_CHECK)) {
                tracing::error!(check = "capture", error = %e, "capture poll failed; capture stopped");
                return;
            }
        }
    }
}

/// The capture thread's reading state.
struct Reader<'a> {
    socket: &'a PacketSocket,
    stores: &'a Stores,
    stats: &'a CaptureStats,
    buf: Vec<u8>,
    /// Interface names by index (bounded: cleared past 4096).
    names: HashMap<u32, Arc<str>>,
}

/// The capture socket failed (logged); the capture stops.
struct Failed;

impl Reader<'_> {
    /// Reads every queued packet into the stores, until the queue is empty.
    fn drain(&mut self) -> Result<(), Failed> {
        loop {
            let r = match self.socket.recv(&mut self.buf) {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(e) => {
                    tracing::error!(check = "capture", error = %e, "capture socket failed; capture stopped");
                    return Err(Failed);
                }
            };
            if self.stats.packets.fetch_add(1, Ordering::Relaxed) % DROPS_EVERY == DROPS_EVERY - 1 {
                collect_drops(self.socket, self.stats);
            }
            self.store(r)?;
        }
    }

    /// Parses one read packet and files it in its store.
    fn store(&mut self, r: netsys::packet_socket::Datagram) -> Result<(), Failed> {
        let n = r.len.min(self.buf.len());
        let stats = self.stats;
        let ts = seconds(r.timestamp.unwrap_or_else(SystemTime::now));
        let Ok(seg) = segment::parse(&self.buf[..n]) else {
            stats.unparsable.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let outgoing = r.packet_type == PacketType::Outgoing;
        // Received SYNs and sent SYN/ACKs only (on loopback each packet
        // shows up in both directions).
        if outgoing != seg.flags.ack() {
            stats.ignored_direction.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let socket = self.socket;
        let iface = self
            .names
            .entry(r.ifindex)
            .or_insert_with(|| match socket.interface_name(r.ifindex) {
                Ok(name) => Arc::from(name.as_str()),
                Err(_) => Arc::from(format!("if{}", r.ifindex).as_str()),
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

    /// The real capture on loopback: a SYN sent before `t` is in the
    /// store once the wait for `t` says caught up. Needs CAP_NET_RAW.
    #[test]
    fn a_syn_on_loopback_is_stored_once_caught_up() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let capture = match Capture::open(&[port], None) {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("skipping: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
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
        let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_accepted, peer) = listener.accept().unwrap();
        let t = now_ns();
        let deadline = Instant::now() + Duration::from_secs(30);
        assert!(runtime().block_on(stats.wait_caught_up(t, deadline)));
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
    }
}
