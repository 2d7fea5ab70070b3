//! `analyze` reads captures as a stream (issue 13): its output on every lab
//! fixture is byte for byte what the in-memory `analyze` printed before,
//! text and `--json` (kept gzip-compressed in `tests/analyze-golden`),
//! through a file and through a pipe; a file that is not a capture is
//! refused from its first bytes, however long it is.
//!
//! Regenerate the expected outputs only for a deliberate change of output,
//! from the workspace root:
//! `for f in pcap-fixtures/*.pcap; do n=$(basename $f .pcap);
//! mptcp-probe analyze $f | gzip -9n > probe-client/tests/analyze-golden/$n.txt.gz;
//! mptcp-probe --json analyze $f | gzip -9n > probe-client/tests/analyze-golden/$n.json.gz; done`
use flate2::read::GzDecoder;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn expected(name: &str, ext: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/analyze-golden")
        .join(format!("{name}.{ext}.gz"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    GzDecoder::new(file).read_to_string(&mut text).unwrap();
    text
}

/// `mptcp-probe [--json] analyze pcap-fixtures/NAME.pcap`, from the
/// workspace root (the file name is part of the output).
fn analyze(name: &str, json: bool) -> String {
    let mut cmd = Command::new(BIN);
    if json {
        cmd.arg("--json");
    }
    let out = cmd
        .args(["analyze", &format!("pcap-fixtures/{name}.pcap")])
        .current_dir(workspace())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("pcap-fixtures"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".pcap").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// The first line where two outputs differ, for the failure message.
fn first_difference(got: &str, want: &str) -> String {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        if g != w {
            return format!("line {}:\n  got  {g}\n  want {w}", i + 1);
        }
    }
    format!(
        "{} lines against {}",
        got.lines().count(),
        want.lines().count()
    )
}

#[test]
fn every_fixture_prints_what_it_printed_before_streaming() {
    let names = fixtures();
    assert!(names.len() > 40, "{} fixtures", names.len());
    for name in &names {
        for (json, ext) in [(false, "txt"), (true, "json")] {
            let got = analyze(name, json);
            let want = expected(name, ext);
            assert!(
                got == want,
                "{name} ({ext}): {}",
                first_difference(&got, &want)
            );
        }
    }
}

#[test]
fn a_pipe_reads_as_the_file_does() {
    let path = workspace().join("pcap-fixtures/join.client.pcap");
    let bytes = std::fs::read(&path).unwrap();
    let mut child = Command::new(BIN)
        .args(["analyze", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Written in small pieces, as a capture tool writes into a pipe.
    let writer = std::thread::spawn(move || {
        for chunk in bytes.chunks(97) {
            stdin.write_all(chunk).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let want = expected("join.client", "txt").replace("pcap-fixtures/join.client.pcap:", "-:");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}

#[test]
fn an_endless_input_that_is_no_capture_is_refused_at_once() {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(["--json", "analyze", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.contains("\"type\":\"error\""), "{line}");
    assert!(line.contains("first bytes 00000000"), "{line}");
    // Not a timing target: a reader that read the whole input first would
    // never return at all.
    assert!(start.elapsed() < Duration::from_secs(60));
}
