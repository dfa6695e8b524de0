//! The listener side of TLS: certificates by SNI, ALPN `h2`, resumption.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use super::{TlsConfigError, certs_from_pem, key_from_pem, provider};

/// One certificate and the hostnames it serves (`*.example.com` wildcards allowed; an empty list
/// makes it the default for clients that send no SNI or an unknown name).
pub struct ServerCert {
    pub hostnames: Vec<String>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Picks the certificate for a ClientHello: an exact hostname first, then the longest wildcard
/// suffix, then the default.
#[derive(Debug, Default)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Keyed by the suffix after `*` (for `*.example.com`: `.example.com`).
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl SniResolver {
    fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name) {
            return Some(key.clone());
        }
        // A wildcard covers exactly one label (RFC 6125 §6.4.3).
        if let Some(dot) = name.find('.') {
            if let Some(key) = self.wildcard.get(&name[dot..]) {
                return Some(key.clone());
            }
        }
        self.default.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name() {
            Some(name) => self.lookup(name),
            None => self.default.clone(),
        }
    }
}

/// A server config for a TLS listener: ALPN `h2` only, so a client that cannot speak HTTP/2 gets a
/// `no_application_protocol` alert rather than a hang; TLS 1.3 and 1.2; stateless resumption
/// tickets plus the in-memory session cache. With `client_ca` (a PEM bundle), clients must present
/// a certificate it signs (mutual TLS).
pub fn server_config(
    certs: &[ServerCert],
    client_ca: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    server_config_auth(certs, client_ca.map(|ca| (ca, true)))
}

/// [`server_config`] with client-certificate validation `(CA bundle, required)`: when not
/// required, a client without a certificate is let in (an invalid certificate is still refused),
/// as the Gateway API's `AllowInsecureFallback` asks.
pub fn server_config_auth(
    certs: &[ServerCert],
    client_auth: Option<(&[u8], bool)>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let provider = provider::provider();
    let mut resolver = SniResolver::default();
    for c in certs {
        let chain = certs_from_pem(&c.cert_pem)?;
        let key = key_from_pem(&c.key_pem)?;
        let key = CertifiedKey::from_der(chain, key, &provider)
            .map_err(|e| TlsConfigError(format!("certificate and key do not match: {e}")))?;
        let key = Arc::new(key);
        if c.hostnames.is_empty() {
            resolver.default = Some(key.clone());
        }
        for host in &c.hostnames {
            let host = host.trim_end_matches('.').to_ascii_lowercase();
            match host.strip_prefix('*') {
                Some(suffix) => resolver.wildcard.insert(suffix.to_string(), key.clone()),
                None => resolver.exact.insert(host, key.clone()),
            };
        }
        if resolver.default.is_none() {
            resolver.default = Some(key);
        }
    }
    if resolver.default.is_none() {
        return Err(TlsConfigError(
            "a TLS listener needs at least one certificate".into(),
        ));
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError(e.to_string()))?;
    let builder = match client_auth {
        None => builder.with_no_client_auth(),
        Some((ca, required)) => {
            let mut roots = RootCertStore::empty();
            for cert in certs_from_pem(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| TlsConfigError(format!("bad client CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if required {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsConfigError(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.ticketer =
        rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| TlsConfigError(e.to_string()))?;
    Ok(Arc::new(config))
}
