//! Streams the gateway ends itself: a route timeout passed, waiting bytes stopped moving, or the
//! worker's buffer budget ran out. Each ends on both legs with every byte it held given back to
//! flow control, so a shared upstream connection keeps its window whatever its clients do.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use super::{BridgeId, End, settle};
use crate::h2::conn::Connection;
use crate::h2::error::ErrorCode;
use crate::proxy::gateway::Shared;
use crate::proxy::local::Reason;

/// Why the gateway ends a proxied stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::proxy) enum Abort {
    /// The route's timeout passed: 504 / gRPC 4, and a gateway error for outlier detection.
    Timeout,
    /// Its waiting bytes did not move for the stall timeout.
    Stalled,
    /// The worker's buffer budget ran out, and it held the most.
    OverBudget,
}

impl Abort {
    /// The client's local answer, when its response has not started.
    pub(super) fn reason(self) -> Reason {
        match self {
            Abort::Timeout => Reason::Timeout,
            Abort::Stalled => Reason::Stalled,
            Abort::OverBudget => Reason::OverBudget,
        }
    }

    /// The client stream's reset, once its response started.
    pub(super) fn reset_code(self) -> ErrorCode {
        match self {
            Abort::OverBudget => ErrorCode::ENHANCE_YOUR_CALM,
            Abort::Timeout | Abort::Stalled => ErrorCode::CANCEL,
        }
    }
}

/// Cancellations on one upstream connection per [`CANCEL_WINDOW`] before it is replaced instead
/// (a quarter of the reset budget h2edge itself grants a peer: an upstream that counts resets
/// against Rapid Reset must never see the gateway as an attacker).
const MAX_CANCELS: u32 = 100;
const CANCEL_WINDOW: Duration = Duration::from_secs(10);

/// Ends bridge `id` on both legs for `why` (every connection is in the table).
pub(in crate::proxy) fn abort(shared: &mut Shared, id: BridgeId, why: Abort) {
    if why == Abort::Timeout {
        if let Some(b) = shared.bridges.get(id).filter(|b| b.upstream.is_some()) {
            // A backend that does not answer in time is failing, as Envoy counts it.
            let endpoint = b.endpoint;
            shared.record_answer(endpoint, 504);
        }
    }
    settle(shared, None, id, End::Aborted(why));
}

/// Route timeouts that are due: their streams end (504 / gRPC 4 DEADLINE_EXCEEDED, or a reset once
/// their response started). Entries of streams that ended stay until due or pruned; their ids no
/// longer reach a bridge.
pub(in crate::proxy) fn expire(shared: &mut Shared) {
    let now = shared.now;
    while let Some(&Reverse((at, id))) = shared.deadlines.peek() {
        if at > now {
            break;
        }
        shared.deadlines.pop();
        abort(shared, id, Abort::Timeout);
    }
    // Drop the entries of ended streams once they are half the heap, so it stays within twice the
    // live streams with a timeout (amortised O(1) per stream).
    if shared.deadlines.len() > shared.prune_deadlines_at {
        let bridges = &shared.bridges;
        shared
            .deadlines
            .retain(|&Reverse((_, id))| bridges.get(id).is_some());
        shared.prune_deadlines_at = (2 * shared.deadlines.len()).max(MIN_DEADLINE_PRUNE);
    }
}

/// Route-timeout entries a worker keeps before it first prunes ended ones.
pub(in crate::proxy) const MIN_DEADLINE_PRUNE: usize = 4096;

/// Streams the gateway cancelled on one upstream connection lately.
pub(in crate::proxy) struct Cancels {
    count: u32,
    since: Instant,
}

impl Cancels {
    pub(in crate::proxy) fn new(now: Instant) -> Self {
        Cancels {
            count: 0,
            since: now,
        }
    }

    /// Cancels upstream stream `stream`, which the gateway no longer needs. Many cancellations on
    /// one connection in a short time (a stalled backend whose streams all time out) would look
    /// like Rapid Reset to an upstream that counts resets, so past [`MAX_CANCELS`] per
    /// [`CANCEL_WINDOW`] the connection is replaced instead (`retired`): GOAWAY, no new streams,
    /// and the stream is dropped without a frame (its late frames are ignored). The connection
    /// closes once its last stream ends, which ends the dropped ones upstream; its other streams
    /// finish undisturbed.
    pub(super) fn cancel(
        &mut self,
        h2: &mut Connection,
        stream: u32,
        retired: &mut bool,
        now: Instant,
    ) {
        if now.saturating_duration_since(self.since) >= CANCEL_WINDOW {
            self.count = 0;
            self.since = now;
        }
        self.count += 1;
        if self.count <= MAX_CANCELS {
            h2.reset(stream, ErrorCode::CANCEL);
            return;
        }
        if !*retired {
            *retired = true;
            h2.go_away(ErrorCode::NO_ERROR, b"replaced: many streams cancelled");
        }
        h2.forget(stream);
    }
}

/// Once per loop turn, with every connection in the table: streams over the buffer budget, and
/// (every quarter of the stall timeout, at most once per second) streams whose bytes stopped.
pub(in crate::proxy) fn tend(shared: &mut Shared) {
    let limits = shared.config.buffers;
    if shared.meter.get() > limits.budget {
        enforce_budget(shared, limits.budget);
    }
    let now = shared.now;
    if shared.next_stall_check.is_some_and(|at| at > now) {
        return;
    }
    let every =
        (limits.stall_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    shared.next_stall_check = Some(now + every);
    shared.bridges.trim();
    if shared.meter.get() == 0 {
        return;
    }
    let stalled: Vec<BridgeId> = shared
        .bridges
        .iter_mut()
        .filter_map(|(id, b)| {
            let stuck = b.request.stuck_for(now).max(b.response.stuck_for(now));
            (stuck >= limits.stall_timeout).then_some(id)
        })
        .collect();
    for id in stalled {
        abort(shared, id, Abort::Stalled);
    }
}

/// The worker holds more than `budget`: the streams holding the most are ended until it holds
/// seven eighths of it (so that one more frame does not start it again).
fn enforce_budget(shared: &mut Shared, budget: usize) {
    let mut held: Vec<(usize, BridgeId)> = shared
        .bridges
        .iter_mut()
        .map(|(id, b)| (b.request.data.held() + b.response.data.held(), id))
        .filter(|&(n, _)| n > 0)
        .collect();
    held.sort_unstable_by_key(|&(n, _)| Reverse(n));
    let target = budget / 8 * 7;
    for (_, id) in held {
        if shared.meter.get() <= target {
            break;
        }
        abort(shared, id, Abort::OverBudget);
    }
}
