//! Flow-control windows (RFC 9113 §5.2, §6.9).
//!
//! Send windows are signed: a SETTINGS_INITIAL_WINDOW_SIZE decrease can make them negative (§6.9.2).
//! Receive windows track the credit the peer has left, the bytes the application holds, and the bytes
//! given back but not yet announced with WINDOW_UPDATE (announced in batches).

use crate::h2::frame::MAX_WINDOW;

/// Our right to send: the peer's window for us.
#[derive(Clone, Copy, Debug)]
pub(super) struct SendWindow {
    window: i64,
}

/// The window grew past 2^31 - 1 (§6.9.1): a FLOW_CONTROL_ERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Overflow;

impl SendWindow {
    pub fn new(window: i64) -> SendWindow {
        SendWindow { window }
    }

    /// A WINDOW_UPDATE increment.
    pub fn increase(&mut self, increment: u32) -> Result<(), Overflow> {
        self.adjust(i64::from(increment))
    }

    /// A SETTINGS_INITIAL_WINDOW_SIZE change (`delta` may be negative).
    pub fn adjust(&mut self, delta: i64) -> Result<(), Overflow> {
        let w = self.window.saturating_add(delta);
        if w > i64::from(MAX_WINDOW) {
            return Err(Overflow);
        }
        self.window = w;
        Ok(())
    }

    /// Bytes we may send now.
    pub fn available(&self) -> usize {
        usize::try_from(self.window.max(0)).unwrap_or(usize::MAX)
    }

    pub fn consume(&mut self, n: usize) {
        self.window = self
            .window
            .saturating_sub(i64::try_from(n).unwrap_or(i64::MAX));
    }

    #[cfg(test)]
    pub fn get(&self) -> i64 {
        self.window
    }
}

/// The peer's right to send to us.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecvFlow {
    /// Credit the peer has left.
    window: i64,
    /// Bytes handed to the application and not yet released.
    unreleased: u64,
    /// Bytes given back but not yet announced.
    pending: u64,
}

impl RecvFlow {
    pub fn new(window: i64) -> RecvFlow {
        RecvFlow {
            window,
            unreleased: 0,
            pending: 0,
        }
    }

    /// The peer sent `n` flow-controlled bytes. False (and no change) if they exceed its credit.
    pub fn receive(&mut self, n: u32) -> bool {
        let n = i64::from(n);
        if n > self.window {
            return false;
        }
        self.window -= n;
        true
    }

    /// `n` of the received bytes went to the application, which will release them.
    pub fn deliver(&mut self, n: usize) {
        self.unreleased = self.unreleased.saturating_add(n as u64);
    }

    /// The application gives back up to `n` delivered bytes; returns how many were taken.
    pub fn release(&mut self, n: usize) -> u64 {
        let n = (n as u64).min(self.unreleased);
        self.unreleased -= n;
        self.pending = self.pending.saturating_add(n);
        n
    }

    /// Bytes that were received but never delivered (padding, discarded data) go straight back.
    pub fn release_undelivered(&mut self, n: u64) {
        self.pending = self.pending.saturating_add(n);
    }

    /// Everything the application still holds goes back (its stream was reset).
    pub fn release_all(&mut self) -> u64 {
        let n = self.unreleased;
        self.unreleased = 0;
        self.pending = self.pending.saturating_add(n);
        n
    }

    /// If at least `threshold` bytes (and at least one) are pending, re-opens the window by that much
    /// and returns the WINDOW_UPDATE increment to send.
    pub fn take_update(&mut self, threshold: u64) -> Option<u32> {
        if self.pending == 0 || self.pending < threshold {
            return None;
        }
        // Never announce a window above 2^31 - 1.
        let room = i64::from(MAX_WINDOW).saturating_sub(self.window).max(0) as u64;
        let inc = self.pending.min(room).min(u64::from(MAX_WINDOW));
        if inc == 0 {
            return None;
        }
        self.pending -= inc;
        self.window += inc as i64;
        u32::try_from(inc).ok()
    }

    /// Shifts the window (our SETTINGS_INITIAL_WINDOW_SIZE took effect).
    pub fn adjust(&mut self, delta: i64) {
        self.window = self.window.saturating_add(delta);
    }

    #[cfg(test)]
    pub fn window(&self) -> i64 {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_window_overflow_and_negative() {
        let mut w = SendWindow::new(65_535);
        assert_eq!(w.increase(MAX_WINDOW), Err(Overflow));
        assert_eq!(w.get(), 65_535);
        w.adjust(-70_000).unwrap();
        assert_eq!(w.available(), 0);
        w.increase(10_000).unwrap();
        assert_eq!(w.available(), 5_535);
    }

    #[test]
    fn recv_flow_batches_updates() {
        let mut r = RecvFlow::new(100);
        assert!(r.receive(60));
        assert!(!r.receive(41));
        r.deliver(50);
        r.release_undelivered(10);
        assert_eq!(r.release(80), 50);
        assert_eq!(r.take_update(70), None);
        assert_eq!(r.take_update(50), Some(60));
        assert_eq!(r.window(), 100);
    }
}
