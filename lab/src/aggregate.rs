//! The aggregate lab: a router with two WANs in OpenMPTCProuter's layout
//! ([`topology`]), one cause per scenario that keeps a WAN out of the
//! aggregate ([`scenario`]), and the runner that asks the real
//! `mptcp-probe aggregate` about it ([`run`]). The `lab` command runs these
//! after the check/trace scenarios; probe-client/tests/aggregate_e2e.rs runs
//! each as a test.
pub mod run;
pub mod scenario;
pub mod topology;

pub use run::{AggOptions, AggOutcome};
pub use scenario::{find, AggScenario, Cause, AGGREGATE_SCENARIOS};
pub use topology::TwoWan;
