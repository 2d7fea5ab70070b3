//! Trips a client namespace's MPTCP blackhole detection, as a router
//! dropping MP_CAPABLE SYNs does in the field: MPTCP connections through a
//! router that drops SYNs carrying option 30, until the kernel has retried
//! one without MP_CAPABLE, got through, and disabled MPTCP for new outgoing
//! connections (`MPTcpExt Blackhole` > 0). Then the drop goes away: what is
//! left is this host's state alone, for `net.mptcp.blackhole_timeout`
//! seconds. The detection is per network namespace, so only the lab's
//! client is affected.
use crate::netns::Netns;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

/// The port the tripping connections go to (not the echo server's: the
/// drop must not touch it).
pub const TRIP_PORT: u16 = 6102;

/// The client namespace's `MPTcpExt Blackhole` counter.
pub fn blackhole_events(client: &Netns) -> io::Result<u64> {
    let counters = client.run(host::read_mptcp_counters)??;
    Ok(counters.get("Blackhole").copied().unwrap_or(0))
}

fn drop_rule(action: &str) -> Vec<String> {
    let port = TRIP_PORT.to_string();
    [
        "iptables",
        "-w",
        action,
        "FORWARD",
        "-p",
        "tcp",
        "--dport",
        &port,
        "-m",
        "tcp",
        "--tcp-option",
        "30",
        "-j",
        "DROP",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The iptables rule `router` carries while the detection is tripped, as
/// typed.
pub fn describe() -> String {
    format!(
        "{} while the client's MPTCP connections trip its blackhole detection (MPTcpExt \
         Blackhole > 0), then removed",
        drop_rule("-A").join(" ")
    )
}

/// Trips the detection of `client`, whose IPv4 path to `server_addr`
/// (in `server`) crosses `router`.
pub fn trip(client: &Netns, router: &Netns, server: &Netns, server_addr: IpAddr) -> io::Result<()> {
    // A plain listener: the kernel's retry without MP_CAPABLE must be
    // answered for the detection to trip.
    let listener =
        server.run(move || TcpListener::bind(SocketAddr::new(server_addr, TRIP_PORT)))??;
    let add = drop_rule("-A");
    router.exec(&add.iter().map(String::as_str).collect::<Vec<_>>())?;
    let target = SocketAddr::new(server_addr, TRIP_PORT);
    let mut tripped = false;
    for _ in 0..3 {
        client.run(move || {
            let s = Socket::new(
                Domain::for_address(target),
                Type::STREAM,
                Some(Protocol::MPTCP),
            )?;
            // The retry without MP_CAPABLE goes out after 2 lost SYNs.
            s.connect_timeout(&SockAddr::from(target), Duration::from_secs(10))
        })??;
        if blackhole_events(client)? > 0 {
            tripped = true;
            break;
        }
    }
    let del = drop_rule("-D");
    router.exec(&del.iter().map(String::as_str).collect::<Vec<_>>())?;
    drop(listener);
    if tripped {
        Ok(())
    } else {
        Err(io::Error::other(
            "the blackhole detection did not trip (net.mptcp.blackhole_timeout = 0?)",
        ))
    }
}
