//! Abuse budgets: the counters behind [`Limits`](super::Limits).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// An abuse limit a peer can trip (each a field of [`Limits`](super::Limits)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// A header block longer than the header list may be (HPACK bombs, endless blocks).
    HeaderBlock,
    /// Too many CONTINUATION frames in one block (CONTINUATION flood).
    Continuations,
    /// Too many frames in a row that carry nothing.
    EmptyFrames,
    /// Too many requests answered `431` in a window (repeated HPACK bombs).
    RejectedHeaders,
    /// Too many control frames (PING, SETTINGS, RST_STREAM answers) queued unread.
    ControlFrames,
    /// Too many streams reset in a window (Rapid Reset, MadeYouReset).
    Resets,
    /// Too many WINDOW_UPDATE frames per DATA frame sent.
    WindowUpdates,
}

impl Limit {
    /// Every limit, for the metrics that count them.
    pub const ALL: [Limit; 7] = [
        Limit::HeaderBlock,
        Limit::Continuations,
        Limit::EmptyFrames,
        Limit::RejectedHeaders,
        Limit::ControlFrames,
        Limit::Resets,
        Limit::WindowUpdates,
    ];

    /// Its name as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Limit::HeaderBlock => "header_block",
            Limit::Continuations => "continuation_frames",
            Limit::EmptyFrames => "empty_frames",
            Limit::RejectedHeaders => "rejected_headers",
            Limit::ControlFrames => "control_frames",
            Limit::Resets => "resets",
            Limit::WindowUpdates => "window_updates",
        }
    }
}

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

/// WINDOW_UPDATE frames received against the DATA frames sent: a peer needs about one per DATA
/// frame it reads (stream and connection), a flood of them only costs us work.
#[derive(Debug, Default)]
pub(super) struct WindowUpdates {
    received: u64,
    data_sent: u64,
}

/// WINDOW_UPDATE frames any connection may send beyond its share, for stream openings, SETTINGS
/// changes and a peer's own window tuning (a BDP estimator).
const WINDOW_UPDATE_SLACK: u64 = 1000;

impl WindowUpdates {
    /// `n` DATA frames were queued for the peer.
    pub fn data_sent(&mut self, n: u64) {
        self.data_sent = self.data_sent.saturating_add(n);
    }

    /// One WINDOW_UPDATE arrived; true if that exceeds `per_data` per DATA frame sent, plus the
    /// slack.
    pub fn received(&mut self, per_data: u32) -> bool {
        self.received = self.received.saturating_add(1);
        let allowed =
            WINDOW_UPDATE_SLACK.saturating_add(self.data_sent.saturating_mul(u64::from(per_data)));
        self.received > allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_updates_are_allowed_per_data_frame_sent() {
        let mut w = WindowUpdates::default();
        for _ in 0..WINDOW_UPDATE_SLACK {
            assert!(!w.received(10));
        }
        assert!(w.received(10));
        let mut w = WindowUpdates::default();
        w.data_sent(100);
        for _ in 0..WINDOW_UPDATE_SLACK + 1000 {
            assert!(!w.received(10));
        }
        assert!(w.received(10));
    }

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
