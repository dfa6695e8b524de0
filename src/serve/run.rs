//! A running configured gateway: its workers, the files it came from, and reloading them.
//!
//! A reload reads and checks the files again; if they are valid and keep the same listener ports
//! the new configuration is published to every worker (see [`Gateway::reconfigure`]); otherwise the
//! problems are reported and the running configuration stays in force. Between reloads the names of
//! DNS endpoints are resolved again every refresh interval; when the answers change, the same
//! configuration is published with the new addresses.
//!
//! [`Gateway::reconfigure`]: crate::proxy::gateway::Gateway::reconfigure

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use super::{Resolver, plan_with, system_resolver};
use crate::config::{self, Config};
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
    /// The configuration in force, its resolved endpoints, and when its names are due again.
    config: Config,
    endpoints: Vec<Vec<SocketAddr>>,
    next_dns: Option<Instant>,
    dns_refresh: Option<std::time::Duration>,
    resolver: Arc<Resolver>,
    workers: usize,
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
    start_with(paths, options, shutdown, Arc::new(system_resolver))
}

/// [`start`] with endpoint names resolved by `resolver`.
pub fn start_with(
    paths: &[PathBuf],
    options: &Options,
    shutdown: Arc<AtomicBool>,
    resolver: Arc<Resolver>,
) -> Result<(Running, Vec<String>), String> {
    let stamp = stamp(paths);
    let config = config::load(paths).map_err(problems)?;
    let workers = runtime::worker_count(options.workers);
    let plan = plan_with(&config, options.bind, workers, &*resolver)?;
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
        config,
        endpoints: plan.endpoints,
        next_dns: plan.dns_refresh.map(|r| Instant::now() + r),
        dns_refresh: plan.dns_refresh,
        resolver,
        workers,
        handles,
        shutdown,
    };
    let describe = with_notes(plan.describe, &running.config);
    Ok((running, describe))
}

/// The description lines, then the configuration's notes (fields read but not acted on, ignored
/// fields), so that `h2edge run` shows them at start and at each reload as `check` does.
fn with_notes(mut describe: Vec<String>, config: &config::Config) -> Vec<String> {
    describe.extend(config.notes.iter().map(|n| format!("note: {n}")));
    describe
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
        let plan = plan_with(&config, self.bind, self.workers, &*self.resolver)?;
        if plan.listen != self.listen {
            return Err(format!(
                "the listeners changed ({} -> {}); restart h2edge to apply that",
                list(&self.listen),
                list(&plan.listen)
            ));
        }
        let describe = with_notes(self.publish(plan), &config);
        self.config = config;
        Ok(describe)
    }

    /// Whether the configuration's names are due to be resolved again.
    pub fn dns_due(&self) -> bool {
        self.next_dns.is_some_and(|at| at <= Instant::now())
    }

    /// Resolves the configuration's names again; if any cluster's addresses changed, publishes
    /// the configuration with the new ones and returns its description. `Err`: a name did not
    /// resolve; the addresses in force stay.
    pub fn refresh_dns(&mut self) -> Result<Option<Vec<String>>, String> {
        self.next_dns = self.dns_refresh.map(|r| Instant::now() + r);
        let plan = plan_with(&self.config, self.bind, self.workers, &*self.resolver)?;
        if plan.endpoints == self.endpoints {
            return Ok(None);
        }
        Ok(Some(self.publish(plan)))
    }

    fn publish(&mut self, plan: super::Plan) -> Vec<String> {
        self.endpoints = plan.endpoints;
        self.dns_refresh = plan.dns_refresh;
        self.next_dns = plan.dns_refresh.map(|r| Instant::now() + r);
        self.slot.publish(plan.gateway);
        plan.describe
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
