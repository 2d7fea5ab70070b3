//! `analyze`'s pipeline, bytes in, handshakes and verdicts out: the
//! capture [`reader`], each frame [`decode`]d, the handshakes put together
//! by [`flows`] with their [`status`], `mptcp-probe check`'s own runs
//! recognised ([`runs`]), and each judged by the verdict engine
//! ([`verdict`]). [`analyze`] runs it all over a capture in memory;
//! the client's `analyze` verb runs the same steps frame by frame over a
//! stream ([`reader::CaptureReader`], [`flows::FlowLimits::STREAMING`]),
//! printing
//! as it goes.
pub mod decode;
pub mod flows;
pub mod reader;
pub mod runs;
pub mod status;
pub mod verdict;

use decode::{facts, frame_content, option_list, FrameContent};
use flows::{FlowTracker, Handshake};
use reader::{Capture, Format, OpenError, Stopped};
use verdict::{judge_all, Judgement, Side};

/// Everything a capture gave.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub format: Format,
    /// Frames read (up to where the file stops making sense).
    pub frames: u64,
    pub tcp_packets: u64,
    /// Where and why reading stopped before the end of the file.
    pub stopped: Option<Stopped>,
    /// Link types whose frames were skipped, in order of appearance.
    pub unsupported_links: Vec<u32>,
    pub handshakes: Vec<Handshake>,
    /// One per handshake: `None` for those that did not try MPTCP.
    pub judgements: Vec<Option<Judgement>>,
}

/// Decodes a whole pcap or pcapng capture and judges every handshake in
/// it, the capture taken from `side`. Never panics, whatever the bytes.
pub fn analyze(capture: &[u8], side: Side) -> Result<Analysis, OpenError> {
    let reader = Capture::open(capture)?;
    let format = reader.format();
    let mut frames = 0;
    let mut tcp_packets = 0;
    let mut stopped = None;
    let mut unsupported_links = Vec::new();
    let mut tracker = FlowTracker::new();
    for item in reader {
        let frame = match item {
            Ok(frame) => frame,
            Err(stop) => {
                stopped = Some(stop);
                break;
            }
        };
        frames += 1;
        match frame_content(&frame) {
            FrameContent::Tcp(seg) => {
                tcp_packets += 1;
                if let Some(f) = facts(&frame, &seg, option_list(&seg).as_ref()) {
                    tracker.push(&f);
                }
            }
            FrameContent::UnsupportedLink(linktype) => {
                if !unsupported_links.contains(&linktype) {
                    unsupported_links.push(linktype);
                }
            }
            FrameContent::Other | FrameContent::Undecodable(_) => {}
        }
    }
    let handshakes = tracker.finish();
    let judgements = judge_all(&handshakes, side);
    Ok(Analysis {
        format,
        frames,
        tcp_packets,
        stopped,
        unsupported_links,
        handshakes,
        judgements,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::bytes as fixture;
    use packet::verdict::VerdictCode;

    fn codes(a: &Analysis) -> Vec<Option<VerdictCode>> {
        a.judgements
            .iter()
            .map(|j| j.as_ref().map(|j| j.verdict.code))
            .collect()
    }

    #[test]
    fn a_stripping_router_upstream_of_the_server_capture() {
        let a = analyze(&fixture("lab-strip-up-r1.server.pcap"), Side::Auto).unwrap();
        assert_eq!(a.format, Format::Pcap);
        assert!(a.stopped.is_none());
        assert!(a.tcp_packets > 0 && a.tcp_packets <= a.frames);
        assert_eq!(a.handshakes.len(), a.judgements.len());
        assert_eq!(codes(&a)[0], Some(VerdictCode::StrippedUpstream));
        assert_eq!(a.judgements[0].as_ref().unwrap().side, Side::Server);
    }

    #[test]
    fn a_clean_capture_is_mptcp_ok() {
        let a = analyze(&fixture("v1-clean.client.pcap"), Side::Client).unwrap();
        assert_eq!(codes(&a), vec![Some(VerdictCode::MptcpOk)]);
        assert!(a.handshakes[0].status.is_mptcp());
    }

    /// The capture as `editcap -s SNAPLEN` leaves it (classic pcap):
    /// every record cut to `snaplen` bytes, its original length kept.
    pub(crate) fn snap(bytes: &[u8], snaplen: u32) -> Vec<u8> {
        let le = bytes[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || bytes[..4] == [0x4d, 0x3c, 0xb2, 0xa1];
        let u32_at = |b: &[u8], at: usize| {
            let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            if le {
                u32::from_le_bytes(a)
            } else {
                u32::from_be_bytes(a)
            }
        };
        let put = |v: u32| if le { v.to_le_bytes() } else { v.to_be_bytes() };
        let mut out = bytes[..24].to_vec();
        out[16..20].copy_from_slice(&put(snaplen));
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let incl = u32_at(bytes, at + 8) as usize;
            let keep = incl.min(snaplen as usize);
            let mut header = bytes[at..at + 16].to_vec();
            header[8..12].copy_from_slice(&put(keep as u32));
            out.extend_from_slice(&header);
            out.extend_from_slice(&bytes[at + 16..at + 16 + keep]);
            at += 16 + incl;
        }
        out
    }

    #[test]
    fn checks_own_handshakes_get_checks_verdict() {
        // The lab's clean run: the kernel connection, then the crafted v1,
        // v0 and plain SYNs, each reset by the client's kernel.
        let a = analyze(&fixture("lab-clean.client.pcap"), Side::Auto).unwrap();
        assert_eq!(
            codes(&a),
            vec![
                Some(VerdictCode::MptcpOk),
                Some(VerdictCode::MptcpOk),
                Some(VerdictCode::MptcpOk),
                None
            ],
            "the v0 probe is check's own, not this host speaking v0"
        );
        let j = a.judgements[2].as_ref().unwrap();
        assert_eq!(j.run, Some(1));
        assert!(
            j.verdict
                .evidence
                .iter()
                .any(|e| e.contains("v0 probe in v0 was ignored: expected, this host speaks v1")),
            "{:?}",
            j.verdict
        );
        // Nothing the capture cannot show: no sysctl of the server.
        for j in a.judgements.iter().flatten() {
            let all = format!("{:?}", j.verdict);
            assert!(!all.contains("net.mptcp.enabled"), "{all}");
            assert!(!all.contains("CAP_NET_RAW"), "{all}");
        }
    }

    #[test]
    fn a_snaplen_cut_syn_is_options_not_captured() {
        // As `editcap -s 60` leaves an Ethernet capture: 6 of the SYN's 20
        // option bytes, MP_CAPABLE gone.
        let cut = snap(&fixture("lab-clean.client.pcap"), 60);
        let a = analyze(&cut, Side::Auto).unwrap();
        assert_eq!(a.handshakes.len(), 4);
        for (h, j) in a.handshakes.iter().zip(&a.judgements) {
            assert_eq!(h.status.code(), "options_not_captured", "#{}", h.id);
            assert!(!h.status.to_string().contains("plain TCP"), "#{}", h.id);
            let j = j.as_ref().expect("judged: it may have tried MPTCP");
            assert_eq!(j.verdict.code, VerdictCode::Inconclusive);
            assert_eq!(j.verdict.rule, "options_not_captured");
            assert!(j.verdict.summary.starts_with("options not captured"));
        }
        // Cut after the options: nothing changes.
        let whole = snap(&fixture("lab-clean.client.pcap"), 200);
        let a = analyze(&whole, Side::Auto).unwrap();
        assert_eq!(codes(&a)[0], Some(VerdictCode::MptcpOk));
    }

    #[test]
    fn not_a_capture_is_an_open_error() {
        assert!(matches!(analyze(b"", Side::Auto), Err(OpenError::Empty)));
    }

    #[test]
    fn every_cut_of_a_capture_is_analyzed_up_to_the_cut() {
        let bytes = fixture("join.client.pcap");
        let full = analyze(&bytes, Side::Auto).unwrap();
        for cut in 24..bytes.len() {
            let a = analyze(&bytes[..cut], Side::Auto).unwrap();
            assert!(a.frames <= full.frames, "cut {cut}");
            assert!(a.handshakes.len() <= full.handshakes.len(), "cut {cut}");
            if let Some(stop) = &a.stopped {
                assert!(stop.offset < cut, "cut {cut}: {stop}");
            }
        }
    }
}
