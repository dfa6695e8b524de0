//! The bridges: one object per proxied stream, carrying a client stream over one upstream stream on
//! a connection of the worker's pool, so that everything that happens on one leg is repeated on the
//! other.
//!
//! - Each stream is one [`Bridge`] in the worker's slab ([`Bridges`]), addressed by a generational
//!   [`BridgeId`]: both legs' stream maps, the waiting queue and the route-timeout heap hold that id,
//!   and an id whose stream ended never reaches a newer stream in the same slot.
//! - Headers are re-encoded (hop-by-hop fields dropped, `x-forwarded-*` and `x-request-id` added);
//!   DATA is passed on as it arrives; trailers and END_STREAM pass both ways; a reset on either leg
//!   ends the other (a client cancel reaches the upstream as RST_STREAM CANCEL at once).
//! - Flow control is coupled: bytes received on one leg are given back to that leg's windows only
//!   once the other leg's connection has taken them. What it cannot take yet waits in the bridge
//!   (`request` or `response`), bounded by the receiving leg's window, and moves through one
//!   [`pump`] per direction as windows open.
//! - Every stream ends through [`settle`], which frees both legs and answers the client as the way
//!   it ended requires (a local answer, gRPC 14 / 503 / 502 / 504, or a reset once answered).
//!
//! While one connection processes its input it is out of the worker's table, so what must happen on
//! it (giving back window, a local answer) waits in its [`Leg`] and is done once it is free.

mod abort;
mod client;
mod pump;
mod settle;
mod upstream;

pub(super) use abort::{abort, sweep, tend as tend_buffers};
pub(super) use client::{ClientHandler, after_recv as client_after_recv, dispatch_waiting};
pub(super) use settle::Abort;
pub(super) use settle::{End, settle};
pub(super) use upstream::{UpstreamHandler, after_recv as upstream_after_recv};

use super::conns::{App, Conn, IoRequest, Kind};
use super::events::Events;
use super::ids::ConnId;
use super::worker::Worker;

/// A connection that is gone: every stream that crossed it ends, an upstream connection leaves the
/// pool (as a failure of its endpoint when it never answered), and the runtime closes its socket.
pub(super) fn connection_gone<E: Events>(w: &mut Worker<E>, id: ConnId, conn: Conn) {
    if let Kind::Client { clock, .. } = &conn.kind {
        w.clients.gone(clock);
    }
    match conn.kind {
        Kind::Client {
            app: App::Proxy(side),
            ..
        } => client::gone(side, id, w),
        Kind::Upstream(side) => {
            let failed = !conn.h2.settings_acked();
            let now = w.now;
            w.pool
                .leave(id, side.endpoint, failed, now, &mut w.timers, &mut w.events);
            upstream::gone(side, id, w);
        }
        Kind::Client { .. } => {}
    }
    w.io.push(IoRequest::Close(id.token()));
}
