//! Streams the gateway ends itself: a route timeout passed, waiting bytes stopped moving, or the
//! worker's buffer budget ran out. Each ends on both legs with every byte it held given back to
//! flow control, so a shared upstream connection keeps its window whatever its clients do.

use std::cmp::Reverse;
use std::time::Duration;

use super::settle::{Abort, End, settle};
use crate::proxy::events::Events;
use crate::proxy::streams::BridgeId;
use crate::proxy::timers::Timer;
use crate::proxy::worker::Worker;

/// Ends bridge `id` on both legs for `why` (every connection is in the table).
pub(in crate::proxy) fn abort<E: Events>(w: &mut Worker<E>, id: BridgeId, why: Abort) {
    if why == Abort::Timeout {
        if let Some(b) = w.bridges.get(id).filter(|b| b.upstream.is_some()) {
            // A backend that does not answer in time is failing, as Envoy counts it.
            let endpoint = b.endpoint;
            w.record_answer(endpoint, 504);
        }
    }
    settle(w, None, id, End::Aborted(why));
}

/// Once per loop turn, with every connection in the table: streams over the buffer budget end,
/// and while the worker has streams (or slab memory to give back) a sweep is armed.
pub(in crate::proxy) fn tend<E: Events>(w: &mut Worker<E>) {
    let limits = w.config.buffers;
    if w.meter.get() > limits.budget {
        enforce_budget(w, limits.budget);
    }
    if !w.sweep_armed && !w.bridges.is_trimmed() {
        w.sweep_armed = true;
        let every =
            (limits.stall_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        w.timers.arm(w.now + every, Timer::Sweep);
    }
}

/// The `Sweep` timer (every quarter of the stall timeout, at most once per second): streams whose
/// waiting bytes have not moved for the stall timeout end, and the stream slab gives back what a
/// burst left.
pub(in crate::proxy) fn sweep<E: Events>(w: &mut Worker<E>) {
    w.sweep_armed = false;
    w.bridges.trim();
    if w.meter.get() == 0 {
        return;
    }
    let (now, limit) = (w.now, w.config.buffers.stall_timeout);
    let stalled: Vec<BridgeId> = w
        .bridges
        .iter_mut()
        .filter_map(|(id, b)| {
            let stuck = b.request.stuck_for(now).max(b.response.stuck_for(now));
            (stuck >= limit).then_some(id)
        })
        .collect();
    for id in stalled {
        abort(w, id, Abort::Stalled);
    }
}

/// The worker holds more than `budget`: the streams holding the most are ended until it holds
/// seven eighths of it (so that one more frame does not start it again).
fn enforce_budget<E: Events>(w: &mut Worker<E>, budget: usize) {
    let mut held: Vec<(usize, BridgeId)> = w
        .bridges
        .iter_mut()
        .map(|(id, b)| (b.request.data.held() + b.response.data.held(), id))
        .filter(|&(n, _)| n > 0)
        .collect();
    held.sort_unstable_by_key(|&(n, _)| Reverse(n));
    let target = budget / 8 * 7;
    for (_, id) in held {
        if w.meter.get() <= target {
            break;
        }
        abort(w, id, Abort::OverBudget);
    }
}
