//! Bounds on client connections (moved from `tests/conn_timeouts.rs`, which keeps the handshake,
//! preface and idle timeouts over real sockets, h2c and TLS): an open header block is cut, and a
//! worker keeps at most `max-connections-per-worker` clients, the longest idle making room.

use std::rc::Rc;
use std::time::{Duration, Instant};

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::PREFACE;
use h2edge::h2::frame;
use h2edge::testkit::{ClientId, Dial, Faults, H2Server, RawPeer, Sim, gateway_config};

use crate::{endpoint, yaml};

type RawSim = Sim<RawPeer, H2Server>;

/// A gateway with `annotations` whose one upstream accepts connections and never says anything.
fn raw_sim(annotations: &str) -> RawSim {
    let config = gateway_config(&yaml(&[endpoint(0)], annotations, crate::ALL_TO_UP, ""));
    let silent = Rc::new(Faults::default());
    silent.frozen.set(true);
    Sim::new(config.expect("config"), Instant::now(), 7, move |_, now| {
        Dial::Accept(H2Server::new(silent.clone(), now))
    })
}

fn connect(sim: &mut RawSim, bytes: &[u8]) -> ClientId {
    let mut peer = RawPeer::new();
    peer.send = bytes.to_vec();
    sim.connect(0, peer)
}

/// The client preface, empty SETTINGS and an acknowledgement of the server's.
fn h2_start() -> Vec<u8> {
    let mut raw = PREFACE.to_vec();
    frame::encode_settings(&mut raw, &[]);
    frame::encode_settings_ack(&mut raw);
    raw
}

/// A GET's header block (literal fields without indexing, RFC 7541 §6.2.2).
fn get_block() -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"http"),
        (b":authority", b"edge.test"),
        (b":path", b"/"),
    ] {
        b.push(0);
        b.push(n.len() as u8);
        b.extend_from_slice(n);
        b.push(v.len() as u8);
        b.extend_from_slice(v);
    }
    b
}

fn get() -> Vec<u8> {
    let mut raw = h2_start();
    frame::encode_headers(&mut raw, 1, &get_block(), None, true, true);
    raw
}

#[test]
fn unfinished_header_block_gets_goaway_enhance_your_calm() {
    let mut sim = raw_sim("h2edge.io/request-headers-timeout: 700ms");
    // HEADERS without END_HEADERS, and no CONTINUATION ever.
    let block = get_block();
    let mut open_block = h2_start();
    frame::encode_headers(&mut open_block, 1, &block[..6], None, true, false);
    // A HEADERS frame whose last bytes never come.
    let mut cut_frame = h2_start();
    frame::encode_headers(&mut cut_frame, 1, &block, None, true, true);
    cut_frame.truncate(cut_frame.len() - 3);
    let start = sim.now();
    let clients = [
        connect(&mut sim, &open_block),
        connect(&mut sim, &cut_frame),
    ];
    sim.run_for(Duration::from_secs(5));
    for (what, c) in ["open header block", "cut HEADERS frame"]
        .iter()
        .zip(clients)
    {
        let after = sim.client_closed_at(c).map(|t| t - start);
        assert!(
            after.is_some_and(|a| a >= Duration::from_millis(500) && a <= Duration::from_secs(5)),
            "{what}: closed after {after:?}"
        );
        let heard = sim.client(c);
        assert_eq!(
            heard.goaway(),
            Some(ErrorCode::ENHANCE_YOUR_CALM),
            "{what}: {:?}",
            heard.frames()
        );
    }
}

#[test]
fn connection_bound_closes_the_idle_one_else_refuses() {
    let mut sim = raw_sim("h2edge.io/max-connections-per-worker: \"2\"");
    let settle = Duration::from_millis(300);
    // The older connection has a stream open (its upstream never answers); the younger is idle.
    let busy = connect(&mut sim, &get());
    sim.run_for(settle);
    let idle = connect(&mut sim, &h2_start());
    sim.run_for(settle);
    // At the bound: the idle one makes room.
    let third = connect(&mut sim, &get());
    let closed = sim.run_until(Duration::from_secs(3), |s| {
        s.client_closed_at(idle).is_some()
    });
    assert!(closed, "the idle connection was closed");
    assert_eq!(
        sim.client(idle).goaway(),
        Some(ErrorCode::NO_ERROR),
        "{:?}",
        sim.client(idle).frames()
    );
    sim.run_for(settle);
    // Both left have a stream: a new connection is refused.
    let refused = connect(&mut sim, &h2_start());
    let closed = sim.run_until(Duration::from_secs(3), |s| {
        s.client_closed_at(refused).is_some()
    });
    assert!(closed, "the connection over the bound was closed");
    assert!(
        sim.client(refused).heard.is_empty(),
        "refused, yet heard {:?}",
        sim.client(refused).frames()
    );
    sim.run_for(settle);
    for (what, c) in [("busy", busy), ("third", third)] {
        assert!(sim.client_closed_at(c).is_none(), "{what} was closed");
        assert_eq!(
            sim.client(c).goaway(),
            None,
            "{what}: {:?}",
            sim.client(c).frames()
        );
    }
}
