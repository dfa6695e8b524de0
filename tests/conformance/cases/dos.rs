//! Abuse limits (RFC 9113 §10.5: "An endpoint MAY treat activity that is suspicious as a
//! connection error of type ENHANCE_YOUR_CALM"). Thresholds are h2edge's defaults
//! (`h2edge::h2::conn::Limits::default()`); a socket target must run with the same defaults.
//!
//! Each flood is sent as one burst. The "without reading" floods only make sense in process,
//! where the peer controls exactly when the server's output is drained; over TCP the kernel
//! buffers absorb the answers, so those cases are ignored for socket targets.

use super::{Case, case};
use crate::hpack::{self, Lit};
use crate::peer::*;
use h2edge::h2::conn::{Config, Limits};

const D: &str = "dos";

fn limits() -> Limits {
    Config::default().limits
}

fn max_header_list_size(p: &Peer) -> usize {
    p.server_setting(MAX_HEADER_LIST_SIZE)
        .map_or(Config::default().max_header_list_size as usize, |v| {
            v as usize
        })
}

/// After a refused request: if the connection is still up, it must still serve requests
/// (HPACK state in sync, no leftover block).
fn still_serves(p: &mut Peer, alive: bool, stream: u32) -> R {
    if !alive {
        return Ok(());
    }
    p.get(stream);
    p.expect_ok_response(stream)
}

pub fn cases() -> Vec<Case> {
    vec![
        // --- Rapid Reset (CVE-2023-44487) and MadeYouReset (CVE-2025-8671)
        case(
            D,
            "rapid-reset",
            1,
            "Opens and resets streams beyond the reset budget",
            |p| {
                p.handshake()?;
                let n = limits().max_resets_per_window + 100;
                let block = p.request_block("GET", "/", &[]);
                for i in 0..n {
                    p.headers(1 + 2 * i, END_HEADERS, &block);
                    p.rst_stream(1 + 2 * i, CANCEL);
                }
                p.expect_connection_error(&[ENHANCE_YOUR_CALM])
            },
        ),
        case(
            D,
            "rapid-reset",
            2,
            "Resets under the budget are not punished",
            |p| {
                p.handshake()?;
                let n = limits().max_resets_per_window / 4;
                let block = p.request_block("GET", "/", &[]);
                for i in 0..n {
                    p.headers(1 + 2 * i, END_HEADERS, &block);
                    p.rst_stream(1 + 2 * i, CANCEL);
                }
                p.ping_check()?;
                p.get(1 + 2 * n);
                p.expect_ok_response(1 + 2 * n)
            },
        ),
        case(
            D,
            "made-you-reset",
            1,
            "Provokes server-side stream resets beyond the reset budget",
            |p| {
                // Each stream gets a WINDOW_UPDATE with increment 0: a stream error the server
                // answers with RST_STREAM(PROTOCOL_ERROR). Those resets count too.
                p.handshake()?;
                let n = limits().max_resets_per_window + 100;
                let block = p.request_block("POST", "/", &[]);
                for i in 0..n {
                    p.headers(1 + 2 * i, END_HEADERS, &block);
                    p.window_update(1 + 2 * i, 0);
                }
                // A server may also escalate the stream errors to a connection error
                // PROTOCOL_ERROR (RFC 9113 §5.4.1); either way the resets stop.
                p.expect_connection_error(&[ENHANCE_YOUR_CALM, PROTOCOL_ERROR])
            },
        ),
        // --- CONTINUATION flood (CVE-2024-27316 class): the block never ends, so only a
        // connection error can stop it (a stream error would leave the field block open).
        case(
            D,
            "continuation",
            1,
            "CONTINUATION flood beyond the per-block limit",
            |p| {
                p.handshake()?;
                let n = limits().max_continuation_frames * 4 + 16;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, END_STREAM, &block);
                for i in 0..n {
                    let f = hpack::encode_plain(&[(format!("x-c{i}"), "v".to_string())]);
                    p.continuation(1, 0, &f);
                }
                p.expect_connection_error(&[ENHANCE_YOUR_CALM, PROTOCOL_ERROR, COMPRESSION_ERROR])
            },
        ),
        case(
            D,
            "continuation",
            2,
            "Empty CONTINUATION frame flood",
            |p| {
                p.handshake()?;
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, END_STREAM, &block);
                for _ in 0..10_000 {
                    p.continuation(1, 0, &[]);
                }
                p.expect_connection_error(&[ENHANCE_YOUR_CALM, PROTOCOL_ERROR, COMPRESSION_ERROR])
            },
        ),
        case(
            D,
            "continuation",
            3,
            "CONTINUATION frames under the limit are accepted",
            |p| {
                p.handshake()?;
                let n = limits().max_continuation_frames.saturating_sub(2).max(1);
                let block = p.request_block("GET", "/", &[]);
                p.headers(1, END_STREAM, &block);
                for i in 0..n {
                    let f = hpack::encode_plain(&[(format!("x-c{i}"), "v".to_string())]);
                    let flags = if i + 1 == n { END_HEADERS } else { 0 };
                    p.continuation(1, flags, &f);
                }
                p.expect_ok_response(1)
            },
        ),
        // --- Control frame floods without reading the answers (CVE-2019-9512, -9515)
        case(
            D,
            "ping-flood",
            1,
            "PING flood without reading the acknowledgements",
            |p| {
                p.handshake()?;
                let n = limits().max_pending_control_frames * 3;
                for i in 0..n {
                    p.ping(u64::from(i).to_be_bytes());
                }
                p.expect_connection_error(&[ENHANCE_YOUR_CALM])
            },
        )
        .in_process_only(),
        case(
            D,
            "settings-flood",
            1,
            "SETTINGS flood without reading the acknowledgements",
            |p| {
                p.handshake()?;
                let n = limits().max_pending_control_frames * 3;
                for _ in 0..n {
                    p.settings(&[(INITIAL_WINDOW_SIZE, 65535)]);
                }
                p.expect_connection_error(&[ENHANCE_YOUR_CALM])
            },
        )
        .in_process_only(),
        case(
            D,
            "rst-flood",
            1,
            "Stream errors whose RST_STREAM answers are never read",
            |p| {
                // Every DATA frame on a half-closed (remote) stream earns a RST_STREAM; either
                // the reset budget or the queued-control-frame budget must stop this.
                p.handshake()?;
                let n = limits()
                    .max_pending_control_frames
                    .max(limits().max_resets_per_window)
                    * 2;
                let block = p.request_block("GET", "/", &[]);
                for i in 0..n {
                    p.headers(1 + 2 * i, END_STREAM | END_HEADERS, &block);
                    p.data(1 + 2 * i, END_STREAM, b"x");
                }
                p.expect_connection_error(&[ENHANCE_YOUR_CALM])
            },
        )
        .in_process_only(),
        // --- Empty frames (CVE-2019-9518)
        case(D, "empty-frames", 1, "Empty DATA frame flood", |p| {
            p.handshake()?;
            let n = limits().max_empty_frames * 2 + 10;
            p.post(1);
            for _ in 0..n {
                p.data(1, 0, &[]);
            }
            p.expect_connection_error(&[ENHANCE_YOUR_CALM])
        }),
        case(
            D,
            "empty-frames",
            2,
            "Empty DATA frames under the limit are accepted",
            |p| {
                p.handshake()?;
                let n = limits().max_empty_frames / 2;
                p.post(1);
                for _ in 0..n {
                    p.data(1, 0, &[]);
                }
                p.data(1, END_STREAM, b"x");
                p.expect_ok_response(1)
            },
        ),
        // --- Field section size (RFC 9113 §10.5.1: "A server that receives a larger field
        // block than it is willing to handle can send an HTTP 431 (Request Header Fields Too
        // Large) status code"; the block must still be decoded to keep HPACK in sync).
        case(
            D,
            "hpack-bomb",
            1,
            "A small field block that decodes beyond the header list limit",
            |p| {
                p.handshake()?;
                let limit = max_header_list_size(p);
                // Stream 1 puts a 4,000-octet entry in the server's dynamic table (a valid request).
                let mut b1 = p.request_block("GET", "/", &[]);
                let v = "b".repeat(4000);
                hpack::literal_new_name(&mut b1, Lit::Incremental, b"x-bomb", v.as_bytes(), false);
                p.headers(1, END_STREAM | END_HEADERS, &b1);
                p.expect_ok_response(1)?;
                p.expect_stream_end(1)?;
                // Stream 3 names it again and again: one octet each, 4,038 octets decoded each.
                let mut b3 = p.request_block("GET", "/", &[]);
                for _ in 0..limit / 4038 + 4 {
                    hpack::indexed(&mut b3, 62);
                }
                p.headers(3, END_STREAM | END_HEADERS, &b3);
                let alive = p.expect_refused_request(3)?;
                still_serves(p, alive, 5)
            },
        ),
        case(
            D,
            "header-list",
            1,
            "Literal fields beyond the header list size limit",
            |p| {
                p.handshake()?;
                let limit = max_header_list_size(p);
                let max_frame = p.server_max_frame_size();
                let mut block = p.request_block("GET", "/", &[]);
                block.extend(Peer::dummy_block(limit / 4032 + 2));
                let mut chunks = block.chunks(max_frame);
                let first = chunks.next().unwrap_or_default();
                let rest: Vec<&[u8]> = chunks.collect();
                p.headers(
                    1,
                    END_STREAM | if rest.is_empty() { END_HEADERS } else { 0 },
                    first,
                );
                for (i, c) in rest.iter().enumerate() {
                    let flags = if i + 1 == rest.len() { END_HEADERS } else { 0 };
                    p.continuation(1, flags, c);
                }
                let alive = p.expect_refused_request(1)?;
                still_serves(p, alive, 3)
            },
        ),
        case(
            D,
            "header-list",
            2,
            "More header fields than the per-block field limit",
            |p| {
                p.handshake()?;
                let n = limits().max_header_fields as usize * 2;
                let extra: Vec<(String, String)> = (0..n)
                    .map(|i| (format!("x-f{i}"), "v".to_string()))
                    .collect();
                let mut fields = p.request_fields("GET", "/");
                fields.extend(extra);
                let block = hpack::encode_plain(&fields);
                p.headers(1, END_STREAM | END_HEADERS, &block);
                let alive = p.expect_refused_request(1)?;
                still_serves(p, alive, 3)
            },
        ),
    ]
}
