//! Counting words in messages: `1 error`, `2 errors`.

use std::fmt::Display;

/// The count and the noun, with an `s` unless the count is one.
pub fn plural<N: Display + PartialEq + From<u8>>(n: N, noun: &str) -> String {
    let s = if n == N::from(1) { "" } else { "s" };
    format!("{n} {noun}{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(plural(0usize, "error"), "0 errors");
        assert_eq!(plural(1usize, "error"), "1 error");
        assert_eq!(plural(2u64, "filesystem grant"), "2 filesystem grants");
    }
}
