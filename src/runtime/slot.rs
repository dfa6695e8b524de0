//! How a new configuration reaches running workers: the control thread stores it here and bumps the
//! generation; each worker compares the generation once per loop turn (one relaxed load, no lock)
//! and takes the lock only when it changed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::proxy::gateway::GatewayConfig;

pub struct ConfigSlot {
    generation: AtomicU64,
    config: Mutex<Arc<GatewayConfig>>,
}

impl ConfigSlot {
    pub fn new(config: Arc<GatewayConfig>) -> Self {
        ConfigSlot {
            generation: AtomicU64::new(0),
            config: Mutex::new(config),
        }
    }

    /// Publishes `config` to every worker.
    pub fn publish(&self, config: Arc<GatewayConfig>) {
        let mut slot = self.config.lock().unwrap_or_else(|p| p.into_inner());
        *slot = config;
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current configuration and its generation.
    pub fn current(&self) -> (u64, Arc<GatewayConfig>) {
        let slot = self.config.lock().unwrap_or_else(|p| p.into_inner());
        (self.generation.load(Ordering::Acquire), slot.clone())
    }

    /// The configuration, if it changed since generation `seen` (which is then updated).
    pub fn newer(&self, seen: &mut u64) -> Option<Arc<GatewayConfig>> {
        if self.generation.load(Ordering::Relaxed) == *seen {
            return None;
        }
        let (generation, config) = self.current();
        *seen = generation;
        Some(config)
    }
}
