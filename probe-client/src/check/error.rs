//! Why a check could not run on a path, and why its crafted probes did not.
use super::kernel::SetupError;
use crate::net::error::NetError;
use crate::output::VerbError;
use thiserror::Error;

/// A check that could not run (exit code 2): the name did not resolve, the
/// interface or source address is unusable, the `--write` file failed.
#[derive(Debug, Error)]
pub enum CheckError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Setup(#[from] SetupError),
}

impl VerbError for CheckError {
    fn fix(&self) -> Option<String> {
        match self {
            CheckError::Net(e) => e.fix(),
            CheckError::Setup(SetupError::Device { .. }) => {
                Some("`ip link` lists this host's interfaces".into())
            }
            CheckError::Setup(SetupError::Source { .. }) => {
                Some("give an address of this host (`ip addr`) to --source, or leave it out".into())
            }
            CheckError::Setup(SetupError::Socket(_)) => None,
        }
    }
}

/// Why the crafted probes were not sent; the check goes on with what needs
/// no privilege. The message carries the fix for a missing privilege.
#[derive(Debug, Error)]
pub enum ProbesSkipped {
    #[error(transparent)]
    NoPrivilege(NetError),
    #[error("crafted probes not sent: {0}")]
    NotOpened(NetError),
    #[error("crafted probes failed: {0}")]
    Failed(NetError),
}

impl ProbesSkipped {
    /// The raw sockets could not be opened.
    pub fn opening(e: NetError) -> Self {
        if e.is_privilege() {
            ProbesSkipped::NoPrivilege(e)
        } else {
            ProbesSkipped::NotOpened(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::error::PRIVILEGE_FIX;

    #[test]
    fn messages_and_fixes() {
        let e = ProbesSkipped::opening(NetError::NoPrivilege {
            detail: "no CAP_NET_RAW".into(),
        });
        assert!(e.to_string().contains(PRIVILEGE_FIX), "{e}");
        let e = ProbesSkipped::opening(NetError::io("socket", std::io::Error::other("boom")));
        assert_eq!(e.to_string(), "crafted probes not sent: socket: boom");
        let e = CheckError::Setup(SetupError::Device {
            iface: "wan9".into(),
            err: std::io::Error::from_raw_os_error(19),
        });
        assert!(e.to_string().starts_with("cannot bind to interface wan9"));
        assert!(e.fix().unwrap().contains("ip link"));
        let e = CheckError::from(NetError::Resolve {
            host: "h".into(),
            reason: "no IPv6 address (-6)".into(),
        });
        assert_eq!(e.to_string(), "cannot resolve h: no IPv6 address (-6)");
        assert_eq!(e.fix(), None);
    }
}
