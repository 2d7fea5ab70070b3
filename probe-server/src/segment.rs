//! A captured IPv4/IPv6 + TCP header: tolerant slicing into the fields the
//! store and the report need, and the report's per-segment summary.
use packet::echo::{EchoOption, MpCapableSummary, ObservedSegment, OptionForm, OptionSummary};
use packet::ip::{parse_ip_tcp, IpError};
use packet::json::option_list_json;
use packet::tcp_opt::{OptionList, OptionsIter, TcpOption};
use packet::{MptcpOption, TcpFlags};
use std::net::IpAddr;
use thiserror::Error;

/// Why captured bytes are not an IP+TCP header we can use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SegmentError {
    /// The IP or fixed TCP header is malformed, not TCP, or cut short.
    #[error(transparent)]
    Ip(#[from] IpError),
    /// The capture holds the first bytes of TCP but not the whole header;
    /// the report must show every option as it arrived, so such a segment
    /// is of no use to the store.
    #[error("TCP header truncated: {missing} bytes of it not captured")]
    TcpTruncated { missing: usize },
}

/// The fields of one captured segment; `header` is IP + TCP header bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub ttl: u8,
    /// Bytes before the TCP header (IP header, IPv4 options, IPv6 extension headers).
    pub ip_len: usize,
    pub tcp_len: usize,
    pub header: Vec<u8>,
}

/// Slices the IP and TCP headers at the start of `b` (payload ignored) with
/// the packet crate's view, and keeps an owned copy of the header bytes.
pub fn parse(b: &[u8]) -> Result<Segment, SegmentError> {
    let view = parse_ip_tcp(b)?;
    let (Some(ack), Some(flags), Some(window), Some(offset)) =
        (view.ack, view.flags, view.window, view.data_offset)
    else {
        return Err(SegmentError::TcpTruncated {
            missing: view.tcp_missing,
        });
    };
    if view.tcp_missing > 0 {
        return Err(SegmentError::TcpTruncated {
            missing: view.tcp_missing,
        });
    }
    let tcp_len = usize::from(offset) * 4;
    Ok(Segment {
        src: view.src(),
        dst: view.dst(),
        sport: view.src_port,
        dport: view.dst_port,
        seq: view.seq,
        ack,
        flags,
        window,
        ttl: view.ttl(),
        ip_len: view.tcp_offset,
        tcp_len,
        header: b[..view.tcp_offset + tcp_len].to_vec(),
    })
}

impl Segment {
    /// The TCP option area.
    pub fn option_area(&self) -> &[u8] {
        &self.header[self.ip_len + 20..]
    }

    /// The report's view of this segment, its options in `form` (what the
    /// client's hello asked for).
    pub fn summary(&self, iface: &str, ts: f64, form: OptionForm) -> ObservedSegment {
        let (summaries, mp_capable) = summarize_options(self.option_area(), self.flags);
        let options = match form {
            OptionForm::Summary => summaries.into_iter().map(EchoOption::Summary).collect(),
            OptionForm::Json => {
                let list = OptionList::parse(self.option_area(), Some(self.flags));
                option_list_json(&list)
                    .into_iter()
                    .map(EchoOption::Json)
                    .collect()
            }
        };
        ObservedSegment {
            hex: hex::encode(&self.header),
            iface: iface.to_string(),
            ts,
            src: self.src.to_string(),
            dst: self.dst.to_string(),
            sport: self.sport,
            dport: self.dport,
            flags: self.flags.to_string(),
            seq: self.seq,
            ack: self.ack,
            window: self.window,
            ttl: self.ttl,
            options,
            mp_capable,
        }
    }
}

/// Each option of the area in the summary form (with its raw bytes and
/// tcpdump's text: the older echo form, and the lines of the text report),
/// and the MP_CAPABLE option when there is one.
pub fn summarize_options(
    area: &[u8],
    flags: TcpFlags,
) -> (Vec<OptionSummary>, Option<MpCapableSummary>) {
    let mut out = Vec::new();
    let mut mp_capable = None;
    let mut iter = OptionsIter::new(area, Some(flags));
    loop {
        let start = iter.offset();
        let Some(item) = iter.next() else { break };
        match item {
            Ok(option) => {
                let raw = area.get(start..iter.offset()).unwrap_or_default();
                if let Some(m) = mp_capable_of(&option, raw.len()) {
                    mp_capable.get_or_insert(m);
                }
                out.push(OptionSummary {
                    kind: option.kind(),
                    len: raw.len(),
                    name: option_name(&option).to_string(),
                    text: option_text(&option, raw),
                    hex: hex::encode(raw),
                });
            }
            Err(e) => {
                let rest = iter.rest();
                out.push(OptionSummary {
                    kind: Some(e.kind),
                    len: rest.len(),
                    name: "malformed".into(),
                    text: e.to_string(),
                    hex: hex::encode(rest),
                });
                break;
            }
        }
    }
    (out, mp_capable)
}

/// MP_CAPABLE from a decoded option, whether the codec decoded it or kept
/// it raw (subtype 0 in the high nibble of the first data byte).
fn mp_capable_of(option: &TcpOption<'_>, len: usize) -> Option<MpCapableSummary> {
    let TcpOption::Mptcp(m) = option else {
        return None;
    };
    match m {
        MptcpOption::MpCapable(c) => Some(MpCapableSummary {
            version: c.version,
            flags: c.flags,
            len,
        }),
        MptcpOption::Unknown { subtype: 0, data } => Some(MpCapableSummary {
            version: data.first()? & 0x0f,
            flags: data.get(1).copied().unwrap_or(0),
            len,
        }),
        _ => None,
    }
}

fn option_name(option: &TcpOption<'_>) -> &'static str {
    match option {
        TcpOption::Eol => "eol",
        TcpOption::Padding(_) => "padding",
        TcpOption::Nop => "nop",
        TcpOption::Mss(_) => "mss",
        TcpOption::WindowScale(_) => "wscale",
        TcpOption::SackPermitted => "sackOK",
        TcpOption::Sack(_) => "sack",
        TcpOption::Timestamps { .. } => "TS",
        TcpOption::Md5(_) => "md5",
        TcpOption::FastOpen(_) => "tfo",
        TcpOption::Mptcp(_) => "mptcp",
        TcpOption::Malformed { .. } => "malformed",
        TcpOption::Unknown { .. } => "unknown",
    }
}

/// tcpdump's text of one option ([`TcpOption`]'s `Display`); the padding
/// after an end-of-list, which tcpdump does not print, as its hex.
fn option_text(option: &TcpOption<'_>, raw: &[u8]) -> String {
    match option {
        TcpOption::Padding(_) => format!("padding {}", hex::encode(raw)),
        other => format!("{other:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::tests::{v4, v6};

    const LINUX_MPC_SYN_OPTS: [u8; 24] = [
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7, 30, 4, 0x01, 0x01,
    ];

    #[test]
    fn parses_a_v1_syn() {
        let pkt = v4(40000, 6101, 0x02, &LINUX_MPC_SYN_OPTS);
        let s = parse(&pkt).unwrap();
        assert_eq!(s.src.to_string(), "10.0.0.1");
        assert_eq!((s.sport, s.dport, s.seq), (40000, 6101, 1234));
        assert_eq!(s.header.len(), 20 + 44);
        let o = s.summary("eth0", 1.5, OptionForm::Summary);
        assert_eq!(o.flags, "S");
        let names: Vec<&str> = o.options.iter().filter_map(EchoOption::name).collect();
        assert_eq!(names, ["mss", "sackOK", "TS", "nop", "wscale", "mptcp"]);
        assert_eq!(
            o.mp_capable,
            Some(MpCapableSummary {
                version: 1,
                flags: 0x01,
                len: 4
            })
        );
        let summary = |i: usize| match &o.options[i] {
            EchoOption::Summary(x) => x.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(summary(5).hex, "1e040101");
        assert!(summary(5).text.contains("capable v1"), "{:?}", summary(5));
        assert_eq!(summary(0).text, "mss 1460");
        // The same options in the JSON form, as analyze prints them.
        let j = s.summary("eth0", 1.5, OptionForm::Json);
        let names: Vec<&str> = j.options.iter().filter_map(EchoOption::name).collect();
        assert_eq!(
            names,
            [
                "mss",
                "sack_permitted",
                "timestamps",
                "nop",
                "window_scale",
                "mptcp"
            ]
        );
        assert!(j.options.iter().all(|x| matches!(x, EchoOption::Json(_))));
        assert_eq!(j.mp_capable, o.mp_capable);
        let v = serde_json::to_value(&j.options[5]).unwrap();
        assert_eq!(v["mptcp"]["subtype"], "mp_capable");
        assert_eq!(v["mptcp"]["version"], 1);
    }

    #[test]
    fn stripped_option_shows_nops_and_no_mp_capable() {
        let mut opts = LINUX_MPC_SYN_OPTS;
        opts[20..24].copy_from_slice(&[1, 1, 1, 1]);
        for form in [OptionForm::Summary, OptionForm::Json] {
            let o = parse(&v4(1, 6101, 0x02, &opts))
                .unwrap()
                .summary("x", 0.0, form);
            assert_eq!(o.mp_capable, None);
            assert_eq!(
                o.options.iter().filter(|x| x.name() == Some("nop")).count(),
                5
            );
        }
    }

    #[test]
    fn v0_mp_capable_is_recognised() {
        let mut opts = vec![30, 12, 0x00, 0x81];
        opts.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        let o = parse(&v4(1, 6101, 0x02, &opts))
            .unwrap()
            .summary("x", 0.0, OptionForm::Json);
        assert_eq!(o.mp_capable.map(|m| (m.version, m.len)), Some((0, 12)));
    }

    #[test]
    fn ipv6_and_errors() {
        let s = parse(&v6(1, 2, 0x02)).unwrap();
        assert_eq!(s.dst.to_string(), "::2");
        let full = v4(40000, 6101, 0x02, &LINUX_MPC_SYN_OPTS);
        for cut in 0..full.len() {
            assert!(parse(&full[..cut]).is_err(), "cut {cut}");
        }
        let full6 = v6(1, 2, 0x02);
        for cut in 0..full6.len() {
            assert!(parse(&full6[..cut]).is_err(), "cut {cut}");
        }
        let mut bad = full.clone();
        bad[0] = 0x44;
        assert_eq!(
            parse(&bad),
            Err(SegmentError::Ip(IpError::BadIhl { ihl: 4 }))
        );
        let mut udp = full.clone();
        udp[9] = 17;
        assert!(matches!(
            parse(&udp),
            Err(SegmentError::Ip(IpError::NotTcp { protocol: 17, .. }))
        ));
    }

    #[test]
    fn malformed_option_is_kept_raw() {
        let (opts, mpc) = summarize_options(&[2, 4, 5, 0xb4, 30, 9, 0x81], TcpFlags(0x02));
        assert!(mpc.is_none());
        assert_eq!(opts[1].name, "malformed");
        assert_eq!(opts[1].hex, "1e0981");
    }
}
