//! The client's use of [`netsys::privileges`]: CAP_NET_RAW raised only
//! around the `socket()` calls that need it, then every capability dropped
//! for good, becoming the sudo-invoking user when run through sudo
//! ([`netsys::privileges::sudo_user`]: a `--write` file is then created as
//! that user, not as root).
//!
//! Capabilities are per thread on Linux, so [`drop_all`] must run before
//! any other thread starts.
use super::error::NetError;
pub use netsys::privileges::Dropped;
use std::io;

/// Empties the effective set, keeping the permitted one: call first thing.
pub fn lower_effective() -> Result<(), NetError> {
    Ok(netsys::privileges::lower_effective()?)
}

/// Whether this process may open raw sockets at all (CAP_NET_RAW permitted).
/// Only tests ask beforehand: the verbs just try and report the error.
#[cfg(test)]
pub fn has_net_raw() -> bool {
    netsys::privileges::has_net_raw()
}

/// Runs `open` with CAP_NET_RAW (and nothing else) effective. Missing
/// privilege: [`NetError::NoPrivilege`], with the fix.
pub fn with_net_raw<T>(open: impl FnOnce() -> io::Result<T>) -> Result<T, NetError> {
    Ok(netsys::privileges::with_net_raw(open)?)
}

/// Drops every capability, becomes the sudo-invoking user when running as
/// root under sudo, sets `no_new_privs`, and verifies. Call from the main
/// thread before other threads start and after every raw socket is open.
pub fn drop_all() -> Result<Dropped, NetError> {
    Ok(netsys::privileges::drop_all(
        netsys::privileges::sudo_user(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of_this_thread() -> String {
        std::fs::read_to_string("/proc/thread-self/status").unwrap()
    }

    fn field<'a>(status: &'a str, name: &str) -> &'a str {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .trim()
    }

    #[test]
    fn missing_privilege_message_has_the_fix() {
        let e = NetError::from(netsys::privileges::PrivilegeError::NoNetRaw {
            detail: "this process does not hold it".into(),
        });
        assert!(e.is_privilege());
        let text = e.to_string();
        assert!(text.starts_with("crafted probes need CAP_NET_RAW (this process does not hold it)"));
        assert!(text.contains("sudo setcap cap_net_raw+ep $(command -v mptcp-probe)"));
        assert!(text.contains("sudo"));
    }

    #[test]
    fn with_net_raw_reports_missing_privilege_with_the_fix() {
        // Run in a thread of its own: capset changes only that thread, so
        // other tests keep their capabilities.
        std::thread::spawn(|| {
            let had = has_net_raw();
            match with_net_raw(|| Ok(())) {
                Ok(()) => assert!(had),
                Err(e) => {
                    assert!(!had);
                    assert!(e.is_privilege());
                    assert!(e.to_string().contains("setcap cap_net_raw+ep"));
                }
            }
        })
        .join()
        .unwrap();
    }

    /// The client's whole sequence on one thread: lower, open, drop. Run as
    /// root (the user switch would change every thread of the test process,
    /// so it is skipped under sudo; netsys tests it in a child process).
    #[test]
    fn the_sequence_leaves_the_thread_nothing() {
        if std::env::var_os("SUDO_UID").is_some() {
            eprintln!("skipping: run under sudo, the drop would switch the whole test process");
            return;
        }
        std::thread::spawn(|| {
            lower_effective().unwrap();
            assert_eq!(
                field(&status_of_this_thread(), "CapEff:"),
                "0000000000000000"
            );
            let root = field(&status_of_this_thread(), "Uid:").starts_with("0\t");
            let opened = with_net_raw(|| std::net::UdpSocket::bind("127.0.0.1:0").map(|_| ()));
            match opened {
                Ok(()) => assert!(has_net_raw()),
                Err(e) => assert!(!has_net_raw() && e.is_privilege(), "{e}"),
            }
            let dropped = drop_all().unwrap();
            assert!(!dropped.switched_user);
            assert_eq!(dropped.bounding_cleared, root);
            let status = status_of_this_thread();
            for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
                assert_eq!(field(&status, set), "0000000000000000", "{set}");
            }
            if root {
                assert_eq!(field(&status, "CapBnd:"), "0000000000000000");
            }
            assert_eq!(field(&status, "NoNewPrivs:"), "1");
            // Nothing left to raise.
            assert!(with_net_raw(|| Ok(())).unwrap_err().is_privilege());
        })
        .join()
        .unwrap();
    }
}
