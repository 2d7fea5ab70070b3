//! When a trace sends and when it stops, without a clock: the I/O loop
//! passes the time in (sans-IO, as quinn-proto's connections do).
//!
//! The loop that drives it:
//! 1. send every probe [`TraceDriver::poll_transmit`] names, reporting each
//!    send time with [`TraceDriver::on_sent`];
//! 2. stop when [`TraceDriver::is_finished`];
//! 3. wait for a packet, at most until [`TraceDriver::poll_timeout`]; feed
//!    it to [`TraceDriver::handle_packet`], then call
//!    [`TraceDriver::handle_timeout`] with the time it is now; repeat.
//!
//! Two clocks, each for what it is good at: timers run on trace time (a
//! [`Duration`] since the trace started, which a live caller reads from a
//! monotonic clock, so a wall clock step neither stretches nor cuts the
//! wait), RTTs on the packets' own timestamps ([`SystemTime`]: kernel
//! receive times, or a capture's), which is what a replay has.
//!
//! The schedule: every TTL's first probe at once; once the destination has
//! answered, one retry for each silent TTL below it, no earlier than
//! [`TraceConfig::retry_delay`] (about a second: a router whose ICMP rate
//! limit is spent answers again only then); at half the timeout, one retry
//! for every TTL still silent; the end at the timeout, or as soon as the
//! destination and every hop before it have answered. See
//! [`TraceState::retry_candidates`] for why one retry.
use super::plan::{ProbePlan, TraceProbe};
use super::state::TraceState;
use packet::build::BuildError;
use std::time::{Duration, SystemTime};

/// How long into the trace a retry waits by default. Linux routers send
/// ICMP errors to one destination at one per second once a burst of 6 is
/// spent (`net.ipv4.icmp_ratelimit`, a token bucket refilled by the
/// jiffy): back-to-back traces find the bucket empty, and a retry sent as
/// soon as the destination answers finds it still empty. A little over a
/// second, so the bucket has a whole token again whatever the rounding.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(1100);

/// How long a trace waits, and how soon it retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceConfig {
    /// The whole trace's time, however many hops stay silent.
    pub timeout: Duration,
    /// Trace time before which no retry leaves: a router that rate-limits
    /// its ICMP errors answers a retry only once its bucket has refilled.
    pub retry_delay: Duration,
    /// Trace time at which this flow's first probes leave (a control flow
    /// starts after the traced one): its second wave of retries comes half
    /// way from there to the timeout.
    pub start: Duration,
}

impl TraceConfig {
    /// The default schedule for `timeout`: retries at
    /// [`DEFAULT_RETRY_DELAY`], or at half the timeout when that is sooner
    /// (a retry must leave its answer time to come back).
    pub fn new(timeout: Duration) -> Self {
        TraceConfig {
            timeout,
            retry_delay: DEFAULT_RETRY_DELAY.min(timeout / 2),
            start: Duration::ZERO,
        }
    }
}

/// One trace in progress: its hops so far and its schedule.
#[derive(Debug, Clone)]
pub struct TraceDriver {
    config: TraceConfig,
    state: TraceState,
    /// The retry of each TTL, built up front so sending never fails.
    retries: Vec<TraceProbe>,
    first_wave_sent: bool,
    /// Half the timeout has passed: every silent TTL may be retried.
    second_wave: bool,
    finished: bool,
}

impl TraceDriver {
    /// The trace of `plan`: its first probes, and a retry for each TTL.
    pub fn from_plan(plan: &ProbePlan, config: TraceConfig) -> Result<Self, BuildError> {
        let first = plan.build()?;
        let retries = first
            .iter()
            .map(|p| plan.probe(p.ttl, 1))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(first, retries, config))
    }

    /// A trace of the given probes (one per TTL), retried with the probe
    /// of `retries` of the same TTL (a TTL without one is not retried).
    pub fn new(first: Vec<TraceProbe>, retries: Vec<TraceProbe>, config: TraceConfig) -> Self {
        TraceDriver {
            config,
            state: TraceState::new(first),
            retries,
            first_wave_sent: false,
            second_wave: false,
            finished: false,
        }
    }

    pub fn config(&self) -> &TraceConfig {
        &self.config
    }

    /// The hops so far.
    pub fn state(&self) -> &TraceState {
        &self.state
    }

    pub fn into_state(self) -> TraceState {
        self.state
    }

    /// The probes to send now (indices into `state().probes`): every first
    /// probe on the first call, then the retries that are due at `now`.
    pub fn poll_transmit(&mut self, now: Duration) -> Vec<usize> {
        if self.finished {
            return Vec::new();
        }
        if !self.first_wave_sent {
            self.first_wave_sent = true;
            return (0..self.state.probes.len()).collect();
        }
        if now < self.config.retry_delay {
            return Vec::new();
        }
        let mut sent = Vec::new();
        for ttl in self.due_retries() {
            if let Some(at) = self.retries.iter().position(|p| p.ttl == ttl) {
                let probe = self.retries.swap_remove(at);
                sent.push(self.state.add_probe(probe));
            }
        }
        sent
    }

    /// The TTLs to retry once the retry delay has passed: the state's
    /// candidates that still have a retry to send.
    fn due_retries(&self) -> Vec<u8> {
        let mut ttls = self.state.retry_candidates(self.second_wave);
        ttls.retain(|t| self.retries.iter().any(|p| p.ttl == *t));
        ttls
    }

    /// Probe `index` left at `at` (its RTT is measured from there).
    pub fn on_sent(&mut self, index: usize, at: SystemTime) {
        self.state.mark_sent(index, at);
    }

    /// Takes in one received packet; returns the index of the probe it
    /// answered first (`None`: not ours, or not news). The trace finishes
    /// once the destination and every hop before it have answered.
    pub fn handle_packet(&mut self, packet: &[u8], at: SystemTime) -> Option<usize> {
        if self.finished {
            return None;
        }
        let answered = self.state.absorb(packet, at);
        if self.state.complete() {
            self.finished = true;
        }
        answered
    }

    /// When the loop must call [`Self::handle_timeout`] (or
    /// [`Self::poll_transmit`], for delayed retries) even if no packet
    /// comes: trace time, `None` once finished.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.finished {
            return None;
        }
        let half = (!self.second_wave).then(|| self.half_time());
        let retry = (self.first_wave_sent && !self.due_retries().is_empty())
            .then_some(self.config.retry_delay);
        [Some(self.config.timeout), half, retry]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advances the schedule to `now` (trace time): the second wave of
    /// retries at half the timeout, the end at the timeout. Earlier calls
    /// change nothing.
    pub fn handle_timeout(&mut self, now: Duration) {
        if now >= self.config.timeout {
            self.finished = true;
        } else if now >= self.half_time() {
            self.second_wave = true;
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn half_time(&self) -> Duration {
        let start = self.config.start.min(self.config.timeout);
        start + (self.config.timeout - start) / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::frames;
    use crate::trace::state::{test_support::replay, HopDetail};
    use packet::build::ProbeBuilder;
    use packet::verdict::{evaluate, HopOption, ProbeKind, Verdict, VerdictCode, VerdictInput};
    use packet::TcpFlags;
    use std::net::IpAddr;
    use std::time::UNIX_EPOCH;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn plan(max_ttl: u8) -> ProbePlan {
        ProbePlan {
            src: "10.1.0.2".parse().unwrap(),
            dst: "10.2.0.2".parse().unwrap(),
            src_port: 40000,
            dst_port: 6101,
            max_ttl,
            kind: ProbeKind::V1,
            v0_key: 0,
            base_seq: 1000,
            base_ip_id: 7,
            flow_label: 0,
        }
    }

    /// The destination's SYN/ACK to `probe`.
    fn syn_ack(probe: &TraceProbe) -> Vec<u8> {
        let k = probe.key;
        let mut b = ProbeBuilder::new(k.dst, k.src, k.dst_port, k.src_port)
            .seq(99)
            .flags(TcpFlags(0x12));
        b.ack = k.seq.wrapping_add(1);
        b.build().unwrap()
    }

    fn ttls(d: &TraceDriver, indices: &[usize]) -> Vec<(u8, u8)> {
        indices
            .iter()
            .map(|&i| (d.state().probes[i].ttl, d.state().probes[i].attempt))
            .collect()
    }

    #[test]
    fn silence_retries_at_half_time_and_ends_at_the_timeout() {
        let mut d = TraceDriver::from_plan(&plan(3), TraceConfig::new(ms(2000))).unwrap();
        assert_eq!(
            d.poll_timeout(),
            Some(ms(1000)),
            "half time, before sending"
        );
        let first = d.poll_transmit(ms(0));
        assert_eq!(ttls(&d, &first), vec![(1, 0), (2, 0), (3, 0)]);
        assert!(d.poll_transmit(ms(0)).is_empty(), "each probe once");
        assert_eq!(d.poll_timeout(), Some(ms(1000)));
        d.handle_timeout(ms(999));
        assert!(d.poll_transmit(ms(999)).is_empty(), "not yet");
        d.handle_timeout(ms(1000));
        let retries = d.poll_transmit(ms(1000));
        assert_eq!(ttls(&d, &retries), vec![(1, 1), (2, 1), (3, 1)]);
        assert!(d.poll_transmit(ms(1500)).is_empty(), "one retry per TTL");
        assert_eq!(d.poll_timeout(), Some(ms(2000)), "then only the deadline");
        assert!(!d.is_finished());
        d.handle_timeout(ms(2000));
        assert!(d.is_finished());
        assert_eq!(d.poll_timeout(), None);
        let hops = d.state().hops();
        assert_eq!(hops.len(), 3);
        assert!(hops.iter().all(|h| h.detail == HopDetail::Silent));
    }

    #[test]
    fn a_flow_started_late_retries_half_way_to_the_end() {
        let config = TraceConfig {
            start: ms(1000),
            ..TraceConfig::new(ms(3000))
        };
        let mut d = TraceDriver::from_plan(&plan(2), config).unwrap();
        assert_eq!(d.poll_timeout(), Some(ms(2000)), "half way from 1 s to 3 s");
        d.poll_transmit(ms(1000));
        d.handle_timeout(ms(1500));
        assert!(
            d.poll_transmit(ms(1500)).is_empty(),
            "the traced flow's half time is not its own"
        );
        d.handle_timeout(ms(2000));
        assert_eq!(d.poll_transmit(ms(2000)).len(), 2);
    }

    #[test]
    fn a_tiny_timeout_ends_without_retries() {
        let mut d = TraceDriver::from_plan(&plan(2), TraceConfig::new(ms(0))).unwrap();
        assert_eq!(d.poll_transmit(ms(0)).len(), 2);
        d.handle_timeout(ms(0));
        assert!(d.is_finished());
        assert!(d.poll_transmit(ms(0)).is_empty());
    }

    /// Retries as soon as they are due (no delay), for the tests of the
    /// schedule's other rules.
    fn at_once(timeout: Duration) -> TraceConfig {
        TraceConfig {
            retry_delay: Duration::ZERO,
            ..TraceConfig::new(timeout)
        }
    }

    #[test]
    fn default_retries_wait_out_the_icmp_rate_limit() {
        let config = TraceConfig::new(ms(3000));
        assert_eq!(config.retry_delay, ms(1100), "past one ICMP token");
        let mut d = TraceDriver::from_plan(&plan(3), config).unwrap();
        for i in d.poll_transmit(ms(0)) {
            d.on_sent(i, UNIX_EPOCH);
        }
        // The destination answers at once; hops 1 and 2 are silent (their
        // ICMP buckets are empty after an earlier trace).
        let answer = syn_ack(&d.state().probes[2]);
        d.handle_packet(&answer, UNIX_EPOCH + ms(1));
        d.handle_timeout(ms(1));
        assert!(
            d.poll_transmit(ms(1)).is_empty(),
            "not while the buckets refill"
        );
        assert_eq!(d.poll_timeout(), Some(ms(1100)));
        d.handle_timeout(ms(1099));
        assert!(d.poll_transmit(ms(1099)).is_empty());
        d.handle_timeout(ms(1100));
        let retries = d.poll_transmit(ms(1100));
        assert_eq!(ttls(&d, &retries), vec![(1, 1), (2, 1)]);
        assert!(!d.is_finished());
        assert_eq!(d.poll_timeout(), Some(ms(1500)), "then the second wave");
    }

    #[test]
    fn a_short_timeout_retries_at_half_time() {
        assert_eq!(TraceConfig::new(ms(1000)).retry_delay, ms(500));
        assert_eq!(TraceConfig::new(ms(2200)).retry_delay, ms(1100));
        assert_eq!(TraceConfig::new(ms(0)).retry_delay, ms(0));
        let mut d = TraceDriver::from_plan(&plan(2), TraceConfig::new(ms(1000))).unwrap();
        d.poll_transmit(ms(0));
        let answer = syn_ack(&d.state().probes[1]);
        d.handle_packet(&answer, UNIX_EPOCH + ms(1));
        d.handle_timeout(ms(1));
        assert!(d.poll_transmit(ms(1)).is_empty());
        assert_eq!(d.poll_timeout(), Some(ms(500)));
        d.handle_timeout(ms(500));
        let retries = d.poll_transmit(ms(500));
        assert_eq!(ttls(&d, &retries), vec![(1, 1)]);
    }

    #[test]
    fn the_destination_answering_retries_the_silent_ttls_at_once() {
        let mut d = TraceDriver::from_plan(&plan(4), at_once(ms(3000))).unwrap();
        for i in d.poll_transmit(ms(0)) {
            d.on_sent(i, UNIX_EPOCH + ms(0));
        }
        // TTL 3 reaches the destination; TTL 4 does too (its answer comes
        // second and changes nothing).
        let answer = syn_ack(&d.state().probes[2]);
        assert_eq!(d.handle_packet(&answer, UNIX_EPOCH + ms(40)), Some(2));
        d.handle_timeout(ms(40));
        assert_eq!(d.poll_timeout(), Some(ms(0)), "retries are due now");
        let retries = d.poll_transmit(ms(40));
        assert_eq!(ttls(&d, &retries), vec![(1, 1), (2, 1)], "below TTL 3 only");
        assert!(!d.is_finished(), "hops 1 and 2 are still silent");
        assert_eq!(d.poll_timeout(), Some(ms(1500)));
        // Nothing more comes: the second wave has nobody left to retry.
        d.handle_timeout(ms(1500));
        assert!(d.poll_transmit(ms(1500)).is_empty());
        d.handle_timeout(ms(3000));
        assert!(d.is_finished());
        assert_eq!(d.state().destination_ttl(), Some(3));
    }

    #[test]
    fn retries_wait_for_the_configured_delay() {
        let config = TraceConfig {
            retry_delay: ms(1000),
            ..TraceConfig::new(ms(3000))
        };
        let mut d = TraceDriver::from_plan(&plan(3), config).unwrap();
        d.poll_transmit(ms(0));
        let answer = syn_ack(&d.state().probes[2]);
        d.handle_packet(&answer, UNIX_EPOCH + ms(40));
        d.handle_timeout(ms(40));
        assert!(d.poll_transmit(ms(40)).is_empty(), "too early");
        assert_eq!(d.poll_timeout(), Some(ms(1000)));
        d.handle_timeout(ms(1000));
        let retries = d.poll_transmit(ms(1000));
        assert_eq!(ttls(&d, &retries), vec![(1, 1), (2, 1)]);
    }

    /// Replays a lab capture through the driver: the capture's SYNs are the
    /// probes (TTL 1, 2, then the destination's), the frames are fed with
    /// their timestamps, trace time counted from the first SYN. Frames in
    /// `dropped` are lost on the way. Returns the driver and the trace
    /// time at which it finished.
    fn replay_driver(
        name: &str,
        retries: Vec<TraceProbe>,
        dropped: &[usize],
    ) -> (TraceDriver, Option<Duration>) {
        replay_driver_with(name, retries, dropped, TraceConfig::new(ms(3000)))
    }

    fn replay_driver_with(
        name: &str,
        retries: Vec<TraceProbe>,
        dropped: &[usize],
        config: TraceConfig,
    ) -> (TraceDriver, Option<Duration>) {
        let f = frames(name);
        let probes = replay(name).probes;
        let syn_frames: Vec<usize> = (0..f.len())
            .filter(|&i| probes.iter().any(|p| p.packet == f[i].1))
            .collect();
        let start = f[syn_frames[0]].0;
        let mut d = TraceDriver::new(probes, retries, config);
        for (i, frame) in d.poll_transmit(ms(0)).into_iter().zip(&syn_frames) {
            d.on_sent(i, UNIX_EPOCH + f[*frame].0);
        }
        for (i, (ts, packet)) in f.iter().enumerate() {
            if syn_frames.contains(&i) || dropped.contains(&i) {
                continue;
            }
            let now = *ts - start;
            d.handle_timeout(now);
            d.handle_packet(packet, UNIX_EPOCH + *ts);
            for sent in d.poll_transmit(now) {
                d.on_sent(sent, UNIX_EPOCH + *ts);
            }
            if d.is_finished() {
                return (d, Some(now));
            }
        }
        (d, None)
    }

    /// The verdict on a trace (v1 probes) to the lab's server.
    fn verdict(s: &TraceState) -> Verdict {
        evaluate(&VerdictInput {
            target: "10.2.0.2".into(),
            probes: s.verdict_probe(ProbeKind::V1).into_iter().collect(),
            trace: Some(s.verdict_trace(ProbeKind::V1)),
            ..Default::default()
        })
    }

    #[test]
    fn replayed_stripped_trace_names_the_hop_range() {
        let (d, ended) = replay_driver("ttl-stripped.client.pcap", Vec::new(), &[]);
        assert!(d.is_finished(), "ends early: every hop answered");
        assert!(ended.unwrap() < ms(1500), "before half time: {ended:?}");
        let s = d.state();
        assert_eq!(s.probes.len(), 3, "no retry needed");
        let hops = s.hops();
        let mpc: Vec<HopOption> = hops[..2]
            .iter()
            .map(|h| h.verdict_hop().mp_capable)
            .collect();
        assert_eq!(mpc, vec![HopOption::Present, HopOption::Absent]);
        assert!(matches!(hops[2].detail, HopDetail::Destination { .. }));
        assert!(hops.iter().all(|h| h.rtt.is_some()));
        assert_eq!(s.verdict_trace(ProbeKind::V1).hops.len(), 2);
        let v = verdict(s);
        assert_eq!(v.code, VerdictCode::StrippedUpstream, "{v:?}");
        assert_eq!(v.hop_range.unwrap().ttls(), (1, Some(2)));
    }

    #[test]
    fn replayed_clean_trace_keeps_mp_capable_on_every_hop() {
        let (d, ended) = replay_driver("ttl-clean.client.pcap", Vec::new(), &[]);
        assert!(ended.is_some());
        let s = d.state();
        let trace = s.verdict_trace(ProbeKind::V1);
        assert_eq!(trace.hops.len(), 2);
        assert!(trace
            .hops
            .iter()
            .all(|h| h.mp_capable == HopOption::Present));
        let v = verdict(s);
        assert_ne!(v.code, VerdictCode::StrippedUpstream, "{v:?}");
    }

    #[test]
    fn replayed_trace_with_a_lost_quote_retries_and_stays_open() {
        // Router 2's quote (frame 4) is lost: the destination's answer
        // sends TTL 2's retry at once; with no answer to it the trace runs
        // to its timeout, and hop 2 stays silent.
        let mut retry = replay("ttl-stripped.client.pcap").probes[1].clone();
        retry.attempt = 1;
        retry.key.seq = retry.key.seq.wrapping_add(1 << 16);
        let (mut d, ended) = replay_driver_with(
            "ttl-stripped.client.pcap",
            vec![retry],
            &[3],
            at_once(ms(3000)),
        );
        assert_eq!(ended, None, "hop 2 never answered");
        let s = d.state();
        assert_eq!(s.probes.len(), 4);
        assert_eq!((s.probes[3].ttl, s.probes[3].attempt), (2, 1));
        assert!(s.sent_at[3].is_some());
        assert_eq!(s.hop(2).detail, HopDetail::Silent);
        assert_eq!(d.poll_timeout(), Some(ms(1500)), "the second wave is ahead");
        d.handle_timeout(ms(1500));
        assert!(d.poll_transmit(ms(1500)).is_empty(), "TTL 2 had its retry");
        assert_eq!(d.poll_timeout(), Some(ms(3000)));
        d.handle_timeout(ms(3000));
        assert!(d.is_finished());
        assert_eq!(d.state().destination_ttl(), Some(3));
    }

    #[test]
    fn a_replayed_retry_answer_completes_the_trace() {
        // TTL 2's first probe was lost (another sequence number); the
        // capture's TTL 2 SYN is its retry, sent when the destination
        // answered, and router 2's quote of it completes the trace.
        let name = "ttl-stripped.client.pcap";
        let f = frames(name);
        let mut probes = replay(name).probes;
        let real = probes[1].clone();
        probes[1].key.seq = probes[1].key.seq.wrapping_add(12345);
        probes[1].key.ip_id = Some(1);
        let retry = TraceProbe { attempt: 1, ..real };
        let mut d = TraceDriver::new(probes, vec![retry], at_once(ms(3000)));
        let at = |i: usize| UNIX_EPOCH + f[i].0;
        let now = |i: usize| f[i].0 - f[0].0;
        for i in d.poll_transmit(ms(0)) {
            d.on_sent(i, at(0));
        }
        d.handle_packet(&f[1].1, at(1));
        assert_eq!(
            d.handle_packet(&f[3].1, at(3)),
            None,
            "quotes the retry's seq"
        );
        d.handle_packet(&f[5].1, at(5));
        let sent = d.poll_transmit(now(5));
        assert_eq!(ttls(&d, &sent), vec![(2, 1)]);
        d.on_sent(sent[0], at(5));
        assert!(!d.is_finished());
        assert_eq!(d.handle_packet(&f[3].1, at(5)), Some(sent[0]));
        assert!(d.is_finished());
        let hop = d.state().hop(2);
        assert_eq!(hop.responder, Some("10.5.0.2".parse::<IpAddr>().unwrap()));
        assert_eq!(hop.verdict_hop().mp_capable, HopOption::Absent);
    }

    #[test]
    fn a_ttl_without_a_retry_probe_sets_no_timer() {
        // Replayed probes come without retries: the silent TTL below the
        // destination cannot be retried, so only the deadlines remain.
        let name = "ttl-stripped.client.pcap";
        let f = frames(name);
        let mut d = TraceDriver::new(replay(name).probes, Vec::new(), TraceConfig::new(ms(3000)));
        d.poll_transmit(ms(0));
        d.handle_packet(&f[5].1, UNIX_EPOCH + f[5].0);
        assert!(d.poll_transmit(ms(10)).is_empty());
        assert_eq!(d.poll_timeout(), Some(ms(1500)));
    }
}
