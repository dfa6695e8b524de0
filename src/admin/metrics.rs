//! `/metrics`: Prometheus text exposition format 0.0.4, with OpenMetrics-compatible names (counters
//! end in `_total`, every family has `# HELP` and `# TYPE`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::Status;
use crate::h2::conn::Limit;
use crate::observe::{CLASSES, GRPC_CODES, OUTCOMES, Registry};
use crate::proxy::local::Reason;

pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn render(status: &Status, workers: &Registry) -> String {
    let mut out = String::new();
    traffic(&mut out, workers);
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

/// What the workers counted, summed.
fn traffic(out: &mut String, w: &Registry) {
    family(
        out,
        "h2edge_streams_total",
        "counter",
        "Client streams the gateway routed (every request).",
        &[("", w.sum(|c| c.streams.get()))],
    );
    let ended: Vec<(String, u64)> = OUTCOMES
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("outcome=\"{o}\""), w.sum(|c| c.ended[i].get())))
        .collect();
    labeled(
        out,
        "h2edge_streams_ended_total",
        "counter",
        "Proxied streams ended, by how: complete, the client went, the upstream failed, or answered locally.",
        &ended,
    );
    let responses: Vec<(String, u64)> = w
        .responses()
        .into_iter()
        .map(|((cluster, endpoint, class), n)| {
            let class = CLASSES.get(class).copied().unwrap_or("unknown");
            let labels = format!(
                "cluster=\"{}\",endpoint=\"{}\",class=\"{class}\"",
                escape(&cluster),
                escape(&endpoint)
            );
            (labels, n)
        })
        .collect();
    labeled(
        out,
        "h2edge_upstream_responses_total",
        "counter",
        "Upstream answers by cluster, endpoint and HTTP status class (a gRPC status as Envoy maps it; an upstream failure as 502).",
        &responses,
    );
    // Only the codes seen: seventeen series per endpoint, mostly zero, would bury the others.
    let grpc: Vec<(String, u64)> = w
        .grpc()
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|((cluster, endpoint, code), n)| {
            let code = if code < GRPC_CODES {
                code.to_string()
            } else {
                "other".to_string()
            };
            let labels = format!(
                "cluster=\"{}\",endpoint=\"{}\",grpc_status=\"{code}\"",
                escape(&cluster),
                escape(&endpoint)
            );
            (labels, n)
        })
        .collect();
    labeled(
        out,
        "h2edge_grpc_responses_total",
        "counter",
        "gRPC answers by cluster, endpoint and grpc-status (other: missing or out of range).",
        &grpc,
    );
    let local: Vec<(String, u64)> = Reason::ALL
        .iter()
        .map(|r| {
            (
                format!("reason=\"{}\"", r.label()),
                w.sum(|c| c.local[r.index()].get()),
            )
        })
        .collect();
    labeled(
        out,
        "h2edge_local_answers_total",
        "counter",
        "Streams the gateway answered itself, by reason.",
        &local,
    );
    family(
        out,
        "h2edge_replays_total",
        "counter",
        "Streams an upstream did not process, sent again.",
        &[("", w.sum(|c| c.replays.get()))],
    );
    labeled(
        out,
        "h2edge_upstream_connections_total",
        "counter",
        "Upstream connections, by result: answered (SETTINGS acknowledged) or failed before answering.",
        &[
            (
                "result=\"answered\"".to_string(),
                w.sum(|c| c.upstream_answered.get()),
            ),
            (
                "result=\"failed\"".to_string(),
                w.sum(|c| c.upstream_failed.get()),
            ),
        ],
    );
    family(
        out,
        "h2edge_upstream_goaways_total",
        "counter",
        "GOAWAY frames received from upstreams.",
        &[("", w.sum(|c| c.upstream_goaways.get()))],
    );
    family(
        out,
        "h2edge_outlier_ejections_total",
        "counter",
        "Endpoints ejected by outlier detection (per worker: each worker ejects on what it saw).",
        &[("", w.sum(|c| c.ejections.get()))],
    );
    let mut limits = Vec::new();
    for (p, peer) in ["client", "upstream"].iter().enumerate() {
        for (i, l) in Limit::ALL.iter().enumerate() {
            let n = w.sum(|c| c.limits[p][i].get());
            limits.push((format!("limit=\"{}\",peer=\"{peer}\"", l.label()), n));
        }
    }
    labeled(
        out,
        "h2edge_abuse_limits_tripped_total",
        "counter",
        "Connections ended with GOAWAY ENHANCE_YOUR_CALM for an abuse limit, by limit and peer.",
        &limits,
    );
}

/// [`family`] with owned label sets.
fn labeled(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let samples: Vec<(&str, u64)> = samples.iter().map(|(l, v)| (l.as_str(), *v)).collect();
    family(out, name, kind, help, &samples);
}

/// A label value as the exposition format writes it: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
