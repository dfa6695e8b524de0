//! How a new configuration reaches running workers: the control thread stores it here and bumps the
//! generation; each worker compares the generation once per loop turn (one relaxed load, no lock)
//! and takes the lock only when it changed. Besides the configuration the slot carries listener
//! changes (with sockets bound for every worker) and the order to drain.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::proxy::gateway::GatewayConfig;

pub struct ConfigSlot {
    generation: AtomicU64,
    state: Mutex<State>,
}

struct State {
    update: Update,
    /// Sockets bound for listeners added by a reload, one per worker and address; each worker
    /// takes one per address it lacks.
    sockets: Vec<(SocketAddr, TcpListener)>,
}

/// What a worker takes up when the generation changed.
#[derive(Clone)]
pub struct Update {
    pub config: Arc<GatewayConfig>,
    /// The listening addresses, in the order of `config.listeners`; `None`: as at start.
    pub listen: Option<Vec<SocketAddr>>,
    /// How long clients of a removed listener may take to finish their streams.
    pub drain_timeout: Duration,
    /// Shutdown: stop accepting and drain every connection until this deadline.
    pub drain: Option<Instant>,
}

impl ConfigSlot {
    pub fn new(config: Arc<GatewayConfig>) -> Self {
        ConfigSlot {
            generation: AtomicU64::new(0),
            state: Mutex::new(State {
                update: Update {
                    config,
                    listen: None,
                    drain_timeout: Duration::ZERO,
                    drain: None,
                },
                sockets: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Publishes `config` (same listeners) to every worker.
    pub fn publish(&self, config: Arc<GatewayConfig>) {
        self.lock().update.config = config;
        self.bump();
    }

    /// Publishes `config` with new listening addresses `listen` (its listener order): each worker
    /// takes a socket from `sockets` for every address it does not listen on yet, stops accepting
    /// on the addresses that left, and drains their clients for at most `drain_timeout`.
    pub fn publish_listeners(
        &self,
        config: Arc<GatewayConfig>,
        listen: Vec<SocketAddr>,
        sockets: Vec<(SocketAddr, TcpListener)>,
        drain_timeout: Duration,
    ) {
        let mut state = self.lock();
        state.update.config = config;
        state.update.listen = Some(listen);
        state.update.drain_timeout = drain_timeout;
        // Sockets of an earlier change that no worker took are closed now.
        state.sockets = sockets;
        drop(state);
        self.bump();
    }

    /// Tells every worker to stop accepting and drain its connections until `deadline`.
    pub fn drain(&self, deadline: Instant) {
        self.lock().update.drain = Some(deadline);
        self.bump();
    }

    /// The current configuration and its generation.
    pub fn current(&self) -> (u64, Arc<GatewayConfig>) {
        let state = self.lock();
        (
            self.generation.load(Ordering::Acquire),
            state.update.config.clone(),
        )
    }

    /// What changed, if the generation moved since `seen` (which is then updated).
    pub fn newer(&self, seen: &mut u64) -> Option<Update> {
        if self.generation.load(Ordering::Relaxed) == *seen {
            return None;
        }
        let state = self.lock();
        *seen = self.generation.load(Ordering::Acquire);
        Some(state.update.clone())
    }

    /// A socket bound for `addr` by [`ConfigSlot::publish_listeners`], for the calling worker.
    pub fn take_socket(&self, addr: SocketAddr) -> Option<TcpListener> {
        let mut state = self.lock();
        let i = state.sockets.iter().position(|(a, _)| *a == addr)?;
        Some(state.sockets.swap_remove(i).1)
    }
}
