//! The observations of one remote address, by flow (remote port, local
//! port), with an index that finds the most represented flow in O(log n):
//! the per-source cap evicts from it on every insert under a flood, so a
//! scan of all flows there would slow the capture down to a crawl.
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};

/// (remote port, local port).
pub(super) type Flow = (u16, u16);

/// Index key of a flow: most observations first, then the oldest.
type Key = (Reverse<usize>, u64, Flow);

#[derive(Debug, Default)]
pub(super) struct Source {
    /// Observation ids of each flow, oldest first.
    flows: HashMap<Flow, VecDeque<u64>>,
    index: BTreeSet<Key>,
    len: usize,
}

impl Source {
    /// Observations held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn flow(&self, flow: &Flow) -> Option<&VecDeque<u64>> {
        self.flows.get(flow)
    }

    pub(super) fn flows(&self) -> impl Iterator<Item = &VecDeque<u64>> {
        self.flows.values()
    }

    fn key(&self, flow: Flow) -> Option<Key> {
        let ids = self.flows.get(&flow)?;
        Some((Reverse(ids.len()), *ids.front()?, flow))
    }

    /// Changes one flow's ids, keeping the index and the count right.
    fn update(&mut self, flow: Flow, change: impl FnOnce(&mut VecDeque<u64>)) {
        if let Some(k) = self.key(flow) {
            self.index.remove(&k);
        }
        let ids = self.flows.entry(flow).or_default();
        let before = ids.len();
        change(ids);
        let after = ids.len();
        // `before` is part of `len`: no underflow.
        self.len = self.len - before + after;
        if after == 0 {
            self.flows.remove(&flow);
        } else if let Some(k) = self.key(flow) {
            self.index.insert(k);
        }
    }

    pub(super) fn push(&mut self, flow: Flow, id: u64) {
        self.update(flow, |ids| ids.push_back(id));
    }

    /// Removes `id` when it is the oldest of its flow (the global eviction
    /// always takes the oldest observation, so it is).
    pub(super) fn remove_front(&mut self, flow: Flow, id: u64) {
        if self.flows.get(&flow).and_then(|ids| ids.front()) == Some(&id) {
            self.update(flow, |ids| {
                ids.pop_front();
            });
        }
    }

    /// Removes these ids of `flow` (found from the oldest on: eviction
    /// takes old ones).
    pub(super) fn remove_ids(&mut self, flow: Flow, gone: &[u64]) {
        self.update(flow, |ids| {
            for id in gone {
                if let Some(pos) = ids.iter().position(|x| x == id) {
                    ids.remove(pos);
                }
            }
        });
    }

    /// The flow to evict from: the one with the most observations (the
    /// flow `incoming` counted with the observation about to join it);
    /// between equals, the one with the oldest observation. `keep` (the
    /// SYN an incoming SYN/ACK answers, in the incoming flow) is not
    /// counted as evictable.
    pub(super) fn most_represented(&self, incoming: Flow, keep: Option<u64>) -> Option<Flow> {
        let mine = self.flows.get(&incoming).and_then(|ids| {
            let first = ids.iter().copied().find(|id| Some(*id) != keep)?;
            Some((ids.len() + 1, first))
        });
        let other = self.index.iter().find(|(_, _, f)| *f != incoming);
        match (mine, other) {
            (Some((n, first)), Some((Reverse(on), ofirst, oflow))) => {
                if n > *on || (n == *on && first < *ofirst) {
                    Some(incoming)
                } else {
                    Some(*oflow)
                }
            }
            (Some(_), None) => Some(incoming),
            (None, Some((_, _, oflow))) => Some(*oflow),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_biggest_flow_then_the_oldest() {
        let mut s = Source::default();
        for (flow, id) in [((1, 80), 1), ((2, 80), 2), ((2, 80), 3), ((3, 80), 4)] {
            s.push(flow, id);
        }
        assert_eq!(s.len(), 4);
        assert_eq!(s.most_represented((9, 80), None), Some((2, 80)));
        // Counted with its newcomer, flow 1 ties with flow 2 and is older.
        assert_eq!(s.most_represented((1, 80), None), Some((1, 80)));
        // Flow 3 with its newcomer ties too, but is younger.
        assert_eq!(s.most_represented((3, 80), None), Some((2, 80)));
        // The kept SYN is not evictable: flow 1 has nothing else.
        assert_eq!(s.most_represented((1, 80), Some(1)), Some((2, 80)));
        s.remove_ids((2, 80), &[2]);
        assert_eq!(s.most_represented((9, 80), None), Some((1, 80)));
        s.remove_front((1, 80), 1);
        s.remove_front((2, 80), 2);
        assert_eq!(s.len(), 2);
        assert_eq!(s.most_represented((9, 80), None), Some((2, 80)));
        s.remove_ids((2, 80), &[3]);
        s.remove_front((3, 80), 4);
        assert_eq!(s.len(), 0);
        assert_eq!(s.most_represented((9, 80), None), None);
        assert!(s.flows().next().is_none());
    }
}
