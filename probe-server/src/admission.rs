//! Who may hold a connection, without I/O: the per-source rate and
//! concurrency caps, the global limit, and which connection to evict when
//! the server is full.
//!
//! Sources are grouped by prefix (IPv4 by address, IPv6 by /64 by default)
//! because one host commonly owns a whole IPv6 /64: counted per address,
//! such a host would have as many rate and concurrency budgets as it has
//! addresses.
//!
//! When every slot is taken, a newcomer from a source holding fewer
//! connections than the most-represented source takes the slot of that
//! source's connection that has made no progress (no complete line) for
//! the longest; so connections held open on purpose cannot lock out
//! sources that hold none.
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// The limits (the command line maps onto these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Connections served at once, all sources together.
    pub max_connections: usize,
    /// Connections served at once per source.
    pub per_source: usize,
    /// New connections per source per minute.
    pub per_source_per_minute: u32,
    /// IPv4 addresses sharing this many leading bits are one source.
    pub v4_prefix: u8,
    /// IPv6 addresses sharing this many leading bits are one source.
    pub v6_prefix: u8,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_connections: 256,
            per_source: 16,
            per_source_per_minute: 120,
            v4_prefix: 32,
            v6_prefix: 64,
        }
    }
}

/// A source: an address with the bits beyond its prefix cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey {
    net: IpAddr,
    prefix: u8,
}

impl SourceKey {
    /// The source of `ip` (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn of(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::v4(v4, v4_prefix),
                None => {
                    let prefix = v6_prefix.min(128);
                    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                    SourceKey {
                        net: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                        prefix,
                    }
                }
            },
            IpAddr::V4(v4) => Self::v4(v4, v4_prefix),
        }
    }

    fn v4(v4: Ipv4Addr, prefix: u8) -> Self {
        let prefix = prefix.min(32);
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        SourceKey {
            net: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
            prefix,
        }
    }
}

impl fmt::Display for SourceKey {
    /// `192.0.2.7` for a whole address, `2001:db8:1:2::/64` for a prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = match self.net {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if self.prefix == whole {
            write!(f, "{}", self.net)
        } else {
            write!(f, "{}/{}", self.net, self.prefix)
        }
    }
}

/// Why a connection is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source opened too many connections in the last minute.
    RateLimited,
    /// Its source already holds its share of connections.
    SourceBusy,
    /// Every slot is taken, and its source holds as many as any other.
    Busy,
}

/// What to do with a new connection.
#[derive(Debug)]
pub enum Decision<H> {
    /// Serve it as connection `id`; close `evicted` (the handle of the
    /// connection whose slot it takes) first.
    Admit {
        id: u64,
        evicted: Option<H>,
    },
    Refuse(Refusal),
}

#[derive(Debug)]
struct Conn<H> {
    source: SourceKey,
    /// Last complete line (or the accept): eviction takes the stalest.
    progress: Instant,
    handle: H,
}

/// Rate table entries kept at most; beyond, stale entries are dropped.
const MAX_RATE_ENTRIES: usize = 65536;
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The live connections and the per-source budgets. `H` is what closes a
/// connection (a channel to its task); tests use `()`.
#[derive(Debug)]
pub struct Admission<H> {
    limits: AdmissionLimits,
    next_id: u64,
    conns: HashMap<u64, Conn<H>>,
    per_source: HashMap<SourceKey, usize>,
    rates: HashMap<SourceKey, (Instant, u32)>,
}

impl<H> Admission<H> {
    pub fn new(limits: AdmissionLimits) -> Self {
        Admission {
            limits: AdmissionLimits {
                max_connections: limits.max_connections.max(1),
                per_source: limits.per_source.max(1),
                ..limits
            },
            next_id: 0,
            conns: HashMap::new(),
            per_source: HashMap::new(),
            rates: HashMap::new(),
        }
    }

    /// The source `ip` counts against.
    pub fn source_of(&self, ip: IpAddr) -> SourceKey {
        SourceKey::of(ip, self.limits.v4_prefix, self.limits.v6_prefix)
    }

    /// Connections being served.
    pub fn active(&self) -> usize {
        self.conns.len()
    }

    /// Connections being served for this source.
    pub fn active_from(&self, source: SourceKey) -> usize {
        self.per_source.get(&source).copied().unwrap_or(0)
    }

    /// Decides on a connection from `ip` accepted at `now`; `handle`
    /// closes it should it be evicted later.
    pub fn admit(&mut self, ip: IpAddr, now: Instant, handle: H) -> Decision<H> {
        let source = self.source_of(ip);
        if !self.within_rate(source, now) {
            return Decision::Refuse(Refusal::RateLimited);
        }
        let mine = self.active_from(source);
        if mine >= self.limits.per_source {
            return Decision::Refuse(Refusal::SourceBusy);
        }
        let mut evicted = None;
        if self.conns.len() >= self.limits.max_connections {
            let Some(victim) = self.victim(mine) else {
                return Decision::Refuse(Refusal::Busy);
            };
            evicted = self.remove(victim);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.conns.insert(
            id,
            Conn {
                source,
                progress: now,
                handle,
            },
        );
        *self.per_source.entry(source).or_default() += 1;
        Decision::Admit { id, evicted }
    }

    /// Connection `id` completed a line at `now`.
    pub fn progress(&mut self, id: u64, now: Instant) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.progress = c.progress.max(now);
        }
    }

    /// Connection `id` ended (a no-op when it was evicted).
    pub fn release(&mut self, id: u64) {
        self.remove(id);
    }

    fn remove(&mut self, id: u64) -> Option<H> {
        let c = self.conns.remove(&id)?;
        if let Some(n) = self.per_source.get_mut(&c.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&c.source);
            }
        }
        Some(c.handle)
    }

    /// The connection to close for a newcomer whose source holds `mine`:
    /// the stalest of the most-represented sources, when those hold more
    /// than `mine` (else evicting would only move the imbalance).
    fn victim(&self, mine: usize) -> Option<u64> {
        let most = self.per_source.values().copied().max()?;
        if most <= mine {
            return None;
        }
        self.conns
            .iter()
            .filter(|(_, c)| self.active_from(c.source) == most)
            .min_by_key(|(id, c)| (c.progress, **id))
            .map(|(id, _)| *id)
    }

    /// Counts a connection attempt; false once the source is over its rate.
    fn within_rate(&mut self, source: SourceKey, now: Instant) -> bool {
        if self.rates.len() >= MAX_RATE_ENTRIES {
            self.rates
                .retain(|_, (start, _)| now.duration_since(*start) < RATE_WINDOW);
            if self.rates.len() >= MAX_RATE_ENTRIES {
                self.rates.clear();
            }
        }
        let entry = self.rates.entry(source).or_insert((now, 0));
        if now.duration_since(entry.0) >= RATE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.limits.per_source_per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, per_source: usize) -> AdmissionLimits {
        AdmissionLimits {
            max_connections,
            per_source,
            per_source_per_minute: 1_000_000,
            ..AdmissionLimits::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn admitted<H: fmt::Debug>(d: Decision<H>) -> (u64, Option<H>) {
        match d {
            Decision::Admit { id, evicted } => (id, evicted),
            other => panic!("refused: {other:?}"),
        }
    }

    #[test]
    fn sources_are_grouped_by_prefix() {
        let k = |s: &str| SourceKey::of(ip(s), 32, 64);
        assert_eq!(k("2001:db8:1:2::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_ne!(k("192.0.2.1"), k("192.0.2.2"));
        assert_eq!(k("::ffff:192.0.2.1"), k("192.0.2.1"));
        assert_eq!(k("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(k("192.0.2.1").to_string(), "192.0.2.1");
        let wide = |s: &str| SourceKey::of(ip(s), 24, 128);
        assert_eq!(wide("192.0.2.1"), wide("192.0.2.200"));
        assert_eq!(wide("192.0.2.1").to_string(), "192.0.2.0/24");
        assert_eq!(wide("2001:db8::1").to_string(), "2001:db8::1");
        assert_eq!(SourceKey::of(ip("10.1.2.3"), 0, 0).to_string(), "0.0.0.0/0");
    }

    #[test]
    fn one_source_gets_its_share_only() {
        let mut a = Admission::new(limits(256, 4));
        let now = Instant::now();
        for _ in 0..4 {
            admitted(a.admit(ip("192.0.2.1"), now, ()));
        }
        assert!(matches!(
            a.admit(ip("192.0.2.1"), now, ()),
            Decision::Refuse(Refusal::SourceBusy)
        ));
        // A /64 is one source, however many addresses it uses.
        for i in 1..=4 {
            admitted(a.admit(ip(&format!("2001:db8::{i}")), now, ()));
        }
        assert!(matches!(
            a.admit(ip("2001:db8::ffff"), now, ()),
            Decision::Refuse(Refusal::SourceBusy)
        ));
        assert_eq!(a.active(), 8);
        admitted(a.admit(ip("192.0.2.2"), now, ()));
    }

    #[test]
    fn a_full_server_evicts_the_stalest_of_the_biggest_source() {
        let mut a: Admission<&str> = Admission::new(limits(4, 3));
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let (old, _) = admitted(a.admit(ip("192.0.2.1"), t0, "attacker-old"));
        let (busy, _) = admitted(a.admit(ip("192.0.2.1"), t0 + s, "attacker-progressing"));
        admitted(a.admit(ip("192.0.2.1"), t0 + 2 * s, "attacker-new"));
        admitted(a.admit(ip("192.0.2.9"), t0 + 3 * s, "other"));
        // The oldest attacker connection completed a line lately: the
        // stalest is now the second one.
        a.progress(old, t0 + 4 * s);
        let (_, evicted) = admitted(a.admit(ip("198.51.100.1"), t0 + 5 * s, "newcomer"));
        assert_eq!(evicted, Some("attacker-progressing"));
        assert_eq!(a.active(), 4);
        assert_eq!(a.active_from(a.source_of(ip("192.0.2.1"))), 2);
        // The evicted connection's own end changes nothing.
        a.release(busy);
        assert_eq!(a.active(), 4);
    }

    #[test]
    fn a_full_server_of_equals_refuses_the_newcomer() {
        let mut a = Admission::new(limits(2, 2));
        let now = Instant::now();
        admitted(a.admit(ip("192.0.2.1"), now, ()));
        admitted(a.admit(ip("192.0.2.2"), now, ()));
        // Its source would hold as many as the biggest after an eviction.
        let (id, evicted) = admitted(a.admit(ip("192.0.2.3"), now, ()));
        assert!(evicted.is_some());
        assert!(matches!(
            a.admit(ip("192.0.2.3"), now, ()),
            Decision::Refuse(Refusal::Busy)
        ));
        a.release(id);
        admitted(a.admit(ip("192.0.2.3"), now, ()));
    }

    #[test]
    fn the_rate_is_per_source_and_per_minute() {
        let mut a = Admission::new(AdmissionLimits {
            per_source_per_minute: 3,
            ..limits(256, 256)
        });
        let t0 = Instant::now();
        for i in 0..3 {
            let (id, _) = admitted(a.admit(ip(&format!("2001:db8::{i}")), t0, ()));
            a.release(id);
        }
        assert!(matches!(
            a.admit(ip("2001:db8::99"), t0, ()),
            Decision::Refuse(Refusal::RateLimited)
        ));
        admitted(a.admit(ip("2001:db8:0:1::1"), t0, ()));
        admitted(a.admit(ip("2001:db8::1"), t0 + RATE_WINDOW, ()));
    }
}
