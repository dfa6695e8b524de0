//! What the workers count, for `/metrics`: each worker reports through its [`Recorder`] (the
//! gateway's [`Events`] sink) into counters of its own, and a scrape sums them.
//!
//! A worker is the only writer of its counters, so an increment is a plain load and store
//! (relaxed atomics, no read-modify-write, no lock): on x86-64 the same instructions as a plain
//! `u64`, on cache lines no other worker writes. The scrape thread only reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::h2::conn::Limit;
use crate::proxy::events::{EndpointRef, Events, Outcome, StreamEnd};
use crate::proxy::local::Reason;

/// One counter, written by one thread.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How a stream ended, as a metric label (the order of [`WorkerCounters::ended`]).
pub const OUTCOMES: [&str; 4] = ["complete", "client_gone", "upstream_failed", "local"];
/// HTTP status classes (`1xx` to `5xx`, the order of [`WorkerCounters::responses`]).
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One worker's counters. Aligned so that no two workers' counters share a cache line.
#[derive(Default, Debug)]
#[repr(align(128))]
pub struct WorkerCounters {
    pub streams: Counter,
    pub ended: [Counter; 4],
    pub responses: [Counter; 5],
    pub local: [Counter; Reason::ALL.len()],
    pub replays: Counter,
    pub upstream_answered: Counter,
    pub upstream_failed: Counter,
    pub upstream_goaways: Counter,
    pub ejections: Counter,
    /// Per limit, from clients then from upstreams.
    pub limits: [[Counter; Limit::ALL.len()]; 2],
}

/// Every worker's counters.
#[derive(Default, Debug)]
pub struct Registry {
    /// Touched when a worker starts and at each scrape, never per request.
    workers: Mutex<Vec<Arc<WorkerCounters>>>,
}

impl Registry {
    /// Counters for a new worker.
    pub fn worker(&self) -> Recorder {
        let c = Arc::new(WorkerCounters::default());
        self.workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(c.clone());
        Recorder(c)
    }

    /// `f(worker)` summed over the workers.
    pub fn sum(&self, f: impl Fn(&WorkerCounters) -> u64) -> u64 {
        let workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        workers.iter().map(|w| f(w)).fold(0, u64::wrapping_add)
    }
}

/// A worker's [`Events`] sink: it counts.
pub struct Recorder(Arc<WorkerCounters>);

impl Events for Recorder {
    fn stream_started(&mut self, _listener: usize) {
        self.0.streams.add(1);
    }

    fn local_answer(&mut self, _listener: usize, reason: Reason) {
        self.0.local[reason.index()].add(1);
    }

    fn answered(&mut self, _endpoint: EndpointRef, status: u16) {
        if let Some(c) = self
            .0
            .responses
            .get(usize::from(status / 100).wrapping_sub(1))
        {
            c.add(1);
        }
    }

    fn stream_ended(&mut self, end: &StreamEnd) {
        let i = match end.outcome {
            Outcome::Complete => 0,
            Outcome::ClientGone => 1,
            Outcome::UpstreamFailed(_) => 2,
            Outcome::Local(_) => 3,
        };
        self.0.ended[i].add(1);
    }

    fn replayed(&mut self, _endpoint: EndpointRef) {
        self.0.replays.add(1);
    }

    fn upstream_connected(&mut self, _endpoint: EndpointRef) {
        self.0.upstream_answered.add(1);
    }

    fn upstream_failed(&mut self, _endpoint: EndpointRef) {
        self.0.upstream_failed.add(1);
    }

    fn upstream_goaway(&mut self, _endpoint: EndpointRef, _code: crate::h2::ErrorCode) {
        self.0.upstream_goaways.add(1);
    }

    fn ejected(&mut self, _endpoint: EndpointRef, _until: std::time::Instant) {
        self.0.ejections.add(1);
    }

    fn limit_tripped(&mut self, limit: Limit, upstream: bool) {
        if let Some(i) = Limit::ALL.iter().position(|&l| l == limit) {
            self.0.limits[usize::from(upstream)][i].add(1);
        }
    }
}
