//! `h2edge run CONFIG... [--bind IP] [--workers N]`: the gateway as it runs in production, from
//! Gateway API / Istio YAML. A changed file (checked every second) or SIGHUP reloads it; a config
//! with problems is reported and the running one stays in force. DNS names are resolved again at
//! their refresh interval.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use h2edge::runtime::{self, BackendKind};
use h2edge::serve::run::{Options, start};

use super::Usage;

/// How often the files are looked at for changes.
const WATCH: Duration = Duration::from_secs(1);

pub fn run(args: &[String]) -> Result<ExitCode, Usage> {
    let (paths, options) = parse(args)?;
    Ok(match serve(&paths, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("h2edge: {e}");
            ExitCode::FAILURE
        }
    })
}

fn parse(args: &[String]) -> Result<(Vec<PathBuf>, Options), Usage> {
    let mut paths = Vec::new();
    let mut options = Options {
        bind: IpAddr::from([0, 0, 0, 0]),
        workers: 0,
        backend: BackendKind::Epoll,
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
            "--workers" => {
                let v = value()?;
                options.workers = v
                    .parse()
                    .map_err(|e| Usage(format!("run: --workers {v}: {e}")))?;
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
    Ok((paths, options))
}

fn serve(paths: &[PathBuf], mut options: Options) -> Result<(), String> {
    let (backend, shutdown) = runtime::prepare("h2edge").map_err(|e| e.to_string())?;
    options.backend = backend;
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .map_err(|e| e.to_string())?;

    let (mut running, describe) = start(paths, &options, shutdown.clone())?;
    for line in describe {
        eprintln!("h2edge: {line}");
    }
    eprintln!("h2edge: running; SIGHUP or a changed file reloads, Ctrl-C stops");
    while !shutdown.load(Ordering::Relaxed) {
        std::thread::sleep(WATCH);
        if hup.swap(false, Ordering::Relaxed) || running.changed() {
            match running.reload() {
                Ok(describe) => {
                    eprintln!("h2edge: configuration reloaded");
                    for line in describe {
                        eprintln!("h2edge: {line}");
                    }
                }
                Err(e) => {
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
    running.stop().map_err(|e| e.to_string())
}
