//! Streams the upstream did not process (RST_STREAM REFUSED_STREAM, RFC 9113 §8.7) are sent again by
//! the gateway, body included, and the client never sees the refusal.
//!
//! The upstream here is a bare HTTP/2 server (the `h2` crate, h2c) that refuses every other stream
//! it gets and answers the rest as a gRPC server would, checking that the request body is whole.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpListener;
use tonic::Request;
use tonic::codegen::Bytes;
use tonic::codegen::http;

use crate::cases::{STEP, simple};
use crate::client::TestClient;
use crate::h2c_gateway::h2c_config;
use crate::harness::{run, within};
use crate::proto::Empty;

/// Requests the refusing upstream saw: (all, refused, served with a whole body).
#[derive(Default)]
struct Seen {
    all: AtomicUsize,
    refused: AtomicUsize,
    whole: AtomicUsize,
}

async fn refusing_upstream(seen: Arc<Seen>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = conn.accept().await {
                    let seen = seen.clone();
                    tokio::spawn(async move {
                        if seen.all.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                            seen.refused.fetch_add(1, Ordering::SeqCst);
                            respond.send_reset(h2::Reason::REFUSED_STREAM);
                            return;
                        }
                        let mut body = request.into_body();
                        let mut bytes = Vec::new();
                        while let Some(Ok(chunk)) = body.data().await {
                            let _ = body.flow_control().release_capacity(chunk.len());
                            bytes.extend_from_slice(&chunk);
                        }
                        // One gRPC message: a 5-byte prefix whose length covers the rest.
                        let whole = bytes.len() >= 5
                            && u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]])
                                as usize
                                == bytes.len() - 5;
                        if whole {
                            seen.whole.fetch_add(1, Ordering::SeqCst);
                        }
                        let response = http::Response::builder()
                            .status(200)
                            .header("content-type", "application/grpc")
                            .body(())
                            .expect("response head");
                        let Ok(mut stream) = respond.send_response(response, false) else {
                            return;
                        };
                        let _ = stream.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
                        let mut trailers = http::HeaderMap::new();
                        let status = if whole { "0" } else { "3" };
                        trailers.insert("grpc-status", status.parse().expect("status"));
                        let _ = stream.send_trailers(trailers);
                    });
                }
            });
        }
    });
    addr
}

#[test]
fn refused_streams_are_replayed_with_their_body() {
    run(|bed| async move {
        let seen = Arc::new(Seen::default());
        let upstream = refusing_upstream(seen.clone()).await;
        let gateway = bed.start_gateway_yaml(|port| h2c_config(port, upstream));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", gateway.h2c))
            .expect("gateway URI")
            .connect()
            .await
            .expect("connect over h2c");
        let mut client = TestClient::new(channel);
        for i in 0..10 {
            within(STEP, "EmptyCall", client.empty_call(Request::new(Empty {})))
                .await
                .unwrap_or_else(|s| panic!("EmptyCall {i}: {s:?}"));
            // A body of 3 KiB: replayed from what the gateway kept.
            within(
                STEP,
                "UnaryCall",
                client.unary_call(Request::new(simple(3000, 0))),
            )
            .await
            .unwrap_or_else(|s| panic!("UnaryCall {i}: {s:?}"));
        }
        let (all, refused, whole) = (
            seen.all.load(Ordering::SeqCst),
            seen.refused.load(Ordering::SeqCst),
            seen.whole.load(Ordering::SeqCst),
        );
        println!("upstream saw {all} requests, refused {refused}, {whole} served whole");
        assert_eq!(refused, 20, "every call was refused once");
        assert_eq!(whole, 20, "every call was then served with its whole body");
        gateway.stop();
    });
}

/// An upstream that answers the HTTP/2 handshake, takes one request, and then goes silent (it no
/// longer reads its socket, so PINGs go unanswered). Returns its address.
async fn silent_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(socket).await else {
                    return;
                };
                let held = conn.accept().await;
                // Hold the connection and the request, answering nothing from now on.
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                drop((held, conn));
            });
        }
    });
    addr
}

#[test]
fn dead_upstream_connection_is_found_by_ping_and_the_call_fails_fast() {
    run(|bed| async move {
        let upstream = silent_upstream().await;
        let gateway = bed.start_gateway_yaml(|port| {
            h2c_config(port, upstream)
                + r#"---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: up, namespace: test}
spec:
  host: up.test.svc.cluster.local
  trafficPolicy:
    connectionPool:
      http:
        http2KeepAlive: {interval: 200ms, timeout: 300ms}
"#
        });
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", gateway.h2c))
            .expect("gateway URI")
            .connect()
            .await
            .expect("connect over h2c");
        let mut client = TestClient::new(channel);
        let since = std::time::Instant::now();
        let status = within(STEP, "EmptyCall", client.empty_call(Request::new(Empty {})))
            .await
            .expect_err("the upstream never answers");
        println!("silent upstream: {status:?} after {:?}", since.elapsed());
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(since.elapsed() < std::time::Duration::from_secs(3));
        gateway.stop();
    });
}
