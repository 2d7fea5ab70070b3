//! The engines of mptcp-probe, free of I/O: bytes and timestamps in,
//! decisions out, so a recorded run replays without root.
#![forbid(unsafe_code)]
