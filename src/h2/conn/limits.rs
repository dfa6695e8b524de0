//! Abuse budgets: the counters behind [`Limits`](super::Limits).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Resets per time window (Rapid Reset, MadeYouReset). A fixed window: it starts at the first reset
/// counted and restarts at the first reset after it expired.
#[derive(Debug, Default)]
pub(super) struct ResetBudget {
    start: Option<Instant>,
    count: u32,
}

impl ResetBudget {
    /// Counts one reset at `now`; true if that exceeds `max` within `window`.
    pub fn record(&mut self, now: Instant, max: u32, window: Duration) -> bool {
        match self.start {
            Some(start) if now.saturating_duration_since(start) < window => {}
            _ => {
                self.start = Some(now);
                self.count = 0;
            }
        }
        self.count = self.count.saturating_add(1);
        self.count > max
    }
}

/// Control frames queued in the output buffer and not yet taken by the writer. Remembers where each
/// one ends (as an absolute output position), so partial writes retire exactly the frames written.
#[derive(Debug, Default)]
pub(super) struct ControlQueue {
    ends: VecDeque<u64>,
}

impl ControlQueue {
    /// A control frame was queued ending at absolute output position `end`; returns how many are
    /// pending now.
    pub fn push(&mut self, end: u64) -> usize {
        self.ends.push_back(end);
        self.ends.len()
    }

    /// The writer has taken the output up to absolute position `taken`.
    pub fn retire(&mut self, taken: u64) {
        while self.ends.front().is_some_and(|&e| e <= taken) {
            self.ends.pop_front();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Consecutive frames that carry nothing (empty DATA without END_STREAM, empty header fragments).
#[derive(Debug, Default)]
pub(super) struct EmptyFrames {
    count: u32,
}

impl EmptyFrames {
    /// One empty frame; true if that exceeds `max`.
    pub fn empty(&mut self, max: u32) -> bool {
        self.count = self.count.saturating_add(1);
        self.count > max
    }

    /// A frame that made progress.
    pub fn progress(&mut self) {
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_budget_window_restarts() {
        let t0 = Instant::now();
        let w = Duration::from_secs(10);
        let mut b = ResetBudget::default();
        assert!(!b.record(t0, 2, w));
        assert!(!b.record(t0, 2, w));
        assert!(b.record(t0 + Duration::from_secs(1), 2, w));
        let mut b = ResetBudget::default();
        assert!(!b.record(t0, 1, w));
        assert!(!b.record(t0 + w, 1, w));
    }

    #[test]
    fn control_queue_retires_written_frames() {
        let mut q = ControlQueue::default();
        q.push(17);
        q.push(34);
        q.retire(20);
        assert_eq!(q.len(), 1);
        q.retire(34);
        assert_eq!(q.len(), 0);
    }
}
