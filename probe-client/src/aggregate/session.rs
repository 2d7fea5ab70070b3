//! The aggregate exchange on the kernel connection's echo session: the
//! request, the server's grant, the data phase (bursts of zero bytes both
//! ways, each side ending with a newline), the server's result; and this
//! host's own view of the subflows afterwards.
use crate::echo_client::{EchoConn, EchoError};
use engine::aggregate::SubflowRecord;
use netsys::sockopt::{self, MptcpInfo};
use packet::echo::{
    AggregateRequest, AggregateResult, AggregateStart, ClientMessage, DataPlan, ServerMessage,
};
use std::io::{self, BufRead, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What the exchange gave.
#[derive(Debug, Default)]
pub struct Exchange {
    pub start: Option<AggregateStart>,
    /// Data-phase bytes this host sent and received.
    pub sent: u64,
    pub received: u64,
    /// How long the data phase lasted.
    pub elapsed: Duration,
    pub result: Option<AggregateResult>,
    /// What went wrong, for the notes.
    pub problems: Vec<String>,
}

/// Longest the server may take for its result after the data phase: it
/// waits for its capture to catch up (3 s at most).
const RESULT_GRACE: Duration = Duration::from_secs(4);

/// Runs the whole exchange. Never fails: what went wrong is in `problems`,
/// and whatever arrived before is kept.
pub fn exchange(conn: &mut EchoConn, request: &AggregateRequest, timeout: Duration) -> Exchange {
    let mut ex = Exchange::default();
    let start = match conn.exchange(&ClientMessage::Aggregate(request.clone()), timeout) {
        Ok(ServerMessage::AggregateStart(s)) => s,
        Ok(other) => {
            ex.problems.push(format!(
                "the echo server did not start the aggregate exchange: {}",
                EchoError::unexpected("aggregate_start", &other)
            ));
            return ex;
        }
        Err(e) => {
            ex.problems.push(format!(
                "the echo server did not start the aggregate exchange: {e}"
            ));
            return ex;
        }
    };
    // Never more than asked, whatever a server grants.
    let duration_ms = start.duration_ms.min(request.duration_ms);
    let max_bytes = start.max_bytes.min(request.max_bytes);
    if let Some(note) = &start.note {
        ex.problems
            .push(format!("the echo server pushed no data: {note}"));
    }
    ex.start = Some(start.clone());
    let plan = DataPlan::new(duration_ms, max_bytes);
    let began = Instant::now();
    // The server may send up to what it granted itself.
    let deadline = began + Duration::from_millis(u64::from(start.duration_ms)) + timeout;
    let (sock, reader) = conn.raw_parts();
    let (pushed, pulled) = std::thread::scope(|s| {
        let writer = s.spawn(|| push(sock, plan, timeout));
        let pulled = pull(reader, start.max_bytes, deadline);
        (
            writer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("writer panicked"))),
            pulled,
        )
    });
    ex.elapsed = began.elapsed();
    match pushed {
        Ok(n) => ex.sent = n,
        Err(e) => ex.problems.push(format!("pushing data failed: {e}")),
    }
    match pulled {
        Ok(n) => ex.received = n,
        Err(e) => ex
            .problems
            .push(format!("reading the server's data failed: {e}")),
    }
    if !ex.problems.iter().any(|p| p.contains("failed")) {
        match conn.receive(timeout + RESULT_GRACE) {
            Ok(ServerMessage::AggregateResult(r)) => ex.result = Some(*r),
            Ok(other) => ex.problems.push(format!(
                "no aggregate result: {}",
                EchoError::unexpected("aggregate_result", &other)
            )),
            Err(e) => ex.problems.push(format!("no aggregate result: {e}")),
        }
    }
    ex
}

/// Bytes per write of the data phase.
const WRITE_CHUNK: usize = 16 * 1024;

/// This host's side of the data phase: the planned bursts, then `\n`.
fn push(mut sock: &TcpStream, plan: DataPlan, timeout: Duration) -> io::Result<u64> {
    sock.set_write_timeout(Some(timeout.max(Duration::from_millis(100))))?;
    let began = Instant::now();
    let mut sent = 0u64;
    // Zeroed at run time: a static array of zeros would be 16 KiB of the
    // router binary's flash.
    let zeros = vec![0u8; WRITE_CHUNK];
    for i in 0..plan.bursts {
        let due = began + plan.due(i);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let mut left = plan.burst_bytes;
        while left > 0 {
            let n = usize::try_from(left)
                .unwrap_or(WRITE_CHUNK)
                .min(WRITE_CHUNK);
            sock.write_all(&zeros[..n])?;
            left -= n as u64;
            sent += n as u64;
        }
    }
    sock.write_all(b"\n")?;
    Ok(sent)
}

/// The server's side: bytes counted up to its `\n`, at most `max_bytes`,
/// before `deadline`.
fn pull(reader: &mut impl BufReadTimeout, max_bytes: u64, deadline: Instant) -> io::Result<u64> {
    let mut received = 0u64;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server's data did not end in time",
            ));
        }
        reader.set_timeout(left)?;
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed during the data phase",
            ));
        }
        let (n, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        received += n as u64;
        reader.consume(n + usize::from(done));
        if received > max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the server sent more than the {max_bytes} bytes it granted"),
            ));
        }
        if done {
            return Ok(received);
        }
    }
}

/// A buffered reader whose read timeout can be set (the socket's).
pub trait BufReadTimeout: BufRead {
    fn set_timeout(&mut self, t: Duration) -> io::Result<()>;
}

impl BufReadTimeout for io::BufReader<TcpStream> {
    fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.get_ref()
            .set_read_timeout(Some(t.max(Duration::from_millis(1))))
    }
}

/// This host's view of the connection: its subflows, how they were read,
/// and its `MPTCP_INFO`.
pub fn local_subflows(
    stream: &TcpStream,
) -> (Vec<SubflowRecord>, Option<String>, Option<MptcpInfo>) {
    match sockopt::mptcp_subflows(stream) {
        Ok(s) => {
            let records = s
                .subflows
                .iter()
                .map(|f| SubflowRecord {
                    local: f.local,
                    remote: f.remote,
                    state: f.tcp.and_then(|t| t.state),
                    bytes_acked: f.tcp.and_then(|t| t.bytes_acked),
                    bytes_received: f.tcp.and_then(|t| t.bytes_received),
                })
                .collect();
            let info = s.info.or_else(|| sockopt::mptcp_info(stream).ok());
            (records, Some(s.source.as_str().to_string()), info)
        }
        Err(_) => (Vec::new(), None, sockopt::mptcp_info(stream).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    struct Fake(Cursor<Vec<u8>>);
    impl io::Read for Fake {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.0.read(b)
        }
    }
    impl BufRead for Fake {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            self.0.fill_buf()
        }
        fn consume(&mut self, n: usize) {
            self.0.consume(n)
        }
    }
    impl BufReadTimeout for Fake {
        fn set_timeout(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn the_servers_bytes_are_counted_to_its_newline_and_no_further() {
        let mut r = Fake(Cursor::new(b"\0\0\0\0\n{\"type\"".to_vec()));
        assert_eq!(pull(&mut r, 10, later()).unwrap(), 4);
        let mut rest = String::new();
        r.read_line(&mut rest).unwrap();
        assert_eq!(rest, "{\"type\"");
    }

    #[test]
    fn a_server_sending_more_than_it_granted_is_cut_off() {
        let mut r = Fake(Cursor::new(vec![0u8; 100]));
        let e = pull(&mut r, 10, later()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let mut closed = Fake(Cursor::new(vec![0u8; 3]));
        assert_eq!(
            pull(&mut closed, 10, later()).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut late = Fake(Cursor::new(vec![0u8; 3]));
        assert_eq!(
            pull(&mut late, 10, Instant::now()).unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    }

    #[test]
    fn the_push_sends_the_plan_then_a_newline() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut a, _) = l.accept().unwrap();
        let plan = DataPlan::new(200, 40_000);
        let t = std::thread::spawn(move || {
            let mut all = Vec::new();
            io::Read::read_to_end(&mut a, &mut all).unwrap();
            all
        });
        let sent = push(&c, plan, Duration::from_secs(2)).unwrap();
        drop(c);
        let all = t.join().unwrap();
        assert_eq!(sent, 40_000);
        assert_eq!(all.len(), 40_001);
        assert_eq!(all.last(), Some(&b'\n'));
        assert!(all[..40_000].iter().all(|&b| b == 0));
    }
}
