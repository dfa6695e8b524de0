//! Frame codec throughput: parsing (and, for reference, encoding) a buffer of typical gRPC frames.
//!
//! The buffer is what one connection carries for 256 unary gRPC calls, both directions interleaved:
//! request HEADERS (an 11-byte warm HPACK block), request DATA (5-byte gRPC prefix + 64-byte message,
//! END_STREAM), response HEADERS, response DATA, trailers HEADERS, plus a WINDOW_UPDATE every 16 calls
//! and a PING pair every 64. Criterion reports frames/s; ns per frame is the reciprocal.
//!
//!     cargo bench --bench frame -- --warm-up-time 1 --measurement-time 2

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use h2edge::h2::frame::{self, DEFAULT_MAX_FRAME_SIZE, Frame};

const CALLS: u32 = 256;

/// An 11-byte, all-indexed request block: the size a warm gRPC client sends (HPACK is not decoded here).
const REQUEST_BLOCK: &[u8] = &[
    0x83, 0x87, 0xc5, 0xc4, 0xc3, 0xc2, 0xc1, 0xc0, 0xbf, 0xbe, 0xbd,
];
const RESPONSE_BLOCK: &[u8] = &[0x88, 0xc0];
const TRAILERS_BLOCK: &[u8] = &[0xbf, 0xbe];

fn grpc_message() -> Vec<u8> {
    let mut m = vec![0u8, 0, 0, 0, 64];
    m.extend((0..64u8).map(|i| i.wrapping_mul(7)));
    m
}

/// Encodes the buffer with the crate's encoders; returns it and its frame count.
fn typical_frames(out: &mut Vec<u8>) -> usize {
    let msg = grpc_message();
    let mut frames = 0;
    for i in 0..CALLS {
        let id = 2 * i + 1;
        frame::encode_headers(out, id, REQUEST_BLOCK, None, false, true);
        frame::encode_data(out, id, &msg, true);
        frame::encode_headers(out, id, RESPONSE_BLOCK, None, false, true);
        frame::encode_data(out, id, &msg, false);
        frame::encode_headers(out, id, TRAILERS_BLOCK, None, true, true);
        frames += 5;
        if i % 16 == 15 {
            frame::encode_window_update(out, 0, 16 * msg.len() as u32);
            frames += 1;
        }
        if i % 64 == 63 {
            frame::encode_ping(out, false, i.to_be_bytes().repeat(2).try_into().unwrap());
            frame::encode_ping(out, true, i.to_be_bytes().repeat(2).try_into().unwrap());
            frames += 2;
        }
    }
    frames
}

/// Parses every frame in `buf`, touching each frame's payload; returns (frames, payload bytes).
fn parse_all(buf: &[u8]) -> (usize, usize) {
    let (mut rest, mut frames, mut bytes) = (buf, 0, 0);
    while let Some((f, len)) = frame::decode(rest, DEFAULT_MAX_FRAME_SIZE).expect("valid frames") {
        bytes += match f {
            Frame::Headers(h) => h.fragment.len() + h.stream_id as usize,
            Frame::Data(d) => d.data.len() + d.end_stream as usize,
            Frame::WindowUpdate(w) => w.increment as usize,
            Frame::Ping(p) => p.payload[7] as usize,
            _ => 0,
        };
        frames += 1;
        rest = &rest[len..];
    }
    (frames, bytes)
}

fn bench_frames(c: &mut Criterion) {
    let mut buf = Vec::new();
    let frames = typical_frames(&mut buf);
    assert_eq!(parse_all(&buf).0, frames);
    println!(
        "frame bench buffer: {frames} frames, {} bytes ({:.1} bytes/frame)",
        buf.len(),
        buf.len() as f64 / frames as f64
    );

    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(frames as u64));
    g.bench_function("decode_grpc_frames", |b| {
        b.iter(|| parse_all(black_box(&buf)))
    });
    let mut out = Vec::with_capacity(buf.len());
    g.bench_function("encode_grpc_frames", |b| {
        b.iter(|| {
            out.clear();
            typical_frames(black_box(&mut out))
        })
    });
    g.finish();
}

criterion_group!(benches, bench_frames);
criterion_main!(benches);
