//! What the proxy reports as it works: the hook that metrics and the access log implement.
//!
//! Every method does nothing by default, and the gateway is generic over its sink (`()` unless one
//! is given), so a gateway without observers compiles every call away. A sink belongs to one worker
//! and is called on its thread: it keeps plain per-worker counters and hands records off, never a
//! lock or a shared atomic per call.

use std::time::Instant;

use super::local::Reason;
use super::settings::GatewayConfig;
use crate::h2::ErrorCode;
pub use crate::h2::conn::Limit;

/// An endpoint of the configuration in force: its cluster (by index) and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EndpointRef {
    pub cluster: usize,
    pub endpoint: usize,
}

/// How a proxied stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its response went out whole.
    Complete,
    /// The client reset it, or its connection went.
    ClientGone,
    /// Its upstream stream was reset with this code, or its connection failed.
    UpstreamFailed(ErrorCode),
    /// The gateway answered it itself (no upstream could carry it, a route timeout, a stall, the
    /// buffer budget), or reset it once answered.
    Local(Reason),
}

/// One ended stream.
#[derive(Clone, Copy, Debug)]
pub struct StreamEnd {
    /// The listener its client came in on.
    pub listener: usize,
    /// The endpoint that carried it last, if one did.
    pub endpoint: Option<EndpointRef>,
    pub outcome: Outcome,
    /// Its final response head reached the client.
    pub responded: bool,
    pub grpc: bool,
}

pub trait Events {
    /// Whether anybody listens: the gateway builds an event's arguments only then, so `()` costs
    /// nothing at all, not even the lookups an argument needs.
    const ENABLED: bool = true;

    /// A configuration took effect (at the start, and at each reload): the endpoints that
    /// [`EndpointRef`]s name from now on.
    fn configured(&mut self, config: &GatewayConfig) {
        let _ = config;
    }

    /// A client opened a stream on `listener`.
    fn stream_started(&mut self, listener: usize) {
        let _ = listener;
    }

    /// A stream was answered by the gateway itself before any upstream took it (no route, no
    /// backend, no healthy endpoint, the circuit breaker open), on `listener`.
    fn local_answer(&mut self, listener: usize, reason: Reason) {
        let _ = (listener, reason);
    }

    /// An upstream answered a stream with HTTP `status` (a gRPC status as the HTTP status Envoy
    /// maps it to, an upstream failure as 502): what outlier detection counts.
    fn answered(&mut self, endpoint: EndpointRef, status: u16) {
        let _ = (endpoint, status);
    }

    /// An upstream answered a gRPC stream with `grpc-status` `code` (`None`: missing, or not the
    /// one or two digits a code has).
    fn grpc_answered(&mut self, endpoint: EndpointRef, code: Option<u32>) {
        let _ = (endpoint, code);
    }

    /// A proxied stream ended.
    fn stream_ended(&mut self, end: &StreamEnd) {
        let _ = end;
    }

    /// A stream the upstream did not process is sent again.
    fn replayed(&mut self, endpoint: EndpointRef) {
        let _ = endpoint;
    }

    /// An upstream connection answered (its SETTINGS acknowledged ours).
    fn upstream_connected(&mut self, endpoint: EndpointRef) {
        let _ = endpoint;
    }

    /// An upstream connection failed before answering (refused, TLS, silent past the connect
    /// timeout): its endpoint backs off.
    fn upstream_failed(&mut self, endpoint: EndpointRef) {
        let _ = endpoint;
    }

    /// An upstream sent GOAWAY.
    fn upstream_goaway(&mut self, endpoint: EndpointRef, code: ErrorCode) {
        let _ = (endpoint, code);
    }

    /// Outlier detection ejected an endpoint until `until`.
    fn ejected(&mut self, endpoint: EndpointRef, until: Instant) {
        let _ = (endpoint, until);
    }

    /// A peer tripped an abuse limit (`upstream`: an upstream connection, else a client).
    fn limit_tripped(&mut self, limit: Limit, upstream: bool) {
        let _ = (limit, upstream);
    }
}

/// No observer.
impl Events for () {
    const ENABLED: bool = false;
}
