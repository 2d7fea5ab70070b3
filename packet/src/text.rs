//! tcpdump's option text appended to a byte buffer without the formatting
//! machinery, for `analyze`, which prints one line per packet: the common
//! options (NOP, MSS, window scale, SACK permitted, timestamps, DSS) are
//! written here digit by digit, every other one through its
//! [`std::fmt::Display`], whose text this matches byte for byte (the tests
//! compare the two on every capture at hand and on arbitrary bytes).
use crate::mptcp::MptcpOption;
use crate::tcp_opt::{OptionList, TcpOption};
use std::io::Write as _;

/// Appends `v` in decimal: formatted on the stack by `itoa`, then one copy.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends `v` in decimal, right-aligned in `width` columns (as `{v:width}`).
pub fn push_u64_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(v).as_bytes();
    out.resize(out.len() + width.saturating_sub(digits.len()), b' ');
    out.extend_from_slice(digits);
}

impl TcpOption<'_> {
    /// Appends the option's tcpdump text (its `Display`).
    pub fn write_tcpdump(&self, out: &mut Vec<u8>) {
        match self {
            TcpOption::Nop => out.extend_from_slice(b"nop"),
            TcpOption::Eol => out.extend_from_slice(b"eol"),
            TcpOption::SackPermitted => out.extend_from_slice(b"sackOK"),
            TcpOption::Mss(v) => {
                out.extend_from_slice(b"mss ");
                push_u64(out, u64::from(*v));
            }
            TcpOption::WindowScale(v) => {
                out.extend_from_slice(b"wscale ");
                push_u64(out, u64::from(*v));
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                out.extend_from_slice(b"TS val ");
                push_u64(out, u64::from(*tsval));
                out.extend_from_slice(b" ecr ");
                push_u64(out, u64::from(*tsecr));
            }
            TcpOption::Mptcp(MptcpOption::Dss(d)) => {
                out.extend_from_slice(b"mptcp ");
                push_u64(out, d.buffer_len() as u64);
                out.extend_from_slice(b" dss");
                if d.data_fin() {
                    out.extend_from_slice(b" fin");
                }
                if let Some(ack) = d.data_ack() {
                    out.extend_from_slice(b" ack ");
                    push_u64(out, ack);
                }
                if let Some(m) = d.mapping() {
                    out.extend_from_slice(b" seq ");
                    push_u64(out, m.dsn);
                    out.extend_from_slice(b" subseq ");
                    push_u64(out, u64::from(m.ssn));
                    out.extend_from_slice(b" len ");
                    push_u64(out, u64::from(m.dll));
                    if let Some(c) = m.checksum {
                        // Rare: the formatter's `{:#x}`.
                        let _ = write!(out, " csum {c:#x}");
                    }
                }
            }
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }
}

impl OptionList<'_> {
    /// Appends the whole `options [...]` content (the list's `Display`).
    pub fn write_tcpdump(&self, out: &mut Vec<u8>) {
        let mut first = true;
        for option in &self.options {
            if matches!(option, TcpOption::Padding(_)) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            option.write_tcpdump(out);
            if option.ends_tcpdump_list() {
                return;
            }
        }
        if self.error.is_some() {
            if !first {
                out.push(b',');
            }
            out.extend_from_slice(b"[bad opt]");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_the_formatter_writes_them() {
        for v in [0u64, 7, 10, 99, 65535, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            push_u64(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
            for width in [0, 1, 5, 25] {
                let mut out = b"x".to_vec();
                push_u64_padded(&mut out, v, width);
                assert_eq!(out, format!("x{v:width$}").into_bytes());
            }
        }
    }
}
