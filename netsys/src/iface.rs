//! Interface names, indexes and addresses, in the calling thread's
//! network namespace.
use std::io;
use std::net::IpAddr;

/// The index of interface `name`; never 0 (0 means "every interface" to
/// the socket calls that take an index).
pub fn index_of(name: &str) -> io::Result<u32> {
    if name.is_empty() || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not an interface name"),
        ));
    }
    match nix::net::if_::if_nametoindex(name) {
        Ok(0) => Err(io::Error::from(io::ErrorKind::NotFound)),
        Ok(index) => Ok(index),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// The name of the interface with index `index`.
pub fn name_of(index: u32) -> io::Result<String> {
    let name = nix::net::if_::if_indextoname(index).map_err(io::Error::from)?;
    // nix 0.32 misses the NULL that if_indextoname(3) returns for an
    // unknown index and hands back the untouched, empty buffer.
    if name.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface with index {index}"),
        ));
    }
    Ok(name.to_string_lossy().into_owned())
}

/// The IP addresses of interface `name`, in the order the kernel lists
/// them (getifaddrs(3): each family's primary address first).
pub fn addresses_of(name: &str) -> io::Result<Vec<IpAddr>> {
    let all = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    Ok(all
        .filter(|a| a.interface_name == name)
        .filter_map(|a| {
            let addr = a.address?;
            if let Some(v4) = addr.as_sockaddr_in() {
                return Some(IpAddr::V4(v4.ip()));
            }
            addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_both_ways() {
        let index = index_of("lo").unwrap();
        assert_ne!(index, 0);
        assert_eq!(name_of(index).unwrap(), "lo");
    }

    #[test]
    fn unknown_names_and_indexes_are_errors() {
        assert!(index_of("no-such-if0").is_err());
        assert_eq!(
            index_of("").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(index_of("a\0b").is_err());
        assert!(name_of(0).is_err());
        assert!(name_of(u32::MAX).is_err());
    }

    #[test]
    fn loopback_has_its_address() {
        let addrs = addresses_of("lo").unwrap();
        assert!(addrs.contains(&IpAddr::from([127, 0, 0, 1])), "{addrs:?}");
        assert!(addresses_of("no-such-if0").unwrap().is_empty());
    }
}
