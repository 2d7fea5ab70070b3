//! The `lab` command's own behaviour that needs no namespaces: the list of
//! scenarios is the table, bad arguments are errors (exit 2), and missing
//! client/server binaries are named with the command that builds them.
use lab::SCENARIOS;
use std::process::Command;

const LAB: &str = env!("CARGO_BIN_EXE_lab");

#[test]
fn list_prints_the_scenario_table() {
    let out = Command::new(LAB).arg("--list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let aggregate = lab::aggregate::AGGREGATE_SCENARIOS;
    assert_eq!(lines.len(), SCENARIOS.len() + aggregate.len(), "{text}");
    // Then the aggregate group: name, wan2's verdict, summary, cause.
    for (line, s) in lines[SCENARIOS.len()..].iter().zip(aggregate) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[..4], [s.name, "aggregate", s.paths[1], s.summary]);
        assert!(line.ends_with(&s.cause.describe()), "{line}");
    }
    for (line, s) in lines.iter().zip(SCENARIOS) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            words[..5],
            [s.name, "check", s.check.verdict, "trace", s.trace.verdict]
        );
        assert!(line.ends_with(s.cause), "{line}");
    }
}

#[test]
fn unknown_scenario_and_option_are_errors() {
    let out = Command::new(LAB).arg("no-such-scenario").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario no-such-scenario"));
    let out = Command::new(LAB).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: lab"));
}

#[test]
fn missing_binaries_are_named_with_the_build_command() {
    let empty = std::env::temp_dir().join(format!("mpp-lab-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(LAB)
        .arg("--bin-dir")
        .arg(&empty)
        .arg("clean")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&empty);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    if lab::unavailable().is_some() {
        // Without root the lab stops before looking for binaries.
        assert!(err.contains("cannot run"), "{err}");
    } else {
        assert!(err.contains("mptcp-probe not found"), "{err}");
        assert!(
            err.contains("cargo build --release -p probe-client -p probe-server"),
            "{err}"
        );
    }
}
