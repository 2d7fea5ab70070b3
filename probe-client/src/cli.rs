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

/// Options of the verbs that send traffic (`check`, `trace`): which WAN link,
/// which family, how long to wait, where to record.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Send through this interface (SO_BINDTODEVICE). Repeatable: one
    /// verdict per interface, to test each WAN link of a router.
    #[arg(
        short = 'i',
        long = "interface",
        env = "MPTCP_PROBE_INTERFACE",
        value_delimiter = ','
    )]
    pub interfaces: Vec<String>,
    /// Source address to send from.
    #[arg(long, env = "MPTCP_PROBE_SOURCE")]
    pub source: Option<std::net::IpAddr>,
    /// Use IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Seconds to wait for answers (one timeout in total, not per probe).
    #[arg(long, default_value_t = 3.0, env = "MPTCP_PROBE_TIMEOUT")]
    pub timeout: f64,
    /// Write every probe and every answer to this pcap file (for Wireshark).
    #[arg(long = "write", value_name = "FILE.pcap")]
    pub write: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Does MPTCP work end to end to HOST? The main job: an MPTCP connection
    /// to the echo server, and with CAP_NET_RAW crafted v1/v0/plain SYNs.
    Check(crate::check::CheckArgs),
    /// Does every WAN of this router join the MPTCP connection and carry
    /// data? One verdict per WAN, then a summary.
    Aggregate(crate::aggregate::AggregateArgs),
    /// Per hop: where on the path does MP_CAPABLE disappear?
    Trace(crate::trace::TraceArgs),
    /// This host's MPTCP readiness, with a fix for each problem.
    Doctor(crate::doctor::DoctorArgs),
    /// Decode every TCP packet of a pcap/pcapng file and summarise each
    /// MPTCP handshake found in it.
    Analyze(crate::analyze::AnalyzeArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(crate::generate::CompletionsArgs),
    /// Print the man page mptcp-probe(1) in roff (--dir: every page).
    Manpage(crate::generate::ManpageArgs),
}
