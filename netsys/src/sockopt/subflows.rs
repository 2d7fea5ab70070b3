//! Every subflow of an MPTCP connection: its addresses and its `tcp_info`,
//! read with `MPTCP_FULL_INFO` (6.5+) or, on 5.16 to 6.4, with
//! `MPTCP_SUBFLOW_ADDRS` and `MPTCP_TCPINFO` (two calls, merged by
//! position: both walk the connection's subflow list in the same order).
//!
//! The layouts (include/uapi/linux/mptcp.h), offsets in bytes:
//! ```text
//! struct mptcp_subflow_data (16, aligned 8):
//!    0 u32 size_subflow_data  4 u32 num_subflows  8 u32 size_kernel  12 u32 size_user
//!    then num_subflows elements of size_user bytes (as many as fit)
//! struct mptcp_subflow_addrs (256): 0 sockaddr_storage local, 128 sockaddr_storage remote
//! struct mptcp_subflow_info: 0 u32 id, then mptcp_subflow_addrs aligned like a
//!    pointer (264 bytes on 64-bit targets, 260 on 32-bit: read from size_sfinfo_kernel)
//! struct mptcp_full_info (40 + mptcp_info):
//!    0 u32 size_tcpinfo_kernel   4 u32 size_tcpinfo_user
//!    8 u32 size_sfinfo_kernel   12 u32 size_sfinfo_user
//!   16 u32 num_subflows         20 u32 size_arrays_user
//!   24 u64 subflow_info (user pointer)  32 u64 tcp_info (user pointer)
//!   40 struct mptcp_info
//! sockaddr_in:  0 u16 family (2), 2 be16 port, 4 address
//! sockaddr_in6: 0 u16 family (10), 2 be16 port, 4 flowinfo, 8 address (16 bytes)
//! ```
//! Everything but the `MPTCP_FULL_INFO` call is a pure decoder over the
//! bytes the kernel wrote, tested with fixtures.
use super::{
    getsockopt_bytes, u32_at, MptcpInfo, TcpInfo, MPTCP_FULL_INFO, MPTCP_INFO_BUF,
    MPTCP_SUBFLOW_ADDRS, MPTCP_TCPINFO, SOL_MPTCP, TCP_INFO_BUF,
};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};

/// At most this many subflows are read (the kernel still reports how many
/// there are). The in-kernel path manager allows 8 per connection.
pub const MAX_SUBFLOWS: usize = 32;

/// Bytes of `struct mptcp_subflow_data`.
const SUBFLOW_DATA_LEN: usize = 16;
/// Bytes of `struct mptcp_full_info` before its `mptcp_info`.
const FULL_INFO_HEADER_LEN: usize = 40;
/// Bytes of `struct mptcp_subflow_addrs`.
const ADDRS_LEN: usize = 256;
/// Bytes of one `struct __kernel_sockaddr_storage`.
const SOCKADDR_STORAGE_LEN: usize = 128;
/// Room for one `mptcp_subflow_info` (264 bytes on 64-bit kernels).
const SFINFO_BUF: usize = 320;

/// How the subflows were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubflowSource {
    /// `MPTCP_FULL_INFO` (6.5+): one consistent snapshot.
    FullInfo,
    /// `MPTCP_SUBFLOW_ADDRS` and `MPTCP_TCPINFO` (5.16+), merged by position.
    AddrsAndTcpInfo,
}

impl SubflowSource {
    /// The socket option names, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SubflowSource::FullInfo => "MPTCP_FULL_INFO",
            SubflowSource::AddrsAndTcpInfo => "MPTCP_SUBFLOW_ADDRS+MPTCP_TCPINFO",
        }
    }
}

/// One subflow as the kernel describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subflow {
    /// `mptcp_subflow_info.id` (FULL_INFO only): the subflow's number in
    /// this connection.
    pub id: Option<u32>,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// Its `tcp_info` (state, byte counters), as far as written.
    pub tcp: Option<TcpInfo>,
}

/// Every subflow of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MptcpSubflows {
    pub source: SubflowSource,
    /// The connection's `mptcp_info` (FULL_INFO carries it; otherwise
    /// read with `MPTCP_INFO`).
    pub info: Option<MptcpInfo>,
    /// How many subflows the kernel has (may exceed `subflows.len()`).
    pub total: u32,
    pub subflows: Vec<Subflow>,
}

/// A socket address in a `sockaddr_storage`-sized slot: IPv4 or IPv6 by
/// its family, `None` for anything else (or too few bytes).
pub fn decode_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_ne_bytes(b.get(0..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(b.get(2..4)?.try_into().ok()?);
    let ip = match i32::from(family) {
        libc::AF_INET => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            IpAddr::V4(Ipv4Addr::from(a))
        }
        libc::AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// `struct mptcp_subflow_addrs`: (local, remote).
pub fn decode_addrs(b: &[u8]) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let local = b.get(..SOCKADDR_STORAGE_LEN).and_then(decode_sockaddr);
    let remote = b
        .get(SOCKADDR_STORAGE_LEN..ADDRS_LEN)
        .and_then(decode_sockaddr);
    (local, remote)
}

/// The elements after a `struct mptcp_subflow_data` header, as the kernel
/// wrote them, and the number of subflows it reported.
pub fn decode_subflow_data(b: &[u8]) -> Option<(u32, Vec<&[u8]>)> {
    let header = u32_at(b, 0)? as usize;
    let total = u32_at(b, 4)?;
    let size = u32_at(b, 12)? as usize;
    if header < SUBFLOW_DATA_LEN || size == 0 {
        return Some((total, Vec::new()));
    }
    let elements = b
        .get(header..)
        .unwrap_or_default()
        .chunks_exact(size)
        .take(total as usize)
        .collect();
    Some((total, elements))
}

/// Decodes what `MPTCP_FULL_INFO` wrote: `header` the 40-byte header and
/// the `mptcp_info` after it, `sfinfo` and `tcpinfo` the two arrays.
pub fn decode_full_info(header: &[u8], sfinfo: &[u8], tcpinfo: &[u8]) -> Option<MptcpSubflows> {
    let tcp_size = u32_at(header, 4)? as usize;
    let sf_kernel = u32_at(header, 8)? as usize;
    let sf_size = u32_at(header, 12)? as usize;
    let total = u32_at(header, 16)?;
    let arrays = u32_at(header, 20)? as usize;
    let count = (total as usize).min(arrays);
    // The addresses follow the id, aligned as the kernel's struct has them.
    let addrs_at = sf_kernel
        .checked_sub(ADDRS_LEN)
        .filter(|a| (4..=8).contains(a));
    let mut subflows = Vec::with_capacity(count);
    for i in 0..count {
        let sf = (sf_size > 0)
            .then(|| sfinfo.get(i * sf_size..(i + 1) * sf_size))
            .flatten();
        let tcp = (tcp_size > 0)
            .then(|| tcpinfo.get(i * tcp_size..(i + 1) * tcp_size))
            .flatten();
        let (local, remote) = match (sf, addrs_at) {
            (Some(sf), Some(at)) => decode_addrs(sf.get(at..).unwrap_or_default()),
            _ => (None, None),
        };
        subflows.push(Subflow {
            id: sf.and_then(|s| u32_at(s, 0)),
            local,
            remote,
            tcp: tcp.map(TcpInfo::decode),
        });
    }
    let info = header
        .get(FULL_INFO_HEADER_LEN..)
        .filter(|i| !i.is_empty())
        .map(MptcpInfo::decode);
    Some(MptcpSubflows {
        source: SubflowSource::FullInfo,
        info,
        total,
        subflows,
    })
}

/// Merges what `MPTCP_SUBFLOW_ADDRS` and `MPTCP_TCPINFO` wrote, by position.
pub fn decode_addrs_and_tcpinfo(addrs: &[u8], tcpinfo: &[u8]) -> Option<MptcpSubflows> {
    let (total, addr_elems) = decode_subflow_data(addrs)?;
    let tcp_elems = decode_subflow_data(tcpinfo).map_or_else(Vec::new, |(_, e)| e);
    let subflows = addr_elems
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let (local, remote) = decode_addrs(a);
            Subflow {
                id: None,
                local,
                remote,
                tcp: tcp_elems.get(i).map(|t| TcpInfo::decode(t)),
            }
        })
        .collect();
    Some(MptcpSubflows {
        source: SubflowSource::AddrsAndTcpInfo,
        info: None,
        total,
        subflows,
    })
}

fn short(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{what}: the kernel wrote too few bytes"),
    )
}

/// `MPTCP_FULL_INFO` (6.5+): the connection's `mptcp_info` and, for up to
/// [`MAX_SUBFLOWS`] subflows, addresses and `tcp_info`. An error
/// (`EOPNOTSUPP`, `ENOPROTOOPT`) on older kernels and on a connection that
/// fell back to TCP.
pub fn mptcp_full_info(fd: impl AsFd) -> io::Result<MptcpSubflows> {
    let mut sfinfo = vec![0u8; MAX_SUBFLOWS * SFINFO_BUF];
    let mut tcpinfo = vec![0u8; MAX_SUBFLOWS * TCP_INFO_BUF];
    let mut header = vec![0u8; FULL_INFO_HEADER_LEN + MPTCP_INFO_BUF];
    let put = |b: &mut [u8], at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(&mut header, 4, &(TCP_INFO_BUF as u32).to_ne_bytes());
    put(&mut header, 12, &(SFINFO_BUF as u32).to_ne_bytes());
    put(&mut header, 20, &(MAX_SUBFLOWS as u32).to_ne_bytes());
    put(
        &mut header,
        24,
        &(sfinfo.as_mut_ptr() as usize as u64).to_ne_bytes(),
    );
    put(
        &mut header,
        32,
        &(tcpinfo.as_mut_ptr() as usize as u64).to_ne_bytes(),
    );
    let mut len = libc::socklen_t::try_from(header.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer too large"))?;
    // SAFETY: `header` is valid for writes of `len` bytes and `len` for one
    // socklen_t. The header names two more buffers by address: `sfinfo`
    // and `tcpinfo`, both alive and not otherwise borrowed until the call
    // returns. The kernel writes at most `size_arrays_user` (MAX_SUBFLOWS)
    // elements into each, every element at most the per-element size we
    // gave (it clamps the sizes down to its own structs), so it stays
    // within MAX_SUBFLOWS * SFINFO_BUF and MAX_SUBFLOWS * TCP_INFO_BUF
    // bytes: exactly the buffers' lengths. The descriptor is borrowed, so
    // it stays open for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            SOL_MPTCP,
            MPTCP_FULL_INFO,
            header.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let n = usize::try_from(len).map_or(header.len(), |n| n.min(header.len()));
    decode_full_info(&header[..n], &sfinfo, &tcpinfo).ok_or_else(|| short("MPTCP_FULL_INFO"))
}

/// One `mptcp_subflow_data` read: the header asks for elements of
/// `element` bytes, for up to [`MAX_SUBFLOWS`] subflows.
fn subflow_data(fd: impl AsFd, name: libc::c_int, element: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; SUBFLOW_DATA_LEN + MAX_SUBFLOWS * element];
    buf[0..4].copy_from_slice(&(SUBFLOW_DATA_LEN as u32).to_ne_bytes());
    buf[12..16].copy_from_slice(&(element as u32).to_ne_bytes());
    let n = getsockopt_bytes(fd, SOL_MPTCP, name, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// `MPTCP_SUBFLOW_ADDRS` and `MPTCP_TCPINFO` (5.16+), merged.
pub fn mptcp_addrs_and_tcpinfo(fd: impl AsFd) -> io::Result<MptcpSubflows> {
    let fd = fd.as_fd();
    let addrs = subflow_data(fd, MPTCP_SUBFLOW_ADDRS, ADDRS_LEN)?;
    // Without tcp_info the addresses still map subflows to links.
    let tcpinfo = subflow_data(fd, MPTCP_TCPINFO, TCP_INFO_BUF).unwrap_or_default();
    let mut s =
        decode_addrs_and_tcpinfo(&addrs, &tcpinfo).ok_or_else(|| short("MPTCP_SUBFLOW_ADDRS"))?;
    s.info = super::mptcp_info(fd).ok();
    Ok(s)
}

/// The subflows by the best option this kernel has: `MPTCP_FULL_INFO`,
/// else `MPTCP_SUBFLOW_ADDRS` with `MPTCP_TCPINFO`.
pub fn mptcp_subflows(fd: impl AsFd) -> io::Result<MptcpSubflows> {
    let fd = fd.as_fd();
    mptcp_full_info(fd).or_else(|_| mptcp_addrs_and_tcpinfo(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sockaddr_in(ip: [u8; 4], port: u16) -> Vec<u8> {
        let mut b = vec![0u8; SOCKADDR_STORAGE_LEN];
        b[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[4..8].copy_from_slice(&ip);
        b
    }

    fn sockaddr_in6(ip: Ipv6Addr, port: u16) -> Vec<u8> {
        let mut b = vec![0u8; SOCKADDR_STORAGE_LEN];
        b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[8..24].copy_from_slice(&ip.octets());
        b
    }

    fn tcp_info(state: u8, acked: u64, received: u64) -> Vec<u8> {
        let mut t = vec![0u8; 280];
        t[0] = state;
        t[120..128].copy_from_slice(&acked.to_ne_bytes());
        t[128..136].copy_from_slice(&received.to_ne_bytes());
        t
    }

    /// What a 6.18 kernel (x86_64) wrote for a two-subflow connection:
    /// sizes 280 (tcp_info) and 264 (mptcp_subflow_info).
    fn full_info_fixture() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut header = vec![0u8; 40 + 96];
        for (at, v) in [
            (0, 280u32),
            (4, 280),
            (8, 264),
            (12, 264),
            (16, 2),
            (20, 32),
        ] {
            header[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }
        header[40] = 1; // mptcpi_subflows
        header[43] = 8; // mptcpi_subflows_max
        header[52..56].copy_from_slice(&0x26a2_41e4u32.to_ne_bytes());
        let mut sf = Vec::new();
        for (id, local, port) in [(1u32, [10, 11, 0, 1], 32788u16), (2, [10, 12, 0, 1], 40353)] {
            let mut e = vec![0u8; 264];
            e[0..4].copy_from_slice(&id.to_ne_bytes());
            e[8..136].copy_from_slice(&sockaddr_in(local, port));
            e[136..264].copy_from_slice(&sockaddr_in([10, 99, 0, 2], 6101));
            sf.extend(e);
        }
        let mut tcp = tcp_info(1, 1_606_194, 1_408_241);
        tcp.extend(tcp_info(1, 1_015_249, 1_213_200));
        (header, sf, tcp)
    }

    #[test]
    fn full_info_decodes_each_subflow() {
        let (h, sf, tcp) = full_info_fixture();
        let s = decode_full_info(&h, &sf, &tcp).unwrap();
        assert_eq!(s.source, SubflowSource::FullInfo);
        assert_eq!(s.total, 2);
        let info = s.info.unwrap();
        assert_eq!((info.subflows, info.subflows_max), (Some(1), Some(8)));
        assert_eq!(info.token, Some(0x26a2_41e4));
        assert_eq!(s.subflows.len(), 2);
        let second = s.subflows[1];
        assert_eq!(second.id, Some(2));
        assert_eq!(second.local, Some("10.12.0.1:40353".parse().unwrap()));
        assert_eq!(second.remote, Some("10.99.0.2:6101".parse().unwrap()));
        let t = second.tcp.unwrap();
        assert_eq!(t.state, Some(1));
        assert_eq!(
            (t.bytes_acked, t.bytes_received),
            (Some(1_015_249), Some(1_213_200))
        );
    }

    #[test]
    fn full_info_reads_no_more_than_the_arrays_hold() {
        let (mut h, sf, tcp) = full_info_fixture();
        // The kernel counts 5 subflows but filled only 2 slots we gave.
        h[16..20].copy_from_slice(&5u32.to_ne_bytes());
        h[20..24].copy_from_slice(&2u32.to_ne_bytes());
        let s = decode_full_info(&h, &sf, &tcp).unwrap();
        assert_eq!((s.total, s.subflows.len()), (5, 2));
        // Arrays cut short: the missing parts are absent, never a panic.
        let s = decode_full_info(&h, &sf[..300], &tcp[..100]).unwrap();
        assert_eq!(s.subflows.len(), 2);
        assert!(s.subflows[1].local.is_none());
        assert!(s.subflows[1].tcp.is_none());
        for cut in 0..h.len() {
            let _ = decode_full_info(&h[..cut], &sf, &tcp);
        }
        assert!(decode_full_info(&h[..20], &sf, &tcp).is_none());
    }

    #[test]
    fn a_32_bit_kernels_subflow_info_has_its_addresses_at_offset_4() {
        let (mut h, _, tcp) = full_info_fixture();
        h[8..12].copy_from_slice(&260u32.to_ne_bytes());
        h[12..16].copy_from_slice(&260u32.to_ne_bytes());
        let mut e = vec![0u8; 260];
        e[0..4].copy_from_slice(&7u32.to_ne_bytes());
        e[4..132].copy_from_slice(&sockaddr_in([192, 0, 2, 1], 1));
        e[132..260].copy_from_slice(&sockaddr_in([192, 0, 2, 2], 2));
        let mut sf = e.clone();
        sf.extend(e);
        let s = decode_full_info(&h, &sf, &tcp).unwrap();
        assert_eq!(s.subflows[0].local, Some("192.0.2.1:1".parse().unwrap()));
        assert_eq!(s.subflows[0].remote, Some("192.0.2.2:2".parse().unwrap()));
    }

    #[test]
    fn sockaddrs_of_both_families_and_others() {
        let v6: Ipv6Addr = "fd00:2::2".parse().unwrap();
        assert_eq!(
            decode_sockaddr(&sockaddr_in6(v6, 443)),
            Some(SocketAddr::new(v6.into(), 443))
        );
        let mut unix = sockaddr_in([1, 2, 3, 4], 5);
        unix[0..2].copy_from_slice(&1u16.to_ne_bytes());
        assert_eq!(decode_sockaddr(&unix), None);
        assert_eq!(decode_sockaddr(&[2, 0]), None);
    }

    #[test]
    fn subflow_addrs_and_tcpinfo_merge_by_position() {
        let mut addrs = vec![0u8; 16];
        for (at, v) in [(0, 16u32), (4, 2), (8, 256), (12, 256)] {
            addrs[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }
        for local in [[10, 11, 0, 1], [10, 12, 0, 1]] {
            addrs.extend(sockaddr_in(local, 1000));
            addrs.extend(sockaddr_in([10, 99, 0, 2], 6101));
        }
        let mut tcp = vec![0u8; 16];
        for (at, v) in [(0, 16u32), (4, 2), (8, 280), (12, 280)] {
            tcp[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }
        tcp.extend(tcp_info(1, 5, 6));
        tcp.extend(tcp_info(2, 0, 0));
        let s = decode_addrs_and_tcpinfo(&addrs, &tcp).unwrap();
        assert_eq!(s.source, SubflowSource::AddrsAndTcpInfo);
        assert_eq!(s.subflows.len(), 2);
        assert_eq!(s.subflows[1].local, Some("10.12.0.1:1000".parse().unwrap()));
        assert_eq!(s.subflows[1].tcp.unwrap().state, Some(2));
        // Without the tcp_info read, the addresses alone.
        let s = decode_addrs_and_tcpinfo(&addrs, &[]).unwrap();
        assert!(s.subflows.iter().all(|f| f.tcp.is_none()));
        // A kernel that reports more subflows than it wrote.
        addrs[4..8].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(
            decode_addrs_and_tcpinfo(&addrs, &[])
                .unwrap()
                .subflows
                .len(),
            2
        );
    }

    #[test]
    fn a_plain_tcp_socket_has_no_subflows_to_read() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        assert!(mptcp_subflows(&c).is_err());
    }

    #[test]
    fn a_loopback_mptcp_connection_has_its_initial_subflow() {
        use socket2::{Domain, Protocol, Socket, Type};
        let Ok(l) = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)) else {
            println!("skipped: this kernel refuses MPTCP sockets");
            return;
        };
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        l.bind(&any.into()).unwrap();
        l.listen(1).unwrap();
        let c = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).unwrap();
        c.connect(&l.local_addr().unwrap()).unwrap();
        let (_accepted, _) = l.accept().unwrap();
        let s = match mptcp_subflows(&c) {
            Ok(s) => s,
            Err(e) => {
                println!("skipped: no subflow socket options here: {e}");
                return;
            }
        };
        assert_eq!(s.total, 1);
        let first = s.subflows[0];
        assert_eq!(first.remote, l.local_addr().unwrap().as_socket());
        assert_eq!(first.local, c.local_addr().unwrap().as_socket());
        assert_eq!(first.tcp.and_then(|t| t.state), Some(1));
        // Both readers agree where both exist.
        if s.source == SubflowSource::FullInfo {
            let old = mptcp_addrs_and_tcpinfo(&c).unwrap();
            assert_eq!(old.subflows[0].local, first.local);
            assert!(old.info.is_some());
        }
    }
}
