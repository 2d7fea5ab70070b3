//! The one-line outcome of a handshake, with a stable code for JSON.
use std::fmt;

/// How a reflection shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reflection {
    /// The SYN/ACK's MP_CAPABLE carries the very key the SYN carried (v0).
    KeyRepeated,
    /// A v1 SYN/ACK MP_CAPABLE without a key: the 4-byte SYN form sent back.
    V1WithoutKey,
}

/// The one-line outcome of a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// MP_CAPABLE in SYN, SYN/ACK and third ACK.
    MptcpEstablished { version: u8 },
    /// MP_CAPABLE in SYN and SYN/ACK; the third ACK is not in the capture.
    MptcpNegotiated { version: u8 },
    /// An MP_JOIN subflow; `connection` is the handshake whose token it names.
    JoinSubflow {
        token: Option<u32>,
        connection: Option<usize>,
        answered: bool,
        /// A RST ended the subflow (e.g. the server refused more subflows).
        reset: bool,
    },
    /// The SYN offers no MP_CAPABLE (and is not a retransmission that lost it).
    PlainTcp,
    /// The SYN offers MP_CAPABLE, the SYN/ACK carries none.
    FallbackSynAck,
    /// MP_CAPABLE SYNs went unanswered; a SYN without it was answered.
    FallbackRetransmit,
    /// The SYN/ACK accepted MPTCP but the third ACK carries no MP_CAPABLE.
    FallbackThirdAck,
    /// MPTCP was negotiated, but a side's first data carries no MPTCP
    /// option (no DSS mapping): both ends fall back to TCP (RFC 8684 3.7).
    FallbackData { frame: u64, by_server: bool },
    /// The SYN/ACK answers with another MPTCP version than offered.
    VersionMismatch { offered: u8, answered: u8 },
    /// A middlebox sent the option back without MPTCP behind it.
    Reflected(Reflection),
    /// The server answered the SYN with a RST.
    Refused,
    /// No SYN/ACK in the capture.
    NoAnswer,
    /// A SYN/ACK whose SYN is not in the capture.
    SynNotCaptured,
    /// The snapshot length cut the SYN's (`syn`) or the SYN/ACK's TCP
    /// options before an MP_CAPABLE showed: whether it was there is not in
    /// the capture.
    OptionsNotCaptured { syn: bool },
}

impl Status {
    /// Stable code for the JSON summary.
    pub fn code(&self) -> &'static str {
        match self {
            Status::MptcpEstablished { .. } => "mptcp_established",
            Status::MptcpNegotiated { .. } => "mptcp_negotiated",
            Status::JoinSubflow { .. } => "mp_join_subflow",
            Status::PlainTcp => "plain_tcp",
            Status::FallbackSynAck => "fallback_syn_ack",
            Status::FallbackRetransmit => "fallback_retransmit",
            Status::FallbackThirdAck => "fallback_third_ack",
            Status::FallbackData { .. } => "fallback_data",
            Status::VersionMismatch { .. } => "version_mismatch",
            Status::Reflected(_) => "option_reflected",
            Status::Refused => "refused",
            Status::NoAnswer => "no_answer",
            Status::SynNotCaptured => "syn_not_captured",
            Status::OptionsNotCaptured { .. } => "options_not_captured",
        }
    }

    /// MPTCP is in use on this handshake (as far as the capture shows).
    pub fn is_mptcp(&self) -> bool {
        matches!(
            self,
            Status::MptcpEstablished { .. }
                | Status::MptcpNegotiated { .. }
                | Status::JoinSubflow { answered: true, .. }
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::MptcpEstablished { version } => write!(f, "MPTCP v{version} established"),
            Status::MptcpNegotiated { version } => {
                write!(f, "MPTCP v{version} negotiated (third ACK not captured)")
            }
            Status::JoinSubflow {
                token,
                connection,
                answered,
                reset,
            } => {
                write!(f, "MP_JOIN subflow")?;
                match (connection, token) {
                    (Some(c), _) => write!(f, " of handshake #{c}")?,
                    (None, Some(t)) => {
                        write!(f, " for token 0x{t:08x} (connection not in the capture)")?
                    }
                    (None, None) => {}
                }
                if !answered {
                    write!(f, ", not answered with MP_JOIN")?;
                }
                if *reset {
                    write!(f, ", then reset")?;
                }
                Ok(())
            }
            Status::PlainTcp => write!(f, "plain TCP: the SYN offers no MP_CAPABLE"),
            Status::FallbackSynAck => write!(f, "fell back to TCP: SYN/ACK carries no MP_CAPABLE"),
            Status::FallbackRetransmit => write!(
                f,
                "fell back to TCP: MP_CAPABLE SYNs unanswered, SYN retried without MP_CAPABLE"
            ),
            Status::FallbackThirdAck => {
                write!(f, "fell back to TCP: third ACK carries no MP_CAPABLE")
            }
            Status::FallbackData { frame, by_server } => write!(
                f,
                "fell back to TCP after the handshake: the {}'s first data (frame {frame}) carries no MPTCP option",
                if *by_server { "server" } else { "client" }
            ),
            Status::VersionMismatch { offered, answered } => write!(
                f,
                "version mismatch: SYN offers MPTCP v{offered}, SYN/ACK answers v{answered}"
            ),
            Status::Reflected(Reflection::KeyRepeated) => {
                write!(f, "option reflected: the SYN/ACK repeats the SYN's key")
            }
            Status::Reflected(Reflection::V1WithoutKey) => {
                write!(f, "option reflected: v1 SYN/ACK MP_CAPABLE carries no key")
            }
            Status::Refused => write!(f, "refused: SYN answered with RST"),
            Status::NoAnswer => write!(f, "no SYN/ACK in the capture"),
            Status::SynNotCaptured => write!(f, "SYN not in the capture"),
            Status::OptionsNotCaptured { syn } => write!(
                f,
                "options not captured: the snapshot length cut the {}'s TCP options, so \
                 whether it carried MP_CAPABLE is not in the capture",
                if *syn { "SYN" } else { "SYN/ACK" }
            ),
        }
    }
}
