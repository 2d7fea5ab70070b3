//! `lab`: builds the namespace lab, and for every scenario switches its
//! cause on, starts the real `mptcp-probe-server`, runs the real
//! `mptcp-probe check` and `trace`, and prints the cause next to the
//! verdict, the hop range and the tracebox-format trace; then tears it all
//! down (also on Ctrl-C).
//!
//!     sudo -E env "PATH=$PATH" cargo run --release -p lab --bin lab
//!     lab [--list] [--record DIR] [--timeout SECS] [--duration SECS] [--bin-dir DIR] [-j N] [SCENARIO ...]
//!
//! Then the aggregate group (`agg-*`, lab::aggregate): a router with two
//! WANs, one cause each that keeps a WAN out of the aggregate, and the real
//! `mptcp-probe aggregate` asked about it (`--duration`, 0.5 s by default).
//!
//! Where the binaries come from: a binary of the `tests` package cannot
//! depend on another package's binary (cargo has no stable artifact
//! dependencies), and linking the client into the lab would not test the
//! binary users run. So the lab runs the two binaries that sit next to its
//! own executable (`target/<profile>/`). Started by `cargo run`, which sets
//! `CARGO` and `CARGO_MANIFEST_DIR`, it first asks that same cargo to
//! build them in the same profile (the xtask pattern; cargo releases its
//! lock before running us), so one command works from a fresh clone.
//! Started directly (`sudo target/release/lab`), it uses what is there and
//! says how to build it when it is missing.
#![forbid(unsafe_code)]
use lab::aggregate::{AggOptions, AggOutcome, AggScenario, AGGREGATE_SCENARIOS};
use lab::{self, interrupt, Binaries, Outcome, RunOptions, ServerLaunch, SCENARIOS};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex};

struct Args {
    list: bool,
    record: Option<PathBuf>,
    timeout: f64,
    bin_dir: Option<PathBuf>,
    jobs: usize,
    /// `aggregate --duration` in the aggregate group.
    duration: f64,
    names: Vec<String>,
}

const USAGE: &str = "usage: lab [--list] [--record DIR] [--timeout SECS] [--duration SECS] [--bin-dir DIR] [-j N] [SCENARIO ...]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        list: false,
        record: None,
        timeout: 3.0,
        bin_dir: None,
        jobs: 4,
        duration: 0.5,
        names: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |what: &str| it.next().ok_or(format!("{arg} needs {what}"));
        match arg.as_str() {
            "--list" => a.list = true,
            "--record" => a.record = Some(value("a directory")?.into()),
            "--timeout" => {
                a.timeout = value("seconds")?
                    .parse()
                    .map_err(|e| format!("--timeout: {e}"))?
            }
            "--bin-dir" => a.bin_dir = Some(value("a directory")?.into()),
            "--duration" => {
                a.duration = value("seconds")?
                    .parse()
                    .map_err(|e| format!("--duration: {e}"))?
            }
            "-j" | "--jobs" => {
                a.jobs = value("a number")?.parse().map_err(|e| format!("-j: {e}"))?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{USAGE}")),
            s => {
                if lab::scenario::find(s).is_none() && lab::aggregate::find(s).is_none() {
                    return Err(format!("no scenario {s} (see --list)"));
                }
                a.names.push(s.into())
            }
        }
    }
    a.jobs = a.jobs.max(1);
    Ok(a)
}

/// Builds the client and the server with the cargo that started us, in
/// our own profile, when we run under `cargo run`.
fn build_with_cargo(dir: &Path) -> Result<(), String> {
    let (Ok(cargo), Ok(manifest)) = (std::env::var("CARGO"), std::env::var("CARGO_MANIFEST_DIR"))
    else {
        return Ok(());
    };
    let workspace = Path::new(&manifest).join("../Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--manifest-path"])
        .arg(&workspace)
        .args(["-p", "probe-client", "-p", "probe-server"]);
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("release") => {
            cmd.arg("--release");
        }
        Some("debug") | None => {}
        Some(profile) => {
            cmd.args(["--profile", profile]);
        }
    }
    eprintln!("lab: building mptcp-probe and mptcp-probe-server ({cmd:?})");
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("cargo build failed: {s}")),
        Err(e) => Err(format!("cannot run cargo: {e}")),
    }
}

fn binaries(args: &Args) -> Result<Binaries, String> {
    let dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => {
            let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
            let dir = exe
                .parent()
                .ok_or("own executable has no directory")?
                .to_path_buf();
            build_with_cargo(&dir)?;
            dir
        }
    };
    let client = dir.join("mptcp-probe");
    let server = dir.join("mptcp-probe-server");
    for b in [&client, &server] {
        if !b.is_file() {
            return Err(format!(
                "{} not found; build it first: cargo build --release -p probe-client -p probe-server \
                 (or run the lab through `cargo run --release -p lab --bin lab`, which builds it)",
                b.display()
            ));
        }
    }
    Ok(Binaries {
        client,
        server: ServerLaunch::Binary(server),
    })
}

/// Removes namespaces a previous lab left behind when it could not clean
/// up (killed with SIGKILL, or a panic in the release profile, which
/// aborts without running destructors). Only names of the lab's own
/// pattern (`mpp-lab<N><role>-<pid>-<n>`) whose process is gone.
fn sweep_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let mut parts = name.split('-');
        let (Some("mpp"), Some(tag), Some(pid), Some(_), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let alive = netsys::process::process_alive(pid);
        if tag.starts_with("lab") && !alive {
            eprintln!("lab: removing namespace {name} left by an earlier run");
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}

fn print_outcome(i: usize, n: usize, o: &Outcome) {
    let s = o.scenario;
    println!("[{}/{n}] {}: {}", i + 1, s.name, s.cause);
    for m in s.middleboxes {
        println!("  switched on: {}", m.describe());
    }
    if !s.client_args.is_empty() {
        println!("  client runs with: {}", s.client_args.join(" "));
    }
    if let lab::Layout::TwoWan { oif_rules } = s.layout {
        println!("  router (where the client runs):");
        for cmd in lab::two_wan::router_commands(oif_rules) {
            println!("    ip {}", cmd.join(" "));
        }
        println!("  the path under test is wanB's (r1 is its ISP); wanA must stay mptcp_ok");
    }
    println!(
        "  check  {} (exit {}): {}",
        o.check_verdict, o.check.exit, o.check_summary
    );
    if let (Some(t), Some(v)) = (&o.trace, &o.trace_verdict) {
        println!(
            "  trace  {v} (exit {}); hop range: {}",
            t.exit,
            o.hop_range_text.as_deref().unwrap_or("none")
        );
    }
    for p in &o.paths {
        println!(
            "  {:<6} {} (exit {}){}: {}",
            p.label.split(' ').next().unwrap_or(""),
            p.verdict,
            p.exit,
            p.hop_range
                .map_or(String::new(), |r| format!("; hop range: {r}")),
            p.label
        );
    }
    if let Some(t) = &o.tracebox {
        println!("  trace --format tracebox:");
        print!("{}", indent(&t.stdout));
    }
    if let Some((c, sv)) = &o.captures {
        println!("  recorded: {} {}", c.display(), sv.display());
    }
    let bad = o.mismatches();
    if bad.is_empty() {
        println!("  as expected\n");
    } else {
        for b in &bad {
            println!("  MISMATCH {b}");
        }
        println!("{}", indent(&o.check.to_string()));
    }
}

/// Runs `f(i)` for every `i < n` on `jobs` threads; results in order.
fn in_parallel<T: Send>(jobs: usize, n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<Option<T>> {
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(n) {
            scope.spawn(|| loop {
                let i = {
                    let Ok(mut k) = next.lock() else { return };
                    *k += 1;
                    *k - 1
                };
                if i >= n {
                    return;
                }
                let r = f(i);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(r);
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

fn print_aggregate(i: usize, n: usize, o: &AggOutcome) {
    let s = o.scenario;
    println!("[{}/{n}] {}: {}", i + 1, s.name, s.cause.describe());
    for l in &o.path_lines {
        println!(
            "  {:<5} {:<14} {}",
            l["interface"].as_str().unwrap_or("?"),
            l["verdict"].as_str().unwrap_or("?"),
            l["summary"].as_str().unwrap_or("")
        );
    }
    println!(
        "  summary {} (exit {}): {}",
        o.summary,
        o.run.exit,
        o.summary_line["summary"].as_str().unwrap_or("")
    );
    println!("  took {:.2} s", o.elapsed.as_secs_f64());
    if let Some(c) = &o.capture {
        println!("  recorded: {}", c.display());
    }
    let bad = o.mismatches();
    if bad.is_empty() {
        println!("  as expected\n");
    } else {
        for b in &bad {
            println!("  MISMATCH {b}");
        }
        println!("{}", indent(&o.run.to_string()));
    }
}

/// The aggregate group: returns (scenarios run, scenarios not as expected).
fn run_aggregate_group(
    chosen: &[&'static AggScenario],
    bins: &Binaries,
    opts: &AggOptions,
    jobs: usize,
) -> (usize, usize) {
    if chosen.is_empty() {
        return (0, 0);
    }
    println!(
        "\nlab: aggregate, {} scenarios on a two-WAN router (--duration {} --timeout {}: \
         each run must take less than their sum)\n",
        chosen.len(),
        opts.duration,
        opts.timeout
    );
    let results = in_parallel(jobs, chosen.len(), |i| {
        lab::aggregate::run::run(chosen[i], &format!("lab{i}a"), bins, opts)
    });
    let n = chosen.len();
    let mut failed = 0;
    let mut rows = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        let name = chosen[i].name;
        match r {
            Some(Ok(o)) => {
                print_aggregate(i, n, &o);
                let ok = o.mismatches().is_empty();
                failed += usize::from(!ok);
                let per_wan: Vec<&str> = o.paths.iter().map(|(_, v)| v.as_str()).collect();
                rows.push(format!(
                    "{name:<18} {:<30} {:<22} {:>6.2} s  {}",
                    per_wan.join(" "),
                    format!("{} ({})", o.summary, o.run.exit),
                    o.elapsed.as_secs_f64(),
                    if ok { "ok" } else { "MISMATCH" }
                ));
            }
            Some(Err(e)) => {
                failed += 1;
                println!("[{}/{n}] {name}: error: {e}\n", i + 1);
                rows.push(format!("{name:<18} error: {e}"));
            }
            None => {
                failed += 1;
                rows.push(format!("{name:<18} not run"));
            }
        }
    }
    println!(
        "{:<18} {:<30} {:<22} {:>8}  result",
        "scenario", "wan1 wan2", "summary (exit)", "took"
    );
    for r in rows {
        println!("{r}");
    }
    (n, failed)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        for s in SCENARIOS {
            println!(
                "{:<16} check {:<22} trace {:<22} {}",
                s.name, s.check.verdict, s.trace.verdict, s.cause
            );
        }
        for s in lab::aggregate::AGGREGATE_SCENARIOS {
            println!(
                "{:<16} aggregate {:<16} {:<18} {}",
                s.name,
                s.paths[1],
                s.summary,
                s.cause.describe()
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Some(why) = lab::unavailable() {
        eprintln!("lab: cannot run: {why}; run it as root (sudo)");
        return ExitCode::from(2);
    }
    if !lab::netns::have("tcpdump") && args.record.is_some() {
        eprintln!("lab: --record needs tcpdump");
        return ExitCode::from(2);
    }
    let bins = match binaries(&args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("lab: {e}");
            return ExitCode::from(2);
        }
    };
    sweep_stale_namespaces();
    if let Err(e) = interrupt::install() {
        eprintln!("lab: signal handler: {e}");
        return ExitCode::from(2);
    }
    if let Some(dir) = &args.record {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("lab: {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    }
    let chosen: Vec<&'static lab::Scenario> = SCENARIOS
        .iter()
        .filter(|s| args.names.is_empty() || args.names.iter().any(|n| n == s.name))
        .collect();
    let chosen_aggregate: Vec<&'static AggScenario> = AGGREGATE_SCENARIOS
        .iter()
        .filter(|s| args.names.is_empty() || args.names.iter().any(|n| n == s.name))
        .collect();
    let opts = RunOptions {
        timeout: args.timeout,
        record: args.record.clone(),
        trace: true,
    };
    println!(
        "lab: {} scenarios, client {}, server {}\n",
        chosen.len(),
        bins.client.display(),
        match &bins.server {
            ServerLaunch::Binary(p) => p.display().to_string(),
            ServerLaunch::InProcess => "in-process".into(),
        }
    );
    let started = std::time::Instant::now();
    // Scenarios run in parallel (each in its own namespaces: ICMP rate
    // limits and blackhole state are per namespace) and print in order.
    let results: Arc<Mutex<Vec<Option<std::io::Result<Outcome>>>>> =
        Arc::new(Mutex::new((0..chosen.len()).map(|_| None).collect()));
    let next = Arc::new(Mutex::new(0usize));
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(chosen.len()) {
            let (results, next, chosen, bins, opts) = (&results, &next, &chosen, &bins, &opts);
            scope.spawn(move || loop {
                let i = {
                    let Ok(mut n) = next.lock() else { return };
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(s) = chosen.get(i) else { return };
                let r = lab::run::run(s, &format!("lab{i}"), bins, opts);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(r);
                }
            });
        }
    });
    let results = match Arc::try_unwrap(results).map(|m| m.into_inner()) {
        Ok(Ok(r)) => r,
        _ => {
            eprintln!("lab: a worker failed");
            return ExitCode::from(2);
        }
    };
    let n = chosen.len();
    let mut summary = Vec::new();
    let mut failed = 0;
    for (i, r) in results.into_iter().enumerate() {
        let name = chosen[i].name;
        match r {
            Some(Ok(o)) => {
                print_outcome(i, n, &o);
                let ok = o.mismatches().is_empty();
                failed += usize::from(!ok);
                summary.push(format!(
                    "{:<16} {:<26} {:<26} {:<13} {}",
                    name,
                    format!("{} ({})", o.check_verdict, o.check.exit),
                    format!(
                        "{} ({})",
                        o.trace_verdict.as_deref().unwrap_or("-"),
                        o.trace.as_ref().map_or(-1, |t| t.exit)
                    ),
                    o.hop_range.map_or("-".into(), |r| r.to_string()),
                    if ok { "ok" } else { "MISMATCH" }
                ));
            }
            Some(Err(e)) => {
                failed += 1;
                println!("[{}/{n}] {name}: error: {e}\n", i + 1);
                summary.push(format!("{name:<16} error: {e}"));
            }
            None => {
                failed += 1;
                summary.push(format!("{name:<16} not run"));
            }
        }
    }
    println!(
        "{:<16} {:<26} {:<26} {:<13} result",
        "scenario", "check (exit)", "trace (exit)", "hop range"
    );
    for l in summary {
        println!("{l}");
    }
    let aggregate_opts = AggOptions {
        duration: args.duration,
        timeout: args.timeout,
        record: args.record.clone(),
    };
    let (agg_total, agg_failed) =
        run_aggregate_group(&chosen_aggregate, &bins, &aggregate_opts, args.jobs);
    let (n, failed) = (n + agg_total, failed + agg_failed);
    println!(
        "\n{} of {n} scenarios as expected in {:.1} s; namespaces removed.",
        n - failed,
        started.elapsed().as_secs_f64()
    );
    if interrupt::interrupted() {
        eprintln!("lab: interrupted");
        return ExitCode::from(130);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
