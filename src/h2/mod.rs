//! The HTTP/2 protocol core: plain, deterministic Rust over byte buffers.
//!
//! Nothing in here touches sockets, threads or clocks: callers pass bytes in, take bytes out, and pass
//! the current time in. That makes every part fuzzable and testable without a network.
//!
//! - [`frame`]: the frame codec (RFC 9113 §4, §6).
//! - [`hpack`]: header compression (RFC 7541).
//! - [`fields`]: a reusable, allocation-free list of decoded header fields.
//! - [`conn`]: the connection and stream state machine, for both roles.
//! - [`grpc`]: what makes a request gRPC (its `content-type`).

pub mod conn;
pub mod error;
pub mod fields;
pub mod frame;
pub mod grpc;
pub mod hpack;

pub use error::{ErrorCode, H2Error};
