//! `mptcp-probe trace`: placeholder until its module lands.
use crate::cli::GlobalArgs;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// Host name or address to trace to.
    pub host: String,
    /// Destination port.
    #[arg(long, default_value_t = 6101)]
    pub port: u16,
    #[command(flatten)]
    pub net: crate::cli::NetArgs,
}

pub fn run(_args: &TraceArgs, _global: &GlobalArgs) -> ExitCode {
    eprintln!("mptcp-probe trace: not implemented yet");
    ExitCode::from(2)
}
