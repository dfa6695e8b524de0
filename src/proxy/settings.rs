//! What one worker's gateway is configured with: its listeners, what it does with the streams it
//! is sent (answer, echo, or proxy through the route table and clusters), HTTP/2 settings and
//! buffer limits. Built by `config::compile::plan` from the configuration; each worker holds it in an `Arc`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use rustls::ServerConfig;

use super::client_limits::ClientLimits;
use super::upstreams::Upstreams;
use crate::h2::conn;

/// What a listener speaks.
#[derive(Clone)]
pub enum Listener {
    /// Cleartext HTTP/2 with prior knowledge.
    H2c,
    /// TLS with ALPN `h2`.
    Tls(Arc<ServerConfig>),
}

/// What the worker does with the streams its clients open.
#[derive(Clone)]
pub enum Service {
    /// Answers every request itself.
    Local,
    /// The demo's (and the load test's) echo backends; listener `i` answers as `names[i]` and counts
    /// the requests it is sent in `counters[i]`, if there is one.
    Echo {
        names: Vec<String>,
        counters: Vec<Arc<AtomicU64>>,
    },
    /// Proxies every stream: routed by the table, balanced over the matched cluster.
    Proxy(Arc<Upstreams>),
}

#[derive(Clone)]
pub struct GatewayConfig {
    pub listeners: Vec<Listener>,
    pub service: Service,
    /// Settings and limits towards clients, unless the listener has its own
    /// (`Upstreams::server_h2`).
    pub server_h2: conn::Config,
    /// Settings and limits towards upstreams, unless the cluster has its own
    /// (`UpstreamCluster::client_h2`).
    pub client_h2: conn::Config,
    pub buffers: BufferLimits,
}

/// How much body the worker holds for streams whose other leg cannot take it yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferLimits {
    /// Body bytes waiting in all of a worker's streams. Past it, the streams holding the most are
    /// reset (their bytes and flow-control credit released) until it is kept again.
    pub budget: usize,
    /// A stream whose waiting bytes have not moved for this long is reset.
    pub stall_timeout: Duration,
}

impl Default for BufferLimits {
    fn default() -> Self {
        BufferLimits {
            budget: DEFAULT_BUFFER_BUDGET,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}

/// The default budget: 256 streams' worth of the default upstream stream window (256 KiB), so an
/// honest worker never comes near it while one client that never reads cannot take more.
pub const DEFAULT_BUFFER_BUDGET: usize = 64 << 20;
/// As HAProxy's common `timeout server/client` of 30 s: a stream whose peer has not read for that
/// long is given up, well before a user gives up on it.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);

impl GatewayConfig {
    /// The settings and limits of client connections to listener `listener`: its own, if the
    /// service has them, else `server_h2`.
    pub(super) fn server_h2_for(&self, listener: usize) -> &conn::Config {
        match &self.service {
            Service::Proxy(up) => up.server_h2.get(listener),
            _ => None,
        }
        .unwrap_or(&self.server_h2)
    }

    /// The bounds on client connections to listener `listener`.
    pub(super) fn client_limits_for(&self, listener: usize) -> &ClientLimits {
        match &self.service {
            Service::Proxy(up) => up.clients.get(listener),
            _ => None,
        }
        .unwrap_or(&ClientLimits::DEFAULT)
    }
}
