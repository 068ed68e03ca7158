//! The addresses the DNS responder hands out: one per allowed name, in 127.128.0.0/9, which
//! is loopback inside the sandbox and reaches the transparent listeners.

use std::collections::HashMap;
use std::net::Ipv4Addr;

const BASE: u32 = 0x7F80_0000; // 127.128.0.0
const SIZE: u32 = 1 << 23;
/// More distinct names than any server needs; past it, new names get no answer.
pub const MAX_NAMES: usize = 65_536;

#[derive(Debug, Default)]
pub struct FakeIps {
    by_name: HashMap<String, Ipv4Addr>,
    by_ip: HashMap<Ipv4Addr, String>,
}

impl FakeIps {
    /// The address for `name` (lower case, no trailing dot), allocating one if needed.
    pub fn assign(&mut self, name: &str) -> Option<Ipv4Addr> {
        if let Some(ip) = self.by_name.get(name) {
            return Some(*ip);
        }
        if self.by_name.len() >= MAX_NAMES {
            return None;
        }
        let n = self.by_name.len() as u32 + 1;
        let ip = Ipv4Addr::from(BASE + (n % SIZE));
        self.by_name.insert(name.to_string(), ip);
        self.by_ip.insert(ip, name.to_string());
        Some(ip)
    }

    pub fn name_of(&self, ip: Ipv4Addr) -> Option<&str> {
        self.by_ip.get(&ip).map(String::as_str)
    }
}

pub fn is_fake(ip: Ipv4Addr) -> bool {
    u32::from(ip) & 0xFF80_0000 == BASE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_reversible() {
        let mut f = FakeIps::default();
        let a = f.assign("a.test").unwrap();
        let b = f.assign("b.test").unwrap();
        assert_ne!(a, b);
        assert_eq!(f.assign("a.test"), Some(a));
        assert_eq!(f.name_of(b), Some("b.test"));
        assert!(is_fake(a) && is_fake(b));
        assert!(!is_fake(Ipv4Addr::LOCALHOST));
        assert_eq!(a, Ipv4Addr::new(127, 128, 0, 1));
    }
}
