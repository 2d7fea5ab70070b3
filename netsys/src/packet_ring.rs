//! An AF_PACKET `SOCK_DGRAM` capture socket with a memory-mapped receive
//! ring (`PACKET_RX_RING`, TPACKET_V3): the echo server's SYN capture.
//!
//! Why a ring: a plain packet socket queues each packet as an skb charged
//! to the socket's receive buffer, and only CAP_NET_ADMIN may raise that
//! beyond `net.core.rmem_max` (SO_RCVBUFFORCE). The packaged server runs
//! with CAP_NET_RAW only, so under a SYN flood its default buffer (about
//! 200 KiB, a few hundred packets' worth of skbs) overflowed. A ring is
//! memory the kernel allocates at `PACKET_RX_RING` for any socket its
//! owner may open (CAP_NET_RAW), of the size asked for, not bounded by
//! rmem_max, and the kernel copies each packet straight into it: no skb is
//! queued, no system call per packet.
//!
//! TPACKET_V3 layout (linux/if_packet.h): the ring is `block_count` blocks
//! of `block_size` bytes. The kernel fills one block at a time with
//! variable-sized frames (a `tpacket3_hdr`, a `sockaddr_ll`, the packet
//! from its network header), then hands the whole block to user space by
//! setting `TP_STATUS_USER` in the block's status word: when the next
//! packet does not fit, or when the block's retire timer fires
//! ([`PacketRingOptions::retire_timeout_ms`]) with at least one packet in
//! it. User space reads the block and gives it back by writing
//! `TP_STATUS_KERNEL`. When every block is user-owned the kernel drops
//! packets and counts them (PACKET_STATISTICS).
//!
//! Setup order, so that no unfiltered packet is ever written: socket with
//! protocol 0 (receives nothing), filter, PACKET_VERSION, PACKET_RX_RING,
//! mmap, and only then bind with ETH_P_ALL.
//!
//! Memory safety: the mapping is shared with the kernel, which writes only
//! to blocks whose status is `TP_STATUS_KERNEL`. A [`Block`] exists only
//! for a block whose status was read (with acquire ordering) as
//! `TP_STATUS_USER`, so the kernel leaves its bytes alone until the
//! `Block` is dropped, which writes `TP_STATUS_KERNEL` back (release
//! ordering). Every offset and length the kernel wrote into a block is
//! checked against the block's size before it is used: a corrupt frame
//! ends the walk of its block, it cannot make a slice reach outside the
//! block.
use crate::bpf::Insn;
use crate::packet_socket::{attach_filter, bind_all_protocols, context, system_time, PacketType};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use socket2::{Domain, Socket, Type};
use std::io;
use std::marker::PhantomData;
use std::mem::{offset_of, size_of};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

/// The largest block: big enough that a flood fills it in a few ms (one
/// wake-up per block), small enough that a ring of a few MiB still has
/// many blocks to hand back and forth.
pub const MAX_BLOCK: usize = 128 << 10;

/// The ring's geometry: `block_count` blocks of `block_size` bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSize {
    block_size: usize,
    block_count: usize,
}

impl RingSize {
    /// The ring closest to `total` bytes (rounded down): blocks of a
    /// power-of-two number of pages (the kernel allocates each block as
    /// one such run), at most [`MAX_BLOCK`] and at most a quarter of the
    /// total when there is room for four pages, so the kernel has blocks to
    /// go on with while user space reads one. `None` below two pages.
    pub fn from_total(total: usize) -> Option<Self> {
        let page = page_size();
        if total < 2 * page {
            return None;
        }
        let mut block = page;
        while block * 2 <= MAX_BLOCK && block * 2 <= total / 4 {
            block *= 2;
        }
        Some(RingSize {
            block_size: block,
            block_count: total / block,
        })
    }

    /// `count` blocks of `size` bytes (a multiple of the page size).
    pub fn blocks(size: usize, count: usize) -> Option<Self> {
        let page = page_size();
        (size >= page && size % page == 0 && count >= 1).then_some(RingSize {
            block_size: size,
            block_count: count,
        })
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    pub fn block_count(&self) -> usize {
        self.block_count
    }

    /// Bytes of the whole ring.
    pub fn total(&self) -> usize {
        self.block_size * self.block_count
    }
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| usize::try_from(p).ok())
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// What to open.
#[derive(Debug, Clone, Copy)]
pub struct PacketRingOptions<'a> {
    /// Attached before the socket is bound (see the module documentation).
    pub filter: &'a [Insn],
    /// Receive on this interface only; `None`: every interface of the
    /// namespace.
    pub ifindex: Option<u32>,
    /// Leave this host's outgoing packets out (PACKET_IGNORE_OUTGOING,
    /// Linux 4.20+; callers that mind check [`Frame::packet_type`] too).
    pub ignore_outgoing: bool,
    pub size: RingSize,
    /// The longest a packet waits in a block that is not full before the
    /// kernel hands the block over (`tp_retire_blk_tov`, in ms, at least
    /// 1; the kernel rounds it up to whole timer ticks).
    pub retire_timeout_ms: u32,
}

/// The kernel's counters since the previous read (PACKET_STATISTICS on a
/// TPACKET_V3 socket, `struct tpacket_stats_v3`; reset on each read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RingStatistics {
    /// Packets that passed the filter, dropped ones included.
    pub packets: u32,
    /// Of those, dropped: no block was free.
    pub drops: u32,
    /// Times the ring froze (every block user-owned).
    pub freezes: u32,
}

impl RingStatistics {
    /// Packets written into the ring.
    pub fn delivered(&self) -> u32 {
        self.packets.saturating_sub(self.drops)
    }
}

/// One packet in a block, borrowed from the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The packet from its network header on, as far as the filter and the
    /// block kept it (`tp_snaplen`).
    pub bytes: &'a [u8],
    /// Its length on the wire (`tp_len`), at least `bytes.len()`.
    pub wire_len: usize,
    pub packet_type: PacketType,
    /// The interface it was received on or sent through.
    pub ifindex: u32,
    /// The kernel's capture time.
    pub timestamp: Option<SystemTime>,
}

/// An open, filtered, bound capture socket and its mapped ring.
#[derive(Debug)]
pub struct PacketRing {
    // Drop unmaps the ring; the socket closes after it (fields drop last).
    map: NonNull<u8>,
    map_len: usize,
    size: RingSize,
    /// The block to look at next: the kernel fills blocks in order.
    next: usize,
    socket: Socket,
}

// SAFETY: the mapping is owned by this value alone (no other handle to it
// exists), and the blocks are only read or handed back through `&mut
// self`; moving the value to another thread moves that ownership.
unsafe impl Send for PacketRing {}

/// The `tp_status` word of a block, at its start (tpacket_block_desc:
/// version, offset_to_priv, then the v1 header whose first field it is).
const BLOCK_STATUS: usize =
    offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, block_status);
const BLOCK_NUM_PKTS: usize =
    offset_of!(libc::tpacket_block_desc, hdr) + offset_of!(libc::tpacket_hdr_v1, num_pkts);
const BLOCK_FIRST: usize = offset_of!(libc::tpacket_block_desc, hdr)
    + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);
/// The `sockaddr_ll` after each frame header (TPACKET_ALIGN of its size).
const FRAME_SLL: usize = (size_of::<libc::tpacket3_hdr>() + libc::TPACKET_ALIGNMENT - 1)
    & !(libc::TPACKET_ALIGNMENT - 1);

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

impl PacketRing {
    /// Opens the socket and maps its ring in the calling thread's network
    /// namespace. Needs CAP_NET_RAW only (an error of kind
    /// `PermissionDenied` without it); the ring's memory is not bounded by
    /// `net.core.rmem_max`.
    pub fn open(options: &PacketRingOptions<'_>) -> io::Result<Self> {
        let size = options.size;
        let socket =
            Socket::new(Domain::PACKET, Type::DGRAM, None).map_err(context("socket(AF_PACKET)"))?;
        attach_filter(&socket, options.filter)?;
        if options.ignore_outgoing {
            let _ =
                crate::sockopt::set_int(&socket, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1);
        }
        let v3 = libc::c_int::try_from(libc::tpacket_versions::TPACKET_V3 as u32)
            .map_err(|_| invalid("TPACKET_V3"))?;
        crate::sockopt::set_int(&socket, libc::SOL_PACKET, libc::PACKET_VERSION, v3)
            .map_err(context("PACKET_VERSION"))?;
        request_ring(&socket, options)?;
        let map_len = size.total();
        let len = NonZeroUsize::new(map_len).ok_or_else(|| invalid("empty ring"))?;
        // SAFETY: a new shared mapping of the ring the kernel just
        // allocated for this socket, at an address the kernel chooses, so
        // it overlaps nothing of ours; the descriptor is borrowed for the
        // call. It is unmapped once, in Drop.
        let map = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &socket,
                0,
            )
        }
        .map_err(|e| context("mmap(PACKET_RX_RING)")(e.into()))?;
        let ring = PacketRing {
            map: map.cast(),
            map_len,
            size,
            next: 0,
            socket,
        };
        bind_all_protocols(ring.socket.as_raw_fd(), options.ifindex.unwrap_or(0))
            .map_err(context("bind(AF_PACKET)"))?;
        Ok(ring)
    }

    pub fn size(&self) -> RingSize {
        self.size
    }

    /// The next block the kernel has handed over, in ring order; `None`
    /// when it still owns that one. Dropping the block gives it back.
    pub fn next_block(&mut self) -> Option<Block<'_>> {
        let start = self.next.checked_mul(self.size.block_size)?;
        if start + self.size.block_size > self.map_len {
            return None;
        }
        // SAFETY: `start` plus a block is within the mapping (checked
        // above), so the pointer stays inside one allocation.
        let block = unsafe { self.map.as_ptr().add(start) };
        // SAFETY: the status word is 4-aligned (blocks are page-aligned
        // and the offset is 8) and inside the block; the kernel writes it
        // concurrently only as a whole u32, which an atomic load tolerates.
        let status = unsafe { AtomicU32::from_ptr(block.add(BLOCK_STATUS).cast()) };
        if status.load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
            return None;
        }
        self.next = (self.next + 1) % self.size.block_count;
        Some(Block {
            start: block,
            len: self.size.block_size,
            _ring: PhantomData,
        })
    }

    /// The kernel's counters since the previous call.
    pub fn statistics(&self) -> io::Result<RingStatistics> {
        let mut raw = [0u8; size_of::<libc::tpacket_stats_v3>()];
        let n = crate::sockopt::getsockopt_bytes(
            &self.socket,
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            &mut raw,
        )
        .map_err(context("PACKET_STATISTICS"))?;
        let word = |at: usize| crate::sockopt::u32_at(&raw, at);
        match (
            n == raw.len(),
            word(offset_of!(libc::tpacket_stats_v3, tp_packets)),
            word(offset_of!(libc::tpacket_stats_v3, tp_drops)),
            word(offset_of!(libc::tpacket_stats_v3, tp_freeze_q_cnt)),
        ) {
            (true, Some(packets), Some(drops), Some(freezes)) => Ok(RingStatistics {
                packets,
                drops,
                freezes,
            }),
            _ => Err(context("PACKET_STATISTICS")(io::Error::other(format!(
                "the kernel returned {n} bytes, expected {}",
                raw.len()
            )))),
        }
    }

    /// Waits until the kernel has handed over a block or `timeout` passes:
    /// true when one may be ready. A signal counts as ready (the caller
    /// looks, finds nothing, and waits again).
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        use nix::poll::{ppoll, PollFd, PollFlags};
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match ppoll(&mut fds, Some(timeout.into()), None) {
            Ok(n) => Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => Ok(true),
            Err(e) => Err(context("ppoll")(e.into())),
        }
    }
}

/// Asks the kernel for the ring (PACKET_RX_RING with a `tpacket_req3`).
fn request_ring(socket: &Socket, options: &PacketRingOptions<'_>) -> io::Result<()> {
    let size = options.size;
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| invalid("ring too large"));
    // V3 places frames itself; the frame fields only have to describe the
    // blocks consistently (frames per block times blocks).
    let frame_size = 2048usize.min(size.block_size);
    let frames_per_block = size.block_size / frame_size;
    let req = libc::tpacket_req3 {
        tp_block_size: u32_of(size.block_size)?,
        tp_block_nr: u32_of(size.block_count)?,
        tp_frame_size: u32_of(frame_size)?,
        tp_frame_nr: u32_of(frames_per_block * size.block_count)?,
        tp_retire_blk_tov: options.retire_timeout_ms.max(1),
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    let len = libc::socklen_t::try_from(size_of::<libc::tpacket_req3>())
        .map_err(|_| invalid("tpacket_req3"))?;
    // SAFETY: `req` is a live tpacket_req3 of `len` bytes, read by the
    // kernel during the call only; the descriptor is borrowed for the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_RX_RING,
            (&req as *const libc::tpacket_req3).cast(),
            len,
        )
    };
    if rc < 0 {
        return Err(context("PACKET_RX_RING")(io::Error::last_os_error()));
    }
    Ok(())
}

impl Drop for PacketRing {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, of `map_len` bytes; no Block
        // borrows it any more (a Block borrows the ring mutably).
        let _ = unsafe { munmap(self.map.cast(), self.map_len) };
    }
}

impl AsFd for PacketRing {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for PacketRing {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// A block the kernel handed over; given back when dropped.
#[derive(Debug)]
pub struct Block<'a> {
    start: *mut u8,
    len: usize,
    _ring: PhantomData<&'a mut PacketRing>,
}

impl Block<'_> {
    /// The block's bytes. The kernel does not write a user-owned block, so
    /// they stay as they are while borrowed.
    fn bytes(&self) -> &[u8] {
        // SAFETY: `start..start + len` is one block inside the mapping,
        // user-owned until `self` is dropped (which needs the borrow
        // returned here to have ended): nothing writes it meanwhile.
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }

    /// How many packets the kernel says the block holds.
    pub fn packet_count(&self) -> u32 {
        crate::sockopt::u32_at(self.bytes(), BLOCK_NUM_PKTS).unwrap_or(0)
    }

    /// The block's packets, oldest first. The walk ends early at the first
    /// frame whose offsets do not fit in the block.
    pub fn frames(&self) -> Frames<'_> {
        let bytes = self.bytes();
        Frames {
            left: crate::sockopt::u32_at(bytes, BLOCK_NUM_PKTS).unwrap_or(0),
            at: crate::sockopt::u32_at(bytes, BLOCK_FIRST)
                .and_then(|o| usize::try_from(o).ok())
                .unwrap_or(usize::MAX),
            block: bytes,
        }
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        // SAFETY: the status word of this block (4-aligned, inside it);
        // no borrow of the block's bytes outlives `&self` methods, so none
        // is alive here. After the release store the kernel may reuse the
        // block; `self` is not used again.
        let status = unsafe { AtomicU32::from_ptr(self.start.add(BLOCK_STATUS).cast()) };
        status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

/// The frames of one block (see [`Block::frames`]).
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    block: &'a [u8],
    at: usize,
    left: u32,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    fn next(&mut self) -> Option<Frame<'a>> {
        if self.left == 0 {
            return None;
        }
        match parse_frame(self.block, self.at) {
            Some((frame, next)) => {
                self.left -= 1;
                // The last frame has no successor (tp_next_offset 0): any
                // count the header still claims is not to be trusted.
                match next {
                    Some(n) => self.at = n,
                    None => self.left = 0,
                }
                Some(frame)
            }
            None => {
                self.left = 0;
                None
            }
        }
    }
}

/// The frame at `at` in `block`, and where the next one starts: every
/// offset and length checked against the block.
fn parse_frame(block: &[u8], at: usize) -> Option<(Frame<'_>, Option<usize>)> {
    use libc::tpacket3_hdr as H;
    let header = block.get(at..at.checked_add(FRAME_SLL + size_of::<libc::sockaddr_ll>())?)?;
    let u32_at = |off: usize| crate::sockopt::u32_at(header, off);
    let u16_at = |off: usize| {
        header
            .get(off..off + 2)
            .and_then(|b| b.try_into().ok())
            .map(u16::from_ne_bytes)
    };
    let next = u32_at(offset_of!(H, tp_next_offset))?;
    let snaplen = usize::try_from(u32_at(offset_of!(H, tp_snaplen))?).ok()?;
    let wire_len = usize::try_from(u32_at(offset_of!(H, tp_len))?).ok()?;
    let net = usize::from(u16_at(offset_of!(H, tp_net))?);
    let secs = u32_at(offset_of!(H, tp_sec))?;
    let nanos = u32_at(offset_of!(H, tp_nsec))?;
    let sll = FRAME_SLL;
    let pkttype = *header.get(sll + offset_of!(libc::sockaddr_ll, sll_pkttype))?;
    let ifindex = header
        .get(sll + offset_of!(libc::sockaddr_ll, sll_ifindex)..)
        .and_then(|b| b.get(..4))
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)?;
    let data_start = at.checked_add(net)?;
    let bytes = block.get(data_start..data_start.checked_add(snaplen)?)?;
    let following = match usize::try_from(next).ok()? {
        0 => None,
        n => Some(at.checked_add(n)?),
    };
    Some((
        Frame {
            bytes,
            wire_len: wire_len.max(snaplen),
            packet_type: PacketType::from_raw(pkttype),
            ifindex: u32::try_from(ifindex).unwrap_or(0),
            timestamp: system_time(i64::from(secs), i64::from(nanos)),
        },
        following,
    ))
}

#[cfg(test)]
mod tests;
