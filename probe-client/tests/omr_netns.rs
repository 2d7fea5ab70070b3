//! OpenMPTCProuter's two hooks against real kernels: `mptcp-probe check
//! --format omr-status`, the line its status page shows per WAN, and the
//! OpenWrt package's hook scripts (packaging/openwrt/mptcp-probe/files/)
//! as OpenMPTCProuter calls them. The real binary in a client namespace,
//! the echo server in-process in a server namespace (as in
//! check_netns.rs). Root only: without it every test says why and skips.
use lab::echo_server::InProcessServer;
use lab::netns::{self, Lab};
use std::time::{Duration, Instant};

const PORT: u16 = 6101;
const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

/// `mptcp-probe check ADDR -i eth0 --format omr-status` in the client
/// namespace, with the default timeout (the status page's).
fn omr_status(lab: &Lab, interface: &str) -> Run {
    let started = Instant::now();
    let out = lab
        .client
        .command(BIN)
        .args(["check", &lab.server_addr.to_string(), "-i", interface])
        .args(["--format", "omr-status"])
        .output()
        .expect("run mptcp-probe");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    };
    assert!(
        !run.stdout.to_lowercase().contains("error"),
        "the status page must never see `error`: {run:?}"
    );
    run
}

#[test]
fn clean_path_prints_mptcp_enabled_within_a_second() {
    if netns::skip("clean_path_prints_mptcp_enabled_within_a_second") {
        return;
    }
    let lab = Lab::direct("oe").unwrap();
    let _srv = InProcessServer::on_port(&lab.server, PORT).expect("echo server");
    let run = omr_status(&lab, "eth0");
    assert_eq!(run.stdout, "MPTCP enabled\n", "{run:?}");
    assert_eq!(run.code, 0, "{run:?}");
    // A working path answers in a round trip. The bound is not a speed
    // target (that is the benchmark's): it is far below the 4 s of the
    // kernel's fallback, which a working path must never wait for, with
    // room for a loaded machine running a debug build.
    assert!(run.took < Duration::from_millis(3000), "{run:?}");
}

#[test]
fn server_with_mptcp_disabled_prints_mptcp_disabled() {
    if netns::skip("server_with_mptcp_disabled_prints_mptcp_disabled") {
        return;
    }
    let lab = Lab::direct("od").unwrap();
    lab.server.sysctl("net.mptcp.enabled", "0").unwrap();
    let _srv = InProcessServer::on_port(&lab.server, PORT).expect("echo server");
    let run = omr_status(&lab, "eth0");
    assert_eq!(run.stdout, "MPTCP disabled\n", "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
}

#[test]
fn interface_that_reaches_nothing_prints_nothing() {
    if netns::skip("interface_that_reaches_nothing_prints_nothing") {
        return;
    }
    let lab = Lab::direct("on").unwrap();
    let _srv = InProcessServer::on_port(&lab.server, PORT).expect("echo server");
    // Bound to the loopback device (-i honoured), nothing reaches the
    // server: the check cannot tell, so the page shows nothing.
    let run = omr_status(&lab, "lo");
    assert_eq!(run.stdout, "", "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.took < Duration::from_millis(3500), "{run:?}");
}

#[test]
fn path_dropping_mp_capable_syns_is_disabled_without_waiting_for_the_fallback() {
    let name = "path_dropping_mp_capable_syns_is_disabled_without_waiting_for_the_fallback";
    if netns::skip(name) {
        return;
    }
    if !netns::have("iptables") {
        println!("skipped {name}: iptables not installed");
        return;
    }
    let lab = Lab::routed("oq").unwrap();
    let router = lab.router.as_ref().unwrap();
    router
        .exec(&[
            "iptables",
            "-A",
            "FORWARD",
            "-p",
            "tcp",
            "--tcp-option",
            "30",
            "-j",
            "DROP",
        ])
        .expect("iptables rule");
    let _srv = InProcessServer::on_port(&lab.server, PORT).expect("echo server");
    let run = omr_status(&lab, "eth0");
    assert_eq!(run.stdout, "MPTCP disabled\n", "{run:?}");
    assert_eq!(run.code, 1, "{run:?}");
    // The kernel's own fallback would take 4 s (2 retransmissions, then a
    // plain SYN); the crafted probes answer within the 1 s timeout.
    assert!(run.took < Duration::from_millis(3500), "{run:?}");
}

/// The OpenWrt package's hook scripts.
fn hook(name: &str) -> String {
    format!(
        "{}/../packaging/openwrt/mptcp-probe/files/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs a hook in the client namespace with this build of mptcp-probe.
fn run_hook(lab: &Lab, name: &str, args: &[&str]) -> Run {
    let started = Instant::now();
    let out = lab
        .client
        .command("sh")
        .arg(hook(name))
        .args(args)
        .env("MPTCP_PROBE_BIN", BIN)
        .output()
        .expect("run hook");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

#[test]
fn status_hook_prints_the_line_for_the_wan() {
    if netns::skip("status_hook_prints_the_line_for_the_wan") {
        return;
    }
    let lab = Lab::direct("oh").unwrap();
    let _srv = InProcessServer::on_port(&lab.server, PORT).expect("echo server");
    let run = run_hook(&lab, "omr-status", &["eth0", &lab.server_addr.to_string()]);
    assert_eq!(run.stdout, "MPTCP enabled\n", "{run:?}");
    assert_eq!(run.code, 0, "{run:?}");
}

/// OpenMPTCProuter's "MPTCP Support Check" page runs
/// `tracebox -s /usr/share/tracebox/omr-mptcp-trace.lua -i IFACE SERVER`
/// and shows the raw lines: through the hook they must carry the
/// interface, the MP_CAPABLE version and the verdict.
#[test]
fn tracebox_hook_shows_interface_version_and_verdict() {
    if netns::skip("tracebox_hook_shows_interface_version_and_verdict") {
        return;
    }
    let lab = Lab::routed("ot").unwrap();
    let _srv = InProcessServer::on_port(&lab.server, PORT).expect("echo server");
    let dst = lab.server_addr.to_string();
    let run = run_hook(
        &lab,
        "tracebox",
        &[
            "-s",
            "/usr/share/tracebox/omr-mptcp-trace.lua",
            "-i",
            "eth0",
            &dst,
        ],
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with(&format!("tracebox to {dst} ({dst})"))),
        "{run:?}"
    );
    assert_eq!(
        lines.get(1).copied(),
        Some(
            "# interface eth0, from 10.1.0.1, MP_CAPABLE v1 probes \
             (the version this host's kernel speaks)"
        ),
        "{run:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("1: 10.1.0.254")),
        "{run:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("verdict: mptcp_ok - ")),
        "{run:?}"
    );
    assert_eq!(run.code, 0, "{run:?}");
}
