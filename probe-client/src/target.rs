//! The destination as the user wrote it: `HOST`, `HOST:PORT`,
//! `[IPV6]:PORT`, `[IPV6]` or a bare IPv6 literal (`fd00:2::2`, whose
//! colons are the address's), for `check` and `trace`.
//!
//! A port in the target is used instead of the default `--port`; when
//! `--port` is given too and names another port, that is an error (which
//! one was meant cannot be guessed), the same port twice is fine.
//! Everywhere a host and a port are printed together, an IPv6 address is
//! in brackets ([`host_port`]).
use std::net::Ipv6Addr;
use thiserror::Error;

/// HOST and the port the target names, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    #[error("{0:?} is not a target: give HOST, HOST:PORT or [IPV6]:PORT")]
    Malformed(String),
    #[error("{target:?}: {port:?} is not a port (1-65535)")]
    BadPort { target: String, port: String },
    #[error(
        "two ports: the target {target:?} names port {in_target}, --port names {option}; give one"
    )]
    Conflict {
        target: String,
        in_target: u16,
        option: u16,
    },
}

/// Splits a target into host and port.
pub fn parse(text: &str) -> Result<Target, TargetError> {
    let malformed = || TargetError::Malformed(text.to_string());
    let port_of = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&n| n != 0)
            .ok_or_else(|| TargetError::BadPort {
                target: text.to_string(),
                port: p.to_string(),
            })
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or_else(malformed)?;
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err(malformed());
        }
        let port = match after {
            "" => None,
            _ => Some(port_of(after.strip_prefix(':').ok_or_else(malformed)?)?),
        };
        return Ok(Target {
            host: inside.to_string(),
            port,
        });
    }
    if text.parse::<Ipv6Addr>().is_ok() {
        return Ok(Target {
            host: text.to_string(),
            port: None,
        });
    }
    match text.split_once(':') {
        None if !text.is_empty() => Ok(Target {
            host: text.to_string(),
            port: None,
        }),
        // One colon: HOST:PORT. More: an IPv6 address that does not parse.
        Some((host, port)) if !host.is_empty() && !port.contains(':') => Ok(Target {
            host: host.to_string(),
            port: Some(port_of(port)?),
        }),
        _ => Err(malformed()),
    }
}

/// Resolves the target and `--port` into the host and the port to use:
/// the target's port when it names one (an error when `port_given` names
/// another), else `port`.
pub fn resolve(text: &str, port: u16, port_given: bool) -> Result<(String, u16), TargetError> {
    let target = parse(text)?;
    match target.port {
        Some(p) if port_given && p != port => Err(TargetError::Conflict {
            target: text.to_string(),
            in_target: p,
            option: port,
        }),
        Some(p) => Ok((target.host, p)),
        None => Ok((target.host, port)),
    }
}

/// `HOST:PORT`, an IPv6 literal in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: &str, port: Option<u16>) -> Target {
        Target {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn every_form() {
        assert_eq!(parse("vps.example"), Ok(t("vps.example", None)));
        assert_eq!(
            parse("vps.example:65101"),
            Ok(t("vps.example", Some(65101)))
        );
        assert_eq!(parse("10.2.0.2:6101"), Ok(t("10.2.0.2", Some(6101))));
        assert_eq!(parse("fd00:2::2"), Ok(t("fd00:2::2", None)));
        assert_eq!(parse("[fd00:2::2]"), Ok(t("fd00:2::2", None)));
        assert_eq!(parse("[fd00:2::2]:6101"), Ok(t("fd00:2::2", Some(6101))));
        assert_eq!(parse("::1"), Ok(t("::1", None)));
    }

    #[test]
    fn malformed_targets_say_what_is_expected() {
        for bad in ["", ":6101", "[fd00::2", "[fd00::2]6101", "[vps]:1", "a:b:c"] {
            let e = parse(bad).unwrap_err();
            assert!(matches!(e, TargetError::Malformed(_)), "{bad}: {e:?}");
            assert!(e.to_string().contains("HOST:PORT or [IPV6]:PORT"), "{e}");
        }
        for bad in ["vps:0", "vps:65536", "vps:http", "[::1]:x"] {
            assert!(
                matches!(parse(bad), Err(TargetError::BadPort { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_targets_port_wins_over_the_default_and_conflicts_are_errors() {
        assert_eq!(resolve("vps", 6101, false), Ok(("vps".into(), 6101)));
        assert_eq!(resolve("vps:7000", 6101, false), Ok(("vps".into(), 7000)));
        assert_eq!(resolve("vps:7000", 7000, true), Ok(("vps".into(), 7000)));
        assert_eq!(resolve("vps", 7000, true), Ok(("vps".into(), 7000)));
        let e = resolve("[::1]:7000", 6101, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "two ports: the target \"[::1]:7000\" names port 7000, --port names 6101; give one"
        );
    }

    #[test]
    fn ipv6_is_printed_in_brackets() {
        assert_eq!(host_port("fd00:2::2", 6101), "[fd00:2::2]:6101");
        assert_eq!(host_port("10.2.0.2", 6101), "10.2.0.2:6101");
        assert_eq!(host_port("vps.example", 6101), "vps.example:6101");
    }
}
