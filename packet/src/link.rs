//! Link-layer framing of captured frames: finds the IP packet inside a frame
//! of a given pcap link type (Ethernet with VLAN tags, Linux cooked v1/v2, raw
//! IP, BSD loopback).
use thiserror::Error;

/// pcap LINKTYPE_* values we decode.
pub mod linktype {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// DLT_RAW as some systems number it.
    pub const RAW_12: u32 = 12;
    pub const RAW_14: u32 = 14;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LinkError {
    #[error(
        "link type {0} is not supported (Ethernet, Linux cooked v1/v2, raw IP and loopback are)"
    )]
    Unsupported(u32),
    #[error("frame of {len} bytes is shorter than its {what} header ({need} bytes)")]
    Truncated {
        what: &'static str,
        len: usize,
        need: usize,
    },
    /// Not an IP packet (ARP, LLDP, ...): not an error for a reader, just skipped.
    #[error("not IP (protocol 0x{0:04x})")]
    NotIp(u32),
}

/// The IP packet carried by `frame` (which may be cut short by the snapshot
/// length: the returned slice is simply shorter then).
pub fn ip_payload(linktype: u32, frame: &[u8]) -> Result<&[u8], LinkError> {
    let need = |what: &'static str, need: usize| {
        if frame.len() < need {
            Err(LinkError::Truncated {
                what,
                len: frame.len(),
                need,
            })
        } else {
            Ok(())
        }
    };
    let be16 = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
    let by_ethertype = |ethertype: u16, at: usize| match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Ok(&frame[at..]),
        other => Err(LinkError::NotIp(other.into())),
    };
    match linktype {
        linktype::ETHERNET => {
            need("Ethernet", 14)?;
            let mut at = 12;
            let mut ethertype = be16(at);
            // Skip any number of 802.1Q / 802.1ad tags.
            while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
                at += 4;
                need("VLAN tag", at + 2)?;
                ethertype = be16(at);
            }
            by_ethertype(ethertype, at + 2)
        }
        linktype::LINUX_SLL => {
            need("Linux cooked (SLL)", 16)?;
            by_ethertype(be16(14), 16)
        }
        linktype::LINUX_SLL2 => {
            need("Linux cooked v2 (SLL2)", 20)?;
            by_ethertype(be16(0), 20)
        }
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            match frame.first().map(|b| b >> 4) {
                Some(4) | Some(6) => Ok(frame),
                Some(v) => Err(LinkError::NotIp(v.into())),
                None => Err(LinkError::Truncated {
                    what: "raw IP",
                    len: 0,
                    need: 1,
                }),
            }
        }
        linktype::NULL | linktype::LOOP => {
            need("loopback", 4)?;
            // The family is in the capturing host's byte order for NULL and
            // in network order for LOOP; accept either by looking at both.
            let raw = [frame[0], frame[1], frame[2], frame[3]];
            let family = if linktype == linktype::LOOP {
                u32::from_be_bytes(raw)
            } else if u32::from_le_bytes(raw) < 0x100 {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            match family {
                // AF_INET everywhere; AF_INET6 is 24, 28 or 30 depending on the BSD.
                2 | 24 | 28 | 30 => Ok(&frame[4..]),
                other => Err(LinkError::NotIp(other)),
            }
        }
        other => Err(LinkError::Unsupported(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_with_two_vlan_tags() {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x86, 0xdd, 0x60, 1]);
        assert_eq!(ip_payload(linktype::ETHERNET, &frame), Ok(&[0x60, 1][..]));
    }

    #[test]
    fn arp_is_not_ip() {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x06, 0]);
        assert_eq!(
            ip_payload(linktype::ETHERNET, &frame),
            Err(LinkError::NotIp(0x0806))
        );
    }

    #[test]
    fn cooked_v1_and_v2() {
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00, 0x45]);
        assert_eq!(ip_payload(linktype::LINUX_SLL, &sll), Ok(&[0x45][..]));
        let mut sll2 = vec![0x86, 0xdd];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.push(0x60);
        assert_eq!(ip_payload(linktype::LINUX_SLL2, &sll2), Ok(&[0x60][..]));
    }

    #[test]
    fn loopback_both_byte_orders() {
        assert_eq!(
            ip_payload(linktype::NULL, &[2, 0, 0, 0, 0x45]),
            Ok(&[0x45][..])
        );
        assert_eq!(
            ip_payload(linktype::LOOP, &[0, 0, 0, 30, 0x60]),
            Ok(&[0x60][..])
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x81, 0x00, 0, 2, 0x08, 0x00]);
        for t in [
            linktype::ETHERNET,
            linktype::LINUX_SLL,
            linktype::LINUX_SLL2,
            linktype::NULL,
            linktype::RAW,
        ] {
            for cut in 0..frame.len() {
                let _ = ip_payload(t, &frame[..cut]);
            }
        }
        assert!(ip_payload(linktype::ETHERNET, &frame[..15]).is_err());
    }
}
