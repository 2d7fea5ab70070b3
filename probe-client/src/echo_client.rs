//! The client side of the echo protocol (probe-server, JSON lines): one
//! message out, one line back, each bounded in time and size. Shared by
//! `check` (over its kernel connection) and `trace` (its final hop).
use packet::echo::{ClientMessage, ServerMessage};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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
    ) -> Result<ServerMessage, String> {
        let timeout = timeout.max(Duration::from_millis(1));
        let mut line = serde_json::to_string(message).map_err(|e| e.to_string())?;
        line.push('\n');
        self.writer
            .set_write_timeout(Some(timeout))
            .and_then(|()| self.writer.write_all(line.as_bytes()))
            .map_err(|e| format!("sending to the echo server failed: {e}"))?;
        self.writer
            .set_read_timeout(Some(timeout))
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let read = self
            .reader
            .by_ref()
            .take(MAX_SERVER_LINE)
            .read_until(b'\n', &mut answer);
        match read {
            Ok(0) => return Err("it closed the connection without answering".into()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "no answer within {:.1} s (not an echo server?)",
                    timeout.as_secs_f64()
                ))
            }
            Err(e) => return Err(format!("reading its answer failed: {e}")),
        }
        serde_json::from_slice::<ServerMessage>(&answer).map_err(|e| {
            let shown: String = String::from_utf8_lossy(&answer).chars().take(60).collect();
            format!("its answer is not an echo report ({e}): {shown:?}")
        })
    }
}
