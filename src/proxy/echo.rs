//! The demo's backends: an echo service on the server role. gRPC requests get their messages back
//! as they arrive (so bidirectional ping-pong works) and `grpc-status: 0` trailers when the request
//! ends; other requests get `hello from NAME` (or their body echoed, for POST). Every response names
//! the backend in an `x-backend` header so users can see where each stream went.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::h2::conn::{Connection, Handler};
use crate::h2::error::ErrorCode;
use crate::h2::fields::FieldList;
use crate::h2::grpc;

#[derive(Debug)]
struct EchoStream {
    id: u32,
    grpc: bool,
    /// A HEAD request: the response has no content (RFC 9110 §9.3.2).
    head: bool,
    /// Request body bytes not yet echoed.
    pending: Vec<u8>,
    /// The request ended (its END_STREAM arrived).
    ended: bool,
    head_sent: bool,
    /// Some request bytes were echoed / the greeting replaced an empty body.
    echoed: bool,
    greeted: bool,
    /// Custom request metadata echoed back (`x-echo-*` request fields), as the gRPC interop suite's
    /// `custom_metadata` case does with `x-grpc-test-echo-initial` / `-trailing-bin`.
    echo_initial: Option<Vec<u8>>,
    echo_trailing: Option<Vec<u8>>,
}

/// One connection's echo streams.
pub struct Echo {
    name: Vec<u8>,
    streams: Vec<EchoStream>,
    /// Requests served, shared by the listener's connections (the load test's spread check).
    counter: Option<Arc<AtomicU64>>,
}

impl Echo {
    pub fn new(name: &str, counter: Option<Arc<AtomicU64>>) -> Self {
        Echo {
            name: name.as_bytes().to_vec(),
            streams: Vec::new(),
            counter,
        }
    }

    /// Sends what is due on every stream, as flow control allows, and gives back the request bytes
    /// it echoed.
    pub fn flush(&mut self, conn: &mut Connection) {
        let name = &self.name;
        self.streams.retain_mut(|s| {
            if !s.head_sent {
                let ct: &[u8] = if s.grpc {
                    b"application/grpc"
                } else {
                    b"text/plain"
                };
                let mut head: Vec<(&[u8], &[u8])> = vec![
                    (b":status", b"200"),
                    (b"content-type", ct),
                    (b"x-backend", name),
                ];
                if let Some(v) = &s.echo_initial {
                    head.push((b"x-grpc-test-echo-initial", v));
                }
                if conn.send_headers(s.id, head, s.head).is_err() || s.head {
                    return false;
                }
                s.head_sent = true;
            }
            if !s.grpc && s.ended && !s.echoed && !s.greeted && s.pending.is_empty() {
                // A request without a body: a greeting instead of an echo.
                s.pending.extend_from_slice(b"hello from ");
                s.pending.extend_from_slice(name);
                s.pending.push(b'\n');
                s.greeted = true;
            }
            match conn.send_data(s.id, &s.pending, false) {
                Ok(n) => {
                    if !s.greeted {
                        conn.release_capacity(s.id, n);
                    }
                    s.echoed |= n > 0;
                    s.pending.drain(..n);
                }
                Err(_) => return false,
            }
            if !(s.ended && s.pending.is_empty()) {
                return true;
            }
            if s.grpc {
                let mut trailers: Vec<(&[u8], &[u8])> = vec![(b"grpc-status", b"0")];
                if let Some(v) = &s.echo_trailing {
                    trailers.push((b"x-grpc-test-echo-trailing-bin", v));
                }
                let _ = conn.send_trailers(s.id, trailers);
            } else {
                let _ = conn.send_data(s.id, &[], true);
            }
            false
        });
    }
}

impl Handler for Echo {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        if let Some(c) = &self.counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let grpc = fields.get(b"content-type").is_some_and(grpc::is_grpc);
        self.streams.push(EchoStream {
            id: stream_id,
            grpc,
            head: fields.method() == Some(b"HEAD"),
            pending: Vec::new(),
            ended: end_stream,
            head_sent: false,
            echoed: false,
            greeted: false,
            echo_initial: fields.get(b"x-grpc-test-echo-initial").map(<[u8]>::to_vec),
            echo_trailing: fields
                .get(b"x-grpc-test-echo-trailing-bin")
                .map(<[u8]>::to_vec),
        });
    }

    fn on_trailers(&mut self, stream_id: u32, _fields: &FieldList) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.id == stream_id) {
            s.ended = true;
        }
    }

    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.id == stream_id) {
            s.pending.extend_from_slice(data);
            s.ended |= end_stream;
        }
    }

    fn on_reset(&mut self, stream_id: u32, _code: ErrorCode, _remote: bool) {
        self.streams.retain(|s| s.id != stream_id);
    }

    fn on_goaway(&mut self, _last_stream_id: u32, _code: ErrorCode, _debug: &[u8]) {}
}
