//! Waking a thread that sleeps in `poll`, and polling several descriptors
//! at once: the echo server's capture thread sleeps on its capture socket
//! and on a [`Wake`], so that a report can ask it to drain the socket now
//! instead of waiting for a fixed read timeout to run out.
//!
//! A [`Wake`] is an eventfd (Linux 2.6.27+): [`Wake::wake`] adds one to its
//! counter, which makes it readable; [`Wake::clear`] reads the counter back
//! to zero. Any number of wakes before a clear count as one, and a wake
//! never blocks (the counter would have to reach 2^64 - 1 first).
use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

/// A wake-up flag a poller can wait on (see the module documentation).
#[derive(Debug)]
pub struct Wake {
    fd: EventFd,
}

impl Wake {
    /// A new, cleared flag (non-blocking, closed on exec).
    pub fn new() -> io::Result<Self> {
        let fd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("eventfd: {e}")))?;
        Ok(Wake { fd })
    }

    /// Sets the flag: a poll on it returns (now, or at its next call).
    pub fn wake(&self) {
        // EAGAIN only when the counter is at its maximum: already set.
        let _ = self.fd.write(1);
    }

    /// Clears the flag; true when it was set.
    pub fn clear(&self) -> bool {
        // EAGAIN: it was not set.
        self.fd.read().is_ok_and(|n| n > 0)
    }
}

impl AsFd for Wake {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Waits until one of `fds` is readable or `timeout` passes (`None`:
/// without limit). Returns which ones are readable (hang-ups and errors
/// count as readable: a read then says what happened). A signal
/// interrupting the wait returns all false, as a timeout does, so the
/// caller looks at its flags and polls again.
pub fn readable<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    let mut polled = fds.map(|fd| PollFd::new(fd, PollFlags::POLLIN));
    match ppoll(&mut polled, timeout.map(Into::into), None) {
        Ok(_) => {}
        Err(Errno::EINTR) => return Ok([false; N]),
        Err(e) => {
            return Err(io::Error::new(
                io::Error::from(e).kind(),
                format!("ppoll: {e}"),
            ))
        }
    }
    Ok(polled.map(|p| p.any().unwrap_or(false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_wake_makes_the_flag_readable_until_cleared() {
        let w = Wake::new().unwrap();
        assert!(!w.clear(), "a new flag is clear");
        assert_eq!(
            readable([w.as_fd()], Some(Duration::ZERO)).unwrap(),
            [false]
        );
        w.wake();
        w.wake();
        assert_eq!(readable([w.as_fd()], Some(Duration::ZERO)).unwrap(), [true]);
        assert!(w.clear(), "two wakes are one");
        assert!(!w.clear());
        assert_eq!(
            readable([w.as_fd()], Some(Duration::ZERO)).unwrap(),
            [false]
        );
    }

    #[test]
    fn a_wake_from_another_thread_ends_a_long_poll_at_once() {
        let w = std::sync::Arc::new(Wake::new().unwrap());
        let idle = Wake::new().unwrap();
        let waker = w.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.wake();
        });
        let ready = readable([idle.as_fd(), w.as_fd()], Some(Duration::from_secs(10))).unwrap();
        t.join().unwrap();
        assert_eq!(ready, [false, true], "only the woken one");
        assert!(start.elapsed() < Duration::from_secs(5), "not the timeout");
    }

    #[test]
    fn a_poll_times_out_when_nothing_is_readable() {
        let w = Wake::new().unwrap();
        let start = Instant::now();
        let ready = readable([w.as_fd()], Some(Duration::from_millis(30))).unwrap();
        assert_eq!(ready, [false]);
        assert!(start.elapsed() >= Duration::from_millis(25));
    }
}
