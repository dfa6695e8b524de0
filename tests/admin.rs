//! The admin listener of `h2edge run --admin ADDR`: `/healthz`, `/ready` and `/metrics` over
//! HTTP/1.1 (what curl, Prometheus and kubelet probes speak), with the reload counters following
//! what the control thread did.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "common/run_gateway.rs"]
mod run_gateway;
use run_gateway::{Gateway, free_port};

#[path = "common/h2c_gateway.rs"]
mod h2c_gateway;
use h2c_gateway::h2c_config;

#[path = "common/raw_h2.rs"]
mod raw_h2;
use raw_h2::{Recorder, drive, open_get, timed};

use h2edge::h2::conn::{Config, Connection, Role};

/// `GET path` over HTTP/1.1: the status code and the body.
fn get(admin: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(admin).expect("connect to the admin listener");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, body.to_string())
}

/// A cleartext HTTP/2 client connection to the gateway's listener on `port`, with the authority
/// its requests name.
fn client(port: u16) -> (TcpStream, Connection, String) {
    let sock = timed(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    let conn = Connection::new(Role::Client, &Config::default(), std::time::Instant::now());
    (sock, conn, format!("127.0.0.1:{port}"))
}

/// The value of the sample `series` (name with its labels, as printed) in a `/metrics` body.
fn sample(metrics: &str, series: &str) -> Option<u64> {
    metrics.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok())?
    })
}

/// Every sample line belongs to a family announced by `# HELP` and `# TYPE` before it, counters end
/// in `_total`, and every value is a number: the exposition format Prometheus reads.
fn check_format(metrics: &str) {
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut helped: Vec<String> = Vec::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.push(rest.split(' ').next().unwrap_or("").to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                helped.iter().any(|h| h == name),
                "{name}: TYPE without HELP"
            );
            if kind == "counter" {
                assert!(
                    name.ends_with("_total"),
                    "counter {name} must end in _total"
                );
            }
            typed.push((name.to_string(), kind.to_string()));
        } else {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            let name = series.split('{').next().unwrap_or("");
            assert!(
                typed.iter().any(|(t, _)| t == name),
                "{name}: sample without # TYPE"
            );
            assert!(value.parse::<f64>().is_ok(), "{line}: value");
        }
    }
}

/// `promtool check metrics` (Debian's `prometheus` package) reads `metrics` without a complaint.
/// Skipped where promtool is missing, unless `CI` is set (CI installs it).
fn promtool_accepts(metrics: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("promtool not run ({e}): install the prometheus package");
            return;
        }
        Err(e) => panic!("promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn health_readiness_and_metrics_follow_the_gateway() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin");
    let port = free_port();
    let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let upstream: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let config = h2c_config(port, upstream);
    let gateway = Gateway::start_with(&dir, &config, &["--admin", &admin.to_string()]);
    assert!(
        gateway
            .started
            .iter()
            .any(|l| l.contains(&format!("admin on http://{admin}/"))),
        "{:?}",
        gateway.started
    );
    assert_eq!(get(admin, "/healthz"), (200, "ok\n".to_string()));
    assert_eq!(get(admin, "/ready"), (200, "ready\n".to_string()));
    assert_eq!(get(admin, "/nothing").0, 404);

    let (code, metrics) = get(admin, "/metrics");
    assert_eq!(code, 200);
    check_format(&metrics);
    promtool_accepts(&metrics);
    let version = format!(
        "h2edge_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&metrics, &version), Some(1));
    assert_eq!(sample(&metrics, "h2edge_ready"), Some(1));
    assert_eq!(
        sample(&metrics, "h2edge_config_reloads_total{result=\"ok\"}"),
        Some(0)
    );
    assert_eq!(
        sample(&metrics, "h2edge_config_reloads_total{result=\"failed\"}"),
        Some(0)
    );

    // A broken file is refused, a good one taken: each counted.
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, "kind: Gateway\nspec: [").expect("write");
    gateway.wait_for("reload refused");
    std::fs::write(&path, config.replace("name: all", "name: all-again")).expect("write");
    gateway.wait_for("configuration reloaded");
    let (_, metrics) = get(admin, "/metrics");
    assert_eq!(
        sample(&metrics, "h2edge_config_reloads_total{result=\"ok\"}"),
        Some(1)
    );
    assert_eq!(
        sample(&metrics, "h2edge_config_reloads_total{result=\"failed\"}"),
        Some(1)
    );
    gateway.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Requests the gateway answers itself are counted per reason, and every request as a stream:
/// the counts in `/metrics` are exactly what was sent.
#[test]
fn metrics_count_what_the_workers_did() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-counts");
    let port = free_port();
    let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let upstream: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    // Only /known has a route: anything else is answered 404 (no route) by the gateway.
    let config = h2c_config(port, upstream).replace(
        "rules: [{backendRefs: [{name: up, port: 80}]}]",
        "rules: [{matches: [{path: {type: PathPrefix, value: /known}}], backendRefs: [{name: up, port: 80}]}]",
    );
    assert!(config.contains("/known"));
    let gateway = Gateway::start_with(&dir, &config, &["--admin", &admin.to_string()]);
    const SENT: usize = 7;
    let (mut sock, mut conn, authority) = client(port);
    for _ in 0..SENT {
        open_get(&mut conn, &authority, "/unknown");
    }
    let mut h = Recorder::default();
    drive(&mut sock, &mut conn, &mut h, |h| h.ended.len() == SENT);
    assert!(
        h.heads
            .iter()
            .all(|(_, fields)| fields.iter().any(|f| f.0 == ":status" && f.1 == "404"))
    );
    let (_, metrics) = get(admin, "/metrics");
    check_format(&metrics);
    promtool_accepts(&metrics);
    assert_eq!(sample(&metrics, "h2edge_streams_total"), Some(SENT as u64));
    assert_eq!(
        sample(&metrics, "h2edge_local_answers_total{reason=\"no_route\"}"),
        Some(SENT as u64)
    );
    assert_eq!(
        sample(
            &metrics,
            "h2edge_local_answers_total{reason=\"unavailable\"}"
        ),
        Some(0)
    );
    assert_eq!(
        sample(&metrics, "h2edge_streams_ended_total{outcome=\"complete\"}"),
        Some(0),
        "no stream was proxied"
    );
    gateway.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM turns `/ready` to 503 at once, while streams in flight may still finish (a load
/// balancer stops sending new connections), and `/healthz` stays 200 until the process ends.
#[test]
fn ready_turns_503_while_draining() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-drain");
    let port = free_port();
    let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    // An upstream that accepts and never answers: the stream sent to it stays in flight.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let upstream = silent.local_addr().expect("addr");
    let config = h2c_config(port, upstream);
    let mut gateway = Gateway::start_with(
        &dir,
        &config,
        &["--admin", &admin.to_string(), "--drain-timeout", "3s"],
    );
    let (mut sock, mut conn, authority) = client(port);
    open_get(&mut conn, &authority, "/");
    let out = conn.pending_output();
    sock.write_all(out).expect("send the request");
    let n = out.len();
    conn.advance_output(n);
    // The gateway has connected upstream: the stream is in flight.
    let (_upstream_side, _) = silent.accept().expect("the gateway connects upstream");
    assert_eq!(get(admin, "/ready").0, 200);
    gateway.signal(libc::SIGTERM);
    gateway.wait_for("draining");
    assert_eq!(get(admin, "/ready"), (503, "not ready\n".to_string()));
    assert_eq!(get(admin, "/healthz").0, 200);
    let (_, metrics) = get(admin, "/metrics");
    assert_eq!(sample(&metrics, "h2edge_ready"), Some(0));
    assert!(gateway.wait_exit(Duration::from_secs(10)).success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Upstream answers are counted per cluster and endpoint: 9 GETs and 6 gRPC calls through the demo
/// (three echo backends, round robin) read back as 5 `2xx` answers and 2 `grpc-status` 0 answers
/// from each backend.
#[test]
fn answers_are_counted_per_endpoint() {
    use std::io::BufRead as _;
    let (tls, h2c, admin) = (free_port(), free_port(), free_port());
    let admin: SocketAddr = ([127, 0, 0, 1], admin).into();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_h2edge"))
        .args(["demo", "--workers", "1", "--admin", &admin.to_string()])
        .args(["--listen", &format!("127.0.0.1:{tls}")])
        .args(["--h2c-listen", &format!("127.0.0.1:{h2c}")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start h2edge demo");
    let stdout = std::io::BufReader::new(demo.stdout.take().expect("stdout"));
    let mut backends = Vec::new();
    for line in stdout.lines().map_while(Result::ok) {
        if let Some(list) = line
            .trim()
            .strip_prefix("3 echo backends behind mutual TLS: ")
        {
            backends = list
                .split_whitespace()
                .filter_map(|b| b.split_once('=').map(|(_, addr)| addr.to_string()))
                .collect();
        }
        if line.contains("Ctrl-C stops it") {
            break;
        }
    }
    assert_eq!(backends.len(), 3, "the demo names its backends");
    // Nine GETs, then six gRPC calls (the echo answers grpc-status 0 when the request ends).
    const GETS: usize = 9;
    const GRPC: usize = 6;
    const CALLS: usize = GETS + GRPC;
    let (mut sock, mut conn, authority) = client(h2c);
    let mut h = Recorder::default();
    for _ in 0..GETS {
        open_get(&mut conn, &authority, "/");
    }
    drive(&mut sock, &mut conn, &mut h, |h| h.ended.len() == GETS);
    for _ in 0..GRPC {
        let request: [(&[u8], &[u8]); 6] = [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":authority", authority.as_bytes()),
            (b":path", b"/pkg.Svc/Method"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ];
        let id = conn.open_stream(request, false).expect("open stream");
        // One empty gRPC message: flag 0, length 0.
        conn.send_data(id, &[0; 5], true).expect("send the message");
    }
    drive(&mut sock, &mut conn, &mut h, |h| h.ended.len() == CALLS);
    let (_, metrics) = get(admin, "/metrics");
    let _ = demo.kill();
    let _ = demo.wait();
    check_format(&metrics);
    promtool_accepts(&metrics);
    // Round robin: every backend takes 3 of the GETs and 2 of the gRPC calls (a gRPC answer is
    // counted 2xx by its grpc-status 0).
    for b in &backends {
        let series = format!(
            "h2edge_upstream_responses_total{{cluster=\"all\",endpoint=\"{b}\",class=\"2xx\"}}"
        );
        assert_eq!(sample(&metrics, &series), Some(5), "{series}\n{metrics}");
        let series = format!(
            "h2edge_grpc_responses_total{{cluster=\"all\",endpoint=\"{b}\",grpc_status=\"0\"}}"
        );
        assert_eq!(sample(&metrics, &series), Some(2), "{series}\n{metrics}");
    }
    assert_eq!(sample(&metrics, "h2edge_streams_total"), Some(CALLS as u64));
    assert_eq!(
        sample(&metrics, "h2edge_streams_ended_total{outcome=\"complete\"}"),
        Some(CALLS as u64)
    );
}
