//! The lab's namespaces in one of its layouts: client - r1 - r2 - server
//! (the `Chain` of lab::netns), or the OpenMPTCProuter two-WAN router
//! ([`crate::two_wan::TwoWan`]), whose wanB path is client - r1 - r2 -
//! server too. IPv4 and IPv6 on every link, names unique per process and
//! per lab so labs run in parallel; every namespace is deleted when the
//! topology is dropped, also when a test panics.
use super::scenario::{Family, Layout};
use crate::netns::{Chain, Netns};
use crate::two_wan::TwoWan;
use std::io;
use std::net::IpAddr;

/// The echo server's port in every scenario.
pub const PORT: u16 = 6101;

/// The port of the plain TCP service the echo server watches (what
/// OpenMPTCProuter's tunnel uses).
pub const SERVICE_PORT: u16 = 65101;

/// A router of the chain, by its distance from the client (its TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    R1,
    R2,
}

impl Router {
    pub fn name(self) -> &'static str {
        match self {
            Router::R1 => "r1",
            Router::R2 => "r2",
        }
    }
}

/// The lab's namespaces.
pub struct Topology {
    built: Built,
}

enum Built {
    Chain(Chain),
    TwoWan(TwoWan),
}

impl Topology {
    /// Builds the chain; `tag` (short, unique per lab in a process) goes
    /// into the namespaces' names.
    pub fn new(tag: &str) -> io::Result<Self> {
        Self::with_layout(tag, Layout::Chain)
    }

    /// Builds the namespaces of `layout`.
    pub fn with_layout(tag: &str, layout: Layout) -> io::Result<Self> {
        let built = match layout {
            Layout::Chain => Built::Chain(Chain::new(tag)?),
            Layout::TwoWan { oif_rules } => Built::TwoWan(TwoWan::new(tag, oif_rules)?),
        };
        Ok(Topology { built })
    }

    /// The two-WAN layout's namespaces and addresses, when that is the
    /// layout.
    pub fn two_wan(&self) -> Option<&TwoWan> {
        match &self.built {
            Built::TwoWan(t) => Some(t),
            Built::Chain(_) => None,
        }
    }

    fn namespaces(&self) -> Vec<&Netns> {
        match &self.built {
            Built::Chain(c) => vec![&c.client, &c.r1, &c.r2, &c.server],
            Built::TwoWan(t) => t.all().to_vec(),
        }
    }

    /// Waits until no namespace has a tentative IPv6 address left. The
    /// link-local addresses of fresh veths go through duplicate address
    /// detection (about a second); until then a router cannot resolve its
    /// IPv6 neighbours and holds the first SYNs, which the client's kernel
    /// counts as lost (seen: the IPv6 stripping scenario judged
    /// `syn_dropped` after two retransmissions).
    pub fn settle_ipv6(&self) -> io::Result<()> {
        let all = self.namespaces();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        for ns in all {
            loop {
                let out = ns.ip(&["-6", "addr", "show", "tentative"])?;
                if out.stdout.is_empty() {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "{}: IPv6 addresses still tentative after 10 s",
                        ns.name()
                    )));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Ok(())
    }

    pub fn client(&self) -> &Netns {
        match &self.built {
            Built::Chain(c) => &c.client,
            Built::TwoWan(t) => &t.client,
        }
    }

    pub fn server(&self) -> &Netns {
        match &self.built {
            Built::Chain(c) => &c.server,
            Built::TwoWan(t) => &t.server,
        }
    }

    /// A router on the path under test (in the two-WAN layout, wanB's).
    pub fn router(&self, r: Router) -> &Netns {
        match (&self.built, r) {
            (Built::Chain(c), Router::R1) => &c.r1,
            (Built::Chain(c), Router::R2) => &c.r2,
            (Built::TwoWan(t), Router::R1) => &t.r1,
            (Built::TwoWan(t), Router::R2) => &t.r2,
        }
    }

    /// The server's address the client probes.
    pub fn server_addr(&self, family: Family) -> IpAddr {
        let (v4, v6) = match &self.built {
            Built::Chain(c) => (c.server_addr, c.server_addr6),
            Built::TwoWan(t) => (t.server_addr, t.server_addr6),
        };
        match family {
            Family::V4 => v4.into(),
            Family::V6 => v6.into(),
        }
    }

    /// The address a router's ICMP errors come from.
    pub fn router_addr(&self, r: Router, family: Family) -> IpAddr {
        let (r1, r2, r1_6, r2_6) = match &self.built {
            Built::Chain(c) => (c.r1_addr, c.r2_addr, c.r1_addr6, c.r2_addr6),
            Built::TwoWan(t) => (t.r1_addr, t.r2_addr, t.r1_addr6, t.r2_addr6),
        };
        match (r, family) {
            (Router::R1, Family::V4) => r1.into(),
            (Router::R2, Family::V4) => r2.into(),
            (Router::R1, Family::V6) => r1_6.into(),
            (Router::R2, Family::V6) => r2_6.into(),
        }
    }

    /// The client's interface that faces the path under test (where the
    /// lab records the client's side).
    pub fn client_iface(&self) -> &'static str {
        match &self.built {
            Built::Chain(_) => "eth0",
            Built::TwoWan(_) => crate::two_wan::WAN_B,
        }
    }
}
