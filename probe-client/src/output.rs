//! What every verb prints with `--json`: one serde struct per line, written
//! by serde_json (with no character a terminal acts on left raw), and one
//! shape for errors,
//! `{"type":"error","error":"...","fix":"..."|null}` (exit code 2).
use serde::Serialize;
use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

/// An error a verb ends with: its message, and the fix where there is one.
pub trait VerbError: Display {
    /// What the user can do about it; `None` when nothing general helps.
    fn fix(&self) -> Option<String>;
}

/// The error object of every verb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorLine {
    /// Always `error`: tells this line from a verb's other lines.
    #[serde(rename = "type")]
    pub line_type: ErrorTag,
    pub error: String,
    pub fix: Option<String>,
}

/// The `type` of an [`ErrorLine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorTag {
    Error,
}

impl ErrorLine {
    pub fn new(error: &dyn VerbError) -> Self {
        ErrorLine {
            line_type: ErrorTag::Error,
            error: error.to_string(),
            fix: error.fix(),
        }
    }
}

/// serde_json's compact form, where the characters a terminal acts on
/// that serde_json leaves raw (DEL, the C1 controls, the bidirectional
/// controls; it escapes C0 itself) are written `\uXXXX` too: `--json`
/// lines reach terminals as well, and may quote a server.
struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if crate::terminal::acts(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // Every such character is in the BMP: one \u escape.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Writes `value` as one JSON line.
pub fn write_line<W: Write, T: Serialize + ?Sized>(out: &mut W, value: &T) -> io::Result<()> {
    let mut json = serde_json::Serializer::with_formatter(&mut *out, TerminalSafe);
    value.serialize(&mut json).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Writes one JSON line to standard output; a closed stdout (`| head`) is
/// not an error worth reporting, so it is ignored here.
pub fn print_line<T: Serialize + ?Sized>(value: &T) {
    let mut out = io::stdout().lock();
    let _ = write_line(&mut out, value).and_then(|()| out.flush());
}

/// Reports a verb's error: the error line on stdout with `--json`, the
/// message (and fix) on stderr always. Returns exit code 2.
pub fn fail(verb: &str, json: bool, error: &dyn VerbError) -> ExitCode {
    if json {
        print_line(&ErrorLine::new(error));
    }
    // The message may quote what a server sent.
    eprintln!(
        "mptcp-probe {verb}: {}",
        crate::terminal::escape(&error.to_string())
    );
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;
    impl Display for Broken {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("it broke")
        }
    }
    impl VerbError for Broken {
        fn fix(&self) -> Option<String> {
            Some("mend it".into())
        }
    }

    #[test]
    fn error_line_has_the_common_shape() {
        let mut out = Vec::new();
        write_line(&mut out, &ErrorLine::new(&Broken)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"type\":\"error\",\"error\":\"it broke\",\"fix\":\"mend it\"}\n"
        );
    }

    #[test]
    fn json_lines_hold_no_character_a_terminal_acts_on() {
        let text = "\x1b[2J\r\n\u{9b}2J\u{7f}\u{202e}ok é";
        let mut out = Vec::new();
        write_line(&mut out, &[text]).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line, "[\"\\u001b[2J\\r\\n\\u009b2J\\u007f\\u202eok é\"]\n");
        let back: Vec<String> = serde_json::from_str(&line).unwrap();
        assert_eq!(back, [text], "the same text, escaped");
    }

    #[test]
    fn no_fix_is_null() {
        struct Plain;
        impl Display for Plain {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("x")
            }
        }
        impl VerbError for Plain {
            fn fix(&self) -> Option<String> {
                None
            }
        }
        let v = serde_json::to_value(ErrorLine::new(&Plain)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "error", "error": "x", "fix": null})
        );
    }
}
