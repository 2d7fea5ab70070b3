//! `doctor --json`: the one object documented in the module above, as
//! structs.
use super::checks;
use super::facts::{DoctorFacts, SocketTry};
use super::finding::{Finding, Status};
use packet::echo::{Flavor, PmLimits};
use serde::Serialize;
use std::collections::BTreeMap;

/// The report's schema version (`"doctor": 1`).
pub const DOCTOR_JSON_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct DoctorJson<'a> {
    pub doctor: u32,
    /// No finding is a problem.
    pub usable: bool,
    /// The worst finding.
    pub status: Status,
    pub kernel: KernelJson<'a>,
    pub sockets: SocketsJson<'a>,
    /// Every `net.mptcp.*` sysctl, name without the prefix.
    pub sysctls: &'a BTreeMap<String, String>,
    pub limits: Option<PmLimits>,
    pub endpoints: Vec<EndpointJson<'a>>,
    /// `MPTcpExt` of this namespace; null when unreadable.
    pub counters: Option<&'a BTreeMap<String, u64>>,
    pub findings: &'a [Finding],
    /// Reads that failed.
    pub errors: Vec<String>,
    /// What a new outgoing MPTCP connection gets now; null when not probed.
    pub new_connection: Option<NewConnectionJson>,
    /// `client` or `server`: whose endpoint advice applies (`--role`, or
    /// detected from the endpoints).
    pub role: super::facts::Role,
}

/// The probe of a new connection (`host::new_connection`).
#[derive(Debug, Serialize)]
pub struct NewConnectionJson {
    /// `TCP_IS_MPTCP` of the probe's socket (null: not readable).
    pub is_mptcp: Option<bool>,
    /// The blackhole detection kept MP_CAPABLE out of it.
    pub blackholed: bool,
}

#[derive(Debug, Serialize)]
pub struct KernelJson<'a> {
    pub release: Option<&'a str>,
    pub flavor: Flavor,
    pub versions: &'a [u8],
    pub mptcp_enabled: Option<bool>,
    pub config: Option<ConfigJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ConfigJson<'a> {
    /// The file the config was read from.
    pub source: &'a str,
    /// `y`, `m`, `not set`, or null when the symbol is absent.
    pub mptcp: Option<&'a str>,
    pub mptcp_ipv6: Option<&'a str>,
}

/// Per family: `opened`, the error, or null when not tried.
#[derive(Debug, Serialize)]
pub struct SocketsJson<'a> {
    pub ipv4: Option<&'a str>,
    pub ipv6: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct EndpointJson<'a> {
    pub id: Option<u8>,
    pub addr: Option<&'a str>,
    pub port: Option<u16>,
    pub flags: &'a [String],
    pub ifindex: Option<i32>,
    /// The interface name of `ifindex`.
    pub dev: Option<&'a str>,
    /// The endpoint as `ip mptcp endpoint show` prints it.
    pub line: String,
}

fn socket_json(s: &SocketTry) -> Option<&str> {
    match s {
        SocketTry::NotTried => None,
        SocketTry::Opened => Some("opened"),
        SocketTry::Failed { message, .. } => Some(message),
    }
}

/// The JSON report (see the module documentation of `doctor` for its shape).
pub fn to_json<'a>(facts: &'a DoctorFacts, findings: &'a [Finding]) -> DoctorJson<'a> {
    let r = &facts.readiness;
    let config = facts.kconfig.as_ref().ok().and_then(Option::as_ref);
    let mut errors = r.errors.clone();
    let probe_error = facts.new_connection.as_ref().and_then(|r| r.as_ref().err());
    for e in [
        facts.kconfig.as_ref().err(),
        facts.counters.as_ref().err(),
        probe_error,
    ]
    .into_iter()
    .flatten()
    {
        errors.push(format!("{}: {e}", e.what));
    }
    DoctorJson {
        doctor: DOCTOR_JSON_VERSION,
        usable: checks::usable(findings),
        status: super::worst(findings),
        kernel: KernelJson {
            release: facts.kernel_release.as_deref(),
            flavor: r.flavor,
            versions: &r.versions,
            mptcp_enabled: r.mptcp_enabled,
            config: config.map(|c| ConfigJson {
                source: &c.source,
                mptcp: c.mptcp.as_ref().map(|s| s.as_str()),
                mptcp_ipv6: c.mptcp_ipv6.as_ref().map(|s| s.as_str()),
            }),
        },
        sockets: SocketsJson {
            ipv4: socket_json(&facts.socket_v4),
            ipv6: socket_json(&facts.socket_v6),
        },
        sysctls: &r.sysctls,
        limits: r.limits,
        endpoints: r
            .endpoints
            .iter()
            .map(|e| EndpointJson {
                id: e.id,
                addr: e.addr.as_deref(),
                port: e.port,
                flags: &e.flags,
                ifindex: e.ifindex,
                dev: e
                    .ifindex
                    .and_then(|i| facts.ifnames.get(&i))
                    .map(String::as_str),
                line: checks::endpoint_line(e, facts),
            })
            .collect(),
        counters: facts.counters.as_ref().ok(),
        findings,
        errors,
        new_connection: facts
            .new_connection
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(|p| NewConnectionJson {
                is_mptcp: p.is_mptcp,
                blackholed: p.blackholed(),
            }),
        role: facts.role.resolve(&r.endpoints).0,
    }
}
