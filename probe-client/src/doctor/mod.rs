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
//!  "errors": [str],                     // reads that failed
//!  "new_connection": {"is_mptcp": bool|null, "blackholed": bool}|null,
//!  "role": "client"|"server"}          // whose endpoint advice applies (--role, or detected)
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
//! refused, the blackhole detection active now); 2: error (output could not be written; with `--json` the error
//! object `{"type":"error","error","fix"}` is tried on stdout, as for every
//! verb).
pub mod checks;
pub mod counters;
pub mod facts;
pub mod finding;
pub mod json;

use crate::cli::GlobalArgs;
use crate::output::{self, VerbError};
use finding::{Finding, Group, Status};
pub use json::to_json;
use std::io::Write;
use std::process::ExitCode;

/// `doctor` reads what it can and reports the rest as findings: only its
/// output can fail.
#[derive(Debug, thiserror::Error)]
#[error("writing output: {0}")]
pub struct DoctorError(#[source] std::io::Error);

impl VerbError for DoctorError {
    fn fix(&self) -> Option<String> {
        None
    }
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// What this host is: a client (a router that opens subflows over its
    /// WAN links) or a server (the VPS that accepts them). Decides the
    /// endpoint advice. Default: server when the host has a `signal`
    /// endpoint and no `subflow` one, else client.
    #[arg(long, value_enum, default_value_t = facts::Role::Auto)]
    pub role: facts::Role,
}

pub fn run(args: &DoctorArgs, global: &GlobalArgs) -> ExitCode {
    let facts = facts::gather(args.role);
    let findings = checks::evaluate(&facts);
    let usable = checks::usable(&findings);
    let mut out = std::io::stdout().lock();
    let written = if global.json {
        output::write_line(&mut out, &to_json(&facts, &findings))
    } else {
        out.write_all(to_text(&findings).as_bytes())
    }
    .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return output::fail("doctor", global.json, &DoctorError(e));
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

#[cfg(test)]
mod tests;
