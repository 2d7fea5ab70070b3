//! What a client sends the echo server: the first bytes classified (HTTP
//! or JSON lines), the bytes framed into lines in arbitrary chunks, each
//! line handled by the protocol state machine (JSON parsing included).
//! Must never panic; lines stay within the limit and hold no newline.
#![no_main]
use libfuzzer_sys::fuzz_target;
use probe_server::protocol::{classify, LineBuffer, Session};

/// Small, so the fuzzer reaches the length limit.
const MAX_LINE: usize = 512;

fuzz_target!(|data: &[u8]| {
    // The first byte cuts the rest into chunks, as reads would.
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let _ = classify(rest);
    let mut lines = LineBuffer::new(MAX_LINE);
    let mut session = Session::new(4);
    for piece in rest.chunks(chunk) {
        let _ = classify(lines.buffered());
        lines.push(piece);
        loop {
            match lines.next_line() {
                Ok(Some(line)) => {
                    assert!(line.len() <= MAX_LINE);
                    assert!(!line.contains(&b'\n'));
                    let _ = session.on_line(&line);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
