//! Any bytes as the text of /proc files and kernel configs: the MPTcpExt
//! counter tables (/proc/net/netstat), sysctl values and the map they are
//! interpreted from, kernel `.config` text, and /proc/config.gz (gzip).
//! Must never panic.
#![no_main]
use host::{kconfig, netstat, sysctl};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fn text(t: &str) {
    let _ = netstat::parse(t);
    let value = sysctl::parse_value(t);
    let mut map = BTreeMap::new();
    for name in ["enabled", "mptcp_enabled", "mptcp_version"] {
        map.insert(name.to_string(), value.clone());
        let _ = sysctl::MptcpSysctlState::from_map(&map);
    }
    let _ = kconfig::MptcpConfig::from_text("fuzz", t);
}

fuzz_target!(|data: &[u8]| {
    text(&String::from_utf8_lossy(data));
    if let Ok(unzipped) = kconfig::gunzip(data) {
        text(&unzipped);
    }
});
