//! Validation of an option against the TCP flags of its segment, following
//! the checks of Linux's `mptcp_parse_option` (which ignores an option whose
//! length does not fit the segment), extended to RFC 6824's v0 forms.
use super::{
    error_len, Expected, MptcpError, SUBTYPE_DSS, SUBTYPE_MP_CAPABLE, SUBTYPE_MP_JOIN,
    SUBTYPE_MP_TCPRST,
};
use crate::flags::TcpFlags;

/// Checks a structurally sound option (kind, length and subtype bytes
/// included) against the flags of its segment.
#[inline]
pub(super) fn check(option: &[u8], flags: TcpFlags) -> Result<(), MptcpError> {
    let len = option.len();
    let mismatch = |subtype, expected| {
        Err(MptcpError::FlagMismatch {
            subtype,
            len: error_len(len),
            flags,
            expected,
        })
    };
    let Some(&subtype_byte) = option.get(2) else {
        return Ok(());
    };
    match subtype_byte >> 4 {
        SUBTYPE_MP_CAPABLE => {
            let version = subtype_byte & 0x0f;
            let (ok, expected) = if flags.is_syn_only() {
                match version {
                    0 => (len == 12, Expected::CapableV0Syn),
                    1 => (len == 4, Expected::CapableV1Syn),
                    _ => (matches!(len, 4 | 12), Expected::CapableSyn),
                }
            } else if flags.syn() {
                (len == 12, Expected::CapableSynAck)
            } else if version == 0 {
                (len == 20, Expected::CapableV0Ack)
            } else {
                (matches!(len, 20 | 22 | 24), Expected::CapableAck)
            };
            if ok {
                Ok(())
            } else {
                mismatch(SUBTYPE_MP_CAPABLE, expected)
            }
        }
        SUBTYPE_MP_JOIN => check_join(flags, len).or_else(|e| mismatch(SUBTYPE_MP_JOIN, e)),
        SUBTYPE_DSS if flags.syn() => mismatch(SUBTYPE_DSS, Expected::NoDssOnSyn),
        SUBTYPE_MP_TCPRST if !flags.rst() => mismatch(SUBTYPE_MP_TCPRST, Expected::TcpRstOnRst),
        _ => Ok(()),
    }
}

fn check_join(flags: TcpFlags, len: usize) -> Result<(), Expected> {
    let (ok, expected) = if flags.is_syn_only() {
        (len == 12, Expected::JoinSyn)
    } else if flags.syn() {
        (len == 16, Expected::JoinSynAck)
    } else {
        (len == 24, Expected::JoinAck)
    };
    if ok {
        Ok(())
    } else {
        Err(expected)
    }
}
