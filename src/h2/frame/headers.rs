//! HEADERS (RFC 9113 §6.2), and the encoder that splits a header block into HEADERS + CONTINUATION.

use super::priority::encode_priority_fields;
use super::{Head, Priority, conn_err, flag, kind, strip_padding};
use crate::h2::error::{ErrorCode, H2Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers<'a> {
    pub stream_id: u32,
    pub end_stream: bool,
    pub end_headers: bool,
    pub priority: Option<Priority>,
    /// The header block fragment, padding and priority fields removed.
    pub fragment: &'a [u8],
}

impl<'a> Headers<'a> {
    pub(super) fn parse(head: Head, payload: &'a [u8]) -> Result<Self, H2Error> {
        if head.stream_id == 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        let mut rest = strip_padding(head, payload)?;
        let mut priority = None;
        if head.has(flag::PRIORITY) {
            if rest.len() < 5 {
                // Padding may not reach into the priority fields (§6.2).
                let code = if head.has(flag::PADDED) {
                    ErrorCode::PROTOCOL_ERROR
                } else {
                    ErrorCode::FRAME_SIZE_ERROR
                };
                return Err(conn_err(code));
            }
            priority = Some(Priority::parse(head.stream_id, rest)?);
            rest = &rest[5..];
        }
        Ok(Headers {
            stream_id: head.stream_id,
            end_stream: head.has(flag::END_STREAM),
            end_headers: head.has(flag::END_HEADERS),
            priority,
            fragment: rest,
        })
    }
}

/// Appends a HEADERS frame carrying exactly `fragment`, with the given flags (END_HEADERS is the
/// caller's choice) and optional priority fields. Used by tests and raw peers.
pub fn encode_headers(
    out: &mut Vec<u8>,
    stream_id: u32,
    fragment: &[u8],
    priority: Option<Priority>,
    end_stream: bool,
    end_headers: bool,
) {
    let mut flags = 0;
    if end_stream {
        flags |= flag::END_STREAM;
    }
    if end_headers {
        flags |= flag::END_HEADERS;
    }
    if priority.is_some() {
        flags |= flag::PRIORITY;
    }
    let extra = if priority.is_some() { 5 } else { 0 };
    Head {
        len: (fragment.len() + extra) as u32,
        kind: kind::HEADERS,
        flags,
        stream_id,
    }
    .encode(out);
    if let Some(p) = priority {
        encode_priority_fields(out, p);
    }
    out.extend_from_slice(fragment);
}

/// Frames a header block that the caller already wrote at `out[start..]`: inserts a HEADERS head in
/// front of it and, if the block is longer than `max_frame_size`, CONTINUATION heads inside it.
///
/// Writing the HPACK output straight into the send buffer and framing it afterwards avoids a copy in
/// the common case (one frame); the split case moves bytes but is rare (blocks over 16 KiB).
pub fn encode_header_block(
    out: &mut Vec<u8>,
    start: usize,
    stream_id: u32,
    end_stream: bool,
    max_frame_size: u32,
) {
    let max = max_frame_size.max(1) as usize;
    let block_len = out.len() - start;
    let frames = block_len.div_ceil(max).max(1);
    // Make room for every head at once, then move the chunks back-to-front into place.
    let heads_len = frames * super::HEAD_LEN;
    out.resize(out.len() + heads_len, 0);
    for i in (0..frames).rev() {
        let chunk_start = start + i * max;
        let chunk_len = max.min(block_len - i * max);
        let dst = start + i * (max + super::HEAD_LEN) + super::HEAD_LEN;
        out.copy_within(chunk_start..chunk_start + chunk_len, dst);
        let last = i + 1 == frames;
        let (kind, mut flags) = if i == 0 {
            (kind::HEADERS, if end_stream { flag::END_STREAM } else { 0 })
        } else {
            (kind::CONTINUATION, 0)
        };
        if last {
            flags |= flag::END_HEADERS;
        }
        let h = Head {
            len: chunk_len as u32,
            kind,
            flags,
            stream_id,
        };
        write_head_at(out, dst - super::HEAD_LEN, h);
    }
    out.truncate(start + block_len + heads_len);
}

fn write_head_at(out: &mut [u8], at: usize, h: Head) {
    let len = h.len.to_be_bytes();
    let id = (h.stream_id & 0x7fff_ffff).to_be_bytes();
    out[at..at + super::HEAD_LEN].copy_from_slice(&[
        len[1], len[2], len[3], h.kind, h.flags, id[0], id[1], id[2], id[3],
    ]);
}
