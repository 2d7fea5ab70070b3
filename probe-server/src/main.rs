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
    /// Seconds between attempts to re-open TCP fallback listeners as MPTCP
    /// once the kernel allows it (0: never).
    #[arg(long, default_value_t = 5)]
    rearm_interval: u64,
    /// Observations kept (oldest evicted).
    #[arg(long, default_value_t = 8192)]
    store_capacity: usize,
    /// Observations kept per remote address.
    #[arg(long, default_value_t = 256)]
    store_per_source: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 256)]
    max_connections: usize,
    /// New connections per source address per minute.
    #[arg(long, default_value_t = 120)]
    rate: u32,
    /// Seconds a connection may stay silent.
    #[arg(long, default_value_t = 10)]
    idle_timeout: u64,
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
        idle_timeout: Duration::from_secs(args.idle_timeout),
        report_kernel: args.report_kernel,
        force_tcp: args.tcp,
        rearm_interval: Duration::from_secs(args.rearm_interval),
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
