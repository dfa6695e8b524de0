//! A small per-worker pseudo-random generator (wyrand): no locks, no atomics, no OS entropy.
//!
//! Each worker owns one, seeded from its index with [`worker_seed`], so workers draw different
//! sequences while every run with the same seeds is reproducible.

/// wyrand: 64-bit state, one multiply per draw; passes BigCrush/PractRand for this use.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A number in `0..n` (`n > 0`; returns 0 for `n == 0`), by Lemire's multiply-shift.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        below(self.next_u64(), n)
    }
}

/// Maps 64 random bits onto `0..n` (multiply-shift; 0 when `n == 0`).
#[inline]
pub fn below(random: u64, n: u64) -> u64 {
    ((u128::from(random) * u128::from(n)) >> 64) as u64
}

/// A well-mixed seed for worker `index` (splitmix64 of the index and a fixed salt), so that
/// neighbouring workers get unrelated streams.
pub fn worker_seed(index: u64) -> u64 {
    let mut z = index
        .wrapping_add(0x9e37_79b9_7f4a_7c15)
        .wrapping_mul(0x2545_f491_4f6c_dd1d);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
