//! Structured errors of the wire layer: what was wrong, where, how long.
//!
//! [`LenError`] is the one "too short" error of every parser (IP, ICMP,
//! TCP options, and the host crate's netlink messages), in the style of
//! etherparse's: what was being read, in which layer, at which offset, how
//! many bytes were there and how many it needs.
use std::fmt;
use thiserror::Error;

/// The protocol layer a [`LenError`] happened in, for callers that react
/// by layer (a cut IP header is a different problem from a cut option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Ipv4,
    /// The IPv6 header and its extension headers.
    Ipv6,
    /// The fixed TCP header.
    Tcp,
    /// The TCP option area.
    TcpOption,
    /// ICMP or ICMPv6, with its RFC 4884 extensions.
    Icmp,
    /// Netlink messages and attributes.
    Netlink,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Tcp => "TCP",
            Layer::TcpOption => "TCP option",
            Layer::Icmp => "ICMP",
            Layer::Netlink => "netlink",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fewer bytes than a header or field needs: `have` bytes from `offset`
/// on, where `what` needs `need`. Offsets count from the start of the
/// buffer the parser was given (the IP packet, the ICMP message, the
/// option area, the netlink datagram or attribute area).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{what}: {have} bytes at offset {offset}, need {need}")]
pub struct LenError {
    /// What was being read, e.g. `IPv4 header`.
    pub what: &'static str,
    pub layer: Layer,
    pub offset: usize,
    /// Bytes present from `offset` to the end of the buffer.
    pub have: usize,
    /// Bytes `what` takes.
    pub need: usize,
}

impl LenError {
    /// Checks that `bytes` holds `need` bytes from `offset` on.
    pub fn check(
        bytes: &[u8],
        what: &'static str,
        layer: Layer,
        offset: usize,
        need: usize,
    ) -> Result<(), LenError> {
        let have = bytes.len().saturating_sub(offset);
        if have < need {
            return Err(LenError {
                what,
                layer,
                offset,
                have,
                need,
            });
        }
        Ok(())
    }
}

/// A TCP option whose length cannot be trusted. Everything before `offset`
/// decoded fine and is still returned by [`crate::OptionList::parse`].
///
/// Compact (12 bytes): the option walk yields `Result<TcpOption, Self>`,
/// which then stays at the 32 bytes of a decoded option.
/// [`OptionError::len_error`] gives it as the shared [`LenError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("TCP option kind {kind} at offset {offset} of the option area: {what}")]
pub struct OptionError {
    /// Kind byte of the offending option.
    pub kind: u8,
    /// Offset of the kind byte from the start of the option area.
    pub offset: u32,
    /// What is wrong with it.
    pub what: OptionErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OptionErrorKind {
    /// The option runs past the end of the area: no length byte after the
    /// kind (`need` 2), or a length longer than what is left (`need` the
    /// length); `have` bytes were left from the kind byte on.
    #[error("runs past the end of the option area ({have} bytes left, need {need})")]
    PastEnd { have: u32, need: u32 },
    /// The length byte is below 2, which would make the walk loop or go back.
    #[error("length {len} is below the minimum of 2")]
    LengthTooSmall { len: u8 },
}

impl OptionError {
    /// The option ran past the end of the area: as the "too short" error
    /// every parser shares ([`LenError::what`] is [`OPTION_LENGTH_BYTE`]
    /// when the length byte is missing, [`OPTION_BODY`] when the length
    /// runs past the end).
    pub fn len_error(&self) -> Option<LenError> {
        let OptionErrorKind::PastEnd { have, need } = self.what else {
            return None;
        };
        // With the length byte present at least 2 bytes were left, and a
        // length of 2 cannot run past them: `need` 2 means no length byte.
        let what = if need == 2 {
            OPTION_LENGTH_BYTE
        } else {
            OPTION_BODY
        };
        Some(LenError {
            what,
            layer: Layer::TcpOption,
            offset: self.offset as usize,
            have: have as usize,
            need: need as usize,
        })
    }
}

/// [`LenError::what`] of an option cut right after its kind byte.
pub const OPTION_LENGTH_BYTE: &str = "TCP option kind and length";
/// [`LenError::what`] of an option whose length runs past the area.
pub const OPTION_BODY: &str = "TCP option";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn len_error_reads_as_what_have_where_need() {
        let e = LenError {
            what: "IPv4 header",
            layer: Layer::Ipv4,
            offset: 14,
            have: 12,
            need: 20,
        };
        assert_eq!(e.to_string(), "IPv4 header: 12 bytes at offset 14, need 20");
        assert_eq!(e.layer.to_string(), "IPv4");
    }

    #[test]
    fn check_counts_from_the_offset() {
        let b = [0u8; 10];
        assert_eq!(LenError::check(&b, "x", Layer::Tcp, 2, 8), Ok(()));
        assert_eq!(
            LenError::check(&b, "x", Layer::Tcp, 4, 8),
            Err(LenError {
                what: "x",
                layer: Layer::Tcp,
                offset: 4,
                have: 6,
                need: 8
            })
        );
        // An offset past the end has nothing, not an underflow.
        assert_eq!(
            LenError::check(&b, "x", Layer::Tcp, 12, 1)
                .unwrap_err()
                .have,
            0
        );
    }

    #[test]
    fn option_past_end_names_what_is_left() {
        let e = OptionError {
            kind: 30,
            offset: 20,
            what: OptionErrorKind::PastEnd { have: 4, need: 12 },
        };
        assert_eq!(
            e.to_string(),
            "TCP option kind 30 at offset 20 of the option area: runs past the end of the option area (4 bytes left, need 12)"
        );
        assert_eq!(
            e.len_error(),
            Some(LenError {
                what: OPTION_BODY,
                layer: Layer::TcpOption,
                offset: 20,
                have: 4,
                need: 12,
            })
        );
        let no_length = OptionError {
            kind: 2,
            offset: 39,
            what: OptionErrorKind::PastEnd { have: 1, need: 2 },
        };
        assert_eq!(no_length.len_error().unwrap().what, OPTION_LENGTH_BYTE);
        let small = OptionError {
            what: OptionErrorKind::LengthTooSmall { len: 1 },
            ..no_length
        };
        assert_eq!(small.len_error(), None);
    }
}
