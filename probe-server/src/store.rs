//! The bounded observation store: a ring of captured SYNs and SYN/ACKs with
//! a fixed capacity (oldest evicted first) and a cap per remote address
//! (that address's oldest evicted first), so neither total traffic nor one
//! noisy source can grow memory or push out everyone else's observations.
use crate::segment::Segment;
use std::collections::{HashMap, VecDeque};
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
    fn is_syn(&self) -> bool {
        !self.outgoing && self.segment.flags.is_syn_only()
    }
    fn is_syn_ack(&self) -> bool {
        self.outgoing && self.segment.flags.is_syn_ack()
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    pub capacity: usize,
    pub per_source: usize,
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub inserted: u64,
    pub evicted_global: u64,
    pub evicted_per_source: u64,
}

/// The SYN and SYN/ACK of one accepted connection, held outside the ring.
#[derive(Debug, Clone, Default)]
pub struct Claimed {
    pub syn: Option<Observation>,
    pub syn_ack: Option<Observation>,
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
    by_remote: HashMap<IpAddr, VecDeque<u64>>,
    live: usize,
    stats: StoreStats,
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
        }
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
        let ids = self.by_remote.entry(remote).or_default();
        if ids.len() >= self.limits.per_source {
            if let Some(old) = ids.pop_front() {
                let slot = old.saturating_sub(self.first_id) as usize;
                if let Some(s) = self.ring.get_mut(slot) {
                    if s.take().is_some() {
                        self.live -= 1;
                        self.stats.evicted_per_source += 1;
                    }
                }
            }
        }
        while self.live >= self.limits.capacity {
            self.pop_oldest();
        }
        let id = self.first_id + self.ring.len() as u64;
        self.by_remote.entry(remote).or_default().push_back(id);
        self.ring.push_back(Some(obs));
        self.live += 1;
        self.stats.inserted += 1;
        self.trim();
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
                .push_back(id);
            self.ring.push_back(Some(obs));
        }
    }

    /// Removes the oldest slot (live or emptied).
    fn pop_oldest(&mut self) {
        let id = self.first_id;
        let Some(slot) = self.ring.pop_front() else {
            return;
        };
        self.first_id += 1;
        if let Some(old) = slot {
            self.live -= 1;
            self.stats.evicted_global += 1;
            let remote = old.remote();
            if let Some(ids) = self.by_remote.get_mut(&remote) {
                if ids.front() == Some(&id) {
                    ids.pop_front();
                }
                if ids.is_empty() {
                    self.by_remote.remove(&remote);
                }
            }
        }
    }

    /// Claims an accepted connection: its SYN and SYN/ACK, already in the
    /// ring or captured later, are kept until [`Store::release`]. False when
    /// too many claims are open (the ring lookups still work then).
    pub fn claim(&mut self, t: FourTuple) -> bool {
        if self.claims.len() >= self.max_claims {
            return false;
        }
        let syn = self.syn_of(&t).cloned();
        let seq = syn.as_ref().map(|o| o.segment.seq);
        let syn_ack = self.syn_ack_of(&t, seq).cloned();
        self.claims.insert(t, Claimed { syn, syn_ack });
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

    fn fill_claim(&mut self, obs: &Observation) {
        let seg = &obs.segment;
        let key = if obs.is_syn() {
            FourTuple {
                remote: seg.src,
                remote_port: seg.sport,
                local: seg.dst,
                local_port: seg.dport,
            }
        } else if obs.is_syn_ack() {
            FourTuple {
                remote: seg.dst,
                remote_port: seg.dport,
                local: seg.src,
                local_port: seg.sport,
            }
        } else {
            return;
        };
        if let Some(c) = self.claims.get_mut(&key) {
            if obs.is_syn() {
                c.syn = Some(obs.clone());
            } else {
                c.syn_ack = Some(obs.clone());
            }
        }
    }

    /// This remote's observations, newest first.
    fn of_remote(&self, remote: IpAddr) -> impl Iterator<Item = &Observation> {
        self.by_remote
            .get(&remote)
            .into_iter()
            .flat_map(|ids| ids.iter().rev())
            .filter_map(|id| {
                self.ring
                    .get(id.checked_sub(self.first_id)? as usize)
                    .and_then(Option::as_ref)
            })
    }

    /// The newest SYN of this connection.
    pub fn syn_of(&self, t: &FourTuple) -> Option<&Observation> {
        self.of_remote(t.remote).find(|o| {
            o.is_syn()
                && o.segment.src == t.remote
                && o.segment.sport == t.remote_port
                && o.segment.dst == t.local
                && o.segment.dport == t.local_port
        })
    }

    /// The newest SYN/ACK this host sent on this connection (for the SYN
    /// with sequence number `syn_seq` when given).
    pub fn syn_ack_of(&self, t: &FourTuple, syn_seq: Option<u32>) -> Option<&Observation> {
        self.of_remote(t.remote).find(|o| {
            o.is_syn_ack()
                && o.segment.dst == t.remote
                && o.segment.dport == t.remote_port
                && o.segment.src == t.local
                && o.segment.sport == t.local_port
                && syn_seq.is_none_or(|s| o.segment.ack == s.wrapping_add(1))
        })
    }

    /// SYNs from `remote` carrying one of these sequence numbers, oldest
    /// first, at most `max` of them.
    pub fn probes_of(&self, remote: IpAddr, seqs: &[u32], max: usize) -> Vec<&Observation> {
        let mut found: Vec<&Observation> = self
            .of_remote(remote)
            .filter(|o| o.is_syn() && o.segment.src == remote && seqs.contains(&o.segment.seq))
            .take(max)
            .collect();
        found.reverse();
        found
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
