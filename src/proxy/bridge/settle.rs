//! How a proxied stream ends: the one place where both legs let go of it.

use crate::h2::error::ErrorCode;
use crate::proxy::events::{Events, Outcome, StreamEnd};
use crate::proxy::ids::ConnId;
use crate::proxy::local::Reason;
use crate::proxy::sides::{Action, Leg};
use crate::proxy::streams::BridgeId;
use crate::proxy::worker::Worker;

/// The connection a handler runs for: out of the table, its leg reached through here.
pub(in crate::proxy) struct Busy<'a> {
    pub(in crate::proxy) id: ConnId,
    pub(in crate::proxy) leg: &'a mut Leg,
}

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

impl Abort {
    /// The client's local answer, when its response has not started.
    pub(super) fn reason(self) -> Reason {
        match self {
            Abort::Timeout => Reason::Timeout,
            Abort::Stalled => Reason::Stalled,
            Abort::OverBudget => Reason::OverBudget,
        }
    }

    /// The client stream's reset, once its response started.
    pub(super) fn reset_code(self) -> ErrorCode {
        match self {
            Abort::OverBudget => ErrorCode::ENHANCE_YOUR_CALM,
            Abort::Timeout | Abort::Stalled => ErrorCode::CANCEL,
        }
    }
}

/// How a stream ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::proxy) enum End {
    /// The response went out whole.
    Complete,
    /// The client reset its stream, or its connection is gone: the upstream stream is cancelled.
    ClientGone,
    /// The upstream reset its stream with this code, or its connection is gone: the client gets a
    /// local answer if its response has not started, a reset otherwise.
    UpstreamFailed(ErrorCode),
    /// The gateway ended it (see [`Abort`]).
    Aborted(Abort),
    /// No upstream stream could take it: the client gets a local answer.
    Unplaced(Reason),
}

/// Ends bridge `id` on both legs: each leg forgets it, the bytes it held go back to flow control,
/// the upstream stream is cancelled when the client side ended it, and the client gets what the
/// way it ended requires. `busy` is the connection whose handler runs now (out of the table).
pub(in crate::proxy) fn settle<E: Events>(
    w: &mut Worker<E>,
    mut busy: Option<&mut Busy<'_>>,
    id: BridgeId,
    end: End,
) {
    let Some(b) = w.bridges.remove(id) else {
        return;
    };
    if E::ENABLED {
        let outcome = match end {
            End::Complete => Outcome::Complete,
            End::ClientGone => Outcome::ClientGone,
            End::UpstreamFailed(code) => Outcome::UpstreamFailed(code),
            End::Aborted(why) => Outcome::Local(why.reason()),
            End::Unplaced(reason) => Outcome::Local(reason),
        };
        w.events.stream_ended(&StreamEnd {
            listener: b.listener as usize,
            endpoint: w.pool.endpoint_ref(b.endpoint),
            outcome,
            responded: b.responded,
            grpc: b.grpc,
        });
    }
    let responded = b.responded;
    if let Some((up, up_stream)) = b.upstream {
        w.pool.stream_closed(b.endpoint);
        // A stream the upstream has ended needs nothing more on its leg.
        let cancel = matches!(end, End::ClientGone | End::Aborted(_));
        let release = Action::Release(up_stream, b.response.data.len());
        let actions = [
            Some(release).filter(|_| cancel),
            Some(Action::Cancel(up_stream)).filter(|_| cancel),
        ];
        leave(w, busy.as_deref_mut(), up, up_stream, actions);
    }
    let (client, client_stream) = b.client;
    let held = b.request.data.len().saturating_sub(b.credited);
    // A stream the client reset gave its held bytes back with the reset.
    let release =
        (end != End::ClientGone && held > 0).then_some(Action::Release(client_stream, held));
    let answer = match end {
        End::Complete | End::ClientGone => None,
        End::UpstreamFailed(code) if responded => Some(Action::Reset(
            client_stream,
            if code == ErrorCode::CANCEL {
                code
            } else {
                ErrorCode::INTERNAL_ERROR
            },
        )),
        // Not processed upstream (and not replayed here): the client may retry it (RFC 9113 §8.7).
        End::UpstreamFailed(ErrorCode::REFUSED_STREAM) => {
            Some(Action::Reset(client_stream, ErrorCode::REFUSED_STREAM))
        }
        End::UpstreamFailed(_) => Some(Action::Answer(
            client_stream,
            b.grpc,
            Reason::UpstreamFailed,
        )),
        End::Aborted(why) if responded => Some(Action::Reset(client_stream, why.reset_code())),
        End::Aborted(why) => Some(Action::Answer(client_stream, b.grpc, why.reason())),
        End::Unplaced(reason) => Some(Action::Answer(client_stream, b.grpc, reason)),
    };
    if let Some(Action::Answer(_, _, reason)) = answer {
        w.events.local_answer(b.listener as usize, reason);
    }
    leave(w, busy, client, client_stream, [release, answer]);
}

/// Stream `stream` of connection `id` leaves its leg, which then carries out `actions`: at once
/// when the connection is in the table, once it is free when it is `busy`.
fn leave<E: Events>(
    w: &mut Worker<E>,
    busy: Option<&mut Busy<'_>>,
    id: ConnId,
    stream: u32,
    actions: [Option<Action>; 2],
) {
    if let Some(busy) = busy.filter(|b| b.id == id) {
        busy.leg.streams.remove(&stream);
        busy.leg.deferred.extend(actions.into_iter().flatten());
        return;
    }
    let now = w.now;
    let Some(c) = w.conns.get_mut(id) else {
        return;
    };
    if let Some((h2, side)) = c.client_parts() {
        side.leg.streams.remove(&stream);
        for a in actions.into_iter().flatten() {
            side.apply(h2, a);
        }
    } else if let Some((h2, side)) = c.upstream_parts() {
        side.leg.streams.remove(&stream);
        for a in actions.into_iter().flatten() {
            side.apply(h2, a, now);
        }
    }
}
