//! The upstream side of TLS: the gateway's client certificate, the CA bundle that signs upstream
//! certificates, and the identity the upstream must prove: a DNS name or a SPIFFE URI SAN.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{TlsConfigError, certs_from_pem, key_from_pem, provider};

/// What the upstream's certificate must name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The SNI name (a DNS name or IP address SAN), as browsers check.
    ServerName,
    /// A URI SAN equal to any of these, such as `spiffe://cluster.local/ns/default/sa/product` (the
    /// SNI name is not checked). An empty list checks only the chain to the CA bundle, as Istio's
    /// `ISTIO_MUTUAL` without `subjectAltNames` does (the mesh root vouches for the workload).
    AnyUri(Vec<String>),
}

/// Upstream TLS settings.
pub struct UpstreamTls {
    /// PEM CA bundle that signs upstream certificates.
    pub ca_pem: Vec<u8>,
    /// The gateway's client certificate chain and key (mTLS); `None` for plain TLS.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    pub identity: Identity,
}

pub fn client_config(tls: &UpstreamTls) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let provider = provider::provider();
    let mut roots = RootCertStore::empty();
    for ca in certs_from_pem(&tls.ca_pem)? {
        roots
            .add(ca)
            .map_err(|e| TlsConfigError(format!("bad CA certificate: {e}")))?;
    }
    let roots = Arc::new(roots);
    let algs = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError(e.to_string()))?;
    let builder = match &tls.identity {
        Identity::ServerName => {
            let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| TlsConfigError(e.to_string()))?;
            builder.with_webpki_verifier(verifier)
        }
        Identity::AnyUri(uris) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(UriSanVerifier {
                roots,
                algs,
                uris: uris.clone(),
            })),
    };
    let mut config = match &tls.client_cert {
        Some((cert, key)) => builder
            .with_client_auth_cert(certs_from_pem(cert)?, key_from_pem(key)?)
            .map_err(|e| TlsConfigError(format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Checks the chain against the CA bundle like the standard verifier, then requires a URI SAN equal
/// to one of the expected ones (if any) instead of a DNS name.
#[derive(Debug)]
struct UriSanVerifier {
    roots: Arc<RootCertStore>,
    algs: WebPkiSupportedAlgorithms,
    uris: Vec<String>,
}

impl ServerCertVerifier for UriSanVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        let parsed = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| rustls::Error::General(format!("bad certificate: {e}")))?;
        if self.uris.is_empty()
            || parsed
                .valid_uri_names()
                .any(|name| self.uris.iter().any(|u| u == name))
        {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
