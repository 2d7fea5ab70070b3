//! mptcp-probe-server: the echo server. See probe-server/README.md.
#![forbid(unsafe_code)]
use clap::Parser;
use probe_server::server::{self, Config};
use probe_server::store::StoreLimits;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "MPTCP echo server: reports the SYN that arrived and what this host answered"
)]
struct Args {
    /// Port to listen on (repeatable).
    #[arg(long = "port", default_value = "6101")]
    ports: Vec<u16>,
    /// Port owned by another service whose SYNs are observed (repeatable).
    #[arg(long = "watch")]
    watch: Vec<u16>,
    /// Capture on this interface only (default: all).
    #[arg(long)]
    interface: Option<String>,
    /// User to switch to once the sockets are open (when started as root).
    #[arg(long, default_value = "nobody")]
    user: String,
    /// Publish the kernel release in reports.
    #[arg(long)]
    report_kernel: bool,
    /// Listen with plain TCP sockets even where MPTCP is available.
    #[arg(long)]
    tcp: bool,
    /// Observations kept (oldest evicted).
    #[arg(long, default_value_t = 8192)]
    store_capacity: usize,
    /// Observations kept per remote address (the busiest of its ports
    /// evicted first).
    #[arg(
        long,
        default_value_t = 256,
        env = "MPTCP_PROBE_SERVER_STORE_PER_SOURCE"
    )]
    store_per_source: usize,
    /// Concurrent connections (when full, a less represented source takes
    /// the slot of the stalest connection of the most represented one).
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    /// Concurrent connections per source (see --source-prefix-v4/-v6).
    #[arg(long, default_value_t = 16, env = "MPTCP_PROBE_SERVER_MAX_PER_SOURCE")]
    max_per_source: usize,
    /// New connections per source per minute.
    #[arg(long, default_value_t = 120)]
    rate: u32,
    /// IPv4 addresses sharing this many leading bits count as one source.
    #[arg(
        long,
        default_value_t = 32,
        value_parser = clap::value_parser!(u8).range(0..=32),
        env = "MPTCP_PROBE_SERVER_SOURCE_PREFIX_V4"
    )]
    source_prefix_v4: u8,
    /// IPv6 addresses sharing this many leading bits count as one source.
    #[arg(
        long,
        default_value_t = 64,
        value_parser = clap::value_parser!(u8).range(0..=128),
        env = "MPTCP_PROBE_SERVER_SOURCE_PREFIX_V6"
    )]
    source_prefix_v6: u8,
    /// Seconds from accept to a complete hello (or HTTP request head).
    #[arg(long, default_value_t = 3, env = "MPTCP_PROBE_SERVER_HELLO_TIMEOUT")]
    hello_timeout: u64,
    /// Seconds a connection may go without a complete line.
    #[arg(long, default_value_t = 10)]
    idle_timeout: u64,
    /// Seconds between summaries of connections not served (refused,
    /// evicted, timed out): one line per source per interval.
    #[arg(
        long,
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        env = "MPTCP_PROBE_SERVER_LOG_INTERVAL"
    )]
    log_interval: u64,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn main() {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    } else {
        // Colours only on a terminal: under systemd or into a file the
        // escape codes would end up in the journal and break grep.
        tracing_subscriber::fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    }
    let config = Config {
        ports: args.ports,
        watch: args.watch,
        interface: args.interface,
        store: StoreLimits {
            capacity: args.store_capacity,
            per_source: args.store_per_source,
        },
        max_connections: args.max_connections,
        per_source_per_minute: args.rate,
        max_per_source: args.max_per_source,
        source_prefix_v4: args.source_prefix_v4,
        source_prefix_v6: args.source_prefix_v6,
        hello_timeout: Duration::from_secs(args.hello_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        log_interval: Duration::from_secs(args.log_interval),
        report_kernel: args.report_kernel,
        force_tcp: args.tcp,
        ..Config::default()
    };
    let shutdown = async {
        #[allow(clippy::expect_used)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!(check = "shutdown", "stopping");
    };
    if let Err(e) = server::run(config, Some(&args.user), shutdown, |_| {
        tracing::info!(check = "startup", "serving");
    }) {
        tracing::error!(check = "startup", error = %e, "cannot serve");
        std::process::exit(1);
    }
}
