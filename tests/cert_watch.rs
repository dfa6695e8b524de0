//! Certificate files replaced on disk (cert-manager, a kubelet Secret update) reach new TLS
//! handshakes without SIGHUP: `h2edge run` watches the files a Secret names
//! (`h2edge.io/cert-file`, `h2edge.io/key-file`) as it watches its own config.

use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

#[path = "common/run_gateway.rs"]
mod run_gateway;
use run_gateway::Gateway;

/// A self-signed certificate for `localhost`: (DER, certificate PEM, key PEM).
fn certificate() -> (CertificateDer<'static>, String, String) {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    (
        issued.cert.der().clone(),
        issued.cert.pem(),
        issued.signing_key.serialize_pem(),
    )
}

fn config(port: u16) -> String {
    format!(
        r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: edge, namespace: test}}
spec:
  gatewayClassName: h2edge
  listeners:
  - name: https
    port: {port}
    protocol: HTTPS
    tls: {{certificateRefs: [{{name: edge-cert}}]}}
---
apiVersion: v1
kind: Secret
metadata:
  name: edge-cert
  namespace: test
  annotations:
    h2edge.io/cert-file: certs/edge.crt
    h2edge.io/key-file: certs/edge.key
type: kubernetes.io/tls
"#
    )
}

fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) {
    std::fs::write(dir.join("certs/edge.key"), key_pem).expect("key");
    std::fs::write(dir.join("certs/edge.crt"), cert_pem).expect("cert");
}

/// The certificate a new TLS handshake with the gateway on `port` presents; either of `trusted`
/// is accepted.
fn presented(port: u16, trusted: &[&CertificateDer<'static>]) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots.add((*cert).clone()).expect("trust");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    while tls.is_handshaking() {
        tls.complete_io(&mut sock).expect("handshake");
    }
    tls.peer_certificates()
        .and_then(|c| c.first())
        .expect("a certificate")
        .clone()
        .into_owned()
}

#[test]
fn replaced_certificate_files_reach_new_handshakes_without_sighup() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cert-watch");
    std::fs::create_dir_all(dir.join("certs")).expect("scratch dir");
    let (first, first_cert, first_key) = certificate();
    let (second, second_cert, second_key) = certificate();
    write_pair(&dir, &first_cert, &first_key);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let gateway = Gateway::start(&dir, &config(port));
    assert_eq!(presented(port, &[&first, &second]), first);

    write_pair(&dir, &second_cert, &second_key);
    gateway.wait_for("configuration reloaded");
    assert_eq!(presented(port, &[&first, &second]), second);
    gateway.stop();
}
