//! The application side of the gateway: what happens to each stream, sans-IO.
//!
//! From the top (each file uses only those below it):
//! - [`gateway`]: the bytes-in / bytes-out interface the runtime drives; TLS and HTTP/2 input per
//!   connection, output, timers.
//! - `drain`: shutdown and removed listeners: GOAWAY, streams finish, a deadline.
//! - `bridge`: what happens to a proxied stream: opening it upstream, passing its frames on, flow
//!   control across the legs, replay, ending it (timeouts, stalls, the buffer budget).
//! - `worker`: one worker's state, as owned parts (connections, streams, pool, timers).
//! - `pool`: which endpoint takes a stream (route table, balancer), connections per endpoint,
//!   connect health, outlier ejection, keepalive, in-flight counts, streams waiting for room.
//! - `conns`: the connection table (generational ids; which connections have output is derived).
//! - `sides`: the proxy state of a client or upstream connection; `streams`: the bridge slab.
//! - [`events`]: the hook metrics and the access log implement (a no-op by default).
//! - [`client_limits`], [`settings`], [`upstreams`]: client connection bounds, what a worker is
//!   configured with, the route table and clusters.
//! - [`local`], [`echo`], [`headers`], `pending`, `stream_map`, `ids`: local answers, the demo's
//!   backends, header rewriting, bytes waiting for the other leg, stream-id maps, handles;
//!   `timers`: every deadline of a worker in one table.

mod bridge;
pub mod client_limits;
mod conns;
mod drain;
pub mod echo;
pub mod events;
pub mod gateway;
pub mod headers;
mod ids;
pub mod local;
mod pending;
mod pool;
pub mod settings;
mod sides;
mod stream_map;
mod streams;
mod timers;
pub mod upstreams;
mod worker;
