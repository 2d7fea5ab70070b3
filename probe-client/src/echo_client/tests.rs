//! Hostile servers on loopback (a std listener in a thread): each exchange
//! ends within its timeout whatever they send, and what they break is
//! named for what it is.
use super::*;
use packet::echo::{ErrorMessage, Hello, ProbeQuery, ECHO_VERSION};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

/// The slack a loaded machine may add to a deadline: a bound on
/// behaviour, not a benchmark.
const SLACK: Duration = Duration::from_millis(1500);

/// A listener whose one connection reads the client's first line, then
/// runs `serve` with the accepted stream; and a client connection to it.
fn hostile(serve: impl FnOnce(TcpStream) + Send + 'static) -> (EchoConn, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        serve(s);
    });
    let conn = EchoConn::new(TcpStream::connect(addr).unwrap()).unwrap();
    (conn, server)
}

fn hello() -> ClientMessage {
    ClientMessage::Hello(Hello::new("test"))
}

/// The hello exchange against a server that answers `reply` at once.
fn exchange_with(reply: &'static [u8]) -> Result<ServerMessage, EchoError> {
    let (mut conn, server) = hostile(move |mut s| {
        let _ = s.write_all(reply);
    });
    let got = conn.exchange(&hello(), Duration::from_secs(2));
    server.join().unwrap();
    got
}

/// Writes `bytes` one at a time, `gap` apart, until the client goes away.
fn drip(mut s: TcpStream, bytes: &'static [u8], gap: Duration) {
    for b in bytes.iter().cycle() {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        std::thread::sleep(gap);
    }
}

#[test]
fn errors_say_what_came_back() {
    assert!(matches!(exchange_with(b""), Err(EchoError::Closed)));
    let e = exchange_with(b"HTTP/1.0 400 Bad Request\r\n\r\n").unwrap_err();
    assert!(matches!(e, EchoError::NotEcho { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("its answer is not an echo report ("),
        "{e}"
    );
    let m = exchange_with(
        b"{\"type\":\"error\",\"version\":1,\"code\":\"busy\",\"message\":\"later\"}\n",
    )
    .unwrap();
    let e = EchoError::unexpected("a report", &m);
    assert_eq!(e.to_string(), "echo server error busy: later");
    assert_eq!(
        EchoError::unexpected(
            "a probe answer",
            &ServerMessage::Error(ErrorMessage::new("x", "y"))
        )
        .to_string(),
        "echo server error x: y"
    );
}

#[test]
fn a_dripping_server_gets_one_deadline_not_one_per_byte() {
    // A report's first bytes, one every 100 ms: each read succeeds, so a
    // per-read timeout would never fire.
    let (mut conn, server) = hostile(|s| {
        drip(
            s,
            b"{\"type\":\"report\",\"version\":1,",
            Duration::from_millis(100),
        )
    });
    let timeout = Duration::from_secs(1);
    let start = Instant::now();
    let e = conn.exchange(&hello(), timeout).unwrap_err();
    let took = start.elapsed();
    drop(conn);
    server.join().unwrap();
    assert!(took < timeout + SLACK, "took {took:?}");
    assert!(
        matches!(e, EchoError::Protocol(ProtocolError::Incomplete { got, .. }) if got > 0),
        "{e:?}"
    );
    assert!(e.to_string().contains("broke the echo protocol"), "{e}");
}

#[test]
fn a_dripping_stranger_is_no_answer() {
    let (mut conn, server) = hostile(|s| drip(s, b"SSH-2.0-", Duration::from_millis(100)));
    let start = Instant::now();
    let e = conn
        .exchange(&hello(), Duration::from_millis(700))
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(700) + SLACK);
    drop(conn);
    server.join().unwrap();
    assert!(matches!(e, EchoError::NoAnswer { .. }), "{e:?}");
}

#[test]
fn an_endless_line_is_cut_at_the_limit() {
    let (mut conn, server) = hostile(|mut s| {
        let mut line = b"{\"type\":\"report\",\"warnings\":[\"".to_vec();
        line.resize(MAX_SERVER_LINE * 2, b'x');
        let _ = s.write_all(&line);
    });
    let start = Instant::now();
    let e = conn.exchange(&hello(), Duration::from_secs(5)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "did not wait for the deadline"
    );
    drop(conn);
    server.join().unwrap();
    assert!(
        matches!(e, EchoError::Protocol(ProtocolError::TooLong { .. })),
        "{e:?}"
    );
    let (mut conn, server) = hostile(|mut s| {
        let _ = s.write_all(&vec![b'x'; MAX_SERVER_LINE + 10]);
    });
    let e = conn.exchange(&hello(), Duration::from_secs(5)).unwrap_err();
    drop(conn);
    server.join().unwrap();
    assert!(matches!(e, EchoError::LongLine { .. }), "{e:?}");
}

#[test]
fn a_line_of_exactly_the_limit_is_read() {
    // `{"type":"error",...,"message":"xxx..."}` padded to the limit.
    let (mut conn, server) = hostile(|mut s| {
        let head = br#"{"type":"error","version":1,"code":"busy","message":""#;
        let mut line = head.to_vec();
        line.resize(MAX_SERVER_LINE - 2, b'x');
        line.extend_from_slice(b"\"}\n");
        let _ = s.write_all(&line);
    });
    let got = conn.exchange(&hello(), Duration::from_secs(5));
    server.join().unwrap();
    assert!(matches!(got, Ok(ServerMessage::Error(_))), "{got:?}");
}

#[test]
fn broken_json_and_the_wrong_message_are_protocol_errors() {
    let e = exchange_with(b"{\"type\":\"report\",\"version\":1}\n").unwrap_err();
    assert!(
        matches!(e, EchoError::Protocol(ProtocolError::Malformed { .. })),
        "{e:?}"
    );
    let e = exchange_with(b"{garbage\n").unwrap_err();
    assert!(
        matches!(e, EchoError::Protocol(ProtocolError::Malformed { .. })),
        "{e:?}"
    );
    // A probe answer to the hello.
    let e =
        exchange_with(b"{\"type\":\"answer\",\"version\":1,\"observations\":[]}\n").unwrap_err();
    assert!(
        matches!(
            e,
            EchoError::Protocol(ProtocolError::Unexpected {
                wanted: "a report",
                ..
            })
        ),
        "{e:?}"
    );
    // An answer to a query before any report.
    let (mut conn, server) = hostile(|mut s| {
        let _ = s.write_all(b"{\"type\":\"answer\",\"version\":1,\"observations\":[]}\n");
    });
    let query = ClientMessage::Query(ProbeQuery {
        version: ECHO_VERSION,
        seqs: vec![1],
    });
    let e = conn.exchange(&query, Duration::from_secs(2)).unwrap_err();
    server.join().unwrap();
    assert!(matches!(e, EchoError::Protocol(_)), "{e:?}");
}

/// A report of the connection `peer` -> `local` without captured segments.
fn report_line(peer: SocketAddr, local: SocketAddr) -> String {
    format!(
        r#"{{"type":"report","version":1,"peer":{{"addr":"{}","port":{}}},"local":{{"addr":"{}","port":{}}},"syn":null,"syn_ack":null,"connection":{{"mptcp":true,"listener_mptcp":true,"fallback_reason":null,"info_flags":null}},"readiness":{{"mptcp_enabled":true,"flavor":"upstream","versions":[1],"sysctls":{{}},"limits":null,"endpoints":[],"kernel_release":null,"listener":null,"errors":[]}},"warnings":[]}}"#,
        peer.ip(),
        peer.port(),
        local.ip(),
        local.port()
    ) + "\n"
}

#[test]
fn a_report_of_this_connection_passes_and_another_is_refused() {
    let (mut conn, server) = hostile(|mut s| {
        let peer = s.peer_addr().unwrap();
        let local = s.local_addr().unwrap();
        let _ = s.write_all(report_line(peer, local).as_bytes());
    });
    let got = conn.exchange(&hello(), Duration::from_secs(2));
    server.join().unwrap();
    assert!(matches!(got, Ok(ServerMessage::Report(_))), "{got:?}");
    // Our address with another port: some other connection's report.
    let (mut conn, server) = hostile(|mut s| {
        let mut peer = s.peer_addr().unwrap();
        peer.set_port(peer.port().wrapping_add(1));
        let local = s.local_addr().unwrap();
        let _ = s.write_all(report_line(peer, local).as_bytes());
    });
    let e = conn.exchange(&hello(), Duration::from_secs(2)).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(
            &e,
            EchoError::Protocol(ProtocolError::Invalid {
                error: ReportError::Connection { .. },
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn an_answer_is_checked_against_the_query() {
    // A valid report, then an answer whose SYN's hex is not hex.
    let (mut conn, server) = hostile(|mut s| {
        let peer = s.peer_addr().unwrap();
        let local = s.local_addr().unwrap();
        let _ = s.write_all(report_line(peer, local).as_bytes());
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = s.write_all(
            b"{\"type\":\"answer\",\"version\":1,\"observations\":[{\"syn\":{\"hex\":\"zz\",\
              \"iface\":\"lo\",\"ts\":0.0,\"src\":\"127.0.0.1\",\"dst\":\"127.0.0.1\",\"sport\":1,\
              \"dport\":2,\"flags\":\"S\",\"seq\":5,\"ack\":0,\"window\":0,\"ttl\":64,\"options\":[],\
              \"mp_capable\":null},\"syn_ack\":null}]}\n",
        );
    });
    assert!(matches!(
        conn.exchange(&hello(), Duration::from_secs(2)),
        Ok(ServerMessage::Report(_))
    ));
    let query = ClientMessage::Query(ProbeQuery {
        version: ECHO_VERSION,
        seqs: vec![5],
    });
    let e = conn.exchange(&query, Duration::from_secs(2)).unwrap_err();
    server.join().unwrap();
    assert!(
        matches!(
            &e,
            EchoError::Protocol(ProtocolError::Invalid {
                what: "probe answer",
                error: ReportError::NotHex { .. }
            })
        ),
        "{e:?}"
    );
}
