//! What `doctor` reads from this host (the only I/O of the verb). Every read
//! is kept with its error, so the pure evaluation can say "unknown, because".
use host::kconfig::MptcpConfig;
use host::new_connection::NewConnection;
use packet::echo::HostReadiness;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::BTreeMap;
use thiserror::Error;

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct DoctorFacts {
    /// Sysctls, path-manager limits and endpoints (the `host` crate).
    pub readiness: HostReadiness,
    pub kernel_release: Option<String>,
    /// The kernel config's MPTCP symbols: `Ok(None)` when no config file
    /// exists, `Err` when one exists but could not be read.
    pub kconfig: Result<Option<MptcpConfig>, ReadError>,
    /// `socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)`.
    pub socket_v4: SocketTry,
    /// `socket(AF_INET6, SOCK_STREAM, IPPROTO_MPTCP)`.
    pub socket_v6: SocketTry,
    /// `MPTcpExt` counters of this network namespace.
    pub counters: Result<BTreeMap<String, u64>, ReadError>,
    /// Interface index -> name, to print endpoints as `ip` does.
    pub ifnames: BTreeMap<i32, String>,
    /// What a new outgoing MPTCP connection gets now (probed without
    /// sending anything, after the counters were read); `None`: not tried.
    pub new_connection: Option<Result<NewConnection, ReadError>>,
    /// The role the user gave (`--role`), or `Auto`.
    pub role: Role,
}

/// What this host is in aggregation: which endpoint advice applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Server when the host has a `signal` endpoint and no `subflow`
    /// one, else client.
    #[default]
    Auto,
    /// A router opening subflows over its WAN links.
    Client,
    /// The VPS accepting them (and announcing extra addresses with
    /// `signal` endpoints).
    Server,
}

impl Role {
    /// The role the checks apply, and why: `--role` when given, else
    /// from the endpoints.
    pub fn resolve(self, endpoints: &[packet::echo::PmEndpoint]) -> (Role, &'static str) {
        let has = |flag: &str| endpoints.iter().any(|e| e.flags.iter().any(|f| f == flag));
        match self {
            Role::Client | Role::Server => (self, "--role"),
            Role::Auto if has("signal") && !has("subflow") => {
                (Role::Server, "a `signal` endpoint and no `subflow` one")
            }
            Role::Auto => (Role::Client, "no `signal`-only endpoints"),
        }
    }
}

impl Default for DoctorFacts {
    /// Nothing read yet (the starting point of test fixtures).
    fn default() -> Self {
        DoctorFacts {
            readiness: HostReadiness::default(),
            kernel_release: None,
            kconfig: Ok(None),
            socket_v4: SocketTry::NotTried,
            socket_v6: SocketTry::NotTried,
            counters: Ok(BTreeMap::new()),
            ifnames: BTreeMap::new(),
            new_connection: None,
            role: Role::Auto,
        }
    }
}

/// A read of this host that failed: what was being read, and the system's
/// reason (kept as text so the facts stay plain, comparable data).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct ReadError {
    /// `kernel config`, `counters`.
    pub what: &'static str,
    pub reason: String,
}

impl ReadError {
    pub fn new(what: &'static str, error: &std::io::Error) -> Self {
        ReadError {
            what,
            reason: error.to_string(),
        }
    }
}

/// The outcome of opening an MPTCP socket.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SocketTry {
    #[default]
    NotTried,
    Opened,
    Failed {
        errno: Option<i32>,
        message: String,
    },
}

/// Opens (and closes) an MPTCP socket of the given family.
pub fn try_socket(domain: Domain) -> SocketTry {
    match Socket::new(domain, Type::STREAM, Some(Protocol::MPTCP)) {
        Ok(_socket) => SocketTry::Opened,
        Err(e) => SocketTry::Failed {
            errno: e.raw_os_error(),
            message: e.to_string(),
        },
    }
}

/// Reads every fact about this host (its current network namespace).
pub fn gather(role: Role) -> DoctorFacts {
    let readiness = host::read_readiness(&host::ReadinessOptions {
        kernel_release: false,
    });
    let kernel_release = host::kconfig::read_release().ok();
    let kconfig = host::kconfig::read_running(kernel_release.as_deref())
        .map_err(|e| ReadError::new("kernel config", &e));
    // The counters first: the probe below counts as one connection.
    let counters = host::read_mptcp_counters().map_err(|e| ReadError::new("counters", &e));
    let socket_v4 = try_socket(Domain::IPV4);
    let new_connection = (socket_v4 == SocketTry::Opened)
        .then(|| host::new_connection::probe().map_err(|e| ReadError::new("new connection", &e)));
    DoctorFacts {
        readiness,
        kernel_release,
        kconfig,
        socket_v4,
        socket_v6: try_socket(Domain::IPV6),
        counters,
        ifnames: read_ifnames(),
        new_connection,
        role,
    }
}

/// Interface names by index from `/sys/class/net` (which `ip netns exec`
/// remounts for the namespace it enters).
fn read_ifnames() -> BTreeMap<i32, String> {
    let mut names = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return names;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(index) = std::fs::read_to_string(entry.path().join("ifindex"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            names.insert(index, name);
        }
    }
    names
}
