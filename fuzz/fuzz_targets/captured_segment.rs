//! Any bytes as a segment the server's capture socket delivered: the
//! tolerant IP+TCP slicing, the option summaries and the report's view in
//! both option forms (serialised as the server sends it). Must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use packet::echo::OptionForm;
use probe_server::segment::{parse, summarize_options};

fuzz_target!(|data: &[u8]| {
    let Ok(seg) = parse(data) else { return };
    assert!(seg.header.len() <= data.len());
    assert_eq!(seg.header.len(), seg.ip_len + seg.tcp_len);
    let _ = summarize_options(seg.option_area(), seg.flags);
    for form in [OptionForm::Summary, OptionForm::Json] {
        let observed = seg.summary("eth0", 0.0, form);
        serde_json::to_string(&observed).expect("a summary serialises");
    }
});
