//! `RANDOM`: weighted random over the healthy members, with the worker's PRNG.
//!
//! Equal weights draw an index; otherwise a draw in `0..total` is located in the cumulative
//! weights of the healthy members (binary search). The cumulative array is rebuilt in place when
//! health changes, never on a pick.

use super::rng::Rng;
use super::{Level, LevelState};

#[inline]
pub(crate) fn pick(level: &Level, st: &LevelState, rng: &mut Rng) -> Option<u32> {
    let n = st.healthy.len();
    if n == 0 {
        return None;
    }
    if level.equal_weights {
        return Some(st.healthy[rng.below(n as u64) as usize]);
    }
    let r = rng.below(st.total_weight);
    let i = st.cumulative.partition_point(|&c| c <= r);
    st.healthy.get(i).copied()
}
