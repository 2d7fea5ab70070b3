//! The option JSON written straight from the decoded options
//! (`packet::json::OptionListView`) is byte for byte the JSON of the
//! `OptionEntry` list (`option_list_json`): on every TCP header of the
//! lab's and the peers' captures, and on arbitrary option areas.
use packet::json::{option_list_json, OptionListView};
use packet::{OptionList, TcpFlags};
use proptest::prelude::*;
use std::path::Path;

fn same_json(area: &[u8], flags: Option<TcpFlags>) -> Result<(), String> {
    let list = OptionList::parse(area, flags);
    let built = serde_json::to_string(&option_list_json(&list)).map_err(|e| e.to_string())?;
    let viewed = serde_json::to_string(&OptionListView(&list)).map_err(|e| e.to_string())?;
    if built == viewed {
        Ok(())
    } else {
        Err(format!(
            "{}:\n  built  {built}\n  viewed {viewed}",
            hex::encode(area)
        ))
    }
}

/// The option areas (with their flags) of every TCP packet in the pcaps
/// under `dir`.
fn areas(dir: &Path) -> Vec<(Vec<u8>, TcpFlags)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("{} absent: skipped", dir.display());
        return out;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|x| x != "pcap") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let Ok(mut reader) = pcap_file::pcap::PcapReader::new(&bytes[..]) else {
            continue;
        };
        let linktype = u32::from(reader.header().datalink);
        while let Some(Ok(pkt)) = reader.next_packet() {
            let Ok(ip) = packet::link::ip_payload(linktype, &pkt.data) else {
                continue;
            };
            let Ok(seg) = packet::ip::parse_ip_tcp(ip) else {
                continue;
            };
            if let Some(flags) = seg.flags {
                out.push((seg.options.to_vec(), flags));
            }
        }
    }
    out
}

#[test]
fn every_captured_option_area_writes_the_same_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seen = 0;
    for dir in [
        root.join("pcap-fixtures"),
        root.join("../shared/peer-pcaps/tcpdump"),
        root.join("../shared/peer-pcaps/ptcpdump"),
    ] {
        for (area, flags) in areas(&dir) {
            same_json(&area, Some(flags)).unwrap();
            same_json(&area, None).unwrap();
            seen += 1;
        }
    }
    assert!(seen > 500, "{seen} option areas");
}

proptest! {
    #[test]
    fn arbitrary_areas_write_the_same_json(area in proptest::collection::vec(any::<u8>(), 0..60), flags in proptest::option::of(any::<u8>())) {
        prop_assert_eq!(same_json(&area, flags.map(TcpFlags)), Ok(()));
    }

    /// MPTCP-looking options reach every subtype's fields.
    #[test]
    fn mptcp_heavy_areas_write_the_same_json(
        parts in proptest::collection::vec((0u8..16, 0u8..16, proptest::collection::vec(any::<u8>(), 0..30)), 0..4),
        flags in any::<u8>(),
    ) {
        let mut area = Vec::new();
        for (subtype, low, body) in parts {
            area.extend_from_slice(&[30, (body.len() + 3) as u8, (subtype << 4) | low]);
            area.extend_from_slice(&body);
        }
        prop_assert_eq!(same_json(&area, Some(TcpFlags(flags))), Ok(()));
        prop_assert_eq!(same_json(&area, None), Ok(()));
    }
}

/// The option text written by `OptionList::write_tcpdump` is its `Display`.
fn same_text(area: &[u8], flags: Option<TcpFlags>) -> Result<(), String> {
    let list = OptionList::parse(area, flags);
    let mut written = Vec::new();
    list.write_tcpdump(&mut written);
    let shown = list.to_string();
    if written == shown.as_bytes() {
        Ok(())
    } else {
        Err(format!(
            "{}:\n  written {}\n  shown   {shown}",
            hex::encode(area),
            String::from_utf8_lossy(&written)
        ))
    }
}

#[test]
fn every_captured_option_area_writes_the_same_text() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seen = 0;
    for dir in [
        root.join("pcap-fixtures"),
        root.join("../shared/peer-pcaps/tcpdump"),
        root.join("../shared/peer-pcaps/ptcpdump"),
    ] {
        for (area, flags) in areas(&dir) {
            same_text(&area, Some(flags)).unwrap();
            same_text(&area, None).unwrap();
            seen += 1;
        }
    }
    assert!(seen > 500, "{seen} option areas");
}

proptest! {
    #[test]
    fn arbitrary_areas_write_the_same_text(area in proptest::collection::vec(any::<u8>(), 0..60), flags in proptest::option::of(any::<u8>())) {
        prop_assert_eq!(same_text(&area, flags.map(TcpFlags)), Ok(()));
    }

    #[test]
    fn dss_heavy_areas_write_the_same_text(
        parts in proptest::collection::vec((0u8..16, proptest::collection::vec(any::<u8>(), 1..26)), 0..3),
        flags in any::<u8>(),
    ) {
        let mut area = Vec::new();
        for (low, body) in parts {
            area.extend_from_slice(&[30, (body.len() + 3) as u8, 0x20 | low]);
            area.extend_from_slice(&body);
        }
        prop_assert_eq!(same_text(&area, Some(TcpFlags(flags))), Ok(()));
        prop_assert_eq!(same_text(&area, None), Ok(()));
    }
}
