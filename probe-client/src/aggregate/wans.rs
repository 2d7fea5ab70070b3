//! Which WANs this router has, and the address each one's traffic leaves
//! from.
//!
//! Without `-i`: every interface with a default route in any routing table
//! (OpenMPTCProuter keeps one table per WAN, only the primary one in
//! `main`), and every `subflow` endpoint's device. The source address of a
//! WAN is what the kernel picks for the server through that interface
//! (policy routing with `ip rule oif WAN table N`), else its endpoint's
//! address, else its default route's `src`.
use crate::net::error::NetError;
use crate::net::source::select_source;
use host::route::DefaultRoute;
use packet::echo::PmEndpoint;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// One WAN to test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WanPlan {
    pub name: String,
    pub ifindex: Option<u32>,
    pub source: Option<IpAddr>,
    /// Tables with a default route through it.
    pub tables: Vec<u32>,
    pub initial: bool,
    /// Why it cannot be probed (no such interface, no address).
    pub error: Option<String>,
}

/// The interfaces to test, by index: default routes' and `subflow`
/// endpoints' devices (pure: the caller gives routes, endpoints and names).
pub fn candidates(
    routes: &[DefaultRoute],
    endpoints: &[PmEndpoint],
    name_of: impl Fn(u32) -> Option<String>,
) -> Vec<(u32, String)> {
    let mut found: BTreeMap<u32, String> = BTreeMap::new();
    let oifs = routes.iter().flat_map(|r| r.oifs.iter().copied());
    let endpoint_devs = endpoints
        .iter()
        .filter(|e| e.flags.iter().any(|f| f == "subflow"))
        .filter_map(|e| e.ifindex.and_then(|i| u32::try_from(i).ok()));
    for index in oifs.chain(endpoint_devs) {
        if found.contains_key(&index) {
            continue;
        }
        if let Some(name) = name_of(index).filter(|n| n != "lo") {
            found.insert(index, name);
        }
    }
    found.into_iter().collect()
}

/// The tables whose default route goes through `ifindex`.
pub fn tables_of(routes: &[DefaultRoute], ifindex: u32) -> Vec<u32> {
    let mut t: Vec<u32> = routes
        .iter()
        .filter(|r| r.oifs.contains(&ifindex))
        .map(|r| r.table)
        .collect();
    t.sort_unstable();
    t.dedup();
    t
}

/// The source address of one WAN for `dest` (see the module documentation).
fn source_of(
    name: &str,
    ifindex: u32,
    dest: IpAddr,
    routes: &[DefaultRoute],
    endpoints: &[PmEndpoint],
) -> Result<IpAddr, String> {
    let same_family = |a: &IpAddr| a.is_ipv4() == dest.is_ipv4();
    let routed = select_source(dest, None, Some(name));
    if let Ok(a) = routed {
        return Ok(a);
    }
    let endpoint = endpoints
        .iter()
        .filter(|e| e.ifindex.and_then(|i| u32::try_from(i).ok()) == Some(ifindex))
        .filter_map(|e| e.addr.as_deref()?.parse::<IpAddr>().ok())
        .find(same_family);
    let prefsrc = routes
        .iter()
        .filter(|r| r.oifs.contains(&ifindex))
        .filter_map(|r| r.prefsrc)
        .find(same_family);
    endpoint.or(prefsrc).ok_or_else(|| match routed {
        Err(e) => format!("no source address for {dest} through {name}: {e}"),
        Ok(_) => format!("no source address for {dest} through {name}"),
    })
}

/// The WANs to test: those named with `-i`, or every candidate; the one
/// whose address is `initial_source` carries the initial subflow.
pub fn discover(
    interfaces: &[String],
    dest: IpAddr,
    endpoints: &[PmEndpoint],
    initial_source: Option<IpAddr>,
) -> Result<(Vec<WanPlan>, Vec<String>), NetError> {
    let mut notes = Vec::new();
    let family = if dest.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    } as u8;
    let routes = match host::route::default_routes(family) {
        Ok(r) => r,
        Err(e) => {
            notes.push(format!("cannot read the routing tables: {e}"));
            Vec::new()
        }
    };
    let chosen: Vec<(Option<u32>, String)> = if interfaces.is_empty() {
        candidates(&routes, endpoints, |i| netsys::iface::name_of(i).ok())
            .into_iter()
            .map(|(i, n)| (Some(i), n))
            .collect()
    } else {
        interfaces
            .iter()
            .map(|n| (netsys::iface::index_of(n).ok(), n.clone()))
            .collect()
    };
    let mut wans = Vec::new();
    for (ifindex, name) in chosen {
        let mut plan = WanPlan {
            name: name.clone(),
            ifindex,
            source: None,
            tables: ifindex.map_or_else(Vec::new, |i| tables_of(&routes, i)),
            initial: false,
            error: None,
        };
        match ifindex {
            None => plan.error = Some(format!("no such interface {name}")),
            Some(i) => match source_of(&name, i, dest, &routes, endpoints) {
                Ok(a) => plan.source = Some(a),
                Err(e) => plan.error = Some(e),
            },
        }
        plan.initial = plan.source.is_some() && plan.source == initial_source;
        wans.push(plan);
    }
    if wans.is_empty() {
        return Err(NetError::io(
            "finding the WANs",
            std::io::Error::other(
                "no interface has a default route and no endpoint has the subflow flag; name them with -i",
            ),
        ));
    }
    if let Some(s) = initial_source {
        if !wans.iter().any(|w| w.initial) {
            notes.push(format!(
                "the initial subflow leaves from {s}, the address of none of the WANs tested"
            ));
        }
    }
    Ok((wans, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(table: u32, oifs: &[u32]) -> DefaultRoute {
        DefaultRoute {
            family: 2,
            table,
            oifs: oifs.to_vec(),
            gateway: None,
            prefsrc: None,
            metric: None,
        }
    }

    fn endpoint(ifindex: i32, flags: &[&str]) -> PmEndpoint {
        PmEndpoint {
            id: Some(1),
            addr: Some("10.13.0.1".into()),
            port: None,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            ifindex: Some(ifindex),
        }
    }

    #[test]
    fn default_routes_of_every_table_and_subflow_endpoints() {
        let routes = [
            route(254, &[2]),
            route(1, &[2]),
            route(2, &[3]),
            route(254, &[1]),
        ];
        let endpoints = [endpoint(4, &["subflow"]), endpoint(5, &["signal"])];
        let names = |i: u32| {
            Some(if i == 1 {
                "lo".to_string()
            } else {
                format!("wan{}", i - 1)
            })
        };
        let c = candidates(&routes, &endpoints, names);
        assert_eq!(
            c,
            vec![
                (2, "wan1".to_string()),
                (3, "wan2".to_string()),
                (4, "wan3".to_string())
            ]
        );
        assert_eq!(tables_of(&routes, 2), vec![1, 254]);
        assert!(tables_of(&routes, 9).is_empty());
    }

    #[test]
    fn an_interface_without_a_name_is_left_out() {
        let c = candidates(&[route(254, &[7])], &[], |_| None);
        assert!(c.is_empty());
    }
}
