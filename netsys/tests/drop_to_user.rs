//! netsys::privileges::drop_all switching users, for real: a user switch
//! applies to every thread of a process, so it runs in a child process (this
//! test binary again, running only `child_drops_to_the_sudo_user` with
//! CHILD set). Needs root; skips, saying so, otherwise.
use netsys::privileges::{drop_all, running_as_root, sudo_user, user_named};
use std::process::Command;

const CHILD: &str = "NETSYS_DROP_TO_USER_CHILD";

fn status() -> std::collections::HashMap<String, String> {
    std::fs::read_to_string("/proc/thread-self/status")
        .unwrap()
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

/// Does the work in the child; a no-op in a normal test run.
#[test]
fn child_drops_to_the_sudo_user() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let nobody = user_named("nobody").unwrap();
    assert_eq!(sudo_user(), Some(nobody), "SUDO_UID/SUDO_GID as root");
    let dropped = drop_all(sudo_user()).unwrap();
    assert!(dropped.switched_user);
    assert!(dropped.bounding_cleared);
    let s = status();
    let ids = |id: u32| format!("{id} {id} {id} {id}");
    assert_eq!(s["Uid"], ids(nobody.uid));
    assert_eq!(s["Gid"], ids(nobody.gid));
    assert_eq!(s["Groups"], "");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(s[set], "0000000000000000", "{set}");
    }
    assert_eq!(s["NoNewPrivs"], "1");
    // Root's files are out of reach now.
    assert!(std::fs::read_to_string("/etc/shadow").is_err());
}

#[test]
fn drop_all_switches_to_the_sudo_user_in_a_child() {
    if !running_as_root() {
        println!("skipped drop_all_switches_to_the_sudo_user_in_a_child: not root");
        return;
    }
    let Ok(nobody) = user_named("nobody") else {
        println!("skipped drop_all_switches_to_the_sudo_user_in_a_child: no user nobody");
        return;
    };
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_drops_to_the_sudo_user",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .env("SUDO_UID", nobody.uid.to_string())
        .env("SUDO_GID", nobody.gid.to_string())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}
