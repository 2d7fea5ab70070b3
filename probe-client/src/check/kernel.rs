//! The unprivileged half of `check`: one connection made by this host's own
//! kernel (an IPPROTO_MPTCP socket, or plain TCP when the kernel refuses
//! MPTCP), the echo server's report on it, and what the local socket says
//! (`TCP_IS_MPTCP`, SYN retransmissions). Needs no capability.
use super::adapt::{CounterDelta, KernelFacts};
use crate::echo_client::{EchoConn, EchoError, ProtocolError};
use netsys::sockopt;
use packet::echo::{
    ClientMessage, EchoReport, Hello, ProbeAnswer as EchoAnswer, ProbeQuery, ServerMessage,
    ECHO_VERSION,
};
use packet::verdict::ConnectOutcome;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    pub dest: SocketAddr,
    pub interface: Option<String>,
    pub source: Option<IpAddr>,
    /// Time for the echo exchange (and for the connect, see below).
    pub timeout: Duration,
    /// How long an MPTCP connect may take: at least as long as the kernel
    /// needs to give up on MP_CAPABLE and retry without it (see
    /// [`fallback_wait`]), so that a path dropping MP_CAPABLE SYNs shows up
    /// as a late plain-TCP connection with SYN retransmissions rather than
    /// as a dead host.
    pub mptcp_connect_timeout: Duration,
}

/// When the kernel's SYN without MP_CAPABLE goes out after lost MP_CAPABLE
/// SYNs, plus a second for its answer. The kernel retransmits the SYN
/// `net.mptcp.syn_retrans_before_tcp_fallback` times (2 by default), one
/// second apart (as recorded in pcap-fixtures/dropped.client.pcap), before
/// it drops the option.
pub fn fallback_wait(syn_retrans_before_tcp_fallback: Option<u32>) -> Duration {
    let retries = syn_retrans_before_tcp_fallback.unwrap_or(2).min(8);
    Duration::from_secs(u64::from(retries) + 2)
}

/// Why there is no echo report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchoStatus {
    /// A report arrived.
    Report,
    /// The connection did not open.
    NotConnected,
    /// Something answered, but not as an echo server: why.
    NotEcho(String),
    /// An echo server answered with an error message.
    ServerError { code: String, message: String },
}

/// The kernel connection and, while it is open, the echo session on it.
pub struct KernelSession {
    pub facts: KernelFacts,
    /// Why `socket(..., IPPROTO_MPTCP)` failed, when it did.
    pub mptcp_refused: Option<String>,
    pub echo: EchoStatus,
    pub report: Option<EchoReport>,
    /// The connection's local address (crafted probes use the same source,
    /// so the echo server lets us see their observations).
    pub local_addr: Option<SocketAddr>,
    /// Things worth telling the user about this session.
    pub notes: Vec<String>,
    /// How the echo server broke the protocol, when it did: the check
    /// stops there (exit 2) instead of judging.
    pub broken: Option<ProtocolError>,
    conn: Option<EchoConn>,
}

/// An error that is not about the path: the socket could not even be set
/// up as asked (bad interface, source address not on this host).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot open a TCP socket: {0}")]
    Socket(io::Error),
    #[error("cannot bind to interface {iface}: {err}")]
    Device { iface: String, err: io::Error },
    #[error("cannot use source address {addr}: {err}")]
    Source { addr: IpAddr, err: io::Error },
}

fn open_socket(spec: &ConnectSpec, protocol: Protocol) -> io::Result<Socket> {
    Socket::new(Domain::for_address(spec.dest), Type::STREAM, Some(protocol))
}

fn prepare(socket: &Socket, spec: &ConnectSpec) -> Result<(), SetupError> {
    if let Some(iface) = &spec.interface {
        socket
            .bind_device(Some(iface.as_bytes()))
            .map_err(|err| SetupError::Device {
                iface: iface.clone(),
                err,
            })?;
    }
    if let Some(addr) = spec.source {
        socket
            .bind(&SockAddr::from(SocketAddr::new(addr, 0)))
            .map_err(|err| SetupError::Source { addr, err })?;
    }
    Ok(())
}

fn outcome_of(err: &io::Error) -> ConnectOutcome {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => ConnectOutcome::Refused,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectOutcome::Timeout,
        // EHOSTUNREACH, ENETUNREACH, EACCES/EPERM (ICMP prohibited or a
        // local firewall): the SYN met an error, not a listener.
        _ => ConnectOutcome::Unreachable,
    }
}

/// Opens the kernel connection and reads the echo server's report.
pub fn connect(spec: &ConnectSpec) -> Result<KernelSession, SetupError> {
    let (socket, mptcp_refused) = match open_socket(spec, Protocol::MPTCP) {
        Ok(s) => (s, None),
        Err(e) => {
            let why = format!("socket(IPPROTO_MPTCP) refused: {e}");
            (
                open_socket(spec, Protocol::TCP).map_err(SetupError::Socket)?,
                Some(why),
            )
        }
    };
    let mptcp_socket = mptcp_refused.is_none();
    let notes: Vec<String> = mptcp_refused
        .iter()
        .map(|why| {
            format!(
                "{why}; connected with a TCP socket instead (which an out-of-tree -mptcp \
                 kernel with net.mptcp.mptcp_enabled=1 still makes MPTCP v0)"
            )
        })
        .collect();
    prepare(&socket, spec)?;
    let connect_timeout = if mptcp_socket {
        spec.mptcp_connect_timeout.max(spec.timeout)
    } else {
        spec.timeout
    };
    // The namespace's MPTCP counters around the connect tell whether the
    // kernel put MP_CAPABLE in this connection's SYN at all.
    let before = host::read_mptcp_counters().ok();
    let connected = socket.connect_timeout(&SockAddr::from(spec.dest), connect_timeout);
    let counters =
        CounterDelta::between(before.as_ref(), host::read_mptcp_counters().ok().as_ref());
    let deadline = Instant::now() + spec.timeout;
    if let Err(e) = connected {
        return Ok(KernelSession {
            facts: KernelFacts {
                outcome: outcome_of(&e),
                mptcp_socket,
                is_mptcp: None,
                syn_retransmissions: None,
                counters,
            },
            mptcp_refused,
            echo: EchoStatus::NotConnected,
            report: None,
            local_addr: None,
            notes,
            broken: None,
            conn: None,
        });
    }
    let stream: TcpStream = socket.into();
    // Right after connect, every retransmission counted is a SYN's.
    let syn_retransmissions = sockopt::tcp_info(&stream)
        .ok()
        .and_then(|i| i.total_retrans);
    // An error: a kernel without TCP_IS_MPTCP (before 5.16, out-of-tree).
    let is_mptcp = sockopt::tcp_is_mptcp(&stream).ok();
    let local_addr = stream.local_addr().ok();
    let mut session = KernelSession {
        facts: KernelFacts {
            outcome: ConnectOutcome::Connected,
            mptcp_socket,
            is_mptcp,
            syn_retransmissions,
            counters,
        },
        mptcp_refused,
        echo: EchoStatus::NotConnected,
        report: None,
        local_addr,
        notes,
        broken: None,
        conn: None,
    };
    let mut conn = match EchoConn::new(stream) {
        Ok(c) => c,
        Err(e) => {
            session.echo = EchoStatus::NotEcho(format!("socket: {e}"));
            return Ok(session);
        }
    };
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(500));
    let hello = ClientMessage::Hello(Hello::new(format!(
        "mptcp-probe/{}",
        env!("CARGO_PKG_VERSION")
    )));
    match conn.exchange(&hello, remaining) {
        Ok(ServerMessage::Report(report)) => {
            session.echo = EchoStatus::Report;
            session.report = Some(*report);
            session.conn = Some(conn);
        }
        Ok(ServerMessage::Error(e)) => {
            session.echo = EchoStatus::ServerError {
                code: e.code,
                message: e.message,
            }
        }
        Ok(ServerMessage::Answer(_)) => {
            session.echo = EchoStatus::NotEcho("it answered the hello with a probe answer".into())
        }
        Err(EchoError::Protocol(e)) => session.broken = Some(e),
        Err(why) => session.echo = EchoStatus::NotEcho(why.to_string()),
    }
    Ok(session)
}

impl KernelSession {
    /// Asks the echo server for its observations of the crafted SYNs with
    /// these sequence numbers, on the same connection (the server only
    /// shows SYNs from the asking connection's source address).
    pub fn query(&mut self, seqs: &[u32], timeout: Duration) -> Result<EchoAnswer, EchoError> {
        let conn = self.conn.as_mut().ok_or(EchoError::NoSession)?;
        let q = ClientMessage::Query(ProbeQuery {
            version: ECHO_VERSION,
            seqs: seqs.to_vec(),
        });
        match conn.exchange(&q, timeout)? {
            ServerMessage::Answer(a) => Ok(a),
            other => Err(EchoError::unexpected("a probe answer", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn spec(dest: SocketAddr) -> ConnectSpec {
        ConnectSpec {
            dest,
            interface: None,
            source: None,
            timeout: Duration::from_millis(800),
            mptcp_connect_timeout: Duration::from_millis(800),
        }
    }

    #[test]
    fn fallback_wait_follows_the_sysctl() {
        assert_eq!(fallback_wait(None), Duration::from_secs(4));
        assert_eq!(fallback_wait(Some(0)), Duration::from_secs(2));
        assert_eq!(fallback_wait(Some(1000)), Duration::from_secs(10));
    }

    #[test]
    fn refused_on_loopback() {
        // A port just released: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let s = connect(&spec(port)).unwrap();
        assert_eq!(s.facts.outcome, ConnectOutcome::Refused);
        assert_eq!(s.echo, EchoStatus::NotConnected);
    }

    #[test]
    fn a_silent_listener_is_not_an_echo_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s = connect(&spec(addr)).unwrap();
        assert_eq!(s.facts.outcome, ConnectOutcome::Connected);
        assert!(
            matches!(&s.echo, EchoStatus::NotEcho(w) if w.contains("no answer")),
            "{:?}",
            s.echo
        );
        assert!(s.report.is_none());
    }

    #[test]
    fn a_talking_listener_is_not_an_echo_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            c.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        let s = connect(&spec(addr)).unwrap();
        t.join().unwrap();
        assert!(
            matches!(&s.echo, EchoStatus::NotEcho(w) if w.contains("not an echo report")),
            "{:?}",
            s.echo
        );
    }

    #[test]
    fn bad_interface_is_a_setup_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sp = spec(l.local_addr().unwrap());
        sp.interface = Some("no-such-if0".into());
        assert!(matches!(connect(&sp), Err(SetupError::Device { .. })));
    }
}
