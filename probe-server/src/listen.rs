//! Opening the sockets while privileged: MPTCP listeners (TCP where the
//! kernel refuses MPTCP), IPv4 and IPv6, and the capture socket.
use crate::capture::Capture;
use crate::server::Config;
use packet::echo::ListenerState;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use thiserror::Error;

pub(crate) struct Listener {
    pub(crate) socket: std::net::TcpListener,
    pub(crate) mptcp: bool,
}

/// The sockets, opened while privileged.
pub struct Opened {
    pub(crate) listeners: Vec<Listener>,
    pub(crate) capture: Result<Capture, CaptureError>,
    pub(crate) listener_state: ListenerState,
}

/// Why the capture socket could not be opened: on which interface, the
/// system's error, and the fix when it is a missing privilege.
#[derive(Debug, Error)]
#[error("capture on {on}: {source}{}", self.fix().map(|f| format!(" ({f})")).unwrap_or_default())]
pub struct CaptureError {
    /// `all interfaces`, or `interface NAME`.
    pub on: String,
    #[source]
    pub source: io::Error,
}

impl CaptureError {
    /// What to do about it, when the cause is known.
    pub fn fix(&self) -> Option<&'static str> {
        (self.source.kind() == io::ErrorKind::PermissionDenied).then_some(
            "start the server as root or with CAP_NET_RAW; it drops both once its sockets are open",
        )
    }
}

/// A listening socket's socket, options set, not yet bound: creating it is
/// where the kernel refuses MPTCP (`net.mptcp.enabled=0`).
pub(crate) fn unbound(addr: SocketAddr, mptcp: bool) -> io::Result<Socket> {
    let domain = Domain::for_address(addr);
    let proto = if mptcp {
        Protocol::MPTCP
    } else {
        Protocol::TCP
    };
    let s = Socket::new(domain, Type::STREAM, Some(proto))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Binds and listens.
pub(crate) fn bind_listen(s: Socket, addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

pub(crate) fn listener(addr: SocketAddr, mptcp: bool) -> io::Result<std::net::TcpListener> {
    bind_listen(unbound(addr, mptcp)?, addr)
}

/// Whether creating an MPTCP socket failed because the kernel refuses
/// MPTCP (disabled, or not built in), not for another reason.
pub(crate) fn refuses_mptcp(e: &io::Error, addr: SocketAddr) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOPROTOOPT | libc::EPROTONOSUPPORT | libc::EINVAL | libc::EAFNOSUPPORT)
    ) && !(addr.is_ipv6() && e.raw_os_error() == Some(libc::EAFNOSUPPORT))
}

/// Opens listeners and the capture socket in the calling thread's network
/// namespace. Fails only when no listener at all could be opened.
pub fn open(config: &Config) -> io::Result<Opened> {
    // The capture socket first: once a listener exists the kernel completes
    // handshakes on its own, and a SYN that arrived before the capture
    // socket was open would be reported as never captured.
    let mut ports: Vec<u16> = config.ports.iter().chain(&config.watch).copied().collect();
    ports.sort_unstable();
    ports.dedup();
    let capture = match &config.interface {
        Some(name) => netsys::iface::index_of(name)
            .map_err(|e| io::Error::new(e.kind(), format!("no interface {name:?}: {e}")))
            .and_then(|i| Capture::open(&ports, Some(i), config.capture_ring))
            .map_err(|source| CaptureError {
                on: format!("interface {name}"),
                source,
            }),
        None => Capture::open(&ports, None, config.capture_ring).map_err(|source| CaptureError {
            on: "all interfaces".into(),
            source,
        }),
    };
    match &capture {
        Err(e) => {
            tracing::warn!(check = "capture", error = %e, "no capture: reports will lack the SYN")
        }
        Ok(c) => match c.ring_bytes() {
            Some(bytes) => {
                tracing::info!(check = "capture", ring_bytes = bytes, "capture ring mapped")
            }
            None => tracing::warn!(
                check = "capture",
                "capture without a ring (plain socket): floods overflow its buffer sooner"
            ),
        },
    }
    let mut listeners = Vec::new();
    let forced = config
        .force_tcp
        .then(|| "TCP listeners requested (--tcp)".to_string());
    let mut fallback: Option<String> = forced.clone();
    for &port in &config.ports {
        for ip in [
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ] {
            let addr = SocketAddr::new(ip, port);
            if fallback.is_none() {
                match listener(addr, true) {
                    Ok(socket) => {
                        listeners.push(Listener {
                            socket,
                            mptcp: true,
                        });
                        continue;
                    }
                    Err(e) if refuses_mptcp(&e, addr) => {
                        let why = format!("the kernel refused an MPTCP socket: {e}");
                        tracing::warn!(check = "listen", %addr, reason = %why, "falling back to TCP listeners");
                        fallback = Some(why);
                    }
                    Err(e) => {
                        tracing::warn!(check = "listen", %addr, error = %e, "cannot listen");
                        continue;
                    }
                }
            }
            match listener(addr, false) {
                Ok(socket) => listeners.push(Listener {
                    socket,
                    mptcp: false,
                }),
                Err(e) => tracing::warn!(check = "listen", %addr, error = %e, "cannot listen"),
            }
        }
    }
    // MPTCP listeners opened before the fallback was found become TCP too,
    // so every client gets the same answer.
    if fallback.is_some() && listeners.iter().any(|l| l.mptcp) {
        listeners.clear();
        for &port in &config.ports {
            for ip in [
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ] {
                if let Ok(socket) = listener(SocketAddr::new(ip, port), false) {
                    listeners.push(Listener {
                        socket,
                        mptcp: false,
                    });
                }
            }
        }
    }
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no listening socket could be opened",
        ));
    }
    Ok(Opened {
        listeners,
        capture,
        listener_state: ListenerState {
            mptcp: fallback.is_none(),
            rearm: match (&fallback, forced) {
                (None, _) => None,
                (Some(_), Some(_)) => Some(crate::rearm::forced()),
                (Some(_), None) => Some(crate::rearm::initial(config.rearm_interval)),
            },
            fallback_reason: fallback,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_error_names_where_and_the_fix_for_privileges() {
        let denied = CaptureError {
            on: "all interfaces".into(),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        let text = denied.to_string();
        assert!(text.starts_with("capture on all interfaces: "), "{text}");
        assert!(text.contains("CAP_NET_RAW"), "{text}");
        let gone = CaptureError {
            on: "interface wan9".into(),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        };
        assert_eq!(gone.fix(), None);
        assert!(!gone.to_string().contains("CAP_NET_RAW"));
    }
}
