//! The backends: `grpc.testing.TestService` served by tonic, with the server glue that tonic-build
//! would generate written by hand (a [`NamedService`] plus a `tower::Service` over
//! `http::Request<tonic::body::Body>` that dispatches on the path to `tonic::server::Grpc`).
//!
//! Each backend behaves like the interop suite's server, and also:
//! - names itself: an `x-backend: bN` response header on every response, `server_id` in every
//!   response message;
//! - echoes `x-grpc-test-echo-initial` and `x-grpc-test-echo-initial-bin` into the response
//!   headers and `x-grpc-test-echo-trailing-bin` into the trailers (into the only HEADERS frame of
//!   a Trailers-Only answer);
//! - obeys `x-test-sleep-ms` (a unary call sleeps that long before answering, a client-streaming
//!   call before reading its requests);
//! - reports calls that carry `x-test-tag` as [`Event`]s: when their HEADERS arrive and when the
//!   handler starts (each with the `grpc-timeout` received), and when the handler ends, finished or cancelled (its future or response
//!   stream dropped before it completed, which is what a RST_STREAM from the gateway does).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::body::Body;
use tonic::codegen::http::{self, HeaderMap, HeaderValue};
use tonic::codegen::{BoxFuture, BoxStream};
use tonic::metadata::MetadataMap;
use tonic::server::{Grpc, NamedService};
use tonic::{Code, Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

use crate::proto::{
    Empty, ResponseParameters, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
    StreamingInputCallResponse, StreamingOutputCallRequest, StreamingOutputCallResponse, body_len,
    payload,
};

pub const SERVICE: &str = "grpc.testing.TestService";
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
pub const ECHO_INITIAL_BIN: &str = "x-grpc-test-echo-initial-bin";
pub const ECHO_TRAILING_BIN: &str = "x-grpc-test-echo-trailing-bin";
pub const SLEEP_MS: &str = "x-test-sleep-ms";
pub const TAG: &str = "x-test-tag";

/// What a backend saw of a tagged call.
#[derive(Clone, Debug)]
pub struct Event {
    pub backend: String,
    pub tag: String,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The request's HEADERS reached the backend (before tonic decoded any message); the
    /// `grpc-timeout` header as received.
    Arrived { grpc_timeout: Option<String> },
    /// The handler started; the `grpc-timeout` header as received.
    Started { grpc_timeout: Option<String> },
    /// The handler completed (an OK or error status was produced).
    Finished,
    /// The handler was dropped before it completed.
    Cancelled,
}

/// One backend's identity and its event sink.
pub struct Backend {
    pub name: String,
    events: mpsc::UnboundedSender<Event>,
}

/// Reports the end of a tagged call when dropped.
struct Guard {
    backend: Arc<Backend>,
    tag: Option<String>,
    done: bool,
}

impl Guard {
    fn new(backend: &Arc<Backend>, metadata: &MetadataMap) -> Guard {
        let tag = metadata
            .get(TAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(tag) = &tag {
            let grpc_timeout = metadata
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            backend.send(tag, EventKind::Started { grpc_timeout });
        }
        Guard {
            backend: backend.clone(),
            tag,
            done: false,
        }
    }
}

impl Guard {
    /// The handler completed; a method (not a field write) so that `async move` blocks capture
    /// the whole guard rather than just its flag.
    fn finish(&mut self) {
        self.done = true;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(tag) = &self.tag {
            let kind = if self.done {
                EventKind::Finished
            } else {
                EventKind::Cancelled
            };
            self.backend.send(tag, kind);
        }
    }
}

fn sleep_ms(metadata: &MetadataMap) -> Option<Duration> {
    let ms = metadata.get(SLEEP_MS)?.to_str().ok()?.parse().ok()?;
    Some(Duration::from_millis(ms))
}

fn echo_status(status: &Option<crate::proto::EchoStatus>) -> Option<Status> {
    status
        .as_ref()
        .filter(|s| s.code != 0)
        .map(|s| Status::new(Code::from(s.code), s.message.clone()))
}

type Outbound<T> = mpsc::Sender<Result<T, Status>>;

/// Waits `interval_us` (if any) unless the client went away first; false if it did.
async fn pace<T>(tx: &Outbound<T>, interval_us: i32) -> bool {
    if interval_us <= 0 {
        return !tx.is_closed();
    }
    tokio::select! {
        _ = tx.closed() => false,
        _ = tokio::time::sleep(Duration::from_micros(interval_us as u64)) => true,
    }
}

impl Backend {
    pub fn new(name: String, events: mpsc::UnboundedSender<Event>) -> Backend {
        Backend { name, events }
    }

    fn send(&self, tag: &str, kind: EventKind) {
        let _ = self.events.send(Event {
            backend: self.name.clone(),
            tag: tag.to_string(),
            kind,
        });
    }

    async fn empty_call(
        self: Arc<Self>,
        request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        let mut guard = Guard::new(&self, request.metadata());
        guard.finish();
        Ok(Response::new(Empty {}))
    }

    async fn unary_call(
        self: Arc<Self>,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let mut guard = Guard::new(&self, request.metadata());
        if let Some(sleep) = sleep_ms(request.metadata()) {
            tokio::time::sleep(sleep).await;
        }
        let request = request.into_inner();
        guard.finish();
        if let Some(status) = echo_status(&request.response_status) {
            return Err(status);
        }
        Ok(Response::new(SimpleResponse {
            payload: payload(request.response_size.max(0) as usize),
            server_id: self.name.clone(),
        }))
    }

    fn output(&self, p: &ResponseParameters) -> StreamingOutputCallResponse {
        StreamingOutputCallResponse {
            payload: payload(p.size.max(0) as usize),
            server_id: self.name.clone(),
        }
    }

    async fn streaming_output_call(
        self: Arc<Self>,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<BoxStream<StreamingOutputCallResponse>>, Status> {
        let mut guard = Guard::new(&self, request.metadata());
        let request = request.into_inner();
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            for p in &request.response_parameters {
                if !pace(&tx, p.interval_us).await || tx.send(Ok(self.output(p))).await.is_err() {
                    return;
                }
            }
            if let Some(status) = echo_status(&request.response_status) {
                let _ = tx.send(Err(status)).await;
            }
            guard.finish();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn streaming_input_call(
        self: Arc<Self>,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let mut guard = Guard::new(&self, request.metadata());
        if let Some(sleep) = sleep_ms(request.metadata()) {
            tokio::time::sleep(sleep).await;
        }
        let mut inbound = request.into_inner();
        let mut total = 0;
        while let Some(message) = inbound.message().await? {
            total += body_len(&message.payload);
        }
        guard.finish();
        Ok(Response::new(StreamingInputCallResponse {
            aggregated_payload_size: total as i32,
        }))
    }

    async fn full_duplex_call(
        self: Arc<Self>,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<BoxStream<StreamingOutputCallResponse>>, Status> {
        let mut guard = Guard::new(&self, request.metadata());
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = tx.closed() => return,
                    next = inbound.message() => next,
                };
                let request = match next {
                    Ok(Some(request)) => request,
                    Ok(None) => break,
                    // The stream was reset or the connection lost: a cancellation.
                    Err(_) => return,
                };
                if let Some(status) = echo_status(&request.response_status) {
                    guard.finish();
                    let _ = tx.send(Err(status)).await;
                    return;
                }
                for p in &request.response_parameters {
                    if !pace(&tx, p.interval_us).await || tx.send(Ok(self.output(p))).await.is_err()
                    {
                        return;
                    }
                }
            }
            guard.finish();
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// The hand-written equivalent of tonic-build's `TestServiceServer`.
#[derive(Clone)]
pub struct TestServiceServer {
    backend: Arc<Backend>,
}

impl TestServiceServer {
    pub fn new(backend: Backend) -> Self {
        TestServiceServer {
            backend: Arc::new(backend),
        }
    }
}

impl NamedService for TestServiceServer {
    const NAME: &'static str = SERVICE;
}

impl tower::Service<http::Request<Body>> for TestServiceServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let backend = self.backend.clone();
        let headers = request.headers();
        if let Some(tag) = headers.get(TAG).and_then(|v| v.to_str().ok()) {
            let grpc_timeout = headers
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            backend.send(tag, EventKind::Arrived { grpc_timeout });
        }
        Box::pin(async move {
            let echo = Echo::new(request.headers());
            let b = backend.clone();
            let response = match request.uri().path() {
                "/grpc.testing.TestService/EmptyCall" => {
                    let svc = tower::service_fn(move |r| b.clone().empty_call(r));
                    Grpc::new(ProstCodec::default()).unary(svc, request).await
                }
                "/grpc.testing.TestService/UnaryCall" => {
                    let svc = tower::service_fn(move |r| b.clone().unary_call(r));
                    Grpc::new(ProstCodec::default()).unary(svc, request).await
                }
                "/grpc.testing.TestService/StreamingOutputCall" => {
                    let svc = tower::service_fn(move |r| b.clone().streaming_output_call(r));
                    Grpc::new(ProstCodec::default())
                        .server_streaming(svc, request)
                        .await
                }
                "/grpc.testing.TestService/StreamingInputCall" => {
                    let svc = tower::service_fn(move |r| b.clone().streaming_input_call(r));
                    Grpc::new(ProstCodec::default())
                        .client_streaming(svc, request)
                        .await
                }
                "/grpc.testing.TestService/FullDuplexCall" => {
                    let svc = tower::service_fn(move |r| b.clone().full_duplex_call(r));
                    Grpc::new(ProstCodec::default())
                        .streaming(svc, request)
                        .await
                }
                _ => Status::unimplemented("no such method").into_http(),
            };
            Ok(echo.apply(&backend.name, response))
        })
    }
}

/// The metadata a response must echo.
struct Echo {
    initial: HeaderMap,
    trailing: HeaderMap,
}

impl Echo {
    fn new(headers: &HeaderMap) -> Echo {
        let mut initial = HeaderMap::new();
        let mut trailing = HeaderMap::new();
        for name in [ECHO_INITIAL, ECHO_INITIAL_BIN] {
            if let Some(v) = headers.get(name) {
                initial.insert(name, v.clone());
            }
        }
        if let Some(v) = headers.get(ECHO_TRAILING_BIN) {
            trailing.insert(ECHO_TRAILING_BIN, v.clone());
        }
        Echo { initial, trailing }
    }

    fn apply(self, name: &str, mut response: http::Response<Body>) -> http::Response<Body> {
        let headers = response.headers_mut();
        headers.insert(
            "x-backend",
            HeaderValue::from_str(name).expect("a backend name is a header value"),
        );
        headers.extend(self.initial);
        if self.trailing.is_empty() {
            return response;
        }
        if headers.contains_key("grpc-status") {
            // Trailers-Only: the trailers are these headers.
            headers.extend(self.trailing);
            return response;
        }
        let trailing = self.trailing;
        response.map(|body| {
            Body::new(body.map_frame(move |frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    trailers.extend(trailing.clone());
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            }))
        })
    }
}
