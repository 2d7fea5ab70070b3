//! Logs are no amplifier (issue 12, point 4): the real binary, in a fresh
//! network namespace, flooded with connections it refuses, writes a few
//! summary lines (one per source per interval), not one line per refused
//! connection; a served check still gets its own line. Skips, saying why,
//! without root or `ip`.
#![forbid(unsafe_code)]
use netsys::process::Signal;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `f` on a thread inside the namespace.
fn in_namespace<R: Send>(ns: &Namespace, f: impl FnOnce() -> R + Send) -> R {
    let file = std::fs::File::open(format!("/run/netns/{}", ns.0)).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            netsys::netns::enter_net(&file).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// One hello on a new connection; the first line the server sends back.
fn hello(addr: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"{\"type\":\"hello\",\"version\":1,\"client\":\"log-test\"}\n")
        .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(line)
}

#[test]
fn a_flood_of_refused_connections_writes_a_few_lines() {
    if !netsys::process::is_root() || !ok(Command::new("ip").arg("-V")) {
        println!("skipped a_flood_of_refused_connections_writes_a_few_lines: needs root and ip");
        return;
    }
    let ns = Namespace(format!("mpp-log-{}", std::process::id()));
    assert!(ok(Command::new("ip").args(["netns", "add", &ns.0])));
    assert!(ok(
        Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"])
    ));
    // `ip netns exec` execs the program: the child's pid is the server's.
    let mut server = Server(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                env!("CARGO_BIN_EXE_mptcp-probe-server"),
            ])
            // Only options the server has always had: 4 slots, no rate limit.
            .args(["--port", "6101", "--user", "nobody"])
            .args(["--max-connections", "4", "--rate", "1000000"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Read the log as it comes, so a chatty server never blocks on a full pipe.
    let mut stderr = server.0.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let addr = "127.0.0.1:6101";
    let (served, refused) = in_namespace(&ns, || {
        let started = Instant::now();
        let first = loop {
            if let Some(line) = hello(addr) {
                break line;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "server never answered"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        // Four served connections hold every slot (idle, 10 s); then a flood.
        let held: Vec<_> = (0..4)
            .map(|_| {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"{\"type\":\"hello\",\"version\":1}\n")
                    .unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let mut refused = 0;
        for _ in 0..5000 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            if text.contains("\"busy\"") {
                refused += 1;
            }
        }
        drop(held);
        (first, refused)
    });
    assert!(served.contains("\"report\""), "{served}");
    assert!(
        refused > 4900,
        "only {refused} refused: the flood did not test the log"
    );
    // SIGTERM: the server writes what it counted before it exits.
    netsys::process::signal(server.0.id(), Signal::SIGTERM).unwrap();
    let started = Instant::now();
    while server.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = log.join().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() < 30,
        "{} log lines for {refused} refused connections; the first: {:?}",
        lines.len(),
        &lines[..lines.len().min(5)]
    );
    // Each served check's own line, and the refusals counted in summaries.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("check=\"report\""))
            .count(),
        5,
        "{text}"
    );
    let counted: u64 = lines
        .iter()
        .filter(|l| l.contains("check=\"connections\""))
        .filter_map(|l| {
            let rest = l.split("not_served=").nth(1)?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    assert!(
        counted >= refused as u64,
        "summaries count {counted} of {refused} refused connections:\n{text}"
    );
}
