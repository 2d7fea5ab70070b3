//! An OpenMPTCProuter-style router with two WAN links, as OMR really
//! configures it: each WAN's default route in its own routing table,
//! reached by `ip rule add from WAN_ADDR table N` (and, in one variant,
//! also `ip rule add oif WAN table N`), the main table holding only the
//! primary WAN's default route, and one `subflow` endpoint per WAN.
//!
//! ```text
//!            wanA 10.10.1.2 -- ispa (eth0 10.10.1.1 | eth1 10.11.0.1) --+
//!  client                                                               r2 -- server
//!  (router)  wanB 10.20.1.2 -- r1   (eth0 10.20.1.1 | eth1 10.21.0.1) --+     10.2.0.2
//! ```
//!
//! r2 (the core router both ISPs reach) has eth0 towards r1, eth1 towards
//! the server (10.2.0.254) and eth2 towards ispa. IPv6 mirrors it
//! (`fd10:1::/64`, `fd20:1::/64`, `fd11::/64`, `fd21::/64`, server
//! `fd00:2::2`). The path under test is wanB's: client - r1 - r2 - server,
//! so r1 and r2 are its hops 1 and 2 as in the chain, and a scenario's
//! middleboxes apply to wanB's ISP (r1) exactly as they would in the
//! chain; wanA's path (through ispa) stays clean.
use crate::netns::{veth, Netns};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The primary WAN: its default route is also in the main table.
pub const WAN_A: &str = "wanA";
/// The second WAN: reached only through its own table.
pub const WAN_B: &str = "wanB";
/// The routing tables of the WANs.
pub const TABLE_A: &str = "101";
pub const TABLE_B: &str = "102";

/// The namespaces and addresses of the layout.
pub struct TwoWan {
    /// The router, where the client runs.
    pub client: Netns,
    /// wanA's ISP.
    pub ispa: Netns,
    /// wanB's ISP (hop 1 of wanB's path).
    pub r1: Netns,
    /// The core router both ISPs reach (hop 2).
    pub r2: Netns,
    pub server: Netns,
    pub wan_a_addr: Ipv4Addr,
    pub wan_b_addr: Ipv4Addr,
    pub wan_a_addr6: Ipv6Addr,
    pub wan_b_addr6: Ipv6Addr,
    pub server_addr: Ipv4Addr,
    pub server_addr6: Ipv6Addr,
    /// Addresses of r1 and r2 facing the client's side (what their ICMP
    /// errors come from on wanB's path).
    pub r1_addr: Ipv4Addr,
    pub r2_addr: Ipv4Addr,
    pub r1_addr6: Ipv6Addr,
    pub r2_addr6: Ipv6Addr,
}

fn v6(s: &str) -> io::Result<Ipv6Addr> {
    s.parse().map_err(io::Error::other)
}

impl TwoWan {
    /// Builds the namespaces; `oif_rules` adds `ip rule add oif WAN table
    /// N` next to the per-source rules (OMR does both; a table reached
    /// only by `from` is the harder case for a prober bound to a device).
    pub fn new(tag: &str, oif_rules: bool) -> io::Result<Self> {
        let client = Netns::new(&format!("{tag}c"))?;
        let ispa = Netns::new(&format!("{tag}ia"))?;
        let r1 = Netns::new(&format!("{tag}r1"))?;
        let r2 = Netns::new(&format!("{tag}r2"))?;
        let server = Netns::new(&format!("{tag}s"))?;
        veth(&client, WAN_A, &ispa, "eth0")?;
        veth(&client, WAN_B, &r1, "eth0")?;
        veth(&ispa, "eth1", &r2, "eth2")?;
        veth(&r1, "eth1", &r2, "eth0")?;
        veth(&r2, "eth1", &server, "eth0")?;
        for (ns, ifname, cidrs) in [
            (&client, WAN_A, ["10.10.1.2/24", "fd10:1::2/64"]),
            (&client, WAN_B, ["10.20.1.2/24", "fd20:1::2/64"]),
            (&ispa, "eth0", ["10.10.1.1/24", "fd10:1::1/64"]),
            (&ispa, "eth1", ["10.11.0.1/24", "fd11::1/64"]),
            (&r1, "eth0", ["10.20.1.1/24", "fd20:1::1/64"]),
            (&r1, "eth1", ["10.21.0.1/24", "fd21::1/64"]),
            (&r2, "eth0", ["10.21.0.2/24", "fd21::2/64"]),
            (&r2, "eth1", ["10.2.0.254/24", "fd00:2::fe/64"]),
            (&r2, "eth2", ["10.11.0.2/24", "fd11::2/64"]),
            (&server, "eth0", ["10.2.0.2/24", "fd00:2::2/64"]),
        ] {
            for cidr in cidrs {
                ns.addr(ifname, cidr)?;
            }
        }
        for router in [&ispa, &r1, &r2] {
            router.forwarding()?;
        }
        ispa.route("default", "10.11.0.2")?;
        ispa.route("default", "fd11::2")?;
        r1.route("default", "10.21.0.2")?;
        r1.route("default", "fd21::2")?;
        r2.route("10.10.1.0/24", "10.11.0.1")?;
        r2.route("fd10:1::/64", "fd11::1")?;
        r2.route("10.20.1.0/24", "10.21.0.1")?;
        r2.route("fd20:1::/64", "fd21::1")?;
        server.route("default", "10.2.0.254")?;
        server.route("default", "fd00:2::fe")?;
        policy_routing(&client, oif_rules)?;
        Ok(TwoWan {
            client,
            ispa,
            r1,
            r2,
            server,
            wan_a_addr: [10, 10, 1, 2].into(),
            wan_b_addr: [10, 20, 1, 2].into(),
            wan_a_addr6: v6("fd10:1::2")?,
            wan_b_addr6: v6("fd20:1::2")?,
            server_addr: [10, 2, 0, 2].into(),
            server_addr6: v6("fd00:2::2")?,
            r1_addr: [10, 20, 1, 1].into(),
            r2_addr: [10, 21, 0, 2].into(),
            r1_addr6: v6("fd20:1::1")?,
            r2_addr6: v6("fd21::2")?,
        })
    }

    /// The second WAN's address of a family (what `--source` names).
    pub fn wan_b(&self, v6: bool) -> IpAddr {
        if v6 {
            self.wan_b_addr6.into()
        } else {
            self.wan_b_addr.into()
        }
    }

    /// Every namespace (for waiting on IPv6 duplicate address detection).
    pub fn all(&self) -> [&Netns; 5] {
        [&self.client, &self.ispa, &self.r1, &self.r2, &self.server]
    }
}

/// What OMR sets up on the router, as the commands an admin would type
/// (without the `ip` in front), in order.
pub fn router_commands(oif_rules: bool) -> Vec<Vec<&'static str>> {
    let mut cmds = Vec::new();
    for (family, gw_a, gw_b, src_a, src_b) in [
        ("-4", "10.10.1.1", "10.20.1.1", "10.10.1.2", "10.20.1.2"),
        ("-6", "fd10:1::1", "fd20:1::1", "fd10:1::2", "fd20:1::2"),
    ] {
        // Only the primary WAN's default route in main.
        cmds.push(vec![
            family, "route", "add", "default", "via", gw_a, "dev", WAN_A,
        ]);
        for (gw, dev, table, src) in [(gw_a, WAN_A, TABLE_A, src_a), (gw_b, WAN_B, TABLE_B, src_b)]
        {
            cmds.push(vec![
                family, "route", "add", "default", "via", gw, "dev", dev, "table", table,
            ]);
            cmds.push(vec![family, "rule", "add", "from", src, "table", table]);
            if oif_rules {
                cmds.push(vec![family, "rule", "add", "oif", dev, "table", table]);
            }
        }
    }
    for (addr, dev) in [("10.10.1.2", WAN_A), ("10.20.1.2", WAN_B)] {
        cmds.push(vec![
            "mptcp", "endpoint", "add", addr, "dev", dev, "subflow",
        ]);
    }
    cmds.push(vec![
        "mptcp",
        "limits",
        "set",
        "subflows",
        "8",
        "add_addr_accepted",
        "1",
    ]);
    cmds
}

fn policy_routing(router: &Netns, oif_rules: bool) -> io::Result<()> {
    for cmd in router_commands(oif_rules) {
        router.ip(&cmd)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(oif: bool) -> Vec<String> {
        router_commands(oif).iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn only_the_primary_wan_is_in_main_and_each_source_has_its_table() {
        let all = lines(false);
        let main_defaults: Vec<&String> = all
            .iter()
            .filter(|l| l.contains("route add default") && !l.contains("table"))
            .collect();
        assert_eq!(
            main_defaults,
            [
                "-4 route add default via 10.10.1.1 dev wanA",
                "-6 route add default via fd10:1::1 dev wanA"
            ]
        );
        assert!(all.contains(&"-4 rule add from 10.20.1.2 table 102".to_string()));
        assert!(all.contains(&"-6 rule add from fd20:1::2 table 102".to_string()));
        assert!(all.contains(&"mptcp endpoint add 10.20.1.2 dev wanB subflow".to_string()));
        assert!(!all.iter().any(|l| l.contains(" oif ")));
    }

    #[test]
    fn the_oif_variant_adds_one_rule_per_wan_and_family() {
        let all = lines(true);
        let oif: Vec<&String> = all.iter().filter(|l| l.contains(" oif ")).collect();
        assert_eq!(oif.len(), 4);
        assert!(all.contains(&"-4 rule add oif wanB table 102".to_string()));
        assert_eq!(all.len(), lines(false).len() + 4);
    }
}
