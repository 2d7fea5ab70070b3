//! The hidden verbs that packagers run: `mptcp-probe completions SHELL` and
//! `mptcp-probe manpage [--dir DIR]`, through the real binary.
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe");
const VERBS: [&str; 4] = ["check", "trace", "doctor", "analyze"];

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.is_empty(), "{shell}");
        for verb in VERBS {
            assert!(text.contains(verb), "{shell}: {verb}");
        }
    }
    let bad = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "clap's usage error");
}

#[test]
fn manpage_on_stdout_and_into_a_directory() {
    let out = Command::new(BIN).arg("manpage").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(".TH mptcp-probe 1"), "{text}");
    for verb in VERBS {
        assert!(
            text.contains(&format!("mptcp\\-probe\\-{verb}(1)")),
            "{verb}"
        );
    }
    let dir = std::env::temp_dir().join(format!("mptcp-probe-man-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(BIN)
        .args(["manpage", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    for verb in VERBS {
        let page = std::fs::read_to_string(dir.join(format!("mptcp-probe-{verb}.1"))).unwrap();
        assert!(page.contains(&format!(".TH mptcp-probe-{verb} 1")));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // Packagers and users find both generators in --help.
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("doctor") && help.contains("manpage") && help.contains("completions"),
        "{help}"
    );
}
