//! Shared raw network I/O of the client verbs (`check`, `trace`): privileges,
//! raw sockets, source selection, name resolution and the `--write` pcap
//! recorder; matching answers to probes is the engine's (`engine::matching`).
//!
//! Typical use (see `trace` for a complete one):
//! 0. [`privileges::lower_effective`] first of all;
//! 1. [`resolve::resolve`] the host, [`source::select_source`] the address
//!    and [`source::reserve_port`] a source port;
//! 2. [`raw::RawSockets::open`] (raises CAP_NET_RAW for the `socket` calls
//!    only), then [`privileges::drop_all`] before any other thread starts;
//! 3. send built packets with [`raw::RawSockets::send`], receive with
//!    [`raw::RawSockets::recv_until`] against one [`raw::Deadline`], and
//!    [`matching::match_packet`] each received packet to the probes sent;
//! 4. record both with [`pcap::PcapRecorder`] when `--write` is given.
pub mod error;
pub mod filter;
/// Pure, so it lives in the engine; this path stays for the I/O modules.
pub mod matching {
    #[cfg(test)]
    pub(crate) use engine::fixtures;
    pub use engine::matching::*;
}
pub mod pcap;
pub mod privileges;
pub mod raw;
pub mod resolve;
pub mod source;
