//! The ring on the loopback of a network namespace each test creates (no
//! other traffic, so counts are exact), with UDP datagrams to a port of
//! our own. Needs root (a new namespace); skips, saying so, without it.
use super::*;
use crate::bpf::{Program, Target, ALU_AND_K, LDX_B_MSH, LD_B_ABS, LD_H_IND};
use std::net::UdpSocket;
use std::time::Instant;

const PORT: u16 = 9999;

/// IPv4 UDP datagrams to `port` only.
fn udp_to(port: u16) -> Vec<Insn> {
    let mut p = Program::new();
    let drop = p.label();
    p.op(LD_B_ABS, 0)
        .op(ALU_AND_K, 0xf0)
        .jeq(0x40, Target::Next, drop)
        .op(LD_B_ABS, 9)
        .jeq(17, Target::Next, drop)
        .op(LDX_B_MSH, 0)
        .op(LD_H_IND, 2)
        .jeq(u32::from(port), Target::Next, drop)
        .ret(65535)
        .place(drop)
        .ret(0);
    p.build().unwrap_or_default()
}

/// Runs `f` on a thread of its own in a new network namespace whose
/// loopback is up; `None` (skipped) when this process may not create one.
fn in_fresh_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    if !crate::process::is_root() {
        eprintln!("skipping: not root (needs a network namespace)");
        return None;
    }
    let t = std::thread::spawn(move || {
        // Per thread: only this thread (and what it spawns) moves.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip");
        assert!(up.success());
        f()
    });
    Some(t.join().expect("the namespace thread"))
}

fn options(filter: &[Insn], size: RingSize, ignore_outgoing: bool) -> PacketRingOptions<'_> {
    PacketRingOptions {
        filter,
        ifindex: Some(crate::iface::index_of("lo").unwrap()),
        ignore_outgoing,
        size,
        retire_timeout_ms: 1,
    }
}

/// Every frame handed over within `for_how_long`: (packet type,
/// timestamp, bytes).
fn drain(ring: &mut PacketRing, for_how_long: Duration) -> Vec<(PacketType, SystemTime, Vec<u8>)> {
    let end = Instant::now() + for_how_long;
    let mut got = Vec::new();
    loop {
        while let Some(block) = ring.next_block() {
            for f in block.frames() {
                got.push((f.packet_type, f.timestamp.unwrap(), f.bytes.to_vec()));
            }
        }
        let Some(left) = end.checked_duration_since(Instant::now()) else {
            return got;
        };
        ring.wait_readable(left).unwrap();
    }
}

fn sender() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn receives_filtered_packets_both_ways_with_timestamps() {
    in_fresh_netns(|| {
        let filter = udp_to(PORT);
        let size = RingSize::from_total(64 << 10).unwrap();
        let mut keeps = PacketRing::open(&options(&filter, size, false)).unwrap();
        let mut ignores = PacketRing::open(&options(&filter, size, true)).unwrap();
        let tx = sender();
        let before = SystemTime::now();
        tx.send_to(b"probe", ("127.0.0.1", PORT)).unwrap();
        tx.send_to(b"other", ("127.0.0.1", PORT + 1)).unwrap();
        let kept = drain(&mut keeps, Duration::from_millis(200));
        let after = SystemTime::now();
        // On loopback each packet is seen leaving and arriving.
        let mut types: Vec<_> = kept.iter().map(|k| k.0).collect();
        types.sort_by_key(|t| *t == PacketType::Host);
        assert_eq!(types, [PacketType::Outgoing, PacketType::Host], "{kept:?}");
        for (_, ts, bytes) in &kept {
            assert_eq!(bytes.len(), 20 + 8 + 5, "the whole IP packet");
            assert_eq!(bytes[0] >> 4, 4);
            assert!(bytes.ends_with(b"probe"));
            assert!(*ts >= before && *ts <= after, "kernel capture time");
        }
        let ignored = drain(&mut ignores, Duration::from_millis(50));
        assert_eq!(ignored.len(), 1);
        assert_eq!(ignored[0].0, PacketType::Host);
        let stats = keeps.statistics().unwrap();
        assert_eq!((stats.packets, stats.drops), (2, 0));
        assert_eq!(keeps.statistics().unwrap().packets, 0, "reset on read");
    });
}

#[test]
fn a_block_that_is_not_full_is_handed_over_by_the_retire_timer() {
    in_fresh_netns(|| {
        let filter = udp_to(PORT);
        let mut ring = PacketRing::open(&options(
            &filter,
            RingSize::from_total(1 << 20).unwrap(),
            true,
        ))
        .unwrap();
        assert!(ring.next_block().is_none(), "nothing yet");
        let tx = sender();
        let sent = Instant::now();
        tx.send_to(b"one", ("127.0.0.1", PORT)).unwrap();
        assert!(ring.wait_readable(Duration::from_secs(2)).unwrap());
        let waited = sent.elapsed();
        eprintln!("block handed over after {waited:?}");
        let block = ring.next_block().expect("retired by the timer");
        assert_eq!(block.packet_count(), 1);
        assert_eq!(block.frames().count(), 1);
        // One timer tick (HZ 100 at the slowest) plus scheduling.
        assert!(waited < Duration::from_millis(500), "{waited:?}");
    });
}

/// A tiny ring not read while 300 packets arrive: the kernel drops what
/// does not fit and counts it; what it kept is read across every block,
/// in order; and once the blocks are back the ring keeps receiving.
#[test]
fn a_full_ring_drops_and_counts_then_keeps_working() {
    in_fresh_netns(|| {
        let filter = udp_to(PORT);
        let size = RingSize::blocks(page_size(), 2).unwrap();
        let mut ring = PacketRing::open(&options(&filter, size, true)).unwrap();
        let tx = sender();
        let total = 300u32;
        for i in 0..total {
            tx.send_to(&i.to_be_bytes(), ("127.0.0.1", PORT)).unwrap();
        }
        std::thread::sleep(Duration::from_millis(30));
        let got = drain(&mut ring, Duration::from_millis(50));
        let stats = ring.statistics().unwrap();
        assert_eq!(stats.packets, total, "every packet passed the filter");
        assert!(stats.drops > 0, "{stats:?}");
        assert!(stats.freezes > 0, "{stats:?}");
        assert_eq!(got.len() as u32, stats.delivered(), "read = kept");
        let seqs: Vec<u32> = got
            .iter()
            .map(|(_, _, b)| u32::from_be_bytes(b[28..32].try_into().unwrap()))
            .collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first");
        assert_eq!(seqs[0], 0, "the first ones were kept");
        // Many blocks' worth, read as they come: nothing lost.
        let mut read = 0u32;
        for i in 0..total {
            tx.send_to(&i.to_be_bytes(), ("127.0.0.1", PORT)).unwrap();
            if i % 8 == 7 {
                std::thread::sleep(Duration::from_millis(2));
                read += drain(&mut ring, Duration::ZERO).len() as u32;
            }
        }
        read += drain(&mut ring, Duration::from_millis(100)).len() as u32;
        let stats = ring.statistics().unwrap();
        assert_eq!((read, stats.packets, stats.drops), (total, total, 0));
    });
}

#[test]
fn ring_geometry_from_a_total_size() {
    let page = page_size();
    assert_eq!(RingSize::from_total(page), None);
    let two = RingSize::from_total(2 * page).unwrap();
    assert_eq!((two.block_size(), two.block_count()), (page, 2));
    let big = RingSize::from_total(16 << 20).unwrap();
    assert_eq!(big.block_size(), MAX_BLOCK);
    assert_eq!(big.total(), 16 << 20);
    let odd = RingSize::from_total(100 * page + 5).unwrap();
    assert!(odd.block_size().is_power_of_two());
    assert!(odd.total() <= 100 * page && odd.block_count() >= 4);
    assert_eq!(RingSize::blocks(page + 1, 2), None);
    assert_eq!(RingSize::blocks(page, 0), None);
}

/// A block as the kernel lays it out: `frames` of (next offset, net
/// offset, snaplen), each frame's data filled with its index.
fn fake_block(first: u32, count: u32, frames: &[(usize, u32, u16, u32)]) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&count.to_ne_bytes());
    b[BLOCK_FIRST..BLOCK_FIRST + 4].copy_from_slice(&first.to_ne_bytes());
    for (i, &(at, next, net, snap)) in frames.iter().enumerate() {
        let put = |b: &mut Vec<u8>, off: usize, v: &[u8]| {
            b[at + off..at + off + v.len()].copy_from_slice(v)
        };
        put(
            &mut b,
            offset_of!(libc::tpacket3_hdr, tp_next_offset),
            &next.to_ne_bytes(),
        );
        put(
            &mut b,
            offset_of!(libc::tpacket3_hdr, tp_snaplen),
            &snap.to_ne_bytes(),
        );
        put(
            &mut b,
            offset_of!(libc::tpacket3_hdr, tp_len),
            &snap.to_ne_bytes(),
        );
        put(
            &mut b,
            offset_of!(libc::tpacket3_hdr, tp_net),
            &net.to_ne_bytes(),
        );
        put(
            &mut b,
            offset_of!(libc::tpacket3_hdr, tp_sec),
            &7u32.to_ne_bytes(),
        );
        put(
            &mut b,
            FRAME_SLL + offset_of!(libc::sockaddr_ll, sll_pkttype),
            &[4],
        );
        put(
            &mut b,
            FRAME_SLL + offset_of!(libc::sockaddr_ll, sll_ifindex),
            &1i32.to_ne_bytes(),
        );
        let data = at + usize::from(net);
        let end = (data + snap as usize).min(b.len());
        if data < end {
            b[data..end].fill(i as u8);
        }
    }
    b
}

fn walk(b: &[u8]) -> Vec<Frame<'_>> {
    Frames {
        block: b,
        at: crate::sockopt::u32_at(b, BLOCK_FIRST).unwrap() as usize,
        left: crate::sockopt::u32_at(b, BLOCK_NUM_PKTS).unwrap(),
    }
    .collect()
}

#[test]
fn frames_are_walked_by_their_next_offsets() {
    let b = fake_block(48, 2, &[(48, 160, 96, 40), (208, 0, 96, 20)]);
    let frames = walk(&b);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].bytes, &[0u8; 40][..]);
    assert_eq!(frames[1].bytes, &[1u8; 20][..]);
    assert_eq!(frames[1].packet_type, PacketType::Outgoing);
    assert_eq!(frames[1].ifindex, 1);
    assert_eq!(
        frames[0].timestamp,
        Some(std::time::UNIX_EPOCH + Duration::from_secs(7))
    );
}

/// Offsets and lengths that point outside the block end the walk; they
/// never make a slice reach past it.
#[test]
fn corrupt_offsets_end_the_walk_inside_the_block() {
    // The count claims more frames than the chain has.
    assert_eq!(walk(&fake_block(48, 9, &[(48, 0, 96, 10)])).len(), 1);
    // The data runs past the block.
    assert_eq!(walk(&fake_block(48, 1, &[(48, 0, 96, 8000)])).len(), 0);
    // The next frame's header would run past the block.
    assert_eq!(walk(&fake_block(48, 2, &[(48, 4060, 96, 10)])).len(), 1);
    // The first frame starts past the block.
    assert_eq!(walk(&fake_block(5000, 1, &[])).len(), 0);
    assert_eq!(walk(&fake_block(u32::MAX, 1, &[])).len(), 0);
}

proptest::proptest! {
    #[test]
    fn any_block_content_is_walked_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), first in 0u32..600, count in 0u32..64) {
        let mut b = bytes;
        b.resize(512, 0);
        b[BLOCK_NUM_PKTS..BLOCK_NUM_PKTS + 4].copy_from_slice(&count.to_ne_bytes());
        b[BLOCK_FIRST..BLOCK_FIRST + 4].copy_from_slice(&first.to_ne_bytes());
        let frames = walk(&b);
        proptest::prop_assert!(frames.len() <= count as usize);
    }
}

/// Opened with CAP_NET_RAW alone, as the packaged unit runs: in a child
/// process made by setpriv (non-root uid, every other capability gone).
#[test]
fn opens_with_cap_net_raw_only() {
    if std::env::var_os("NETSYS_RING_CHILD").is_some() {
        return;
    }
    if !crate::process::is_root() {
        eprintln!("skipping: not root");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all,+net_raw",
            "--ambient-caps=-all,+net_raw",
            "--bounding-set=-all,+net_raw",
        ])
        .arg(exe)
        .args([
            "--exact",
            "packet_ring::tests::child_with_cap_net_raw_only",
            "--ignored",
            "--nocapture",
        ])
        .env("NETSYS_RING_CHILD", "1")
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipping: no setpriv ({e})");
            return;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by opens_with_cap_net_raw_only in a CAP_NET_RAW-only child"]
fn child_with_cap_net_raw_only() {
    use caps::{CapSet, Capability};
    assert!(!crate::process::is_root());
    assert!(!caps::has_cap(None, CapSet::Effective, Capability::CAP_NET_ADMIN).unwrap());
    assert!(caps::has_cap(None, CapSet::Effective, Capability::CAP_NET_RAW).unwrap());
    let filter = udp_to(PORT);
    let mut ring = PacketRing::open(&options(
        &filter,
        RingSize::from_total(16 << 20).unwrap(),
        true,
    ))
    .unwrap();
    // The host's loopback (no namespace without privileges): a datagram
    // of our own is seen.
    let tx = sender();
    tx.send_to(b"unprivileged", ("127.0.0.1", PORT)).unwrap();
    let got = drain(&mut ring, Duration::from_millis(300));
    assert!(
        got.iter().any(|(_, _, b)| b.ends_with(b"unprivileged")),
        "{got:?}"
    );
}
