//! The echo server's own listener in a `server_mptcp_disabled` verdict.
//!
//! An echo server started while its kernel refused MPTCP listens with TCP
//! sockets (a fallback) and says so in its report, with whether it re-arms
//! them as MPTCP by itself once the kernel allows it
//! (`readiness.listener.rearm`). The verdict rules see only "the port is
//! served by a plain TCP listener"; this adds what the report says about
//! that listener, and whether the server host has MPTCP enabled *now*,
//! and names the one action that helps: enable MPTCP, wait for the
//! re-arm, or restart mptcp-probe-server (only when it cannot re-arm).
use packet::echo::{EchoReport, RearmStatus};
use packet::verdict::{Verdict, VerdictCode};

/// Adds the listener's account to a `server_mptcp_disabled` verdict whose
/// server listens with a TCP fallback; any other verdict is left alone.
pub fn amend(verdict: &mut Verdict, report: &EchoReport) {
    if verdict.code != VerdictCode::ServerMptcpDisabled || report.connection.listener_mptcp {
        return;
    }
    let Some(listener) = report.readiness.listener.as_ref().filter(|l| !l.mptcp) else {
        return;
    };
    let enabled_now = report.readiness.mptcp_enabled;
    let rearm = listener.rearm.as_ref();
    let status = rearm.map(|r| r.status);
    let within = rearm
        .and_then(|r| r.interval_s)
        .map_or_else(|| "a few seconds".to_string(), |s| format!("{s} s"));
    let error = rearm
        .and_then(|r| r.error.as_deref())
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    let now = match enabled_now {
        Some(true) => "enabled now (net.mptcp.enabled=1)",
        Some(false) => "disabled now (net.mptcp.enabled=0)",
        None => "unknown (the server's kernel has no MPTCP sysctl)",
    };
    let rearming = match status {
        Some(RearmStatus::Retrying) => format!(
            "it re-opens its listener as MPTCP by itself within {within} once the kernel allows it"
        ),
        Some(RearmStatus::RestartNeeded) => {
            format!("it cannot re-open its listener as MPTCP by itself{error}")
        }
        Some(RearmStatus::Off) => "it was started with --tcp".to_string(),
        Some(RearmStatus::Rearmed | RearmStatus::Unknown) | None => {
            "this server version does not re-open its listener by itself".to_string()
        }
    };
    verdict.evidence.push(format!(
        "the echo server's listener is a TCP fallback ({}); MPTCP on the server host is {now}; {rearming}",
        listener
            .fallback_reason
            .as_deref()
            .unwrap_or("no reason given")
    ));
    let restart = match status {
        Some(RearmStatus::Off) => "restart mptcp-probe-server without --tcp",
        _ => "restart mptcp-probe-server",
    };
    verdict.fix = Some(match (enabled_now, status) {
        (Some(true), Some(RearmStatus::Retrying)) => format!(
            "nothing to do on the VPS: MPTCP is enabled there now and mptcp-probe-server \
             re-opens its listener as MPTCP within {within}; run the check again"
        ),
        (Some(true), _) => format!(
            "on the VPS: {restart} (MPTCP is enabled there now, but its listener is still the \
             TCP fallback{error})"
        ),
        (_, Some(RearmStatus::Retrying)) => format!(
            "on the VPS: `sysctl -w net.mptcp.enabled=1` (and set it in /etc/sysctl.d/ to \
             keep it); mptcp-probe-server then re-opens its listener as MPTCP within {within}, \
             no restart needed"
        ),
        _ => format!("on the VPS: `sysctl -w net.mptcp.enabled=1`, then {restart}"),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::echo::{ConnectionInfo, Endpoint, HostReadiness, ListenerState, Rearm};
    use packet::verdict::{evaluate, VerdictInput};

    fn report(enabled: bool, listener: Option<ListenerState>) -> EchoReport {
        let end = || Endpoint {
            addr: "10.2.0.2".into(),
            port: 6101,
        };
        EchoReport {
            version: 1,
            peer: end(),
            local: end(),
            syn: None,
            syn_ack: None,
            connection: ConnectionInfo {
                mptcp: false,
                listener_mptcp: listener.as_ref().is_none_or(|l| l.mptcp),
                fallback_reason: None,
                info_flags: None,
            },
            readiness: HostReadiness {
                mptcp_enabled: Some(enabled),
                versions: vec![1],
                listener,
                ..Default::default()
            },
            warnings: Vec::new(),
            features: Vec::new(),
        }
    }

    fn fallback(status: RearmStatus, error: Option<&str>) -> Option<ListenerState> {
        Some(ListenerState {
            mptcp: false,
            fallback_reason: Some("the kernel refused an MPTCP socket".into()),
            rearm: Some(Rearm {
                status,
                interval_s: (status == RearmStatus::Retrying).then_some(5),
                error: error.map(str::to_string),
            }),
        })
    }

    fn disabled() -> Verdict {
        let mut v = evaluate(&VerdictInput::default());
        v.code = VerdictCode::ServerMptcpDisabled;
        v.fix = Some("generic".into());
        v
    }

    #[test]
    fn disabled_now_and_retrying_needs_only_the_sysctl() {
        let mut v = disabled();
        amend(
            &mut v,
            &report(false, fallback(RearmStatus::Retrying, None)),
        );
        let fix = v.fix.unwrap();
        assert!(fix.contains("net.mptcp.enabled=1"), "{fix}");
        assert!(fix.contains("no restart needed"), "{fix}");
        assert!(fix.contains("within 5 s"), "{fix}");
        let e = v.evidence.last().unwrap();
        assert!(e.contains("TCP fallback (the kernel refused"), "{e}");
        assert!(e.contains("disabled now"), "{e}");
    }

    #[test]
    fn enabled_now_and_retrying_says_wait() {
        let mut v = disabled();
        amend(&mut v, &report(true, fallback(RearmStatus::Retrying, None)));
        let fix = v.fix.unwrap();
        assert!(fix.contains("run the check again"), "{fix}");
        assert!(!fix.contains("restart"), "{fix}");
        assert!(v.evidence.last().unwrap().contains("enabled now"));
    }

    #[test]
    fn restart_only_when_it_cannot_re_arm() {
        let mut v = disabled();
        amend(
            &mut v,
            &report(
                true,
                fallback(RearmStatus::RestartNeeded, Some("port 443 is privileged")),
            ),
        );
        let fix = v.fix.unwrap();
        assert!(fix.contains("restart mptcp-probe-server"), "{fix}");
        assert!(fix.contains("port 443"), "{fix}");
        // A server from before re-arming never re-arms: restart too.
        let mut v = disabled();
        let old = ListenerState {
            rearm: None,
            ..fallback(RearmStatus::Retrying, None).unwrap()
        };
        amend(&mut v, &report(false, Some(old)));
        let fix = v.fix.unwrap();
        assert!(fix.contains("sysctl -w net.mptcp.enabled=1"), "{fix}");
        assert!(fix.contains("then restart mptcp-probe-server"), "{fix}");
        let mut v = disabled();
        amend(&mut v, &report(false, fallback(RearmStatus::Off, None)));
        assert!(v.fix.unwrap().contains("without --tcp"));
    }

    #[test]
    fn other_verdicts_and_mptcp_listeners_are_left_alone() {
        let mut ok = evaluate(&VerdictInput::default());
        let before = ok.clone();
        amend(
            &mut ok,
            &report(false, fallback(RearmStatus::Retrying, None)),
        );
        assert_eq!(ok, before);
        let mut v = disabled();
        let before = v.clone();
        amend(&mut v, &report(false, None));
        assert_eq!(v, before, "an MPTCP listener: the sysctl is the cause");
    }
}
