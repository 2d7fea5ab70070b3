//! The client side of the echo protocol (probe-server, JSON lines): one
//! message out, one line back, each bounded in time and size. Shared by
//! `check` (over its kernel connection) and `trace` (its final hop).
use packet::echo::{ClientMessage, ServerMessage};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use thiserror::Error;

/// What went wrong talking to (what should be) an echo server. The
/// messages complete "no echo server at ...: " and "the echo server did not
/// answer ...: ".
#[derive(Debug, Error)]
pub enum EchoError {
    #[error("cannot encode the message: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("sending to the echo server failed: {0}")]
    Send(#[source] io::Error),
    #[error("cannot set the read timeout: {0}")]
    Timeout(#[source] io::Error),
    #[error("it closed the connection without answering")]
    Closed,
    #[error("no answer within {secs:.1} s (not an echo server?)")]
    NoAnswer { secs: f64 },
    #[error("reading its answer failed: {0}")]
    Read(#[source] io::Error),
    /// The line is not a server message; `shown` is its start.
    #[error("its answer is not an echo report ({source}): {shown:?}")]
    NotEcho {
        #[source]
        source: serde_json::Error,
        shown: String,
    },
    /// The server answered with its `error` message.
    #[error("echo server error {code}: {message}")]
    Server { code: String, message: String },
    /// A server message, but not the one asked for.
    #[error("the echo server sent {got} instead of {wanted}")]
    Unexpected {
        wanted: &'static str,
        got: &'static str,
    },
    #[error("no echo session to ask")]
    NoSession,
}

impl EchoError {
    /// The error a server message that is not the `wanted` one gives.
    pub fn unexpected(wanted: &'static str, got: &ServerMessage) -> Self {
        match got {
            ServerMessage::Error(e) => EchoError::Server {
                code: e.code.clone(),
                message: e.message.clone(),
            },
            ServerMessage::Report(_) => EchoError::Unexpected {
                wanted,
                got: "a report",
            },
            ServerMessage::Answer(_) => EchoError::Unexpected {
                wanted,
                got: "a probe answer",
            },
            ServerMessage::AggregateStart(_) | ServerMessage::AggregateResult(_) => {
                EchoError::Unexpected {
                    wanted,
                    got: "an aggregate message",
                }
            }
        }
    }
}

/// Longest server line read (a report with many endpoints is a few KiB).
const MAX_SERVER_LINE: u64 = 256 * 1024;

/// An established connection to (what should be) an echo server.
pub struct EchoConn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl EchoConn {
    pub fn new(stream: TcpStream) -> io::Result<Self> {
        let reader = BufReader::new(stream.try_clone()?);
        Ok(EchoConn {
            writer: stream,
            reader,
        })
    }

    /// Sends one message and reads one server message within `timeout`
    /// (each way). A server `Error` comes back as a message: what it means
    /// depends on what was asked. Anything that is not a server message,
    /// or no line in time, is an error saying so.
    pub fn exchange(
        &mut self,
        message: &ClientMessage,
        timeout: Duration,
    ) -> Result<ServerMessage, EchoError> {
        self.send(message, timeout)?;
        self.receive(timeout)
    }

    /// Sends one message within `timeout`.
    pub fn send(&mut self, message: &ClientMessage, timeout: Duration) -> Result<(), EchoError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let mut line = serde_json::to_string(message).map_err(EchoError::Encode)?;
        line.push('\n');
        self.writer
            .set_write_timeout(Some(timeout))
            .and_then(|()| self.writer.write_all(line.as_bytes()))
            .map_err(EchoError::Send)
    }

    /// Reads one server message within `timeout` (the aggregate result
    /// comes after the data phase, unasked).
    pub fn receive(&mut self, timeout: Duration) -> Result<ServerMessage, EchoError> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.writer
            .set_read_timeout(Some(timeout))
            .map_err(EchoError::Timeout)?;
        let mut answer = Vec::new();
        let read = self
            .reader
            .by_ref()
            .take(MAX_SERVER_LINE)
            .read_until(b'\n', &mut answer);
        match read {
            Ok(0) => return Err(EchoError::Closed),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(EchoError::NoAnswer {
                    secs: timeout.as_secs_f64(),
                })
            }
            Err(e) => return Err(EchoError::Read(e)),
        }
        serde_json::from_slice::<ServerMessage>(&answer).map_err(|source| EchoError::NotEcho {
            source,
            shown: String::from_utf8_lossy(&answer).chars().take(60).collect(),
        })
    }

    /// The socket (for socket options) and the buffered reader, for a
    /// phase that is not JSON lines (the aggregate data phase): bytes the
    /// reader already holds must be read through it.
    pub fn raw_parts(&mut self) -> (&TcpStream, &mut BufReader<TcpStream>) {
        (&self.writer, &mut self.reader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::echo::{ErrorMessage, Hello};
    use std::net::TcpListener;

    /// An `EchoConn` to a local listener that answers one line with `reply`.
    fn exchange_with(reply: &'static [u8]) -> Result<ServerMessage, EchoError> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(s.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            s.write_all(reply).unwrap();
        });
        let mut conn = EchoConn::new(TcpStream::connect(addr).unwrap()).unwrap();
        let got = conn.exchange(
            &ClientMessage::Hello(Hello::new("test")),
            Duration::from_secs(2),
        );
        server.join().unwrap();
        got
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
}
