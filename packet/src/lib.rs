//! The wire layer of mptcp-probe: lossless TCP option and MPTCP decoding and
//! encoding, IP/TCP probe building, ICMP quote extraction, and the header diff
//! that names what a path changed. No sockets and no clocks: bytes in,
//! decisions out, so a pcap replays everything exactly.
#![forbid(unsafe_code)]

pub mod build;
pub mod crypto;
pub mod diff;
pub mod echo;
pub mod error;
pub mod flags;
pub mod icmp;
pub mod ip;
pub mod json;
pub mod line;
pub mod link;
pub mod mptcp;
pub mod tcp_opt;
pub mod text;
pub mod verdict;

pub use error::{Layer, LenError, OptionError, OptionErrorKind};
pub use flags::TcpFlags;
pub use mptcp::MptcpOption;
pub use tcp_opt::{OptionList, OptionsIter, TcpOption};
