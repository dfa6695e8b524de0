//! The hot paths make no heap allocation once warm: HPACK decode and encode, frame decode, and a server
//! connection serving a gRPC call.
//!
//! A counting global allocator counts, per thread, the allocations (alloc, alloc_zeroed, realloc)
//! made while a measurement is armed, and keeps a backtrace of the first one, so a failure says what
//! allocated. Counters are thread-local: the tests may run in parallel.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::time::Instant;

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::{Config, Connection, PREFACE, Role};
use h2edge::h2::frame::{self, DEFAULT_MAX_FRAME_SIZE, Frame, Priority, Setting};
use h2edge::h2::hpack::{Decoder, Encoder};

#[path = "../benches/common/unary.rs"]
mod unary;
use unary::{Answerer, grpc_message};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
    /// Set while capturing a backtrace, whose own allocations are not counted.
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static FIRST: RefCell<Option<String>> = const { RefCell::new(None) };
}

impl Counting {
    fn note(&self, what: &str, size: usize) {
        let armed = ARMED.try_with(Cell::get).unwrap_or(false);
        let capturing = CAPTURING.try_with(Cell::get).unwrap_or(true);
        if !armed || capturing {
            return;
        }
        let n = COUNT.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        if n == 1 {
            CAPTURING.with(|c| c.set(true));
            let trace = format!(
                "first allocation: {what} of {size} bytes at\n{}",
                Backtrace::force_capture()
            );
            let _ = FIRST.try_with(|f| *f.borrow_mut() = Some(trace));
            CAPTURING.with(|c| c.set(false));
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping touches only thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.note("alloc", layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.note("alloc_zeroed", layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.note("realloc", new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with counting armed on this thread; returns its result, the allocation count and the
/// backtrace of the first allocation.
fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, u64, Option<String>) {
    COUNT.with(|c| c.set(0));
    FIRST.with(|f| f.borrow_mut().take());
    ARMED.with(|a| a.set(true));
    let r = f();
    ARMED.with(|a| a.set(false));
    (
        r,
        COUNT.with(Cell::get),
        FIRST.with(|f| f.borrow_mut().take()),
    )
}

#[track_caller]
fn assert_no_allocs<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let (r, n, first) = count_allocs(f);
    assert_eq!(
        n,
        0,
        "{what}: {n} heap allocations; {}",
        first.unwrap_or_default()
    );
    r
}

#[test]
fn the_counter_counts() {
    let (_, n, first) = count_allocs(|| std::hint::black_box(vec![1u8; 10]));
    assert_eq!(n, 1);
    assert!(first.unwrap().contains("alloc"));
}

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

fn triples(f: Fields) -> impl Iterator<Item = (&'static [u8], &'static [u8], bool)> {
    f.iter().map(|&(n, v)| (n, v, false))
}

/// The request with a value that is new on every call, as a real client's x-request-id is, under a
/// name our encoder indexes (it sends `x-request-id` itself without indexing once the name is in
/// the table), so that the dynamic tables keep inserting and evicting.
fn request_with_id(i: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    REQUEST
        .iter()
        .map(|&(n, v)| {
            if n == b"x-request-id" {
                let v = format!("7f3c2a9e-5b1d-4c8e-9a6f-{i:012x}");
                (b"x-call-id".to_vec(), v.into_bytes())
            } else {
                (n.to_vec(), v.to_vec())
            }
        })
        .collect()
}

fn decode_len(dec: &mut Decoder, block: &[u8]) -> usize {
    let mut n = 0;
    dec.decode(block, |f| n += f.name.len() + f.value.len() + 1)
        .expect("block decodes");
    n
}

/// (a) A warm decoder decodes the all-indexed request block a warm client sends without allocating.
#[test]
fn hpack_decode_warm_request_block() {
    let mut enc = Encoder::new(4096);
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    enc.encode(triples(REQUEST), &mut cold);
    enc.encode(triples(REQUEST), &mut warm);
    assert!(warm.len() < cold.len() / 4, "second block is indexed");
    let mut dec = Decoder::new(4096);
    let want = decode_len(&mut dec, &cold);
    for _ in 0..3 {
        let n = assert_no_allocs("decode of a warm request block", || {
            decode_len(&mut dec, &warm)
        });
        assert_eq!(n, want);
    }
}

/// (a) Also when each request brings a new literal (Huffman-coded, inserted into the dynamic table,
/// evicting older ones once the table is full).
#[test]
fn hpack_decode_warm_request_with_new_literal() {
    let mut enc = Encoder::new(4096);
    let blocks: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            let fields = request_with_id(i);
            let mut b = Vec::new();
            enc.encode(fields.iter().map(|(n, v)| (&n[..], &v[..], false)), &mut b);
            b
        })
        .collect();
    let mut dec = Decoder::new(4096);
    // Warm up past the point where the table is full and evicting.
    for b in &blocks[..100] {
        decode_len(&mut dec, b);
    }
    for b in &blocks[100..] {
        assert_no_allocs("decode of a request block with a new literal", || {
            decode_len(&mut dec, b)
        });
    }
}

/// (b) A warm encoder writes the request block into a reserved buffer without allocating.
#[test]
fn hpack_encode_warm_request_block() {
    let mut enc = Encoder::new(4096);
    let mut out = Vec::with_capacity(4096);
    enc.encode(triples(REQUEST), &mut out);
    for _ in 0..3 {
        out.clear();
        assert_no_allocs("encode of a warm request block", || {
            enc.encode(triples(REQUEST), &mut out)
        });
        assert!(!out.is_empty());
    }
}

/// (b) Also with a new literal per request (inserted, evicting, once warm).
#[test]
fn hpack_encode_warm_request_with_new_literal() {
    let requests: Vec<_> = (0..200).map(request_with_id).collect();
    let mut enc = Encoder::new(4096);
    let mut out = Vec::with_capacity(4096);
    for r in &requests[..100] {
        out.clear();
        enc.encode(r.iter().map(|(n, v)| (&n[..], &v[..], false)), &mut out);
    }
    for r in &requests[100..] {
        out.clear();
        assert_no_allocs("encode of a request block with a new literal", || {
            enc.encode(r.iter().map(|(n, v)| (&n[..], &v[..], false)), &mut out)
        });
    }
}

/// (c) `frame::decode` never allocates, for any frame type.
#[test]
fn frame_decode_no_allocs() {
    let mut buf = Vec::new();
    frame::encode_settings(
        &mut buf,
        &[
            Setting::MaxConcurrentStreams(100),
            Setting::InitialWindowSize(1 << 20),
        ],
    );
    frame::encode_settings_ack(&mut buf);
    frame::encode_window_update(&mut buf, 0, 1 << 20);
    frame::encode_headers(
        &mut buf,
        1,
        b"\x83\x87",
        Some(Priority {
            dependency: 0,
            exclusive: false,
            weight: 15,
        }),
        false,
        false,
    );
    frame::encode_continuation(&mut buf, 1, b"\xc0", true);
    frame::encode_data(&mut buf, 1, &[7; 69], false);
    frame::encode_data_padded(&mut buf, 1, &[7; 69], 10, true);
    frame::encode_priority(
        &mut buf,
        3,
        Priority {
            dependency: 1,
            exclusive: true,
            weight: 1,
        },
    );
    frame::encode_rst_stream(&mut buf, 3, ErrorCode::CANCEL);
    frame::encode_push_promise(&mut buf, 1, 2, b"\x82");
    frame::encode_ping(&mut buf, false, *b"12345678");
    frame::encode_goaway(&mut buf, 1, ErrorCode::NO_ERROR, b"bye");
    // A stream error (PRIORITY of the wrong length) and an unknown type.
    buf.extend_from_slice(&[0, 0, 1, 2, 0, 0, 0, 0, 5, 0]);
    buf.extend_from_slice(&[0, 0, 1, 0xfa, 0, 0, 0, 0, 0, 0]);
    let (frames, errors) = assert_no_allocs("frame::decode", || {
        let (mut rest, mut frames, mut errors) = (&buf[..], 0, 0);
        while !rest.is_empty() {
            match frame::decode(rest, DEFAULT_MAX_FRAME_SIZE) {
                Ok(Some((f, len))) => {
                    if let Frame::Settings(s) = f {
                        frames += s.iter().count();
                    }
                    frames += 1;
                    rest = &rest[len..];
                }
                Ok(None) => break,
                Err(e) => {
                    errors += 1;
                    rest = &rest[e.frame_len..];
                }
            }
        }
        (frames, errors)
    });
    assert_eq!((frames, errors), (15, 1));
}

/// Feeds one call's bytes, answers it, writes the output; returns the bytes written.
fn serve_call(conn: &mut Connection, input: &[u8], now: Instant, h: &mut Answerer) -> usize {
    let msg = grpc_message();
    let mut pos = 0;
    while pos < input.len() {
        let used = conn.recv(&input[pos..], now, h);
        assert!(used > 0, "the connection stopped reading");
        pos += used;
    }
    for (id, n) in h.received.drain(..) {
        conn.release_capacity(id, n);
    }
    for id in h.ended.drain(..) {
        conn.send_headers(id, RESPONSE.iter().copied(), false)
            .expect("send_headers");
        assert_eq!(
            conn.send_data(id, &msg, false).expect("send_data"),
            msg.len()
        );
        conn.send_trailers(id, TRAILERS.iter().copied())
            .expect("send_trailers");
    }
    let n = conn.pending_output().len();
    conn.advance_output(n);
    n
}

/// (d) A warm server connection serves a call (HEADERS + DATA in; HEADERS, DATA, trailers and any
/// WINDOW_UPDATE out) with no heap allocation.
#[test]
fn warm_server_connection_call() {
    const WARM: usize = 50;
    const MEASURED: usize = 20;
    let mut setup = PREFACE.to_vec();
    frame::encode_settings(
        &mut setup,
        &[Setting::EnablePush(0), Setting::InitialWindowSize(4 << 20)],
    );
    frame::encode_settings_ack(&mut setup);
    frame::encode_window_update(&mut setup, 0, 16 << 20);
    let mut enc = Encoder::new(4096);
    let msg = grpc_message();
    let calls: Vec<Vec<u8>> = (0..WARM + MEASURED)
        .map(|i| {
            let mut out = Vec::new();
            let id = 2 * i as u32 + 1;
            let fields = request_with_id(i);
            enc.encode(
                fields.iter().map(|(n, v)| (&n[..], &v[..], false)),
                &mut out,
            );
            frame::encode_header_block(&mut out, 0, id, false, DEFAULT_MAX_FRAME_SIZE);
            frame::encode_data(&mut out, id, &msg, true);
            out
        })
        .collect();

    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, &Config::default(), now);
    let mut h = Answerer {
        ended: Vec::with_capacity(16),
        received: Vec::with_capacity(16),
        expect_path: Some(b"/product.ProductService/GetProduct"),
    };
    let mut pos = 0;
    while pos < setup.len() {
        pos += conn.recv(&setup[pos..], now, &mut h);
    }
    let n = conn.pending_output().len();
    conn.advance_output(n);
    for call in &calls[..WARM] {
        assert!(serve_call(&mut conn, call, now, &mut h) > 0);
    }
    let mut failures = Vec::new();
    for (i, call) in calls[WARM..].iter().enumerate() {
        let (written, n, first) = count_allocs(|| serve_call(&mut conn, call, now, &mut h));
        assert!(written > 0, "call answered");
        if n > 0 {
            failures.push(format!(
                "call {}: {n} allocations; {}",
                WARM + i,
                first.unwrap_or_default()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {MEASURED} warm calls allocated; the first:\n{}",
        failures.len(),
        failures[0]
    );
    assert_eq!(conn.active_streams(), 0);
}
