//! The bounded observation store: a ring of captured SYNs and SYN/ACKs with
//! a fixed capacity (oldest evicted first) and a cap per remote address, so
//! neither total traffic nor one noisy source can grow memory or push out
//! everyone else's observations.
//!
//! Within one remote address the cap evicts whole handshakes, oldest
//! first, and a flow (remote port, local port) that already holds one pays
//! for its own newcomers: a flood of SYNs sent in someone's name that
//! repeats its ports evicts its own SYNs, not that address's probes on
//! other ports.
//!
//! A SYN is reported only as the SYN this host's kernel answered: the one
//! whose sequence number + 1 is the acknowledgement of the SYN/ACK this
//! host sent on that 4-tuple (both captured). A connection's claim binds to
//! the newest such pair and later SYNs on the 4-tuple never replace it.
mod source;

use crate::segment::Segment;
use source::{Flow, Source};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

/// One captured segment.
#[derive(Debug, Clone)]
pub struct Observation {
    pub segment: Segment,
    pub iface: Arc<str>,
    /// Seconds since the epoch.
    pub ts: f64,
    /// Sent by this host (a SYN/ACK) rather than received (a SYN).
    pub outgoing: bool,
}

impl Observation {
    /// The far end's address: source of a received SYN, destination of a
    /// SYN/ACK this host sent.
    pub fn remote(&self) -> IpAddr {
        if self.outgoing {
            self.segment.dst
        } else {
            self.segment.src
        }
    }
    /// The connection this segment belongs to, seen from this host.
    pub fn tuple(&self) -> FourTuple {
        let s = &self.segment;
        if self.outgoing {
            FourTuple {
                remote: s.dst,
                remote_port: s.dport,
                local: s.src,
                local_port: s.sport,
            }
        } else {
            FourTuple {
                remote: s.src,
                remote_port: s.sport,
                local: s.dst,
                local_port: s.dport,
            }
        }
    }
    fn is_syn(&self) -> bool {
        !self.outgoing && self.segment.flags.is_syn_only()
    }
    fn is_syn_ack(&self) -> bool {
        self.outgoing && self.segment.flags.is_syn_ack()
    }
    /// This host's SYN/ACK answering `syn` (its ack is the SYN's seq + 1).
    fn answers(&self, syn: &Observation) -> bool {
        self.is_syn_ack() && self.segment.ack == syn.segment.seq.wrapping_add(1)
    }
}

/// A connection as seen from this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourTuple {
    pub remote: IpAddr,
    pub remote_port: u16,
    pub local: IpAddr,
    pub local_port: u16,
}

impl FourTuple {
    fn flow(&self) -> Flow {
        (self.remote_port, self.local_port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    pub capacity: usize,
    pub per_source: usize,
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub inserted: u64,
    /// SYN/ACKs among them: once there is one, this host's answers are
    /// captured, and a SYN without one is never reported.
    pub answers: u64,
    pub evicted_global: u64,
    pub evicted_per_source: u64,
}

/// How far apart (in observations of one flow) a SYN and this host's
/// answer to it are looked for when evicting: the answer leaves within
/// the same softirq, so it follows its SYN at once but for a few
/// neighbours on the same 4-tuple.
const HANDSHAKE_SPAN: usize = 8;

/// 4-tuples whose SYN was evicted remembered at most (see
/// [`Store::was_displaced`]).
const DISPLACED_KEPT: usize = 4096;

/// The 4-tuples of SYNs evicted lately, oldest forgotten first: a report
/// whose SYN is missing can then say it was captured and displaced (a
/// flood in its address's name) rather than not captured.
/// The same SYNs by (sender, sequence number) serve a query or an
/// aggregate request, which names crafted SYNs by their numbers.
#[derive(Debug, Default)]
struct Displaced {
    order: VecDeque<(FourTuple, u32)>,
    /// Entries of `order` per 4-tuple.
    tuples: HashMap<FourTuple, u32>,
    seqs: HashSet<(IpAddr, u32)>,
}

impl Displaced {
    fn record(&mut self, t: FourTuple, seq: u32) {
        if !self.seqs.insert((t.remote, seq)) {
            return;
        }
        *self.tuples.entry(t).or_default() += 1;
        self.order.push_back((t, seq));
        if self.order.len() > DISPLACED_KEPT {
            if let Some((old, old_seq)) = self.order.pop_front() {
                self.seqs.remove(&(old.remote, old_seq));
                if let Some(n) = self.tuples.get_mut(&old) {
                    *n -= 1;
                    if *n == 0 {
                        self.tuples.remove(&old);
                    }
                }
            }
        }
    }
}

/// SYNs captured on a claimed 4-tuple after the claim, kept until this
/// host's SYN/ACK names one of them. A handful is plenty: the answered SYN
/// precedes its SYN/ACK by one softirq.
const CLAIM_SYNS: usize = 8;

/// The SYN and SYN/ACK of one accepted connection, held outside the ring.
#[derive(Debug, Clone, Default)]
pub struct Claimed {
    /// The SYN this host answered (see [`Claimed::is_bound`]); without a
    /// captured SYN/ACK, and only while the store has seen none at all,
    /// the first SYN seen on the 4-tuple.
    pub syn: Option<Observation>,
    /// The newest SYN/ACK this host sent on the 4-tuple.
    pub syn_ack: Option<Observation>,
    recent_syns: VecDeque<Observation>,
}

impl Claimed {
    /// True when the SYN is the one the SYN/ACK acknowledges.
    pub fn is_bound(&self) -> bool {
        match (&self.syn, &self.syn_ack) {
            (Some(s), Some(a)) => a.answers(s),
            _ => false,
        }
    }
}

/// A SYN and this host's answer to it, as found in the ring.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pair<'a> {
    pub syn: Option<&'a Observation>,
    pub syn_ack: Option<&'a Observation>,
}

#[derive(Debug)]
pub struct Store {
    limits: StoreLimits,
    /// Connections accepted and not yet reported: their segments are kept
    /// here as they arrive, so no flood in the ring can evict them.
    claims: HashMap<FourTuple, Claimed>,
    max_claims: usize,
    /// Slot `i` holds the observation with id `first_id + i`; `None` when
    /// its source cap evicted it early.
    ring: VecDeque<Option<Observation>>,
    first_id: u64,
    by_remote: HashMap<IpAddr, Source>,
    live: usize,
    stats: StoreStats,
    displaced: Displaced,
}

impl Store {
    pub fn new(limits: StoreLimits) -> Self {
        let limits = StoreLimits {
            capacity: limits.capacity.max(1),
            per_source: limits.per_source.max(1),
        };
        Store {
            limits,
            claims: HashMap::new(),
            max_claims: 1024,
            ring: VecDeque::with_capacity(limits.capacity),
            first_id: 0,
            by_remote: HashMap::new(),
            live: 0,
            stats: StoreStats::default(),
            displaced: Displaced::default(),
        }
    }

    /// Whether a SYN on this 4-tuple was evicted lately (by the per-source
    /// cap or the capacity), so a connection that finds no SYN had one
    /// captured and displaced by newer observations before its claim.
    pub fn was_displaced(&self, t: &FourTuple) -> bool {
        self.displaced.tuples.contains_key(t)
    }

    /// How many of the SYNs `remote` sent with these sequence numbers
    /// were evicted lately: a query's or an aggregate request's SYNs that
    /// the answer cannot show any more.
    pub fn displaced_of(&self, remote: IpAddr, seqs: &[u32]) -> usize {
        seqs.iter()
            .filter(|&&seq| self.displaced.seqs.contains(&(remote, seq)))
            .count()
    }

    pub fn limits(&self) -> StoreLimits {
        self.limits
    }
    /// Observations held.
    pub fn len(&self) -> usize {
        self.live
    }
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
    /// Ring slots in use (live or emptied early): below twice the capacity.
    pub fn slots(&self) -> usize {
        self.ring.len()
    }
    /// Remote addresses with observations: never above capacity.
    pub fn sources(&self) -> usize {
        self.by_remote.len()
    }
    pub fn stats(&self) -> StoreStats {
        self.stats
    }

    pub fn insert(&mut self, obs: Observation) {
        if !self.claims.is_empty() {
            self.fill_claim(&obs);
        }
        let remote = obs.remote();
        let t = obs.tuple();
        let flow = t.flow();
        let is_answer = obs.is_syn_ack();
        let over = self
            .by_remote
            .get(&remote)
            .is_some_and(|s| s.len() >= self.limits.per_source);
        if over {
            let keep = if obs.is_syn_ack() {
                self.id_of_syn(&t, obs.segment.ack.wrapping_sub(1))
            } else {
                None
            };
            // The first answer to a SYN held joins it: a handshake counts
            // once, so the source may hold up to twice its cap. Evicting
            // for it could only take from another flow (its own holds just
            // that SYN), and the source's oldest is someone's probe.
            let joins = keep.is_some_and(|syn| !self.answered(&t, syn));
            if !joins {
                self.evict_from_source(remote, flow, keep);
            }
        }
        while self.live >= self.limits.capacity {
            self.pop_oldest();
        }
        let id = self.first_id + self.ring.len() as u64;
        self.by_remote.entry(remote).or_default().push(flow, id);
        self.ring.push_back(Some(obs));
        self.live += 1;
        self.stats.inserted += 1;
        if is_answer {
            self.stats.answers += 1;
        }
        self.trim();
    }

    /// Makes room in `remote`'s share: removes the oldest handshake (a SYN
    /// and this host's answers to it, or a lone SYN/ACK) of the incoming
    /// flow once that flow holds its share, else of the whole source.
    /// Whole handshakes go, so a flow never keeps an answer without the
    /// SYN it answers. `keep` (the SYN an incoming SYN/ACK answers) stays.
    fn evict_from_source(&mut self, remote: IpAddr, incoming: Flow, keep: Option<u64>) {
        let Some(source) = self.by_remote.get(&remote) else {
            return;
        };
        let live = |id: u64| self.get(id).is_some();
        let Some(first) = source.eviction_candidate(incoming, keep, live) else {
            return;
        };
        let Some(first_obs) = self.get(first) else {
            return;
        };
        let flow = first_obs.tuple().flow();
        let mut gone = vec![first];
        if first_obs.is_syn() {
            gone.extend(
                source
                    .flow(&flow)
                    .skip_while(|id| *id != first)
                    .skip(1)
                    .take(HANDSHAKE_SPAN)
                    .filter(|id| self.get(*id).is_some_and(|a| a.answers(first_obs))),
            );
        }
        for id in gone {
            let slot = id.saturating_sub(self.first_id) as usize;
            if let Some(s) = self.ring.get_mut(slot) {
                if let Some(old) = s.take() {
                    self.live -= 1;
                    self.stats.evicted_per_source += 1;
                    if old.is_syn() {
                        self.displaced.record(old.tuple(), old.segment.seq);
                    }
                    self.forget(remote, flow);
                }
            }
        }
    }

    /// Counts one observation of `remote`'s `flow` as gone from the ring.
    fn forget(&mut self, remote: IpAddr, flow: Flow) {
        let (ring, first_id) = (&self.ring, self.first_id);
        let live = |id: u64| {
            id.checked_sub(first_id)
                .and_then(|i| ring.get(i as usize))
                .is_some_and(Option::is_some)
        };
        if let Some(source) = self.by_remote.get_mut(&remote) {
            source.forget(flow, live);
            if source.len() == 0 {
                self.by_remote.remove(&remote);
            }
        }
    }

    /// Drops slots emptied by the per-source cap: from the front at once,
    /// and by renumbering the ring once they make up half of it, so the
    /// ring never exceeds twice the capacity (amortised O(1) per insert).
    fn trim(&mut self) {
        while matches!(self.ring.front(), Some(None)) {
            self.ring.pop_front();
            self.first_id += 1;
        }
        if self.ring.len() < 2 * self.limits.capacity {
            return;
        }
        let old = std::mem::take(&mut self.ring);
        self.by_remote.clear();
        for (i, obs) in old.into_iter().flatten().enumerate() {
            let id = self.first_id + i as u64;
            self.by_remote
                .entry(obs.remote())
                .or_default()
                .push(obs.tuple().flow(), id);
            self.ring.push_back(Some(obs));
        }
    }

    /// Removes the oldest slot (live or emptied).
    fn pop_oldest(&mut self) {
        let Some(slot) = self.ring.pop_front() else {
            return;
        };
        self.first_id += 1;
        if let Some(old) = slot {
            self.live -= 1;
            self.stats.evicted_global += 1;
            if old.is_syn() {
                self.displaced.record(old.tuple(), old.segment.seq);
            }
            self.forget(old.remote(), old.tuple().flow());
        }
    }

    /// Claims an accepted connection: its SYN and SYN/ACK, already in the
    /// ring or captured later, are kept until [`Store::release`]. False when
    /// too many claims are open (the ring lookups still work then).
    pub fn claim(&mut self, t: FourTuple) -> bool {
        if self.claims.len() >= self.max_claims {
            return false;
        }
        let pair = self.pair_of(&t);
        let claimed = Claimed {
            syn: pair.syn.cloned(),
            syn_ack: pair.syn_ack.cloned(),
            recent_syns: VecDeque::new(),
        };
        self.claims.insert(t, claimed);
        true
    }

    /// The claimed segments of a connection.
    pub fn claimed(&self, t: &FourTuple) -> Option<&Claimed> {
        self.claims.get(t)
    }

    /// Ends a claim.
    pub fn release(&mut self, t: &FourTuple) {
        self.claims.remove(t);
    }

    /// Open claims.
    pub fn claims(&self) -> usize {
        self.claims.len()
    }

    /// Keeps a segment captured after the claim on a claimed 4-tuple. A
    /// SYN/ACK (re)binds the claim to the SYN it acknowledges; a SYN only
    /// fills a claim that has none yet, and never replaces one.
    fn fill_claim(&mut self, obs: &Observation) {
        if !obs.is_syn() && !obs.is_syn_ack() {
            return;
        }
        let t = obs.tuple();
        let Some(c) = self.claims.get(&t) else {
            return;
        };
        if obs.is_syn() {
            let Some(c) = self.claims.get_mut(&t) else {
                return;
            };
            if c.recent_syns.len() >= CLAIM_SYNS {
                c.recent_syns.pop_front();
            }
            c.recent_syns.push_back(obs.clone());
            if c.syn.is_none() && c.syn_ack.is_none() && self.stats.answers == 0 {
                c.syn = Some(obs.clone());
            }
            return;
        }
        // A retransmitted SYN/ACK names the SYN already bound.
        if c.is_bound() && c.syn_ack.as_ref().map(|a| a.segment.ack) == Some(obs.segment.ack) {
            return;
        }
        let named = c
            .recent_syns
            .iter()
            .find(|s| obs.answers(s))
            .or_else(|| c.syn.as_ref().filter(|s| obs.answers(s)))
            .or_else(|| self.syn_with_seq(&t, obs.segment.ack.wrapping_sub(1)))
            .cloned();
        if let Some(c) = self.claims.get_mut(&t) {
            c.syn_ack = Some(obs.clone());
            c.syn = named;
        }
    }

    /// This 4-tuple's observations, oldest first.
    fn of_tuple(&self, t: FourTuple) -> impl DoubleEndedIterator<Item = &Observation> {
        self.by_remote
            .get(&t.remote)
            .into_iter()
            .flat_map(move |s| s.flow(&t.flow()))
            .filter_map(|id| self.get(id))
            .filter(move |o| o.tuple() == t)
    }

    /// This remote's observations in id order (oldest first).
    fn of_remote(&self, remote: IpAddr) -> Vec<(u64, &Observation)> {
        self.by_remote
            .get(&remote)
            .into_iter()
            .flat_map(|s| s.ids())
            .filter_map(|id| Some((id, self.get(id)?)))
            .collect()
    }

    /// The id of a recent SYN of this 4-tuple with this sequence number.
    fn id_of_syn(&self, t: &FourTuple, seq: u32) -> Option<u64> {
        self.by_remote
            .get(&t.remote)?
            .flow(&t.flow())
            .rev()
            .take(HANDSHAKE_SPAN)
            .find(|id| {
                self.get(*id)
                    .is_some_and(|o| o.is_syn() && o.segment.seq == seq && o.tuple() == *t)
            })
    }

    /// Whether the SYN with id `syn` of this 4-tuple has an answer held.
    fn answered(&self, t: &FourTuple, syn: u64) -> bool {
        let Some(syn_obs) = self.get(syn) else {
            return false;
        };
        self.by_remote.get(&t.remote).is_some_and(|s| {
            s.flow(&t.flow())
                .skip_while(|id| *id != syn)
                .skip(1)
                .take(HANDSHAKE_SPAN)
                .any(|id| self.get(id).is_some_and(|a| a.answers(syn_obs)))
        })
    }

    fn get(&self, id: u64) -> Option<&Observation> {
        self.ring
            .get(id.checked_sub(self.first_id)? as usize)
            .and_then(Option::as_ref)
    }

    /// The oldest SYN of this connection with this sequence number (the
    /// first of a SYN and its retransmissions is the one answered).
    fn syn_with_seq(&self, t: &FourTuple, seq: u32) -> Option<&Observation> {
        self.of_tuple(*t)
            .find(|o| o.is_syn() && o.segment.seq == seq)
    }

    /// The newest SYN of this connection, answered or not.
    pub fn syn_of(&self, t: &FourTuple) -> Option<&Observation> {
        self.of_tuple(*t).rev().find(|o| o.is_syn())
    }

    /// The newest SYN/ACK this host sent on this connection (for the SYN
    /// with sequence number `syn_seq` when given).
    pub fn syn_ack_of(&self, t: &FourTuple, syn_seq: Option<u32>) -> Option<&Observation> {
        self.of_tuple(*t)
            .rev()
            .find(|o| o.is_syn_ack() && syn_seq.is_none_or(|s| o.segment.ack == s.wrapping_add(1)))
    }

    /// The SYN this host answered last on this 4-tuple and that answer:
    /// the newest SYN/ACK and the SYN its acknowledgement names. Without a
    /// SYN/ACK, no SYN, unless this store never saw a SYN/ACK (a capture
    /// that does not see this host's answers): then the newest SYN,
    /// unverified. A SYN merely seen on the 4-tuple may be one sent in the
    /// client's name after the SYN this host answered was evicted.
    pub fn pair_of(&self, t: &FourTuple) -> Pair<'_> {
        match self.syn_ack_of(t, None) {
            Some(a) => Pair {
                syn: self.syn_with_seq(t, a.segment.ack.wrapping_sub(1)),
                syn_ack: Some(a),
            },
            None => Pair {
                syn: self.unverified_allowed().then(|| self.syn_of(t)).flatten(),
                syn_ack: None,
            },
        }
    }

    /// Whether a SYN may be reported without this host's answer to it:
    /// only while no answer at all was captured.
    fn unverified_allowed(&self) -> bool {
        self.stats.answers == 0
    }

    /// SYNs from `remote` carrying one of these sequence numbers, one per
    /// sequence number, oldest first, at most `max` (the newest kept).
    /// Where several SYNs carry the same number, the one this host
    /// answered (a SYN/ACK acknowledging it on its 4-tuple) wins over any
    /// other, then the oldest: a later copy sent in the client's name does
    /// not replace what its probe met.
    pub fn probes_of(&self, remote: IpAddr, seqs: &[u32], max: usize) -> Vec<&Observation> {
        let all = self.of_remote(remote);
        let mut chosen: HashMap<u32, (bool, u64, &Observation)> = HashMap::new();
        for (i, &(id, o)) in all.iter().enumerate() {
            if !o.is_syn() || o.segment.src != remote || !seqs.contains(&o.segment.seq) {
                continue;
            }
            let t = o.tuple();
            let answered = all[i + 1..]
                .iter()
                .any(|(_, a)| a.answers(o) && a.tuple() == t);
            let better = match chosen.get(&o.segment.seq) {
                None => true,
                Some((was_answered, _, _)) => answered && !was_answered,
            };
            if better {
                chosen.insert(o.segment.seq, (answered, id, o));
            }
        }
        let mut found: Vec<(u64, &Observation)> =
            chosen.into_values().map(|(_, id, o)| (id, o)).collect();
        found.sort_unstable_by_key(|(id, _)| *id);
        let skip = found.len().saturating_sub(max);
        found.into_iter().skip(skip).map(|(_, o)| o).collect()
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::tests::v4;
    use crate::segment::parse;

    fn syn(src: [u8; 4], sport: u16, seq: u32) -> Observation {
        let mut p = v4(sport, 6101, 0x02, &[]);
        p[12..16].copy_from_slice(&src);
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        Observation {
            segment: parse(&p).unwrap(),
            iface: "eth0".into(),
            ts: 0.0,
            outgoing: false,
        }
    }

    fn synack(dst: [u8; 4], dport: u16, ack: u32) -> Observation {
        let mut p = v4(6101, dport, 0x12, &[]);
        p[12..16].copy_from_slice(&[10, 0, 0, 2]);
        p[16..20].copy_from_slice(&dst);
        p[28..32].copy_from_slice(&ack.to_be_bytes());
        Observation {
            segment: parse(&p).unwrap(),
            iface: "eth0".into(),
            ts: 0.0,
            outgoing: true,
        }
    }

    fn tuple(remote: [u8; 4], port: u16) -> FourTuple {
        FourTuple {
            remote: IpAddr::from(remote),
            remote_port: port,
            local: IpAddr::from([10, 0, 0, 2]),
            local_port: 6101,
        }
    }

    #[test]
    fn finds_syn_and_synack_by_four_tuple() {
        let mut s = Store::new(StoreLimits {
            capacity: 16,
            per_source: 8,
        });
        s.insert(syn([1, 1, 1, 1], 1000, 7));
        s.insert(synack([1, 1, 1, 1], 1000, 8));
        s.insert(syn([1, 1, 1, 1], 1001, 9));
        let t = tuple([1, 1, 1, 1], 1000);
        assert_eq!(s.syn_of(&t).unwrap().segment.seq, 7);
        assert_eq!(s.syn_ack_of(&t, Some(7)).unwrap().segment.ack, 8);
        assert!(s.syn_ack_of(&t, Some(9)).is_none());
        assert!(s.syn_of(&tuple([1, 1, 1, 2], 1000)).is_none());
        assert!(s.syn_of(&tuple([1, 1, 1, 1], 1002)).is_none());
    }

    #[test]
    fn global_capacity_evicts_oldest() {
        let mut s = Store::new(StoreLimits {
            capacity: 4,
            per_source: 100,
        });
        for i in 0..10u8 {
            s.insert(syn([1, 1, 1, i], 1000, u32::from(i)));
            assert!(s.slots() < 8 && s.len() <= 4 && s.sources() <= 4);
        }
        assert!(s.syn_of(&tuple([1, 1, 1, 5], 1000)).is_none());
        assert!(s.syn_of(&tuple([1, 1, 1, 6], 1000)).is_some());
        assert_eq!(s.stats().evicted_global, 6);
    }

    #[test]
    fn per_source_cap_protects_other_sources() {
        let mut s = Store::new(StoreLimits {
            capacity: 64,
            per_source: 4,
        });
        s.insert(syn([9, 9, 9, 9], 5, 42));
        for i in 0..1000u32 {
            s.insert(syn([6, 6, 6, 6], 1000, i));
        }
        assert!(s.syn_of(&tuple([9, 9, 9, 9], 5)).is_some());
        assert_eq!(
            s.probes_of(IpAddr::from([6, 6, 6, 6]), &[996, 999, 5], 10)
                .len(),
            2
        );
        assert!(s.len() <= 5 && s.slots() < 128);
    }

    #[test]
    fn a_syn_evicted_before_its_claim_is_known_as_displaced() {
        let mut s = Store::new(StoreLimits {
            capacity: 64,
            per_source: 4,
        });
        let victim = tuple([6, 6, 6, 6], 40000);
        s.insert(syn([6, 6, 6, 6], 40000, 42));
        assert!(!s.was_displaced(&victim));
        // SYNs in the same address's name on other ports: the cap takes
        // the oldest, the victim's.
        for i in 0..8u32 {
            s.insert(syn([6, 6, 6, 6], 20000 + i as u16, i));
        }
        assert!(s.syn_of(&victim).is_none());
        assert!(s.was_displaced(&victim));
        // By sequence number, as a query names its probes.
        let victim_ip = IpAddr::from([6, 6, 6, 6]);
        assert_eq!(s.displaced_of(victim_ip, &[42, 43]), 1);
        assert_eq!(s.displaced_of(IpAddr::from([6, 6, 6, 7]), &[42]), 0);
        assert!(!s.was_displaced(&tuple([6, 6, 6, 6], 40001)));
        // The capacity too: another source's oldest SYN goes, and is known.
        let other = tuple([7, 7, 7, 7], 5);
        s.insert(syn([7, 7, 7, 7], 5, 1));
        for i in 0..64u8 {
            s.insert(syn([8, 8, 8, i], 1000, u32::from(i)));
        }
        assert!(s.syn_of(&other).is_none());
        assert!(s.was_displaced(&other));
    }

    #[test]
    fn displaced_tuples_are_bounded() {
        let mut s = Store::new(StoreLimits {
            capacity: 4,
            per_source: 4,
        });
        for p in 0..(2 * DISPLACED_KEPT as u32) {
            s.insert(syn([6, 6, 6, 6], p as u16, p));
        }
        assert!(s.displaced.order.len() <= DISPLACED_KEPT);
        assert_eq!(s.displaced.seqs.len(), s.displaced.order.len());
        assert!(s.displaced.tuples.values().sum::<u32>() as usize == s.displaced.order.len());
        assert!(!s.was_displaced(&tuple([6, 6, 6, 6], 0)), "forgotten first");
        assert!(s.was_displaced(&tuple([6, 6, 6, 6], (2 * DISPLACED_KEPT - 10) as u16)));
    }

    #[test]
    fn claims_survive_floods() {
        let mut s = Store::new(StoreLimits {
            capacity: 8,
            per_source: 8,
        });
        let t = tuple([9, 9, 9, 9], 5);
        s.insert(syn([9, 9, 9, 9], 5, 42));
        assert!(s.claim(t));
        // Captured after the accept (the capture thread lagging behind).
        let late = tuple([8, 8, 8, 8], 6);
        assert!(s.claim(late));
        for i in 0..100u8 {
            s.insert(syn([6, 6, 6, i], 1000, u32::from(i)));
        }
        s.insert(syn([8, 8, 8, 8], 6, 7));
        s.insert(synack([8, 8, 8, 8], 6, 8));
        for i in 0..100u8 {
            s.insert(syn([6, 6, 7, i], 1000, u32::from(i)));
        }
        assert!(s.syn_of(&t).is_none(), "evicted from the ring");
        assert_eq!(s.claimed(&t).unwrap().syn.as_ref().unwrap().segment.seq, 42);
        let c = s.claimed(&late).unwrap();
        assert_eq!(c.syn.as_ref().unwrap().segment.seq, 7);
        assert_eq!(c.syn_ack.as_ref().unwrap().segment.ack, 8);
        s.release(&t);
        s.release(&late);
        assert_eq!(s.claims(), 0);
    }

    #[test]
    fn claims_are_bounded() {
        let mut s = Store::new(StoreLimits {
            capacity: 8,
            per_source: 8,
        });
        for p in 0..1024u16 {
            assert!(s.claim(tuple([1, 1, 1, 1], p)));
        }
        assert!(!s.claim(tuple([1, 1, 1, 1], 5000)));
    }

    /// The same SYN arriving on another interface: tells copies apart.
    fn on(mut o: Observation, iface: &str) -> Observation {
        o.iface = iface.into();
        o
    }

    fn store(per_source: usize) -> Store {
        Store::new(StoreLimits {
            capacity: 8192,
            per_source,
        })
    }

    #[test]
    fn claim_binds_the_answered_syn_and_later_syns_never_replace_it() {
        let mut s = store(64);
        let t = tuple([9, 9, 9, 9], 5);
        s.insert(syn([9, 9, 9, 9], 5, 7));
        s.insert(synack([9, 9, 9, 9], 5, 8));
        assert!(s.claim(t));
        // Spoofed SYNs on the established 4-tuple (the kernel answers them
        // with a challenge ACK, which is not captured).
        for seq in [999, 1000, 7] {
            s.insert(on(syn([9, 9, 9, 9], 5, seq), "spoof"));
        }
        let c = s.claimed(&t).unwrap();
        assert!(c.is_bound());
        let bound = c.syn.as_ref().unwrap();
        assert_eq!((bound.segment.seq, &*bound.iface), (7, "eth0"));
        assert_eq!(c.syn_ack.as_ref().unwrap().segment.ack, 8);
    }

    #[test]
    fn spoofed_syns_around_a_connection_are_not_its_syn() {
        let mut s = store(64);
        let t = tuple([9, 9, 9, 9], 5);
        // Sent in the client's name before it connected, and answered.
        s.insert(syn([9, 9, 9, 9], 5, 50));
        s.insert(synack([9, 9, 9, 9], 5, 51));
        s.insert(syn([9, 9, 9, 9], 5, 7));
        s.insert(synack([9, 9, 9, 9], 5, 8));
        // And after (not answered).
        s.insert(syn([9, 9, 9, 9], 5, 60));
        let pair = s.pair_of(&t);
        assert_eq!(pair.syn.unwrap().segment.seq, 7);
        assert_eq!(pair.syn_ack.unwrap().segment.ack, 8);
        assert!(s.claim(t));
        assert_eq!(s.claimed(&t).unwrap().syn.as_ref().unwrap().segment.seq, 7);
    }

    #[test]
    fn a_reused_port_binds_the_newest_handshake_as_the_capture_catches_up() {
        let mut s = store(64);
        let t = tuple([9, 9, 9, 9], 5);
        // An earlier check's probe on the same port, answered.
        s.insert(syn([9, 9, 9, 9], 5, 100));
        s.insert(synack([9, 9, 9, 9], 5, 101));
        // Accepted while the capture is behind: the claim holds the old
        // pair for now.
        assert!(s.claim(t));
        assert_eq!(
            s.claimed(&t).unwrap().syn.as_ref().unwrap().segment.seq,
            100
        );
        s.insert(syn([9, 9, 9, 9], 5, 200));
        s.insert(synack([9, 9, 9, 9], 5, 201));
        let c = s.claimed(&t).unwrap();
        assert!(c.is_bound());
        assert_eq!(c.syn.as_ref().unwrap().segment.seq, 200);
        // A lag spanning both handshakes ends on the newest too.
        let late = tuple([8, 8, 8, 8], 6);
        assert!(s.claim(late));
        for (seq, ack) in [(100, 101), (200, 201)] {
            s.insert(syn([8, 8, 8, 8], 6, seq));
            s.insert(synack([8, 8, 8, 8], 6, ack));
        }
        assert_eq!(
            s.claimed(&late).unwrap().syn.as_ref().unwrap().segment.seq,
            200
        );
    }

    #[test]
    fn once_answers_are_captured_a_syn_without_one_is_not_reported() {
        let mut s = store(64);
        let t = tuple([9, 9, 9, 9], 5);
        // Another connection's handshake: this capture sees answers.
        s.insert(syn([8, 8, 8, 8], 6, 1));
        s.insert(synack([8, 8, 8, 8], 6, 2));
        // The answered SYN of this one is gone (evicted); a SYN sent in the
        // client's name since is all the ring has, before and after the
        // claim.
        s.insert(on(syn([9, 9, 9, 9], 5, 60), "spoof"));
        assert!(s.pair_of(&t).syn.is_none());
        assert!(s.claim(t));
        s.insert(on(syn([9, 9, 9, 9], 5, 61), "spoof"));
        let c = s.claimed(&t).unwrap();
        assert!(c.syn.is_none() && c.syn_ack.is_none(), "{:?}", c.syn);
        // Without any answer captured, the first SYN seen stands in.
        let mut blind = store(64);
        blind.insert(syn([9, 9, 9, 9], 5, 7));
        assert_eq!(blind.pair_of(&t).syn.map(|o| o.segment.seq), Some(7));
    }

    #[test]
    fn a_retransmitted_syn_ack_keeps_the_first_syn() {
        let mut s = store(64);
        let t = tuple([9, 9, 9, 9], 5);
        assert!(s.claim(t));
        s.insert(syn([9, 9, 9, 9], 5, 7));
        s.insert(synack([9, 9, 9, 9], 5, 8));
        s.insert(on(syn([9, 9, 9, 9], 5, 7), "copy"));
        s.insert(synack([9, 9, 9, 9], 5, 8));
        let c = s.claimed(&t).unwrap();
        assert_eq!(&*c.syn.as_ref().unwrap().iface, "eth0");
        assert!(c.is_bound());
    }

    #[test]
    fn a_syn_whose_answer_names_an_evicted_syn_is_not_replaced_by_another() {
        let mut s = store(64);
        let t = tuple([9, 9, 9, 9], 5);
        assert!(s.claim(t));
        s.insert(on(syn([9, 9, 9, 9], 5, 60), "spoof"));
        // The answer names seq 7, which was never captured.
        s.insert(synack([9, 9, 9, 9], 5, 8));
        let c = s.claimed(&t).unwrap();
        assert!(c.syn.is_none(), "{:?}", c.syn);
        assert!(!c.is_bound());
    }

    #[test]
    fn probes_report_the_answered_copy_once() {
        let mut s = store(64);
        let me = IpAddr::from([1, 1, 1, 1]);
        s.insert(syn([1, 1, 1, 1], 1000, 100));
        s.insert(synack([1, 1, 1, 1], 1000, 101));
        s.insert(on(syn([1, 1, 1, 1], 1000, 100), "spoof"));
        // Two copies, neither answered: the first one.
        s.insert(syn([1, 1, 1, 1], 1001, 200));
        s.insert(on(syn([1, 1, 1, 1], 1001, 200), "spoof"));
        // A copy on another port answered, the first not.
        s.insert(on(syn([1, 1, 1, 1], 1002, 300), "spoof"));
        s.insert(syn([1, 1, 1, 1], 1003, 300));
        s.insert(synack([1, 1, 1, 1], 1003, 301));
        let found = s.probes_of(me, &[100, 200, 300], 10);
        let got: Vec<(u32, u16, &str)> = found
            .iter()
            .map(|o| (o.segment.seq, o.segment.sport, &*o.iface))
            .collect();
        assert_eq!(
            got,
            [
                (100, 1000, "eth0"),
                (200, 1001, "eth0"),
                (300, 1003, "eth0")
            ]
        );
    }

    #[test]
    fn a_flood_in_someones_name_over_a_few_ports_keeps_their_probes() {
        let mut s = store(256);
        let me = [1, 1, 1, 1];
        let seqs = [0x1111u32, 0x2222, 0x3333];
        for (i, seq) in seqs.iter().enumerate() {
            s.insert(syn(me, 40001 + i as u16, *seq));
            s.insert(synack(me, 40001 + i as u16, seq + 1));
        }
        // Spoofed SYNs from the same address over 64 ports, each answered.
        for i in 0..20_000u32 {
            let port = 50_000 + (i % 64) as u16;
            s.insert(syn(me, port, i));
            s.insert(synack(me, port, i + 1));
            // Handshakes count once: up to twice the cap of segments.
            assert!(s.len() <= 2 * 256 && s.slots() < 2 * 8192);
        }
        let found = s.probes_of(IpAddr::from(me), &seqs, 10);
        assert_eq!(found.len(), 3, "probes evicted by the flood");
        for o in found {
            let t = o.tuple();
            assert!(s.syn_ack_of(&t, Some(o.segment.seq)).is_some());
        }
        assert!(s.stats().evicted_per_source > 30_000);
    }

    #[test]
    fn a_handshake_stays_whole_when_its_source_is_at_its_cap() {
        // Thousands of connections from one address, each SYN and SYN/ACK:
        // the newest connection's SYN must survive its own SYN/ACK.
        let mut s = store(256);
        let me = [1, 1, 1, 1];
        for i in 0..2000u16 {
            s.insert(syn(me, 10_000 + i, u32::from(i) * 10));
            s.insert(synack(me, 10_000 + i, u32::from(i) * 10 + 1));
        }
        let t = tuple(me, 5);
        assert!(s.claim(t));
        s.insert(syn(me, 5, 77));
        s.insert(synack(me, 5, 78));
        assert_eq!(s.pair_of(&t).syn.map(|o| o.segment.seq), Some(77));
        assert!(s.claimed(&t).unwrap().is_bound());
        // The last connections before it kept both halves too.
        let last = tuple(me, 10_000 + 1999);
        let pair = s.pair_of(&last);
        assert!(pair.syn.is_some() && pair.syn_ack.is_some());
    }

    #[test]
    fn probes_are_per_source() {
        let mut s = Store::new(StoreLimits {
            capacity: 64,
            per_source: 64,
        });
        s.insert(syn([1, 1, 1, 1], 1000, 100));
        s.insert(syn([1, 1, 1, 1], 1001, 200));
        s.insert(syn([2, 2, 2, 2], 1000, 100));
        let mine = s.probes_of(IpAddr::from([1, 1, 1, 1]), &[100, 200, 300], 10);
        assert_eq!(
            mine.iter().map(|o| o.segment.seq).collect::<Vec<_>>(),
            [100, 200]
        );
        assert!(s
            .probes_of(IpAddr::from([3, 3, 3, 3]), &[100, 200], 10)
            .is_empty());
        assert_eq!(
            s.probes_of(IpAddr::from([1, 1, 1, 1]), &[100, 200], 1)
                .len(),
            1
        );
    }
}
