//! Finding MP_CAPABLE in an option area and comparing what was sent with
//! what arrived. Decoding goes through [`OptionList::parse`], so a malformed
//! area never panics: the framing error just ends the search.
use super::input::QuoteKind;
use crate::mptcp::{MptcpOption, SUBTYPE_MP_CAPABLE};
use crate::tcp_opt::{OptionList, KIND_NOP};

/// The MP_CAPABLE option found in one option area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapableSeen {
    /// The whole option, kind and length bytes included.
    pub raw: Vec<u8>,
    /// Offset of the option in its area.
    pub offset: usize,
    /// Version nibble.
    pub version: u8,
    /// Flags byte (absent only when the option is shorter than 4 bytes).
    pub flags: Option<u8>,
    /// Key in bytes 4..12, when the option is long enough to hold one.
    pub sender_key: Option<u64>,
    /// Whether the codec accepted the option (lengths fit the version).
    pub well_formed: bool,
}

impl CapableSeen {
    pub fn len(&self) -> usize {
        self.raw.len()
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// A SYN/ACK's MP_CAPABLE that a real MPTCP listener would send: 12
    /// bytes, well formed, with its own key.
    pub fn is_valid_syn_ack(&self) -> bool {
        self.well_formed && self.len() == 12 && self.sender_key.is_some()
    }

    /// Short text for evidence lines: `MP_CAPABLE v1 len 12 flags 0x01 key 0x...`.
    pub fn describe(&self) -> String {
        let mut text = format!("MP_CAPABLE v{} len {}", self.version, self.len());
        if let Some(flags) = self.flags {
            text.push_str(&format!(" flags 0x{flags:02x}"));
        }
        if let Some(key) = self.sender_key {
            text.push_str(&format!(" key 0x{key:016x}"));
        }
        if !self.well_formed {
            text.push_str(" (malformed)");
        }
        text
    }
}

/// The first MP_CAPABLE of an option area, if any. Flags are not given to
/// the parser: a reflected 4-byte v1 option on a SYN/ACK must still be seen
/// as MP_CAPABLE (with its fields) so it can be named a reflection.
pub fn find_capable(area: &[u8]) -> Option<CapableSeen> {
    let list = OptionList::parse(area, None);
    let mut offset = 0;
    for option in &list.options {
        let len = option.buffer_len();
        if let crate::TcpOption::Mptcp(m) = option {
            if m.subtype() == Some(SUBTYPE_MP_CAPABLE) {
                let raw = area[offset..offset + len].to_vec();
                let key = raw
                    .get(4..12)
                    .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])));
                return Some(CapableSeen {
                    offset,
                    version: raw.get(2).map_or(0, |b| b & 0x0f),
                    flags: raw.get(3).copied(),
                    sender_key: key,
                    well_formed: matches!(m, MptcpOption::MpCapable(_)),
                    raw,
                });
            }
        }
        offset += len;
    }
    None
}

/// What became of the MP_CAPABLE of a SYN between sender and receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SynFate {
    /// Byte-identical (or, with the sent bytes unknown, present in the
    /// expected version and well formed).
    Intact(CapableSeen),
    /// Gone. `nop_filled`: NOPs stand where it was (TCPOPTSTRIP's way).
    Removed { nop_filled: bool },
    /// Still there but different: which fields changed.
    Modified {
        sent: Option<CapableSeen>,
        arrived: CapableSeen,
        changes: Vec<&'static str>,
    },
    /// We sent no MP_CAPABLE (plain probe, or a kernel that did not add it).
    NotSent,
}

/// Compares a sent SYN option area with the one that arrived. When the sent
/// bytes are unknown (the kernel's own SYN, no local capture), `expected`
/// gives the version the kernel should have used.
pub fn syn_fate(sent: Option<&[u8]>, expected_version: Option<u8>, arrived: &[u8]) -> SynFate {
    let sent_capable = sent.and_then(find_capable);
    if sent.is_some() && sent_capable.is_none() {
        return SynFate::NotSent;
    }
    let Some(got) = find_capable(arrived) else {
        let nop_filled = match &sent_capable {
            Some(s) => arrived
                .get(s.offset..s.offset + s.len())
                .is_some_and(|b| b.iter().all(|&x| x == KIND_NOP)),
            // Without the sent bytes: a run of 4+ NOPs where no sender
            // normally puts one (Linux pads with at most 2 or 3).
            None => arrived.windows(4).any(|w| w.iter().all(|&x| x == KIND_NOP)),
        };
        return SynFate::Removed { nop_filled };
    };
    let mut changes = Vec::new();
    match &sent_capable {
        Some(s) => {
            if s.version != got.version {
                changes.push("version");
            }
            if s.len() != got.len() {
                changes.push("length");
            }
            if s.flags != got.flags {
                changes.push("flags");
            }
            if s.sender_key != got.sender_key {
                changes.push("key");
            }
            if changes.is_empty() && s.raw != got.raw {
                changes.push("bytes");
            }
        }
        None => {
            if expected_version.is_some_and(|v| v != got.version) {
                changes.push("version");
            }
            let syn_len = if got.version == 0 { 12 } else { 4 };
            if got.len() != syn_len || !got.well_formed {
                changes.push("length");
            }
        }
    }
    if changes.is_empty() {
        SynFate::Intact(got)
    } else {
        SynFate::Modified {
            sent: sent_capable,
            arrived: got,
            changes,
        }
    }
}

impl super::input::HopOption {
    /// What a trace hop's ICMP quote shows of the MP_CAPABLE we sent:
    /// `quoted_options` is the option area of the quoted TCP header, which
    /// only a [`QuoteKind::Full`] quote holds.
    pub fn from_quote(sent_options: &[u8], quote: QuoteKind, quoted_options: &[u8]) -> Self {
        use super::input::HopOption;
        if quote != QuoteKind::Full {
            return HopOption::Unknown;
        }
        match syn_fate(Some(sent_options), None, quoted_options) {
            SynFate::Intact(_) => HopOption::Present,
            SynFate::Removed { .. } => HopOption::Absent,
            SynFate::Modified { .. } => HopOption::Changed,
            SynFate::NotSent => HopOption::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn finds_v1_syn_ack_key() {
        // tcpdump mptcp-v1.pcap frame 2 (SYN/ACK).
        let c = find_capable(&h(
            "020405b40402080ac337c5931baf9ea1010303081e0c010129a6c86981ad933c",
        ))
        .unwrap();
        assert_eq!(c.version, 1);
        assert_eq!(c.offset, 20);
        assert_eq!(c.sender_key, Some(0x29a6c86981ad933c));
        assert!(c.is_valid_syn_ack());
    }

    #[test]
    fn nop_filled_strip_is_named() {
        // pcap-fixtures stripped-upstream: client #1 sent, server #1 arrived.
        let sent = h("020405b40402080abba48eab000000000103030a1e040101");
        let arrived = h("020405b40402080abba48eab000000000103030a01010101");
        assert_eq!(
            syn_fate(Some(&sent), None, &arrived),
            SynFate::Removed { nop_filled: true }
        );
        assert_eq!(
            syn_fate(None, Some(1), &arrived),
            SynFate::Removed { nop_filled: true }
        );
        assert!(matches!(
            syn_fate(Some(&sent), None, &sent),
            SynFate::Intact(_)
        ));
    }

    #[test]
    fn rewritten_version_is_modified() {
        let sent = h("1e040101");
        let arrived = h("1e040081");
        match syn_fate(Some(&sent), None, &arrived) {
            SynFate::Modified { changes, .. } => assert_eq!(changes, vec!["version", "flags"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hop_state_from_a_quote() {
        use crate::verdict::input::HopOption;
        let sent = h("020405b40402080abba48eab000000000103030a1e040101");
        let stripped = h("020405b40402080abba48eab000000000103030a01010101");
        let full = QuoteKind::Full;
        assert_eq!(
            HopOption::from_quote(&sent, full, &sent),
            HopOption::Present
        );
        assert_eq!(
            HopOption::from_quote(&sent, full, &stripped),
            HopOption::Absent
        );
        assert_eq!(
            HopOption::from_quote(&sent, full, &h("1e040100")),
            HopOption::Changed
        );
        assert_eq!(
            HopOption::from_quote(&sent, QuoteKind::Partial, &[]),
            HopOption::Unknown
        );
    }

    #[test]
    fn truncated_areas_never_panic() {
        let area = h("020405b40402080ac337c5931baf9ea1010303081e0c010129a6c86981ad933c");
        for end in 0..area.len() {
            let _ = find_capable(&area[..end]);
            let _ = syn_fate(Some(&area), Some(1), &area[..end]);
            let _ = syn_fate(Some(&area[..end]), None, &area);
        }
    }
}
