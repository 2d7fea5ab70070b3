//! This host's MPTCP state for `trace`, from the `net.mptcp.*` sysctls as
//! the `host` crate reads them (the reader `check` uses too): upstream
//! kernels have `net.mptcp.enabled` (and speak v1), out-of-tree ones
//! `net.mptcp.mptcp_enabled` and `mptcp_version` (the version their own
//! SYNs propose, which is what trace's probes should send).
use host::sysctl::{self, Flavor, MptcpSysctlState};
use packet::verdict::{Blackhole, LocalHost, VersionSource};
use std::collections::BTreeMap;
use std::path::Path;

/// Reads the sysctls of the calling thread's network namespace, and
/// whether its blackhole detection keeps MP_CAPABLE out of new connections
/// now (probed without sending anything: a trace whose probes pass is
/// still no OK for a host whose own connections get no MPTCP).
pub fn local_host(user_version: Option<u8>) -> LocalHost {
    let sysctls = sysctl::read_dir(Path::new(sysctl::MPTCP_SYSCTL_DIR));
    let mut local = from_sysctls(&sysctls, user_version);
    local.blackhole = blackhole(&sysctls);
    local
}

/// The detection, when a new connection probed now goes without MP_CAPABLE.
fn blackhole(sysctls: &BTreeMap<String, String>) -> Option<Blackhole> {
    let probe = host::new_connection::probe().ok()?;
    if !probe.blackholed() {
        return None;
    }
    let counters = host::read_mptcp_counters().ok();
    let total = |name: &str| counters.as_ref().and_then(|c| c.get(name).copied());
    Some(Blackhole {
        events: total("Blackhole"),
        syn_tx_disabled: total("MPCapableSYNTXDisabled"),
        timeout: sysctls
            .get("blackhole_timeout")
            .and_then(|t| t.trim().parse().ok()),
    })
}

/// [`LocalHost`] from the `net.mptcp.*` map (names without the prefix);
/// `--mptcp-version` wins over the kernel's.
pub fn from_sysctls(sysctls: &BTreeMap<String, String>, user_version: Option<u8>) -> LocalHost {
    let state = MptcpSysctlState::from_map(sysctls);
    let kernel_version = match state.flavor {
        Flavor::Upstream => Some(1),
        // Not `state.versions`: an out-of-tree kernel at mptcp_version=1
        // speaks both, but proposes v1.
        _ => sysctls
            .get("mptcp_version")
            .and_then(|v| v.trim().parse::<u8>().ok()),
    };
    let (mptcp_version, version_source) = match (user_version, kernel_version) {
        (Some(v), _) => (Some(v), VersionSource::User),
        (None, Some(v)) => (Some(v), VersionSource::Kernel),
        (None, None) => (None, VersionSource::Unknown),
    };
    LocalHost {
        mptcp_enabled: state.enabled,
        mptcp_version,
        version_source,
        blackhole: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), sysctl::parse_value(v)))
            .collect()
    }

    #[test]
    fn upstream_kernel_speaks_v1() {
        let l = from_sysctls(&map(&[("enabled", "1\n"), ("pm_type", "0\n")]), None);
        assert_eq!(l.mptcp_enabled, Some(true));
        assert_eq!(l.mptcp_version, Some(1));
        assert_eq!(l.version_source, VersionSource::Kernel);
        let off = from_sysctls(&map(&[("enabled", "0\n")]), None);
        assert_eq!(off.mptcp_enabled, Some(false));
        assert_eq!(off.mptcp_version, Some(1));
    }

    #[test]
    fn out_of_tree_kernel_proposes_its_mptcp_version() {
        let v1 = from_sysctls(
            &map(&[("mptcp_enabled", "1\n"), ("mptcp_version", "1\n")]),
            None,
        );
        assert_eq!(v1.mptcp_enabled, Some(true));
        assert_eq!(v1.mptcp_version, Some(1));
        assert_eq!(v1.version_source, VersionSource::Kernel);
        let v0 = from_sysctls(
            &map(&[("mptcp_enabled", "0\n"), ("mptcp_version", "0\n")]),
            None,
        );
        assert_eq!(v0.mptcp_enabled, Some(false));
        assert_eq!(v0.mptcp_version, Some(0));
        // No mptcp_version sysctl: the version is unknown, not guessed.
        let unknown = from_sysctls(&map(&[("mptcp_enabled", "1\n")]), None);
        assert_eq!(unknown.mptcp_version, None);
        assert_eq!(unknown.version_source, VersionSource::Unknown);
    }

    #[test]
    fn no_mptcp_sysctls_and_the_users_version() {
        let none = from_sysctls(&BTreeMap::new(), None);
        assert_eq!(none.mptcp_enabled, None);
        assert_eq!(none.mptcp_version, None);
        assert_eq!(none.version_source, VersionSource::Unknown);
        let user = from_sysctls(&map(&[("enabled", "1")]), Some(0));
        assert_eq!(user.mptcp_version, Some(0));
        assert_eq!(user.version_source, VersionSource::User);
        assert_eq!(user.mptcp_enabled, Some(true));
    }
}
