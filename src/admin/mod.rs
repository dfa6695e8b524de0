//! The admin listener: HTTP/1.1 on a thread of its own (served by `tiny_http`), off the workers'
//! hot path, for operators, Prometheus and kubelet probes.
//!
//! - `GET /healthz`: 200 while the process serves.
//! - `GET /ready`: 200 once the configuration is loaded and the listeners are bound; 503 before,
//!   and while draining (a load balancer then stops sending new connections).
//! - `GET /metrics`: Prometheus text format (see [`metrics`]).
//!
//! What it reports comes from [`Status`], which the control thread keeps (readiness, reloads); it
//! reads nothing the workers write per request.

mod metrics;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use tiny_http::{Header, Method, Request, Response, Server};

use crate::observe::Registry;

/// The address `--admin` listens on unless told otherwise: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9901";

/// What the admin endpoints report, kept by the control thread.
#[derive(Debug)]
pub struct Status {
    ready: AtomicBool,
    draining: AtomicBool,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// Unix time of the last configuration that took effect (the first load counts).
    loaded_at: AtomicU64,
    started_at: u64,
}

impl Status {
    pub fn new() -> Arc<Status> {
        let now = unix_now();
        Arc::new(Status {
            ready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            loaded_at: AtomicU64::new(now),
            started_at: now,
        })
    }

    /// The configuration is loaded and the listeners are bound.
    pub fn set_ready(&self) {
        self.loaded_at.store(unix_now(), Ordering::Relaxed);
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Shutdown began: `/ready` answers 503 from now on.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// A reload was tried: it took effect (`ok`), or it was refused and the running one stays.
    pub fn reloaded(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Ordering::Relaxed);
            self.loaded_at.store(unix_now(), Ordering::Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && !self.draining.load(Ordering::Relaxed)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The running admin listener; it stops when dropped.
pub struct Admin {
    server: Arc<Server>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Admin {
    /// Listens on `addr` and serves the admin endpoints from `status` on a thread of its own.
    pub fn start(
        addr: SocketAddr,
        status: Arc<Status>,
        metrics: Arc<Registry>,
    ) -> io::Result<Admin> {
        let server = Server::http(addr).map_err(|e| io::Error::other(format!("{addr}: {e}")))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the admin listener has no IP address"))?;
        let server = Arc::new(server);
        let serving = server.clone();
        let thread = std::thread::Builder::new()
            .name("h2edge-admin".into())
            .spawn(move || {
                for request in serving.incoming_requests() {
                    answer(request, &status, &metrics);
                }
            })?;
        Ok(Admin {
            server,
            addr,
            thread: Some(thread),
        })
    }

    /// Where it listens (with the port chosen, when `:0` was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(request: Request, status: &Status, workers: &Registry) {
    let path = request.url().split('?').next().unwrap_or("");
    let (code, content_type, body) = match (request.method(), path) {
        (Method::Get | Method::Head, "/healthz") => (200, TEXT, "ok\n".to_string()),
        (Method::Get | Method::Head, "/ready") if status.is_ready() => {
            (200, TEXT, "ready\n".to_string())
        }
        (Method::Get | Method::Head, "/ready") => (503, TEXT, "not ready\n".to_string()),
        (Method::Get | Method::Head, "/metrics") => {
            (200, metrics::CONTENT_TYPE, metrics::render(status, workers))
        }
        (_, "/healthz" | "/ready" | "/metrics") => (405, TEXT, "GET only\n".to_string()),
        _ => (
            404,
            TEXT,
            "not found: /healthz /ready /metrics\n".to_string(),
        ),
    };
    let mut response = Response::from_string(body).with_status_code(code);
    if let Ok(h) = Header::from_bytes(&b"content-type"[..], content_type.as_bytes()) {
        response.add_header(h);
    }
    // A client that went away is no concern of the gateway's.
    let _ = request.respond(response);
}

const TEXT: &str = "text/plain; charset=utf-8";
