//! `ringHash`: a ketama-style consistent-hash ring.
//!
//! Each endpoint contributes points `xxh64("{id}_{i}")`, i = 0, 1, ...; a key maps to the first
//! point clockwise from its hash. Like ketama (and unlike Envoy, whose point count per host is
//! `minimumRingSize / N`), the number of points of an endpoint does not depend on how many other
//! endpoints there are: an endpoint of the smallest weight gets `minimumRingSize` points and the
//! others proportionally more (`minimumRingSize × w / w_min`, rounded up), so the ring always has
//! at least `minimumRingSize` points, and removing one of N equal endpoints moves only that
//! endpoint's keys (about 1/N), instead of also re-cutting every remaining endpoint's arcs. The
//! ring is capped at [`AUTO_RING_CAP`] points (or `minimumRingSize` if larger; at most
//! [`MAXIMUM_RING_SIZE`]): past it the per-endpoint counts are scaled down proportionally.
//! Points depend only on ids and weights, so every worker builds the same ring.
//!
//! Unhealthy endpoints are skipped by walking clockwise to the next point of a healthy one.

use std::fmt::Write as _;

use super::hash::xxh64;
use super::spec::MAXIMUM_RING_SIZE;

/// Largest ring built automatically from `minimumRingSize` per endpoint (12 MiB of points).
pub const AUTO_RING_CAP: u64 = 1 << 20;

pub(crate) struct Ring {
    /// Sorted point hashes.
    hashes: Box<[u64]>,
    /// `owners[i]` = member position owning point `i`.
    owners: Box<[u32]>,
    /// `buckets[k]` = first point whose hash has top bits ≥ k (`k = hash >> shift`), so a lookup
    /// binary-searches only the ~8 points of its bucket.
    buckets: Box<[u32]>,
    shift: u32,
}

fn bucket_index(hashes: &[u64]) -> (Box<[u32]>, u32) {
    // 2^bits buckets, about 8 points each, 2..=65536 buckets.
    let mut bits = 1u32;
    while bits < 16 && (hashes.len() >> (bits + 3)) > 0 {
        bits += 1;
    }
    let shift = 64 - bits;
    let buckets = (0..=(1u64 << bits))
        .map(|k| hashes.partition_point(|&h| (h >> shift) < k) as u32)
        .collect();
    (buckets, shift)
}

impl Ring {
    /// Builds the ring over members with ids `ids` and weights `weights` (all > 0).
    pub(crate) fn build(ids: &[&str], weights: &[u32], minimum_ring_size: u64) -> Ring {
        let empty = || Ring {
            hashes: Box::new([]),
            owners: Box::new([]),
            buckets: Box::new([]),
            shift: 63,
        };
        let Some(&min_w) = weights.iter().min() else {
            return empty();
        };
        if min_w == 0 {
            return empty();
        }
        let cap = AUTO_RING_CAP.max(minimum_ring_size).min(MAXIMUM_RING_SIZE);
        // Points per unit of "weight relative to the lightest endpoint".
        let relative: f64 = weights
            .iter()
            .map(|&w| f64::from(w) / f64::from(min_w))
            .sum();
        let per_unit = (minimum_ring_size as f64)
            .min(cap as f64 / relative)
            .max(1.0);
        let counts: Vec<u64> = weights
            .iter()
            .map(|&w| (per_unit * f64::from(w) / f64::from(min_w)).ceil() as u64)
            .collect();
        let total: u64 = counts.iter().sum();
        let mut points: Vec<(u64, u32)> = Vec::with_capacity(total as usize);
        let mut key = String::new();
        for (member, (id, &n)) in ids.iter().zip(&counts).enumerate() {
            for i in 0..n {
                key.clear();
                let _ = write!(key, "{id}_{i}");
                points.push((xxh64(key.as_bytes(), 0), member as u32));
            }
        }
        points.sort_unstable();
        let hashes: Box<[u64]> = points.iter().map(|p| p.0).collect();
        let (buckets, shift) = bucket_index(&hashes);
        Ring {
            hashes,
            owners: points.iter().map(|p| p.1).collect(),
            buckets,
            shift,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Points owned by each member (for tests and `explain`).
    pub(crate) fn points_per_member(&self, members: usize) -> Vec<usize> {
        let mut counts = vec![0; members];
        for &o in self.owners.iter() {
            if let Some(c) = counts.get_mut(o as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// The member owning `hash` if every member were healthy.
    #[inline]
    pub(crate) fn owner(&self, hash: u64) -> Option<u32> {
        let i = self.start(hash)?;
        Some(self.owners[i])
    }

    #[inline]
    fn start(&self, hash: u64) -> Option<usize> {
        if self.hashes.is_empty() {
            return None;
        }
        let k = (hash >> self.shift) as usize;
        let (lo, hi) = match (self.buckets.get(k), self.buckets.get(k + 1)) {
            (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
            _ => (0, self.hashes.len()),
        };
        let i = lo + self.hashes.get(lo..hi)?.partition_point(|&h| h < hash);
        Some(if i == self.hashes.len() { 0 } else { i })
    }

    /// The member for `hash`, walking clockwise past unhealthy members.
    #[inline]
    pub(crate) fn pick(&self, hash: u64, healthy: &[bool]) -> Option<u32> {
        let start = self.start(hash)?;
        let n = self.owners.len();
        let mut i = start;
        for _ in 0..n {
            let m = self.owners[i];
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
