//! HOST (a name or an address literal) to one destination address, with
//! the `-4`/`-6` preference.
use super::error::NetError;
use std::net::{IpAddr, ToSocketAddrs};

/// Which address family the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FamilyPreference {
    /// The resolver's first answer (getaddrinfo orders by RFC 6724, so IPv6
    /// first when this host has IPv6 connectivity).
    #[default]
    Any,
    V4,
    V6,
}

impl FamilyPreference {
    /// From the `-4` / `-6` flags.
    pub fn from_flags(ipv4: bool, ipv6: bool) -> Self {
        match (ipv4, ipv6) {
            (true, false) => FamilyPreference::V4,
            (false, true) => FamilyPreference::V6,
            _ => FamilyPreference::Any,
        }
    }
    pub fn accepts(self, addr: IpAddr) -> bool {
        match self {
            FamilyPreference::Any => true,
            FamilyPreference::V4 => addr.is_ipv4(),
            FamilyPreference::V6 => addr.is_ipv6(),
        }
    }
}

/// Picks the first of `candidates` the preference accepts (pure part of
/// [`resolve`]).
pub fn pick(
    host: &str,
    candidates: &[IpAddr],
    preference: FamilyPreference,
) -> Result<IpAddr, NetError> {
    candidates
        .iter()
        .copied()
        .find(|a| preference.accepts(*a))
        .ok_or_else(|| NetError::Resolve {
            host: host.to_string(),
            reason: match preference {
                FamilyPreference::V4 => "no IPv4 address (-4)".into(),
                FamilyPreference::V6 => "no IPv6 address (-6)".into(),
                FamilyPreference::Any => "no address".into(),
            },
        })
}

/// Resolves HOST. An address literal (IPv6 with or without brackets) is
/// used as is; a name goes through the system resolver.
pub fn resolve(host: &str, preference: FamilyPreference) -> Result<IpAddr, NetError> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(addr) = literal.parse::<IpAddr>() {
        return pick(host, &[addr], preference);
    }
    let addrs: Vec<IpAddr> = (host, 0u16)
        .to_socket_addrs()
        .map_err(|e| NetError::Resolve {
            host: host.to_string(),
            reason: e.to_string(),
        })?
        .map(|sa| sa.ip())
        .collect();
    pick(host, &addrs, preference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_preferences() {
        let v4: IpAddr = "10.2.0.2".parse().unwrap();
        let v6: IpAddr = "fd00:2::2".parse().unwrap();
        assert_eq!(resolve("10.2.0.2", FamilyPreference::Any).unwrap(), v4);
        assert_eq!(resolve("[fd00:2::2]", FamilyPreference::V6).unwrap(), v6);
        assert!(resolve("10.2.0.2", FamilyPreference::V6).is_err());
        assert_eq!(pick("h", &[v6, v4], FamilyPreference::V4).unwrap(), v4);
        assert_eq!(pick("h", &[v6, v4], FamilyPreference::Any).unwrap(), v6);
        let e = pick("h", &[v4], FamilyPreference::V6).unwrap_err();
        assert!(e.to_string().contains("no IPv6 address"));
    }

    #[test]
    fn localhost_resolves() {
        let a = resolve("localhost", FamilyPreference::V4).unwrap();
        assert!(a.is_loopback());
    }
}
