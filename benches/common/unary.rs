//! What the benches that serve unary gRPC calls, and `tests/alloc_free.rs`, share (included with
//! `#[path]`): the message and the server-side handler that collects which calls ended and which
//! bytes to release.

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::Handler;
use h2edge::h2::fields::FieldList;

/// A gRPC message: 5-byte prefix (uncompressed, length 64) and 64 bytes.
pub fn grpc_message() -> [u8; 69] {
    let mut m = [0u8; 69];
    m[4] = 64;
    for (i, b) in m[5..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7);
    }
    m
}

/// Collects what needs an answer; the answers are sent after `recv` returns.
#[derive(Default)]
pub struct Answerer {
    pub ended: Vec<u32>,
    pub received: Vec<(u32, usize)>,
    /// When set, every request's `:path` must be this.
    pub expect_path: Option<&'static [u8]>,
}

impl Handler for Answerer {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        if let Some(path) = self.expect_path {
            assert_eq!(fields.path(), Some(path));
        }
        if end_stream {
            self.ended.push(stream_id);
        }
    }
    fn on_trailers(&mut self, stream_id: u32, _fields: &FieldList) {
        self.ended.push(stream_id);
    }
    fn on_data(&mut self, stream_id: u32, data: &[u8], end_stream: bool) {
        self.received.push((stream_id, data.len()));
        if end_stream {
            self.ended.push(stream_id);
        }
    }
    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, remote: bool) {
        panic!("stream {stream_id} reset ({code:?}, remote: {remote})");
    }
    fn on_goaway(&mut self, _last_stream_id: u32, code: ErrorCode, debug: &[u8]) {
        panic!("GOAWAY {code:?} {}", String::from_utf8_lossy(debug));
    }
}
