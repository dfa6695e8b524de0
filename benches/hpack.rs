//! HPACK decode and encode of typical gRPC header sets, ours against three published crates.
//!
//! Every decoder decodes the SAME bytes: blocks made by the RFC 7541 Appendix C-checked encoder in
//! `fuzz/seeds.py` (static names first, incremental indexing, optional Huffman), embedded below and
//! checked at start-up to decode to the expected lists with every decoder.
//!
//! - cold: a new decoder per block, so the request is all literals (Huffman-coded, or plain);
//! - warm: one decoder that has already seen the cold block, so the block is all indexed.
//!
//! The oracles are called through their main API, `Decoder::decode`, which returns owned
//! `Vec<(Vec<u8>, Vec<u8>)>`; ours hands each field to a callback as borrowed bytes (that is the
//! design difference being measured). After criterion's groups, a summary measured with
//! `std::time::Instant` (median of 11 rounds of at least 20 ms each) prints ns per header block and
//! the ratios, including the claim: our Huffman-coded request block decode is at least 20 times
//! faster than the `hpack` crate's.
//!
//!     cargo bench --bench hpack -- --warm-up-time 1 --measurement-time 2

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use h2edge::h2::hpack::{Decoder, Encoder};

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

/// First request on a connection: literals with incremental indexing, Huffman-coded.
const REQUEST_COLD_HUFFMAN: &[u8] = &[
    0x83, 0x87, 0x44, 0x99, 0x62, 0xbb, 0x0f, 0x25, 0xa4, 0x4a, 0xfa, 0xec, 0x3c, 0x96, 0x91, 0x3b,
    0x8b, 0x67, 0x73, 0x10, 0xac, 0x62, 0x2a, 0x75, 0xd8, 0x79, 0x2d, 0x22, 0x7f, 0x41, 0x8e, 0xae,
    0xc3, 0xc9, 0x69, 0x12, 0xb9, 0x7c, 0x8e, 0x9a, 0xe8, 0x2a, 0xe4, 0x3d, 0x3f, 0x5f, 0x8b, 0x1d,
    0x75, 0xd0, 0x62, 0x0d, 0x26, 0x3d, 0x4c, 0x4d, 0x65, 0x64, 0x40, 0x82, 0x49, 0x7f, 0x86, 0x4d,
    0x83, 0x35, 0x05, 0xb1, 0x1f, 0x40, 0x89, 0x9a, 0xca, 0xc8, 0xb2, 0x4d, 0x49, 0x4f, 0x6a, 0x7f,
    0x82, 0x0e, 0xef, 0x40, 0x8e, 0x9a, 0xca, 0xc8, 0xb0, 0xc8, 0x42, 0xd6, 0x95, 0x8b, 0x51, 0x0f,
    0x21, 0xaa, 0x9b, 0x90, 0x34, 0x85, 0xa9, 0x26, 0x4f, 0xaf, 0xa9, 0x0b, 0x2d, 0x03, 0x49, 0x7e,
    0xa6, 0xf6, 0x6a, 0xff, 0x7a, 0x8a, 0x9a, 0xca, 0xc8, 0xb4, 0xc7, 0x60, 0x2b, 0xb8, 0x05, 0xc1,
    0x40, 0x89, 0xf2, 0xb5, 0x85, 0xed, 0x69, 0x50, 0x95, 0x8d, 0x27, 0x9a, 0x76, 0x56, 0x48, 0x21,
    0xbe, 0x55, 0x9b, 0x8c, 0x32, 0x2c, 0xd1, 0x1e, 0x2a, 0xcf, 0x8d, 0xc9, 0x56, 0x04, 0x82, 0x2b,
    0x51, 0xbc, 0x40, 0x8d, 0x99, 0x7f, 0x40, 0x86, 0xf2, 0xb2, 0x4b, 0x50, 0xea, 0x4f, 0x83, 0x19,
    0x29, 0x2f,
];

/// Every later request: all indexed.
const REQUEST_WARM: &[u8] = &[
    0x83, 0x87, 0xc6, 0xc5, 0xc4, 0xc3, 0xc2, 0xc1, 0xc0, 0xbf, 0xbe,
];

/// The first request again, without Huffman coding.
const REQUEST_COLD_PLAIN: &[u8] = &[
    0x83, 0x87, 0x44, 0x22, 0x2f, 0x70, 0x72, 0x6f, 0x64, 0x75, 0x63, 0x74, 0x2e, 0x50, 0x72, 0x6f,
    0x64, 0x75, 0x63, 0x74, 0x53, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65, 0x2f, 0x47, 0x65, 0x74, 0x50,
    0x72, 0x6f, 0x64, 0x75, 0x63, 0x74, 0x41, 0x13, 0x70, 0x72, 0x6f, 0x64, 0x75, 0x63, 0x74, 0x2e,
    0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x5f, 0x10, 0x61, 0x70, 0x70,
    0x6c, 0x69, 0x63, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2f, 0x67, 0x72, 0x70, 0x63, 0x40, 0x02, 0x74,
    0x65, 0x08, 0x74, 0x72, 0x61, 0x69, 0x6c, 0x65, 0x72, 0x73, 0x40, 0x0c, 0x67, 0x72, 0x70, 0x63,
    0x2d, 0x74, 0x69, 0x6d, 0x65, 0x6f, 0x75, 0x74, 0x02, 0x31, 0x53, 0x40, 0x14, 0x67, 0x72, 0x70,
    0x63, 0x2d, 0x61, 0x63, 0x63, 0x65, 0x70, 0x74, 0x2d, 0x65, 0x6e, 0x63, 0x6f, 0x64, 0x69, 0x6e,
    0x67, 0x15, 0x69, 0x64, 0x65, 0x6e, 0x74, 0x69, 0x74, 0x79, 0x2c, 0x64, 0x65, 0x66, 0x6c, 0x61,
    0x74, 0x65, 0x2c, 0x67, 0x7a, 0x69, 0x70, 0x7a, 0x0e, 0x67, 0x72, 0x70, 0x63, 0x2d, 0x67, 0x6f,
    0x2f, 0x31, 0x2e, 0x36, 0x30, 0x2e, 0x30, 0x40, 0x0c, 0x78, 0x2d, 0x72, 0x65, 0x71, 0x75, 0x65,
    0x73, 0x74, 0x2d, 0x69, 0x64, 0x24, 0x37, 0x66, 0x33, 0x63, 0x32, 0x61, 0x39, 0x65, 0x2d, 0x35,
    0x62, 0x31, 0x64, 0x2d, 0x34, 0x63, 0x38, 0x65, 0x2d, 0x39, 0x61, 0x36, 0x66, 0x2d, 0x30, 0x64,
    0x32, 0x65, 0x34, 0x62, 0x38, 0x63, 0x31, 0x61, 0x33, 0x66, 0x40, 0x08, 0x78, 0x2d, 0x74, 0x65,
    0x6e, 0x61, 0x6e, 0x74, 0x04, 0x61, 0x63, 0x6d, 0x65,
];

/// First response head on a connection (Huffman).
const RESPONSE_COLD_HUFFMAN: &[u8] = &[
    0x88, 0x5f, 0x8b, 0x1d, 0x75, 0xd0, 0x62, 0x0d, 0x26, 0x3d, 0x4c, 0x4d, 0x65, 0x64,
];

/// First trailers (Huffman), after RESPONSE_COLD_HUFFMAN.
const TRAILERS_COLD_HUFFMAN: &[u8] = &[
    0x40, 0x88, 0x9a, 0xca, 0xc8, 0xb2, 0x12, 0x34, 0xda, 0x8f, 0x81, 0x07, 0x40, 0x89, 0x9a, 0xca,
    0xc8, 0xb5, 0x25, 0x42, 0x07, 0x31, 0x7f, 0x80,
];

/// Later response heads: all indexed.
const RESPONSE_WARM: &[u8] = &[0x88, 0xc0];

/// Later trailers: all indexed.
const TRAILERS_WARM: &[u8] = &[0xbf, 0xbe];

/// One header-block workload: the blocks to decode in order, and what they decode to.
struct Case {
    name: &'static str,
    /// Decoded by a fresh decoder each time (cold) or by one already fed `warm_up` (warm).
    blocks: &'static [&'static [u8]],
    warm_up: &'static [&'static [u8]],
    expect: &'static [Fields],
}

const CASES: &[Case] = &[
    Case {
        name: "request_cold_huffman",
        blocks: &[REQUEST_COLD_HUFFMAN],
        warm_up: &[],
        expect: &[REQUEST],
    },
    Case {
        name: "request_cold_plain",
        blocks: &[REQUEST_COLD_PLAIN],
        warm_up: &[],
        expect: &[REQUEST],
    },
    Case {
        name: "request_warm",
        blocks: &[REQUEST_WARM],
        warm_up: &[REQUEST_COLD_HUFFMAN],
        expect: &[REQUEST],
    },
    Case {
        name: "response_trailers_cold_huffman",
        blocks: &[RESPONSE_COLD_HUFFMAN, TRAILERS_COLD_HUFFMAN],
        warm_up: &[],
        expect: &[RESPONSE, TRAILERS],
    },
    Case {
        name: "response_trailers_warm",
        blocks: &[RESPONSE_WARM, TRAILERS_WARM],
        warm_up: &[RESPONSE_COLD_HUFFMAN, TRAILERS_COLD_HUFFMAN],
        expect: &[RESPONSE, TRAILERS],
    },
];

const IMPLS: [&str; 4] = ["h2edge", "hpack", "hpack-patched", "loona-hpack"];

type Owned = Vec<(Vec<u8>, Vec<u8>)>;

fn owned(f: Fields) -> Owned {
    f.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
}

/// A decoder of any of the four crates, behind one interface for the set-up checks.
enum AnyDecoder {
    Ours(Decoder),
    Hpack(hpack::Decoder<'static>),
    Patched(hpack_patched::Decoder<'static>),
    Loona(loona_hpack::Decoder<'static>),
}

impl AnyDecoder {
    fn new(which: &str) -> Self {
        match which {
            "h2edge" => AnyDecoder::Ours(Decoder::new(4096)),
            "hpack" => AnyDecoder::Hpack(hpack::Decoder::new()),
            "hpack-patched" => AnyDecoder::Patched(hpack_patched::Decoder::new()),
            "loona-hpack" => AnyDecoder::Loona(loona_hpack::Decoder::new()),
            _ => unreachable!(),
        }
    }

    /// Decodes one block; returns the total length of names and values (so no work is optimized out).
    fn decode(&mut self, block: &[u8]) -> usize {
        match self {
            AnyDecoder::Ours(d) => {
                let mut n = 0;
                d.decode(block, |f| n += f.name.len() + f.value.len())
                    .expect("h2edge decodes");
                n
            }
            AnyDecoder::Hpack(d) => sum(d.decode(block).expect("hpack decodes")),
            AnyDecoder::Patched(d) => sum(d.decode(block).expect("hpack-patched decodes")),
            AnyDecoder::Loona(d) => sum(d.decode(block).expect("loona-hpack decodes")),
        }
    }

    fn decode_list(&mut self, block: &[u8]) -> Owned {
        match self {
            AnyDecoder::Ours(d) => {
                let mut l = Vec::new();
                d.decode(block, |f| l.push((f.name.to_vec(), f.value.to_vec())))
                    .expect("h2edge decodes");
                l
            }
            AnyDecoder::Hpack(d) => d.decode(block).expect("hpack decodes"),
            AnyDecoder::Patched(d) => d.decode(block).expect("hpack-patched decodes"),
            AnyDecoder::Loona(d) => d.decode(block).expect("loona-hpack decodes"),
        }
    }
}

fn sum(l: Owned) -> usize {
    l.iter().map(|(n, v)| n.len() + v.len()).sum()
}

/// Every decoder decodes every case's blocks to the expected fields.
fn check_cases() {
    for case in CASES {
        for which in IMPLS {
            let mut d = AnyDecoder::new(which);
            for b in case.warm_up {
                d.decode(b);
            }
            for (b, want) in case.blocks.iter().zip(case.expect) {
                assert_eq!(d.decode_list(b), owned(want), "{which} on {}", case.name);
            }
        }
    }
}

/// The measured routine for (case, implementation): returns a closure decoding the case's blocks once.
fn decoder_routine(case: &'static Case, which: &'static str) -> impl FnMut() -> usize {
    let mut warm = AnyDecoder::new(which);
    for b in case.warm_up {
        warm.decode(b);
    }
    let cold = case.warm_up.is_empty();
    move || {
        let mut n = 0;
        if cold {
            let mut d = AnyDecoder::new(which);
            for b in case.blocks {
                n += d.decode(black_box(b));
            }
        } else {
            for b in case.blocks {
                n += warm.decode(black_box(b));
            }
        }
        n
    }
}

fn bench_decode(c: &mut Criterion) {
    for case in CASES {
        let mut g = c.benchmark_group(format!("hpack_decode/{}", case.name));
        g.throughput(Throughput::Elements(case.blocks.len() as u64));
        if case.name.contains("huffman") {
            // The oracles take about a millisecond per Huffman-coded block.
            g.sample_size(20);
        }
        for which in IMPLS {
            let mut f = decoder_routine(case, which);
            g.bench_function(BenchmarkId::from_parameter(which), |b| b.iter(&mut f));
        }
        g.finish();
    }
}

fn triples(f: Fields) -> impl Iterator<Item = (&'static [u8], &'static [u8], bool)> {
    f.iter().map(|&(n, v)| (n, v, false))
}

type Routine = Box<dyn FnMut() -> usize>;

/// Encoders: (name, cold routine, warm routine), each encoding the gRPC request once.
fn encoder_routines() -> Vec<(&'static str, Routine, Routine)> {
    let mut out = Vec::with_capacity(1024);
    let mut out2 = Vec::with_capacity(1024);
    let mut ours = Encoder::new(4096);
    ours.encode(triples(REQUEST), &mut out2);
    let mut hp = hpack::Encoder::new();
    hp.encode(REQUEST.iter().copied());
    let mut loona = loona_hpack::Encoder::new();
    loona.encode(REQUEST.iter().copied());
    let mut buf = Vec::with_capacity(1024);
    vec![
        (
            "h2edge",
            Box::new(move || {
                out.clear();
                Encoder::new(4096).encode(triples(black_box(REQUEST)), &mut out);
                out.len()
            }) as Routine,
            Box::new(move || {
                out2.clear();
                ours.encode(triples(black_box(REQUEST)), &mut out2);
                out2.len()
            }) as Routine,
        ),
        (
            "hpack",
            Box::new(|| {
                hpack::Encoder::new()
                    .encode(black_box(REQUEST).iter().copied())
                    .len()
            }),
            Box::new(move || hp.encode(black_box(REQUEST).iter().copied()).len()),
        ),
        (
            "loona-hpack",
            Box::new(|| {
                loona_hpack::Encoder::new()
                    .encode(black_box(REQUEST).iter().copied())
                    .len()
            }),
            Box::new(move || {
                buf.clear();
                loona
                    .encode_into(black_box(REQUEST).iter().copied(), &mut buf)
                    .unwrap();
                buf.len()
            }),
        ),
    ]
}

fn check_encoders() {
    // Our encoder's output decodes back, cold and warm, with ours and with loona-hpack.
    let mut enc = Encoder::new(4096);
    let mut ours = Decoder::new(4096);
    let mut loona = loona_hpack::Decoder::new();
    for _ in 0..3 {
        let mut block = Vec::new();
        enc.encode(triples(REQUEST), &mut block);
        let mut got = Vec::new();
        ours.decode(&block, |f| got.push((f.name.to_vec(), f.value.to_vec())))
            .expect("h2edge decodes its own block");
        assert_eq!(got, owned(REQUEST));
        assert_eq!(loona.decode(&block).expect("loona decodes"), owned(REQUEST));
    }
}

fn bench_encode(c: &mut Criterion) {
    let mut cold = c.benchmark_group("hpack_encode/request_cold");
    let mut routines = encoder_routines();
    for (name, f, _) in routines.iter_mut() {
        cold.bench_function(BenchmarkId::from_parameter(*name), |b| b.iter(&mut *f));
    }
    cold.finish();
    let mut warm = c.benchmark_group("hpack_encode/request_warm");
    for (name, _, f) in routines.iter_mut() {
        warm.bench_function(BenchmarkId::from_parameter(*name), |b| b.iter(&mut *f));
    }
    warm.finish();
}

/// ns per call of `f`: the median of 11 rounds, each at least 20 ms long.
fn ns_per_call(mut f: impl FnMut() -> usize) -> f64 {
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        if t.elapsed() >= Duration::from_millis(20) {
            break;
        }
        iters *= 2;
    }
    let mut rounds: Vec<f64> = (0..11)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[5]
}

fn summary() {
    println!("\nhpack summary: ns per header block (median of 11 rounds); ratio = theirs / h2edge");
    println!(
        "{:<32} {:>10} {:>17} {:>17} {:>17}",
        "decode", "h2edge", "hpack", "hpack-patched", "loona-hpack"
    );
    let mut key_ratio = 0.0;
    for case in CASES {
        let per_block = |ns: f64| ns / case.blocks.len() as f64;
        let ours = per_block(ns_per_call(decoder_routine(case, "h2edge")));
        let mut line = format!("{:<32} {:>10.0}", case.name, ours);
        for which in &IMPLS[1..] {
            let theirs = per_block(ns_per_call(decoder_routine(case, which)));
            line += &format!(" {:>9.0} ({:>5.1}x)", theirs, theirs / ours);
            if case.name == "request_cold_huffman" && *which == "hpack" {
                key_ratio = theirs / ours;
            }
        }
        println!("{line}");
    }
    println!(
        "{:<32} {:>10} {:>17} {:>17}",
        "encode", "h2edge", "hpack", "loona-hpack"
    );
    let mut routines = encoder_routines();
    for (label, warm) in [("request_cold", false), ("request_warm", true)] {
        let mut line = format!("{label:<32}");
        let mut ours = 0.0;
        for (i, (_, cold_f, warm_f)) in routines.iter_mut().enumerate() {
            let ns = if warm {
                ns_per_call(&mut *warm_f)
            } else {
                ns_per_call(&mut *cold_f)
            };
            if i == 0 {
                ours = ns;
                line += &format!(" {ns:>10.0}");
            } else {
                line += &format!(" {:>9.0} ({:>5.1}x)", ns, ns / ours);
            }
        }
        println!("{line}");
    }
    println!(
        "claim: h2edge decodes the Huffman-coded gRPC request block {key_ratio:.1}x faster than the \
         hpack crate (target >= 20x): {}",
        if key_ratio >= 20.0 { "MET" } else { "NOT MET" }
    );
}

fn main() {
    check_cases();
    check_encoders();
    let mut c = Criterion::default().configure_from_args();
    bench_decode(&mut c);
    bench_encode(&mut c);
    c.final_summary();
    // `cargo bench -- --list` and `cargo test --benches` run this binary only to list or smoke-test.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--list" || a == "--test") {
        summary();
    }
}
