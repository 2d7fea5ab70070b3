//! The running kernel's build configuration (`CONFIG_MPTCP`,
//! `CONFIG_MPTCP_IPV6`): parsing the `.config` text, and reading it from
//! `/proc/config.gz` or `/boot/config-RELEASE`.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Where the running kernel exposes its config when built with
/// `CONFIG_IKCONFIG_PROC` (gzip-compressed).
pub const PROC_CONFIG_GZ: &str = "/proc/config.gz";

/// How one `CONFIG_` symbol is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// `=y`: built in.
    BuiltIn,
    /// `=m`: a module.
    Module,
    /// `# CONFIG_X is not set`.
    NotSet,
    /// Any other value (strings, numbers).
    Value(String),
}

impl Setting {
    pub fn as_str(&self) -> &str {
        match self {
            Setting::BuiltIn => "y",
            Setting::Module => "m",
            Setting::NotSet => "not set",
            Setting::Value(v) => v,
        }
    }
    /// Whether the feature is compiled (built in or as a module).
    pub fn is_on(&self) -> bool {
        matches!(self, Setting::BuiltIn | Setting::Module)
    }
}

/// Parses kernel `.config` text into symbol -> setting. Lines that are
/// neither `CONFIG_X=...` nor `# CONFIG_X is not set` are ignored; a symbol
/// absent from the map was not offered by this kernel version at all.
pub fn parse(text: &str) -> BTreeMap<String, Setting> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(name) = rest.strip_suffix(" is not set") {
                if name.starts_with("CONFIG_") && !name.contains(char::is_whitespace) {
                    map.insert(name.to_string(), Setting::NotSet);
                }
            }
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if !name.starts_with("CONFIG_") {
            continue;
        }
        let setting = match value {
            "y" => Setting::BuiltIn,
            "m" => Setting::Module,
            "n" => Setting::NotSet,
            other => Setting::Value(other.trim_matches('"').to_string()),
        };
        map.insert(name.to_string(), setting);
    }
    map
}

/// The MPTCP symbols of one kernel config, and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MptcpConfig {
    /// The file the config came from.
    pub source: String,
    /// `CONFIG_MPTCP` (`None`: the symbol does not exist in this config,
    /// i.e. a kernel older than 5.6 without the out-of-tree patches).
    pub mptcp: Option<Setting>,
    pub mptcp_ipv6: Option<Setting>,
}

impl MptcpConfig {
    pub fn from_text(source: &str, text: &str) -> Self {
        let mut map = parse(text);
        MptcpConfig {
            source: source.to_string(),
            mptcp: map.remove("CONFIG_MPTCP"),
            mptcp_ipv6: map.remove("CONFIG_MPTCP_IPV6"),
        }
    }
}

/// Decompresses gzip bytes (the format of `/proc/config.gz`).
pub fn gunzip(bytes: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text)?;
    Ok(text)
}

/// Reads the running kernel's config: `/proc/config.gz` first, then
/// `/boot/config-RELEASE`. `Ok(None)` when neither exists; an error when
/// one exists but cannot be read or decoded.
pub fn read_running(release: Option<&str>) -> std::io::Result<Option<MptcpConfig>> {
    read_from(Path::new(PROC_CONFIG_GZ), Path::new("/boot"), release)
}

/// [`read_running`] with the locations given (for tests).
pub fn read_from(
    config_gz: &Path,
    boot_dir: &Path,
    release: Option<&str>,
) -> std::io::Result<Option<MptcpConfig>> {
    match std::fs::read(config_gz) {
        Ok(bytes) => {
            let text = gunzip(&bytes)?;
            return Ok(Some(MptcpConfig::from_text(
                &config_gz.display().to_string(),
                &text,
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let Some(release) = release else {
        return Ok(None);
    };
    let path = boot_dir.join(format!("config-{release}"));
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(MptcpConfig::from_text(
            &path.display().to_string(),
            &text,
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The running kernel's release (`uname -r`).
pub fn read_release() -> std::io::Result<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const FIXTURE: &str = "#\n# Automatically generated file; DO NOT EDIT.\n\
CONFIG_INET=y\n\
CONFIG_MPTCP=y\n\
CONFIG_INET_MPTCP_DIAG=m\n\
# CONFIG_MPTCP_IPV6 is not set\n\
CONFIG_LOCALVERSION=\"-fc\"\n";

    #[test]
    fn parses_settings() {
        let m = parse(FIXTURE);
        assert_eq!(m["CONFIG_MPTCP"], Setting::BuiltIn);
        assert_eq!(m["CONFIG_INET_MPTCP_DIAG"], Setting::Module);
        assert_eq!(m["CONFIG_MPTCP_IPV6"], Setting::NotSet);
        assert_eq!(m["CONFIG_LOCALVERSION"], Setting::Value("-fc".into()));
        assert!(!m.contains_key("Automatically"));
    }

    #[test]
    fn mptcp_symbols() {
        let c = MptcpConfig::from_text("x", FIXTURE);
        assert_eq!(c.mptcp, Some(Setting::BuiltIn));
        assert_eq!(c.mptcp_ipv6, Some(Setting::NotSet));
        let old = MptcpConfig::from_text("x", "CONFIG_INET=y\n");
        assert_eq!(old.mptcp, None);
    }

    fn gzip(text: &str) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn reads_gz_then_boot_then_nothing() {
        let dir = std::env::temp_dir().join(format!("kconfig-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gz = dir.join("config.gz");
        let boot = dir.join("boot");
        std::fs::create_dir_all(&boot).unwrap();
        // Neither file.
        assert_eq!(read_from(&gz, &boot, Some("6.1.0-x")).unwrap(), None);
        // Only /boot/config-RELEASE.
        std::fs::write(boot.join("config-6.1.0-x"), "CONFIG_MPTCP=y\n").unwrap();
        let c = read_from(&gz, &boot, Some("6.1.0-x")).unwrap().unwrap();
        assert!(c.source.ends_with("config-6.1.0-x"));
        assert_eq!(c.mptcp, Some(Setting::BuiltIn));
        // The gzip file wins.
        std::fs::write(&gz, gzip(FIXTURE)).unwrap();
        let c = read_from(&gz, &boot, Some("6.1.0-x")).unwrap().unwrap();
        assert!(c.source.ends_with("config.gz"));
        assert_eq!(c.mptcp_ipv6, Some(Setting::NotSet));
        // A corrupt gzip file is an error, not a silent "unknown".
        std::fs::write(&gz, b"not gzip").unwrap();
        assert!(read_from(&gz, &boot, Some("6.1.0-x")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_truncation_of_gzip_is_an_error_or_a_prefix() {
        let bytes = gzip(FIXTURE);
        for cut in 0..bytes.len() {
            if let Ok(text) = gunzip(&bytes[..cut]) {
                assert!(FIXTURE.starts_with(&text));
            }
        }
    }

    #[test]
    fn reads_this_hosts_config_when_present() {
        let release = read_release().ok();
        match read_running(release.as_deref()) {
            Ok(Some(c)) => println!("{}: CONFIG_MPTCP={:?}", c.source, c.mptcp),
            Ok(None) => println!("skipped: no kernel config on this host"),
            Err(e) => panic!("kernel config present but unreadable: {e}"),
        }
    }
}
