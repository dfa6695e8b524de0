//! The `h2edge` command.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use h2edge::h2::conn;
use h2edge::runtime::{self, BackendKind, RuntimeConfig};

const USAGE: &str = "usage: h2edge demo [--h2c-listen ADDR] [--workers N]

  demo    run the gateway on a cleartext HTTP/2 listener (default 127.0.0.1:8080);
          until upstreams land it answers every request itself";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => match demo(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("h2edge: {e}");
                ExitCode::FAILURE
            }
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn demo(args: &[String]) -> Result<(), String> {
    let mut config = RuntimeConfig {
        workers: 0,
        h2c_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        h2: conn::Config::default(),
        backend: BackendKind::Epoll,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--h2c-listen" => {
                let v = value()?;
                config.h2c_listen = v.parse().map_err(|e| format!("--h2c-listen {v}: {e}"))?;
            }
            "--workers" => {
                let v = value()?;
                config.workers = v.parse().map_err(|e| format!("--workers {v}: {e}"))?;
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, shutdown.clone()).map_err(|e| e.to_string())?;
    }
    let (backend, why) = BackendKind::choose().map_err(|e| e.to_string())?;
    config.backend = backend;
    match why {
        Some(why) => eprintln!("h2edge: I/O backend: {} ({why})", backend.name()),
        None => eprintln!("h2edge: I/O backend: {}", backend.name()),
    }
    let addr = config.h2c_listen;
    println!("h2edge demo: h2c listener on http://{addr}");
    println!("  try: h2load -n 10000 -c 10 -m 10 http://{addr}/");
    println!("       nghttp -v http://{addr}/");
    println!("  Ctrl-C stops it.");
    runtime::run(&config, shutdown).map_err(|e| e.to_string())?;
    println!("h2edge demo: stopped");
    Ok(())
}
