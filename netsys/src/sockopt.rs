//! Typed socket-option reads for TCP and MPTCP sockets.
//!
//! The kernel fills `TCP_INFO` and `MPTCP_INFO` with structs that only ever
//! grow at their end, and says how many bytes it wrote: an older kernel
//! writes fewer. So both are read into byte buffers and decoded by offset
//! ([`TcpInfo::decode`], [`MptcpInfo::decode`]): a field past the length
//! the kernel returned is `None`, never a stale zero, and the decoding is
//! the same on glibc, musl and 32-bit targets. Only [`getsockopt_bytes`]
//! is unsafe.
use std::io;
use std::os::fd::{AsFd, AsRawFd};

mod subflows;
pub use subflows::{
    decode_addrs, decode_addrs_and_tcpinfo, decode_full_info, decode_sockaddr, decode_subflow_data,
    mptcp_addrs_and_tcpinfo, mptcp_full_info, mptcp_subflows, MptcpSubflows, Subflow,
    SubflowSource, MAX_SUBFLOWS,
};

/// `SOL_TCP` (`IPPROTO_TCP`).
pub const SOL_TCP: libc::c_int = libc::SOL_TCP;
/// `TCP_IS_MPTCP` (linux/tcp.h, 5.16+): 1 on an MPTCP socket that did not
/// fall back to TCP. libc has no constant for it.
pub const TCP_IS_MPTCP: libc::c_int = 43;
/// `SOL_MPTCP` (linux/socket.h). libc has no constant for it.
pub const SOL_MPTCP: libc::c_int = 284;
/// `MPTCP_INFO` (linux/mptcp.h): `struct mptcp_info`.
pub const MPTCP_INFO: libc::c_int = 1;
/// `MPTCP_TCPINFO`: `struct mptcp_subflow_data` then one `tcp_info` per subflow.
pub const MPTCP_TCPINFO: libc::c_int = 2;
/// `MPTCP_SUBFLOW_ADDRS`: `struct mptcp_subflow_data` then one address pair per subflow.
pub const MPTCP_SUBFLOW_ADDRS: libc::c_int = 3;
/// `MPTCP_FULL_INFO` (6.5+): `struct mptcp_full_info`.
pub const MPTCP_FULL_INFO: libc::c_int = 4;

/// `mptcpi_flags` bit: the connection fell back to plain TCP.
pub const MPTCP_INFO_FLAG_FALLBACK: u32 = 1 << 0;
/// `mptcpi_flags` bit: the peer's key arrived (the handshake completed).
pub const MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED: u32 = 1 << 1;

/// Room for any `tcp_info` a kernel writes today (about 280 bytes in 6.x).
pub(crate) const TCP_INFO_BUF: usize = 512;
/// Room for any `mptcp_info` a kernel writes today (96 bytes in 6.10+).
pub(crate) const MPTCP_INFO_BUF: usize = 256;

/// `getsockopt(2)` into `buf`: returns how many bytes the kernel wrote
/// (never more than `buf.len()`).
pub fn getsockopt_bytes(
    fd: impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "getsockopt buffer too large"))?;
    // SAFETY: `buf` is valid for writes of `len` bytes and `len` for one
    // socklen_t; the kernel writes at most `len` bytes and stores the
    // count it wrote in `len`. The descriptor is borrowed, so it stays open
    // for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(len).map_or(buf.len(), |n| n.min(buf.len())))
}

/// `setsockopt(2)` of one `int` option.
pub fn set_int(
    fd: impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len =
        libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).map_err(io::Error::other)?;
    // SAFETY: `value` is a live c_int and `len` its size; the kernel only
    // reads that many bytes from it. The descriptor is borrowed, so it
    // stays open for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `TCP_IS_MPTCP`: `true` on an MPTCP connection, `false` on a plain TCP
/// socket or one that fell back. An error (`ENOPROTOOPT`) on kernels
/// without the option (before 5.16, out-of-tree kernels).
pub fn tcp_is_mptcp(fd: impl AsFd) -> io::Result<bool> {
    let mut v = [0u8; 4];
    let n = getsockopt_bytes(fd, SOL_TCP, TCP_IS_MPTCP, &mut v)?;
    if n < v.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("TCP_IS_MPTCP: kernel wrote {n} bytes, expected 4"),
        ));
    }
    Ok(i32::from_ne_bytes(v) != 0)
}

/// TCP states as `tcpi_state` gives them (include/net/tcp_states.h).
pub const TCP_ESTABLISHED: u8 = 1;
/// `tcpi_state` of a connection whose SYN is unanswered so far.
pub const TCP_SYN_SENT: u8 = 2;

/// `TCP_INFO` of a TCP socket (or of an MPTCP socket's first subflow).
pub fn tcp_info(fd: impl AsFd) -> io::Result<TcpInfo> {
    let mut buf = [0u8; TCP_INFO_BUF];
    let n = getsockopt_bytes(fd, SOL_TCP, libc::TCP_INFO, &mut buf)?;
    Ok(TcpInfo::decode(&buf[..n]))
}

/// `MPTCP_INFO` of an MPTCP socket. An error on a plain TCP socket, and
/// (`EOPNOTSUPP`) on an MPTCP socket that fell back to TCP.
pub fn mptcp_info(fd: impl AsFd) -> io::Result<MptcpInfo> {
    let mut buf = [0u8; MPTCP_INFO_BUF];
    let n = getsockopt_bytes(fd, SOL_MPTCP, MPTCP_INFO, &mut buf)?;
    Ok(MptcpInfo::decode(&buf[..n]))
}

fn u8_at(b: &[u8], at: usize) -> Option<u8> {
    b.get(at).copied()
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..at.checked_add(4)?)?;
    bytes.try_into().ok().map(u32::from_ne_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(8)?)?;
    bytes.try_into().ok().map(u64::from_ne_bytes)
}

/// The fields of `struct tcp_info` (linux/tcp.h) the probe uses.
///
/// Layout (offsets in bytes; eight u8 fields, then u32 fields):
/// ```text
///   0 u8  tcpi_state           1 u8 tcpi_ca_state     2 u8 tcpi_retransmits
///   3 u8  tcpi_probes          4 u8 tcpi_backoff      5 u8 tcpi_options
///   6 u8  snd_wscale:4, rcv_wscale:4                  7 u8 (flag bits)
///   8 u32 tcpi_rto (us)       12 u32 tcpi_ato        16 u32 tcpi_snd_mss
///  20 u32 tcpi_rcv_mss        24 unacked 28 sacked 32 lost 36 retrans 40 fackets
///  44..60 last_data_sent, last_ack_sent, last_data_recv, last_ack_recv
///  60 u32 tcpi_pmtu           64 rcv_ssthresh        68 u32 tcpi_rtt (us)
///  72 rttvar 76 snd_ssthresh 80 snd_cwnd 84 advmss 88 reordering
///  92 rcv_rtt 96 rcv_space   100 u32 tcpi_total_retrans   104 u64 pacing_rate
/// 112 u64 max_pacing_rate    120 u64 tcpi_bytes_acked    128 u64 tcpi_bytes_received
/// 136 segs_out ... 160 delivery_rate ... 192 delivered 196 delivered_ce
/// 200 u64 tcpi_bytes_sent (4.19+) ...
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpInfo {
    /// How many bytes the kernel wrote.
    pub len: usize,
    /// `tcpi_state` (TCP_ESTABLISHED = 1, ...).
    pub state: Option<u8>,
    /// `tcpi_retransmits`: consecutive timeouts of the segment at the head
    /// of the queue (for a connecting socket: SYN retransmissions so far).
    pub retransmits: Option<u8>,
    /// `tcpi_rto`, microseconds.
    pub rto_us: Option<u32>,
    /// `tcpi_snd_mss`.
    pub snd_mss: Option<u32>,
    /// `tcpi_rcv_mss`.
    pub rcv_mss: Option<u32>,
    /// `tcpi_rtt`, smoothed, microseconds.
    pub rtt_us: Option<u32>,
    /// `tcpi_total_retrans`: every retransmission of the connection so far
    /// (a retransmitted SYN counts too).
    pub total_retrans: Option<u32>,
    /// `tcpi_bytes_acked`: payload bytes sent and acknowledged by the peer.
    pub bytes_acked: Option<u64>,
    /// `tcpi_bytes_received`: payload bytes received in order.
    pub bytes_received: Option<u64>,
    /// `tcpi_bytes_sent`: payload bytes sent, retransmissions included.
    pub bytes_sent: Option<u64>,
}

impl TcpInfo {
    /// Decodes the bytes the kernel wrote; fields past their end are `None`.
    pub fn decode(b: &[u8]) -> Self {
        TcpInfo {
            len: b.len(),
            state: u8_at(b, 0),
            retransmits: u8_at(b, 2),
            rto_us: u32_at(b, 8),
            snd_mss: u32_at(b, 16),
            rcv_mss: u32_at(b, 20),
            rtt_us: u32_at(b, 68),
            total_retrans: u32_at(b, 100),
            bytes_acked: u64_at(b, 120),
            bytes_received: u64_at(b, 128),
            bytes_sent: u64_at(b, 200),
        }
    }
}

/// `struct mptcp_info` (include/uapi/linux/mptcp.h), as far as the kernel
/// wrote it.
///
/// Layout (offsets in bytes; holes are the C alignment of the next field,
/// the same on 32- and 64-bit targets because every u64 sits at a multiple
/// of 8):
/// ```text
///  5.9:  0 u8 subflows  1 u8 add_addr_signal  2 u8 add_addr_accepted
///        3 u8 subflows_max  4 u8 add_addr_signal_max  5 u8 add_addr_accepted_max
///        (2-byte hole)  8 u32 flags  12 u32 token
///        16 u64 write_seq  24 u64 snd_una  32 u64 rcv_nxt
///  5.12: 40 u8 local_addr_used  41 u8 local_addr_max
///  5.14: 42 u8 csum_enabled  (1-byte hole)
///  6.5:  44 u32 retransmits  48 u64 bytes_retrans  56 u64 bytes_sent
///        64 u64 bytes_received  72 u64 bytes_acked
///  6.8:  80 u8 subflows_total
///  6.10: 81 u8 reserved[3]  84 u32 last_data_sent  88 u32 last_data_recv
///        92 u32 last_ack_recv   (96 bytes in all)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MptcpInfo {
    /// How many bytes the kernel wrote.
    pub len: usize,
    /// Subflows besides the initial one.
    pub subflows: Option<u8>,
    pub add_addr_signal: Option<u8>,
    pub add_addr_accepted: Option<u8>,
    pub subflows_max: Option<u8>,
    pub add_addr_signal_max: Option<u8>,
    pub add_addr_accepted_max: Option<u8>,
    /// `MPTCP_INFO_FLAG_*` bits.
    pub flags: Option<u32>,
    /// This side's connection token.
    pub token: Option<u32>,
    pub write_seq: Option<u64>,
    pub snd_una: Option<u64>,
    pub rcv_nxt: Option<u64>,
    pub local_addr_used: Option<u8>,
    pub local_addr_max: Option<u8>,
    /// DSS checksums in use on this connection (0 or 1).
    pub csum_enabled: Option<u8>,
    pub retransmits: Option<u32>,
    pub bytes_retrans: Option<u64>,
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    pub bytes_acked: Option<u64>,
    /// Every subflow, the initial one included.
    pub subflows_total: Option<u8>,
    /// Milliseconds since the last data was sent.
    pub last_data_sent: Option<u32>,
    pub last_data_recv: Option<u32>,
    pub last_ack_recv: Option<u32>,
}

impl MptcpInfo {
    /// Decodes the bytes the kernel wrote. Fields come in the groups each
    /// kernel version added, and a group counts only when the bytes cover
    /// all of it: the kernel copies its whole struct, trailing padding
    /// included (48 bytes from 5.12 to 6.4, 88 in 6.8 and 6.9), and that
    /// padding overlaps the next version's first fields with zeros that
    /// must not read as values.
    pub fn decode(b: &[u8]) -> Self {
        let group = |end: usize| if b.len() >= end { b } else { &[][..] };
        let (v5_9, v5_12, v5_14) = (group(40), group(42), group(43));
        let (v6_5, v6_8, v6_10) = (group(80), group(81), group(96));
        MptcpInfo {
            len: b.len(),
            // Counters, flags and token: each read whenever the bytes hold
            // it, as the server has always read the flags.
            subflows: u8_at(b, 0),
            add_addr_signal: u8_at(b, 1),
            add_addr_accepted: u8_at(b, 2),
            subflows_max: u8_at(b, 3),
            add_addr_signal_max: u8_at(b, 4),
            add_addr_accepted_max: u8_at(b, 5),
            flags: u32_at(b, 8),
            token: u32_at(b, 12),
            write_seq: u64_at(v5_9, 16),
            snd_una: u64_at(v5_9, 24),
            rcv_nxt: u64_at(v5_9, 32),
            local_addr_used: u8_at(v5_12, 40),
            local_addr_max: u8_at(v5_12, 41),
            // On 5.12 and 5.13 this byte is padding, so 0: true, since
            // those kernels cannot do checksums.
            csum_enabled: u8_at(v5_14, 42),
            retransmits: u32_at(v6_5, 44),
            bytes_retrans: u64_at(v6_5, 48),
            bytes_sent: u64_at(v6_5, 56),
            bytes_received: u64_at(v6_5, 64),
            bytes_acked: u64_at(v6_5, 72),
            subflows_total: u8_at(v6_8, 80),
            last_data_sent: u32_at(v6_10, 84),
            last_data_recv: u32_at(v6_10, 88),
            last_ack_recv: u32_at(v6_10, 92),
        }
    }

    /// `MPTCP_INFO_FLAG_FALLBACK` is set.
    pub fn fell_back(&self) -> Option<bool> {
        self.flags.map(|f| f & MPTCP_INFO_FLAG_FALLBACK != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put<const N: usize>(b: &mut [u8], at: usize, v: [u8; N]) {
        b[at..at + N].copy_from_slice(&v);
    }

    /// A full 6.10+ `mptcp_info` with a distinct value in every field.
    fn mptcp_fixture() -> Vec<u8> {
        let mut b = vec![0xeeu8; 96];
        b[..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        put(&mut b, 8, 0x3u32.to_ne_bytes());
        put(&mut b, 12, 0xdead_beefu32.to_ne_bytes());
        put(&mut b, 16, 0x1111_2222_3333_4444u64.to_ne_bytes());
        put(&mut b, 24, 0x5555u64.to_ne_bytes());
        put(&mut b, 32, 0x6666u64.to_ne_bytes());
        b[40..43].copy_from_slice(&[7, 8, 1]);
        put(&mut b, 44, 9u32.to_ne_bytes());
        put(&mut b, 48, 10u64.to_ne_bytes());
        put(&mut b, 56, 11u64.to_ne_bytes());
        put(&mut b, 64, 12u64.to_ne_bytes());
        put(&mut b, 72, 13u64.to_ne_bytes());
        b[80] = 14;
        put(&mut b, 84, 15u32.to_ne_bytes());
        put(&mut b, 88, 16u32.to_ne_bytes());
        put(&mut b, 92, 17u32.to_ne_bytes());
        b
    }

    #[test]
    fn mptcp_info_decodes_every_field_at_its_offset() {
        let i = MptcpInfo::decode(&mptcp_fixture());
        assert_eq!(i.len, 96);
        assert_eq!(
            (
                i.subflows,
                i.add_addr_signal,
                i.add_addr_accepted,
                i.subflows_max,
                i.add_addr_signal_max,
                i.add_addr_accepted_max
            ),
            (Some(1), Some(2), Some(3), Some(4), Some(5), Some(6))
        );
        assert_eq!(i.flags, Some(3));
        assert_eq!(i.fell_back(), Some(true));
        assert_eq!(i.token, Some(0xdead_beef));
        assert_eq!(i.write_seq, Some(0x1111_2222_3333_4444));
        assert_eq!(i.snd_una, Some(0x5555));
        assert_eq!(i.rcv_nxt, Some(0x6666));
        assert_eq!(
            (i.local_addr_used, i.local_addr_max, i.csum_enabled),
            (Some(7), Some(8), Some(1))
        );
        assert_eq!(i.retransmits, Some(9));
        assert_eq!(
            (
                i.bytes_retrans,
                i.bytes_sent,
                i.bytes_received,
                i.bytes_acked
            ),
            (Some(10), Some(11), Some(12), Some(13))
        );
        assert_eq!(i.subflows_total, Some(14));
        assert_eq!(
            (i.last_data_sent, i.last_data_recv, i.last_ack_recv),
            (Some(15), Some(16), Some(17))
        );
    }

    #[test]
    fn an_older_kernels_shorter_mptcp_info_leaves_later_fields_absent() {
        let full = mptcp_fixture();
        // 5.9 to 5.11 wrote 40 bytes: no local_addr_*, no csum_enabled.
        let v5_9 = MptcpInfo::decode(&full[..40]);
        assert_eq!(v5_9.rcv_nxt, Some(0x6666));
        assert_eq!(v5_9.local_addr_used, None);
        assert_eq!(v5_9.csum_enabled, None);
        // 5.12 to 6.4 wrote 48 bytes, the last 5 of them padding where 6.5
        // put retransmits: not a value.
        let v5_14 = MptcpInfo::decode(&full[..48]);
        assert_eq!(v5_14.local_addr_max, Some(8));
        assert_eq!(v5_14.csum_enabled, Some(1));
        assert_eq!(v5_14.retransmits, None);
        assert_eq!(v5_14.bytes_retrans, None);
        // 6.5 to 6.7: 80 bytes.
        let v6_5 = MptcpInfo::decode(&full[..80]);
        assert_eq!(v6_5.retransmits, Some(9));
        assert_eq!(v6_5.bytes_acked, Some(13));
        assert_eq!(v6_5.subflows_total, None);
        // 6.8 and 6.9: 88 bytes, padding where 6.10 put last_data_sent.
        let v6_8 = MptcpInfo::decode(&full[..88]);
        assert_eq!(v6_8.subflows_total, Some(14));
        assert_eq!(v6_8.last_data_sent, None);
        assert_eq!(v6_8.last_ack_recv, None);
    }

    #[test]
    fn every_truncation_decodes_without_panic_and_only_whole_groups() {
        let full = mptcp_fixture();
        for len in 0..=full.len() {
            let i = MptcpInfo::decode(&full[..len]);
            assert_eq!(i.len, len);
            assert_eq!(i.subflows.is_some(), len >= 1, "len {len}");
            assert_eq!(i.flags.is_some(), len >= 12, "len {len}");
            assert_eq!(i.token.is_some(), len >= 16, "len {len}");
            assert_eq!(i.write_seq.is_some(), len >= 40, "len {len}");
            assert_eq!(i.retransmits.is_some(), len >= 80, "len {len}");
            assert_eq!(i.last_data_sent.is_some(), len >= 96, "len {len}");
        }
        assert_eq!(MptcpInfo::decode(&[]), MptcpInfo::default());
    }

    #[test]
    fn tcp_info_fields_are_read_at_their_offsets() {
        let mut b = vec![0u8; 104];
        b[0] = 1;
        b[2] = 2;
        put(&mut b, 8, 204_000u32.to_ne_bytes());
        put(&mut b, 16, 1448u32.to_ne_bytes());
        put(&mut b, 20, 536u32.to_ne_bytes());
        put(&mut b, 68, 31u32.to_ne_bytes());
        put(&mut b, 100, 3u32.to_ne_bytes());
        let i = TcpInfo::decode(&b);
        assert_eq!(i.len, 104);
        assert_eq!(i.state, Some(1));
        assert_eq!(i.retransmits, Some(2));
        assert_eq!(i.rto_us, Some(204_000));
        assert_eq!(i.snd_mss, Some(1448));
        assert_eq!(i.rcv_mss, Some(536));
        assert_eq!(i.rtt_us, Some(31));
        assert_eq!(i.total_retrans, Some(3));
        assert_eq!(i.bytes_acked, None, "104 bytes end before tcpi_bytes_acked");
    }

    #[test]
    fn tcp_info_byte_counters_are_read_at_their_offsets() {
        let mut b = vec![0u8; 232];
        put(&mut b, 120, 1_000u64.to_ne_bytes());
        put(&mut b, 128, 2_000u64.to_ne_bytes());
        put(&mut b, 200, 3_000u64.to_ne_bytes());
        let i = TcpInfo::decode(&b);
        assert_eq!(
            (i.bytes_acked, i.bytes_received, i.bytes_sent),
            (Some(1_000), Some(2_000), Some(3_000))
        );
        // A 4.18 kernel ends before tcpi_bytes_sent.
        let old = TcpInfo::decode(&b[..200]);
        assert_eq!((old.bytes_received, old.bytes_sent), (Some(2_000), None));
    }

    #[test]
    fn a_short_tcp_info_has_no_total_retrans() {
        let mut b = vec![0u8; 104];
        put(&mut b, 100, 3u32.to_ne_bytes());
        for len in 0..104 {
            let i = TcpInfo::decode(&b[..len]);
            assert_eq!(i.total_retrans, None, "len {len}");
            assert_eq!(i.rto_us.is_some(), len >= 12, "len {len}");
            assert_eq!(i.state.is_some(), len >= 1, "len {len}");
        }
    }
}
