//! The gateway as `h2edge run CONFIG` builds it: Gateway API / Istio YAML, loaded and planned by
//! the same code, routing by gRPC method and balancing each stream by the DestinationRule's
//! policy over the bed's mTLS backends (ISTIO_MUTUAL, SPIFFE id checked).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tonic::transport::Endpoint as TonicEndpoint;
use tonic::{Code, Request};

use crate::cases::{STEP, simple, spread};
use crate::client::TestClient;
use crate::harness::{run, within};
use crate::proto::Empty;

async fn h2c_client(addr: SocketAddr) -> TestClient {
    let channel = TonicEndpoint::from_shared(format!("http://{addr}"))
        .expect("gateway URI")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to the configured gateway");
    TestClient::new(channel)
}

/// One UnaryCall with `metadata`; returns the answering backend and the response's `set-cookie`.
async fn call(
    client: &mut TestClient,
    metadata: &[(&'static str, String)],
) -> (String, Option<String>) {
    let mut request = Request::new(simple(8, 8));
    for (name, value) in metadata {
        request
            .metadata_mut()
            .insert(*name, value.parse().expect("metadata value"));
    }
    let response = within(STEP, "UnaryCall", client.unary_call(request))
        .await
        .expect("UnaryCall through the configured gateway");
    let cookie = response
        .metadata()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (response.into_inner().server_id, cookie)
}

#[test]
fn config_routes_by_method_and_balances_round_robin() {
    run(|bed| async move {
        let gateway = bed.start_gateway_from_config("      simple: ROUND_ROBIN", &bed.backends);
        let mut client = h2c_client(gateway.h2c).await;
        spread(&client, &bed.names, 300).await;
        // EmptyCall has no route: the gateway answers UNIMPLEMENTED itself.
        let status = within(STEP, "EmptyCall", client.empty_call(Request::new(Empty {})))
            .await
            .expect_err("EmptyCall has no route");
        assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
        assert!(status.message().contains("no route"), "{status:?}");
        assert!(status.metadata().get("x-backend").is_none(), "{status:?}");
        gateway.stop();
    });
}

#[test]
fn config_consistent_hash_on_a_header_pins_each_user() {
    run(|bed| async move {
        let gateway = bed.start_gateway_from_config(
            "      consistentHash:\n        httpHeaderName: x-user",
            &bed.backends,
        );
        let mut client = h2c_client(gateway.h2c).await;
        let mut owners = BTreeSet::new();
        for user in 0..24 {
            let user = format!("user-{user}");
            let mut seen = BTreeSet::new();
            for _ in 0..5 {
                seen.insert(call(&mut client, &[("x-user", user.clone())]).await.0);
            }
            assert_eq!(seen.len(), 1, "{user} reached {seen:?}");
            owners.extend(seen);
        }
        assert!(owners.len() >= 2, "24 users all on {owners:?}");
        gateway.stop();
    });
}

#[test]
fn config_cookie_hash_sets_the_cookie_then_follows_it() {
    run(|bed| async move {
        let gateway = bed.start_gateway_from_config("      consistentHash:\n        httpCookie:\n          name: session\n          ttl: 60s", &bed.backends);
        let mut owners = BTreeSet::new();
        // A generated cookie derives from the client's address and port: one connection per
        // session, as browsers' separate clients would be.
        for _ in 0..12 {
            let mut client = h2c_client(gateway.h2c).await;
            let (first, cookie) = call(&mut client, &[]).await;
            let cookie = cookie.expect("a Set-Cookie when the request has none");
            assert!(cookie.starts_with("session="), "{cookie}");
            assert!(cookie.contains("Max-Age=60"), "{cookie}");
            let pair = cookie.split(';').next().unwrap_or_default().to_string();
            for _ in 0..4 {
                let (again, set) = call(&mut client, &[("cookie", pair.clone())]).await;
                assert_eq!(again, first, "cookie {pair} moved");
                assert!(set.is_none(), "no new cookie when the request has one");
            }
            owners.insert(first);
        }
        assert!(owners.len() >= 2, "12 sessions all on {owners:?}");
        gateway.stop();
    });
}

#[test]
fn config_least_request_spreads_concurrent_streams() {
    run(|bed| async move {
        let gateway = bed.start_gateway_from_config("      simple: LEAST_REQUEST", &bed.backends);
        let client = h2c_client(gateway.h2c).await;
        // 300 overlapping calls: the two-choice pick on in-flight streams keeps every backend busy.
        spread(&client, &bed.names, 300).await;
        gateway.stop();
    });
}

/// Reload under load: while calls run back to back on one connection, the config drops backend b3
/// (a valid reload), then becomes invalid (refused, the running one stays). No call fails, and
/// after the first reload b3 gets nothing.
#[test]
fn config_reload_under_load_loses_no_call() {
    run(|bed| async move {
        let dir = std::env::temp_dir().join(format!("h2edge-e2e-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (mut running, addr) = bed.start_running(&dir, "      simple: ROUND_ROBIN");
        let client = h2c_client(addr).await;

        // Eight callers, each one call at a time, until told to stop; every answer is recorded
        // with whether it started after the reload settled.
        let phase = Arc::new(AtomicU8::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (mut client, phase) = (client.clone(), phase.clone());
            tasks.push(tokio::spawn(async move {
                let mut answers = Vec::new();
                while phase.load(Ordering::Relaxed) < 2 {
                    let after = phase.load(Ordering::Relaxed) == 1;
                    let result = client.unary_call(Request::new(simple(8, 8))).await;
                    answers.push((after, result.map(|r| r.into_inner().server_id)));
                }
                answers
            }));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;

        let two = &bed.backends[..2];
        let yaml = bed.config_yaml(addr.port(), "      simple: ROUND_ROBIN", two);
        std::fs::write(dir.join("gateway.yaml"), yaml).expect("rewrite the config");
        assert!(running.changed(), "the rewritten file is noticed");
        running.reload().expect("a valid reload");
        // Workers take a new config within one loop turn (at most 100 ms when idle).
        tokio::time::sleep(Duration::from_millis(250)).await;
        phase.store(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;

        std::fs::write(dir.join("gateway.yaml"), "kind: Gateway\nspec: [").expect("break it");
        let refused = running.reload().expect_err("an invalid config is refused");
        assert!(
            refused.contains("gateway.yaml:"),
            "names the file and line: {refused}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        phase.store(2, Ordering::Relaxed);

        let mut failures = Vec::new();
        let (mut before, mut after) = (BTreeSet::new(), Vec::new());
        for task in tasks {
            for (late, answer) in within(STEP, "callers", task).await.expect("caller") {
                match (late, answer) {
                    (_, Err(status)) => failures.push(status),
                    (false, Ok(id)) => {
                        before.insert(id);
                    }
                    (true, Ok(id)) => after.push(id),
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} calls failed: {:?}",
            failures.len(),
            failures.first()
        );
        assert_eq!(
            before.len(),
            3,
            "all three backends before the reload: {before:?}"
        );
        assert!(
            after.len() > 20,
            "only {} calls after the reload",
            after.len()
        );
        assert!(
            after.iter().all(|id| id != "b3"),
            "b3 answered after it left the config: {after:?}"
        );
        running.stop().expect("workers stop");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// Outlier detection: a backend that answers UNAVAILABLE twice in a row (consecutive5xxErrors: 2)
/// leaves the balancer; a user hashed onto it moves to another backend, and the others stay.
#[test]
fn config_outlier_detection_ejects_a_failing_backend() {
    outlier_case("maxEjectionPercent: 50", true);
}

/// `minHealthPercent: 100`: ejecting any of the three backends would leave fewer than all of them
/// in the balancer, so the failing backend stays and so does the user hashed onto it.
#[test]
fn config_outlier_detection_keeps_min_health_percent() {
    outlier_case(
        "maxEjectionPercent: 100\n      minHealthPercent: 100",
        false,
    );
}

/// Two UNAVAILABLE answers for user carol, then five calls: whether she moved off her backend.
fn outlier_case(limits: &'static str, moves: bool) {
    run(move |bed| async move {
        let gateway = bed.start_gateway_from_config(
            &format!("      consistentHash:\n        httpHeaderName: x-user\n    outlierDetection:\n      consecutive5xxErrors: 2\n      baseEjectionTime: 30s\n      {limits}"),
            &bed.backends,
        );
        let mut client = h2c_client(gateway.h2c).await;
        let user = || vec![("x-user", "carol".to_string())];
        let (home, _) = call(&mut client, &user()).await;
        for i in 0..2 {
            let mut request = Request::new(crate::proto::SimpleRequest {
                response_status: Some(crate::proto::EchoStatus {
                    code: Code::Unavailable as i32,
                    message: "failing on purpose".into(),
                }),
                ..simple(8, 8)
            });
            request
                .metadata_mut()
                .insert("x-user", "carol".parse().expect("metadata"));
            let status = within(STEP, "failing UnaryCall", client.unary_call(request))
                .await
                .expect_err("the backend answers UNAVAILABLE");
            assert_eq!(
                status.message(),
                "failing on purpose",
                "call {i}: {status:?}"
            );
        }
        let mut after = BTreeSet::new();
        for _ in 0..5 {
            after.insert(call(&mut client, &user()).await.0);
        }
        assert_eq!(after.len(), 1, "carol is still pinned: {after:?}");
        assert_eq!(
            !after.contains(&home),
            moves,
            "carol's backend was {home}, then {after:?}"
        );
        gateway.stop();
    });
}

/// A DNS cluster (ExternalName Service): its name is resolved at start, and again on refresh; when
/// the answers change, new streams go to the new addresses without a reload or a failed call.
#[test]
fn config_dns_cluster_follows_changed_answers() {
    run(|bed| async move {
        let dir = std::env::temp_dir().join(format!("h2edge-e2e-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let answers = Arc::new(std::sync::Mutex::new(vec![bed.backends[0]]));
        let resolver = {
            let answers = answers.clone();
            Arc::new(move |name: &str, _port: u16| {
                assert_eq!(name, "backends.e2e.test");
                Ok(answers.lock().map(|a| a.clone()).unwrap_or_default())
            })
        };
        let (mut running, addr) = bed.start_running_yaml(
            &dir,
            |port| {
                bed.config_yaml(port, "      simple: ROUND_ROBIN", &[])
                    .replace(
                        "spec:\n  ports:\n  - name: grpc\n    port: 50051\n",
                        "spec:\n  type: ExternalName\n  externalName: backends.e2e.test\n",
                    )
            },
            resolver,
        );
        let mut client = h2c_client(addr).await;
        let mut first = BTreeSet::new();
        for _ in 0..6 {
            first.insert(call(&mut client, &[]).await.0);
        }
        assert_eq!(first, BTreeSet::from([bed.names[0].clone()]));

        *answers.lock().expect("answers") = vec![bed.backends[1], bed.backends[2]];
        let changed = running.refresh_dns().expect("names resolve");
        assert!(changed.is_some(), "new answers are published");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut after = BTreeSet::new();
        for _ in 0..12 {
            after.insert(call(&mut client, &[]).await.0);
        }
        assert_eq!(
            after,
            BTreeSet::from([bed.names[1].clone(), bed.names[2].clone()])
        );
        assert!(
            running.refresh_dns().expect("names resolve").is_none(),
            "the same answers change nothing"
        );
        running.stop().expect("workers stop");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// Downstream mTLS (`spec.tls.frontend`): a client with a certificate from the configured CA gets
/// through; one without a certificate does not get a single call through.
#[test]
fn config_frontend_validation_requires_client_certificates() {
    run(|bed| async move {
        let gateway = bed.start_gateway_yaml(|port| bed.frontend_mtls_yaml(port));
        let channel = bed
            .try_channel_tls(gateway.tls, true)
            .await
            .expect("a client with a mesh certificate connects");
        let mut client = TestClient::new(channel);
        within(
            STEP,
            "UnaryCall",
            client.unary_call(Request::new(simple(8, 8))),
        )
        .await
        .expect("UnaryCall with a client certificate");

        // Without a certificate the handshake (or, with TLS 1.3, the first call) fails.
        let refused = match bed.try_channel_tls(gateway.tls, false).await {
            Err(_) => true,
            Ok(channel) => {
                let mut client = TestClient::new(channel);
                within(
                    STEP,
                    "UnaryCall",
                    client.unary_call(Request::new(simple(8, 8))),
                )
                .await
                .is_err()
            }
        };
        assert!(refused, "a client without a certificate got through");
        gateway.stop();
    });
}

/// HTTPRoute `timeouts.request`: a call the backend holds longer than the route allows gets
/// DEADLINE_EXCEEDED from the gateway at the timeout (the backend's stream is cancelled); a quick
/// call on the same route is unaffected.
#[test]
fn config_route_timeout_answers_deadline_exceeded() {
    run(|bed| async move {
        let gateway = bed.start_gateway_yaml(|port| {
            let yaml = bed.config_yaml(port, "      simple: ROUND_ROBIN", &bed.backends);
            let grpc_rule = "kind: GRPCRoute\nmetadata:\n  name: test\n  namespace: e2e\nspec:\n  parentRefs:\n  - name: edge\n  rules:\n  - matches:\n    - method:\n        service: grpc.testing.TestService\n        method: UnaryCall\n    backendRefs:\n";
            assert!(yaml.contains(grpc_rule));
            yaml.replace(
                grpc_rule,
                "kind: HTTPRoute\nmetadata:\n  name: test\n  namespace: e2e\nspec:\n  parentRefs:\n  - name: edge\n  rules:\n  - timeouts:\n      request: 300ms\n    backendRefs:\n",
            )
        });
        let mut client = h2c_client(gateway.h2c).await;
        call(&mut client, &[]).await;
        let since = std::time::Instant::now();
        let status = within(
            STEP,
            "held UnaryCall",
            client.unary_call({
                let mut r = Request::new(simple(8, 8));
                r.metadata_mut()
                    .insert(crate::backend::SLEEP_MS, "3000".parse().expect("metadata"));
                r
            }),
        )
        .await
        .expect_err("the route times out first");
        let took = since.elapsed();
        println!("route timeout: {status:?} after {took:?}");
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_millis(2000), "{took:?}");
        call(&mut client, &[]).await;
        gateway.stop();
    });
}

/// Circuit breaking: `maxRequestsPerConnection` drains and replaces upstream connections without a
/// failed call; `http2MaxRequests` answers a stream over the limit UNAVAILABLE at once.
#[test]
fn config_connection_pool_limits() {
    run(|bed| async move {
        let gateway = bed.start_gateway_from_config(
            "      simple: ROUND_ROBIN\n    connectionPool:\n      http:\n        maxRequestsPerConnection: 2\n        http2MaxRequests: 1",
            &bed.backends,
        );
        let mut client = h2c_client(gateway.h2c).await;
        // One at a time: every call succeeds while connections are recycled every 2 streams.
        for _ in 0..20 {
            call(&mut client, &[]).await;
        }
        // Two at once with room for one: the second is refused by the breaker, not queued.
        let mut held = client.clone();
        let first = tokio::spawn(async move {
            let mut r = Request::new(simple(8, 8));
            r.metadata_mut()
                .insert(crate::backend::SLEEP_MS, "500".parse().expect("metadata"));
            held.unary_call(r).await
        });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let status = within(
            STEP,
            "second UnaryCall",
            client.unary_call(Request::new(simple(8, 8))),
        )
        .await
        .expect_err("over http2MaxRequests");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(status.message().contains("overflow"), "{status:?}");
        within(STEP, "held UnaryCall", first)
            .await
            .expect("task")
            .expect("the call within the limit succeeds");
        call(&mut client, &[]).await;
        gateway.stop();
    });
}
