//! mptcp-probe-server: the echo server. See probe-server/README.md.
#![forbid(unsafe_code)]
use clap::Parser;
use probe_server::cli::Args;
use probe_server::server;
use std::io::Write;

fn main() {
    let args = Args::parse();
    if args.manpage {
        let code = match probe_server::manpage::render() {
            Ok(page) => match std::io::stdout().lock().write_all(page.as_bytes()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("mptcp-probe-server: writing the man page: {e}");
                    2
                }
            },
            Err(e) => {
                eprintln!("mptcp-probe-server: rendering the man page: {e}");
                2
            }
        };
        std::process::exit(code);
    }
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
    let config = args.config();
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
