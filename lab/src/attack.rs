//! The echo server under attack, in namespaces: a victim, an attacker and
//! the server, each behind one router, and the attack traffic of issue 12
//! (connections held open by trickling bytes; SYNs sent in the victim's
//! name). Shared by the namespace tests (lab/tests/server_attack.rs) and
//! the benchmark (`attack-bench`, bench/attack.sh).
//!
//! Every attack is bounded: it stops by itself after its duration (or
//! earlier when its stop flag is set), and sends only to the server's
//! address inside namespaces the caller created.
use crate::netns::{self, Netns};
use netsys::raw_send::{RawSender, SenderOptions};
use packet::build::ProbeBuilder;
use packet::echo::{EchoReport, ServerMessage};
use packet::mptcp::MpCapable;
use packet::{MptcpOption, TcpOption};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The echo server's port in the lab.
pub const PORT: u16 = 6101;

/// victim `10.1.0.1` `fd00:1::1` - router (`10.1.0.254`, `10.2.0.254`,
/// `10.3.0.254`) - server `10.2.0.2` `fd00:2::2`; attacker `10.3.0.1`
/// `fd00:3::1` on the router's third link, with more addresses on demand.
/// The router does no source validation, as most of the internet: SYNs
/// from the attacker with the victim's source address reach the server.
pub struct AttackLab {
    pub victim: Netns,
    pub router: Netns,
    pub server: Netns,
    pub attacker: Netns,
    pub victim_addr: Ipv4Addr,
    pub server_addr: Ipv4Addr,
    pub server_addr6: Ipv6Addr,
}

impl AttackLab {
    pub fn new(tag: &str) -> io::Result<Self> {
        let victim = Netns::new(&format!("{tag}v"))?;
        let router = Netns::new(&format!("{tag}r"))?;
        let server = Netns::new(&format!("{tag}s"))?;
        let attacker = Netns::new(&format!("{tag}a"))?;
        netns::veth(&victim, "eth0", &router, "eth0")?;
        netns::veth(&router, "eth1", &server, "eth0")?;
        netns::veth(&router, "eth2", &attacker, "eth0")?;
        for (ns, ifname, v4, v6) in [
            (&victim, "eth0", "10.1.0.1/24", "fd00:1::1/64"),
            (&router, "eth0", "10.1.0.254/24", "fd00:1::fe/64"),
            (&router, "eth1", "10.2.0.254/24", "fd00:2::fe/64"),
            (&router, "eth2", "10.3.0.254/24", "fd00:3::fe/64"),
            (&server, "eth0", "10.2.0.2/24", "fd00:2::2/64"),
            (&attacker, "eth0", "10.3.0.1/24", "fd00:3::1/64"),
        ] {
            ns.addr(ifname, v4)?;
            ns.addr(ifname, v6)?;
        }
        router.forwarding()?;
        for key in [
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.default.rp_filter",
            "net.ipv4.conf.eth2.rp_filter",
        ] {
            router.sysctl(key, "0")?;
        }
        for (ns, v4, v6) in [
            (&victim, "10.1.0.254", "fd00:1::fe"),
            (&server, "10.2.0.254", "fd00:2::fe"),
            (&attacker, "10.3.0.254", "fd00:3::fe"),
        ] {
            ns.route("default", v4)?;
            ns.route("default", v6)?;
        }
        Ok(AttackLab {
            victim,
            router,
            server,
            attacker,
            victim_addr: Ipv4Addr::new(10, 1, 0, 1),
            server_addr: Ipv4Addr::new(10, 2, 0, 2),
            server_addr6: Ipv6Addr::new(0xfd00, 2, 0, 0, 0, 0, 0, 2),
        })
    }

    /// The echo server's address.
    pub fn server(&self) -> SocketAddr {
        SocketAddr::from((self.server_addr, PORT))
    }

    /// `n` (at most 200) more IPv4 addresses for the attacker, one /32 each:
    /// `10.3.0.10` onwards.
    pub fn attacker_v4(&self, n: u8) -> io::Result<Vec<IpAddr>> {
        let addrs: Vec<IpAddr> = (0..n.min(200))
            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 3, 0, 10 + i)))
            .collect();
        self.add_attacker_addrs(&addrs, 24)?;
        Ok(addrs)
    }

    /// `n` more IPv6 addresses for the attacker, all of its one /64
    /// (`fd00:3::1:0` onwards).
    pub fn attacker_v6(&self, n: u16) -> io::Result<Vec<IpAddr>> {
        let addrs: Vec<IpAddr> = (0..n)
            .map(|i| IpAddr::V6(Ipv6Addr::new(0xfd00, 3, 0, 0, 0, 0, 1, i)))
            .collect();
        self.add_attacker_addrs(&addrs, 64)?;
        Ok(addrs)
    }

    /// Adds addresses in one `ip -batch` (hundreds of `ip` runs would take
    /// seconds).
    fn add_attacker_addrs(&self, addrs: &[IpAddr], prefix: u8) -> io::Result<()> {
        let batch: String = addrs
            .iter()
            .map(|a| format!("addr add {a}/{prefix} dev eth0 nodad\n"))
            .collect();
        let path = std::env::temp_dir().join(format!(
            "{}-addrs-{}.batch",
            self.attacker.name(),
            addrs.len()
        ));
        std::fs::write(&path, batch)?;
        let path_text = path.to_string_lossy().into_owned();
        let result = self.attacker.ip(&["-batch", &path_text]);
        let _ = std::fs::remove_file(&path);
        result.map(|_| ())
    }

    /// The router replaces MP_CAPABLE with NOPs on SYNs from the victim's
    /// side only (the attacker's path stays clean).
    pub fn strip_mp_capable_from_victim(&self) -> io::Result<()> {
        let port = PORT.to_string();
        self.router
            .exec(&[
                "iptables",
                "-t",
                "mangle",
                "-A",
                "FORWARD",
                "-i",
                "eth0",
                "-p",
                "tcp",
                "--dport",
                &port,
                "-j",
                "TCPOPTSTRIP",
                "--strip-options",
                "30",
            ])
            .map(|_| ())
    }

    /// The victim's ephemeral ports (its kernel connections and the ports
    /// a client reserves for probes) come from this range only.
    pub fn narrow_victim_ports(&self, ports: RangeInclusive<u16>) -> io::Result<()> {
        self.victim.sysctl(
            "net.ipv4.ip_local_port_range",
            &format!("{} {}", ports.start(), ports.end()),
        )
    }
}

/// Sleeps until `until` or until `stop` is set, in small steps.
fn nap(until: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

/// Connections held open by trickling bytes (issue 12, point 1): from each
/// source address `per_source` connections, each sending one byte (never a
/// newline) every `interval`; a connection the server closed is opened
/// again at the next tick.
#[derive(Debug, Clone)]
pub struct Holders {
    pub server: SocketAddr,
    pub sources: Vec<IpAddr>,
    pub per_source: usize,
    pub interval: Duration,
    /// The attack stops by itself after this long.
    pub duration: Duration,
}

/// What an attack did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldStats {
    pub connects: u64,
    pub failed_connects: u64,
    /// Connections the server closed (refused, evicted, timed out).
    pub closed_by_server: u64,
    /// Most connections open at one tick.
    pub max_open: usize,
}

fn connect_from(source: IpAddr, server: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let s = Socket::new(
        Domain::for_address(server),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    s.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    s.connect_timeout(&SockAddr::from(server), timeout)?;
    Ok(s.into())
}

/// True while the server keeps the connection open and silent.
fn still_open(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    match stream.read(&mut buf) {
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        // End of stream (0), or an error line before the close (any
        // other count): either way the server is done with it.
        Ok(_read) => false,
    }
}

impl Holders {
    /// Runs the attack in the calling thread (which must be in the
    /// attacker's namespace) until its duration ends or `stop` is set.
    pub fn run(&self, stop: &AtomicBool) -> HoldStats {
        let mut stats = HoldStats::default();
        let end = Instant::now() + self.duration;
        let mut slots: Vec<(IpAddr, Option<TcpStream>)> = self
            .sources
            .iter()
            .flat_map(|s| std::iter::repeat_n(*s, self.per_source))
            .map(|s| (s, None))
            .collect();
        while Instant::now() < end && !stop.load(Ordering::Relaxed) {
            let tick = Instant::now() + self.interval;
            let mut open = 0;
            for (source, slot) in &mut slots {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(stream) = slot {
                    if still_open(stream) && stream.write_all(b"{").is_ok() {
                        open += 1;
                        continue;
                    }
                    stats.closed_by_server += 1;
                    *slot = None;
                }
                match connect_from(*source, self.server, Duration::from_millis(500)) {
                    Ok(s) => {
                        stats.connects += 1;
                        let _ = s.set_nonblocking(true);
                        let mut s = s;
                        if s.write_all(b"{").is_ok() {
                            open += 1;
                            *slot = Some(s);
                        }
                    }
                    Err(_) => stats.failed_connects += 1,
                }
            }
            stats.max_open = stats.max_open.max(open);
            nap(tick.min(end), stop);
        }
        stats
    }
}

/// A SYN as Linux sends it (MSS, SACK permitted, timestamps, window
/// scale), with MP_CAPABLE v1 last or, when `mp_capable` is false, four
/// NOPs in its place (what a stripping middlebox leaves).
pub fn linux_like_syn(
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    mp_capable: bool,
) -> Vec<u8> {
    let mut options = vec![
        TcpOption::Mss(1460),
        TcpOption::SackPermitted,
        TcpOption::Timestamps {
            tsval: seq.rotate_left(7),
            tsecr: 0,
        },
        TcpOption::Nop,
        TcpOption::WindowScale(7),
    ];
    if mp_capable {
        options.push(TcpOption::Mptcp(MptcpOption::MpCapable(MpCapable::v1_syn(
            0x01,
        ))));
    } else {
        options.extend(std::iter::repeat_n(TcpOption::Nop, 4));
    }
    // The options above always fit: building cannot fail.
    ProbeBuilder::new(src, dst, sport, dport)
        .seq(seq)
        .options(options)
        .build()
        .unwrap_or_default()
}

/// SYNs sent in the victim's name (issue 12, point 2): to the server's
/// port from each of `ports` in turn, with sequence numbers nobody chose,
/// `pps` per second, until the duration ends, `max_packets` went out or
/// `stop` is set.
#[derive(Debug, Clone)]
pub struct Spoofer {
    pub victim: IpAddr,
    pub server: IpAddr,
    pub dport: u16,
    pub ports: RangeInclusive<u16>,
    /// MP_CAPABLE in the SYNs (else four NOPs in its place).
    pub mp_capable: bool,
    pub pps: u32,
    pub duration: Duration,
    pub max_packets: u64,
}

impl Spoofer {
    /// The `i`-th SYN of the flood: ports in turn, sequence numbers from a
    /// xorshift generator (they look random, nobody chose them).
    fn packet(&self, i: u64, seq: &mut u32, ports: &[u16]) -> Vec<u8> {
        *seq ^= *seq << 13;
        *seq ^= *seq >> 17;
        *seq ^= *seq << 5;
        let sport = ports[(i % ports.len() as u64) as usize];
        linux_like_syn(
            self.victim,
            self.server,
            sport,
            self.dport,
            *seq,
            self.mp_capable,
        )
    }

    /// Every SYN of the flood, built in advance: a burst sent from these
    /// goes out at the speed of the send calls alone.
    pub fn packets(&self) -> Vec<Vec<u8>> {
        let ports: Vec<u16> = self.ports.clone().collect();
        if ports.is_empty() {
            return Vec::new();
        }
        let mut seq = 0x9e37_79b9u32;
        (0..self.max_packets)
            .map(|i| self.packet(i, &mut seq, &ports))
            .collect()
    }

    /// Sends from the calling thread (in the attacker's namespace); returns
    /// the number of SYNs sent.
    pub fn run(&self, stop: &AtomicBool) -> io::Result<u64> {
        let ports: Vec<u16> = self.ports.clone().collect();
        let mut seq = 0x9e37_79b9u32;
        self.send_paced(stop, |i| self.packet(i, &mut seq, &ports))
    }

    /// Sends these (built by [`Spoofer::packets`]) as fast as the pace
    /// allows.
    pub fn send(&self, packets: &[Vec<u8>], stop: &AtomicBool) -> io::Result<u64> {
        self.send_paced(stop, |i| packets[i as usize].clone())
    }

    fn send_paced(
        &self,
        stop: &AtomicBool,
        mut next: impl FnMut(u64) -> Vec<u8>,
    ) -> io::Result<u64> {
        let sender = RawSender::open(&SenderOptions {
            ipv4: self.victim.is_ipv4(),
            ipv6: self.victim.is_ipv6(),
            ..SenderOptions::default()
        })?;
        if self.ports.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let end = started + self.duration;
        let mut sent = 0u64;
        while sent < self.max_packets && !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= end {
                break;
            }
            // Pace: `sent` packets are due `sent / pps` seconds in.
            let due = started + Duration::from_secs_f64(sent as f64 / f64::from(self.pps.max(1)));
            if due > now {
                std::thread::sleep((due - now).min(Duration::from_millis(20)));
                continue;
            }
            // A full socket buffer drops one SYN; the flood goes on.
            let _ = sender.send(&next(sent));
            sent += 1;
        }
        Ok(sent)
    }
}

/// How a legitimate check went.
#[derive(Debug, Clone)]
pub enum CheckOutcome {
    Report(Box<EchoReport>),
    /// The server answered with an error (`busy`, `rate_limited` ...).
    Refused(String),
    /// No connection or no answer.
    Failed(String),
}

impl CheckOutcome {
    pub fn report(&self) -> Option<&EchoReport> {
        match self {
            CheckOutcome::Report(r) => Some(r),
            _ => None,
        }
    }
}

/// The echo half of a check, as `mptcp-probe check` does it: an MPTCP
/// connection (from `source`, or any address) and its hello.
pub fn echo_check(
    server: SocketAddr,
    source: Option<SocketAddr>,
    timeout: Duration,
) -> CheckOutcome {
    let s = match Socket::new(
        Domain::for_address(server),
        Type::STREAM,
        Some(Protocol::MPTCP),
    ) {
        Ok(s) => s,
        Err(e) => return CheckOutcome::Failed(format!("socket: {e}")),
    };
    if let Some(source) = source {
        let _ = s.set_reuse_address(true);
        if let Err(e) = s.bind(&SockAddr::from(source)) {
            return CheckOutcome::Failed(format!("bind {source}: {e}"));
        }
    }
    if let Err(e) = s.connect_timeout(&SockAddr::from(server), timeout) {
        return CheckOutcome::Failed(format!("connect: {e}"));
    }
    hello(s.into(), timeout)
}

/// Sends the hello on an established connection and reads the answer.
pub fn hello(stream: TcpStream, timeout: Duration) -> CheckOutcome {
    let _ = stream.set_read_timeout(Some(timeout));
    let mut w = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => return CheckOutcome::Failed(e.to_string()),
    };
    if let Err(e) = w.write_all(b"{\"type\":\"hello\",\"version\":1,\"client\":\"attack-lab\"}\n") {
        return CheckOutcome::Failed(format!("hello: {e}"));
    }
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(0) => return CheckOutcome::Failed("closed without an answer".into()),
        Ok(_) => {}
        Err(e) => return CheckOutcome::Failed(format!("no answer: {e}")),
    }
    match serde_json::from_str::<ServerMessage>(&line) {
        Ok(ServerMessage::Report(r)) => CheckOutcome::Report(r),
        Ok(ServerMessage::Error(e)) => CheckOutcome::Refused(e.code),
        Ok(other) => CheckOutcome::Failed(format!("unexpected answer {other:?}")),
        Err(e) => CheckOutcome::Failed(format!("not a server message ({e}): {line:?}")),
    }
}

/// Whether a report's SYN is the connection's own SYN as a Linux kernel
/// sent it across a clean path: captured, answered by the reported
/// SYN/ACK, with MP_CAPABLE. A SYN sent in the client's name (NOPs where
/// MP_CAPABLE was), or an earlier probe's SYN on a reused port, fails.
pub fn syn_is_own_mptcp(r: &EchoReport) -> bool {
    let (Some(syn), Some(syn_ack)) = (&r.syn, &r.syn_ack) else {
        return false;
    };
    syn.mp_capable.is_some_and(|m| m.version == 1) && syn_ack.ack == syn.seq.wrapping_add(1)
}
