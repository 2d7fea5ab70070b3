//! A router with two WANs in OpenMPTCProuter's layout, two ISPs and a VPS:
//!
//! ```text
//! router wan1 10.11.0.1 --- 10.11.0.254 isp1 10.21.0.1 --- 10.21.0.2 eth1 \
//!                                                                          server 10.99.0.2 (lo)
//! router wan2 10.12.0.1 --- 10.12.0.254 isp2 10.22.0.1 --- 10.22.0.2 eth2 /
//! ```
//!
//! The router keeps each WAN's default route in a table of its own
//! (`ip rule add from WAN_ADDR table N`, `ip rule add oif WAN table N`)
//! and only wan1's in `main`, has a `subflow` endpoint per WAN and
//! `ip mptcp limits set subflows 8 add_addr_accepted 1`; the server has a
//! `signal` endpoint and `limits subflows 8 add_addr_accepted 8`. The
//! initial subflow goes over wan1 (the `main` route), the join over wan2.
use crate::netns::{veth, Netns};
use std::io;
use std::net::Ipv4Addr;

/// The server's address (on its loopback, reached over either ISP).
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
/// The WANs: interface, address, routing table.
pub const WANS: [(&str, Ipv4Addr, u32); 2] = [
    ("wan1", Ipv4Addr::new(10, 11, 0, 1), 1),
    ("wan2", Ipv4Addr::new(10, 12, 0, 1), 2),
];

/// The four namespaces, deleted on drop.
pub struct TwoWan {
    pub router: Netns,
    pub isp1: Netns,
    pub isp2: Netns,
    pub server: Netns,
}

impl TwoWan {
    /// Builds the layout; `tag` (short, unique per lab in a process) goes
    /// into the namespace names.
    pub fn new(tag: &str) -> io::Result<Self> {
        let t = TwoWan {
            router: Netns::new(&format!("{tag}r"))?,
            isp1: Netns::new(&format!("{tag}i1"))?,
            isp2: Netns::new(&format!("{tag}i2"))?,
            server: Netns::new(&format!("{tag}s"))?,
        };
        veth(&t.router, "wan1", &t.isp1, "eth0")?;
        veth(&t.router, "wan2", &t.isp2, "eth0")?;
        veth(&t.isp1, "eth1", &t.server, "eth1")?;
        veth(&t.isp2, "eth1", &t.server, "eth2")?;
        t.router.addr("wan1", "10.11.0.1/24")?;
        t.router.addr("wan2", "10.12.0.1/24")?;
        t.isp1.addr("eth0", "10.11.0.254/24")?;
        t.isp1.addr("eth1", "10.21.0.1/24")?;
        t.isp2.addr("eth0", "10.12.0.254/24")?;
        t.isp2.addr("eth1", "10.22.0.1/24")?;
        t.server.addr("eth1", "10.21.0.2/24")?;
        t.server.addr("eth2", "10.22.0.2/24")?;
        t.server.ip(&["addr", "add", "10.99.0.2/32", "dev", "lo"])?;
        for isp in [&t.isp1, &t.isp2] {
            isp.forwarding()?;
        }
        t.isp1.route("10.99.0.2", "10.21.0.2")?;
        t.isp2.route("10.99.0.2", "10.22.0.2")?;
        t.server.route("10.11.0.0/24", "10.21.0.1")?;
        t.server.route("10.12.0.0/24", "10.22.0.1")?;
        // Replies leave by the ISP they came in from, not by the route to
        // the address they answer: no reverse-path filtering.
        t.server.sysctl("net.ipv4.conf.all.rp_filter", "0")?;
        t.server.sysctl("net.ipv4.conf.default.rp_filter", "0")?;
        let r = &t.router;
        r.ip(&[
            "route",
            "add",
            "default",
            "via",
            "10.11.0.254",
            "dev",
            "wan1",
        ])?;
        for (dev, gw, table) in [("wan1", "10.11.0.254", "1"), ("wan2", "10.12.0.254", "2")] {
            r.ip(&[
                "route", "add", "default", "via", gw, "dev", dev, "table", table,
            ])?;
        }
        for (dev, addr, table) in WANS {
            let (addr, table) = (addr.to_string(), table.to_string());
            r.ip(&["rule", "add", "from", &addr, "table", &table])?;
            r.ip(&["rule", "add", "oif", dev, "table", &table])?;
            r.ip(&["mptcp", "endpoint", "add", &addr, "dev", dev, "subflow"])?;
        }
        r.ip(&[
            "mptcp",
            "limits",
            "set",
            "subflows",
            "8",
            "add_addr_accepted",
            "1",
        ])?;
        t.server.ip(&[
            "mptcp",
            "limits",
            "set",
            "subflows",
            "8",
            "add_addr_accepted",
            "8",
        ])?;
        t.server.ip(&[
            "mptcp",
            "endpoint",
            "add",
            "10.99.0.2",
            "dev",
            "lo",
            "signal",
        ])?;
        Ok(t)
    }
}
