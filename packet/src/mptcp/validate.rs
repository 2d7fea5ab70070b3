//! Validation of an option against the TCP flags of its segment, following
//! the checks of Linux's `mptcp_parse_option` (which ignores an option whose
//! length does not fit the segment), extended to RFC 6824's v0 forms.
use super::{MpJoin, MptcpError, MptcpOption};
use crate::flags::TcpFlags;

pub(super) fn check(option: &MptcpOption<'_>, flags: TcpFlags) -> Result<(), MptcpError> {
    let len = option.buffer_len();
    let mismatch = |subtype, expected| {
        Err(MptcpError::FlagMismatch {
            subtype,
            len,
            flags,
            expected,
        })
    };
    match option {
        MptcpOption::MpCapable(c) => {
            let (ok, expected) = if flags.is_syn_only() {
                match c.version {
                    0 => (len == 12, "12 on a v0 SYN"),
                    1 => (len == 4, "4 on a v1 SYN"),
                    _ => (matches!(len, 4 | 12), "4 or 12 on a SYN"),
                }
            } else if flags.syn() {
                (len == 12, "12 on a SYN/ACK")
            } else if c.version == 0 {
                (len == 20, "20 on a v0 ACK")
            } else {
                (matches!(len, 20 | 22 | 24), "20, 22 or 24 on an ACK")
            };
            if ok {
                Ok(())
            } else {
                mismatch("MP_CAPABLE", expected)
            }
        }
        MptcpOption::MpJoin(j) => check_join(j, flags, len).or_else(|e| mismatch("MP_JOIN", e)),
        MptcpOption::Dss(_) if flags.syn() => mismatch("DSS", "no DSS on a SYN"),
        MptcpOption::MpTcpRst(_) if !flags.rst() => {
            mismatch("MP_TCPRST", "MP_TCPRST only on a RST")
        }
        _ => Ok(()),
    }
}

fn check_join(_join: &MpJoin, flags: TcpFlags, len: usize) -> Result<(), &'static str> {
    let (ok, expected) = if flags.is_syn_only() {
        (len == 12, "12 on a SYN")
    } else if flags.syn() {
        (len == 16, "16 on a SYN/ACK")
    } else {
        (len == 24, "24 on an ACK")
    };
    if ok {
        Ok(())
    } else {
        Err(expected)
    }
}
