//! Reads the frames of a pcap or pcapng capture held in memory.
//!
//! The whole file is read first: analyze is an offline tool, and working on
//! one slice gives the exact byte offset where a damaged file stops making
//! sense. The record framing comes from `pcap-file`'s parsers; their length
//! checks are not applied blindly, though, because a capture taken with a
//! small snapshot length legitimately has frames whose original length is
//! above the snapshot length (pcap-file 2 would refuse those).
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{Endianness, PcapError, TsResolution};
use std::borrow::Cow;
use thiserror::Error;

/// Seconds and nanoseconds since the epoch, as the capture recorded them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timestamp {
    pub secs: u64,
    pub nanos: u32,
}

impl Timestamp {
    pub fn as_f64(self) -> f64 {
        self.secs as f64 + f64::from(self.nanos) / 1e9
    }
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// 1-based position in the file, counting every frame (as `tcpdump -#`).
    pub index: u64,
    pub ts: Timestamp,
    /// pcap LINKTYPE_* of the interface the frame was captured on.
    pub linktype: u32,
    /// The captured bytes (possibly fewer than `orig_len`: snapshot length).
    pub data: Cow<'a, [u8]>,
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// Byte offset of the frame's record in the file.
    pub offset: usize,
}

/// The file is not a capture we can read at all.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error("not a pcap or pcapng capture (file is empty)")]
    Empty,
    #[error("not a pcap or pcapng capture (first bytes {magic}, expected a pcap magic a1b2c3d4/a1b23c4d or the pcapng block type 0a0d0d0a)")]
    BadMagic { magic: String },
    #[error("damaged {format} file header: {reason}")]
    BadHeader {
        format: &'static str,
        reason: String,
    },
}

/// Where and why reading stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("capture stops at frame {frame}, byte offset {offset}: {reason}")]
pub struct Stopped {
    /// Number the next frame would have had.
    pub frame: u64,
    /// Byte offset of the record that could not be read.
    pub offset: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pcap,
    PcapNg,
}

enum Inner {
    Pcap {
        parser: PcapParser,
        linktype: u32,
        nanos: bool,
        endianness: Endianness,
    },
    PcapNg(Box<PcapNgParser>),
}

/// Iterates over the frames of a capture; after a [`Stopped`] it ends.
pub struct Capture<'a> {
    file: &'a [u8],
    rest: &'a [u8],
    inner: Inner,
    next_index: u64,
    done: bool,
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

fn describe(e: &PcapError) -> String {
    match e {
        PcapError::IncompleteBuffer => "the file ends inside it".to_string(),
        other => other.to_string(),
    }
}

impl<'a> Capture<'a> {
    /// Detects the format from the magic number and reads the file header.
    pub fn open(file: &'a [u8]) -> Result<Self, OpenError> {
        let Some(magic) = file.get(..4) else {
            return if file.is_empty() {
                Err(OpenError::Empty)
            } else {
                Err(OpenError::BadMagic {
                    magic: hex::encode(file),
                })
            };
        };
        let (rest, inner) = if PCAP_MAGICS.iter().any(|m| m == magic) {
            let (rest, parser) = PcapParser::new(file).map_err(|e| OpenError::BadHeader {
                format: "pcap",
                reason: describe(&e),
            })?;
            let header = parser.header();
            let inner = Inner::Pcap {
                linktype: header.datalink.into(),
                nanos: header.ts_resolution == TsResolution::NanoSecond,
                endianness: header.endianness,
                parser,
            };
            (rest, inner)
        } else if magic == PCAPNG_MAGIC {
            let (rest, parser) = PcapNgParser::new(file).map_err(|e| OpenError::BadHeader {
                format: "pcapng",
                reason: describe(&e),
            })?;
            (rest, Inner::PcapNg(Box::new(parser)))
        } else {
            return Err(OpenError::BadMagic {
                magic: hex::encode(magic),
            });
        };
        Ok(Capture {
            file,
            rest,
            inner,
            next_index: 1,
            done: false,
        })
    }

    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Pcap { .. } => Format::Pcap,
            Inner::PcapNg(_) => Format::PcapNg,
        }
    }

    fn offset(&self) -> usize {
        self.file.len() - self.rest.len()
    }

    fn stop(&mut self, offset: usize, reason: String) -> Option<Result<Frame<'a>, Stopped>> {
        self.done = true;
        Some(Err(Stopped {
            frame: self.next_index,
            offset,
            reason,
        }))
    }

    fn frame(
        &mut self,
        offset: usize,
        ts: Timestamp,
        linktype: u32,
        data: Cow<'a, [u8]>,
        orig_len: u32,
    ) -> Frame<'a> {
        let index = self.next_index;
        self.next_index += 1;
        Frame {
            index,
            ts,
            linktype,
            data,
            orig_len,
            offset,
        }
    }

    fn next_pcap(&mut self) -> Option<Result<Frame<'a>, Stopped>> {
        let offset = self.offset();
        let Inner::Pcap {
            parser,
            linktype,
            nanos,
            endianness,
        } = &self.inner
        else {
            return None;
        };
        let (linktype, nanos, endianness) = (*linktype, *nanos, *endianness);
        match parser.next_raw_packet(self.rest) {
            Ok((rest, raw)) => {
                self.rest = rest;
                let frac = u64::from(raw.ts_frac) * if nanos { 1 } else { 1000 };
                // A fraction of a second above one second is malformed; carry
                // it rather than refuse the frame.
                let ts = Timestamp {
                    secs: u64::from(raw.ts_sec) + frac / 1_000_000_000,
                    nanos: (frac % 1_000_000_000) as u32,
                };
                Some(Ok(self.frame(offset, ts, linktype, raw.data, raw.orig_len)))
            }
            Err(PcapError::IncompleteBuffer) => {
                let reason = record_cut_reason(self.rest, endianness);
                self.stop(offset, reason)
            }
            Err(e) => self.stop(offset, format!("unreadable record: {e}")),
        }
    }

    fn next_pcapng(&mut self) -> Option<Result<Frame<'a>, Stopped>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let offset = self.offset();
            let Inner::PcapNg(parser) = &mut self.inner else {
                return None;
            };
            let (rest, block) = match parser.next_block(self.rest) {
                Ok(ok) => ok,
                Err(PcapError::IncompleteBuffer) => {
                    let left = self.rest.len();
                    return self.stop(
                        offset,
                        format!("the file ends inside a pcapng block ({left} bytes left)"),
                    );
                }
                Err(e) => return self.stop(offset, format!("unreadable pcapng block: {e}")),
            };
            self.rest = rest;
            let (interface_id, raw_ts, data, orig_len) = match block {
                Block::EnhancedPacket(epb) => (
                    epb.interface_id,
                    // pcap-file hands the raw 64-bit timestamp over as nanoseconds;
                    // its unit is really the interface's if_tsresol.
                    Some(epb.timestamp.as_nanos() as u64),
                    epb.data,
                    epb.original_len,
                ),
                Block::SimplePacket(spb) => (0, None, spb.data, spb.original_len),
                Block::Packet(pb) => (
                    u32::from(pb.interface_id),
                    Some(pb.timestamp),
                    pb.data,
                    pb.original_len,
                ),
                _ => continue,
            };
            let Some(interface) = parser.interfaces().get(interface_id as usize) else {
                return self.stop(offset, format!("packet refers to interface {interface_id}, which no interface description block defined"));
            };
            let linktype = u32::from(interface.linktype);
            let ts = raw_ts.map_or(Timestamp::default(), |raw| {
                let resol = interface
                    .options
                    .iter()
                    .find_map(|o| match o {
                        InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                        _ => None,
                    })
                    .unwrap_or(6);
                scale_timestamp(raw, resol)
            });
            return Some(Ok(self.frame(offset, ts, linktype, data, orig_len)));
        }
    }
}

/// Why a pcap record could not be read: the record header or the data is cut.
fn record_cut_reason(rest: &[u8], endianness: Endianness) -> String {
    if rest.len() < 16 {
        return format!(
            "the file ends inside a record header ({} of 16 bytes)",
            rest.len()
        );
    }
    let b = [rest[8], rest[9], rest[10], rest[11]];
    let incl_len = match endianness {
        Endianness::Big => u32::from_be_bytes(b),
        Endianness::Little => u32::from_le_bytes(b),
    };
    format!(
        "the file ends inside a record ({} of {} data bytes present)",
        rest.len() - 16,
        incl_len
    )
}

/// Converts a pcapng timestamp in units of `if_tsresol` to seconds and nanoseconds.
fn scale_timestamp(raw: u64, resol: u8) -> Timestamp {
    let exponent = u32::from(resol & 0x7f);
    let units_per_sec: u128 = if resol & 0x80 == 0 {
        10u128.checked_pow(exponent).unwrap_or(u128::MAX)
    } else {
        1u128.checked_shl(exponent).unwrap_or(u128::MAX)
    };
    let raw = u128::from(raw);
    let secs = raw / units_per_sec;
    let nanos = (raw % units_per_sec) * 1_000_000_000 / units_per_sec;
    Timestamp {
        secs: u64::try_from(secs).unwrap_or(u64::MAX),
        nanos: nanos as u32,
    }
}

impl<'a> Iterator for Capture<'a> {
    type Item = Result<Frame<'a>, Stopped>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        match self.inner {
            Inner::Pcap { .. } => self.next_pcap(),
            Inner::PcapNg(_) => self.next_pcapng(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_resolutions() {
        assert_eq!(
            scale_timestamp(1_500_000, 6),
            Timestamp {
                secs: 1,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            scale_timestamp(2_000_000_123, 9),
            Timestamp {
                secs: 2,
                nanos: 123
            }
        );
        assert_eq!(
            scale_timestamp(3 * 1024 + 512, 0x8a),
            Timestamp {
                secs: 3,
                nanos: 500_000_000
            }
        );
        // Absurd resolutions do not panic.
        let _ = scale_timestamp(u64::MAX, 0xff);
        let _ = scale_timestamp(u64::MAX, 0x7f);
    }

    /// The frames of a pcap fixture rewritten as pcapng (Ethernet interface,
    /// nanosecond resolution), with pcap-file's writer.
    fn as_pcapng(pcap: &[u8]) -> Vec<u8> {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
        use pcap_file::pcapng::PcapNgWriter;
        let mut out = Vec::new();
        let mut w = PcapNgWriter::new(&mut out).unwrap();
        let linktype = Capture::open(pcap)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .linktype;
        w.write_block(&Block::InterfaceDescription(InterfaceDescriptionBlock {
            linktype: linktype.into(),
            snaplen: 0,
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        }))
        .unwrap();
        for f in Capture::open(pcap).unwrap() {
            let f = f.unwrap();
            let nanos = f.ts.secs * 1_000_000_000 + u64::from(f.ts.nanos);
            w.write_block(&Block::EnhancedPacket(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: std::time::Duration::from_nanos(nanos),
                original_len: f.orig_len,
                data: f.data.clone(),
                options: vec![],
            }))
            .unwrap();
        }
        out
    }

    #[test]
    fn pcapng_reads_the_same_frames_as_pcap_and_survives_every_cut() {
        let pcap = crate::fixtures::bytes("v1-clean.client.pcap");
        let ng = as_pcapng(&pcap);
        let a: Vec<_> = Capture::open(&pcap).unwrap().map(Result::unwrap).collect();
        let b: Vec<_> = Capture::open(&ng).unwrap().map(Result::unwrap).collect();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (x.index, x.ts, x.linktype, &x.data, x.orig_len),
                (y.index, y.ts, y.linktype, &y.data, y.orig_len)
            );
        }
        for cut in 0..ng.len() {
            let Ok(capture) = Capture::open(&ng[..cut]) else {
                continue;
            };
            let mut frames = 0;
            for item in capture {
                match item {
                    Ok(f) => {
                        assert_eq!(f.data, b[frames].data);
                        frames += 1;
                    }
                    Err(stop) => {
                        assert_eq!(stop.frame, frames as u64 + 1);
                        assert!(stop.offset < cut, "cut {cut}: {stop}");
                    }
                }
            }
            assert!(frames <= b.len());
        }
    }

    #[test]
    fn not_a_capture() {
        assert!(matches!(Capture::open(b""), Err(OpenError::Empty)));
        assert!(matches!(
            Capture::open(b"GIF89a..."),
            Err(OpenError::BadMagic { .. })
        ));
        assert!(matches!(
            Capture::open(b"ab"),
            Err(OpenError::BadMagic { .. })
        ));
        assert!(matches!(
            Capture::open(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]),
            Err(OpenError::BadHeader { format: "pcap", .. })
        ));
    }
}
