//! This host's MPTCP readiness, shared by the echo server (which reports it to
//! every client) and the client's `doctor` verb: one implementation.
//!
//! Pure parsers ([`sysctl`], [`netstat`], [`netlink`] attribute decoding) take
//! text or bytes; the I/O that feeds them is a thin edge ([`read_readiness`],
//! [`netlink::PmSocket`]).
#![forbid(unsafe_code)]
pub mod blackhole;
pub mod kconfig;
pub mod netlink;
pub mod netstat;
pub mod new_connection;
pub mod route;
pub mod sysctl;

use packet::echo::HostReadiness;
use std::path::Path;

/// What [`read_readiness`] looks at.
#[derive(Debug, Clone, Default)]
pub struct ReadinessOptions {
    /// Also read the kernel release (a server publishes it only when told to).
    pub kernel_release: bool,
}

/// Reads the readiness of the network namespace of the calling thread:
/// sysctls under `/proc/sys/net/mptcp`, path-manager limits and endpoints
/// over generic netlink, and optionally the kernel release. Never fails:
/// what could not be read is listed in `errors`.
pub fn read_readiness(options: &ReadinessOptions) -> HostReadiness {
    let mut readiness = HostReadiness::default();
    let sysctls = sysctl::read_dir(Path::new(sysctl::MPTCP_SYSCTL_DIR));
    let state = sysctl::MptcpSysctlState::from_map(&sysctls);
    readiness.mptcp_enabled = state.enabled;
    readiness.flavor = state.flavor;
    readiness.versions = state.versions.clone();
    readiness.sysctls = sysctls;
    if state.flavor == sysctl::Flavor::Upstream {
        match netlink::PmSocket::open() {
            Ok(mut pm) => {
                match pm.limits() {
                    Ok(l) => readiness.limits = Some(l),
                    Err(e) => readiness.errors.push(format!("mptcp_pm limits: {e}")),
                }
                match pm.endpoints() {
                    Ok(eps) => readiness.endpoints = eps,
                    Err(e) => readiness.errors.push(format!("mptcp_pm endpoints: {e}")),
                }
            }
            Err(e) => readiness.errors.push(format!("mptcp_pm netlink: {e}")),
        }
    }
    if options.kernel_release {
        match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            Ok(s) => readiness.kernel_release = Some(s.trim().to_string()),
            Err(e) => readiness.errors.push(format!("kernel release: {e}")),
        }
    }
    readiness
}

/// `MPTcpExt` counters of the calling thread's network namespace.
pub fn read_mptcp_counters() -> std::io::Result<std::collections::BTreeMap<String, u64>> {
    // thread-self, not self: a thread that entered another network namespace
    // must read that namespace's counters.
    let text = std::fs::read_to_string("/proc/thread-self/net/netstat")?;
    let tables = netstat::parse(&text)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(tables.get("MPTcpExt").cloned().unwrap_or_default())
}
