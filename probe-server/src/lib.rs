//! mptcp-probe-server as a library: the pure parts (BPF program, captured
//! segment slicing, bounded store, protocol state machine, report) and the
//! socket edge ([`server`]). The binary is a thin command line over
//! [`server::run`]; the namespace tests run the same code in-process.
#![forbid(unsafe_code)]
pub mod admission;
pub mod aggregate;
pub mod bpf;
pub mod capture;
pub mod cli;
pub mod connlog;
pub mod listen;
pub mod logfields;
pub mod manpage;
pub mod privdrop;
pub mod protocol;
pub mod rearm;
pub mod report;
pub mod segment;
pub mod server;
pub mod sockopt;
pub mod store;
