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
        let rcvbuf: libc::c_int = 4 << 20;
        let _ = setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, &rcvbuf, "SO_RCVBUF");
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv, "SO_RCVTIMEO")?;
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
    pub fn run(self, store: Arc<Mutex<Store>>, stats: Arc<CaptureStats>, stop: Arc<AtomicBool>) {
        let raw = self.fd.as_raw_fd();
        let mut buf = [0u8; bpf::SNAPLEN as usize];
        let mut names: HashMap<i32, Arc<str>> = HashMap::new();
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: zeroed sockaddr_ll is valid for recvfrom to fill.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: buf and sll are writable for the sizes passed.
            let n = unsafe {
                libc::recvfrom(
                    raw,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => continue,
                    _ => {
                        tracing::error!(check = "capture", error = %e, "capture socket failed; capture stopped");
                        return;
                    }
                }
            }
            stats.packets.fetch_add(1, Ordering::Relaxed);
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let Ok(seg) = segment::parse(&buf[..n as usize]) else {
                stats.unparsable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let outgoing = sll.sll_pkttype == PACKET_OUTGOING;
            // Received SYNs and sent SYN/ACKs only (on loopback each packet
            // shows up in both directions).
            if outgoing != seg.flags.ack() {
                stats.ignored_direction.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let iface = names
                .entry(sll.sll_ifindex)
                .or_insert_with(|| interface_name(raw, sll.sll_ifindex))
                .clone();
            if names.len() > 4096 {
                names.clear();
            }
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
