//! The AF_PACKET capture socket: opened with CAP_NET_RAW before the
//! privilege drop, filtered in the kernel by [`crate::bpf::syn_filter`],
//! read by one thread that feeds the store.
use crate::bpf;
use crate::segment;
use crate::store::{Observation, Store};
use netsys::packet_socket::{PacketSocket, PacketSocketOptions, PacketType};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the capture thread looks at its stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);
/// A burst must queue rather than drop.
const RECV_BUFFER: usize = 16 << 20;

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

/// An open, filtered capture socket.
pub struct Capture {
    socket: PacketSocket,
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
            read_timeout: Some(STOP_CHECK),
        })
        .map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                io::Error::new(e.kind(), format!("{e} (needs CAP_NET_RAW)"))
            } else {
                e
            }
        })?;
        Ok(Capture { socket })
    }

    /// Reads packets into the store until `stop` is set (checked at least
    /// every 200 ms).
    pub fn run(self, stores: Stores, stats: Arc<CaptureStats>, stop: Arc<AtomicBool>) {
        let socket = &self.socket;
        let mut buf = [0u8; bpf::SNAPLEN as usize];
        let mut names: HashMap<u32, Arc<str>> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            // Time first, then a non-blocking read: when the queue is empty,
            // everything that arrived before `before` has been read.
            let before = now_ns();
            let r = match socket.recv(&mut buf) {
                Ok(None) => {
                    stats.processed_until_ns.fetch_max(before, Ordering::AcqRel);
                    // The queue is empty: a cheap moment to count drops.
                    collect_drops(socket, &stats);
                    let before = now_ns();
                    match socket.recv_wait(&mut buf) {
                        Ok(None) => {
                            stats.processed_until_ns.fetch_max(before, Ordering::AcqRel);
                            continue;
                        }
                        other => other,
                    }
                }
                other => other,
            };
            let r = match r {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(check = "capture", error = %e, "capture socket failed; capture stopped");
                    return;
                }
            };
            let n = r.len.min(buf.len());
            if stats.packets.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
                // Under sustained load the queue never empties.
                collect_drops(socket, &stats);
            }
            let ts = seconds(r.timestamp.unwrap_or_else(SystemTime::now));
            let Ok(seg) = segment::parse(&buf[..n]) else {
                stats.unparsable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let outgoing = r.packet_type == PacketType::Outgoing;
            // Received SYNs and sent SYN/ACKs only (on loopback each packet
            // shows up in both directions).
            if outgoing != seg.flags.ack() {
                stats.ignored_direction.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let iface = names
                .entry(r.ifindex)
                .or_insert_with(|| match socket.interface_name(r.ifindex) {
                    Ok(name) => Arc::from(name.as_str()),
                    Err(_) => Arc::from(format!("if{}", r.ifindex).as_str()),
                })
                .clone();
            if names.len() > 4096 {
                names.clear();
            }
            let port = if outgoing { seg.sport } else { seg.dport };
            let store = stores.for_port(port);
            let obs = Observation {
                segment: seg,
                iface,
                ts,
                outgoing,
            };
            match store.lock() {
                Ok(mut s) => s.insert(obs),
                Err(_) => return,
            }
        }
    }
}

/// Seconds since the epoch, as observations keep them.
fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
