//! A running configured gateway: its workers, the files it came from, and reloading them.
//!
//! A reload reads and checks the files again; if they are valid and keep the same listener ports
//! the new configuration is published to every worker (see [`Gateway::reconfigure`]); otherwise the
//! problems are reported and the running configuration stays in force.
//!
//! [`Gateway::reconfigure`]: crate::proxy::gateway::Gateway::reconfigure

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::SystemTime;

use super::plan;
use crate::config;
use crate::runtime::slot::ConfigSlot;
use crate::runtime::{self, BackendKind, RuntimeConfig};

pub struct Options {
    /// The address every listener binds (at its configured port).
    pub bind: IpAddr,
    /// Worker threads; 0 means one per allowed CPU.
    pub workers: usize,
    pub backend: BackendKind,
}

pub struct Running {
    pub listen: Vec<SocketAddr>,
    paths: Vec<PathBuf>,
    bind: IpAddr,
    slot: Arc<ConfigSlot>,
    stamp: Vec<(PathBuf, Option<SystemTime>, u64)>,
    handles: Vec<JoinHandle<std::io::Result<()>>>,
    shutdown: Arc<AtomicBool>,
}

/// Loads `paths`, starts the workers, and returns them with the start-up description (one line per
/// listener and cluster). `Err` is every problem, one per line.
pub fn start(
    paths: &[PathBuf],
    options: &Options,
    shutdown: Arc<AtomicBool>,
) -> Result<(Running, Vec<String>), String> {
    let stamp = stamp(paths);
    let config = config::load(paths).map_err(problems)?;
    let plan = plan(&config, options.bind)?;
    let slot = Arc::new(ConfigSlot::new(plan.gateway.clone()));
    let handles = runtime::spawn_reloadable(
        &RuntimeConfig {
            workers: options.workers,
            listen: plan.listen.clone(),
            gateway: plan.gateway,
            backend: options.backend,
        },
        slot.clone(),
        shutdown.clone(),
    )
    .map_err(|e| format!("starting the workers: {e}"))?;
    let running = Running {
        listen: plan.listen,
        paths: paths.to_vec(),
        bind: options.bind,
        slot,
        stamp,
        handles,
        shutdown,
    };
    Ok((running, plan.describe))
}

fn problems(list: Vec<config::Problem>) -> String {
    let lines: Vec<String> = list.iter().map(ToString::to_string).collect();
    format!(
        "{}\n{} problem{} in the configuration",
        lines.join("\n"),
        list.len(),
        if list.len() == 1 { "" } else { "s" }
    )
}

impl Running {
    /// Whether a configuration file changed (modification time or size) since the last load.
    pub fn changed(&self) -> bool {
        stamp(&self.paths) != self.stamp
    }

    /// Reads the files again and, if they are valid and keep the listeners, hands the new
    /// configuration to the workers. `Err`: why the running configuration stays.
    pub fn reload(&mut self) -> Result<Vec<String>, String> {
        self.stamp = stamp(&self.paths);
        let config = config::load(&self.paths).map_err(problems)?;
        let plan = plan(&config, self.bind)?;
        if plan.listen != self.listen {
            return Err(format!(
                "the listeners changed ({} -> {}); restart h2edge to apply that",
                list(&self.listen),
                list(&plan.listen)
            ));
        }
        self.slot.publish(plan.gateway);
        Ok(plan.describe)
    }

    pub fn is_stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Sets the shutdown flag and waits for every worker.
    pub fn stop(self) -> std::io::Result<()> {
        self.shutdown.store(true, Ordering::Relaxed);
        runtime::join(self.handles)
    }
}

fn list(addrs: &[SocketAddr]) -> String {
    let v: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    v.join(" ")
}

/// Modification time and size of every file the paths name (directories: their `*.yaml` and
/// `*.yml` files), in a stable order.
fn stamp(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut files = Vec::new();
    for p in paths {
        match std::fs::read_dir(p) {
            Ok(entries) => {
                let mut in_dir: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| is_yaml(f))
                    .collect();
                in_dir.sort();
                files.extend(in_dir);
            }
            Err(_) => files.push(p.clone()),
        }
    }
    files
        .into_iter()
        .map(|f| {
            let meta = std::fs::metadata(&f).ok();
            let modified = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.map_or(0, |m| m.len());
            (f, modified, len)
        })
        .collect()
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}
