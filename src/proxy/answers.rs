//! What the DNS responder told the sandbox: the real addresses of allowed names, so that a
//! connection to one of them (which the sandbox's routing delivers to a transparent
//! listener) can be traced back to an allowed name.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

/// Names past which new lookups are refused: far more than any server needs.
pub const MAX_NAMES: usize = 16_384;

#[derive(Debug, Default)]
pub struct Answers {
    by_ip: HashMap<Ipv4Addr, HashSet<String>>,
    names: HashSet<String>,
}

impl Answers {
    /// Records that `name` was answered with `ips`. False when the table is full.
    pub fn record(&mut self, name: &str, ips: &[Ipv4Addr]) -> bool {
        if !self.names.contains(name) && self.names.len() >= MAX_NAMES {
            return false;
        }
        self.names.insert(name.to_string());
        for ip in ips {
            self.by_ip.entry(*ip).or_default().insert(name.to_string());
        }
        true
    }

    /// The allowed names that were answered with `ip`.
    pub fn names_of(&self, ip: Ipv4Addr) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_ip
            .get(&ip)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_map_back_to_names() {
        let mut a = Answers::default();
        let ip = Ipv4Addr::new(93, 184, 215, 14);
        assert!(a.record("b.test", &[ip]));
        assert!(a.record("a.test", &[ip, Ipv4Addr::new(1, 1, 1, 1)]));
        assert_eq!(a.names_of(ip), ["a.test", "b.test"]);
        assert!(a.names_of(Ipv4Addr::new(8, 8, 8, 8)).is_empty());
    }
}
