//! A trace with its controls: the traced MP_CAPABLE flow and, each on its
//! own flow (own source port, so every flow stays one constant 5-tuple), a
//! plain SYN per TTL and the other MPTCP version's MP_CAPABLE per TTL.
//! Sans-IO like [`TraceDriver`], which drives each flow; this adds when
//! the controls leave and when the whole trace is over (one timeout for
//! all flows).
//!
//! Why controls: MP_CAPABLE SYNs that vanish after hop k look the same as
//! a dead path, unless a plain SYN sent alongside goes on (a box dropping
//! option 30: `syn_dropped`, between hop k and the first hop that answered
//! only the plain SYN); and an MP_CAPABLE in our version ignored while the
//! other version negotiates is a version mismatch.
//!
//! When the controls leave: as soon as the traced flow is complete (its
//! destination and every hop before it answered), else at half the
//! timeout; with TTLs up to the traced flow's destination when a SYN/ACK
//! answered there, every TTL otherwise (a RST or an ICMP error may come
//! from a box before the server). Sent together with the traced flow,
//! every TTL of three flows beyond the destination would reach the echo
//! server at once, and its per-source store (64 observations) would evict
//! the very probes the verdict needs: the lowest TTLs that reached it.
//! Waiting for completion, not just the first destination answer, matters
//! when the first answer came from too high a TTL (the lower ones lost in
//! a router's neighbour queue, then found by their retries).
use super::driver::{TraceConfig, TraceDriver};
use super::plan::{ProbePlan, TraceProbe};
use super::state::{ResponseKind, TraceState};
use crate::matching::AnswerKind;
use packet::build::BuildError;
use packet::verdict::{ProbeKind, ProbeResult, Trace};
use std::time::{Duration, SystemTime};

/// One probe of one flow: `flow` 0 is the traced one, then the controls
/// in the order given; `index` into that flow's `state().probes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowProbe {
    pub flow: usize,
    pub index: usize,
}

/// One flow: its plan and, once started, its driver.
#[derive(Debug, Clone)]
struct Flow {
    plan: ProbePlan,
    driver: Option<TraceDriver>,
}

/// The traced flow and its controls.
#[derive(Debug, Clone)]
pub struct TraceFlows {
    config: TraceConfig,
    flows: Vec<Flow>,
}

impl TraceFlows {
    /// A trace of `traced` with the `controls` (each its own plan: own
    /// source port, sequence numbers, kind). The controls' `max_ttl` is
    /// decided when they start.
    pub fn new(
        traced: ProbePlan,
        controls: Vec<ProbePlan>,
        config: TraceConfig,
    ) -> Result<Self, BuildError> {
        let main = TraceDriver::from_plan(&traced, config)?;
        let mut flows = vec![Flow {
            plan: traced,
            driver: Some(main),
        }];
        flows.extend(controls.into_iter().map(|plan| Flow { plan, driver: None }));
        Ok(TraceFlows { config, flows })
    }

    fn main(&self) -> &TraceDriver {
        // Flow 0 starts in `new` and is never taken.
        self.flows[0]
            .driver
            .as_ref()
            .unwrap_or_else(|| unreachable!("the traced flow always has a driver"))
    }

    /// Once the controls are due (the traced flow is over, complete or
    /// not, or half the timeout has passed), the highest TTL they need:
    /// the traced flow's destination TTL when a SYN/ACK answered there,
    /// else every TTL.
    fn controls_due(&self, now: Duration) -> Option<u8> {
        let main = self.main();
        if !main.is_finished() && now < self.config.timeout / 2 {
            return None;
        }
        let state = main.state();
        let all = self.flows[0].plan.max_ttl;
        let Some(d) = state.destination_ttl() else {
            return Some(all);
        };
        let syn_ack = state.probes.iter().zip(&state.responses).any(|(p, r)| {
            p.ttl == d
                && r.as_ref()
                    .is_some_and(|r| matches!(r.what, ResponseKind::Answer(AnswerKind::SynAck)))
        });
        Some(if syn_ack { d } else { all })
    }

    /// Starts the controls that are due at `now`.
    fn start_controls(&mut self, now: Duration) -> Result<(), BuildError> {
        let Some(max_ttl) = self.controls_due(now) else {
            return Ok(());
        };
        let config = TraceConfig {
            start: now,
            retry_delay: self.config.retry_delay.max(now),
            ..self.config
        };
        for flow in self.flows.iter_mut().skip(1) {
            if flow.driver.is_none() {
                flow.plan.max_ttl = max_ttl.max(1);
                flow.driver = Some(TraceDriver::from_plan(&flow.plan, config)?);
            }
        }
        Ok(())
    }

    /// The probes to send now, in the order to send them: every first
    /// probe of a flow when it starts (lowest TTL first, flows
    /// interleaved), then retries as they fall due.
    pub fn poll_transmit(&mut self, now: Duration) -> Result<Vec<FlowProbe>, BuildError> {
        self.start_controls(now)?;
        let mut out: Vec<(u8, FlowProbe)> = Vec::new();
        for (flow, f) in self.flows.iter_mut().enumerate() {
            let Some(d) = f.driver.as_mut() else {
                continue;
            };
            for index in d.poll_transmit(now) {
                out.push((d.state().probes[index].ttl, FlowProbe { flow, index }));
            }
        }
        // A stable sort: by TTL, flows in order within one TTL, so the
        // destination sees each flow's lowest TTL first.
        out.sort_by_key(|(ttl, _)| *ttl);
        Ok(out.into_iter().map(|(_, p)| p).collect())
    }

    pub fn probe(&self, p: FlowProbe) -> Option<&TraceProbe> {
        self.flows
            .get(p.flow)?
            .driver
            .as_ref()?
            .state()
            .probes
            .get(p.index)
    }

    pub fn on_sent(&mut self, p: FlowProbe, at: SystemTime) {
        if let Some(d) = self.flows.get_mut(p.flow).and_then(|f| f.driver.as_mut()) {
            d.on_sent(p.index, at);
        }
    }

    /// Takes in one received packet; returns the probe it answered first.
    pub fn handle_packet(&mut self, packet: &[u8], at: SystemTime) -> Option<FlowProbe> {
        self.flows.iter_mut().enumerate().find_map(|(flow, f)| {
            let index = f.driver.as_mut()?.handle_packet(packet, at)?;
            Some(FlowProbe { flow, index })
        })
    }

    /// When the loop must call [`Self::handle_timeout`] and
    /// [`Self::poll_transmit`] even if no packet comes; `None` once over.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.is_finished() {
            return None;
        }
        let waiting = self.flows.iter().any(|f| f.driver.is_none());
        let controls = waiting.then(|| {
            if self.main().is_finished() {
                Duration::ZERO
            } else {
                self.config.timeout / 2
            }
        });
        self.flows
            .iter()
            .filter_map(|f| f.driver.as_ref()?.poll_timeout())
            .chain(controls)
            .min()
    }

    pub fn handle_timeout(&mut self, now: Duration) {
        for d in self.flows.iter_mut().filter_map(|f| f.driver.as_mut()) {
            d.handle_timeout(now);
        }
    }

    /// Every flow started and finished.
    pub fn is_finished(&self) -> bool {
        self.flows
            .iter()
            .all(|f| f.driver.as_ref().is_some_and(TraceDriver::is_finished))
    }

    /// The traced flow's hops.
    pub fn traced(&self) -> &TraceState {
        self.main().state()
    }

    /// Each flow's kind, source port and hops (`None`: never started).
    pub fn flows(&self) -> impl Iterator<Item = (ProbeKind, u16, Option<&TraceState>)> {
        self.flows.iter().map(|f| {
            (
                f.plan.kind,
                f.plan.src_port,
                f.driver.as_ref().map(TraceDriver::state),
            )
        })
    }

    /// The verdict engine's view: every flow's final probe, and the traced
    /// flow's hops with the controls' hops attached.
    pub fn verdict_parts(&self) -> (Vec<ProbeResult>, Trace) {
        let mut probes = Vec::new();
        let mut trace = self.traced().verdict_trace(self.flows[0].plan.kind);
        for (kind, _, state) in self.flows() {
            let Some(state) = state else { continue };
            probes.extend(state.verdict_probe(kind));
            if kind != self.flows[0].plan.kind {
                trace.controls.push(state.control_trace(kind));
            }
        }
        (probes, trace)
    }

    /// Sequence numbers to ask the echo server about: each flow's final
    /// probe first, then the rest of each flow's candidates.
    pub fn query_seqs(&self) -> Vec<u32> {
        let per_flow: Vec<Vec<u32>> = self
            .flows()
            .filter_map(|(_, _, s)| s.map(TraceState::query_seqs))
            .collect();
        let firsts = per_flow.iter().filter_map(|q| q.first().copied());
        let rest = per_flow.iter().flat_map(|q| q.iter().skip(1).copied());
        firsts.chain(rest).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use packet::build::ProbeBuilder;
    use packet::verdict::{evaluate, HopOption, VerdictCode, VerdictInput};
    use packet::TcpFlags;
    use std::net::IpAddr;
    use std::time::UNIX_EPOCH;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn plan(kind: ProbeKind, port: u16, seq: u32) -> ProbePlan {
        ProbePlan {
            src: "10.1.0.2".parse().unwrap(),
            dst: "10.2.0.2".parse().unwrap(),
            src_port: port,
            dst_port: 6101,
            max_ttl: 6,
            kind,
            v0_key: 0x1122_3344_5566_7788,
            base_seq: seq,
            base_ip_id: 7,
            flow_label: 0,
        }
    }

    fn flows(timeout: u64) -> TraceFlows {
        TraceFlows::new(
            plan(ProbeKind::V1, 40000, 1000),
            vec![
                plan(ProbeKind::Plain, 40001, 5_000_000),
                plan(ProbeKind::V0, 40002, 9_000_000),
            ],
            // These tests are about when each flow's probes leave, not the
            // retry spacing (the driver's tests cover that): retry at once.
            TraceConfig {
                retry_delay: Duration::ZERO,
                ..TraceConfig::new(ms(timeout))
            },
        )
        .unwrap()
    }

    /// The destination's SYN/ACK to `probe`, with `options`.
    fn syn_ack(probe: &TraceProbe, options: Vec<packet::TcpOption>) -> Vec<u8> {
        let k = probe.key;
        let mut b = ProbeBuilder::new(k.dst, k.src, k.dst_port, k.src_port)
            .seq(99)
            .flags(TcpFlags(0x12));
        b.ack = k.seq.wrapping_add(1);
        b.options = options;
        b.build().unwrap()
    }

    /// A listener's v1 MP_CAPABLE, with its key.
    fn keyed_v1() -> packet::TcpOption<'static> {
        packet::TcpOption::Mptcp(packet::MptcpOption::MpCapable(
            packet::mptcp::MpCapable::from_fields(1, 0x01, Some(0xabcd), None, None, None)
                .expect("a valid v1 MP_CAPABLE"),
        ))
    }

    /// Router `from`'s ICMP time exceeded quoting `probe` whole, as it
    /// arrived there (TTL 1); IPv4 only.
    fn time_exceeded(probe: &TraceProbe, from: IpAddr) -> Vec<u8> {
        let (IpAddr::V4(from), IpAddr::V4(to)) = (from, probe.key.src) else {
            panic!("IPv4 only");
        };
        let mut icmp = vec![11, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&probe.expected_at_hop);
        let sum = packet::ip::internet_checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        let len = (20 + icmp.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        ip[2..4].copy_from_slice(&len.to_be_bytes());
        ip.extend_from_slice(&from.octets());
        ip.extend_from_slice(&to.octets());
        let sum = packet::ip::ipv4_header_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&icmp);
        ip
    }

    fn kinds_ttls(f: &TraceFlows, sent: &[FlowProbe]) -> Vec<(usize, u8)> {
        sent.iter()
            .map(|p| (p.flow, f.probe(*p).unwrap().ttl))
            .collect()
    }

    fn router(ttl: u8) -> IpAddr {
        IpAddr::from([10, 9, ttl, 1])
    }

    /// Feeds what a path gives: routers 1..dest-1 quote; the destination
    /// at `dest` answers with a SYN/ACK; `drops(flow, ttl)` loses a probe
    /// beyond `ttl`... as decided by the caller.
    fn answer(
        f: &mut TraceFlows,
        sent: &[FlowProbe],
        dest: u8,
        lost: impl Fn(usize, u8) -> bool,
        at: u64,
    ) {
        for p in sent {
            let probe = f.probe(*p).unwrap().clone();
            f.on_sent(*p, UNIX_EPOCH + ms(at));
            if lost(p.flow, probe.ttl) {
                continue;
            }
            let reply = if probe.ttl < dest {
                time_exceeded(&probe, router(probe.ttl))
            } else {
                let mpc = (p.flow == 0).then_some(keyed_v1());
                syn_ack(&probe, mpc.into_iter().collect())
            };
            f.handle_packet(&reply, UNIX_EPOCH + ms(at + 1));
        }
    }

    #[test]
    fn controls_follow_the_traced_flow_up_to_its_destination() {
        let mut f = flows(3000);
        let first = f.poll_transmit(ms(0)).unwrap();
        assert_eq!(
            kinds_ttls(&f, &first),
            (1..=6).map(|t| (0, t)).collect::<Vec<_>>(),
            "only the traced flow at first"
        );
        answer(&mut f, &first, 3, |_, _| false, 0);
        assert!(!f.is_finished(), "the controls are still to go");
        assert_eq!(f.poll_timeout(), Some(ms(0)), "due now");
        let controls = f.poll_transmit(ms(2)).unwrap();
        assert_eq!(
            kinds_ttls(&f, &controls),
            vec![(1, 1), (2, 1), (1, 2), (2, 2), (1, 3), (2, 3)],
            "TTL 1..3 of each control, lowest TTL first"
        );
        answer(&mut f, &controls, 3, |_, _| false, 2);
        assert!(f.is_finished(), "every flow complete");
        assert_eq!(f.poll_timeout(), None);
        let (probes, trace) = f.verdict_parts();
        let kinds: Vec<ProbeKind> = probes.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, vec![ProbeKind::V1, ProbeKind::Plain, ProbeKind::V0]);
        assert_eq!(trace.probe, ProbeKind::V1);
        assert_eq!(trace.hops.len(), 2, "hops before the destination");
        assert_eq!(trace.controls.len(), 2);
        assert_eq!(trace.controls[0].hops.len(), 3, "with the destination");
        // Final probes first: one per flow.
        let q = f.query_seqs();
        let finals: Vec<u32> = f
            .flows()
            .map(|(_, _, s)| s.unwrap().final_probe().unwrap().key.seq)
            .collect();
        assert_eq!(&q[..3], &finals[..]);
    }

    #[test]
    fn a_dropping_router_is_located_by_the_plain_control() {
        // Router 1 drops every SYN carrying option 30 it forwards: the
        // MPTCP flows get only hop 1's quote; the plain one goes on.
        let mut f = flows(2000);
        let first = f.poll_transmit(ms(0)).unwrap();
        let drops = |flow: usize, ttl: u8| flow != 1 && ttl > 1;
        answer(&mut f, &first, 3, drops, 0);
        assert_eq!(f.poll_timeout(), Some(ms(1000)), "controls at half time");
        assert!(f.poll_transmit(ms(10)).unwrap().is_empty());
        f.handle_timeout(ms(1000));
        let sent = f.poll_transmit(ms(1000)).unwrap();
        let controls: Vec<FlowProbe> = sent.iter().copied().filter(|p| p.flow > 0).collect();
        assert_eq!(controls.len(), 12, "every TTL of both controls");
        assert!(
            sent.iter().any(|p| p.flow == 0),
            "and the traced flow's retries"
        );
        answer(&mut f, &sent, 3, drops, 1000);
        f.handle_timeout(ms(2000));
        assert!(f.is_finished(), "one timeout for all flows");
        let (probes, trace) = f.verdict_parts();
        let v = evaluate(&VerdictInput {
            target: "10.2.0.2".into(),
            local: packet::verdict::LocalHost {
                mptcp_enabled: Some(true),
                mptcp_version: Some(1),
                version_source: packet::verdict::VersionSource::Kernel,
                blackhole: None,
            },
            probes,
            trace: Some(trace),
            ..Default::default()
        });
        assert_eq!(v.code, VerdictCode::SynDropped, "{v:#?}");
        let range = v.hop_range.unwrap();
        assert_eq!(range.ttls(), (1, Some(2)), "{v:#?}");
        assert_eq!(range.last_with.unwrap().addr, Some(router(1)));
        assert_eq!(range.first_without.unwrap().addr, Some(router(2)));
        assert_eq!(
            f.traced().hop(1).verdict_hop().mp_capable,
            HopOption::Present
        );
    }

    #[test]
    fn the_other_version_negotiating_is_a_version_mismatch() {
        // A v0 router's trace: its v0 SYNs are answered without MPTCP, the
        // v1 control with the server's key.
        let mut f = TraceFlows::new(
            plan(ProbeKind::V0, 40000, 1000),
            vec![
                plan(ProbeKind::Plain, 40001, 5_000_000),
                plan(ProbeKind::V1, 40002, 9_000_000),
            ],
            TraceConfig::new(ms(3000)),
        )
        .unwrap();
        let first = f.poll_transmit(ms(0)).unwrap();
        for p in &first {
            let probe = f.probe(*p).unwrap().clone();
            let reply = if probe.ttl < 2 {
                time_exceeded(&probe, router(1))
            } else {
                syn_ack(&probe, Vec::new())
            };
            f.handle_packet(&reply, UNIX_EPOCH + ms(1));
        }
        let controls = f.poll_transmit(ms(1)).unwrap();
        assert_eq!(controls.len(), 4, "TTL 1 and 2 of each control");
        for p in &controls {
            let probe = f.probe(*p).unwrap().clone();
            let reply = if probe.ttl < 2 {
                time_exceeded(&probe, router(1))
            } else if p.flow == 2 {
                syn_ack(&probe, vec![keyed_v1()])
            } else {
                syn_ack(&probe, Vec::new())
            };
            f.handle_packet(&reply, UNIX_EPOCH + ms(2));
        }
        assert!(f.is_finished());
        let (probes, trace) = f.verdict_parts();
        let v = evaluate(&VerdictInput {
            target: "10.2.0.2".into(),
            local: packet::verdict::LocalHost {
                mptcp_enabled: Some(true),
                mptcp_version: Some(0),
                version_source: packet::verdict::VersionSource::User,
                blackhole: None,
            },
            probes,
            trace: Some(trace),
            ..Default::default()
        });
        assert_eq!(v.code, VerdictCode::VersionMismatch, "{v:#?}");
    }

    #[test]
    fn controls_wait_for_the_hops_below_the_destination() {
        // TTL 3's first probe was lost: TTL 4 answers first, then TTL 3's
        // retry. The controls leave only once the trace is complete, and
        // stop at TTL 3.
        let mut f = flows(3000);
        let first = f.poll_transmit(ms(0)).unwrap();
        answer(&mut f, &first, 3, |_, ttl| ttl == 3, 0);
        assert_eq!(f.traced().destination_ttl(), Some(4));
        let sent = f.poll_transmit(ms(5)).unwrap();
        assert_eq!(kinds_ttls(&f, &sent), vec![(0, 3)], "TTL 3's retry alone");
        answer(&mut f, &sent, 3, |_, _| false, 5);
        assert_eq!(f.traced().destination_ttl(), Some(3));
        let controls = f.poll_transmit(ms(10)).unwrap();
        assert_eq!(controls.len(), 6, "TTL 1..3 of each control");
    }

    #[test]
    fn a_rst_at_the_end_sends_the_controls_with_every_ttl() {
        let mut f = flows(3000);
        let first = f.poll_transmit(ms(0)).unwrap();
        answer(&mut f, &first[..1], 3, |_, _| false, 0);
        let last = *first
            .iter()
            .find(|p| f.probe(**p).unwrap().ttl == 2)
            .unwrap();
        let probe = f.probe(last).unwrap().clone();
        let k = probe.key;
        let mut b = ProbeBuilder::new(k.dst, k.src, k.dst_port, k.src_port)
            .seq(0)
            .flags(TcpFlags(0x14));
        b.ack = k.seq.wrapping_add(1);
        f.handle_packet(&b.build().unwrap(), UNIX_EPOCH + ms(1));
        let controls = f.poll_transmit(ms(1)).unwrap();
        assert_eq!(
            controls.iter().filter(|p| p.flow > 0).count(),
            12,
            "a RST may come from a box before the server: every TTL"
        );
    }

    #[test]
    fn a_tiny_timeout_still_ends() {
        let mut f = flows(0);
        // Half of nothing is now: every flow leaves at once.
        let first = f.poll_transmit(ms(0)).unwrap();
        assert_eq!(first.len(), 18);
        f.handle_timeout(ms(0));
        assert!(f.poll_transmit(ms(0)).unwrap().is_empty());
        assert!(f.is_finished());
        assert_eq!(f.poll_timeout(), None);
    }
}
