//! Client connections that never finish starting or sit idle are closed by a real `h2edge run`
//! (Gateway annotations `h2edge.io/tls-handshake-timeout`, `preface-timeout`, `idle-timeout`), and a
//! client preface that is not HTTP/2 gets an HTTP/2 answer (or, for an HTTP/1.x request line on
//! h2c, the HTTP/1.1 505), through TLS on a TLS listener. Everything over loopback sockets, each
//! wait bounded. The request-headers timeout and the per-worker connection bound run in virtual
//! time (`tests/virtual_time/client_limits.rs`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use h2edge::demo::pki::Ca;
use h2edge::h2::ErrorCode;
use h2edge::h2::conn::PREFACE;
use h2edge::h2::frame::{self, Frame};

#[path = "common/h2c_gateway.rs"]
mod h2c_gateway;
#[path = "common/run_gateway.rs"]
mod run_gateway;
use run_gateway::{Gateway, free_port};

/// Ports of the two listeners and the CA their certificate chains to.
struct Edge {
    gateway: Gateway,
    h2c: u16,
    tls: u16,
    ca: String,
}

/// Starts `h2edge run` with an h2c and a TLS listener carrying `annotations` (YAML lines, indented
/// 4), routing everything to `upstream`.
fn start(test: &str, annotations: &str, upstream: SocketAddr) -> Edge {
    let ca = Ca::new("conn-timeouts ca").expect("ca");
    let cert = ca.issue(&["edge.test"]).expect("cert");
    let (h2c, tls) = (free_port(), free_port());
    let indent = |pem: &str| pem.trim_end().replace('\n', "\n    ");
    let yaml = format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: test
  annotations:
{annotations}
spec:
  gatewayClassName: h2edge
  listeners:
  - {{name: h2c, port: {h2c}, protocol: HTTP}}
  - name: https
    port: {tls}
    protocol: HTTPS
    tls: {{mode: Terminate, certificateRefs: [{{name: edge-cert}}]}}
---
apiVersion: v1
kind: Secret
metadata: {{name: edge-cert, namespace: test}}
type: kubernetes.io/tls
stringData:
  tls.crt: |
    {cert}
  tls.key: |
    {key}
{route}"#,
        cert = indent(&cert.cert_pem),
        key = indent(&cert.key_pem),
        route = h2c_gateway::route_to(upstream),
    );
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test);
    Edge {
        gateway: Gateway::start(&dir, &yaml),
        h2c,
        tls,
        ca: ca.cert_pem,
    }
}

/// An upstream that accepts connections and never says anything: streams sent to it stay open
/// (waiting for its SETTINGS) for the cluster's connect timeout, 10 s.
fn silent_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for sock in listener.incoming() {
            held.push(sock);
        }
    });
    addr
}

fn connect(port: u16) -> TcpStream {
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    sock.set_nodelay(true).expect("nodelay");
    sock
}

/// What a peer read until the gateway closed the connection or its wait ended.
struct Heard {
    bytes: Vec<u8>,
    /// How long after the start of the wait the connection closed; `None`: still open.
    closed_after: Option<Duration>,
}

impl Heard {
    /// The frames read, as `(type, GOAWAY code)`.
    fn frames(&self) -> Vec<(u8, Option<ErrorCode>)> {
        let mut out = Vec::new();
        let mut buf = &self.bytes[..];
        while let Ok(Some((f, n))) = frame::decode(buf, 1 << 24) {
            out.push(match f {
                Frame::GoAway(g) => (frame::kind::GOAWAY, Some(g.code)),
                Frame::Settings(_) => (frame::kind::SETTINGS, None),
                Frame::WindowUpdate(_) => (frame::kind::WINDOW_UPDATE, None),
                _ => (0xff, None),
            });
            buf = &buf[n..];
        }
        out
    }

    fn goaway(&self) -> Option<ErrorCode> {
        self.frames().into_iter().find_map(|(_, code)| code)
    }

    /// Asserts the connection closed between `from` and `to` after the wait began.
    fn assert_closed_between(&self, what: &str, from: Duration, to: Duration) {
        let after = self
            .closed_after
            .unwrap_or_else(|| panic!("{what}: still open"));
        assert!(
            after >= from && after <= to,
            "{what}: closed after {after:?}, expected {from:?}..{to:?}"
        );
    }
}

/// Reads until the peer closes or `within` has passed since `start`.
fn listen(sock: &mut impl Read, start: Instant, within: Duration) -> Heard {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < within {
        match sock.read(&mut buf) {
            Ok(0) => {
                return Heard {
                    bytes,
                    closed_after: Some(start.elapsed()),
                };
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                return Heard {
                    bytes,
                    closed_after: Some(start.elapsed()),
                };
            }
        }
    }
    Heard {
        bytes,
        closed_after: None,
    }
}

/// The client preface, empty SETTINGS and an acknowledgement of the server's.
fn h2_start() -> Vec<u8> {
    let mut raw = PREFACE.to_vec();
    frame::encode_settings(&mut raw, &[]);
    frame::encode_settings_ack(&mut raw);
    raw
}

/// A TLS client trusting `ca`, offering ALPN h2, for `edge.test`.
fn tls_client(ca: &str) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    let mut pem = ca.as_bytes();
    for cert in rustls_pemfile_certs(&mut pem) {
        roots.add(cert).expect("root");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("edge.test").expect("name");
    rustls::ClientConnection::new(Arc::new(config), name).expect("client")
}

fn rustls_pemfile_certs(pem: &mut &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.expect("pem"))
        .collect()
}

/// A TLS connection to `port` with its handshake done.
fn tls_connect(port: u16, ca: &str) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut sock = connect(port);
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut client = tls_client(ca);
    while client.is_handshaking() {
        client.complete_io(&mut sock).expect("handshake");
    }
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    rustls::StreamOwned::new(client, sock)
}

#[test]
fn connections_that_never_start_are_closed() {
    let edge = start(
        "never_start",
        "    h2edge.io/tls-handshake-timeout: 700ms\n    h2edge.io/preface-timeout: 700ms",
        silent_upstream(),
    );
    let (early, late) = (Duration::from_millis(300), Duration::from_secs(4));

    // h2c, nothing sent; and a preface cut short.
    let mut silent = connect(edge.h2c);
    let mut partial = connect(edge.h2c);
    partial.write_all(&PREFACE[..10]).expect("write");
    // TLS, nothing sent; and half a ClientHello.
    let mut tls_silent = connect(edge.tls);
    let mut hello = Vec::new();
    tls_client(&edge.ca)
        .write_tls(&mut hello)
        .expect("client hello");
    let mut tls_partial = connect(edge.tls);
    tls_partial
        .write_all(&hello[..hello.len() / 2])
        .expect("write");
    // TLS with its handshake done, then silence.
    let mut tls_quiet = tls_connect(edge.tls, &edge.ca);
    let start = Instant::now();

    let heard = listen(&mut silent, start, late);
    heard.assert_closed_between("h2c, nothing sent", early, late);
    assert!(
        heard.bytes.is_empty(),
        "an h2c client hears nothing before its preface"
    );
    listen(&mut partial, start, late).assert_closed_between(
        "h2c, partial preface",
        Duration::ZERO,
        late,
    );
    listen(&mut tls_silent, start, late).assert_closed_between(
        "TLS, nothing sent",
        Duration::ZERO,
        late,
    );
    listen(&mut tls_partial, start, late).assert_closed_between(
        "TLS, half a ClientHello",
        Duration::ZERO,
        late,
    );
    let heard = listen(&mut tls_quiet, start, late);
    heard.assert_closed_between("TLS, no preface", Duration::ZERO, late);
    assert_eq!(
        heard.goaway(),
        Some(ErrorCode::NO_ERROR),
        "{:?}",
        heard.frames()
    );
    edge.gateway.stop();
}

#[test]
fn idle_connections_get_goaway_no_error() {
    let edge = start("idle", "    h2edge.io/idle-timeout: 1s", silent_upstream());
    let mut h2c = connect(edge.h2c);
    h2c.write_all(&h2_start()).expect("write");
    let mut tls = tls_connect(edge.tls, &edge.ca);
    tls.write_all(&h2_start()).expect("write");
    let start = Instant::now();
    let limit = Duration::from_secs(5);
    for (what, heard) in [
        ("h2c", listen(&mut h2c, start, limit)),
        ("TLS", listen(&mut tls, start, limit)),
    ] {
        heard.assert_closed_between(what, Duration::from_millis(700), limit);
        assert_eq!(
            heard.goaway(),
            Some(ErrorCode::NO_ERROR),
            "{what}: {:?}",
            heard.frames()
        );
    }
    edge.gateway.stop();
}

#[test]
fn a_preface_that_is_not_http2_gets_an_answer_in_its_own_protocol() {
    let edge = start(
        "preface",
        "    h2edge.io/idle-timeout: 60s",
        silent_upstream(),
    );
    let limit = Duration::from_secs(3);
    // h2c: an HTTP/1.1 request line gets the 505; anything else HTTP/2's GOAWAY PROTOCOL_ERROR.
    let mut http1 = connect(edge.h2c);
    http1
        .write_all(b"GET / HTTP/1.1\r\nhost: edge.test\r\n\r\n")
        .expect("write");
    let heard = listen(&mut http1, Instant::now(), limit);
    assert!(
        heard.bytes.starts_with(b"HTTP/1.1 505 "),
        "{:?}",
        String::from_utf8_lossy(&heard.bytes)
    );
    let mut garbage = connect(edge.h2c);
    garbage
        .write_all(b"INVALID CONNECTION PREFACE\r\n\r\n")
        .expect("write");
    let heard = listen(&mut garbage, Instant::now(), limit);
    heard.assert_closed_between("h2c garbage", Duration::ZERO, limit);
    assert_eq!(
        heard.goaway(),
        Some(ErrorCode::PROTOCOL_ERROR),
        "{:?}",
        heard.frames()
    );
    // TLS: whatever follows the handshake goes through TLS, a request line too.
    let mut tls = tls_connect(edge.tls, &edge.ca);
    tls.write_all(b"GET / HTTP/1.1\r\nhost: edge.test\r\n\r\n")
        .expect("write");
    let heard = listen(&mut tls, Instant::now(), limit);
    heard.assert_closed_between("TLS, HTTP/1.1 after the handshake", Duration::ZERO, limit);
    assert_eq!(
        heard.goaway(),
        Some(ErrorCode::PROTOCOL_ERROR),
        "{:?}",
        heard.frames()
    );
    edge.gateway.stop();
}
