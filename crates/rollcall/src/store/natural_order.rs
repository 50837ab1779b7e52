//! Numeric-aware ("natural") ordering of roll numbers: `"2" < "10"`, `"A2" < "A10"`.

use std::cmp::Ordering;

/// Compares two strings chunk by chunk: runs of ASCII digits compare by numeric value
/// (of any length, without overflow), everything else compares character by character.
/// Ties (e.g. `"02"` vs `"2"`) are broken by plain string order, so the order is total
/// and consistent with `Eq`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let mut left = Chunks::new(a);
    let mut right = Chunks::new(b);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x, y) {
                    (Chunk::Digits(x), Chunk::Digits(y)) => cmp_digits(x, y),
                    (Chunk::Digits(_), Chunk::Text(_)) => Ordering::Less,
                    (Chunk::Text(_), Chunk::Digits(_)) => Ordering::Greater,
                    (Chunk::Text(x), Chunk::Text(y)) => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// Compares two runs of ASCII digits by value.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[derive(Debug, Clone, Copy)]
enum Chunk<'a> {
    Digits(&'a str),
    Text(&'a str),
}

/// Splits a string into maximal runs of ASCII digits and of other characters.
struct Chunks<'a> {
    rest: &'a str,
}

impl<'a> Chunks<'a> {
    fn new(s: &'a str) -> Self {
        Self { rest: s }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        let first = self.rest.chars().next()?;
        let digits = first.is_ascii_digit();
        let end = self
            .rest
            .find(|c: char| c.is_ascii_digit() != digits)
            .unwrap_or(self.rest.len());
        let (chunk, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(if digits {
            Chunk::Digits(chunk)
        } else {
            Chunk::Text(chunk)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;

    fn sorted(items: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
        v.sort_by(|a, b| natural_cmp(a, b));
        v
    }

    #[test]
    fn numbers_sort_by_value() {
        assert_eq!(
            sorted(&["10", "2", "1", "100", "20"]),
            ["1", "2", "10", "20", "100"]
        );
    }

    #[test]
    fn mixed_prefixes_and_suffixes() {
        assert_eq!(
            sorted(&["B1", "A10", "A2", "A2b", "A2a", "a1"]),
            ["A2", "A2a", "A2b", "A10", "B1", "a1"]
        );
    }

    #[test]
    fn leading_zeros_and_huge_numbers() {
        assert_eq!(sorted(&["2", "02", "001"]), ["001", "02", "2"]);
        assert_eq!(
            sorted(&["99999999999999999999999", "100000000000000000000000", "3"]),
            ["3", "99999999999999999999999", "100000000000000000000000"]
        );
    }

    #[test]
    fn empty_and_unicode() {
        assert_eq!(sorted(&["é2", "", "é10", "1"]), ["", "1", "é2", "é10"]);
    }
}
