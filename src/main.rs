//! The `h2edge` command.

use std::net::SocketAddr;
use std::process::ExitCode;

use cli::Usage;
use h2edge::runtime::{self, BackendKind};
use h2edge::{admin, demo, observe};

mod cli;

const USAGE: &str =
    "usage: h2edge run CONFIG... [--bind IP] [--workers N] [--drain-timeout D] [--admin ADDR]
       h2edge check CONFIG...
       h2edge route CONFIG... --authority HOST --path PATH [--method M] [-H NAME:VALUE]...
                    [--grpc] [--port N] [--source IP]
       h2edge demo [--listen ADDR] [--h2c-listen ADDR] [--workers N] [--admin ADDR|off]

  CONFIG  Gateway API / Istio YAML files, or directories of *.yaml / *.yml (docs/config.md).

  run     serve CONFIG: one listener per Gateway listener port on --bind (default 0.0.0.0),
          --workers worker threads (default one per allowed CPU). SIGHUP or a changed file
          (CONFIG, or a certificate, key or CA file it names) reloads CONFIG; a CONFIG with
          problems is reported and the running one stays. SIGTERM or Ctrl-C (SIGINT) drains:
          new connections are refused, clients get GOAWAY, streams in flight may finish for
          --drain-timeout (a Gateway API duration such as 30s or 1m30s; default 30s), then
          h2edge exits 0; a second SIGTERM or Ctrl-C stops it at once. A reload that removes a
          listener port drains that port's connections the same way. --admin ADDR (for example
          127.0.0.1:9901, loopback) serves /healthz, /ready (503 until listening and while
          draining) and /metrics (Prometheus) over HTTP/1.1.

  check   validate CONFIG: print a summary and exit 0, or print every problem as
          file:line: Kind/name: field: reason and exit 1.

  route   show which listener, rule, cluster and endpoint a request would get, and why, without
          sending it. --method defaults to POST for gRPC (content-type application/grpc), else
          GET; --grpc is -H content-type:application/grpc; --port is the port the request
          arrives on (default: any listener); --source is the client IP (useSourceIp). Exit 0
          when a backend is chosen, 1 when the gateway would answer locally (no route or no
          backend), 2 when CONFIG has problems.

  demo    run the gateway in front of three embedded gRPC echo backends (mutual TLS), with a
          throwaway PKI: a TLS listener (--listen, default 127.0.0.1:8443, ALPN h2) and a
          cleartext HTTP/2 listener (--h2c-listen, default 127.0.0.1:8080), and the admin
          listener (--admin, default 127.0.0.1:9901; off to have none). Ctrl-C stops it.

  H2EDGE_IO=epoll forces the epoll backend (io_uring is used where the kernel allows it).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("", &[][..]),
    };
    let outcome = match command {
        "check" => cli::check::run(rest),
        "route" => cli::route::run(rest),
        "run" => cli::run::run(rest),
        "demo" => Ok(match run_demo(rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("h2edge: {e}");
                ExitCode::FAILURE
            }
        }),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        "" => Err(Usage("no command given".into())),
        other => Err(Usage(format!("unknown command {other}"))),
    };
    outcome.unwrap_or_else(|Usage(msg)| {
        eprintln!("h2edge: {msg}\n\n{USAGE}");
        ExitCode::from(2)
    })
}

fn run_demo(args: &[String]) -> Result<(), String> {
    let mut options = demo::Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
        h2c_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        workers: 0,
        backend: BackendKind::Epoll,
        metrics: None,
    };
    let mut admin = Some(admin::DEFAULT_ADDR.to_string());
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--admin" => {
                let v = value()?;
                admin = (v != "off").then(|| v.clone());
            }
            "--listen" => {
                let v = value()?;
                options.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--h2c-listen" => {
                let v = value()?;
                options.h2c_listen = v.parse().map_err(|e| format!("--h2c-listen {v}: {e}"))?;
            }
            "--workers" => {
                let v = value()?;
                options.workers = v.parse().map_err(|e| format!("--workers {v}: {e}"))?;
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    let (backend, shutdown) = runtime::prepare("h2edge").map_err(|e| e.to_string())?;
    options.backend = backend;
    let metrics = std::sync::Arc::new(observe::Registry::default());
    options.metrics = admin.is_some().then(|| metrics.clone());
    let running = demo::start(&options, shutdown).map_err(|e| e.to_string())?;
    let status = admin::Status::new();
    status.set_ready();
    // The demo runs without its admin listener when the port is taken (another demo, say).
    let admin = match admin.map(|a| a.parse().map_err(|e| format!("--admin {a}: {e}"))) {
        Some(addr) => match admin::Admin::start(addr?, status, metrics) {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("h2edge demo: no admin listener: {e}");
                None
            }
        },
        None => None,
    };
    let (tls, h2c, ca) = (
        options.listen,
        options.h2c_listen,
        running.ca_path.display(),
    );
    println!("h2edge demo: TLS listener https://{tls} (ALPN h2), h2c listener http://{h2c}");
    println!(
        "  3 echo backends behind mutual TLS: {}",
        running.backend_addrs()
    );
    println!("  throwaway CA for clients: {ca}");
    println!("try:");
    println!("  h2load -n 30000 -c 10 -m 10 https://{tls}/");
    println!("  h2load -n 30000 -c 10 -m 10 http://{h2c}/");
    println!(
        "  curl --http2 --cacert {ca} https://localhost:{}/   (x-backend names the backend)",
        tls.port()
    );
    println!(
        "  curl --http2-prior-knowledge -H 'content-type: application/grpc' --data-binary @/dev/null \\\n       -D - http://{h2c}/pkg.Svc/Method   (any gRPC client works: the backends echo)"
    );
    println!(
        "  cargo run --release --example grpc_echo -- https://localhost:{} {ca}   (gRPC calls, one connection)",
        tls.port()
    );
    if let Some(a) = &admin {
        let a = a.addr();
        println!("  curl http://{a}/metrics   (admin: /healthz /ready /metrics)");
    }
    println!("Ctrl-C stops it.");
    running.wait().map_err(|e| e.to_string())?;
    println!("h2edge demo: stopped");
    Ok(())
}
