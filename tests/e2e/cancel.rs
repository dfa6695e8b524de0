//! Cancellation and deadlines: what a client gives up on must stop at the backend too. A tonic
//! client cancels a call by dropping it (hyper then resets the stream with RST_STREAM CANCEL); the
//! gateway must pass that reset upstream at once, and the backend (hyper under tonic drops the
//! handler of a reset stream) reports the cancellation.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::http;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request};

use crate::backend::{EventKind, SLEEP_MS, TAG};
use crate::cases::{STEP, output_request, simple};
use crate::harness::{Bed, run, within};
use crate::proto::{
    Empty, ResponseParameters, StreamingInputCallRequest, StreamingOutputCallRequest, body_len,
};

/// How soon a cancellation must reach the backend.
const CANCEL_WITHIN: Duration = Duration::from_secs(2);

fn tag(metadata: &mut MetadataMap, tag: &str, sleep_ms: Option<u64>) {
    metadata.insert(TAG, tag.parse().expect("ascii tag"));
    if let Some(ms) = sleep_ms {
        metadata.insert(SLEEP_MS, ms.to_string().parse().expect("ascii number"));
    }
}

async fn wait_started(bed: &Bed, tag: &str) -> Option<String> {
    let event = bed
        .wait_event(tag, STEP, |k| matches!(k, EventKind::Started { .. }))
        .await
        .unwrap_or_else(|| panic!("{tag}: the call never reached a backend"));
    match event.kind {
        EventKind::Started { grpc_timeout } => grpc_timeout,
        _ => unreachable!(),
    }
}

/// Waits for the end of `tag`'s handler and requires it to be a cancellation.
async fn expect_cancelled(bed: &Bed, tag: &str, since: Instant) {
    let event = bed
        .wait_event(tag, CANCEL_WITHIN, |k| {
            matches!(k, EventKind::Finished | EventKind::Cancelled)
        })
        .await
        .unwrap_or_else(|| {
            panic!("{tag}: the cancellation did not reach the backend within {CANCEL_WITHIN:?}")
        });
    assert_eq!(
        event.kind,
        EventKind::Cancelled,
        "{tag}: the backend's handler completed instead of being cancelled"
    );
    println!(
        "{tag}: backend {} saw the cancellation after {:?}",
        event.backend,
        since.elapsed()
    );
}

/// Opens the upstream connection to every backend, so later calls are forwarded at once.
async fn warm_up(bed: &Bed, client: &mut crate::client::TestClient) {
    for _ in 0..bed.backends.len() {
        within(
            STEP,
            "warm-up EmptyCall",
            client.empty_call(Request::new(Empty {})),
        )
        .await
        .expect("warm-up EmptyCall");
    }
}

#[test]
fn cancel_unary_reaches_backend() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let mut request = Request::new(simple(10, 10));
        tag(request.metadata_mut(), "cancel-unary", Some(30_000));
        let call = tokio::spawn(async move { client.unary_call(request).await });
        wait_started(&bed, "cancel-unary").await;
        let since = Instant::now();
        call.abort(); // drops the call: RST_STREAM CANCEL towards the gateway
        expect_cancelled(&bed, "cancel-unary", since).await;
    });
}

/// The interop suite's cancel_after_begin: a client-streaming call cancelled before it sent any
/// message (the backend is still inside its handler, before reading).
#[test]
fn cancel_after_begin() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let (tx, rx) = mpsc::channel::<StreamingInputCallRequest>(1);
        let mut request = Request::new(ReceiverStream::new(rx));
        tag(request.metadata_mut(), "cancel-after-begin", Some(30_000));
        let call = tokio::spawn(async move { client.streaming_input_call(request).await });
        wait_started(&bed, "cancel-after-begin").await;
        let since = Instant::now();
        call.abort();
        // With the request body still open hyper keeps the stream; ending it lets hyper see that
        // nobody wants the stream any more and reset it.
        drop(tx);
        expect_cancelled(&bed, "cancel-after-begin", since).await;
    });
}

/// The interop suite's cancel_after_first_response: a FullDuplexCall dropped after its first
/// response while the backend is still producing the second one.
#[test]
fn cancel_after_first_response() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let (tx, rx) = mpsc::channel::<StreamingOutputCallRequest>(1);
        let mut first = output_request(&[31_415], 27_182);
        first.response_parameters.push(ResponseParameters {
            size: 9,
            interval_us: 30_000_000,
        });
        tx.send(first).await.expect("queue the first request");
        let mut request = Request::new(ReceiverStream::new(rx));
        tag(request.metadata_mut(), "cancel-after-first-response", None);
        let response = within(STEP, "FullDuplexCall", client.full_duplex_call(request))
            .await
            .expect("FullDuplexCall");
        let mut inbound = response.into_inner();
        let message = within(STEP, "the first response", inbound.message())
            .await
            .expect("first response")
            .expect("a message");
        assert_eq!(body_len(&message.payload), 31_415);
        let since = Instant::now();
        drop(inbound);
        drop(tx);
        expect_cancelled(&bed, "cancel-after-first-response", since).await;
    });
}

/// A server stream dropped by the client in the middle.
#[test]
fn cancel_server_stream_midway() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let mut request = output_request(&[1_000], 0);
        request.response_parameters.push(ResponseParameters {
            size: 1_000,
            interval_us: 30_000_000,
        });
        let mut request = Request::new(request);
        tag(request.metadata_mut(), "cancel-server-stream", None);
        let response = within(
            STEP,
            "StreamingOutputCall",
            client.streaming_output_call(request),
        )
        .await
        .expect("StreamingOutputCall");
        let mut inbound = response.into_inner();
        within(STEP, "the first response", inbound.message())
            .await
            .expect("first response")
            .expect("a message");
        let since = Instant::now();
        drop(inbound);
        expect_cancelled(&bed, "cancel-server-stream", since).await;
    });
}

/// A client that goes away (its TCP connection closes, no RST_STREAM, no GOAWAY) cancels its
/// streams at the backends. Driven with the `h2` crate over the h2c listener, since a tonic
/// client always resets its streams before it closes a connection.
#[test]
fn client_disconnect_cancels_upstream_streams() {
    run(|bed| async move {
        let tcp = tokio::net::TcpStream::connect(bed.h2c)
            .await
            .expect("connect to the h2c listener");
        let (send, connection) = within(STEP, "h2 handshake", h2::client::handshake(tcp))
            .await
            .expect("h2 handshake");
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut streams = Vec::new();
        for i in 0..3 {
            let mut send = within(STEP, "h2 ready", send.clone().ready())
                .await
                .expect("room for a stream");
            let request = http::Request::builder()
                .method("POST")
                .uri(format!(
                    "http://{}/grpc.testing.TestService/UnaryCall",
                    bed.h2c
                ))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header(TAG, format!("disconnect-{i}"))
                .header(SLEEP_MS, "30000")
                .body(())
                .expect("request");
            let (response, mut body) = send.send_request(request, false).expect("HEADERS");
            body.send_data(grpc_message(&simple(10, 10)), true)
                .expect("DATA");
            streams.push((response, body));
        }
        for i in 0..3 {
            wait_started(&bed, &format!("disconnect-{i}")).await;
        }
        let since = Instant::now();
        // Drop the connection (its socket) before the streams, so nothing is reset: the gateway
        // only sees the TCP connection end.
        connection.abort();
        let _ = connection.await;
        drop(streams);
        drop(send);
        for i in 0..3 {
            expect_cancelled(&bed, &format!("disconnect-{i}"), since).await;
        }
    });
}

/// A gRPC length-prefixed message.
fn grpc_message(message: &impl prost::Message) -> tonic::codegen::Bytes {
    let body = message.encode_to_vec();
    let mut framed = Vec::with_capacity(5 + body.len());
    framed.push(0);
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    framed.into()
}

/// Whether `status` is the end of a call whose deadline passed: DEADLINE_EXCEEDED, or what tonic's
/// client reports when its own timer for the `grpc-timeout` it sent fires first (it maps its local
/// deadline to CANCELLED "Timeout expired").
fn is_deadline(status: &tonic::Status) -> bool {
    status.code() == Code::DeadlineExceeded
        || (status.code() == Code::Cancelled && status.message().contains("Timeout expired"))
}

/// Parses a `grpc-timeout` value (at most 8 digits and a unit) into a duration.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The interop suite's timeout_on_sleeping_server, as a unary call so the deadline is certain to
/// pass before any answer: a 1 ms deadline on a call the backend sits on for 30 s.
#[test]
fn one_millisecond_deadline() {
    run(|bed| async move {
        let mut client = bed.client().await;
        warm_up(&bed, &mut client).await;
        let mut request = Request::new(simple(27_182, 10));
        request.set_timeout(Duration::from_millis(1));
        tag(request.metadata_mut(), "deadline-1ms", Some(30_000));
        let since = Instant::now();
        let status = within(
            STEP,
            "UnaryCall with 1 ms deadline",
            client.unary_call(request),
        )
        .await
        .expect_err("the deadline passes first");
        let elapsed = since.elapsed();
        println!(
            "deadline-1ms: {:?} {:?} after {elapsed:?}",
            status.code(),
            status.message()
        );
        assert!(is_deadline(&status), "{status:?}");
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
        // The call may or may not have reached a backend before the client gave up (and reset
        // the stream); if it did, its grpc-timeout must have come along, and a handler that
        // started must see the call end.
        let arrived = bed
            .wait_event("deadline-1ms", Duration::from_millis(500), |k| {
                matches!(k, EventKind::Arrived { .. })
            })
            .await;
        let Some(EventKind::Arrived { grpc_timeout }) = arrived.map(|e| e.kind) else {
            println!("deadline-1ms: the client gave up before the call reached a backend");
            return;
        };
        let timeout = grpc_timeout.expect("grpc-timeout forwarded to the backend");
        let d = parse_grpc_timeout(&timeout).expect("a valid grpc-timeout");
        assert!(d <= Duration::from_millis(1), "grpc-timeout {timeout}");
        let started = bed
            .wait_event("deadline-1ms", Duration::from_millis(100), |k| {
                matches!(k, EventKind::Started { .. })
            })
            .await;
        if started.is_some() {
            expect_cancelled(&bed, "deadline-1ms", since).await;
        }
        println!(
            "deadline-1ms: reached a backend with grpc-timeout {timeout}; handler started: {}",
            started.is_some()
        );
    });
}

/// A longer deadline, so the call surely reaches a backend: the `grpc-timeout` header arrives
/// there intact, the client gets its deadline status on time, and the backend's handler is
/// cancelled.
#[test]
fn deadline_forwarded_and_enforced() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let mut request = Request::new(simple(10, 10));
        request.set_timeout(Duration::from_millis(300));
        tag(request.metadata_mut(), "deadline-300ms", Some(30_000));
        let since = Instant::now();
        let call = tokio::spawn(async move { client.unary_call(request).await });
        let timeout = wait_started(&bed, "deadline-300ms")
            .await
            .expect("grpc-timeout forwarded to the backend");
        let d = parse_grpc_timeout(&timeout).expect("a valid grpc-timeout");
        assert!(
            d <= Duration::from_millis(300) && d > Duration::from_millis(200),
            "grpc-timeout {timeout} forwarded unchanged"
        );
        let status = within(STEP, "the deadline", call)
            .await
            .expect("call task")
            .expect_err("the deadline passes first");
        let elapsed = since.elapsed();
        assert!(is_deadline(&status), "{status:?}");
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
            "deadline status after {elapsed:?}"
        );
        expect_cancelled(&bed, "deadline-300ms", since).await;
    });
}
