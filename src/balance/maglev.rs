//! `maglev`: the Maglev lookup table (Eisenbud et al., NSDI 2016) with Envoy's weighting.
//!
//! Each member has a permutation of the table slots, `offset = xxh64(id, 0) % M` and
//! `skip = xxh64(id, 1) % (M - 1) + 1`, slot j = `(offset + j·skip) % M` (a full cycle since M is
//! prime). Population goes round after round over the members; in each round a member takes its
//! next free preferred slot only if its share is due (`round × weight ≥ taken × max_weight`), so
//! slot counts are proportional to weights. Equal weights give every member ⌊M/N⌋ or ⌈M/N⌉ slots.
//! A key maps to slot `⌊hash · M / 2⁶⁴⌋` (multiply-shift, cheaper than `%`); the table depends only on ids and weights, so every worker
//! agrees, and removing one of N members moves little more than 1/N of the keys.
//!
//! Unhealthy members are skipped by walking to the next slot that belongs to a healthy member.

use super::hash::xxh64;
use super::rng::below;

pub(crate) struct Maglev {
    table: Box<[u32]>,
}

/// Whether `n` is prime (deterministic trial division; table sizes are at most a few million).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

impl Maglev {
    /// Builds a table of size `m` (prime, ≥ members) over members with weights > 0.
    pub(crate) fn build(ids: &[&str], weights: &[u32], m: u64) -> Maglev {
        const EMPTY: u32 = u32::MAX;
        let n = ids.len();
        if n == 0 || m < 2 || weights.contains(&0) {
            return Maglev {
                table: Box::new([]),
            };
        }
        let mut table = vec![EMPTY; m as usize];
        let offset: Vec<u64> = ids.iter().map(|id| xxh64(id.as_bytes(), 0) % m).collect();
        let skip: Vec<u64> = ids
            .iter()
            .map(|id| xxh64(id.as_bytes(), 1) % (m - 1) + 1)
            .collect();
        let mut next = vec![0u64; n];
        // Member i may take a slot in round r when r·w_i ≥ target_i; each slot taken adds max_w.
        let mut target = vec![0u128; n];
        let max_w = u128::from(weights.iter().copied().max().unwrap_or(1));
        let mut filled = 0u64;
        let mut round: u128 = 1;
        while filled < m {
            for i in 0..n {
                if filled == m {
                    break;
                }
                let w = u128::from(weights[i]);
                if round * w < target[i] {
                    continue;
                }
                target[i] += max_w;
                loop {
                    let c = ((offset[i] + skip[i] * (next[i] % m)) % m) as usize;
                    next[i] += 1;
                    if table[c] == EMPTY {
                        table[c] = i as u32;
                        break;
                    }
                }
                filled += 1;
            }
            // Skip rounds in which nobody is due.
            let due = (0..n)
                .map(|i| target[i].div_ceil(u128::from(weights[i])))
                .min()
                .unwrap_or(round + 1);
            round = (round + 1).max(due);
        }
        Maglev {
            table: table.into_boxed_slice(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Slots owned by each member (for tests and `explain`).
    pub(crate) fn slots_per_member(&self, members: usize) -> Vec<usize> {
        let mut counts = vec![0; members];
        for &o in self.table.iter() {
            if let Some(c) = counts.get_mut(o as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// The member owning `hash` if every member were healthy.
    #[inline]
    pub(crate) fn owner(&self, hash: u64) -> Option<u32> {
        let n = self.table.len() as u64;
        if n == 0 {
            return None;
        }
        self.table.get(below(hash, n) as usize).copied()
    }

    /// The member for `hash`, walking past slots of unhealthy members.
    #[inline]
    pub(crate) fn pick(&self, hash: u64, healthy: &[bool]) -> Option<u32> {
        let n = self.table.len();
        if n == 0 {
            return None;
        }
        let mut i = below(hash, n as u64) as usize;
        for _ in 0..n {
            let m = self.table[i];
            if healthy.get(m as usize).copied().unwrap_or(false) {
                return Some(m);
            }
            i += 1;
            if i == n {
                i = 0;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        assert!(is_prime(65537));
        assert!(is_prime(2));
        assert!(is_prime(5_000_011));
        assert!(!is_prime(65536));
        assert!(!is_prime(1));
        assert!(!is_prime(0));
    }

    #[test]
    fn weighted_slots() {
        let t = Maglev::build(&["a", "b", "c"], &[2, 1, 1], 65537);
        let c = t.slots_per_member(3);
        assert_eq!(c.iter().sum::<usize>(), 65537);
        let half = 65537.0 / 2.0;
        assert!((c[0] as f64 - half).abs() / half < 0.01, "{c:?}");
        let extreme = Maglev::build(&["a", "b"], &[1_000_000, 1], 65537);
        let c = extreme.slots_per_member(2);
        assert_eq!(c.iter().sum::<usize>(), 65537);
        assert!(c[1] <= 2, "{c:?}");
    }
}
