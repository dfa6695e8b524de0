//! PUSH_PROMISE (RFC 9113 §6.6). A server never accepts one (the connection rejects it); a client
//! role parses it to reject it with the right code as well, since h2edge disables push.

use super::{Head, conn_err, flag, kind, read_u32, strip_padding};
use crate::h2::error::{ErrorCode, H2Error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushPromise<'a> {
    pub stream_id: u32,
    pub end_headers: bool,
    pub promised_id: u32,
    pub fragment: &'a [u8],
}

impl<'a> PushPromise<'a> {
    pub(super) fn parse(head: Head, payload: &'a [u8]) -> Result<Self, H2Error> {
        if head.stream_id == 0 {
            return Err(conn_err(ErrorCode::PROTOCOL_ERROR));
        }
        let rest = strip_padding(head, payload)?;
        if rest.len() < 4 {
            return Err(conn_err(ErrorCode::FRAME_SIZE_ERROR));
        }
        Ok(PushPromise {
            stream_id: head.stream_id,
            end_headers: head.has(flag::END_HEADERS),
            promised_id: read_u32(rest) & 0x7fff_ffff,
            fragment: &rest[4..],
        })
    }
}

pub fn encode_push_promise(out: &mut Vec<u8>, stream_id: u32, promised_id: u32, fragment: &[u8]) {
    Head {
        len: (4 + fragment.len()) as u32,
        kind: kind::PUSH_PROMISE,
        flags: flag::END_HEADERS,
        stream_id,
    }
    .encode(out);
    out.extend_from_slice(&promised_id.to_be_bytes());
    out.extend_from_slice(fragment);
}
