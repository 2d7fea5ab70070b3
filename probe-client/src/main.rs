//! `mptcp-probe`: does Multipath TCP survive this path, and if not, why and where.
//!
//! Exit codes (every verb): 0 success / MPTCP works, 1 MPTCP does not work
//! (`analyze`: a handshake's verdict is not `mptcp_ok`; `doctor`: a problem
//! stops MPTCP on this host), 2 error. With `--json` every error also goes
//! to stdout as `{"type":"error","error":"...","fix":"..."|null}`
//! ([`output::ErrorLine`]).
#![forbid(unsafe_code)]
mod aggregate;
mod analyze;
mod check;
mod cli;
mod doctor;
mod echo_client;
mod generate;
mod manual;
mod net;
mod output;
mod target;
mod terminal;
mod trace;

use std::process::ExitCode;

fn main() -> ExitCode {
    // The matches too, not only the parsed options: `check` needs to know
    // whether --timeout was given (see check::omr::timeout_secs).
    let (cli, matches) = cli::parse();
    match cli.command {
        cli::Command::Check(mut args) => {
            if let Some(sub) = matches.subcommand_matches("check") {
                args.net.timeout = check::omr::timeout_secs(args.format, args.net.timeout, sub);
            }
            check::run(&args, &cli.global)
        }
        cli::Command::Aggregate(args) => aggregate::run(&args, &cli.global),
        cli::Command::Trace(args) => trace::run(&args, &cli.global),
        cli::Command::Doctor(args) => doctor::run(&args, &cli.global),
        cli::Command::Analyze(args) => analyze::run(&args, &cli.global),
        cli::Command::Completions(args) => generate::run_completions(&args),
        cli::Command::Manpage(args) => generate::run_manpage(&args),
    }
}
