//! Bounds on what the sandbox can make the proxy hold: the proxy runs in mcpcell, outside the
//! sandbox's cgroup and process limit, so every connection, thread, table entry and log line
//! the server can cause is capped here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Connections served at once (a thread each, two while relaying); more are closed at once.
/// Package managers open a few dozen at most.
pub const MAX_CONNECTIONS: usize = 256;
/// DNS queries answered at once (a thread each while resolving); more are dropped, and the
/// client's resolver asks again.
pub const MAX_DNS_IN_FLIGHT: usize = 16;
/// How long a new connection may take to send its request (HTTP head or SOCKS5 handshake),
/// in total and for each read.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Distinct destinations kept in the summary tables; the rest are counted together.
pub const MAX_DESTINATIONS: usize = 1024;
/// Refusals of one destination that are logged one by one; later ones are counted in the
/// summary at exit only.
pub const LOGGED_PER_DESTINATION: u64 = 3;
/// The key under which destinations past [`MAX_DESTINATIONS`] are counted.
pub const OTHER_DESTINATIONS: &str = "(other destinations)";

/// A counter of things in use, with a maximum.
#[derive(Debug)]
pub struct Gate {
    used: Arc<AtomicUsize>,
    max: usize,
}

/// One unit taken from a [`Gate`], given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Gate {
    pub fn new(max: usize) -> Gate {
        Gate {
            used: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// A slot, or None when all are taken.
    pub fn take(&self) -> Option<Slot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(&self.used)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Lets through at most one message per `every`, counting the ones held back.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    pub const fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            held: 0,
        }
    }

    /// Some(n) when a message may be logged now, n being how many were held back since the
    /// last one (this one included).
    pub fn pass(&mut self, now: Instant) -> Option<u64> {
        self.held += 1;
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < self.every)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held))
    }
}

/// The longest host name kept whole in the proxy's tables and log lines: a DNS name is at
/// most 253 characters; a longer one is clipped in its middle.
pub const NAME_MAX: usize = 253;

/// The entry for `key` in a table of at most [`MAX_DESTINATIONS`] keys; past that, the shared
/// [`OTHER_DESTINATIONS`] entry.
pub fn entry<V: Default>(map: &mut BTreeMap<String, V>, key: String) -> &mut V {
    let key = if map.contains_key(&key) || map.len() < MAX_DESTINATIONS {
        key
    } else {
        OTHER_DESTINATIONS.to_string()
    };
    map.entry(key).or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_gives_back_what_is_dropped() {
        let g = Gate::new(2);
        let a = g.take().unwrap();
        let b = g.take().unwrap();
        assert!(g.take().is_none());
        drop(a);
        let c = g.take().unwrap();
        assert!(g.take().is_none());
        drop((b, c));
        assert!(g.take().is_some());
    }

    #[test]
    fn throttle_counts_what_it_holds_back() {
        let mut t = Throttle::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(t.pass(t0), Some(1));
        assert_eq!(t.pass(t0 + Duration::from_secs(1)), None);
        assert_eq!(t.pass(t0 + Duration::from_secs(2)), None);
        assert_eq!(t.pass(t0 + Duration::from_secs(6)), Some(3));
    }

    #[test]
    fn tables_stop_growing() {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for i in 0..MAX_DESTINATIONS + 10 {
            *entry(&mut m, format!("h{i}:443")) += 1;
        }
        assert_eq!(m.len(), MAX_DESTINATIONS + 1);
        assert_eq!(m[OTHER_DESTINATIONS], 10);
        *entry(&mut m, "h0:443".into()) += 1;
        assert_eq!(m["h0:443"], 2);
    }
}
