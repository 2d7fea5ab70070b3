//! Log lines for connections that were not served (refused, evicted,
//! timed out, protocol errors), counted per source and written as one
//! summary line per source per interval. One line per such connection
//! would let anyone write the server's disk full: a flood of refused
//! connections costs a few bytes each to send and ~150 bytes each to log.
//! Served checks keep their own line each (`check="report"`).
use crate::admission::SourceKey;
use std::collections::HashMap;
use std::time::Duration;

/// How a connection ended without being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refused: every slot taken.
    Busy,
    /// Refused: its source holds its share of connections.
    SourceBusy,
    /// Refused: its source opened too many connections this minute.
    RateLimited,
    /// Closed to make room for a source holding fewer connections.
    Evicted,
    /// No complete hello within the hello deadline.
    HelloTimeout,
    /// Silent for the idle timeout after its hello.
    IdleTimeout,
    /// Bad input: invalid JSON, unexpected message, line too long ...
    ProtocolError,
}

impl Outcome {
    fn index(self) -> usize {
        self as usize
    }
}

/// Connections of one source (or of the sources beyond the table) that
/// ended without being served, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([u64; 7]);

impl Counts {
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn get(&self, o: Outcome) -> u64 {
        self.0[o.index()]
    }
    fn add(&mut self, o: Outcome) {
        self.0[o.index()] = self.0[o.index()].saturating_add(1);
    }
    fn merge(&mut self, other: &Counts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = a.saturating_add(b);
        }
    }
}

/// One summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `None`: the sources beyond the per-interval line budget, together.
    pub source: Option<SourceKey>,
    /// Sources this line covers: 1 for a source of its own; for the shared
    /// line, an upper bound (sources beyond the table are not told apart).
    pub sources: usize,
    pub counts: Counts,
}

/// Limits of the aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLogLimits {
    /// Summaries are written once per interval.
    pub interval: Duration,
    /// Sources with a line of their own per interval (the busiest); the
    /// others share one line.
    pub lines: usize,
    /// Sources counted separately per interval; beyond, counted together
    /// (memory stays bounded under a flood from many sources).
    pub tracked: usize,
}

impl Default for ConnLogLimits {
    fn default() -> Self {
        ConnLogLimits {
            interval: Duration::from_secs(10),
            lines: 16,
            tracked: 4096,
        }
    }
}

/// The counts of the current interval.
#[derive(Debug)]
pub struct ConnLog {
    limits: ConnLogLimits,
    by_source: HashMap<SourceKey, Counts>,
    untracked: Counts,
    untracked_sources: usize,
}

impl ConnLog {
    pub fn new(limits: ConnLogLimits) -> Self {
        ConnLog {
            limits: ConnLogLimits {
                lines: limits.lines.max(1),
                ..limits
            },
            by_source: HashMap::new(),
            untracked: Counts::default(),
            untracked_sources: 0,
        }
    }

    pub fn limits(&self) -> ConnLogLimits {
        self.limits
    }

    /// Counts one connection of `source` that ended with `outcome`.
    pub fn record(&mut self, source: SourceKey, outcome: Outcome) {
        if let Some(c) = self.by_source.get_mut(&source) {
            c.add(outcome);
        } else if self.by_source.len() < self.limits.tracked {
            self.by_source.entry(source).or_default().add(outcome);
        } else {
            // Sources beyond the table are not told apart: each connection
            // counts as a source of its own here (an upper bound).
            self.untracked_sources += 1;
            self.untracked.add(outcome);
        }
    }

    /// Ends the interval: at most `lines` + 1 summaries, busiest source
    /// first, the rest together in a last line.
    pub fn flush(&mut self) -> Vec<Summary> {
        let mut all: Vec<(SourceKey, Counts)> = self.by_source.drain().collect();
        all.sort_by(|(ka, a), (kb, b)| b.total().cmp(&a.total()).then(ka.cmp(kb)));
        let mut out = Vec::new();
        let mut rest = std::mem::take(&mut self.untracked);
        let mut rest_sources = std::mem::take(&mut self.untracked_sources);
        for (i, (source, counts)) in all.into_iter().enumerate() {
            if i < self.limits.lines {
                out.push(Summary {
                    source: Some(source),
                    sources: 1,
                    counts,
                });
            } else {
                rest.merge(&counts);
                rest_sources += 1;
            }
        }
        if rest.total() > 0 {
            out.push(Summary {
                source: None,
                sources: rest_sources,
                counts: rest,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> SourceKey {
        SourceKey::of(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 32, 64)
    }

    #[test]
    fn a_flood_from_one_source_is_one_line_per_interval() {
        let mut log = ConnLog::new(ConnLogLimits::default());
        for i in 0..50_000 {
            let o = if i % 2 == 0 {
                Outcome::Busy
            } else {
                Outcome::RateLimited
            };
            log.record(key(1), o);
        }
        log.record(key(2), Outcome::Evicted);
        let lines = log.flush();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].source, Some(key(1)));
        assert_eq!(lines[0].counts.total(), 50_000);
        let c = lines[0].counts;
        assert_eq!(c.get(Outcome::Busy), 25_000);
        assert_eq!(c.get(Outcome::RateLimited), 25_000);
        assert_eq!(lines[1].counts.get(Outcome::Evicted), 1);
        assert_eq!(lines[1].counts.total(), 1);
        assert!(log.flush().is_empty(), "counts start over");
    }

    #[test]
    fn many_sources_give_a_bounded_number_of_lines() {
        let limits = ConnLogLimits {
            tracked: 1000,
            ..ConnLogLimits::default()
        };
        let mut log = ConnLog::new(limits);
        for i in 0..50_000u32 {
            log.record(key(i % 5000), Outcome::HelloTimeout);
        }
        // The busiest source gets its own line.
        for _ in 0..100 {
            log.record(key(5), Outcome::SourceBusy);
        }
        let lines = log.flush();
        assert_eq!(lines.len(), limits.lines + 1);
        assert_eq!(lines[0].source, Some(key(5)));
        assert_eq!(lines[0].counts.get(Outcome::SourceBusy), 100);
        let last = lines.last().unwrap();
        assert_eq!(last.source, None);
        let total: u64 = lines.iter().map(|l| l.counts.total()).sum();
        assert_eq!(total, 50_100, "every connection counted once");
        assert!(last.sources >= 5000 - limits.lines);
    }
}
