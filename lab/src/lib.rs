//! The network-namespace lab: a small internet in namespaces (client - r1 -
//! r2 - server) where every cause of a failed MPTCP check can be switched
//! on, the `lab` command that runs it, and the helpers the end-to-end tests
//! share (namespaces, the in-process echo server).
//!
//! The aggregate lab ([`aggregate`]) adds a router with two WANs in
//! OpenMPTCProuter's layout for `mptcp-probe aggregate`, with its own table.
//!
//! One table ([`scenario::SCENARIOS`]) drives the `lab` command, the
//! end-to-end tests (probe-client/tests/lab_e2e.rs), the fixture recorder
//! (`lab --record DIR`) and the replay tests (probe-client/tests/lab_replay.rs).
#![forbid(unsafe_code)]
pub mod aggregate;
pub mod attack;
pub mod blackhole;
pub mod echo_server;
pub mod interrupt;
pub mod middlebox;
pub mod netns;
pub mod plain_service;
pub mod reflector;
pub mod run;
pub mod scenario;
pub mod topology;
pub mod two_wan;

pub use run::{Binaries, Outcome, RunOptions, ServerLaunch};
pub use scenario::{Expect, Family, HopRange, Layout, Scenario, SCENARIOS};
pub use topology::{Router, Topology};

/// Why the lab cannot run here (not root, a tool missing), or `None`.
pub fn unavailable() -> Option<String> {
    if let Some(why) = crate::netns::unavailable() {
        return Some(why);
    }
    for tool in ["iptables", "ip6tables"] {
        if !crate::netns::have(tool) {
            return Some(format!("`{tool}` not found (apt-get install iptables)"));
        }
    }
    None
}
