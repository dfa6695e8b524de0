//! `LEAST_REQUEST`: power of two choices over this worker's in-flight streams.
//!
//! Two distinct healthy members are drawn uniformly with the worker's PRNG; the one with the
//! smaller `(in_flight + 1) / weight` wins (compared by cross-multiplying, no division), the first
//! drawn on ties. The `+ 1` makes an idle heavy endpoint beat an idle light one, as Envoy's
//! `weight / (active + 1)`. In-flight counts are the worker's own (the proxy reports stream start
//! and end), so there is nothing shared to contend on.

use super::rng::Rng;
use super::{Level, LevelState};

#[inline]
pub(crate) fn pick(
    level: &Level,
    st: &LevelState,
    in_flight: &[u32],
    rng: &mut Rng,
) -> Option<u32> {
    let n = st.healthy.len();
    match n {
        0 => None,
        1 => Some(st.healthy[0]),
        _ => {
            let i = rng.below(n as u64) as usize;
            let mut j = rng.below(n as u64 - 1) as usize;
            if j >= i {
                j += 1;
            }
            let a = st.healthy[i];
            let b = st.healthy[j];
            let la = u64::from(in_flight[level.members[a as usize] as usize]) + 1;
            let lb = u64::from(in_flight[level.members[b as usize] as usize]) + 1;
            let better_b = if level.equal_weights {
                lb < la
            } else {
                let wa = u64::from(level.weights[a as usize]);
                let wb = u64::from(level.weights[b as usize]);
                u128::from(lb) * u128::from(wa) < u128::from(la) * u128::from(wb)
            };
            Some(if better_b { b } else { a })
        }
    }
}
