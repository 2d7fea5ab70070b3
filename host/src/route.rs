//! Default routes of every routing table, over rtnetlink (`RTM_GETROUTE`
//! dump), as `ip route show table all` lists them: a router in
//! OpenMPTCProuter's layout keeps each WAN's default route in a table of
//! its own (`ip rule add from WAN_ADDR table N`), and only the primary WAN
//! in `main`, so "the WANs" are the interfaces of every default route in
//! any table.
//!
//! The request and the parsing are pure functions over bytes (fixtures in
//! the tests); [`default_routes`] is the socket edge, on
//! [`netsys::netlink`]. The message framing is [`crate::netlink`]'s.
use crate::netlink::{error_code, parse_attrs, parse_messages, NetlinkError};
use netsys::netlink::{NetlinkSocket, NETLINK_ROUTE};
use packet::error::{Layer, LenError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const NLMSG_HDR_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
/// `struct rtmsg`: family, dst_len, src_len, tos, table, protocol, scope,
/// type (one byte each), flags (u32).
const RTMSG_LEN: usize = 12;
const RTN_UNICAST: u8 = 1;
/// The kernel's own table of local and broadcast addresses.
const RT_TABLE_LOCAL: u32 = 255;
const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
/// `struct rtnexthop`: len (u16), flags, hops (u8), ifindex (i32).
const RTNH_LEN: usize = 8;
/// A dump of every table of a busy router is a few hundred messages.
const MAX_DATAGRAMS: usize = 4096;
const RECV_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// One default route (destination length 0, unicast), in any table but
/// the local one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    /// `AF_INET` or `AF_INET6`.
    pub family: u8,
    /// The table (254 is `main`).
    pub table: u32,
    /// Outgoing interfaces: one, or each next hop of a multipath route.
    pub oifs: Vec<u32>,
    pub gateway: Option<IpAddr>,
    /// The preferred source address (`src` in `ip route`).
    pub prefsrc: Option<IpAddr>,
    pub metric: Option<u32>,
}

/// The dump request for the routes of `family` (`AF_UNSPEC` for both).
pub fn build_dump_request(seq: u32, family: u8) -> Vec<u8> {
    let len = NLMSG_HDR_LEN + RTMSG_LEN;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.push(family);
    m.extend_from_slice(&[0u8; RTMSG_LEN - 1]);
    m
}

fn addr(family: u8, b: &[u8]) -> Option<IpAddr> {
    match (i32::from(family), b.len()) {
        (libc::AF_INET, 4) => <[u8; 4]>::try_from(b)
            .ok()
            .map(|a| Ipv4Addr::from(a).into()),
        (libc::AF_INET6, 16) => <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| Ipv6Addr::from(a).into()),
        _ => None,
    }
}

fn u32_of(b: &[u8]) -> Option<u32> {
    b.get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
}

/// The next hops of an `RTA_MULTIPATH` attribute: (ifindex, gateway).
fn next_hops(family: u8, mut area: &[u8]) -> Result<Vec<(u32, Option<IpAddr>)>, NetlinkError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while area.len() >= RTNH_LEN {
        let len = usize::from(u16::from_ne_bytes([area[0], area[1]]));
        if len < RTNH_LEN || len > area.len() {
            return Err(NetlinkError::Truncated(LenError {
                what: "rtnexthop",
                layer: Layer::Netlink,
                offset,
                have: area.len(),
                need: len.max(RTNH_LEN),
            }));
        }
        let ifindex = u32::from_ne_bytes([area[4], area[5], area[6], area[7]]);
        let gateway = parse_attrs(&area[RTNH_LEN..len])?
            .iter()
            .find(|a| a.kind == RTA_GATEWAY)
            .and_then(|a| addr(family, a.payload));
        out.push((ifindex, gateway));
        let step = ((len + 3) & !3).min(area.len());
        area = &area[step..];
        offset += step;
    }
    Ok(out)
}

/// The default route in one `RTM_NEWROUTE` payload, or `None` for any
/// other route (a prefix, a local/broadcast/blackhole route, the local table).
pub fn parse_route(payload: &[u8]) -> Result<Option<DefaultRoute>, NetlinkError> {
    LenError::check(payload, "struct rtmsg", Layer::Netlink, 0, RTMSG_LEN)?;
    let (family, dst_len, table8, kind) = (payload[0], payload[1], payload[4], payload[7]);
    if dst_len != 0 || kind != RTN_UNICAST {
        return Ok(None);
    }
    let mut route = DefaultRoute {
        family,
        table: u32::from(table8),
        oifs: Vec::new(),
        gateway: None,
        prefsrc: None,
        metric: None,
    };
    for a in parse_attrs(&payload[RTMSG_LEN..])? {
        match a.kind {
            // The u8 in rtmsg holds only tables up to 255.
            RTA_TABLE => route.table = u32_of(a.payload).unwrap_or(route.table),
            RTA_OIF => route.oifs.extend(u32_of(a.payload)),
            RTA_GATEWAY => route.gateway = addr(family, a.payload),
            RTA_PREFSRC => route.prefsrc = addr(family, a.payload),
            RTA_PRIORITY => route.metric = u32_of(a.payload),
            RTA_MULTIPATH => {
                for (oif, gateway) in next_hops(family, a.payload)? {
                    route.oifs.push(oif);
                    route.gateway = route.gateway.or(gateway);
                }
            }
            _ => {}
        }
    }
    if route.table == RT_TABLE_LOCAL {
        return Ok(None);
    }
    Ok(Some(route))
}

/// The default routes in a dump's datagrams (those answering `seq`); `true`
/// once the dump is complete.
pub fn parse_dump(
    datagram: &[u8],
    seq: u32,
    out: &mut Vec<DefaultRoute>,
) -> Result<bool, NetlinkError> {
    for m in parse_messages(datagram)? {
        if m.seq != seq {
            continue;
        }
        match m.kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = -error_code(m.payload)?;
                if errno == 0 {
                    return Ok(true);
                }
                return Err(NetlinkError::Kernel {
                    errno,
                    message: std::io::Error::from_raw_os_error(errno).to_string(),
                });
            }
            RTM_NEWROUTE => out.extend(parse_route(m.payload)?),
            _ => {}
        }
    }
    Ok(false)
}

/// Every default route of every table of the calling thread's network
/// namespace, for `family` (`libc::AF_INET`, `libc::AF_INET6`, or
/// `libc::AF_UNSPEC` for both). Needs no privilege.
pub fn default_routes(family: u8) -> Result<Vec<DefaultRoute>, NetlinkError> {
    let io = |what: &str, e: std::io::Error| NetlinkError::Io(format!("{what}: {e}"));
    let socket = NetlinkSocket::open(NETLINK_ROUTE, Some(RECV_TIMEOUT))
        .map_err(|e| io("socket(AF_NETLINK, NETLINK_ROUTE)", e))?;
    let seq = 1;
    socket
        .send(&build_dump_request(seq, family))
        .map_err(|e| io("send(RTM_GETROUTE)", e))?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    for _ in 0..MAX_DATAGRAMS {
        let n = socket
            .recv(&mut buf)
            .map_err(|e| io("recv(RTM_GETROUTE)", e))?;
        if parse_dump(&buf[..n], seq, &mut out)? {
            return Ok(out);
        }
    }
    Err(NetlinkError::Io("route dump never ended".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize((v.len() + 3) & !3, 0);
        v
    }

    /// An RTM_NEWROUTE payload as the kernel sends it for
    /// `default via 10.12.0.254 dev wan2 table 2` (ifindex 3).
    fn route(dst_len: u8, table: u8, kind: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut p = vec![2, dst_len, 0, 0, table, 3, 0, kind, 0, 0, 0, 0];
        for a in attrs {
            p.extend_from_slice(a);
        }
        p
    }

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn request_layout() {
        let r = build_dump_request(7, 2);
        assert_eq!(r.len(), 28);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 28);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), RTM_GETROUTE);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), 0x301);
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
        assert_eq!(r[16], 2);
    }

    #[test]
    fn a_default_route_in_its_own_table() {
        let p = route(
            0,
            2,
            RTN_UNICAST,
            &[
                attr(RTA_TABLE, &2u32.to_ne_bytes()),
                attr(RTA_GATEWAY, &[10, 12, 0, 254]),
                attr(RTA_OIF, &3u32.to_ne_bytes()),
            ],
        );
        let r = parse_route(&p).unwrap().unwrap();
        assert_eq!(r.table, 2);
        assert_eq!(r.oifs, [3]);
        assert_eq!(r.gateway, Some("10.12.0.254".parse().unwrap()));
        assert_eq!(r.prefsrc, None);
    }

    #[test]
    fn tables_beyond_255_come_from_rta_table() {
        let p = route(
            0,
            252,
            RTN_UNICAST,
            &[
                attr(RTA_TABLE, &1000u32.to_ne_bytes()),
                attr(RTA_PREFSRC, &[10, 12, 0, 1]),
            ],
        );
        let r = parse_route(&p).unwrap().unwrap();
        assert_eq!(r.table, 1000);
        assert_eq!(r.prefsrc, Some("10.12.0.1".parse().unwrap()));
    }

    #[test]
    fn other_routes_are_not_default_routes() {
        let oif = attr(RTA_OIF, &3u32.to_ne_bytes());
        assert_eq!(
            parse_route(&route(24, 254, RTN_UNICAST, std::slice::from_ref(&oif))).unwrap(),
            None
        );
        // local / blackhole types, and the local table.
        assert_eq!(
            parse_route(&route(0, 254, 2, std::slice::from_ref(&oif))).unwrap(),
            None
        );
        assert_eq!(
            parse_route(&route(0, 254, 6, std::slice::from_ref(&oif))).unwrap(),
            None
        );
        assert_eq!(
            parse_route(&route(0, 255, RTN_UNICAST, &[oif])).unwrap(),
            None
        );
        assert!(parse_route(&[2, 0, 0]).is_err());
    }

    #[test]
    fn multipath_routes_name_every_next_hop() {
        let mut hops = Vec::new();
        for (ifindex, gw) in [(3u32, [10, 11, 0, 254]), (4, [10, 12, 0, 254])] {
            let gw = attr(RTA_GATEWAY, &gw);
            hops.extend_from_slice(&((8 + gw.len()) as u16).to_ne_bytes());
            hops.extend_from_slice(&[0, 0]);
            hops.extend_from_slice(&ifindex.to_ne_bytes());
            hops.extend_from_slice(&gw);
        }
        let p = route(0, 254, RTN_UNICAST, &[attr(RTA_MULTIPATH, &hops)]);
        let r = parse_route(&p).unwrap().unwrap();
        assert_eq!(r.oifs, [3, 4]);
        assert_eq!(r.gateway, Some("10.11.0.254".parse().unwrap()));
        // A next hop whose length runs past the attribute.
        let mut bad = hops.clone();
        bad[0] = 200;
        assert!(parse_route(&route(0, 254, RTN_UNICAST, &[attr(RTA_MULTIPATH, &bad)])).is_err());
    }

    #[test]
    fn a_dump_ends_with_done_and_ignores_other_sequences() {
        let ok = route(0, 254, RTN_UNICAST, &[attr(RTA_OIF, &2u32.to_ne_bytes())]);
        let mut d = message(RTM_NEWROUTE, 9, &ok);
        d.extend(message(RTM_NEWROUTE, 8, &ok));
        let mut out = Vec::new();
        assert!(!parse_dump(&d, 9, &mut out).unwrap());
        assert_eq!(out.len(), 1);
        assert!(parse_dump(&message(NLMSG_DONE, 9, &[0; 4]), 9, &mut out).unwrap());
        let err = message(NLMSG_ERROR, 9, &(-1i32).to_ne_bytes());
        assert!(matches!(
            parse_dump(&err, 9, &mut out),
            Err(NetlinkError::Kernel { errno: 1, .. })
        ));
        for cut in 0..d.len() {
            let _ = parse_dump(&d[..cut], 9, &mut Vec::new());
        }
    }

    #[test]
    fn reads_this_namespaces_routes() {
        // Whatever this machine has, the dump completes; loopback routes
        // are in the local table and never listed.
        let routes = default_routes(libc::AF_UNSPEC as u8).unwrap();
        assert!(routes.iter().all(|r| r.table != RT_TABLE_LOCAL));
    }
}
