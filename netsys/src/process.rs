//! Processes and signals: whether we are root, whether a process exists,
//! signalling a child we started, and a flag set by a signal handler.
use std::io;
use std::sync::atomic::AtomicBool;

pub use nix::sys::signal::Signal;

/// Whether the effective user is root (what namespaces, raw sockets and
/// the lab need, short of checking each capability).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn pid(pid: u32) -> io::Result<nix::unistd::Pid> {
    // 0 and negative pids name process groups in kill(2): never meant here.
    match i32::try_from(pid) {
        Ok(p) if p > 0 => Ok(nix::unistd::Pid::from_raw(p)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{pid} is not a process id"),
        )),
    }
}

/// Sends `signal` to process `pid` (for example a child we started, by
/// `Child::id`).
pub fn signal(pid_: u32, signal: Signal) -> io::Result<()> {
    nix::sys::signal::kill(pid(pid_)?, signal).map_err(io::Error::from)
}

/// Whether process `pid` exists: `kill(pid, 0)` succeeds, or fails for
/// lack of permission (EPERM: it exists, it is someone else's). A zombie
/// counts as alive until reaped.
pub fn process_alive(pid_: u32) -> bool {
    let Ok(p) = pid(pid_) else {
        return false;
    };
    !matches!(
        nix::sys::signal::kill(p, None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Sets `flag` whenever `signal` arrives (the handler does nothing else,
/// so it is async-signal-safe). Registering twice adds a second action
/// setting the same flag: callers register once.
pub fn set_flag_on(signal: Signal, flag: &'static AtomicBool) -> io::Result<()> {
    signal_hook::flag::register(signal as libc::c_int, flag).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn we_are_alive_and_a_reaped_child_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = child.id();
        child.wait().unwrap();
        // The pid could be reused by now, but not this fast in practice.
        assert!(!process_alive(id));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn a_signal_reaches_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        signal(child.id(), Signal::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        assert!(signal(0, Signal::SIGTERM).is_err());
    }

    #[test]
    fn a_registered_signal_sets_the_flag() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        // SIGUSR2: nothing else in this test binary uses it, and with the
        // handler registered it no longer ends the process.
        set_flag_on(Signal::SIGUSR2, &FLAG).unwrap();
        assert!(!FLAG.load(Ordering::SeqCst));
        nix::sys::signal::raise(Signal::SIGUSR2).unwrap();
        assert!(FLAG.load(Ordering::SeqCst));
    }

    #[test]
    fn root_is_what_geteuid_says() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .to_string();
        assert_eq!(is_root(), euid == "0");
    }
}
