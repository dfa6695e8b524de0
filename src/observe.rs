//! What the workers count, for `/metrics`: each worker reports through its [`Recorder`] (the
//! gateway's [`Events`] sink) into counters of its own, and a scrape sums them.
//!
//! A worker is the only writer of its counters, so an increment is a plain load and store
//! (relaxed atomics, no read-modify-write, no lock): on x86-64 the same instructions as a plain
//! `u64`, on cache lines no other worker writes. The scrape thread only reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::h2::conn::Limit;
use crate::proxy::events::{EndpointRef, Events, Outcome, StreamEnd};
use crate::proxy::local::Reason;
use crate::proxy::settings::{GatewayConfig, Service};

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
/// HTTP status classes (`1xx` to `5xx`, the order of [`Endpoints::responses`]).
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One worker's counters. Aligned so that no two workers' counters share a cache line.
#[derive(Default, Debug)]
#[repr(align(128))]
pub struct WorkerCounters {
    pub streams: Counter,
    pub ended: [Counter; 4],
    /// Per endpoint of the configuration in force; replaced (by the worker) when one takes effect.
    pub endpoints: Mutex<Arc<Endpoints>>,
    pub local: [Counter; Reason::ALL.len()],
    pub replays: Counter,
    pub upstream_answered: Counter,
    pub upstream_failed: Counter,
    pub upstream_goaways: Counter,
    pub ejections: Counter,
    /// Per limit, from clients then from upstreams.
    pub limits: [[Counter; Limit::ALL.len()]; 2],
}

/// Upstream answers per endpoint, by status class, for one configuration.
#[derive(Default, Debug)]
pub struct Endpoints {
    /// (cluster name, endpoint id) of each entry.
    pub labels: Vec<(String, String)>,
    /// Where each cluster's endpoints start.
    first: Vec<usize>,
    pub responses: Vec<[Counter; 5]>,
    /// `grpc-status` 0 to 16, then anything else (missing included).
    pub grpc: Vec<[Counter; GRPC_CODES + 1]>,
}

/// The gRPC status codes (0 OK to 16 UNAUTHENTICATED).
pub const GRPC_CODES: usize = 17;

impl Endpoints {
    /// The endpoints of `config`, with the counts of those that were in `old` already (Prometheus
    /// counters never go down while their series exists).
    fn of(config: &GatewayConfig, old: &Endpoints) -> Endpoints {
        let mut e = Endpoints::default();
        if let Service::Proxy(up) = &config.service {
            for cluster in &up.clusters {
                e.first.push(e.labels.len());
                let name = cluster.balance.name();
                for spec in cluster.balance.endpoints() {
                    e.labels.push((name.to_string(), spec.id.clone()));
                }
            }
        }
        e.responses = e.labels.iter().map(|_| Default::default()).collect();
        e.grpc = e.labels.iter().map(|_| Default::default()).collect();
        for (i, label) in old.labels.iter().enumerate() {
            if let Some(j) = e.labels.iter().position(|l| l == label) {
                for (to, from) in e.responses[j].iter().zip(&old.responses[i]) {
                    to.add(from.get());
                }
                for (to, from) in e.grpc[j].iter().zip(&old.grpc[i]) {
                    to.add(from.get());
                }
            }
        }
        e
    }

    fn index(&self, ep: EndpointRef) -> Option<usize> {
        Some(self.first.get(ep.cluster)? + ep.endpoint)
    }
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
        Recorder {
            endpoints: Arc::default(),
            counters: c,
        }
    }

    /// Upstream answers per (cluster, endpoint, status class), summed over the workers.
    pub fn responses(&self) -> BTreeMap<(String, String, usize), u64> {
        self.per_endpoint(|e| &e.responses[..])
    }

    /// gRPC answers per (cluster, endpoint, `grpc-status`; [`GRPC_CODES`] for any other),
    /// summed over the workers.
    pub fn grpc(&self) -> BTreeMap<(String, String, usize), u64> {
        self.per_endpoint(|e| &e.grpc[..])
    }

    /// The counters `f` picks of each endpoint, summed over the workers by (cluster, endpoint,
    /// index).
    fn per_endpoint<const N: usize>(
        &self,
        f: impl Fn(&Endpoints) -> &[[Counter; N]],
    ) -> BTreeMap<(String, String, usize), u64> {
        let mut sums = BTreeMap::new();
        let workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        for w in workers.iter() {
            let endpoints = w
                .endpoints
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            for ((cluster, endpoint), counters) in endpoints.labels.iter().zip(f(&endpoints)) {
                for (i, c) in counters.iter().enumerate() {
                    let sum: &mut u64 = sums
                        .entry((cluster.clone(), endpoint.clone(), i))
                        .or_default();
                    *sum = sum.wrapping_add(c.get());
                }
            }
        }
        sums
    }

    /// `f(worker)` summed over the workers.
    pub fn sum(&self, f: impl Fn(&WorkerCounters) -> u64) -> u64 {
        let workers = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        workers.iter().map(|w| f(w)).fold(0, u64::wrapping_add)
    }
}

/// A worker's [`Events`] sink: it counts.
pub struct Recorder {
    counters: Arc<WorkerCounters>,
    /// This worker's per-endpoint counters (also in `counters.endpoints`, for the scrape).
    endpoints: Arc<Endpoints>,
}

impl Events for Recorder {
    fn configured(&mut self, config: &GatewayConfig) {
        let next = Arc::new(Endpoints::of(config, &self.endpoints));
        *self
            .counters
            .endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = next.clone();
        self.endpoints = next;
    }

    fn stream_started(&mut self, _listener: usize) {
        self.counters.streams.add(1);
    }

    fn local_answer(&mut self, _listener: usize, reason: Reason) {
        self.counters.local[reason.index()].add(1);
    }

    fn answered(&mut self, endpoint: EndpointRef, status: u16) {
        let class = usize::from(status / 100).wrapping_sub(1);
        let e = &self.endpoints;
        if let Some(c) = e
            .index(endpoint)
            .and_then(|i| e.responses.get(i)?.get(class))
        {
            c.add(1);
        }
    }

    fn grpc_answered(&mut self, endpoint: EndpointRef, code: Option<u32>) {
        let code = code
            .and_then(|c| usize::try_from(c).ok())
            .filter(|&c| c < GRPC_CODES)
            .unwrap_or(GRPC_CODES);
        let e = &self.endpoints;
        if let Some(c) = e.index(endpoint).and_then(|i| e.grpc.get(i)?.get(code)) {
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
        self.counters.ended[i].add(1);
    }

    fn replayed(&mut self, _endpoint: EndpointRef) {
        self.counters.replays.add(1);
    }

    fn upstream_connected(&mut self, _endpoint: EndpointRef) {
        self.counters.upstream_answered.add(1);
    }

    fn upstream_failed(&mut self, _endpoint: EndpointRef) {
        self.counters.upstream_failed.add(1);
    }

    fn upstream_goaway(&mut self, _endpoint: EndpointRef, _code: crate::h2::ErrorCode) {
        self.counters.upstream_goaways.add(1);
    }

    fn ejected(&mut self, _endpoint: EndpointRef, _until: std::time::Instant) {
        self.counters.ejections.add(1);
    }

    fn limit_tripped(&mut self, limit: Limit, upstream: bool) {
        if let Some(i) = Limit::ALL.iter().position(|&l| l == limit) {
            self.counters.limits[usize::from(upstream)][i].add(1);
        }
    }
}
