//! Raw HTTP/2 peers for tests that must see what crosses the wire: h2edge's own connection state
//! machine over a blocking socket.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::{Connection, Handler};
use h2edge::h2::fields::FieldList;

/// Fields as `(name, value, never_index)`, as received.
pub type Seen = Vec<(String, String, bool)>;

pub fn seen(fields: &FieldList) -> Seen {
    fields
        .iter_flagged()
        .map(|(n, v, ni)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
                ni,
            )
        })
        .collect()
}

/// What a peer heard: header blocks by stream, streams ended, GOAWAYs.
#[derive(Default)]
pub struct Recorder {
    pub heads: Vec<(u32, Seen)>,
    pub ended: Vec<u32>,
    pub goaways: Vec<ErrorCode>,
}

impl Handler for Recorder {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        self.heads.push((stream_id, seen(fields)));
        if end_stream {
            self.ended.push(stream_id);
        }
    }
    fn on_trailers(&mut self, stream_id: u32, _fields: &FieldList) {
        self.ended.push(stream_id);
    }
    fn on_data(&mut self, stream_id: u32, _data: &[u8], end_stream: bool) {
        if end_stream {
            self.ended.push(stream_id);
        }
    }
    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, _remote: bool) {
        panic!("stream {stream_id} reset: {code:?}");
    }
    fn on_goaway(&mut self, _last_stream_id: u32, code: ErrorCode, _debug: &[u8]) {
        self.goaways.push(code);
    }
}

/// How a [`drive`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Driven {
    Done,
    /// The peer closed the connection.
    Closed,
}

/// Writes what `conn` has queued, then feeds it what arrives, until `done` holds or the peer
/// closes; panics after 10 s.
pub fn drive(
    sock: &mut TcpStream,
    conn: &mut Connection,
    h: &mut Recorder,
    done: impl Fn(&Recorder) -> bool,
) -> Driven {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16 << 10];
    // A frame split over two reads waits here for its rest.
    let mut rx = Vec::new();
    loop {
        let out = conn.pending_output();
        if !out.is_empty() {
            let n = out.len();
            // A peer that has gone away only loses what we say.
            let _ = sock.write_all(out);
            conn.advance_output(n);
        }
        if done(h) {
            return Driven::Done;
        }
        assert!(Instant::now() < deadline, "no progress within 10 s");
        match sock.read(&mut buf) {
            Ok(0) => return Driven::Closed,
            Ok(n) => {
                rx.extend_from_slice(&buf[..n]);
                let used = conn.recv(&rx, Instant::now(), h);
                rx.drain(..used.min(rx.len()));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Driven::Closed,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// `sock` with a short read timeout (so [`drive`] can check its deadline) and no Nagle delay.
pub fn timed(sock: TcpStream) -> TcpStream {
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    sock.set_nodelay(true).expect("nodelay");
    sock
}

/// Opens a GET of `path` at `authority` (h2c) on the client connection `conn`, its request ended
/// at once; returns its stream id.
#[allow(dead_code)] // not every crate sends requests
pub fn open_get(conn: &mut Connection, authority: &str, path: &str) -> u32 {
    let request: [(&[u8], &[u8]); 4] = [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", authority.as_bytes()),
        (b":path", path.as_bytes()),
    ];
    conn.open_stream(request, true).expect("open stream")
}
