//! The client side of the echo protocol (probe-server, JSON lines): one
//! message out, one line back. Shared by `check` (over its kernel
//! connection) and `trace` (its final hop).
//!
//! Nothing the server sends can stretch an exchange or be taken on trust:
//! each exchange ends within its timeout as a whole (not per read, so a
//! server dripping bytes gains nothing), a line is at most
//! [`MAX_SERVER_LINE`] bytes, only the message the request calls for is
//! accepted, and a report or answer must pass [`engine::validate`].
//!
//! Not an echo server (silence, a banner, an HTTP answer) is one thing:
//! `check` then judges from this host's side alone. A peer whose answer is
//! a JSON object speaks the echo protocol; when it breaks it (a line cut
//! off, endless or malformed, the wrong message, a report that is not
//! evidence), that is a [`ProtocolError`]: the verbs stop with exit 2
//! rather than read it as a verdict about MPTCP.
use engine::validate::{self, Ends, ReportError};
use packet::echo::{ClientMessage, Endpoint, ServerMessage};
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
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
    /// A line longer than any server message that is not JSON either.
    #[error("its answer is not an echo report (a line of more than {limit} bytes): {shown:?}")]
    LongLine { limit: usize, shown: String },
    /// The server answered with its `error` message.
    #[error("echo server error {code}: {message}")]
    Server { code: String, message: String },
    /// An echo server that broke the protocol.
    #[error("the echo server broke the echo protocol: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("no echo session to ask")]
    NoSession,
}

/// How a peer that speaks the echo protocol broke it.
#[derive(Debug, Error)]
pub enum ProtocolError {
    #[error("it sent {got} bytes but no complete line within {secs:.1} s")]
    Incomplete { got: usize, secs: f64 },
    #[error("it sent a line of more than {limit} bytes")]
    TooLong { limit: usize },
    #[error("its answer is not a valid echo message ({source}): {shown:?}")]
    Malformed {
        #[source]
        source: serde_json::Error,
        shown: String,
    },
    /// A server message, but not the one asked for.
    #[error("it sent {got} instead of {wanted}")]
    Unexpected {
        wanted: &'static str,
        got: &'static str,
    },
    #[error("its {what} is not evidence: {error}")]
    Invalid {
        what: &'static str,
        #[source]
        error: ReportError,
    },
}

impl EchoError {
    /// The error a server message that is not the `wanted` one gives.
    pub fn unexpected(wanted: &'static str, got: &ServerMessage) -> Self {
        match got {
            ServerMessage::Error(e) => EchoError::Server {
                code: e.code.clone(),
                message: e.message.clone(),
            },
            other => EchoError::Protocol(ProtocolError::Unexpected {
                wanted,
                got: name(other),
            }),
        }
    }
}

fn name(message: &ServerMessage) -> &'static str {
    match message {
        ServerMessage::Report(_) => "a report",
        ServerMessage::Answer(_) => "a probe answer",
        ServerMessage::Error(_) => "an error",
        ServerMessage::AggregateStart(_) | ServerMessage::AggregateResult(_) => {
            "an aggregate message"
        }
    }
}

/// Longest server line read (a report with many endpoints is a few KiB,
/// an answer for [`packet::echo::MAX_QUERY_SEQS`] probes some tens).
pub const MAX_SERVER_LINE: usize = 256 * 1024;

/// How much of a line an error message shows.
const SHOWN: usize = 60;

/// Whether bytes claim to be the echo protocol: a JSON object.
fn speaks_json(line: &[u8]) -> bool {
    line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn shown(line: &[u8]) -> String {
    String::from_utf8_lossy(line).chars().take(SHOWN).collect()
}

/// An established connection to (what should be) an echo server.
pub struct EchoConn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    ends: Ends,
    /// This host's end as the server's report named it (answers may only
    /// hold SYNs from its address).
    peer: Option<Endpoint>,
}

impl EchoConn {
    pub fn new(stream: TcpStream) -> io::Result<Self> {
        let ends = Ends {
            client: stream.local_addr()?,
            server: stream.peer_addr()?,
        };
        let reader = BufReader::new(stream.try_clone()?);
        Ok(EchoConn {
            writer: stream,
            reader,
            ends,
            peer: None,
        })
    }

    /// Sends one message and reads one server message, both within
    /// `timeout` in total. A server `Error` comes back as a message: what
    /// it means depends on what was asked. Anything else than the message
    /// asked for, or no line in time, is an error saying so.
    pub fn exchange(
        &mut self,
        message: &ClientMessage,
        timeout: Duration,
    ) -> Result<ServerMessage, EchoError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let deadline = Instant::now() + timeout;
        self.send(message, timeout)?;
        let reply = self.read_message(deadline, timeout)?;
        self.accept(message, reply)
    }

    /// Sends one message within `timeout`.
    pub fn send(&mut self, message: &ClientMessage, timeout: Duration) -> Result<(), EchoError> {
        let timeout = timeout.max(Duration::from_millis(1));
        let mut line = serde_json::to_string(message).map_err(EchoError::Encode)?;
        line.push('\n');
        // One write of a few hundred bytes: it fits the socket buffer, so
        // one timeout bounds it.
        self.writer
            .set_write_timeout(Some(timeout))
            .and_then(|()| self.writer.write_all(line.as_bytes()))
            .map_err(EchoError::Send)
    }

    /// Reads one server message within `timeout` (the aggregate result
    /// comes after the data phase, unasked).
    pub fn receive(&mut self, timeout: Duration) -> Result<ServerMessage, EchoError> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.read_message(Instant::now() + timeout, timeout)
    }

    /// One line by `deadline`, parsed: bytes that are not a JSON object
    /// are no echo server, a JSON object that is no server message is a
    /// broken one.
    fn read_message(
        &mut self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<ServerMessage, EchoError> {
        let answer = self.read_line(deadline, timeout)?;
        serde_json::from_slice::<ServerMessage>(&answer).map_err(|source| {
            if speaks_json(&answer) {
                EchoError::Protocol(ProtocolError::Malformed {
                    source,
                    shown: shown(&answer),
                })
            } else {
                EchoError::NotEcho {
                    source,
                    shown: shown(&answer),
                }
            }
        })
    }

    /// The reply if it is what `message` calls for and passes validation.
    fn accept(
        &mut self,
        message: &ClientMessage,
        reply: ServerMessage,
    ) -> Result<ServerMessage, EchoError> {
        let invalid = |what, error| EchoError::Protocol(ProtocolError::Invalid { what, error });
        match (message, &reply) {
            (_, ServerMessage::Error(_)) => {}
            (ClientMessage::Hello(_), ServerMessage::Report(r)) => {
                validate::report(r, &self.ends).map_err(|e| invalid("report", e))?;
                self.peer = Some(r.peer.clone());
            }
            (ClientMessage::Query(q), ServerMessage::Answer(a)) => {
                let peer = self.peer.as_ref().ok_or(ProtocolError::Unexpected {
                    wanted: "a report first",
                    got: "a probe answer",
                })?;
                validate::answer(a, peer, &q.seqs).map_err(|e| invalid("probe answer", e))?;
            }
            (ClientMessage::Hello(_), other) => {
                return Err(EchoError::unexpected("a report", other));
            }
            (ClientMessage::Query(_), other) => {
                return Err(EchoError::unexpected("a probe answer", other));
            }
            // The aggregate exchange checks its numbers itself
            // (engine::aggregate::validate).
            (
                ClientMessage::Aggregate(_),
                ServerMessage::AggregateStart(_) | ServerMessage::AggregateResult(_),
            ) => {}
            (ClientMessage::Aggregate(_), other) => {
                return Err(EchoError::unexpected("an aggregate message", other));
            }
        }
        Ok(reply)
    }

    /// One line (its `\n` included) by `deadline`, however the bytes come.
    fn read_line(&mut self, deadline: Instant, timeout: Duration) -> Result<Vec<u8>, EchoError> {
        let secs = timeout.as_secs_f64();
        let mut line = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Self::late(line, secs));
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(remaining))
                .map_err(EchoError::Timeout)?;
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Self::late(line, secs))
                }
                Err(e) => return Err(EchoError::Read(e)),
            };
            if buf.is_empty() {
                // Closed: a line cut off is judged as what it is.
                return if line.is_empty() {
                    Err(EchoError::Closed)
                } else {
                    Ok(line)
                };
            }
            let (take, complete) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if line.len() + take > MAX_SERVER_LINE + 1 {
                return Err(if speaks_json(&line) || speaks_json(buf) {
                    EchoError::Protocol(ProtocolError::TooLong {
                        limit: MAX_SERVER_LINE,
                    })
                } else {
                    line.extend_from_slice(&buf[..take.min(SHOWN)]);
                    EchoError::LongLine {
                        limit: MAX_SERVER_LINE,
                        shown: shown(&line),
                    }
                });
            }
            line.extend_from_slice(&buf[..take]);
            self.reader.consume(take);
            if complete {
                return Ok(line);
            }
        }
    }

    /// The deadline passed with `line` (maybe empty) read.
    fn late(line: Vec<u8>, secs: f64) -> EchoError {
        if speaks_json(&line) {
            ProtocolError::Incomplete {
                got: line.len(),
                secs,
            }
            .into()
        } else {
            EchoError::NoAnswer { secs }
        }
    }

    /// The socket (for socket options) and the buffered reader, for a
    /// phase that is not JSON lines (the aggregate data phase): bytes the
    /// reader already holds must be read through it.
    pub fn raw_parts(&mut self) -> (&TcpStream, &mut BufReader<TcpStream>) {
        (&self.writer, &mut self.reader)
    }
}

#[cfg(test)]
mod tests;
