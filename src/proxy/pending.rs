//! Body bytes one leg of a proxied stream has delivered and the other cannot take yet, and the
//! worker's meter of them (its buffer budget, see `bridge::enforce_budget`).
//!
//! Every queue holds a handle to its worker's [`Meter`] and keeps it exact on push, send and drop,
//! so no path that ends a stream can forget to give its bytes back to the budget.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use crate::h2::fields::FieldList;

/// Body bytes waiting in every queue of one worker. The gateway and its queues live on the
/// worker's thread only, so a plain cell does: no atomic, no lock.
#[derive(Clone, Default)]
pub(super) struct Meter(Rc<Cell<usize>>);

impl Meter {
    pub(super) fn get(&self) -> usize {
        self.0.get()
    }

    fn add(&self, n: usize) {
        self.0.set(self.0.get().saturating_add(n));
    }

    fn sub(&self, n: usize) {
        self.0.set(self.0.get().saturating_sub(n));
    }
}

/// Body bytes waiting for flow-control room: added at the back, sent from the front. Sending moves
/// an offset, and the rest is shifted down only once the sent part is at least half the buffer, so
/// each byte moves about once. (Draining the front on every send moved the whole rest each time:
/// with 1 MiB messages that was most of the gateway's copying.)
///
/// The meter counts the memory a queue with bytes waiting holds (its buffer's capacity), not just
/// the bytes: that is what the budget must bound. Once empty, a queue keeps at most [`KEEP`] bytes
/// of room for the next burst (not metered: it is bounded per stream, like the stream's other
/// fixed state) and gives the rest back.
pub(super) struct ByteQueue {
    buf: Vec<u8>,
    start: usize,
    meter: Meter,
    /// The capacity the meter was last told of.
    counted: usize,
}

/// Room an empty queue keeps: one DATA frame of the default size, so a stream that moves small
/// messages allocates nothing per message.
const KEEP: usize = 16 << 10;

impl ByteQueue {
    pub(super) fn new(meter: &Meter) -> Self {
        ByteQueue {
            buf: Vec::new(),
            start: 0,
            meter: meter.clone(),
            counted: 0,
        }
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    pub(super) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub(super) fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    pub(super) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.recount();
    }

    /// The first `n` bytes were sent.
    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
        if self.start == self.buf.len() {
            if self.buf.capacity() > KEEP {
                self.buf = Vec::new();
            }
            self.buf.clear();
            self.start = 0;
            self.recount();
        } else if self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Puts `buf` in the place of what waits (a replayed request body).
    pub(super) fn replace(&mut self, buf: Vec<u8>) {
        self.buf = buf;
        self.start = 0;
        self.recount();
    }

    /// The memory it holds for waiting bytes, as metered.
    pub(super) fn held(&self) -> usize {
        self.counted
    }

    /// Tells the meter of a change in the memory held.
    fn recount(&mut self) {
        let now = if self.is_empty() {
            0
        } else {
            self.buf.capacity()
        };
        if now != self.counted {
            self.meter.sub(self.counted);
            self.meter.add(now);
            self.counted = now;
        }
    }
}

impl Drop for ByteQueue {
    fn drop(&mut self) {
        self.meter.sub(self.counted);
    }
}

/// Body bytes (and the end of the message) one leg has delivered and the other cannot take yet,
/// and whether they still move (the stall check).
pub(super) struct Pending {
    pub(super) data: ByteQueue,
    pub(super) end: bool,
    /// Boxed: trailers wait only behind body bytes, and the slot stays small.
    pub(super) trailers: Option<Box<FieldList>>,
    /// Bytes sent out of `data` so far (wrapping: only compared for change), and that count when
    /// the stall check last looked.
    sent: u32,
    seen: u32,
    /// Since when the stall check has found bytes waiting and none sent.
    stuck_since: Option<Instant>,
}

impl Pending {
    pub(super) fn new(meter: &Meter) -> Self {
        Pending {
            data: ByteQueue::new(meter),
            end: false,
            trailers: None,
            sent: 0,
            seen: 0,
            stuck_since: None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.data.is_empty() && !self.end && self.trailers.is_none()
    }

    /// The first `n` waiting bytes were sent.
    pub(super) fn sent(&mut self, n: usize) {
        self.data.consume(n);
        self.sent = self.sent.wrapping_add(n as u32);
    }

    /// The stall check at `now`: how long bytes have waited here without any being sent (zero
    /// when none wait or some moved since the last look).
    pub(super) fn stuck_for(&mut self, now: Instant) -> std::time::Duration {
        if self.data.is_empty() || self.sent != self.seen {
            self.seen = self.sent;
            self.stuck_since = None;
            return std::time::Duration::ZERO;
        }
        now.saturating_duration_since(*self.stuck_since.get_or_insert(now))
    }
}

#[cfg(test)]
mod tests {
    use super::{ByteQueue, Meter, Pending};
    use std::time::{Duration, Instant};

    /// Pushes and partial sends of varying sizes keep the bytes in order, as a plain queue would,
    /// and the meter follows the bytes waiting.
    #[test]
    fn byte_queue_keeps_order_through_sends_and_compaction() {
        let meter = Meter::default();
        let mut q = ByteQueue::new(&meter);
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u8;
        let mut x = 12345u32;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let push = (x >> 16) as usize % 300;
            let chunk: Vec<u8> = (0..push)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            q.push(&chunk);
            model.extend(&chunk);
            let take = (x >> 8) as usize % 400;
            let n = take.min(q.len());
            assert_eq!(
                &q.as_slice()[..n],
                &model.drain(..n).collect::<Vec<u8>>()[..]
            );
            q.consume(take);
            assert_eq!(q.len(), model.len());
            let held = if q.is_empty() { 0 } else { q.buf.capacity() };
            assert_eq!(meter.get(), held);
            assert!(meter.get() >= q.len());
            assert_eq!(q.is_empty(), model.is_empty());
            // Room taken by sent bytes stays below the bytes still waiting (plus one push).
            assert!(q.start <= q.buf.len() / 2 + 1 || q.is_empty());
        }
        assert_eq!(q.as_slice(), model.iter().copied().collect::<Vec<u8>>());
    }

    /// The meter counts the memory every queue of the worker holds; a dropped or replaced queue
    /// gives its memory back, and an emptied one keeps at most `KEEP`.
    #[test]
    fn meter_follows_the_memory_held() {
        let meter = Meter::default();
        let mut a = ByteQueue::new(&meter);
        let mut b = ByteQueue::new(&meter);
        a.push(&[0; 100 << 10]);
        b.push(&[0; 50]);
        let held = a.buf.capacity() + b.buf.capacity();
        assert!(held >= (100 << 10) + 50);
        assert_eq!(meter.get(), held);
        a.replace(vec![0; 10]);
        assert_eq!(meter.get(), a.buf.capacity() + b.buf.capacity());
        drop(b);
        assert_eq!(meter.get(), a.buf.capacity());
        a.push(&[0; 200 << 10]);
        a.consume(a.len());
        assert_eq!(meter.get(), 0, "a large buffer is given back once empty");
        a.push(&[0; 100]);
        a.consume(100);
        assert_eq!(meter.get(), 0);
        assert!(
            a.buf.capacity() > 0 && a.buf.capacity() <= super::KEEP,
            "a small one is kept"
        );
        drop(a);
        assert_eq!(meter.get(), 0);
    }

    /// Bytes that wait and do not move count as stuck from the first look; a send clears it.
    #[test]
    fn stall_check_measures_time_without_progress() {
        let meter = Meter::default();
        let mut p = Pending::new(&meter);
        let t0 = Instant::now();
        assert_eq!(p.stuck_for(t0), Duration::ZERO);
        p.data.push(&[1; 10]);
        assert_eq!(p.stuck_for(t0), Duration::ZERO);
        assert_eq!(
            p.stuck_for(t0 + Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        p.sent(5);
        assert_eq!(p.stuck_for(t0 + Duration::from_secs(4)), Duration::ZERO);
        assert_eq!(p.stuck_for(t0 + Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(
            p.stuck_for(t0 + Duration::from_secs(9)),
            Duration::from_secs(4)
        );
    }
}
