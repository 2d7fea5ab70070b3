//! `mptcp-probe doctor`: placeholder until its module lands.
use crate::cli::GlobalArgs;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

pub fn run(_args: &DoctorArgs, _global: &GlobalArgs) -> ExitCode {
    eprintln!("mptcp-probe doctor: not implemented yet");
    ExitCode::from(2)
}
