//! The binary's command line as a packager and an administrator meet it:
//! its name and version, the man page it prints, options from the
//! environment. Needs no privileges.
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mptcp-probe-server");

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run mptcp-probe-server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_is_named_after_the_binary() {
    let (code, stdout, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        format!("mptcp-probe-server {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn manpage_flag_prints_the_committed_page() {
    let (code, stdout, stderr) = run(&["--manpage"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, include_str!("../man/mptcp-probe-server.8"));
}

#[test]
fn a_bad_environment_value_is_a_usage_error_naming_the_option() {
    let (code, _, stderr) = run(&["--manpage"], &[("MPTCP_PROBE_SERVER_PORT", "x")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--port"), "{stderr}");
}

#[test]
fn help_names_the_environment_variables() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("MPTCP_PROBE_SERVER_WATCH"), "{stdout}");
    assert!(!stdout.contains("--manpage"), "hidden: {stdout}");
}

/// Runs `cmd`, true when it exits 0; its output is not wanted.
fn ok(cmd: &mut Command) -> bool {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn netns_skip_reason() -> Option<&'static str> {
    let uid = Command::new("id").arg("-u").output();
    if !uid.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0") {
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

/// The journal shows the log lines as written: values must be plain words
/// (`cap_eff=0000000000000000`, `syn_mp_capable=absent`), not Rust's
/// `Some("...")`.
#[test]
fn log_fields_are_plain_values() {
    if let Some(why) = netns_skip_reason() {
        println!("skipped log_fields_are_plain_values: {why}");
        return;
    }
    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let ns = Netns(format!("mpp-log-{}", std::process::id()));
    assert!(ok(Command::new("ip").args(["netns", "add", &ns.0])));
    assert!(ok(
        Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"])
    ));
    let log_path = std::env::temp_dir().join(format!("{}.log", ns.0));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = Command::new("ip")
        .args([
            "netns", "exec", &ns.0, BIN, "--port", "6101", "--user", "nobody",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let answered = loop {
        if ok(Command::new("ip")
            .args(["netns", "exec", &ns.0, "curl", "-sS", "--max-time", "5"])
            .arg("http://127.0.0.1:6101/"))
        {
            break true;
        }
        if started.elapsed() > std::time::Duration::from_secs(15) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = server.kill();
    let _ = server.wait();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    assert!(answered, "server never answered:\n{text}");
    assert!(!text.contains("Some("), "{text}");
    // drop_all verifies every capability set is empty before it logs this.
    assert!(
        text.contains("dropped every capability (verified)"),
        "{text}"
    );
    assert!(text.contains("syn_mp_capable=absent"), "plain curl: {text}");
}
