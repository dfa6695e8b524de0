//! Local answers: responses h2edge makes itself instead of forwarding a stream.
//!
//! A gRPC client (request `content-type: application/grpc...`) gets HTTP 200 Trailers-Only with a
//! `grpc-status` and a short `grpc-message`; a plain HTTP/2 client gets the matching HTTP status with
//! a short text body. The handler records what the peer's frames asked for during
//! [`Connection::recv`] and answers afterwards in [`LocalReplies::flush`], since the connection is
//! busy during `recv`.

use crate::h2::conn::{Connection, Handler};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::h2::grpc;

/// Why the gateway answers a stream itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The demo without upstreams: a small 200 for plain requests.
    Demo,
    /// No route matched: 404 / gRPC 12 UNIMPLEMENTED.
    NoRoute,
    /// The matched rule has no usable backend (Gateway API: 500 / gRPC 14 UNAVAILABLE).
    NoBackend,
    /// Every endpoint of the cluster is unhealthy: 503 / gRPC 14.
    NoHealthyUpstream,
    /// The route's timeout passed before the response: 504 / gRPC 4 DEADLINE_EXCEEDED.
    Timeout,
    /// The cluster's circuit breaker is open (too many streams in flight): 503 / gRPC 14.
    Overflow,
    /// No upstream could take the stream (none healthy, all full, connect failed): 503 / gRPC 14.
    Unavailable,
    /// The upstream reset the stream, or its connection was lost (closed, or dead to PINGs), before
    /// it answered: 502 / gRPC 14.
    UpstreamFailed,
    /// Its bytes waited without moving for the stall timeout: 503 / gRPC 14.
    Stalled,
    /// The worker's buffer budget ran out and the stream held the most: 503 / gRPC 14.
    OverBudget,
}

impl Reason {
    /// Every reason, for the metrics that count them.
    pub const ALL: [Reason; 10] = [
        Reason::Demo,
        Reason::NoRoute,
        Reason::NoBackend,
        Reason::NoHealthyUpstream,
        Reason::Timeout,
        Reason::Overflow,
        Reason::Unavailable,
        Reason::UpstreamFailed,
        Reason::Stalled,
        Reason::OverBudget,
    ];

    /// Its name as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Demo => "demo",
            Reason::NoRoute => "no_route",
            Reason::NoBackend => "no_backend",
            Reason::NoHealthyUpstream => "no_healthy_upstream",
            Reason::Timeout => "timeout",
            Reason::Overflow => "overflow",
            Reason::Unavailable => "unavailable",
            Reason::UpstreamFailed => "upstream_failed",
            Reason::Stalled => "stalled",
            Reason::OverBudget => "over_budget",
        }
    }

    /// Its place in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    fn http_status(self) -> &'static [u8] {
        match self {
            Reason::Demo => b"200",
            Reason::NoRoute => b"404",
            Reason::NoBackend => b"500",
            Reason::NoHealthyUpstream => b"503",
            Reason::Timeout => b"504",
            Reason::Overflow => b"503",
            Reason::Unavailable => b"503",
            Reason::UpstreamFailed => b"502",
            Reason::Stalled | Reason::OverBudget => b"503",
        }
    }

    fn grpc_status(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Reason::Demo | Reason::NoRoute => (b"12", b"no route for this method"),
            Reason::Unavailable => (b"14", b"no upstream available"),
            Reason::NoBackend => (b"14", b"no backend for this route"),
            Reason::NoHealthyUpstream => (b"14", b"no healthy upstream"),
            Reason::Timeout => (b"4", b"upstream request timeout"),
            Reason::Overflow => (b"14", b"upstream overflow"),
            Reason::UpstreamFailed => (b"14", b"upstream failed before answering"),
            Reason::Stalled => (b"14", b"stream stalled"),
            Reason::OverBudget => (b"14", b"gateway buffers full"),
        }
    }

    fn body(self) -> &'static [u8] {
        match self {
            Reason::Demo => b"h2edge demo: answered by the gateway itself\n",
            Reason::NoRoute => b"no route\n",
            Reason::Unavailable => b"no upstream available\n",
            Reason::NoBackend => b"no backend for this route\n",
            Reason::NoHealthyUpstream => b"no healthy upstream\n",
            Reason::Timeout => b"upstream request timeout\n",
            Reason::Overflow => b"upstream overflow\n",
            Reason::UpstreamFailed => b"upstream failed\n",
            Reason::Stalled => b"stream stalled\n",
            Reason::OverBudget => b"gateway buffers full\n",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    stream_id: u32,
    grpc: bool,
    reason: Reason,
    /// Request fully received: time to answer.
    ready: bool,
    /// Body bytes already sent (plain responses), once the head is out.
    sent: Option<usize>,
}

/// Local answers on one connection: every stream it sees (the demo), or the streams it is told to
/// answer ([`LocalReplies::answer`]).
pub struct LocalReplies {
    reason: Reason,
    pending: Vec<Pending>,
    /// Received body bytes to hand back to flow control, per stream.
    released: Vec<(u32, usize)>,
}

impl LocalReplies {
    pub fn new(reason: Reason) -> Self {
        LocalReplies {
            reason,
            pending: Vec::new(),
            released: Vec::new(),
        }
    }

    /// Answers `stream_id` now with `reason` (a gRPC answer when `grpc`).
    pub fn answer(&mut self, stream_id: u32, grpc: bool, reason: Reason) {
        self.pending.retain(|p| p.stream_id != stream_id);
        self.pending.push(Pending {
            stream_id,
            grpc,
            reason,
            ready: true,
            sent: None,
        });
    }

    fn mark_ready(&mut self, stream_id: u32) {
        if let Some(p) = self.pending.iter_mut().find(|p| p.stream_id == stream_id) {
            p.ready = true;
        }
    }

    /// Sends every answer that is due, as far as flow control allows.
    pub fn flush(&mut self, conn: &mut Connection) {
        for (stream_id, n) in self.released.drain(..) {
            conn.release_capacity(stream_id, n);
        }
        self.pending.retain_mut(|p| {
            let reason = p.reason;
            if !p.ready {
                return true;
            }
            if p.grpc {
                let (code, message) = reason.grpc_status();
                let head = [
                    (&b":status"[..], &b"200"[..]),
                    (b"content-type", b"application/grpc"),
                    (b"grpc-status", code),
                    (b"grpc-message", message),
                ];
                let _ = conn.send_headers(p.stream_id, head, true);
                return false;
            }
            let body = reason.body();
            let sent = match p.sent {
                Some(sent) => sent,
                None => {
                    let head = [
                        (&b":status"[..], reason.http_status()),
                        (b"content-type", b"text/plain"),
                    ];
                    if conn.send_headers(p.stream_id, head, false).is_err() {
                        return false;
                    }
                    0
                }
            };
            match conn.send_data(p.stream_id, &body[sent..], true) {
                Ok(n) if sent + n == body.len() => false,
                Ok(n) => {
                    p.sent = Some(sent + n);
                    true
                }
                Err(_) => false,
            }
        });
    }
}

impl Handler for LocalReplies {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        let grpc = fields.get(b"content-type").is_some_and(grpc::is_grpc);
        self.pending.push(Pending {
            stream_id,
            grpc,
            reason: self.reason,
            ready: end_stream,
            sent: None,
        });
    }

    fn on_trailers(&mut self, stream_id: u32, _fields: &FieldList) {
        self.mark_ready(stream_id);
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        if !data.is_empty() {
            self.released.push((stream_id, data.len()));
        }
        if end_stream {
            self.mark_ready(stream_id);
        }
    }

    fn on_reset(&mut self, stream_id: u32, _code: ErrorCode, _remote: bool) {
        self.pending.retain(|p| p.stream_id != stream_id);
    }

    fn on_goaway(&mut self, _last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {}
}
