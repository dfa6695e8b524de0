//! h2edge: an HTTP/2 and gRPC edge gateway.
//!
//! The crate is layered; each layer uses only the ones below it (see `docs/architecture.md`):
//! - [`h2`]: the sans-IO HTTP/2 protocol core (frames, HPACK, connection state machine).
//! - [`proxy`]: what the gateway does with each stream (for now: local answers).
//! - [`tls`]: rustls on both legs: SNI certificates, ALPN, upstream mTLS and SAN checks.
//! - [`runtime`]: pinned worker threads, listeners and the I/O backends that move bytes.
//! - [`demo`]: the embedded demo's throwaway PKI and local backends.
#![deny(unsafe_code)]

pub mod balance;
pub mod config;
pub mod demo;
pub mod h2;
pub mod proxy;
pub mod route;
pub mod runtime;
pub mod tls;
