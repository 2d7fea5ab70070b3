//! The echo server in network namespaces, with real kernels (issue 3).
//!
//! The server runs in-process: `probe_server::server::run` on a thread that
//! entered the server namespace, so every socket it opens (listeners, the
//! AF_PACKET capture, netlink) belongs to that namespace. That is the same
//! code the binary runs (the binary only adds argument parsing and the
//! privilege drop); spawning `target/debug/mptcp-probe-server` instead would
//! need a nested `cargo build` that blocks on the outer `cargo test`'s build
//! lock. Clients run on threads inside the client namespace, or as `curl`
//! through `ip netns exec`. Without root every test prints why and skips.
#![forbid(unsafe_code)]
use lab::echo_server::InProcessServer;
use lab::netns::{self, Lab, Netns};
use packet::echo::{EchoReport, ProbeAnswer, ServerMessage};
use probe_server::server::Config;
use probe_server::store::StoreLimits;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Duration;

const PORT: u16 = 6101;
const WATCHED: u16 = 6200;

/// The echo server on a thread inside the server namespace; stopped on drop.
fn start_server(ns: &Netns, config: Config) -> InProcessServer {
    InProcessServer::start(ns, config).expect("echo server")
}

fn config() -> Config {
    Config {
        ports: vec![PORT],
        watch: vec![WATCHED],
        ..Config::default()
    }
}

/// Connects (MPTCP or TCP, optionally from a given source address).
fn connect(server: Ipv4Addr, mptcp: bool, from: Option<Ipv4Addr>) -> TcpStream {
    let proto = if mptcp {
        Protocol::MPTCP
    } else {
        Protocol::TCP
    };
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(proto)).expect("socket");
    if let Some(a) = from {
        s.bind(&SockAddr::from(SocketAddrV4::new(a, 0)))
            .expect("bind");
    }
    s.connect_timeout(
        &SockAddr::from(SocketAddrV4::new(server, PORT)),
        Duration::from_secs(5),
    )
    .expect("connect");
    let t: TcpStream = s.into();
    t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    t
}

fn read_msg(r: &mut BufReader<TcpStream>) -> ServerMessage {
    let mut line = String::new();
    r.read_line(&mut line).expect("read line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
}

fn hello(stream: &TcpStream) -> (BufReader<TcpStream>, EchoReport) {
    let mut w = stream.try_clone().unwrap();
    w.write_all(b"{\"type\":\"hello\",\"version\":1,\"client\":\"netns-test\"}\n")
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    match read_msg(&mut r) {
        ServerMessage::Report(rep) => (r, *rep),
        other => panic!("expected a report, got {other:?}"),
    }
}

fn check(server: Ipv4Addr, mptcp: bool) -> EchoReport {
    let s = connect(server, mptcp, None);
    hello(&s).1
}

/// TCP_IS_MPTCP on the client side.
fn is_mptcp(s: &TcpStream) -> bool {
    netsys::sockopt::tcp_is_mptcp(s).unwrap_or(false)
}

fn skip(name: &str) -> bool {
    netns::skip(name)
}

#[test]
fn mptcp_and_tcp_connections_get_true_reports() {
    if skip("mptcp_and_tcp_connections_get_true_reports") {
        return;
    }
    let lab = Lab::direct("mt").unwrap();
    let _srv = start_server(&lab.server, config());
    let addr = lab.server_addr;
    let (m, t) = lab
        .client
        .run(move || (check(addr, true), check(addr, false)))
        .unwrap();

    let syn = m.syn.as_ref().expect("MPTCP SYN captured");
    let mpc = syn.mp_capable.expect("MP_CAPABLE arrived");
    assert_eq!(mpc.version, 1);
    assert_eq!(syn.iface, "eth0");
    assert_eq!(syn.src, "10.1.0.1");
    assert!(m.connection.mptcp, "{:?}", m.connection);
    assert!(m.connection.fallback_reason.is_none());
    assert!(m
        .syn_ack
        .as_ref()
        .expect("SYN/ACK captured")
        .mp_capable
        .is_some());
    assert_eq!(m.readiness.mptcp_enabled, Some(true));
    assert_eq!(m.readiness.versions, vec![1]);
    assert!(m.readiness.limits.is_some(), "{:?}", m.readiness.errors);
    assert_eq!(m.readiness.kernel_release, None);
    // The raw header is the one the summary was made from.
    assert!(syn.hex.starts_with("45"), "{}", syn.hex);
    assert!(syn
        .options
        .iter()
        .any(|o| o.wire_bytes().is_some_and(|b| b.starts_with(&[0x1e, 4]))));

    let tsyn = t.syn.as_ref().expect("TCP SYN captured");
    assert!(tsyn.mp_capable.is_none());
    assert!(!t.connection.mptcp);
    assert!(t
        .connection
        .fallback_reason
        .as_deref()
        .unwrap()
        .contains("without MP_CAPABLE"));
    assert!(t.syn_ack.as_ref().unwrap().mp_capable.is_none());
    assert_ne!(tsyn.sport, syn.sport);
}

#[test]
fn mptcp_over_ipv6_gets_a_true_report() {
    if skip("mptcp_over_ipv6_gets_a_true_report") {
        return;
    }
    let lab = Lab::direct("v6").unwrap();
    let _srv = start_server(&lab.server, config());
    let addr = SocketAddr::from((lab.server_addr6, PORT));
    let rep = lab
        .client
        .run(move || {
            let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::MPTCP)).unwrap();
            s.connect_timeout(&SockAddr::from(addr), Duration::from_secs(5))
                .unwrap();
            let t: TcpStream = s.into();
            t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            hello(&t).1
        })
        .unwrap();
    let syn = rep.syn.as_ref().expect("IPv6 SYN captured");
    assert_eq!(syn.src, "fd00:1::1");
    assert!(syn.hex.starts_with('6'), "{}", syn.hex);
    assert_eq!(syn.mp_capable.map(|m| m.version), Some(1));
    assert!(rep
        .syn_ack
        .as_ref()
        .expect("IPv6 SYN/ACK")
        .mp_capable
        .is_some());
    assert!(rep.connection.mptcp);
    assert_eq!(rep.peer.addr, "fd00:1::1");
}

#[test]
fn stripping_router_shows_nops_and_tcp() {
    if skip("stripping_router_shows_nops_and_tcp") {
        return;
    }
    if !netns::have("iptables") {
        println!("skipped stripping_router_shows_nops_and_tcp: iptables not installed");
        return;
    }
    let lab = Lab::routed("st").unwrap();
    let router = lab.router.as_ref().unwrap();
    router
        .exec(&[
            "iptables",
            "-t",
            "mangle",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--dport",
            "6101",
            "-j",
            "TCPOPTSTRIP",
            "--strip-options",
            "30",
        ])
        .unwrap();
    let _srv = start_server(&lab.server, config());
    let addr = lab.server_addr;
    let (rep, client_mptcp) = lab
        .client
        .run(move || {
            let s = connect(addr, true, None);
            let (_, rep) = hello(&s);
            (rep, is_mptcp(&s))
        })
        .unwrap();
    let syn = rep.syn.as_ref().expect("SYN captured");
    assert!(syn.mp_capable.is_none(), "{syn:?}");
    assert!(!syn.options.iter().any(|o| o.kind() == Some(30)));
    // Linux puts MP_CAPABLE last; the router leaves four NOPs in its place.
    let tail: Vec<&str> = syn
        .options
        .iter()
        .rev()
        .take(4)
        .filter_map(|o| o.name())
        .collect();
    assert_eq!(tail, ["nop"; 4], "{:?}", syn.options);
    assert_eq!(syn.ttl, 63, "one router hop");
    assert!(!rep.connection.mptcp);
    assert!(rep
        .connection
        .fallback_reason
        .as_deref()
        .unwrap()
        .contains("NOPs"));
    assert!(!client_mptcp);
}

#[test]
fn mptcp_disabled_server_falls_back_and_says_so() {
    if skip("mptcp_disabled_server_falls_back_and_says_so") {
        return;
    }
    let lab = Lab::direct("ds").unwrap();
    lab.server.sysctl("net.mptcp.enabled", "0").unwrap();
    let _srv = start_server(&lab.server, config());
    let addr = lab.server_addr;
    let rep = lab.client.run(move || check(addr, true)).unwrap();
    assert!(!rep.connection.listener_mptcp);
    assert!(!rep.connection.mptcp);
    assert_eq!(rep.readiness.mptcp_enabled, Some(false));
    assert_eq!(
        rep.readiness.sysctls.get("enabled").map(String::as_str),
        Some("0")
    );
    let l = rep.readiness.listener.as_ref().unwrap();
    assert!(!l.mptcp);
    assert!(
        l.fallback_reason.as_deref().unwrap().contains("refused"),
        "{l:?}"
    );
    // The client still offered MPTCP; the server's kernel answered plain.
    assert_eq!(
        rep.syn.as_ref().unwrap().mp_capable.map(|m| m.version),
        Some(1)
    );
    assert!(rep.syn_ack.as_ref().unwrap().mp_capable.is_none());
    assert!(rep
        .connection
        .fallback_reason
        .as_deref()
        .unwrap()
        .contains("plain TCP"));
}

/// An IPv4 + TCP SYN with the given fields and options, checksums filled.
fn crafted_syn(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    opts: &[u8],
) -> Vec<u8> {
    let tcp_len = 20 + opts.len();
    let mut p = vec![0u8; 20 + tcp_len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let ipsum = checksum(&p[..20], 0);
    p[10..12].copy_from_slice(&ipsum.to_be_bytes());
    {
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[12] = ((tcp_len / 4) as u8) << 4;
        t[13] = 0x02;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t[20..].copy_from_slice(opts);
    }
    let mut pseudo = 0u32;
    for w in [src.octets(), dst.octets()] {
        pseudo += u32::from(u16::from_be_bytes([w[0], w[1]]))
            + u32::from(u16::from_be_bytes([w[2], w[3]]));
    }
    pseudo += 6 + tcp_len as u32;
    let sum = checksum(&p[20..], pseudo);
    p[36..38].copy_from_slice(&sum.to_be_bytes());
    p
}

fn checksum(b: &[u8], start: u32) -> u16 {
    let mut s = start;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn raw_socket() -> Socket {
    // IPPROTO_RAW: the header is ours (IP_HDRINCL implied), sources may be
    // any address.
    Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(255))).expect("raw socket")
}

fn send_raw(s: &Socket, pkt: &[u8], dst: Ipv4Addr) {
    s.send_to(pkt, &SockAddr::from(SocketAddrV4::new(dst, 0)))
        .expect("send crafted SYN");
}

const MPC_V1: [u8; 8] = [2, 4, 5, 0xb4, 30, 4, 0x01, 0x01];

fn query(stream: &TcpStream, r: &mut BufReader<TcpStream>, seqs: &[u32]) -> ProbeAnswer {
    let mut w = stream.try_clone().unwrap();
    let line = format!("{{\"type\":\"query\",\"version\":1,\"seqs\":{seqs:?}}}\n");
    w.write_all(line.as_bytes()).unwrap();
    match read_msg(r) {
        ServerMessage::Answer(a) => a,
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn crafted_syns_are_answered_only_to_their_source() {
    if skip("crafted_syns_are_answered_only_to_their_source") {
        return;
    }
    let lab = Lab::direct("cq").unwrap();
    let _srv = start_server(&lab.server, config());
    let (server, me, other) = (lab.server_addr, lab.client_addr, lab.client_addr2);
    let seqs = [0x1111_0001u32, 0x2222_0002, 0x3333_0003];
    let (mine, theirs) = lab
        .client
        .run(move || {
            let raw = raw_socket();
            send_raw(
                &raw,
                &crafted_syn(me, server, 40001, PORT, seqs[0], &MPC_V1),
                server,
            );
            send_raw(
                &raw,
                &crafted_syn(me, server, 40002, WATCHED, seqs[1], &MPC_V1),
                server,
            );
            // A SYN with a sequence number nobody asks for.
            send_raw(&raw, &crafted_syn(me, server, 40003, PORT, 77, &[]), server);
            std::thread::sleep(Duration::from_millis(300));
            let s = connect(server, true, Some(me));
            let (mut r, _) = hello(&s);
            let mine = query(&s, &mut r, &seqs);
            let s2 = connect(server, true, Some(other));
            let (mut r2, _) = hello(&s2);
            let theirs = query(&s2, &mut r2, &seqs);
            (mine, theirs)
        })
        .unwrap();
    let got: Vec<u32> = mine.observations.iter().map(|o| o.syn.seq).collect();
    assert_eq!(got, [seqs[0], seqs[1]]);
    let first = &mine.observations[0];
    assert_eq!(first.syn.mp_capable.map(|m| m.version), Some(1));
    assert_eq!(first.syn.dport, PORT);
    // The listener answered the first one (and its kernel spoke MPTCP).
    assert!(first
        .syn_ack
        .as_ref()
        .expect("SYN/ACK of the listen port")
        .mp_capable
        .is_some());
    // Nobody listens on the watched port: the kernel answered with a RST.
    assert!(mine.observations[1].syn_ack.is_none());
    assert!(theirs.observations.is_empty(), "{theirs:?}");
}

/// A query sent the moment the probes went out, with a burst of other SYNs
/// queued on the capture socket ahead of them: the server must read its
/// capture up to the query before answering, or it answers "not seen".
#[test]
fn a_query_right_after_the_probes_waits_for_the_capture() {
    if skip("a_query_right_after_the_probes_waits_for_the_capture") {
        return;
    }
    let lab = Lab::direct("qw").unwrap();
    let _srv = start_server(&lab.server, config());
    let (server, me) = (lab.server_addr, lab.client_addr);
    let seqs = [0x5151_0001u32, 0x5252_0002];
    // The query connection first, so nothing else waits after the probes.
    let (s, mut r) = lab
        .client
        .run(move || {
            let s = connect(server, true, Some(me));
            let (r, _) = hello(&s);
            (s, r)
        })
        .unwrap();
    // Another sender floods the watched port meanwhile: the capture thread
    // has a backlog when our probes and the query arrive.
    let burst = lab
        .client
        .spawn_thread(move || {
            let raw = raw_socket();
            for i in 0..20_000u32 {
                let src = Ipv4Addr::new(10, 1, 0, 100 + (i % 100) as u8);
                let pkt = crafted_syn(src, server, 1024 + (i % 60000) as u16, WATCHED, i, &MPC_V1);
                send_raw(&raw, &pkt, server);
            }
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mine = lab
        .client
        .run(move || {
            let raw = raw_socket();
            for (i, seq) in seqs.iter().enumerate() {
                let pkt = crafted_syn(me, server, 41001 + i as u16, WATCHED, *seq, &MPC_V1);
                send_raw(&raw, &pkt, server);
            }
            query(&s, &mut r, &seqs)
        })
        .unwrap();
    burst.join().unwrap().unwrap();
    let got: Vec<u32> = mine.observations.iter().map(|o| o.syn.seq).collect();
    assert_eq!(
        got, seqs,
        "probes queued behind a burst were not waited for"
    );
}

#[test]
fn http_get_through_curl_gets_the_text_report() {
    if skip("http_get_through_curl_gets_the_text_report") {
        return;
    }
    if !netns::have("curl") {
        println!("skipped http_get_through_curl_gets_the_text_report: curl not installed");
        return;
    }
    let lab = Lab::direct("hc").unwrap();
    let _srv = start_server(&lab.server, config());
    let url = format!("http://{}:{PORT}/", lab.server_addr);
    let out = lab
        .client
        .exec(&["curl", "-sS", "--max-time", "10", &url])
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("this connection is TCP"), "{text}");
    assert!(text.contains("SYN as it arrived: 10.1.0.1."), "{text}");
    assert!(text.contains("MP_CAPABLE: absent"), "{text}");
    assert!(text.contains("option mss"), "{text}");
    assert!(text.contains("server MPTCP: enabled (upstream)"), "{text}");

    // The same over an MPTCP socket (what `mptcpize run curl` does).
    let addr = lab.server_addr;
    let text = lab
        .client
        .run(move || {
            let mut s = connect(addr, true, None);
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            read_all(s)
        })
        .unwrap();
    assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
    assert!(text.contains("this connection is MPTCP"), "{text}");
    assert!(text.contains("MP_CAPABLE: present, version 1"), "{text}");
    assert!(text.contains("capable v1"), "{text}");
}

/// Reads until the server closes; returns what it sent.
fn read_all(mut s: TcpStream) -> String {
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn error_code(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    match serde_json::from_str::<ServerMessage>(first) {
        Ok(ServerMessage::Error(e)) => e.code,
        other => panic!("expected an error line, got {text:?} ({other:?})"),
    }
}

#[test]
fn bad_input_gets_errors_and_the_server_keeps_serving() {
    if skip("bad_input_gets_errors_and_the_server_keeps_serving") {
        return;
    }
    let lab = Lab::direct("bi").unwrap();
    let cfg = Config {
        idle_timeout: Duration::from_secs(1),
        max_connections: 32,
        // One source may take every slot here: the global bound is tested.
        max_per_source: 32,
        per_source_per_minute: 100_000,
        ..config()
    };
    let srv = start_server(&lab.server, cfg);
    let addr = lab.server_addr;
    let shared = srv.shared.clone();
    lab.client
        .run(move || {
            let send = |bytes: &[u8]| {
                let mut s = connect(addr, false, None);
                s.write_all(bytes).unwrap();
                read_all(s)
            };
            assert_eq!(error_code(&send(b"\x00\xff garbage\n")), "invalid_json");
            assert_eq!(error_code(&send(b"{\"type\":\"hello\"\n")), "invalid_json");
            assert_eq!(
                error_code(&send(b"{\"type\":\"query\",\"version\":1,\"seqs\":[]}\n")),
                "unexpected_message"
            );
            assert_eq!(
                error_code(&send(b"{\"type\":\"hello\",\"version\":9}\n")),
                "unsupported_version"
            );
            assert_eq!(error_code(&send(&[b'x'; 10_000])), "line_too_long");
            // A slow client: says nothing, then gets the idle error.
            let slow = connect(addr, false, None);
            let started = std::time::Instant::now();
            assert_eq!(error_code(&read_all(slow)), "idle_timeout");
            assert!(started.elapsed() < Duration::from_secs(5));
            // Thousands of connections held open: each is either served
            // (and, silent, closed with `idle_timeout` after 1 s) or, beyond
            // the 32 allowed at once, refused with `busy` and closed; none
            // is left hanging, and never more than 32 are served at once.
            let mut open = Vec::new();
            for _ in 0..2000 {
                let s = connect(addr, false, None);
                open.push(s);
                assert!(shared.active.load(std::sync::atomic::Ordering::Relaxed) <= 32);
            }
            let (mut busy, mut idle) = (0, 0);
            for s in open.drain(..) {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let text = read_all(s);
                match error_code(&text).as_str() {
                    "busy" => busy += 1,
                    "idle_timeout" => idle += 1,
                    other => panic!("unexpected answer {other}"),
                }
            }
            assert_eq!(busy + idle, 2000);
            assert!(busy > 0 && idle >= 32, "busy {busy}, idle {idle}");
            // Still serving.
            let rep = check(addr, true);
            assert!(rep.connection.mptcp);
            assert!(rep.syn.is_some());
        })
        .unwrap();
    assert!(
        srv.shared
            .rejected
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    // Connections end (and release their claims) once the server sees the
    // clients' FINs: give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while srv.shared.store.lock().unwrap().claims() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for store in [&srv.shared.store, &srv.shared.watched] {
        let store = store.lock().unwrap();
        assert!(store.len() <= store.limits().capacity);
        assert_eq!(store.claims(), 0, "claims released with their connections");
    }
}

#[test]
fn syn_burst_beyond_capacity_stays_bounded_and_checks_still_work() {
    if skip("syn_burst_beyond_capacity_stays_bounded_and_checks_still_work") {
        return;
    }
    let lab = Lab::direct("sb").unwrap();
    let capacity = 256;
    let cfg = Config {
        store: StoreLimits {
            capacity,
            per_source: 8,
        },
        ..config()
    };
    let srv = start_server(&lab.server, cfg);
    let server = lab.server_addr;
    let burst = lab
        .client
        .spawn_thread(move || {
            let raw = raw_socket();
            for i in 0..20_000u32 {
                // Spoofed sources 10.1.0.100-199, to the watched port.
                let src = Ipv4Addr::new(10, 1, 0, 100 + (i % 100) as u8);
                let pkt = crafted_syn(src, server, 1024 + (i % 60000) as u16, WATCHED, i, &MPC_V1);
                send_raw(&raw, &pkt, server);
            }
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let rep = lab.client.run(move || check(server, true)).unwrap();
    burst.join().unwrap().unwrap();
    assert!(
        rep.syn.is_some(),
        "the check's SYN was lost in the burst: {:?} (capture {:?}, store {:?})",
        rep.warnings,
        srv.shared.capture,
        srv.shared.watched.lock().unwrap().stats()
    );
    assert!(rep.connection.mptcp);
    std::thread::sleep(Duration::from_millis(300));
    // The burst went to the watched port: its ring took it, bounded.
    let store = srv.shared.watched.lock().unwrap();
    let stats = store.stats();
    assert!(
        stats.inserted > 4 * capacity as u64,
        "burst too small to test: {stats:?}"
    );
    assert!(store.len() <= capacity, "{} > {capacity}", store.len());
    assert!(store.slots() < 2 * capacity);
    assert!(store.sources() <= capacity);
    let listen = srv.shared.store.lock().unwrap();
    assert!(listen.len() <= capacity);
}

#[test]
fn per_source_rate_limit_refuses_with_an_error() {
    if skip("per_source_rate_limit_refuses_with_an_error") {
        return;
    }
    let lab = Lab::direct("rl").unwrap();
    let cfg = Config {
        per_source_per_minute: 3,
        ..config()
    };
    let _srv = start_server(&lab.server, cfg);
    let (addr, other) = (lab.server_addr, lab.client_addr2);
    lab.client
        .run(move || {
            for _ in 0..3 {
                assert!(check(addr, true).syn.is_some());
            }
            let s = connect(addr, true, None);
            assert_eq!(error_code(&read_all(s)), "rate_limited");
            // Another source address is not affected.
            let s2 = connect(addr, true, Some(other));
            assert!(hello(&s2).1.connection.mptcp);
        })
        .unwrap();
}

#[test]
fn readiness_shows_path_manager_limits_and_endpoints() {
    if skip("readiness_shows_path_manager_limits_and_endpoints") {
        return;
    }
    let lab = Lab::direct("pm").unwrap();
    lab.server
        .ip(&[
            "mptcp",
            "limits",
            "set",
            "subflows",
            "4",
            "add_addr_accepted",
            "3",
        ])
        .unwrap();
    lab.server
        .ip(&[
            "mptcp", "endpoint", "add", "10.1.0.2", "dev", "eth0", "id", "7", "signal", "backup",
        ])
        .unwrap();
    lab.server
        .ip(&[
            "mptcp",
            "endpoint",
            "add",
            "fd00:1::2",
            "port",
            "6102",
            "signal",
        ])
        .unwrap();
    let _srv = start_server(&lab.server, config());
    let addr = lab.server_addr;
    let rep = lab.client.run(move || check(addr, true)).unwrap();
    let r = &rep.readiness;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let l = r.limits.unwrap();
    assert_eq!((l.subflows, l.add_addr_accepted), (Some(4), Some(3)));
    assert_eq!(r.endpoints.len(), 2, "{:?}", r.endpoints);
    let v4 = r
        .endpoints
        .iter()
        .find(|e| e.id == Some(7))
        .expect("endpoint id 7");
    assert_eq!(v4.addr.as_deref(), Some("10.1.0.2"));
    assert_eq!(v4.flags, ["signal", "backup"]);
    assert!(v4.ifindex.is_some_and(|i| i > 0));
    let v6 = r.endpoints.iter().find(|e| e.id != Some(7)).unwrap();
    assert_eq!(v6.addr.as_deref(), Some("fd00:1::2"));
    assert_eq!(v6.port, Some(6102));
}

#[test]
fn v0_syn_is_seen_as_v0_and_answered_without_mp_capable() {
    if skip("v0_syn_is_seen_as_v0_and_answered_without_mp_capable") {
        return;
    }
    let lab = Lab::direct("v0").unwrap();
    let _srv = start_server(&lab.server, config());
    let (server, me) = (lab.server_addr, lab.client_addr);
    // MP_CAPABLE v0 (RFC 6824): 12 bytes with the sender's key.
    let mut v0 = vec![2, 4, 5, 0xb4, 30, 12, 0x00, 0x81];
    v0.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
    let (v0_seq, v1_seq) = (0xabcd_0000u32, 0xabcd_0001u32);
    let answer = lab
        .client
        .run(move || {
            let raw = raw_socket();
            send_raw(
                &raw,
                &crafted_syn(me, server, 41000, PORT, v0_seq, &v0),
                server,
            );
            send_raw(
                &raw,
                &crafted_syn(me, server, 41001, PORT, v1_seq, &MPC_V1),
                server,
            );
            std::thread::sleep(Duration::from_millis(300));
            let s = connect(server, true, Some(me));
            let (mut r, _) = hello(&s);
            query(&s, &mut r, &[v0_seq, v1_seq])
        })
        .unwrap();
    assert_eq!(answer.observations.len(), 2, "{answer:?}");
    let v0o = answer
        .observations
        .iter()
        .find(|o| o.syn.seq == v0_seq)
        .unwrap();
    assert_eq!(
        v0o.syn.mp_capable.map(|m| (m.version, m.len)),
        Some((0, 12))
    );
    // The upstream kernel ignores v0 and answers a plain SYN/ACK.
    assert!(v0o.syn_ack.as_ref().expect("SYN/ACK").mp_capable.is_none());
    let v1o = answer
        .observations
        .iter()
        .find(|o| o.syn.seq == v1_seq)
        .unwrap();
    assert_eq!(
        v1o.syn_ack.as_ref().unwrap().mp_capable.map(|m| m.version),
        Some(1)
    );
}

#[test]
fn interface_option_limits_the_capture() {
    if skip("interface_option_limits_the_capture") {
        return;
    }
    let lab = Lab::direct("if").unwrap();
    let addr = lab.server_addr;
    {
        let _srv = start_server(
            &lab.server,
            Config {
                interface: Some("eth0".into()),
                ..config()
            },
        );
        let rep = lab.client.run(move || check(addr, true)).unwrap();
        assert_eq!(rep.syn.expect("captured on eth0").iface, "eth0");
    }
    let _srv = start_server(
        &lab.server,
        Config {
            interface: Some("lo".into()),
            ..config()
        },
    );
    let rep = lab.client.run(move || check(addr, true)).unwrap();
    assert!(rep.syn.is_none(), "captured on lo? {:?}", rep.syn);
    assert!(rep.warnings.iter().any(|w| w.contains("not captured")));
    // Not captured, so the server cannot say more than that.
    assert!(rep.connection.mptcp);
}

#[test]
fn namespaces_are_removed_even_when_a_test_panics() {
    if skip("namespaces_are_removed_even_when_a_test_panics") {
        return;
    }
    let exists = |name: &str| std::path::Path::new(&format!("/run/netns/{name}")).exists();
    let mut names = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::direct("pn").unwrap();
        names.push(lab.client.name().to_string());
        names.push(lab.server.name().to_string());
        assert!(exists(lab.client.name()) && exists(lab.server.name()));
        panic!("a failing test");
    }));
    assert!(result.is_err());
    assert_eq!(names.len(), 2);
    for n in &names {
        assert!(!exists(n), "{n} left behind");
    }
}
