//! Which WAN each subflow runs over, and which path-manager endpoint
//! belongs to each WAN.
//!
//! A subflow belongs to the WAN whose address is its local address (the
//! kernel binds each join to its endpoint's address, and policy routing
//! sends it out of that WAN). The server's view of the same subflow is the
//! one whose remote address and port are our local ones; behind a NAT only
//! the port may survive, so a unique port match is taken next.
use super::facts::{AggregateInput, SubflowRecord, Wan};
use packet::echo::PmEndpoint;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// One subflow placed on a WAN, with both sides' byte counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedSubflow {
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// `tcpi_state` on this host (on the server when this host's view is missing).
    pub state: Option<u8>,
    /// It is the connection's initial subflow.
    pub initial: bool,
    /// Payload this host sent (and got acknowledged) and received on it.
    pub sent: Option<u64>,
    pub received: Option<u64>,
    /// The same, counted by the server on its end of this subflow.
    pub server_sent: Option<u64>,
    pub server_received: Option<u64>,
}

impl MappedSubflow {
    pub fn established(&self) -> bool {
        self.state == Some(1)
    }

    /// Bytes (sent, received) from this host's point of view: its own
    /// counts, else the server's reversed.
    pub fn carried(&self) -> (u64, u64) {
        (
            self.sent.or(self.server_received).unwrap_or(0),
            self.received.or(self.server_sent).unwrap_or(0),
        )
    }
}

/// Every subflow of the connection, by WAN (same order as `input.wans`),
/// and those on no known WAN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    pub per_wan: Vec<Vec<MappedSubflow>>,
    pub unmapped: Vec<MappedSubflow>,
}

/// The endpoint of a WAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointMatch<'a> {
    /// An endpoint with the WAN's address.
    Exact(&'a PmEndpoint),
    /// An endpoint on the WAN's interface with another address: the WAN
    /// changed address (a DHCP renewal, a PPP reconnect) and the endpoint
    /// was not updated.
    Stale(&'a PmEndpoint),
    None,
}

fn endpoint_addr(e: &PmEndpoint) -> Option<IpAddr> {
    e.addr.as_deref().and_then(|a| a.parse().ok())
}

/// The endpoint that serves `wan`.
pub fn endpoint_for<'a>(wan: &Wan, endpoints: &'a [PmEndpoint]) -> EndpointMatch<'a> {
    if let Some(source) = wan.source {
        if let Some(e) = endpoints.iter().find(|e| endpoint_addr(e) == Some(source)) {
            return EndpointMatch::Exact(e);
        }
    }
    let on_interface = |e: &&PmEndpoint| {
        let same_family = match (endpoint_addr(e), wan.source) {
            (Some(a), Some(s)) => a.is_ipv4() == s.is_ipv4(),
            _ => true,
        };
        wan.ifindex.is_some()
            && e.ifindex.and_then(|i| u32::try_from(i).ok()) == wan.ifindex
            && same_family
    };
    match endpoints.iter().find(on_interface) {
        Some(e) => EndpointMatch::Stale(e),
        None => EndpointMatch::None,
    }
}

/// The WAN a local address belongs to: its source address, or the address
/// of its exact endpoint.
pub fn wan_of(input: &AggregateInput, addr: IpAddr) -> Option<usize> {
    input.wans.iter().position(|w| {
        w.source == Some(addr)
            || matches!(endpoint_for(w, &input.local.endpoints),
                EndpointMatch::Exact(e) if endpoint_addr(e) == Some(addr))
    })
}

/// The server's subflow that is `ours` seen from the other end.
fn server_match(ours: &SubflowRecord, server: &[SubflowRecord], taken: &[bool]) -> Option<usize> {
    let local = ours.local?;
    let free = |i: &usize| !taken[*i];
    if let Some(i) = (0..server.len())
        .filter(free)
        .find(|&i| server[i].remote == Some(local))
    {
        return Some(i);
    }
    let mut by_port = (0..server.len())
        .filter(free)
        .filter(|&i| server[i].remote.map(|r| r.port()) == Some(local.port()));
    match (by_port.next(), by_port.next()) {
        (Some(i), None) => Some(i),
        _ => None,
    }
}

/// Places every subflow of the connection on its WAN.
pub fn map_subflows(input: &AggregateInput) -> Mapping {
    let mut m = Mapping {
        per_wan: vec![Vec::new(); input.wans.len()],
        unmapped: Vec::new(),
    };
    let Some(conn) = &input.connection else {
        return m;
    };
    let server: &[SubflowRecord] = input.server.as_ref().map_or(&[], |s| &s.subflows);
    let mut taken = vec![false; server.len()];
    let place = |m: &mut Mapping, addr: Option<IpAddr>, s: MappedSubflow| match addr
        .and_then(|a| wan_of(input, a))
    {
        Some(w) => m.per_wan[w].push(s),
        None => m.unmapped.push(s),
    };
    if conn.subflows.is_empty() {
        // This host's view is missing (an old kernel): the server's alone,
        // whose remote address is ours unless a NAT sits between.
        for s in server {
            let mapped = MappedSubflow {
                local: s.remote,
                remote: s.local,
                state: s.state,
                initial: s.remote == Some(conn.local),
                sent: None,
                received: None,
                server_sent: s.bytes_acked,
                server_received: s.bytes_received,
            };
            place(&mut m, s.remote.map(|a| a.ip()), mapped);
        }
        return m;
    }
    for ours in &conn.subflows {
        let theirs = server_match(ours, server, &taken).map(|i| {
            taken[i] = true;
            server[i]
        });
        let mapped = MappedSubflow {
            local: ours.local,
            remote: ours.remote,
            state: ours.state,
            initial: ours.local == Some(conn.local),
            sent: ours.bytes_acked,
            received: ours.bytes_received,
            server_sent: theirs.and_then(|t| t.bytes_acked),
            server_received: theirs.and_then(|t| t.bytes_received),
        };
        place(&mut m, ours.local.map(|a| a.ip()), mapped);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::facts::*;
    use super::*;

    pub(crate) fn wan(name: &str, index: u32, source: &str, initial: bool) -> Wan {
        Wan {
            interface: name.into(),
            ifindex: Some(index),
            source: Some(source.parse().unwrap()),
            initial,
            tables: vec![],
            join: None,
            plain: None,
            error: None,
        }
    }

    fn endpoint(id: u8, addr: &str, ifindex: i32, flags: &[&str]) -> PmEndpoint {
        PmEndpoint {
            id: Some(id),
            addr: Some(addr.into()),
            port: None,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            ifindex: Some(ifindex),
        }
    }

    fn record(local: &str, state: u8, acked: u64, received: u64) -> SubflowRecord {
        SubflowRecord {
            local: Some(local.parse().unwrap()),
            remote: Some("10.99.0.2:6101".parse().unwrap()),
            state: Some(state),
            bytes_acked: Some(acked),
            bytes_received: Some(received),
        }
    }

    fn input(client: Vec<SubflowRecord>, server: Vec<SubflowRecord>) -> AggregateInput {
        AggregateInput {
            target: "10.99.0.2:6101".into(),
            address: "10.99.0.2".parse().unwrap(),
            wans: vec![
                wan("wan1", 2, "10.11.0.1", true),
                wan("wan2", 3, "10.12.0.1", false),
            ],
            local: PathManager {
                limits: None,
                endpoints: vec![
                    endpoint(1, "10.11.0.1", 2, &["subflow"]),
                    endpoint(2, "10.12.0.1", 3, &["subflow"]),
                ],
            },
            handshake: Handshake {
                verdict: "mptcp_ok".into(),
                summary: String::new(),
                fix: None,
                evidence: vec![],
            },
            connection: Some(Connection {
                local: "10.11.0.1:40000".parse().unwrap(),
                remote: "10.99.0.2:6101".parse().unwrap(),
                mptcp: true,
                token: None,
                subflows_max: Some(8),
                info_subflows: Some(1),
                subflows: client,
                subflow_source: None,
                keys: None,
            }),
            server: Some(ServerSide {
                subflows: server,
                ..Default::default()
            }),
            data: DataPhase::default(),
            probes_skipped: None,
        }
    }

    fn reversed(r: SubflowRecord, acked: u64, received: u64) -> SubflowRecord {
        SubflowRecord {
            local: r.remote,
            remote: r.local,
            state: r.state,
            bytes_acked: Some(acked),
            bytes_received: Some(received),
        }
    }

    #[test]
    fn subflows_go_to_the_wan_of_their_local_address() {
        let a = record("10.11.0.1:40000", 1, 100, 200);
        let b = record("10.12.0.1:40353", 1, 300, 400);
        let stray = record("192.0.2.9:1", 1, 0, 0);
        let i = input(
            vec![a, b, stray],
            vec![reversed(b, 401, 299), reversed(a, 201, 99)],
        );
        let m = map_subflows(&i);
        assert_eq!(m.per_wan[0].len(), 1);
        assert!(m.per_wan[0][0].initial);
        assert_eq!(m.per_wan[0][0].server_sent, Some(201));
        let second = m.per_wan[1][0];
        assert!(!second.initial);
        assert_eq!((second.sent, second.received), (Some(300), Some(400)));
        assert_eq!(
            (second.server_sent, second.server_received),
            (Some(401), Some(299))
        );
        assert_eq!(m.unmapped.len(), 1);
    }

    #[test]
    fn behind_a_nat_the_port_alone_matches_when_unique() {
        let b = record("10.12.0.1:40353", 1, 300, 400);
        let mut natted = reversed(b, 1, 2);
        natted.remote = Some("203.0.113.7:40353".parse().unwrap());
        let m = map_subflows(&input(vec![b], vec![natted]));
        assert_eq!(m.per_wan[1][0].server_sent, Some(1));
        // Two candidates on that port: no guess.
        let m = map_subflows(&input(vec![b], vec![natted, natted]));
        assert_eq!(m.per_wan[1][0].server_sent, None);
    }

    #[test]
    fn without_this_hosts_view_the_servers_is_used() {
        let b = record("10.12.0.1:40353", 1, 300, 400);
        let m = map_subflows(&input(vec![], vec![reversed(b, 5, 6)]));
        let s = m.per_wan[1][0];
        assert_eq!(s.local, b.local);
        assert_eq!(s.carried(), (6, 5));
    }

    #[test]
    fn endpoints_by_address_then_by_interface() {
        let eps = vec![
            endpoint(1, "10.11.0.1", 2, &["subflow"]),
            endpoint(2, "10.12.0.9", 3, &["subflow"]),
        ];
        let w1 = wan("wan1", 2, "10.11.0.1", true);
        let w2 = wan("wan2", 3, "10.12.0.1", false);
        let w3 = wan("wan3", 4, "10.13.0.1", false);
        assert!(matches!(endpoint_for(&w1, &eps), EndpointMatch::Exact(e) if e.id == Some(1)));
        assert!(matches!(endpoint_for(&w2, &eps), EndpointMatch::Stale(e) if e.id == Some(2)));
        assert_eq!(endpoint_for(&w3, &eps), EndpointMatch::None);
    }
}
