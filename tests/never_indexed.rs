//! RFC 7541 §7.1.3: "an intermediary MUST use the same representation when forwarding a header
//! field" that arrived as a never-indexed literal. A real `h2edge run` proxies one request between
//! two peers built on h2edge's own connection state machine, which report how each field arrived:
//! a never-indexed request field must reach the backend never-indexed, a never-indexed response
//! field must reach the client never-indexed, and an ordinary field must not become one.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use h2edge::h2::conn::{Config, Connection, Role};

#[path = "common/h2c_gateway.rs"]
mod h2c_gateway;
#[path = "common/raw_h2.rs"]
mod raw_h2;
#[path = "common/run_gateway.rs"]
mod run_gateway;
use raw_h2::{Recorder, Seen, drive, timed};
use run_gateway::{Gateway, free_port};

fn flag(fields: &Seen, name: &str) -> Option<bool> {
    fields.iter().find(|(n, _, _)| n == name).map(|f| f.2)
}

#[test]
fn never_indexed_fields_keep_their_representation_through_the_proxy() {
    let backend = TcpListener::bind("127.0.0.1:0").expect("bind backend");
    let upstream: SocketAddr = backend.local_addr().expect("addr");
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("h2edge-never-indexed-{}", std::process::id()));
    let gateway = Gateway::start(&dir, &h2c_gateway::h2c_config(port, upstream));

    // The backend: records the request head, answers with one never-indexed response field.
    let server = std::thread::spawn(move || {
        let (sock, _) = backend.accept().expect("accept");
        let mut sock = timed(sock);
        let mut conn = Connection::new(Role::Server, &Config::default(), Instant::now());
        let mut h = Recorder::default();
        drive(&mut sock, &mut conn, &mut h, |h| !h.ended.is_empty());
        let (id, request) = h.heads[0].clone();
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
    drive(&mut sock, &mut conn, &mut h, |h| !h.heads.is_empty());
    let response = h.heads[0].1.clone();
    let request = server.join().expect("backend thread");

    assert_eq!(flag(&request, "x-api-key"), Some(true), "{request:?}");
    assert_eq!(flag(&request, "x-plain"), Some(false), "{request:?}");
    assert_eq!(
        flag(&response, "x-session-token"),
        Some(true),
        "{response:?}"
    );
    assert_eq!(flag(&response, "x-plain"), Some(false), "{response:?}");
    gateway.stop();
}
