//! Option areas recorded in our own lab (`tests/data/lab-options.txt`, one
//! line per TCP segment: `<file>#<frame> <tcp-flags-hex> <option-area-hex>`):
//! each parses with no framing error, re-emits byte for byte, renders, and
//! every truncation is a framing error (unless it falls on an option
//! boundary), never a panic.
use packet::json::option_list_json;
use packet::{OptionList, TcpFlags};

const LAB: &str = include_str!("data/lab-options.txt");

fn lines() -> impl Iterator<Item = (&'static str, TcpFlags, Vec<u8>)> {
    LAB.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next().unwrap();
            let flags = u8::from_str_radix(f.next().unwrap(), 16).unwrap();
            let area = hex::decode(f.next().unwrap_or("")).unwrap();
            (name, TcpFlags(flags), area)
        })
}

#[test]
fn lab_option_areas_parse_and_reemit() {
    let mut count = 0;
    let mut mptcp = 0;
    let mut invalid = Vec::new();
    for (name, flags, area) in lines() {
        let list = OptionList::parse(&area, Some(flags));
        assert!(list.error.is_none(), "{name}: {:?}", list.error);
        assert_eq!(list.to_bytes(), area, "{name}: re-emit");
        let _ = (list.to_string(), option_list_json(&list));
        for m in list.mptcp() {
            mptcp += 1;
            if m.is_invalid() {
                invalid.push(format!("{name}: {m:#}"));
            }
        }
        count += 1;
    }
    eprintln!(
        "lab options: {count} areas, {mptcp} MPTCP options, {} invalid for their flags",
        invalid.len()
    );
    for i in &invalid {
        eprintln!("  {i}");
    }
    assert!(count > 0);
}

#[test]
fn lab_truncations_are_errors_never_panics() {
    for (name, flags, area) in lines() {
        let full = OptionList::parse(&area, Some(flags));
        // Offsets where an option ends: cutting there leaves a sound area.
        let mut boundaries = vec![0];
        let mut padding_from = area.len();
        let mut at = 0;
        for o in &full.options {
            at += o.buffer_len();
            boundaries.push(at);
            if matches!(o, packet::TcpOption::Eol) {
                padding_from = at;
            }
        }
        for cut in 0..area.len() {
            let list = OptionList::parse(&area[..cut], Some(flags));
            assert_eq!(list.to_bytes(), &area[..cut]);
            let _ = list.to_string();
            // Padding after an EOL absorbs any cut.
            if !boundaries.contains(&cut) && cut <= padding_from {
                assert!(list.error.is_some(), "{name} cut at {cut}: {list:?}");
            }
        }
    }
}
