//! The real `mptcp-probe-server` binary, started as root in a fresh network
//! namespace: it must drop to `--user` with no capability left, and still
//! capture and report (the capture socket was opened before the drop).
//! Skips, saying why, without root, `ip` or `curl`.
#![forbid(unsafe_code)]
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

fn skip_reason() -> Option<&'static str> {
    if !netsys::process::is_root() {
        return Some("not root");
    }
    if !ok(Command::new("ip").arg("-V")) {
        return Some("no `ip`");
    }
    if !ok(Command::new("curl").arg("--version")) {
        return Some("no curl");
    }
    None
}

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Starts the binary in a new namespace and waits until it answers; returns
/// the namespace, the server and its first text report.
fn start(tag: &str, extra: &[&str]) -> (Namespace, Server, String) {
    let ns = Namespace(format!("mpp-{tag}-{}", std::process::id()));
    assert!(ok(Command::new("ip").args(["netns", "add", &ns.0])));
    assert!(ok(
        Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"])
    ));
    // `ip netns exec` execs the program: the child's pid is the server's.
    let server = Server(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                env!("CARGO_BIN_EXE_mptcp-probe-server"),
            ])
            .args(["--port", "6101", "--user", "nobody"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let text = loop {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0, "curl", "-sS", "--max-time", "5"])
            .arg("http://127.0.0.1:6101/")
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "server never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    (ns, server, text)
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

#[test]
fn memory_stays_bounded_under_abuse() {
    if let Some(why) = skip_reason() {
        println!("skipped memory_stays_bounded_under_abuse: {why}");
        return;
    }
    let (ns, server, _) = start(
        "mem",
        &[
            "--max-connections",
            "64",
            "--rate",
            "1000000",
            "--idle-timeout",
            "2",
        ],
    );
    let pid = server.0.id();
    let rss = || -> u64 {
        status_field(pid, "VmRSS:")
            .trim_end_matches(" kB")
            .parse()
            .unwrap()
    };
    let before = rss();
    in_namespace(&ns, || {
        use std::io::Write;
        let mut idle = Vec::new();
        for i in 0..3000 {
            let mut s = std::net::TcpStream::connect("127.0.0.1:6101").unwrap();
            if i % 2 == 0 {
                // Garbage, and lines that never end.
                let _ = s.write_all(&[0x5a; 3000]);
                let _ = s.write_all(b"\x00\x01 not json\n");
            }
            idle.push(s);
            if idle.len() > 500 {
                idle.clear();
            }
        }
    });
    let after = rss();
    // Still serving, once the backlog of refused connections is drained
    // (until then a client may be told `busy`).
    let started = Instant::now();
    loop {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                "curl",
                "-sS",
                "--http0.9",
                "--max-time",
                "5",
            ])
            .arg("http://127.0.0.1:6101/")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("this connection is TCP") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not serving after the abuse: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("server RSS {before} kB before, {after} kB after the abuse");
    // Connections, lines and the store are bounded: a few MB at most, not
    // a growth with the 3000 connections (and 9 MB of input) above.
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
}

#[test]
fn drops_privileges_and_still_reports() {
    if let Some(why) = skip_reason() {
        println!("skipped drops_privileges_and_still_reports: {why}");
        return;
    }
    let ns = Namespace(format!("mpp-bin-{}", std::process::id()));
    assert!(ok(Command::new("ip").args(["netns", "add", &ns.0])));
    assert!(ok(
        Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"])
    ));
    // `ip netns exec` execs the program: the child's pid is the server's.
    let server = Server(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                env!("CARGO_BIN_EXE_mptcp-probe-server"),
            ])
            .args(["--port", "6101", "--user", "nobody", "--report-kernel"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let text = loop {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0, "curl", "-sS", "--max-time", "5"])
            .arg("http://127.0.0.1:6101/")
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "server never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let pid = server.0.id();
    assert_eq!(status_field(pid, "Uid:"), "65534 65534 65534 65534");
    assert_eq!(status_field(pid, "CapEff:"), "0000000000000000");
    assert_eq!(status_field(pid, "CapPrm:"), "0000000000000000");
    assert_eq!(status_field(pid, "CapAmb:"), "0000000000000000");
    assert!(text.contains("this connection is TCP"), "{text}");
    assert!(text.contains("SYN as it arrived: 127.0.0.1."), "{text}");
    assert!(
        text.contains("SYN/ACK this host sent: 127.0.0.1.6101"),
        "{text}"
    );
    assert!(text.contains("limits: subflows"), "{text}");
    assert!(text.contains("kernel: "), "{text}");
}

/// The numeric id `id FLAG nobody` prints (`-u` or `-g`).
fn id_of_nobody(flag: &str) -> String {
    let out = Command::new("id").args([flag, "nobody"]).output().unwrap();
    assert!(out.status.success(), "no user nobody");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The fields of one /proc status file, whitespace normalised.
fn status_fields(path: &std::path::Path) -> std::collections::HashMap<String, String> {
    let status = std::fs::read_to_string(path).unwrap();
    status
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect()
}

#[test]
fn every_thread_is_the_target_user_without_any_capability() {
    if let Some(why) = skip_reason() {
        println!("skipped every_thread_is_the_target_user_without_any_capability: {why}");
        return;
    }
    let (uid, gid) = (id_of_nobody("-u"), id_of_nobody("-g"));
    let (_ns, server, _) = start("caps", &[]);
    let pid = server.0.id();
    // Capabilities, ids and no_new_privs are per thread: the process's
    // status is its main thread's; the capture thread has its own.
    let mut files = vec![std::path::PathBuf::from(format!("/proc/{pid}/status"))];
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        files.push(task.unwrap().path().join("status"));
    }
    assert!(files.len() >= 3, "main and capture threads: {files:?}");
    for file in &files {
        let f = status_fields(file);
        let field = |name: &str| f.get(name).cloned().unwrap_or_default();
        let ids = |id: &str| format!("{id} {id} {id} {id}");
        assert_eq!(field("Uid"), ids(&uid), "{file:?}");
        assert_eq!(field("Gid"), ids(&gid), "{file:?}");
        assert_eq!(field("Groups"), "", "{file:?}");
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(field(set), "0000000000000000", "{set} of {file:?}");
        }
        assert_eq!(field("NoNewPrivs"), "1", "{file:?}");
    }
}
