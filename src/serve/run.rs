//! A running configured gateway: its workers, the files it came from, and reloading them.
//!
//! A reload reads and checks the files again; if they are valid the new configuration is published
//! to every worker (see [`Gateway::reconfigure`]); otherwise the problems are reported and the
//! running configuration stays in force. New listener ports are bound here for every worker
//! (a busy port refuses the reload); the workers stop accepting on ports that left and drain their
//! clients. Between reloads the names of DNS endpoints are resolved again every refresh interval;
//! when the answers change, the same configuration is published with the new addresses. Files the
//! configuration names (certificates, keys, CA bundles) are watched like the configuration itself.
//!
//! [`Gateway::reconfigure`]: crate::proxy::gateway::Gateway::reconfigure

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::system_resolver;
use crate::config::compile::{self, Plan, Resolver};
use crate::config::{self, Config};
use crate::observe::Registry;
use crate::proxy::settings::GatewayConfig;
use crate::runtime::slot::ConfigSlot;
use crate::runtime::{self, BackendKind, RuntimeConfig};

pub struct Options {
    /// The address every listener binds (at its configured port).
    pub bind: IpAddr,
    /// Worker threads; 0 means one per allowed CPU.
    pub workers: usize,
    pub backend: BackendKind,
    /// How long a drain (shutdown, or the clients of a listener a reload removed) lets streams
    /// finish before they are cut.
    pub drain_timeout: Duration,
    /// Where the workers count what they do (`--admin`'s `/metrics`); `None`: nowhere.
    pub metrics: Option<Arc<Registry>>,
}

/// How long streams may take to finish on shutdown unless `--drain-timeout` says otherwise: as
/// long as Kubernetes waits after SIGTERM by default (terminationGracePeriodSeconds).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

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
    drain_timeout: Duration,
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
    let config = config::load(paths).map_err(problems)?;
    let stamp = stamp(paths, &config.referenced_files);
    let workers = runtime::worker_count(options.workers);
    let plan = compile::plan(&config, options.bind, workers, &*resolver)?;
    let slot = Arc::new(ConfigSlot::new(plan.gateway.clone()));
    let handles = runtime::spawn_reloadable(
        &RuntimeConfig {
            workers: options.workers,
            listen: plan.listen.clone(),
            gateway: plan.gateway,
            backend: options.backend,
            metrics: options.metrics.clone(),
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
        drain_timeout: options.drain_timeout,
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
    /// Whether a configuration file, or a file it names, changed (modification time or size) since
    /// the last load.
    pub fn changed(&self) -> bool {
        stamp(&self.paths, &self.config.referenced_files) != self.stamp
    }

    /// Reads the files again and, if they are valid, hands the new configuration to the workers,
    /// with sockets for new listener ports. `Err`: why the running configuration stays.
    pub fn reload(&mut self) -> Result<Vec<String>, String> {
        self.stamp = stamp(&self.paths, &self.config.referenced_files);
        let config = config::load(&self.paths).map_err(problems)?;
        let plan = compile::plan(&config, self.bind, self.workers, &*self.resolver)?;
        // What the files name may have changed too: watch what this configuration names.
        self.stamp = stamp(&self.paths, &config.referenced_files);
        if plan.listen != self.listen {
            // Every worker gets its own socket (SO_REUSEPORT) for each new port, bound here so
            // that a busy port refuses the reload instead of failing in a worker.
            let mut sockets = Vec::new();
            for addr in plan.listen.iter().filter(|a| !self.listen.contains(a)) {
                for _ in 0..self.workers {
                    let socket = runtime::listener::bind_reuseport(*addr)
                        .map_err(|e| format!("listening on {addr}: {e}"))?;
                    sockets.push((*addr, socket));
                }
            }
            let listen = plan.listen.clone();
            let (gateway, describe) = self.adopt(plan);
            self.slot
                .publish_listeners(gateway, listen.clone(), sockets, self.drain_timeout);
            self.listen = listen;
            self.config = config;
            return Ok(with_notes(describe, &self.config));
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
        let plan = compile::plan(&self.config, self.bind, self.workers, &*self.resolver)?;
        if plan.endpoints == self.endpoints {
            return Ok(None);
        }
        Ok(Some(self.publish(plan)))
    }

    fn publish(&mut self, plan: Plan) -> Vec<String> {
        let (gateway, describe) = self.adopt(plan);
        self.slot.publish(gateway);
        describe
    }

    /// Takes `plan`'s endpoints and DNS refresh; returns what to publish and its description.
    fn adopt(&mut self, plan: Plan) -> (Arc<GatewayConfig>, Vec<String>) {
        self.endpoints = plan.endpoints;
        self.dns_refresh = plan.dns_refresh;
        self.next_dns = plan.dns_refresh.map(|r| Instant::now() + r);
        (plan.gateway, plan.describe)
    }

    pub fn is_stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Shutdown, gently: the workers stop accepting, tell their clients to go away, let the
    /// streams in flight finish for at most the drain timeout, and end. Returns the deadline.
    pub fn drain(&self) -> Instant {
        let deadline = Instant::now() + self.drain_timeout;
        self.slot.drain(deadline);
        deadline
    }

    /// Whether every worker has ended (after a [`Running::drain`]).
    pub fn is_finished(&self) -> bool {
        self.handles.iter().all(JoinHandle::is_finished)
    }

    /// Sets the shutdown flag and waits for every worker.
    pub fn stop(self) -> std::io::Result<()> {
        self.shutdown.store(true, Ordering::Relaxed);
        runtime::join(self.handles)
    }
}

/// Modification time and size of every file the paths name (directories: their `*.yaml` and
/// `*.yml` files), in a stable order, then of the files the configuration names.
fn stamp(paths: &[PathBuf], named: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
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
    files.extend(named.iter().cloned());
    files
        .into_iter()
        .map(|f| {
            // Followed through symlinks: a kubelet Secret volume swaps a `..data` link.
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
