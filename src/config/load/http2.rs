//! The HTTP/2 annotations a Gateway (for its client connections) and a DestinationRule (for the
//! connections to its hosts) may carry: flow-control windows and the output limit.

use super::Head;
use crate::config::model::Http2Settings;
use crate::config::read::Cx;
use crate::config::syntax;

pub(crate) const STREAM_WINDOW: &str = "h2edge.io/http2-stream-window";
pub(crate) const CONNECTION_WINDOW: &str = "h2edge.io/http2-connection-window";
pub(crate) const MAX_BUFFERED_OUTPUT: &str = "h2edge.io/max-buffered-output";

/// What an annotation may set, in bytes, and why.
struct Bounds {
    min: u64,
    max: u64,
    why: &'static str,
}

/// RFC 9113 §6.9: every window starts at 65,535 (h2edge advertises no less: the connection window
/// cannot be announced lower, and a smaller stream window only slows streams) and is at most
/// 2^31-1.
const WINDOW: Bounds = Bounds {
    min: 65_535,
    max: (1 << 31) - 1,
    why: "HTTP/2 windows start at 65,535 and are at most 2^31-1, RFC 9113 §6.9",
};
/// At least one DATA frame of the default maximum size (16 KiB) with its 9-byte header.
const OUTPUT: Bounds = Bounds {
    min: (16 << 10) + 9,
    max: 64 << 20,
    why: "at least one 16 KiB DATA frame with its 9-byte header, at most 64 MiB",
};

/// Reads the three annotations of `head`; each bad one is reported and left at its default.
pub(crate) fn settings(cx: &mut Cx, head: &Head) -> Http2Settings {
    let mut read = |name, bounds| quantity(cx, head, name, bounds);
    Http2Settings {
        stream_window: read(STREAM_WINDOW, &WINDOW).and_then(|n| u32::try_from(n).ok()),
        connection_window: read(CONNECTION_WINDOW, &WINDOW).and_then(|n| u32::try_from(n).ok()),
        max_buffered_output: read(MAX_BUFFERED_OUTPUT, &OUTPUT)
            .and_then(|n| usize::try_from(n).ok()),
    }
}

/// The annotation `name` as a byte quantity within `bounds`; `None` when absent or bad (reported).
fn quantity(cx: &mut Cx, head: &Head, name: &str, bounds: &Bounds) -> Option<u64> {
    let value = head.annotations.get(name)?;
    let field = format!("metadata.annotations.{name}");
    match syntax::byte_quantity(value) {
        Ok(n) if (bounds.min..=bounds.max).contains(&n) => Some(n),
        Ok(n) => {
            let Bounds { min, max, why } = bounds;
            cx.error(
                head.line,
                &field,
                format!("{value:?} is {n} bytes, out of range {min}..={max} ({why})"),
            );
            None
        }
        Err(e) => {
            cx.error(head.line, &field, e);
            None
        }
    }
}
