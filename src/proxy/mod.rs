//! The application side of the gateway: what happens to each stream, sans-IO.
//!
//! - [`gateway`]: one worker's connection table (clients and upstreams), TLS on each, and the
//!   bytes-in / bytes-out interface the runtime drives.
//! - `bridge`: the per-stream bridge between a client stream and an upstream stream.
//! - [`client_limits`]: timeouts and the per-worker bound of client connections.
//! - [`local`]: answers the gateway gives itself (no upstream, upstream failure, no route), as
//!   proper HTTP/2 or gRPC responses, never a hung stream.
//! - [`echo`]: the demo's echo backends.
//! - [`headers`]: header rewriting between the legs.
//! - `pool`: which endpoint takes a stream (route table, balancer), connections per endpoint, and
//!   endpoint connect health with backoff.
//! - [`upstreams`]: the route table and clusters a configuration gives every worker.
//! - `drain`: shutdown and removed listeners: GOAWAY, streams finish, a deadline.
//! - `stream_map`: the bridge's maps by stream id, with a cheap keyed hash.

mod bridge;
pub mod client_limits;
mod conns;
mod drain;
pub mod echo;
pub mod gateway;
pub mod headers;
pub mod local;
mod pending;
mod pool;
mod stream_map;
pub mod upstreams;
