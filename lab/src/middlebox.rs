//! Middlebox behaviour, as the iptables rules (IPv4 and IPv6) that switch
//! it on in a router namespace, or a sysctl on the server.
use super::topology::{Router, Topology, PORT};
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
    /// The client's blackhole detection is tripped through this router
    /// (see [`super::blackhole`]), whose drop is then removed: a clean
    /// path, and a host whose kernel sends new connections without
    /// MP_CAPABLE.
    TrippedBlackhole(Router),
}

impl Middlebox {
    /// The iptables arguments (without the program name, the same for
    /// iptables and ip6tables except where `v6` says) and the router they
    /// go to; `None` for the server sysctl.
    pub fn rule(self, v6: bool) -> Option<(Router, Vec<String>)> {
        let port = PORT.to_string();
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        Some(match self {
            Middlebox::StripUpstream(r) => (
                r,
                s(&[
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
                ]),
            ),
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
            Middlebox::ServerMptcpDisabled | Middlebox::TrippedBlackhole(_) => return None,
        })
    }

    /// The command that switches it on, as a person would type it.
    pub fn describe(self) -> String {
        if let Middlebox::TrippedBlackhole(r) = self {
            return format!("{}: {}", r.name(), super::blackhole::describe());
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
                for (tool, v6) in [("iptables", false), ("ip6tables", true)] {
                    let Some((_, args)) = self.rule(v6) else {
                        continue;
                    };
                    // -w: the xtables lock is shared by every namespace of
                    // the machine, and labs run in parallel.
                    let mut all = vec![tool, "-w"];
                    all.extend(args.iter().map(String::as_str));
                    topo.router(r).exec(&all)?;
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
