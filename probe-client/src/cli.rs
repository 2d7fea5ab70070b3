//! Command-line shape shared by every verb: `mptcp-probe [GLOBAL] VERB [ARGS]`.
//!
//! Options every verb understands live in [`GlobalArgs`] (flattened with
//! `global = true`, so they may be written before or after the verb); each
//! verb has its own `Args` struct in its own module.
use clap::builder::BoolishValueParser;
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// The environment variable takes 1/0, true/false, yes/no, on/off
    /// (y/n, t/f); anything else is an error, not a guess.
    #[arg(
        long,
        global = true,
        env = "MPTCP_PROBE_JSON",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new()
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
    #[arg(
        long,
        default_value_t = 3.0,
        env = "MPTCP_PROBE_TIMEOUT",
        value_parser = parse_timeout,
        allow_negative_numbers = true
    )]
    pub timeout: f64,
    /// Write every probe and every answer to this pcap file (for Wireshark).
    #[arg(long = "write", value_name = "FILE.pcap")]
    pub write: Option<std::path::PathBuf>,
}

/// `--timeout`: a positive, finite number of seconds (negative numbers
/// reach this parser, so `-1` gets this message rather than clap's
/// "unexpected argument").
pub fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 => Ok(secs),
        Ok(_) => Err(format!(
            "{text} is not a time to wait: give a positive number of seconds up to 86400, such as 3 or 0.5"
        )),
        Err(_) => Err(format!(
            "{text:?} is not a number of seconds: give one such as 3 or 0.5"
        )),
    }
}

/// Parses the command line, then splits `check`'s and `trace`'s targets
/// (`HOST:PORT`, `[IPV6]:PORT`: [`crate::target`]) so the verbs see the
/// host and the port apart. Exits with clap's usage error (code 2) on a
/// malformed target or a port given twice.
pub fn parse() -> (Cli, ArgMatches) {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = split_target(&mut cli.command, &matches) {
        e.exit()
    }
    (cli, matches)
}

fn split_target(command: &mut Command, matches: &ArgMatches) -> Result<(), clap::Error> {
    let (verb, host, port) = match command {
        Command::Check(a) => ("check", &mut a.host, &mut a.port),
        Command::Trace(a) => ("trace", &mut a.host, &mut a.port),
        _ => return Ok(()),
    };
    let given = matches
        .subcommand_matches(verb)
        .and_then(|m| m.value_source("port"))
        .is_some_and(|s| s != ValueSource::DefaultValue);
    let (h, p) = crate::target::resolve(host, *port, given).map_err(|e| {
        let kind = match e {
            crate::target::TargetError::Conflict { .. } => ErrorKind::ArgumentConflict,
            _ => ErrorKind::ValueValidation,
        };
        let mut cli = Cli::command();
        match cli.find_subcommand_mut(verb) {
            // The verb's own usage line, named as typed.
            Some(sub) => sub
                .clone()
                .bin_name(format!("mptcp-probe {verb}"))
                .error(kind, e),
            None => cli.error(kind, e),
        }
    })?;
    *host = h;
    *port = p;
    Ok(())
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
