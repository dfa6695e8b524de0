//! The runtime: one pinned worker thread per core, each with its own listener (SO_REUSEPORT), its
//! own connections and its own event loop. Workers share nothing on the request path; the only
//! shared word is the shutdown flag, read once per loop turn.
//!
//! - [`io`]: the small interface between workers and I/O backends.
//! - [`uring`]: the io_uring backend (multishot accept and receive, provided buffers).
//! - [`epoll`]: the epoll backend (the fallback where io_uring is blocked).
//! - [`worker`]: one worker's event loop.
//! - [`affinity`], [`listener`]: CPU pinning and SO_REUSEPORT listeners.
//! - [`slot`]: how a reloaded configuration reaches the running workers.
//! - [`socket`]: socket options the configuration sets (TCP keepalive).
//! - [`trim`]: allocator memory given back after bursts.

pub mod affinity;
pub mod epoll;
pub mod io;
pub mod listener;
pub mod slot;
pub mod socket;
pub mod trim;
pub mod uring;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;

use crate::observe::Registry;
use crate::proxy::gateway::GatewayConfig;

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

/// What a process needs before it starts workers: the I/O backend (said on stderr as `who: I/O
/// backend: NAME`, with the reason when it is the fallback), the allocator trimmer ([`trim`]) and
/// the shutdown flag, which SIGINT and SIGTERM set.
pub fn prepare(who: &str) -> std::io::Result<(BackendKind, Arc<AtomicBool>)> {
    let backend = announce_backend(who)?;
    trim::start();
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, shutdown.clone())?;
    }
    Ok((backend, shutdown))
}

/// The I/O backend to use, said on stderr as `who: I/O backend: NAME` (with the reason when it is
/// the fallback).
pub fn announce_backend(who: &str) -> std::io::Result<BackendKind> {
    let (backend, why) = BackendKind::choose()?;
    match why {
        Some(why) => eprintln!("{who}: I/O backend: {} ({why})", backend.name()),
        None => eprintln!("{who}: I/O backend: {}", backend.name()),
    }
    Ok(backend)
}

/// What a gateway process runs.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Worker threads; 0 means one per allowed CPU.
    pub workers: usize,
    /// Listening addresses, in the order of `gateway.listeners`.
    pub listen: Vec<SocketAddr>,
    pub gateway: Arc<GatewayConfig>,
    pub backend: BackendKind,
    /// Where the workers count what they do (for `/metrics`); `None`: nowhere.
    pub metrics: Option<Arc<Registry>>,
}

/// Starts the workers and waits for them; they stop when `shutdown` is set.
pub fn run(config: &RuntimeConfig, shutdown: Arc<AtomicBool>) -> std::io::Result<()> {
    let handles = spawn(config, shutdown)?;
    join(handles)
}

/// How many workers `requested` means: itself, or for 0 one per CPU this process may run on.
pub fn worker_count(requested: usize) -> usize {
    match requested {
        0 => affinity::allowed_cpus().map_or(1, |c| c.len().max(1)),
        n => n,
    }
}

/// Starts the workers (binding every listener first, so a busy port fails here).
pub fn spawn(
    config: &RuntimeConfig,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<Vec<thread::JoinHandle<std::io::Result<()>>>> {
    spawn_reloadable(
        config,
        Arc::new(slot::ConfigSlot::new(config.gateway.clone())),
        shutdown,
    )
}

/// [`spawn`], with workers that take up whatever `slot` publishes later (configurations, listener
/// changes, a drain); `config.gateway` is ignored for the slot's.
pub fn spawn_reloadable(
    config: &RuntimeConfig,
    slot: Arc<slot::ConfigSlot>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<Vec<thread::JoinHandle<std::io::Result<()>>>> {
    let cpus = affinity::allowed_cpus().unwrap_or_default();
    let workers = worker_count(config.workers);
    let mut handles = Vec::with_capacity(workers);
    for i in 0..workers {
        let listeners = config
            .listen
            .iter()
            .map(|addr| listener::bind_reuseport(*addr))
            .collect::<std::io::Result<Vec<_>>>()?;
        let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
        let gateway = slot.clone();
        let kind = config.backend;
        let shutdown = shutdown.clone();
        let seed = crate::balance::worker_seed(i as u64);
        let recorder = config.metrics.as_ref().map(|m| m.worker());
        let handle = thread::Builder::new()
            .name(format!("h2edge-worker-{i}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    if let Err(e) = affinity::pin_current_thread(cpu) {
                        eprintln!("h2edge: worker {i}: cannot pin to CPU {cpu}: {e}");
                    }
                }
                // Each ring belongs to the thread that uses it.
                match (kind, recorder) {
                    (BackendKind::IoUring, Some(r)) => {
                        worker::run(uring::Uring::new()?, listeners, gateway, seed, shutdown, r)
                    }
                    (BackendKind::IoUring, None) => {
                        worker::run(uring::Uring::new()?, listeners, gateway, seed, shutdown, ())
                    }
                    (BackendKind::Epoll, Some(r)) => {
                        worker::run(epoll::Epoll::new()?, listeners, gateway, seed, shutdown, r)
                    }
                    (BackendKind::Epoll, None) => {
                        worker::run(epoll::Epoll::new()?, listeners, gateway, seed, shutdown, ())
                    }
                }
            })?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Starts one unpinned worker on listeners bound by the caller (used for the demo's backends, whose
/// ports are picked by the kernel).
pub fn spawn_one(
    listeners: Vec<std::net::TcpListener>,
    gateway: Arc<GatewayConfig>,
    kind: BackendKind,
    shutdown: Arc<AtomicBool>,
    name: &str,
) -> std::io::Result<thread::JoinHandle<std::io::Result<()>>> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let slot = Arc::new(slot::ConfigSlot::new(gateway));
            match kind {
                BackendKind::IoUring => {
                    worker::run(uring::Uring::new()?, listeners, slot, 0, shutdown, ())
                }
                BackendKind::Epoll => {
                    worker::run(epoll::Epoll::new()?, listeners, slot, 0, shutdown, ())
                }
            }
        })
}

/// Waits for workers started by [`spawn`].
pub fn join(handles: Vec<thread::JoinHandle<std::io::Result<()>>>) -> std::io::Result<()> {
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
