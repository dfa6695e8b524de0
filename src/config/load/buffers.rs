//! The buffer annotations a Gateway may carry: how much body a worker holds for streams whose other
//! leg cannot take it yet, and how long such bytes may wait without moving.

use std::time::Duration;

use super::Head;
use crate::config::model::BufferSettings;
use crate::config::read::Cx;
use crate::config::syntax;

pub(crate) const WORKER_BUFFER_BUDGET: &str = "h2edge.io/worker-buffer-budget";
pub(crate) const STREAM_STALL_TIMEOUT: &str = "h2edge.io/stream-stall-timeout";

/// At least one default stream window (256 KiB on the upstream leg), at most 16 GiB.
const BUDGET_MIN: u64 = 256 << 10;
const BUDGET_MAX: u64 = 16 << 30;
/// At least 100 ms (the stall check's granularity), at most a day.
const STALL_MIN: Duration = Duration::from_millis(100);
const STALL_MAX: Duration = Duration::from_secs(86_400);

/// Reads both annotations of `head`; a bad one is reported and left at its default.
pub(crate) fn settings(cx: &mut Cx, head: &Head) -> BufferSettings {
    let budget = head.annotations.get(WORKER_BUFFER_BUDGET).and_then(|value| {
        let field = format!("metadata.annotations.{WORKER_BUFFER_BUDGET}");
        match syntax::byte_quantity(value) {
            Ok(n) if (BUDGET_MIN..=BUDGET_MAX).contains(&n) => usize::try_from(n).ok(),
            Ok(n) => {
                let why = format!(
                    "{value:?} is {n} bytes, out of range {BUDGET_MIN}..={BUDGET_MAX} (at least one 256 KiB stream window, at most 16 GiB)"
                );
                cx.error(head.line, &field, why);
                None
            }
            Err(e) => {
                cx.error(head.line, &field, e);
                None
            }
        }
    });
    let stall_timeout = head
        .annotations
        .get(STREAM_STALL_TIMEOUT)
        .and_then(|value| {
            let field = format!("metadata.annotations.{STREAM_STALL_TIMEOUT}");
            match syntax::gateway_duration(value) {
                Ok(d) if (STALL_MIN..=STALL_MAX).contains(&d) => Some(d),
                Ok(_) => {
                    cx.error(
                        head.line,
                        &field,
                        format!("{value:?} is out of range 100ms..=24h"),
                    );
                    None
                }
                Err(e) => {
                    cx.error(head.line, &field, e);
                    None
                }
            }
        });
    BufferSettings {
        budget,
        stall_timeout,
    }
}
