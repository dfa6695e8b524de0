//! CONTINUATION (RFC 9113 §6.10). Whether one may arrive here is the connection's call: only right
//! after a HEADERS/PUSH_PROMISE/CONTINUATION of the same stream without END_HEADERS.

use super::{Head, conn_err, flag, kind};
use crate::h2::error::{ErrorCode, H2Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Continuation<'a> {
    pub stream_id: u32,
    pub end_headers: bool,
    pub fragment: &'a [u8],
}

impl<'a> Continuation<'a> {
    pub(super) fn parse(head: Head, payload: &'a [u8]) -> Result<Self, H2Error> {
        if head.stream_id == 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        Ok(Continuation {
            stream_id: head.stream_id,
            end_headers: head.has(flag::END_HEADERS),
            fragment: payload,
        })
    }
}

pub fn encode_continuation(out: &mut Vec<u8>, stream_id: u32, fragment: &[u8], end_headers: bool) {
    Head {
        len: fragment.len() as u32,
        kind: kind::CONTINUATION,
        flags: if end_headers { flag::END_HEADERS } else { 0 },
        stream_id,
    }
    .encode(out);
    out.extend_from_slice(fragment);
}
