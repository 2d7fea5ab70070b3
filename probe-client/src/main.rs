//! `mptcp-probe`: does Multipath TCP survive this path, and if not, why and where.
//!
//! Exit codes (every verb): 0 success / MPTCP works, 1 MPTCP does not work
//! (`analyze`: a handshake's verdict is not `mptcp_ok`; `doctor`: a problem
//! stops MPTCP on this host), 2 error. With `--json` every error also goes
//! to stdout as `{"type":"error","error":"...","fix":"..."|null}`
//! ([`output::ErrorLine`]).
#![forbid(unsafe_code)]
mod analyze;
mod check;
mod cli;
mod doctor;
mod echo_client;
mod generate;
mod net;
mod output;
mod target;
mod trace;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    match cli.command {
        cli::Command::Check(args) => check::run(&args, &cli.global),
        cli::Command::Trace(args) => trace::run(&args, &cli.global),
        cli::Command::Doctor(args) => doctor::run(&args, &cli.global),
        cli::Command::Analyze(args) => analyze::run(&args, &cli.global),
        cli::Command::Completions(args) => generate::run_completions(&args),
        cli::Command::Manpage(args) => generate::run_manpage(&args),
    }
}
