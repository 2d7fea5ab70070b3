//! The capture under a spoofed SYN flood (issue 12, point 3), with the
//! server started as the packaged systemd unit starts it: as an
//! unprivileged user holding CAP_NET_RAW only (setpriv), so the plain
//! socket's receive buffer stays at the default (SO_RCVBUFFORCE needs
//! CAP_NET_ADMIN). tcpdump on the server's interface, with the same
//! filter, is the reference count of what arrived.
use super::{Opts, Server, PORT};
use lab::attack::{AttackLab, Spoofer};
use lab::netns::Netns;
use netsys::process::Signal;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Sending threads of the flood (one core cannot send 80k pps of raw
/// packets in a debug build).
const SENDERS: u32 = 2;
/// Time between the starts of two checks of `capture-flood`.
const CHECK_SPACING: Duration = Duration::from_millis(50);
/// What the server's filter keeps: SYNs and SYN/ACKs of the echo port.
const TCPDUMP_FILTER: &str = "tcp port 6101 and tcp[tcpflags] & tcp-syn != 0";

/// The server as the unit runs it: an unprivileged user holding
/// CAP_NET_RAW only.
struct UnitServer(Server);

impl UnitServer {
    fn start(ns: &Netns, bin: &Path, ring_mib: u32) -> io::Result<Self> {
        let mut cmd = ns.command("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all,+net_raw",
            "--ambient-caps=-all,+net_raw",
            "--bounding-set=-all,+net_raw",
        ])
        .arg(bin)
        .args([
            "--port",
            &PORT.to_string(),
            "--capture-ring-mib",
            &ring_mib.to_string(),
            // 200 checks in a minute from the victim: the per-source
            // rate limit is not what is measured here.
            "--rate",
            "100000",
        ]);
        Ok(UnitServer(Server::spawn(
            cmd,
            &format!("capture-{ring_mib}"),
        )?))
    }

    /// Stops the server; its capture totals (packets read, kernel drops)
    /// from its last log line.
    fn stop(self) -> (u64, u64) {
        let text = self.0.stop_log();
        let line = text
            .lines()
            .find(|l| l.contains("capture stopped"))
            .unwrap_or_default();
        (field(line, "packets"), field(line, "kernel_drops"))
    }
}

/// `name=N` in a log line (0 when absent).
fn field(line: &str, name: &str) -> u64 {
    let key = format!("{name}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&key))
        .and_then(|v| v.trim_matches('"').parse().ok())
        .unwrap_or(0)
}

/// tcpdump on the server's eth0: (packets captured, dropped by kernel).
struct Tcpdump(Child);

impl Tcpdump {
    fn start(ns: &Netns) -> io::Result<Self> {
        let child = ns
            .command("tcpdump")
            .args(["-i", "eth0", "-n", "-q", "-w", "/dev/null", TCPDUMP_FILTER])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        // Its socket is open once it says it is listening; a fixed wait
        // is simpler and long enough.
        std::thread::sleep(Duration::from_millis(700));
        Ok(Tcpdump(child))
    }

    fn stop(self) -> (u64, u64) {
        let _ = netsys::process::signal(self.0.id(), Signal::SIGINT);
        let out = self.0.wait_with_output().ok();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default();
        let count = |what: &str| {
            text.lines()
                .find(|l| l.contains(what))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        (count("packets captured"), count("dropped by kernel"))
    }
}

/// A flood from the attacker's namespace in the victim's name, to the echo
/// port, from `SENDERS` threads; returns (SYNs sent, seconds it took).
struct Flood {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<io::Result<io::Result<u64>>>>,
    started: Instant,
}

impl Flood {
    fn start(lab: &AttackLab, pps: u32, max_packets: u64) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..SENDERS {
            let base = 20_000 + 5000 * i as u16;
            let spoofer = Spoofer {
                victim: IpAddr::V4(lab.victim_addr),
                server: IpAddr::V4(lab.server_addr),
                dport: PORT,
                ports: base..=base + 4999,
                mp_capable: false,
                pps: pps / SENDERS,
                duration: Duration::from_secs(600),
                max_packets: max_packets / u64::from(SENDERS),
            };
            let flag = stop.clone();
            threads.push(lab.attacker.spawn_thread(move || spoofer.run(&flag))?);
        }
        Ok(Flood {
            stop,
            threads,
            started: Instant::now(),
        })
    }

    fn stop(self) -> (u64, f64) {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self
            .threads
            .into_iter()
            .filter_map(|t| t.join().ok()?.ok()?.ok())
            .sum();
        (sent, self.started.elapsed().as_secs_f64())
    }

    fn wait(self) -> (u64, f64) {
        while self.threads.iter().any(|t| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop()
    }
}

/// `capture-flood`: correct verdicts under the flood, ring and plain socket.
pub(super) fn flood(o: &Opts) -> io::Result<()> {
    let bin = o.bin_dir.join("mptcp-probe-server");
    let checks = 200;
    for ring_mib in [16, 0] {
        if lab::interrupt::interrupted() {
            break;
        }
        let lab = AttackLab::new(if ring_mib > 0 { "bcr" } else { "bcs" })?;
        let tcpdump = Tcpdump::start(&lab.server)?;
        let srv = UnitServer::start(&lab.server, &bin, ring_mib)?;
        let flood = Flood::start(&lab, o.flood_pps, u64::MAX)?;
        std::thread::sleep(Duration::from_millis(500));
        let client = o.bin_dir.join("mptcp-probe");
        let (mut served, mut correct, mut own_syn, mut warned) = (0, 0, 0, 0);
        // The verdicts that were not mptcp_ok, and why the reports that
        // lacked the connection's own SYN lacked it.
        let mut misses: std::collections::BTreeMap<String, usize> = Default::default();
        // Spread over 10 s of flood, not run back to back in under a
        // second: the capture must keep up with a sustained flood.
        let began = Instant::now();
        for i in 0..checks {
            if lab::interrupt::interrupted() {
                break;
            }
            std::thread::sleep(
                (began + CHECK_SPACING * i).saturating_duration_since(Instant::now()),
            );
            // The real client, as a user runs it (crafted probes, the
            // kernel connection, the echo report): its verdict is what
            // must stay right.
            let c = super::check(&lab, &client);
            served += usize::from(c.served);
            warned += usize::from(c.warned_drops);
            own_syn += usize::from(c.own_syn);
            if c.verdict == "mptcp_ok" {
                correct += 1;
            } else {
                *misses.entry(format!("verdict {}", c.verdict)).or_default() += 1;
            }
            if c.served && !c.own_syn {
                let why = match (c.no_syn, c.displaced) {
                    (true, true) => {
                        "report without the SYN: captured, then displaced from the store before the accept"
                    }
                    (true, false) => "report without the SYN",
                    _ => "report with another SYN",
                };
                *misses.entry(why.to_string()).or_default() += 1;
            }
        }
        let (sent, secs) = flood.stop();
        std::thread::sleep(Duration::from_millis(300));
        let (read, drops) = srv.stop();
        let (reference, tcpdump_drops) = tcpdump.stop();
        println!(
            "capture-flood {:<12} {sent} SYNs at {:.0} pps: {correct}/{checks} verdicts correct ({:.1}%), {served} served, {own_syn} reports with the connection's own SYN, {warned} warned of drops; server read {read}, dropped {drops} ({:.1}% of tcpdump's {reference}; tcpdump dropped {tcpdump_drops})",
            if ring_mib > 0 { format!("ring {ring_mib} MiB") } else { "plain socket".into() },
            sent as f64 / secs,
            100.0 * correct as f64 / checks as f64,
            100.0 * drops as f64 / reference.max(1) as f64,
        );
        for (why, n) in &misses {
            println!("    {n} x {why}");
        }
    }
    Ok(())
}

/// `capture-rate`: for each flood rate, 2 s of flood (no checks); the
/// highest rate at which the server read as many packets as tcpdump saw,
/// with the ring and with the plain socket.
pub(super) fn rate(o: &Opts) -> io::Result<()> {
    let bin = o.bin_dir.join("mptcp-probe-server");
    let rates = [20_000u32, 40_000, 80_000, 120_000, 160_000, 240_000];
    for ring_mib in [16, 0] {
        if lab::interrupt::interrupted() {
            break;
        }
        let mut loss_free = None;
        for pps in rates {
            if lab::interrupt::interrupted() {
                break;
            }
            let lab = AttackLab::new(if ring_mib > 0 { "brr" } else { "brs" })?;
            let tcpdump = Tcpdump::start(&lab.server)?;
            let srv = UnitServer::start(&lab.server, &bin, ring_mib)?;
            let flood = Flood::start(&lab, pps, 2 * u64::from(pps))?;
            let (sent, secs) = flood.wait();
            std::thread::sleep(Duration::from_millis(300));
            let (read, drops) = srv.stop();
            let (reference, tcpdump_drops) = tcpdump.stop();
            let lossless = drops == 0 && read >= reference && tcpdump_drops == 0;
            println!(
                "capture-rate {:<12} asked {pps} pps, sent {:.0} pps: tcpdump {reference} (dropped {tcpdump_drops}), server read {read}, dropped {drops}{}",
                if ring_mib > 0 { format!("ring {ring_mib} MiB") } else { "plain socket".into() },
                sent as f64 / secs,
                if lossless { "  loss-free" } else { "" }
            );
            if lossless {
                let rate = sent as f64 / secs;
                loss_free = Some(loss_free.map_or(rate, |r: f64| r.max(rate)));
            } else {
                break;
            }
        }
        println!(
            "capture-rate {:<12} highest loss-free rate (SYNs sent; the capture reads each SYN and its SYN/ACK): {}",
            if ring_mib > 0 { format!("ring {ring_mib} MiB") } else { "plain socket".into() },
            loss_free.map_or("none of those tried".into(), |r| format!("{r:.0} pps"))
        );
    }
    Ok(())
}
