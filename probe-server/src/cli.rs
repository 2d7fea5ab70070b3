//! The command line of `mptcp-probe-server`. Every option can also come
//! from an environment variable (`MPTCP_PROBE_SERVER_<OPTION>`), so the
//! packaged unit is configured in `/etc/default/mptcp-probe-server` or a
//! systemd drop-in without touching `ExecStart`. A command-line option wins
//! over its variable.
use crate::server::Config;
use crate::store::StoreLimits;
use clap::builder::FalseyValueParser;
use clap::{ArgAction, Parser};
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "mptcp-probe-server",
    version,
    about = "MPTCP echo server: reports the SYN that arrived and what this host answered"
)]
pub struct Args {
    /// Port to listen on (repeatable; the variable takes a comma-separated list).
    #[arg(
        long = "port",
        value_name = "PORT",
        default_value = "6101",
        env = "MPTCP_PROBE_SERVER_PORT",
        value_delimiter = ','
    )]
    pub ports: Vec<u16>,
    /// Port owned by another service whose SYNs are observed (repeatable;
    /// the variable takes a comma-separated list).
    #[arg(
        long = "watch",
        value_name = "PORT",
        env = "MPTCP_PROBE_SERVER_WATCH",
        value_delimiter = ','
    )]
    pub watch: Vec<u16>,
    /// Capture on this interface only (default: all).
    #[arg(long, value_name = "IFACE", env = "MPTCP_PROBE_SERVER_INTERFACE")]
    pub interface: Option<String>,
    /// User to switch to once the sockets are open (when started as root).
    #[arg(long, default_value = "nobody", env = "MPTCP_PROBE_SERVER_USER")]
    pub user: String,
    /// Publish the kernel release in reports.
    #[arg(
        long,
        env = "MPTCP_PROBE_SERVER_REPORT_KERNEL",
        action = ArgAction::SetTrue,
        value_parser = FalseyValueParser::new()
    )]
    pub report_kernel: bool,
    /// Listen with plain TCP sockets even where MPTCP is available.
    #[arg(
        long,
        env = "MPTCP_PROBE_SERVER_TCP",
        action = ArgAction::SetTrue,
        value_parser = FalseyValueParser::new()
    )]
    pub tcp: bool,
    /// Observations kept (oldest evicted).
    #[arg(
        long,
        default_value_t = 8192,
        env = "MPTCP_PROBE_SERVER_STORE_CAPACITY"
    )]
    pub store_capacity: usize,
    /// Observations kept per remote address (the busiest of its ports
    /// evicted first).
    #[arg(
        long,
        default_value_t = 256,
        env = "MPTCP_PROBE_SERVER_STORE_PER_SOURCE"
    )]
    pub store_per_source: usize,
    /// Concurrent connections (when full, a less represented source takes
    /// the slot of the stalest connection of the most represented one).
    #[arg(
        long,
        default_value_t = 256,
        env = "MPTCP_PROBE_SERVER_MAX_CONNECTIONS"
    )]
    pub max_connections: usize,
    /// Concurrent connections per source (see --source-prefix-v4/-v6).
    #[arg(long, default_value_t = 16, env = "MPTCP_PROBE_SERVER_MAX_PER_SOURCE")]
    pub max_per_source: usize,
    /// New connections per source per minute.
    #[arg(long, default_value_t = 120, env = "MPTCP_PROBE_SERVER_RATE")]
    pub rate: u32,
    /// IPv4 addresses sharing this many leading bits count as one source.
    #[arg(
        long,
        default_value_t = 32,
        value_parser = clap::value_parser!(u8).range(0..=32),
        env = "MPTCP_PROBE_SERVER_SOURCE_PREFIX_V4"
    )]
    pub source_prefix_v4: u8,
    /// IPv6 addresses sharing this many leading bits count as one source.
    #[arg(
        long,
        default_value_t = 64,
        value_parser = clap::value_parser!(u8).range(0..=128),
        env = "MPTCP_PROBE_SERVER_SOURCE_PREFIX_V6"
    )]
    pub source_prefix_v6: u8,
    /// Seconds from accept to a complete hello (or HTTP request head).
    #[arg(long, default_value_t = 3, env = "MPTCP_PROBE_SERVER_HELLO_TIMEOUT")]
    pub hello_timeout: u64,
    /// Seconds a connection may go without a complete line.
    #[arg(long, default_value_t = 10, env = "MPTCP_PROBE_SERVER_IDLE_TIMEOUT")]
    pub idle_timeout: u64,
    /// Seconds between summaries of connections not served (refused,
    /// evicted, timed out): one line per source per interval.
    #[arg(
        long,
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        env = "MPTCP_PROBE_SERVER_LOG_INTERVAL"
    )]
    pub log_interval: u64,
    /// Seconds between attempts to re-open TCP fallback listeners as MPTCP
    /// once the kernel allows it (0: never).
    #[arg(long, default_value_t = 5, env = "MPTCP_PROBE_SERVER_REARM_INTERVAL")]
    pub rearm_interval: u64,
    /// Bytes the aggregate exchange pushes each way per connection (0: no
    /// data phase, the exchange still reports the subflows).
    #[arg(
        long,
        default_value_t = 16 << 20,
        env = "MPTCP_PROBE_SERVER_AGGREGATE_MAX_BYTES"
    )]
    pub aggregate_max_bytes: u64,
    /// Aggregate data phases per source address per minute.
    #[arg(long, default_value_t = 10, env = "MPTCP_PROBE_SERVER_AGGREGATE_RATE")]
    pub aggregate_rate: u32,
    /// MiB of the capture's memory-mapped receive ring (TPACKET_V3; needs
    /// only CAP_NET_RAW, not bounded by net.core.rmem_max). 0: a plain
    /// capture socket, whose buffer only CAP_NET_ADMIN can raise past
    /// rmem_max. Packets dropped when it is full are counted and every
    /// report made meanwhile says so.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(0..=1024),
        env = "MPTCP_PROBE_SERVER_CAPTURE_RING_MIB"
    )]
    pub capture_ring_mib: u32,
    /// Log as JSON lines.
    #[arg(
        long,
        env = "MPTCP_PROBE_SERVER_LOG_JSON",
        action = ArgAction::SetTrue,
        value_parser = FalseyValueParser::new()
    )]
    pub log_json: bool,
    /// Print the man page mptcp-probe-server(8) in roff and exit (for packagers).
    #[arg(long, hide = true)]
    pub manpage: bool,
}

impl Args {
    /// The server settings these options describe.
    pub fn config(&self) -> Config {
        Config {
            ports: self.ports.clone(),
            watch: self.watch.clone(),
            interface: self.interface.clone(),
            store: StoreLimits {
                capacity: self.store_capacity,
                per_source: self.store_per_source,
            },
            max_connections: self.max_connections,
            per_source_per_minute: self.rate,
            max_per_source: self.max_per_source,
            source_prefix_v4: self.source_prefix_v4,
            source_prefix_v6: self.source_prefix_v6,
            hello_timeout: Duration::from_secs(self.hello_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            log_interval: Duration::from_secs(self.log_interval),
            report_kernel: self.report_kernel,
            force_tcp: self.tcp,
            rearm_interval: Duration::from_secs(self.rearm_interval),
            capture_ring: (self.capture_ring_mib as usize) << 20,
            aggregate: crate::aggregate::AggregateLimits {
                max_bytes: self.aggregate_max_bytes,
                per_source_per_minute: self.aggregate_rate,
                ..Default::default()
            },
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn version_names_the_binary() {
        let version = Args::command().render_version();
        assert_eq!(
            version.trim(),
            format!("mptcp-probe-server {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn every_option_has_its_environment_variable() {
        let cmd = Args::command();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version" | "manpage") {
                continue;
            }
            let long = arg.get_long().unwrap_or(id);
            let expected = format!(
                "MPTCP_PROBE_SERVER_{}",
                long.to_uppercase().replace('-', "_")
            );
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(expected.as_str()),
                "--{long}"
            );
        }
    }

    // Environment variables are process-wide and tests run on parallel
    // threads: this is the only test that parses the command line, so no
    // other test sees the variables it sets.
    #[test]
    fn environment_variables_set_options_and_the_command_line_wins() {
        let config = Args::try_parse_from(["mptcp-probe-server"])
            .unwrap()
            .config();
        let default = Config::default();
        assert_eq!(config.ports, default.ports);
        assert_eq!(config.store.capacity, default.store.capacity);
        assert_eq!(config.store.per_source, default.store.per_source);
        assert_eq!(config.max_connections, default.max_connections);
        assert_eq!(config.per_source_per_minute, default.per_source_per_minute);
        assert_eq!(config.idle_timeout, default.idle_timeout);
        assert_eq!(config.capture_ring, default.capture_ring);
        assert_eq!(config.capture_ring, 16 << 20);

        let vars = [
            ("MPTCP_PROBE_SERVER_PORT", "7001,7002"),
            ("MPTCP_PROBE_SERVER_WATCH", "65500"),
            ("MPTCP_PROBE_SERVER_INTERFACE", "eth1"),
            ("MPTCP_PROBE_SERVER_REPORT_KERNEL", "1"),
            ("MPTCP_PROBE_SERVER_TCP", "no"),
            ("MPTCP_PROBE_SERVER_RATE", "30"),
            ("MPTCP_PROBE_SERVER_IDLE_TIMEOUT", "5"),
            ("MPTCP_PROBE_SERVER_CAPTURE_RING_MIB", "0"),
        ];
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        let from_env = Args::try_parse_from(["mptcp-probe-server"]);
        let overridden = Args::try_parse_from(["mptcp-probe-server", "--port", "6101"]);
        for (k, _) in vars {
            std::env::remove_var(k);
        }
        let config = from_env.unwrap().config();
        assert_eq!(config.ports, vec![7001, 7002]);
        assert_eq!(config.watch, vec![65500]);
        assert_eq!(config.interface.as_deref(), Some("eth1"));
        assert!(config.report_kernel);
        assert!(!config.force_tcp, "`no` is false");
        assert_eq!(config.per_source_per_minute, 30);
        assert_eq!(config.idle_timeout, Duration::from_secs(5));
        assert_eq!(config.capture_ring, 0, "0: the plain socket");
        assert_eq!(overridden.unwrap().ports, vec![6101]);
    }
}
