//! Issue 9, item 8: after a storm of connections, a long-lived gateway gives back the memory they
//! used. glibc keeps what a burst freed inside the worker's arena (free chunks between live ones),
//! so without `runtime/trim.rs` the RSS stays at the storm's peak for good; `loadtest/conn-storm.py`
//! measures the same with TLS handshakes against a release build (docs/security.md).

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use h2edge::h2::conn::PREFACE;
use h2edge::h2::frame;

#[path = "common/h2c_gateway.rs"]
mod h2c_gateway;
#[path = "common/run_gateway.rs"]
mod run_gateway;
use run_gateway::{Gateway, free_port};

/// Connections open at once in the storm.
const STORM: usize = 3000;

/// An HTTP/2 client's opening and one request: connection state, HPACK tables and a stream for
/// the gateway to hold (the request is answered 503: nothing listens upstream).
fn opening() -> Vec<u8> {
    let mut raw = PREFACE.to_vec();
    frame::encode_settings(&mut raw, &[]);
    let mut block = Vec::new();
    for (name, value) in [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"http"),
        (b":authority", b"storm.test"),
        (
            b":path",
            b"/a/path/long/enough/to/be/worth/keeping/in/the/table",
        ),
        (b"user-agent", b"memory-after-storms"),
    ] {
        // Literal with incremental indexing (RFC 7541 §6.2.1), new name: the decoder's dynamic
        // table keeps it.
        block.push(0x40);
        block.push(name.len() as u8);
        block.extend_from_slice(name);
        block.push(value.len() as u8);
        block.extend_from_slice(value);
    }
    frame::encode_headers(&mut raw, 1, &block, None, true, true);
    raw
}

#[test]
fn memory_of_a_connection_storm_is_given_back() {
    let port = free_port();
    let nowhere = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dir = std::env::temp_dir().join(format!("h2edge-storm-{}", std::process::id()));
    let gateway = Gateway::start(&dir, &h2c_gateway::h2c_config(port, nowhere));
    std::thread::sleep(Duration::from_millis(500));
    let before = gateway.rss_kib();
    let hello = opening();
    let mut storm = Vec::with_capacity(STORM);
    for _ in 0..STORM {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        sock.write_all(&hello).expect("write");
        storm.push(sock);
    }
    // Let the gateway take them all in before they go.
    let mut peak = gateway.rss_kib();
    let settle = Instant::now() + Duration::from_secs(2);
    while Instant::now() < settle {
        peak = peak.max(gateway.rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(storm);
    let grew = peak.saturating_sub(before);
    assert!(
        grew >= 8 << 10,
        "the storm should cost the gateway some memory: {before} -> {peak} KiB"
    );
    // The trimming thread looks every 5 s: within 12 s at least half of what the storm took is
    // back with the system.
    let deadline = Instant::now() + Duration::from_secs(12);
    let mut after = gateway.rss_kib();
    while Instant::now() < deadline && after > before + grew / 2 {
        std::thread::sleep(Duration::from_millis(200));
        after = gateway.rss_kib();
    }
    assert!(
        after <= before + grew / 2,
        "RSS {before} KiB before, {peak} at the peak, still {after} after the storm"
    );
    gateway.stop();
}
