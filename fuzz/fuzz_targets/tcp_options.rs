//! Arbitrary bytes as a TCP option area, with and without TCP flags: the
//! parse must not panic, must re-emit byte for byte, and the text and JSON
//! renderings must not panic either. The first byte picks the flags.
#![no_main]
use libfuzzer_sys::fuzz_target;
use packet::json::{option_json, option_list_json};
use packet::{MptcpOption, OptionList, TcpFlags, TcpOption};

fuzz_target!(|data: &[u8]| {
    let Some((&flag_byte, area)) = data.split_first() else {
        return;
    };
    for flags in [None, Some(TcpFlags(flag_byte))] {
        let list = OptionList::parse(area, flags);
        assert_eq!(
            list.to_bytes(),
            area,
            "option area must re-emit identically"
        );
        let _ = list.to_string();
        let _ = option_list_json(&list);
        for option in &list.options {
            let _ = format!("{option} {option:#}");
            let _ = option_json(option);
            if let TcpOption::Mptcp(m) = option {
                let bytes = m.to_bytes();
                assert_eq!(
                    MptcpOption::parse(&bytes, flags),
                    *m,
                    "MPTCP option re-parses equal"
                );
            }
        }
    }
});
