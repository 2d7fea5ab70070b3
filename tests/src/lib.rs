//! End-to-end tests and the network-namespace lab live here.
pub mod echo_server;
pub mod lab;
pub mod netns;
