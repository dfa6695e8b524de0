//! The bridge's maps from stream id to stream state, with a cheap keyed hash.
//!
//! SipHash (std's default) costs about 120 instructions per lookup, and a proxied call does ten.
//! Stream ids are small integers, so one folded 64×64→128-bit multiply mixes them well enough. The
//! peer chooses its stream ids, so the hash is keyed with random words drawn per map (from std's
//! `RandomState`): which ids collide cannot be predicted, and cannot be learnt on one connection
//! and used on another. Even a bad case stays bounded: a map holds at most the streams one
//! connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A map keyed by stream id.
pub(super) type StreamMap<V> = HashMap<u32, V, IdHash>;

/// Builds [`IdHasher`]s with this map's random key; `default()` draws a new key.
#[derive(Clone, Copy, Debug)]
pub(super) struct IdHash {
    seed: u64,
    multiplier: u64,
}

impl Default for IdHash {
    fn default() -> Self {
        let random = RandomState::new();
        IdHash {
            seed: random.hash_one(0u8),
            // Odd, so that no input bit is lost in the low half of the product.
            multiplier: random.hash_one(1u8) | 1,
        }
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher {
            hash: self.seed,
            multiplier: self.multiplier,
        }
    }
}

pub(super) struct IdHasher {
    hash: u64,
    multiplier: u64,
}

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.hash = fold(self.hash ^ n, self.multiplier);
    }

    /// A second folded multiply: after one, nearby ids still land in few buckets for some keys
    /// (the high half moves almost linearly with a small input); after two, none does.
    #[inline]
    fn finish(&self) -> u64 {
        fold(self.hash, self.multiplier)
    }
}

/// Folded multiply: both halves of the 128-bit product, so high and low output bits (hashbrown uses
/// both) depend on every input bit.
#[inline]
fn fold(a: u64, multiplier: u64) -> u64 {
    let product = u128::from(a) * u128::from(multiplier);
    (product as u64) ^ ((product >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_keys_differ_per_map() {
        let mut m: StreamMap<u32> = StreamMap::default();
        for id in (1..2000).step_by(2) {
            m.insert(id, id * 3);
        }
        assert_eq!(m.len(), 1000);
        assert!((1..2000).step_by(2).all(|id| m.get(&id) == Some(&(id * 3))));
        assert_eq!(m.remove(&7), Some(21));
        assert!(!m.contains_key(&8));
        let (a, b) = (IdHash::default(), IdHash::default());
        assert_ne!(a.hash_one(1u32), b.hash_one(1u32));
    }

    #[test]
    fn consecutive_odd_ids_spread_over_buckets() {
        // hashbrown takes the bucket from the low bits: 128 consecutive odd ids over 128 buckets
        // fill about 81 of them when the hash is as good as random. Many keys, as each map draws
        // its own.
        for _ in 0..200 {
            let h = IdHash::default();
            let buckets: std::collections::HashSet<u64> =
                (0..128u32).map(|i| h.hash_one(2 * i + 1) & 127).collect();
            assert!(buckets.len() > 60, "{} of 128 buckets used", buckets.len());
        }
    }
}
