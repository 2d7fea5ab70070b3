//! client - r1 - r2 - server, IPv4 and IPv6 on every link, forwarding on
//! both routers (the `Chain` of lab::netns), with names unique per
//! process and per lab so labs run in parallel; every namespace is deleted
//! when the topology is dropped, also when a test panics.
use super::scenario::Family;
use crate::netns::{Chain, Netns};
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
    pub chain: Chain,
}

impl Topology {
    /// Builds the namespaces; `tag` (short, unique per lab in a process)
    /// goes into their names.
    pub fn new(tag: &str) -> io::Result<Self> {
        Ok(Topology {
            chain: Chain::new(tag)?,
        })
    }

    /// Waits until no namespace has a tentative IPv6 address left. The
    /// link-local addresses of fresh veths go through duplicate address
    /// detection (about a second); until then a router cannot resolve its
    /// IPv6 neighbours and holds the first SYNs, which the client's kernel
    /// counts as lost (seen: the IPv6 stripping scenario judged
    /// `syn_dropped` after two retransmissions).
    pub fn settle_ipv6(&self) -> io::Result<()> {
        let all = [
            &self.chain.client,
            &self.chain.r1,
            &self.chain.r2,
            &self.chain.server,
        ];
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
        &self.chain.client
    }

    pub fn server(&self) -> &Netns {
        &self.chain.server
    }

    pub fn router(&self, r: Router) -> &Netns {
        match r {
            Router::R1 => &self.chain.r1,
            Router::R2 => &self.chain.r2,
        }
    }

    /// The server's address the client probes.
    pub fn server_addr(&self, family: Family) -> IpAddr {
        match family {
            Family::V4 => self.chain.server_addr.into(),
            Family::V6 => self.chain.server_addr6.into(),
        }
    }

    /// The address a router's ICMP errors come from.
    pub fn router_addr(&self, r: Router, family: Family) -> IpAddr {
        match (r, family) {
            (Router::R1, Family::V4) => self.chain.r1_addr.into(),
            (Router::R2, Family::V4) => self.chain.r2_addr.into(),
            (Router::R1, Family::V6) => self.chain.r1_addr6.into(),
            (Router::R2, Family::V6) => self.chain.r2_addr6.into(),
        }
    }
}
