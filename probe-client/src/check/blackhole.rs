//! Do no harm: whether this check tripped the kernel's MPTCP blackhole
//! detection (`MPTcpExt: Blackhole` rose while it ran), which turns MPTCP
//! off for every new connection of this host for
//! `net.mptcp.blackhole_timeout` seconds; and, where this process may
//! write the sysctl (root; capabilities are gone by then, but uid 0 still
//! writes a namespace's sysctls), the reset, done and said.
//!
//! The counter is namespace-wide: another connection dropping MP_CAPABLE
//! SYNs at the same moment would move it too, so the words say "during
//! this check", not "by this check's packets".
use serde::Serialize;
use std::collections::BTreeMap;

/// The counter read before the check's first packet.
#[derive(Debug, Clone, Copy)]
pub struct BlackholeWatch {
    before: Option<u64>,
}

impl BlackholeWatch {
    pub fn start() -> Self {
        BlackholeWatch {
            before: read_trips(),
        }
    }

    /// Reads the counter again; when it rose, resets the detection if this
    /// process may.
    pub fn finish(self) -> BlackholeState {
        let after = read_trips();
        let tripped = matches!((self.before, after), (Some(b), Some(a)) if a > b);
        let reset = if tripped {
            Some(match host::blackhole::reset() {
                Ok(value) => ResetResult::Restored { value },
                Err(e) => ResetResult::Failed {
                    error: e.to_string(),
                },
            })
        } else {
            None
        };
        BlackholeState {
            before: self.before,
            after,
            tripped,
            reset,
        }
    }
}

fn read_trips() -> Option<u64> {
    host::read_mptcp_counters()
        .ok()
        .as_ref()
        .and_then(|c: &BTreeMap<String, u64>| host::blackhole::trips(c))
}

/// What became of a tripped detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ResetResult {
    /// The sysctl was written back with its value: MPTCP is on again.
    Restored { value: String },
    /// This process may not write it (not root): the user must.
    Failed { error: String },
}

/// The `blackhole` object of `check --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlackholeState {
    /// `MPTcpExt: Blackhole` before and after the check (null: unreadable).
    pub before: Option<u64>,
    pub after: Option<u64>,
    /// It rose during the check.
    pub tripped: bool,
    /// What was done about it (null when it did not rise).
    pub reset: Option<ResetResult>,
}

impl BlackholeState {
    /// The warning to print first, when there is one.
    pub fn warning(&self) -> Option<String> {
        let reset = self.reset.as_ref()?;
        let counts = format!(
            "MPTcpExt Blackhole {} -> {}",
            self.before.unwrap_or_default(),
            self.after.unwrap_or_default()
        );
        Some(match reset {
            ResetResult::Restored { value } => format!(
                "the kernel's MPTCP blackhole detection tripped during this check ({counts}), \
                 which turns MPTCP off for every new connection of this host; reset it by \
                 writing {}={value} back, so new connections use MPTCP again",
                host::blackhole::TIMEOUT_SYSCTL
            ),
            ResetResult::Failed { error } => format!(
                "the kernel's MPTCP blackhole detection tripped during this check ({counts}): \
                 every new connection of this host goes out without MPTCP for \
                 {} seconds; this run could not reset it ({error}): run `sudo {}`",
                host::blackhole::TIMEOUT_SYSCTL,
                host::blackhole::reset_command()
            ),
        })
    }
}

/// The warning for a run that could not send crafted probes first, whose
/// MPTCP connection lost SYNs, where the counter cannot be read: the
/// detection may have tripped, unseen.
pub fn blind_warning() -> String {
    format!(
        "without crafted probes sent first (CAP_NET_RAW), this check made an MPTCP connection \
         that lost SYNs; that can trip the kernel's MPTCP blackhole detection, which turns MPTCP \
         off for every new connection of this host (its counter could not be read here); to \
         clear it: `sudo {}`",
        host::blackhole::reset_command()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(before: u64, after: u64, reset: Option<ResetResult>) -> BlackholeState {
        BlackholeState {
            before: Some(before),
            after: Some(after),
            tripped: after > before,
            reset,
        }
    }

    #[test]
    fn warnings_say_what_was_done() {
        assert_eq!(state(1, 1, None).warning(), None);
        let w = state(
            0,
            1,
            Some(ResetResult::Restored {
                value: "3600".into(),
            }),
        )
        .warning()
        .unwrap();
        assert!(w.contains("Blackhole 0 -> 1"), "{w}");
        assert!(w.contains("net.mptcp.blackhole_timeout=3600 back"), "{w}");
        let w = state(
            2,
            3,
            Some(ResetResult::Failed {
                error: "Permission denied".into(),
            }),
        )
        .warning()
        .unwrap();
        assert!(w.contains("Permission denied"), "{w}");
        assert!(w.contains(&host::blackhole::reset_command()), "{w}");
        assert!(blind_warning().contains(&host::blackhole::reset_command()));
    }

    #[test]
    fn json_shape() {
        let s = state(
            0,
            1,
            Some(ResetResult::Restored {
                value: "3600".into(),
            }),
        );
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"before":0,"after":1,"tripped":true,"reset":{"result":"restored","value":"3600"}}"#
        );
    }
}
