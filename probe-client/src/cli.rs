//! Command-line shape shared by every verb: `mptcp-probe [GLOBAL] VERB [ARGS]`.
//!
//! Options every verb understands live in [`GlobalArgs`] (flattened with
//! `global = true`, so they may be written before or after the verb); each
//! verb has its own `Args` struct in its own module.
use clap::builder::FalseyValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "mptcp-probe", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by all verbs.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Machine-readable output: one JSON object per line.
    /// The environment variable takes 1/0, true/false, yes/no, on/off.
    #[arg(
        long,
        global = true,
        env = "MPTCP_PROBE_JSON",
        action = ArgAction::SetTrue,
        value_parser = FalseyValueParser::new()
    )]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode every TCP packet of a pcap/pcapng file and summarise each
    /// MPTCP handshake found in it.
    Analyze(crate::analyze::AnalyzeArgs),
}
