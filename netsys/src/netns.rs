//! Entering a network namespace. Per thread: `setns(2)` moves only the
//! calling thread, so callers enter on a thread made for it, and every
//! socket that thread opens belongs to the namespace.
use nix::sched::CloneFlags;
use std::io;
use std::os::fd::AsFd;

/// Moves the calling thread into the network namespace `ns` refers to (an
/// open `/run/netns/NAME` or `/proc/PID/ns/net`). Needs CAP_SYS_ADMIN.
pub fn enter_net(ns: impl AsFd) -> io::Result<()> {
    nix::sched::setns(ns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net_ns_id(path: &str) -> std::path::PathBuf {
        std::fs::read_link(path).unwrap()
    }

    #[test]
    fn entering_our_own_namespace_keeps_us_in_it() {
        let before = net_ns_id("/proc/thread-self/ns/net");
        let own = std::fs::File::open("/proc/self/ns/net").unwrap();
        let result = std::thread::spawn(move || {
            enter_net(&own).map(|()| net_ns_id("/proc/thread-self/ns/net"))
        })
        .join()
        .unwrap();
        match result {
            Ok(after) => assert_eq!(after, before),
            // Without CAP_SYS_ADMIN the kernel refuses, with EPERM.
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}"),
        }
    }

    #[test]
    fn a_descriptor_that_is_no_namespace_is_refused() {
        let not_ns = std::fs::File::open("/proc/self/status").unwrap();
        let e = std::thread::spawn(move || enter_net(&not_ns))
            .join()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EPERM)),
            "{e}"
        );
    }
}
