//! End-to-end tests of the gateway over real loopback sockets with a real gRPC implementation on
//! both ends: tonic clients talk to h2edge's TLS (ALPN h2) and h2c listeners, and h2edge proxies
//! every stream to three tonic backends over mutual TLS with a SPIFFE identity check.
//!
//! Each test builds its own bed (PKI, backends, gateway; see `harness`), bounds every step in
//! time, and shuts the gateway down (flag set, workers joined) at the end.

mod backend;
mod cancel;
mod cases;
mod client;
mod config_run;
mod drain;
mod failures;
#[path = "../common/h2c_gateway.rs"]
mod h2c_gateway;
mod harness;
mod http2_settings;
mod interop;
mod io_backends;
mod proto;
mod replay;
#[path = "../common/run_gateway.rs"]
mod run_gateway;
mod spread;
