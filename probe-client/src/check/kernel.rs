//! The unprivileged half of `check`: one connection made by this host's own
//! kernel (an IPPROTO_MPTCP socket, or plain TCP when the kernel refuses
//! MPTCP), the echo server's report on it, and what the local socket says
//! (`TCP_IS_MPTCP`, SYN retransmissions). Needs no capability.
//!
//! [`Purpose`] says what a connection is for: the kernel's MPTCP connection
//! to the echo server (connect, then ask), to a service that is not an echo
//! server (`--echo-port`: connect only), or a plain TCP connection that
//! only asks the echo server (when an MPTCP connection would do harm or
//! has failed).
use super::adapt::{BlackholeFacts, CounterDelta, KernelFacts};
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

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The kernel's MPTCP connection to the echo server, which is then
    /// asked for its report.
    MptcpEcho,
    /// The kernel's MPTCP connection to a service (not an echo server):
    /// connect, read the socket's state, close; nothing is sent.
    MptcpOnly,
    /// A plain TCP connection to the echo server, to ask it.
    PlainEcho,
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

/// Whether this kernel's blackhole detection keeps MP_CAPABLE out of new
/// connections now, probed without sending anything
/// (`host::new_connection`), with the `MPTcpExt` totals. `None` when no
/// MPTCP socket opens (the kernel connection then reports why).
pub fn blackhole_probe() -> Option<BlackholeFacts> {
    let probe = host::new_connection::probe().ok()?;
    let counters = host::read_mptcp_counters().ok();
    let total = |name: &str| counters.as_ref().and_then(|c| c.get(name).copied());
    Some(BlackholeFacts {
        active: probe.blackholed(),
        events: total("Blackhole"),
        syn_tx_disabled: total("MPCapableSYNTXDisabled"),
    })
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

/// Why `socket(..., IPPROTO_MPTCP)` fails for `dest`'s family, if it does
/// (the socket is closed again at once: nothing is sent).
pub fn mptcp_socket_refused(dest: SocketAddr) -> Option<String> {
    Socket::new(
        Domain::for_address(dest),
        Type::STREAM,
        Some(Protocol::MPTCP),
    )
    .err()
    .map(|e| format!("socket(IPPROTO_MPTCP) refused: {e}"))
}

/// Opens a connection for `purpose` and, for the echo purposes, reads the
/// echo server's report.
pub fn connect(spec: &ConnectSpec, purpose: Purpose) -> Result<KernelSession, SetupError> {
    let (socket, mptcp_refused) = if purpose == Purpose::PlainEcho {
        (
            open_socket(spec, Protocol::TCP).map_err(SetupError::Socket)?,
            None,
        )
    } else {
        match open_socket(spec, Protocol::MPTCP) {
            Ok(s) => (s, None),
            Err(e) => {
                let why = format!("socket(IPPROTO_MPTCP) refused: {e}");
                (
                    open_socket(spec, Protocol::TCP).map_err(SetupError::Socket)?,
                    Some(why),
                )
            }
        }
    };
    let mptcp_socket = mptcp_refused.is_none() && purpose != Purpose::PlainEcho;
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
    if purpose == Purpose::MptcpOnly {
        // Not an echo server: the connection closes unused.
        return Ok(session);
    }
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
        Ok(other) => {
            session.echo =
                EchoStatus::NotEcho(EchoError::unexpected("a report", &other).to_string())
        }
        Err(EchoError::Protocol(e)) => session.broken = Some(e),
        Err(why) => session.echo = EchoStatus::NotEcho(why.to_string()),
    }
    Ok(session)
}

impl KernelSession {
    /// Whether this session holds an echo report (and can be queried).
    pub fn has_report(&self) -> bool {
        self.echo == EchoStatus::Report
    }

    /// Whether an MPTCP connection to the echo server failed in a way a
    /// plain TCP connection may get past: it never connected (no answer,
    /// an ICMP error), or it connected without falling back and the
    /// echo exchange then failed (the MPTCP data path may be broken). A
    /// refused connection (nothing listens) or a plain connection that is
    /// not an echo server would fail the same way again.
    pub fn worth_a_plain_retry(&self) -> bool {
        match self.echo {
            EchoStatus::Report | EchoStatus::ServerError { .. } => false,
            EchoStatus::NotConnected => self.facts.outcome != ConnectOutcome::Refused,
            EchoStatus::NotEcho(_) => self.facts.is_mptcp != Some(false),
        }
    }

    /// The echo session on the kernel connection, while it is open (the
    /// aggregate exchange runs on it after the report).
    pub fn conn_mut(&mut self) -> Option<&mut EchoConn> {
        self.conn.as_mut()
    }

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
        let s = connect(&spec(port), Purpose::MptcpEcho).unwrap();
        assert_eq!(s.facts.outcome, ConnectOutcome::Refused);
        assert_eq!(s.echo, EchoStatus::NotConnected);
    }

    #[test]
    fn a_silent_listener_is_not_an_echo_server() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s = connect(&spec(addr), Purpose::MptcpEcho).unwrap();
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
        let s = connect(&spec(addr), Purpose::MptcpEcho).unwrap();
        t.join().unwrap();
        assert!(
            matches!(&s.echo, EchoStatus::NotEcho(w) if w.contains("not an echo report")),
            "{:?}",
            s.echo
        );
    }

    #[test]
    fn connect_only_sends_nothing_and_plain_echo_is_plain() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            // The first connection (connect only) must send nothing.
            let (mut c, _) = l.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut buf = [0u8; 64];
            let got = std::io::Read::read(&mut c, &mut buf).unwrap_or(0);
            // The second (plain echo) says hello.
            let (mut c2, _) = l.accept().unwrap();
            c2.set_read_timeout(Some(Duration::from_millis(800)))
                .unwrap();
            let hello = std::io::Read::read(&mut c2, &mut buf).unwrap_or(0);
            (got, hello)
        });
        let only = connect(&spec(addr), Purpose::MptcpOnly).unwrap();
        assert_eq!(only.facts.outcome, ConnectOutcome::Connected);
        assert_eq!(only.echo, EchoStatus::NotConnected);
        drop(only);
        let plain = connect(&spec(addr), Purpose::PlainEcho).unwrap();
        assert!(!plain.facts.mptcp_socket);
        assert_ne!(plain.facts.is_mptcp, Some(true));
        let (first, second) = t.join().unwrap();
        assert_eq!(first, 0, "connect only sent bytes");
        assert!(second > 0, "the plain echo connection sent its hello");
        // A silent listener over plain TCP is not worth another plain try.
        assert!(!plain.worth_a_plain_retry());
    }

    #[test]
    fn refused_is_not_worth_a_plain_retry() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let s = connect(&spec(port), Purpose::MptcpEcho).unwrap();
        assert!(!s.worth_a_plain_retry());
    }

    #[test]
    fn bad_interface_is_a_setup_error() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut sp = spec(l.local_addr().unwrap());
        sp.interface = Some("no-such-if0".into());
        assert!(matches!(
            connect(&sp, Purpose::MptcpEcho),
            Err(SetupError::Device { .. })
        ));
    }
}
