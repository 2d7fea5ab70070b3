//! Asking the echo server (probe-server, echo protocol v1) which of our
//! crafted SYNs arrived and how: the trace's final hop.
//!
//! The connection runs on its own thread while the trace waits for ICMP,
//! so it costs no time of its own: connect, hello and report overlap the
//! probes; the query goes out once the destination has answered (its
//! capture has then seen the SYN) or when the trace's deadline passes.
use crate::echo_client::{EchoConn, EchoError, ProtocolError};
use crate::net::raw::Deadline;
// What the exchange brings back, and how it is judged, is the engine's.
pub use engine::trace::echo::EchoOutcome;
use packet::echo::{ClientMessage, Hello, ProbeQuery, ServerMessage, ECHO_VERSION, MAX_QUERY_SEQS};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// Time the query may take after the trace's own deadline.
pub const QUERY_GRACE: Duration = Duration::from_millis(1000);

/// The TCP socket for the echo connection, bound to our probe source
/// address (the server answers queries only about SYNs from the
/// connection's own address) and to `-i`'s interface. Created before
/// privileges are dropped: SO_BINDTODEVICE may need CAP_NET_RAW.
pub fn echo_socket(source: IpAddr, interface: Option<&str>) -> std::io::Result<Socket> {
    let domain = if source.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if let Some(name) = interface {
        socket.bind_device(Some(name.as_bytes()))?;
    }
    socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    Ok(socket)
}

/// One exchange with the server; its `Error` message is an error here.
fn ask(
    conn: &mut EchoConn,
    msg: &ClientMessage,
    timeout: Duration,
) -> Result<ServerMessage, EchoError> {
    match conn.exchange(msg, timeout)? {
        m @ ServerMessage::Error(_) => Err(EchoError::unexpected("", &m)),
        m => Ok(m),
    }
}

/// Runs the whole exchange: connect, hello, report, then wait for the
/// sequence numbers to query on `seqs` (at most until `deadline` plus
/// [`QUERY_GRACE`]). An echo server that breaks the protocol is an error:
/// nothing it said counts.
pub fn run(
    socket: Socket,
    server: SocketAddr,
    deadline: Deadline,
    seqs: Receiver<Vec<u32>>,
) -> Result<EchoOutcome, ProtocolError> {
    let mut out = EchoOutcome::default();
    let limit = || deadline.remaining() + QUERY_GRACE;
    if let Err(e) = socket.connect_timeout(
        &SockAddr::from(server),
        deadline.remaining().max(Duration::from_millis(1)),
    ) {
        out.error = Some(format!("no echo server at {server}: {e}"));
        return Ok(out);
    }
    let mut conn = match EchoConn::new(socket.into()) {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(e.to_string());
            return Ok(out);
        }
    };
    let hello = ClientMessage::Hello(Hello::new(format!(
        "mptcp-probe/{} trace",
        env!("CARGO_PKG_VERSION")
    )));
    // The report must come within the trace's own time.
    let report = ask(&mut conn, &hello, deadline.remaining());
    match report {
        Ok(ServerMessage::Report(r)) => out.report = Some(*r),
        Ok(_) => {
            out.error = Some("the echo server did not start with a report".into());
            return Ok(out);
        }
        Err(EchoError::Protocol(e)) => return Err(e),
        Err(e) => {
            out.error = Some(e.to_string());
            return Ok(out);
        }
    }
    let wanted = match seqs.recv_timeout(limit()) {
        Ok(s) => s,
        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return Ok(out),
    };
    let wanted: Vec<u32> = wanted.into_iter().take(MAX_QUERY_SEQS).collect();
    // One query: the server reads its capture up to the query before it
    // answers, so probes answered before now are in its account.
    let query = ClientMessage::Query(ProbeQuery {
        version: ECHO_VERSION,
        seqs: wanted,
    });
    match ask(&mut conn, &query, deadline.remaining().max(QUERY_GRACE / 2)) {
        Ok(ServerMessage::Answer(a)) => {
            out.queried = true;
            out.observations = a.observations;
            out.capture_drops = a.capture_drops;
            out.displaced = a.displaced;
            out.warnings = a.warnings;
        }
        Ok(_) => out.error = Some("unexpected echo server message".into()),
        Err(EchoError::Protocol(e)) => return Err(e),
        Err(e) => out.error = Some(e.to_string()),
    }
    Ok(out)
}
