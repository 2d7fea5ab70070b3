//! The AF_PACKET capture socket: opened with CAP_NET_RAW before the
//! privilege drop, filtered in the kernel by [`crate::bpf::syn_filter`],
//! read by one thread that feeds the store.
use crate::bpf;
use crate::segment;
use crate::store::{Observation, Store};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const ETH_P_ALL: u16 = 0x0003;
const PACKET_OUTGOING: u8 = 4;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

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
    fd: OwnedFd,
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
fn collect_drops(fd: libc::c_int, stats: &CaptureStats) {
    let mut st = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: st and len are valid for getsockopt to write.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if rc == 0 && st.tp_drops > 0 {
        stats
            .kernel_drops
            .fetch_add(u64::from(st.tp_drops), Ordering::Relaxed);
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

/// One datagram: length, link-layer address info, kernel receive time.
struct Received {
    len: usize,
    pkttype: u8,
    ifindex: i32,
    ts: f64,
}

/// recvmsg with the kernel's receive timestamp (SO_TIMESTAMPNS).
fn receive(fd: libc::c_int, buf: &mut [u8], flags: libc::c_int) -> io::Result<Received> {
    // SAFETY: every pointer in msg refers to a live local buffer whose size
    // is passed; the cmsg walk stays within `control` as CMSG_* guarantee.
    unsafe {
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(fd, &mut msg, flags);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ts = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                ts = Some(t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Ok(Received {
            len: n as usize,
            pkttype: sll.sll_pkttype,
            ifindex: sll.sll_ifindex,
            ts: ts.unwrap_or_else(|| now_ns() as f64 * 1e-9),
        })
    }
}

fn check(rc: libc::c_int, what: &str) -> io::Result<()> {
    if rc < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(())
    }
}

fn setsockopt<T>(
    fd: libc::c_int,
    level: libc::c_int,
    name: libc::c_int,
    v: &T,
    what: &str,
) -> io::Result<()> {
    // SAFETY: v points to a live T whose size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    check(rc, what)
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
        // Protocol 0: nothing is queued until bind, which comes after the
        // filter, so no unfiltered packet ever reaches the queue.
        // SAFETY: plain socket(2).
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        check(raw, "socket(AF_PACKET) (needs CAP_NET_RAW)")?;
        // SAFETY: raw is a new descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let filters: Vec<libc::sock_filter> = prog
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            len: filters.len() as u16,
            filter: filters.as_ptr() as *mut libc::sock_filter,
        };
        setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &fprog,
            "SO_ATTACH_FILTER",
        )?;
        // The SYN/ACKs this host sends are outgoing packets: keep them.
        let zero: libc::c_int = 0;
        let _ = setsockopt(
            raw,
            libc::SOL_PACKET,
            PACKET_IGNORE_OUTGOING,
            &zero,
            "PACKET_IGNORE_OUTGOING",
        );
        let rcvbuf: libc::c_int = 16 << 20;
        // A burst must queue rather than drop: beyond net.core.rmem_max
        // only with CAP_NET_ADMIN (started as root), else what rmem_max allows.
        if setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &rcvbuf,
            "SO_RCVBUFFORCE",
        )
        .is_err()
        {
            let _ = setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf, "SO_RCVBUF");
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv, "SO_RCVTIMEO")?;
        let one: libc::c_int = 1;
        setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &one,
            "SO_TIMESTAMPNS",
        )?;
        // SAFETY: zeroed sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = interface.map_or(0, |i| i as i32);
        // SAFETY: sll is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                raw,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        check(rc, "bind(AF_PACKET)")?;
        Ok(Capture { fd })
    }

    /// Reads packets into the store until `stop` is set (checked at least
    /// every 200 ms).
    pub fn run(self, stores: Stores, stats: Arc<CaptureStats>, stop: Arc<AtomicBool>) {
        let raw = self.fd.as_raw_fd();
        let mut buf = [0u8; bpf::SNAPLEN as usize];
        let mut names: HashMap<i32, Arc<str>> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            // Time first, then a non-blocking read: when the queue is empty,
            // everything that arrived before `before` has been read.
            let before = now_ns();
            let r = match receive(raw, &mut buf, libc::MSG_DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    stats.processed_until_ns.fetch_max(before, Ordering::AcqRel);
                    // The queue is empty: a cheap moment to count drops.
                    collect_drops(raw, &stats);
                    let before = now_ns();
                    match receive(raw, &mut buf, 0) {
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                            ) =>
                        {
                            stats.processed_until_ns.fetch_max(before, Ordering::AcqRel);
                            continue;
                        }
                        other => other,
                    }
                }
                other => other,
            };
            let r = match r {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!(check = "capture", error = %e, "capture socket failed; capture stopped");
                    return;
                }
            };
            let n = r.len.min(buf.len());
            if stats.packets.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
                // Under sustained load the queue never empties.
                collect_drops(raw, &stats);
            }
            let ts = r.ts;
            let Ok(seg) = segment::parse(&buf[..n]) else {
                stats.unparsable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let outgoing = r.pkttype == PACKET_OUTGOING;
            // Received SYNs and sent SYN/ACKs only (on loopback each packet
            // shows up in both directions).
            if outgoing != seg.flags.ack() {
                stats.ignored_direction.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let iface = names
                .entry(r.ifindex)
                .or_insert_with(|| interface_name(raw, r.ifindex))
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

/// The name of an interface of the socket's own namespace.
fn interface_name(fd: libc::c_int, index: i32) -> Arc<str> {
    // SAFETY: zeroed ifreq is valid; SIOCGIFNAME reads ifr_ifindex and
    // writes ifr_name (NUL-terminated within IFNAMSIZ).
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_ifru.ifru_ifindex = index;
        if libc::ioctl(fd, libc::SIOCGIFNAME, &mut req) == 0 {
            let name = std::ffi::CStr::from_ptr(req.ifr_name.as_ptr());
            return Arc::from(name.to_string_lossy().as_ref());
        }
    }
    Arc::from(format!("if{index}").as_str())
}

/// The index of an interface of the calling thread's namespace.
pub fn interface_index(name: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name with NUL"))?;
    // SAFETY: c is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {name:?}"),
        ))
    } else {
        Ok(i)
    }
}
