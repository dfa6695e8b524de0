//! The crypto provider: aws-lc-rs (about 1.5× the handshakes per core of ring, measured in
//! ../shared/reference/dependency-evaluation.md §4), with key-exchange groups chosen explicitly:
//! X25519 first, then P-256. The post-quantum hybrid is left out by default: it makes a 1.4 KB
//! ClientHello and costs about 20% more server handshake CPU.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, kx_group};

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1],
        ..aws_lc_rs::default_provider()
    })
}
