//! Streams the upstream did not process are sent again (RST_STREAM REFUSED_STREAM, RFC 9113 §8.7;
//! GOAWAY's last-stream-id, §6.8), body included; one too long to replay reaches the client as
//! REFUSED_STREAM. `tests/e2e/replay.rs` replays in front of the `h2` crate over real sockets.

use std::time::Duration;

use h2edge::h2::ErrorCode;

use crate::{ALL_TO_UP, endpoint, honest, serves, sim, yaml};

#[test]
fn refused_streams_are_replayed_with_their_body() {
    let (faults, up) = serves();
    faults.refuse_every_other.set(true);
    let mut sim = sim(&yaml(&[endpoint(0)], "", ALL_TO_UP, ""), vec![up]);
    let c = honest(&mut sim);
    for i in 0..10 {
        let get = sim.client_mut(c).get("/small");
        // A body of 3 KiB: replayed from what the gateway kept.
        let post = sim.client_mut(c).request("POST", "/upload", false);
        let sent = sim.client_mut(c).conn.send_data(post, &[7; 3000], true);
        assert_eq!(sent.ok(), Some(3000));
        let done = sim.run_until(Duration::from_secs(1), |s| {
            s.client(c).ended(get) && s.client(c).ended(post)
        });
        assert!(done, "call {i} unanswered");
        assert_eq!(sim.client(c).status(get), Some("200"), "call {i}");
        assert_eq!(sim.client(c).status(post), Some("200"), "call {i}");
    }
    assert!(sim.client(c).seen.resets.is_empty());
    assert_eq!(faults.refused.get(), 20, "every call was refused once");
    assert_eq!(faults.requests.get(), 40);
    // Each replayed POST arrived with its whole body.
    let bodies = sim.upstream_ids().flat_map(|u| {
        let seen = &sim.upstream(u).seen;
        let posts = seen.requests.iter().filter(|r| r.1 == "/upload");
        posts
            .map(|r| seen.body.get(&r.0).copied())
            .collect::<Vec<_>>()
    });
    assert!(bodies.filter(|b| *b == Some(3000)).count() >= 10);
}

#[test]
fn streams_past_the_goaway_last_stream_id_are_replayed() {
    let (faults, up) = serves();
    // The first connection takes four requests and processes only the first.
    faults.goaway_after_requests.set(Some(4));
    let mut sim = sim(&yaml(&[endpoint(0)], "", ALL_TO_UP, ""), vec![up]);
    let c = honest(&mut sim);
    let ids: Vec<u32> = (0..4).map(|_| sim.client_mut(c).get("/small")).collect();
    sim.run_until(Duration::from_millis(100), |_| faults.requests.get() >= 4);
    // Later connections process everything.
    faults.goaway_after_requests.set(None);
    let done = sim.run_until(Duration::from_secs(2), |s| {
        ids.iter().all(|&id| s.client(c).ended(id))
    });
    assert!(done, "calls unanswered");
    for &id in &ids {
        assert_eq!(sim.client(c).status(id), Some("200"), "stream {id}");
    }
    assert!(sim.client(c).seen.resets.is_empty());
    let ups: Vec<_> = sim.upstream_ids().collect();
    assert!(ups.len() >= 2, "a new connection took the replays");
    assert_eq!(sim.upstream(ups[0]).answered, 1);
    assert_eq!(faults.requests.get(), 7, "three requests were sent again");
}

#[test]
fn an_unprocessed_stream_too_long_to_replay_is_refused() {
    let (faults, up) = serves();
    faults.goaway_after_body.set(Some(20 << 10));
    let mut sim = sim(&yaml(&[endpoint(0)], "", ALL_TO_UP, ""), vec![up]);
    let c = honest(&mut sim);
    let id = sim.client_mut(c).request("POST", "/upload", false);
    // 32 KiB: over the 16 KiB the gateway keeps for a replay.
    let sent = sim.client_mut(c).conn.send_data(id, &[7; 32 << 10], true);
    assert_eq!(sent.ok(), Some(32 << 10));
    let ended = sim.run_until(Duration::from_secs(5), |s| s.client(c).ended(id));
    assert!(ended, "no answer");
    assert_eq!(
        sim.client(c).seen.resets,
        vec![(id, ErrorCode::REFUSED_STREAM)],
        "status {:?}",
        sim.client(c).status(id)
    );
}
