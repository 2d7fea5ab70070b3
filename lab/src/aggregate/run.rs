//! Runs one aggregate scenario: builds the two-WAN layout, switches the
//! cause on, starts the echo server, runs the real `mptcp-probe aggregate
//! --json` on the router and collects its verdicts, with the router's
//! MPTcpExt counters around the run. Everything is torn down by guards.
use super::scenario::AggScenario;
use super::topology::{TwoWan, SERVER};
use crate::interrupt;
use crate::run::{run_client, Binaries, ClientRun, ServerGuard};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

/// How the client runs.
#[derive(Debug, Clone)]
pub struct AggOptions {
    /// `--duration`, seconds (small in the lab: a veth moves the bytes in
    /// milliseconds; the bursts still span the duration).
    pub duration: f64,
    /// `--timeout`, seconds.
    pub timeout: f64,
    /// Write the client's `--write` capture into DIR/lab-NAME.client.pcap
    /// and its JSON lines into DIR/lab-NAME.aggregate.json (what the
    /// engine's replay test reads).
    pub record: Option<PathBuf>,
}

impl Default for AggOptions {
    fn default() -> Self {
        AggOptions {
            duration: 0.5,
            timeout: 1.5,
            record: None,
        }
    }
}

/// What the tool said in one scenario.
#[derive(Debug, Clone)]
pub struct AggOutcome {
    pub scenario: &'static AggScenario,
    pub run: ClientRun,
    /// (interface, verdict) per `path` line.
    pub paths: Vec<(String, String)>,
    pub summary: String,
    pub path_lines: Vec<Value>,
    pub summary_line: Value,
    /// The router's MPTcpExt counters before and after the run.
    pub router_before: BTreeMap<String, u64>,
    pub router_after: BTreeMap<String, u64>,
    pub capture: Option<PathBuf>,
    /// Wall time of the client run (its budget: `--duration` + `--timeout`).
    pub elapsed: std::time::Duration,
}

impl AggOutcome {
    /// Every difference from what the scenario expects.
    pub fn mismatches(&self) -> Vec<String> {
        let s = self.scenario;
        let mut out = Vec::new();
        let got: Vec<&str> = self.paths.iter().map(|(_, v)| v.as_str()).collect();
        if got != s.paths {
            out.push(format!("per WAN: expected {:?}, got {got:?}", s.paths));
        }
        let names: Vec<&str> = self.paths.iter().map(|(i, _)| i.as_str()).collect();
        if names != ["wan1", "wan2"] {
            out.push(format!(
                "WANs found: expected [\"wan1\", \"wan2\"], got {names:?}"
            ));
        }
        if self.summary != s.summary || self.run.exit != s.exit {
            out.push(format!(
                "summary: expected {} (exit {}), got {} (exit {})",
                s.summary, s.exit, self.summary, self.run.exit
            ));
        }
        out
    }

    /// How much a router counter moved during the run.
    pub fn router_delta(&self, name: &str) -> Option<u64> {
        Some(
            self.router_after
                .get(name)?
                .saturating_sub(*self.router_before.get(name)?),
        )
    }
}

fn counters(lab: &TwoWan) -> BTreeMap<String, u64> {
    lab.router
        .exec(&["cat", "/proc/net/netstat"])
        .ok()
        .and_then(|o| host::netstat::parse(&String::from_utf8_lossy(&o.stdout)).ok())
        .and_then(|t| t.get("MPTcpExt").cloned())
        .unwrap_or_default()
}

/// Runs one scenario in fresh namespaces named after `tag`.
pub fn run(
    scenario: &'static AggScenario,
    tag: &str,
    bins: &Binaries,
    opts: &AggOptions,
) -> io::Result<AggOutcome> {
    interrupt::check()?;
    let lab = TwoWan::new(tag)?;
    scenario.cause.apply(&lab)?;
    let _server = ServerGuard::start(&lab.server, &bins.server, &[])?;
    interrupt::check()?;
    let mut args: Vec<String> = vec![
        "aggregate".into(),
        "--json".into(),
        "--duration".into(),
        opts.duration.to_string(),
        "--timeout".into(),
        opts.timeout.to_string(),
    ];
    let capture = opts
        .record
        .as_ref()
        .map(|dir| dir.join(format!("lab-{}.client.pcap", scenario.name)));
    if let Some(c) = &capture {
        args.push("--write".into());
        args.push(c.display().to_string());
    }
    args.push(SERVER.to_string());
    let router_before = counters(&lab);
    let started = std::time::Instant::now();
    let run = run_client(&lab.router, &bins.client, args)?;
    let elapsed = started.elapsed();
    let router_after = counters(&lab);
    if let Some(dir) = &opts.record {
        std::fs::write(
            dir.join(format!("lab-{}.aggregate.json", scenario.name)),
            &run.stdout,
        )?;
    }
    let lines = run.json_lines();
    let path_lines: Vec<Value> = lines
        .iter()
        .filter(|l| l["type"] == "path")
        .cloned()
        .collect();
    let summary_line = lines
        .iter()
        .find(|l| l["type"] == "summary")
        .cloned()
        .unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or("?").to_string();
    Ok(AggOutcome {
        scenario,
        paths: path_lines
            .iter()
            .map(|l| (text(&l["interface"]), text(&l["verdict"])))
            .collect(),
        summary: text(&summary_line["verdict"]),
        run,
        path_lines,
        summary_line,
        router_before,
        router_after,
        capture,
        elapsed,
    })
}
