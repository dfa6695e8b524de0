//! A server `Connection` serving a recorded stream of unary gRPC calls, the way the I/O shell drives it.
//!
//! The client stream is built with the crate's own frame encoders and HPACK `Encoder` (so, as from a
//! real client, the first request is literals and the later ones are indexed): the preface, SETTINGS,
//! a SETTINGS ACK, a connection WINDOW_UPDATE, then N calls of HEADERS + DATA (5-byte gRPC prefix and
//! a 64-byte message, END_STREAM). The handler answers each call with response HEADERS, one DATA
//! (the same 69 bytes) and trailers, releases the request bytes, and the output is drained after
//! every `recv`, as one loop turn of the I/O shell would.
//!
//! Each iteration is a new connection serving N = 100 calls. Two groups measure the same routine:
//! `conn/streams` reports streams (calls) per second, `conn/frames` frames (in + out) per second.
//!
//!     cargo bench --bench conn -- --warm-up-time 1 --measurement-time 2

use std::hint::black_box;
use std::time::Instant;

#[path = "common/unary.rs"]
mod unary;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use h2edge::h2::conn::{Config, Connection, PREFACE, Role};
use h2edge::h2::frame::{self, DEFAULT_MAX_FRAME_SIZE, Frame, Setting};
use h2edge::h2::hpack::Encoder;
use unary::{Answerer, grpc_message};

const CALLS: u32 = 100;

type Fields = &'static [(&'static [u8], &'static [u8])];

const REQUEST: Fields = &[
    (b":method", b"POST"),
    (b":scheme", b"https"),
    (b":path", b"/product.ProductService/GetProduct"),
    (b":authority", b"product.example.com"),
    (b"content-type", b"application/grpc"),
    (b"te", b"trailers"),
    (b"grpc-timeout", b"1S"),
    (b"grpc-accept-encoding", b"identity,deflate,gzip"),
    (b"user-agent", b"grpc-go/1.60.0"),
    (b"x-request-id", b"7f3c2a9e-5b1d-4c8e-9a6f-0d2e4b8c1a3f"),
    (b"x-tenant", b"acme"),
];
const RESPONSE: Fields = &[(b":status", b"200"), (b"content-type", b"application/grpc")];
const TRAILERS: Fields = &[(b"grpc-status", b"0"), (b"grpc-message", b"")];

/// The client's bytes for `calls` unary calls; returns them with their frame count (preface aside).
fn client_stream(calls: u32) -> (Vec<u8>, usize) {
    let mut out = PREFACE.to_vec();
    frame::encode_settings(
        &mut out,
        &[
            Setting::EnablePush(0),
            Setting::InitialWindowSize(4 << 20),
            Setting::MaxHeaderListSize(16 << 10),
        ],
    );
    frame::encode_settings_ack(&mut out);
    frame::encode_window_update(&mut out, 0, 16 << 20);
    let mut frames = 3;
    let mut enc = Encoder::new(4096);
    let msg = grpc_message();
    for i in 0..calls {
        let id = 2 * i + 1;
        let start = out.len();
        enc.encode(REQUEST.iter().map(|&(n, v)| (n, v, false)), &mut out);
        frame::encode_header_block(&mut out, start, id, false, DEFAULT_MAX_FRAME_SIZE);
        frame::encode_data(&mut out, id, &msg, true);
        frames += 2;
    }
    (out, frames)
}

/// Serves `input` on a new connection; `sink` receives every output byte. Returns the calls answered.
fn serve(
    input: &[u8],
    config: &Config,
    now: Instant,
    h: &mut Answerer,
    sink: &mut Vec<u8>,
) -> usize {
    let msg = grpc_message();
    let mut conn = Connection::new(Role::Server, config, now);
    let mut pos = 0;
    let mut answered = 0;
    loop {
        let used = conn.recv(&input[pos..], now, h);
        pos += used;
        for (id, n) in h.received.drain(..) {
            conn.release_capacity(id, n);
        }
        for id in h.ended.drain(..) {
            conn.send_headers(id, RESPONSE.iter().copied(), false)
                .expect("send_headers");
            let sent = conn.send_data(id, &msg, false).expect("send_data");
            assert_eq!(sent, msg.len());
            conn.send_trailers(id, TRAILERS.iter().copied())
                .expect("send_trailers");
            answered += 1;
        }
        let out = conn.pending_output();
        sink.extend_from_slice(out);
        let n = out.len();
        conn.advance_output(n);
        if used == 0 || pos == input.len() {
            break;
        }
    }
    assert_eq!(pos, input.len(), "the connection stopped reading");
    answered
}

fn count_frames(mut buf: &[u8]) -> (usize, usize, usize) {
    let (mut frames, mut headers, mut data) = (0, 0, 0);
    while let Some((f, len)) =
        frame::decode(buf, frame::MAX_MAX_FRAME_SIZE).expect("server output decodes")
    {
        frames += 1;
        match f {
            Frame::Headers(_) => headers += 1,
            Frame::Data(_) => data += 1,
            _ => {}
        }
        buf = &buf[len..];
    }
    assert!(
        buf.is_empty(),
        "partial frame at the end of the server output"
    );
    (frames, headers, data)
}

fn bench_conn(c: &mut Criterion) {
    let (input, frames_in) = client_stream(CALLS);
    let config = Config::default();
    let now = Instant::now();
    let mut h = Answerer {
        ended: Vec::with_capacity(CALLS as usize),
        received: Vec::with_capacity(CALLS as usize),
        expect_path: None,
    };

    // Check the set-up once: every call answered with HEADERS, DATA and trailers.
    let mut out = Vec::new();
    assert_eq!(
        serve(&input, &config, now, &mut h, &mut out),
        CALLS as usize
    );
    let (frames_out, headers, data) = count_frames(&out);
    assert_eq!((headers, data), (2 * CALLS as usize, CALLS as usize));
    let frames = frames_in + frames_out;
    println!(
        "conn bench: {CALLS} calls, {} bytes in ({frames_in} frames), {} bytes out ({frames_out} frames)",
        input.len(),
        out.len()
    );

    let mut sink = Vec::with_capacity(out.len());
    let mut run = move || {
        sink.clear();
        serve(black_box(&input), &config, now, &mut h, &mut sink)
    };
    let mut g = c.benchmark_group("conn");
    g.throughput(Throughput::Elements(CALLS as u64));
    g.bench_function("streams", |b| b.iter(&mut run));
    g.throughput(Throughput::Elements(frames as u64));
    g.bench_function("frames", |b| b.iter(&mut run));
    g.finish();
}

criterion_group!(benches, bench_conn);
criterion_main!(benches);
