//! `mptcp-probe check`'s own traffic in a capture, recognised as one run.
//!
//! A check sends three crafted SYNs, each once and on its own source port:
//! MP_CAPABLE v1, MP_CAPABLE v0 with a random key (whatever this host
//! speaks), and a plain SYN as control. None completes: the client's
//! kernel resets each answer (no socket owns the port), and `check
//! --write` records no RST at all. Its kernel connection (an MPTCP socket)
//! goes to the same server port within seconds. Judged one by one, the v0
//! probe reads as "this host speaks v0, the server ignored it" and a
//! recorded probe without its RST as a connection that never finished;
//! judged together, as check judges them, they give check's verdict.
//!
//! A run: handshakes from one client address to one server endpoint,
//! their SYNs within [`RUN_WINDOW`] of each other, each a single SYN that
//! never completed and that was not refused or reset by the server, at
//! most one of each kind, with a plain one and at least one MP_CAPABLE one;
//! plus the nearest handshake of that client to that server that tried
//! MPTCP and is not a probe (within [`KERNEL_WINDOW`]), as the kernel
//! connection. A SYN whose MP_CAPABLE was removed on the way (NOPs in a
//! server-side capture) cannot be told v1 from v0, and is left out.
use super::flows::{Handshake, STRIPPED_NOP_RUN};
use super::verdict::attempts_mptcp;
use packet::verdict::ProbeKind;
use std::net::{IpAddr, SocketAddr};

/// Check's three probes leave within milliseconds of each other.
pub const RUN_WINDOW: f64 = 2.0;
/// Check's kernel connection comes before or after its probes, waiting at
/// most its timeout plus the kernel's SYN fallback.
pub const KERNEL_WINDOW: f64 = 15.0;

/// What a handshake was in check's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This host's kernel connection (an MPTCP socket).
    Kernel,
    /// A crafted SYN.
    Probe(ProbeKind),
}

impl Role {
    /// JSON: `kernel`, `v1_probe`, `v0_probe`, `plain_probe`.
    pub fn code(self) -> &'static str {
        match self {
            Role::Kernel => "kernel",
            Role::Probe(ProbeKind::V1) => "v1_probe",
            Role::Probe(ProbeKind::V0) => "v0_probe",
            Role::Probe(ProbeKind::Plain) => "plain_probe",
        }
    }

    /// In words, for the text output.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Kernel => "this host's kernel connection",
            Role::Probe(ProbeKind::V1) => "check's crafted v1 MP_CAPABLE SYN",
            Role::Probe(ProbeKind::V0) => {
                "check's crafted v0 MP_CAPABLE SYN (a random key; sent whatever this host speaks)"
            }
            Role::Probe(ProbeKind::Plain) => "check's crafted plain SYN (the control)",
        }
    }
}

/// One member of a run: the handshake's index in the list, and its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub index: usize,
    pub role: Role,
}

/// One check's handshakes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    /// 1-based, in capture order.
    pub id: usize,
    pub client: IpAddr,
    pub server: SocketAddr,
    pub members: Vec<Member>,
}

impl CheckRun {
    pub fn member(&self, role: Role) -> Option<usize> {
        self.members
            .iter()
            .find(|m| m.role == role)
            .map(|m| m.index)
    }

    /// The role of handshake `index`, if it is in this run.
    pub fn role_of(&self, index: usize) -> Option<Role> {
        self.members
            .iter()
            .find(|m| m.index == index)
            .map(|m| m.role)
    }
}

/// The kind of a probe-like handshake: sent once, never completed nor
/// refused, no data; `None` for anything else, or a SYN whose kind the
/// capture does not show.
fn probe_kind(h: &Handshake) -> Option<ProbeKind> {
    let [syn] = h.syns.as_slice() else {
        return None;
    };
    let untouched = h.third_ack.is_none()
        && h.rst.is_none()
        && !h.reset.is_some_and(|r| r.by_server)
        && h.client_data.is_none()
        && h.server_data.is_none()
        && syn.join.is_none()
        && !syn.options_cut;
    if !untouched {
        return None;
    }
    match syn.mp_capable {
        Some(m) if m.version == 1 => Some(ProbeKind::V1),
        Some(m) if m.version == 0 => Some(ProbeKind::V0),
        Some(_) => None,
        None if syn.nop_run >= STRIPPED_NOP_RUN => None,
        None => Some(ProbeKind::Plain),
    }
}

fn start(h: &Handshake) -> Option<f64> {
    h.syns.first().map(|s| s.ts)
}

/// Every check run in the capture, in capture order.
pub fn find_runs(handshakes: &[Handshake]) -> Vec<CheckRun> {
    let mut runs: Vec<CheckRun> = Vec::new();
    // Groups being filled: (client, server, first SYN time, members).
    let mut open: Vec<(IpAddr, SocketAddr, f64, Vec<Member>)> = Vec::new();
    let mut closed: Vec<(IpAddr, SocketAddr, f64, Vec<Member>)> = Vec::new();
    for (index, h) in handshakes.iter().enumerate() {
        let (Some(kind), Some(ts)) = (probe_kind(h), start(h)) else {
            continue;
        };
        let role = Role::Probe(kind);
        let client = h.client.ip();
        let slot = open.iter().position(|(c, s, t, members)| {
            *c == client
                && *s == h.server
                && ts - t <= RUN_WINDOW
                && members.iter().all(|m| m.role != role)
        });
        match slot {
            Some(i) => open[i].3.push(Member { index, role }),
            None => {
                // A group of this pair that cannot take it is complete.
                let (done, keep): (Vec<_>, Vec<_>) = open
                    .into_iter()
                    .partition(|(c, s, _, _)| *c == client && *s == h.server);
                closed.extend(done);
                open = keep;
                open.push((client, h.server, ts, vec![Member { index, role }]));
            }
        }
    }
    closed.extend(open);
    closed.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut used = Vec::new();
    for (client, server, ts, mut members) in closed {
        let plain = members
            .iter()
            .any(|m| m.role == Role::Probe(ProbeKind::Plain));
        let mptcp = members
            .iter()
            .any(|m| matches!(m.role, Role::Probe(ProbeKind::V1 | ProbeKind::V0)));
        if !(plain && mptcp) {
            continue;
        }
        let kernel = handshakes
            .iter()
            .enumerate()
            .filter(|(i, h)| {
                h.client.ip() == client
                    && h.server == server
                    && !used.contains(i)
                    && probe_kind(h).is_none()
                    && attempts_mptcp(h)
                    && start(h).is_some_and(|t| (t - ts).abs() <= KERNEL_WINDOW)
            })
            .min_by(|(_, a), (_, b)| {
                let d = |h: &Handshake| start(h).map_or(f64::MAX, |t| (t - ts).abs());
                d(a).total_cmp(&d(b))
            })
            .map(|(i, _)| i);
        if let Some(index) = kernel {
            used.push(index);
            members.push(Member {
                index,
                role: Role::Kernel,
            });
        }
        members.sort_by_key(|m| m.index);
        runs.push(CheckRun {
            id: runs.len() + 1,
            client,
            server,
            members,
        });
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::flows::{FlowTracker, PacketFacts};
    use packet::mptcp::MpCapable;
    use packet::TcpFlags;

    const SYN: TcpFlags = TcpFlags(0x02);
    const SYN_ACK: TcpFlags = TcpFlags(0x12);
    const ACK: TcpFlags = TcpFlags(0x10);
    const RST: TcpFlags = TcpFlags(0x04);

    fn mpc(version: u8, key: Option<u64>) -> Option<MpCapable> {
        MpCapable::from_fields(
            version,
            if version == 0 { 0x81 } else { 0x01 },
            key,
            None,
            None,
            None,
        )
    }

    struct Feed {
        t: FlowTracker,
        index: u64,
    }

    impl Feed {
        fn push(
            &mut self,
            ts: f64,
            port: u16,
            from_client: bool,
            flags: TcpFlags,
            mp: Option<MpCapable>,
        ) {
            self.index += 1;
            let c: SocketAddr = SocketAddr::new("10.1.0.1".parse().unwrap(), port);
            let s: SocketAddr = "10.2.0.2:6101".parse().unwrap();
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            self.t.push(&PacketFacts {
                index: self.index,
                ts,
                src,
                dst,
                flags,
                seq: u32::from(port),
                ack: 0,
                mp_capable: mp,
                mp_join: None,
                tcprst_reason: None,
                payload_len: 0,
                any_mptcp: mp.is_some(),
                nop_run: 0,
                options: Vec::new(),
                ttl: 64,
                options_cut: false,
            });
        }
        /// A crafted probe: SYN, SYN/ACK, and (with `rst`) our kernel's RST.
        fn probe(
            &mut self,
            ts: f64,
            port: u16,
            mp: Option<MpCapable>,
            answer: Option<MpCapable>,
            rst: bool,
        ) {
            self.push(ts, port, true, SYN, mp);
            self.push(ts + 0.001, port, false, SYN_ACK, answer);
            if rst {
                self.push(ts + 0.002, port, true, RST, None);
            }
        }
    }

    fn feed() -> Feed {
        Feed {
            t: FlowTracker::new(),
            index: 0,
        }
    }

    #[test]
    fn checks_probes_and_kernel_connection_make_one_run() {
        let mut f = feed();
        // The kernel connection, then the probes a moment later.
        f.push(0.0, 40000, true, SYN, mpc(1, None));
        f.push(0.001, 40000, false, SYN_ACK, mpc(1, Some(7)));
        f.push(0.002, 40000, true, ACK, mpc(1, Some(8)));
        f.probe(0.1, 40001, mpc(1, None), mpc(1, Some(9)), true);
        f.probe(0.1, 40002, mpc(0, Some(0x1234)), None, true);
        f.probe(0.1, 40003, None, None, true);
        let hs = f.t.finish();
        let runs = find_runs(&hs);
        assert_eq!(runs.len(), 1, "{runs:?}");
        let r = &runs[0];
        assert_eq!(r.member(Role::Kernel), Some(0));
        assert_eq!(r.member(Role::Probe(ProbeKind::V1)), Some(1));
        assert_eq!(r.member(Role::Probe(ProbeKind::V0)), Some(2));
        assert_eq!(r.member(Role::Probe(ProbeKind::Plain)), Some(3));
        assert_eq!(r.role_of(2).map(Role::code), Some("v0_probe"));
    }

    #[test]
    fn checks_own_recording_has_no_rst_and_no_kernel_connection() {
        let mut f = feed();
        f.probe(5.0, 40001, mpc(1, None), mpc(1, Some(9)), false);
        f.probe(5.0, 40002, mpc(0, Some(0x1234)), None, false);
        f.probe(5.0, 40003, None, None, false);
        let runs = find_runs(&f.t.finish());
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].members.len(), 3);
        assert_eq!(runs[0].member(Role::Kernel), None);
    }

    #[test]
    fn lost_probes_still_belong_and_lone_syns_do_not_make_a_run() {
        let mut f = feed();
        // v1 and v0 dropped on the way (no answer), the plain one answered.
        f.push(0.0, 40001, true, SYN, mpc(1, None));
        f.push(0.0, 40002, true, SYN, mpc(0, Some(1)));
        f.probe(0.0, 40003, None, None, true);
        // Much later, an unrelated plain connection attempt and a v1 SYN.
        f.probe(100.0, 40010, mpc(1, None), mpc(1, Some(2)), true);
        let runs = find_runs(&f.t.finish());
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0].members.len(), 3);
    }

    #[test]
    fn two_checks_in_one_capture_are_two_runs() {
        let mut f = feed();
        for (t, base) in [(0.0, 40000), (30.0, 41000)] {
            f.push(t, base, true, SYN, mpc(1, None));
            f.push(t + 0.001, base, false, SYN_ACK, mpc(1, Some(7)));
            f.push(t + 0.002, base, true, ACK, mpc(1, Some(8)));
            f.probe(t + 0.1, base + 1, mpc(1, None), mpc(1, Some(9)), true);
            f.probe(t + 0.1, base + 2, mpc(0, Some(3)), None, true);
            f.probe(t + 0.1, base + 3, None, None, true);
        }
        let runs = find_runs(&f.t.finish());
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].member(Role::Kernel), Some(0));
        assert_eq!(runs[1].member(Role::Kernel), Some(4));
        assert_eq!(runs[1].id, 2);
    }
}
