//! The BPF interpreter on arbitrary programs and packets: the first byte
//! gives the program length in instructions, then 8 bytes per instruction
//! (`struct sock_filter`, little-endian), the rest is the packet. `run` is
//! total: it returns the accepted length or 0 and never panics or loops.
#![no_main]
use libfuzzer_sys::fuzz_target;
use netsys::bpf::{run, Insn};

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let split = (usize::from(count) * 8).min(rest.len() / 8 * 8);
    let (code, pkt) = rest.split_at(split);
    let prog: Vec<Insn> = code
        .chunks_exact(8)
        .map(|c| {
            Insn::new(
                u16::from_le_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let _ = run(&prog, pkt);
});
