//! Text from the network on a terminal: never raw. A server's warnings,
//! error messages and any other string it sends (and what the verbs build
//! from them) may hold ANSI escapes that clear the screen, CR or LF that
//! start a forged line, or bidirectional overrides that reorder what is
//! shown. Text output passes every such string through [`escape`]; JSON
//! output needs nothing (serde_json escapes control characters).
use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters a terminal acts on instead of showing: the C0 and C1
/// control characters and DEL (`char::is_control`: ESC, CR, LF, TAB, BEL,
/// backspace, CSI ...), and the Unicode bidirectional controls.
pub fn acts(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every character a terminal would act on written out as an
/// escape (`\n`, `\r`, `\t`, `\x1b`, `\u{202e}`), so it shows on one line
/// as the characters it holds. Borrowed when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(acts) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if acts(c) && u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if acts(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A whole text report, line by line through [`escape`]: for output that
/// mixes our own lines with text built from what a server sent, where
/// escaping each string at its source would be easy to miss once.
pub fn escape_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        out.push_str(&escape(body));
        out.push_str(newline);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keeps_its_lines_and_loses_its_escapes() {
        let report = "verdict: ok\nnote: \x1b[2Jforged\r\nlast";
        assert_eq!(
            escape_lines(report),
            "verdict: ok\nnote: \\x1b[2Jforged\\r\nlast"
        );
        assert_eq!(escape_lines("a\nb\n"), "a\nb\n");
    }

    #[test]
    fn plain_text_is_untouched() {
        let s = "stripped_upstream - MP_CAPABLE 10.0.0.1:6101 [2001:db8::1] é ✓";
        assert!(matches!(escape(s), Cow::Borrowed(_)));
        assert_eq!(escape(s), s);
    }

    #[test]
    fn what_a_terminal_acts_on_is_written_out() {
        assert_eq!(escape("\x1b[2J"), "\\x1b[2J");
        assert_eq!(escape("a\r\nmptcp_ok"), "a\\r\\nmptcp_ok");
        assert_eq!(escape("\t\x07\x08\x7f"), "\\t\\x07\\x08\\x7f");
        // C1: CSI, which some terminals take for ESC [.
        assert_eq!(escape("\u{9b}2J"), "\\u{9b}2J");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        for c in (0u32..0x20).chain(0x7f..0xa0) {
            let s = char::from_u32(c).unwrap().to_string();
            assert!(
                escape(&s).chars().all(|c| !c.is_control()),
                "{c:#x} escaped"
            );
        }
    }
}
