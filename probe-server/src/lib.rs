//! mptcp-probe-server as a library: the pure parts (BPF program, captured
//! segment slicing, bounded store, protocol state machine, report) and the
//! socket edge ([`server`]). The binary is a thin command line over
//! [`server::run`]; the namespace tests run the same code in-process.
#![forbid(unsafe_code)]
pub mod admission;
pub mod bpf;
pub mod capture;
pub mod connlog;
pub mod listen;
pub mod privdrop;
pub mod protocol;
pub mod report;
pub mod segment;
pub mod server;
pub mod sockopt;
pub mod store;
