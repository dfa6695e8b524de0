//! Balancing: per-stream round robin over the backends on one client connection, and streaming
//! calls pinned to the backend they started on.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Request;

use crate::cases::{STEP, backend_header, output_request, spread};
use crate::harness::{run, within};
use crate::proto::StreamingOutputCallRequest;

#[test]
fn concurrent_streams_on_one_connection_spread_over_backends() {
    run(|bed| async move {
        let client = bed.client().await;
        spread(&client, &bed.names, 300).await;
    });
}

#[test]
fn streaming_call_stays_on_one_backend() {
    run(|bed| async move {
        let client = bed.client().await;
        const STREAMS: usize = 6;
        const MESSAGES: usize = 20;
        let mut tasks = Vec::new();
        for s in 0..STREAMS {
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                let (tx, rx) = mpsc::channel::<StreamingOutputCallRequest>(1);
                tx.send(output_request(&[100], 100)).await.expect("queue");
                let response = client
                    .full_duplex_call(Request::new(ReceiverStream::new(rx)))
                    .await
                    .expect("FullDuplexCall");
                let header = backend_header(response.metadata());
                let mut inbound = response.into_inner();
                let mut ids = Vec::new();
                for i in 0..MESSAGES {
                    if i > 0 {
                        tx.send(output_request(&[100], 100)).await.expect("send");
                    }
                    let message = within(
                        Duration::from_secs(5),
                        &format!("stream {s} message {i}"),
                        inbound.message(),
                    )
                    .await
                    .expect("a message")
                    .expect("not the end");
                    ids.push(message.server_id);
                }
                drop(tx);
                assert!(matches!(inbound.message().await, Ok(None)));
                (header, ids)
            }));
        }
        let mut used = BTreeSet::new();
        for (s, task) in tasks.into_iter().enumerate() {
            let (header, ids) = within(STEP, "a streaming call", task)
                .await
                .expect("the stream task");
            assert!(
                ids.iter().all(|id| *id == header),
                "stream {s}: x-backend {header}, messages answered by {ids:?}"
            );
            used.insert(header);
        }
        println!("{STREAMS} streams went to {used:?}");
        assert!(used.len() >= 2, "streams spread over backends: {used:?}");
    });
}
