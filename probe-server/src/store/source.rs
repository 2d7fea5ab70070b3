//! The observations of one remote address: their ids in capture order and
//! by flow (remote port, local port), and which of them the per-source cap
//! evicts. Every operation is O(1) amortised: under a flood from one
//! address the cap evicts on every insert, on the capture thread.
//!
//! Removal is lazy: an evicted id stays in the queues (the ring slot it
//! names is empty) until it reaches a queue's front; the store's periodic
//! renumbering rebuilds the queues, so they never exceed the ring.
use std::collections::{HashMap, VecDeque};

/// (remote port, local port).
pub(super) type Flow = (u16, u16);

/// When its source is at its cap, a newcomer on a flow that holds this
/// many observations evicts that flow's own oldest handshake rather than
/// the source's oldest observation: each flow keeps its most recent
/// handshakes, and only newcomers on new flows take from everyone. So a
/// flood in someone's name that repeats its ports churns its own flows,
/// and that address's probes on other ports stay.
const FLOW_SHARE: usize = 1;

#[derive(Debug, Default)]
struct FlowIds {
    ids: VecDeque<u64>,
    live: usize,
}

#[derive(Debug, Default)]
pub(super) struct Source {
    /// Every id, oldest first (evicted ones included until trimmed).
    order: VecDeque<u64>,
    flows: HashMap<Flow, FlowIds>,
    len: usize,
}

impl Source {
    /// Observations held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// This flow's ids, oldest first (evicted ones included).
    pub(super) fn flow(&self, flow: &Flow) -> impl DoubleEndedIterator<Item = u64> + '_ {
        self.flows
            .get(flow)
            .into_iter()
            .flat_map(|f| f.ids.iter().copied())
    }

    /// All ids, oldest first (evicted ones included).
    pub(super) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.order.iter().copied()
    }

    pub(super) fn push(&mut self, flow: Flow, id: u64) {
        self.order.push_back(id);
        let f = self.flows.entry(flow).or_default();
        f.ids.push_back(id);
        f.live += 1;
        self.len += 1;
    }

    /// Counts an observation of `flow` as gone and drops evicted ids from
    /// the fronts of the queues it was in (`live` tells an id still held).
    pub(super) fn forget(&mut self, flow: Flow, live: impl Fn(u64) -> bool) {
        self.len = self.len.saturating_sub(1);
        while self.order.front().is_some_and(|id| !live(*id)) {
            self.order.pop_front();
        }
        if let Some(f) = self.flows.get_mut(&flow) {
            f.live = f.live.saturating_sub(1);
            if f.live == 0 {
                self.flows.remove(&flow);
            } else {
                while f.ids.front().is_some_and(|id| !live(*id)) {
                    f.ids.pop_front();
                }
            }
        }
    }

    /// The observation the cap evicts, the oldest of: the incoming flow's
    /// own once it holds its share (and has one other than `keep`), else
    /// the source's. Never `keep`.
    pub(super) fn eviction_candidate(
        &self,
        incoming: Flow,
        keep: Option<u64>,
        live: impl Fn(u64) -> bool,
    ) -> Option<u64> {
        let usable = |id: &u64| Some(*id) != keep && live(*id);
        self.flows
            .get(&incoming)
            .filter(|f| f.live >= FLOW_SHARE)
            .and_then(|f| f.ids.iter().copied().find(usable))
            .or_else(|| self.order.iter().copied().find(usable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_pays_for_its_own_newcomers() {
        let mut s = Source::default();
        for (flow, id) in [((1, 80), 1), ((2, 80), 2), ((2, 80), 3), ((3, 80), 4)] {
            s.push(flow, id);
        }
        let all = |_: u64| true;
        assert_eq!(s.len(), 4);
        // A flow with observations gives up its own oldest.
        assert_eq!(s.eviction_candidate((2, 80), None, all), Some(2));
        assert_eq!(s.eviction_candidate((3, 80), None, all), Some(4));
        // A new flow takes the source's oldest.
        assert_eq!(s.eviction_candidate((9, 80), None, all), Some(1));
        // Never the SYN an incoming answer names: flow 1 holds nothing
        // else, so the source's oldest other goes.
        assert_eq!(s.eviction_candidate((1, 80), Some(1), all), Some(2));
        // Id 2 evicted: counted at once, its queues tidied.
        s.forget((2, 80), |id| id != 2);
        assert_eq!(s.len(), 3);
        assert_eq!(s.flow(&(2, 80)).collect::<Vec<_>>(), [3]);
        assert_eq!(s.eviction_candidate((9, 80), None, |id| id != 2), Some(1));
        // An id evicted from the middle goes once it reaches a front.
        s.forget((3, 80), |id| id != 2 && id != 4);
        assert_eq!(s.ids().collect::<Vec<_>>(), [1, 2, 3, 4]);
        s.forget((1, 80), |id| id == 3);
        assert_eq!(s.ids().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(s.flow(&(1, 80)).count(), 0);
        s.forget((2, 80), |_| false);
        assert_eq!(s.len(), 0);
        assert_eq!(s.ids().count(), 0);
    }
}
