//! The echo server under attack (issue 12), on real kernels in namespaces:
//! a victim, an attacker and the server behind one router
//! ([`lab::attack::AttackLab`]). Each attack is bounded in count and time
//! and stops by itself; all traffic stays inside the namespaces the test
//! created. Without root every test prints why and skips.
//!
//! The full-size attacks and their figures are `bench/attack.sh`.
#![forbid(unsafe_code)]
use lab::attack::{
    echo_check, hello, linux_like_syn, AttackLab, CheckOutcome, Holders, Spoofer, PORT,
};
use lab::echo_server::InProcessServer;
use lab::netns;
use netsys::raw_send::{RawSender, SenderOptions};
use packet::echo::{ProbeAnswer, ServerMessage};
use probe_server::server::Config;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WATCHED: u16 = 6200;

fn config() -> Config {
    Config {
        ports: vec![PORT],
        watch: vec![WATCHED],
        ..Config::default()
    }
}

/// A TCP socket bound to a free port of `ip`, not listening: the port is
/// ours (the kernel answers SYN/ACKs to it with a RST, as for a client's
/// crafted probes) until it is dropped.
fn reserve(ip: IpAddr) -> (Socket, u16) {
    let s = Socket::new(
        Domain::for_address(SocketAddr::new(ip, 0)),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&SockAddr::from(SocketAddr::new(ip, 0))).unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    (s, port)
}

/// Sends crafted SYNs from the calling thread's namespace.
fn send(packets: &[Vec<u8>]) {
    let sender = RawSender::open(&SenderOptions {
        ipv4: true,
        ..SenderOptions::default()
    })
    .unwrap();
    for p in packets {
        sender.send(p).unwrap();
    }
}

fn query(stream: &TcpStream, seqs: &[u32]) -> ProbeAnswer {
    let line = format!("{{\"type\":\"query\",\"version\":1,\"seqs\":{seqs:?}}}\n");
    stream
        .try_clone()
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();
    let mut answer = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut answer)
        .unwrap();
    match serde_json::from_str(&answer).unwrap() {
        ServerMessage::Answer(a) => a,
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// Point 1: 64 connections from 8 addresses and 64 from 64 addresses of one
/// IPv6 /64, each trickling a byte every 0.5 s (the idle timeout is 2 s),
/// against 32 slots: at least 19 of 20 checks from elsewhere still get
/// their report.
#[test]
fn connections_held_open_do_not_lock_out_checks() {
    if netns::skip("connections_held_open_do_not_lock_out_checks") {
        return;
    }
    let lab = AttackLab::new("ho").unwrap();
    let v4 = lab.attacker_v4(8).unwrap();
    let v6 = lab.attacker_v6(64).unwrap();
    let _srv = InProcessServer::start(
        &lab.server,
        Config {
            max_connections: 32,
            idle_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(10),
            ..config()
        },
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let holders = [
        Holders {
            server: lab.server(),
            sources: v4,
            per_source: 8,
            interval: Duration::from_millis(500),
            duration: Duration::from_secs(25),
        },
        Holders {
            server: SocketAddr::from((lab.server_addr6, PORT)),
            sources: v6,
            per_source: 1,
            interval: Duration::from_millis(500),
            duration: Duration::from_secs(25),
        },
    ];
    let attacks: Vec<_> = holders
        .into_iter()
        .map(|h| {
            let stop = stop.clone();
            lab.attacker.spawn_thread(move || h.run(&stop)).unwrap()
        })
        .collect();
    // Let the attack take every slot first.
    std::thread::sleep(Duration::from_millis(1500));
    let server = lab.server();
    let outcomes = lab
        .victim
        .run(move || {
            (0..20)
                .map(|_| {
                    let o = echo_check(server, None, Duration::from_secs(5));
                    std::thread::sleep(Duration::from_millis(250));
                    o
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let stats: Vec<_> = attacks
        .into_iter()
        .map(|a| a.join().unwrap().unwrap())
        .collect();
    let served = outcomes.iter().filter(|o| o.report().is_some()).count();
    let not_served: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            CheckOutcome::Report(_) => None,
            CheckOutcome::Refused(code) => Some(code.clone()),
            CheckOutcome::Failed(why) => Some(why.clone()),
        })
        .collect();
    assert!(
        stats.iter().map(|s| s.max_open).sum::<usize>() >= 64,
        "the attack never held the server full: {stats:?}"
    );
    assert!(
        served >= 19,
        "{served} of 20 checks served; the others: {not_served:?}; attack {stats:?}"
    );
}

/// Point 2: SYNs sent in the client's name on its own 4-tuple, after it
/// connected and before its hello, never become its reported SYN: with
/// NOPs where MP_CAPABLE was on a clean path, nor with MP_CAPABLE on a
/// path that strips it.
#[test]
fn syns_sent_in_the_clients_name_do_not_replace_its_syn() {
    if netns::skip("syns_sent_in_the_clients_name_do_not_replace_its_syn") {
        return;
    }
    if !netns::have("iptables") {
        println!("skipped syns_sent_in_the_clients_name_do_not_replace_its_syn: no iptables");
        return;
    }
    let lab = AttackLab::new("sp").unwrap();
    let _srv = InProcessServer::start(&lab.server, config()).unwrap();
    let (server, victim) = (lab.server(), lab.victim_addr);
    let spoofed_check = |mp_capable: bool| {
        let stream = lab
            .victim
            .run(move || {
                let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).unwrap();
                s.connect_timeout(&SockAddr::from(server), Duration::from_secs(5))
                    .unwrap();
                TcpStream::from(s)
            })
            .unwrap();
        let port = stream.local_addr().unwrap().port();
        let spoofer = Spoofer {
            victim: IpAddr::V4(victim),
            server: server.ip(),
            dport: PORT,
            ports: port..=port,
            mp_capable,
            pps: 1000,
            duration: Duration::from_secs(2),
            max_packets: 20,
        };
        let never = AtomicBool::new(false);
        let sent = lab
            .attacker
            .run(move || spoofer.run(&never))
            .unwrap()
            .unwrap();
        assert_eq!(sent, 20);
        // Time for the capture to read them all (they would replace the
        // SYN as they arrive).
        std::thread::sleep(Duration::from_millis(300));
        match lab
            .victim
            .run(move || hello(stream, Duration::from_secs(5)))
            .unwrap()
        {
            CheckOutcome::Report(r) => *r,
            other => panic!("no report: {other:?}"),
        }
    };
    let clean = spoofed_check(false);
    assert!(
        lab::attack::syn_is_own_mptcp(&clean),
        "a SYN sent in the client's name was reported: {:?}",
        clean.syn
    );
    assert!(clean.connection.mptcp);
    lab.strip_mp_capable_from_victim().unwrap();
    let stripped = spoofed_check(true);
    let syn = stripped.syn.as_ref().expect("SYN captured");
    assert!(
        syn.mp_capable.is_none(),
        "an echo of MP_CAPABLE sent in the client's name was reported on a stripping path"
    );
    assert_eq!(
        stripped.syn_ack.as_ref().map(|a| a.ack),
        Some(syn.seq.wrapping_add(1))
    );
}

/// Point 2, without an attacker: a kernel connection from the port an
/// earlier crafted probe (a plain SYN, answered by this host) used, while
/// the capture is behind, must report its own SYN, not the probe's. The
/// capture is held behind by holding the watched ports' store while a SYN
/// to a watched port is next in its queue: the capture thread waits, and
/// everything captured after that SYN with it.
#[test]
fn a_reused_port_reports_the_connections_own_syn() {
    if netns::skip("a_reused_port_reports_the_connections_own_syn") {
        return;
    }
    let lab = AttackLab::new("ru").unwrap();
    let srv = InProcessServer::start(&lab.server, config()).unwrap();
    let (server, victim) = (lab.server(), lab.victim_addr);
    let probe_port = lab
        .victim
        .run(move || {
            let (reserved, port) = reserve(IpAddr::V4(victim));
            send(&[linux_like_syn(
                IpAddr::V4(victim),
                server.ip(),
                port,
                PORT,
                0x5eed_0001,
                false,
            )]);
            std::thread::sleep(Duration::from_millis(200));
            drop(reserved);
            port
        })
        .unwrap();
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let watched = srv.shared.watched.clone();
    let holder = std::thread::spawn(move || {
        let _guard = watched.lock().unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(700));
    });
    locked.recv().unwrap();
    let stall = lab
        .attacker
        .run(move || {
            let one = Spoofer {
                victim: IpAddr::from([10, 3, 0, 1]),
                server: server.ip(),
                dport: WATCHED,
                ports: 40000..=40000,
                mp_capable: true,
                pps: 1000,
                duration: Duration::from_secs(1),
                max_packets: 1,
            };
            one.run(&AtomicBool::new(false))
        })
        .unwrap()
        .unwrap();
    assert_eq!(stall, 1);
    std::thread::sleep(Duration::from_millis(50));
    let source = SocketAddr::from((victim, probe_port));
    let outcome = lab
        .victim
        .run(move || echo_check(server, Some(source), Duration::from_secs(5)))
        .unwrap();
    holder.join().unwrap();
    let report = outcome
        .report()
        .unwrap_or_else(|| panic!("no report: {outcome:?}"));
    assert_eq!(report.peer.port, probe_port, "the port was not reused");
    assert!(
        lab::attack::syn_is_own_mptcp(report),
        "the earlier probe's SYN was reported: {:?} {:?}",
        report.syn.as_ref().map(|s| (s.seq, s.mp_capable)),
        report.warnings
    );
}

/// The victim's echo connection, then three crafted probes (MP_CAPABLE
/// SYNs with `seqs`) from ports it holds, then `max_packets` spoofed SYNs
/// in its name over `flood_ports`; the server's answer to the query for
/// the probes.
fn probes_after_a_flood(
    lab: &AttackLab,
    seqs: [u32; 3],
    flood_ports: std::ops::RangeInclusive<u16>,
    max_packets: u64,
) -> ProbeAnswer {
    let (server, victim) = (lab.server(), lab.victim_addr);
    let (stream, reserved) = lab
        .victim
        .run(move || {
            let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::MPTCP)).unwrap();
            s.connect_timeout(&SockAddr::from(server), Duration::from_secs(5))
                .unwrap();
            let stream = TcpStream::from(s);
            match hello(stream.try_clone().unwrap(), Duration::from_secs(10)) {
                CheckOutcome::Report(_) => {}
                other => panic!("no report: {other:?}"),
            }
            let ports: Vec<(Socket, u16)> = (0..3).map(|_| reserve(IpAddr::V4(victim))).collect();
            let probes: Vec<Vec<u8>> = ports
                .iter()
                .zip(seqs)
                .map(|((_, port), seq)| {
                    linux_like_syn(IpAddr::V4(victim), server.ip(), *port, PORT, seq, true)
                })
                .collect();
            send(&probes);
            (stream, ports)
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let flood = Spoofer {
        victim: IpAddr::V4(victim),
        server: server.ip(),
        dport: PORT,
        ports: flood_ports,
        mp_capable: false,
        pps: 20_000,
        duration: Duration::from_secs(5),
        max_packets,
    };
    let never = AtomicBool::new(false);
    let sent = lab
        .attacker
        .run(move || flood.run(&never))
        .unwrap()
        .unwrap();
    assert_eq!(sent, max_packets);
    std::thread::sleep(Duration::from_millis(300));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let answer = query(&stream, &seqs);
    drop(reserved);
    answer
}

/// Point 2, probes: a flood in the victim's name over 64 ports (each port
/// many times) between its crafted probes and its query must not evict
/// the probes. The victim does what a check does: its connection and
/// report first, then the probes, then the query on that connection.
#[test]
fn a_flood_in_the_victims_name_leaves_its_probes() {
    if netns::skip("a_flood_in_the_victims_name_leaves_its_probes") {
        return;
    }
    let lab = AttackLab::new("pf").unwrap();
    let _srv = InProcessServer::start(&lab.server, config()).unwrap();
    let seqs = [0x7070_0001u32, 0x7070_0002, 0x7070_0003];
    let answer = probes_after_a_flood(&lab, seqs, 50_000..=50_063, 1024);
    let got: Vec<u32> = answer.observations.iter().map(|o| o.syn.seq).collect();
    assert_eq!(
        got, seqs,
        "probes evicted by the flood in the victim's name"
    );
    assert!(answer.observations.iter().all(|o| o.syn_ack.is_some()));
}

/// Point 2, the limit: a flood in the victim's name over more ports than
/// its share of the store holds evicts its probes. The answer then says
/// that they arrived and were displaced, so the client does not read
/// their absence as "never reached the server".
#[test]
fn probes_evicted_by_a_wide_flood_in_the_victims_name_are_said_displaced() {
    if netns::skip("probes_evicted_by_a_wide_flood_in_the_victims_name_are_said_displaced") {
        return;
    }
    let lab = AttackLab::new("pd").unwrap();
    let mut cfg = config();
    cfg.store.per_source = 32;
    let _srv = InProcessServer::start(&lab.server, cfg).unwrap();
    let seqs = [0x7171_0001u32, 0x7171_0002, 0x7171_0003];
    // 512 SYNs on 512 ports: every one a new flow, so the share of 32
    // goes oldest first, the probes with it.
    let answer = probes_after_a_flood(&lab, seqs, 50_000..=50_511, 512);
    assert!(answer.observations.is_empty(), "{answer:?}");
    assert_eq!(answer.displaced, 3, "{answer:?}");
    assert!(
        answer.warnings.iter().any(|w| w.contains("evicted")),
        "{:?}",
        answer.warnings
    );
}

/// The report's drop warning, if any.
fn drop_warning(r: &packet::echo::EchoReport) -> Option<&String> {
    r.warnings
        .iter()
        .find(|w| w.starts_with("the capture dropped"))
}

fn victim_check(lab: &AttackLab) -> packet::echo::EchoReport {
    let server = lab.server();
    match lab
        .victim
        .run(move || echo_check(server, None, Duration::from_secs(10)))
        .unwrap()
    {
        CheckOutcome::Report(r) => *r,
        other => panic!("no report: {other:?}"),
    }
}

/// Point 3: packets the capture ring had no room for are counted, and
/// every report made while it dropped says how many; reports made later
/// do not. The drops are made certain with a tiny ring (four pages) and a
/// capture thread held up (the watched ports' store locked, as in
/// `a_reused_port_reports_the_connections_own_syn`) while 400 SYNs to a
/// watched port arrive.
#[test]
fn capture_drops_are_counted_in_every_report_of_their_window() {
    if netns::skip("capture_drops_are_counted_in_every_report_of_their_window") {
        return;
    }
    let lab = AttackLab::new("cd").unwrap();
    let srv = InProcessServer::start(
        &lab.server,
        Config {
            capture_ring: 16 << 10,
            ..config()
        },
    )
    .unwrap();
    let before = victim_check(&lab);
    assert!(lab::attack::syn_is_own_mptcp(&before), "{:?}", before.syn);
    assert_eq!(drop_warning(&before), None, "{:?}", before.warnings);
    let flood = Spoofer {
        victim: IpAddr::V4(lab.victim_addr),
        server: lab.server().ip(),
        dport: WATCHED,
        ports: 20_000..=29_999,
        mp_capable: false,
        pps: 1_000_000,
        duration: Duration::from_secs(5),
        max_packets: 400,
    };
    let sent = {
        let _held = srv.shared.watched.lock().unwrap();
        let never = AtomicBool::new(false);
        let sent = lab
            .attacker
            .run(move || flood.run(&never))
            .unwrap()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        sent
    };
    assert_eq!(sent, 400);
    // Time to read the ring and hand its blocks back: the check's SYN
    // would be dropped too otherwise (and its report would say so).
    std::thread::sleep(Duration::from_millis(100));
    let during = victim_check(&lab);
    let drops = srv.shared.capture.kernel_drops.load(Ordering::Relaxed);
    assert!(drops > 0, "a 16 KiB ring held up cannot keep 400 SYNs");
    let warning = drop_warning(&during).expect("the drops are in the report");
    assert!(
        warning.contains(&format!("dropped {drops} packets")),
        "{warning}"
    );
    assert!(
        lab::attack::syn_is_own_mptcp(&during),
        "the check's own SYN came after the drops: {:?}",
        during.syn
    );
    // A query's answer says so too: a crafted probe missing from it may
    // be among the drops, which the client must not read as "never
    // arrived".
    let server = lab.server();
    let answer = lab
        .victim
        .run(move || {
            let s = TcpStream::connect(server).unwrap();
            s.try_clone()
                .unwrap()
                .write_all(b"{\"type\":\"hello\",\"version\":1,\"client\":\"t\"}\n")
                .unwrap();
            let mut report = String::new();
            BufReader::new(s.try_clone().unwrap())
                .read_line(&mut report)
                .unwrap();
            query(&s, &[1])
        })
        .unwrap();
    assert_eq!(answer.capture_drops, drops, "{answer:?}");
    assert!(
        answer.warnings.len() == 1
            && answer.warnings[0].contains(&format!("dropped {drops} packets")),
        "{:?}",
        answer.warnings
    );
    // Outside the window (from 1 s before the accept on): no warning.
    std::thread::sleep(Duration::from_millis(1500));
    let after = victim_check(&lab);
    assert_eq!(drop_warning(&after), None, "{:?}", after.warnings);
    assert!(lab::attack::syn_is_own_mptcp(&after));
}

/// Point 3 with the default ring: a spoofed SYN flood to the listening
/// port (bounded: 60,000 SYNs, 3 s) while checks run; every check gets
/// its own SYN and no packet is dropped.
#[test]
fn a_spoofed_syn_flood_leaves_reports_correct_with_the_default_ring() {
    if netns::skip("a_spoofed_syn_flood_leaves_reports_correct_with_the_default_ring") {
        return;
    }
    let lab = AttackLab::new("cr").unwrap();
    let srv = InProcessServer::start(&lab.server, config()).unwrap();
    let flood = Spoofer {
        victim: IpAddr::V4(lab.victim_addr),
        server: lab.server().ip(),
        dport: PORT,
        ports: 20_000..=29_999,
        mp_capable: false,
        pps: 20_000,
        duration: Duration::from_secs(3),
        max_packets: 60_000,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        lab.attacker.spawn_thread(move || flood.run(&stop)).unwrap()
    };
    std::thread::sleep(Duration::from_millis(200));
    let mut reports = Vec::new();
    for _ in 0..10 {
        reports.push(victim_check(&lab));
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let sent = attacker.join().unwrap().unwrap().unwrap();
    assert!(sent > 1000, "the flood ran ({sent} SYNs)");
    for r in &reports {
        assert!(lab::attack::syn_is_own_mptcp(r), "{:?}", r.syn);
        assert_eq!(drop_warning(r), None, "{:?}", r.warnings);
    }
    assert_eq!(srv.shared.capture.kernel_drops.load(Ordering::Relaxed), 0);
    assert!(srv.shared.capture.ring_bytes.load(Ordering::Relaxed) > 0);
}
