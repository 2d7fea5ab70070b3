//! `net.mptcp.*` sysctls: reading the directory, and what they mean.
use std::collections::BTreeMap;
use std::path::Path;

/// Where the MPTCP sysctls live (per network namespace of the reader).
pub const MPTCP_SYSCTL_DIR: &str = "/proc/sys/net/mptcp";

/// Which MPTCP implementation the sysctls belong to: the echo protocol's
/// type, so the server's reports and `doctor` name it the same way.
pub use packet::echo::Flavor;

/// What the sysctls say about MPTCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MptcpSysctlState {
    pub flavor: Flavor,
    pub enabled: Option<bool>,
    /// Versions the kernel speaks.
    pub versions: Vec<u8>,
}

/// A sysctl's value as read from its file: surrounding whitespace removed,
/// inner tabs (multi-value sysctls) turned into single spaces.
pub fn parse_value(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl MptcpSysctlState {
    /// Interprets the `net.mptcp.*` map (names without the prefix).
    pub fn from_map(map: &BTreeMap<String, String>) -> Self {
        let flag = |name: &str| map.get(name).map(|v| v.trim() != "0");
        if let Some(enabled) = flag("enabled") {
            return MptcpSysctlState {
                flavor: Flavor::Upstream,
                enabled: Some(enabled),
                versions: vec![1],
            };
        }
        if let Some(enabled) = flag("mptcp_enabled") {
            // The out-of-tree kernel speaks v0, and v1 from 0.96 on; the
            // sysctl picks the version it proposes in its own SYNs.
            let version = map
                .get("mptcp_version")
                .and_then(|v| v.trim().parse::<u8>().ok());
            let versions = match version {
                Some(1) => vec![0, 1],
                Some(v) => vec![v],
                None => vec![0],
            };
            return MptcpSysctlState {
                flavor: Flavor::OutOfTree,
                enabled: Some(enabled),
                versions,
            };
        }
        MptcpSysctlState {
            flavor: Flavor::None,
            enabled: None,
            versions: Vec::new(),
        }
    }
}

/// Reads every regular file of a sysctl directory into a map (unreadable
/// ones are skipped: some are write-only). A missing directory gives an
/// empty map.
pub fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return map;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        if let (Some(name), Ok(text)) = (
            path.file_name().and_then(|n| n.to_str()),
            std::fs::read_to_string(&path),
        ) {
            map.insert(name.to_string(), parse_value(&text));
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), parse_value(v)))
            .collect()
    }

    #[test]
    fn values_are_trimmed_and_tabs_collapsed() {
        assert_eq!(parse_value("1\n"), "1");
        assert_eq!(parse_value("4096\t16384\t4194304\n"), "4096 16384 4194304");
        assert_eq!(parse_value(""), "");
    }

    #[test]
    fn upstream_enabled_and_disabled() {
        let on = MptcpSysctlState::from_map(&map(&[("enabled", "1\n"), ("pm_type", "0\n")]));
        assert_eq!(on.flavor, Flavor::Upstream);
        assert_eq!(on.enabled, Some(true));
        assert_eq!(on.versions, vec![1]);
        let off = MptcpSysctlState::from_map(&map(&[("enabled", "0\n")]));
        assert_eq!(off.enabled, Some(false));
    }

    #[test]
    fn out_of_tree_versions() {
        let v0 =
            MptcpSysctlState::from_map(&map(&[("mptcp_enabled", "1\n"), ("mptcp_version", "0\n")]));
        assert_eq!(v0.flavor, Flavor::OutOfTree);
        assert_eq!(v0.versions, vec![0]);
        let v1 =
            MptcpSysctlState::from_map(&map(&[("mptcp_enabled", "2\n"), ("mptcp_version", "1\n")]));
        assert_eq!(v1.enabled, Some(true));
        assert_eq!(v1.versions, vec![0, 1]);
        let off = MptcpSysctlState::from_map(&map(&[("mptcp_enabled", "0")]));
        assert_eq!(off.enabled, Some(false));
    }

    #[test]
    fn no_sysctls_means_no_mptcp() {
        let none = MptcpSysctlState::from_map(&BTreeMap::new());
        assert_eq!(none.flavor, Flavor::None);
        assert_eq!(none.enabled, None);
        assert!(none.versions.is_empty());
    }

    #[test]
    fn reads_this_hosts_directory_when_present() {
        let m = read_dir(Path::new(MPTCP_SYSCTL_DIR));
        if m.is_empty() {
            println!("skipped: {MPTCP_SYSCTL_DIR} absent (no MPTCP in this kernel)");
            return;
        }
        assert!(m.contains_key("enabled") || m.contains_key("mptcp_enabled"));
    }
}
