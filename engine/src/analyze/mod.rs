//! `analyze`'s pipeline, bytes in, handshakes and verdicts out: the
//! capture [`reader`], each frame [`decode`]d, the handshakes put together
//! by [`flows`] with their [`status`], and each judged by the verdict
//! engine ([`verdict`]). [`analyze`] runs it all over a capture in memory;
//! the client's `analyze` verb runs the same steps frame by frame over a
//! stream ([`reader::CaptureReader`], [`flows::FlowLimits::STREAMING`]),
//! printing
//! as it goes.
pub mod decode;
pub mod flows;
pub mod reader;
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
