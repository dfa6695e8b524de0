//! Weighted backend split of one rule (`backendRefs[].weight`).

use super::spec::{BackendSpec, ClusterId};

/// Cumulative weights; a random number in `0..total` picks the first backend whose running sum
/// exceeds it, so weight-0 backends are never picked.
pub(crate) struct Split {
    cumulative: Box<[u64]>,
    clusters: Box<[ClusterId]>,
    total: u64,
}

impl Split {
    pub(crate) fn new(backends: &[BackendSpec]) -> Split {
        let mut total = 0u64;
        let cumulative = backends
            .iter()
            .map(|b| {
                total += u64::from(b.weight);
                total
            })
            .collect();
        Split {
            cumulative,
            clusters: backends.iter().map(|b| b.cluster).collect(),
            total,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The backend index for 64 random bits; `None` if every weight is 0 (or no backends).
    #[inline]
    pub(crate) fn pick(&self, random: u64) -> Option<(usize, ClusterId)> {
        if self.total == 0 {
            return None;
        }
        let i = if self.cumulative.len() == 1 {
            0
        } else {
            let r = crate::balance::rng::below(random, self.total);
            self.cumulative.partition_point(|&c| c <= r)
        };
        Some((i, *self.clusters.get(i)?))
    }
}
