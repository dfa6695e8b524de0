//! Streams the gateway ends itself: a route timeout passed, waiting bytes stopped moving, or the
//! worker's buffer budget ran out. Each ends on both legs with every byte it held given back to
//! flow control, so a w upstream connection keeps its window whatever its clients do.

use std::cmp::Reverse;
use std::time::Duration;

use super::settle::{Abort, End, settle};
use crate::proxy::streams::BridgeId;
use crate::proxy::worker::{MIN_DEADLINE_PRUNE, Worker};

/// Ends bridge `id` on both legs for `why` (every connection is in the table).
pub(in crate::proxy) fn abort(w: &mut Worker, id: BridgeId, why: Abort) {
    if why == Abort::Timeout {
        if let Some(b) = w.bridges.get(id).filter(|b| b.upstream.is_some()) {
            // A backend that does not answer in time is failing, as Envoy counts it.
            let endpoint = b.endpoint;
            w.record_answer(endpoint, 504);
        }
    }
    settle(w, None, id, End::Aborted(why));
}

/// Route timeouts that are due: their streams end (504 / gRPC 4 DEADLINE_EXCEEDED, or a reset once
/// their response started). Entries of streams that ended stay until due or pruned; their ids no
/// longer reach a bridge.
pub(in crate::proxy) fn expire(w: &mut Worker) {
    let now = w.now;
    while let Some(&Reverse((at, id))) = w.deadlines.peek() {
        if at > now {
            break;
        }
        w.deadlines.pop();
        abort(w, id, Abort::Timeout);
    }
    // Drop the entries of ended streams once they are half the heap, so it stays within twice the
    // live streams with a timeout (amortised O(1) per stream).
    if w.deadlines.len() > w.prune_deadlines_at {
        let bridges = &w.bridges;
        w.deadlines
            .retain(|&Reverse((_, id))| bridges.get(id).is_some());
        w.prune_deadlines_at = (2 * w.deadlines.len()).max(MIN_DEADLINE_PRUNE);
    }
}

/// Once per loop turn, with every connection in the table: streams over the buffer budget, and
/// (every quarter of the stall timeout, at most once per second) streams whose bytes stopped.
pub(in crate::proxy) fn tend(w: &mut Worker) {
    let limits = w.config.buffers;
    if w.meter.get() > limits.budget {
        enforce_budget(w, limits.budget);
    }
    let now = w.now;
    if w.next_stall_check.is_some_and(|at| at > now) {
        return;
    }
    let every =
        (limits.stall_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    w.next_stall_check = Some(now + every);
    w.bridges.trim();
    if w.meter.get() == 0 {
        return;
    }
    let stalled: Vec<BridgeId> = w
        .bridges
        .iter_mut()
        .filter_map(|(id, b)| {
            let stuck = b.request.stuck_for(now).max(b.response.stuck_for(now));
            (stuck >= limits.stall_timeout).then_some(id)
        })
        .collect();
    for id in stalled {
        abort(w, id, Abort::Stalled);
    }
}

/// The worker holds more than `budget`: the streams holding the most are ended until it holds
/// seven eighths of it (so that one more frame does not start it again).
fn enforce_budget(w: &mut Worker, budget: usize) {
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
