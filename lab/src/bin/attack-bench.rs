//! `attack-bench`: the full-size attacks of issue 12 against the real
//! `mptcp-probe-server`, with the real `mptcp-probe check` as the
//! legitimate client, in namespaces ([`lab::attack::AttackLab`]), and the
//! figures: checks served during each attack, verdicts flipped, crafted
//! probes the server still had, and lines the server logged.
//!
//!     sudo bench/attack.sh [--pps N] [--checks N] [SCENARIO ...]
//!     attack-bench [--bin-dir DIR] [--pps N] [--checks N] [-v] [SCENARIO ...]
//!
//! Scenarios: `hold-v4` (256 connections from 8 addresses, one byte every
//! 5 s), `hold-v6` (one connection from each of 284 addresses of one
//! /64), `spoof-64` and `spoof-1024` (SYNs with NOPs in place of
//! MP_CAPABLE sent in the victim's name over its 64 or 1024 ports),
//! `spoof-strip` (SYNs with MP_CAPABLE in the victim's name while its own
//! path strips the option), `reuse-64` (150 checks from 64 ports, no
//! attacker), `log-flood` (50,000 connections from one address),
//! `capture-flood` (spoofed SYNs at `--flood-pps`, 80,000 by default, while
//! 200 checks run, the server started as the systemd unit starts it:
//! non-root, CAP_NET_RAW only; with its capture ring, then without) and
//! `capture-rate` (the highest flood rate the capture keeps up with,
//! against tcpdump on the same interface, ring and plain socket). Run as
//! root; not part of CI. The binaries are taken from `--bin-dir` or from
//! next to this executable (bench/attack.sh builds them).
#![forbid(unsafe_code)]
use lab::attack::{AttackLab, Holders, Spoofer, PORT};
use lab::netns::Netns;
use netsys::process::Signal;
use serde_json::Value;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCENARIOS: [&str; 9] = [
    "hold-v4",
    "hold-v6",
    "spoof-64",
    "spoof-1024",
    "spoof-strip",
    "reuse-64",
    "log-flood",
    "capture-flood",
    "capture-rate",
];

struct Opts {
    bin_dir: PathBuf,
    pps: u32,
    /// The capture scenarios' flood rate.
    flood_pps: u32,
    /// Checks per scenario (`reuse-64` runs six times as many).
    checks: usize,
    /// Print why each flipped verdict was given.
    verbose: bool,
    names: Vec<String>,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        bin_dir: std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default(),
        pps: 5000,
        flood_pps: 80_000,
        checks: 25,
        verbose: false,
        names: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| it.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--bin-dir" => o.bin_dir = value("a directory")?.into(),
            "--pps" => {
                o.pps = value("a rate")?
                    .parse()
                    .map_err(|e| format!("--pps: {e}"))?
            }
            "--flood-pps" => {
                o.flood_pps = value("a rate")?
                    .parse()
                    .map_err(|e| format!("--flood-pps: {e}"))?
            }
            "--checks" => {
                o.checks = value("a number")?
                    .parse()
                    .map_err(|e| format!("--checks: {e}"))?
            }
            "-v" | "--verbose" => o.verbose = true,
            s if SCENARIOS.contains(&s) => o.names.push(s.into()),
            s => return Err(format!("unknown argument {s}; scenarios: {SCENARIOS:?}")),
        }
    }
    if o.names.is_empty() {
        o.names = SCENARIOS.iter().map(|s| s.to_string()).collect();
    }
    Ok(o)
}

/// The real server in the server namespace, its log in a file; SIGTERM
/// (then SIGKILL) on drop.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// `extra`: more server options.
    fn start(ns: &Netns, bin: &Path, tag: &str, extra: &[&str]) -> io::Result<Self> {
        let mut cmd = ns.command(&bin.to_string_lossy());
        cmd.args(["--port", &PORT.to_string(), "--user", "nobody"])
            .args(extra);
        Server::spawn(cmd, tag)
    }

    /// Starts `cmd` (the server, however it is launched) with its log in a
    /// file, and waits until it serves.
    fn spawn(mut cmd: Command, tag: &str) -> io::Result<Self> {
        let log =
            std::env::temp_dir().join(format!("attack-bench-{tag}-{}.log", std::process::id()));
        let file = std::fs::File::create(&log)?;
        let child = cmd.stdout(Stdio::null()).stderr(file).spawn()?;
        let server = Server { child, log };
        let started = Instant::now();
        while !server.log_text().contains("serving") {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(io::Error::other(format!(
                    "the server did not start: {}",
                    server.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the server (SIGTERM: it writes its last summaries and its
    /// capture totals) and returns its whole log.
    fn stop_log(mut self) -> String {
        let _ = netsys::process::signal(self.child.id(), Signal::SIGTERM);
        let started = Instant::now();
        while matches!(self.child.try_wait(), Ok(None))
            && started.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.log_text()
    }

    /// Stops the server and counts its log lines: all of them, and those
    /// of served checks.
    fn stop(self) -> (usize, usize) {
        let text = self.stop_log();
        let lines = text.lines().count();
        let reports = text
            .lines()
            .filter(|l| l.contains("check=\"report\""))
            .count();
        (lines, reports)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One `mptcp-probe check --json` from the victim.
struct Check {
    served: bool,
    /// The report had no SYN (not captured, or no longer held).
    no_syn: bool,
    /// The report's SYN is the connection's own, with MP_CAPABLE v1,
    /// answered by the reported SYN/ACK.
    own_syn: bool,
    /// The report warned that the capture dropped packets.
    warned_drops: bool,
    /// The report said its SYN was captured, then displaced from the
    /// server's store before the accept.
    displaced: bool,
    verdict: String,
    probes_seen: usize,
    /// The verdict's summary and evidence.
    why: String,
}

fn check(lab: &AttackLab, client: &Path) -> Check {
    let out = lab
        .victim
        .command(&client.to_string_lossy())
        .args(["check", "--json"])
        .arg(lab.server_addr.to_string())
        .stderr(Stdio::null())
        .output();
    let line: Value = out
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| serde_json::from_str(l).ok())
        })
        .unwrap_or(Value::Null);
    let report = &line["report"];
    let syn_seq = report["syn"]["seq"].as_u64();
    Check {
        served: line["echo"] == "report",
        no_syn: report["syn"].is_null(),
        own_syn: report["syn"]["mp_capable"]["version"] == 1
            && syn_seq.is_some()
            && report["syn_ack"]["ack"].as_u64() == syn_seq.map(|s| (s + 1) % (1 << 32)),
        displaced: report["warnings"].as_array().is_some_and(|w| {
            w.iter()
                .any(|w| w.as_str().is_some_and(|w| w.contains("then displaced")))
        }),
        warned_drops: report["warnings"].as_array().is_some_and(|w| {
            w.iter().any(|w| {
                w.as_str()
                    .is_some_and(|w| w.starts_with("the capture dropped"))
            })
        }),
        verdict: line["verdict"].as_str().unwrap_or("error").to_string(),
        probes_seen: line["answer"]["observations"]
            .as_array()
            .map_or(0, |a| a.len()),
        why: format!(
            "{} {} {} {}; report: port {} syn seq {} ts {} syn/ack ack {} ts {} warnings {}",
            line["summary"],
            line["evidence"],
            line["error"],
            line["echo_detail"],
            line["report"]["peer"]["port"],
            line["report"]["syn"]["seq"],
            line["report"]["syn"]["ts"],
            line["report"]["syn_ack"]["ack"],
            line["report"]["syn_ack"]["ts"],
            line["report"]["warnings"]
        ),
    }
}

/// What one scenario measured.
#[derive(Default)]
struct Figures {
    checks: usize,
    served: usize,
    flipped: usize,
    expected: &'static str,
    probes_seen: usize,
    /// Served checks whose report had no SYN.
    no_syn: usize,
    log_lines: usize,
    report_lines: usize,
    note: String,
    /// Verdicts of served checks other than the expected one.
    other_verdicts: std::collections::BTreeMap<String, usize>,
}

impl Figures {
    /// A scenario that printed its own figures.
    fn skipped() -> Self {
        Figures::default()
    }
}

#[path = "attack-bench/capture.rs"]
mod capture;

fn run_checks(lab: &AttackLab, bins: &Opts, n: usize, expected: &'static str, f: &mut Figures) {
    let client = bins.bin_dir.join("mptcp-probe");
    f.expected = expected;
    for _ in 0..n {
        if lab::interrupt::interrupted() {
            break;
        }
        let c = check(lab, &client);
        f.checks += 1;
        if c.served {
            f.served += 1;
            if c.verdict != expected {
                if bins.verbose {
                    eprintln!("flipped: {}: {}", c.verdict, c.why);
                }
                f.flipped += 1;
                *f.other_verdicts.entry(c.verdict).or_default() += 1;
            }
            f.probes_seen += c.probes_seen;
            f.no_syn += usize::from(c.no_syn);
        } else if bins.verbose {
            eprintln!("not served: {}: {}", c.verdict, c.why);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hold(o: &Opts, v6: bool) -> io::Result<Figures> {
    let lab = AttackLab::new(if v6 { "bh6" } else { "bh4" })?;
    let (sources, per_source, server) = if v6 {
        (
            lab.attacker_v6(284)?,
            1,
            SocketAddr::from((lab.server_addr6, PORT)),
        )
    } else {
        (lab.attacker_v4(8)?, 32, lab.server())
    };
    let srv = Server::start(
        &lab.server,
        &o.bin_dir.join("mptcp-probe-server"),
        "hold",
        &[],
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let holders = Holders {
        server,
        sources,
        per_source,
        interval: Duration::from_secs(5),
        duration: Duration::from_secs(600),
    };
    let flag = stop.clone();
    let attack = lab.attacker.spawn_thread(move || holders.run(&flag))?;
    std::thread::sleep(Duration::from_secs(3));
    let mut f = Figures::default();
    run_checks(&lab, o, o.checks, "mptcp_ok", &mut f);
    stop.store(true, Ordering::Relaxed);
    let stats = attack
        .join()
        .map_err(|_| io::Error::other("attack panicked"))??;
    (f.log_lines, f.report_lines) = srv.stop();
    f.note = format!(
        "attack: {} connections opened, {} closed by the server, at most {} open at once",
        stats.connects, stats.closed_by_server, stats.max_open
    );
    Ok(f)
}

/// The victim's ports: the kernel connection and the probes' reserved
/// ports all come from here. Without TIME_WAIT (no buckets for it in the
/// victim's namespace) a port is free again as soon as a check closes it:
/// 64 ports would otherwise run out after a few dozen checks a minute, and
/// reuse is what is measured.
fn narrow(lab: &AttackLab, n: u16) -> io::Result<std::ops::RangeInclusive<u16>> {
    let ports = 40000..=40000 + n - 1;
    lab.narrow_victim_ports(ports.clone())?;
    lab.victim.sysctl("net.ipv4.tcp_max_tw_buckets", "0")?;
    Ok(ports)
}

fn spoof(o: &Opts, ports_n: u16, strip: bool) -> io::Result<Figures> {
    let lab = AttackLab::new(if strip { "bss" } else { "bsp" })?;
    let ports = narrow(&lab, ports_n)?;
    if strip {
        lab.strip_mp_capable_from_victim()?;
    }
    let srv = Server::start(
        &lab.server,
        &o.bin_dir.join("mptcp-probe-server"),
        "spoof",
        &[],
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let spoofer = Spoofer {
        victim: IpAddr::V4(lab.victim_addr),
        server: IpAddr::V4(lab.server_addr),
        dport: PORT,
        ports,
        mp_capable: strip,
        pps: o.pps,
        duration: Duration::from_secs(900),
        max_packets: u64::MAX,
    };
    let flag = stop.clone();
    let attack = lab.attacker.spawn_thread(move || spoofer.run(&flag))?;
    std::thread::sleep(Duration::from_secs(1));
    let mut f = Figures::default();
    let expected = if strip {
        "stripped_upstream"
    } else {
        "mptcp_ok"
    };
    run_checks(&lab, o, 2 * o.checks, expected, &mut f);
    stop.store(true, Ordering::Relaxed);
    let sent = attack
        .join()
        .map_err(|_| io::Error::other("attack panicked"))???;
    (f.log_lines, f.report_lines) = srv.stop();
    f.note = format!(
        "attack: {sent} SYNs in the victim's name at {} per second; server sent {} SYN cookies",
        o.pps,
        netstat(&lab.server, "TcpExt", "SyncookiesSent").unwrap_or(0)
    );
    Ok(f)
}

/// A counter of `/proc/net/netstat` in a namespace (`TcpExt`, `SyncookiesSent`).
fn netstat(ns: &Netns, group: &str, name: &str) -> Option<u64> {
    let out = ns.exec(&["cat", "/proc/net/netstat"]).ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("{group}:");
    let mut rows = text.lines().filter(|l| l.starts_with(&prefix));
    let (names, values) = (rows.next()?, rows.next()?);
    let i = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

fn reuse(o: &Opts) -> io::Result<Figures> {
    let lab = AttackLab::new("bru")?;
    narrow(&lab, 64)?;
    let srv = Server::start(
        &lab.server,
        &o.bin_dir.join("mptcp-probe-server"),
        "reuse",
        // 150 checks from one address in under a minute (release build):
        // the per-source rate limit (120 a minute) is not what is measured.
        &["--rate", "100000"],
    )?;
    let mut f = Figures::default();
    run_checks(&lab, o, 6 * o.checks, "mptcp_ok", &mut f);
    (f.log_lines, f.report_lines) = srv.stop();
    f.note = "no attacker: 64 client ports, each check takes four".into();
    Ok(f)
}

fn log_flood(o: &Opts) -> io::Result<Figures> {
    let lab = AttackLab::new("blf")?;
    let srv = Server::start(
        &lab.server,
        &o.bin_dir.join("mptcp-probe-server"),
        "flood",
        &[],
    )?;
    let server = lab.server();
    let started = Instant::now();
    let opened = lab.attacker.run(move || {
        let mut opened = 0u32;
        for _ in 0..50_000 {
            if std::net::TcpStream::connect_timeout(&server, Duration::from_secs(1)).is_ok() {
                opened += 1;
            }
        }
        opened
    })?;
    let took = started.elapsed();
    let mut f = Figures::default();
    run_checks(&lab, o, 5, "mptcp_ok", &mut f);
    (f.log_lines, f.report_lines) = srv.stop();
    f.note = format!(
        "attack: {opened} connections from one address in {:.0} s",
        took.as_secs_f64()
    );
    Ok(f)
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("attack-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(why) = lab::unavailable() {
        eprintln!("attack-bench: cannot run here: {why}");
        return ExitCode::from(2);
    }
    for bin in ["mptcp-probe", "mptcp-probe-server"] {
        if !o.bin_dir.join(bin).exists() {
            eprintln!(
                "attack-bench: no {bin} in {} (cargo build -p probe-client -p probe-server)",
                o.bin_dir.display()
            );
            return ExitCode::from(2);
        }
    }
    println!(
        "{:<12} {:>14} {:>16} {:>8} {:>10}  notes",
        "scenario", "checks served", "verdicts flipped", "probes", "log lines"
    );
    // Ctrl-C or SIGTERM ends the checks early and lets the namespace
    // guards tear everything down, instead of leaving namespaces behind.
    if let Err(e) = lab::interrupt::install() {
        eprintln!("attack-bench: {e}");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for name in &o.names {
        if lab::interrupt::interrupted() {
            eprintln!("attack-bench: interrupted");
            return ExitCode::from(130);
        }
        let started = Instant::now();
        let r = match name.as_str() {
            "hold-v4" => hold(&o, false),
            "hold-v6" => hold(&o, true),
            "spoof-64" => spoof(&o, 64, false),
            "spoof-1024" => spoof(&o, 1024, false),
            "spoof-strip" => spoof(&o, 64, true),
            "reuse-64" => reuse(&o),
            "capture-flood" => capture::flood(&o).map(|()| Figures::skipped()),
            "capture-rate" => capture::rate(&o).map(|()| Figures::skipped()),
            _ => log_flood(&o),
        };
        match r {
            Ok(f) if f.checks == 0 && f.note.is_empty() => {}
            Ok(f) => println!(
                "{name:<12} {:>14} {:>16} {:>8} {:>10}  {} (expected {}{}; {} reports without the SYN; {} report lines; {:.0} s)",
                format!("{}/{}", f.served, f.checks),
                format!("{}/{}", f.flipped, f.served),
                format!("{}/{}", f.probes_seen, 3 * f.served),
                f.log_lines,
                f.note,
                f.expected,
                f.other_verdicts
                    .iter()
                    .map(|(v, n)| format!(", {n} {v}"))
                    .collect::<String>(),
                f.no_syn,
                f.report_lines,
                started.elapsed().as_secs_f64()
            ),
            Err(e) => {
                failed = true;
                println!("{name:<12} failed: {e}");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
