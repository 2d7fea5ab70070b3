//! TCP flags and the letters tcpdump prints for them.
use std::fmt;

/// The TCP flags byte (plus the NS bit is ignored: no one prints it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    pub fn syn(self) -> bool {
        self.has(Self::SYN)
    }
    pub fn ack(self) -> bool {
        self.has(Self::ACK)
    }
    pub fn rst(self) -> bool {
        self.has(Self::RST)
    }
    /// A SYN without ACK: the first segment of a handshake.
    pub fn is_syn_only(self) -> bool {
        self.syn() && !self.ack()
    }
    pub fn is_syn_ack(self) -> bool {
        self.syn() && self.ack()
    }
}

/// tcpdump's rendering: `S`, `S.`, `.`, `P.`, `F.`, `R`, `R.`, `SEW` ...
/// Letters in tcpdump's order (F S R P U W E), then `.` for ACK; `none` when
/// no flag is set.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LETTERS: [(u8, char); 7] = [
            (TcpFlags::FIN, 'F'),
            (TcpFlags::SYN, 'S'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::CWR, 'W'),
            (TcpFlags::ECE, 'E'),
        ];
        let mut any = false;
        for (bit, letter) in LETTERS {
            if self.has(bit) {
                write!(f, "{letter}")?;
                any = true;
            }
        }
        if self.ack() {
            write!(f, ".")?;
            any = true;
        }
        if !any {
            write!(f, "none")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_match_tcpdump() {
        assert_eq!(TcpFlags(0x02).to_string(), "S");
        assert_eq!(TcpFlags(0x12).to_string(), "S.");
        assert_eq!(TcpFlags(0x10).to_string(), ".");
        assert_eq!(TcpFlags(0x18).to_string(), "P.");
        assert_eq!(TcpFlags(0x11).to_string(), "F.");
        assert_eq!(TcpFlags(0x04).to_string(), "R");
        assert_eq!(TcpFlags(0x14).to_string(), "R.");
        assert_eq!(TcpFlags(0xc2).to_string(), "SWE");
        assert_eq!(TcpFlags(0x00).to_string(), "none");
    }
}
