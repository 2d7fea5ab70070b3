//! Any bytes as a capture file through the whole `analyze` pipeline: the
//! pcap/pcapng reader, link decapsulation, flow tracking and the verdict
//! of every handshake, from each side. Must never panic.
#![no_main]
use engine::analyze::{analyze, verdict::Side};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for side in Side::ALL {
        if let Ok(analysis) = analyze(data, side) {
            assert_eq!(analysis.handshakes.len(), analysis.judgements.len());
            assert!(analysis.tcp_packets <= analysis.frames);
        }
    }
});
