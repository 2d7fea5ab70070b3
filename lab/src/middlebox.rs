//! Middlebox behaviour, as the iptables rules (IPv4 and IPv6) that switch
//! it on in a router namespace, or a sysctl on the server.
use super::topology::{Router, Topology, PORT, SERVICE_PORT};
use std::io;

/// One behaviour switched on in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Middlebox {
    /// TCPOPTSTRIP of option 30 on forwarded SYNs to the server.
    StripUpstream(Router),
    /// TCPOPTSTRIP of option 30 on forwarded SYN/ACKs from the server.
    StripDownstream(Router),
    /// Forwarded SYNs carrying option 30 are dropped.
    DropOption30(Router),
    /// Source NAT (masquerade) towards the server.
    Masquerade(Router),
    /// The router sends no ICMP time exceeded.
    SilentHop(Router),
    /// `net.mptcp.enabled=0` on the server.
    ServerMptcpDisabled,
    /// Forwarded SYNs to the server are dropped and answered by the router
    /// itself with a SYN/ACK echoing their options (see [`super::reflector`];
    /// the runner starts the reflector, this rule only drops).
    Reflect(Router),
    /// Forwarded SYN/ACKs from the server carrying option 30 are dropped:
    /// our SYN arrives intact, the server's MP_CAPABLE answer never
    /// comes back.
    DropSynAckOption30(Router),
    /// iptables SYNPROXY answers SYNs to the server itself (SYN cookies,
    /// window 0) and opens its own connection once the handshake
    /// completes: a TCP-terminating box.
    SynProxy(Router),
    /// A plain TCP service on [`SERVICE_PORT`] of the server, which the
    /// echo server watches (`--watch`); the runner starts both, nothing is
    /// switched on in a router.
    PlainTcpService,
    /// The client's blackhole detection is tripped through this router
    /// (see [`super::blackhole`]), whose drop is then removed: a clean
    /// path, and a host whose kernel sends new connections without
    /// MP_CAPABLE.
    TrippedBlackhole(Router),
}

/// iptables arguments (without the program name) that blank option 30 in
/// forwarded SYNs to `port`: the stripping ISP of the chain lab and of the
/// aggregate lab's MP_JOIN stripper alike.
pub fn strip_syn_option30(port: u16) -> Vec<String> {
    let port = port.to_string();
    [
        "-t",
        "mangle",
        "-A",
        "FORWARD",
        "-p",
        "tcp",
        "--dport",
        &port,
        "--tcp-flags",
        "SYN,ACK",
        "SYN",
        "-j",
        "TCPOPTSTRIP",
        "--strip-options",
        "30",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

impl Middlebox {
    /// The iptables arguments (without the program name, the same for
    /// iptables and ip6tables except where `v6` says) and the router they
    /// go to; `None` for the server sysctl.
    pub fn rule(self, v6: bool) -> Option<(Router, Vec<String>)> {
        let port = PORT.to_string();
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        Some(match self {
            Middlebox::StripUpstream(r) => (r, strip_syn_option30(PORT)),
            Middlebox::StripDownstream(r) => (
                r,
                s(&[
                    "-t",
                    "mangle",
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "--sport",
                    &port,
                    "--tcp-flags",
                    "SYN,ACK",
                    "SYN,ACK",
                    "-j",
                    "TCPOPTSTRIP",
                    "--strip-options",
                    "30",
                ]),
            ),
            Middlebox::DropOption30(r) => (
                r,
                s(&[
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "--dport",
                    &port,
                    "-m",
                    "tcp",
                    "--tcp-option",
                    "30",
                    "-j",
                    "DROP",
                ]),
            ),
            Middlebox::Reflect(r) => (
                r,
                s(&[
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "--dport",
                    &port,
                    "--tcp-flags",
                    "SYN,ACK",
                    "SYN",
                    "-j",
                    "DROP",
                ]),
            ),
            Middlebox::DropSynAckOption30(r) => (
                r,
                s(&[
                    "-A",
                    "FORWARD",
                    "-p",
                    "tcp",
                    "--sport",
                    &port,
                    "--tcp-flags",
                    "SYN,ACK",
                    "SYN,ACK",
                    "-m",
                    "tcp",
                    "--tcp-option",
                    "30",
                    "-j",
                    "DROP",
                ]),
            ),
            Middlebox::SynProxy(r) => (
                r,
                // The handshake's SYN is untracked (see synproxy_setup),
                // so it reaches SYNPROXY, which answers it.
                s(&[
                    "-A",
                    "FORWARD",
                    "-i",
                    "eth0",
                    "-p",
                    "tcp",
                    "--dport",
                    &port,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "INVALID,UNTRACKED",
                    "-j",
                    "SYNPROXY",
                    "--sack-perm",
                    "--timestamp",
                    "--wscale",
                    "7",
                    "--mss",
                    "1460",
                ]),
            ),
            Middlebox::Masquerade(r) => (
                r,
                s(&[
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    "eth1",
                    "-j",
                    "MASQUERADE",
                ]),
            ),
            Middlebox::SilentHop(r) => {
                let icmp = if v6 {
                    ["-p", "icmpv6", "--icmpv6-type", "time-exceeded"]
                } else {
                    ["-p", "icmp", "--icmp-type", "time-exceeded"]
                };
                let mut v = s(&["-A", "OUTPUT"]);
                v.extend(s(&icmp));
                v.extend(s(&["-j", "DROP"]));
                (r, v)
            }
            Middlebox::ServerMptcpDisabled
            | Middlebox::PlainTcpService
            | Middlebox::TrippedBlackhole(_) => return None,
        })
    }

    /// What SYNPROXY needs around its rule (the kernel documents it so):
    /// SYNs to the port untracked in the raw table, so they reach it as
    /// UNTRACKED; segments conntrack finds INVALID (the client's ACK
    /// before SYNPROXY has validated it) dropped; and
    /// `nf_conntrack_tcp_loose=0`, so conntrack does not pick up
    /// mid-stream connections the proxy has not set up.
    fn synproxy_setup(self) -> Vec<Vec<String>> {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let port = PORT.to_string();
        vec![
            s(&[
                "-t",
                "raw",
                "-A",
                "PREROUTING",
                "-i",
                "eth0",
                "-p",
                "tcp",
                "--dport",
                &port,
                "--tcp-flags",
                "FIN,SYN,RST,ACK",
                "SYN",
                "-j",
                "CT",
                "--notrack",
            ]),
            s(&[
                "-A",
                "FORWARD",
                "-m",
                "conntrack",
                "--ctstate",
                "INVALID",
                "-j",
                "DROP",
            ]),
        ]
    }

    /// The command that switches it on, as a person would type it.
    pub fn describe(self) -> String {
        match self {
            Middlebox::PlainTcpService => {
                return format!(
                    "server: a plain TCP service on port {SERVICE_PORT}, watched by the echo \
                     server (--watch {SERVICE_PORT})"
                )
            }
            Middlebox::SynProxy(r) => {
                let mut lines: Vec<String> = self
                    .synproxy_setup()
                    .into_iter()
                    .map(|a| format!("iptables {}", a.join(" ")))
                    .collect();
                if let Some((_, args)) = self.rule(false) {
                    lines.insert(1, format!("iptables {}", args.join(" ")));
                }
                return format!(
                    "{}: sysctl -w net.netfilter.nf_conntrack_tcp_loose=0; {}",
                    r.name(),
                    lines.join("; ")
                );
            }
            Middlebox::TrippedBlackhole(r) => {
                return format!("{}: {}", r.name(), super::blackhole::describe());
            }
            _ => {}
        }
        match self.rule(false) {
            Some((r, args)) => {
                let rule = format!("{}: iptables {}", r.name(), args.join(" "));
                match self {
                    Middlebox::Reflect(_) => {
                        format!("{rule}, and a reflector answers them with their own options")
                    }
                    _ => rule,
                }
            }
            None => "server: sysctl -w net.mptcp.enabled=0".into(),
        }
    }

    /// Switches it on in the lab (both address families).
    pub fn apply(self, topo: &Topology) -> io::Result<()> {
        if self == Middlebox::PlainTcpService {
            // The runner starts the service and the echo server's watch.
            return Ok(());
        }
        if let Middlebox::TrippedBlackhole(r) = self {
            return super::blackhole::trip(
                topo.client(),
                topo.router(r),
                topo.server(),
                topo.server_addr(super::scenario::Family::V4),
            );
        }
        match self.rule(false) {
            None => topo.server().sysctl("net.mptcp.enabled", "0"),
            Some((r, _)) => {
                let router = topo.router(r);
                let setup = match self {
                    Middlebox::SynProxy(_) => {
                        router.sysctl("net.netfilter.nf_conntrack_tcp_loose", "0")?;
                        self.synproxy_setup()
                    }
                    _ => Vec::new(),
                };
                for (tool, v6) in [("iptables", false), ("ip6tables", true)] {
                    let Some((_, args)) = self.rule(v6) else {
                        continue;
                    };
                    let mut rules: Vec<&Vec<String>> = setup.iter().collect();
                    rules.insert(rules.len().min(1), &args);
                    for rule in rules {
                        // -w: the xtables lock is shared by every namespace
                        // of the machine, and labs run in parallel.
                        let mut all = vec![tool, "-w"];
                        all.extend(rule.iter().map(String::as_str));
                        router.exec(&all)?;
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_as_typed() {
        assert_eq!(
            Middlebox::StripUpstream(Router::R1).describe(),
            "r1: iptables -t mangle -A FORWARD -p tcp --dport 6101 --tcp-flags SYN,ACK SYN \
             -j TCPOPTSTRIP --strip-options 30"
        );
        assert_eq!(
            Middlebox::StripDownstream(Router::R2).describe(),
            "r2: iptables -t mangle -A FORWARD -p tcp --sport 6101 --tcp-flags SYN,ACK SYN,ACK \
             -j TCPOPTSTRIP --strip-options 30"
        );
        assert_eq!(
            Middlebox::DropOption30(Router::R1).describe(),
            "r1: iptables -A FORWARD -p tcp --dport 6101 -m tcp --tcp-option 30 -j DROP"
        );
        assert_eq!(
            Middlebox::Reflect(Router::R2).describe(),
            "r2: iptables -A FORWARD -p tcp --dport 6101 --tcp-flags SYN,ACK SYN -j DROP, \
             and a reflector answers them with their own options"
        );
        assert_eq!(
            Middlebox::ServerMptcpDisabled.describe(),
            "server: sysctl -w net.mptcp.enabled=0"
        );
        assert_eq!(
            Middlebox::DropSynAckOption30(Router::R1).describe(),
            "r1: iptables -A FORWARD -p tcp --sport 6101 --tcp-flags SYN,ACK SYN,ACK -m tcp \
             --tcp-option 30 -j DROP"
        );
        assert_eq!(
            Middlebox::SynProxy(Router::R1).describe(),
            "r1: sysctl -w net.netfilter.nf_conntrack_tcp_loose=0; iptables -t raw -A PREROUTING \
             -i eth0 -p tcp --dport 6101 --tcp-flags FIN,SYN,RST,ACK SYN -j CT --notrack; \
             iptables -A FORWARD -i eth0 -p tcp --dport 6101 -m conntrack --ctstate \
             INVALID,UNTRACKED -j SYNPROXY --sack-perm --timestamp --wscale 7 --mss 1460; \
             iptables -A FORWARD -m conntrack --ctstate INVALID -j DROP"
        );
        assert!(Middlebox::PlainTcpService
            .describe()
            .contains("--watch 65101"));
        assert_eq!(Middlebox::PlainTcpService.rule(false), None);
    }

    #[test]
    fn silent_hop_uses_the_icmp_of_each_family() {
        let args = |v6| {
            Middlebox::SilentHop(Router::R2)
                .rule(v6)
                .map(|(_, a)| a)
                .unwrap_or_default()
        };
        let (v4, v6) = (args(false), args(true));
        assert!(v4.join(" ").contains("-p icmp --icmp-type time-exceeded"));
        assert!(v6
            .join(" ")
            .contains("-p icmpv6 --icmpv6-type time-exceeded"));
    }
}
