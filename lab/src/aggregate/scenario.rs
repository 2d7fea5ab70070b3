//! The aggregate scenarios: one cause each that keeps a WAN out of the
//! aggregate, switched on in the two-WAN layout, and the verdicts
//! `mptcp-probe aggregate` must give (per WAN and in summary).
use super::topology::TwoWan;
use crate::middlebox::strip_syn_option30;
use crate::topology::PORT;
use std::io;

/// What is switched on: on wan2's side, except `DropCapable`, which breaks
/// the WAN of the initial subflow (where `aggregate` must then not open a
/// kernel MPTCP connection at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Nothing.
    Clean,
    /// isp2 strips option 30 from forwarded SYNs (TCPOPTSTRIP): MP_JOIN
    /// arrives as a plain SYN.
    StripJoin,
    /// isp2 drops forwarded SYNs carrying option 30.
    DropJoin,
    /// isp1 (the initial subflow's ISP) drops forwarded SYNs carrying
    /// option 30: MP_CAPABLE SYNs are lost there.
    DropCapable,
    /// The server allows no extra subflow.
    ServerNoSubflows,
    /// The router has no endpoint for wan2.
    NoEndpoint,
    /// The router allows no extra subflow.
    RouterNoSubflows,
}

/// `iptables` dropping forwarded SYNs to `port` that carry option 30 (an
/// MP_JOIN or an MP_CAPABLE alike).
fn drop_syns_with_option30(port: &str) -> Vec<String> {
    [
        "iptables",
        "-w",
        "-A",
        "FORWARD",
        "-p",
        "tcp",
        "--dport",
        port,
        "--tcp-flags",
        "SYN,ACK",
        "SYN",
        "-m",
        "tcp",
        "--tcp-option",
        "30",
        "-j",
        "DROP",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

impl Cause {
    /// The namespace and the command (as typed) that switch it on.
    fn command(self) -> Option<(&'static str, Vec<String>)> {
        let port = PORT.to_string();
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Some(match self {
            Cause::Clean => return None,
            Cause::StripJoin => (
                "isp2",
                [v(&["iptables", "-w"]), strip_syn_option30(PORT)].concat(),
            ),
            Cause::DropJoin => ("isp2", drop_syns_with_option30(&port)),
            Cause::DropCapable => ("isp1", drop_syns_with_option30(&port)),
            Cause::ServerNoSubflows => (
                "server",
                v(&[
                    "ip",
                    "mptcp",
                    "limits",
                    "set",
                    "subflows",
                    "0",
                    "add_addr_accepted",
                    "8",
                ]),
            ),
            Cause::NoEndpoint => (
                "router",
                v(&["ip", "mptcp", "endpoint", "delete", "id", "2"]),
            ),
            Cause::RouterNoSubflows => (
                "router",
                v(&[
                    "ip",
                    "mptcp",
                    "limits",
                    "set",
                    "subflows",
                    "0",
                    "add_addr_accepted",
                    "1",
                ]),
            ),
        })
    }

    /// The command as a person would type it.
    pub fn describe(self) -> String {
        match self.command() {
            None => "nothing: both WANs clean".into(),
            Some((ns, args)) => format!("{ns}: {}", args.join(" ").replace(" -w ", " ")),
        }
    }

    /// Switches it on.
    pub fn apply(self, lab: &TwoWan) -> io::Result<()> {
        let Some((ns, args)) = self.command() else {
            return Ok(());
        };
        let ns = match ns {
            "isp1" => &lab.isp1,
            "isp2" => &lab.isp2,
            "server" => &lab.server,
            _ => &lab.router,
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ns.exec(&args).map(|_| ())
    }
}

/// One scenario and what `aggregate` must say.
#[derive(Debug, Clone, Copy)]
pub struct AggScenario {
    /// Short name (`agg-...`), for the lab command and test names.
    pub name: &'static str,
    pub cause: Cause,
    /// The verdicts of wan1 and wan2.
    pub paths: [&'static str; 2],
    pub summary: &'static str,
    pub exit: i32,
}

const fn fails(name: &'static str, cause: Cause, wan2: &'static str) -> AggScenario {
    AggScenario {
        name,
        cause,
        paths: ["subflow_ok", wan2],
        summary: "aggregation_none",
        exit: 1,
    }
}

/// Every aggregate scenario.
pub const AGGREGATE_SCENARIOS: &[AggScenario] = &[
    AggScenario {
        name: "agg-clean",
        cause: Cause::Clean,
        paths: ["subflow_ok", "subflow_ok"],
        summary: "aggregation_ok",
        exit: 0,
    },
    fails("agg-strip-join", Cause::StripJoin, "join_stripped"),
    fails("agg-drop-join", Cause::DropJoin, "join_dropped"),
    fails("agg-server-limit", Cause::ServerNoSubflows, "join_refused"),
    fails("agg-no-endpoint", Cause::NoEndpoint, "no_endpoint"),
    fails("agg-router-limit", Cause::RouterNoSubflows, "local_limit"),
    AggScenario {
        name: "agg-drop-capable",
        cause: Cause::DropCapable,
        paths: ["syn_dropped", "inconclusive"],
        summary: "syn_dropped",
        exit: 1,
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static AggScenario> {
    AGGREGATE_SCENARIOS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_as_typed() {
        assert_eq!(
            Cause::StripJoin.describe(),
            "isp2: iptables -t mangle -A FORWARD -p tcp --dport 6101 --tcp-flags SYN,ACK SYN \
             -j TCPOPTSTRIP --strip-options 30"
        );
        assert_eq!(
            Cause::ServerNoSubflows.describe(),
            "server: ip mptcp limits set subflows 0 add_addr_accepted 8"
        );
        assert!(find("agg-clean").is_some());
        let mut names: Vec<_> = AGGREGATE_SCENARIOS.iter().map(|s| s.name).collect();
        names.dedup();
        assert_eq!(names.len(), AGGREGATE_SCENARIOS.len());
        assert!(names.iter().all(|n| crate::scenario::find(n).is_none()));
    }
}
