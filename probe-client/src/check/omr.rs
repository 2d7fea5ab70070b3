//! `check --format omr-status`: the one line OpenMPTCProuter's status page
//! shows per WAN. Its per-interface script must print exactly
//! `MPTCP enabled` or `MPTCP disabled`, or nothing when it cannot tell,
//! within about a second, and never the word "error" (the page treats
//! any other output as a failure of the script itself).
//!
//! So: `MPTCP enabled` only for `mptcp_ok`; `MPTCP disabled` for every
//! verdict that is a finding about the path or the hosts (MPTCP does not
//! work there); nothing for `unreachable`, `inconclusive` and checks that
//! could not run. The exit code stays check's (0, 1, 2).
use clap::parser::ValueSource;
use clap::ArgMatches;
use packet::verdict::VerdictCode;

/// What `check` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// The verdict, its evidence and what the echo server saw.
    Text,
    /// One line for OpenMPTCProuter's status page: `MPTCP enabled`,
    /// `MPTCP disabled`, or nothing when the check cannot tell.
    /// Default --timeout 1.
    OmrStatus,
}

/// `--timeout` of `--format omr-status` when none is given: the status
/// page waits about a second. A working path answers in one round trip.
pub const OMR_TIMEOUT_SECS: f64 = 1.0;

/// The line for a verdict, `None` when the verdict cannot tell whether
/// MPTCP works.
pub fn status_line(code: VerdictCode) -> Option<&'static str> {
    match code {
        VerdictCode::MptcpOk => Some("MPTCP enabled"),
        VerdictCode::StrippedUpstream
        | VerdictCode::StrippedDownstream
        | VerdictCode::OptionModified
        | VerdictCode::SynDropped
        | VerdictCode::EchoingMiddlebox
        | VerdictCode::VersionMismatch
        | VerdictCode::ServerMptcpDisabled
        | VerdictCode::LocalMptcpDisabled => Some("MPTCP disabled"),
        VerdictCode::Unreachable | VerdictCode::Inconclusive => None,
    }
}

/// The check's timeout: the one given (option or `MPTCP_PROBE_TIMEOUT`),
/// else [`OMR_TIMEOUT_SECS`] for omr-status and the usual default for
/// the other formats. `matches` are the `check` subcommand's.
pub fn timeout_secs(format: CheckFormat, given: f64, matches: &ArgMatches) -> f64 {
    let defaulted = matches!(
        matches.value_source("timeout"),
        None | Some(ValueSource::DefaultValue)
    );
    if format == CheckFormat::OmrStatus && defaulted {
        OMR_TIMEOUT_SECS
    } else {
        given
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::{CommandFactory, FromArgMatches};

    #[test]
    fn only_mptcp_ok_is_enabled_and_no_line_says_error() {
        for code in VerdictCode::ALL {
            let line = status_line(code);
            match code {
                VerdictCode::MptcpOk => assert_eq!(line, Some("MPTCP enabled")),
                VerdictCode::Unreachable | VerdictCode::Inconclusive => {
                    assert_eq!(line, None, "{code}")
                }
                _ => assert_eq!(line, Some("MPTCP disabled"), "{code}"),
            }
            assert!(!line.unwrap_or_default().to_lowercase().contains("error"));
        }
    }

    fn timeout_of(args: &[&str]) -> f64 {
        let matches = Cli::command().get_matches_from(args);
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let crate::cli::Command::Check(check) = cli.command else {
            panic!("not check");
        };
        let sub = matches.subcommand_matches("check").unwrap();
        timeout_secs(check.format, check.net.timeout, sub)
    }

    #[test]
    fn omr_status_waits_one_second_unless_told_otherwise() {
        assert_eq!(
            timeout_of(&["mptcp-probe", "check", "h", "--format", "omr-status"]),
            OMR_TIMEOUT_SECS
        );
        assert_eq!(
            timeout_of(&[
                "mptcp-probe",
                "check",
                "h",
                "--format",
                "omr-status",
                "--timeout",
                "3"
            ]),
            3.0
        );
        assert_eq!(timeout_of(&["mptcp-probe", "check", "h"]), 3.0);
        assert_eq!(
            timeout_of(&["mptcp-probe", "check", "h", "--timeout", "0.5"]),
            0.5
        );
    }
}
