//! The engines of mptcp-probe, free of I/O: bytes and timestamps in,
//! decisions out, so a recorded run replays without root.
//!
//! Data flows one way:
//!
//! ```text
//! packet        wire formats, option codecs, diff, verdict rules
//!   ^
//! engine        matching, check's adapter, trace plan/state/timing, analyze pipeline
//!   ^
//! probe-client  sockets, clocks, CLI, rendering   (netsys below it: the system calls)
//! ```
//!
//! Nothing here opens a socket or reads a clock: callers pass the packets
//! they received, with their timestamps, and the time it is now.
//!
//! - [`matching`]: which probe a received packet answers;
//! - [`check`]: `check`'s observations turned into the verdict engine's input;
//! - [`listener`]: the echo server's fallback listener in a verdict's fix;
//! - [`trace`]: the probes of a trace, the hops assembled from the answers,
//!   and when to retry and give up ([`trace::driver`]);
//! - [`analyze`]: a pcap/pcapng capture decoded into handshakes and verdicts;
//! - [`validate`]: the checks an echo server's report and answer pass before
//!   they count as evidence.
#![forbid(unsafe_code)]

pub mod aggregate;
pub mod analyze;
pub mod check;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod listener;
pub mod matching;
pub mod trace;
pub mod validate;
