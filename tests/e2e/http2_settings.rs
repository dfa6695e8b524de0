//! The HTTP/2 annotations of a configured gateway, seen from outside: a Gateway's windows are what
//! its listener advertises to clients, a DestinationRule's are what the gateway advertises to that
//! host's backends (each read from the raw SETTINGS and WINDOW_UPDATE frames a peer receives), and
//! the smallest output limit with the smallest windows still carries a large body intact both ways.

use std::net::SocketAddr;

use h2edge::h2::conn::PREFACE;
use h2edge::proxy::gateway::Service;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::codegen::Bytes;
use tonic::codegen::http;

use crate::cases::STEP;
use crate::h2c_gateway::h2c_config;
use crate::harness::{run, within};

/// [`h2c_config`] with `gateway` as the Gateway's annotations, plus a DestinationRule for the
/// upstream Service with `rule` as its annotations (both YAML flow mappings).
fn annotated(port: u16, upstream: SocketAddr, gateway: &str, rule: &str) -> String {
    let base = h2c_config(port, upstream);
    let edge = "metadata: {name: edge, namespace: test}";
    assert!(base.contains(edge));
    base.replace(
        edge,
        &format!("metadata: {{name: edge, namespace: test, annotations: {gateway}}}"),
    ) + &format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: up, namespace: test, annotations: {rule}}}\nspec:\n  host: up.test.svc.cluster.local\n"
    )
}

/// What the gateway advertises on `socket` (after the preface, if it is the client): sends an
/// empty SETTINGS and reads up to its ACK, which the gateway queues after its own first frames.
/// Returns the SETTINGS_INITIAL_WINDOW_SIZE and the connection window (65,535 plus the
/// WINDOW_UPDATEs on stream 0), each 65,535 unless raised.
async fn advertised(socket: &mut TcpStream) -> (u32, u32) {
    socket
        .write_all(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0])
        .await
        .expect("an empty SETTINGS");
    let (mut stream_window, mut connection_window) = (65_535, 65_535);
    loop {
        let mut head = [0u8; 9];
        socket.read_exact(&mut head).await.expect("a frame header");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, ack) = (head[3], head[4] & 1 == 1);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        socket
            .read_exact(&mut payload)
            .await
            .expect("a frame payload");
        let value = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        match kind {
            0x4 if ack => return (stream_window, connection_window),
            // SETTINGS: (id u16, value u32) pairs; INITIAL_WINDOW_SIZE is 0x4.
            0x4 => {
                for s in payload.chunks_exact(6) {
                    if u16::from_be_bytes([s[0], s[1]]) == 0x4 {
                        stream_window = value(&s[2..]);
                    }
                }
            }
            0x8 if id == 0 => connection_window += value(&payload) & 0x7fff_ffff,
            _ => {}
        }
    }
}

/// A backend that reads what the gateway's connection to it advertises, reports it, and hangs up.
async fn settings_reader() -> (SocketAddr, oneshot::Receiver<(u32, u32)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut preface = [0u8; 24];
        socket.read_exact(&mut preface).await.expect("a preface");
        assert_eq!(&preface[..], PREFACE, "the gateway opens with the preface");
        let _ = tx.send(advertised(&mut socket).await);
    });
    (addr, rx)
}

/// What the gateway's listener at `addr` advertises to a client.
async fn advertised_to_client(addr: SocketAddr) -> (u32, u32) {
    let mut socket = TcpStream::connect(addr)
        .await
        .expect("connect to the gateway");
    socket.write_all(PREFACE).await.expect("preface");
    within(STEP, "the gateway's SETTINGS", advertised(&mut socket)).await
}

/// An h2c client connection to the gateway at `addr` (the `h2` crate).
async fn h2_client(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let socket = TcpStream::connect(addr)
        .await
        .expect("connect to the gateway");
    let (client, connection) = h2::client::handshake(socket).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn post(addr: SocketAddr) -> http::Request<()> {
    http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}/echo"))
        .body(())
        .expect("request head")
}

#[test]
fn annotations_set_the_windows_advertised_to_clients_and_to_backends() {
    run(|bed| async move {
        let (upstream, upstream_saw) = settings_reader().await;
        let gateway_annotations =
            "{h2edge.io/http2-stream-window: 96Ki, h2edge.io/http2-connection-window: 192Ki}";
        let rule_annotations =
            "{h2edge.io/http2-stream-window: 128Ki, h2edge.io/http2-connection-window: 3Mi}";
        let gateway = bed.start_gateway_yaml(|port| {
            annotated(port, upstream, gateway_annotations, rule_annotations)
        });

        // The client-facing connection follows the Gateway, not the built-in 1 MiB / 16 MiB.
        assert_eq!(
            advertised_to_client(gateway.h2c).await,
            (96 << 10, 192 << 10)
        );

        // A request makes the gateway connect to the backend, with the DestinationRule's windows.
        let mut client = h2_client(gateway.h2c).await;
        let (response, _body) = client
            .send_request(post(gateway.h2c), true)
            .expect("send a request");
        tokio::spawn(response); // the backend never answers: the outcome does not matter
        let saw = within(
            STEP,
            "the gateway's connection to the backend",
            upstream_saw,
        )
        .await
        .expect("the backend read the gateway's SETTINGS");
        assert_eq!(saw, (128 << 10, 3 << 20));
        gateway.stop();

        // The start-up description says what is in force.
        let yaml = annotated(8080, upstream, gateway_annotations, rule_annotations);
        let config = h2edge::config::load_str("e2e.yaml", &yaml).expect("the config loads");
        let plan = h2edge::serve::plan(&config, [127, 0, 0, 1].into()).expect("plan");
        let describe = plan.describe.join("\n");
        assert!(
            describe.contains(
                "(test/edge/h2c), http2-stream-window 98304, http2-connection-window 196608"
            ),
            "{describe}"
        );
        assert!(
            describe.contains("h2c, http2-stream-window 131072, http2-connection-window 3145728)"),
            "{describe}"
        );
    });
}

/// An h2c backend (the `h2` crate) that streams every request body back as the response body.
async fn echo_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    tokio::spawn(async move {
                        let head = http::Response::builder()
                            .status(200)
                            .body(())
                            .expect("response head");
                        let Ok(mut send) = respond.send_response(head, false) else {
                            return;
                        };
                        let mut body = request.into_body();
                        while let Some(Ok(chunk)) = body.data().await {
                            let _ = body.flow_control().release_capacity(chunk.len());
                            if send.send_data(chunk, false).is_err() {
                                return;
                            }
                        }
                        let _ = send.send_data(Bytes::new(), true);
                    });
                }
            });
        }
    });
    addr
}

/// `len` bytes without a short period, so a lost, repeated or reordered frame shows.
fn pattern(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

#[test]
fn smallest_output_limit_and_windows_carry_a_large_body_intact() {
    run(|bed| async move {
        let upstream = echo_upstream().await;
        let smallest = "{h2edge.io/http2-stream-window: \"65535\", h2edge.io/http2-connection-window: \"65535\", h2edge.io/max-buffered-output: \"16393\"}";
        let gateway = bed.start_gateway_yaml(|port| annotated(port, upstream, smallest, smallest));
        // The workers' settings for the listener and the cluster carry all three values.
        let yaml = annotated(8080, upstream, smallest, smallest);
        let config = h2edge::config::load_str("e2e.yaml", &yaml).expect("the config loads");
        let plan = h2edge::serve::plan(&config, [127, 0, 0, 1].into()).expect("plan");
        let Service::Proxy(up) = &plan.gateway.service else {
            panic!("a configured gateway proxies");
        };
        let cluster = up.clusters[0].client_h2.as_ref();
        for (side, h2) in [("listener", up.server_h2.first()), ("cluster", cluster)] {
            let h2 = h2.unwrap_or_else(|| panic!("the {side} has its own settings"));
            assert_eq!(
                (
                    h2.initial_window_size,
                    h2.connection_window_size,
                    h2.limits.max_buffered_output
                ),
                (65_535, 65_535, 16_393),
                "{side}"
            );
        }
        assert_eq!(advertised_to_client(gateway.h2c).await, (65_535, 65_535));

        // 4 MiB each way at once: the request streams up while the echo streams back down.
        let body = pattern(4 << 20);
        let mut client = h2_client(gateway.h2c).await;
        let (response, mut send) = client
            .send_request(post(gateway.h2c), false)
            .expect("send the request head");
        send.send_data(Bytes::from(body.clone()), true)
            .expect("queue the body");
        let echoed = within(STEP, "the echoed body", async move {
            let response = response.await.expect("a response");
            assert_eq!(response.status(), 200);
            let mut stream = response.into_body();
            let mut echoed = Vec::new();
            while let Some(chunk) = stream.data().await {
                let chunk = chunk.expect("response data");
                let _ = stream.flow_control().release_capacity(chunk.len());
                echoed.extend_from_slice(&chunk);
            }
            echoed
        })
        .await;
        assert_eq!(echoed.len(), body.len(), "the whole body came back");
        assert!(echoed == body, "the body came back unchanged");
        gateway.stop();
    });
}
