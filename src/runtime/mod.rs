//! The runtime: one pinned worker thread per core, each with its own listener (SO_REUSEPORT), its
//! own connections and its own event loop. Workers share nothing on the request path; the only
//! shared word is the shutdown flag, read once per loop turn.
//!
//! - [`io`]: the small interface between workers and I/O backends.
//! - [`uring`]: the io_uring backend (multishot accept and receive, provided buffers).
//! - [`epoll`]: the epoll backend (the fallback where io_uring is blocked).
//! - [`worker`]: one worker's event loop.
//! - [`affinity`], [`listener`]: CPU pinning and SO_REUSEPORT listeners.

pub mod affinity;
pub mod epoll;
pub mod io;
pub mod listener;
pub mod uring;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;

use crate::h2::conn;

/// Which I/O backend the workers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    IoUring,
    Epoll,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::IoUring => "io_uring",
            BackendKind::Epoll => "epoll",
        }
    }

    /// io_uring when this kernel and sandbox allow it, else epoll, with the reason. `H2EDGE_IO=epoll`
    /// forces the fallback (CI uses it to test that path); `H2EDGE_IO=io_uring` makes its absence an
    /// error instead.
    pub fn choose() -> std::io::Result<(BackendKind, Option<String>)> {
        let wanted = std::env::var("H2EDGE_IO").unwrap_or_default();
        match wanted.as_str() {
            "epoll" => Ok((BackendKind::Epoll, Some("H2EDGE_IO=epoll".into()))),
            "io_uring" => uring::Uring::new().map(|_| (BackendKind::IoUring, None)),
            "" => match uring::Uring::new() {
                Ok(_) => Ok((BackendKind::IoUring, None)),
                Err(e) => Ok((
                    BackendKind::Epoll,
                    Some(format!("io_uring unavailable: {e}")),
                )),
            },
            other => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("H2EDGE_IO={other}: expected io_uring or epoll"),
            )),
        }
    }
}

/// What a gateway process runs.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Worker threads; 0 means one per allowed CPU.
    pub workers: usize,
    /// Cleartext HTTP/2 (prior knowledge) listener.
    pub h2c_listen: Option<SocketAddr>,
    /// TLS listener (ALPN `h2`) and its server config.
    pub tls_listen: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    pub h2: conn::Config,
    pub backend: BackendKind,
}

/// Starts the workers and waits for them; they stop when `shutdown` is set.
pub fn run(config: &RuntimeConfig, shutdown: Arc<AtomicBool>) -> std::io::Result<()> {
    let cpus = affinity::allowed_cpus().unwrap_or_default();
    let workers = match config.workers {
        0 => cpus.len().max(1),
        n => n,
    };
    let mut handles = Vec::with_capacity(workers);
    for i in 0..workers {
        // Bind in the main thread so a busy port fails the start, not a worker.
        let mut listeners = Vec::new();
        if let Some((addr, tls)) = &config.tls_listen {
            let kind = worker::ListenerKind::Tls(tls.clone());
            listeners.push((listener::bind_reuseport(*addr)?, kind));
        }
        if let Some(addr) = config.h2c_listen {
            listeners.push((listener::bind_reuseport(addr)?, worker::ListenerKind::H2c));
        }
        let kind = config.backend;
        let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
        let h2 = config.h2.clone();
        let shutdown = shutdown.clone();
        let handle = thread::Builder::new()
            .name(format!("h2edge-worker-{i}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    if let Err(e) = affinity::pin_current_thread(cpu) {
                        eprintln!("h2edge: worker {i}: cannot pin to CPU {cpu}: {e}");
                    }
                }
                // Each ring belongs to the thread that uses it.
                match kind {
                    BackendKind::IoUring => {
                        worker::run(uring::Uring::new()?, listeners, h2, shutdown)
                    }
                    BackendKind::Epoll => {
                        worker::run(epoll::Epoll::new()?, listeners, h2, shutdown)
                    }
                }
            })?;
        handles.push(handle);
    }
    let mut result = Ok(());
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(std::io::Error::other("a worker panicked")),
        }
    }
    result
}
