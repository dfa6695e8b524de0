//! `h2edge run CONFIG... [--bind IP] [--workers N] [--drain-timeout D] [--admin ADDR]`: the gateway
//! as it runs in
//! production, from Gateway API / Istio YAML. A changed file (checked every second; the files the
//! config names too) or SIGHUP reloads it; a config with problems is reported and the running one
//! stays in force. DNS names are resolved again at their refresh interval. SIGTERM or SIGINT
//! drains: no new connections, GOAWAY to clients, streams in flight finish (up to the drain
//! timeout), then exit 0; a second one ends the drain at once.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use h2edge::admin::{Admin, Status};
use h2edge::config::syntax::gateway_duration;
use h2edge::observe::Registry;
use h2edge::runtime::{self, BackendKind};
use h2edge::serve::run::{DEFAULT_DRAIN_TIMEOUT, Options, start};

use super::Usage;

/// How often the files are looked at for changes.
const WATCH: Duration = Duration::from_secs(1);
/// How often the control thread looks at signals (a drain should start without delay).
const TICK: Duration = Duration::from_millis(50);
/// How long past the drain deadline the workers may take to close their sockets before they are
/// told to stop at once.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

pub fn run(args: &[String]) -> Result<ExitCode, Usage> {
    let (paths, options, admin) = parse(args)?;
    Ok(match serve(&paths, options, admin) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("h2edge: {e}");
            ExitCode::FAILURE
        }
    })
}

fn parse(args: &[String]) -> Result<(Vec<PathBuf>, Options, Option<SocketAddr>), Usage> {
    let mut paths = Vec::new();
    let mut admin = None;
    let mut options = Options {
        bind: IpAddr::from([0, 0, 0, 0]),
        workers: 0,
        backend: BackendKind::Epoll,
        drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        metrics: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| Usage(format!("run: {arg} needs a value")))
        };
        match arg.as_str() {
            "--bind" => {
                let v = value()?;
                options.bind = v
                    .parse()
                    .map_err(|e| Usage(format!("run: --bind {v}: {e}")))?;
            }
            "--admin" => {
                let v = value()?;
                admin = Some(
                    v.parse()
                        .map_err(|e| Usage(format!("run: --admin {v}: {e}")))?,
                );
            }
            "--workers" => {
                let v = value()?;
                options.workers = v
                    .parse()
                    .map_err(|e| Usage(format!("run: --workers {v}: {e}")))?;
            }
            "--drain-timeout" => {
                let v = value()?;
                options.drain_timeout = gateway_duration(v)
                    .map_err(|e| Usage(format!("run: --drain-timeout {v}: {e}")))?;
            }
            flag if flag.starts_with('-') => {
                return Err(Usage(format!("run: unknown option {flag}")));
            }
            path => paths.push(PathBuf::from(path)),
        }
    }
    if paths.is_empty() {
        return Err(Usage("run: no CONFIG given".into()));
    }
    Ok((paths, options, admin))
}

fn serve(paths: &[PathBuf], mut options: Options, admin: Option<SocketAddr>) -> Result<(), String> {
    options.backend = runtime::announce_backend("h2edge").map_err(|e| e.to_string())?;
    runtime::trim::start();
    let (hup, term) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let register = |signal, flag: &Arc<AtomicBool>| {
        signal_hook::flag::register(signal, flag.clone()).map_err(|e| e.to_string())
    };
    register(signal_hook::consts::SIGHUP, &hup)?;
    register(signal_hook::consts::SIGTERM, &term)?;
    register(signal_hook::consts::SIGINT, &term)?;

    let status = Status::new();
    // Bound before the configuration is loaded: /ready answers 503 until the listeners are.
    let admin = match admin {
        Some(addr) => {
            let metrics = Arc::new(Registry::default());
            options.metrics = Some(metrics.clone());
            let a =
                Admin::start(addr, status.clone(), metrics).map_err(|e| format!("--admin {e}"))?;
            eprintln!(
                "h2edge: admin on http://{}/ (/healthz /ready /metrics)",
                a.addr()
            );
            Some(a)
        }
        None => None,
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let (mut running, describe) = start(paths, &options, shutdown)?;
    status.set_ready();
    for line in describe {
        eprintln!("h2edge: {line}");
    }
    eprintln!(
        "h2edge: running; SIGHUP or a changed file reloads, SIGTERM or Ctrl-C drains (twice: stops)"
    );
    let mut next_watch = Instant::now() + WATCH;
    let mut draining: Option<Instant> = None;
    loop {
        std::thread::sleep(TICK);
        if term.swap(false, Ordering::Relaxed) {
            if draining.is_some() {
                eprintln!("h2edge: second signal: stopping now");
                break;
            }
            status.set_draining();
            draining = Some(running.drain());
            eprintln!(
                "h2edge: draining: no new connections, streams in flight may finish within {:?}",
                options.drain_timeout
            );
        }
        if let Some(deadline) = draining {
            if running.is_finished() {
                eprintln!("h2edge: drained");
                break;
            }
            if Instant::now() > deadline + DRAIN_GRACE {
                eprintln!("h2edge: drain overran its deadline: stopping now");
                break;
            }
            continue;
        }
        if Instant::now() < next_watch && !hup.load(Ordering::Relaxed) {
            continue;
        }
        next_watch = Instant::now() + WATCH;
        if hup.swap(false, Ordering::Relaxed) || running.changed() {
            match running.reload() {
                Ok(describe) => {
                    status.reloaded(true);
                    eprintln!("h2edge: configuration reloaded");
                    for line in describe {
                        eprintln!("h2edge: {line}");
                    }
                }
                Err(e) => {
                    status.reloaded(false);
                    eprintln!("h2edge: reload refused, the running configuration stays:\n{e}")
                }
            }
        }
        if running.dns_due() {
            match running.refresh_dns() {
                Ok(Some(describe)) => {
                    eprintln!("h2edge: DNS answers changed; endpoints updated");
                    for line in describe {
                        eprintln!("h2edge: {line}");
                    }
                }
                Ok(None) => {}
                Err(e) => eprintln!("h2edge: DNS refresh failed, the endpoints in force stay: {e}"),
            }
        }
    }
    let stopped = running.stop().map_err(|e| e.to_string());
    drop(admin);
    stopped
}
