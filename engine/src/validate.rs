//! A malformed report is not evidence: the checks an echo server's report
//! and probe answer must pass before anything in them is believed.
//!
//! Every captured segment's `hex` must be a whole IP and TCP header whose
//! addresses, ports and sequence number are the ones listed beside it, and
//! whose option area the listed options tile exactly (kinds, lengths, and
//! the bytes where the entry holds them). The report's SYN must come from
//! its `peer` to its `local` end, its SYN/ACK go back; and where the server
//! saw this host's own address (no NAT between), it must have seen this
//! connection's port. A NAT may rewrite address and port, so a rewritten
//! address is not compared. An answer may only hold SYNs from the asking
//! connection's address (as the server saw it) with the sequence numbers
//! asked about, each SYN/ACK going back the way its SYN came.
use packet::echo::{EchoOption, EchoReport, Endpoint, ObservedSegment, ProbeAnswer};
use packet::ip::parse_ip_tcp;
use packet::json::OptionEntry;
use packet::TcpFlags;
use std::net::{IpAddr, SocketAddr};
use thiserror::Error;

/// Why a report or an answer is not evidence. Server-supplied text is
/// quoted (`{:?}`): it never reaches a terminal raw.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportError {
    #[error("{segment}: `hex` is not hexadecimal")]
    NotHex { segment: String },
    #[error("{segment}: `hex` is not a whole IP and TCP header ({why})")]
    NotHeader { segment: String, why: String },
    #[error("{segment}: `{field}` says {listed:?} but `hex` says {actual}")]
    Field {
        segment: String,
        field: &'static str,
        listed: String,
        actual: String,
    },
    #[error("{segment}: the listed options do not match those in `hex` ({why})")]
    Options { segment: String, why: String },
    #[error("{segment}: {why}")]
    Direction { segment: String, why: String },
    #[error("`{which}.addr` {addr:?} is not an IP address")]
    Address { which: &'static str, addr: String },
    #[error("it describes the connection of {reported}, but this connection is {actual}")]
    Connection { reported: String, actual: String },
    #[error("it answers for sequence number {seq}, which was not asked about")]
    Unasked { seq: u32 },
    #[error("observation of seq {seq}: its SYN came from {from}, not from this connection's address {peer}")]
    Stranger {
        seq: u32,
        from: IpAddr,
        peer: IpAddr,
    },
}

/// This connection as this host sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ends {
    /// This host's end.
    pub client: SocketAddr,
    /// The server's end.
    pub server: SocketAddr,
}

/// The fields of a segment's `hex` the checks compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    flags: TcpFlags,
}

/// An address as one family sees it: `::ffff:a.b.c.d` (a dual-stack
/// listener's view of an IPv4 peer) is `a.b.c.d`.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn endpoint(which: &'static str, e: &Endpoint) -> Result<SocketAddr, ReportError> {
    let ip: IpAddr = e.addr.parse().map_err(|_| ReportError::Address {
        which,
        addr: e.addr.clone(),
    })?;
    Ok(SocketAddr::new(canonical(ip), e.port))
}

/// Checks one captured segment against itself: `hex` parses, the listed
/// fields and options are those of `hex`.
fn segment(name: &str, seg: &ObservedSegment) -> Result<Header, ReportError> {
    let named = || name.to_string();
    let bytes = hex::decode(&seg.hex).map_err(|_| ReportError::NotHex { segment: named() })?;
    let view = parse_ip_tcp(&bytes).map_err(|e| ReportError::NotHeader {
        segment: named(),
        why: e.to_string(),
    })?;
    let Some(flags) = view.flags else {
        return Err(ReportError::NotHeader {
            segment: named(),
            why: "the TCP header is cut short".into(),
        });
    };
    if view.tcp_missing > 0 {
        return Err(ReportError::NotHeader {
            segment: named(),
            why: format!("{} bytes of the TCP header missing", view.tcp_missing),
        });
    }
    let header = Header {
        src: SocketAddr::new(canonical(view.src()), view.src_port),
        dst: SocketAddr::new(canonical(view.dst()), view.dst_port),
        seq: view.seq,
        flags,
    };
    let field = |field, listed: String, actual: String| ReportError::Field {
        segment: named(),
        field,
        listed,
        actual,
    };
    let same_ip = |listed: &str, actual: SocketAddr| {
        listed
            .parse::<IpAddr>()
            .is_ok_and(|ip| canonical(ip) == actual.ip())
    };
    if !same_ip(&seg.src, header.src) {
        return Err(field("src", seg.src.clone(), header.src.ip().to_string()));
    }
    if !same_ip(&seg.dst, header.dst) {
        return Err(field("dst", seg.dst.clone(), header.dst.ip().to_string()));
    }
    if seg.sport != header.src.port() {
        return Err(field(
            "sport",
            seg.sport.to_string(),
            header.src.port().to_string(),
        ));
    }
    if seg.dport != header.dst.port() {
        return Err(field(
            "dport",
            seg.dport.to_string(),
            header.dst.port().to_string(),
        ));
    }
    if seg.seq != header.seq {
        return Err(field("seq", seg.seq.to_string(), header.seq.to_string()));
    }
    options(&seg.options, view.options).map_err(|why| ReportError::Options {
        segment: named(),
        why,
    })?;
    Ok(header)
}

/// The entry's length on the wire.
fn entry_len(option: &EchoOption) -> Option<usize> {
    match option {
        EchoOption::Summary(o) => Some(o.len),
        EchoOption::Json(OptionEntry::Option(o)) => Some(o.len),
        EchoOption::Json(OptionEntry::Unframed(_)) => option.wire_bytes().map(|b| b.len()),
    }
}

/// The listed options must tile `area` exactly: each entry's kind is the
/// byte at its offset, its bytes (where it holds them) are those of the
/// area, and together they end where the area does. Only what every form
/// of every server version lists is compared (no names, no texts).
fn options(listed: &[EchoOption], area: &[u8]) -> Result<(), String> {
    let mut at: usize = 0;
    for (i, option) in listed.iter().enumerate() {
        let len = entry_len(option)
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("option {i} has no length"))?;
        let bytes = area
            .get(at..at.saturating_add(len))
            .ok_or_else(|| format!("option {i} runs past the option area"))?;
        if let Some(kind) = option.kind() {
            if bytes[0] != kind {
                return Err(format!(
                    "option {i} is kind {kind}, the area has {}",
                    bytes[0]
                ));
            }
        }
        if let Some(wire) = option.wire_bytes() {
            if wire != bytes {
                return Err(format!("option {i}'s bytes differ"));
            }
        }
        at += len;
    }
    if at != area.len() {
        return Err(format!(
            "the listed options cover {at} of {} bytes",
            area.len()
        ));
    }
    Ok(())
}

fn direction(name: &str, h: &Header, src: SocketAddr, dst: SocketAddr) -> Result<(), ReportError> {
    if h.src == src && h.dst == dst {
        Ok(())
    } else {
        Err(ReportError::Direction {
            segment: name.to_string(),
            why: format!(
                "it goes from {} to {}, not from {src} to {dst}",
                h.src, h.dst
            ),
        })
    }
}

fn flags(name: &str, h: &Header, syn_ack: bool) -> Result<(), ReportError> {
    if h.flags.syn() && h.flags.has(TcpFlags::ACK) == syn_ack {
        Ok(())
    } else {
        Err(ReportError::Direction {
            segment: name.to_string(),
            why: format!(
                "flags [{}] are not a {}",
                h.flags,
                if syn_ack { "SYN/ACK" } else { "SYN" }
            ),
        })
    }
}

/// Checks a report received over the connection `ends`.
pub fn report(report: &EchoReport, ends: &Ends) -> Result<(), ReportError> {
    let peer = endpoint("peer", &report.peer)?;
    let local = endpoint("local", &report.local)?;
    let client = SocketAddr::new(canonical(ends.client.ip()), ends.client.port());
    let server = SocketAddr::new(canonical(ends.server.ip()), ends.server.port());
    // Where an address arrived unchanged, so did its port: a NAT that
    // rewrites ports rewrites the address too.
    let rewritten = |seen: SocketAddr, ours: SocketAddr| seen.ip() == ours.ip() && seen != ours;
    if rewritten(peer, client) || rewritten(local, server) {
        return Err(ReportError::Connection {
            reported: format!("{peer} -> {local}"),
            actual: format!("{client} -> {server}"),
        });
    }
    if let Some(syn) = &report.syn {
        let h = segment("syn", syn)?;
        flags("syn", &h, false)?;
        direction("syn", &h, peer, local)?;
    }
    if let Some(syn_ack) = &report.syn_ack {
        let h = segment("syn_ack", syn_ack)?;
        flags("syn_ack", &h, true)?;
        direction("syn_ack", &h, local, peer)?;
    }
    Ok(())
}

/// Checks an answer to a query for `asked`, on a connection whose report
/// gave `peer` (this host's end as the server saw it).
pub fn answer(answer: &ProbeAnswer, peer: &Endpoint, asked: &[u32]) -> Result<(), ReportError> {
    let peer = endpoint("peer", peer)?.ip();
    for o in &answer.observations {
        let name = format!("observation of seq {}", o.syn.seq);
        let syn = segment(&name, &o.syn)?;
        flags(&name, &syn, false)?;
        if !asked.contains(&syn.seq) {
            return Err(ReportError::Unasked { seq: syn.seq });
        }
        if syn.src.ip() != peer {
            return Err(ReportError::Stranger {
                seq: syn.seq,
                from: syn.src.ip(),
                peer,
            });
        }
        if let Some(sa) = &o.syn_ack {
            let name = format!("{name}'s SYN/ACK");
            let h = segment(&name, sa)?;
            flags(&name, &h, true)?;
            direction(&name, &h, syn.dst, syn.src)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
