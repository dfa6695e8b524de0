//! The `h2edge` command.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use h2edge::demo;
use h2edge::runtime::BackendKind;

const USAGE: &str = "usage: h2edge demo [--listen ADDR] [--h2c-listen ADDR] [--workers N]

  demo    run the gateway in front of three embedded gRPC echo backends (mutual TLS), with a
          throwaway PKI: a TLS listener (--listen, default 127.0.0.1:8443, ALPN h2) and a
          cleartext HTTP/2 listener (--h2c-listen, default 127.0.0.1:8080). Ctrl-C stops it.

  H2EDGE_IO=epoll forces the epoll backend (io_uring is used where the kernel allows it).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => match run_demo(&args[1..]) {
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

fn run_demo(args: &[String]) -> Result<(), String> {
    let mut options = demo::Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
        h2c_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        workers: 0,
        backend: BackendKind::Epoll,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
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
    let (backend, why) = BackendKind::choose().map_err(|e| e.to_string())?;
    options.backend = backend;
    match why {
        Some(why) => eprintln!("h2edge: I/O backend: {} ({why})", backend.name()),
        None => eprintln!("h2edge: I/O backend: {}", backend.name()),
    }
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, shutdown.clone()).map_err(|e| e.to_string())?;
    }
    let running = demo::start(&options, shutdown).map_err(|e| e.to_string())?;
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
        "  grpcurl -cacert {ca} -d '{{}}' -proto <your.proto> localhost:{} pkg.Svc/Method",
        tls.port()
    );
    println!(
        "  cargo run --release --example grpc_client -- https://localhost:{} {ca}",
        tls.port()
    );
    println!("Ctrl-C stops it.");
    running.wait().map_err(|e| e.to_string())?;
    println!("h2edge demo: stopped");
    Ok(())
}
