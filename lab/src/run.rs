//! Runs one scenario: builds the topology, switches its middleboxes on,
//! starts the echo server, runs the real client binary (`check --json`,
//! `trace --json`, `trace --format tracebox`) in the client namespace and
//! collects what it said. Optionally records the check's traffic with
//! tcpdump on the client's and the server's interface.
//!
//! Teardown is by guards: the server, tcpdump and any reflector are
//! stopped, then the namespaces deleted, when the run returns, fails or
//! panics.
use super::interrupt;
use super::middlebox::Middlebox;
use super::plain_service::PlainService;
use super::reflector::Reflector;
use super::scenario::{Expect, Family, HopRange, Layout, Scenario};
use super::topology::{Topology, PORT, SERVICE_PORT};
use super::two_wan::{WAN_A, WAN_B};
use crate::echo_server::InProcessServer;
use crate::netns::Netns;
use netsys::process::Signal;
use serde_json::Value;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How the echo server is started in the server namespace.
#[derive(Debug, Clone)]
pub enum ServerLaunch {
    /// The `mptcp-probe-server` binary (what the lab command uses).
    Binary(PathBuf),
    /// `probe_server::server::run` on a thread inside the namespace: the
    /// same code the binary runs after parsing its arguments. Tests use it
    /// because a test of one package cannot name another package's binary.
    InProcess,
}

/// The programs a run uses.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The `mptcp-probe` binary.
    pub client: PathBuf,
    pub server: ServerLaunch,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `--timeout` given to the client, seconds.
    pub timeout: f64,
    /// Record the check's traffic into DIR/lab-<scenario>.{client,server}.pcap.
    pub record: Option<PathBuf>,
    /// Also run `trace` (twice: JSON and tracebox format).
    pub trace: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            timeout: 3.0,
            record: None,
            trace: true,
        }
    }
}

/// One run of the client.
#[derive(Debug, Clone, Default)]
pub struct ClientRun {
    pub args: Vec<String>,
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ClientRun {
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl std::fmt::Display for ClientRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ mptcp-probe {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
            self.args.join(" "),
            self.exit,
            self.stdout,
            self.stderr
        )
    }
}

/// One more way a two-WAN scenario probes a path, and what it must give.
#[derive(Debug, Clone)]
pub struct PathRun {
    /// The command line, as a person would read it (`check --source
    /// 10.20.1.2`, `check -i wanA`).
    pub label: String,
    pub run: ClientRun,
    pub verdict: String,
    /// The exit code for this path (a check line's `exit_code`, or the
    /// process's).
    pub exit: i32,
    pub hop_range: Option<HopRange>,
    pub expect: Expect,
    pub expect_range: Option<HopRange>,
}

/// What the tool said in one scenario.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: &'static Scenario,
    pub check: ClientRun,
    pub check_verdict: String,
    pub check_summary: String,
    pub trace: Option<ClientRun>,
    pub trace_verdict: Option<String>,
    /// The hop range from `trace --json`: (last TTL with, first TTL
    /// without), `None` inside for "the server".
    pub hop_range: Option<HopRange>,
    /// The same range in words, with the routers' addresses.
    pub hop_range_text: Option<String>,
    pub tracebox: Option<ClientRun>,
    /// Recorded captures (client side, server side).
    pub captures: Option<(PathBuf, PathBuf)>,
    /// Two-WAN layout: the other ways the paths were probed (wanA, and
    /// wanB named by its source address).
    pub paths: Vec<PathRun>,
}

impl Outcome {
    /// Every difference between what the scenario expects and what the
    /// tool said (empty when it said exactly that).
    pub fn mismatches(&self) -> Vec<String> {
        let s = self.scenario;
        let mut out = Vec::new();
        if self.check_verdict != s.check.verdict || self.check.exit != s.check.exit {
            out.push(format!(
                "check: expected {} (exit {}), got {} (exit {})",
                s.check.verdict, s.check.exit, self.check_verdict, self.check.exit
            ));
        }
        if let (Some(t), Some(v)) = (&self.trace, &self.trace_verdict) {
            if v != s.trace.verdict || t.exit != s.trace.exit {
                out.push(format!(
                    "trace: expected {} (exit {}), got {v} (exit {})",
                    s.trace.verdict, s.trace.exit, t.exit
                ));
            }
            if self.hop_range != s.hop_range {
                out.push(format!(
                    "trace hop range: expected {}, got {}",
                    opt_range(s.hop_range),
                    opt_range(self.hop_range)
                ));
            }
        }
        if let Some(t) = &self.tracebox {
            if t.exit != s.trace.exit {
                out.push(format!(
                    "trace --format tracebox: expected exit {}, got {}",
                    s.trace.exit, t.exit
                ));
            }
        }
        for p in &self.paths {
            if p.verdict != p.expect.verdict || p.exit != p.expect.exit {
                out.push(format!(
                    "{}: expected {} (exit {}), got {} (exit {})",
                    p.label, p.expect.verdict, p.expect.exit, p.verdict, p.exit
                ));
            }
            if p.label.starts_with("trace") && p.hop_range != p.expect_range {
                out.push(format!(
                    "{} hop range: expected {}, got {}",
                    p.label,
                    opt_range(p.expect_range),
                    opt_range(p.hop_range)
                ));
            }
        }
        out
    }
}

/// What `trace --json` concluded: the verdict, the hop range, and the
/// range in words with the routers' addresses.
fn trace_result(t: &ClientRun) -> (String, Option<HopRange>, Option<String>) {
    let lines = t.json_lines();
    let verdict = lines.iter().find(|v| v["type"] == "verdict");
    let code = verdict
        .and_then(|v| v["verdict"].as_str())
        .unwrap_or("?")
        .to_string();
    let Some(range) = verdict.map(|v| &v["hop_range"]).filter(|r| !r.is_null()) else {
        return (code, None, None);
    };
    let ttl = |h: &Value| h["ttl"].as_u64().and_then(|t| u8::try_from(t).ok());
    let hop_range = HopRange {
        last_with: ttl(&range["last_with"]).unwrap_or(0),
        first_without: ttl(&range["first_without"]),
    };
    let hop = |h: &Value, none: &str| match (ttl(h), h["addr"].as_str()) {
        (Some(t), Some(a)) => format!("hop {t} ({a})"),
        (Some(t), None) => format!("hop {t}"),
        _ => none.to_string(),
    };
    let text = format!(
        "MP_CAPABLE last seen at {}, first missing at {}",
        hop(&range["last_with"], "this host"),
        hop(&range["first_without"], "the server")
    );
    (code, Some(hop_range), Some(text))
}

/// The `check --json` line of `interface` (the first line when `None`).
fn check_line(run: &ClientRun, interface: Option<&str>) -> Value {
    run.json_lines()
        .into_iter()
        .find(|l| interface.is_none_or(|i| l["interface"] == i))
        .unwrap_or(Value::Null)
}

fn opt_range(r: Option<HopRange>) -> String {
    r.map_or_else(|| "none".into(), |r| r.to_string())
}

/// The echo server in the server namespace; stopped on drop.
pub(crate) enum ServerGuard {
    Binary(Child),
    /// Held for its Drop, which stops the server.
    InProcess {
        _server: InProcessServer,
    },
}

impl ServerGuard {
    /// Starts the echo server on [`PORT`], capturing `watch` too.
    pub(crate) fn start(ns: &Netns, how: &ServerLaunch, watch: &[u16]) -> io::Result<Self> {
        match how {
            ServerLaunch::Binary(bin) => start_binary(ns, bin, watch),
            ServerLaunch::InProcess => InProcessServer::start(
                ns,
                probe_server::server::Config {
                    ports: vec![PORT],
                    watch: watch.to_vec(),
                    ..Default::default()
                },
            )
            .map(|s| ServerGuard::InProcess { _server: s }),
        }
    }
}

fn start_binary(ns: &Netns, bin: &Path, watch: &[u16]) -> io::Result<ServerGuard> {
    let mut command = ns.command(&bin.to_string_lossy());
    command.args(["--port", &PORT.to_string(), "--user", "nobody"]);
    for port in watch {
        command.args(["--watch", &port.to_string()]);
    }
    let mut child = command
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (tx, rx) = mpsc::channel::<String>();
    // The log is read to its end (so the server never blocks on a full
    // pipe); the first line that says it serves, or fails, is passed on.
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if line.contains("serving") || line.contains("cannot serve") {
                    let _ = tx.send(line);
                }
            }
        });
    }
    let guard = ServerGuard::Binary(child);
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(line) if line.contains("serving") => Ok(guard),
        Ok(line) => Err(io::Error::other(format!("echo server: {line}"))),
        Err(_) => Err(io::Error::other("echo server did not start within 10 s")),
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        match self {
            ServerGuard::Binary(child) => stop_child(child, Signal::SIGTERM),
            // Stops itself when dropped.
            ServerGuard::InProcess { .. } => {}
        }
    }
}

/// Sends `sig` to a child we started (by its pid: `ip netns exec` execs
/// the program, so the pid is the program's) and reaps it.
fn stop_child(child: &mut Child, sig: Signal) {
    // Unreaped, so the pid is still our child's; an error means it ended.
    let _ = netsys::process::signal(child.id(), sig);
    for _ in 0..50 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// tcpdump writing a capture in a namespace; stopped (SIGINT, so it
/// flushes) on drop.
struct Capture {
    child: Child,
}

impl Capture {
    fn start(ns: &Netns, iface: &str, file: &Path) -> io::Result<Self> {
        // Checksum offload stays as it is: switching it off changes what
        // the kernel does (see the IPv6 stripping scenario), and the lab
        // must record what happens without the recorder. Checksums of
        // segments sent by a namespace are therefore partial in its capture.
        let mut child = ns
            .command("tcpdump")
            .args(["-i", iface, "-U", "-s", "0", "--immediate-mode", "-w"])
            .arg(file)
            .arg(format!(
                "tcp port {PORT} or tcp port {SERVICE_PORT} or icmp or icmp6"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("tcpdump stderr"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let capture = Capture { child };
        // tcpdump says "listening on" once its socket is open.
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(l) if l.contains("listening on") => return Ok(capture),
                Ok(_) => continue,
                Err(_) => return Err(io::Error::other("tcpdump did not start")),
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        stop_child(&mut self.child, Signal::SIGINT);
    }
}

pub(crate) fn run_client(ns: &Netns, bin: &Path, args: Vec<String>) -> io::Result<ClientRun> {
    interrupt::check()?;
    let out = ns.command(&bin.to_string_lossy()).args(&args).output()?;
    Ok(ClientRun {
        args,
        exit: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Runs one scenario in fresh namespaces named after `tag`.
pub fn run(
    scenario: &'static Scenario,
    tag: &str,
    bins: &Binaries,
    opts: &RunOptions,
) -> io::Result<Outcome> {
    interrupt::check()?;
    let topo = Topology::with_layout(tag, scenario.layout)?;
    let mut reflectors = Vec::new();
    for m in scenario.middleboxes {
        m.apply(&topo)?;
        if let Middlebox::Reflect(r) = m {
            reflectors.push(Reflector::start(topo.router(*r), PORT)?);
        }
    }
    if scenario.family == Family::V6 || scenario.layout != Layout::Chain {
        topo.settle_ipv6()?;
    }
    let (_service, watch) = if scenario.middleboxes.contains(&Middlebox::PlainTcpService) {
        (
            Some(PlainService::start(topo.server(), SERVICE_PORT)?),
            vec![SERVICE_PORT],
        )
    } else {
        (None, Vec::new())
    };
    let _server = ServerGuard::start(topo.server(), &bins.server, &watch)?;
    interrupt::check()?;
    let target = topo.server_addr(scenario.family).to_string();
    let family = match scenario.family {
        Family::V4 => "-4",
        Family::V6 => "-6",
    };
    let timeout = opts.timeout.to_string();
    let client_args = |verb: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![verb.into(), family.into(), "--timeout".into()];
        v.push(timeout.clone());
        v.extend(scenario.client_args.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v.push(target.clone());
        v
    };
    let client = |args: Vec<String>| run_client(topo.client(), &bins.client, args);
    // The path under test: the chain's only one, or the router's wanB.
    let two_wan = topo.two_wan();
    let path: &[&str] = if two_wan.is_some() {
        &["-i", WAN_B]
    } else {
        &[]
    };

    // Recorded for the chain only (see `Scenario::layout`).
    let captures = match (&opts.record, two_wan) {
        (Some(dir), None) => {
            let c = dir.join(format!("lab-{}.client.pcap", scenario.name));
            let s = dir.join(format!("lab-{}.server.pcap", scenario.name));
            Some((
                Capture::start(topo.client(), topo.client_iface(), &c)?,
                Capture::start(topo.server(), "eth0", &s)?,
                (c, s),
            ))
        }
        _ => None,
    };
    let check_extra: &[&str] = if two_wan.is_some() {
        &["--json", "-i", WAN_A, "-i", WAN_B]
    } else {
        &["--json"]
    };
    let check = client(client_args("check", check_extra))?;
    let captures = captures.map(|(c, s, files)| {
        // Let the last segments (FINs, RSTs) pass before tcpdump stops.
        std::thread::sleep(Duration::from_millis(500));
        drop(c);
        drop(s);
        files
    });
    let check_line_b = check_line(&check, two_wan.map(|_| WAN_B));
    let check_verdict = check_line_b["verdict"].as_str().unwrap_or("?").to_string();
    let check_summary = check_line_b["summary"].as_str().unwrap_or("").to_string();

    let (mut trace, mut trace_verdict, mut hop_range, mut hop_range_text, mut tracebox) =
        (None, None, None, None, None);
    if opts.trace {
        let t = client(client_args("trace", &[&["--json"], path].concat()))?;
        let (verdict, range, text) = trace_result(&t);
        trace_verdict = Some(verdict);
        hop_range = range;
        hop_range_text = text;
        trace = Some(t);
        tracebox = Some(client(client_args(
            "trace",
            &[&["--format", "tracebox"], path].concat(),
        ))?);
    }
    let paths = match two_wan {
        Some(t) => two_wan_paths(
            scenario,
            &check,
            &t.wan_b(scenario.family == Family::V6).to_string(),
            opts.trace,
            &|verb, extra| client(client_args(verb, extra)),
        )?,
        None => Vec::new(),
    };
    Ok(Outcome {
        scenario,
        check,
        check_verdict,
        check_summary,
        trace,
        trace_verdict,
        hop_range,
        hop_range_text,
        tracebox,
        captures,
        paths,
    })
}

/// The two-WAN layout's other runs: wanA's line of the `-i wanA -i wanB`
/// check, and wanB named by its source address instead of its device;
/// with `trace`, also `trace -i wanA` and `trace --source WANB_ADDR`.
fn two_wan_paths(
    scenario: &Scenario,
    check: &ClientRun,
    wan_b_addr: &str,
    trace: bool,
    client: &dyn Fn(&str, &[&str]) -> io::Result<ClientRun>,
) -> io::Result<Vec<PathRun>> {
    const OK: Expect = Expect {
        verdict: "mptcp_ok",
        exit: 0,
    };
    let from_check = |label: String, run: ClientRun, interface: Option<&str>, expect| {
        let line = check_line(&run, interface);
        PathRun {
            label,
            verdict: line["verdict"].as_str().unwrap_or("?").to_string(),
            exit: line["exit_code"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(-1),
            run,
            hop_range: None,
            expect,
            expect_range: None,
        }
    };
    let from_trace = |label: String, run: ClientRun, expect: Expect, expect_range| {
        let (verdict, hop_range, _) = trace_result(&run);
        PathRun {
            label,
            verdict,
            exit: run.exit,
            run,
            hop_range,
            expect,
            expect_range,
        }
    };
    let mut out = vec![
        from_check(
            format!("check -i {WAN_A} -i {WAN_B} ({WAN_A}'s line)"),
            check.clone(),
            Some(WAN_A),
            OK,
        ),
        from_check(
            format!("check --source {wan_b_addr}"),
            client("check", &["--json", "--source", wan_b_addr])?,
            None,
            scenario.check,
        ),
    ];
    if trace {
        out.push(from_trace(
            format!("trace -i {WAN_A}"),
            client("trace", &["--json", "-i", WAN_A])?,
            OK,
            None,
        ));
        // wanB's routers have just answered two traces (their flows and
        // controls): Linux rate-limits ICMP errors per destination (a
        // burst of 6, then one a second), so give the bucket time to
        // refill before tracing the same routers again.
        std::thread::sleep(Duration::from_secs(3));
        out.push(from_trace(
            format!("trace --source {wan_b_addr}"),
            client("trace", &["--json", "--source", wan_b_addr])?,
            scenario.trace,
            scenario.hop_range,
        ));
    }
    Ok(out)
}
