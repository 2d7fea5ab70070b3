//! Arbitrary bytes as a captured IP packet, rendered as `analyze` prints
//! it: the tcpdump line and the JSON line must not panic, the JSON line
//! must be one valid JSON object, and the relative-sequence state must
//! survive the same segment twice. The first byte picks the frame number.
#![no_main]
use engine::analyze::decode::option_list;
use libfuzzer_sys::fuzz_target;
use packet::ip::parse_ip_tcp;
use packet::line::{DecodedOptions, PacketText, Timestamp};

fuzz_target!(|data: &[u8]| {
    let Some((&index, bytes)) = data.split_first() else {
        return;
    };
    let Ok(seg) = parse_ip_tcp(bytes) else {
        return;
    };
    let opts = option_list(&seg).map(|list| DecodedOptions {
        list,
        cut: seg.tcp_missing > 0,
    });
    let ts = Timestamp {
        secs: u64::from(index) << 40,
        nanos: 999_999_999,
    };
    let mut text = PacketText::default();
    for _ in 0..2 {
        let line = text.text_line(u64::from(index), ts, &seg, opts.as_ref());
        assert!(line.ends_with(b"\n"));
        let json = text.json_line(u64::from(index), ts, &seg, opts.as_ref());
        if !json.is_empty() {
            let value: serde_json::Value =
                serde_json::from_slice(json).expect("a JSON packet line is valid JSON");
            assert!(value.is_object());
        }
    }
});
