//! Encoder tests: RFC 7541 Appendix C byte-exact where our policy matches, round trips, policy.

use super::*;
use crate::h2::hpack::decoder::tests::{C4, C5, C6, COOKIE, Rng, hex};
use crate::h2::hpack::{DEFAULT_TABLE_SIZE, Decoder};

type Owned = (Vec<u8>, Vec<u8>, bool);

fn encode(e: &mut Encoder, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    e.encode(
        fields
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
        &mut out,
    );
    out
}

fn decode_all(d: &mut Decoder, block: &[u8]) -> Vec<Owned> {
    let mut out = Vec::new();
    d.decode(block, |f| {
        out.push((f.name.to_vec(), f.value.to_vec(), f.never_index))
    })
    .unwrap();
    out
}

#[test]
fn c4_requests_byte_exact() {
    let mut e = Encoder::new(DEFAULT_TABLE_SIZE);
    let r1 = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    assert_eq!(encode(&mut e, &r1), hex(C4[0]));
    assert_eq!(e.table_size(), 57);
    let mut r2 = r1.to_vec();
    r2.push(("cache-control", "no-cache"));
    assert_eq!(encode(&mut e, &r2), hex(C4[1]));
    assert_eq!(e.table_size(), 110);
    let r3 = [
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ];
    assert_eq!(encode(&mut e, &r3), hex(C4[2]));
    assert_eq!(e.table_size(), 164);
}

#[test]
fn c6_responses_byte_exact() {
    let mut e = Encoder::new(256);
    let r1 = [
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    assert_eq!(encode(&mut e, &r1), hex(C6[0]));
    assert_eq!(e.table_size(), 222);
    let mut r2 = r1;
    r2[0] = (":status", "307");
    // Our one difference: "307" is as long Huffman-coded as raw, and we only use Huffman when it is
    // strictly shorter, which gives the bytes of C.5.2 instead.
    assert_ne!(encode(&mut Encoder::new(256), &r2), hex(C6[1]));
    assert_eq!(encode(&mut e, &r2), hex(C5[1]));
    assert_eq!(e.table_size(), 222);
    let r3 = [
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", "https://www.example.com"),
        ("content-encoding", "gzip"),
        ("set-cookie", COOKIE),
    ];
    assert_eq!(encode(&mut e, &r3), hex(C6[2]));
    assert_eq!(e.table_size(), 215);
}

const GRPC_REQUEST: [(&str, &str); 9] = [
    (":method", "POST"),
    (":scheme", "https"),
    (":path", "/helloworld.Greeter/SayHello"),
    (":authority", "api.example.com:443"),
    ("content-type", "application/grpc"),
    ("te", "trailers"),
    ("grpc-timeout", "1S"),
    ("grpc-accept-encoding", "identity,deflate,gzip"),
    ("user-agent", "grpc-go/1.62.0"),
];

#[test]
fn grpc_fields_become_one_byte_on_a_warm_connection() {
    let mut e = Encoder::new(DEFAULT_TABLE_SIZE);
    let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
    let first = encode(&mut e, &GRPC_REQUEST);
    assert_eq!(decode_all(&mut d, &first).len(), GRPC_REQUEST.len());
    let second = encode(&mut e, &GRPC_REQUEST);
    assert_eq!(second.len(), GRPC_REQUEST.len(), "{second:02x?}");
    assert!(second.iter().all(|b| b & 0x80 != 0));
    let got = decode_all(&mut d, &second);
    let want: Vec<Owned> = GRPC_REQUEST
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec(), false))
        .collect();
    assert_eq!(got, want);

    let response = [(":status", "200"), ("content-type", "application/grpc")];
    let trailers = [("grpc-status", "0"), ("grpc-message", "")];
    let mut e = Encoder::new(DEFAULT_TABLE_SIZE);
    encode(&mut e, &response);
    encode(&mut e, &trailers);
    assert_eq!(encode(&mut e, &response).len(), 2);
    assert_eq!(encode(&mut e, &trailers).len(), 2);
}

#[test]
fn sensitive_fields_are_never_indexed() {
    let mut e = Encoder::new(DEFAULT_TABLE_SIZE);
    let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
    let fields: [(&[u8], &[u8], bool); 6] = [
        (b"authorization", b"Bearer abc", false),
        (b"proxy-authorization", b"Basic xyz", false),
        (b"cookie", b"a=b", false),
        (b"cookie", b"session=0123456789abcdefghij", false),
        (b"x-secret", b"hunter2", true),
        (b":method", b"GET", true),
    ];
    for _ in 0..2 {
        let mut out = Vec::new();
        e.encode(fields.iter().copied(), &mut out);
        let got = decode_all(&mut d, &out);
        let flags: Vec<bool> = got.iter().map(|f| f.2).collect();
        assert_eq!(flags, [true, true, true, false, true, true]);
        for (g, f) in got.iter().zip(&fields) {
            assert_eq!((&g.0[..], &g.1[..]), (f.0, f.1));
        }
    }
    // Only the long cookie went into the table.
    assert_eq!(d.table_len(), 1);
    assert_eq!(e.table_size(), d.table_size());
}

#[test]
fn large_fields_are_not_indexed() {
    let mut e = Encoder::new(256);
    let mut d = Decoder::new(256);
    let big = "x".repeat(200);
    let mut out = Vec::new();
    e.encode([(&b"x-big"[..], big.as_bytes(), false)], &mut out);
    assert_eq!(out[0], 0x00);
    decode_all(&mut d, &out);
    assert_eq!(e.table_size(), 0);
    assert_eq!(d.table_size(), 0);
    // 3/4 of 256 is 192: 32 + 5 + 155 = 192 is indexed.
    let ok = "y".repeat(155);
    out.clear();
    e.encode([(&b"x-big"[..], ok.as_bytes(), false)], &mut out);
    assert_eq!(out[0], 0x40);
    assert_eq!(e.table_size(), 192);
}

#[test]
fn size_updates_are_emitted() {
    let mut e = Encoder::new(4096);
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &encode(&mut e, &[("a", "b")]));
    assert_eq!(e.table_size(), 34);
    e.set_max_table_size(1024);
    d.set_max_table_size(1024);
    let out = encode(&mut e, &[("a", "b")]);
    assert_eq!(out, [0x3f, 0xe1, 0x07, 0xbe]);
    let got = decode_all(&mut d, &out);
    assert_eq!(got.len(), 1);
    // Down to 0 then back up: both are signalled, the table is flushed.
    e.set_max_table_size(0);
    e.set_max_table_size(4096);
    d.set_max_table_size(0);
    d.set_max_table_size(4096);
    let out = encode(&mut e, &[("a", "b")]);
    assert_eq!(&out[..4], &[0x20, 0x3f, 0xe1, 0x1f]);
    assert_eq!(decode_all(&mut d, &out).len(), 1);
    assert_eq!(e.table_size(), d.table_size());
    // No change: no update.
    e.set_max_table_size(4096);
    assert_eq!(encode(&mut e, &[(":method", "GET")]), [0x82]);
    // A peer allowing a huge table: we cap ours and say so.
    let mut e = Encoder::new(1 << 20);
    let out = encode(&mut e, &[(":method", "GET")]);
    assert_eq!(out, [0x3f, 0xe1, 0x7f, 0x82]);
    let mut e = Encoder::new(4096);
    e.set_max_table_size(1 << 20);
    let out = encode(&mut e, &[(":method", "GET")]);
    assert_eq!(out, [0x3f, 0xe1, 0x7f, 0x82]);
    // Table size 0: nothing indexed, still correct.
    let mut e = Encoder::new(0);
    let mut d = Decoder::new(0);
    for _ in 0..3 {
        let out = encode(&mut e, &GRPC_REQUEST);
        assert_eq!(decode_all(&mut d, &out).len(), GRPC_REQUEST.len());
    }
    assert_eq!(e.table_size(), 0);
}

#[test]
fn hash_index_finds_many_entries() {
    let mut e = Encoder::new(4096);
    let names: Vec<String> = (0..60).map(|i| format!("x-h{i}")).collect();
    let values: Vec<String> = (0..60).map(|i| format!("v{}", i * 7)).collect();
    let fields: Vec<(&str, &str)> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &encode(&mut e, &fields));
    let again = encode(&mut e, &fields);
    // 60 entries of ~40 bytes fit in 4096; nearly all should be found (the index is lossy).
    assert!(again.len() < 60 * 2, "{}", again.len());
    assert_eq!(decode_all(&mut d, &again).len(), 60);
    assert_eq!(e.table_size(), d.table_size());
}

#[test]
fn random_round_trips_stay_in_step() {
    let mut rng = Rng(42);
    let names = [
        "a",
        "b",
        "cookie",
        "authorization",
        ":path",
        ":status",
        "x-long-header-name",
        "te",
        "date",
    ];
    for size in [0usize, 64, 256, 4096] {
        let mut e = Encoder::new(size);
        let mut d = Decoder::new(size);
        for block in 0..300 {
            if block % 50 == 49 {
                let new = rng.below(5000);
                e.set_max_table_size(new);
                d.set_max_table_size(new);
            }
            let n = rng.below(12);
            let owned: Vec<(String, String, bool)> = (0..n)
                .map(|_| {
                    let name = names[rng.below(names.len())].to_string();
                    let len = [0, 1, 5, 30, 150][rng.below(5)];
                    let value: String = (0..len)
                        .map(|_| (b'0' + rng.below(4) as u8) as char)
                        .collect();
                    (name, value, rng.below(10) == 0)
                })
                .collect();
            let mut out = Vec::new();
            e.encode(
                owned
                    .iter()
                    .map(|(n, v, s)| (n.as_bytes(), v.as_bytes(), *s)),
                &mut out,
            );
            let got = decode_all(&mut d, &out);
            assert_eq!(got.len(), owned.len());
            for (g, f) in got.iter().zip(&owned) {
                assert_eq!((&g.0[..], &g.1[..]), (f.0.as_bytes(), f.1.as_bytes()));
                if f.2 {
                    assert!(g.2);
                }
            }
            assert_eq!(e.table_size(), d.table_size());
        }
    }
}

#[test]
fn binary_and_huffman_choices_round_trip() {
    let mut e = Encoder::new(4096);
    let mut d = Decoder::new(4096);
    let all: Vec<u8> = (0..=255).collect();
    let mut out = Vec::new();
    e.encode(
        [
            (&b"x-bin"[..], &all[..], false),
            (&b"x-empty"[..], &b""[..], false),
        ],
        &mut out,
    );
    let got = decode_all(&mut d, &out);
    assert_eq!(got[0].1, all);
    assert_eq!(got[1].1, b"");
    // A value with long Huffman codes is sent raw.
    out.clear();
    e.encode([(&b"x-raw"[..], &b"\x00\x01\x02"[..], false)], &mut out);
    assert_eq!(&out[out.len() - 4..], &[0x03, 0x00, 0x01, 0x02]);
}

#[test]
fn warm_encoder_buffers_stop_growing() {
    let mut e = Encoder::new(4096);
    let mut out = Vec::new();
    let mut rng = Rng(7);
    let block = |e: &mut Encoder, rng: &mut Rng, out: &mut Vec<u8>| {
        out.clear();
        // A new value per block that is indexed, so the table keeps evicting.
        let id = format!("{:016x}", rng.next());
        let mut fields = GRPC_REQUEST.to_vec();
        fields.push(("x-session", &id));
        e.encode(
            fields
                .iter()
                .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
            out,
        );
    };
    for _ in 0..2000 {
        block(&mut e, &mut rng, &mut out);
    }
    let before = (
        e.table.buffer_len(),
        e.by_field.slots.len(),
        e.by_name.slots.len(),
        out.capacity(),
    );
    for _ in 0..2000 {
        block(&mut e, &mut rng, &mut out);
    }
    let after = (
        e.table.buffer_len(),
        e.by_field.slots.len(),
        e.by_name.slots.len(),
        out.capacity(),
    );
    assert_eq!(before.1, after.1);
    assert_eq!(before.2, after.2);
    assert_eq!(before.3, after.3);
    assert!(after.0 <= 2 * 4096);
}

#[test]
fn unique_per_request_fields_keep_the_table_stable() {
    let mut e = Encoder::new(DEFAULT_TABLE_SIZE);
    let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
    let mut sizes = Vec::new();
    for i in 0..100 {
        let id = format!("{i:032x}");
        let mut fields = GRPC_REQUEST.to_vec();
        fields.push(("x-request-id", &id));
        let block = encode(&mut e, &fields);
        let got = decode_all(&mut d, &block);
        assert_eq!(got.last().map(|f| &f.1[..]), Some(id.as_bytes()));
        assert_eq!(e.table_size(), d.table_size());
        if i > 0 {
            // The other fields one byte each, then a literal without indexing (0000 prefix) that
            // names the first request's x-request-id entry.
            let rest = &block[GRPC_REQUEST.len()..];
            assert!(block[..GRPC_REQUEST.len()].iter().all(|b| b & 0x80 != 0));
            assert_eq!(rest[0] & 0xf0, 0x00, "{block:02x?}");
            assert_eq!(got.last().map(|f| f.2), Some(false));
        }
        sizes.push(e.table_size());
    }
    // Only the first x-request-id went into the table: nothing was evicted since.
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
}
