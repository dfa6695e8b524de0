//! h2edge: an HTTP/2 and gRPC edge gateway.
//!
//! The crate is layered; each layer uses only the ones below it (see `docs/architecture.md`):
//! - [`h2`]: the sans-IO HTTP/2 protocol core (frames, HPACK, connection state machine).
#![forbid(unsafe_code)]

pub mod h2;
