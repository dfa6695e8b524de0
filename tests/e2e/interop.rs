//! The gRPC interop suite's call shapes through the gateway's TLS listener (and one over h2c).

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Status};

use crate::backend::{ECHO_INITIAL, ECHO_INITIAL_BIN, ECHO_TRAILING_BIN};
use crate::cases::{STEP, backend_header, large_unary, output_request, ping_pong, simple};
use crate::harness::{run, within};
use crate::proto::{
    EchoStatus, Empty, StreamingInputCallRequest, StreamingOutputCallRequest, body_len, payload,
};

#[test]
fn empty_unary() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let response = within(STEP, "EmptyCall", client.empty_call(Request::new(Empty {})))
            .await
            .expect("EmptyCall");
        assert!(bed.names.contains(&backend_header(response.metadata())));
        assert_eq!(response.into_inner(), Empty {});
    });
}

#[test]
fn large_unary_271828_to_314159() {
    run(|bed| async move {
        let mut client = bed.client().await;
        large_unary(&mut client, &bed.names).await;
    });
}

#[test]
fn client_streaming() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let requests: Vec<StreamingInputCallRequest> = [27_182, 8, 1_828, 45_904]
            .into_iter()
            .map(|size| StreamingInputCallRequest {
                payload: payload(size),
            })
            .collect();
        let response = within(
            STEP,
            "StreamingInputCall",
            client.streaming_input_call(Request::new(tokio_stream::iter(requests))),
        )
        .await
        .expect("StreamingInputCall");
        assert_eq!(response.into_inner().aggregated_payload_size, 74_922);
    });
}

#[test]
fn server_streaming() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let sizes = [31_415, 9, 2_653, 58_979];
        let response = within(
            STEP,
            "StreamingOutputCall",
            client.streaming_output_call(Request::new(output_request(&sizes, 0))),
        )
        .await
        .expect("StreamingOutputCall");
        let backend = backend_header(response.metadata());
        let mut inbound = response.into_inner();
        let mut got = Vec::new();
        while let Some(message) = within(STEP, "a streamed response", inbound.message())
            .await
            .expect("a streamed response")
        {
            assert_eq!(message.server_id, backend, "all from one backend");
            got.push(body_len(&message.payload));
        }
        assert_eq!(got, sizes);
        let trailers = within(STEP, "trailers", inbound.trailers()).await;
        assert!(trailers.is_ok(), "{trailers:?}");
    });
}

#[test]
fn ping_pong_lock_step() {
    run(|bed| async move {
        let mut client = bed.client().await;
        ping_pong(&mut client).await;
    });
}

#[test]
fn empty_stream() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let response = within(
            STEP,
            "FullDuplexCall",
            client.full_duplex_call(Request::new(tokio_stream::empty::<
                StreamingOutputCallRequest,
            >())),
        )
        .await
        .expect("FullDuplexCall with no messages");
        let mut inbound = response.into_inner();
        let first = within(STEP, "end of the stream", inbound.message()).await;
        assert!(
            matches!(first, Ok(None)),
            "no message, clean end: {first:?}"
        );
        // And a server stream that asks for no messages.
        let response = within(
            STEP,
            "StreamingOutputCall",
            client.streaming_output_call(Request::new(output_request(&[], 0))),
        )
        .await
        .expect("StreamingOutputCall with no responses");
        let mut inbound = response.into_inner();
        let first = within(STEP, "end of the stream", inbound.message()).await;
        assert!(
            matches!(first, Ok(None)),
            "no message, clean end: {first:?}"
        );
        // And empty messages both ways on a stream: zero-length gRPC messages.
        let requests = vec![output_request(&[0], 0), output_request(&[0, 0], 0)];
        let response = within(
            STEP,
            "FullDuplexCall",
            client.full_duplex_call(Request::new(tokio_stream::iter(requests))),
        )
        .await
        .expect("FullDuplexCall with empty messages");
        let messages: Vec<_> =
            within(STEP, "empty messages", response.into_inner().collect()).await;
        let messages: Vec<_> = messages
            .into_iter()
            .collect::<Result<_, Status>>()
            .expect("three empty messages");
        assert_eq!(messages.len(), 3);
        assert!(messages.iter().all(|m| body_len(&m.payload) == 0));
    });
}

const INITIAL_VALUE: &str = "test_initial_metadata_value";
const INITIAL_BIN: [u8; 4] = [0x00, 0xff, 0x10, 0x80];
const TRAILING_BIN: [u8; 3] = [0xab, 0xab, 0xab];

fn add_echo_metadata(metadata: &mut MetadataMap) {
    metadata.insert(ECHO_INITIAL, INITIAL_VALUE.parse().expect("ascii metadata"));
    metadata.insert_bin(ECHO_INITIAL_BIN, MetadataValue::from_bytes(&INITIAL_BIN));
    metadata.insert_bin(ECHO_TRAILING_BIN, MetadataValue::from_bytes(&TRAILING_BIN));
}

fn check_initial(metadata: &MetadataMap) {
    assert_eq!(
        metadata.get(ECHO_INITIAL).map(|v| v.to_str().unwrap()),
        Some(INITIAL_VALUE),
        "echoed initial metadata: {metadata:?}"
    );
    let bin = metadata
        .get_bin(ECHO_INITIAL_BIN)
        .unwrap_or_else(|| panic!("echoed -bin initial metadata: {metadata:?}"));
    assert_eq!(bin.to_bytes().expect("base64").as_ref(), INITIAL_BIN);
}

fn check_trailing(metadata: &MetadataMap) {
    let bin = metadata
        .get_bin(ECHO_TRAILING_BIN)
        .unwrap_or_else(|| panic!("echoed -bin trailing metadata: {metadata:?}"));
    assert_eq!(bin.to_bytes().expect("base64").as_ref(), TRAILING_BIN);
}

#[test]
fn custom_binary_metadata_in_headers_and_trailers() {
    run(|bed| async move {
        let mut client = bed.client().await;
        // Unary: tonic merges the trailers into the response metadata.
        let mut request = Request::new(simple(271_828, 314_159));
        add_echo_metadata(request.metadata_mut());
        let response = within(STEP, "UnaryCall", client.unary_call(request))
            .await
            .expect("UnaryCall with metadata");
        check_initial(response.metadata());
        check_trailing(response.metadata());
        assert_eq!(body_len(&response.get_ref().payload), 314_159);

        // Streaming: headers first, trailers after the last message.
        let mut request = Request::new(tokio_stream::iter(vec![output_request(
            &[314_159],
            271_828,
        )]));
        add_echo_metadata(request.metadata_mut());
        let response = within(STEP, "FullDuplexCall", client.full_duplex_call(request))
            .await
            .expect("FullDuplexCall with metadata");
        check_initial(response.metadata());
        let mut inbound = response.into_inner();
        let message = within(STEP, "the response", inbound.message())
            .await
            .expect("a response")
            .expect("one message");
        assert_eq!(body_len(&message.payload), 314_159);
        assert!(matches!(inbound.message().await, Ok(None)));
        let trailers = within(STEP, "trailers", inbound.trailers())
            .await
            .expect("trailers")
            .expect("trailers present");
        check_trailing(&trailers);
    });
}

/// The interop suite's status_code_and_message and special_status_message: the status the backend
/// sets reaches the client unchanged, whitespace, control characters and non-ASCII included.
#[test]
fn status_code_and_message_preserved() {
    const SPECIAL: &str = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    run(|bed| async move {
        let mut client = bed.client().await;
        for message in ["test status message", SPECIAL] {
            let echo = EchoStatus {
                code: 2,
                message: message.to_string(),
            };
            // Unary: a Trailers-Only answer from the backend.
            let mut request = simple(1, 1);
            request.response_status = Some(echo.clone());
            let status = within(STEP, "UnaryCall", client.unary_call(Request::new(request)))
                .await
                .expect_err("the backend answers with an error status");
            assert_eq!(status.code(), Code::Unknown, "{status:?}");
            assert_eq!(status.message(), message, "grpc-message byte for byte");

            // Streaming: headers, then the status in the trailers.
            let mut request = output_request(&[1], 1);
            request.response_status = Some(echo);
            let response = within(
                STEP,
                "FullDuplexCall",
                client.full_duplex_call(Request::new(tokio_stream::iter(vec![request]))),
            )
            .await;
            let status = match response {
                Err(status) => status,
                Ok(response) => {
                    let mut inbound = response.into_inner();
                    loop {
                        match within(STEP, "the status", inbound.message()).await {
                            Ok(Some(_)) => continue,
                            Ok(None) => panic!("stream ended OK; wanted status {message:?}"),
                            Err(status) => break status,
                        }
                    }
                }
            };
            assert_eq!(status.code(), Code::Unknown, "{status:?}");
            assert_eq!(status.message(), message, "grpc-message byte for byte");
        }
    });
}

#[test]
fn unimplemented_method_from_backend() {
    run(|bed| async move {
        let mut client = bed.client().await;
        let status = within(
            STEP,
            "UnimplementedCall",
            client.unimplemented_call(Request::new(Empty {})),
        )
        .await
        .expect_err("no such method");
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    });
}

#[test]
fn h2c_listener() {
    run(|bed| async move {
        let mut client = bed.client_h2c().await;
        large_unary(&mut client, &bed.names).await;
        ping_pong(&mut client).await;
        let response = within(
            Duration::from_secs(10),
            "EmptyCall over h2c",
            client.empty_call(Request::new(Empty {})),
        )
        .await
        .expect("EmptyCall over h2c");
        assert_eq!(response.into_inner(), Empty {});
    });
}

/// Large responses to a client that stops reading for a while: the gateway holds the data back at
/// its per-connection output limit (and the backends through flow control), then delivers every
/// byte once the client reads again, on every stream.
#[test]
fn slow_reader_gets_every_byte() {
    run(|bed| async move {
        let client = bed.client().await;
        let sizes = vec![128 << 10; 48];
        let mut calls = Vec::new();
        for _ in 0..3 {
            let mut client = client.clone();
            let request = output_request(&sizes, 0);
            calls.push(tokio::spawn(async move {
                let response = within(
                    STEP,
                    "StreamingOutputCall",
                    client.streaming_output_call(Request::new(request)),
                )
                .await
                .expect("StreamingOutputCall");
                let mut inbound = response.into_inner();
                // Not reading: the gateway's buffers toward this client fill up.
                tokio::time::sleep(Duration::from_millis(400)).await;
                let mut got = Vec::new();
                while let Some(message) = within(STEP, "a streamed response", inbound.message())
                    .await
                    .expect("a streamed response")
                {
                    got.push(body_len(&message.payload));
                }
                got
            }));
        }
        for call in calls {
            let got = call.await.expect("the call's task");
            assert_eq!(got, sizes, "every message, whole and in order");
        }
    });
}
