//! Ctrl-C / SIGTERM: the lab stops between steps and its guards tear the
//! namespaces down, instead of dying with namespaces left behind.
//!
//! The handler only sets a flag (the one async-signal-safe thing to do);
//! the runner checks it after each step. Children in the same process
//! group (client, server, tcpdump started by `ip netns exec`) get the
//! terminal's SIGINT too and end on their own, so no step blocks for long.
use netsys::process::{set_flag_on, Signal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The outcome of the one registration (a second would add a second
/// action setting the same flag).
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the handler for SIGINT and SIGTERM (idempotent).
pub fn install() -> std::io::Result<()> {
    INSTALLED
        .get_or_init(|| {
            [Signal::SIGINT, Signal::SIGTERM]
                .into_iter()
                .try_for_each(|sig| set_flag_on(sig, &INTERRUPTED))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(std::io::Error::other)
}

/// Whether SIGINT or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// An error for a step cut short by an interrupt.
pub fn check() -> std::io::Result<()> {
    if interrupted() {
        Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted",
        ))
    } else {
        Ok(())
    }
}
