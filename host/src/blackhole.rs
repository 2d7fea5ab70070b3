//! The kernel's MPTCP blackhole detection (upstream 6.12+): after MP_CAPABLE
//! SYNs are lost on a path and a retry without the option gets through, the
//! kernel sends every new outgoing connection of the network namespace
//! without MP_CAPABLE for `net.mptcp.blackhole_timeout` seconds (counter
//! `MPTcpExt: Blackhole`). Writing the sysctl, even its current value,
//! clears the detection (verified on 6.18: the next connection offers
//! MP_CAPABLE again).
//!
//! One place for the advice and the reset, so every verb gives the same
//! command.
use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// The sysctl, as `sysctl` names it.
pub const TIMEOUT_SYSCTL: &str = "net.mptcp.blackhole_timeout";

/// Its file (in the network namespace of the calling thread).
pub const TIMEOUT_PATH: &str = "/proc/sys/net/mptcp/blackhole_timeout";

/// The counter that counts trips of the detection.
pub const COUNTER: &str = "Blackhole";

/// The one command that clears the detection on this kernel without
/// changing the timeout: it writes the sysctl's current value back.
pub fn reset_command() -> String {
    format!("sysctl -w {TIMEOUT_SYSCTL}=$(sysctl -n {TIMEOUT_SYSCTL})")
}

/// The `Blackhole` counter of an `MPTcpExt` table (`None`: this kernel has
/// no such counter).
pub fn trips(counters: &BTreeMap<String, u64>) -> Option<u64> {
    counters.get(COUNTER).copied()
}

/// Clears the detection by writing the sysctl's current value back to it.
/// Needs the right to write the namespace's sysctls (root, or
/// CAP_NET_ADMIN over the namespace). Returns the value written.
pub fn reset() -> io::Result<String> {
    reset_at(Path::new(TIMEOUT_PATH))
}

/// [`reset`] on a given sysctl file (tests use a plain file).
pub fn reset_at(path: &Path) -> io::Result<String> {
    let value = crate::sysctl::parse_value(&std::fs::read_to_string(path)?);
    if value.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is empty", path.display()),
        ));
    }
    std::fs::write(path, format!("{value}\n"))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_writes_the_current_value_back() {
        assert_eq!(
            reset_command(),
            "sysctl -w net.mptcp.blackhole_timeout=$(sysctl -n net.mptcp.blackhole_timeout)"
        );
    }

    #[test]
    fn trips_reads_the_counter() {
        let mut c = BTreeMap::new();
        assert_eq!(trips(&c), None);
        c.insert("Blackhole".to_string(), 2);
        assert_eq!(trips(&c), Some(2));
    }

    #[test]
    fn reset_writes_the_value_it_read() {
        let dir = std::env::temp_dir().join(format!("mpp-blackhole-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("blackhole_timeout");
        std::fs::write(&file, "3600\n").unwrap();
        assert_eq!(reset_at(&file).unwrap(), "3600");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "3600\n");
        std::fs::write(&file, "").unwrap();
        assert!(reset_at(&file).is_err());
        assert!(reset_at(&dir.join("absent")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
