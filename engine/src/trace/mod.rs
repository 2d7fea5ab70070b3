//! `trace`'s engines: the probes of one trace ([`plan`]), the hops
//! assembled from what came back ([`state`]), when to send and when to stop
//! ([`driver`]), and the echo server's account in the verdict engine's
//! terms ([`echo`]).
pub mod driver;
pub mod echo;
pub mod plan;
pub mod state;
