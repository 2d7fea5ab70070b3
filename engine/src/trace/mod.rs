//! `trace`'s engines: the probes of one flow ([`plan`]), the hops
//! assembled from what came back ([`state`]), when to send and when to stop
//! ([`driver`]), the traced flow with its plain and other-version controls
//! ([`flows`]), and the echo server's account in the verdict engine's
//! terms ([`echo`]).
pub mod driver;
pub mod echo;
pub mod flows;
pub mod plan;
pub mod state;
