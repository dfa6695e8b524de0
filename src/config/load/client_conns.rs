//! The Gateway annotations that bound client connections: how long one may take to start (TLS
//! handshake, HTTP/2 preface) and to finish a header block, how long it may stay without a stream,
//! and how many a worker keeps.

use std::time::Duration;

use super::Head;
use crate::config::model::ClientConnections;
use crate::config::read::Cx;
use crate::config::syntax;

pub(crate) const TLS_HANDSHAKE_TIMEOUT: &str = "h2edge.io/tls-handshake-timeout";
pub(crate) const PREFACE_TIMEOUT: &str = "h2edge.io/preface-timeout";
pub(crate) const REQUEST_HEADERS_TIMEOUT: &str = "h2edge.io/request-headers-timeout";
pub(crate) const IDLE_TIMEOUT: &str = "h2edge.io/idle-timeout";
pub(crate) const MAX_CONNECTIONS: &str = "h2edge.io/max-connections-per-worker";

/// A start-up or header timeout: long enough for a slow handshake, short enough that a stalled
/// peer cannot hold a connection for long.
const START: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(300));
/// The idle timeout (`0s` turns it off).
const IDLE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(86_400));
const MAX_CONNECTIONS_RANGE: (u64, u64) = (1, 1_000_000);

/// Reads the five annotations of `head`; each bad one is reported and left at its default.
pub(crate) fn settings(cx: &mut Cx, head: &Head) -> ClientConnections {
    ClientConnections {
        tls_handshake_timeout: duration(cx, head, TLS_HANDSHAKE_TIMEOUT, START, false),
        preface_timeout: duration(cx, head, PREFACE_TIMEOUT, START, false),
        request_headers_timeout: duration(cx, head, REQUEST_HEADERS_TIMEOUT, START, false),
        idle_timeout: duration(cx, head, IDLE_TIMEOUT, IDLE, true),
        max_connections_per_worker: count(cx, head, MAX_CONNECTIONS, MAX_CONNECTIONS_RANGE),
    }
}

/// The annotation `name` as a Gateway API duration within `(min, max)` (or `0s` when `zero_off`,
/// meaning no limit); `None` when absent or bad (reported).
fn duration(
    cx: &mut Cx,
    head: &Head,
    name: &str,
    (min, max): (Duration, Duration),
    zero_off: bool,
) -> Option<Duration> {
    let value = head.annotations.get(name)?;
    let field = format!("metadata.annotations.{name}");
    match syntax::gateway_duration(value) {
        Ok(d) if (d.is_zero() && zero_off) || (min..=max).contains(&d) => Some(d),
        Ok(_) => {
            let off = if zero_off { " (or 0s: no limit)" } else { "" };
            cx.error(
                head.line,
                &field,
                format!("{value:?} is out of range {min:?}..={max:?}{off}"),
            );
            None
        }
        Err(e) => {
            cx.error(head.line, &field, e);
            None
        }
    }
}

/// The annotation `name` as a whole number within `(min, max)`; `None` when absent or bad.
fn count(cx: &mut Cx, head: &Head, name: &str, (min, max): (u64, u64)) -> Option<usize> {
    let value = head.annotations.get(name)?;
    let field = format!("metadata.annotations.{name}");
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => usize::try_from(n).ok(),
        _ => {
            cx.error(
                head.line,
                &field,
                format!("{value:?} is not a whole number in {min}..={max}"),
            );
            None
        }
    }
}
