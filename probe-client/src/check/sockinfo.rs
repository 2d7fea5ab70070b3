//! What the local kernel says about a connected socket: `TCP_IS_MPTCP` and
//! the SYN retransmissions in `TCP_INFO`.
//!
//! `TCP_INFO` is read into a byte buffer and decoded by offset (the layout
//! of `struct tcp_info` in `linux/tcp.h` only ever grows at the end), so the
//! decoding is pure and works the same on glibc and musl builds.
use std::os::fd::AsRawFd;

/// `TCP_IS_MPTCP` (linux/tcp.h): 1 on an MPTCP socket that did not fall back.
pub const TCP_IS_MPTCP: libc::c_int = 43;

/// Offset of `tcpi_total_retrans` (u32) in `struct tcp_info`: 8 bytes of u8
/// fields, then 23 u32 fields before it.
const TOTAL_RETRANS_OFFSET: usize = 100;

/// Reads an integer socket option; `None` when the kernel refuses it.
fn getsockopt_int(sock: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> Option<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(value)
}

/// `TCP_IS_MPTCP`: `Some(true)` on an MPTCP connection, `Some(false)` on a
/// socket that fell back to TCP (or a plain TCP socket), `None` when the
/// kernel has no such option (before 5.16, out-of-tree kernels).
pub fn is_mptcp(sock: &impl AsRawFd) -> Option<bool> {
    getsockopt_int(sock, libc::SOL_TCP, TCP_IS_MPTCP).map(|v| v == 1)
}

/// The raw `TCP_INFO` bytes as the kernel filled them.
pub fn tcp_info_bytes(sock: &impl AsRawFd) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 512];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is valid for `len` bytes; the kernel writes at most `len`
    // and stores the length it wrote in `len`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(buf)
}

/// `tcpi_total_retrans` from `TCP_INFO` bytes: every retransmission of the
/// connection so far. Read right after connect, that is the SYN
/// retransmissions (the kernel counts a retransmitted SYN there too).
/// `None` when the buffer is too short to hold the field.
pub fn total_retrans(info: &[u8]) -> Option<u32> {
    let field = info.get(TOTAL_RETRANS_OFFSET..TOTAL_RETRANS_OFFSET + 4)?;
    Some(u32::from_ne_bytes(field.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_retrans_is_read_at_its_offset() {
        let mut info = vec![0u8; 104];
        info[100..104].copy_from_slice(&3u32.to_ne_bytes());
        assert_eq!(total_retrans(&info), Some(3));
        for len in 0..104 {
            assert_eq!(total_retrans(&info[..len]), None, "len {len}");
        }
    }

    #[test]
    fn a_fresh_loopback_connection_has_no_retransmission() {
        // Loopback only: a real kernel fills TCP_INFO, and the offset above
        // must land on a zero retransmission count for a clean handshake
        // while the neighbouring fields (rto, mss) are not zero.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let info = tcp_info_bytes(&stream).expect("TCP_INFO");
        assert!(info.len() >= 104, "kernel gave {} bytes", info.len());
        assert_eq!(total_retrans(&info), Some(0));
        let rto = u32::from_ne_bytes(info[8..12].try_into().unwrap());
        assert!(rto > 0, "tcpi_rto should be set");
        assert_eq!(is_mptcp(&stream), Some(false));
    }
}
