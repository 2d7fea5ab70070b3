//! Errors of the raw I/O layer. Each carries what was attempted so the
//! message alone tells the user what failed and, for privileges, the fix.
use std::io;
use thiserror::Error;

use netsys::privileges::PrivilegeError;
/// The fix printed whenever raw sockets cannot be opened for lack of
/// privilege (one text for every privilege error of the project).
pub use netsys::privileges::PRIVILEGE_FIX;

#[derive(Debug, Error)]
pub enum NetError {
    /// CAP_NET_RAW is not in our permitted set (or the kernel refused the
    /// raw socket with EPERM, as in an unprivileged user namespace).
    #[error("crafted probes need CAP_NET_RAW ({detail}); {PRIVILEGE_FIX}")]
    NoPrivilege { detail: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("no such interface {name}: {source}")]
    Interface {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("source {source_addr} and destination {destination} are of different IP families")]
    FamilyMismatch {
        source_addr: std::net::IpAddr,
        destination: std::net::IpAddr,
    },
    /// Lowering, raising or dropping capabilities, or the user switch.
    #[error("{0}")]
    Privilege(PrivilegeError),
    /// The echo server answered, but broke the protocol: nothing it said
    /// is evidence, so the verb stops rather than judge.
    #[error("the echo server at {server} broke the echo protocol: {error}")]
    EchoProtocol {
        server: std::net::SocketAddr,
        #[source]
        error: Box<crate::echo_client::ProtocolError>,
    },
}

impl From<PrivilegeError> for NetError {
    fn from(e: PrivilegeError) -> Self {
        match e {
            PrivilegeError::NoNetRaw { detail } => NetError::NoPrivilege { detail },
            PrivilegeError::Open(source) => NetError::io("opening raw sockets", source),
            other => NetError::Privilege(other),
        }
    }
}

impl NetError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        NetError::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether this error is a missing privilege (callers like `check` then
    /// continue with what needs none).
    pub fn is_privilege(&self) -> bool {
        matches!(self, NetError::NoPrivilege { .. })
    }
}

impl crate::output::VerbError for NetError {
    fn fix(&self) -> Option<String> {
        let fix = match self {
            NetError::NoPrivilege { .. } => PRIVILEGE_FIX,
            NetError::Interface { .. } => "`ip link` lists this host's interfaces",
            NetError::FamilyMismatch { .. } => {
                "give a --source of the destination's family, or -4/-6 to pick the destination's"
            }
            NetError::EchoProtocol { .. } => {
                "this is not a working mptcp-probe-server, or something on the path rewrites \
                 its answers: update or restart the server, or check against another one"
            }
            NetError::Io { .. } | NetError::Resolve { .. } | NetError::Privilege(_) => return None,
        };
        Some(fix.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::VerbError;

    #[test]
    fn fixes_where_the_cause_is_known() {
        let e = NetError::NoPrivilege { detail: "x".into() };
        assert_eq!(e.fix().as_deref(), Some(PRIVILEGE_FIX));
        let e = NetError::Interface {
            name: "wan9".into(),
            source: io::Error::from_raw_os_error(19),
        };
        assert!(e.fix().unwrap().contains("ip link"));
        let e = NetError::Resolve {
            host: "h".into(),
            reason: "r".into(),
        };
        assert_eq!(e.fix(), None);
    }
}
