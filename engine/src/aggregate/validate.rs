//! The echo server's account, checked before use: a hostile or broken
//! server must not make the verdict read out-of-range numbers, unparsable
//! addresses or endless lists. Types are already enforced by the JSON
//! decoding (a token is a u32, a byte count a u64); here the sizes are
//! bounded, addresses parsed, counters limited to the ones read, and
//! anything dropped is said in a note.
use super::facts::{ServerConnection, ServerSide, SubflowRecord};
use packet::echo::aggregate::MAX_REPORTED_SUBFLOWS;
use packet::echo::{AggregateResult, EchoReport, SubflowReport};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// At most this many endpoints are read from a server's readiness.
pub const MAX_ENDPOINTS: usize = 64;
/// At most this many counters are kept.
pub const MAX_COUNTERS: usize = 64;
/// At most this many of the server's warnings become notes.
pub const MAX_WARNINGS: usize = 8;

/// Subflow records from a server's (or this host's) report; entries with
/// an address that does not parse keep `None` there, and a note says so.
pub fn subflow_records(reports: &[SubflowReport], notes: &mut Vec<String>) -> Vec<SubflowRecord> {
    if reports.len() > MAX_REPORTED_SUBFLOWS {
        notes.push(format!(
            "the server listed {} subflows; the first {MAX_REPORTED_SUBFLOWS} are used",
            reports.len()
        ));
    }
    let mut bad = 0;
    let mut parse = |a: &Option<String>| match a.as_deref().map(str::parse::<SocketAddr>) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            bad += 1;
            None
        }
    };
    let out = reports
        .iter()
        .take(MAX_REPORTED_SUBFLOWS)
        .map(|r| SubflowRecord {
            local: parse(&r.local),
            remote: parse(&r.remote),
            state: r.state,
            bytes_acked: r.bytes_acked,
            bytes_received: r.bytes_received,
        })
        .collect();
    if bad > 0 {
        notes.push(format!(
            "{bad} subflow address(es) from the server are not IP:PORT and were left out"
        ));
    }
    out
}

/// Only the join and reset counters, at most [`MAX_COUNTERS`].
fn counters(all: &BTreeMap<String, u64>, notes: &mut Vec<String>) -> BTreeMap<String, u64> {
    let wanted: BTreeMap<String, u64> = all
        .iter()
        .filter(|(k, _)| (k.starts_with("MPJoin") || k.starts_with("MPRst")) && k.len() <= 64)
        .take(MAX_COUNTERS)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if wanted.len() < all.len() {
        notes.push(format!(
            "{} server counter(s) other than MPJoin*/MPRst* were ignored",
            all.len() - wanted.len()
        ));
    }
    wanted
}

/// The server's side from its report (limits, endpoints, sysctls) and,
/// when it speaks the aggregate exchange, its result.
pub fn server_side(
    report: &EchoReport,
    result: Option<&AggregateResult>,
    notes: &mut Vec<String>,
) -> ServerSide {
    let r = &report.readiness;
    if r.endpoints.len() > MAX_ENDPOINTS {
        notes.push(format!(
            "the server listed {} endpoints; the first {MAX_ENDPOINTS} are used",
            r.endpoints.len()
        ));
    }
    let allow_join = r
        .sysctls
        .get("allow_join_initial_addr_port")
        .and_then(|v| match v.trim() {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        });
    let mut side = ServerSide {
        speaks_aggregate: result.is_some(),
        limits: r.limits,
        endpoints: r.endpoints.iter().take(MAX_ENDPOINTS).cloned().collect(),
        allow_join_initial_addr_port: allow_join,
        connection: None,
        subflows: Vec::new(),
        counters: BTreeMap::new(),
    };
    if let Some(res) = result {
        let c = &res.connection;
        side.connection = Some(ServerConnection {
            mptcp: c.mptcp,
            token: c.token,
            subflows: c.subflows,
            subflows_max: c.subflows_max,
        });
        side.subflows = subflow_records(&res.subflows, notes);
        side.counters = counters(&res.counters, notes);
        // Server text: the output escapes it; a flood of them is cut.
        for w in res.warnings.iter().take(MAX_WARNINGS) {
            notes.push(format!("echo server: {w}"));
        }
    }
    side
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::echo::{AggregateConnection, PmLimits};

    fn report_json() -> serde_json::Value {
        serde_json::json!({
            "version": 1,
            "peer": {"addr": "10.11.0.1", "port": 40000},
            "local": {"addr": "10.99.0.2", "port": 6101},
            "syn": null, "syn_ack": null,
            "connection": {"mptcp": true, "listener_mptcp": true, "fallback_reason": null, "info_flags": 2},
            "readiness": {"mptcp_enabled": true, "flavor": "upstream", "versions": [1],
                "sysctls": {"allow_join_initial_addr_port": "0"},
                "limits": {"subflows": 0, "add_addr_accepted": 8},
                "endpoints": [], "kernel_release": null, "listener": null, "errors": []},
            "warnings": [],
            "features": ["aggregate"]
        })
    }

    fn result(subflows: Vec<SubflowReport>) -> AggregateResult {
        AggregateResult {
            version: 1,
            received: 1,
            sent: 2,
            connection: AggregateConnection {
                mptcp: true,
                token: Some(9),
                subflows: Some(0),
                subflows_max: Some(0),
                ..Default::default()
            },
            subflows,
            subflow_source: None,
            counters: [("MPJoinRejected", 3u64), ("Evil", u64::MAX)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            joins: vec![],
            capture_drops: 0,
            displaced: 0,
            warnings: vec![],
        }
    }

    #[test]
    fn limits_sysctls_and_result_are_read() {
        let report: EchoReport = serde_json::from_value(report_json()).unwrap();
        let mut notes = Vec::new();
        let s = server_side(&report, Some(&result(vec![])), &mut notes);
        assert!(s.speaks_aggregate);
        assert_eq!(
            s.limits,
            Some(PmLimits {
                subflows: Some(0),
                add_addr_accepted: Some(8)
            })
        );
        assert_eq!(s.allow_join_initial_addr_port, Some(false));
        assert_eq!(s.connection.unwrap().subflows_max, Some(0));
        assert_eq!(s.counters.len(), 1);
        assert!(notes[0].contains("ignored"), "{notes:?}");
        let warned = AggregateResult {
            warnings: vec!["w".into(); 100],
            ..result(vec![])
        };
        let mut notes = Vec::new();
        server_side(&report, Some(&warned), &mut notes);
        let echoed = notes.iter().filter(|n| *n == "echo server: w").count();
        assert_eq!(echoed, MAX_WARNINGS, "{notes:?}");
        let old = server_side(&report, None, &mut Vec::new());
        assert!(!old.speaks_aggregate && old.connection.is_none());
    }

    #[test]
    fn hostile_lists_and_addresses_are_bounded() {
        let many: Vec<SubflowReport> = (0..1000)
            .map(|i| SubflowReport {
                local: Some(if i % 2 == 0 {
                    "10.99.0.2:6101".into()
                } else {
                    "nonsense".into()
                }),
                remote: None,
                ..Default::default()
            })
            .collect();
        let mut notes = Vec::new();
        let recs = subflow_records(&many, &mut notes);
        assert_eq!(recs.len(), MAX_REPORTED_SUBFLOWS);
        assert!(recs[1].local.is_none());
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn a_report_with_a_wrongly_typed_number_is_refused_by_decoding() {
        let mut v = serde_json::to_value(result(vec![])).unwrap();
        v["connection"]["token"] = serde_json::json!(-1);
        assert!(serde_json::from_value::<AggregateResult>(v.clone()).is_err());
        v["connection"]["token"] = serde_json::json!(1u64 << 40);
        assert!(serde_json::from_value::<AggregateResult>(v).is_err());
    }
}
