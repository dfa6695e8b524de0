//! The application side of a client connection: what h2edge does with each stream.
//!
//! - [`local`]: answers the gateway gives itself (no route, no upstream), as proper HTTP/2 or gRPC
//!   responses, never a hung stream.

pub mod local;
