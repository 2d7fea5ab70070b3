//! The system layer under the client, the server and the lab: every system
//! call that needs `unsafe` lives here, each block with a SAFETY comment,
//! so the crates above can `#![forbid(unsafe_code)]`.
pub mod bpf;
pub mod iface;
pub mod netlink;
pub mod netns;
pub mod packet_ring;
pub mod packet_socket;
pub mod privileges;
pub mod process;
pub mod random;
pub mod raw_recv;
pub mod raw_send;
pub mod sockopt;
pub mod wake;
