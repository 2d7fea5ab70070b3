//! The pure evaluation with fixture facts: readiness + counters + config
//! text -> findings.
use super::checks::{evaluate, usable};
use super::facts::{DoctorFacts, Role, SocketTry};
use super::finding::{Finding, Status};
use super::{to_json, to_text};
use host::kconfig::MptcpConfig;
use packet::echo::{HostReadiness, PmEndpoint, PmLimits};
use std::collections::BTreeMap;

const CONFIG: &str = "CONFIG_INET=y\nCONFIG_MPTCP=y\nCONFIG_MPTCP_IPV6=y\n";

/// Counters of a host that made two clean MPTCP connections.
const NETSTAT: &str = "TcpExt: SyncookiesSent\nTcpExt: 0\n\
MPTcpExt: MPCapableSYNRX MPCapableSYNTX MPCapableSYNACKRX MPCapableACKRX MPCapableFallbackACK MPCapableFallbackSYNACK MPCapableSYNTXDrop MPCapableSYNTXDisabled MPJoinSynTx MPJoinSynAckRx MPCurrEstab Blackhole\n\
MPTcpExt: 0 2 2 0 0 0 0 0 0 0 1 0\n";

fn sysctls(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn counters(text: &str) -> BTreeMap<String, u64> {
    host::netstat::parse(text).unwrap()["MPTcpExt"].clone()
}

fn endpoint(id: u8, addr: &str, flags: &[&str], ifindex: i32) -> PmEndpoint {
    PmEndpoint {
        id: Some(id),
        addr: Some(addr.into()),
        port: Some(0),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        ifindex: Some(ifindex),
    }
}

/// An upstream 6.18 router with MPTCP on, two WAN endpoints, limits 2/2.
fn healthy() -> DoctorFacts {
    let map = sysctls(&[
        ("enabled", "1"),
        ("blackhole_timeout", "3600"),
        ("path_manager", "kernel"),
        ("pm_type", "0"),
        ("scheduler", "default"),
    ]);
    let state = host::sysctl::MptcpSysctlState::from_map(&map);
    DoctorFacts {
        readiness: HostReadiness {
            mptcp_enabled: state.enabled,
            flavor: state.flavor,
            versions: state.versions,
            sysctls: map,
            limits: Some(PmLimits {
                subflows: Some(2),
                add_addr_accepted: Some(2),
            }),
            endpoints: vec![
                endpoint(1, "10.1.0.3", &["subflow"], 2),
                endpoint(2, "10.9.0.2", &["subflow", "backup"], 3),
            ],
            ..Default::default()
        },
        kernel_release: Some("6.18.44".into()),
        kconfig: Ok(Some(MptcpConfig::from_text("/proc/config.gz", CONFIG))),
        socket_v4: SocketTry::Opened,
        socket_v6: SocketTry::Opened,
        counters: Ok(counters(NETSTAT)),
        ifnames: [(2, "wan1".to_string()), (3, "wan2".to_string())].into(),
        new_connection: None,
        role: Role::Auto,
    }
}

fn find<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check} finding in {findings:#?}"))
}

#[test]
fn healthy_router_is_all_ok() {
    let f = evaluate(&healthy());
    assert!(usable(&f));
    for finding in &f {
        assert_eq!(finding.status, Status::Ok, "{finding:#?}");
    }
    let eps = find(&f, "endpoints");
    assert_eq!(
        eps.details[0],
        "10.1.0.3 id 1 subflow dev wan1: extra subflows are opened from it (client side)"
    );
    assert!(eps.details[1].starts_with("10.9.0.2 id 2 subflow backup dev wan2: "));
    assert!(eps.details[1].contains("backups"));
    assert!(find(&f, "path_manager").message.contains("`kernel`"));
    assert!(find(&f, "path_manager")
        .message
        .contains("scheduler `default`"));
    assert!(find(&f, "kernel_config")
        .message
        .contains("CONFIG_MPTCP=y, CONFIG_MPTCP_IPV6=y"));
    let summary = find(&f, "counters");
    assert!(summary
        .message
        .starts_with("2 outgoing connections tried MPTCP, 2 were answered with MPTCP"));
    assert!(f.iter().all(|x| x.check != "blackhole"));
}

#[test]
fn disabled_sysctl_is_a_problem_with_the_fix() {
    let mut facts = healthy();
    facts.readiness.sysctls.insert("enabled".into(), "0".into());
    facts.readiness.mptcp_enabled = Some(false);
    facts.socket_v4 = SocketTry::Failed {
        errno: Some(libc::ENOPROTOOPT),
        message: "Protocol not available (os error 92)".into(),
    };
    let f = evaluate(&facts);
    assert!(!usable(&f));
    let s = find(&f, "sysctl");
    assert_eq!(s.status, Status::Problem);
    assert!(s
        .fix
        .as_deref()
        .unwrap()
        .starts_with("sysctl -w net.mptcp.enabled=1"));
    let sock = find(&f, "socket_ipv4");
    assert_eq!(sock.status, Status::Problem);
    assert!(sock.message.contains("net.mptcp.enabled = 0"));
    assert!(to_text(&f).starts_with("MPTCP is NOT usable"));
}

#[test]
fn out_of_tree_v0_kernel_warns_about_upstream_servers() {
    let map = sysctls(&[("mptcp_enabled", "1"), ("mptcp_version", "0")]);
    let state = host::sysctl::MptcpSysctlState::from_map(&map);
    let facts = DoctorFacts {
        readiness: HostReadiness {
            mptcp_enabled: state.enabled,
            flavor: state.flavor,
            versions: state.versions,
            sysctls: map,
            ..Default::default()
        },
        kernel_release: Some("5.4.207-mptcp".into()),
        socket_v4: SocketTry::Failed {
            errno: Some(libc::EPROTONOSUPPORT),
            message: "Protocol not supported".into(),
        },
        ..Default::default()
    };
    let f = evaluate(&facts);
    let s = find(&f, "sysctl");
    assert_eq!(s.status, Status::Warn);
    assert!(s.message.contains("v0 (RFC 6824)"));
    assert!(s.message.contains("speak only v1"));
    assert!(s.fix.as_deref().unwrap().contains("mptcp_version=1"));
    // No IPPROTO_MPTCP there is normal, not a problem.
    assert_eq!(find(&f, "socket_ipv4").status, Status::Ok);
    // The in-kernel upstream path manager does not exist there.
    assert!(f.iter().all(|x| x.check != "limits"));
    assert!(
        f.iter().all(|x| x.check != "path_manager"),
        "no sysctl, no finding"
    );
    assert_eq!(find(&f, "kernel_config").status, Status::Unknown);
    assert!(usable(&f));
}

#[test]
fn kernel_without_mptcp() {
    let facts = DoctorFacts {
        kernel_release: Some("5.4.0".into()),
        kconfig: Ok(Some(MptcpConfig::from_text(
            "/boot/config-5.4.0",
            "CONFIG_INET=y\n",
        ))),
        socket_v4: SocketTry::Failed {
            errno: Some(libc::EPROTONOSUPPORT),
            message: "Protocol not supported (os error 93)".into(),
        },
        counters: Ok(BTreeMap::new()),
        ..Default::default()
    };
    let f = evaluate(&facts);
    assert!(!usable(&f));
    assert_eq!(find(&f, "sysctl").status, Status::Problem);
    let k = find(&f, "kernel_config");
    assert_eq!(k.status, Status::Problem);
    assert!(k.message.contains("CONFIG_MPTCP=absent"));
    assert!(find(&f, "socket_ipv4")
        .fix
        .as_deref()
        .unwrap()
        .contains("CONFIG_MPTCP=y"));
    assert_eq!(find(&f, "counters").status, Status::Unknown);
}

#[test]
fn config_without_ipv6_and_missing_config() {
    let mut facts = healthy();
    facts.kconfig = Ok(Some(MptcpConfig::from_text(
        "/boot/config-6.1.0",
        "CONFIG_MPTCP=y\n# CONFIG_MPTCP_IPV6 is not set\n",
    )));
    let f = evaluate(&facts);
    let k = find(&f, "kernel_config");
    assert_eq!(k.status, Status::Warn);
    assert!(k.message.contains("CONFIG_MPTCP_IPV6=not set"));
    facts.kconfig = Ok(None);
    let k = evaluate(&facts);
    let k = find(&k, "kernel_config");
    assert_eq!(k.status, Status::Unknown);
    assert!(k.message.contains("/boot/config-6.18.44"));
}

#[test]
fn no_subflow_endpoints_means_one_path() {
    let mut facts = healthy();
    facts.readiness.endpoints = vec![endpoint(1, "10.2.0.2", &["signal"], 2)];
    // A client (router) with only a `signal` endpoint: said with --role,
    // since a `signal`-only host is taken for a server otherwise.
    facts.role = Role::Client;
    facts.readiness.limits = Some(PmLimits {
        subflows: Some(0),
        add_addr_accepted: Some(0),
    });
    let f = evaluate(&facts);
    assert!(usable(&f), "one path is still MPTCP");
    let e = find(&f, "endpoints");
    assert_eq!(e.status, Status::Warn);
    assert!(e.message.contains("one path only"));
    assert!(e.message.contains("`signal`"));
    assert!(e
        .fix
        .as_deref()
        .unwrap()
        .contains("ip mptcp endpoint add ADDR dev IFACE subflow"));
    let l = find(&f, "limits");
    assert_eq!(l.status, Status::Warn);
    assert!(l
        .message
        .starts_with("limits: add_addr_accepted 0 subflows 0: "));
    assert!(l.message.contains("no extra subflow"));
    assert!(l.message.contains("announces (ADD_ADDR) are ignored"));
    assert!(l
        .fix
        .as_deref()
        .unwrap()
        .starts_with("ip mptcp limits set subflows"));
}

#[test]
fn more_subflow_endpoints_than_the_limit() {
    let mut facts = healthy();
    facts.readiness.limits = Some(PmLimits {
        subflows: Some(1),
        add_addr_accepted: Some(0),
    });
    let l = evaluate(&facts);
    let l = find(&l, "limits");
    assert_eq!(l.status, Status::Warn);
    assert!(l.message.contains("2 subflow endpoints but a limit of 1"));
}

#[test]
fn userspace_path_manager_skips_limits() {
    let mut facts = healthy();
    facts
        .readiness
        .sysctls
        .insert("path_manager".into(), "userspace".into());
    let f = evaluate(&facts);
    assert!(find(&f, "path_manager").message.contains("userspace"));
    assert!(f
        .iter()
        .all(|x| x.check != "limits" && x.check != "endpoints"));
}

#[test]
fn blackhole_counters_warn_with_the_reset() {
    let mut facts = healthy();
    facts.counters = Ok(counters(
        "MPTcpExt: MPCapableSYNTX MPCapableSYNTXDrop MPCapableSYNTXDisabled MPCapableFallbackSYNACK Blackhole\n\
MPTcpExt: 4 3 2 1 1\n",
    ));
    let f = evaluate(&facts);
    assert!(usable(&f));
    let b = find(&f, "blackhole");
    assert_eq!(b.status, Status::Warn);
    assert!(b
        .message
        .contains("Blackhole = 1, MPCapableSYNTXDisabled = 2"));
    assert!(b.message.contains("aggregation stops"));
    assert!(b.message.contains("3600"));
    assert!(b
        .fix
        .as_deref()
        .unwrap()
        .starts_with("sysctl -w net.mptcp.blackhole_timeout=3600"));
    assert!(find(&f, "syn_drops")
        .message
        .contains("MPCapableSYNTXDrop = 3"));
    assert!(find(&f, "fallback_syn_ack")
        .message
        .contains("answered MP_CAPABLE SYNs without MPTCP"));
    // With detection switched off the history is no longer a warning.
    facts
        .readiness
        .sysctls
        .insert("blackhole_timeout".into(), "0".into());
    let b = evaluate(&facts);
    let b = find(&b, "blackhole");
    assert_eq!(b.status, Status::Ok);
    assert!(b.fix.is_none());
}

#[test]
fn an_active_blackhole_is_a_problem_with_the_advice_check_gives() {
    use host::new_connection::NewConnection;
    let mut facts = healthy();
    facts.counters = Ok(counters(
        "MPTcpExt: MPCapableSYNTX MPCapableSYNTXDisabled Blackhole\nMPTcpExt: 4 2 1\n",
    ));
    facts.new_connection = Some(Ok(NewConnection {
        is_mptcp: Some(false),
        syn_tx_disabled: Some(1),
    }));
    let f = evaluate(&facts);
    assert!(!usable(&f), "new connections get no MPTCP");
    let b = find(&f, "blackhole");
    assert_eq!(b.status, Status::Problem);
    assert!(b.message.contains("active NOW"), "{}", b.message);
    // The one advice text, the same function as check's verdict.
    assert_eq!(
        b.fix.as_deref(),
        Some(packet::verdict::blackhole::reset_advice(Some(3600)).as_str())
    );
    assert!(to_text(&f).starts_with("MPTCP is NOT usable on this host"));
    let json = serde_json::to_value(to_json(&facts, &f)).unwrap();
    assert_eq!(json["new_connection"]["blackholed"], true);
    assert_eq!(json["usable"], false);

    // Probed again once the period is over: history only.
    facts.new_connection = Some(Ok(NewConnection {
        is_mptcp: Some(true),
        syn_tx_disabled: Some(0),
    }));
    let f = evaluate(&facts);
    assert!(usable(&f));
    let b = find(&f, "blackhole");
    assert_eq!(b.status, Status::Ok);
    assert!(b.message.contains("the period is over"), "{}", b.message);
    assert!(b.fix.is_none());
}

#[test]
fn a_server_gets_no_client_endpoint_advice() {
    // The VPS of OMR's layout: one `signal` endpoint, no `subflow` one.
    let mut facts = healthy();
    facts.readiness.endpoints = vec![endpoint(1, "203.0.113.7", &["signal"], 2)];
    let f = evaluate(&facts);
    let eps = find(&f, "endpoints");
    assert_eq!(eps.status, Status::Ok, "{eps:#?}");
    assert!(eps.message.contains("as a server"), "{}", eps.message);
    assert!(eps.message.contains("`signal` endpoint and no `subflow`"));
    assert!(!eps.message.contains("as a client"));
    assert!(eps.fix.is_none());
    let json = serde_json::to_value(to_json(&facts, &f)).unwrap();
    assert_eq!(json["role"], "server");

    // A VPS without any endpoint: told with --role server.
    facts.readiness.endpoints.clear();
    facts.role = Role::Server;
    let f = evaluate(&facts);
    let eps = find(&f, "endpoints");
    assert_eq!(eps.status, Status::Ok);
    assert!(eps.message.contains("role from --role"), "{}", eps.message);
    assert!(eps.fix.is_none());

    // Undetected, the client advice names the way out for a server.
    facts.role = Role::Auto;
    let f = evaluate(&facts);
    let eps = find(&f, "endpoints");
    assert_eq!(eps.status, Status::Warn);
    assert!(eps.message.contains("as a client"));
    assert!(eps.message.contains("--role server"), "{}", eps.message);
    assert_eq!(
        serde_json::to_value(to_json(&facts, &f)).unwrap()["role"],
        "client"
    );
}

#[test]
fn join_counters() {
    let mut facts = healthy();
    facts.counters = Ok(counters(
        "MPTcpExt: MPJoinSynTx MPJoinSynAckRx MPJoinSynTxConnectErr MPJoinRejected\nMPTcpExt: 5 0 1 2\n",
    ));
    let f = evaluate(&facts);
    assert!(find(&f, "join_unanswered")
        .message
        .contains("MPJoinSynTx = 5"));
    assert!(find(&f, "join_errors")
        .message
        .contains("MPJoinSynTxConnectErr = 1"));
    assert!(find(&f, "join_rejected")
        .message
        .contains("MPJoinRejected = 2"));
}

#[test]
fn json_shape_is_stable() {
    let facts = healthy();
    let f = evaluate(&facts);
    let v = serde_json::to_value(to_json(&facts, &f)).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "counters",
            "doctor",
            "endpoints",
            "errors",
            "findings",
            "kernel",
            "limits",
            "new_connection",
            "role",
            "sockets",
            "status",
            "sysctls",
            "usable"
        ]
    );
    assert_eq!(v["doctor"], 1);
    assert_eq!(v["usable"], true);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["kernel"]["config"]["mptcp"], "y");
    assert_eq!(v["limits"]["subflows"], 2);
    assert_eq!(v["endpoints"][0]["line"], "10.1.0.3 id 1 subflow dev wan1");
    assert_eq!(v["endpoints"][0]["dev"], "wan1");
    assert_eq!(v["sockets"]["ipv4"], "opened");
    assert_eq!(v["counters"]["MPCapableSYNTX"], 2);
    assert_eq!(v["findings"][0]["check"], "sysctl");
    assert_eq!(v["findings"][0]["group"], "kernel");
    assert_eq!(v["findings"][0]["fix"], serde_json::Value::Null);
}

#[test]
fn out_of_tree_path_managers() {
    let facts_with = |pm: &str| {
        let map = sysctls(&[
            ("mptcp_enabled", "1"),
            ("mptcp_version", "0"),
            ("mptcp_path_manager", pm),
            ("mptcp_scheduler", "default"),
        ]);
        let state = host::sysctl::MptcpSysctlState::from_map(&map);
        DoctorFacts {
            readiness: HostReadiness {
                mptcp_enabled: state.enabled,
                flavor: state.flavor,
                versions: state.versions,
                sysctls: map,
                ..Default::default()
            },
            ..Default::default()
        }
    };
    let f = evaluate(&facts_with("fullmesh"));
    let pm = find(&f, "path_manager");
    assert_eq!(pm.status, Status::Ok);
    assert!(pm
        .message
        .starts_with("out-of-tree path manager `fullmesh`"));
    assert!(pm.message.contains("scheduler `default`"));
    let f = evaluate(&facts_with("default"));
    let pm = find(&f, "path_manager");
    assert_eq!(pm.status, Status::Warn);
    assert!(pm.message.contains("one path only"));
    assert!(pm
        .fix
        .as_deref()
        .unwrap()
        .starts_with("sysctl -w net.mptcp.mptcp_path_manager=fullmesh"));
}

#[test]
fn json_kernel_sockets_and_read_errors() {
    use super::facts::ReadError;
    let mut facts = healthy();
    facts.socket_v6 = SocketTry::NotTried;
    facts.kconfig = Err(ReadError {
        what: "kernel config",
        reason: "Permission denied (os error 13)".into(),
    });
    let f = evaluate(&facts);
    let v = serde_json::to_value(to_json(&facts, &f)).unwrap();
    let kernel: Vec<&String> = v["kernel"].as_object().unwrap().keys().collect();
    assert_eq!(
        kernel,
        ["config", "flavor", "mptcp_enabled", "release", "versions"]
    );
    assert_eq!(v["kernel"]["flavor"], "upstream");
    assert_eq!(v["kernel"]["config"], serde_json::Value::Null);
    assert_eq!(v["sockets"]["ipv6"], serde_json::Value::Null);
    assert_eq!(
        v["errors"],
        serde_json::json!(["kernel config: Permission denied (os error 13)"])
    );
    assert!(find(&f, "kernel_config")
        .message
        .ends_with("could not be read: Permission denied (os error 13)"));
}
