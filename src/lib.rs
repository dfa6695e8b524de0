//! h2edge: an HTTP/2 and gRPC edge gateway.
//!
//! The crate is layered; each layer uses only the ones below it (see `docs/architecture.md`):
//! - [`h2`]: the sans-IO HTTP/2 protocol core (frames, HPACK, connection state machine).
//! - [`route`] and [`balance`]: which rule and cluster a request matches, and which endpoint of the
//!   cluster takes the stream (sans-IO, per worker).
//! - [`proxy`]: what the gateway does with each stream: routes and proxies it, or answers locally.
//! - [`tls`]: rustls on both legs: SNI certificates, ALPN, upstream mTLS and SAN checks.
//! - [`runtime`]: pinned worker threads, listeners and the I/O backends that move bytes.
//! - [`config`]: Gateway API / Istio YAML read and validated; [`serve`] turns it into what the
//!   workers run (`h2edge run`).
//! - [`demo`]: the embedded demo's throwaway PKI and local backends.
//! - [`observe`]: what the workers count, summed for `/metrics`.
//! - [`admin`]: the admin listener (health, readiness, Prometheus metrics), off the hot path.
#![deny(unsafe_code)]

pub mod admin;
pub mod balance;
pub mod config;
pub mod demo;
pub mod h2;
pub mod observe;
pub mod proxy;
pub mod route;
pub mod runtime;
pub mod serve;
#[doc(hidden)]
pub mod testkit;
pub mod tls;
