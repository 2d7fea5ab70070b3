//! The command line's small promises (issue 9, point 11), through the real
//! binary: targets as HOST:PORT and [IPV6]:PORT with a clear error for two
//! ports, IPv6 printed in brackets, `--timeout -1` and
//! `MPTCP_PROBE_JSON=maybe` refused with a message that says why. Only
//! loopback is ever contacted.
use serde_json::Value;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("MPTCP_PROBE_JSON");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run mptcp-probe")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_negative_timeout_is_refused_with_a_reason() {
    for verb in ["check", "trace"] {
        for value in ["-1", "0", "nan", "abc"] {
            let o = run(&[verb, "--timeout", value, "127.0.0.1"], &[]);
            assert_eq!(o.status.code(), Some(2), "{verb} {value}");
            let e = stderr(&o);
            assert!(
                e.contains("for '--timeout <TIMEOUT>'") && e.contains("seconds"),
                "{verb} --timeout {value}: {e}"
            );
            assert!(!e.contains("unexpected argument"), "{e}");
        }
    }
}

#[test]
fn the_json_switch_from_the_environment_is_strict() {
    let o = run(&["doctor"], &[("MPTCP_PROBE_JSON", "maybe")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid value 'maybe' for '--json'"),
        "{}",
        stderr(&o)
    );
    for yes in ["1", "true", "yes", "on"] {
        let o = run(&["doctor"], &[("MPTCP_PROBE_JSON", yes)]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.starts_with("{\"doctor\":1"), "{yes}: {out}");
    }
    for no in ["0", "false", "no", "off"] {
        let o = run(&["doctor"], &[("MPTCP_PROBE_JSON", no)]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.starts_with("MPTCP is"), "{no}: {out}");
    }
}

#[test]
fn two_ports_for_one_target_are_an_error() {
    for verb in ["check", "trace"] {
        let o = run(&[verb, "--port", "7", "127.0.0.1:9"], &[]);
        assert_eq!(o.status.code(), Some(2));
        let e = stderr(&o);
        assert!(
            e.contains("two ports: the target \"127.0.0.1:9\" names port 9, --port names 7"),
            "{e}"
        );
        assert!(e.contains(&format!("Usage: mptcp-probe {verb}")), "{e}");
        let o = run(&[verb, "[::1"], &[]);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("give HOST, HOST:PORT or [IPV6]:PORT"));
    }
}

/// A port nothing listens on, on loopback.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("[::1]:0")
        .or_else(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_port_in_the_target_is_used_and_ipv6_is_printed_in_brackets() {
    let port = closed_port();
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        println!("skipped: no IPv6 loopback here");
        return;
    }
    let target = format!("[::1]:{port}");
    let o = run(&["check", "--json", "--timeout", "0.5", &target], &[]);
    let line: Value =
        serde_json::from_slice(o.stdout.split(|&b| b == b'\n').next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    assert_eq!(line["target"], target);
    assert_eq!(line["address"], "::1");
    assert_eq!(line["port"], port);
    assert!(
        line["summary"].as_str().unwrap().starts_with(&target),
        "{line}"
    );
    // The same given with --port (equal ports are no conflict).
    let o = run(
        &[
            "check",
            "--timeout",
            "0.5",
            "--port",
            &port.to_string(),
            &target,
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with(&format!("{target} (::1): ")), "{text}");
}
