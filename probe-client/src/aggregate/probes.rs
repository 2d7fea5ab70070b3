//! The crafted SYNs of one WAN (an MP_JOIN SYN and a plain control, see
//! `engine::aggregate::join`), sent from the WAN's address through its
//! interface, and their answers collected until both are answered or the
//! deadline passes. One thread per WAN, so every WAN waits the same one
//! timeout at once.
use crate::net::error::NetError;
use crate::net::pcap::PcapRecorder;
use crate::net::raw::{Deadline, RawOptions, RawSockets};
use crate::net::source::{reserve_port, ReservedPort};
use engine::aggregate::join::{ProbeNonces, ProbeSpec, WanProbes};
use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// The `--write` recorder, shared by the WAN threads.
pub type Recorder = Mutex<PcapRecorder<BufWriter<File>>>;

/// One WAN's raw sockets and source ports, opened while CAP_NET_RAW is held.
#[derive(Debug)]
pub struct WanSockets {
    pub sockets: RawSockets,
    pub source: IpAddr,
    ports: [ReservedPort; 2],
}

impl WanSockets {
    /// Reserves two source ports on `source` and opens a sender bound to
    /// `source` and `interface` (so policy routing picks the WAN's table)
    /// and a receiver on `interface`.
    pub fn open(interface: &str, source: IpAddr, dest: IpAddr) -> Result<Self, NetError> {
        let ports = [reserve_port(source)?, reserve_port(source)?];
        let sockets = RawSockets::open(&RawOptions {
            interface: Some(interface.to_string()),
            ipv4: dest.is_ipv4(),
            ipv6: dest.is_ipv6(),
            source: Some(source),
            ports: ports.iter().map(|p| p.port).collect(),
        })?;
        Ok(WanSockets {
            sockets,
            source,
            ports,
        })
    }

    /// The two source ports (join, plain).
    pub fn ports(&self) -> [u16; 2] {
        [self.ports[0].port, self.ports[1].port]
    }

    /// Builds this WAN's probes for the connection with `token`.
    pub fn plan(&self, dest: SocketAddr, token: u32, addr_id: u8) -> Result<WanProbes, NetError> {
        let b: [u8; 16] = netsys::random::array().map_err(|e| NetError::io("getrandom", e))?;
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let nonces = ProbeNonces {
            nonce: u32_at(0),
            seqs: [u32_at(4), u32_at(8)],
            ip_ids: [
                u16::from_be_bytes([b[12], b[13]]),
                u16::from_be_bytes([b[14], b[15]]),
            ],
        };
        let spec = ProbeSpec {
            source: self.source,
            ports: self.ports(),
            dest,
            token,
            addr_id,
        };
        WanProbes::build(&spec, &nonces)
            .map_err(|e| NetError::io("building the MP_JOIN probes", std::io::Error::other(e)))
    }

    /// Sends both probes and folds the answers in until both are answered
    /// or `deadline`.
    pub fn run(
        &self,
        mut probes: WanProbes,
        deadline: &Deadline,
        recorder: Option<&Recorder>,
    ) -> Result<WanProbes, NetError> {
        let record = |at, packet: &[u8]| -> Result<(), NetError> {
            if let Some(r) = recorder {
                let mut r = r.lock().unwrap_or_else(|p| p.into_inner());
                r.record(at, packet)?;
            }
            Ok(())
        };
        for packet in &probes.packets {
            let at = self.sockets.send(packet)?;
            record(at, packet)?;
        }
        while !probes.complete() {
            let Some(received) = self.sockets.recv_until(deadline)? else {
                break;
            };
            if probes.fold(&received.packet) {
                record(received.timestamp, &received.packet)?;
            }
        }
        Ok(probes)
    }
}
