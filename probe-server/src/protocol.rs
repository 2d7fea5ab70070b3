//! The echo protocol's state machine, without I/O: line framing with a
//! length limit, HTTP detection from the first bytes, and what to do with
//! each line.
use packet::echo::aggregate::MAX_AGGREGATE_JOINS;
use packet::echo::{
    AggregateRequest, ClientMessage, ErrorMessage, OptionForm, ECHO_VERSION, MAX_QUERY_SEQS,
};

/// What the first bytes of a connection say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// An HTTP request (`GET ` or `HEAD `).
    Http,
    /// Anything else: JSON lines.
    Lines,
    /// Too few bytes to tell.
    NeedMore,
}

/// Classifies a connection by its first bytes.
pub fn classify(prefix: &[u8]) -> Opening {
    for method in [&b"GET "[..], &b"HEAD "[..]] {
        let n = prefix.len().min(method.len());
        if prefix[..n] == method[..n] {
            return if n == method.len() {
                Opening::Http
            } else {
                Opening::NeedMore
            };
        }
    }
    if prefix.is_empty() {
        Opening::NeedMore
    } else {
        Opening::Lines
    }
}

/// Accumulates bytes into lines of at most `max` bytes (newline excluded).
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    max: usize,
}

/// A line was longer than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

impl LineBuffer {
    pub fn new(max: usize) -> Self {
        LineBuffer {
            buf: Vec::new(),
            max,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line (without `\n` or `\r\n`), if any.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, LineTooLong> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(i) if i > self.max => Err(LineTooLong),
            Some(i) => {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some(line))
            }
            None if self.buf.len() > self.max => Err(LineTooLong),
            None => Ok(None),
        }
    }

    /// Bytes buffered (for tests and the HTTP path).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Takes every buffered byte out (the aggregate data phase reads past
    /// the line framing, then gives back what follows it with [`Self::push`]).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// What the server does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the connection report.
    Report,
    /// Answer a probe query for these sequence numbers.
    Answer(Vec<u32>),
    /// Run the aggregate exchange ([`crate::aggregate`]).
    Aggregate(AggregateRequest),
    /// Nothing (an empty line).
    Ignore,
    /// Send this error and close.
    Fail(ErrorMessage),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitHello,
    Ready,
}

/// The per-connection protocol state.
#[derive(Debug)]
pub struct Session {
    state: State,
    pub queries: usize,
    max_queries: usize,
    /// How the hello asked for options to be listed (reports and answers).
    pub option_form: OptionForm,
    /// Aggregate exchanges so far (one per connection).
    pub aggregates: usize,
}

impl Session {
    pub fn new(max_queries: usize) -> Self {
        Session {
            state: State::AwaitHello,
            queries: 0,
            max_queries,
            option_form: OptionForm::default(),
            aggregates: 0,
        }
    }

    /// Handles one line.
    pub fn on_line(&mut self, line: &[u8]) -> Action {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Action::Ignore;
        }
        let msg: ClientMessage = match serde_json::from_slice(line) {
            Ok(m) => m,
            Err(e) => {
                return Action::Fail(ErrorMessage::new(
                    "invalid_json",
                    format!("not a protocol message: {e}"),
                ))
            }
        };
        let version = match &msg {
            ClientMessage::Hello(h) => h.version,
            ClientMessage::Query(q) => q.version,
            ClientMessage::Aggregate(a) => a.version,
        };
        if version != ECHO_VERSION {
            return Action::Fail(ErrorMessage::new(
                "unsupported_version",
                format!("this server speaks version {ECHO_VERSION}, not {version}"),
            ));
        }
        match (self.state, msg) {
            (State::AwaitHello, ClientMessage::Hello(h)) => {
                self.state = State::Ready;
                self.option_form = h.option_form;
                Action::Report
            }
            (State::Ready, ClientMessage::Query(q)) => {
                if q.seqs.len() > MAX_QUERY_SEQS {
                    return Action::Fail(ErrorMessage::new(
                        "too_many_seqs",
                        format!("at most {MAX_QUERY_SEQS} sequence numbers per query"),
                    ));
                }
                self.queries += 1;
                if self.queries > self.max_queries {
                    return Action::Fail(ErrorMessage::new(
                        "too_many_queries",
                        format!("at most {} queries per connection", self.max_queries),
                    ));
                }
                Action::Answer(q.seqs)
            }
            (State::Ready, ClientMessage::Aggregate(a)) => {
                if a.joins.len() > MAX_AGGREGATE_JOINS {
                    return Action::Fail(ErrorMessage::new(
                        "too_many_joins",
                        format!("at most {MAX_AGGREGATE_JOINS} joins per aggregate request"),
                    ));
                }
                self.aggregates += 1;
                if self.aggregates > 1 {
                    return Action::Fail(ErrorMessage::new(
                        "too_many_aggregates",
                        "one aggregate exchange per connection",
                    ));
                }
                Action::Aggregate(a)
            }
            (State::AwaitHello, _) => Action::Fail(ErrorMessage::new(
                "unexpected_message",
                "the first message must be a hello",
            )),
            (State::Ready, _) => Action::Fail(ErrorMessage::new(
                "unexpected_message",
                "only queries and one aggregate request may follow the hello",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_openings() {
        assert_eq!(classify(b"GET / HTTP/1.1"), Opening::Http);
        assert_eq!(classify(b"HEAD / HTTP/1.0"), Opening::Http);
        assert_eq!(classify(b"GE"), Opening::NeedMore);
        assert_eq!(classify(b""), Opening::NeedMore);
        assert_eq!(classify(b"{\"type\""), Opening::Lines);
        assert_eq!(classify(b"GEX"), Opening::Lines);
        assert_eq!(classify(b"\x00\xff"), Opening::Lines);
    }

    #[test]
    fn lines_and_limits() {
        let mut b = LineBuffer::new(8);
        b.push(b"abc\r\ndef");
        assert_eq!(b.next_line(), Ok(Some(b"abc".to_vec())));
        assert_eq!(b.next_line(), Ok(None));
        b.push(b"\n");
        assert_eq!(b.next_line(), Ok(Some(b"def".to_vec())));
        b.push(b"123456789");
        assert_eq!(b.next_line(), Err(LineTooLong));
        let mut c = LineBuffer::new(8);
        c.push(b"123456789\n");
        assert_eq!(c.next_line(), Err(LineTooLong));
        let mut d = LineBuffer::new(8);
        d.push(b"12345678\n");
        assert_eq!(d.next_line(), Ok(Some(b"12345678".to_vec())));
    }

    fn code(a: Action) -> String {
        match a {
            Action::Fail(e) => e.code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn hello_then_queries() {
        let mut s = Session::new(2);
        assert_eq!(
            s.on_line(br#"{"type":"hello","version":1,"client":"t"}"#),
            Action::Report
        );
        assert_eq!(
            s.on_line(br#"{"type":"query","version":1,"seqs":[5,6]}"#),
            Action::Answer(vec![5, 6])
        );
        assert_eq!(s.on_line(b"  "), Action::Ignore);
        assert_eq!(
            s.on_line(br#"{"type":"query","version":1,"seqs":[]}"#),
            Action::Answer(vec![])
        );
        assert_eq!(
            code(s.on_line(br#"{"type":"query","version":1,"seqs":[]}"#)),
            "too_many_queries"
        );
    }

    #[test]
    fn one_aggregate_per_connection_after_the_hello() {
        let req = br#"{"type":"aggregate","version":1,"duration_ms":500,"max_bytes":1000}"#;
        assert_eq!(code(Session::new(4).on_line(req)), "unexpected_message");
        let mut s = Session::new(4);
        s.on_line(br#"{"type":"hello","version":1}"#);
        assert!(
            matches!(s.on_line(req), Action::Aggregate(a) if a.duration_ms == 500 && a.max_bytes == 1000)
        );
        assert_eq!(code(s.on_line(req)), "too_many_aggregates");
        let mut s = Session::new(4);
        s.on_line(br#"{"type":"hello","version":1}"#);
        let joins: Vec<String> = (0..=MAX_AGGREGATE_JOINS)
            .map(|i| format!(r#"{{"source":"10.0.0.1","seq":{i}}}"#))
            .collect();
        let line = format!(
            r#"{{"type":"aggregate","version":1,"duration_ms":1,"max_bytes":1,"joins":[{}]}}"#,
            joins.join(",")
        );
        assert_eq!(code(s.on_line(line.as_bytes())), "too_many_joins");
    }

    #[test]
    fn the_hello_picks_the_option_form() {
        let mut old = Session::new(1);
        old.on_line(br#"{"type":"hello","version":1}"#);
        assert_eq!(old.option_form, OptionForm::Summary);
        let mut new = Session::new(1);
        new.on_line(br#"{"type":"hello","version":1,"option_form":"json"}"#);
        assert_eq!(new.option_form, OptionForm::Json);
    }

    #[test]
    fn errors() {
        assert_eq!(code(Session::new(4).on_line(b"garbage")), "invalid_json");
        assert_eq!(code(Session::new(4).on_line(b"{\"type\":")), "invalid_json");
        assert_eq!(
            code(Session::new(4).on_line(br#"{"type":"query","version":1,"seqs":[]}"#)),
            "unexpected_message"
        );
        assert_eq!(
            code(Session::new(4).on_line(br#"{"type":"hello","version":2}"#)),
            "unsupported_version"
        );
        let mut s = Session::new(4);
        s.on_line(br#"{"type":"hello","version":1}"#);
        assert_eq!(
            code(s.on_line(br#"{"type":"hello","version":1}"#)),
            "unexpected_message"
        );
        let many: Vec<u32> = (0..=MAX_QUERY_SEQS as u32).collect();
        let line = format!(r#"{{"type":"query","version":1,"seqs":{many:?}}}"#);
        assert_eq!(code(s.on_line(line.as_bytes())), "too_many_seqs");
    }
}
