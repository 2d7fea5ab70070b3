//! `mptcp-probe`: does Multipath TCP survive this path, and if not, why and where.
//!
//! Exit codes (every verb): 0 success / MPTCP works, 1 MPTCP does not work
//! (from the verdict engine, not wired yet), 2 error.
mod analyze;
mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Analyze(args) => analyze::run(&args, &cli.global),
    }
}
