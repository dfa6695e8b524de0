//! RFC 7541 §7.1.3: "an intermediary MUST use the same representation when forwarding a header
//! field" that arrived as a never-indexed literal. A real `h2edge run` proxies one request between
//! two peers built on h2edge's own connection state machine, which report how each field arrived:
//! a never-indexed request field must reach the backend never-indexed, a never-indexed response
//! field must reach the client never-indexed, and an ordinary field must not become one.

use std::io::{BufRead as _, BufReader, ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use h2edge::h2::ErrorCode;
use h2edge::h2::conn::{Config, Connection, Handler, Role};
use h2edge::h2::fields::FieldList;

#[path = "common/h2c_gateway.rs"]
mod h2c_gateway;

/// Fields as `(name, value, never_index)`, as received.
type Seen = Vec<(String, String, bool)>;

fn seen(fields: &FieldList) -> Seen {
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

fn flag(fields: &Seen, name: &str) -> Option<bool> {
    fields.iter().find(|(n, _, _)| n == name).map(|f| f.2)
}

/// Remembers the first header block and whether a stream has ended.
#[derive(Default)]
struct Recorder {
    head: Option<(u32, Seen)>,
    ended: bool,
}

impl Handler for Recorder {
    fn on_headers(&mut self, stream_id: u32, fields: &FieldList, end_stream: bool) {
        self.head.get_or_insert((stream_id, seen(fields)));
        self.ended |= end_stream;
    }
    fn on_trailers(&mut self, _stream_id: u32, _fields: &FieldList) {
        self.ended = true;
    }
    fn on_data(&mut self, _stream_id: u32, _data: &[u8], end_stream: bool) {
        self.ended |= end_stream;
    }
    fn on_reset(&mut self, stream_id: u32, code: ErrorCode, _remote: bool) {
        panic!("stream {stream_id} reset: {code:?}");
    }
    fn on_goaway(&mut self, _last_stream_id: u32, code: ErrorCode, _debug: &[u8]) {
        assert_eq!(code, ErrorCode::NO_ERROR, "GOAWAY");
    }
}

/// Writes what `conn` has queued, then feeds it what arrives, until `done` or the deadline.
fn drive(
    sock: &mut TcpStream,
    conn: &mut Connection,
    h: &mut Recorder,
    done: impl Fn(&Recorder) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16 << 10];
    loop {
        let out = conn.pending_output();
        if !out.is_empty() {
            let n = out.len();
            sock.write_all(out).expect("write");
            conn.advance_output(n);
        }
        if done(h) {
            return;
        }
        assert!(Instant::now() < deadline, "no progress within 10 s");
        match sock.read(&mut buf) {
            Ok(0) => panic!("peer closed the connection"),
            Ok(n) => {
                conn.recv(&buf[..n], Instant::now(), h);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn timed(sock: TcpStream) -> TcpStream {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    sock.set_nodelay(true).expect("nodelay");
    sock
}

/// `h2edge run` on an h2c listener in front of `upstream`, once it says it is running.
fn gateway(upstream: SocketAddr) -> (Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = std::env::temp_dir().join(format!("h2edge-never-indexed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, h2c_gateway::h2c_config(port, upstream)).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_h2edge"))
        .args(["run", "--bind", "127.0.0.1", "--workers", "1"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start h2edge run");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains("running") => return (child, port),
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("h2edge run did not start within 10 s");
            }
        }
    }
}

#[test]
fn never_indexed_fields_keep_their_representation_through_the_proxy() {
    let backend = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let upstream = backend.local_addr().expect("addr");
    let (mut child, port) = gateway(upstream);

    // The backend: records the request head, answers with one never-indexed response field.
    let server = std::thread::spawn(move || {
        let (sock, _) = backend.accept().expect("accept");
        let mut sock = timed(sock);
        let mut conn = Connection::new(Role::Server, &Config::default(), Instant::now());
        let mut h = Recorder::default();
        drive(&mut sock, &mut conn, &mut h, |h| h.ended);
        let (id, request) = h.head.clone().expect("request head");
        let response: [(&[u8], &[u8], bool); 3] = [
            (b":status", b"200", false),
            (b"x-session-token", b"t0ken", true),
            (b"x-plain", b"p", false),
        ];
        conn.send_headers(id, response, true).expect("respond");
        drive(&mut sock, &mut conn, &mut h, |_| true);
        // Keep the connection open until the gateway has read the response.
        std::thread::sleep(Duration::from_millis(300));
        request
    });

    let mut sock = timed(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    let mut conn = Connection::new(Role::Client, &Config::default(), Instant::now());
    let authority = format!("127.0.0.1:{port}");
    let request: [(&[u8], &[u8], bool); 6] = [
        (b":method", b"GET", false),
        (b":scheme", b"http", false),
        (b":authority", authority.as_bytes(), false),
        (b":path", b"/", false),
        (b"x-api-key", b"k3y", true),
        (b"x-plain", b"q", false),
    ];
    conn.open_stream(request, true).expect("open stream");
    let mut h = Recorder::default();
    drive(&mut sock, &mut conn, &mut h, |h| h.head.is_some());
    let (_, response) = h.head.expect("response head");
    let request = server.join().expect("backend thread");
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(flag(&request, "x-api-key"), Some(true), "{request:?}");
    assert_eq!(flag(&request, "x-plain"), Some(false), "{request:?}");
    assert_eq!(
        flag(&response, "x-session-token"),
        Some(true),
        "{response:?}"
    );
    assert_eq!(flag(&response, "x-plain"), Some(false), "{response:?}");
}
