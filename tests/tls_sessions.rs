//! TLS sessions driven in memory against each other: ALPN h2, SNI certificate choice (wildcards
//! included), mutual TLS, SAN checks by DNS name and by SPIFFE URI, and alerts instead of hangs.

use std::sync::Arc;

use h2edge::demo::pki::{Ca, Issued};
use h2edge::h2::conn::PREFACE;
use h2edge::tls::client::{Identity, UpstreamTls, client_config};
use h2edge::tls::server::{ServerCert, server_config};
use h2edge::tls::session::{ClientSession, ServerSession, TlsError};
use rustls::pki_types::ServerName;

/// Which side failed, and why.
type Failure = (&'static str, TlsError);

/// Moves bytes both ways until neither side has anything to send; returns what each side received.
fn run(
    client: &mut ClientSession,
    server: &mut ServerSession,
) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    run_chunked(client, server, usize::MAX)
}

/// [`run`], delivering the bytes in pieces of at most `chunk` bytes, as a socket may (the sessions
/// decrypt whole records in the receive buffer and keep only partial ones).
fn run_chunked(
    client: &mut ClientSession,
    server: &mut ServerSession,
    chunk: usize,
) -> Result<(Vec<u8>, Vec<u8>), Failure> {
    let (mut to_client, mut to_server) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let mut c_out = client.outgoing().to_vec();
        client.advance_outgoing(c_out.len());
        let mut s_out = server.outgoing().to_vec();
        server.advance_outgoing(s_out.len());
        if c_out.is_empty() && s_out.is_empty() {
            break;
        }
        for piece in c_out.chunks_mut(chunk) {
            server
                .receive(piece, &mut |p| to_server.extend_from_slice(p))
                .map_err(|e| ("server", e))?;
        }
        for piece in s_out.chunks_mut(chunk) {
            client
                .receive(piece, &mut |p| to_client.extend_from_slice(p))
                .map_err(|e| ("client", e))?;
        }
    }
    Ok((to_client, to_server))
}

fn server_cert(issued: &Issued, hostnames: &[&str]) -> ServerCert {
    ServerCert {
        hostnames: hostnames.iter().map(|h| h.to_string()).collect(),
        cert_pem: issued.cert_pem.clone().into_bytes(),
        key_pem: issued.key_pem.clone().into_bytes(),
    }
}

fn upstream(ca: &Ca, client: Option<&Issued>, identity: Identity) -> Arc<rustls::ClientConfig> {
    client_config(&UpstreamTls {
        ca_pem: ca.cert_pem.clone().into_bytes(),
        client_cert: client.map(|c| {
            (
                c.cert_pem.clone().into_bytes(),
                c.key_pem.clone().into_bytes(),
            )
        }),
        identity,
    })
    .expect("client config")
}

fn name(n: &str) -> ServerName<'static> {
    ServerName::try_from(n.to_string()).unwrap()
}

/// A server for `gateway.test`, its certificate issued by `ca`, no client certificates.
fn gateway_test_server(ca: &Ca) -> Arc<rustls::ServerConfig> {
    server_config(
        &[server_cert(
            &ca.issue(&["gateway.test"]).unwrap(),
            &["gateway.test"],
        )],
        None,
    )
    .unwrap()
}

#[test]
fn handshake_alpn_and_data_both_ways() {
    let ca = Ca::new("test ca").unwrap();
    let server = gateway_test_server(&ca);
    let mut s = ServerSession::server(server).unwrap();
    let mut c = ClientSession::client(
        upstream(&ca, None, Identity::ServerName),
        name("gateway.test"),
    )
    .unwrap();
    run(&mut c, &mut s).unwrap();
    assert!(!c.is_handshaking() && !s.is_handshaking());
    assert_eq!(c.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(s.alpn_protocol(), Some(&b"h2"[..]));
    let big = vec![7u8; 100_000];
    assert!(c.send(PREFACE).unwrap());
    assert!(s.send(&big).unwrap());
    let (to_client, to_server) = run(&mut c, &mut s).unwrap();
    assert_eq!(to_server, PREFACE);
    assert_eq!(to_client, big);
}

#[test]
fn records_split_across_reads_are_reassembled() {
    let ca = Ca::new("test ca").unwrap();
    let server = gateway_test_server(&ca);
    let client = upstream(&ca, None, Identity::ServerName);
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    for chunk in [1, 5, 100, 4096, 16_389, 40_000] {
        let mut s = ServerSession::server(server.clone()).unwrap();
        let mut c = ClientSession::client(client.clone(), name("gateway.test")).unwrap();
        run_chunked(&mut c, &mut s, chunk).unwrap();
        assert!(!c.is_handshaking() && !s.is_handshaking(), "chunk {chunk}");
        for _ in 0..2 {
            assert!(c.send(&big).unwrap());
            assert!(s.send(&big[..12_345]).unwrap());
        }
        let (to_client, to_server) = run_chunked(&mut c, &mut s, chunk).unwrap();
        assert_eq!(to_server, [&big[..], &big[..]].concat(), "chunk {chunk}");
        assert_eq!(
            to_client,
            [&big[..12_345], &big[..12_345]].concat(),
            "chunk {chunk}"
        );
    }
}

#[test]
fn send_before_handshake_takes_nothing() {
    let ca = Ca::new("test ca").unwrap();
    let server = server_config(
        &[server_cert(&ca.issue(&["a.test"]).unwrap(), &["a.test"])],
        None,
    )
    .unwrap();
    let _s = ServerSession::server(server).unwrap();
    let mut c =
        ClientSession::client(upstream(&ca, None, Identity::ServerName), name("a.test")).unwrap();
    assert!(!c.send(b"early").unwrap());
}

#[test]
fn sni_picks_exact_then_wildcard_then_default() {
    let ca = Ca::new("test ca").unwrap();
    let exact = ca.issue(&["api.example.com"]).unwrap();
    let wild = ca.issue(&["*.example.com"]).unwrap();
    let default = ca.issue(&["default.test"]).unwrap();
    let server = server_config(
        &[
            server_cert(&default, &[]),
            server_cert(&exact, &["api.example.com"]),
            server_cert(&wild, &["*.example.com"]),
        ],
        None,
    )
    .unwrap();
    // Each client checks the server's certificate against the name it asked for, so a wrong pick
    // fails the handshake.
    for host in ["api.example.com", "shop.example.com", "default.test"] {
        let mut s = ServerSession::server(server.clone()).unwrap();
        let mut c =
            ClientSession::client(upstream(&ca, None, Identity::ServerName), name(host)).unwrap();
        run(&mut c, &mut s).unwrap_or_else(|(side, e)| panic!("{host}: {side}: {e}"));
        assert!(!c.is_handshaking(), "{host}");
    }
    // One label only: a.b.example.com is not covered by *.example.com, so the default is served and
    // the client rejects it.
    let mut s = ServerSession::server(server).unwrap();
    let mut c = ClientSession::client(
        upstream(&ca, None, Identity::ServerName),
        name("a.b.example.com"),
    )
    .unwrap();
    assert!(run(&mut c, &mut s).is_err());
}

#[test]
fn client_without_h2_gets_an_alert_not_a_hang() {
    let ca = Ca::new("test ca").unwrap();
    let server = gateway_test_server(&ca);
    let mut config = (*upstream(&ca, None, Identity::ServerName)).clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut s = ServerSession::server(server).unwrap();
    let mut c = ClientSession::client(Arc::new(config), name("gateway.test")).unwrap();
    let err = run(&mut c, &mut s).expect_err("handshake must fail");
    assert_eq!(err.0, "server", "{}", err.1);
    // The server queued an alert; the client learns of the failure from it at once.
    let mut alert = s.outgoing().to_vec();
    assert!(!alert.is_empty(), "the server must send an alert");
    let err = c
        .receive(&mut alert, &mut |_| {})
        .expect_err("client must fail");
    assert!(err.to_string().contains("NoApplicationProtocol"), "{err}");
}

/// mTLS towards an upstream: the upstream requires a client certificate signed by the mesh CA, and
/// the gateway checks the upstream's SPIFFE id.
fn mtls_pair(ca: &Ca, upstream_names: &[&str]) -> Arc<rustls::ServerConfig> {
    let issued = ca.issue(upstream_names).unwrap();
    server_config(&[server_cert(&issued, &[])], Some(ca.cert_pem.as_bytes())).unwrap()
}

#[test]
fn spiffe_uri_san_is_checked() {
    let mesh = Ca::new("mesh ca").unwrap();
    let upstream_cfg = mtls_pair(
        &mesh,
        &[
            "backend.test",
            "spiffe://cluster.local/ns/default/sa/product",
        ],
    );
    let gw = mesh
        .issue(&["spiffe://cluster.local/ns/default/sa/gateway"])
        .unwrap();

    let good = Identity::AnyUri(vec!["spiffe://cluster.local/ns/default/sa/product".into()]);
    let mut s = ServerSession::server(upstream_cfg.clone()).unwrap();
    let mut c =
        ClientSession::client(upstream(&mesh, Some(&gw), good), name("backend.test")).unwrap();
    run(&mut c, &mut s).unwrap();
    assert!(!c.is_handshaking() && !s.is_handshaking());

    let wrong = Identity::AnyUri(vec!["spiffe://cluster.local/ns/default/sa/other".into()]);
    let mut s = ServerSession::server(upstream_cfg).unwrap();
    let mut c =
        ClientSession::client(upstream(&mesh, Some(&gw), wrong), name("backend.test")).unwrap();
    let err = run(&mut c, &mut s).expect_err("wrong SPIFFE id must fail");
    assert_eq!(err.0, "client");
    assert!(err.1.to_string().contains("NotValidForName"), "{}", err.1);
}

#[test]
fn upstream_requires_the_client_certificate() {
    let mesh = Ca::new("mesh ca").unwrap();
    let upstream_cfg = mtls_pair(&mesh, &["backend.test"]);
    let mut s = ServerSession::server(upstream_cfg).unwrap();
    let mut c = ClientSession::client(
        upstream(&mesh, None, Identity::ServerName),
        name("backend.test"),
    )
    .unwrap();
    let err = run(&mut c, &mut s).expect_err("no client certificate must fail");
    assert_eq!(err.0, "server", "{}", err.1);
}

#[test]
fn untrusted_upstream_is_refused() {
    let mesh = Ca::new("mesh ca").unwrap();
    let rogue = Ca::new("rogue ca").unwrap();
    let upstream_cfg = mtls_pair(&rogue, &["backend.test"]);
    let gw = mesh.issue(&["gateway.test"]).unwrap();
    let mut s = ServerSession::server(upstream_cfg).unwrap();
    let mut c = ClientSession::client(
        upstream(&mesh, Some(&gw), Identity::ServerName),
        name("backend.test"),
    )
    .unwrap();
    let err = run(&mut c, &mut s).expect_err("a certificate from another CA must fail");
    assert_eq!(err.0, "client");
}
