//! `/metrics`: Prometheus text exposition format 0.0.4, with OpenMetrics-compatible names (counters
//! end in `_total`, every family has `# HELP` and `# TYPE`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::Status;

pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn render(status: &Status) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "h2edge_build_info",
        "gauge",
        "The running h2edge: its version.",
        &[(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")), 1)],
    );
    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "When the process started, in seconds since the Unix epoch.",
        &[("", status.started_at)],
    );
    family(
        &mut out,
        "h2edge_ready",
        "gauge",
        "1 once the configuration is loaded and the listeners are bound, 0 before and while draining.",
        &[("", u64::from(status.is_ready()))],
    );
    family(
        &mut out,
        "h2edge_config_reloads_total",
        "counter",
        "Configuration reloads tried, by result (a failed one leaves the running configuration in force).",
        &[
            ("result=\"ok\"", status.reloads_ok.load(Ordering::Relaxed)),
            (
                "result=\"failed\"",
                status.reloads_failed.load(Ordering::Relaxed),
            ),
        ],
    );
    family(
        &mut out,
        "h2edge_config_loaded_timestamp_seconds",
        "gauge",
        "When the configuration in force took effect, in seconds since the Unix epoch.",
        &[("", status.loaded_at.load(Ordering::Relaxed))],
    );
    out
}

/// One metric family: its help and type lines, then one sample per label set.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}
