//! Streams the gateway ends itself: a route timeout passed, waiting bytes stopped moving, or the
//! worker's buffer budget ran out. Each ends on both legs with every byte it held given back to
//! flow control, so a shared upstream connection keeps its window whatever its clients do.

use std::time::{Duration, Instant};

use super::{Back, Link, UpstreamSide, client_at, upstream_at};
use crate::h2::conn::Connection;
use crate::h2::error::ErrorCode;
use crate::proxy::gateway::{App, Conn, Kind, Shared, Token};
use crate::proxy::local::Reason;

/// Why the gateway ends a proxied stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::proxy) enum Abort {
    /// The route's timeout passed: 504 / gRPC 4, and a gateway error for outlier detection.
    Timeout,
    /// Its waiting bytes did not move for the stall timeout.
    Stalled,
    /// The worker's buffer budget ran out, and it held the most.
    OverBudget,
}

/// Cancellations on one upstream connection per [`CANCEL_WINDOW`] before it is replaced instead
/// (a quarter of the reset budget h2edge itself grants a peer: an upstream that counts resets
/// against Rapid Reset must never see the gateway as an attacker).
const MAX_CANCELS: u32 = 100;
const CANCEL_WINDOW: Duration = Duration::from_secs(10);

/// Ends client stream `stream_id` of `client` and its upstream stream: the upstream stream is
/// cancelled, and the client gets a local answer for `why`, or a reset once its response started.
pub(in crate::proxy) fn abort(shared: &mut Shared, client: Token, stream_id: u32, why: Abort) {
    let now = shared.now;
    let Some((h2, side)) = client_at(shared, client) else {
        return;
    };
    let Some(link) = side.streams.remove(&stream_id) else {
        return;
    };
    release_link(h2, stream_id, &link);
    // A held response (its upstream connection is gone) has started.
    let mut responded = link.held.is_some();
    if let Some((up, up_stream)) = link.up {
        if let Some((up_h2, up_side)) = upstream_at(shared, up) {
            if let Some(back) = up_side.streams.remove(&up_stream) {
                responded = back.responded;
                release_back(up_h2, up_stream, &back);
            }
            cancel(up_h2, up_side, up_stream, now);
            let endpoint = up_side.endpoint;
            shared.dirty.push(up);
            if why == Abort::Timeout {
                // A backend that does not answer in time is failing, as Envoy counts it.
                shared.record_answer(endpoint, 504);
            }
        }
    }
    let Some((h2, side)) = client_at(shared, client) else {
        return;
    };
    if responded {
        let code = match why {
            Abort::OverBudget => ErrorCode::ENHANCE_YOUR_CALM,
            Abort::Timeout | Abort::Stalled => ErrorCode::CANCEL,
        };
        h2.reset(stream_id, code);
    } else {
        let reason = match why {
            Abort::Timeout => Reason::Timeout,
            Abort::Stalled => Reason::Stalled,
            Abort::OverBudget => Reason::OverBudget,
        };
        side.local.answer(stream_id, link.grpc, reason);
        side.local.flush(h2);
    }
    shared.dirty.push(client);
}

/// Cancels upstream stream `up_stream`, which the gateway no longer needs. Many cancellations on
/// one connection in a short time (a stalled backend whose streams all time out) would look like
/// Rapid Reset to an upstream that counts resets, so past [`MAX_CANCELS`] per [`CANCEL_WINDOW`]
/// the connection is replaced instead: GOAWAY, no new streams, and the stream is dropped without
/// a frame (its late frames are ignored). The connection closes once its last stream ends, which
/// ends the dropped ones upstream; its other streams finish undisturbed.
pub(super) fn cancel(
    up_h2: &mut Connection,
    side: &mut UpstreamSide,
    up_stream: u32,
    now: Instant,
) {
    let (count, since) = &mut side.cancels;
    if now.saturating_duration_since(*since) >= CANCEL_WINDOW {
        *count = 0;
        *since = now;
    }
    *count += 1;
    if *count <= MAX_CANCELS {
        up_h2.reset(up_stream, ErrorCode::CANCEL);
        return;
    }
    if !side.retired {
        side.retired = true;
        up_h2.go_away(ErrorCode::NO_ERROR, b"replaced: many streams cancelled");
    }
    up_h2.forget(up_stream);
}

/// A client stream's link is dropped: the request bytes still waiting in it go back to the
/// client's windows (those of a replayed body were credited already).
pub(super) fn release_link(h2: &mut Connection, stream_id: u32, link: &Link) {
    let held = link.pending.data.len().saturating_sub(link.credited);
    h2.release_capacity(stream_id, held);
}

/// An upstream stream's link is dropped: the response bytes still waiting in it go back to the
/// upstream's windows.
pub(super) fn release_back(up_h2: &mut Connection, up_stream: u32, back: &Back) {
    up_h2.release_capacity(up_stream, back.pending.data.len());
}

/// Once per loop turn, with every connection in the table: streams over the buffer budget, and
/// (every quarter of the stall timeout, at most once per second) streams whose bytes stopped.
pub(in crate::proxy) fn tend(shared: &mut Shared) {
    let limits = shared.config.buffers;
    if shared.meter.get() > limits.budget {
        enforce_budget(shared, limits.budget);
    }
    let now = shared.now;
    if shared.next_stall_check.is_some_and(|at| at > now) {
        return;
    }
    let every =
        (limits.stall_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    shared.next_stall_check = Some(now + every);
    if shared.meter.get() == 0 {
        return;
    }
    let mut stalled = Vec::new();
    for_each_waiting(shared, |client, stream_id, pending| {
        if pending.stuck_for(now) >= limits.stall_timeout {
            stalled.push((client, stream_id));
        }
    });
    for (client, stream_id) in stalled {
        abort(shared, client, stream_id, Abort::Stalled);
    }
}

/// The worker holds more than `budget`: the streams holding the most are ended until it holds
/// seven eighths of it (so that one more frame does not start it again).
fn enforce_budget(shared: &mut Shared, budget: usize) {
    let mut held: Vec<(usize, Token, u32)> = Vec::new();
    for_each_waiting(shared, |client, stream_id, pending| {
        held.push((pending.data.held(), client, stream_id));
    });
    // A stream waits on both legs at most once each: add up its two entries.
    held.sort_unstable_by_key(|&(_, client, stream_id)| (client, stream_id));
    held.dedup_by(|b, a| {
        let same = (a.1, a.2) == (b.1, b.2);
        if same {
            a.0 += b.0;
        }
        same
    });
    held.sort_unstable_by_key(|h| std::cmp::Reverse(h.0));
    let target = budget / 8 * 7;
    for (_, client, stream_id) in held {
        if shared.meter.get() <= target {
            break;
        }
        abort(shared, client, stream_id, Abort::OverBudget);
    }
}

/// Calls `f` with every stream's waiting bytes: request bytes in client streams' links, response
/// bytes in upstream streams' links (or held by the client stream, once their upstream connection
/// is gone), each named by its client stream.
fn for_each_waiting(shared: &mut Shared, mut f: impl FnMut(Token, u32, &mut super::Pending)) {
    for (token, conn) in shared.conns.iter_mut().enumerate() {
        match conn {
            Some(Conn {
                kind:
                    Kind::Client {
                        app: App::Proxy(side),
                        ..
                    },
                ..
            }) => {
                for (&stream_id, link) in side.streams.iter_mut() {
                    if !link.pending.data.is_empty() {
                        f(token, stream_id, &mut link.pending);
                    }
                    if let Some(back) = link.held.as_deref_mut() {
                        if !back.pending.data.is_empty() {
                            f(token, stream_id, &mut back.pending);
                        }
                    }
                }
            }
            Some(Conn {
                kind: Kind::Upstream(side),
                ..
            }) => {
                for back in side.streams.values_mut() {
                    if !back.pending.data.is_empty() {
                        f(back.client, back.client_stream, &mut back.pending);
                    }
                }
            }
            _ => {}
        }
    }
}
