//! One captured TCP segment as `analyze` prints it: tcpdump's text line
//! (with its relative sequence numbers) or the JSON packet line, written
//! into one reused buffer and handed to the output in one copy.
//!
//! This is the hot loop of `analyze` (one line per packet, millions per
//! capture); it lives in this crate, not in the client or the engine, so
//! the release profile's per-package `opt-level = 3` for this crate covers
//! it while the rest of the router binary stays optimised for size. For
//! the same reason nothing here is generic over the writer (a generic
//! function is compiled in the crate that uses it): lines are returned as
//! bytes.
use crate::ip::{PairKey, TcpSegment};
use crate::json::OptionListView;
use crate::text::{push_u64, push_u64_padded};
use crate::{OptionList, TcpFlags, TcpOption};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

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

/// `YYYY-MM-DD HH:MM:SS.uuuuuu` in UTC, as `TZ=GMT0 tcpdump -tttt` prints
/// it: 26 bytes built without the formatting machinery (it is on every
/// packet line). Years past 9999 print modulo 10000.
pub fn ts_text(ts: Timestamp) -> [u8; 26] {
    let days = (ts.secs / 86_400) as i64;
    let rem = ts.secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut out = *b"0000-00-00 00:00:00.000000";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y.rem_euclid(10_000) as u64);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, rem / 3600);
    put(14, 2, rem / 60 % 60);
    put(17, 2, rem % 60);
    put(20, 6, u64::from(ts.nanos / 1000) % 1_000_000);
    out
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (the era-based
/// method: 400-year eras of 146097 days, years starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// tcpdump's relative sequence numbers: the first segment with ACK of a
/// connection (normally the SYN/ACK), and every SYN with ACK, records both
/// initial sequence numbers and is printed absolute; later segments print
/// `seq - base`. Segments without ACK always print absolute.
///
/// Bounded: past [`RelativeSeq::MAX`] directions, the half used longest ago
/// is forgotten ([`RelativeSeq::take_forgotten`] says how many, for a note):
/// their later segments print absolute until a SYN/ACK comes again
/// (tcpdump remembers every connection).
#[derive(Debug, Default)]
pub struct RelativeSeq {
    /// Keyed by (sender, receiver): base of the sender's and the receiver's
    /// numbers, and when the entry was last used.
    bases: HashMap<PairKey, (u32, u32, u64)>,
    /// Calls so far (the clock of "last used").
    tick: u64,
    forgotten: usize,
}

impl RelativeSeq {
    /// Directions remembered at most (two per connection).
    pub const MAX: usize = 1 << 16;

    /// The (seq, ack) to print for a segment.
    pub fn apply(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        flags: TcpFlags,
        seq: u32,
        ack: u32,
    ) -> (u32, u32) {
        if !flags.ack() {
            return (seq, ack);
        }
        self.tick += 1;
        let tick = self.tick;
        if !flags.syn() {
            if let Some((own, peer, used)) = self.bases.get_mut(&PairKey::new(src, dst)) {
                *used = tick;
                return (seq.wrapping_sub(*own), ack.wrapping_sub(*peer));
            }
        }
        let peer = ack.wrapping_sub(1);
        self.bases.insert(PairKey::new(src, dst), (seq, peer, tick));
        self.bases.insert(PairKey::new(dst, src), (peer, seq, tick));
        if self.bases.len() > Self::MAX {
            self.forget_oldest_half();
        }
        (seq, ack)
    }

    fn forget_oldest_half(&mut self) {
        let mut ticks: Vec<u64> = self.bases.values().map(|v| v.2).collect();
        let mid = ticks.len() / 2;
        let (_, &mut cut, _) = ticks.select_nth_unstable(mid);
        let before = self.bases.len();
        self.bases.retain(|_, v| v.2 > cut);
        self.forgotten += before - self.bases.len();
    }

    /// Directions forgotten since the last call.
    pub fn take_forgotten(&mut self) -> usize {
        std::mem::take(&mut self.forgotten)
    }
}

/// The decoded option area and whether it was cut.
pub struct DecodedOptions<'a> {
    pub list: OptionList<'a>,
    /// The header was cut inside the option area.
    pub cut: bool,
}

/// The text mode's per-packet state: relative sequence numbers, and the
/// one line buffer every packet line is built in (digits written by hand,
/// no formatter, no `String` per packet) before it goes to the output in
/// one copy.
#[derive(Debug, Default)]
pub struct PacketText {
    pub rel: RelativeSeq,
    line: Vec<u8>,
}

impl PacketText {
    /// One tcpdump-like line for a segment, newline included. Returns the
    /// line rather than writing it: a function generic over the writer
    /// would be compiled in the caller's crate, at the caller's
    /// optimisation level.
    pub fn text_line(
        &mut self,
        index: u64,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        opts: Option<&DecodedOptions<'_>>,
    ) -> &[u8] {
        self.line.clear();
        packet_line_body(&mut self.line, index, ts, seg, opts, &mut self.rel);
        self.line.push(b'\n');
        &self.line
    }

    /// The segment's JSON line ([`PacketLine`]), newline included; empty
    /// when its flags were not captured. Serialized here with serde_json's
    /// compact formatter rather than the client's terminal-safe one: every
    /// string of a packet line is ASCII this crate produced (flag letters,
    /// option names, hex, addresses), so there is nothing to escape, and
    /// the serializer is compiled with this crate.
    pub fn json_line(
        &mut self,
        index: u64,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        opts: Option<&DecodedOptions<'_>>,
    ) -> &[u8] {
        self.line.clear();
        if let Some(packet) = packet_json(index, ts, seg, opts) {
            // Writing into a Vec cannot fail, and every value here
            // serializes (no map with non-string keys, no NaN).
            if serde_json::to_writer(&mut self.line, &packet).is_ok() {
                self.line.push(b'\n');
            } else {
                self.line.clear();
            }
        }
        &self.line
    }
}

fn push_addr(line: &mut Vec<u8>, addr: IpAddr, port: u16) {
    match addr {
        IpAddr::V4(a) => {
            for (i, octet) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    line.push(b'.');
                }
                push_u64(line, u64::from(octet));
            }
        }
        IpAddr::V6(a) => {
            let _ = write!(line, "{a}");
        }
    }
    line.push(b'.');
    push_u64(line, u64::from(port));
}

/// tcpdump's flag letters (`TcpFlags`'s `Display`).
fn push_flags(line: &mut Vec<u8>, flags: TcpFlags) {
    const LETTERS: [(u8, u8); 7] = [
        (TcpFlags::FIN, b'F'),
        (TcpFlags::SYN, b'S'),
        (TcpFlags::RST, b'R'),
        (TcpFlags::PSH, b'P'),
        (TcpFlags::URG, b'U'),
        (TcpFlags::CWR, b'W'),
        (TcpFlags::ECE, b'E'),
    ];
    let start = line.len();
    for (bit, letter) in LETTERS {
        if flags.has(bit) {
            line.push(letter);
        }
    }
    if flags.ack() {
        line.push(b'.');
    }
    if line.len() == start {
        line.extend_from_slice(b"none");
    }
}

fn packet_line_body(
    line: &mut Vec<u8>,
    index: u64,
    ts: Timestamp,
    seg: &TcpSegment<'_>,
    opts: Option<&DecodedOptions<'_>>,
    rel: &mut RelativeSeq,
) {
    push_u64_padded(line, index, 5);
    line.extend_from_slice(b"  ");
    line.extend_from_slice(&ts_text(ts));
    line.extend_from_slice(if seg.version() == 6 {
        b" IP6 "
    } else {
        b" IP "
    });
    push_addr(line, seg.src(), seg.src_port);
    line.extend_from_slice(b" > ");
    push_addr(line, seg.dst(), seg.dst_port);
    line.extend_from_slice(b": ");
    let (Some(flags), Some(ack), Some(window), Some(data_offset)) =
        (seg.flags, seg.ack, seg.window, seg.data_offset)
    else {
        line.extend_from_slice(b"[|tcp]");
        return;
    };
    let header_len = usize::from(data_offset) * 4;
    if header_len < 20 {
        let _ = write!(
            line,
            "Flags [{flags}], [bad hdr length {header_len} - too short, < 20]"
        );
        return;
    }
    let src = SocketAddr::new(seg.src(), seg.src_port);
    let dst = SocketAddr::new(seg.dst(), seg.dst_port);
    let (seq, ack) = rel.apply(src, dst, flags, seg.seq, ack);
    let payload_len = seg.payload_len.unwrap_or(seg.payload.len());
    line.extend_from_slice(b"Flags [");
    push_flags(line, flags);
    line.push(b']');
    if payload_len > 0 || flags.has(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST) {
        line.extend_from_slice(b", seq ");
        push_u64(line, u64::from(seq));
        if payload_len > 0 {
            line.push(b':');
            push_u64(line, u64::from(seq.wrapping_add(payload_len as u32)));
        }
    }
    if flags.ack() {
        line.extend_from_slice(b", ack ");
        push_u64(line, u64::from(ack));
    }
    line.extend_from_slice(b", win ");
    push_u64(line, u64::from(window));
    if flags.has(TcpFlags::URG) {
        line.extend_from_slice(b", urg ");
        push_u64(line, u64::from(seg.urgent.unwrap_or(0)));
    }
    if let Some(opts) = opts {
        line.extend_from_slice(b", options [");
        if opts.cut {
            // tcpdump prints the options it could read, then `[|tcp]`, and
            // stops there (no closing bracket, no length).
            let mut items = opts.list.tcpdump_items();
            if opts.list.error.is_some() {
                items.pop();
            }
            let _ = write!(line, "{} [|tcp]", items.join(","));
            return;
        }
        opts.list.write_tcpdump(line);
        line.push(b']');
        // After `[bad opt]` tcpdump closes the list and prints nothing more.
        let bad = opts.list.error.is_some()
            || opts
                .list
                .options
                .iter()
                .any(|o| o.ends_tcpdump_list() && !matches!(o, TcpOption::Eol));
        if bad {
            return;
        }
    }
    line.extend_from_slice(b", length ");
    push_u64(line, payload_len as u64);
}

/// A TCP packet line: the DESIGN schema object of one segment, serialized
/// straight from the decoded segment (the options by
/// [`packet::json::OptionListView`], the flags as their text).
#[derive(Serialize)]
pub struct PacketLine<'o, 'a> {
    /// 1-based frame number, counting every frame.
    pub index: u64,
    /// Seconds since the epoch.
    pub ts: f64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// tcpdump's letters (`S`, `S.`, `.`, `P.` ...).
    pub flags: FlagsText,
    pub options: OptionsJson<'o, 'a>,
}

/// TCP flags as tcpdump's letters, a JSON string.
pub struct FlagsText(pub TcpFlags);

impl Serialize for FlagsText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// The option list of a packet line (`[]` when the header has none).
pub struct OptionsJson<'o, 'a>(pub Option<&'o OptionList<'a>>);

impl Serialize for OptionsJson<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(list) => OptionListView(list).serialize(s),
            None => s.collect_seq(std::iter::empty::<()>()),
        }
    }
}

/// The packet line of one segment; `None` when the flags were not captured.
pub fn packet_json<'o, 'a>(
    index: u64,
    ts: Timestamp,
    seg: &TcpSegment<'_>,
    opts: Option<&'o DecodedOptions<'a>>,
) -> Option<PacketLine<'o, 'a>> {
    let flags = seg.flags?;
    Some(PacketLine {
        index,
        ts: ts.as_f64(),
        src: seg.src(),
        dst: seg.dst(),
        sport: seg.src_port,
        dport: seg.dst_port,
        flags: FlagsText(flags),
        options: OptionsJson(opts.map(|o| &o.list)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_ts(ts: Timestamp) -> String {
        String::from_utf8_lossy(&ts_text(ts)).into_owned()
    }

    #[test]
    fn timestamps_like_tcpdump_tttt() {
        // 2020-01-13 15:51:06.676845 UTC, from the tcpdump test suite's mptcp-v1 output.
        let ts = Timestamp {
            secs: 1_578_930_666,
            nanos: 676_845_000,
        };
        assert_eq!(format_ts(ts), "2020-01-13 15:51:06.676845");
        assert_eq!(
            format_ts(Timestamp::default()),
            "1970-01-01 00:00:00.000000"
        );
        // A leap day.
        assert_eq!(
            format_ts(Timestamp {
                secs: 951_782_400,
                nanos: 0
            }),
            "2000-02-29 00:00:00.000000"
        );
    }

    #[test]
    fn relative_sequence_numbers() {
        let c: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        let s: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let mut rel = RelativeSeq::default();
        assert_eq!(rel.apply(c, s, TcpFlags(0x02), 100, 0), (100, 0));
        assert_eq!(rel.apply(s, c, TcpFlags(0x12), 5000, 101), (5000, 101));
        assert_eq!(rel.apply(c, s, TcpFlags(0x10), 101, 5001), (1, 1));
        assert_eq!(rel.apply(s, c, TcpFlags(0x18), 5001, 111), (1, 11));
    }

    #[test]
    fn relative_sequence_numbers_stay_bounded_and_say_what_they_forgot() {
        let mut rel = RelativeSeq::default();
        let server: SocketAddr = "10.0.0.2:80".parse().unwrap();
        for i in 0..RelativeSeq::MAX as u32 {
            let client =
                SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 1000 + (i >> 16) as u16));
            rel.apply(server, client, TcpFlags(0x12), 5, 1);
        }
        let forgotten = rel.take_forgotten();
        assert!(forgotten >= RelativeSeq::MAX / 2, "{forgotten}");
        assert_eq!(rel.take_forgotten(), 0);
    }
}
