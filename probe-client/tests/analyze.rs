//! End-to-end tests of `mptcp-probe analyze`: the built binary on peer
//! captures (tcpdump's text as reference), on our lab fixtures, on damaged
//! files, and on captures written here with pcap-file.
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgWriter};
use pcap_file::DataLink;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
/// `../shared/peer-pcaps` next to the workspace; `MPTCP_PROBE_PEER_PCAPS`
/// overrides it (a git worktree lives elsewhere than the main checkout).
fn peer_dir() -> PathBuf {
    match std::env::var_os("MPTCP_PROBE_PEER_PCAPS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peer-pcaps"),
    }
}
fn fixture(name: &str) -> PathBuf {
    workspace().join("pcap-fixtures").join(name)
}

fn run(args: &[&str], file: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg(file)
        .output()
        .expect("run mptcp-probe")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mptcp-probe-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// JSON lines of `analyze --json FILE`, checked to exit as the verdicts
/// say: 0 when every judged handshake is `mptcp_ok` (or none was judged),
/// 1 otherwise.
fn json_lines(file: &Path) -> Vec<Value> {
    let o = run(&["analyze", "--json"], file);
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect();
    let not_ok = handshakes(&lines)
        .iter()
        .filter(|h| !h["verdict"].is_null() && h["verdict"] != "mptcp_ok")
        .count();
    let capture = &lines.last().expect("a capture line")["capture"];
    assert_eq!(capture["not_ok"].as_u64(), Some(not_ok as u64), "{capture}");
    assert_eq!(
        o.status.code(),
        Some(i32::from(not_ok > 0)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    lines
}

fn handshakes(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter_map(|l| l.get("handshake")).collect()
}

/// The `options [...]` text of a tcpdump-style line (brackets balanced, as
/// MPTCP options contain `flags [H]`); `None` when the line has none.
fn options_text(line: &str) -> Option<&str> {
    let start = line.find("options [")? + "options [".len();
    let mut depth = 1;
    for (i, c) in line[start..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&line[start..start + i]);
                }
            }
            _ => {}
        }
    }
    Some(&line[start..])
}

/// tcpdump's lines keyed by frame number: `-#` lines start with the number;
/// `-v` adds continuation lines (joined to their frame); files without `-#`
/// number their lines in order.
fn tcpdump_lines(out: &str) -> BTreeMap<u64, String> {
    let mut map = BTreeMap::new();
    let mut current: Option<u64> = None;
    let mut counter = 0;
    for line in out.lines() {
        let trimmed = line.trim_start();
        let numbered = trimmed
            .split_once("  ")
            .and_then(|(n, _)| n.parse::<u64>().ok())
            .filter(|_| line.starts_with(' '));
        if let Some(n) = numbered {
            current = Some(n);
            map.insert(n, line.to_string());
        } else if line.starts_with(char::is_whitespace) {
            if let Some(n) = current {
                map.entry(n).or_insert_with(String::new).push_str(line);
            }
        } else {
            counter += 1;
            current = Some(counter);
            map.insert(counter, line.to_string());
        }
    }
    map
}

fn our_lines(out: &str) -> BTreeMap<u64, String> {
    out.lines()
        .filter_map(|l| {
            let (n, _) = l.trim_start().split_once("  ")?;
            Some((n.parse().ok()?, l.to_string()))
        })
        .filter(|(_, l)| l.starts_with(' '))
        .collect()
}

#[test]
fn peer_captures_match_tcpdump_option_text() {
    let dir = peer_dir();
    if !dir.is_dir() {
        eprintln!(
            "SKIP: {} is absent, peer conformance not checked",
            dir.display()
        );
        return;
    }
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for sub in ["tcpdump", "ptcpdump"] {
        let mut entries: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for pcap in entries
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        {
            let Ok(expected) = std::fs::read_to_string(pcap.with_extension("out")) else {
                continue;
            };
            let o = run(&["analyze"], pcap);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{}: {}",
                pcap.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            let ours = our_lines(&stdout(&o));
            for (n, theirs) in tcpdump_lines(&expected) {
                let Some(want) = options_text(&theirs) else {
                    continue;
                };
                let Some(line) = ours.get(&n) else {
                    mismatches.push(format!("{} frame {n}: no line from us", pcap.display()));
                    continue;
                };
                let got = options_text(line).unwrap_or("");
                // tcpdump stops at an option it cannot decode and prints
                // `[bad opt]`: compare what precedes it.
                let (want, got) = match want.find("[bad opt]") {
                    Some(cut) => {
                        let prefix = &want[..want[..cut].rfind(',').map_or(0, |c| c + 1)];
                        (prefix, got.get(..prefix.len()).unwrap_or(got))
                    }
                    None => (want, got),
                };
                compared += 1;
                if want != got {
                    mismatches.push(format!(
                        "{} frame {n}:\n  tcpdump: {want}\n  ours:    {got}",
                        pcap.display()
                    ));
                }
            }
        }
    }
    assert!(compared > 300, "only {compared} lines compared");
    assert!(
        mismatches.is_empty(),
        "{} of {compared} lines differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn peer_captures_match_tcpdump_lines_outside_options() {
    // Numbering, timestamps, addresses, flags, relative seq/ack, window and
    // length: the whole line with the option list blanked out.
    let dir = peer_dir().join("tcpdump");
    if !dir.is_dir() {
        eprintln!("SKIP: {} is absent", dir.display());
        return;
    }
    let blank = |l: &str| match options_text(l) {
        Some(o) => l.replacen(o, "", 1),
        None => l.to_string(),
    };
    for name in [
        "mptcp-v0",
        "mptcp-v1",
        "mptcp-fclose",
        "mptcp-aa-v1",
        "mptcp-aa-echo",
        "mptcp-tcprst",
    ] {
        let pcap = dir.join(format!("{name}.pcap"));
        let expected = std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap();
        let ours = our_lines(&stdout(&run(&["analyze"], &pcap)));
        let theirs = tcpdump_lines(&expected);
        assert!(!theirs.is_empty());
        for (n, line) in theirs.into_iter().filter(|(_, l)| l.contains(": Flags [")) {
            let got = ours
                .get(&n)
                .unwrap_or_else(|| panic!("{name} frame {n}: no line"));
            // tcpdump may add an application-layer decode (`: SSH: ...`).
            let (got, want) = (blank(got), blank(&line));
            let same = want == got || want.starts_with(&format!("{got}: "));
            assert!(
                same,
                "{name} frame {n}:\n  tcpdump: {want}\n  ours:    {got}"
            );
        }
    }
}

#[test]
fn peer_v1_capture_handshake_summary() {
    let pcap = peer_dir().join("tcpdump/mptcp-v1.pcap");
    if !pcap.is_file() {
        eprintln!("SKIP: {} is absent", pcap.display());
        return;
    }
    let lines = json_lines(&pcap);
    let hs = handshakes(&lines);
    assert_eq!(hs.len(), 1);
    let h = hs[0];
    assert_eq!(h["status"], "mptcp_established", "{h}");
    assert_eq!(h["client_key"]["key"], "1fdb5df328bc3def");
    assert_eq!(h["server_key"]["key"], "29a6c86981ad933c");
    check_key_derivation(&h["client_key"]);
    check_key_derivation(&h["server_key"]);
}

/// Token = first 4 bytes of SHA-256(key), IDSN = last 8 (RFC 8684),
/// computed here independently of the binary.
fn check_key_derivation(k: &Value) {
    let key = u64::from_str_radix(k["key"].as_str().unwrap(), 16).unwrap();
    let digest = Sha256::digest(key.to_be_bytes());
    let token = format!(
        "{:08x}",
        u32::from_be_bytes(digest[..4].try_into().unwrap())
    );
    let idsn = u64::from_be_bytes(digest[24..].try_into().unwrap());
    assert_eq!(k["token"], token.as_str(), "{k}");
    assert_eq!(k["idsn"].as_u64(), Some(idsn), "{k}");
}

fn only_handshake(name: &str) -> Value {
    let lines = json_lines(&fixture(name));
    let hs = handshakes(&lines);
    assert_eq!(hs.len(), 1, "{name}: {hs:?}");
    hs[0].clone()
}

#[test]
fn fixture_v1_clean_is_established_with_keys() {
    for side in ["client", "server"] {
        let h = only_handshake(&format!("v1-clean.{side}.pcap"));
        assert_eq!(h["status"], "mptcp_established", "{h}");
        assert_eq!(h["summary"], "MPTCP v1 established");
        assert_eq!(h["version"], 1);
        assert_eq!(h["mptcp"], true);
        check_key_derivation(&h["client_key"]);
        check_key_derivation(&h["server_key"]);
        assert_eq!(h["syns"][0]["mp_capable"]["version"], 1);
    }
    let text = stdout(&run(&["analyze"], &fixture("v1-clean.client.pcap")));
    assert!(text.contains(": MPTCP v1 established\n"), "{text}");
    assert!(text.contains("token 0x"), "{text}");
}

#[test]
fn fixture_v6_clean_is_established() {
    let h = only_handshake("v6-clean.client.pcap");
    assert_eq!(h["status"], "mptcp_established", "{h}");
    assert!(h["client"].as_str().unwrap().contains(':'), "{h}");
}

#[test]
fn fixture_stripped_upstream() {
    // The server sees a SYN without MP_CAPABLE; the client sees its own
    // MP_CAPABLE SYN answered by a plain SYN/ACK.
    let server = only_handshake("stripped-upstream.server.pcap");
    assert_eq!(server["status"], "plain_tcp", "{server}");
    assert_eq!(server["syns"][0]["mp_capable"], Value::Null);
    let notes = server["notes"].to_string();
    assert!(notes.contains("4 NOPs in a row"), "{notes}");
    let client = only_handshake("stripped-upstream.client.pcap");
    assert_eq!(client["status"], "fallback_syn_ack", "{client}");
    assert_eq!(client["syns"][0]["mp_capable"]["version"], 1);
}

#[test]
fn fixture_server_disabled_falls_back() {
    for side in ["client", "server"] {
        let h = only_handshake(&format!("server-disabled.{side}.pcap"));
        assert_eq!(h["status"], "fallback_syn_ack", "{h}");
        assert_eq!(
            h["summary"],
            "fell back to TCP: SYN/ACK carries no MP_CAPABLE"
        );
        assert_eq!(h["mptcp"], false);
    }
}

#[test]
fn fixture_tcp_plain() {
    for side in ["client", "server"] {
        let h = only_handshake(&format!("tcp-plain.{side}.pcap"));
        assert_eq!(h["status"], "plain_tcp", "{h}");
        assert_eq!(h["notes"], serde_json::json!([]), "{h}");
    }
}

#[test]
fn fixture_dropped_retries_without_mp_capable() {
    let h = only_handshake("dropped.client.pcap");
    assert!(h["syns"].as_array().unwrap().len() >= 2, "{h}");
    assert_eq!(h["status"], "fallback_retransmit", "{h}");
}

#[test]
fn fixture_join_subflows_tied_to_connection() {
    let lines = json_lines(&fixture("join.client.pcap"));
    let hs = handshakes(&lines);
    assert!(hs.len() >= 2, "{hs:?}");
    assert_eq!(hs[0]["status"], "mptcp_established", "{}", hs[0]);
    let joins: Vec<_> = hs
        .iter()
        .filter(|h| h["status"] == "mp_join_subflow")
        .collect();
    assert!(!joins.is_empty(), "{hs:?}");
    for j in joins {
        assert_eq!(j["join"]["connection"], hs[0]["id"], "{j}");
    }
}

#[test]
fn json_packet_lines_follow_the_schema() {
    let lines = json_lines(&fixture("v1-clean.client.pcap"));
    let packets: Vec<_> = lines.iter().filter(|l| l.get("index").is_some()).collect();
    assert_eq!(packets.len(), 14);
    for (i, p) in packets.iter().enumerate() {
        let obj = p.as_object().unwrap();
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["dport", "dst", "flags", "index", "options", "sport", "src", "ts"]
        );
        assert_eq!(p["index"].as_u64(), Some(i as u64 + 1));
        assert!(p["ts"].as_f64().unwrap() > 1.0e9);
        assert!(p["src"]
            .as_str()
            .unwrap()
            .parse::<std::net::IpAddr>()
            .is_ok());
        assert!(p["sport"].as_u64().unwrap() <= 65535);
        for o in p["options"].as_array().unwrap() {
            assert!(
                o["kind"].is_u64() && o["len"].is_u64() && o["name"].is_string(),
                "{o}"
            );
        }
    }
    assert_eq!(packets[0]["flags"], "S");
    assert_eq!(packets[1]["flags"], "S.");
    let mptcp: Vec<_> = packets[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == 30)
        .collect();
    assert_eq!(mptcp.len(), 1);
    assert_eq!(mptcp[0]["mptcp"]["subtype"], "mp_capable", "{}", mptcp[0]);
    let h = handshakes(&lines)[0].as_object().unwrap();
    let mut keys: Vec<_> = h.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "check_run",
            "client",
            "client_key",
            "client_port",
            "id",
            "join",
            "mptcp",
            "notes",
            "reset",
            "rst",
            "server",
            "server_key",
            "server_port",
            "status",
            "summary",
            "syn_ack",
            "syns",
            "third_ack",
            "verdict",
            "verdict_detail",
            "version"
        ]
    );
    assert_eq!(h["client_port"], packets[0]["sport"]);
    assert_eq!(h["server_port"], packets[0]["dport"]);
    let capture = lines.last().unwrap()["capture"].clone();
    assert_eq!(capture["frames"], 14);
    assert_eq!(capture["format"], "pcap");
    assert_eq!(capture["stopped"], Value::Null);
}

#[test]
fn not_a_capture_is_an_error() {
    let path = temp_file("notes.txt", b"this is a text file, not a capture\n");
    let o = run(&["analyze"], &path);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("notes.txt") && err.contains("not a pcap or pcapng capture"),
        "{err}"
    );
    assert!(o.stdout.is_empty());

    let missing = temp_file("x", b"").with_file_name("does-not-exist.pcap");
    let o = run(&["analyze"], &missing);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does-not-exist.pcap"));

    let empty = temp_file("empty.pcap", b"");
    assert_eq!(run(&["analyze"], &empty).status.code(), Some(2));
}

/// Byte offsets where each record of a classic pcap starts.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = 24;
    let mut offsets = Vec::new();
    let little = bytes[0] == 0xd4 || bytes[0] == 0x4d;
    while at + 16 <= bytes.len() {
        offsets.push(at);
        let b: [u8; 4] = bytes[at + 8..at + 12].try_into().unwrap();
        let incl = if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        } as usize;
        at += 16 + incl;
    }
    offsets
}

#[test]
fn truncated_file_decodes_prefix_and_says_where() {
    let bytes = std::fs::read(fixture("v1-clean.client.pcap")).unwrap();
    let records = record_offsets(&bytes);
    assert!(records.len() >= 5);
    // Inside the file header: not a readable capture.
    let short = temp_file("cut-header.pcap", &bytes[..10]);
    assert_eq!(run(&["analyze"], &short).status.code(), Some(2));
    // Inside record headers and record data of several frames.
    for (k, cut) in [
        records[0] + 7,
        records[1] + 16 + 3,
        records[2] + 30,
        records[3] + 15,
        records[4] - 1,
    ]
    .into_iter()
    .enumerate()
    {
        let path = temp_file(&format!("cut-{cut}.pcap"), &bytes[..cut]);
        let o = run(&["analyze"], &path);
        // 1 exactly when the SYN is in and the third ACK is not: without
        // the third ACK (MP_CAPABLE with both keys) the capture does not
        // show MPTCP negotiated; before the SYN there is nothing to judge.
        let unconfirmed = cut > records[1] && cut < records[3];
        assert_eq!(
            o.status.code(),
            Some(i32::from(unconfirmed)),
            "cut at {cut}"
        );
        let text = stdout(&o);
        let frame = records.iter().filter(|&&r| r < cut).count() as u64;
        let offset = records[frame as usize - 1];
        assert_eq!(
            our_lines(&text).len() as u64,
            frame - 1,
            "cut at {cut}:\n{text}"
        );
        let expected = format!("note: frame {frame}: capture stops here (byte offset {offset})");
        assert!(
            text.contains(&expected),
            "cut {k} at {cut}: missing `{expected}` in\n{text}"
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("frame {frame}")));
        let lines = json_lines(&path);
        let stopped = &lines.last().unwrap()["capture"]["stopped"];
        assert_eq!(stopped["frame"].as_u64(), Some(frame));
        assert_eq!(stopped["offset"].as_u64(), Some(offset as u64));
    }
}

/// IPv4 + TCP bytes with the given options (checksums left zero: analyze
/// does not check them).
fn ipv4_tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    flags: u8,
    options: &[u8],
) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let tcp_len = 20 + options.len();
    let total = 20 + tcp_len;
    let mut p = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.push(((tcp_len / 4) as u8) << 4);
    p.push(flags);
    p.extend_from_slice(&64240u16.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(options);
    p.resize(total, 0);
    p
}

/// mss 1460, sackOK, nop, nop, MP_CAPABLE v1 flags H (4 bytes), nop, wscale 7, nop.
const SYN_OPTIONS: [u8; 16] = [2, 4, 5, 0xb4, 4, 2, 1, 1, 30, 4, 0x01, 0x01, 1, 3, 3, 7];

#[test]
fn pcapng_with_two_link_types() {
    let syn = ipv4_tcp(
        [192, 0, 2, 1],
        [192, 0, 2, 2],
        40000,
        6101,
        1000,
        0x02,
        &SYN_OPTIONS,
    );
    let mut ether = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    ether.extend_from_slice(&ipv4_tcp(
        [192, 0, 2, 2],
        [192, 0, 2, 1],
        6101,
        40000,
        5000,
        0x04,
        &[],
    ));
    let mut file = Vec::new();
    {
        let mut w = PcapNgWriter::new(&mut file).unwrap();
        let raw = InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0,
            options: vec![InterfaceDescriptionOption::IfTsResol(9)],
        };
        let eth = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![],
        };
        w.write_block(&Block::InterfaceDescription(raw)).unwrap();
        w.write_block(&Block::InterfaceDescription(eth)).unwrap();
        let epb = |interface_id, ts: Duration, data: &[u8]| {
            Block::EnhancedPacket(EnhancedPacketBlock {
                interface_id,
                timestamp: ts,
                original_len: data.len() as u32,
                data: Cow::Owned(data.to_vec()),
                options: vec![],
            })
        };
        // Interface 0 counts nanoseconds (if_tsresol 9): 1.5 s after 2024-01-01.
        w.write_block(&epb(
            0,
            Duration::from_nanos(1_704_067_201_500_000_000),
            &syn,
        ))
        .unwrap();
        // Interface 1 has the default resolution, microseconds.
        w.write_block(&epb(1, Duration::from_nanos(1_704_067_202_250_000), &ether))
            .unwrap();
    }
    let path = temp_file("two-links.pcapng", &file);
    let o = run(&["analyze"], &path);
    // An MP_CAPABLE SYN refused with a RST: MPTCP does not work there.
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = stdout(&o);
    let lines = our_lines(&text);
    assert!(
        lines[&1].starts_with("    1  2024-01-01 00:00:01.500000 IP 192.0.2.1.40000 > 192.0.2.2.6101: Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,nop,nop,mptcp"),
        "{text}"
    );
    assert!(
        lines[&2].starts_with("    2  2024-01-01 00:00:02.250000 IP 192.0.2.2.6101 > 192.0.2.1.40000: Flags [R], seq 5000, win 64240, length 0"),
        "{text}"
    );
    assert!(text.contains("refused: SYN answered with RST"), "{text}");
    assert!(
        text.contains(": pcapng, 2 frames, 2 TCP packets, 1 handshakes"),
        "{text}"
    );
}

#[test]
fn snapshot_truncated_packet_is_marked() {
    let syn = ipv4_tcp(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        1234,
        80,
        7,
        0x02,
        &SYN_OPTIONS,
    );
    let mut file = Vec::new();
    {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            snaplen: 46,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(&mut file, header).unwrap();
        // Cut inside the option area (after mss and sackOK), then inside the fixed header.
        for cut in [46, 30, 22] {
            let p = PcapPacket::new(
                Duration::from_secs(1_000_000_000),
                syn.len() as u32,
                &syn[..cut],
            );
            w.write_packet(&p).unwrap();
        }
        // An ARP-like non-IP frame is counted but not printed.
        w.write_packet(&PcapPacket::new(
            Duration::from_secs(1_000_000_001),
            1,
            &[0x00],
        ))
        .unwrap();
    }
    let path = temp_file("snapcut.pcap", &file);
    let o = run(&["analyze"], &path);
    // The SYN's MP_CAPABLE was cut off: whether MPTCP was offered is not
    // in the capture, which is no OK.
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains(": options not captured:"), "{text}");
    assert!(!text.contains("plain TCP"), "{text}");
    assert!(text.contains("tcpdump -s 0"), "{text}");
    let lines = our_lines(&text);
    assert!(
        lines[&1].ends_with("options [mss 1460,sackOK [|tcp]"),
        "{text}"
    );
    assert!(
        lines[&2].ends_with("IP 10.0.0.1.1234 > 10.0.0.2.80: [|tcp]"),
        "{text}"
    );
    assert!(!lines.contains_key(&4), "{text}");
    assert!(
        text.contains(
            "note: frame 1: TCP header cut by the snapshot length: 46 of 56 bytes captured"
        ),
        "{text}"
    );
    assert!(text.contains("note: frame 3: not decoded"), "{text}");
    assert!(text.contains(": pcap, 4 frames, 2 TCP packets"), "{text}");
}

/// Our lines against the local tcpdump on every lab fixture (Ethernet,
/// Linux cooked, IPv4, IPv6). Options are blanked: Debian's tcpdump 4.99
/// prints MP_CAPABLE without `flags [..]`; the peer test covers option text.
/// The cooked link's interface name and direction (` c0  Out`) are dropped.
#[test]
fn fixtures_match_local_tcpdump_outside_options() {
    let probe = Command::new("tcpdump").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIP: no tcpdump on this machine");
        return;
    }
    let normalize = |l: &str| -> String {
        let blanked = match options_text(l) {
            Some(o) => l.replacen(o, "", 1),
            None => l.to_string(),
        };
        let head: Vec<&str> = blanked.split_whitespace().take(3).collect();
        let at = blanked
            .find(" IP ")
            .or_else(|| blanked.find(" IP6 "))
            .unwrap_or(0);
        format!("{} {}", head.join(" "), &blanked[at..])
    };
    let mut entries: Vec<_> = std::fs::read_dir(workspace().join("pcap-fixtures"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 8);
    let mut compared = 0;
    for pcap in entries {
        let td = Command::new("tcpdump")
            .args(["-#", "-n", "-tttt", "-r"])
            .arg(&pcap)
            .env("TZ", "GMT0")
            .output()
            .unwrap();
        assert!(td.status.success(), "tcpdump on {}", pcap.display());
        let ours = our_lines(&stdout(&run(&["analyze"], &pcap)));
        for (n, line) in tcpdump_lines(&String::from_utf8_lossy(&td.stdout)) {
            if !line.contains(": Flags [") {
                continue;
            }
            let got = ours
                .get(&n)
                .unwrap_or_else(|| panic!("{} frame {n}: no line", pcap.display()));
            let (mut got, want) = (normalize(got), normalize(&line));
            // tcpdump 4.99 cannot decode the 24-byte MP_CAPABLE (data_len
            // and checksum): it prints `[bad opt]` and stops, without the
            // length. The peer test (newer tcpdump) checks that option's text.
            if options_text(&line).is_some_and(|o| o.contains("[bad opt]")) {
                if let Some(at) = got.rfind(", length ") {
                    got.truncate(at);
                }
            }
            let same = want == got || want.starts_with(&format!("{got}: "));
            assert!(
                same,
                "{} frame {n}:\n  tcpdump: {want}\n  ours:    {got}",
                pcap.display()
            );
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared}");
}

#[test]
fn json_mode_from_the_environment() {
    let file = fixture("tcp-plain.client.pcap");
    let with = |value: &str| {
        let o = Command::new(BIN)
            .args(["analyze"])
            .arg(&file)
            .env("MPTCP_PROBE_JSON", value)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        stdout(&o)
    };
    // Keys in the documented order (index first) since the lines are structs.
    assert!(with("1").starts_with("{\"index\":1,"));
    assert!(with("0").starts_with("    1  "));
}

#[test]
fn fixture_join_rejected_is_reset_with_mp_tcprst() {
    let lines = json_lines(&fixture("join-rejected.client.pcap"));
    let hs = handshakes(&lines);
    assert_eq!(hs.len(), 2, "{hs:?}");
    assert_eq!(hs[0]["status"], "mptcp_established");
    let join = hs[1];
    assert_eq!(join["status"], "mp_join_subflow", "{join}");
    assert_eq!(join["join"]["connection"], hs[0]["id"]);
    assert_eq!(join["join"]["reset"], true);
    assert_eq!(join["reset"]["by"], "server", "{join}");
    assert_eq!(join["reset"]["tcprst_reason"], 3, "{join}");
}

#[test]
fn unsupported_link_type_is_said_once() {
    let mut file = Vec::new();
    {
        let header = PcapHeader {
            datalink: DataLink::IEEE802_11,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(&mut file, header).unwrap();
        for i in 0..3 {
            let p = PcapPacket::new(Duration::from_secs(i), 4, &[0x80, 0, 0, 0]);
            w.write_packet(&p).unwrap();
        }
    }
    let path = temp_file("wifi.pcap", &file);
    let o = run(&["analyze"], &path);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert_eq!(
        text.matches("link type 105 is not supported").count(),
        1,
        "{text}"
    );
    assert!(text.contains("note: frame 1: link type 105"), "{text}");
    assert!(
        text.contains(": pcap, 3 frames, 0 TCP packets, 0 handshakes"),
        "{text}"
    );
}

#[test]
fn reads_standard_input() {
    use std::io::Write;
    use std::process::Stdio;
    let bytes = std::fs::read(fixture("tcp-plain.server.pcap")).unwrap();
    let mut child = Command::new(BIN)
        .args(["analyze", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(
        text.contains("-: pcap, 10 frames, 10 TCP packets, 1 handshakes"),
        "{text}"
    );
}

#[test]
fn fixture_v0_syn_to_upstream_kernel_is_ignored() {
    // A crafted v0 MP_CAPABLE SYN to a v1-only kernel: plain SYN/ACK, and the
    // summary says why (the tracebox confusion DESIGN.md describes).
    let lines = json_lines(&fixture("v0-syn.server.pcap"));
    let hs = handshakes(&lines);
    let v0 = hs
        .iter()
        .find(|h| h["syns"][0]["mp_capable"]["version"] == 0)
        .expect("a v0 SYN");
    assert_eq!(v0["status"], "fallback_syn_ack", "{v0}");
    assert!(v0["notes"].to_string().contains("only MPTCP v0"), "{v0}");
    check_key_derivation_v0(&v0["client_key"]);
    let v1 = hs
        .iter()
        .find(|h| h["syns"][0]["mp_capable"]["version"] == 1)
        .expect("a v1 SYN");
    assert_eq!(v1["syn_ack"]["mp_capable"]["version"], 1, "{v1}");
}

/// v0: token = first 4 bytes of SHA-1(key), IDSN = last 8 (RFC 6824).
fn check_key_derivation_v0(k: &Value) {
    use sha1::Sha1;
    let key = u64::from_str_radix(k["key"].as_str().unwrap(), 16).unwrap();
    let digest = Sha1::digest(key.to_be_bytes());
    let token = format!(
        "{:08x}",
        u32::from_be_bytes(digest[..4].try_into().unwrap())
    );
    let idsn = u64::from_be_bytes(digest[12..].try_into().unwrap());
    assert_eq!(k["token"], token.as_str(), "{k}");
    assert_eq!(k["idsn"].as_u64(), Some(idsn), "{k}");
}

/// The verdict of every handshake of a fixture, with the side it was
/// judged from, and the exit code of the text run.
fn verdicts(name: &str, extra: &[&str]) -> (Vec<(Value, Value)>, Option<i32>) {
    let mut args = vec!["analyze", "--json"];
    args.extend_from_slice(extra);
    let o = run(&args, &fixture(name));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let v = handshakes(&lines)
        .iter()
        .map(|h| (h["verdict"].clone(), h["verdict_detail"]["side"].clone()))
        .collect();
    (v, o.status.code())
}

#[test]
fn replay_clean_captures_are_mptcp_ok_from_either_side() {
    for name in [
        "v1-clean.client.pcap",
        "v1-clean.server.pcap",
        "v6-clean.client.pcap",
        "v6-clean.server.pcap",
        "checksum.server.pcap",
        "linger0.client.pcap",
    ] {
        let (v, code) = verdicts(name, &[]);
        // The side is guessed from the TTLs: what crossed the router has 63.
        let side = if name.contains(".client.") {
            "client"
        } else {
            "server"
        };
        assert_eq!(
            v,
            vec![(Value::from("mptcp_ok"), Value::from(side))],
            "{name}"
        );
        assert_eq!(code, Some(0), "{name}");
    }
    let text = stdout(&run(&["analyze"], &fixture("v1-clean.server.pcap")));
    assert!(
        text.contains("  verdict   mptcp_ok: MPTCP v1 works end to end to 10.2.0.2:6101"),
        "{text}"
    );
    assert!(text.contains("1 judged, 0 not mptcp_ok"), "{text}");
}

#[test]
fn replay_stripped_upstream_from_the_server_side() {
    // The server's capture shows four NOPs where the client's MP_CAPABLE
    // was: the option was removed on the way.
    let (v, code) = verdicts("stripped-upstream.server.pcap", &[]);
    assert_eq!(v, vec![("stripped_upstream".into(), "server".into())]);
    assert_eq!(code, Some(1));
    // The client's capture alone (an MP_CAPABLE SYN answered by a plain
    // SYN/ACK) cannot tell stripping from a server without MPTCP: the
    // engine says so instead of guessing.
    let (v, code) = verdicts("stripped-upstream.client.pcap", &[]);
    assert_eq!(v, vec![("inconclusive".into(), "client".into())]);
    assert_eq!(code, Some(1));
    let text = stdout(&run(
        &["analyze"],
        &fixture("stripped-upstream.client.pcap"),
    ));
    assert!(
        text.contains("  unknown:  the echo server's account"),
        "{text}"
    );
}

#[test]
fn replay_server_disabled_is_not_ok() {
    // Seen on the server: the option arrived intact and its kernel answered
    // without MP_CAPABLE.
    let (v, code) = verdicts("server-disabled.server.pcap", &[]);
    assert_eq!(v, vec![("server_mptcp_disabled".into(), "server".into())]);
    assert_eq!(code, Some(1));
    let text = stdout(&run(&["analyze"], &fixture("server-disabled.server.pcap")));
    assert!(text.contains("fix:      on the VPS: `sysctl -w net.mptcp.enabled=1`"));
    // Seen on the client: the same ambiguity as a stripped option.
    let (v, code) = verdicts("server-disabled.client.pcap", &[]);
    assert_eq!(v, vec![("inconclusive".into(), "client".into())]);
    assert_eq!(code, Some(1));
}

#[test]
fn replay_dropped_syns() {
    // Three MP_CAPABLE SYNs (same ISN) unanswered, then the kernel's SYN
    // without the option is answered: the retransmission count is the
    // evidence that SYNs carrying the option are dropped.
    let (v, code) = verdicts("dropped.client.pcap", &[]);
    assert_eq!(v, vec![("syn_dropped".into(), "client".into())]);
    assert_eq!(code, Some(1));
    // The server only ever saw the option-less retry: from there nothing
    // tried MPTCP, so nothing is judged.
    let (v, code) = verdicts("dropped.server.pcap", &[]);
    assert_eq!(v, vec![(Value::Null, Value::Null)]);
    assert_eq!(code, Some(0));
}

#[test]
fn replay_v0_syn_is_a_version_mismatch() {
    // The crafted v0 SYN is ignored by the v1-only kernel, which answered
    // the crafted v1 SYN and the kernel connection with its v1 key: the
    // capture itself proves the server speaks v1.
    for side in ["client", "server"] {
        let (v, code) = verdicts(&format!("v0-syn.{side}.pcap"), &[]);
        let codes: Vec<&Value> = v.iter().map(|(c, _)| c).collect();
        assert_eq!(
            codes,
            ["version_mismatch", "mptcp_ok", "mptcp_ok"],
            "{side}: {v:?}"
        );
        assert_eq!(code, Some(1));
    }
}

#[test]
fn replay_plain_tcp_and_joins_are_not_judged() {
    for name in ["tcp-plain.client.pcap", "tcp-plain.server.pcap"] {
        let (v, code) = verdicts(name, &[]);
        assert_eq!(v, vec![(Value::Null, Value::Null)], "{name}");
        assert_eq!(code, Some(0));
    }
    let (v, code) = verdicts("join.client.pcap", &[]);
    assert_eq!(v[0].0, "mptcp_ok");
    assert!(v[1..].iter().all(|(c, _)| c.is_null()), "{v:?}");
    assert_eq!(code, Some(0));
}

#[test]
fn replay_side_override() {
    // Told the server's capture was made on the client, the engine sees a
    // client whose SYN offered no MP_CAPABLE: the side matters.
    let (v, _) = verdicts("stripped-upstream.server.pcap", &["--side", "client"]);
    assert_eq!(v, vec![("local_mptcp_disabled".into(), "client".into())]);
    // Told the client's capture shows the server's view, it reads "arrived
    // intact, answered without MPTCP".
    let (v, _) = verdicts("stripped-upstream.client.pcap", &["--side", "server"]);
    assert_eq!(v, vec![("server_mptcp_disabled".into(), "server".into())]);
}

/// The capture as `editcap -s SNAPLEN` leaves it (classic pcap, either
/// byte order): every record cut to `snaplen` bytes, its original length
/// kept.
fn snapped(bytes: &[u8], snaplen: u32) -> Vec<u8> {
    let le = matches!(
        bytes[..4],
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1]
    );
    let get = |at: usize| {
        let a = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
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
        let incl = get(at + 8) as usize;
        let keep = incl.min(snaplen as usize);
        out.extend_from_slice(&bytes[at..at + 8]);
        out.extend_from_slice(&put(keep as u32));
        out.extend_from_slice(&bytes[at + 12..at + 16]);
        out.extend_from_slice(&bytes[at + 16..at + 16 + keep]);
        at += 16 + incl;
    }
    out
}

#[test]
fn checks_own_capture_gets_checks_verdict() {
    // The lab's clean check, recorded on the client: the kernel connection
    // and the crafted v1, v0 (random key) and plain SYNs.
    let o = run(&["analyze"], &fixture("lab-clean.client.pcap"));
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("4 handshakes, 3 judged, 0 not mptcp_ok"),
        "{text}"
    );
    assert!(!text.contains("version_mismatch"), "{text}");
    assert!(
        text.contains("  check     run #1: check's crafted v0 MP_CAPABLE SYN (a random key"),
        "{text}"
    );
    assert!(
        text.contains("  check     run #1: check's crafted plain SYN (the control)"),
        "{text}"
    );
    assert!(
        text.contains("  check     run #1: this host's kernel connection"),
        "{text}"
    );
    // What a capture cannot show is not claimed.
    assert!(!text.contains("net.mptcp.enabled"), "{text}");
    let lines = json_lines(&fixture("lab-clean.client.pcap"));
    let roles: Vec<&Value> = handshakes(&lines)
        .iter()
        .map(|h| &h["check_run"]["role"])
        .collect();
    assert_eq!(roles, ["kernel", "v1_probe", "v0_probe", "plain_probe"]);
    let evidence = handshakes(&lines)[2]["verdict_detail"]["evidence"].to_string();
    assert!(!evidence.contains("net.mptcp.enabled"), "{evidence}");
}

#[test]
fn a_syn_cut_by_the_snapshot_length_is_not_plain_tcp() {
    let cut = snapped(
        &std::fs::read(fixture("lab-clean.client.pcap")).unwrap(),
        60,
    );
    let path = temp_file("lab-clean.s60.pcap", &cut);
    let o = run(&["analyze"], &path);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "not an OK: {text}");
    assert!(!text.contains("plain TCP"), "{text}");
    assert_eq!(
        text.matches(": options not captured: the snapshot length cut the SYN's TCP options")
            .count(),
        4,
        "{text}"
    );
    assert!(
        text.contains("fix:      capture whole packets: `tcpdump -s 0`"),
        "{text}"
    );
    let lines = json_lines(&path);
    for h in handshakes(&lines) {
        assert_eq!(h["status"], "options_not_captured", "{h}");
        assert_eq!(h["verdict"], "inconclusive", "{h}");
        assert_eq!(h["verdict_detail"]["rule"], "options_not_captured", "{h}");
    }
}
