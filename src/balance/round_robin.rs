//! `ROUND_ROBIN`: nginx's smooth weighted round robin, per worker.
//!
//! Every pick adds each healthy member's weight to its `current` value, takes the member with the
//! largest `current` (the first one on ties) and subtracts the total weight from it. Weights 5,1,1
//! give `a a b a c a a`, repeating: heavy members are spread out instead of sent in bursts. Each
//! worker keeps its own `current` values and so walks the exact same sequence independently.
//! Equal weights take a plain rotating index (same sequence, O(1)).

use super::{Level, LevelState};

#[inline]
pub(crate) fn pick(level: &Level, st: &mut LevelState) -> Option<u32> {
    let n = st.healthy.len();
    if n == 0 {
        return None;
    }
    if level.equal_weights {
        if st.rr_next >= n {
            st.rr_next = 0;
        }
        let m = st.healthy[st.rr_next];
        st.rr_next += 1;
        return Some(m);
    }
    if n == level.weights.len() {
        // Every member healthy: one contiguous pass (no gather through `healthy`).
        let mut best = 0usize;
        let mut best_current = i64::MIN;
        for (i, (c, &w)) in st.rr_current.iter_mut().zip(&level.weights).enumerate() {
            *c += i64::from(w);
            if *c > best_current {
                best_current = *c;
                best = i;
            }
        }
        st.rr_current[best] -= st.total_weight as i64;
        return Some(best as u32);
    }
    let mut total: i64 = 0;
    let mut best = st.healthy[0];
    let mut best_current = i64::MIN;
    for &m in &st.healthy {
        let w = i64::from(level.weights[m as usize]);
        let c = &mut st.rr_current[m as usize];
        *c += w;
        total += w;
        if *c > best_current {
            best_current = *c;
            best = m;
        }
    }
    st.rr_current[best as usize] -= total;
    Some(best)
}
