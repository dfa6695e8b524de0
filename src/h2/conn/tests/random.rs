//! Random frame sequences against both roles: no panic, bounded state, and a connection that is
//! closed stays closed. A cheap stand-in for the fuzz targets, run on every `cargo test`.

use std::time::{Duration, Instant};

use super::*;
use crate::h2::frame::{Head, encode_headers};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One random frame, mostly well-formed, sometimes not.
fn random_frame(r: &mut Rng, out: &mut Vec<u8>) {
    let id = r.below(8) as u32;
    match r.below(14) {
        0 => frame::encode_data(out, id, &vec![1; r.below(40) as usize], r.below(3) == 0),
        1 => frame::encode_data_padded(out, id, b"xy", r.below(20) as u8, r.below(3) == 0),
        2 | 3 => {
            let fields: &[(&[u8], &[u8])] = match r.below(4) {
                0 => &REQ,
                1 => &OK,
                2 => &[(b"grpc-status", b"0")],
                _ => &[(b"content-length", b"2"), (b":method", b"GET")],
            };
            let block = literal_block(fields);
            encode_headers(out, id, &block, None, r.below(2) == 0, r.below(4) != 0);
        }
        4 => frame::encode_continuation(out, id, &literal_block(&OK), r.below(2) == 0),
        5 => frame::encode_rst_stream(out, id, ErrorCode(r.below(14) as u32)),
        6 => frame::encode_window_update(out, id, r.below(100_000) as u32),
        7 => frame::encode_settings(
            out,
            &[
                Setting::InitialWindowSize(r.below(200_000) as u32),
                Setting::MaxFrameSize(16_384 + r.below(1000) as u32),
                Setting::HeaderTableSize(r.below(8192) as u32),
            ],
        ),
        8 => frame::encode_settings_ack(out),
        9 => frame::encode_ping(out, r.below(2) == 0, [3; 8]),
        10 => frame::encode_priority(
            out,
            id,
            frame::Priority {
                dependency: r.below(8) as u32,
                exclusive: false,
                weight: 0,
            },
        ),
        11 => frame::encode_goaway(out, id, ErrorCode::NO_ERROR, b""),
        12 => {
            // Random bytes in a frame of a random type.
            let len = r.below(30) as u32;
            Head {
                len,
                kind: r.below(12) as u8,
                flags: r.below(256) as u8,
                stream_id: id,
            }
            .encode(out);
            for _ in 0..len {
                out.push(r.next() as u8);
            }
        }
        _ => frame::encode_push_promise(out, id, id + 1, &literal_block(&REQ)),
    }
}

fn run(role: Role, seed: u64) {
    let mut r = Rng(seed);
    let cfg = Config {
        max_concurrent_streams: 4,
        initial_window_size: 100,
        ..Config::default()
    };
    let mut now = Instant::now();
    let mut c = Connection::new(role, &cfg, now);
    let mut h = Rec::default();
    let mut raw = Vec::new();
    if role == Role::Server {
        raw.extend_from_slice(PREFACE);
    }
    frame::encode_settings(&mut raw, &[]);
    for _ in 0..60 {
        random_frame(&mut r, &mut raw);
    }
    let mut pos = 0;
    // Feed in random pieces, doing random commands in between.
    while pos < raw.len() {
        let end = (pos + 1 + r.below(64) as usize).min(raw.len());
        let n = c.recv(&raw[pos..end], now, &mut h);
        pos += n;
        if n == 0 && end == raw.len() {
            break;
        }
        if n == 0 {
            // A partial frame: offer more next time by growing the piece.
            let n = c.recv(&raw[pos..], now, &mut h);
            pos += n;
            if n == 0 {
                break;
            }
        }
        let id = r.below(8) as u32;
        match r.below(8) {
            0 => {
                let _ = c.send_headers(id, OK, r.below(2) == 0);
            }
            1 => {
                let _ = c.send_data(id, b"abc", r.below(2) == 0);
            }
            2 => c.release_capacity(id, r.below(50) as usize),
            3 => c.reset(id, ErrorCode::CANCEL),
            4 => {
                let _ = c.open_stream(REQ, r.below(2) == 0);
            }
            5 => c.advance_output(r.below(100) as usize),
            6 => {
                now += Duration::from_secs(1);
                c.on_timeout(now, &mut h);
            }
            _ => {
                let _ = c.send_trailers(id, [(&b"a"[..], &b"b"[..])]);
            }
        }
        assert!(c.active_streams() <= 8);
        if c.is_closed() && c.pending_output().is_empty() {
            break;
        }
    }
    let was_closed = c.is_closed();
    c.advance_output(usize::MAX);
    if was_closed {
        assert!(c.is_closed());
    }
}

#[test]
fn random_frames_never_panic() {
    for seed in 1..3000u64 {
        run(Role::Server, seed);
        run(Role::Client, seed.wrapping_mul(7919));
    }
}
