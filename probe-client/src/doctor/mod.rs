//! `mptcp-probe doctor`: this host's MPTCP readiness, with a fix for each
//! problem. It reads the network namespace it runs in (sysctls, kernel
//! config, path manager over netlink, `MPTcpExt` counters) and opens an
//! MPTCP socket; it sends no traffic.
//!
//! # Output
//! Text: a verdict line, then findings grouped under `Kernel`,
//! `MPTCP sockets`, `Path manager (aggregation)` and `Kernel MPTCP counters`,
//! each as `[status] sentence`, indented detail lines, and `fix: ...`.
//!
//! `--json`: one JSON object (stable; version 1):
//! ```text
//! {"doctor": 1,
//!  "usable": bool,                      // no finding is a problem
//!  "status": "ok"|"unknown"|"warn"|"problem",  // the worst finding
//!  "kernel": {"release": str|null, "flavor": "upstream"|"out_of_tree"|"none",
//!             "versions": [u8], "mptcp_enabled": bool|null,
//!             "config": {"source": str, "mptcp": str|null, "mptcp_ipv6": str|null}|null},
//!  "sockets": {"ipv4": "opened"|str (the error), "ipv6": ...},
//!  "sysctls": {name: value, ...},       // every net.mptcp.* sysctl, name without the prefix
//!  "limits": {"subflows": u32|null, "add_addr_accepted": u32|null}|null,
//!  "endpoints": [{"id","addr","port","flags":[str],"ifindex","dev","line"}],
//!  "counters": {name: u64, ...}|null,   // MPTcpExt of this namespace
//!  "findings": [{"check", "group", "status", "message", "details"?: [str], "fix": str|null}],
//!  "errors": [str]}                     // reads that failed
//! ```
//! `check` is one of `sysctl`, `kernel_config`, `socket_ipv4`, `socket_ipv6`,
//! `path_manager`, `limits`, `endpoints`, `counters`, `blackhole`,
//! `syn_drops`, `fallback_syn_ack`, `fallback_ack`, `join_unanswered`,
//! `join_errors`, `join_rejected`, `data_corruption`; `group` one of
//! `kernel`, `socket`, `path_manager`, `counters`. `config.mptcp` is `y`,
//! `m`, `not set`, or null when the symbol is absent.
//!
//! # Exit codes
//! 0: MPTCP is usable here (warnings may limit it: one path only, fallbacks
//! seen); 1: a problem stops it (disabled, no MPTCP in the kernel, sockets
//! refused); 2: error (output could not be written).
pub mod checks;
pub mod counters;
pub mod facts;
pub mod finding;

use crate::cli::GlobalArgs;
use facts::{DoctorFacts, SocketTry};
use finding::{Finding, Group, Status};
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

pub fn run(_args: &DoctorArgs, global: &GlobalArgs) -> ExitCode {
    let facts = facts::gather();
    let findings = checks::evaluate(&facts);
    let usable = checks::usable(&findings);
    let text = if global.json {
        format!("{}\n", to_json(&facts, &findings))
    } else {
        to_text(&findings)
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("mptcp-probe: writing output: {e}");
            return ExitCode::from(2);
        }
    }
    if usable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn worst(findings: &[Finding]) -> Status {
    findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Unknown)
}

/// The text report.
pub fn to_text(findings: &[Finding]) -> String {
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    let mut out = if checks::usable(findings) {
        format!(
            "MPTCP is usable on this host ({} warnings, {} unknown)\n",
            count(Status::Warn),
            count(Status::Unknown)
        )
    } else {
        format!(
            "MPTCP is NOT usable on this host: {} problems (fix them below)\n",
            count(Status::Problem)
        )
    };
    for group in Group::ALL {
        let in_group: Vec<&Finding> = findings.iter().filter(|f| f.group == group).collect();
        if in_group.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{}\n", group.heading()));
        for f in in_group {
            out.push_str(&format!("  [{}] {}\n", f.status.as_str(), f.message));
            for d in &f.details {
                out.push_str(&format!("      {d}\n"));
            }
            if let Some(fix) = &f.fix {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
    }
    out
}

fn socket_json(s: &SocketTry) -> Value {
    match s {
        SocketTry::NotTried => Value::Null,
        SocketTry::Opened => json!("opened"),
        SocketTry::Failed { message, .. } => json!(message),
    }
}

/// The JSON report (see the module documentation for its shape).
pub fn to_json(facts: &DoctorFacts, findings: &[Finding]) -> Value {
    let r = &facts.readiness;
    let config = match &facts.kconfig {
        Ok(Some(c)) => json!({
            "source": c.source,
            "mptcp": c.mptcp.as_ref().map(|s| s.as_str()),
            "mptcp_ipv6": c.mptcp_ipv6.as_ref().map(|s| s.as_str()),
        }),
        _ => Value::Null,
    };
    let mut errors = r.errors.clone();
    if let Err(e) = &facts.kconfig {
        errors.push(format!("kernel config: {e}"));
    }
    if let Err(e) = &facts.counters {
        errors.push(format!("counters: {e}"));
    }
    let endpoints: Vec<Value> = r
        .endpoints
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "addr": e.addr, "port": e.port, "flags": e.flags,
                "ifindex": e.ifindex,
                "dev": e.ifindex.and_then(|i| facts.ifnames.get(&i)),
                "line": checks::endpoint_line(e, facts),
            })
        })
        .collect();
    json!({
        "doctor": 1,
        "usable": checks::usable(findings),
        "status": worst(findings).as_str(),
        "kernel": {
            "release": facts.kernel_release,
            "flavor": r.flavor,
            "versions": r.versions,
            "mptcp_enabled": r.mptcp_enabled,
            "config": config,
        },
        "sockets": {"ipv4": socket_json(&facts.socket_v4), "ipv6": socket_json(&facts.socket_v6)},
        "sysctls": r.sysctls,
        "limits": r.limits,
        "endpoints": endpoints,
        "counters": facts.counters.as_ref().ok(),
        "findings": findings,
        "errors": errors,
    })
}

#[cfg(test)]
mod tests;
