//! The lab captures in `pcap-fixtures/`, for tests: the engine's own, and
//! (with the `fixtures` feature) those of the crates built on it.
use crate::analyze::reader::Capture;
use std::time::Duration;

/// A fixture's bytes.
pub fn bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/../pcap-fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every frame of a fixture as (timestamp, IP packet), read with analyze's
/// own capture reader.
pub fn frames(name: &str) -> Vec<(Duration, Vec<u8>)> {
    let data = bytes(name);
    Capture::open(&data)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .map(|frame| {
            let frame = frame.unwrap_or_else(|e| panic!("{name}: {e}"));
            let ip = packet::link::ip_payload(frame.linktype, &frame.data).unwrap();
            (Duration::new(frame.ts.secs, frame.ts.nanos), ip.to_vec())
        })
        .collect()
}
