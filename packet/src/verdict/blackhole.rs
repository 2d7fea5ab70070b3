//! The kernel's MPTCP blackhole detection, as this host's state: after
//! MP_CAPABLE SYNs were lost while a plain retry got through, an upstream
//! kernel (5.19+ for the counters, 6.12+ for the detection) sends every new
//! outgoing MPTCP connection without MP_CAPABLE for
//! `net.mptcp.blackhole_timeout` seconds (3600 by default, doubled on each
//! repeat up to 64 times), so MPTCP silently stops for the whole network
//! namespace. Writing the sysctl, even its current value, clears the
//! detection at once (the kernel's sysctl handler zeroes its count; verified
//! on 6.18).
//!
//! [`reset_advice`] is the one reset text `check` and `doctor` both give.
use serde::{Deserialize, Serialize};

/// The kernel's default `net.mptcp.blackhole_timeout`, seconds.
pub const DEFAULT_TIMEOUT: u64 = 3600;

/// The detection, seen active: what showed it and the counters then.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Blackhole {
    /// `MPTcpExt Blackhole`: how often the detection has turned MPTCP off
    /// in this network namespace.
    #[serde(default)]
    pub events: Option<u64>,
    /// `MPTcpExt MPCapableSYNTXDisabled`: connections sent without
    /// MP_CAPABLE because of it.
    #[serde(default)]
    pub syn_tx_disabled: Option<u64>,
    /// `net.mptcp.blackhole_timeout`, seconds.
    #[serde(default)]
    pub timeout: Option<u64>,
}

impl Blackhole {
    /// The evidence line: the counters and the sysctl.
    pub fn describe(&self) -> String {
        let show = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |n| n.to_string());
        format!(
            "this host's kernel: its blackhole detection is active, so new outgoing connections \
             leave without MP_CAPABLE (MPTcpExt Blackhole = {}, MPCapableSYNTXDisabled = {}, \
             net.mptcp.blackhole_timeout = {} s)",
            show(self.events),
            show(self.syn_tx_disabled),
            show(self.timeout)
        )
    }
}

/// The command that clears the detection now: writing
/// `net.mptcp.blackhole_timeout` with its current value (the default when
/// it is unknown or 0, where the detection is already off).
pub fn reset_command(timeout: Option<u64>) -> String {
    let value = timeout.filter(|&t| t > 0).unwrap_or(DEFAULT_TIMEOUT);
    format!("sysctl -w net.mptcp.blackhole_timeout={value}")
}

/// The reset advice `check` and `doctor` give, starting with
/// [`reset_command`].
pub fn reset_advice(timeout: Option<u64>) -> String {
    format!(
        "{} (writing it, even with its current value, clears the detection at once; or wait \
         for the period to end); first make sure no path drops SYNs carrying MP_CAPABLE \
         (`mptcp-probe check HOST` on each WAN), or the next lost SYNs trip it again",
        reset_command(timeout)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_writes_the_current_value() {
        assert_eq!(
            reset_command(Some(1800)),
            "sysctl -w net.mptcp.blackhole_timeout=1800"
        );
        assert_eq!(
            reset_command(None),
            "sysctl -w net.mptcp.blackhole_timeout=3600"
        );
        assert_eq!(
            reset_command(Some(0)),
            "sysctl -w net.mptcp.blackhole_timeout=3600"
        );
        assert!(reset_advice(Some(60)).starts_with(&reset_command(Some(60))));
        let b = Blackhole {
            events: Some(1),
            syn_tx_disabled: Some(2),
            timeout: None,
        };
        assert!(b
            .describe()
            .contains("Blackhole = 1, MPCapableSYNTXDisabled = 2"));
        assert!(b.describe().contains("blackhole_timeout = ? s"));
    }
}
