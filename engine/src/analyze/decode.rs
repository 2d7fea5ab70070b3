//! One captured frame to what the handshake analysis needs: the link layer
//! peeled off, the IP and TCP headers parsed, the options framed, and the
//! [`PacketFacts`] the flow tracker reads.
use super::flows::{JoinFacts, PacketFacts};
use super::reader::Frame;
use packet::ip::{parse_ip_tcp, IpError, TcpSegment};
use packet::link::LinkError;
use packet::mptcp::{JoinBody, MptcpOption};
use packet::{OptionList, TcpOption};
use std::net::SocketAddr;

/// What a frame holds, as far as the analysis is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameContent<'a> {
    /// A TCP segment (its headers possibly cut by the snapshot length).
    Tcp(TcpSegment<'a>),
    /// Not TCP, not IP, or too short to tell: counted, not decoded.
    Other,
    /// A link type we cannot peel (its frames are skipped).
    UnsupportedLink(u32),
    /// IP carrying TCP whose headers make no sense.
    Undecodable(IpError),
}

/// Peels the link layer and parses IP and TCP.
pub fn frame_content<'a>(frame: &'a Frame<'_>) -> FrameContent<'a> {
    let ip = match packet::link::ip_payload(frame.linktype, &frame.data) {
        Ok(ip) => ip,
        Err(LinkError::Unsupported(linktype)) => return FrameContent::UnsupportedLink(linktype),
        Err(_) => return FrameContent::Other,
    };
    match parse_ip_tcp(ip) {
        Ok(seg) => FrameContent::Tcp(seg),
        Err(
            IpError::NotTcp { .. }
            | IpError::NonFirstFragment { .. }
            | IpError::UnknownVersion { .. }
            | IpError::Empty,
        ) => FrameContent::Other,
        Err(e) => FrameContent::Undecodable(e),
    }
}

/// The option area, when the header got as far as the data offset and
/// has one.
pub fn option_list<'a>(seg: &TcpSegment<'a>) -> Option<OptionList<'a>> {
    let data_offset = seg.data_offset?;
    if data_offset <= 5 {
        return None;
    }
    Some(OptionList::parse(seg.options, seg.flags))
}

/// What the flow tracker needs from one segment (`None`: its flags were
/// not captured).
pub fn facts(
    frame: &Frame<'_>,
    seg: &TcpSegment<'_>,
    options: Option<&OptionList<'_>>,
) -> Option<PacketFacts> {
    let flags = seg.flags?;
    let mut mp_capable = None;
    let mut mp_join = None;
    let mut tcprst_reason = None;
    let mut any_mptcp = false;
    for m in options.map(OptionList::mptcp).into_iter().flatten() {
        any_mptcp |= !matches!(m, MptcpOption::Invalid { .. });
        match m {
            MptcpOption::MpCapable(c) if mp_capable.is_none() => mp_capable = Some(*c),
            MptcpOption::MpJoin(j) if mp_join.is_none() => {
                let token = match j.body() {
                    JoinBody::Syn { token, .. } => Some(token),
                    _ => None,
                };
                mp_join = Some(JoinFacts { token });
            }
            MptcpOption::MpTcpRst(r) if tcprst_reason.is_none() => tcprst_reason = Some(r.reason),
            _ => {}
        }
    }
    Some(PacketFacts {
        index: frame.index,
        ts: frame.ts.as_f64(),
        src: SocketAddr::new(seg.src(), seg.src_port),
        dst: SocketAddr::new(seg.dst(), seg.dst_port),
        flags,
        seq: seg.seq,
        ack: seg.ack.unwrap_or(0),
        mp_capable,
        mp_join,
        tcprst_reason,
        payload_len: seg.payload_len.unwrap_or(seg.payload.len()),
        any_mptcp,
        nop_run: options.map_or(0, longest_nop_run),
        options: if flags.syn() {
            seg.options.to_vec()
        } else {
            Vec::new()
        },
        ttl: seg.ttl(),
        options_cut: seg.tcp_missing > 0 && seg.data_offset.is_some_and(|d| d > 5),
    })
}

fn longest_nop_run(list: &OptionList<'_>) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for o in &list.options {
        run = if matches!(o, TcpOption::Nop) {
            run + 1
        } else {
            0
        };
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::reader::{Capture, Timestamp};
    use crate::fixtures::bytes as fixture;
    use std::borrow::Cow;

    fn frame(linktype: u32, data: &[u8]) -> Frame<'_> {
        Frame {
            index: 1,
            ts: Timestamp::default(),
            linktype,
            data: Cow::Borrowed(data),
            orig_len: data.len() as u32,
            offset: 24,
        }
    }

    #[test]
    fn frames_are_sorted_by_what_they_hold() {
        assert_eq!(
            frame_content(&frame(147, &[0x45])),
            FrameContent::UnsupportedLink(147)
        );
        // LINKTYPE_RAW (101): no IP version nibble, another protocol.
        assert_eq!(frame_content(&frame(101, &[])), FrameContent::Other);
        let mut udp = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
        udp.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0, 8, 0, 0]);
        assert_eq!(frame_content(&frame(101, &udp)), FrameContent::Other);
        let mut bad_ihl = udp.clone();
        bad_ihl[0] = 0x44;
        bad_ihl[9] = 6;
        assert!(matches!(
            frame_content(&frame(101, &bad_ihl)),
            FrameContent::Undecodable(IpError::BadIhl { ihl: 4 })
        ));
    }

    #[test]
    fn facts_of_a_stripped_syn_and_an_mptcp_syn() {
        // At the server behind a stripping router, the SYN's MP_CAPABLE
        // is four NOPs; at the client it is there.
        for (name, mptcp, nops) in [
            ("lab-strip-up-r1.server.pcap", false, 4),
            ("v1-clean.client.pcap", true, 1),
        ] {
            let bytes = fixture(name);
            let first = Capture::open(&bytes).unwrap().next().unwrap().unwrap();
            let FrameContent::Tcp(seg) = frame_content(&first) else {
                panic!("{name}: the first frame is the SYN");
            };
            let list = option_list(&seg);
            let f = facts(&first, &seg, list.as_ref()).unwrap();
            assert!(f.flags.is_syn_only(), "{name}");
            assert_eq!(f.mp_capable.is_some(), mptcp, "{name}");
            assert_eq!(f.any_mptcp, mptcp, "{name}");
            assert_eq!(f.nop_run, nops, "{name}");
            assert_eq!(f.options, seg.options, "{name}: a SYN keeps its options");
            assert_eq!(f.index, 1);
        }
    }

    #[test]
    fn a_header_without_options_has_no_list() {
        let bytes = fixture("v1-clean.client.pcap");
        for frame in Capture::open(&bytes).unwrap() {
            let frame = frame.unwrap();
            let FrameContent::Tcp(seg) = frame_content(&frame) else {
                continue;
            };
            assert_eq!(
                option_list(&seg).is_some(),
                seg.data_offset.is_some_and(|d| d > 5)
            );
        }
    }
}
