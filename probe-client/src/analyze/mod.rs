//! `mptcp-probe analyze FILE [--json]`: decodes every TCP packet of a pcap or
//! pcapng capture and summarises every MPTCP handshake in it.
//!
//! # Output
//! Text (default): one tcpdump-like line per TCP packet, as
//! `TZ=GMT0 tcpdump -# -n -tttt -r FILE` prints it (frame number counting
//! every frame, relative sequence numbers, the same option text), then one
//! summary block per handshake (`handshake #N client > server: STATUS`,
//! then the SYN(s), SYN/ACK, third ACK, keys with their tokens and IDSNs,
//! and notes, `check     run #N: ROLE` for check's own handshakes, then
//! `verdict   CODE: summary (judged from the SIDE side)`
//! with `fix:` and `unknown:` lines, or `verdict   none` for a handshake
//! that did not try MPTCP), then a line with frame, packet, handshake and
//! verdict counts. Frames that are not
//! TCP are counted but not printed. Where a packet or the file is cut short
//! a `note:` line (stdout) and a message on stderr say where.
//!
//! `--json`: JSON lines. Each line is one object with exactly one of these shapes:
//! - a TCP packet: `{"index","ts","src","dst","sport","dport","flags","options":[...]}`
//!   (the stable per-packet schema of DESIGN.md; `options` is
//!   `packet::json::option_list_json`: one `option_json` object per option in
//!   wire order, plus a last `{"kind","error","offset","hex"}` element when the
//!   option area cannot be framed to its end);
//! - a note: `{"note": {"frame": N, "offset": BYTES|null, "message": "..."}}`
//!   for a packet cut by the snapshot length or a file that stops mid-record;
//! - a handshake summary, after all packets:
//!   `{"handshake": {"id", "client", "client_port", "server", "server_port", "status",
//!   "summary", "mptcp", "version", "syns": [{"frame","ts","seq","mp_capable","mp_join"}],
//!   "syn_ack", "third_ack" ({"frame","ts","mp_capable","mp_join"} or null),
//!   "rst" (frame of a RST refusing the SYN, or null),
//!   "reset" ({"frame","by":"server"|"client","tcprst_reason"} for the first
//!   RST after the SYN/ACK, or null),
//!   "client_key", "server_key" ({"key","token","idsn"} or null),
//!   "join" ({"token","connection","answered","reset"} or null; `connection`
//!   is the `id` of the handshake whose key has that token), "notes": [...],
//!   "check_run" ({"id","role"} when it is one of `mptcp-probe check`'s own
//!   handshakes, `role` `kernel`, `v1_probe`, `v0_probe` or `plain_probe`;
//!   see `engine::analyze::runs`), "verdict", "verdict_detail"}}`
//!   where `status` is one of `mptcp_established`, `mptcp_negotiated`,
//!   `mp_join_subflow`, `plain_tcp`, `fallback_syn_ack`,
//!   `fallback_retransmit`, `fallback_third_ack`, `fallback_data`, `version_mismatch`,
//!   `option_reflected`, `refused`, `no_answer`, `syn_not_captured`,
//!   `options_not_captured`;
//!   `mp_capable` is `{"version","flags","sender_key","receiver_key"}` or null,
//!   keys are 16 hex digits, tokens 8 hex digits, IDSNs numbers;
//!   `verdict` is the verdict engine's code (`mptcp_ok`, `stripped_upstream`,
//!   ... as in DESIGN.md) or null when the handshake did not try MPTCP (no
//!   MP_CAPABLE and no NOP-filled option in its SYNs, or an MP_JOIN
//!   subflow); `verdict_detail` is null or
//!   `{"summary","side","rule","evidence":[...],"fix","missing":[...]}` with
//!   `side` the vantage point it was judged from (`client`, `server`,
//!   `direct`; see [`verdict`] and `--side`);
//! - last, `{"capture": {"file", "format", "frames", "tcp_packets", "stopped",
//!   "judged", "not_ok"}}` with `stopped` null or `{"frame","offset","reason"}`,
//!   `judged` the number of handshakes with a verdict and `not_ok` those
//!   whose verdict is not `mptcp_ok`;
//! - instead of all that, when the file cannot be read or is not a capture
//!   (exit 2): every verb's error object,
//!   `{"type":"error","error":"...","fix":"..."|null}`.
//!
//! Keys come in the order listed here (the lines are structs).
//!
//! # Exit codes
//! 0: the capture was read (even if cut short: what was there is decoded)
//! and every handshake that tried MPTCP has the verdict `mptcp_ok`, or none
//! tried it; 1: at least one such handshake has another verdict; 2: the
//! file cannot be read or is not a capture, or output failed.
pub mod render;
// The pipeline (reading, decoding, flows, verdicts) is the engine's; the
// verb prints it.
pub use engine::analyze::{flows, reader, runs, verdict};

use engine::analyze::decode::{facts, frame_content, option_list, FrameContent};
use flows::FlowTracker;
use packet::ip::TcpSegment;
use packet::line::{DecodedOptions, PacketText, RelativeSeq};
use reader::{CaptureReader, Format, Frame, FrameSource, OpenError, Stopped};
use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use thiserror::Error;

use crate::cli::GlobalArgs;
use crate::output::{self, VerbError};

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The capture to decode (pcap or pcapng; format detected from the
    /// magic); `-` reads standard input (`tcpdump -w - | mptcp-probe analyze -`).
    pub file: PathBuf,
    /// Where the capture was made, for the verdict of each handshake:
    /// `client` (the SYN as sent), `server` (the SYN as it arrived),
    /// `direct` (no router between the ends: both), or `auto` (guessed per
    /// handshake from the TTLs).
    #[arg(long, default_value = "auto", value_parser = side_parser())]
    pub side: verdict::Side,
}

/// `--side`'s values and their help, from the engine's [`verdict::Side`].
fn side_parser() -> impl clap::builder::TypedValueParser<Value = verdict::Side> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let values = verdict::Side::ALL.map(|s| PossibleValue::new(s.as_str()).help(s.description()));
    PossibleValuesParser::new(values).try_map(|name| name.parse::<verdict::Side>())
}

/// What the verdicts of a capture add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Handshakes that tried MPTCP and got a verdict.
    pub judged: usize,
    /// Of those, the ones whose verdict is not `mptcp_ok`.
    pub not_ok: usize,
}

/// Why `analyze` stopped without a result (exit code 2).
#[derive(Debug, Error)]
pub enum AnalyzeError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file}: {source}")]
    NotCapture {
        file: String,
        #[source]
        source: OpenError,
    },
    #[error("writing output: {0}")]
    Write(#[source] io::Error),
}

impl VerbError for AnalyzeError {
    fn fix(&self) -> Option<String> {
        match self {
            AnalyzeError::NotCapture { .. } => {
                Some("give a pcap or pcapng file (tcpdump -w FILE, Wireshark, dumpcap)".into())
            }
            AnalyzeError::Read { .. } | AnalyzeError::Write(_) => None,
        }
    }
}

/// Runs the verb; errors are printed here, the exit code returned.
pub fn run(args: &AnalyzeArgs, global: &GlobalArgs) -> ExitCode {
    let fail = |e: AnalyzeError| output::fail("analyze", global.json, &e);
    let file = args.file.display().to_string();
    // Read as a stream: a file or a pipe of any size, in bounded memory.
    let input: Box<dyn Read> = if args.file.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        match std::fs::File::open(&args.file) {
            Ok(f) => Box::new(f),
            Err(source) => return fail(AnalyzeError::Read { file, source }),
        }
    };
    let capture = match CaptureReader::open(input) {
        Ok(c) => c,
        Err(OpenError::Read(source)) => return fail(AnalyzeError::Read { file, source }),
        Err(source) => return fail(AnalyzeError::NotCapture { file, source }),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(OUTPUT_BUFFER, stdout.lock());
    let result = analyze(capture, &file, global.json, args.side, &mut out)
        .and_then(|tally| out.flush().map(|_| tally));
    match result {
        Ok(tally) if tally.not_ok == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(AnalyzeError::Write(e)),
    }
}

/// The one output buffer every line is written into.
const OUTPUT_BUFFER: usize = 64 << 10;
/// Servers whose MPTCP version is remembered for the verdicts of
/// handshakes summarised early.
const MAX_SERVERS: usize = 65_536;
/// Link types named in notes (one note each).
const MAX_LINK_NOTES: usize = 64;

/// A note about a frame, printed in both modes (stderr gets it too).
fn note(
    out: &mut impl Write,
    json_mode: bool,
    frame: u64,
    offset: Option<usize>,
    message: &str,
) -> io::Result<()> {
    eprintln!("mptcp-probe: frame {frame}: {message}");
    if json_mode {
        output::write_line(
            out,
            &render::NoteLine {
                note: render::NoteJson {
                    frame,
                    offset,
                    message,
                },
            },
        )
    } else {
        writeln!(out, "note: frame {frame}: {message}")
    }
}

/// Decodes the whole capture, writing lines to `out`; judges each
/// handshake that tried MPTCP. Handshakes are printed after the packets,
/// except those the flow tracker had to summarise early (a connection idle
/// for long, or too many at once: see [`flows::FlowLimits::STREAMING`]),
/// which are printed when summarised, with a note saying so.
fn analyze(
    mut capture: impl FrameSource,
    name: &str,
    json_mode: bool,
    side: verdict::Side,
    out: &mut impl Write,
) -> io::Result<Tally> {
    let format = capture.format();
    let mut frames = 0u64;
    let mut tcp_packets = 0u64;
    let mut stopped: Option<Stopped> = None;
    let mut tracker = FlowTracker::with_limits(flows::FlowLimits::STREAMING);
    let mut text = PacketText::default();
    let mut unsupported: Vec<u32> = Vec::new();
    let mut tally = Tally::default();
    let mut handshakes = 0usize;
    // MPTCP versions of the servers of handshakes summarised early.
    let mut versions: HashMap<SocketAddr, u8> = HashMap::new();
    while let Some(item) = capture.next_frame() {
        let frame = match item {
            Ok(f) => f,
            Err(s) => {
                note(
                    out,
                    json_mode,
                    s.frame,
                    Some(s.offset),
                    &format!(
                        "capture stops here (byte offset {}): {}",
                        s.offset, s.reason
                    ),
                )?;
                stopped = Some(s);
                break;
            }
        };
        frames += 1;
        match decode_frame(&frame, json_mode, out, &mut tracker, &mut text)? {
            Outcome::Tcp => tcp_packets += 1,
            Outcome::Other => {}
            Outcome::UnsupportedLink(linktype) => {
                // Said once per link type, not once per frame.
                if !unsupported.contains(&linktype) && unsupported.len() < MAX_LINK_NOTES {
                    unsupported.push(linktype);
                    let message =
                        format!("link type {linktype} is not supported; its frames are skipped");
                    note(out, json_mode, frame.index, Some(frame.offset), &message)?;
                }
            }
        }
        let forgotten = text.rel.take_forgotten();
        if forgotten > 0 {
            let message = format!(
                "relative sequence numbers of {forgotten} connection directions idle longest forgotten to keep memory bounded (more than {} tracked): their later segments print absolute sequence numbers",
                RelativeSeq::MAX
            );
            note(out, json_mode, frame.index, Some(frame.offset), &message)?;
        }
        let early = tracker.take_summarised();
        if !early.is_empty() {
            let mut batch = verdict::server_versions(&early);
            batch.retain(|server, _| versions.len() < MAX_SERVERS || versions.contains_key(server));
            versions.extend(batch);
            let judgements = verdict::judge_with(&early, side, &versions);
            handshakes += early.len();
            print_handshakes(out, json_mode, &early, judgements, &mut tally)?;
        }
    }
    let rest = tracker.finish();
    // Every handshake's server version, later ones winning, as when all
    // are judged together.
    verdict::add_server_versions(&mut versions, &rest);
    let judgements = verdict::judge_with(&rest, side, &versions);
    handshakes += rest.len();
    print_handshakes(out, json_mode, &rest, judgements, &mut tally)?;
    let format = match format {
        Format::Pcap => "pcap",
        Format::PcapNg => "pcapng",
    };
    if json_mode {
        let line = render::CaptureLine {
            capture: render::CaptureJson {
                file: name,
                format,
                frames,
                tcp_packets,
                stopped: stopped.as_ref().map(|s| render::StoppedJson {
                    frame: s.frame,
                    offset: s.offset,
                    reason: &s.reason,
                }),
                judged: tally.judged,
                not_ok: tally.not_ok,
            },
        };
        output::write_line(out, &line)?;
    } else {
        writeln!(
            out,
            "{name}: {format}, {frames} frames, {tcp_packets} TCP packets, {handshakes} handshakes, {} judged, {} not mptcp_ok",
            tally.judged,
            tally.not_ok
        )?;
    }
    Ok(tally)
}

/// Prints handshake summaries with their verdicts, counting the verdicts.
fn print_handshakes(
    out: &mut impl Write,
    json_mode: bool,
    handshakes: &[flows::Handshake],
    judgements: Vec<Option<verdict::Judgement>>,
    tally: &mut Tally,
) -> io::Result<()> {
    // check's own runs are found within the batch: a run's handshakes are
    // seconds apart, so they go idle, and are summarised, together.
    let roles = render::run_roles(&runs::find_runs(handshakes), handshakes.len());
    for ((h, judgement), role) in handshakes.iter().zip(judgements).zip(roles) {
        if let Some(j) = &judgement {
            tally.judged += 1;
            tally.not_ok += usize::from(!j.ok());
        }
        if json_mode {
            output::write_line(out, &render::handshake_json(h, judgement.as_ref(), role))?;
        } else {
            write!(
                out,
                "{}",
                render::handshake_text(h, judgement.as_ref(), role)
            )?;
        }
    }
    Ok(())
}

/// What a frame turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Tcp,
    /// Not TCP, not IP, or too short to tell: counted, not printed.
    Other,
    UnsupportedLink(u32),
}

/// Decodes and prints one frame.
fn decode_frame(
    frame: &Frame<'_>,
    json_mode: bool,
    out: &mut impl Write,
    tracker: &mut FlowTracker,
    text: &mut PacketText,
) -> io::Result<Outcome> {
    let seg = match frame_content(frame) {
        FrameContent::Tcp(seg) => seg,
        FrameContent::UnsupportedLink(linktype) => return Ok(Outcome::UnsupportedLink(linktype)),
        FrameContent::Other => return Ok(Outcome::Other),
        FrameContent::Undecodable(e) => {
            let captured = frame.data.len();
            note(
                out,
                json_mode,
                frame.index,
                Some(frame.offset),
                &format!(
                    "not decoded ({captured} of {} bytes captured): {e}",
                    frame.orig_len
                ),
            )?;
            return Ok(Outcome::Other);
        }
    };
    let opts = decode_options(&seg);
    if json_mode {
        out.write_all(text.json_line(frame.index, frame.ts, &seg, opts.as_ref()))?;
    } else {
        out.write_all(text.text_line(frame.index, frame.ts, &seg, opts.as_ref()))?;
    }
    if seg.is_truncated() {
        let message = format!(
            "TCP header cut by the snapshot length: {} of {} bytes captured, {} header bytes missing",
            frame.data.len(),
            frame.orig_len,
            seg.tcp_missing
        );
        note(out, json_mode, frame.index, Some(frame.offset), &message)?;
    }
    if let Some(facts) = facts(frame, &seg, opts.as_ref().map(|o| &o.list)) {
        tracker.push(&facts);
    }
    Ok(Outcome::Tcp)
}

/// The option area, when the header got as far as the data offset.
fn decode_options<'a>(seg: &TcpSegment<'a>) -> Option<DecodedOptions<'a>> {
    Some(DecodedOptions {
        list: option_list(seg)?,
        cut: seg.tcp_missing > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reader::Capture;
    use std::borrow::Cow;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../pcap-fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    const FIXTURES: [&str; 3] = [
        "v1-clean.client.pcap",
        "join.client.pcap",
        "v6-clean.server.pcap",
    ];

    #[test]
    fn every_file_truncation_decodes_a_prefix_without_panic() {
        for name in FIXTURES {
            let bytes = fixture(name);
            let mut full = Vec::new();
            analyze(
                Capture::open(&bytes).unwrap(),
                name,
                false,
                verdict::Side::Auto,
                &mut full,
            )
            .unwrap();
            for cut in 0..bytes.len() {
                let Ok(capture) = Capture::open(&bytes[..cut]) else {
                    assert!(cut < 24, "{name}: header refused at {cut}");
                    continue;
                };
                let mut json = Vec::new();
                analyze(
                    Capture::open(&bytes[..cut]).unwrap(),
                    name,
                    true,
                    verdict::Side::Auto,
                    &mut json,
                )
                .unwrap();
                let last = json.split(|&b| b == b'\n').rev().nth(1).unwrap_or_default();
                assert!(last.starts_with(b"{\"capture\""), "{name} cut at {cut}");
                // The frames before the cut print exactly as in the full file.
                let mut out = Vec::new();
                analyze(capture, name, false, verdict::Side::Auto, &mut out).unwrap();
                let text = String::from_utf8(out).unwrap();
                let full = String::from_utf8_lossy(&full);
                let numbered = |l: &&str| {
                    l.trim_start()
                        .split_once("  ")
                        .is_some_and(|(n, _)| n.parse::<u64>().is_ok())
                };
                for line in text.lines().filter(numbered) {
                    assert!(full.contains(line), "{name} cut at {cut}: {line}");
                }
            }
        }
    }

    #[test]
    fn every_frame_truncation_decodes_without_panic() {
        for name in FIXTURES {
            let bytes = fixture(name);
            for frame in Capture::open(&bytes).unwrap() {
                let frame = frame.unwrap();
                for cut in 0..frame.data.len() {
                    let short = Frame {
                        data: Cow::Borrowed(&frame.data[..cut]),
                        ..frame.clone()
                    };
                    for json_mode in [false, true] {
                        let mut out = Vec::new();
                        let mut tracker = FlowTracker::new();
                        let mut text = PacketText::default();
                        decode_frame(&short, json_mode, &mut out, &mut tracker, &mut text).unwrap();
                        let _ = tracker.finish();
                    }
                }
            }
        }
    }

    /// A raw-IP pcap of (seconds, IP packet) records.
    fn pcap(records: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
        for (secs, p) in records {
            for v in [*secs, 0, p.len() as u32, p.len() as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(p);
        }
        out
    }

    /// SYN, SYN/ACK, ACK of client port `port`, at `secs`.
    fn handshake(port: u16, secs: u32) -> Vec<(u32, Vec<u8>)> {
        use packet::build::ProbeBuilder;
        use packet::TcpFlags;
        let (c, s) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let syn = ProbeBuilder::new(c, s, port, 80)
            .seq(100)
            .flags(TcpFlags(0x02));
        let mut syn_ack = ProbeBuilder::new(s, c, 80, port)
            .seq(500)
            .flags(TcpFlags(0x12));
        syn_ack.ack = 101;
        let mut ack = ProbeBuilder::new(c, s, port, 80)
            .seq(101)
            .flags(TcpFlags(0x10));
        ack.ack = 501;
        [syn, syn_ack, ack]
            .iter()
            .map(|b| (secs, b.build().unwrap()))
            .collect()
    }

    #[test]
    fn an_idle_connection_is_printed_early_with_a_note() {
        let mut records = handshake(40000, 1000);
        records.extend(handshake(40001, 1000 + 600));
        let bytes = pcap(&records);
        for json_mode in [false, true] {
            let mut out = Vec::new();
            analyze(
                Capture::open(&bytes).unwrap(),
                "idle.pcap",
                json_mode,
                verdict::Side::Auto,
                &mut out,
            )
            .unwrap();
            let text = String::from_utf8(out).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let early = lines
                .iter()
                .position(|l| l.contains("summarised early"))
                .unwrap_or_else(|| panic!("no note:\n{text}"));
            // The first handshake's summary comes as the second one starts
            // (its SYN moves capture time on), before its other packets.
            let second = lines
                .iter()
                .rposition(|l| l.contains("40001") && !l.contains("handshake"))
                .unwrap();
            assert!(early < second, "{text}");
            assert_eq!(
                lines
                    .iter()
                    .filter(|l| l.contains("summarised early"))
                    .count(),
                1,
                "only the idle one:\n{text}"
            );
            if !json_mode {
                assert!(text.ends_with("idle.pcap: pcap, 6 frames, 6 TCP packets, 2 handshakes, 0 judged, 0 not mptcp_ok\n"), "{text}");
            }
        }
    }
}
