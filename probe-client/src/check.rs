//! `mptcp-probe check`: placeholder until its module lands.
use crate::cli::GlobalArgs;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Host name or address of the echo server (or of any TCP server).
    pub host: String,
    /// Port of the echo server.
    #[arg(long, default_value_t = 6101)]
    pub port: u16,
    #[command(flatten)]
    pub net: crate::cli::NetArgs,
}

pub fn run(_args: &CheckArgs, _global: &GlobalArgs) -> ExitCode {
    eprintln!("mptcp-probe check: not implemented yet");
    ExitCode::from(2)
}
