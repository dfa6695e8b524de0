//! One worker's timers: every deadline of its connections and streams in one heap, each entry
//! naming what it is for (as quinn-proto's `connection/timer.rs` names its timers).
//!
//! An entry is never taken out when its deadline moves or its object goes. It names the object by
//! a generational id, and when it comes due its owner looks at what is due now: an entry whose
//! object is gone finds nothing, one whose deadline moved later arms the real one. Entries of
//! objects that are gone are dropped once they could be half the heap, so it stays within twice
//! the live entries (amortised O(1) per entry).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::ids::ConnId;
use super::streams::BridgeId;

/// What a timer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// A connection's HTTP/2 timers (acknowledgements, GOAWAY phases) and, for a client, its
    /// limits (handshake, preface, headers, idle, lingering output).
    Conn(ConnId),
    /// A stream's route timeout.
    Deadline(BridgeId),
    /// An upstream connection that has not answered by then has failed.
    Connect(ConnId),
    /// An upstream connection's keepalive PING, its answer, and its life (age, time idle).
    Upkeep(ConnId),
    /// A pool endpoint's connect backoff or outlier ejection ends.
    Reinstate(usize),
    /// The streams are looked at for stalls, and the stream slab for memory to give back.
    Sweep,
}

/// Entries kept before the first pruning.
const MIN_PRUNE: usize = 4096;

pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
    prune_at: usize,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            prune_at: MIN_PRUNE,
        }
    }
}

impl Timers {
    pub(super) fn arm(&mut self, at: Instant, timer: Timer) {
        self.heap.push(Reverse((at, timer)));
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The earliest timer, if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse((_, t))| t),
            _ => None,
        }
    }

    /// Drops the entries whose object is gone (`live` says which are not), once the heap is past
    /// twice what it held after the last pruning.
    pub(super) fn prune(&mut self, mut live: impl FnMut(&Timer) -> bool) {
        if self.heap.len() <= self.prune_at {
            return;
        }
        self.heap.retain(|Reverse((_, t))| live(t));
        self.prune_at = (2 * self.heap.len()).max(MIN_PRUNE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_timers_come_out_earliest_first_and_pruning_keeps_the_live_ones() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.arm(t0 + Duration::from_secs(2), Timer::Sweep);
        timers.arm(t0 + Duration::from_secs(1), Timer::Reinstate(3));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let later = t0 + Duration::from_secs(5);
        assert_eq!(timers.pop_due(later), Some(Timer::Reinstate(3)));
        assert_eq!(timers.pop_due(later), Some(Timer::Sweep));
        assert_eq!(timers.pop_due(later), None);
        for i in 0..=MIN_PRUNE {
            timers.arm(later, Timer::Reinstate(i));
        }
        timers.prune(|t| matches!(t, Timer::Reinstate(i) if i % 2 == 0));
        assert_eq!(timers.heap.len(), MIN_PRUNE / 2 + 1);
    }
}
