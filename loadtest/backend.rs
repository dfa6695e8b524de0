//! The load test's backends: h2edge's echo service (the demo's backends) on as many listeners as
//! asked, one worker thread, io_uring where available. Listener `i` of each kind answers as `b<i+1>`
//! (`x-backend` header): GET gets `hello from bN\n` (14 bytes), a gRPC call gets its messages back
//! and `grpc-status: 0` trailers. Each backend counts the requests it is sent, and the counts are
//! written to `--counts FILE` every 100 ms (`b1 N` lines, replaced atomically), so the load test can
//! check how evenly a proxy spread its requests.
//!
//!     h2edge-loadtest-backend --cert be.crt --key be.key --ca mesh-ca.crt \
//!         --tls 127.0.0.1:9001,127.0.0.1:9002 --h2c 127.0.0.1:9021,127.0.0.1:9022 --counts counts.txt
//!
//! With `--ca`, TLS listeners require a client certificate issued by that CA (mutual TLS).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use h2edge::h2::conn;
use h2edge::proxy::gateway::{GatewayConfig, Listener, Service};
use h2edge::runtime::{self, listener};
use h2edge::tls::server::{ServerCert, server_config};

const USAGE: &str = "usage: h2edge-loadtest-backend [--cert F --key F [--ca F]] [--tls ADDR,...] \
                     [--h2c ADDR,...] [--counts FILE]";

#[derive(Default)]
struct Args {
    cert: Option<String>,
    key: Option<String>,
    ca: Option<String>,
    tls: Vec<SocketAddr>,
    h2c: Vec<SocketAddr>,
    counts: Option<String>,
}

fn addrs(flag: &str, v: &str) -> Result<Vec<SocketAddr>, String> {
    v.split(',')
        .filter(|a| !a.is_empty())
        .map(|a| a.parse().map_err(|e| format!("{flag} {a}: {e}")))
        .collect()
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--cert" => out.cert = Some(v.clone()),
            "--key" => out.key = Some(v.clone()),
            "--ca" => out.ca = Some(v.clone()),
            "--tls" => out.tls = addrs(flag, v)?,
            "--h2c" => out.h2c = addrs(flag, v)?,
            "--counts" => out.counts = Some(v.clone()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if out.tls.is_empty() && out.h2c.is_empty() {
        return Err(format!("no listener given\n{USAGE}"));
    }
    Ok(out)
}

fn read(path: &Option<String>, what: &str) -> Result<Vec<u8>, String> {
    let path = path.as_ref().ok_or(format!("TLS listeners need {what}"))?;
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn run(args: Args) -> Result<(), String> {
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    let mut names = Vec::new();
    let backends = args.tls.len().max(args.h2c.len());
    let counters: Vec<Arc<AtomicU64>> = (0..backends).map(|_| Arc::default()).collect();
    let mut counter_of = Vec::new();
    if !args.tls.is_empty() {
        let ca = args
            .ca
            .as_ref()
            .map(|_| read(&args.ca, "--ca"))
            .transpose()?;
        let tls = server_config(
            &[ServerCert {
                hostnames: Vec::new(),
                cert_pem: read(&args.cert, "--cert")?,
                key_pem: read(&args.key, "--key")?,
            }],
            ca.as_deref(),
        )
        .map_err(|e| format!("backend TLS: {e}"))?;
        for (i, addr) in args.tls.iter().enumerate() {
            listeners.push(Listener::Tls(tls.clone()));
            bound.push((*addr, format!("b{} tls", i + 1)));
            names.push(format!("b{}", i + 1));
            counter_of.push(counters[i].clone());
        }
    }
    for (i, addr) in args.h2c.iter().enumerate() {
        listeners.push(Listener::H2c);
        bound.push((*addr, format!("b{} h2c", i + 1)));
        names.push(format!("b{}", i + 1));
        counter_of.push(counters[i].clone());
    }
    let sockets = bound
        .iter()
        .map(|(addr, what)| {
            listener::bind_reuseport(*addr).map_err(|e| format!("{what} {addr}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let config = Arc::new(GatewayConfig {
        listeners,
        service: Service::Echo {
            names,
            counters: counter_of,
        },
        server_h2: conn::Config::default(),
        client_h2: conn::Config::default(),
        buffers: Default::default(),
    });
    let (kind, shutdown) =
        runtime::prepare("h2edge-loadtest-backend").map_err(|e| e.to_string())?;
    let worker = runtime::spawn_one(
        sockets,
        config,
        kind,
        shutdown.clone(),
        "h2edge-loadtest-backend",
    )
    .map_err(|e| e.to_string())?;
    let listening: Vec<String> = bound.iter().map(|(a, w)| format!("{w} {a}")).collect();
    eprintln!(
        "h2edge-loadtest-backend: listening: {}",
        listening.join(", ")
    );
    while !shutdown.load(Ordering::Relaxed) && !worker.is_finished() {
        if let Some(path) = &args.counts {
            write_counts(path, &counters).map_err(|e| format!("{path}: {e}"))?;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    shutdown.store(true, Ordering::Relaxed);
    runtime::join(vec![worker]).map_err(|e| e.to_string())
}

fn write_counts(path: &str, counters: &[Arc<AtomicU64>]) -> std::io::Result<()> {
    let text: String = counters
        .iter()
        .enumerate()
        .map(|(i, c)| format!("b{} {}\n", i + 1, c.load(Ordering::Relaxed)))
        .collect();
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("h2edge-loadtest-backend: {e}");
            ExitCode::FAILURE
        }
    }
}
