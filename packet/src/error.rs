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
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("TCP option kind {kind} at offset {offset} of the option area: {what}")]
pub struct OptionError {
    /// Kind byte of the offending option.
    pub kind: u8,
    /// Offset of the kind byte from the start of the option area.
    pub offset: usize,
    /// What is wrong with it.
    pub what: OptionErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OptionErrorKind {
    /// The option runs past the end of the area: no length byte after the
    /// kind (`what` is [`OPTION_LENGTH_BYTE`], need 2), or a length longer
    /// than what is left (`what` is [`OPTION_BODY`], need the length).
    #[error("runs past the end of the option area ({} bytes left, need {})", .0.have, .0.need)]
    PastEnd(LenError),
    /// The length byte is below 2, which would make the walk loop or go back.
    #[error("length {len} is below the minimum of 2")]
    LengthTooSmall { len: u8 },
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
            what: OptionErrorKind::PastEnd(LenError {
                what: OPTION_BODY,
                layer: Layer::TcpOption,
                offset: 20,
                have: 4,
                need: 12,
            }),
        };
        assert_eq!(
            e.to_string(),
            "TCP option kind 30 at offset 20 of the option area: runs past the end of the option area (4 bytes left, need 12)"
        );
    }
}
