//! Any bytes as what the kernel's generic netlink socket returned: the
//! message and attribute walkers, and every payload parser of the MPTCP
//! path manager (error code, family id, limits, endpoint). Must never panic.
#![no_main]
use host::netlink::{
    error_code, flag_names, genl_attrs, parse_attrs, parse_endpoint, parse_family_id, parse_limits,
    parse_messages,
};
use libfuzzer_sys::fuzz_target;

fn payload(p: &[u8]) {
    let _ = error_code(p);
    let _ = genl_attrs(p);
    let _ = parse_family_id(p);
    let _ = parse_limits(p);
    let _ = parse_endpoint(p);
}

fuzz_target!(|data: &[u8]| {
    if let Some(bits) = data.get(..4) {
        let _ = flag_names(u32::from_le_bytes([bits[0], bits[1], bits[2], bits[3]]));
    }
    let _ = parse_attrs(data);
    payload(data);
    if let Ok(messages) = parse_messages(data) {
        for m in &messages {
            payload(m.payload);
        }
    }
});
