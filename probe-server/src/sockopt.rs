//! What the kernel says about an accepted socket: MPTCP or not.
use std::os::fd::RawFd;

const SOL_TCP: libc::c_int = 6;
const TCP_IS_MPTCP: libc::c_int = 43;
const SOL_MPTCP: libc::c_int = 284;
const MPTCP_INFO: libc::c_int = 1;
/// Offset of `mptcpi_flags` in `struct mptcp_info` (six u8 counters, then
/// the u32 flags, aligned).
const MPTCP_INFO_FLAGS_OFFSET: usize = 8;

/// The kernel's view of one accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MptcpState {
    /// `TCP_IS_MPTCP` read 1: an MPTCP socket that did not fall back.
    pub mptcp: bool,
    /// `mptcpi_flags` of MPTCP_INFO, when the kernel gave it.
    pub info_flags: Option<u32>,
}

fn getsockopt(fd: RawFd, level: libc::c_int, name: libc::c_int, buf: &mut [u8]) -> Option<usize> {
    let mut len = libc::socklen_t::try_from(buf.len()).ok()?;
    // SAFETY: buf is writable for len bytes; the kernel writes at most len.
    let rc = unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    (rc == 0).then_some(len as usize)
}

/// Reads `TCP_IS_MPTCP` and `MPTCP_INFO` of a connected socket.
pub fn mptcp_state(fd: RawFd) -> MptcpState {
    let mut v = [0u8; 4];
    let mptcp = getsockopt(fd, SOL_TCP, TCP_IS_MPTCP, &mut v)
        .filter(|&n| n >= 4)
        .map(|_| i32::from_ne_bytes(v) != 0)
        .unwrap_or(false);
    let mut info = [0u8; 256];
    let info_flags = getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mut info)
        .filter(|&n| n >= MPTCP_INFO_FLAGS_OFFSET + 4)
        .map(|_| {
            u32::from_ne_bytes([
                info[MPTCP_INFO_FLAGS_OFFSET],
                info[MPTCP_INFO_FLAGS_OFFSET + 1],
                info[MPTCP_INFO_FLAGS_OFFSET + 2],
                info[MPTCP_INFO_FLAGS_OFFSET + 3],
            ])
        });
    MptcpState { mptcp, info_flags }
}
