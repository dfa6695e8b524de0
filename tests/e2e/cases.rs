//! Scenarios shared by several tests (the main ones and the per-I/O-backend subsets).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;

use crate::backend::SLEEP_MS;
use crate::client::TestClient;
use crate::harness::{Bed, within};
use crate::proto::{
    ResponseParameters, SimpleRequest, StreamingOutputCallRequest, StreamingOutputCallResponse,
    body_len, payload,
};

pub const STEP: Duration = Duration::from_secs(10);

/// The `x-backend` header of a response's metadata.
pub fn backend_header(metadata: &tonic::metadata::MetadataMap) -> String {
    metadata
        .get("x-backend")
        .expect("every backend response names its backend")
        .to_str()
        .expect("an ASCII backend name")
        .to_string()
}

pub fn simple(request_size: usize, response_size: usize) -> SimpleRequest {
    SimpleRequest {
        response_type: 0,
        response_size: response_size as i32,
        payload: payload(request_size),
        response_status: None,
        fill_server_id: true,
    }
}

pub fn output_request(sizes: &[usize], request_size: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_type: 0,
        response_parameters: sizes
            .iter()
            .map(|&size| ResponseParameters {
                size: size as i32,
                interval_us: 0,
            })
            .collect(),
        payload: payload(request_size),
        response_status: None,
    }
}

/// The interop suite's large_unary: a 271,828-byte request, a 314,159-byte response.
pub async fn large_unary(client: &mut TestClient, names: &[String]) {
    let response = within(
        STEP,
        "large UnaryCall",
        client.unary_call(Request::new(simple(271_828, 314_159))),
    )
    .await
    .expect("large UnaryCall");
    let backend = backend_header(response.metadata());
    let response = response.into_inner();
    assert_eq!(
        body_len(&response.payload),
        314_159,
        "response payload size"
    );
    assert!(
        response
            .payload
            .as_ref()
            .unwrap()
            .body
            .iter()
            .all(|&b| b == 0),
        "response payload is the backend's zeros"
    );
    assert!(
        names.contains(&response.server_id),
        "{}",
        response.server_id
    );
    assert_eq!(backend, response.server_id, "x-backend matches server_id");
}

/// The interop suite's ping_pong: four lock-step exchanges on one FullDuplexCall; each request is
/// sent only after the previous answer arrived, so a gateway that buffered a request (or a
/// response) until more data or END_STREAM arrived would stall here.
pub async fn ping_pong(client: &mut TestClient) {
    const PAIRS: [(usize, usize); 4] = [(27_182, 31_415), (8, 9), (1_828, 2_653), (45_904, 58_979)];
    let (tx, rx) = mpsc::channel::<StreamingOutputCallRequest>(1);
    tx.send(output_request(&[PAIRS[0].1], PAIRS[0].0))
        .await
        .expect("queue the first ping");
    let response = within(
        STEP,
        "FullDuplexCall headers",
        client.full_duplex_call(Request::new(ReceiverStream::new(rx))),
    )
    .await
    .expect("FullDuplexCall");
    let backend = backend_header(response.metadata());
    let mut inbound = response.into_inner();
    for (i, &(request_size, response_size)) in PAIRS.iter().enumerate() {
        if i > 0 {
            tx.send(output_request(&[response_size], request_size))
                .await
                .expect("send a ping");
        }
        let message: StreamingOutputCallResponse = within(
            Duration::from_secs(5),
            &format!("pong {} (lock-step: no request buffering)", i + 1),
            inbound.message(),
        )
        .await
        .expect("a pong")
        .expect("a pong, not the end of the stream");
        assert_eq!(body_len(&message.payload), response_size, "pong {}", i + 1);
        assert_eq!(
            message.server_id,
            backend,
            "pong {} from the same backend",
            i + 1
        );
    }
    drop(tx);
    let end = within(STEP, "end of FullDuplexCall", inbound.message()).await;
    assert!(matches!(end, Ok(None)), "clean end, got {end:?}");
    let trailers = within(STEP, "FullDuplexCall trailers", inbound.trailers()).await;
    assert!(trailers.is_ok(), "trailers: {trailers:?}");
}

/// `calls` concurrent UnaryCalls on one client connection (each held 20 ms by the backend so they
/// overlap); every one must succeed and every backend must answer more than 15% of them.
pub async fn spread(client: &TestClient, names: &[String], calls: usize) {
    let mut tasks = Vec::with_capacity(calls);
    for _ in 0..calls {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut request = Request::new(simple(16, 16));
            request
                .metadata_mut()
                .insert(SLEEP_MS, "20".parse().expect("metadata"));
            let response = client.unary_call(request).await?;
            Ok::<_, tonic::Status>(response.into_inner().server_id)
        }));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        match within(Duration::from_secs(30), "concurrent UnaryCall", task)
            .await
            .expect("the call task")
        {
            Ok(server_id) => *counts.entry(server_id).or_default() += 1,
            Err(status) => *failures.entry(format!("{:?}", status.code())).or_default() += 1,
        }
    }
    println!("{calls} concurrent calls on one connection: {counts:?}, failures {failures:?}");
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    for name in names {
        let n = counts.get(name).copied().unwrap_or(0);
        assert!(
            n * 100 > calls * 15,
            "backend {name} answered {n} of {calls} calls (want > 15%): {counts:?}"
        );
    }
}

/// A full ping-pong, large unary and spread run against `bed` (the I/O-backend subsets).
pub async fn subset(bed: &Bed) {
    let mut client = bed.client().await;
    large_unary(&mut client, &bed.names).await;
    ping_pong(&mut client).await;
    spread(&client, &bed.names, 300).await;
}
