//! Upstream failures answered locally: mutual TLS enforced both ways, and no reachable backend,
//! each a gRPC 14 UNAVAILABLE, quickly, never a hang.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::{Code, Request};
use tower::ServiceExt;

use crate::backend::{EventKind, TAG};
use crate::cases::{STEP, simple};
use crate::client::TestClient;
use crate::harness::{Bed, OTHER_ID, run, within};

/// Calls through `gateway_tls` must fail with UNAVAILABLE (three in a row, each within 5 s), and
/// none of them may reach a backend.
async fn expect_unavailable(bed: &Bed, gateway_tls: SocketAddr, what: &str) {
    let mut client = TestClient::new(bed.channel_tls(gateway_tls).await);
    for i in 0..3 {
        let tag = format!("{what}-{i}");
        let mut request = Request::new(simple(10, 10));
        request
            .metadata_mut()
            .insert(TAG, tag.parse().expect("ascii tag"));
        let since = Instant::now();
        let status = within(
            Duration::from_secs(5),
            &format!("{what}: call {i}"),
            client.unary_call(request),
        )
        .await
        .expect_err("no upstream may answer");
        println!(
            "{what}: call {i}: {:?} {:?} after {:?}",
            status.code(),
            status.message(),
            since.elapsed()
        );
        assert_eq!(status.code(), Code::Unavailable, "{what}: {status:?}");
        let reached = bed
            .wait_event(&tag, Duration::from_millis(50), |k| {
                matches!(k, EventKind::Arrived { .. })
            })
            .await;
        assert!(reached.is_none(), "{what}: the call reached {reached:?}");
    }
}

#[test]
fn backend_rejects_gateway_without_client_certificate() {
    run(|bed| async move {
        let mut options = bed.options(1);
        options.client_cert = false;
        let gateway = bed.start_gateway(&options);
        expect_unavailable(&bed, gateway.tls, "no-client-cert").await;
        // The properly configured gateway still works with the same backends.
        let mut client = bed.client().await;
        within(
            STEP,
            "UnaryCall",
            client.unary_call(Request::new(simple(1, 1))),
        )
        .await
        .expect("UnaryCall through the mTLS gateway");
        gateway.stop();
    });
}

#[test]
fn gateway_rejects_backend_with_wrong_spiffe_id() {
    run(|bed| async move {
        let mut options = bed.options(1);
        options.identity = OTHER_ID.to_string();
        let gateway = bed.start_gateway(&options);
        expect_unavailable(&bed, gateway.tls, "wrong-spiffe-id").await;
        gateway.stop();
    });
}

/// Three loopback ports with nothing listening.
fn closed_ports() -> Vec<SocketAddr> {
    let listeners: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("address"))
        .collect()
}

#[test]
fn no_backend_reachable_is_unavailable_trailers_only() {
    run(|bed| async move {
        let mut options = bed.options(1);
        options.endpoints = Some(closed_ports());
        let gateway = bed.start_gateway(&options);
        expect_unavailable(&bed, gateway.tls, "no-backend").await;

        // The raw answer: HTTP 200, grpc-status 14 in the only HEADERS frame (END_STREAM), no
        // DATA, no trailers: a Trailers-Only response.
        let channel = bed.channel_tls(gateway.tls).await;
        let request = http::Request::builder()
            .method("POST")
            .uri(format!(
                "https://localhost:{}/grpc.testing.TestService/EmptyCall",
                gateway.tls.port()
            ))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Body::new(http_body_util::Full::new(
                tonic::codegen::Bytes::from_static(&[0, 0, 0, 0, 0]),
            )))
            .expect("request");
        let since = Instant::now();
        let response = within(
            Duration::from_secs(5),
            "raw EmptyCall",
            channel.oneshot(request),
        )
        .await
        .expect("an HTTP response");
        println!(
            "no-backend: raw answer after {:?}: {:?} {:?}",
            since.elapsed(),
            response.status(),
            response.headers()
        );
        assert_eq!(response.status(), http::StatusCode::OK);
        let headers = response.headers();
        assert_eq!(
            headers.get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"14"[..])
        );
        assert!(
            headers
                .get("content-type")
                .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc")),
            "content-type: {headers:?}"
        );
        assert!(headers.contains_key("grpc-message"), "{headers:?}");
        let mut body = response.into_body();
        let frame = within(Duration::from_secs(5), "end of the body", body.frame()).await;
        assert!(
            frame.is_none(),
            "Trailers-Only: nothing after the HEADERS frame, got {frame:?}"
        );
        gateway.stop();
    });
}

/// Sequential calls on one connection through a gateway whose first endpoint is `dead`: every call
/// succeeds, from the two live backends only, each taking a fair share.
async fn calls_avoid(bed: &Bed, gateway: SocketAddr, what: &str) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{gateway}"))
        .expect("gateway URI")
        .connect()
        .await
        .expect("connect over h2c");
    let mut client = TestClient::new(channel);
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let since = Instant::now();
    for i in 0..30 {
        let response = within(
            Duration::from_secs(5),
            &format!("{what}: call {i}"),
            client.unary_call(Request::new(simple(8, 8))),
        )
        .await
        .unwrap_or_else(|s| panic!("{what}: call {i} failed: {s:?}"));
        *counts.entry(response.into_inner().server_id).or_default() += 1;
    }
    println!("{what}: 30 calls in {:?}: {counts:?}", since.elapsed());
    assert!(!counts.contains_key(&bed.names[0]), "{what}: {counts:?}");
    for name in &bed.names[1..] {
        assert!(
            counts.get(name).copied().unwrap_or(0) >= 5,
            "{what}: {counts:?}"
        );
    }
}

#[test]
fn refused_endpoint_is_skipped_and_no_call_fails() {
    run(|bed| async move {
        let mut endpoints = bed.backends.clone();
        endpoints[0] = closed_ports()[0];
        let mut options = bed.options(1);
        options.endpoints = Some(endpoints);
        let gateway = bed.start_gateway(&options);
        calls_avoid(&bed, gateway.h2c, "refused").await;
        gateway.stop();
    });
}

#[test]
fn silent_endpoint_times_out_and_no_call_fails() {
    run(|bed| async move {
        // Accepts TCP (the kernel's backlog) but never answers the TLS handshake.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut endpoints = bed.backends.clone();
        endpoints[0] = silent.local_addr().expect("address");
        let gateway = bed.start_gateway_from_config(
            "      simple: ROUND_ROBIN\n    connectionPool:\n      tcp:\n        connectTimeout: 300ms",
            &endpoints,
        );
        calls_avoid(&bed, gateway.h2c, "silent").await;
        gateway.stop();
        drop(silent);
    });
}
