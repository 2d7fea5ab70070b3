//! Reads the frames of a pcap or pcapng capture: record by record from any
//! [`Read`] ([`CaptureReader`]: a file, a pipe, standard input) in bounded
//! memory, or from bytes held in memory ([`Capture`]).
//!
//! Both go through the same framing ([`Framing::step`]), which looks at one
//! record at the start of a window of bytes: the streaming reader keeps a
//! window of the file that holds at least the current record (one record
//! is at most [`MAX_RECORD`] bytes, so memory stays bounded whatever the
//! input), the in-memory reader's window is the rest of the file. Offsets
//! in frames and in [`Stopped`] are exact byte offsets in the file either
//! way, and a file that stops mid-record stops with the same reason.
//!
//! The record framing comes from `pcap-file`'s pcapng parser and a pcap
//! record header read here; their length checks are not applied blindly,
//! though, because a capture taken with a small snapshot length
//! legitimately has frames whose original length is above the snapshot
//! length (pcap-file 2 would refuse those).
use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::{Endianness, PcapError, TsResolution};
use std::borrow::Cow;
use std::io::{self, Read};
use std::ops::Range;
use thiserror::Error;

/// The largest record (pcap record, pcapng block) read: a file that
/// announces a longer one is damaged there (the largest snapshot length
/// any capture tool writes is 256 KiB). Bounds the streaming reader's
/// memory.
pub const MAX_RECORD: usize = 16 << 20;
/// Interface description blocks kept per pcapng section (each frame names
/// one): a file with more is damaged, and would grow memory.
pub const MAX_INTERFACES: usize = 65_536;
/// How much the streaming reader asks its input for at a time.
const READ_CHUNK: usize = 256 << 10;

pub use packet::line::Timestamp;

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
    /// Reading the first bytes failed.
    #[error("{0}")]
    Read(#[source] io::Error),
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

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// The pcap file header's length.
const PCAP_HEADER: usize = 24;
/// A pcap record header's length.
const PCAP_RECORD_HEADER: usize = 16;
/// The bytes of a pcapng block that say its length (and, for a section
/// header, the byte order).
const PCAPNG_BLOCK_HEAD: usize = 12;

fn describe(e: &PcapError) -> String {
    match e {
        PcapError::IncompleteBuffer => "the file ends inside it".to_string(),
        other => other.to_string(),
    }
}

fn u32_at(b: &[u8], at: usize, endianness: Endianness) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(match endianness {
        Endianness::Big => u32::from_be_bytes(w),
        Endianness::Little => u32::from_le_bytes(w),
    })
}

/// The format's record framing, and where it stands (pcapng: the section's
/// byte order and interfaces).
enum Framing {
    Pcap {
        linktype: u32,
        nanos: bool,
        endianness: Endianness,
    },
    PcapNg {
        parser: Box<PcapNgParser>,
        /// Byte order of the current section (for reading block lengths).
        endianness: Endianness,
    },
}

/// What the record at the start of a window is.
#[derive(Debug)]
enum Step {
    /// A frame; `used` bytes of the window were its record, `data` is
    /// where its bytes are in the window.
    Frame {
        used: usize,
        ts: Timestamp,
        linktype: u32,
        data: Range<usize>,
        orig_len: u32,
    },
    /// A record that is not a frame (pcapng blocks other than packets).
    Skip { used: usize },
    /// The record goes on past the window (and more bytes can come).
    Incomplete,
    /// The file stops making sense here.
    Stop(String),
}

/// Where `part` lies in `whole`, when it is part of it.
fn range_in(whole: &[u8], part: &[u8]) -> Option<Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= whole.len()).then_some(start..end)
}

impl Framing {
    /// Detects the format from the magic number and reads the file header
    /// at the start of `file`, which holds the whole header (or the whole
    /// file, when it is shorter). Returns the framing and the header's length.
    fn open(file: &[u8]) -> Result<(Self, usize), OpenError> {
        let Some(magic) = file.get(..4) else {
            return if file.is_empty() {
                Err(OpenError::Empty)
            } else {
                Err(OpenError::BadMagic {
                    magic: hex::encode(file),
                })
            };
        };
        if PCAP_MAGICS.iter().any(|m| m == magic) {
            let (rest, parser) = PcapParser::new(file).map_err(|e| OpenError::BadHeader {
                format: "pcap",
                reason: describe(&e),
            })?;
            let header = parser.header();
            let framing = Framing::Pcap {
                linktype: header.datalink.into(),
                nanos: header.ts_resolution == TsResolution::NanoSecond,
                endianness: header.endianness,
            };
            Ok((framing, file.len() - rest.len()))
        } else if magic == PCAPNG_MAGIC {
            let (rest, parser) = PcapNgParser::new(file).map_err(|e| OpenError::BadHeader {
                format: "pcapng",
                reason: describe(&e),
            })?;
            let endianness = parser.section().endianness;
            let framing = Framing::PcapNg {
                parser: Box::new(parser),
                endianness,
            };
            Ok((framing, file.len() - rest.len()))
        } else {
            Err(OpenError::BadMagic {
                magic: hex::encode(magic),
            })
        }
    }

    fn format(&self) -> Format {
        match self {
            Framing::Pcap { .. } => Format::Pcap,
            Framing::PcapNg { .. } => Format::PcapNg,
        }
    }

    /// Bytes the file header takes, as far as `start` (the first bytes of
    /// the file) tells: a pcapng section header says its own length.
    fn header_len(start: &[u8]) -> usize {
        if start.get(..4) == Some(&PCAPNG_MAGIC[..]) {
            pcapng_block_len(start, Endianness::Big).unwrap_or(PCAPNG_BLOCK_HEAD)
        } else {
            PCAP_HEADER
        }
    }

    /// Bytes the record at the start of `window` takes, when its header is
    /// there to say.
    fn record_len(&self, window: &[u8]) -> Option<usize> {
        match self {
            Framing::Pcap { endianness, .. } => {
                let incl = u32_at(window, 8, *endianness)?;
                Some(PCAP_RECORD_HEADER.saturating_add(incl as usize))
            }
            Framing::PcapNg { endianness, .. } => pcapng_block_len(window, *endianness),
        }
    }

    /// Frames the record at the start of `window`. `at_end`: the window
    /// holds the rest of the file, so a record that goes on past it is cut.
    fn step(&mut self, window: &[u8], at_end: bool) -> Step {
        match self {
            Framing::Pcap {
                linktype,
                nanos,
                endianness,
            } => pcap_step(window, at_end, *linktype, *nanos, *endianness),
            Framing::PcapNg { parser, endianness } => {
                pcapng_step(parser, endianness, window, at_end)
            }
        }
    }
}

/// The length of the pcapng block at the start of `window` (a section
/// header says its own byte order), when its first 12 bytes are there.
fn pcapng_block_len(window: &[u8], section: Endianness) -> Option<usize> {
    let head = window.get(..PCAPNG_BLOCK_HEAD)?;
    let endianness = if head[..4] == PCAPNG_MAGIC {
        match head[8..12] {
            [0x1a, 0x2b, 0x3c, 0x4d] => Endianness::Big,
            [0x4d, 0x3c, 0x2b, 0x1a] => Endianness::Little,
            _ => return None,
        }
    } else {
        section
    };
    u32_at(head, 4, endianness).map(|l| l as usize)
}

fn pcap_step(
    window: &[u8],
    at_end: bool,
    linktype: u32,
    nanos: bool,
    endianness: Endianness,
) -> Step {
    let field = |at| u32_at(window, at, endianness);
    let (Some(ts_sec), Some(ts_frac), Some(incl_len), Some(orig_len)) =
        (field(0), field(4), field(8), field(12))
    else {
        return if at_end {
            Step::Stop(record_cut_reason(window, endianness))
        } else {
            Step::Incomplete
        };
    };
    let end = PCAP_RECORD_HEADER.saturating_add(incl_len as usize);
    if end > PCAP_RECORD_HEADER + MAX_RECORD {
        return Step::Stop(too_long("record", incl_len as usize));
    }
    if window.len() < end {
        return if at_end {
            Step::Stop(record_cut_reason(window, endianness))
        } else {
            Step::Incomplete
        };
    }
    let frac = u64::from(ts_frac) * if nanos { 1 } else { 1000 };
    // A fraction of a second above one second is malformed; carry it
    // rather than refuse the frame.
    let ts = Timestamp {
        secs: u64::from(ts_sec) + frac / 1_000_000_000,
        nanos: (frac % 1_000_000_000) as u32,
    };
    Step::Frame {
        used: end,
        ts,
        linktype,
        data: PCAP_RECORD_HEADER..end,
        orig_len,
    }
}

fn too_long(what: &str, len: usize) -> String {
    format!("{what} of {len} bytes, more than the {MAX_RECORD} bytes any capture holds: the file is damaged here")
}

fn pcapng_step(
    parser: &mut PcapNgParser,
    section: &mut Endianness,
    window: &[u8],
    at_end: bool,
) -> Step {
    if let Some(len) = pcapng_block_len(window, *section) {
        if len > MAX_RECORD {
            return Step::Stop(too_long("pcapng block", len));
        }
    }
    let (rest, block) = match parser.next_block(window) {
        Ok(ok) => ok,
        Err(PcapError::IncompleteBuffer) if !at_end => return Step::Incomplete,
        Err(PcapError::IncompleteBuffer) => {
            let left = window.len();
            return Step::Stop(format!(
                "the file ends inside a pcapng block ({left} bytes left)"
            ));
        }
        Err(e) => return Step::Stop(format!("unreadable pcapng block: {e}")),
    };
    let used = window.len() - rest.len();
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
        Block::SectionHeader(_) => {
            *section = parser.section().endianness;
            return Step::Skip { used };
        }
        Block::InterfaceDescription(_) if parser.interfaces().len() > MAX_INTERFACES => {
            return Step::Stop(format!(
                "more than {MAX_INTERFACES} interface description blocks in a section: the file is damaged here"
            ));
        }
        _ => return Step::Skip { used },
    };
    let Some(interface) = parser.interfaces().get(interface_id as usize) else {
        return Step::Stop(format!("packet refers to interface {interface_id}, which no interface description block defined"));
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
    // The parser borrows packet data from the window.
    let Some(data) = range_in(window, &data) else {
        return Step::Stop("packet data outside its block".to_string());
    };
    Step::Frame {
        used,
        ts,
        linktype,
        data,
        orig_len,
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

/// The frame numbering and the end of reading, shared by both readers.
struct Cursor {
    next_index: u64,
    done: bool,
}

impl Cursor {
    fn stop(&mut self, offset: usize, reason: String) -> Stopped {
        self.done = true;
        Stopped {
            frame: self.next_index,
            offset,
            reason,
        }
    }

    fn take_index(&mut self) -> u64 {
        let index = self.next_index;
        self.next_index += 1;
        index
    }
}

/// Where frames come from: a capture in memory ([`Capture`]) or read as a
/// stream ([`CaptureReader`]).
pub trait FrameSource {
    fn format(&self) -> Format;
    /// The next frame, a [`Stopped`] where the file stops making sense,
    /// or `None` at its end (and after a [`Stopped`]).
    fn next_frame(&mut self) -> Option<Result<Frame<'_>, Stopped>>;
}

/// Iterates over the frames of a capture held in memory; after a
/// [`Stopped`] it ends.
pub struct Capture<'a> {
    file: &'a [u8],
    /// Offset of the next record.
    at: usize,
    framing: Framing,
    cursor: Cursor,
}

impl<'a> Capture<'a> {
    /// Detects the format from the magic number and reads the file header.
    pub fn open(file: &'a [u8]) -> Result<Self, OpenError> {
        let (framing, at) = Framing::open(file)?;
        Ok(Capture {
            file,
            at,
            framing,
            cursor: Cursor {
                next_index: 1,
                done: false,
            },
        })
    }

    pub fn format(&self) -> Format {
        self.framing.format()
    }
}

impl FrameSource for Capture<'_> {
    fn format(&self) -> Format {
        self.framing.format()
    }
    fn next_frame(&mut self) -> Option<Result<Frame<'_>, Stopped>> {
        self.next()
    }
}

impl<R: Read> FrameSource for CaptureReader<R> {
    fn format(&self) -> Format {
        self.framing.format()
    }
    fn next_frame(&mut self) -> Option<Result<Frame<'_>, Stopped>> {
        CaptureReader::next_frame(self)
    }
}

impl<'a> Iterator for Capture<'a> {
    type Item = Result<Frame<'a>, Stopped>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.cursor.done || self.at >= self.file.len() {
                return None;
            }
            let offset = self.at;
            let window = &self.file[offset..];
            match self.framing.step(window, true) {
                Step::Frame {
                    used,
                    ts,
                    linktype,
                    data,
                    orig_len,
                } => {
                    self.at += used;
                    return Some(Ok(Frame {
                        index: self.cursor.take_index(),
                        ts,
                        linktype,
                        data: Cow::Borrowed(&window[data]),
                        orig_len,
                        offset,
                    }));
                }
                Step::Skip { used } => self.at += used,
                Step::Incomplete => {
                    // Not with the whole rest of the file at hand; kept
                    // total rather than trusted.
                    let reason = "the file ends inside a record".to_string();
                    return Some(Err(self.cursor.stop(offset, reason)));
                }
                Step::Stop(reason) => return Some(Err(self.cursor.stop(offset, reason))),
            }
        }
    }
}

/// Reads the frames of a capture from a [`Read`] (a file, a pipe, standard
/// input), one record at a time, keeping at most one record's worth of the
/// file (and one read's) in memory. After a [`Stopped`] it ends.
pub struct CaptureReader<R> {
    input: R,
    /// A window of the file: `buf[start..end]` is read but not used yet;
    /// `buf[end..]` is room for the next read.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: usize,
    /// The input has no more bytes.
    eof: bool,
    framing: Framing,
    cursor: Cursor,
}

impl<R: Read> CaptureReader<R> {
    /// Reads the first bytes: the magic number (a file that is not a
    /// capture is refused after its first four bytes, however long it
    /// is), then the file header.
    pub fn open(input: R) -> Result<Self, OpenError> {
        let mut reader = CaptureReader {
            input,
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            // Replaced below, once the header is read.
            framing: Framing::Pcap {
                linktype: 0,
                nanos: false,
                endianness: Endianness::Big,
            },
            cursor: Cursor {
                next_index: 1,
                done: false,
            },
        };
        reader.fill(4).map_err(OpenError::Read)?;
        let need = match reader.window().get(..4) {
            Some(magic) if PCAP_MAGICS.iter().any(|m| m == magic) || magic == PCAPNG_MAGIC => {
                reader.fill(PCAPNG_BLOCK_HEAD).map_err(OpenError::Read)?;
                Framing::header_len(reader.window()).min(MAX_RECORD)
            }
            // Refused by Framing::open from what is there.
            _ => 0,
        };
        reader.fill(need).map_err(OpenError::Read)?;
        let (framing, used) = Framing::open(reader.window())?;
        reader.framing = framing;
        reader.start = used;
        Ok(reader)
    }

    fn window(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn format(&self) -> Format {
        self.framing.format()
    }

    /// Bytes held for the window (its allocation), for the tests of the
    /// memory bound.
    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// Byte offset of the next record in the file.
    fn offset(&self) -> usize {
        self.base + self.start
    }

    /// Reads until the window holds `need` bytes or the input ends.
    fn fill(&mut self, need: usize) -> io::Result<()> {
        while self.end - self.start < need && !self.eof {
            if self.buf.len() - self.start < need.max(READ_CHUNK) {
                // Room for the record: what is not used yet moves to the
                // front, and the buffer grows when one record needs it.
                self.buf.copy_within(self.start..self.end, 0);
                self.base += self.start;
                self.end -= self.start;
                self.start = 0;
                let room = need.max(READ_CHUNK) + READ_CHUNK;
                if self.buf.len() < room {
                    self.buf.resize(room, 0);
                }
            }
            let n = loop {
                match self.input.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.end += n;
            if n == 0 {
                self.eof = true;
            }
        }
        Ok(())
    }

    /// The next frame, a [`Stopped`] where the file stops making sense,
    /// or `None` at its end.
    pub fn next_frame(&mut self) -> Option<Result<Frame<'_>, Stopped>> {
        let (offset, used, ts, linktype, data, orig_len) = loop {
            if self.cursor.done {
                return None;
            }
            let window = self.window();
            if window.is_empty() && self.eof {
                return None;
            }
            // The whole record in the window first (as far as its header
            // says; a damaged length is caught by the framing).
            let need = match self.framing.record_len(window) {
                // Too long to be a record: the framing says so, unread.
                Some(len) if len > MAX_RECORD + PCAP_RECORD_HEADER => 0,
                Some(len) => len,
                None => PCAP_RECORD_HEADER.max(PCAPNG_BLOCK_HEAD),
            };
            if window.len() < need && !self.eof {
                if let Err(e) = self.fill(need) {
                    let offset = self.offset();
                    return Some(Err(self.cursor.stop(offset, format!("read error: {e}"))));
                }
                continue;
            }
            let offset = self.offset();
            match self.framing.step(&self.buf[self.start..self.end], self.eof) {
                Step::Frame {
                    used,
                    ts,
                    linktype,
                    data,
                    orig_len,
                } => break (offset, used, ts, linktype, data, orig_len),
                Step::Skip { used } => self.start += used,
                Step::Incomplete => {
                    // More than the record length said: read on.
                    let more = self.end - self.start + READ_CHUNK;
                    if more > MAX_RECORD + READ_CHUNK {
                        let reason = too_long("record", more);
                        return Some(Err(self.cursor.stop(offset, reason)));
                    }
                    if let Err(e) = self.fill(more) {
                        return Some(Err(self.cursor.stop(offset, format!("read error: {e}"))));
                    }
                }
                Step::Stop(reason) => return Some(Err(self.cursor.stop(offset, reason))),
            }
        };
        let record = self.start;
        self.start += used;
        Some(Ok(Frame {
            index: self.cursor.take_index(),
            ts,
            linktype,
            data: Cow::Borrowed(&self.buf[record + data.start..record + data.end]),
            orig_len,
            offset,
        }))
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

    /// Hands its bytes over a few at a time, as a pipe may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.step = self.step % 7 + 1;
            let n = self.step.min(out.len()).min(self.bytes.len());
            out[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// A frame's fields, owned: index, offset, time, link type, bytes,
    /// original length.
    type Owned = (u64, usize, Timestamp, u32, Vec<u8>, u32);
    type Frames = Result<Vec<Result<Owned, Stopped>>, OpenError>;

    /// Every frame (or where it stopped) of a capture, read by the
    /// streaming reader from `input`.
    fn stream(input: impl Read) -> Frames {
        let mut r = CaptureReader::open(input)?;
        let mut out = Vec::new();
        while let Some(item) = r.next_frame() {
            out.push(item.map(|f| {
                (
                    f.index,
                    f.offset,
                    f.ts,
                    f.linktype,
                    f.data.to_vec(),
                    f.orig_len,
                )
            }));
        }
        Ok(out)
    }

    fn in_memory(file: &[u8]) -> Frames {
        Ok(Capture::open(file)?
            .map(|item| {
                item.map(|f| {
                    (
                        f.index,
                        f.offset,
                        f.ts,
                        f.linktype,
                        f.data.to_vec(),
                        f.orig_len,
                    )
                })
            })
            .collect())
    }

    #[test]
    fn streaming_reads_what_the_in_memory_reader_reads_at_every_cut() {
        let pcap = crate::fixtures::bytes("join.client.pcap");
        let ng = as_pcapng(&crate::fixtures::bytes("v1-clean.client.pcap"));
        for file in [&pcap, &ng] {
            for cut in 0..=file.len() {
                let bytes = &file[..cut];
                let trickled = stream(Trickle { bytes, step: 0 });
                let whole = in_memory(bytes);
                match (trickled, whole) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "cut {cut}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "cut {cut}"),
                    (a, b) => panic!("cut {cut}: {a:?} against {b:?}"),
                }
            }
        }
    }

    #[test]
    fn every_fixture_streams_as_it_reads_in_memory() {
        let dir = format!("{}/../pcap-fixtures", env!("CARGO_MANIFEST_DIR"));
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path
                .extension()
                .is_none_or(|e| e != "pcap" && e != "pcapng")
            {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let file = std::fs::File::open(&path).unwrap();
            assert_eq!(
                stream(file).unwrap(),
                in_memory(&bytes).unwrap(),
                "{}",
                path.display()
            );
            files += 1;
        }
        assert!(files > 40, "{files} fixtures");
    }

    #[test]
    fn an_endless_stream_of_zeros_is_refused_at_once() {
        let e = CaptureReader::open(io::repeat(0)).err().unwrap();
        assert!(
            matches!(e, OpenError::BadMagic { ref magic } if magic == "00000000"),
            "{e}"
        );
    }

    /// A pcap header, then records made up as they are read, forever.
    struct EndlessRecords {
        header: Vec<u8>,
        record: Vec<u8>,
        at: usize,
    }

    impl Read for EndlessRecords {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let mut n = 0;
            while n < out.len() {
                let src = if self.at < self.header.len() {
                    &self.header[self.at..]
                } else {
                    let r = (self.at - self.header.len()) % self.record.len();
                    &self.record[r..]
                };
                let k = src.len().min(out.len() - n);
                out[n..n + k].copy_from_slice(&src[..k]);
                n += k;
                self.at += k;
            }
            Ok(n)
        }
    }

    fn pcap_header() -> Vec<u8> {
        let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        h
    }

    #[test]
    fn memory_stays_bounded_however_long_the_stream() {
        let mut record = Vec::new();
        for v in [1u32, 2, 1000, 1000] {
            record.extend_from_slice(&v.to_le_bytes());
        }
        record.extend_from_slice(&[0x5a; 1000]);
        let mut r = CaptureReader::open(EndlessRecords {
            header: pcap_header(),
            record,
            at: 0,
        })
        .unwrap();
        for i in 1..=50_000u64 {
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!((f.index, f.data.len()), (i, 1000));
        }
        assert!(
            r.buffered() <= 3 * READ_CHUNK,
            "{} bytes held",
            r.buffered()
        );
    }

    #[test]
    fn a_record_longer_than_any_capture_stops_without_being_read() {
        let mut record = Vec::new();
        for v in [1u32, 2, u32::MAX, u32::MAX] {
            record.extend_from_slice(&v.to_le_bytes());
        }
        let mut r = CaptureReader::open(EndlessRecords {
            header: pcap_header(),
            record,
            at: 0,
        })
        .unwrap();
        let stop = r.next_frame().unwrap().unwrap_err();
        assert_eq!((stop.frame, stop.offset), (1, 24));
        assert!(stop.reason.contains("damaged"), "{stop}");
        assert!(r.next_frame().is_none());
        assert!(r.buffered() <= 3 * READ_CHUNK);
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
