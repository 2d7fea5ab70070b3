//! Capabilities are per thread: every test that changes them runs in a
//! thread of its own, so the other tests keep theirs.
use super::*;

fn in_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

#[test]
fn capget_reads_this_thread() {
    let effective = read(CapSet::Effective).unwrap();
    let permitted = read(CapSet::Permitted).unwrap();
    assert!(effective.is_subset(&permitted));
}

#[test]
fn with_net_raw_matches_permitted_set() {
    in_thread(|| {
        let had = has_net_raw();
        match with_net_raw(|| Ok(read(CapSet::Effective))) {
            Ok(Ok(inside)) => {
                assert!(had);
                assert_eq!(inside, CapsHashSet::from([Capability::CAP_NET_RAW]));
                assert!(
                    read(CapSet::Effective).unwrap().is_empty(),
                    "lowered after open"
                );
                assert!(has_net_raw(), "permitted kept");
            }
            Ok(Err(e)) => panic!("capget inside failed: {e}"),
            Err(e) => {
                assert!(!had);
                assert!(matches!(e, PrivilegeError::NoNetRaw { .. }));
                assert_eq!(e.fix(), Some(PRIVILEGE_FIX));
            }
        }
    });
}

#[test]
fn lowering_keeps_the_permitted_set() {
    in_thread(|| {
        let before = read(CapSet::Permitted).unwrap();
        lower_effective().unwrap();
        assert!(read(CapSet::Effective).unwrap().is_empty());
        assert_eq!(read(CapSet::Permitted).unwrap(), before);
        // Raising still works afterwards when permitted.
        if before.contains(&Capability::CAP_NET_RAW) {
            assert!(with_net_raw(|| Ok(())).is_ok());
        }
    });
}

#[test]
fn a_refused_socket_is_a_missing_privilege_and_other_errors_are_not() {
    in_thread(|| {
        if !has_net_raw() {
            eprintln!("skipping: no CAP_NET_RAW");
            return;
        }
        let e =
            with_net_raw(|| -> io::Result<()> { Err(io::Error::from_raw_os_error(libc::EPERM)) })
                .unwrap_err();
        assert!(matches!(e, PrivilegeError::NoNetRaw { .. }), "{e}");
        assert!(e.to_string().contains("the kernel refused the socket"));
        let e =
            with_net_raw(|| -> io::Result<()> { Err(io::Error::from_raw_os_error(libc::EMFILE)) })
                .unwrap_err();
        assert!(matches!(e, PrivilegeError::Open(_)), "{e}");
        assert_eq!(e.fix(), None);
    });
}

#[test]
fn missing_privilege_message_has_the_fix() {
    let e = PrivilegeError::NoNetRaw {
        detail: "this process does not hold it".into(),
    };
    let text = e.to_string();
    assert!(text.contains("sudo setcap cap_net_raw+ep $(command -v mptcp-probe)"));
    assert!(text.contains("or run it with sudo"));
}

#[test]
fn sudo_rule_switches_root_to_the_invoking_user_only() {
    let ids = |uid, gid| Some(UserIds { uid, gid });
    assert_eq!(sudo_rule(0, Some("1000"), Some("100")), ids(1000, 100));
    assert_eq!(sudo_rule(0, Some(" 1000\n"), Some("100")), ids(1000, 100));
    // Not root, root invoking sudo, or no (or garbled) sudo variables.
    assert_eq!(sudo_rule(1000, Some("1000"), Some("100")), None);
    assert_eq!(sudo_rule(0, Some("0"), Some("0")), None);
    assert_eq!(sudo_rule(0, None, Some("100")), None);
    assert_eq!(sudo_rule(0, Some("1000"), None), None);
    assert_eq!(sudo_rule(0, Some("me"), Some("100")), None);
}

#[test]
fn users_are_looked_up_by_name() {
    let root = user_named("root").unwrap();
    assert_eq!(root, UserIds { uid: 0, gid: 0 });
    let e = user_named("no-such-user-mptcp-probe").unwrap_err();
    assert!(matches!(e, PrivilegeError::NoSuchUser(_)), "{e}");
}

/// The whole drop on one thread, staying the current user (switching
/// users would change every thread of the test process: that is tested
/// in a child process, tests/drop_to_user.rs).
#[test]
fn drop_all_leaves_this_thread_nothing() {
    in_thread(|| {
        let me = UserIds::current();
        let was_root = running_as_root();
        let dropped = drop_all(None).unwrap();
        assert_eq!((dropped.uid, dropped.gid), (me.uid, me.gid));
        assert!(!dropped.switched_user);
        assert_eq!(dropped.bounding_cleared, was_root);
        for set in [
            CapSet::Effective,
            CapSet::Permitted,
            CapSet::Inheritable,
            CapSet::Ambient,
        ] {
            assert!(read(set).unwrap().is_empty(), "{set:?}");
        }
        if was_root {
            assert!(read(CapSet::Bounding).unwrap().is_empty());
        }
        assert!(nix::sys::prctl::get_no_new_privs().unwrap());
        assert!(!has_net_raw());
        // Nothing left to raise.
        assert!(matches!(
            with_net_raw(|| Ok(())),
            Err(PrivilegeError::NoNetRaw { .. })
        ));
        // Dropping again finds nothing and still verifies.
        drop_all(None).unwrap();
    });
    // This thread kept its own.
    if running_as_root() {
        assert!(has_net_raw());
    }
}
