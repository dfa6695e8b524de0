//! TLS with rustls, on both legs.
//!
//! - [`session`]: the record pump over rustls's unbuffered API: ciphertext in from the socket,
//!   plaintext out to the HTTP/2 layer, and plaintext encrypted straight into the send buffer.
//! - [`server`]: the listener side: certificates chosen by SNI (wildcards included), ALPN `h2`,
//!   session resumption by tickets.
//! - [`client`]: the upstream side: client certificate (mTLS), CA bundle, and verification of the
//!   upstream's SAN as a DNS name or a SPIFFE URI.
//! - [`provider`]: the crypto provider (aws-lc-rs) with key-exchange groups chosen explicitly.

pub mod client;
pub mod provider;
pub mod server;
pub mod session;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate, key or CA bundle could not be used.
#[derive(Debug)]
pub struct TlsConfigError(pub String);

impl std::fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsConfigError {}

/// Every certificate in a PEM bundle, in order.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(TlsConfigError("no certificate in PEM data".into())),
        Err(e) => Err(TlsConfigError(format!("bad certificate PEM: {e}"))),
    }
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in PEM data.
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| TlsConfigError(format!("bad private key PEM: {e}")))
}
