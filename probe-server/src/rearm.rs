//! Re-arming: listeners that fell back to TCP because the kernel refused
//! MPTCP sockets (the server started while `net.mptcp.enabled=0`) are
//! re-opened as MPTCP once the kernel allows it, without a restart, and
//! every report says where that stands (`readiness.listener.rearm`).
//!
//! Each listening address lives in a [`ListenerSlot`]: the accept loops
//! accept through it, and [`supervise`] swaps what it holds. A TCP and an
//! MPTCP listener cannot share a port side by side: that takes
//! SO_REUSEPORT, whose group admits only sockets of the same owner, and
//! the TCP listener was opened as root before the server switched to
//! `--user`. So the swap closes the TCP listener and binds the MPTCP one
//! on the same address within one step of the single-threaded runtime
//! (no accept runs in between). Connections already queued on the TCP
//! listener are accepted first and served as usual; only a handshake
//! caught between its SYN and its ACK at that instant can be lost.
//!
//! A port below `net.ipv4.ip_unprivileged_port_start` cannot be bound
//! again once the server gave up CAP_NET_BIND_SERVICE: there the report
//! says `restart_needed` instead of closing a listener it could not
//! replace.
use crate::listen::{bind_listen, listener, refuses_mptcp, unbound};
use crate::server::Shared;
use packet::echo::{ListenerState, Rearm, RearmStatus};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Default time between two attempts.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// At most this many queued connections are taken over from a closing
/// listener (its backlog).
const MAX_DRAINED: usize = 1024;

/// An accepted connection: the stream, the peer, and whether the listener
/// that accepted it was an MPTCP socket.
pub type Accepted = (TcpStream, SocketAddr, bool);

/// One listening address and the listener serving it now.
#[derive(Debug)]
pub struct ListenerSlot {
    addr: SocketAddr,
    inner: RefCell<SlotInner>,
}

#[derive(Debug)]
struct SlotInner {
    /// `None` only when a swap lost the port (retried at the next attempt).
    listener: Option<TcpListener>,
    mptcp: bool,
    /// Connections taken from a closed listener's queue, served first.
    queued: VecDeque<Accepted>,
    /// The accept loop waiting on this slot: woken when the listener
    /// changes, since its registration went with the old one.
    waker: Option<Waker>,
}

/// Why a swap did not leave an MPTCP listener.
#[derive(Debug)]
pub enum SwapError {
    /// The kernel still refuses MPTCP sockets; nothing was touched.
    Refused(io::Error),
    /// The MPTCP socket could not be bound or listen; the TCP listener was
    /// opened again (`restored`), or the address is not listened on now.
    Bind { error: io::Error, restored: bool },
}

impl std::fmt::Display for SwapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SwapError::Refused(e) => write!(f, "the kernel still refuses MPTCP sockets: {e}"),
            SwapError::Bind { error, restored } => write!(
                f,
                "binding the MPTCP listener failed: {error}{}",
                if *restored {
                    " (listening with TCP again)"
                } else {
                    " (not listening on this address now; retried later)"
                }
            ),
        }
    }
}

impl ListenerSlot {
    pub fn new(listener: TcpListener, mptcp: bool) -> io::Result<Self> {
        Ok(ListenerSlot {
            addr: listener.local_addr()?,
            inner: RefCell::new(SlotInner {
                listener: Some(listener),
                mptcp,
                queued: VecDeque::new(),
                waker: None,
            }),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Listening, with an MPTCP socket.
    pub fn is_mptcp(&self) -> bool {
        let inner = self.inner.borrow();
        inner.listener.is_some() && inner.mptcp
    }

    /// The next connection: one taken over from a replaced listener, else
    /// one from the current listener.
    pub async fn accept(&self) -> io::Result<Accepted> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Accepted>> {
        let mut inner = self.inner.borrow_mut();
        if let Some(a) = inner.queued.pop_front() {
            return Poll::Ready(Ok(a));
        }
        inner.waker = Some(cx.waker().clone());
        let mptcp = inner.mptcp;
        match &inner.listener {
            Some(l) => l.poll_accept(cx).map_ok(|(s, peer)| (s, peer, mptcp)),
            None => Poll::Pending,
        }
    }

    /// Replaces the listener with an MPTCP one on the same address. The
    /// MPTCP socket is created first, so a kernel that still refuses
    /// MPTCP leaves everything as it was. Must run inside the runtime.
    pub fn swap_to_mptcp(&self) -> Result<(), SwapError> {
        let socket = unbound(self.addr, true).map_err(SwapError::Refused)?;
        let mut inner = self.inner.borrow_mut();
        if let Some(old) = inner.listener.take() {
            let old_mptcp = inner.mptcp;
            // Deregistered and back to a std socket: its queue can be read
            // without waiting, and dropping it closes it.
            if let Ok(old) = old.into_std() {
                for _ in 0..MAX_DRAINED {
                    let Ok((stream, peer)) = old.accept() else {
                        break;
                    };
                    let taken = stream
                        .set_nonblocking(true)
                        .and_then(|()| TcpStream::from_std(stream));
                    if let Ok(stream) = taken {
                        inner.queued.push_back((stream, peer, old_mptcp));
                    }
                }
            }
        }
        let bound = bind_listen(socket, self.addr).and_then(TcpListener::from_std);
        let result = match bound {
            Ok(l) => {
                inner.listener = Some(l);
                inner.mptcp = true;
                Ok(())
            }
            Err(error) => {
                let again = listener(self.addr, false).and_then(TcpListener::from_std);
                let restored = again.is_ok();
                inner.listener = again.ok();
                inner.mptcp = false;
                Err(SwapError::Bind { error, restored })
            }
        };
        if let Some(w) = inner.waker.take() {
            w.wake();
        }
        result
    }
}

/// The listener state of a server that fell back because the kernel
/// refused MPTCP, before the first attempt.
pub fn initial(interval: Duration) -> Rearm {
    if interval.is_zero() {
        Rearm {
            status: RearmStatus::RestartNeeded,
            interval_s: None,
            error: Some("re-arming is off (--rearm-interval 0)".into()),
        }
    } else {
        Rearm {
            status: RearmStatus::Retrying,
            interval_s: Some(interval.as_secs().max(1)),
            error: None,
        }
    }
}

/// The listener state of a server told to listen with TCP.
pub fn forced() -> Rearm {
    Rearm {
        status: RearmStatus::Off,
        interval_s: None,
        error: None,
    }
}

/// What one attempt over every slot gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Every slot listens with MPTCP now.
    Rearmed,
    /// Not yet: tried again at the next interval.
    Retry(String),
    /// It never can by itself (a privileged port after the privilege drop).
    Never(String),
}

/// The listener state after an attempt; `fallback_reason` is why the
/// server fell back in the first place.
pub fn state_after(
    attempt: &Attempt,
    fallback_reason: Option<String>,
    interval: Duration,
) -> ListenerState {
    let interval_s = Some(interval.as_secs().max(1));
    match attempt {
        Attempt::Rearmed => ListenerState {
            mptcp: true,
            fallback_reason: None,
            rearm: Some(Rearm {
                status: RearmStatus::Rearmed,
                interval_s,
                error: None,
            }),
        },
        Attempt::Retry(why) => ListenerState {
            mptcp: false,
            fallback_reason,
            rearm: Some(Rearm {
                status: RearmStatus::Retrying,
                interval_s,
                error: Some(why.clone()),
            }),
        },
        Attempt::Never(why) => ListenerState {
            mptcp: false,
            fallback_reason,
            rearm: Some(Rearm {
                status: RearmStatus::RestartNeeded,
                interval_s: None,
                error: Some(why.clone()),
            }),
        },
    }
}

/// `port` may be bound by this process now: not a privileged port, or
/// CAP_NET_BIND_SERVICE still held. `unprivileged_start` is
/// `net.ipv4.ip_unprivileged_port_start`.
pub fn may_bind(
    port: u16,
    unprivileged_start: u32,
    cap_net_bind_service: bool,
) -> Result<(), String> {
    if u32::from(port) >= unprivileged_start || cap_net_bind_service {
        return Ok(());
    }
    Err(format!(
        "port {port} is below net.ipv4.ip_unprivileged_port_start ({unprivileged_start}) and the \
         server gave up CAP_NET_BIND_SERVICE when it dropped its privileges: restart \
         mptcp-probe-server once MPTCP is enabled"
    ))
}

fn unprivileged_port_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

fn holds_cap_net_bind_service() -> bool {
    caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_NET_BIND_SERVICE,
    )
    .unwrap_or(false)
}

/// One attempt: every slot that is not an MPTCP listener is swapped.
pub fn attempt(slots: &[Rc<ListenerSlot>]) -> Attempt {
    let pending: Vec<&Rc<ListenerSlot>> = slots.iter().filter(|s| !s.is_mptcp()).collect();
    if pending.is_empty() {
        return Attempt::Rearmed;
    }
    let start = unprivileged_port_start();
    let cap = holds_cap_net_bind_service();
    for s in &pending {
        if let Err(why) = may_bind(s.addr().port(), start, cap) {
            return Attempt::Never(why);
        }
    }
    // Ask the kernel once before touching any listener, so that all of
    // them switch together or none does.
    if let Err(e) = unbound(pending[0].addr(), true) {
        if refuses_mptcp(&e, pending[0].addr()) {
            return Attempt::Retry(SwapError::Refused(e).to_string());
        }
    }
    let mut errors = Vec::new();
    for s in pending {
        if let Err(e) = s.swap_to_mptcp() {
            errors.push(format!("{}: {e}", s.addr()));
        }
    }
    if errors.is_empty() {
        Attempt::Rearmed
    } else {
        Attempt::Retry(errors.join("; "))
    }
}

/// Tries every `interval` (the first time at once) until every slot
/// listens with MPTCP, or re-arming turns out impossible, keeping the
/// listener state the reports show (`shared.listener`) current.
pub async fn supervise(slots: Vec<Rc<ListenerSlot>>, shared: Arc<Shared>, interval: Duration) {
    let state = &shared.listener;
    let fallback_reason = state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .fallback_reason
        .clone();
    loop {
        let outcome = attempt(&slots);
        let next = state_after(&outcome, fallback_reason.clone(), interval);
        match &outcome {
            Attempt::Rearmed => tracing::info!(
                check = "listen",
                "MPTCP allowed again: listeners re-armed as MPTCP"
            ),
            Attempt::Retry(why) => {
                tracing::debug!(check = "listen", reason = %why, "still listening with TCP")
            }
            Attempt::Never(why) => {
                tracing::warn!(check = "listen", reason = %why, "cannot re-arm MPTCP listeners")
            }
        }
        *state.lock().unwrap_or_else(|p| p.into_inner()) = next;
        if !matches!(outcome, Attempt::Retry(_)) {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn mptcp_available() -> bool {
        unbound("127.0.0.1:0".parse().unwrap(), true).is_ok()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn states_say_what_the_client_must_do() {
        let i = Duration::from_secs(5);
        let why = Some("the kernel refused an MPTCP socket".to_string());
        let s = state_after(&Attempt::Rearmed, why.clone(), i);
        assert!(s.mptcp);
        assert_eq!(s.fallback_reason, None);
        assert_eq!(s.rearm.unwrap().status, RearmStatus::Rearmed);
        let s = state_after(&Attempt::Retry("refused".into()), why.clone(), i);
        assert!(!s.mptcp);
        assert_eq!(s.fallback_reason, why);
        let r = s.rearm.unwrap();
        assert_eq!((r.status, r.interval_s), (RearmStatus::Retrying, Some(5)));
        assert_eq!(r.error.as_deref(), Some("refused"));
        let s = state_after(&Attempt::Never("port 443".into()), why, i);
        assert_eq!(s.rearm.unwrap().status, RearmStatus::RestartNeeded);
        assert_eq!(initial(i).status, RearmStatus::Retrying);
        assert_eq!(initial(Duration::ZERO).status, RearmStatus::RestartNeeded);
        assert_eq!(forced().status, RearmStatus::Off);
    }

    #[test]
    fn privileged_ports_need_the_capability() {
        assert!(may_bind(6101, 1024, false).is_ok());
        assert!(may_bind(443, 1024, true).is_ok());
        assert!(may_bind(443, 0, false).is_ok(), "no privileged ports");
        let e = may_bind(443, 1024, false).unwrap_err();
        assert!(e.contains("restart mptcp-probe-server"), "{e}");
    }

    #[test]
    fn a_swap_keeps_queued_connections_and_listens_with_mptcp() {
        if !mptcp_available() {
            println!("skipped: this kernel refuses MPTCP sockets");
            return;
        }
        runtime().block_on(async {
            let std = listener("127.0.0.1:0".parse().unwrap(), false).unwrap();
            let slot = ListenerSlot::new(TcpListener::from_std(std).unwrap(), false).unwrap();
            let addr = slot.addr();
            assert!(!slot.is_mptcp());
            // Queued in the TCP listener's backlog, never accepted yet.
            let mut early = std::net::TcpStream::connect(addr).unwrap();
            slot.swap_to_mptcp().unwrap();
            assert!(slot.is_mptcp());
            let (mut stream, peer, mptcp) = slot.accept().await.unwrap();
            assert_eq!(peer, early.local_addr().unwrap(), "the queued one first");
            assert!(!mptcp, "accepted by the TCP listener");
            early.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            tokio::io::AsyncReadExt::read_exact(&mut stream, &mut b)
                .await
                .unwrap();
            assert_eq!(&b, b"x", "still connected after the swap");
            // New connections reach the MPTCP listener on the same port.
            let client = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                Some(socket2::Protocol::MPTCP),
            )
            .unwrap();
            client.connect(&addr.into()).unwrap();
            let (accepted, _, mptcp) = slot.accept().await.unwrap();
            assert!(mptcp);
            assert!(
                netsys::sockopt::tcp_is_mptcp(std::os::fd::AsFd::as_fd(&accepted)).unwrap_or(false),
                "an MPTCP connection end to end"
            );
            let mut c: std::net::TcpStream = client.into();
            drop(accepted);
            let _ = c.read(&mut b);
        });
    }

    #[test]
    fn an_accept_waiting_during_the_swap_is_woken() {
        if !mptcp_available() {
            println!("skipped: this kernel refuses MPTCP sockets");
            return;
        }
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime(), async {
            let std = listener("127.0.0.1:0".parse().unwrap(), false).unwrap();
            let slot =
                Rc::new(ListenerSlot::new(TcpListener::from_std(std).unwrap(), false).unwrap());
            let addr = slot.addr();
            let waiting = tokio::task::spawn_local({
                let slot = slot.clone();
                async move { slot.accept().await.map(|(_, _, mptcp)| mptcp) }
            });
            tokio::task::yield_now().await;
            assert_eq!(attempt(std::slice::from_ref(&slot)), Attempt::Rearmed);
            let _client = std::net::TcpStream::connect(addr).unwrap();
            let mptcp = tokio::time::timeout(Duration::from_secs(5), waiting)
                .await
                .expect("the waiting accept saw the new listener")
                .unwrap()
                .unwrap();
            assert!(mptcp);
            assert_eq!(attempt(&[slot]), Attempt::Rearmed, "nothing left to do");
        });
    }
}
