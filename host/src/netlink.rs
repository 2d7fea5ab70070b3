//! Generic netlink, family `mptcp_pm`: the path manager's limits and
//! endpoints, as `ip mptcp limits show` / `ip mptcp endpoint show` print them.
//!
//! Message building and parsing are pure functions over bytes (unit-tested
//! with fixtures); [`PmSocket`] is the thin socket edge, on
//! [`netsys::netlink`].
use netsys::netlink::{NetlinkSocket, NETLINK_GENERIC};
use packet::echo::{PmEndpoint, PmLimits};
use packet::error::{Layer, LenError};
use std::net::{Ipv4Addr, Ipv6Addr};
use thiserror::Error;

const NLMSG_HDR_LEN: usize = 16;
const GENL_HDR_LEN: usize = 4;
const NLA_HDR_LEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLA_TYPE_MASK: u16 = 0x3fff;
/// How long one answer may take before the exchange fails.
const RECV_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

pub const MPTCP_PM_NAME: &str = "mptcp_pm";
const MPTCP_PM_VER: u8 = 1;
const MPTCP_PM_CMD_GET_ADDR: u8 = 3;
const MPTCP_PM_CMD_GET_LIMITS: u8 = 6;
const MPTCP_PM_ATTR_ADDR: u16 = 1;
const MPTCP_PM_ATTR_RCV_ADD_ADDRS: u16 = 2;
const MPTCP_PM_ATTR_SUBFLOWS: u16 = 3;
const MPTCP_PM_ADDR_ATTR_FAMILY: u16 = 1;
const MPTCP_PM_ADDR_ATTR_ID: u16 = 2;
const MPTCP_PM_ADDR_ATTR_ADDR4: u16 = 3;
const MPTCP_PM_ADDR_ATTR_ADDR6: u16 = 4;
const MPTCP_PM_ADDR_ATTR_PORT: u16 = 5;
const MPTCP_PM_ADDR_ATTR_FLAGS: u16 = 6;
const MPTCP_PM_ADDR_ATTR_IF_IDX: u16 = 7;

/// Endpoint flag bits and the names `ip mptcp endpoint` prints.
const ENDPOINT_FLAGS: [(u32, &str); 6] = [
    (1, "signal"),
    (2, "subflow"),
    (4, "backup"),
    (8, "fullmesh"),
    (16, "implicit"),
    (32, "laminar"),
];

/// What was wrong with a netlink exchange.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetlinkError {
    /// A header, or a message or attribute by its length, runs past the
    /// end of the bytes received.
    #[error(transparent)]
    Truncated(#[from] LenError),
    #[error(
        "netlink message at offset {offset} has invalid length {len} (below the 16-byte header)"
    )]
    BadMessageLength { offset: usize, len: usize },
    #[error("attribute at offset {offset} has invalid length {len} (below the 4-byte header)")]
    BadAttrLength { offset: usize, len: usize },
    #[error("attribute {attr} has {len} bytes, expected {expected}")]
    BadAttrValue {
        attr: u16,
        len: usize,
        expected: usize,
    },
    #[error("the kernel answered error {errno} ({message})")]
    Kernel { errno: i32, message: String },
    #[error("generic netlink family {0:?} not found (no MPTCP path manager in this kernel)")]
    NoFamily(String),
    #[error("the kernel sent no answer to {0}")]
    NoAnswer(&'static str),
    #[error("{0}")]
    Io(String),
}

/// One netlink attribute: type (flags masked off) and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    pub kind: u16,
    pub payload: &'a [u8],
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Splits an attribute area into attributes.
pub fn parse_attrs(mut area: &[u8]) -> Result<Vec<Attr<'_>>, NetlinkError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while !area.is_empty() {
        let short = |what, need| {
            NetlinkError::Truncated(LenError {
                what,
                layer: Layer::Netlink,
                offset,
                have: area.len(),
                need,
            })
        };
        if area.len() < NLA_HDR_LEN {
            return Err(short("netlink attribute header", NLA_HDR_LEN));
        }
        let len = usize::from(u16::from_ne_bytes([area[0], area[1]]));
        let kind = u16::from_ne_bytes([area[2], area[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDR_LEN {
            return Err(NetlinkError::BadAttrLength { offset, len });
        }
        if len > area.len() {
            return Err(short("netlink attribute", len));
        }
        out.push(Attr {
            kind,
            payload: &area[NLA_HDR_LEN..len],
        });
        let step = align4(len).min(area.len());
        area = &area[step..];
        offset += step;
    }
    Ok(out)
}

fn attr_u32(a: &Attr<'_>) -> Result<u32, NetlinkError> {
    fixed::<4>(a).map(u32::from_ne_bytes)
}

fn fixed<const N: usize>(a: &Attr<'_>) -> Result<[u8; N], NetlinkError> {
    a.payload
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or(NetlinkError::BadAttrValue {
            attr: a.kind,
            len: a.payload.len(),
            expected: N,
        })
}

/// One netlink message: header type and flags, and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into netlink messages.
pub fn parse_messages(mut buf: &[u8]) -> Result<Vec<Message<'_>>, NetlinkError> {
    let mut out = Vec::new();
    let mut offset = 0;
    while !buf.is_empty() {
        let short = |what, need| {
            NetlinkError::Truncated(LenError {
                what,
                layer: Layer::Netlink,
                offset,
                have: buf.len(),
                need,
            })
        };
        if buf.len() < NLMSG_HDR_LEN {
            return Err(short("netlink message header", NLMSG_HDR_LEN));
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDR_LEN {
            return Err(NetlinkError::BadMessageLength { offset, len });
        }
        if len > buf.len() {
            return Err(short("netlink message", len));
        }
        out.push(Message {
            kind: u16::from_ne_bytes([buf[4], buf[5]]),
            flags: u16::from_ne_bytes([buf[6], buf[7]]),
            seq: u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[NLMSG_HDR_LEN..len],
        });
        let step = align4(len).min(buf.len());
        buf = &buf[step..];
        offset += step;
    }
    Ok(out)
}

/// The error code of an `NLMSG_ERROR` payload (0 is an acknowledgement).
pub fn error_code(payload: &[u8]) -> Result<i32, NetlinkError> {
    LenError::check(payload, "NLMSG_ERROR code", Layer::Netlink, 0, 4)?;
    Ok(i32::from_ne_bytes([
        payload[0], payload[1], payload[2], payload[3],
    ]))
}

/// The attributes after the generic netlink header of a message payload.
pub fn genl_attrs(payload: &[u8]) -> Result<Vec<Attr<'_>>, NetlinkError> {
    LenError::check(
        payload,
        "generic netlink header",
        Layer::Netlink,
        0,
        GENL_HDR_LEN,
    )?;
    parse_attrs(&payload[GENL_HDR_LEN..])
}

/// Builds one generic netlink request.
pub fn build_request(
    family: u16,
    flags: u16,
    seq: u32,
    cmd: u8,
    version: u8,
    attrs: &[(u16, &[u8])],
) -> Vec<u8> {
    let mut msg = vec![0u8; NLMSG_HDR_LEN];
    msg.extend_from_slice(&[cmd, version, 0, 0]);
    for (kind, payload) in attrs {
        let len = NLA_HDR_LEN + payload.len();
        msg.extend_from_slice(&(len as u16).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(payload);
        msg.resize(align4(msg.len()), 0);
    }
    let total = msg.len() as u32;
    msg[0..4].copy_from_slice(&total.to_ne_bytes());
    msg[4..6].copy_from_slice(&family.to_ne_bytes());
    msg[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    msg[8..12].copy_from_slice(&seq.to_ne_bytes());
    msg
}

/// The family id in a CTRL_CMD_GETFAMILY answer.
pub fn parse_family_id(payload: &[u8]) -> Result<Option<u16>, NetlinkError> {
    for a in genl_attrs(payload)? {
        if a.kind == CTRL_ATTR_FAMILY_ID {
            return fixed::<2>(&a).map(|b| Some(u16::from_ne_bytes(b)));
        }
    }
    Ok(None)
}

/// The limits in a GET_LIMITS answer.
pub fn parse_limits(payload: &[u8]) -> Result<PmLimits, NetlinkError> {
    let mut limits = PmLimits {
        subflows: None,
        add_addr_accepted: None,
    };
    for a in genl_attrs(payload)? {
        match a.kind {
            MPTCP_PM_ATTR_SUBFLOWS => limits.subflows = Some(attr_u32(&a)?),
            MPTCP_PM_ATTR_RCV_ADD_ADDRS => limits.add_addr_accepted = Some(attr_u32(&a)?),
            _ => {}
        }
    }
    Ok(limits)
}

/// The endpoint in one GET_ADDR dump message (`None` when it has no
/// MPTCP_PM_ATTR_ADDR).
pub fn parse_endpoint(payload: &[u8]) -> Result<Option<PmEndpoint>, NetlinkError> {
    let Some(addr) = genl_attrs(payload)?
        .into_iter()
        .find(|a| a.kind == MPTCP_PM_ATTR_ADDR)
    else {
        return Ok(None);
    };
    let mut ep = PmEndpoint {
        id: None,
        addr: None,
        port: None,
        flags: Vec::new(),
        ifindex: None,
    };
    for a in parse_attrs(addr.payload)? {
        match a.kind {
            MPTCP_PM_ADDR_ATTR_FAMILY => {}
            MPTCP_PM_ADDR_ATTR_ID => ep.id = Some(fixed::<1>(&a)?[0]),
            MPTCP_PM_ADDR_ATTR_ADDR4 => ep.addr = Some(Ipv4Addr::from(fixed::<4>(&a)?).to_string()),
            MPTCP_PM_ADDR_ATTR_ADDR6 => {
                ep.addr = Some(Ipv6Addr::from(fixed::<16>(&a)?).to_string())
            }
            // Host order: the kernel puts ntohs(port) (checked against a
            // real kernel in the namespace tests).
            MPTCP_PM_ADDR_ATTR_PORT => ep.port = Some(u16::from_ne_bytes(fixed::<2>(&a)?)),
            MPTCP_PM_ADDR_ATTR_FLAGS => ep.flags = flag_names(attr_u32(&a)?),
            MPTCP_PM_ADDR_ATTR_IF_IDX => ep.ifindex = Some(i32::from_ne_bytes(fixed::<4>(&a)?)),
            _ => {}
        }
    }
    Ok(Some(ep))
}

/// Names of endpoint flag bits; unknown bits as one `0x..` entry.
pub fn flag_names(bits: u32) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = bits;
    for (bit, name) in ENDPOINT_FLAGS {
        if bits & bit != 0 {
            names.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        names.push(format!("{rest:#x}"));
    }
    names
}

/// A generic netlink socket talking to the `mptcp_pm` family of the calling
/// thread's network namespace (the namespace is fixed at open).
pub struct PmSocket {
    socket: NetlinkSocket,
    family: u16,
    seq: u32,
}

impl PmSocket {
    /// Opens the socket and resolves the family id. Reading needs no
    /// privilege (only changes do).
    pub fn open() -> Result<Self, NetlinkError> {
        let socket = NetlinkSocket::open(NETLINK_GENERIC, Some(RECV_TIMEOUT))
            .map_err(|e| io_error("socket(AF_NETLINK)", e))?;
        let mut sock = PmSocket {
            socket,
            family: GENL_ID_CTRL,
            seq: 0,
        };
        let mut name = MPTCP_PM_NAME.as_bytes().to_vec();
        name.push(0);
        let answers = sock.exchange(
            GENL_ID_CTRL,
            0,
            CTRL_CMD_GETFAMILY,
            1,
            &[(CTRL_ATTR_FAMILY_NAME, &name)],
        );
        let answers = match answers {
            Err(NetlinkError::Kernel { errno, .. }) if errno == libc::ENOENT => {
                return Err(NetlinkError::NoFamily(MPTCP_PM_NAME.into()))
            }
            other => other?,
        };
        let family = answers
            .iter()
            .find_map(|p| parse_family_id(p).ok().flatten())
            .ok_or_else(|| NetlinkError::NoFamily(MPTCP_PM_NAME.into()))?;
        sock.family = family;
        Ok(sock)
    }

    /// `ip mptcp limits show`.
    pub fn limits(&mut self) -> Result<PmLimits, NetlinkError> {
        let answers = self.exchange(self.family, 0, MPTCP_PM_CMD_GET_LIMITS, MPTCP_PM_VER, &[])?;
        let first = answers
            .first()
            .ok_or(NetlinkError::NoAnswer("MPTCP_PM_CMD_GET_LIMITS"))?;
        parse_limits(first)
    }

    /// `ip mptcp endpoint show`.
    pub fn endpoints(&mut self) -> Result<Vec<PmEndpoint>, NetlinkError> {
        let answers = self.exchange(
            self.family,
            NLM_F_DUMP,
            MPTCP_PM_CMD_GET_ADDR,
            MPTCP_PM_VER,
            &[],
        )?;
        let mut out = Vec::new();
        for payload in &answers {
            if let Some(ep) = parse_endpoint(payload)? {
                out.push(ep);
            }
        }
        Ok(out)
    }

    /// Sends one request and collects the payloads of the answers until the
    /// acknowledgement (or the end of a dump).
    fn exchange(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        version: u8,
        attrs: &[(u16, &[u8])],
    ) -> Result<Vec<Vec<u8>>, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let req = build_request(family, flags | NLM_F_ACK, seq, cmd, version, attrs);
        self.socket
            .send(&req)
            .map_err(|e| io_error("send(netlink)", e))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        // Bounded: a dump of endpoints is small; stop after many datagrams.
        for _ in 0..1024 {
            let n = self
                .socket
                .recv(&mut buf)
                .map_err(|e| io_error("recv(netlink)", e))?;
            for m in parse_messages(&buf[..n])? {
                if m.seq != seq {
                    continue;
                }
                match m.kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = -error_code(m.payload)?;
                        if errno == 0 {
                            return Ok(out);
                        }
                        return Err(NetlinkError::Kernel {
                            errno,
                            message: std::io::Error::from_raw_os_error(errno).to_string(),
                        });
                    }
                    _ => out.push(m.payload.to_vec()),
                }
            }
        }
        Err(NetlinkError::Io("netlink answer never ended".into()))
    }
}

fn io_error(what: &str, e: std::io::Error) -> NetlinkError {
    NetlinkError::Io(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = ((NLA_HDR_LEN + payload.len()) as u16)
            .to_ne_bytes()
            .to_vec();
        v.extend_from_slice(&kind.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(align4(v.len()), 0);
        v
    }

    fn genl(cmd: u8, attrs: &[u8]) -> Vec<u8> {
        let mut v = vec![cmd, 1, 0, 0];
        v.extend_from_slice(attrs);
        v
    }

    #[test]
    fn request_layout() {
        let r = build_request(0x10, 0, 7, 3, 1, &[(2, b"mptcp_pm\0")]);
        assert_eq!(r.len(), 16 + 4 + 4 + 12);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()), 36);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), 0x10);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), NLM_F_REQUEST);
        assert_eq!(u32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
        assert_eq!(&r[16..20], &[3, 1, 0, 0]);
        let attrs = genl_attrs(&r[16..]).unwrap();
        assert_eq!(attrs[0].kind, 2);
        assert_eq!(attrs[0].payload, b"mptcp_pm\0");
    }

    #[test]
    fn limits_fixture() {
        let mut a = attr(MPTCP_PM_ATTR_RCV_ADD_ADDRS, &2u32.to_ne_bytes());
        a.extend(attr(MPTCP_PM_ATTR_SUBFLOWS, &8u32.to_ne_bytes()));
        let l = parse_limits(&genl(6, &a)).unwrap();
        assert_eq!(l.subflows, Some(8));
        assert_eq!(l.add_addr_accepted, Some(2));
    }

    fn endpoint_fixture() -> Vec<u8> {
        let mut inner = attr(MPTCP_PM_ADDR_ATTR_FAMILY, &2u16.to_ne_bytes());
        inner.extend(attr(MPTCP_PM_ADDR_ATTR_ID, &[3]));
        inner.extend(attr(MPTCP_PM_ADDR_ATTR_ADDR4, &[10, 0, 1, 2]));
        inner.extend(attr(MPTCP_PM_ADDR_ATTR_PORT, &6101u16.to_ne_bytes()));
        inner.extend(attr(
            MPTCP_PM_ADDR_ATTR_FLAGS,
            &(1u32 | 4 | 0x100).to_ne_bytes(),
        ));
        inner.extend(attr(MPTCP_PM_ADDR_ATTR_IF_IDX, &5i32.to_ne_bytes()));
        genl(3, &attr(MPTCP_PM_ATTR_ADDR | 0x8000, &inner))
    }

    #[test]
    fn endpoint_fixture_decodes() {
        let ep = parse_endpoint(&endpoint_fixture()).unwrap().unwrap();
        assert_eq!(ep.id, Some(3));
        assert_eq!(ep.addr.as_deref(), Some("10.0.1.2"));
        assert_eq!(ep.port, Some(6101));
        assert_eq!(ep.flags, vec!["signal", "backup", "0x100"]);
        assert_eq!(ep.ifindex, Some(5));
    }

    #[test]
    fn ipv6_endpoint() {
        let mut inner = attr(MPTCP_PM_ADDR_ATTR_ID, &[1]);
        inner.extend(attr(
            MPTCP_PM_ADDR_ATTR_ADDR6,
            &"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
        ));
        let ep = parse_endpoint(&genl(3, &attr(MPTCP_PM_ATTR_ADDR, &inner)))
            .unwrap()
            .unwrap();
        assert_eq!(ep.addr.as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn every_truncation_is_an_error_or_shorter_result_never_a_panic() {
        let full = endpoint_fixture();
        for cut in 0..full.len() {
            let _ = parse_endpoint(&full[..cut]);
        }
        // Cutting inside the outer attribute header or its declared length
        // must be an error.
        for cut in 5..full.len() {
            if align4(cut) != cut || cut < full.len() {
                assert!(parse_endpoint(&full[..cut]).is_err(), "cut {cut}");
            }
        }
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert_eq!(
            parse_attrs(&[2, 0, 1, 0]),
            Err(NetlinkError::BadAttrLength { offset: 0, len: 2 })
        );
        let past_end = parse_attrs(&[8, 0, 1, 0, 0]).unwrap_err();
        assert_eq!(
            past_end,
            NetlinkError::Truncated(LenError {
                what: "netlink attribute",
                layer: Layer::Netlink,
                offset: 0,
                have: 5,
                need: 8
            })
        );
        assert_eq!(
            past_end.to_string(),
            "netlink attribute: 5 bytes at offset 0, need 8"
        );
        assert!(matches!(
            parse_attrs(&[8, 0]),
            Err(NetlinkError::Truncated(LenError {
                need: 4,
                have: 2,
                ..
            }))
        ));
        let mut short_id = attr(MPTCP_PM_ADDR_ATTR_ADDR4, &[10, 0]);
        short_id = genl(3, &attr(MPTCP_PM_ATTR_ADDR, &short_id));
        assert!(matches!(
            parse_endpoint(&short_id),
            Err(NetlinkError::BadAttrValue {
                expected: 4,
                len: 2,
                ..
            })
        ));
    }

    #[test]
    fn messages_split() {
        let a = build_request(20, 0, 1, 6, 1, &[]);
        let mut two = a.clone();
        two.extend_from_slice(&a);
        let m = parse_messages(&two).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].kind, 20);
        assert!(matches!(
            parse_messages(&two[..two.len() - 1]),
            Err(NetlinkError::Truncated(LenError {
                what: "netlink message",
                offset,
                ..
            })) if offset == a.len()
        ));
        let mut tiny = a.clone();
        tiny[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert_eq!(
            parse_messages(&tiny),
            Err(NetlinkError::BadMessageLength { offset: 0, len: 8 })
        );
        assert!(matches!(
            error_code(&[0, 0]),
            Err(NetlinkError::Truncated(LenError { need: 4, .. }))
        ));
    }

    #[test]
    fn talks_to_this_kernel() {
        match PmSocket::open() {
            Ok(mut s) => {
                let l = s.limits().unwrap();
                assert!(l.subflows.is_some());
                s.endpoints().unwrap();
            }
            Err(e) => println!("skipped: no mptcp_pm netlink family here: {e}"),
        }
    }
}
